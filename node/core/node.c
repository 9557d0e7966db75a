/* node.c: identity + store, and the single path by which entries, own or foreign, are stored:
 * the checks and index terms of an entry (node_prepare), foreign entries (ingest, the writer
 * thread), listeners, upkeep. The hub's own entries are signed in publish.c. */
#include "node.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_priv.h"
#include "par.h"
#include "record.h"
#include "sigcheck.h"
#include "textsearch.h"

#define NODE_SWEEP_BATCH 64
#define NODE_IDLE_MS 1000 /* without writes for this long, the store tidies its index */

static void writer_start(struct node *n);
static void writer_stop(struct node *n);
static void self_start(struct node *n, int created);
static void self_tick(struct node *n, uint64_t mono);

int node_open(const struct config *cfg, struct node **out) {
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return HUB_E_NOMEM;
    n->cfg = *cfg;
    n->last_write = hub_mono_ms(); /* a restarted hub is not idle at once: see node_tick */
    int created = 0;
    int rc = identity_load_or_create(cfg->data_dir, &n->id, &created);
    if (rc != 0) {
        free(n);
        return rc;
    }
    char hex[HUB_HEX_LEN + 1];
    hub_hex(n->id.pk, 32, hex);
    if (created)
        log_info("identity",
                 "generated a new hub identity %s in %s/identity.key; back this file up", hex,
                 cfg->data_dir);
    rc = store_open(cfg->data_dir, cfg->max_map_bytes, &n->store);
    if (rc != 0) {
        identity_wipe(&n->id);
        free(n);
        return rc;
    }
    if ((rc = sigcheck_open(n->store, &n->sigcheck)) != 0) {
        store_destroy(&n->store);
        identity_wipe(&n->id);
        free(n);
        return rc;
    }
    node_clock_report(n);
    pthread_mutex_init(&n->spare.mu, NULL);
    writer_start(n);
    self_start(n, created);
    *out = n;
    return HUB_OK;
}

void node_destroy(struct node **np) {
    if (!np || !*np)
        return;
    writer_stop(*np);
    node_prepared_release(*np);
    pthread_mutex_destroy(&(*np)->spare.mu);
    sigcheck_destroy(&(*np)->sigcheck);
    store_destroy(&(*np)->store);
    identity_wipe(&(*np)->id);
    free(*np);
    *np = NULL;
}

const struct identity *node_identity(const struct node *n) {
    return &n->id;
}

struct store *node_store(struct node *n) {
    return n->store;
}

const struct config *node_config(const struct node *n) {
    return &n->cfg;
}

struct config *node_config_mut(struct node *n) {
    return &n->cfg;
}

int node_add_listener(struct node *n, node_listener fn, void *arg) {
    if (n->nlisteners == NODE_MAX_LISTENERS)
        return HUB_E_INTERNAL;
    n->listeners[n->nlisteners].fn = fn;
    n->listeners[n->nlisteners].arg = arg;
    n->nlisteners++;
    return HUB_OK;
}

uint64_t node_telling_local(const struct node *n) {
    return n->telling_local;
}

int node_telling_unchecked(const struct node *n) {
    return n->telling_unchecked;
}

uint64_t node_servable(struct node *n, const uint8_t author[32], uint8_t before[32]) {
    return sigcheck_servable(n->sigcheck, author, before);
}

uint64_t node_servable_generation(struct node *n) {
    return sigcheck_generation(n->sigcheck);
}

struct sigcheck *node_sigcheck(struct node *n) {
    return n->sigcheck;
}

void node_set_admit(struct node *n, node_admit_fn fn, void *arg) {
    n->admit = fn;
    n->admit_arg = arg;
}

const struct node_counters *node_counters(const struct node *n) {
    return &n->counters;
}

void node_count(struct node *n, int code) {
    if (code == HUB_OK)
        n->counters.accepted++;
    else if (-code < (int)HUB_ARRAY_LEN(n->counters.rejected))
        n->counters.rejected[-code]++;
}

static void prepared_link(struct prepared *p, size_t count, struct index_term *t,
                          struct ts_dict *d) {
    for (size_t i = 0; i < count; i++) {
        p[i].terms = t + i * RECORD_MAX_TERMS;
        p[i].dict = d + i;
    }
}

/* A block for up to cap entries; only p[0] is linked to its terms and text (node_prepared_take
 * zeroes and links the entries it hands out). Not calloc, which clears all of it when malloc
 * takes it from its heap: a small batch (a publish of one) in a full-size block touches, and
 * faults in, only its own entries' pages. The terms live apart so that the thread that decodes
 * a batch (the event loop) touches a fifth of the memory; the workers that fill the terms
 * fault their pages in. */
static struct prepared *prepared_alloc(size_t cap) {
    struct prepared *p = malloc(cap * sizeof *p);
    struct index_term *t = malloc(cap * RECORD_MAX_TERMS * sizeof *t);
    struct ts_dict *d = malloc(cap * sizeof *d);
    if (!p || !t || !d) {
        free(p);
        free(t);
        free(d);
        return NULL;
    }
    prepared_link(p, 1, t, d);
    return p;
}

static void prepared_free(struct prepared *p) {
    if (p) {
        free(p[0].terms);
        free(p[0].dict);
        free(p);
    }
}

/* A catch-up batch's blocks are ~49 MiB (16,384 entries of 3,120 bytes), each part a mapping of
 * its own (hub_malloc_setup): made afresh for a batch, their pages are faulted in again. So every
 * batch of up to NODE_BLOCK_ENTRIES gets a block of that size, and up to NODE_SPARE_MAX finished
 * blocks are kept for the next batches (freed when the hub goes idle): any kept block fits any
 * such batch, whatever the sizes of the batches (a catch-up's vary with what a read turn got).
 * Two, because the catch-up pipeline takes a batch's block before the blocks of the two batches
 * ahead of it (being stored, being booked) come back when its stash is full (sync.c,
 * pipeline_add); keeping four (the pipeline's depth) measured no fewer page faults
 * (BENCHMARKS.md). Keeping them adds nothing to the peak: a block is made only when none is
 * kept, so there are never more blocks than were in use at once. A bigger batch (none in hubd)
 * gets a block of its own size, freed when it is given back. */
struct prepared *node_prepared_take(struct node *n, size_t count) {
    count = count ? count : 1;
    struct prepared *p = NULL;
    if (count <= NODE_BLOCK_ENTRIES) {
        struct node_spare *sp = &n->spare;
        pthread_mutex_lock(&sp->mu);
        if (sp->n > 0)
            p = sp->p[--sp->n];
        pthread_mutex_unlock(&sp->mu);
    }
    if (!p && !(p = prepared_alloc(count <= NODE_BLOCK_ENTRIES ? NODE_BLOCK_ENTRIES : count)))
        return NULL;
    struct index_term *t = p[0].terms;
    struct ts_dict *d = p[0].dict;
    memset(p, 0, count * sizeof *p);
    prepared_link(p, count, t, d);
    return p;
}

void node_prepared_give(struct node *n, struct prepared *p, size_t count) {
    if (!p)
        return;
    count = count ? count : 1;
    struct node_spare *sp = &n->spare;
    if (count <= NODE_BLOCK_ENTRIES) { /* a full-size block */
        pthread_mutex_lock(&sp->mu);
        if (sp->n < NODE_SPARE_MAX) {
            sp->p[sp->n++] = p;
            p = NULL;
        }
        pthread_mutex_unlock(&sp->mu);
    }
    prepared_free(p);
}

void node_prepared_release(struct node *n) {
    struct node_spare *sp = &n->spare;
    struct prepared *p[NODE_SPARE_MAX];
    pthread_mutex_lock(&sp->mu);
    size_t k = sp->n;
    memcpy(p, sp->p, k * sizeof *p);
    sp->n = 0;
    pthread_mutex_unlock(&sp->mu);
    for (size_t i = 0; i < k; i++)
        prepared_free(p[i]);
}

int node_prepare(struct prepared *p, int check_payload) {
    struct entry *e = &p->e;
    memset(&p->item, 0, sizeof p->item);
    p->item.e = e;
    if (e->payload && check_payload && e->kind == 5) {
        int rc = record_check_payload(e->kind, e->payload, e->payload_len);
        if (rc != 0)
            return rc;
    }
    if (e->kind == 5 /* retraction */) {
        /* Its payload names what it withdraws: without it the withdrawal would be lost, so a
         * payload-less copy is refused and the complete one can still come. An empty payload
         * (payload_size 0) names nothing and withdraws nothing. */
        if (!e->payload && e->payload_size > 0)
            return HUB_E_PAYLOAD_HASH;
        if (e->payload) {
            int kind;
            if (record_retraction_target(e->payload, e->payload_len, &kind, p->retract_key) != 0)
                return HUB_E_DECODE;
            p->item.retract_kind = kind;
            p->item.retract_key = p->retract_key;
        }
        return HUB_OK;
    }
    if (e->payload) { /* checked (foreign entries), indexed and dated from one decoding */
        struct record_dates d;
        p->dict->len = 0;
        int rc = record_index(e->author, e->kind, e->payload, e->payload_len, check_payload,
                              p->terms, RECORD_MAX_TERMS, &p->item.nterms, &d, p->dict);
        if (rc != 0)
            return rc;
        p->item.terms = p->terms;
        p->item.dict = p->dict->buf;
        p->item.dict_len = p->dict->len;
        p->item.date_start = d.start;
        p->item.date_end = d.end;
    }
    return HUB_OK;
}

void node_notify(struct node *n, struct prepared *p, size_t count, int origin) {
    for (size_t i = 0; i < count; i++) {
        node_count(n, p[i].item.result);
        if (p[i].item.result != HUB_OK)
            continue;
        n->telling_local = p[i].item.local;
        for (size_t l = 0; l < n->nlisteners; l++)
            n->listeners[l].fn(n->listeners[l].arg, &p[i].e, origin);
    }
}

#define NODE_SCREEN_MIN_SLICE 1024 /* entries decoded per thread, at least */
#define NODE_SCREEN_ASYNC_MIN 2048 /* batches from which another thread screens them */

/* Order a batch by (author, seq) so that a feed's entries apply in order. */
static int prep_cmp(const void *a, const void *b) {
    const struct prepared *x = *(struct prepared *const *)a, *y = *(struct prepared *const *)b;
    int c = memcmp(x->e.author, y->e.author, 32);
    if (c)
        return c;
    return x->e.seq < y->e.seq ? -1 : x->e.seq > y->e.seq;
}

struct ingest_job {
    struct node *n;
    const uint8_t *const *wires;
    const size_t *lens;
    struct prepared *p;
    int *results;
    uint64_t now;
};

/* The costly part of a foreign entry, the signature check and the payload work, in parallel
 * slices; entries already refused (or already held) are skipped. */
static void ingest_slice(void *arg, size_t begin, size_t end) {
    struct ingest_job *j = arg;
    for (size_t i = begin; i < end; i++) {
        struct prepared *p = &j->p[i];
        int rc = j->results[i];
        if (rc == 0)
            rc = entry_verify_at(&p->e, j->now, &j->n->id);
        if (rc == 0)
            rc = node_prepare(p, 1);
        p->item.result = rc;
        p->item.repair = p->repair;
        j->results[i] = rc;
    }
}

static void decode_slice(void *arg, size_t begin, size_t end) {
    struct ingest_job *j = arg;
    for (size_t i = begin; i < end; i++)
        j->results[i] = entry_decode(j->wires[i], j->lens[i], &j->p[i].e);
}

/* Cheap checks first, on this thread: decode, policy, and whether the entry is held already.
 * Relayed entries come back from several peers (live push echoes what it just sent), so most
 * duplicates never cost a signature check. A held copy shorter than this one may be a
 * payload-less copy that this one completes: that goes on to the store (restore). */
static void ingest_screen(struct node *n, struct ingest_job *j, size_t count, int apart) {
    const struct entry **es = malloc(count * sizeof *es);
    size_t *held = malloc(count * sizeof *held);
    /* On the event loop, thousands of entries are decoded on every core (its pause is what
     * counts); a thread of its own decodes alone (the cores are busy checking signatures). */
    if (apart)
        decode_slice(j, 0, count);
    else
        par_for(count, NODE_SCREEN_MIN_SLICE, decode_slice, j);
    for (size_t i = 0; i < count; i++) {
        struct prepared *p = &j->p[i];
        int rc = j->results[i];
        if (rc == 0 && n->admit && !n->admit(n->admit_arg, p->e.author))
            rc = HUB_E_POLICY;
        j->results[i] = rc;
        p->item.result = rc;
        if (es)
            es[i] = rc == 0 ? &p->e : NULL;
    }
    if (es && held && store_held_sizes(n->store, es, count, held) == 0) {
        for (size_t i = 0; i < count; i++)
            if (j->results[i] == 0 && held[i] && held[i] >= j->lens[i]) {
                /* A copy of the entry at which a failed deferred check stopped its feed is
                 * checked: correctly signed, it repairs the feed (PROTOCOL.md 9.16 rule 4). */
                if (sigcheck_stopped_at(n->sigcheck, j->p[i].e.author) == j->p[i].e.seq) {
                    j->p[i].repair = 1;
                    continue;
                }
                j->results[i] = HUB_E_DUPLICATE;
                j->p[i].item.result = HUB_E_DUPLICATE;
            }
    }
    free(es);
    free(held);
}

/* Big batches (catch-up) are checked and stored at the same time: workers check signatures
 * from the front of the (sorted) batch while this thread stores, in one write transaction, each
 * entry as soon as it is checked (par_pipe). */
struct ingest_pipe {
    struct prepared **order;
    struct store_item *items;
    uint64_t now;
    const struct identity *self;
    struct store *st;
    struct par_pipe pipe;
    /* catch-up on the hash chain (sigcheck.h): entries inside a run of one feed are stored
     * before their own signatures are checked, once the run's newest one checked */
    uint8_t *defer;
    size_t *anchor;
    struct sigcheck *sc;
    /* per run, at its newest entry's index: RUN_* (run_verdict) */
    atomic_uchar *run;
};

enum { RUN_UNKNOWN, RUN_BUSY, RUN_GOOD, RUN_BAD };

/* What node_prepare and entry_verify_at refuse an entry for (steps 11-15), without filling
 * anything in, so that any worker may ask it of a run's newest entry while another prepares it. */
static int newest_verdict(const struct entry *e, uint64_t now, const struct identity *self) {
    int rc = entry_verify_at(e, now, self);
    if (rc == 0 && e->kind == 5 && !e->payload && e->payload_size > 0)
        rc = HUB_E_PAYLOAD_HASH;
    if (rc == 0 && e->payload)
        rc = record_check_payload(e->kind, e->payload, e->payload_len);
    if (rc == 0 && e->kind == 5 && e->payload) {
        int kind;
        char key[HUB_MAX_RECORD_KEY + 1];
        if (record_retraction_target(e->payload, e->payload_len, &kind, key) != 0)
            rc = HUB_E_DECODE;
    }
    return rc;
}

/* Whether the newest entry of the run ending at a will pass its checks: asked by the worker of
 * the run's first deferred entry, which checks it before the run's other entries are taken up
 * (workers claim items in order, the newest comes last). 1 if it passes. Then the entries inside
 * the run need only the chained checks; else each checks its own signature in its worker, in
 * parallel, rather than every one of them on the store's writer thread (ingest_ready) once the
 * newest failed there: a hostile peer that spoils a run's newest signature costs the hub the
 * checks an ordinary catch-up costs, not a stalled writer. */
static int run_verdict(struct ingest_pipe *ip, size_t a) {
    unsigned char st = RUN_UNKNOWN;
    if (atomic_compare_exchange_strong(&ip->run[a], &st, RUN_BUSY)) {
        st = newest_verdict(&ip->order[a]->e, ip->now, ip->self) == 0 ? RUN_GOOD : RUN_BAD;
        atomic_store(&ip->run[a], st);
    }
    while (st == RUN_BUSY) { /* another worker checks it: one signature check, ~60 us */
        sched_yield();
        st = atomic_load(&ip->run[a]);
    }
    return st == RUN_GOOD;
}

/* The entry's store row, compressed here on a worker rather than by the single writer. Without
 * memory the writer packs it, as before. */
static void ingest_pack_ahead(struct store *st, struct prepared *p) {
    if (p->item.dict_len) /* the words the dictionary holds already: dropped here, not there */
        p->item.dict_len = p->dict->len = store_dict_filter(st, p->dict->buf, p->dict->len);
    static _Thread_local uint8_t scratch[HUB_MAX_ENTRY + 1024];
    if (store_pack_bound(p->e.wire_len) > sizeof scratch)
        return;
    size_t n = store_pack_ahead(st, p->e.wire, p->e.wire_len, scratch);
    if (n == 0 || !(p->row = malloc(n)))
        return;
    memcpy(p->row, scratch, n);
    p->item.row = p->row;
    p->item.row_len = n;
}

static void ingest_check_one(void *arg, size_t i) {
    struct ingest_pipe *ip = arg;
    struct prepared *p = ip->order[i];
    int rc;
    p->own_sig = 0;
    if (ip->defer && ip->defer[i] && run_verdict(ip, ip->anchor[i])) {
        rc = entry_verify_chained(&p->e, ip->now);
    } else if (ip->defer && ip->defer[i]) {
        rc = entry_verify_at(&p->e, ip->now, ip->self); /* the run's newest fails */
        p->own_sig = 1;
    } else if (ip->run && i > 0 && ip->defer[i - 1] && ip->anchor[i - 1] == i &&
               atomic_load(&ip->run[i]) == RUN_GOOD) {
        rc = entry_verify_chained(&p->e, ip->now); /* a run's newest: its signature checked */
    } else {
        rc = entry_verify_at(&p->e, ip->now, ip->self);
    }
    if (rc == 0)
        rc = node_prepare(p, 1);
    if (rc == 0 && ip->st)
        ingest_pack_ahead(ip->st, p);
    p->item.result = rc;
    p->item.repair = p->repair;
}

static int ingest_ready(void *arg, size_t i) {
    struct ingest_pipe *ip = arg;
    par_pipe_wait(&ip->pipe, i);
    struct prepared *p = ip->order[i];
    if (p->item.result != 0)
        return p->item.result;
    p->item.unchecked = 0;
    p->item.check_sig = 0;
    if (ip->defer && ip->defer[i] && !p->own_sig) {
        /* Stands on the chain only if the run's newest entry checked and the entry before this
         * one was just accepted (then this one is the feed's next: no fork, whose evidence
         * must carry a checked signature). Else its own signature is checked by the store,
         * and only if the store would keep it: when an entry of the run was refused, the ones
         * after it are refused E_GAP without a check each on this thread. (When the newest
         * fails, the workers checked them already: own_sig.) */
        par_pipe_wait(&ip->pipe, ip->anchor[i]);
        if (ip->order[ip->anchor[i]]->item.result == 0 && ip->items[i - 1].result == HUB_OK) {
            p->item.unchecked = 1;
            sigcheck_note(ip->sc, p->e.author, p->e.seq, p->e.prev);
        } else {
            p->item.check_sig = 1;
        }
    }
    ip->items[i] = p->item;
    return 0;
}

struct node_ingest_job {
    struct ingest_job j;
    int rc;                  /* of the store */
    struct prepared **order; /* the valid ones, by (author, seq) */
    struct store_item *items;
    size_t count, valid;
    int pipelined, origin;
    int chain;   /* NODE_INGEST_CHAIN */
    int holding; /* has the checker yield while it runs (sigcheck_hold) */
    unsigned store_flags;
    struct ingest_pipe ip;
    int begin_rc;       /* of ingest_screen_job: HUB_E_NOMEM if the workers could not start */
    pthread_t screener; /* runs ingest_screen_job for a big batch ... */
    int screening;      /* ... until ingest_store joins it */
    /* node_ingest_finish_step: results taken over, listeners told of order[0, told) */
    int results_done;
    size_t told, accepted;
};

static void ingest_job_free(struct node_ingest_job *job) {
    if (job->holding)
        sigcheck_hold(job->j.n->sigcheck, -1);
    for (size_t i = 0; job->j.p && i < job->count; i++)
        free(job->j.p[i].row);
    free(job->ip.defer);
    free(job->ip.anchor);
    free(job->ip.run);
    free(job->items);
    free(job->order);
    node_prepared_give(job->j.n, job->j.p, job->count);
    free(job);
}

static void ingest_plan(struct node_ingest_job *job);

/* The first half of a job: screen the batch, check small ones at once (par_for), put the
 * valid ones in (author, seq) order and start the signature workers on big ones. Touches only
 * the job, the store (read) and the admit callback (which must be safe from any thread). */
static void ingest_screen_job(struct node_ingest_job *job, int apart) {
    struct prepared *p = job->j.p;
    int *results = job->j.results;
    size_t count = job->count;
    ingest_screen(job->j.n, &job->j, count, apart);
    size_t screened = 0;
    for (size_t i = 0; i < count; i++)
        screened += results[i] == 0;
    job->pipelined = screened >= NODE_PIPE_MIN && par_threads() > 1;
    if (!job->pipelined)
        par_for(count, NODE_PAR_MIN_SLICE, ingest_slice, &job->j);
    for (size_t i = 0; i < count; i++)
        if ((p[i].queued = results[i] == 0))
            job->order[job->valid++] = &p[i];
    qsort(job->order, job->valid, sizeof *job->order, prep_cmp);
    if (job->pipelined) {
        job->ip = (struct ingest_pipe){
            .order = job->order,
            .items = job->items,
            .now = job->j.now,
            .self = &job->j.n->id,
            .st = job->j.n->store};
        if (job->chain) {
            ingest_plan(job);
            if (job->ip.defer && !job->holding) {
                sigcheck_hold(job->j.n->sigcheck, 1);
                job->holding = 1;
            }
        }
        if (par_pipe_start(&job->ip.pipe, job->valid, ingest_check_one, &job->ip) != 0) {
            job->pipelined = 0;
            job->begin_rc = HUB_E_NOMEM;
        }
    }
}

/* Which entries of a pipelined batch stand on the hash chain (sigcheck_plan). Without memory
 * for the plan every entry is checked in full, as before. */
static void ingest_plan(struct node_ingest_job *job) {
    size_t nv = job->valid;
    const struct entry **es = malloc((nv ? nv : 1) * sizeof *es);
    job->ip.defer = malloc(nv ? nv : 1);
    job->ip.anchor = malloc((nv ? nv : 1) * sizeof *job->ip.anchor);
    job->ip.run = malloc((nv ? nv : 1) * sizeof *job->ip.run);
    job->ip.sc = job->j.n->sigcheck;
    if (!es || !job->ip.defer || !job->ip.anchor || !job->ip.run || !job->ip.sc) {
        free(job->ip.defer);
        free(job->ip.anchor);
        free(job->ip.run);
        job->ip.defer = NULL;
        job->ip.anchor = NULL;
        job->ip.run = NULL;
        free(es);
        return;
    }
    for (size_t i = 0; i < nv; i++)
        atomic_init(&job->ip.run[i], RUN_UNKNOWN);
    for (size_t i = 0; i < nv; i++)
        es[i] = &job->order[i]->e;
    sigcheck_plan(es, nv, job->ip.defer, job->ip.anchor);
    free(es);
}

static void *screener_main(void *arg) {
    par_background();
    ingest_screen_job(arg, 1);
    return NULL;
}

int node_ingest_begin(struct node *n, const uint8_t *const *wires, const size_t *lens, size_t count,
                      int *results, int origin, unsigned flags, struct node_ingest_job **out) {
    *out = NULL;
    n->last_write = hub_mono_ms();
    struct node_ingest_job *job = calloc(1, sizeof *job);
    if (!job)
        return HUB_E_NOMEM;
    struct prepared *p = node_prepared_take(n, count);
    job->order = malloc((count ? count : 1) * sizeof *job->order);
    job->items = malloc((count ? count : 1) * sizeof *job->items);
    job->j = (struct ingest_job){n, wires, lens, p, results, hub_now_ms()};
    job->count = count;
    job->origin = origin;
    job->store_flags = (flags & NODE_INGEST_BULK) ? STORE_BULK : 0;
    job->chain = (flags & NODE_INGEST_CHAIN) != 0;
    if (!p || !job->order || !job->items) {
        ingest_job_free(job);
        return HUB_E_NOMEM;
    }
    /* A catch-up batch of thousands takes this thread tens of milliseconds to decode: another
     * thread does it, and the store joins it (this thread goes on answering). */
    if (count >= NODE_SCREEN_ASYNC_MIN && par_threads() > 1 &&
        pthread_create(&job->screener, NULL, screener_main, job) == 0) {
        job->screening = 1;
        *out = job;
        return HUB_OK;
    }
    ingest_screen_job(job, 0);
    if (job->begin_rc != 0) {
        int rc = job->begin_rc;
        ingest_job_free(job);
        return rc;
    }
    *out = job;
    return HUB_OK;
}

/* The store half of a job; runs on the writer thread or the caller's. Touches only the job
 * and the store (which is safe to call from two threads). */
static void ingest_store(struct node *n, struct node_ingest_job *job) {
    if (job->screening) {
        pthread_join(job->screener, NULL);
        job->screening = 0;
    }
    struct store_item *items = job->items;
    size_t valid = job->valid;
    if (job->begin_rc != 0) {
        job->rc = job->begin_rc; /* nothing stored: the caller drops the batch */
    } else if (job->pipelined) {
        job->rc =
            store_append_ready(n->store, items, valid, ingest_ready, &job->ip, job->store_flags);
        par_pipe_finish(&job->ip.pipe); /* after a store failure some may still be unchecked */
    } else {
        for (size_t i = 0; i < valid; i++)
            items[i] = job->order[i]->item;
        job->rc = valid ? store_append_ready(n->store, items, valid, NULL, NULL, job->store_flags)
                        : HUB_OK;
    }
}

/* A stopped feed's entry got its correctly signed bytes (stored, committed): the checker
 * goes on from there, and the feed is served further as it checks. */
static void ingest_repaired(struct node *n, const struct entry *e) {
    sigcheck_repaired(n->sigcheck, e->author, e->seq);
    char a[HUB_HEX_LEN + 1];
    hub_hex(e->author, 32, a);
    log_info("node",
             "author %s: entry seq %llu received with a signature that verifies; it replaces the "
             "stored one that did not, and the feed is checked and served on from there",
             a, (unsigned long long)e->seq);
}

/* The results of a stored job: counters, results[] and fork logs (no listener yet). */
static void ingest_results(struct node *n, struct node_ingest_job *job) {
    struct prepared **order = job->order, *p = job->j.p;
    struct store_item *items = job->items;
    int *results = job->j.results;
    n->counters.pipelined += job->pipelined; /* here: counters belong to the caller's thread */
    for (size_t i = 0; i < job->count; i++)
        if (!p[i].queued)
            node_count(n, results[i]); /* refused by the screen or the checks */
    if (job->rc != 0)
        return;
    size_t unchecked = 0, own = 0;
    for (size_t i = 0; i < job->valid; i++) {
        own += order[i]->own_sig && items[i].result == HUB_OK;
        order[i]->item.result = items[i].result;
        order[i]->item.local = items[i].local;
        order[i]->item.unchecked = items[i].unchecked && items[i].result == HUB_OK;
        unchecked += order[i]->item.unchecked;
        results[order[i] - p] = items[i].result;
        node_count(n, items[i].result);
        if (items[i].result == HUB_OK)
            job->accepted++;
        if (items[i].repaired)
            ingest_repaired(n, &order[i]->e);
        if (items[i].result == HUB_E_FORK) {
            char a[HUB_HEX_LEN + 1];
            hub_hex(order[i]->e.author, 32, a);
            log_error("node",
                      "fork: author %s signed two different entries at seq %llu; "
                      "feed frozen, evidence kept (see 'hubctl status')",
                      a, (unsigned long long)order[i]->e.seq);
        }
    }
    if (unchecked)
        sigcheck_count_deferred(n->sigcheck, unchecked);
    if (own)
        sigcheck_count_unchained(n->sigcheck, own);
}

int node_ingest_finish_step(struct node *n, struct node_ingest_job *job, size_t max,
                            size_t *accepted, int *rc) {
    if (!job->results_done) {
        n->last_write = hub_mono_ms();
        ingest_results(n, job);
        job->results_done = 1;
    }
    size_t end = job->rc != 0
                     ? job->valid
                     : job->told + (max < job->valid - job->told ? max : job->valid - job->told);
    for (; job->told < end && job->rc == 0; job->told++) {
        const struct prepared *q = job->order[job->told];
        if (q->item.result != HUB_OK)
            continue;
        n->telling_local = q->item.local;
        n->telling_unchecked = q->item.unchecked;
        for (size_t l = 0; l < n->nlisteners; l++)
            n->listeners[l].fn(n->listeners[l].arg, &q->e, job->origin);
        n->telling_unchecked = 0;
    }
    if (job->rc == 0 && job->told < job->valid)
        return 0;
    *accepted = job->accepted;
    *rc = job->rc;
    ingest_job_free(job);
    return 1;
}

int node_ingest_finish(struct node *n, struct node_ingest_job *job, size_t *accepted) {
    int rc;
    *accepted = 0;
    while (!node_ingest_finish_step(n, job, SIZE_MAX, accepted, &rc))
        ;
    return rc;
}

int node_ingest_end(struct node *n, struct node_ingest_job *job, size_t *accepted) {
    ingest_store(n, job);
    return node_ingest_finish(n, job, accepted);
}

/* ---- the writer thread: stores catch-up batches while the event loop goes on ---- */

static void *writer_main(void *arg) {
    par_background();
    struct node *n = arg;
    struct node_writer *w = &n->writer;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->maintain && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->maintain && !w->todo) {
            /* an idle hub's index upkeep: one chunk, here rather than on the event loop */
            pthread_mutex_unlock(&w->mu);
            int more = store_maintain(n->store);
            pthread_mutex_lock(&w->mu);
            w->maintain = 0;
            w->maintain_more = more;
            continue;
        }
        if (!w->todo)
            break; /* stop, and nothing left to store */
        struct node_ingest_job *job = w->todo;
        pthread_mutex_unlock(&w->mu);
        ingest_store(n, job);
        pthread_mutex_lock(&w->mu);
        w->todo = NULL;
        w->done = job;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_start(struct node *n) {
    struct node_writer *w = &n->writer;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->started = pthread_create(&w->tid, NULL, writer_main, n) == 0;
    if (!w->started)
        log_warnx("node", "no writer thread: catch-up batches are stored on the main thread");
}

static void writer_stop(struct node *n) {
    struct node_writer *w = &n->writer;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->tid, NULL);
    }
    if (w->done) { /* stored but never finished by the caller */
        size_t accepted;
        if (node_ingest_finish(n, w->done, &accepted) != 0)
            log_error("node", "a batch stored at shutdown failed; it is fetched again next time");
        w->done = NULL;
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

int node_ingest_submit(struct node *n, struct node_ingest_job *job) {
    struct node_writer *w = &n->writer;
    pthread_mutex_lock(&w->mu);
    int busy = w->todo || w->done;
    if (!busy && w->started) {
        w->todo = job;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (busy)
        return HUB_E_BUSY;
    if (!w->started) { /* no thread: store here, hand it back as done */
        ingest_store(n, job);
        pthread_mutex_lock(&w->mu);
        w->done = job;
        pthread_mutex_unlock(&w->mu);
    }
    return HUB_OK;
}

struct node_ingest_job *node_ingest_done(struct node *n, int wait) {
    struct node_writer *w = &n->writer;
    pthread_mutex_lock(&w->mu);
    while (wait && w->todo)
        pthread_cond_wait(&w->cv, &w->mu);
    struct node_ingest_job *job = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->mu);
    return job;
}

int node_ingest(struct node *n, const uint8_t *const *wires, const size_t *lens, size_t count,
                int *results, size_t *accepted, int origin) {
    struct node_ingest_job *job;
    *accepted = 0;
    int rc = node_ingest_begin(n, wires, lens, count, results, origin, 0, &job);
    return rc == 0 ? node_ingest_end(n, job, accepted) : rc;
}

void node_tick(struct node *n, uint64_t now_ms) {
    uint64_t mono = hub_mono_ms();
    self_tick(n, mono);
    /* Idle: the writer thread merges the index tail, a chunk (~0.1 s) at a time, while this
     * thread goes on answering (without a writer thread, here, a chunk per turn). */
    if (mono - n->last_write >= NODE_IDLE_MS && mono >= n->next_maintain) {
        node_prepared_release(n); /* the blocks kept for the next batch (the store's: maintain) */
        struct node_writer *w = &n->writer;
        if (!w->started) {
            (void)store_maintain(n->store);
        } else {
            pthread_mutex_lock(&w->mu);
            if (!w->todo && !w->maintain) {
                /* ask again at once while chunks are left, else look again in a second */
                if (!w->maintain_more)
                    n->next_maintain = mono + NODE_IDLE_MS;
                w->maintain_more = 0;
                w->maintain = 1;
                pthread_cond_broadcast(&w->cv);
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
    if (mono < n->next_sweep)
        return;
    n->next_sweep = mono + (uint64_t)n->cfg.sweep_interval_s * 1000;
    size_t purged = 0, total = 0;
    do {
        if (store_sweep_expired(n->store, now_ms, NODE_SWEEP_BATCH, &purged) != 0)
            break;
        total += purged;
    } while (purged == NODE_SWEEP_BATCH);
    if (total)
        log_info("store", "expired %zu record(s): hidden and payloads purged", total);
}

/* ---- the hub's own feed as other hubs hold it: start-up recovery, another hub with our key ----
 */

#define NODE_KEY_IN_USE_LOG_MS 60000 /* the error is repeated at most this often */

/* Nobody else can hold entries of a key generated just now, and a hub without a configured peer
 * has nobody to ask (a peer that dials in later is not waited for): those publish at once. */
static void self_start(struct node *n, int created) {
    struct node_self *me = &n->self;
    memset(me, 0, sizeof *me);
    struct feed_head h;
    if (store_feed_head(n->store, n->id.pk, &h) != 0)
        h.seq = 0;
    if (created || n->cfg.own_recovery_wait_s == 0 || n->cfg.npeers == 0) {
        me->state = NODE_SELF_READY;
        return;
    }
    me->state = NODE_SELF_RECOVERING;
    me->wait_until_ms = hub_mono_ms() + (uint64_t)n->cfg.own_recovery_wait_s * 1000;
    log_info("node",
             "own feed at seq %llu here: publishing waits until a peer has compared it (at most "
             "%u s, [hub] own_recovery_wait), in case this data dir is behind (a restored backup)",
             (unsigned long long)h.seq, n->cfg.own_recovery_wait_s);
}

static void self_tick(struct node *n, uint64_t mono) {
    struct node_self *me = &n->self;
    if (me->state != NODE_SELF_RECOVERING || mono < me->wait_until_ms)
        return;
    me->state = NODE_SELF_READY;
    log_warnx("node",
              "no peer compared our own feed within %u s ([hub] own_recovery_wait): publishing "
              "without it; if this data dir is an old backup, the next publish forks the feed",
              n->cfg.own_recovery_wait_s);
}

void node_self_info(const struct node *n, struct node_self_info *out) {
    const struct node_self *me = &n->self;
    memset(out, 0, sizeof *out);
    out->state = me->key_in_use ? NODE_SELF_KEY_IN_USE : (enum node_self_state)me->state;
    uint64_t mono = hub_mono_ms();
    if (me->state == NODE_SELF_RECOVERING && me->wait_until_ms > mono)
        out->wait_left_ms = me->wait_until_ms - mono;
    out->recovered = me->recovered;
    out->rec_lo = me->rec_lo;
    out->rec_hi = me->rec_hi;
    memcpy(out->rec_peer, me->rec_peer, 32);
    out->key_in_use = me->key_in_use;
    out->use_lo = me->use_lo;
    out->use_hi = me->use_hi;
    out->use_ms = me->use_ms;
    memcpy(out->use_peer, me->use_peer, 32);
}

int node_self_recovering(const struct node *n) {
    return n->self.state == NODE_SELF_RECOVERING && !n->self.key_in_use;
}

void node_self_round(struct node *n, const uint8_t peer[32]) {
    struct node_self *me = &n->self;
    if (me->state != NODE_SELF_RECOVERING)
        return;
    me->state = NODE_SELF_READY;
    struct feed_head h;
    if (store_feed_head(n->store, n->id.pk, &h) != 0)
        h.seq = 0;
    char p[HUB_HEX_LEN + 1], r[HUB_HEX_LEN + 1];
    hub_short(peer, p);
    if (me->recovered) {
        hub_short(me->rec_peer, r);
        log_info("node",
                 "recovered own feed seq %llu..%llu from peer %s; head seq %llu, publishing",
                 (unsigned long long)me->rec_lo, (unsigned long long)me->rec_hi, r,
                 (unsigned long long)h.seq);
    } else {
        log_info("node",
                 "own feed compared with peer %s: head seq %llu, nothing to recover; "
                 "publishing",
                 p, (unsigned long long)h.seq);
    }
}

void node_self_foreign(struct node *n, const uint8_t peer[32], uint64_t lo, uint64_t hi, int result,
                       int asked_at_start) {
    struct node_self *me = &n->self;
    /* Entries that chain onto our head in the start-up window (or answer a Want asked in it)
     * are our own, from before a restore; one that contradicts our chain (E_PREV, E_FORK) is
     * another history. */
    if ((me->state == NODE_SELF_RECOVERING || asked_at_start) && !me->key_in_use &&
        (result == HUB_OK || result == HUB_E_GAP)) {
        if (result != HUB_OK)
            return; /* the missing ones are being fetched */
        if (me->state != NODE_SELF_RECOVERING) {
            char p[HUB_HEX_LEN + 1];
            hub_short(peer, p);
            log_info("node", "recovered own feed seq %llu..%llu from peer %s (asked at start-up)",
                     (unsigned long long)lo, (unsigned long long)hi, p);
        }
        if (!me->recovered) {
            me->recovered = 1;
            me->rec_lo = lo;
            memcpy(me->rec_peer, peer, 32);
        }
        if (lo < me->rec_lo)
            me->rec_lo = lo;
        if (hi > me->rec_hi)
            me->rec_hi = hi;
        return;
    }
    uint64_t mono = hub_mono_ms();
    int first = !me->key_in_use;
    if (first) {
        me->key_in_use = 1;
        me->use_lo = lo;
        me->use_hi = hi;
        me->use_ms = hub_now_ms();
        me->use_result = result;
        memcpy(me->use_peer, peer, 32);
    } else {
        if (lo < me->use_lo)
            me->use_lo = lo;
        if (hi > me->use_hi)
            me->use_hi = hi;
    }
    if (!first && mono - me->use_logged_ms < NODE_KEY_IN_USE_LOG_MS)
        return;
    me->use_logged_ms = mono;
    char p[HUB_HEX_LEN + 1];
    hub_short(peer, p);
    log_error("node",
              "another hub is publishing with this hub's key: peer %s sent entries seq "
              "%llu..%llu of our own feed that this process did not write (%s); publishing "
              "stopped until the other copy is shut down and this hub restarted (README: "
              "backups and the hub's identity)",
              p, (unsigned long long)lo, (unsigned long long)hi, hub_strerror(result));
}
