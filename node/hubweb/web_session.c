/* web_session.c: staff sessions of hubweb (web_session.h). Sessions live in memory only: a
 * restart of hubweb signs everybody out, which is what a restart after a suspected leak should
 * do. Ids and CSRF tokens are 32 random bytes; lookups compare every live id in constant time
 * (the table is small), so response times say nothing about how much of an id was right. */
#include "web_session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct signin_slot {
    char client[WEB_CLIENT_MAX];
    uint64_t start_ms; /* window start; 0: free */
    unsigned count;
};

struct web_sessions {
    pthread_mutex_t lock; /* held by the caller around each call (web_session.h) */
    struct web_session *tab;
    size_t max, live;
    uint64_t ttl_ms;
    unsigned attempts;
    struct signin_slot slots[WEB_SIGNIN_SLOTS];
    struct signin_slot overflow; /* clients that found every slot in a live window */
};

int web_sessions_new(unsigned max, unsigned ttl_s, unsigned attempts, struct web_sessions **out) {
    struct web_sessions *s = calloc(1, sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    s->max = max ? max : WEB_SESSION_MAX;
    s->tab = calloc(s->max, sizeof *s->tab);
    if (!s->tab) {
        free(s);
        return HUB_E_NOMEM;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->tab);
        free(s);
        return HUB_E_NOMEM;
    }
    s->ttl_ms = (uint64_t)ttl_s * 1000;
    s->attempts = attempts;
    *out = s;
    return HUB_OK;
}

void web_sessions_destroy(struct web_sessions **sp) {
    if (!sp || !*sp)
        return;
    sodium_memzero((*sp)->tab, (*sp)->max * sizeof *(*sp)->tab);
    pthread_mutex_destroy(&(*sp)->lock);
    free((*sp)->tab);
    free(*sp);
    *sp = NULL;
}

void web_sessions_lock(struct web_sessions *s) {
    pthread_mutex_lock(&s->lock);
}

void web_sessions_unlock(struct web_sessions *s) {
    pthread_mutex_unlock(&s->lock);
}

void web_random_token(char out[WEB_SESSION_TEXT_LEN + 1]) {
    unsigned char bin[WEB_SESSION_ID_BYTES];
    randombytes_buf(bin, sizeof bin);
    sodium_bin2base64(out, WEB_SESSION_TEXT_LEN + 1, bin, sizeof bin,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(bin, sizeof bin);
}

static void token_hash(const char *token, uint8_t out[32]) {
    crypto_generichash(out, 32, (const unsigned char *)token, strlen(token), NULL, 0);
}

void web_session_end(struct web_sessions *s, struct web_session *se) {
    if (!se || !se->used)
        return;
    sodium_memzero(se, sizeof *se);
    s->live--;
}

size_t web_session_count(const struct web_sessions *s) {
    return s->live;
}

int web_session_create(struct web_sessions *s, uint64_t now_ms, uint64_t generation,
                       const char *token, struct web_session **out) {
    struct web_session *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < s->max; i++) {
        struct web_session *se = &s->tab[i];
        if (se->used && se->expires_ms <= now_ms)
            web_session_end(s, se);
        if (!se->used) {
            if (!slot)
                slot = se;
        } else if (!oldest || se->created_ms < oldest->created_ms) {
            oldest = se;
        }
    }
    if (!slot) { /* full of live sessions: the oldest goes */
        web_session_end(s, oldest);
        slot = oldest;
    }
    if (!slot)
        return HUB_E_INTERNAL;
    web_random_token(slot->id);
    web_random_token(slot->csrf);
    slot->created_ms = now_ms;
    slot->expires_ms = now_ms + s->ttl_ms;
    slot->generation = generation;
    token_hash(token, slot->token_hash);
    slot->used = 1;
    s->live++;
    *out = slot;
    return HUB_OK;
}

struct web_session *web_session_find(struct web_sessions *s, const char *cookie, uint64_t now_ms) {
    if (!cookie || strlen(cookie) != WEB_SESSION_TEXT_LEN)
        return NULL;
    struct web_session *found = NULL;
    for (size_t i = 0; i < s->max; i++) {
        struct web_session *se = &s->tab[i];
        /* every slot compared, used or not: the time taken does not depend on the id */
        int same = sodium_memcmp(se->id, cookie, WEB_SESSION_TEXT_LEN) == 0;
        if (same && se->used && !found)
            found = se;
    }
    if (found && found->expires_ms <= now_ms) {
        web_session_end(s, found);
        return NULL;
    }
    return found;
}

int web_session_current(struct web_sessions *s, struct web_session *se, uint64_t generation,
                        const char *token) {
    uint8_t h[32];
    token_hash(token, h);
    int ok = se->used && se->generation == generation &&
             sodium_memcmp(h, se->token_hash, sizeof h) == 0;
    if (!ok)
        web_session_end(s, se);
    return ok;
}

int web_csrf_ok(const char *expected, const char *given) {
    if (!expected || !given || !*expected)
        return 0;
    size_t n = strlen(expected);
    if (strlen(given) != n)
        return 0;
    return sodium_memcmp(expected, given, n) == 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int web_token_ok(const char *typed, const char *token) {
    if (!typed || !token || !*token)
        return 0;
    while (is_space(*typed))
        typed++;
    size_t n = strlen(typed);
    while (n && is_space(typed[n - 1]))
        n--;
    size_t want = strlen(token);
    if (n != want)
        return 0;
    return sodium_memcmp(typed, token, want) == 0;
}

static int cookie_fmt(char *out, size_t cap, const char *name, const char *value,
                      unsigned max_age_s, int secure) {
    int w = snprintf(out, cap, "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict%s", name,
                     value, max_age_s, secure ? "; Secure" : "");
    return w < 0 || (size_t)w >= cap ? HUB_E_TOO_LARGE : HUB_OK;
}

int web_cookie_set(const char *name, const char *value, unsigned max_age_s, int secure,
                   char *out, size_t cap) {
    return cookie_fmt(out, cap, name, value, max_age_s, secure);
}

int web_cookie_clear(const char *name, int secure, char *out, size_t cap) {
    return cookie_fmt(out, cap, name, "", 0, secure);
}

static int is_loopback(const char *peer) {
    return peer && (strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
                    strncmp(peer, "::ffff:127.", 11) == 0);
}

static void copy_bounded(char *out, size_t cap, const char *s, size_t n) {
    if (!cap)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

void web_client_addr(const char *peer, const char *forwarded_for, char *out, size_t cap) {
    if (cap > WEB_CLIENT_MAX)
        cap = WEB_CLIENT_MAX;
    if (is_loopback(peer) && forwarded_for && *forwarded_for) {
        const char *last = strrchr(forwarded_for, ',');
        last = last ? last + 1 : forwarded_for;
        while (is_space(*last))
            last++;
        size_t n = strlen(last);
        while (n && is_space(last[n - 1]))
            n--;
        if (n) {
            copy_bounded(out, cap, last, n);
            return;
        }
    }
    copy_bounded(out, cap, peer ? peer : "", peer ? strlen(peer) : 0);
}

int web_request_secure(const char *peer, const char *forwarded_proto, int tls) {
    if (tls)
        return 1;
    return is_loopback(peer) && forwarded_proto && strcasecmp(forwarded_proto, "https") == 0;
}

/* The slot counting client now: its own, a free or stale one, or the shared overflow. */
static struct signin_slot *signin_slot(struct web_sessions *s, const char *client, uint64_t now,
                                       int take) {
    char key[WEB_CLIENT_MAX];
    copy_bounded(key, sizeof key, client, strlen(client));
    struct signin_slot *free_slot = NULL;
    for (size_t i = 0; i < WEB_SIGNIN_SLOTS; i++) {
        struct signin_slot *sl = &s->slots[i];
        int live = sl->start_ms && now - sl->start_ms < WEB_SIGNIN_WINDOW_MS;
        if (live && strcmp(sl->client, key) == 0)
            return sl;
        if (!live && !free_slot)
            free_slot = sl;
    }
    if (!take)
        return NULL;
    if (free_slot) {
        memcpy(free_slot->client, key, sizeof key);
        free_slot->start_ms = 0;
        free_slot->count = 0;
        return free_slot;
    }
    return &s->overflow;
}

int web_signin_allow(struct web_sessions *s, const char *client, uint64_t now_ms) {
    uint64_t now = now_ms ? now_ms : 1; /* 0 marks a free slot */
    struct signin_slot *sl = signin_slot(s, client ? client : "", now, 1);
    if (!sl->start_ms || now - sl->start_ms >= WEB_SIGNIN_WINDOW_MS) {
        sl->start_ms = now;
        sl->count = 0;
    }
    if (sl->count >= s->attempts)
        return 0;
    sl->count++;
    return 1;
}

unsigned web_signin_wait_s(const struct web_sessions *s, const char *client, uint64_t now_ms) {
    struct web_sessions *m = (struct web_sessions *)s; /* lookup only: take = 0 changes nothing */
    uint64_t now = now_ms ? now_ms : 1;
    struct signin_slot *sl = signin_slot(m, client ? client : "", now, 0);
    if (!sl) {
        sl = &m->overflow;
        int full = 1;
        for (size_t i = 0; i < WEB_SIGNIN_SLOTS && full; i++)
            full = s->slots[i].start_ms && now - s->slots[i].start_ms < WEB_SIGNIN_WINDOW_MS;
        if (!full)
            return 0;
    }
    if (!sl->start_ms || sl->count < s->attempts || now - sl->start_ms >= WEB_SIGNIN_WINDOW_MS)
        return 0;
    return (unsigned)((WEB_SIGNIN_WINDOW_MS - (now - sl->start_ms) + 999) / 1000);
}
