/* records.c: what hubd derives from the records it holds (issue 10; records.h): replies by the
 * record they answer, the inbox and its local seen state, seats of offers, sealed contact
 * details, lineage of programmes and the names of hubs.
 *
 * Replies are found through index terms record.c gives each response (IDX_TARGET_REC: the
 * record answered, IDX_TARGET_AUTHOR: its author, IDX_RTYPE: the type), so they follow a record
 * across its versions and every derived value is a query over what the hub holds: every hub
 * holding the same records derives the same values. Only "seen" is local: a hash set in memory,
 * written through to the store's reply_seen table. */
#include "records.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "entry.h"
#include "identity.h"
#include "jarena.h"
#include "jbuf.h"
#include "log.h"
#include "node.h"
#include "record.h"
#include "store.h"
#include "view.h"

#define K_PROFILE 1
#define K_OFFER 2
#define K_REQUEST 3
#define K_RESPONSE 4
#define K_RETRACTION 5

#define RECORDS_SEEN_MIN 1024    /* initial slots of the seen set (power of two) */
#define RECORDS_DEFAULT_LIMIT 50 /* replies per inbox/replies page (as query) */
#define RECORDS_MAX_LIMIT 1000   /* ... at most (CONTROL.md) */
#define RECORDS_MIN_ID_PREFIX 4  /* hex digits of an id prefix a target may be given as */
#define RECORDS_SEALED_PLAIN_MAX (RECORD_MAX_SEALED - crypto_box_SEALBYTES)

struct name_slot {
    uint8_t author[32];
    int used, found;
    char name[RECORDS_MAX_HUB_NAME + 1];
    char country[8];
};

struct seat_slot {
    uint8_t author[32];
    char key[HUB_MAX_RECORD_KEY + 1];
    uint64_t gen;
    int used;
    uint32_t capacity, accepted;
};

struct records {
    struct node *node;
    struct store *st;
    const struct identity *id;
    char me[HUB_HEX_LEN + 1];
    /* seen replies: open addressing on entry ids, 0-filled slot = free */
    uint8_t (*seen)[32];
    size_t seen_cap, seen_n;
    struct name_slot *names;
    struct seat_slot *seats;
    uint64_t gen; /* bumped by every offer, request, response or retraction accepted: seats
                   * and titles go stale */
    /* Replies to our records not yet seen: counted at start and as they arrive, so that
     * inbox --new stops once it found them all (and answers at once when there are none). It
     * may count too many (an unseen reply retracted), never too few. */
    uint64_t unseen;
    /* Offers some enrolment names, by an 8-byte hash of the offer (author, key): an offer not
     * in it has all its seats without a query. Filled at start and as enrolments arrive; never
     * shrinks (a collision or a retracted enrolment only costs the query). 0 = free slot. */
    uint64_t *enrolled;
    size_t enrolled_cap, enrolled_n;
    uint8_t hash_key[crypto_shorthash_KEYBYTES]; /* offer_hash's, random per process */
    /* The title of the record last answered in a view: an inbox page answers a few records. */
    struct {
        uint8_t author[32];
        int kind, found, closed;
        char key[HUB_MAX_RECORD_KEY + 1];
        uint64_t gen;
        char title[RECORD_MAX_TITLE_BYTES + 1];
    } title;
};

/* ---- the seen set ---- */

static size_t seen_slot(const struct records *r, const uint8_t id[32]) {
    uint64_t h;
    memcpy(&h, id, 8); /* entry ids are BLAKE2b output: already uniform */
    return (size_t)h & (r->seen_cap - 1);
}

static int seen_has(const struct records *r, const uint8_t id[32]) {
    static const uint8_t zero[32];
    for (size_t i = seen_slot(r, id);; i = (i + 1) & (r->seen_cap - 1)) {
        if (memcmp(r->seen[i], zero, 32) == 0)
            return 0;
        if (memcmp(r->seen[i], id, 32) == 0)
            return 1;
    }
}

static int seen_add(struct records *r, const uint8_t id[32]);

static int seen_grow(struct records *r) {
    static const uint8_t zero[32];
    uint8_t(*old)[32] = r->seen;
    size_t oldcap = r->seen_cap;
    uint8_t(*n)[32] = calloc(oldcap * 2, 32);
    if (n == NULL)
        return HUB_E_NOMEM;
    r->seen = n;
    r->seen_cap = oldcap * 2;
    r->seen_n = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (memcmp(old[i], zero, 32) != 0)
            (void)seen_add(r, old[i]);
    free(old);
    return HUB_OK;
}

static int seen_add(struct records *r, const uint8_t id[32]) {
    static const uint8_t zero[32];
    if (sodium_is_zero(id, 32))
        return HUB_OK; /* the free-slot marker; no entry has that id */
    if ((r->seen_n + 1) * 2 > r->seen_cap && seen_grow(r) != HUB_OK)
        return HUB_E_NOMEM;
    for (size_t i = seen_slot(r, id);; i = (i + 1) & (r->seen_cap - 1)) {
        if (memcmp(r->seen[i], id, 32) == 0)
            return HUB_OK;
        if (memcmp(r->seen[i], zero, 32) == 0) {
            memcpy(r->seen[i], id, 32);
            r->seen_n++;
            return HUB_OK;
        }
    }
}

static int seen_load_cb(const uint8_t id[32], uint64_t ms, void *arg) {
    (void)ms;
    return seen_add(arg, id) == HUB_OK ? 0 : 1;
}

/* ---- caches ---- */

static size_t author_slot(const uint8_t author[32], size_t slots) {
    uint64_t h;
    memcpy(&h, author + 8, 8);
    return (size_t)h & (slots - 1);
}

static void enrolled_note(struct records *r, const struct record_response *rr);

static void on_entry(void *arg, const struct entry *e, int origin) {
    struct records *r = arg;
    (void)origin;
    if (e->kind == K_PROFILE || e->kind == K_RETRACTION) {
        struct name_slot *s = &r->names[author_slot(e->author, RECORDS_NAME_SLOTS)];
        if (s->used && memcmp(s->author, e->author, 32) == 0)
            s->used = 0;
    }
    if (e->kind == K_OFFER || e->kind == K_REQUEST || e->kind == K_RESPONSE ||
        e->kind == K_RETRACTION)
        r->gen++;
    if (e->kind == K_RESPONSE && e->payload != NULL) {
        static _Thread_local struct record_response rr;
        if (record_response_info(e->payload, e->payload_len, &rr) == HUB_OK) {
            enrolled_note(r, &rr);
            if (rr.has_target && memcmp(rr.target_author, r->id->pk, 32) == 0 &&
                memcmp(e->author, r->id->pk, 32) != 0 && !seen_has(r, e->id))
                r->unseen++;
        }
    }
}

/* SipHash-2-4 under a key of this process: a query answer hashes every offer it shows (a
 * keyed BLAKE2b here was 3% of a query), and a hostile hub cannot aim its keys at one chain. */
static uint64_t offer_hash(const struct records *r, const uint8_t author[32], const char *key) {
    uint8_t in[32 + HUB_MAX_RECORD_KEY], h[crypto_shorthash_BYTES];
    size_t n = strnlen(key, HUB_MAX_RECORD_KEY);
    memcpy(in, author, 32);
    memcpy(in + 32, key, n);
    crypto_shorthash(h, in, 32 + n, r->hash_key);
    uint64_t v;
    memcpy(&v, h, 8);
    return v ? v : 1; /* 0 marks a free slot */
}

static int enrolled_find(const struct records *r, uint64_t h) {
    for (size_t i = (size_t)h & (r->enrolled_cap - 1);; i = (i + 1) & (r->enrolled_cap - 1)) {
        if (r->enrolled[i] == h)
            return 1;
        if (r->enrolled[i] == 0)
            return 0;
    }
}

/* On failure the set is dropped (NULL): every offer is then counted by query. */
static void enrolled_add(struct records *r, uint64_t h) {
    if (r->enrolled == NULL || enrolled_find(r, h))
        return;
    if ((r->enrolled_n + 1) * 2 > r->enrolled_cap) {
        size_t cap = r->enrolled_cap * 2;
        uint64_t *n = calloc(cap, sizeof *n);
        uint64_t *old = r->enrolled;
        size_t oldcap = r->enrolled_cap;
        r->enrolled = n;
        r->enrolled_cap = cap;
        r->enrolled_n = 0;
        for (size_t i = 0; n != NULL && i < oldcap; i++)
            if (old[i])
                enrolled_add(r, old[i]);
        free(old);
        if (n == NULL)
            return;
    }
    size_t i = (size_t)h & (r->enrolled_cap - 1);
    while (r->enrolled[i] != 0)
        i = (i + 1) & (r->enrolled_cap - 1);
    r->enrolled[i] = h;
    r->enrolled_n++;
}

static void enrolled_note(struct records *r, const struct record_response *rr) {
    if (rr->type == RTYPE_ENROLMENT && rr->has_target && rr->target_kind == K_OFFER)
        enrolled_add(r, offer_hash(r, rr->target_author, rr->target_key));
}

static int count_unseen_cb(const uint8_t *wire, size_t len, void *arg) {
    struct records *r = arg;
    struct entry e;
    if (entry_decode(wire, len, &e) == HUB_OK && memcmp(e.author, r->id->pk, 32) != 0 &&
        !seen_has(r, e.id))
        r->unseen++;
    return 0;
}

static int enrolled_load_cb(const uint8_t *wire, size_t len, void *arg) {
    struct records *r = arg;
    struct entry e;
    static _Thread_local struct record_response rr;
    if (entry_decode(wire, len, &e) == HUB_OK && e.payload != NULL &&
        record_response_info(e.payload, e.payload_len, &rr) == HUB_OK)
        enrolled_note(r, &rr);
    return 0;
}

int records_open(struct node *n, struct control *ctl, struct records **out) {
    (void)ctl;
    struct records *r = calloc(1, sizeof *r);
    if (r == NULL)
        return HUB_E_NOMEM;
    r->node = n;
    r->st = node_store(n);
    r->id = node_identity(n);
    crypto_shorthash_keygen(r->hash_key);
    hub_hex(r->id->pk, 32, r->me);
    r->seen_cap = RECORDS_SEEN_MIN;
    r->seen = calloc(r->seen_cap, 32);
    r->names = calloc(RECORDS_NAME_SLOTS, sizeof *r->names);
    r->seats = calloc(RECORDS_SEAT_SLOTS, sizeof *r->seats);
    r->gen = 1;
    if (r->seen == NULL || r->names == NULL || r->seats == NULL) {
        records_destroy(&r);
        return HUB_E_NOMEM;
    }
    int rc = store_seen_load(r->st, seen_load_cb, r);
    if (rc < 0) {
        records_destroy(&r);
        return rc;
    }
    struct index_term t[2];
    index_term_make(IDX_KIND, "response", 8, &t[0]);
    char me[HUB_HEX_LEN + 1];
    hub_hex(r->id->pk, 32, me);
    index_term_make(IDX_TARGET_AUTHOR, me, HUB_HEX_LEN, &t[1]);
    struct store_query q = {.terms = t, .nterms = 2, .now_ms = hub_now_ms(), .limit = SIZE_MAX};
    uint64_t next;
    rc = store_query(r->st, &q, count_unseen_cb, r, &next);
    if (rc < 0) {
        records_destroy(&r);
        return rc;
    }
    r->enrolled_cap = RECORDS_SEEN_MIN;
    r->enrolled = calloc(r->enrolled_cap, sizeof *r->enrolled);
    index_term_make(IDX_RTYPE, "enrolment", 9, &t[1]);
    q.nterms = 2;
    rc = store_query(r->st, &q, enrolled_load_cb, r, &next);
    if (rc < 0) {
        records_destroy(&r);
        return rc;
    }
    rc = node_add_listener(n, on_entry, r);
    if (rc != 0) {
        records_destroy(&r);
        return rc;
    }
    *out = r;
    return HUB_OK;
}

void records_destroy(struct records **rp) {
    if (rp == NULL || *rp == NULL)
        return;
    struct records *r = *rp;
    free(r->seen);
    free(r->enrolled);
    free(r->names);
    free(r->seats);
    free(r);
    *rp = NULL;
}

/* ---- store helpers ---- */

/* The current version of a record, decoded: *wire is malloc'd and e points into it. */
static int current_entry(struct records *r, const uint8_t author[32], int kind, const char *key,
                         uint8_t **wire, struct entry *e) {
    uint8_t id[32];
    size_t len;
    *wire = NULL;
    int rc = store_record_current(r->st, author, kind, key, id);
    if (rc == HUB_OK)
        rc = store_get(r->st, id, wire, &len);
    if (rc == HUB_OK && entry_decode(*wire, len, e) != HUB_OK)
        rc = HUB_E_DECODE;
    if (rc != HUB_OK) {
        free(*wire);
        *wire = NULL;
    }
    return rc;
}

static int any_cb(const uint8_t *wire, size_t len, void *arg) {
    (void)wire;
    (void)len;
    (void)arg;
    return 1;
}

/* Held once but not current: retracted or expired. */
static int record_closed(struct records *r, const uint8_t author[32], int kind, const char *key) {
    uint8_t id[32];
    if (store_record_current(r->st, author, kind, key, id) == HUB_OK)
        return 0;
    return store_versions(r->st, author, kind, key, any_cb, NULL) > 0;
}

static void term_hex(struct index_term *t, enum index_field f, const uint8_t key[32]) {
    char hex[HUB_HEX_LEN + 1];
    hub_hex(key, 32, hex);
    index_term_make(f, hex, HUB_HEX_LEN, t);
}

static void term_ref(struct index_term *t, const uint8_t author[32], int kind, const char *key) {
    char ref[RECORD_REF_TEXT_MAX];
    size_t n = record_ref_text(author, kind, key, ref);
    index_term_make(IDX_TARGET_REC, ref, n, t);
}

/* ---- names ---- */

int records_author_name(struct records *r, const uint8_t author[32], char *name, char *country) {
    struct name_slot *s = &r->names[author_slot(author, RECORDS_NAME_SLOTS)];
    if (!s->used || memcmp(s->author, author, 32) != 0) {
        uint8_t *wire;
        struct entry e;
        memset(s, 0, sizeof *s);
        memcpy(s->author, author, 32);
        if (current_entry(r, author, K_PROFILE, "profile", &wire, &e) == HUB_OK) {
            s->found = e.payload != NULL &&
                       record_profile_name(e.payload, e.payload_len, s->name, s->country) == 0 &&
                       s->name[0] != '\0';
            free(wire);
        }
        s->used = 1;
    }
    memcpy(name, s->name, sizeof s->name);
    memcpy(country, s->country, sizeof s->country);
    return s->found ? HUB_OK : HUB_E_NOT_FOUND;
}

/* ---- answers and seats ---- */

/* The newest current answer (accept or decline) by `by` to the response (author, key). */
struct answer {
    int type; /* 0: none */
    char reason[257];
};

static int answer_cb(const uint8_t *wire, size_t len, void *arg) {
    struct answer *a = arg;
    struct entry e;
    static _Thread_local struct record_response rr;
    if (entry_decode(wire, len, &e) != 0 || e.payload == NULL ||
        record_response_info(e.payload, e.payload_len, &rr) != 0)
        return STORE_QUERY_SKIP;
    if (rr.type != RTYPE_ACCEPT && rr.type != RTYPE_DECLINE)
        return STORE_QUERY_SKIP;
    a->type = rr.type;
    memcpy(a->reason, rr.reason, sizeof a->reason);
    return 1; /* the newest decides */
}

static void answer_of(struct records *r, const uint8_t by[32], const uint8_t author[32],
                      const char *key, struct answer *a) {
    struct index_term t[2];
    term_ref(&t[0], author, K_RESPONSE, key);
    term_hex(&t[1], IDX_AUTHOR, by);
    struct store_query q = {.terms = t, .nterms = 2, .now_ms = hub_now_ms(), .limit = 1};
    uint64_t next;
    a->type = 0;
    a->reason[0] = '\0';
    (void)store_query(r->st, &q, answer_cb, a, &next);
}

struct enrolment {
    uint8_t author[32];
    char key[HUB_MAX_RECORD_KEY + 1];
    uint32_t seats;
};

struct enrol_list {
    struct enrolment *v;
    size_t n, cap;
    int oom;
};

static int enrol_cb(const uint8_t *wire, size_t len, void *arg) {
    struct enrol_list *l = arg;
    struct entry e;
    static _Thread_local struct record_response rr;
    if (l->n >= RECORDS_MAX_ENROLMENTS)
        return 1;
    if (entry_decode(wire, len, &e) != 0 || e.payload == NULL ||
        record_response_info(e.payload, e.payload_len, &rr) != 0 || rr.type != RTYPE_ENROLMENT)
        return STORE_QUERY_SKIP;
    if (l->n == l->cap) {
        /* Grown as found: most offers have no enrolment, and a query's page of offers must
         * not pay for the most one could have. */
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct enrolment *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    struct enrolment *x = &l->v[l->n++];
    memcpy(x->author, e.author, 32);
    memcpy(x->key, e.key, sizeof x->key);
    x->seats = rr.seats ? rr.seats : 1; /* an enrolment without seats asks for one */
    return 0;
}

/* Seats of (author, key) the offer's author accepted: except is an enrolment not counted (the
 * one being accepted again). */
static uint32_t accepted_seats(struct records *r, const uint8_t author[32], const char *key,
                               const struct enrolment *except) {
    struct enrol_list l = {NULL, 0, 0, 0};
    struct index_term t[2];
    term_ref(&t[0], author, K_OFFER, key);
    index_term_make(IDX_RTYPE, "enrolment", 9, &t[1]);
    struct store_query q = {
        .terms = t, .nterms = 2, .now_ms = hub_now_ms(), .limit = RECORDS_MAX_ENROLMENTS};
    uint64_t next;
    (void)store_query(r->st, &q, enrol_cb, &l, &next);
    uint64_t sum = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (except && memcmp(except->author, l.v[i].author, 32) == 0 &&
            strcmp(except->key, l.v[i].key) == 0)
            continue;
        struct answer a;
        answer_of(r, author, l.v[i].author, l.v[i].key, &a);
        if (a.type == RTYPE_ACCEPT)
            sum += l.v[i].seats;
    }
    free(l.v);
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

int32_t records_today(void) {
    return (int32_t)(hub_now_ms() / 86400000ULL);
}

void records_offer_fields(const uint8_t *payload, size_t len, struct records_offer_fields *f) {
    memset(f, 0, sizeof *f);
    f->rc = record_offer_seats_fields(payload, len, &f->capacity, &f->dates);
}

int records_offer_seats_payload(struct records *r, const uint8_t author[32], const char *key,
                                const uint8_t *payload, size_t len, struct records_seats *out) {
    struct records_offer_fields f;
    records_offer_fields(payload, len, &f);
    return records_offer_seats_fields(r, author, key, &f, out);
}

int records_offer_seats_fields(struct records *r, const uint8_t author[32], const char *key,
                               const struct records_offer_fields *f, struct records_seats *out) {
    memset(out, 0, sizeof *out);
    if (f->rc != HUB_OK)
        return f->rc;
    struct record_offer o;
    o.capacity = f->capacity;
    o.dates = f->dates;
    int32_t today = records_today(), last = o.dates.end ? o.dates.end : o.dates.start;
    out->past = last != 0 && last < today;
    out->capacity = o.capacity;
    if (o.capacity == 0) {
        out->unlimited = 1;
        return HUB_OK;
    }
    uint64_t h = offer_hash(r, author, key);
    if (r->enrolled != NULL && !enrolled_find(r, h)) {
        out->seats_left = o.capacity; /* no enrolment in it was ever seen: nothing to count */
        return HUB_OK;
    }
    /* One slot per offer; the generation goes stale with every offer, response or retraction
     * this hub takes in, so a cached count is never older than the last reply. */
    struct seat_slot *s = &r->seats[h & (RECORDS_SEAT_SLOTS - 1)];
    if (!(s->used && s->gen == r->gen && s->capacity == o.capacity &&
          memcmp(s->author, author, 32) == 0 && strcmp(s->key, key) == 0)) {
        s->used = 1;
        s->gen = r->gen;
        s->capacity = o.capacity;
        memcpy(s->author, author, 32);
        snprintf(s->key, sizeof s->key, "%s", key);
        s->accepted = accepted_seats(r, author, key, NULL);
    }
    out->accepted = s->accepted;
    out->seats_left = s->accepted >= o.capacity ? 0 : o.capacity - s->accepted;
    out->full = out->seats_left == 0;
    return HUB_OK;
}

int records_offer_seats(struct records *r, const uint8_t author[32], const char *key,
                        struct records_seats *out) {
    uint8_t *wire;
    struct entry e;
    memset(out, 0, sizeof *out);
    int rc = current_entry(r, author, K_OFFER, key, &wire, &e);
    if (rc != HUB_OK)
        return rc;
    rc = e.payload ? records_offer_seats_payload(r, author, key, e.payload, e.payload_len, out)
                   : HUB_E_NOT_FOUND;
    free(wire);
    return rc;
}

/* ---- sealed parts ---- */

/* Opens a sealed part addressed to this hub; *out is a new JSON object with only the string
 * members contact and message (foreign content), or NULL when it does not open. */
static json_t *sealed_open(struct records *r, const uint8_t *c, size_t clen) {
    uint8_t plain[RECORDS_SEALED_PLAIN_MAX + 1];
    if (clen < crypto_box_SEALBYTES || clen > RECORD_MAX_SEALED)
        return NULL;
    if (crypto_box_seal_open(plain, c, clen, r->id->curve_pk, r->id->curve_sk) != 0)
        return NULL;
    size_t plen = clen - crypto_box_SEALBYTES;
    json_t *o = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, NULL);
    sodium_memzero(plain, sizeof plain);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    json_t *clean = json_object();
    static const char *const members[] = {"contact", "message"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, members[i]);
        if (json_is_string(v))
            json_object_set(clean, members[i], v);
    }
    json_decref(o);
    return clean;
}

/* ---- views ---- */

static void write_name(struct records *r, struct jbuf *b, const uint8_t author[32],
                       const char *key_name, const char *key_country) {
    char name[RECORDS_MAX_HUB_NAME + 1], country[8];
    int found = records_author_name(r, author, name, country) == HUB_OK;
    jbuf_key_plain(b, key_name, strlen(key_name)); /* the callers' literals */
    if (found)
        jbuf_cstr(b, name);
    else
        jbuf_lit(b, "null");
    jbuf_key_plain(b, key_country, strlen(key_country));
    if (found && country[0])
        jbuf_cstr(b, country);
    else
        jbuf_lit(b, "null");
}

/* A reply's state as this hub sees it (PROTOCOL.md 7.2). */
struct reply_view {
    const char *state;
    int closed;
    struct answer answer;
};

/* record_closed of a reply's target, kept with the title (records.title) until the next
 * record arrives: an inbox page mostly answers the same few records. */
static int target_closed(struct records *r, const struct record_response *rr) {
    if (r->title.gen == r->gen && r->title.kind == rr->target_kind &&
        memcmp(r->title.author, rr->target_author, 32) == 0 &&
        strcmp(r->title.key, rr->target_key) == 0)
        return r->title.closed;
    return record_closed(r, rr->target_author, rr->target_kind, rr->target_key);
}

static void reply_state(struct records *r, const struct entry *e, const struct record_response *rr,
                        struct reply_view *v) {
    memset(v, 0, sizeof *v);
    int mine = rr->has_target && memcmp(rr->target_author, r->id->pk, 32) == 0;
    if (rr->type == RTYPE_ACCEPT || rr->type == RTYPE_DECLINE) {
        v->state = mine ? (seen_has(r, e->id) ? "seen" : "new") : "sent";
        return;
    }
    if (rr->has_target) {
        answer_of(r, rr->target_author, e->author, e->key, &v->answer);
        v->closed = target_closed(r, rr);
    }
    if (v->answer.type == RTYPE_ACCEPT)
        v->state = "accepted";
    else if (v->answer.type == RTYPE_DECLINE)
        v->state = "declined";
    else if (v->closed)
        v->state = "closed";
    else if (mine)
        v->state = seen_has(r, e->id) ? "seen" : "new";
    else
        v->state = "pending";
}

static void write_title(struct records *r, struct jbuf *b, const struct record_response *rr) {
    if (!rr->has_target || (rr->target_kind != K_OFFER && rr->target_kind != K_REQUEST &&
                            rr->target_kind != K_RESPONSE))
        return;
    if (r->title.gen == r->gen && r->title.kind == rr->target_kind &&
        memcmp(r->title.author, rr->target_author, 32) == 0 &&
        strcmp(r->title.key, rr->target_key) == 0) {
        if (r->title.found) {
            jbuf_key(b, "target_title");
            jbuf_cstr(b, r->title.title);
        }
        return;
    }
    r->title.gen = r->gen;
    r->title.kind = rr->target_kind;
    r->title.found = 0;
    r->title.closed = record_closed(r, rr->target_author, rr->target_kind, rr->target_key);
    memcpy(r->title.author, rr->target_author, 32);
    memcpy(r->title.key, rr->target_key, sizeof r->title.key);
    uint8_t *wire;
    struct entry t;
    if (current_entry(r, rr->target_author, rr->target_kind, rr->target_key, &wire, &t) != 0)
        return;
    json_t *o = NULL;
    if (t.payload && record_to_json(t.kind, t.payload, t.payload_len, &o) == HUB_OK) {
        json_t *title = json_object_get(o, "title");
        if (json_is_string(title) && json_string_length(title) <= RECORD_MAX_TITLE_BYTES) {
            jbuf_key(b, "target_title");
            jbuf_str(b, json_string_value(title), json_string_length(title));
            memcpy(r->title.title, json_string_value(title), json_string_length(title) + 1);
            r->title.found = 1;
        }
    }
    json_decref(o);
    free(wire);
}

static void write_response_extra(struct records *r, struct jbuf *b, const struct entry *e) {
    static _Thread_local struct record_response rr;
    if (record_response_info(e->payload, e->payload_len, &rr) != HUB_OK)
        return;
    struct reply_view v;
    reply_state(r, e, &rr, &v);
    jbuf_key(b, "state");
    jbuf_cstr(b, v.state);
    jbuf_key(b, "closed");
    if (v.closed)
        jbuf_lit(b, "true");
    else
        jbuf_lit(b, "false");
    if (v.answer.type == RTYPE_DECLINE && v.answer.reason[0]) {
        jbuf_key(b, "answer_reason");
        jbuf_cstr(b, v.answer.reason);
    }
    if (rr.has_target) {
        char ref[RECORD_REF_TEXT_MAX];
        record_ref_text(rr.target_author, rr.target_kind, rr.target_key, ref);
        jbuf_key(b, "target_record");
        jbuf_cstr(b, ref);
        write_name(r, b, rr.target_author, "target_name", "target_country");
        write_title(r, b, &rr);
    }
    if (rr.sealed_len) {
        json_t *open = NULL;
        if (rr.has_target && memcmp(rr.target_author, r->id->pk, 32) == 0)
            open = sealed_open(r, rr.sealed, rr.sealed_len);
        jbuf_key(b, "sealed");
        if (open) {
            char *t = json_dumps(open, JSON_COMPACT | JSON_SORT_KEYS);
            if (t)
                jbuf_raw(b, t, strlen(t));
            else
                jbuf_lit(b, "\"(sealed)\"");
            jarena_free_dump(t);
            json_decref(open);
        } else {
            jbuf_lit(b, "\"(sealed)\"");
        }
    }
}

int records_write_view_entry(struct records *r, struct jbuf *b, const struct entry *e) {
    int rc = view_write_entry(b, e);
    if (rc != HUB_OK || r == NULL)
        return rc;
    if (b->len == 0 || b->p[b->len - 1] != '}')
        return HUB_E_INTERNAL;
    b->len--; /* reopen the object */
    records_write_view_extra(r, b, e, NULL);
    jbuf_lit(b, "}");
    return b->oom ? HUB_E_NOMEM : HUB_OK;
}

void records_write_view_extra(struct records *r, struct jbuf *b, const struct entry *e,
                              const struct records_offer_fields *of) {
    write_name(r, b, e->author, "author_name", "author_country");
    if (e->payload != NULL && e->kind == K_OFFER) {
        struct records_seats s;
        struct records_offer_fields f;
        if (of == NULL) {
            records_offer_fields(e->payload, e->payload_len, &f);
            of = &f;
        }
        if (records_offer_seats_fields(r, e->author, e->key, of, &s) == HUB_OK) {
            jbuf_key_lit(b, "seats_left");
            if (s.unlimited)
                jbuf_lit(b, "null");
            else
                jbuf_u64(b, s.seats_left);
            jbuf_key_lit(b, "full");
            if (s.full)
                jbuf_lit(b, "true");
            else
                jbuf_lit(b, "false");
            jbuf_key_lit(b, "past");
            if (s.past)
                jbuf_lit(b, "true");
            else
                jbuf_lit(b, "false");
        }
    } else if (e->payload != NULL && e->kind == K_RESPONSE) {
        write_response_extra(r, b, e);
    }
}

int records_write_view(struct records *r, struct jbuf *b, const uint8_t *wire, size_t len) {
    struct entry e;
    int rc = entry_decode(wire, len, &e);
    return rc != 0 ? rc : records_write_view_entry(r, b, &e);
}

/* ---- targets ---- */

struct call_err {
    char *field;
    size_t field_len;
    char *msg;
    size_t msg_len;
};

__attribute__((format(printf, 4, 5))) static int fail(struct call_err *ce, int code,
                                                      const char *field, const char *fmt, ...) {
    snprintf(ce->field, ce->field_len, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ce->msg, ce->msg_len, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(ce->msg, ce->msg_len, "%s", hub_strmsg(code));
    return code;
}

/* A record named by a full entry id, an id prefix (as get takes) or AUTHOR/KIND/KEY. id is the
 * entry's id when named by one (has_id), else left alone. */
struct target {
    uint8_t author[32];
    int kind;
    char key[HUB_MAX_RECORD_KEY + 1];
    int has_id;
    uint8_t id[32];
};

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

static int target_parse(struct records *r, const char *s, const char *field, struct target *t,
                        struct call_err *ce) {
    memset(t, 0, sizeof *t);
    const char *slash = strchr(s, '/');
    if (slash != NULL) {
        const char *slash2 = strchr(slash + 1, '/');
        char hex[HUB_HEX_LEN + 1];
        if ((size_t)(slash - s) == HUB_HEX_LEN) {
            memcpy(hex, s, HUB_HEX_LEN);
            hex[HUB_HEX_LEN] = '\0';
        }
        if ((size_t)(slash - s) != HUB_HEX_LEN || slash2 == NULL ||
            hub_unhex(hex, t->author, 32) != 0)
            return fail(ce, HUB_E_RANGE, field,
                        "%s: expected an entry id, an id prefix or AUTHOR/KIND/KEY", field);
        char kname[16];
        size_t kl = (size_t)(slash2 - slash - 1);
        if (kl >= sizeof kname)
            return fail(ce, HUB_E_KIND, field, "%s: unknown kind", field);
        memcpy(kname, slash + 1, kl);
        kname[kl] = '\0';
        t->kind = entry_kind_parse(kname);
        size_t keyl = strlen(slash2 + 1);
        if (t->kind <= 0)
            return fail(ce, HUB_E_KIND, field, "%s: unknown kind '%.15s'", field, kname);
        if (keyl == 0 || keyl > HUB_MAX_RECORD_KEY)
            return fail(ce, HUB_E_RANGE, field, "%s: a key of 1 to %d bytes", field,
                        HUB_MAX_RECORD_KEY);
        memcpy(t->key, slash2 + 1, keyl + 1);
        return HUB_OK;
    }
    size_t hl = strlen(s);
    if (hl < RECORDS_MIN_ID_PREFIX || hl > HUB_HEX_LEN || !is_hex(s, hl))
        return fail(ce, HUB_E_RANGE, field,
                    "%s: expected an entry id (64 hex digits), at least %d of its start, or "
                    "AUTHOR/KIND/KEY",
                    field, RECORDS_MIN_ID_PREFIX);
    if (hl == HUB_HEX_LEN) {
        if (hub_unhex(s, t->id, 32) != 0)
            return fail(ce, HUB_E_RANGE, field, "%s: expected hex digits", field);
    } else {
        uint8_t pre[32] = {0};
        char hex[HUB_HEX_LEN + 1];
        snprintf(hex, sizeof hex, "%s%s", s, hl % 2 ? "0" : "");
        if (hub_unhex(hex, pre, strlen(hex) / 2) != 0)
            return fail(ce, HUB_E_RANGE, field, "%s: expected hex digits", field);
        int rc = store_resolve_id(r->st, pre, hl, t->id);
        if (rc == HUB_E_RANGE)
            return fail(ce, rc, field, "%s: %.63s is the start of several entry ids", field, s);
        if (rc != HUB_OK)
            return fail(ce, rc, field, "%s: no entry id starts with %.63s", field, s);
    }
    if (sodium_is_zero(t->id, 32))
        return fail(ce, HUB_E_RANGE, field, "%s: all zero: no entry has that id", field);
    uint8_t *wire;
    size_t len;
    struct entry e;
    int rc = store_get(r->st, t->id, &wire, &len);
    if (rc != HUB_OK)
        return fail(ce, rc, field, "%s: this hub holds no entry %.64s", field, s);
    if (entry_decode(wire, len, &e) != HUB_OK) {
        free(wire);
        return fail(ce, HUB_E_DECODE, field, "%s: the stored entry does not decode", field);
    }
    memcpy(t->author, e.author, 32);
    t->kind = e.kind;
    memcpy(t->key, e.key, sizeof t->key);
    t->has_id = 1;
    free(wire);
    return HUB_OK;
}

/* The held, current record of a target (its current version's id in cur), or why not. */
static int target_held(struct records *r, const struct target *t, int unheld_ok, const char *field,
                       uint8_t cur[32], struct call_err *ce) {
    char ref[RECORD_REF_TEXT_MAX];
    record_ref_text(t->author, t->kind, t->key, ref);
    if (sodium_is_zero(t->author, 32))
        return fail(ce, HUB_E_RANGE, field, "%s: all-zero hub key: no hub has it", field);
    int rc = store_record_current(r->st, t->author, t->kind, t->key, cur);
    if (rc == HUB_OK)
        return HUB_OK;
    if (rc != HUB_E_NOT_FOUND)
        return fail(ce, rc, field, "%s: %s", field, hub_strmsg(rc));
    if (record_closed(r, t->author, t->kind, t->key))
        return fail(ce, HUB_E_NOT_FOUND, field,
                    "%s: %.200s is closed (retracted or expired): it takes no new replies", field,
                    ref);
    if (unheld_ok)
        return HUB_E_NOT_FOUND; /* allowed: the caller goes on without a current version */
    return fail(ce, HUB_E_NOT_FOUND, field,
                "%s: this hub holds no record %.200s; give unheld_target (hubctl "
                "--unheld-target) to reply to a record not yet replicated here",
                field, ref);
}

static void set_hex(json_t *o, const char *name, const uint8_t *b) {
    char hex[HUB_HEX_LEN + 1];
    hub_hex(b, 32, hex);
    json_object_set_new(o, name, json_string(hex));
}

/* Checks that reply (a held response) is an enrolment in one of this hub's offers. */
static int check_enrolment_of_ours(struct records *r, const uint8_t reply_author[32],
                                   const char *reply_key, struct record_response *rr,
                                   struct call_err *ce) {
    uint8_t *wire;
    struct entry e;
    if (current_entry(r, reply_author, K_RESPONSE, reply_key, &wire, &e) != HUB_OK)
        return fail(ce, HUB_E_NOT_FOUND, "target", "target: the enrolment is not held");
    int rc = e.payload ? record_response_info(e.payload, e.payload_len, rr) : HUB_E_NOT_FOUND;
    free(wire);
    if (rc != HUB_OK)
        return fail(ce, HUB_E_DECODE, "target", "target: the enrolment does not decode");
    if (rr->type != RTYPE_ENROLMENT || !rr->has_target || rr->target_kind != K_OFFER ||
        memcmp(rr->target_author, r->id->pk, 32) != 0)
        return fail(ce, HUB_E_KIND, "target",
                    "target: accept and decline answer an enrolment in one of this hub's offers");
    return HUB_OK;
}

/* Seals {"contact","message"} to the X25519 key of the target's Ed25519 key. */
static int seal_to(const uint8_t target[32], const char *contact, const char *message, json_t *rec,
                   struct call_err *ce) {
    uint8_t xpk[32];
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, target) != 0)
        return fail(ce, HUB_E_RANGE, "target_author",
                    "target_author: not a valid hub key (no X25519 key to seal to)");
    json_t *o = json_object();
    if (contact)
        json_object_set_new(o, "contact", json_string(contact));
    if (message)
        json_object_set_new(o, "message", json_string(message));
    char *plain = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (plain == NULL)
        return fail(ce, HUB_E_NOMEM, NULL, "out of memory");
    size_t pl = strlen(plain);
    if (pl > RECORDS_SEALED_PLAIN_MAX) {
        sodium_memzero(plain, pl);
        jarena_free_dump(plain);
        return fail(ce, HUB_E_TOO_LARGE, message ? "message" : "contact",
                    "the sealed part would exceed %d bytes: shorten the message",
                    RECORD_MAX_SEALED);
    }
    uint8_t c[RECORD_MAX_SEALED];
    int rc = crypto_box_seal(c, (const uint8_t *)plain, pl, xpk);
    sodium_memzero(plain, pl);
    jarena_free_dump(plain);
    if (rc != 0)
        return fail(ce, HUB_E_INTERNAL, NULL, "sealing failed");
    char b64[sodium_base64_ENCODED_LEN(RECORD_MAX_SEALED, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, c, pl + crypto_box_SEALBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(rec, "sealed", json_string(b64));
    return HUB_OK;
}

static int prepare(struct records *r, json_t *req, json_t *rec, struct call_err *ce) {
    json_t *tv = json_object_get(req, "target");
    json_t *uv = json_object_get(req, "unheld_target");
    json_t *sv = json_object_get(req, "seal_message");
    if (tv && !json_is_string(tv))
        return fail(ce, HUB_E_TYPE, "target", "target: expected a string");
    if (uv && !json_is_boolean(uv))
        return fail(ce, HUB_E_TYPE, "unheld_target", "unheld_target: expected true or false");
    if (sv && !json_is_boolean(sv))
        return fail(ce, HUB_E_TYPE, "seal_message", "seal_message: expected true or false");
    int unheld_ok = json_is_true(uv);
    struct target t;
    int rc;
    const char *field = "target";
    if (tv) {
        if ((rc = target_parse(r, json_string_value(tv), "target", &t, ce)) != HUB_OK)
            return rc;
        json_object_set_new(rec, "target_kind", json_string(entry_kind_name(t.kind)));
        json_object_set_new(rec, "target_key", json_string(t.key));
        set_hex(rec, "target_author", t.author);
        if (t.has_id)
            set_hex(rec, "target", t.id);
    } else if (json_object_get(rec, "target_author") == NULL &&
               json_is_string(json_object_get(rec, "target"))) {
        /* An older client names the version only: the record is that entry's. */
        if ((rc = target_parse(r, json_string_value(json_object_get(rec, "target")), "target", &t,
                               ce)) != HUB_OK)
            return rc;
        json_object_set_new(rec, "target_kind", json_string(entry_kind_name(t.kind)));
        json_object_set_new(rec, "target_key", json_string(t.key));
        set_hex(rec, "target_author", t.author);
    }
    /* Every field checked as published (types, vocabularies, caps, the reply-to-reply rule)
     * before anything is resolved or sealed. */
    struct record_error rerr = {{0}, {0}};
    uint8_t *payload = NULL;
    size_t plen = 0;
    rc = record_from_json(K_RESPONSE, rec, &payload, &plen, &rerr);
    if (rc != HUB_OK)
        return fail(ce, rc, rerr.field, "%s: %s", rerr.field,
                    rerr.message[0] ? rerr.message : hub_strmsg(rc));
    static _Thread_local struct record_response rr;
    rc = record_response_info(payload, plen, &rr);
    free(payload);
    if (rc != HUB_OK || !rr.has_target)
        return fail(ce, HUB_E_INTERNAL, NULL, "response checked but not decoded");
    if (rr.sealed_len && (json_object_get(rec, "contact") || json_is_true(sv)))
        return fail(ce, HUB_E_FIELD, "sealed", "sealed: give contact or sealed, not both");
    memcpy(t.author, rr.target_author, 32);
    t.kind = rr.target_kind;
    memcpy(t.key, rr.target_key, sizeof t.key);
    int answer = rr.type == RTYPE_ACCEPT || rr.type == RTYPE_DECLINE;
    uint8_t cur[32];
    rc = target_held(r, &t, unheld_ok && !answer, field, cur, ce);
    if (rc != HUB_OK && !(rc == HUB_E_NOT_FOUND && unheld_ok && !answer && ce->msg[0] == '\0'))
        return rc;
    if (rc == HUB_OK) {
        if (rr.has_target_id) {
            /* The version answered must be one of the record's. */
            uint8_t *wire;
            size_t len;
            struct entry e;
            int grc = store_get(r->st, rr.target_id, &wire, &len);
            int same = grc == HUB_OK && entry_decode(wire, len, &e) == HUB_OK &&
                       memcmp(e.author, t.author, 32) == 0 && e.kind == t.kind &&
                       strcmp(e.key, t.key) == 0;
            if (grc == HUB_OK)
                free(wire);
            if (!same) {
                char ref[RECORD_REF_TEXT_MAX];
                record_ref_text(t.author, t.kind, t.key, ref);
                return fail(ce, grc == HUB_OK ? HUB_E_RANGE : HUB_E_NOT_FOUND, "target",
                            "target: not a held version of %.200s", ref);
            }
        } else {
            set_hex(rec, "target", cur);
        }
    }
    if (answer) {
        static _Thread_local struct record_response en;
        if ((rc = check_enrolment_of_ours(r, t.author, t.key, &en, ce)) != HUB_OK)
            return rc;
    }
    /* Sealed contact: nothing but the target hub reads it. */
    json_t *cv = json_object_get(rec, "contact");
    json_t *mv = json_is_true(sv) ? json_object_get(rec, "message") : NULL;
    if (cv || mv) {
        rc = seal_to(t.author, cv ? json_string_value(cv) : NULL, mv ? json_string_value(mv) : NULL,
                     rec, ce);
        if (rc != HUB_OK)
            return rc;
        json_object_del(rec, "contact");
        if (mv)
            json_object_del(rec, "message");
    }
    return HUB_OK;
}

int records_prepare_response(struct records *r, json_t *req, json_t *rec, char *field,
                             size_t field_len, char *message, size_t message_len) {
    struct call_err ce = {field, field_len, message, message_len};
    field[0] = message[0] = '\0';
    return prepare(r, req, rec, &ce);
}

/* ---- control calls (CONTROL.md): inbox, replies, accept, decline, lineage ---- */

struct wire_list {
    uint8_t **w;
    size_t *len;
    size_t n, cap;
    struct records *r;
    int only_new;
    uint64_t found; /* only_new: unseen replies found */
};

static int wire_keep(struct wire_list *l, const uint8_t *wire, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint8_t **w = realloc(l->w, cap * sizeof *w);
        if (w == NULL)
            return 1;
        l->w = w;
        size_t *ln = realloc(l->len, cap * sizeof *ln);
        if (ln == NULL)
            return 1;
        l->len = ln;
        l->cap = cap;
    }
    uint8_t *c = malloc(len);
    if (c == NULL)
        return 1;
    memcpy(c, wire, len);
    l->w[l->n] = c;
    l->len[l->n++] = len;
    return 0;
}

static void wire_free(struct wire_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->w[i]);
    free(l->w);
    free(l->len);
}

static int reply_cb(const uint8_t *wire, size_t len, void *arg) {
    struct wire_list *l = arg;
    struct entry e;
    if (entry_decode(wire, len, &e) != HUB_OK)
        return STORE_QUERY_SKIP;
    if (l->only_new) {
        if (seen_has(l->r, e.id))
            return STORE_QUERY_SKIP;
        if (memcmp(e.author, l->r->id->pk, 32) == 0)
            return STORE_QUERY_SKIP; /* our own answers are not news to us */
        if (wire_keep(l, wire, len) != 0)
            return 1;
        /* Every unseen reply found: the rest of the inbox is seen, no need to walk it. */
        return ++l->found >= l->r->unseen ? 1 : 0;
    }
    return wire_keep(l, wire, len) == 0 ? 0 : 1;
}

static int page_args(json_t *req, size_t *limit, uint64_t *cursor, struct call_err *ce) {
    json_t *lim = json_object_get(req, "limit");
    json_t *cur = json_object_get(req, "cursor");
    *limit = RECORDS_DEFAULT_LIMIT;
    *cursor = 0;
    if (lim) {
        if (!json_is_integer(lim))
            return fail(ce, HUB_E_TYPE, "limit", "limit: expected an integer");
        json_int_t l = json_integer_value(lim);
        if (l < 1 || l > RECORDS_MAX_LIMIT)
            return fail(ce, HUB_E_RANGE, "limit", "limit: 1 to %d", RECORDS_MAX_LIMIT);
        *limit = (size_t)l;
    }
    if (cur && !json_is_null(cur)) {
        if (!json_is_string(cur) ||
            hub_parse_u64(json_string_value(cur), UINT64_MAX - 1, cursor) != 0 || *cursor == 0)
            return fail(ce, HUB_E_RANGE, "cursor",
                        "cursor: expected the 'next' of a previous page");
    }
    return HUB_OK;
}

/* Newest first by entry timestamp (insertion sort: a page and the addressed replies). */
static void wire_sort_newest(struct wire_list *l) {
    for (size_t i = 1; i < l->n; i++) {
        uint8_t *w = l->w[i];
        size_t len = l->len[i], j = i;
        struct entry e, f;
        if (entry_decode(w, len, &e) != HUB_OK)
            continue;
        while (j > 0 && entry_decode(l->w[j - 1], l->len[j - 1], &f) == HUB_OK &&
               f.timestamp < e.timestamp) {
            l->w[j] = l->w[j - 1];
            l->len[j] = l->len[j - 1];
            j--;
        }
        l->w[j] = w;
        l->len[j] = len;
    }
}

/* inbox (replies to this hub's records) and replies (this hub's own replies). */
static int call_list(struct records *r, json_t *req, int inbox, struct jbuf *b,
                     struct call_err *ce) {
    size_t limit;
    uint64_t cursor;
    int rc = page_args(req, &limit, &cursor, ce);
    if (rc != HUB_OK)
        return rc;
    json_t *nv = json_object_get(req, "new");
    if (nv && !json_is_boolean(nv))
        return fail(ce, HUB_E_TYPE, "new", "new: expected true or false");
    /* peek: list without marking seen (hubweb's dashboard counts the new replies). */
    json_t *pv = json_object_get(req, "peek");
    if (pv && !json_is_boolean(pv))
        return fail(ce, HUB_E_TYPE, "peek", "peek: expected true or false");
    struct index_term t[2];
    index_term_make(IDX_KIND, "response", 8, &t[0]);
    term_hex(&t[1], inbox ? IDX_TARGET_AUTHOR : IDX_AUTHOR, r->id->pk);
    struct store_query q = {
        .terms = t, .nterms = 2, .cursor = cursor, .now_ms = hub_now_ms(), .limit = limit};
    struct wire_list l = {.r = r, .only_new = inbox && json_is_true(nv)};
    uint64_t next = 0;
    rc = l.only_new && r->unseen == 0 ? 0 : store_query(r->st, &q, reply_cb, &l, &next);
    if (rc < 0) {
        wire_free(&l);
        return fail(ce, rc, NULL, "%s", hub_strmsg(rc));
    }
    /* The addressed replies (areply.c, PROTOCOL.md 9.15: from feeds this hub does not
     * replicate, kept apart from the index) belong to the inbox too: on its first page. */
    if (inbox && cursor == 0 && store_areply_walk(r->st, r->id->pk, reply_cb, &l) > 0)
        wire_sort_newest(&l);
    jbuf_lit(b, "{\"ok\":true,\"replies\":[");
    uint8_t(*fresh)[32] = inbox && l.n && !json_is_true(pv) ? malloc(l.n * 32) : NULL;
    size_t nfresh = 0;
    size_t shown = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct entry e;
        if (entry_decode(l.w[i], l.len[i], &e) != HUB_OK)
            continue;
        size_t mark = b->len;
        jbuf_sep(b);
        if (records_write_view_entry(r, b, &e) != HUB_OK) {
            b->len = mark;
            continue;
        }
        shown++;
        if (fresh && !seen_has(r, e.id) && memcmp(e.author, r->id->pk, 32) != 0)
            memcpy(fresh[nfresh++], e.id, 32);
    }
    jbuf_lit(b, "]");
    jbuf_key(b, "count");
    jbuf_u64(b, shown);
    if (next) {
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)next);
        jbuf_key(b, "next");
        jbuf_cstr(b, buf);
    }
    /* Listing marks them seen: in the store first, so that a failed write leaves them new. */
    if (nfresh) {
        int wrc = store_seen_mark(r->st, (const uint8_t(*)[32])fresh, nfresh, hub_now_ms());
        if (wrc != HUB_OK)
            log_warnx("records", "could not save the seen state of %zu replies: %s", nfresh,
                      hub_strerror(wrc));
        else
            for (size_t i = 0; i < nfresh; i++)
                (void)seen_add(r, fresh[i]);
        r->unseen = r->unseen > nfresh ? r->unseen - nfresh : 0;
    }
    free(fresh);
    wire_free(&l);
    return HUB_OK;
}

static int publish_json(struct records *r, int kind, const char *key, json_t *rec, uint8_t id[32],
                        struct call_err *ce) {
    struct record_error rerr = {{0}, {0}};
    uint8_t *payload = NULL;
    size_t plen = 0;
    int rc = record_from_json(kind, rec, &payload, &plen, &rerr);
    if (rc != HUB_OK)
        return fail(ce, rc, rerr.field, "%s: %s", rerr.field, rerr.message);
    struct node_draft d = {.kind = kind, .key = key, .payload = payload, .payload_len = plen};
    rc = node_publish(r->node, &d, 1);
    free(payload);
    if (rc != HUB_OK)
        return fail(ce, rc, NULL, "%s; nothing was stored", hub_strmsg(rc));
    memcpy(id, d.id, 32);
    return HUB_OK;
}

/* accept / decline REPLY: the offering hub's signed answer to an enrolment. */
static int call_answer(struct records *r, json_t *req, int accept, struct jbuf *b,
                       struct call_err *ce) {
    json_t *rv = json_object_get(req, "reply");
    json_t *mv = json_object_get(req, "message");
    json_t *why = json_object_get(req, "reason");
    if (!json_is_string(rv))
        return fail(ce, rv ? HUB_E_TYPE : HUB_E_BAD_REQUEST, "reply",
                    rv ? "reply: expected a string" : "reply: missing");
    if (mv && !json_is_string(mv))
        return fail(ce, HUB_E_TYPE, "message", "message: expected a string");
    if (why && (!json_is_string(why) || accept))
        return fail(ce, accept ? HUB_E_FIELD : HUB_E_TYPE, "reason",
                    accept ? "reason: only a decline has a reason" : "reason: expected a string");
    struct target t;
    int rc = target_parse(r, json_string_value(rv), "reply", &t, ce);
    if (rc != HUB_OK)
        return rc;
    if (t.kind != K_RESPONSE)
        return fail(ce, HUB_E_KIND, "reply", "reply: names a %s, not a reply",
                    entry_kind_name(t.kind) ? entry_kind_name(t.kind) : "record");
    uint8_t cur[32];
    if ((rc = target_held(r, &t, 0, "reply", cur, ce)) != HUB_OK)
        return rc;
    static _Thread_local struct record_response en;
    if ((rc = check_enrolment_of_ours(r, t.author, t.key, &en, ce)) != HUB_OK) {
        snprintf(ce->field, ce->field_len, "reply");
        return rc;
    }
    struct target offer = {.kind = K_OFFER};
    memcpy(offer.author, r->id->pk, 32);
    memcpy(offer.key, en.target_key, sizeof offer.key);
    uint8_t ocur[32];
    if ((rc = target_held(r, &offer, 0, "reply", ocur, ce)) != HUB_OK)
        return rc;
    struct records_seats s;
    if ((rc = records_offer_seats(r, offer.author, offer.key, &s)) != HUB_OK)
        return fail(ce, rc, "reply", "reply: the offer's seats: %s", hub_strmsg(rc));
    const char *reason = why ? json_string_value(why) : NULL;
    uint32_t need = en.seats ? en.seats : 1;
    if (accept && !s.unlimited) {
        struct enrolment self = {.seats = need};
        memcpy(self.author, t.author, 32);
        memcpy(self.key, t.key, sizeof self.key);
        uint32_t others = accepted_seats(r, offer.author, offer.key, &self);
        if ((uint64_t)others + need > s.capacity) {
            accept = 0; /* an accept over capacity is answered "full" (PROTOCOL.md 7.2) */
            reason = "full";
        }
    }
    /* One answer record per enrolment: a later accept or decline replaces the earlier. */
    uint8_t h[8];
    crypto_generichash(h, sizeof h, (const uint8_t *)t.key, strlen(t.key), t.author, 32);
    char key[32] = "answer-";
    hub_hex(h, sizeof h, key + 7);
    json_t *rec = json_object();
    set_hex(rec, "target_author", t.author);
    json_object_set_new(rec, "target_kind", json_string("response"));
    json_object_set_new(rec, "target_key", json_string(t.key));
    set_hex(rec, "target", cur);
    json_object_set_new(rec, "type", json_string(accept ? "accept" : "decline"));
    if (mv)
        json_object_set(rec, "message", mv);
    if (reason)
        json_object_set_new(rec, "reason", json_string(reason));
    uint8_t id[32];
    rc = publish_json(r, K_RESPONSE, key, rec, id, ce);
    json_decref(rec);
    if (rc != HUB_OK)
        return rc;
    if (records_offer_seats(r, offer.author, offer.key, &s) != HUB_OK)
        s.unlimited = 1; /* cannot be: the offer was just read */
    jbuf_lit(b, "{\"ok\":true,\"id\":");
    jbuf_hex(b, id, 32);
    jbuf_key(b, "key");
    jbuf_cstr(b, key);
    jbuf_key(b, "type");
    jbuf_cstr(b, accept ? "accept" : "decline");
    if (reason) {
        jbuf_key(b, "reason");
        jbuf_cstr(b, reason);
    }
    jbuf_key(b, "offer");
    jbuf_cstr(b, offer.key);
    jbuf_key(b, "seats_left");
    if (s.unlimited)
        jbuf_lit(b, "null");
    else
        jbuf_u64(b, s.seats_left);
    return HUB_OK;
}

/* ---- lineage ---- */

struct lnode {
    uint8_t author[32];
    char key[HUB_MAX_RECORD_KEY + 1];
    unsigned depth;
};

struct child_list {
    struct lnode *v;
    size_t n, cap;
};

static int child_cb(const uint8_t *wire, size_t len, void *arg) {
    struct child_list *c = arg;
    struct entry e;
    if (entry_decode(wire, len, &e) != HUB_OK || e.kind != K_OFFER)
        return STORE_QUERY_SKIP;
    if (c->n == c->cap)
        return 1;
    memcpy(c->v[c->n].author, e.author, 32);
    memcpy(c->v[c->n].key, e.key, sizeof c->v[c->n].key);
    c->n++;
    return 0;
}

/* Children in one order on every hub: by author key, then record key. */
static int lnode_cmp(const void *a, const void *b) {
    const struct lnode *x = a, *y = b;
    int c = memcmp(x->author, y->author, 32);
    return c ? c : strcmp(x->key, y->key);
}

static void lineage_node(struct records *r, struct jbuf *b, const struct lnode *n) {
    jbuf_sep(b);
    jbuf_lit(b, "{\"depth\":");
    jbuf_u64(b, n->depth);
    jbuf_key(b, "author");
    jbuf_hex(b, n->author, 32);
    jbuf_key(b, "key");
    jbuf_cstr(b, n->key);
    write_name(r, b, n->author, "author_name", "author_country");
    uint8_t *wire;
    struct entry e;
    struct record_offer o;
    int held = current_entry(r, n->author, K_OFFER, n->key, &wire, &e) == HUB_OK;
    jbuf_key(b, "held");
    jbuf_raw(b, held ? "true" : "false", held ? 4 : 5);
    if (held && e.payload && record_offer_info(e.payload, e.payload_len, &o) == HUB_OK) {
        jbuf_key(b, "id");
        jbuf_hex(b, e.id, 32);
        jbuf_key(b, "title");
        jbuf_cstr(b, o.title);
        if (o.country[0]) {
            jbuf_key(b, "country");
            jbuf_cstr(b, o.country);
        }
        if (o.has_based_on) {
            char ref[HUB_HEX_LEN + 1 + HUB_MAX_RECORD_KEY + 1];
            hub_hex(o.based_on_author, 32, ref);
            snprintf(ref + HUB_HEX_LEN, sizeof ref - HUB_HEX_LEN, "/%s", o.based_on_key);
            jbuf_key(b, "based_on");
            jbuf_cstr(b, ref);
        }
    }
    if (held)
        free(wire);
    jbuf_lit(b, "}");
}

/* AUTHOR/KEY of an offer (kind implied). */
static int parse_author_key(const char *s, const char *field, uint8_t author[32], char *key,
                            struct call_err *ce) {
    const char *slash = strchr(s, '/');
    size_t kl = slash ? strlen(slash + 1) : 0;
    char hex[HUB_HEX_LEN + 1] = "";
    if (slash != NULL && (size_t)(slash - s) == HUB_HEX_LEN) {
        memcpy(hex, s, HUB_HEX_LEN);
        hex[HUB_HEX_LEN] = '\0';
    }
    if (slash == NULL || (size_t)(slash - s) != HUB_HEX_LEN || hub_unhex(hex, author, 32) != 0 ||
        kl == 0 || kl > HUB_MAX_RECORD_KEY)
        return fail(ce, HUB_E_RANGE, field, "%s: expected AUTHOR/KEY (64 hex digits, '/', key)",
                    field);
    memcpy(key, slash + 1, kl + 1);
    return HUB_OK;
}

static int call_lineage(struct records *r, json_t *req, struct jbuf *b, struct call_err *ce) {
    json_t *root = json_object_get(req, "root");
    if (!json_is_string(root))
        return fail(ce, root ? HUB_E_TYPE : HUB_E_BAD_REQUEST, "root",
                    root ? "root: expected a string" : "root: missing (AUTHOR/KEY of an offer)");
    struct lnode *seen = calloc(RECORDS_LINEAGE_MAX_NODES, sizeof *seen);
    struct lnode *stack = calloc(RECORDS_LINEAGE_MAX_NODES, sizeof *stack);
    struct child_list kids = {calloc(RECORDS_LINEAGE_MAX_NODES, sizeof(struct lnode)), 0,
                              RECORDS_LINEAGE_MAX_NODES};
    int rc = HUB_OK;
    if (seen == NULL || stack == NULL || kids.v == NULL) {
        rc = fail(ce, HUB_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    if ((rc = parse_author_key(json_string_value(root), "root", stack[0].author, stack[0].key,
                               ce)) != HUB_OK)
        goto out;
    size_t nstack = 1, nseen = 0;
    int truncated = 0;
    jbuf_lit(b, "{\"ok\":true,\"nodes\":[");
    /* Depth first, pre-order: a node is listed once (the seen list), so a cycle of based_on
     * references (possible: an offer may be edited to name a later one) ends at once. */
    while (nstack > 0) {
        struct lnode n = stack[--nstack];
        int dup = 0;
        for (size_t i = 0; i < nseen && !dup; i++)
            dup = memcmp(seen[i].author, n.author, 32) == 0 && strcmp(seen[i].key, n.key) == 0;
        if (dup)
            continue;
        if (nseen == RECORDS_LINEAGE_MAX_NODES) {
            truncated = 1;
            break;
        }
        seen[nseen++] = n;
        lineage_node(r, b, &n);
        if (n.depth >= RECORDS_LINEAGE_MAX_DEPTH) {
            truncated = 1;
            continue;
        }
        char ref[HUB_HEX_LEN + 1 + HUB_MAX_RECORD_KEY + 1];
        hub_hex(n.author, 32, ref);
        int rl = snprintf(ref + HUB_HEX_LEN, sizeof ref - HUB_HEX_LEN, "/%s", n.key);
        struct index_term t[2];
        index_term_make(IDX_BASED_ON, ref, HUB_HEX_LEN + (size_t)rl, &t[0]);
        index_term_make(IDX_KIND, "offer", 5, &t[1]);
        struct store_query q = {
            .terms = t, .nterms = 2, .now_ms = hub_now_ms(), .limit = RECORDS_LINEAGE_MAX_NODES};
        uint64_t next;
        kids.n = 0;
        (void)store_query(r->st, &q, child_cb, &kids, &next);
        if (next)
            truncated = 1;
        qsort(kids.v, kids.n, sizeof *kids.v, lnode_cmp);
        for (size_t i = kids.n; i-- > 0;) { /* pushed in reverse: popped in order */
            if (nstack == RECORDS_LINEAGE_MAX_NODES) {
                truncated = 1;
                break;
            }
            kids.v[i].depth = n.depth + 1;
            stack[nstack++] = kids.v[i];
        }
    }
    jbuf_lit(b, "]");
    jbuf_key(b, "count");
    jbuf_u64(b, nseen);
    jbuf_key(b, "truncated");
    jbuf_raw(b, truncated ? "true" : "false", truncated ? 4 : 5);
out:
    free(seen);
    free(stack);
    free(kids.v);
    return rc;
}

int records_call(struct records *r, const char *op, json_t *req, struct jbuf *b, char *field,
                 size_t field_len, char *message, size_t message_len) {
    struct call_err ce = {field, field_len, message, message_len};
    field[0] = message[0] = '\0';
    if (strcmp(op, "inbox") == 0)
        return call_list(r, req, 1, b, &ce);
    if (strcmp(op, "replies") == 0)
        return call_list(r, req, 0, b, &ce);
    if (strcmp(op, "accept") == 0)
        return call_answer(r, req, 1, b, &ce);
    if (strcmp(op, "decline") == 0)
        return call_answer(r, req, 0, b, &ce);
    if (strcmp(op, "lineage") == 0)
        return call_lineage(r, req, b, &ce);
    return fail(&ce, HUB_E_UNKNOWN_OP, "op", "unknown op '%.40s'", op);
}

int records_target_term(struct records *r, const char *spec, struct index_term *term, char *field,
                        size_t field_len, char *message, size_t message_len) {
    struct call_err ce = {field, field_len, message, message_len};
    field[0] = message[0] = '\0';
    struct target t;
    int rc = target_parse(r, spec, "target", &t, &ce);
    if (rc != HUB_OK)
        return rc;
    term_ref(term, t.author, t.kind, t.key);
    return HUB_OK;
}

int records_prepare_offer(struct records *r, json_t *req, json_t *rec, char *field,
                          size_t field_len, char *message, size_t message_len) {
    struct call_err ce = {field, field_len, message, message_len};
    field[0] = message[0] = '\0';
    json_t *bo = json_object_get(rec, "based_on");
    json_t *uv = json_object_get(req, "unheld_target");
    if (uv && !json_is_boolean(uv))
        return fail(&ce, HUB_E_TYPE, "unheld_target", "unheld_target: expected true or false");
    json_t *au = json_object_get(bo, "author"), *k = json_object_get(bo, "key");
    /* Malformed references are record_from_json's to refuse, with its messages. */
    if (!json_is_object(bo) || !json_is_string(au) || !json_is_string(k))
        return HUB_OK;
    struct target t = {.kind = K_OFFER};
    size_t kl = json_string_length(k);
    if (strlen(json_string_value(au)) != HUB_HEX_LEN ||
        hub_unhex(json_string_value(au), t.author, 32) != 0 || kl == 0 || kl > HUB_MAX_RECORD_KEY)
        return HUB_OK;
    memcpy(t.key, json_string_value(k), kl + 1);
    uint8_t cur[32];
    int rc = target_held(r, &t, json_is_true(uv), "based_on", &cur[0], &ce);
    if (rc == HUB_E_NOT_FOUND && json_is_true(uv) && ce.msg[0] == '\0')
        return HUB_OK;
    return rc;
}
