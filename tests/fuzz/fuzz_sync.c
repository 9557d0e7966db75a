/* fuzz_sync.c: libFuzzer target for replication messages from a peer.
 *
 * One input is one SyncMsg frame as a peer's DEALER or ROUTER delivers it. It is unpacked with
 * hubnet__sync_msg__unpack and walked the way sync.c's handle_msg walks it, for a session that
 * has seen Hello, an empty local store and the open policy (the first round with a new peer):
 * every length check sync.c makes comes before the fixed-size read it guards, heads move into
 * the session as on_heads moves them (then freed as sess_free does), counters use sync.c's
 * types, and each entry of an Entries batch goes through what node_ingest runs before the
 * store: entry_decode, entry_verify, then record_check_payload and the index terms, dates or
 * retraction target. The store, the sockets and the policy are left out: they see only what
 * these checks let through. Seeds: corpus/sync/, one message of each case. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "fuzz_common.h"
#include "hub.h"
#include "identity.h"
#include "record.h"
#include "sync.pb-c.h"

/* As in sync.c. */
#define SYNC_VERSION 1
#define SYNC_MAX_WANT_FEEDS 65536
#define SYNC_MAX_WINDOW 16
#define SYNC_BATCH 512 /* config batch_entries default */

struct want_feed {
    uint8_t author[32];
    uint64_t next, target;
    int inflight;
};

/* The part of sync.c's struct session that message handling touches. */
struct fuzz_session {
    uint8_t curve[32];
    int64_t behind_us, behind_them;
    uint64_t rejected, received;
    struct want_feed *wq;
    size_t nwq, capwq;
    struct {
        uint8_t author[32];
        uint64_t from;
    } inflight[SYNC_MAX_WINDOW];
    size_t ninflight;
    Hubnet__Head **their;
    size_t ntheir, captheir;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (sodium_init() < 0)
        abort();
    return 0;
}

static struct want_feed *wq_find(struct fuzz_session *ss, const uint8_t author[32])
{
    for (size_t i = 0; i < ss->nwq; i++)
        if (memcmp(ss->wq[i].author, author, 32) == 0)
            return &ss->wq[i];
    return NULL;
}

static void wq_add(struct fuzz_session *ss, const uint8_t author[32], uint64_t next,
                   uint64_t target)
{
    struct want_feed *w = wq_find(ss, author);
    if (w) {
        if (target > w->target)
            w->target = target;
        return;
    }
    if (ss->nwq == SYNC_MAX_WANT_FEEDS)
        return;
    if (ss->nwq == ss->capwq) {
        size_t cap = ss->capwq ? ss->capwq * 2 : 64;
        struct want_feed *n = realloc(ss->wq, cap * sizeof *n);
        if (!n)
            return;
        ss->wq = n;
        ss->capwq = cap;
    }
    w = &ss->wq[ss->nwq++];
    memcpy(w->author, author, 32);
    w->next = next;
    w->target = target;
    w->inflight = 0;
}

/* want_fill: the count of the first Want it would send for each queued feed. */
static void want_fill(struct fuzz_session *ss)
{
    for (size_t i = 0; i < ss->nwq && ss->ninflight < 4; i++) {
        struct want_feed *w = &ss->wq[i];
        uint64_t count = w->target - w->next + 1;
        if (count > SYNC_BATCH)
            count = SYNC_BATCH;
        FUZZ_CHECK(count <= SYNC_BATCH);
        memcpy(ss->inflight[ss->ninflight].author, w->author, 32);
        ss->inflight[ss->ninflight].from = w->next;
        ss->ninflight++;
        w->inflight = 1;
    }
}

static void on_hello(struct fuzz_session *ss, const Hubnet__Hello *h)
{
    if (h->version != SYNC_VERSION || h->hub.len != 32) {
        ss->rejected++;
        return;
    }
    /* Inbound: the claimed hub key must convert to the connection's transport key. */
    uint8_t curve[32];
    if (identity_curve_pk(h->hub.data, curve) != 0 || memcmp(curve, ss->curve, 32) != 0) {
        char k[9];
        hub_short(h->hub.data, k);
        ss->rejected++;
        return;
    }
    char ep[300];
    int w = snprintf(ep, sizeof ep, "tcp://%s:%u", "192.0.2.1", h->pub_port);
    FUZZ_CHECK(w > 0 && (size_t)w < sizeof ep);
}

static void on_summary(struct fuzz_session *ss, const Hubnet__Summary *sm)
{
    static const uint8_t ours[32]; /* digest of an empty store is some value; any will do */
    if (sm->digest.len == 32 && memcmp(sm->digest.data, ours, 32) == 0)
        ss->behind_us = ss->behind_them = 0;
}

static int head_cmp(const void *a, const void *b)
{
    const Hubnet__Head *x = *(Hubnet__Head *const *)a, *y = *(Hubnet__Head *const *)b;
    return memcmp(x->author.data, y->author.data, 32);
}

static void on_heads(struct fuzz_session *ss, Hubnet__SyncMsg *m)
{
    Hubnet__Heads *hs = m->heads;
    for (size_t i = 0; i < hs->n_heads; i++) {
        Hubnet__Head *h = hs->heads[i];
        if (h->author.len != 32 || ss->ntheir >= SYNC_MAX_WANT_FEEDS)
            continue;
        if (ss->ntheir == ss->captheir) {
            size_t cap = ss->captheir ? ss->captheir * 2 : 256;
            Hubnet__Head **n = realloc(ss->their, cap * sizeof *n);
            if (!n)
                break;
            ss->their = n;
            ss->captheir = cap;
        }
        ss->their[ss->ntheir++] = h;
        hs->heads[i] = NULL; /* ownership moves to the session */
    }
    if (!hs->last)
        return;
    qsort(ss->their, ss->ntheir, sizeof *ss->their, head_cmp);
    ss->behind_us = ss->behind_them = 0;
    /* Our store is empty: every feed of theirs is one we lack entirely (compare_cb's tail). */
    for (size_t i = 0; i < ss->ntheir; i++) {
        Hubnet__Head *t = ss->their[i];
        ss->behind_us += (int64_t)t->seq;
        wq_add(ss, t->author.data, 1, t->seq);
    }
    for (size_t i = 0; i < ss->ntheir; i++)
        hubnet__head__free_unpacked(ss->their[i], NULL);
    ss->ntheir = 0;
    want_fill(ss);
}

static void on_want(const Hubnet__Want *w)
{
    if (w->author.len != 32 || w->from_seq == 0)
        return;
    size_t count = w->count;
    if (count > SYNC_BATCH)
        count = SYNC_BATCH;
    if (count > 1024)
        count = 1024;
    uint8_t author[32];
    memcpy(author, w->author.data, 32); /* the store lookup key */
    (void)count;
}

/* node_ingest up to the store: node.c's prepare() with check_payload. */
static int ingest_one(const uint8_t *wire, size_t len)
{
    struct entry e;
    int rc = entry_decode(wire, len, &e);
    if (rc == HUB_OK)
        rc = entry_verify(&e, FUZZ_NOW_MS);
    if (rc != HUB_OK || e.payload == NULL)
        return rc;
    rc = record_check_payload(e.kind, e.payload, e.payload_len);
    if (rc != HUB_OK)
        return rc;
    if (e.kind == 5) {
        int kind;
        char key[HUB_MAX_RECORD_KEY + 1];
        return record_retraction_target(e.payload, e.payload_len, &kind, key) == HUB_OK
                   ? HUB_OK
                   : HUB_E_DECODE;
    }
    struct index_term terms[RECORD_MAX_TERMS];
    size_t n = record_terms(e.author, e.kind, e.payload, e.payload_len, terms, RECORD_MAX_TERMS);
    FUZZ_CHECK(n >= 1 && n <= RECORD_MAX_TERMS);
    struct record_dates d;
    record_dates(e.kind, e.payload, e.payload_len, &d);
    return HUB_OK;
}

static void on_entries(struct fuzz_session *ss, const Hubnet__Entries *es)
{
    if (es->author.len != 32)
        return;
    for (size_t i = 0; i < ss->ninflight; i++)
        if (memcmp(ss->inflight[i].author, es->author.data, 32) == 0 &&
            ss->inflight[i].from == es->from_seq) {
            ss->inflight[i] = ss->inflight[--ss->ninflight];
            break;
        }
    size_t accepted = 0;
    for (size_t i = 0; i < es->n_entries; i++)
        if (ingest_one(es->entries[i].data, es->entries[i].len) == HUB_OK)
            accepted++;
    ss->received += accepted;
    ss->behind_us -= (int64_t)accepted;
    if (ss->behind_us < 0)
        ss->behind_us = 0;
    struct want_feed *w = wq_find(ss, es->author.data);
    if (w)
        w->inflight = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_session ss;
    memset(&ss, 0, sizeof ss);
    memset(ss.curve, 0x42, sizeof ss.curve);

    Hubnet__SyncMsg *m = hubnet__sync_msg__unpack(NULL, size, data);
    if (m == NULL)
        return 0;
    switch (m->msg_case) {
    case HUBNET__SYNC_MSG__MSG_HELLO:
        on_hello(&ss, m->hello);
        break;
    case HUBNET__SYNC_MSG__MSG_SUMMARY:
        on_summary(&ss, m->summary);
        break;
    case HUBNET__SYNC_MSG__MSG_HEADS:
        on_heads(&ss, m);
        break;
    case HUBNET__SYNC_MSG__MSG_WANT:
        on_want(m->want);
        break;
    case HUBNET__SYNC_MSG__MSG_ENTRIES:
        on_entries(&ss, m->entries);
        break;
    default:
        break;
    }
    hubnet__sync_msg__free_unpacked(m, NULL);

    /* sess_free */
    for (size_t i = 0; i < ss.ntheir; i++)
        hubnet__head__free_unpacked(ss.their[i], NULL);
    free(ss.their);
    free(ss.wq);
    return 0;
}
