/* sigcheck.c: catch-up on the hash chain (PROTOCOL.md 9.16): which entries of a batch may be
 * stored before their own signatures are checked (sigcheck_plan), and the thread that checks
 * them afterwards, with the per-feed bound below which a feed may be served meanwhile. */
#include "sigcheck.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "par.h"

#define SIGCHECK_READ 1024  /* entries verified inside one read transaction of the checker */
#define SIGCHECK_UPDATES 64 /* feeds whose progress one write of the checker carries */

void sigcheck_plan(const struct entry *const *order, size_t n, uint8_t *defer, size_t *anchor) {
    /* link[i]: order[i + 1] is order[i]'s successor in the feed */
    for (size_t i = 0; i < n; i++) {
        defer[i] = 0;
        anchor[i] = i;
    }
    if (n < 3)
        return;
    size_t end = n - 1; /* the newest entry of the run that order[i] is in, going backwards */
    int next_links = 0; /* order[i] -> order[i + 1] */
    for (size_t i = n - 1; i-- > 0;) {
        const struct entry *a = order[i], *b = order[i + 1];
        int links = a && b && memcmp(a->author, b->author, HUB_KEY_LEN) == 0 &&
                    b->seq == a->seq + 1 && memcmp(b->prev, a->id, HUB_ID_LEN) == 0;
        if (!links)
            end = i;
        /* order[i + 1] is inside a run when it links to both of its neighbours */
        if (links && next_links) {
            defer[i + 1] = 1;
            anchor[i + 1] = end;
        }
        next_links = links;
    }
}

struct pend {
    uint8_t author[32];
    uint64_t lo; /* the lowest unchecked seq (STORE_SIGPEND_BAD: its check failed) */
    uint8_t before[32];
    uint64_t notes;    /* sigcheck_note calls, so the checker sees notes made while it worked */
    uint64_t noted_lo; /* the lowest seq noted since the checker read this row (0: none) */
    uint8_t noted_before[32];
    uint64_t retry_ms; /* nothing readable at lo: not before this (monotonic ms) */
};

struct sigcheck {
    struct store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pend *v; /* in author order */
    size_t n, cap, rr;
    int stop, started;
    pthread_t tid;
    uint64_t gen; /* sigcheck_generation */
    uint64_t deferred, checked, bad;
    int held;              /* catch-up batches in the pipeline (sigcheck_hold) */
    uint64_t last_pass_ms; /* when the checker last started a pass */
    uint64_t repaired; /* stopped feeds repaired from a correctly signed copy (sigcheck_repaired) */
    uint64_t unchained; /* sigcheck_count_unchained */
};

_Static_assert(offsetof(struct pend, author) == 0, "pend_pos searches by the first member");

static size_t pend_pos(const struct sigcheck *sc, const uint8_t author[32], int *found) {
    return hub_key_pos(sc->v, sc->n, sizeof *sc->v, author, found); /* author comes first */
}

/* Under mu. NULL when out of memory (then the caller keeps what it can: see sigcheck_note). */
static struct pend *pend_add(struct sigcheck *sc, const uint8_t author[32]) {
    int found;
    size_t at = pend_pos(sc, author, &found);
    if (found)
        return &sc->v[at];
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 64;
        struct pend *v = realloc(sc->v, cap * sizeof *v);
        if (!v)
            return NULL;
        sc->v = v;
        sc->cap = cap;
    }
    memmove(&sc->v[at + 1], &sc->v[at], (sc->n - at) * sizeof *sc->v);
    sc->n++;
    memset(&sc->v[at], 0, sizeof sc->v[at]);
    memcpy(sc->v[at].author, author, 32);
    return &sc->v[at];
}

static void pend_remove(struct sigcheck *sc, size_t at) {
    memmove(&sc->v[at], &sc->v[at + 1], (sc->n - at - 1) * sizeof *sc->v);
    sc->n--;
}

void sigcheck_note(struct sigcheck *sc, const uint8_t author[32], uint64_t seq,
                   const uint8_t before[32]) {
    pthread_mutex_lock(&sc->mu);
    struct pend *p = pend_add(sc, author);
    if (!p) {
        /* Out of memory: nothing may be served that this cannot bound. The batch is being
         * stored; stop the whole process rather than relay unchecked signatures. */
        fatalx("sigcheck", "out of memory noting an unchecked feed");
    }
    if (p->lo == 0 || (!(p->lo & STORE_SIGPEND_BAD) && seq < p->lo)) {
        p->lo = seq;
        memcpy(p->before, before, 32);
    }
    if (p->noted_lo == 0 || seq < p->noted_lo) {
        p->noted_lo = seq;
        memcpy(p->noted_before, before, 32);
    }
    p->notes++;
    p->retry_ms = 0;
    sc->gen++;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

uint64_t sigcheck_generation(struct sigcheck *sc) {
    pthread_mutex_lock(&sc->mu);
    uint64_t g = sc->gen;
    pthread_mutex_unlock(&sc->mu);
    return g;
}

uint64_t sigcheck_servable(struct sigcheck *sc, const uint8_t author[32], uint8_t before[32]) {
    pthread_mutex_lock(&sc->mu);
    int found;
    size_t at = pend_pos(sc, author, &found);
    uint64_t r = UINT64_MAX;
    if (found) {
        r = (sc->v[at].lo & ~STORE_SIGPEND_BAD) - 1;
        memcpy(before, sc->v[at].before, 32);
    }
    pthread_mutex_unlock(&sc->mu);
    return r;
}

void sigcheck_count_deferred(struct sigcheck *sc, uint64_t n) {
    pthread_mutex_lock(&sc->mu);
    sc->deferred += n;
    pthread_mutex_unlock(&sc->mu);
}

void sigcheck_count_unchained(struct sigcheck *sc, uint64_t n) {
    pthread_mutex_lock(&sc->mu);
    sc->unchained += n;
    pthread_mutex_unlock(&sc->mu);
}

void sigcheck_stats(struct sigcheck *sc, struct sigcheck_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&sc->mu);
    out->deferred = sc->deferred;
    out->checked = sc->checked;
    out->bad = sc->bad;
    out->repaired = sc->repaired;
    out->unchained = sc->unchained;
    out->feeds = sc->n;
    for (size_t i = 0; i < sc->n; i++)
        out->feeds_bad += (sc->v[i].lo & STORE_SIGPEND_BAD) != 0;
    pthread_mutex_unlock(&sc->mu);
}

uint64_t sigcheck_stopped_at(struct sigcheck *sc, const uint8_t author[32]) {
    pthread_mutex_lock(&sc->mu);
    int found;
    size_t at = pend_pos(sc, author, &found);
    uint64_t r = 0;
    if (found && (sc->v[at].lo & STORE_SIGPEND_BAD))
        r = sc->v[at].lo & ~STORE_SIGPEND_BAD;
    pthread_mutex_unlock(&sc->mu);
    return r;
}

void sigcheck_repaired(struct sigcheck *sc, const uint8_t author[32], uint64_t seq) {
    pthread_mutex_lock(&sc->mu);
    int found;
    size_t at = pend_pos(sc, author, &found);
    if (found && sc->v[at].lo == (seq | STORE_SIGPEND_BAD)) {
        /* as the store's row reads now: seq unchecked (with its new bytes), before unchanged */
        struct pend *p = &sc->v[at];
        p->lo = seq;
        p->retry_ms = 0;
        sc->repaired++;
        sc->gen++;
        pthread_cond_signal(&sc->cv);
    }
    pthread_mutex_unlock(&sc->mu);
}

int sigcheck_bad_walk(struct sigcheck *sc,
                      int (*cb)(const uint8_t author[32], uint64_t seq, void *arg), void *arg) {
    pthread_mutex_lock(&sc->mu);
    int rc = 0;
    for (size_t i = 0; i < sc->n && rc == 0; i++)
        if (sc->v[i].lo & STORE_SIGPEND_BAD)
            rc = cb(sc->v[i].author, sc->v[i].lo & ~STORE_SIGPEND_BAD, arg);
    pthread_mutex_unlock(&sc->mu);
    return rc;
}

/* ---- the checker thread ---- */

struct check_read {
    uint64_t next;       /* the seq expected next */
    uint8_t last_id[32]; /* id of entry next - 1 */
    uint64_t checked, bad_seq;
    /* the headers and signatures read (copied out, so that no read transaction, and no lock
     * against a map resize, is held while this thread, at nice 19, waits for a core) */
    struct check_item {
        uint8_t header[HUB_MAX_HEADER];
        size_t header_len;
        uint8_t sig[HUB_SIG_LEN];
        uint8_t author[HUB_KEY_LEN], id[HUB_ID_LEN];
        uint64_t seq;
    } * items;
    uint8_t *ok; /* check_slice's result per item */
    size_t n;
};

static int copy_cb(const uint8_t *wire, size_t len, void *arg) {
    struct check_read *r = arg;
    struct entry e;
    if (r->n == SIGCHECK_READ || entry_decode(wire, len, &e) != 0 || e.seq != r->next + r->n ||
        e.header_len > HUB_MAX_HEADER)
        return 1; /* cannot be: stored entries decode and chain; stop, and look again later */
    struct check_item *it = &r->items[r->n++];
    memcpy(it->header, e.header, e.header_len);
    it->header_len = e.header_len;
    memcpy(it->sig, e.sig, HUB_SIG_LEN);
    memcpy(it->author, e.author, HUB_KEY_LEN);
    memcpy(it->id, e.id, HUB_ID_LEN);
    it->seq = e.seq;
    return 0;
}

#define SIGCHECK_MIN_SLICE 128 /* signatures per thread at least (~5 ms: a thread is ~20 us) */

/* Verifies items [begin, end) of a read, each on its own: ok[i] = 1 when it checks. */
static void check_slice(void *arg, size_t begin, size_t end) {
    struct check_read *r = arg;
    for (size_t i = begin; i < end; i++) {
        struct check_item *it = &r->items[i];
        struct entry e;
        memset(&e, 0, sizeof e);
        memcpy(e.author, it->author, HUB_KEY_LEN);
        e.header = it->header;
        e.header_len = it->header_len;
        e.sig = it->sig;
        r->ok[i] = entry_verify_sig(&e, NULL) == 0;
    }
}

/* Checks what copy_cb read, on every core (the checker's threads all run at its low
 * priority), then takes the results in seq order up to the first signature that fails. */
static void check_items(struct check_read *r) {
    if (r->n == 0)
        return;
    par_for(r->n, SIGCHECK_MIN_SLICE, check_slice, r);
    for (size_t i = 0; i < r->n; i++) {
        if (!r->ok[i]) {
            r->bad_seq = r->items[i].seq;
            return;
        }
        memcpy(r->last_id, r->items[i].id, 32);
        r->next++;
        r->checked++;
    }
}

static uint64_t mono_ms(void) {
    return hub_mono_ms();
}

/* One pass: reads and checks up to SIGCHECK_CHUNK entries over the feeds that wait, then
 * writes the progress in one transaction and brings the table in memory up to it. 1 if it did
 * something. */
static int check_pass(struct sigcheck *sc) {
    struct store_sigpend *u = calloc(SIGCHECK_UPDATES, sizeof *u);
    uint64_t *notes = calloc(SIGCHECK_UPDATES, sizeof *notes);
    if (!u || !notes) {
        free(u);
        free(notes);
        return 0;
    }
    struct check_item *items = malloc(SIGCHECK_READ * sizeof *items);
    uint8_t *ok = malloc(SIGCHECK_READ);
    if (!items || !ok) {
        free(items);
        free(ok);
        free(u);
        free(notes);
        return 0;
    }
    size_t nu = 0, total = 0;
    uint64_t now = mono_ms();
    pthread_mutex_lock(&sc->mu);
    size_t tries = sc->n;
    while (nu < SIGCHECK_UPDATES && total < SIGCHECK_CHUNK && tries-- > 0 && !sc->stop) {
        if (sc->rr >= sc->n)
            sc->rr = 0;
        struct pend *p = &sc->v[sc->rr++];
        if ((p->lo & STORE_SIGPEND_BAD) || p->retry_ms > now)
            continue;
        struct store_sigpend *w = &u[nu];
        memcpy(w->author, p->author, 32);
        w->expect = p->lo;
        struct check_read r = {.next = p->lo, .items = items, .ok = ok};
        memcpy(r.last_id, p->before, 32);
        notes[nu] = p->notes;
        p->noted_lo = 0;
        pthread_mutex_unlock(&sc->mu);
        int rc = store_sig_range(sc->st, w->author, w->expect, SIGCHECK_READ, copy_cb, &r);
        if (rc >= 0)
            check_items(&r);
        pthread_mutex_lock(&sc->mu);
        if (rc < 0 || (r.checked == 0 && r.bad_seq == 0)) {
            /* not readable yet (the batch that noted it is not committed) or a read error */
            int found;
            size_t at = pend_pos(sc, w->author, &found);
            if (found)
                sc->v[at].retry_ms = now + SIGCHECK_IDLE_MS;
            continue;
        }
        sc->checked += r.checked + (r.bad_seq != 0);
        total += r.checked + 1;
        if (r.bad_seq) {
            sc->bad++;
            w->to = r.bad_seq | STORE_SIGPEND_BAD;
            char a[HUB_HEX_LEN + 1];
            hub_hex(w->author, 32, a);
            log_error("sigcheck",
                      "author %s: the signature of entry seq %llu, stored on the hash chain, does "
                      "not verify (E_SIGNATURE); the feed is served up to seq %llu only, until "
                      "a correctly signed copy comes from a peer",
                      a, (unsigned long long)r.bad_seq, (unsigned long long)(r.bad_seq - 1));
        } else {
            w->to = r.next;
        }
        memcpy(w->to_before, r.last_id, 32);
        nu++;
    }
    pthread_mutex_unlock(&sc->mu);
    int did = nu > 0;
    if (nu > 0) {
        int rc = store_sigpend_advance(sc->st, u, nu);
        if (rc != 0) {
            log_warnx("sigcheck", "cannot record checked signatures: %s; checked again later",
                      hub_strerror(rc));
            nu = 0;
        }
    }
    pthread_mutex_lock(&sc->mu);
    if (nu)
        sc->gen++;
    for (size_t i = 0; i < nu; i++) {
        int found;
        size_t at = pend_pos(sc, u[i].author, &found);
        if (!found)
            continue;
        struct pend *p = &sc->v[at];
        if (p->notes == notes[i]) {
            if (u[i].now == 0) {
                pend_remove(sc, at);
                continue;
            }
            p->lo = u[i].now;
            memcpy(p->before, u[i].now_before, 32);
        } else if (u[i].now != 0) {
            /* noted meanwhile: the row already covered the note (it was lower) */
            p->lo = u[i].now;
            memcpy(p->before, u[i].now_before, 32);
        } else if (p->noted_lo) {
            /* the row went (all checked up to the old head); the note's batch writes its own */
            p->lo = p->noted_lo;
            memcpy(p->before, p->noted_before, 32);
        }
    }
    pthread_mutex_unlock(&sc->mu);
    free(items);
    free(ok);
    free(u);
    free(notes);
    return did;
}

/* While catch-up batches are in the pipeline, waits until SIGCHECK_YIELD_MS have passed since
 * the last pass (or the batches are done, or the hub stops). */
static void check_yield(struct sigcheck *sc) {
    pthread_mutex_lock(&sc->mu);
    while (sc->held > 0 && !sc->stop && mono_ms() - sc->last_pass_ms < SIGCHECK_YIELD_MS) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    }
    sc->last_pass_ms = mono_ms();
    pthread_mutex_unlock(&sc->mu);
}

void sigcheck_hold(struct sigcheck *sc, int delta) {
    if (!sc)
        return;
    pthread_mutex_lock(&sc->mu);
    sc->held += delta;
    if (sc->held <= 0) {
        sc->held = 0;
        pthread_cond_signal(&sc->cv); /* the checks can go on at once */
    }
    pthread_mutex_unlock(&sc->mu);
}

static void *check_main(void *arg) {
    struct sigcheck *sc = arg;
    id_t tid = (id_t)syscall(SYS_gettid);
    (void)setpriority(PRIO_PROCESS, tid, SIGCHECK_NICE); /* failure only costs latency */
    for (;;) {
        pthread_mutex_lock(&sc->mu);
        int stop = sc->stop;
        pthread_mutex_unlock(&sc->mu);
        if (stop)
            break;
        check_yield(sc);
        if (check_pass(sc))
            continue;
        pthread_mutex_lock(&sc->mu);
        if (!sc->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)SIGCHECK_IDLE_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            (void)pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
        }
        pthread_mutex_unlock(&sc->mu);
    }
    return NULL;
}

static int load_cb(const uint8_t author[32], uint64_t lo, const uint8_t before[32], void *arg) {
    struct sigcheck *sc = arg;
    struct pend *p = pend_add(sc, author);
    if (!p)
        return HUB_E_NOMEM;
    p->lo = lo;
    memcpy(p->before, before, 32);
    return 0;
}

int sigcheck_open(struct store *st, struct sigcheck **out) {
    *out = NULL;
    struct sigcheck *sc = calloc(1, sizeof *sc);
    if (!sc)
        return HUB_E_NOMEM;
    sc->st = st;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    int rc = store_sigpend_load(st, load_cb, sc);
    if (rc < 0) {
        sigcheck_destroy(&sc);
        return rc;
    }
    if (sc->n)
        log_info("sigcheck", "%zu feed(s) hold entries whose signatures are still to be checked",
                 sc->n);
    if (pthread_create(&sc->tid, NULL, check_main, sc) != 0) {
        sigcheck_destroy(&sc);
        return HUB_E_NOMEM;
    }
    sc->started = 1;
    *out = sc;
    return HUB_OK;
}

void sigcheck_destroy(struct sigcheck **scp) {
    struct sigcheck *sc = *scp;
    if (!sc)
        return;
    if (sc->started) {
        pthread_mutex_lock(&sc->mu);
        sc->stop = 1;
        pthread_cond_broadcast(&sc->cv);
        pthread_mutex_unlock(&sc->mu);
        pthread_join(sc->tid, NULL);
    }
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    free(sc->v);
    free(sc);
    *scp = NULL;
}
