/* policy.c: trusted-hub sets and the ZAP handler that admits CurveZMQ clients by them. */
#include "policy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "identity.h"
#include "log.h"
#include "record.h"
#include "store.h"

#define POLICY_MAX_TRUSTED 65536
#define ZAP_LOG_EVERY_MS 60000

struct hubkey {
    uint8_t ed[32];
    uint8_t curve[32];
};

struct keyset {
    struct hubkey *k;
    size_t n, cap;
};

struct policy {
    enum policy_mode mode;
    unsigned hops;
    uint8_t self[32];
    struct keyset roots[POLICY_ROOT_COUNT]; /* peers, anchors, allow keys: what base unites */
    struct keyset base;    /* roots + self */
    struct keyset trusted; /* base, plus the endorsed closure in endorsed mode */
    /* The event loop changes the sets; a thread that screens a big batch reads trusted
     * (policy_admits_feed) meanwhile. Only that read and the changes take it. */
    pthread_rwlock_t lock;
};

static int key_cmp(const void *a, const void *b) {
    return memcmp(a, b, 32);
}

static int keyset_has(const struct keyset *s, const uint8_t ed[32]) {
    return s->n && bsearch(ed, s->k, s->n, sizeof *s->k, key_cmp) != NULL;
}

/* Insert keeping the set sorted; 1 if added, 0 if present or full. */
static int keyset_add(struct keyset *s, const uint8_t ed[32]) {
    if (keyset_has(s, ed) || s->n == POLICY_MAX_TRUSTED)
        return 0;
    struct hubkey hk;
    memcpy(hk.ed, ed, 32);
    if (identity_curve_pk(ed, hk.curve) != 0)
        return 0; /* not a valid Ed25519 point: cannot be a hub */
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct hubkey *k = realloc(s->k, cap * sizeof *k);
        if (!k)
            return 0;
        s->k = k;
        s->cap = cap;
    }
    size_t i = s->n;
    while (i > 0 && memcmp(s->k[i - 1].ed, ed, 32) > 0) {
        s->k[i] = s->k[i - 1];
        i--;
    }
    s->k[i] = hk;
    s->n++;
    return 1;
}

static void keyset_copy(struct keyset *dst, const struct keyset *src) {
    dst->n = 0;
    for (size_t i = 0; i < src->n; i++)
        keyset_add(dst, src->k[i].ed);
}

/* base = self + every root set; the caller holds the write lock (or owns p alone). */
static void base_rebuild(struct policy *p) {
    p->base.n = 0;
    keyset_add(&p->base, p->self);
    for (int r = 0; r < POLICY_ROOT_COUNT; r++)
        for (size_t i = 0; i < p->roots[r].n; i++)
            keyset_add(&p->base, p->roots[r].k[i].ed);
}

int policy_new(const struct config *cfg, const uint8_t self[32], struct policy **out) {
    struct policy *p = calloc(1, sizeof *p);
    if (!p)
        return HUB_E_NOMEM;
    pthread_rwlock_init(&p->lock, NULL);
    p->mode = cfg->policy;
    p->hops = cfg->hops;
    memcpy(p->self, self, 32);
    for (size_t i = 0; i < cfg->nallow; i++)
        keyset_add(&p->roots[POLICY_ROOT_ALLOW], cfg->allow[i]);
    for (size_t i = 0; i < cfg->nanchor; i++)
        keyset_add(&p->roots[POLICY_ROOT_ANCHOR], cfg->anchor[i]);
    for (size_t i = 0; i < cfg->npeers; i++)
        keyset_add(&p->roots[POLICY_ROOT_PEER], cfg->peers[i].key);
    base_rebuild(p);
    keyset_copy(&p->trusted, &p->base);
    *out = p;
    return HUB_OK;
}

void policy_destroy(struct policy **pp) {
    if (!pp || !*pp)
        return;
    for (int r = 0; r < POLICY_ROOT_COUNT; r++)
        free((*pp)->roots[r].k);
    free((*pp)->base.k);
    free((*pp)->trusted.k);
    pthread_rwlock_destroy(&(*pp)->lock);
    free(*pp);
    *pp = NULL;
}

int policy_add_root(struct policy *p, const uint8_t hub[32], enum policy_root kind) {
    pthread_rwlock_wrlock(&p->lock);
    keyset_add(&p->roots[kind], hub);
    keyset_add(&p->base, hub);
    keyset_add(&p->trusted, hub);
    pthread_rwlock_unlock(&p->lock);
    return HUB_OK;
}

/* The hub stays trusted while another root kind names it; the endorsed closure is recomputed
 * by the caller (policy_recompute) since the removed root's endorsements no longer count. */
void policy_remove_root(struct policy *p, const uint8_t hub[32], enum policy_root kind) {
    pthread_rwlock_wrlock(&p->lock);
    struct keyset *rs = &p->roots[kind];
    struct hubkey *k = rs->n ? bsearch(hub, rs->k, rs->n, sizeof *k, key_cmp) : NULL;
    if (k) {
        size_t i = (size_t)(k - rs->k);
        memmove(&rs->k[i], &rs->k[i + 1], (rs->n - i - 1) * sizeof *k);
        rs->n--;
        base_rebuild(p);
        keyset_copy(&p->trusted, &p->base);
    }
    pthread_rwlock_unlock(&p->lock);
}

int policy_add_base(struct policy *p, const uint8_t hub[32]) {
    return policy_add_root(p, hub, POLICY_ROOT_PEER);
}

void policy_remove_base(struct policy *p, const uint8_t hub[32]) {
    policy_remove_root(p, hub, POLICY_ROOT_PEER);
}

struct endorse_walk {
    struct keyset *next;
    struct keyset *trusted;
};

static int endorse_cb(const uint8_t *wire, size_t len, void *arg) {
    struct endorse_walk *w = arg;
    struct entry e;
    uint8_t hub[32];
    if (entry_decode(wire, len, &e) == 0 && e.payload &&
        record_endorsed_hub(e.payload, e.payload_len, hub) == 0 && !keyset_has(w->trusted, hub))
        keyset_add(w->next, hub);
    return 0;
}

/* Builds the new trusted set apart (store queries take a while) and swaps it in. */
void policy_recompute(struct policy *p, struct store *s) {
    struct keyset trusted = {0};
    keyset_copy(&trusted, &p->base);
    if (p->mode == POLICY_ENDORSED || p->mode == POLICY_TRUST) {
        /* Breadth-first: level i+1 = hubs endorsed by a hub of level i. */
        struct keyset frontier = {0}, next = {0};
        keyset_copy(&frontier, &p->base);
        for (unsigned hop = 0; hop < p->hops && frontier.n; hop++) {
            next.n = 0;
            struct endorse_walk w = {&next, &trusted};
            for (size_t i = 0; i < frontier.n; i++) {
                char hex[HUB_HEX_LEN + 1];
                hub_hex(frontier.k[i].ed, 32, hex);
                struct index_term t[2];
                index_term_make(IDX_KIND, "endorsement", 11, &t[0]);
                index_term_make(IDX_AUTHOR, hex, HUB_HEX_LEN, &t[1]);
                struct store_query q = {
                    .terms = t, .nterms = 2, .limit = 1000, .now_ms = hub_now_ms()};
                uint64_t cursor = 0;
                do {
                    if (store_query(s, &q, endorse_cb, &w, &cursor) < 0)
                        break;
                    q.cursor = cursor;
                } while (cursor);
            }
            for (size_t i = 0; i < next.n; i++)
                keyset_add(&trusted, next.k[i].ed);
            keyset_copy(&frontier, &next);
        }
        free(frontier.k);
        free(next.k);
    }
    pthread_rwlock_wrlock(&p->lock);
    struct keyset old = p->trusted;
    p->trusted = trusted;
    pthread_rwlock_unlock(&p->lock);
    free(old.k);
}

int policy_admits_feed(const struct policy *p, const uint8_t author[32]) {
    if (p->mode == POLICY_OPEN)
        return 1;
    struct policy *w = (struct policy *)p; /* the lock, not the sets, changes */
    pthread_rwlock_rdlock(&w->lock);
    int ok = keyset_has(&p->trusted, author);
    pthread_rwlock_unlock(&w->lock);
    return ok;
}

int policy_trusted_curve(const struct policy *p, const uint8_t curve_pk[32], uint8_t hub[32]) {
    for (size_t i = 0; i < p->trusted.n; i++)
        if (memcmp(p->trusted.k[i].curve, curve_pk, 32) == 0) {
            memcpy(hub, p->trusted.k[i].ed, 32);
            return 1;
        }
    return 0;
}

int policy_admits_curve(const struct policy *p, const uint8_t curve_pk[32], uint8_t hub[32]) {
    return policy_trusted_curve(p, curve_pk, hub) || p->mode == POLICY_OPEN;
}

size_t policy_trusted_count(const struct policy *p) {
    return p->trusted.n;
}

const char *policy_mode_name(enum policy_mode m) {
    return m == POLICY_OPEN       ? "open"
           : m == POLICY_ENDORSED ? "endorsed"
           : m == POLICY_TRUST    ? "trust"
                                  : "allowlist";
}

/* ---- explaining the trusted set (hubctl trust) ---- */

/* Which hub endorsed whom, found again with the provenance the admission path does not keep:
 * this runs on a control call, not on every entry. */
struct explain_walk {
    struct keyset *next;
    struct keyset *seen;
    const uint8_t *by;
    unsigned hop;
    policy_explain_fn cb;
    void *arg;
};

static int explain_cb(const uint8_t *wire, size_t len, void *arg) {
    struct explain_walk *w = arg;
    struct entry e;
    uint8_t hub[32];
    if (entry_decode(wire, len, &e) == 0 && e.payload &&
        record_endorsed_hub(e.payload, e.payload_len, hub) == 0 && !keyset_has(w->seen, hub) &&
        keyset_add(w->seen, hub)) {
        keyset_add(w->next, hub);
        struct policy_via v = {.root = -1, .hop = w->hop};
        memcpy(v.by, w->by, 32);
        w->cb(w->arg, hub, &v);
    }
    return 0;
}

static void explain_endorsed(const uint8_t by[32], struct store *s, struct explain_walk *w) {
    char hex[HUB_HEX_LEN + 1];
    hub_hex(by, 32, hex);
    struct index_term t[2];
    index_term_make(IDX_KIND, "endorsement", 11, &t[0]);
    index_term_make(IDX_AUTHOR, hex, HUB_HEX_LEN, &t[1]);
    struct store_query q = {.terms = t, .nterms = 2, .limit = 1000, .now_ms = hub_now_ms()};
    uint64_t cursor = 0;
    w->by = by;
    do {
        if (store_query(s, &q, explain_cb, w, &cursor) < 0)
            break;
        q.cursor = cursor;
    } while (cursor);
}

void policy_explain(struct policy *p, struct store *s, policy_explain_fn cb, void *arg) {
    struct keyset seen = {0}, frontier = {0}, next = {0}, listed = {0};
    pthread_rwlock_rdlock(&p->lock);
    keyset_copy(&seen, &p->base);
    for (int r = 0; r < POLICY_ROOT_COUNT; r++)
        for (size_t i = 0; i < p->roots[r].n; i++) {
            struct policy_via v = {.root = r, .hop = 0};
            if (keyset_add(&listed, p->roots[r].k[i].ed))
                cb(arg, p->roots[r].k[i].ed, &v);
        }
    free(listed.k);
    keyset_copy(&frontier, &p->base);
    unsigned hops = p->mode == POLICY_ENDORSED || p->mode == POLICY_TRUST ? p->hops : 0;
    pthread_rwlock_unlock(&p->lock);
    for (unsigned hop = 1; hop <= hops && frontier.n; hop++) {
        next.n = 0;
        struct explain_walk w = {.next = &next, .seen = &seen, .hop = hop, .cb = cb, .arg = arg};
        for (size_t i = 0; i < frontier.n; i++)
            explain_endorsed(frontier.k[i].ed, s, &w);
        keyset_copy(&frontier, &next);
    }
    free(seen.k);
    free(frontier.k);
    free(next.k);
}

const char *policy_root_name(int root) {
    return root == POLICY_ROOT_PEER     ? "peer"
           : root == POLICY_ROOT_ANCHOR ? "anchor"
           : root == POLICY_ROOT_ALLOW  ? "allow"
                                        : "endorsed";
}

/* ---- ZAP ---- */

struct zap {
    void *sock;
    struct policy *policy;
    uint64_t last_log;
    uint64_t refused_since_log;
};

int zap_open(void *ctx, struct policy *p, struct zap **out) {
    struct zap *z = calloc(1, sizeof *z);
    if (!z)
        return HUB_E_NOMEM;
    z->policy = p;
    z->sock = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (!z->sock || zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0) {
        log_error("sync", "cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        if (z->sock)
            zmq_close(z->sock);
        free(z);
        return HUB_E_INTERNAL;
    }
    *out = z;
    return HUB_OK;
}

void zap_destroy(struct zap **zp) {
    if (!zp || !*zp)
        return;
    zmq_close((*zp)->sock);
    free(*zp);
    *zp = NULL;
}

void *zap_socket(struct zap *z) {
    return z->sock;
}

static void zap_reply(struct zap *z, zmq_msg_t *reqid, const char *code, const char *text,
                      const char *user) {
    zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(z->sock, zmq_msg_data(reqid), zmq_msg_size(reqid), ZMQ_SNDMORE);
    zmq_send(z->sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(z->sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(z->sock, "", 0, 0);
}

void zap_handle(struct zap *z) {
    /* Request frames: version, request id, domain, address, identity, mechanism, credentials. */
    zmq_msg_t f[7];
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (nf < 7)
            f[nf++] = m;
        else
            zmq_msg_close(&m);
    }
    if (nf < 6) {
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
        return;
    }
    char user[HUB_HEX_LEN + 1] = "";
    const char *code = "400", *text = "not admitted by policy";
    uint8_t hub[32];
    int is_curve = zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0;
    if (is_curve && nf == 7 && zmq_msg_size(&f[6]) == 32) {
        const uint8_t *curve = zmq_msg_data(&f[6]);
        /* User-Id carries the client's transport key; sync checks Hello's hub key against it. */
        hub_hex(curve, 32, user);
        if (policy_admits_curve(z->policy, curve, hub)) {
            code = "200";
            text = "OK";
        } else {
            z->refused_since_log++;
            uint64_t now = hub_mono_ms();
            if (now - z->last_log >= ZAP_LOG_EVERY_MS || z->last_log == 0) {
                char addr[64] = "?";
                size_t al =
                    zmq_msg_size(&f[3]) < sizeof addr - 1 ? zmq_msg_size(&f[3]) : sizeof addr - 1;
                memcpy(addr, zmq_msg_data(&f[3]), al);
                addr[al] = 0;
                log_warnx("sync",
                          "refused connection from %s: transport key %.8s... is not a "
                          "trusted hub (policy %s); %llu refusal(s) in the last minute",
                          addr, user, policy_mode_name(z->policy->mode),
                          (unsigned long long)z->refused_since_log);
                z->last_log = now;
                z->refused_since_log = 0;
            }
        }
    }
    zap_reply(z, &f[1], code, text, user);
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
}
