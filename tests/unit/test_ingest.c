/* test_ingest.c: the checks of PROTOCOL.md §5 and §7.1 through node_ingest, the one path every
 * foreign entry takes (replication, live push, import).
 *
 * Every rejection rule is tried for every kind, with real signatures and a real store, on
 * both paths node.c has: the small one (a batch checked in par_for slices, then stored) and
 * the pipelined one (NODE_PIPE_MIN screened entries or more on a machine with several cores:
 * workers check signatures and payloads while the store appends, par_pipe; from 2,048 entries
 * also screened by a thread of its own and stored by the writer thread, as sync.c does). Both
 * must give exactly the verdicts of the spec, and a rejected entry must leave nothing behind
 * (not stored, not a current record, not heard by listeners, the feed's later entries a gap).
 *
 * Also: a complete copy of an entry whose record was retracted or expired (payloads purged)
 * must not bring the payload back (PROTOCOL.md §6.5), on either path.
 *
 * Entries are built here byte by byte (header, envelope, payload) rather than with entry.c, so
 * that every field can be made wrong; the payloads are raw protobuf for the same reason. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "node.h"
#include "par.h"
#include "record.h"
#include "store.h"

#include "../../node/core/node_priv.h" /* NODE_PIPE_MIN: the tests follow the threshold */

/* node.c screens batches of this many entries on a thread of its own (NODE_SCREEN_ASYNC_MIN,
 * private to node.c); the test's biggest batches are at least this big. */
#define SCREEN_ASYNC_MIN 2048

#define TOPIC "ingest-rules" /* every valid record payload here carries it */

/* ---- fixture: a node in a temporary directory ---- */

#define MAX_REFUSED 64

struct nfx {
    char dir[64];
    struct node *n;
    size_t heard;                     /* entries the listener was told of */
    uint8_t refused[MAX_REFUSED][32]; /* authors the admit callback refuses (E_POLICY) */
    size_t nrefused;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void listener(void *arg, const struct entry *e, int origin) {
    (void)e;
    (void)origin;
    ((struct nfx *)arg)->heard++;
}

/* Called from the screening thread too: reads only, and the list is set before a batch. */
static int admit(void *arg, const uint8_t author[32]) {
    const struct nfx *x = arg;
    for (size_t i = 0; i < x->nrefused; i++)
        if (memcmp(x->refused[i], author, 32) == 0)
            return 0;
    return 1;
}

static int nfx_setup(void **state) {
    struct nfx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    snprintf(x->dir, sizeof x->dir, "/tmp/hubnet-test-ingest-XXXXXX");
    if (!mkdtemp(x->dir))
        return -1;
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", x->dir);
    if (node_open(&cfg, &x->n) != 0)
        return -1;
    if (node_add_listener(x->n, listener, x) != 0)
        return -1;
    node_set_admit(x->n, admit, x);
    *state = x;
    return 0;
}

static int nfx_teardown(void **state) {
    struct nfx *x = *state;
    node_destroy(&x->n);
    nftw(x->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(x);
    return 0;
}

/* An identity from a name and a number: every case and padding feed has its own author. */
static void ident(struct identity *id, const char *salt, unsigned i) {
    char s[96];
    uint8_t seed[32];
    snprintf(s, sizeof s, "%s/%u", salt, i);
    crypto_generichash(seed, sizeof seed, (const uint8_t *)s, strlen(s), NULL, 0);
    assert_int_equal(identity_from_seed(seed, id), HUB_OK);
}

/* ---- raw protobuf ---- */

struct pb {
    size_t n;
    uint8_t b[HUB_MAX_ENTRY + 70000]; /* room for the oversize entries */
};

static struct pb *pb_new(void) {
    struct pb *p = malloc(sizeof *p);
    assert_non_null(p);
    p->n = 0;
    return p;
}

static void pb_raw(struct pb *p, const void *d, size_t len) {
    assert_true(sizeof p->b - p->n >= len);
    if (len)
        memcpy(p->b + p->n, d, len);
    p->n += len;
}

static void pb_varint(struct pb *p, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    pb_raw(p, b, n);
}

static void pb_uint(struct pb *p, unsigned field, uint64_t v) {
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, v);
}

static void pb_bytes(struct pb *p, unsigned field, const void *d, size_t len) {
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, len);
    pb_raw(p, d, len);
}

static void pb_str(struct pb *p, unsigned field, const char *s) {
    pb_bytes(p, field, s, strlen(s));
}

static void pb_repeat(struct pb *p, unsigned field, char c, size_t len) {
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, c, len);
    s[len] = 0;
    pb_str(p, field, s);
    free(s);
}

/* ---- entries ---- */

/* A header, field by field (Entry, §4.1); anything may be wrong. */
struct hspec {
    uint32_t version;
    const uint8_t *author;
    size_t author_len;
    uint64_t seq;
    const uint8_t *prev;
    size_t prev_len;
    uint64_t ts;
    int kind;
    const char *key;
    size_t key_len;       /* 0: strlen(key) */
    const uint8_t *phash; /* NULL: H(payload) */
    size_t phash_len;
    int64_t psize; /* < 0: len(payload) */
    uint64_t expires;
    const uint8_t *extra; /* raw bytes appended to the header (unknown fields) */
    size_t extra_len;
};

static void header_of(const struct hspec *h, const uint8_t *payload, size_t plen, struct pb *out) {
    uint8_t hash[32];
    crypto_generichash(hash, sizeof hash, payload, plen, NULL, 0);
    out->n = 0;
    if (h->version)
        pb_uint(out, 1, h->version);
    pb_bytes(out, 2, h->author, h->author_len);
    if (h->seq)
        pb_uint(out, 3, h->seq);
    if (h->prev_len)
        pb_bytes(out, 4, h->prev, h->prev_len);
    pb_uint(out, 5, h->ts);
    if (h->kind)
        pb_uint(out, 6, (uint64_t)h->kind);
    if (h->key)
        pb_bytes(out, 7, h->key, h->key_len ? h->key_len : strlen(h->key));
    pb_bytes(out, 8, h->phash ? h->phash : hash, h->phash ? h->phash_len : sizeof hash);
    uint64_t psize = h->psize < 0 ? plen : (uint64_t)h->psize;
    if (psize)
        pb_uint(out, 9, psize);
    if (h->expires)
        pb_uint(out, 10, h->expires);
    pb_raw(out, h->extra, h->extra_len);
}

static void sign_header(const struct identity *signer, const uint8_t *hdr, size_t hlen,
                        uint8_t sig[64]) {
    size_t len = sizeof HUB_SIGN_DOMAIN + hlen;
    uint8_t *msg = malloc(len);
    assert_non_null(msg);
    memcpy(msg, HUB_SIGN_DOMAIN, sizeof HUB_SIGN_DOMAIN); /* the domain and its 0x00 */
    memcpy(msg + sizeof HUB_SIGN_DOMAIN, hdr, hlen);
    assert_int_equal(crypto_sign_detached(sig, NULL, msg, len, signer->sk), 0);
    free(msg);
}

/* The SignedEntry: header, signature (siglen bytes), payload (left out when empty). */
static void envelope(struct pb *w, const struct pb *hdr, const uint8_t *sig, size_t siglen,
                     const uint8_t *payload, size_t plen) {
    w->n = 0;
    pb_bytes(w, 1, hdr->b, hdr->n);
    pb_bytes(w, 2, sig, siglen);
    if (plen)
        pb_bytes(w, 3, payload, plen);
}

/* ---- the cases ---- */

#define MAX_STEPS 6

/* One entry of a case: its wire, the result the spec gives it, the batch it goes in. */
struct step {
    uint8_t *wire;
    size_t len;
    int want;
    int phase;                 /* 0: first batch; 1: second (after the first is stored) */
    int retracts_gone;         /* a retraction of (offer, "gone") of the case's author */
    const struct tcase *owner; /* for messages; set once the catalogue is built */
    int index;                 /* in the case */
};

/* A rule applied to one kind: a small feed (or two) around one bad entry. */
struct tcase {
    char name[64];
    int kind;
    struct identity me, other; /* the case's author; another hub (forgeries, its own feed) */
    uint64_t now;
    int refused; /* me is refused by the policy */
    struct step s[MAX_STEPS];
    size_t n;
    /* the feed so far (the valid entries the builder chained) */
    uint64_t seq, ts;
    uint8_t prev[32];
};

static struct step *add_step(struct tcase *c, const struct pb *w, int want, int phase) {
    assert_true(c->n < MAX_STEPS);
    struct step *s = &c->s[c->n++];
    s->wire = malloc(w->n ? w->n : 1);
    assert_non_null(s->wire);
    memcpy(s->wire, w->b, w->n);
    s->len = w->n;
    s->want = want;
    s->phase = phase;
    s->retracts_gone = 0;
    s->owner = NULL;
    s->index = (int)c->n - 1;
    return s;
}

static const uint8_t target32[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa};

/* A valid payload of kind, as a foreign hub would send it. */
static void good_payload(int kind, struct pb *p) {
    p->n = 0;
    switch (kind) {
    case 1: /* Profile: name, topics */
        pb_str(p, 1, "Hub");
        pb_str(p, 11, TOPIC);
        break;
    case 2: /* Offer: title, topics */
    case 3: /* Request: title, topics */
        pb_str(p, 1, kind == 2 ? "Offer" : "Request");
        pb_str(p, 3, TOPIC);
        break;
    case 4: /* Response: target, type */
        pb_bytes(p, 1, target32, 32);
        pb_uint(p, 5, 1);
        break;
    case 5: /* Retraction of the case author's offer "gone" */
        pb_uint(p, 1, 2);
        pb_str(p, 2, "gone");
        break;
    case 6: /* Endorsement: hub, topics */
        pb_bytes(p, 1, target32, 32);
        pb_str(p, 3, TOPIC);
        break;
    default:
        fail_msg("no payload for kind %d", kind);
    }
}

/* The next valid header of the case's feed. */
static struct hspec next_spec(struct tcase *c, int kind, const char *key) {
    struct hspec h = {
        .version = 1,
        .author = c->me.pk,
        .author_len = 32,
        .seq = c->seq + 1,
        .prev = c->prev,
        .prev_len = c->seq ? 32 : 0,
        .ts = c->ts,
        .kind = kind,
        .key = key,
        .psize = -1,
    };
    return h;
}

/* Sign h (as signer) over payload and add it; a valid entry advances the case's feed. */
static struct step *add_entry(struct tcase *c, const struct identity *signer, const struct hspec *h,
                              const struct pb *payload, int send_payload, int want, int phase) {
    struct pb *hdr = pb_new(), *w = pb_new();
    header_of(h, payload->b, payload->n, hdr);
    uint8_t sig[64];
    sign_header(signer, hdr->b, hdr->n, sig);
    envelope(w, hdr, sig, 64, payload->b, send_payload ? payload->n : 0);
    struct step *s = add_step(c, w, want, phase);
    free(hdr);
    free(w);
    return s;
}

/* The id a valid entry of header h (over payload) has. */
static void id_of(const struct hspec *h, const struct pb *payload, uint8_t id[32]) {
    struct pb *hdr = pb_new();
    header_of(h, payload->b, payload->n, hdr);
    crypto_generichash(id, 32, hdr->b, hdr->n, NULL, 0);
    free(hdr);
}

/* Adds the valid next entry of the feed (kind, key, payload) and chains on it. */
static void add_valid(struct tcase *c, int kind, const char *key, const struct pb *payload,
                      int want, int phase) {
    struct hspec h = next_spec(c, kind, key);
    add_entry(c, &c->me, &h, payload, 1, want, phase);
    id_of(&h, payload, c->prev);
    c->seq++;
    c->ts += 1000;
}

/* The first entry of every case: for a retraction case, the offer "gone" it aims at. */
static void feed_start(struct tcase *c) {
    struct pb *p = pb_new();
    good_payload(c->kind == 5 ? 2 : c->kind, p);
    add_valid(c, c->kind == 5 ? 2 : c->kind, c->kind == 5 ? "gone" : "k1", p,
              c->refused ? HUB_E_POLICY : HUB_OK, 0);
    free(p);
}

/* After a rejected entry at seq 2: the valid seq 3 (chained on what seq 2 should have been)
 * is a gap (PROTOCOL.md §5 step 19): a bad entry mid-feed leaves the rest of the feed out. */
static void feed_after(struct tcase *c, const struct hspec *good2, const struct pb *payload2,
                       int want) {
    uint8_t id2[32];
    id_of(good2, payload2, id2);
    struct pb *p = pb_new();
    good_payload(c->kind, p);
    if (c->kind == 5) { /* a retraction of another record: "gone" stays out of it */
        p->n = 0;
        pb_uint(p, 1, 3);
        pb_str(p, 2, "other");
    }
    struct hspec h = {
        .version = 1,
        .author = c->me.pk,
        .author_len = 32,
        .seq = 3,
        .prev = id2,
        .prev_len = 32,
        .ts = good2->ts + 1000,
        .kind = c->kind,
        .key = "k3",
        .psize = -1,
    };
    add_entry(c, &c->me, &h, p, 1, want, 0);
    free(p);
}

/* ---- rules on the header, the envelope and the signature (§4.3, §5 steps 1-13) ---- */

enum hrule {
    H_SIG_FLIP,      /* one signature bit flipped */
    H_SIG_OTHER,     /* signed by another hub's key: a forgery in this author's name */
    H_SIG_ZERO,      /* 64 zero bytes */
    H_SIG_63,        /* a 63-byte signature */
    H_PAYLOAD_FLIP,  /* one payload byte flipped */
    H_PSIZE,         /* payload_size one more than the payload */
    H_EMPTY_HASH,    /* no payload, payload_size 0, but the hash of a non-empty one */
    H_TS_FUTURE,     /* more than 10 minutes ahead */
    H_TS_2019,       /* before 2020 */
    H_TS_BACK,       /* before the previous entry of the feed (chain rule) */
    H_VERSION,       /* version 2 */
    H_SEQ0,          /* seq 0 */
    H_AUTHOR31,      /* a 31-byte author */
    H_PREV31,        /* a 31-byte prev */
    H_NO_PREV,       /* seq 2 without prev */
    H_PREV_AT_1,     /* seq 1 with a prev */
    H_PHASH31,       /* a 31-byte payload_hash */
    H_KEY_EMPTY,     /* no key */
    H_KEY_129,       /* a 129-byte key */
    H_KEY_CTRL,      /* a tab in the key */
    H_KEY_DEL,       /* 0x7f in the key */
    H_KEY_NUL,       /* a NUL in the key */
    H_KEY_UTF8,      /* a key that is not UTF-8 */
    H_EXPIRES,       /* expires = timestamp */
    H_PSIZE_BIG,     /* payload_size 65537 */
    H_HEADER_BIG,    /* a 513+-byte header (an unknown field of 500 bytes) */
    H_WIRE_BIG,      /* a SignedEntry over 66176 bytes */
    H_TRUNCATED,     /* the wire less its last byte */
    H_HDR_GARBAGE,   /* a signed header that is not an Entry */
    H_UNKNOWN_FIELD, /* an unknown header field: valid (§3.2) */
    H_STRIPPED,      /* payload-less (purged upstream): valid, except for a retraction */
    H_EMPTY_PAYLOAD, /* payload_size 0, H(""): valid for every kind */
    H_POLICY,        /* an author the policy refuses */
    H_GAP,           /* seq 3 right after seq 1 */
    H_PREV,          /* a prev that is not the head's id */
    H_FORK,          /* another entry at a held seq */
    H_DUPLICATE,     /* a held entry again, also with a broken signature (no check needed) */
    H_NRULES
};

static const char *const hrule_names[H_NRULES] = {
    "sig_flip",   "sig_other",     "sig_zero", "sig_63",    "payload_flip", "psize",
    "empty_hash", "ts_future",     "ts_2019",  "ts_back",   "version",      "seq0",
    "author31",   "prev31",        "no_prev",  "prev_at_1", "phash31",      "key_empty",
    "key_129",    "key_ctrl",      "key_del",  "key_nul",   "key_utf8",     "expires",
    "psize_big",  "header_big",    "wire_big", "truncated", "hdr_garbage",  "unknown_field",
    "stripped",   "empty_payload", "policy",   "gap",       "prev",         "fork",
    "duplicate",
};

static void build_hrule(struct tcase *c, enum hrule r) {
    static const uint8_t junk[500];
    struct pb *pay = pb_new(), *hdr = pb_new(), *w = pb_new();
    good_payload(c->kind, pay);
    if (r == H_PREV_AT_1) { /* the bad entry is the first of its feed */
        struct hspec h = next_spec(c, c->kind, "k1");
        uint8_t prev[32] = {1};
        h.prev = prev;
        h.prev_len = 32;
        add_entry(c, &c->me, &h, pay, 1, HUB_E_FIELD, 0);
        struct hspec g = next_spec(c, c->kind, "k1");
        uint8_t id1[32];
        id_of(&g, pay, id1);
        g.seq = 2;
        g.prev = id1;
        g.prev_len = 32;
        g.ts += 1000;
        g.key = "k2";
        add_entry(c, &c->me, &g, pay, 1, HUB_E_GAP, 0);
        goto done;
    }
    if (r == H_POLICY)
        c->refused = 1;
    feed_start(c);
    struct hspec g = next_spec(c, c->kind, "k2"); /* what seq 2 should be */
    struct hspec h = g;
    const struct identity *signer = &c->me;
    int want = HUB_OK, send_payload = 1;
    switch (r) {
    case H_SIG_FLIP:
    case H_SIG_ZERO:
    case H_SIG_63:
    case H_PAYLOAD_FLIP:
    case H_TRUNCATED:
    case H_WIRE_BIG: {
        header_of(&h, pay->b, pay->n, hdr);
        uint8_t sig[64];
        sign_header(signer, hdr->b, hdr->n, sig);
        if (r == H_SIG_FLIP)
            sig[17] ^= 0x08;
        if (r == H_SIG_ZERO)
            memset(sig, 0, sizeof sig);
        if (r == H_PAYLOAD_FLIP)
            pay->b[pay->n - 1] ^= 0x01;
        envelope(w, hdr, sig, r == H_SIG_63 ? 63 : 64, pay->b, pay->n);
        if (r == H_TRUNCATED)
            w->n--;
        if (r == H_WIRE_BIG) { /* an unknown envelope field makes it one byte too long */
            size_t fill = HUB_MAX_ENTRY + 1 - w->n - 4;
            uint8_t *z = calloc(1, fill);
            assert_non_null(z);
            pb_bytes(w, 9, z, fill);
            free(z);
            assert_int_equal(w->n, HUB_MAX_ENTRY + 1);
        }
        want = r == H_SIG_63 || r == H_TRUNCATED ? (r == H_SIG_63 ? HUB_E_FIELD : HUB_E_DECODE)
               : r == H_WIRE_BIG                 ? HUB_E_TOO_LARGE
               : r == H_PAYLOAD_FLIP             ? HUB_E_PAYLOAD_HASH
                                                 : HUB_E_SIGNATURE;
        add_step(c, w, want, 0);
        feed_after(c, &g, pay, HUB_E_GAP);
        goto done;
    }
    case H_HDR_GARBAGE: {
        hdr->n = 0;
        pb_raw(hdr, "\xff\xff\xff", 3);
        uint8_t sig[64];
        sign_header(signer, hdr->b, hdr->n, sig);
        envelope(w, hdr, sig, 64, pay->b, pay->n);
        add_step(c, w, HUB_E_DECODE, 0);
        feed_after(c, &g, pay, HUB_E_GAP);
        goto done;
    }
    case H_SIG_OTHER:
        signer = &c->other;
        want = HUB_E_SIGNATURE;
        break;
    case H_PSIZE:
        h.psize = (int64_t)pay->n + 1;
        want = HUB_E_PAYLOAD_HASH;
        break;
    case H_EMPTY_HASH: {
        uint8_t hash[32];
        crypto_generichash(hash, sizeof hash, pay->b, pay->n, NULL, 0);
        h.phash = hash;
        h.phash_len = 32;
        pay->n = 0;
        struct step *s = add_entry(c, signer, &h, pay, 1, HUB_E_PAYLOAD_HASH, 0);
        (void)s;
        good_payload(c->kind, pay);
        feed_after(c, &g, pay, HUB_E_GAP);
        goto done;
    }
    case H_TS_FUTURE:
        h.ts = c->now + HUB_MAX_FUTURE_MS + 60000;
        want = HUB_E_TIMESTAMP;
        break;
    case H_TS_2019:
        h.ts = HUB_MIN_TIMESTAMP_MS - 1;
        want = HUB_E_TIMESTAMP;
        break;
    case H_TS_BACK:
        h.ts = c->ts - 2000; /* seq 1 is at c->ts - 1000 */
        want = HUB_E_TIMESTAMP;
        break;
    case H_VERSION:
        h.version = 2;
        want = HUB_E_VERSION;
        break;
    case H_SEQ0:
        h.seq = 0;
        want = HUB_E_FIELD;
        break;
    case H_AUTHOR31:
        h.author_len = 31;
        want = HUB_E_FIELD;
        break;
    case H_PREV31:
        h.prev_len = 31;
        want = HUB_E_FIELD;
        break;
    case H_NO_PREV:
        h.prev_len = 0;
        want = HUB_E_FIELD;
        break;
    case H_PHASH31: {
        static const uint8_t h31[31];
        h.phash = h31;
        h.phash_len = 31;
        want = HUB_E_FIELD;
        break;
    }
    case H_KEY_EMPTY:
        h.key = NULL;
        want = HUB_E_FIELD;
        break;
    case H_KEY_129: {
        static char k129[HUB_MAX_RECORD_KEY + 2];
        memset(k129, 'k', HUB_MAX_RECORD_KEY + 1);
        h.key = k129;
        want = HUB_E_FIELD;
        break;
    }
    case H_KEY_CTRL:
        h.key = "k\t2";
        want = HUB_E_FIELD;
        break;
    case H_KEY_DEL:
        h.key = "k\x7f"
                "2";
        want = HUB_E_FIELD;
        break;
    case H_KEY_NUL:
        h.key = "k\0"
                "2";
        h.key_len = 3;
        want = HUB_E_FIELD;
        break;
    case H_KEY_UTF8:
        h.key = "k\xc0\xaf";
        want = HUB_E_FIELD;
        break;
    case H_EXPIRES:
        h.expires = h.ts;
        want = HUB_E_FIELD;
        break;
    case H_PSIZE_BIG:
        h.psize = HUB_MAX_PAYLOAD + 1;
        want = HUB_E_TOO_LARGE;
        break;
    case H_HEADER_BIG:
        h.extra = hdr->b; /* field 99 with 500 bytes, written below */
        {
            struct pb *x = pb_new();
            pb_bytes(x, 99, junk, sizeof junk);
            memcpy(hdr->b, x->b, x->n);
            h.extra_len = x->n;
            free(x);
        }
        want = HUB_E_TOO_LARGE;
        break;
    case H_UNKNOWN_FIELD: {
        static const uint8_t unk[] = {0xa0, 0x06, 0x05}; /* field 100, varint 5 */
        h.extra = unk;
        h.extra_len = sizeof unk;
        want = HUB_OK;
        break;
    }
    case H_STRIPPED:
        send_payload = 0;
        want = c->kind == 5 ? HUB_E_PAYLOAD_HASH : HUB_OK;
        break;
    case H_EMPTY_PAYLOAD:
        pay->n = 0;
        want = HUB_OK;
        break;
    case H_POLICY:
        want = HUB_E_POLICY;
        break;
    case H_GAP:
        /* seq 2 is never sent: seq 3 is a gap */
        feed_after(c, &g, pay, HUB_E_GAP);
        goto done;
    case H_PREV: {
        static const uint8_t wrong[32] = {0x42};
        h.prev = wrong;
        want = HUB_E_PREV;
        break;
    }
    case H_FORK: {
        /* seq 2 is stored first; then another seq 2 (another key) is a fork, and the feed is
         * frozen: its seq 3 is refused */
        add_entry(c, &c->me, &g, pay, 1, HUB_OK, 0)->retracts_gone = c->kind == 5;
        struct hspec f = g;
        f.key = "k2x";
        add_entry(c, &c->me, &f, pay, 1, HUB_E_FORK, 1);
        feed_after(c, &g, pay, HUB_E_FORKED_FEED);
        c->s[c->n - 1].phase = 1;
        goto done;
    }
    case H_DUPLICATE: {
        struct step *s = add_entry(c, &c->me, &g, pay, 1, HUB_OK, 0);
        s->retracts_gone = c->kind == 5;
        struct pb *d = pb_new();
        memcpy(d->b, s->wire, s->len);
        d->n = s->len;
        add_step(c, d, HUB_E_DUPLICATE, 1);
        /* its header is held: a copy whose signature is broken is the same entry (§5 10a) */
        d->b[d->n - pay->n - 3 - 10] ^= 0x20;
        add_step(c, d, HUB_E_DUPLICATE, 1);
        free(d);
        feed_after(c, &g, pay, HUB_OK);
        c->s[c->n - 1].phase = 1;
        goto done;
    }
    default:
        fail_msg("rule %d", r);
    }
    if (c->refused) {
        add_entry(c, signer, &h, pay, send_payload, want, 0);
        feed_after(c, &g, pay, HUB_E_POLICY);
        goto done;
    }
    struct step *s = add_entry(c, signer, &h, pay, send_payload, want, 0);
    if (c->kind == 5 && want == HUB_OK && pay->n)
        s->retracts_gone = 1;
    if (want == HUB_OK) { /* the valid entry is seq 2: chain seq 3 on it */
        feed_after(c, &h, pay, HUB_OK);
    } else {
        good_payload(c->kind, pay);
        feed_after(c, &g, pay, HUB_E_GAP);
    }
done:
    free(pay);
    free(hdr);
    free(w);
}

/* ---- rules on the payload (§7.1, §5 steps 14-15) ---- */

enum prule {
    P_UNDECODABLE,    /* a length running past the end */
    P_WIRE_TYPE,      /* field 1 with another wire type */
    P_TOO_LONG,       /* a string one byte over its cap */
    P_BAD_UTF8,       /* a string that is not UTF-8 */
    P_SURROGATE,      /* a UTF-16 surrogate encoded in UTF-8 */
    P_CONTROL,        /* a control character in a one-line string */
    P_NUL,            /* a NUL in a string */
    P_NEWLINE,        /* a newline in a multi-line field (valid), or in a retraction's reason */
    P_LIST_33,        /* a list of 33 items */
    P_LIST_32,        /* a list of 32 items: valid */
    P_ITEM_UTF8,      /* a list item that is not UTF-8 */
    P_BYTES_31,       /* a bytes field of 31 bytes */
    P_BYTES_33,       /* a bytes field of 33 bytes */
    P_AMOUNT,         /* a cost of more than 10^14 hundredths */
    P_CURRENCY,       /* a currency with a control character */
    P_CURRENCY_LONG,  /* a 129-byte currency */
    P_NO_TARGET_KIND, /* a retraction without target_kind */
    P_NO_TARGET_KEY,  /* a retraction without target_key */
    P_UNKNOWN,        /* an unknown payload field: valid */
    P_NRULES
};

static const char *const prule_names[P_NRULES] = {
    "p_undecodable",    "p_wire_type",     "p_too_long",  "p_bad_utf8",
    "p_surrogate",      "p_control",       "p_nul",       "p_newline",
    "p_list_33",        "p_list_32",       "p_item_utf8", "p_bytes_31",
    "p_bytes_33",       "p_amount",        "p_currency",  "p_currency_long",
    "p_no_target_kind", "p_no_target_key", "p_unknown",
};

/* The payload of rule r for kind, and its verdict; 0 if the rule does not apply to kind. */
static int bad_payload(int kind, enum prule r, struct pb *p, int *want) {
    /* a one-line string field and its cap, and what the rest of a valid payload needs */
    static const struct {
        unsigned field;
        size_t cap;
        unsigned multi; /* a multi-line field, 0 if none */
        unsigned list;  /* a repeated string field, 0 if none */
        size_t list_cap;
        unsigned bytes; /* a bytes field, 0 if none */
        unsigned cost;  /* a Cost field, 0 if none */
    } f[7] = {
        [1] = {1, 200, 2, 7, 128, 0, 0}, /* Profile: name, description, technologies */
        [2] = {1, 200, 2, 3, 64, 0, 18}, /* Offer: title, description, topics, cost */
        [3] = {1, 200, 2, 3, 64, 0, 15}, /* Request: title, description, topics, budget */
        [4] = {4, 128, 6, 0, 0, 1, 0},   /* Response: target_key, message, target */
        [5] = {3, 128, 0, 0, 0, 0, 0},   /* Retraction: reason */
        [6] = {2, 4000, 2, 3, 64, 1, 0}, /* Endorsement: statement (multi-line), topics, hub */
    };
    p->n = 0;
    *want = HUB_OK;
    /* every payload starts valid: the retraction names its target first */
    if (kind == 5 && r != P_NO_TARGET_KIND && r != P_NO_TARGET_KEY && r != P_WIRE_TYPE &&
        r != P_UNDECODABLE) {
        pb_uint(p, 1, 2);
        pb_str(p, 2, "gone");
    }
    unsigned one = f[kind].field;
    switch (r) {
    case P_UNDECODABLE:
        pb_raw(p,
               "\x0a\x05"
               "ab",
               4);
        *want = HUB_E_DECODE;
        return 1;
    case P_WIRE_TYPE: /* field 1 is a string, bytes or enum everywhere: send a fixed64 */
        pb_varint(p, 1 << 3 | 1);
        pb_raw(p, "\0\0\0\0\0\0\0\0", 8);
        *want = HUB_E_DECODE;
        return 1;
    case P_TOO_LONG:
        pb_repeat(p, one, 'a', f[kind].cap + 1);
        *want = HUB_E_TOO_LARGE;
        return 1;
    case P_BAD_UTF8:
        pb_str(p, one, "a\xc0\xaf");
        *want = HUB_E_RANGE;
        return 1;
    case P_SURROGATE:
        pb_str(p, one, "a\xed\xa0\x80");
        *want = HUB_E_RANGE;
        return 1;
    case P_CONTROL:
        pb_str(p, one, "a\x01z");
        *want = HUB_E_RANGE;
        return 1;
    case P_NUL:
        pb_bytes(p, one, "a\0z", 3);
        *want = HUB_E_RANGE;
        return 1;
    case P_NEWLINE:
        if (f[kind].multi) {
            pb_str(p, f[kind].multi, "line one\n\tline two");
            *want = HUB_OK;
        } else {
            pb_str(p, one, "line one\nline two");
            *want = HUB_E_RANGE;
        }
        return 1;
    case P_LIST_33:
    case P_LIST_32:
    case P_ITEM_UTF8:
        if (!f[kind].list)
            return 0;
        for (int i = 0; i < (r == P_LIST_33 ? 33 : 32); i++)
            pb_str(p, f[kind].list, r == P_ITEM_UTF8 && i == 5 ? "t\xff" : "t");
        *want = r == P_LIST_33 ? HUB_E_TOO_LARGE : r == P_ITEM_UTF8 ? HUB_E_RANGE : HUB_OK;
        return 1;
    case P_BYTES_31:
    case P_BYTES_33:
        if (!f[kind].bytes)
            return 0;
        {
            uint8_t b[33] = {7};
            pb_bytes(p, f[kind].bytes, b, r == P_BYTES_31 ? 31 : 33);
        }
        *want = HUB_E_RANGE;
        return 1;
    case P_AMOUNT:
    case P_CURRENCY:
    case P_CURRENCY_LONG:
        if (!f[kind].cost)
            return 0;
        {
            struct pb *c = pb_new();
            if (r == P_AMOUNT) {
                pb_uint(c, 1, 100000000000000ULL + 1);
                pb_str(c, 2, "EUR");
            } else if (r == P_CURRENCY) {
                pb_uint(c, 1, 100);
                pb_str(c, 2, "E\x1bR");
            } else {
                pb_uint(c, 1, 100);
                pb_repeat(c, 2, 'E', 129);
            }
            pb_bytes(p, f[kind].cost, c->b, c->n);
            free(c);
        }
        *want = r == P_CURRENCY_LONG ? HUB_E_TOO_LARGE : HUB_E_RANGE;
        return 1;
    case P_NO_TARGET_KIND:
    case P_NO_TARGET_KEY:
        if (kind != 5)
            return 0;
        if (r == P_NO_TARGET_KEY)
            pb_uint(p, 1, 2);
        else
            pb_str(p, 2, "gone");
        pb_str(p, 3, "why");
        *want = HUB_E_DECODE;
        return 1;
    case P_UNKNOWN: {
        struct pb *g = pb_new();
        good_payload(kind, g);
        p->n = 0;
        pb_raw(p, g->b, g->n);
        pb_uint(p, 200, 1);
        free(g);
        *want = HUB_OK;
        return 1;
    }
    default:
        fail_msg("payload rule %d", r);
    }
    return 0;
}

static int build_prule(struct tcase *c, enum prule r) {
    struct pb *pay = pb_new();
    int want;
    if (!bad_payload(c->kind, r, pay, &want)) {
        free(pay);
        return 0;
    }
    feed_start(c);
    struct hspec h = next_spec(c, c->kind, "k2");
    struct step *s = add_entry(c, &c->me, &h, pay, 1, want, 0);
    if (c->kind == 5 && want == HUB_OK)
        s->retracts_gone = 1;
    /* seq 3 chains on seq 2 as sent: accepted after a valid one, a gap after a bad one */
    feed_after(c, &h, pay, want == HUB_OK ? HUB_OK : HUB_E_GAP);
    free(pay);
    return 1;
}

/* ---- rules of one kind ---- */

/* A valid retraction by another hub, in its own feed, naming (offer, "gone"): it withdraws the
 * other hub's record of that name (if any), never the case author's (§6.3). */
static void build_foreign_retraction(struct tcase *c) {
    feed_start(c); /* me: offer "gone" */
    struct pb *p = pb_new();
    good_payload(5, p);
    struct hspec h = {
        .version = 1,
        .author = c->other.pk,
        .author_len = 32,
        .seq = 1,
        .ts = c->ts,
        .kind = 5,
        .key = "gone",
        .psize = -1,
    };
    add_entry(c, &c->other, &h, p, 1, HUB_OK, 0);
    free(p);
}

/* ---- the catalogue ---- */

struct cases {
    struct tcase *c;
    size_t n, cap;
};

static struct tcase *case_new(struct cases *cs, const char *salt, int kind, const char *rule,
                              uint64_t now) {
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 64;
        cs->c = realloc(cs->c, cs->cap * sizeof *cs->c);
        assert_non_null(cs->c);
    }
    struct tcase *c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s/kind %d", rule, kind);
    c->kind = kind;
    c->now = now;
    c->ts = now - 3600000;
    ident(&c->me, salt, (unsigned)cs->n * 2);
    ident(&c->other, salt, (unsigned)cs->n * 2 + 1); /* (the numbers of a case dropped below
                                                         are those of the next one) */
    return c;
}

/* Every rule for every kind it applies to; E_KIND (kinds 0 and 7) once. */
static void cases_build(struct cases *cs, const char *salt, uint64_t now) {
    memset(cs, 0, sizeof *cs);
    for (int kind = 1; kind <= 6; kind++) {
        for (int r = 0; r < H_NRULES; r++)
            build_hrule(case_new(cs, salt, kind, hrule_names[r], now), (enum hrule)r);
        for (int r = 0; r < P_NRULES; r++)
            if (build_prule(case_new(cs, salt, kind, prule_names[r], now), (enum prule)r))
                continue;
            else
                cs->n--; /* the rule does not apply to this kind */
    }
    build_foreign_retraction(case_new(cs, salt, 5, "foreign_retraction", now));
    for (int k = 0; k <= 7; k += 7) {
        struct tcase *c = case_new(cs, salt, 2, k ? "kind_7" : "kind_0", now);
        feed_start(c);
        struct pb *p = pb_new();
        good_payload(2, p);
        struct hspec h = next_spec(c, k, "k2");
        add_entry(c, &c->me, &h, p, 1, HUB_E_KIND, 0);
        h.kind = 2;
        feed_after(c, &h, p, HUB_E_GAP);
        free(p);
    }
    for (size_t i = 0; i < cs->n; i++) /* the array moves no more */
        for (size_t k = 0; k < cs->c[i].n; k++)
            cs->c[i].s[k].owner = &cs->c[i];
}

static void cases_free(struct cases *cs) {
    for (size_t i = 0; i < cs->n; i++)
        for (size_t k = 0; k < cs->c[i].n; k++)
            free(cs->c[i].s[k].wire);
    free(cs->c);
    cs->c = NULL;
    cs->n = 0;
}

static void cases_refuse(struct nfx *x, const struct cases *cs) {
    for (size_t i = 0; i < cs->n; i++)
        if (cs->c[i].refused) {
            assert_true(x->nrefused < MAX_REFUSED);
            memcpy(x->refused[x->nrefused++], cs->c[i].me.pk, 32);
        }
}

/* ---- batches ---- */

struct batch {
    const uint8_t **wires;
    size_t *lens;
    int *want, *got;
    struct step **step; /* NULL for padding */
    size_t n, cap;
};

static void batch_add(struct batch *b, const uint8_t *wire, size_t len, int want, struct step *s) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->wires = realloc(b->wires, b->cap * sizeof *b->wires);
        b->lens = realloc(b->lens, b->cap * sizeof *b->lens);
        b->want = realloc(b->want, b->cap * sizeof *b->want);
        b->got = realloc(b->got, b->cap * sizeof *b->got);
        b->step = realloc(b->step, b->cap * sizeof *b->step);
        assert_true(b->wires && b->lens && b->want && b->got && b->step);
    }
    b->wires[b->n] = wire;
    b->lens[b->n] = len;
    b->want[b->n] = want;
    b->got[b->n] = 12345;
    b->step[b->n] = s;
    b->n++;
}

static void batch_free(struct batch *b) {
    free(b->wires);
    free(b->lens);
    free(b->want);
    free(b->got);
    free(b->step);
    memset(b, 0, sizeof *b);
}

/* A fixed shuffle (the bad entries land anywhere in the batch; the node sorts it). */
static void batch_shuffle(struct batch *b, uint32_t seed) {
    uint32_t r = seed;
    for (size_t i = b->n; i > 1; i--) {
        r = r * 1103515245u + 12345u;
        size_t k = (r >> 8) % i;
        size_t j = i - 1;
#define SWAP(a, T)                                                                                 \
    do {                                                                                           \
        T t_ = b->a[j];                                                                            \
        b->a[j] = b->a[k];                                                                         \
        b->a[k] = t_;                                                                              \
    } while (0)
        SWAP(wires, const uint8_t *);
        SWAP(lens, size_t);
        SWAP(want, int);
        SWAP(step, struct step *);
#undef SWAP
    }
}

/* Valid entries to bring a batch to a size: feeds of offers of fresh authors. Owned by pad. */
struct pad {
    uint8_t **wires;
    size_t n;
};

static void pad_build(struct pad *pad, struct batch *b, size_t count, const char *salt,
                      uint64_t now) {
    pad->wires = calloc(count ? count : 1, sizeof *pad->wires);
    assert_non_null(pad->wires);
    pad->n = 0;
    enum { PER_FEED = 48 };
    struct tcase *c = calloc(1, sizeof *c);
    assert_non_null(c);
    struct pb *p = pb_new();
    for (size_t i = 0; i < count; i++) {
        if (i % PER_FEED == 0) {
            memset(c, 0, sizeof *c);
            ident(&c->me, salt, (unsigned)(i / PER_FEED));
            c->ts = now - 7200000;
        }
        char title[32];
        snprintf(title, sizeof title, "Padding %zu", i);
        p->n = 0;
        pb_str(p, 1, title);
        pb_str(p, 3, "padding");
        char key[24];
        snprintf(key, sizeof key, "pad%zu", i);
        c->n = 0;
        add_valid(c, 2, key, p, HUB_OK, 0);
        pad->wires[pad->n++] = c->s[0].wire; /* ownership moves to pad */
        batch_add(b, c->s[0].wire, c->s[0].len, HUB_OK, NULL);
    }
    free(p);
    free(c);
}

static void pad_free(struct pad *pad) {
    for (size_t i = 0; i < pad->n; i++)
        free(pad->wires[i]);
    free(pad->wires);
    memset(pad, 0, sizeof *pad);
}

/* The entries of a batch that the screen passes (decoded, admitted, not held): the count the
 * node compares with NODE_PIPE_MIN. */
static size_t screened(struct nfx *x, const struct batch *b) {
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct entry e;
        if (entry_decode(b->wires[i], b->lens[i], &e) != 0 || !admit(x, e.author))
            continue;
        uint8_t *w;
        size_t len;
        if (store_get(node_store(x->n), e.id, &w, &len) == HUB_OK) {
            free(w);
            if (len >= b->lens[i])
                continue;
        }
        n++;
    }
    return n;
}

enum path {
    PATH_SMALL,  /* node_ingest of batches below NODE_PIPE_MIN */
    PATH_PIPE,   /* node_ingest of a batch at the threshold or above */
    PATH_WRITER, /* begin (screened apart), submit to the writer thread, done, finish */
};

static const char *const path_names[] = {"small", "pipelined", "pipelined+writer"};

/* Runs b through the node and checks every verdict, the counters and the listener; returns
 * the number of pipelined batches the node reports for it. */
static uint64_t batch_run(struct nfx *x, struct batch *b, enum path path, const char *what) {
    const struct node_counters *nc = node_counters(x->n);
    struct node_counters before = *nc;
    size_t heard = x->heard, accepted = 0, want_ok = 0;
    for (size_t i = 0; i < b->n; i++)
        want_ok += b->want[i] == HUB_OK;
    if (path == PATH_WRITER) {
        struct node_ingest_job *job;
        assert_int_equal(
            node_ingest_begin(x->n, b->wires, b->lens, b->n, b->got, 1, NODE_INGEST_BULK, &job),
            HUB_OK);
        assert_int_equal(node_ingest_submit(x->n, job), HUB_OK);
        struct node_ingest_job *done = node_ingest_done(x->n, 1);
        assert_ptr_equal(done, job);
        assert_int_equal(node_ingest_finish(x->n, done, &accepted), HUB_OK);
    } else {
        assert_int_equal(node_ingest(x->n, b->wires, b->lens, b->n, b->got, &accepted, 1), HUB_OK);
    }
    int bad = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->got[i] == b->want[i])
            continue;
        const struct step *s = b->step[i];
        print_error("%s (%s path): entry %zu (%s, its entry %d): expected %s, got %s\n", what,
                    path_names[path], i,
                    s && s->owner ? s->owner->name
                    : s           ? "case"
                                  : "padding",
                    s ? s->index : -1, hub_strerror(b->want[i]), hub_strerror(b->got[i]));
        bad++;
    }
    if (bad)
        fail_msg("%s (%s path): %d of %zu verdicts differ from the spec", what, path_names[path],
                 bad, b->n);
    assert_int_equal(accepted, want_ok);
    assert_int_equal(x->heard - heard, want_ok);
    assert_int_equal(nc->accepted - before.accepted, want_ok);
    for (int code = 1; code < (int)HUB_ARRAY_LEN(nc->rejected); code++) {
        uint64_t n = 0;
        for (size_t i = 0; i < b->n; i++)
            n += b->want[i] == -code;
        if (nc->rejected[code] - before.rejected[code] != n)
            fail_msg("%s (%s path): %s counted %llu times, expected %llu", what, path_names[path],
                     hub_strerror(-code),
                     (unsigned long long)(nc->rejected[code] - before.rejected[code]),
                     (unsigned long long)n);
    }
    return nc->pipelined - before.pipelined;
}

/* What a case left in the store: every accepted entry is held and, as a record, current; no
 * refused one is held or current; the offer "gone" stays unless the author retracted it. */
static void case_check_store(struct nfx *x, const struct tcase *c, const char *path) {
    struct store *s = node_store(x->n);
    int gone_retracted = 0, has_gone = 0;
    for (size_t k = 0; k < c->n; k++) {
        struct entry e;
        gone_retracted |= c->s[k].retracts_gone && c->s[k].want == HUB_OK;
        has_gone |= c->s[k].want == HUB_OK && entry_decode(c->s[k].wire, c->s[k].len, &e) == 0 &&
                    e.kind == 2 && strcmp(e.key, "gone") == 0 &&
                    memcmp(e.author, c->me.pk, 32) == 0;
    }
    for (size_t k = 0; k < c->n; k++) {
        const struct step *st = &c->s[k];
        struct entry e;
        if (entry_decode(st->wire, st->len, &e) != 0)
            continue;
        uint8_t *w = NULL, id[32];
        size_t len;
        int held = store_get(s, e.id, &w, &len) == HUB_OK;
        free(w);
        if (st->want == HUB_OK || st->want == HUB_E_DUPLICATE) {
            if (!held)
                fail_msg("%s (%s): entry %zu accepted but not held", c->name, path, k);
        } else if (held) {
            fail_msg("%s (%s): entry %zu refused (%s) but held", c->name, path, k,
                     hub_strerror(st->want));
        }
        if (e.kind == 5 || e.kind < 1 || e.kind > 6)
            continue;
        /* the record of a refused entry is not current, unless an accepted one has its key */
        int named = 0;
        for (size_t j = 0; j < c->n; j++) {
            struct entry o;
            named |= c->s[j].want == HUB_OK && entry_decode(c->s[j].wire, c->s[j].len, &o) == 0 &&
                     memcmp(o.author, e.author, 32) == 0 && o.kind == e.kind &&
                     strcmp(o.key, e.key) == 0;
        }
        int cur = store_record_current(s, e.author, e.kind, e.key, id);
        if (st->want == HUB_OK && (e.payload || e.payload_size == 0) &&
            !(e.kind == 2 && strcmp(e.key, "gone") == 0 && gone_retracted)) {
            if (cur != HUB_OK || memcmp(id, e.id, 32) != 0)
                fail_msg("%s (%s): entry %zu accepted but its record is not current", c->name, path,
                         k);
        } else if (!named && cur == HUB_OK) {
            fail_msg("%s (%s): entry %zu refused (%s) but its record is current", c->name, path, k,
                     hub_strerror(st->want));
        }
    }
    if (has_gone) { /* the offer "gone" of the case's author, aimed at by retractions */
        uint8_t id[32];
        int cur = store_record_current(s, c->me.pk, 2, "gone", id);
        if (gone_retracted && cur != HUB_E_NOT_FOUND)
            fail_msg("%s (%s): the retraction was accepted but \"gone\" is still current", c->name,
                     path);
        if (!gone_retracted && cur != HUB_OK)
            fail_msg("%s (%s): \"gone\" was withdrawn by a retraction that was refused (or not "
                     "its author's)",
                     c->name, path);
    }
}

/* ---- (a) every rule, every kind: the small path ---- */

static void test_rules_small_path(void **state) {
    struct nfx *x = *state;
    struct cases cs;
    cases_build(&cs, "small", hub_now_ms());
    cases_refuse(x, &cs);
    size_t batches = 0;
    for (size_t i = 0; i < cs.n; i++) {
        struct tcase *c = &cs.c[i];
        for (int phase = 0; phase <= 1; phase++) {
            struct batch b = {0};
            for (size_t k = 0; k < c->n; k++)
                if (c->s[k].phase == phase)
                    batch_add(&b, c->s[k].wire, c->s[k].len, c->s[k].want, &c->s[k]);
            if (b.n) {
                assert_true(b.n < NODE_PIPE_MIN);
                assert_int_equal(batch_run(x, &b, PATH_SMALL, c->name), 0);
                batches++;
            }
            batch_free(&b);
        }
        case_check_store(x, c, "small");
    }
    print_message("%zu cases (rule x kind), %zu batches\n", cs.n, batches);
    cases_free(&cs);
}

/* ---- (a)+(c) every rule, every kind: the pipelined paths ---- */

static int pipelining(void) {
    if (par_threads() > 1)
        return 1;
    print_message("one CPU online: hubd never pipelines here, so neither can this test\n");
    return 0;
}

/* All the cases in one batch per phase (shuffled, padded to at least min entries), through
 * the given path; the same verdicts as one case at a time. */
static void rules_big(struct nfx *x, enum path path, size_t min, const char *salt) {
    if (!pipelining())
        skip();
    struct cases cs;
    cases_build(&cs, salt, hub_now_ms());
    cases_refuse(x, &cs);
    for (int phase = 0; phase <= 1; phase++) {
        struct batch b = {0};
        size_t nbad = 0;
        for (size_t i = 0; i < cs.n; i++)
            for (size_t k = 0; k < cs.c[i].n; k++) {
                struct step *s = &cs.c[i].s[k];
                if (s->phase == phase) {
                    batch_add(&b, s->wire, s->len, s->want, s);
                    nbad += s->want != HUB_OK;
                }
            }
        struct pad pad;
        char ps[64];
        snprintf(ps, sizeof ps, "%s/pad%d", salt, phase);
        size_t have = screened(x, &b); /* held copies (phase 1) do not count */
        size_t want = have < min ? min - have : 0;
        if (b.n + want < min)
            want = min - b.n;
        pad_build(&pad, &b, want, ps, hub_now_ms());
        batch_shuffle(&b, 1234u + (uint32_t)phase);
        assert_true(screened(x, &b) >= NODE_PIPE_MIN);
        char what[64];
        snprintf(what, sizeof what, "all cases, phase %d (%zu entries, %zu not OK)", phase, b.n,
                 nbad);
        assert_int_equal(batch_run(x, &b, path, what), 1);
        batch_free(&b);
        pad_free(&pad);
    }
    for (size_t i = 0; i < cs.n; i++)
        case_check_store(x, &cs.c[i], path_names[path]);
    print_message("%zu cases (rule x kind) in pipelined batches of %zu+ entries\n", cs.n, min);
    cases_free(&cs);
}

static void test_rules_pipelined(void **state) {
    rules_big(*state, PATH_PIPE, NODE_PIPE_MIN, "pipe");
}

static void test_rules_pipelined_writer(void **state) {
    rules_big(*state, PATH_WRITER, SCREEN_ASYNC_MIN, "writer");
}

/* ---- (c) one bad entry in a batch at the threshold, at several places ---- */

/* Exactly NODE_PIPE_MIN screened entries (one of them bad) are pipelined, one fewer are not;
 * the bad one at the front, middle or end of the batch and of its feed: its verdict is the
 * small path's, its feed's later entries are gaps, every other entry is accepted. */
static void test_one_bad_entry_at_the_threshold(void **state) {
    struct nfx *x = *state;
    if (!pipelining())
        skip();
    /* bad entries: a forgery, a broken payload hash, a payload that fails §7.1 */
    static const enum hrule hr[] = {H_SIG_OTHER, H_PAYLOAD_FLIP};
    enum { FEED = 40 };
    unsigned run = 0;
    for (int kind = 1; kind <= 6; kind++) {
        for (unsigned v = 0; v < 3; v++, run++) {
            for (int below = 0; below <= 1; below++) {
                char salt[48];
                snprintf(salt, sizeof salt, "thr/%u/%d", run, below);
                uint64_t now = hub_now_ms();
                /* the bad entry's feed: FEED entries of kind (an offer first for a retraction),
                 * the bad one at seq 1, the middle or the head */
                struct tcase *c = calloc(1, sizeof *c);
                assert_non_null(c);
                c->kind = kind;
                c->now = now;
                c->ts = now - 3600000;
                ident(&c->me, salt, 9999);
                ident(&c->other, salt, 9998);
                size_t at = run % 3 == 0 ? 0 : run % 3 == 1 ? FEED / 2 : FEED - 1;
                struct pb *pay = pb_new();
                int bad_want = 0;
                struct step *feed[FEED];
                size_t nfeed = 0;
                struct step steps[FEED];
                for (size_t k = 0; k < FEED; k++) {
                    char key[16];
                    snprintf(key, sizeof key, "f%zu", k);
                    /* a retraction feed also holds offers; the bad entry is of the kind */
                    int ekind = kind == 5 && k % 2 == 1 && k != at ? 2 : kind;
                    good_payload(ekind, pay);
                    if (k == at) {
                        struct hspec h = next_spec(c, ekind, key);
                        if (v < 2) {
                            const struct identity *signer = &c->me;
                            if (hr[v] == H_SIG_OTHER) {
                                signer = &c->other;
                                bad_want = HUB_E_SIGNATURE;
                            }
                            struct pb *hdr = pb_new(), *w = pb_new();
                            header_of(&h, pay->b, pay->n, hdr);
                            uint8_t sig[64];
                            sign_header(signer, hdr->b, hdr->n, sig);
                            if (hr[v] == H_PAYLOAD_FLIP) {
                                pay->b[0] ^= 0x02;
                                bad_want = HUB_E_PAYLOAD_HASH;
                            }
                            envelope(w, hdr, sig, 64, pay->b, pay->n);
                            c->n = 0;
                            add_step(c, w, bad_want, 0);
                            free(hdr);
                            free(w);
                            good_payload(ekind, pay);
                        } else {
                            assert_true(bad_payload(ekind, P_CONTROL, pay, &bad_want));
                            c->n = 0;
                            add_entry(c, &c->me, &h, pay, 1, bad_want, 0);
                            good_payload(ekind, pay);
                        }
                        id_of(&h, pay, c->prev); /* the rest chains on the valid one */
                        c->seq++;
                        c->ts += 1000;
                    } else {
                        c->n = 0;
                        add_valid(c, ekind, key, pay, k < at ? HUB_OK : HUB_E_GAP, 0);
                    }
                    steps[k] = c->s[0];
                    feed[nfeed++] = &steps[k];
                }
                free(pay);
                struct batch b = {0};
                /* the bad one's place in the batch: first, in the middle or last */
                struct pad pad;
                size_t npad = NODE_PIPE_MIN - FEED - (size_t)below;
                struct batch tmp = {0};
                pad_build(&pad, &tmp, npad, salt, now);
                size_t place = v == 0 ? 0 : v == 1 ? tmp.n / 2 : tmp.n;
                for (size_t i = 0; i < tmp.n; i++) {
                    if (i == place)
                        for (size_t k = 0; k < nfeed; k++)
                            batch_add(&b, feed[(k + at) % nfeed]->wire, feed[(k + at) % nfeed]->len,
                                      feed[(k + at) % nfeed]->want, feed[(k + at) % nfeed]);
                    batch_add(&b, tmp.wires[i], tmp.lens[i], HUB_OK, NULL);
                }
                if (place == tmp.n)
                    for (size_t k = 0; k < nfeed; k++)
                        batch_add(&b, feed[(k + at) % nfeed]->wire, feed[(k + at) % nfeed]->len,
                                  feed[(k + at) % nfeed]->want, feed[(k + at) % nfeed]);
                assert_int_equal(screened(x, &b), NODE_PIPE_MIN - (size_t)below);
                char what[96];
                snprintf(what, sizeof what, "kind %d, bad %s at seq %zu of %d, batch place %zu%s",
                         kind, v < 2 ? hrule_names[hr[v]] : "payload", at + 1, FEED, place,
                         below ? ", one below the threshold" : "");
                assert_int_equal(batch_run(x, &b, PATH_PIPE, what), below ? 0 : 1);
                /* the feed's head: the entry before the bad one */
                struct feed_head fh;
                int hrc = store_feed_head(node_store(x->n), c->me.pk, &fh);
                assert_true(hrc == HUB_OK || (hrc == HUB_E_NOT_FOUND && at == 0));
                assert_int_equal(hrc == HUB_OK ? fh.seq : 0, at);
                batch_free(&tmp);
                batch_free(&b);
                pad_free(&pad);
                for (size_t k = 0; k < FEED; k++)
                    free(steps[k].wire);
                free(c);
            }
        }
    }
}

/* ---- (b) a complete copy of a withdrawn entry ---- */

struct nvis {
    size_t n;
};

static int count_cb(const uint8_t *wire, size_t len, void *arg) {
    (void)wire;
    (void)len;
    ((struct nvis *)arg)->n++;
    return 0;
}

static size_t query_topic(struct store *s, const char *topic) {
    struct index_term t;
    index_term_make(IDX_TOPIC, topic, strlen(topic), &t);
    struct store_query q = {.terms = &t, .nterms = 1, .now_ms = hub_now_ms(), .limit = 1000};
    struct nvis v = {0};
    uint64_t next;
    assert_true(store_query(s, &q, count_cb, &v, &next) >= 0);
    return v.n;
}

/* 1 if the store holds entry id with its payload, 0 if purged; fails if not held. */
static int held_with_payload(struct store *s, const uint8_t id[32]) {
    uint8_t *w;
    size_t len;
    assert_int_equal(store_get(s, id, &w, &len), HUB_OK);
    struct entry e;
    assert_int_equal(entry_decode(w, len, &e), HUB_OK);
    int has = e.payload != NULL;
    free(w);
    return has;
}

static void offer_payload(struct pb *p, const char *title, const char *topic) {
    p->n = 0;
    pb_str(p, 1, title);
    pb_str(p, 3, topic);
}

/* The stripped (purged) form of a step's entry. */
static void add_stripped(struct tcase *c, const struct step *full, int want) {
    struct entry e;
    assert_int_equal(entry_decode(full->wire, full->len, &e), HUB_OK);
    uint8_t *w;
    size_t len;
    assert_int_equal(entry_strip_payload(&e, &w, &len), HUB_OK);
    struct pb *p = pb_new();
    pb_raw(p, w, len);
    free(w);
    add_step(c, p, want, 0);
    free(p);
}

enum withdraw {
    W_RETRACTED,           /* held with its payload, then retracted */
    W_RETRACTED_BARE,      /* held payload-less (purged upstream), then retracted */
    W_EXPIRED,             /* expired and swept */
    W_RETRACTED_RESTARTED, /* retracted, then a new version of the same record */
    W_EXPIRED_RESTARTED,   /* expired and swept, then a new version of the same record */
    W_NONE,                /* held payload-less, never withdrawn: the copy restores it */
    W_NSCEN
};

static const char *const withdraw_names[] = {"retracted",
                                             "retracted while payload-less",
                                             "expired and swept",
                                             "retracted then restarted",
                                             "expired, swept, then restarted",
                                             "not withdrawn (restores)"};

static void complete_copy(struct nfx *x, enum path path) {
    if (path != PATH_SMALL && !pipelining())
        skip();
    struct store *s = node_store(x->n);
    for (int sc = 0; sc < W_NSCEN; sc++) {
        uint64_t now = hub_now_ms();
        struct tcase *c = calloc(1, sizeof *c);
        assert_non_null(c);
        char salt[48], topic[48], topic2[48];
        snprintf(salt, sizeof salt, "restore/%s", path_names[path]);
        snprintf(topic, sizeof topic, "restore-%d-%d", (int)path, sc);
        snprintf(topic2, sizeof topic2, "restart-%d-%d", (int)path, sc);
        ident(&c->me, salt, (unsigned)sc);
        c->kind = 2;
        c->ts = now - 600000;
        struct pb *p = pb_new();
        offer_payload(p, "Withdrawn", topic);
        struct hspec h1 = next_spec(c, 2, "r");
        int expired = sc == W_EXPIRED || sc == W_EXPIRED_RESTARTED;
        if (expired)
            h1.expires = now - 1000; /* accepted (the chain stays complete), then swept */
        add_entry(c, &c->me, &h1, p, 1, HUB_OK, 0);
        uint8_t id1[32];
        id_of(&h1, p, id1);
        memcpy(c->prev, id1, 32);
        c->seq = 1;
        c->ts += 1000;
        struct step full = c->s[0];
        if (sc == W_RETRACTED_BARE || sc == W_NONE) {
            c->n = 0;
            add_stripped(c, &full, HUB_OK);
        }
        if (sc == W_RETRACTED || sc == W_RETRACTED_BARE || sc == W_RETRACTED_RESTARTED) {
            struct pb *r = pb_new();
            pb_uint(r, 1, 2);
            pb_str(r, 2, "r");
            add_valid(c, 5, "r", r, HUB_OK, 0);
            free(r);
        }
        if (sc == W_RETRACTED_RESTARTED) {
            offer_payload(p, "Restarted", topic2);
            add_valid(c, 2, "r", p, HUB_OK, 0);
        }
        /* the history, then the sweep */
        struct batch b = {0};
        for (size_t k = 0; k < c->n; k++)
            batch_add(&b, c->s[k].wire, c->s[k].len, c->s[k].want, &c->s[k]);
        assert_int_equal(batch_run(x, &b, PATH_SMALL, withdraw_names[sc]), 0);
        batch_free(&b);
        if (expired) {
            size_t purged = 0;
            assert_int_equal(store_sweep_expired(s, hub_now_ms(), 64, &purged), HUB_OK);
            assert_int_equal(purged, 1);
        }
        if (sc == W_EXPIRED_RESTARTED) { /* a version that does not expire, after the sweep */
            size_t from = c->n;
            offer_payload(p, "Restarted", topic2);
            add_valid(c, 2, "r", p, HUB_OK, 0);
            batch_add(&b, c->s[from].wire, c->s[from].len, HUB_OK, &c->s[from]);
            assert_int_equal(batch_run(x, &b, PATH_SMALL, withdraw_names[sc]), 0);
            batch_free(&b);
        }
        int restores = sc == W_NONE;
        assert_int_equal(held_with_payload(s, id1), 0);
        assert_int_equal(query_topic(s, topic), 0);

        /* the complete copy, from a peer; in a batch of NODE_PIPE_MIN for the pipelined paths */
        struct pad pad = {0};
        batch_add(&b, full.wire, full.len, HUB_E_DUPLICATE, &full);
        if (path != PATH_SMALL) {
            char ps[64];
            snprintf(ps, sizeof ps, "%s/pad/%d", salt, sc);
            pad_build(&pad, &b, path == PATH_WRITER ? SCREEN_ASYNC_MIN : NODE_PIPE_MIN, ps, now);
            batch_shuffle(&b, 77u + (uint32_t)sc);
        }
        char what[96];
        snprintf(what, sizeof what, "complete copy of a record %s", withdraw_names[sc]);
        assert_int_equal(batch_run(x, &b, path, what), path == PATH_SMALL ? 0 : 1);
        batch_free(&b);
        pad_free(&pad);
        if (held_with_payload(s, id1) != restores)
            fail_msg("%s (%s path): the complete copy %s the payload", withdraw_names[sc],
                     path_names[path], restores ? "did not restore" : "restored");
        assert_int_equal(query_topic(s, topic), restores);
        uint8_t cur[32];
        int rc = store_record_current(s, c->me.pk, 2, "r", cur);
        if (sc == W_RETRACTED_RESTARTED || sc == W_EXPIRED_RESTARTED) {
            assert_int_equal(rc, HUB_OK);
            assert_memory_equal(cur, c->prev, 32);
            assert_int_equal(query_topic(s, topic2), 1);
        } else {
            assert_int_equal(rc, restores ? HUB_OK : HUB_E_NOT_FOUND);
        }
        free(p);
        for (size_t k = 0; k < c->n; k++)
            free(c->s[k].wire);
        if (sc == W_RETRACTED_BARE || sc == W_NONE)
            free(full.wire);
        free(c);
    }
}

static void test_complete_copy_small(void **state) {
    complete_copy(*state, PATH_SMALL);
}

static void test_complete_copy_pipelined(void **state) {
    complete_copy(*state, PATH_PIPE);
}

static void test_complete_copy_pipelined_writer(void **state) {
    complete_copy(*state, PATH_WRITER);
}

/* A batch's per-entry block is kept for the next batches (node_prepared_take/give): taken again
 * zeroed, with each entry's own slice of terms and text, by a batch of any size up to
 * NODE_BLOCK_ENTRIES; up to NODE_SPARE_MAX are kept, a block of a bigger batch never; an idle
 * hub's release empties the pool. The pipelined rule tests above run many batches through the
 * same blocks. */
static void test_prepared_blocks_reused(void **state) {
    struct nfx *x = *state;
    struct prepared *p = node_prepared_take(x->n, 100);
    assert_non_null(p);
    p[7].queued = 1;
    p[7].row = (uint8_t *)p; /* stale state a reused block must not keep */
    p[99].terms[3].b[0] = 5;
    struct index_term *terms = p[0].terms;
    node_prepared_give(x->n, p, 100);
    /* were the block freed, malloc would give its memory to this, not to the next take */
    void *blocker = malloc(NODE_BLOCK_ENTRIES * sizeof *p);
    struct prepared *q = node_prepared_take(x->n, NODE_BLOCK_ENTRIES); /* bigger: it fits too */
    free(blocker);
    assert_ptr_equal(q, p);
    assert_ptr_equal(q[0].terms, terms);
    for (size_t i = 0; i < NODE_BLOCK_ENTRIES; i++) {
        assert_int_equal(q[i].queued, 0);
        assert_null(q[i].row);
        assert_ptr_equal(q[i].terms, terms + i * RECORD_MAX_TERMS);
        assert_ptr_equal(q[i].dict, q[0].dict + i);
    }
    q[NODE_BLOCK_ENTRIES - 1].terms[RECORD_MAX_TERMS - 1].b[0] = 7; /* the block's last term */
    q[NODE_BLOCK_ENTRIES - 1].dict->len = 1;
    /* three in use at once, given back in a row: two are kept, the third freed */
    struct prepared *r = node_prepared_take(x->n, 10), *s = node_prepared_take(x->n, 5000);
    assert_non_null(r);
    assert_non_null(s);
    assert_ptr_not_equal(r, q);
    node_prepared_give(x->n, q, NODE_BLOCK_ENTRIES);
    node_prepared_give(x->n, r, 10);
    node_prepared_give(x->n, s, 5000);
    struct prepared *got[2] = {node_prepared_take(x->n, 1), node_prepared_take(x->n, 300)};
    assert_true((got[0] == r && got[1] == q) || (got[0] == q && got[1] == r));
    assert_int_equal(got[1][299].queued, 0);
    /* a batch bigger than the blocks gets its own, not kept */
    struct prepared *big = node_prepared_take(x->n, NODE_BLOCK_ENTRIES + 1);
    assert_non_null(big);
    big[NODE_BLOCK_ENTRIES].terms[RECORD_MAX_TERMS - 1].b[0] = 1;
    node_prepared_give(x->n, big, NODE_BLOCK_ENTRIES + 1);
    node_prepared_give(x->n, got[0], 1);
    node_prepared_give(x->n, got[1], 300);
    node_prepared_release(x->n);
    /* an empty pool: nothing to free */
    node_prepared_release(x->n);
    struct prepared *fresh = node_prepared_take(x->n, 10); /* released: allocated anew */
    assert_non_null(fresh);
    assert_int_equal(fresh[9].queued, 0);
    node_prepared_give(x->n, fresh, 10);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
#define N(fn) cmocka_unit_test_setup_teardown(fn, nfx_setup, nfx_teardown)
    const struct CMUnitTest tests[] = {
        N(test_rules_small_path),
        N(test_rules_pipelined),
        N(test_rules_pipelined_writer),
        N(test_one_bad_entry_at_the_threshold),
        N(test_complete_copy_small),
        N(test_complete_copy_pipelined),
        N(test_complete_copy_pipelined_writer),
        N(test_prepared_blocks_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
