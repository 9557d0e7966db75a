/* evpar.c: see evpar.h.
 *
 * Items are claimed without a lock: the job's generation, the next item to claim and the items
 * available are one 64-bit word, changed by compare-and-swap, so a claim is valid only for the
 * job it was read in and only below what was made available (a lock per row made the two
 * threads put each other to sleep ten times a query). The helper spins a little while it waits
 * for the next row or the next query before it sleeps: a wake-up costs more than a row. */
#include "evpar.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* How long the helper looks for work before it sleeps: about the gap between two queries of a
 * client that sends the next as soon as it has read an answer. */
#define EVPAR_SPIN_NS 100000
/* Polls between two looks at the clock while spinning. */
#define EVPAR_SPIN_POLLS 64

/* state: generation (32 bits) | next item to claim (16) | items available (16) */
#define ST_GEN(s) ((s) >> 32)
#define ST_NEXT(s) (((s) >> 16) & 0xffffu)
#define ST_AVAIL(s) ((s) & 0xffffu)

struct evpar {
    pthread_t tid;
    _Atomic uint64_t state;
    atomic_size_t done; /* items of the job finished */
    atomic_int sleeping; /* the helper waits on work */
    atomic_int stop;
    pthread_mutex_t mu; /* only for the helper's sleep */
    pthread_cond_t work;
    void (*fn)(void *ctx, size_t i); /* written before the job's generation is published */
    void *ctx;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 1 and *i when an item is claimed. */
static int claim(struct evpar *p, size_t *i) {
    uint64_t s = atomic_load(&p->state);
    while (ST_NEXT(s) < ST_AVAIL(s)) {
        if (atomic_compare_exchange_weak(&p->state, &s, s + (1u << 16))) {
            *i = ST_NEXT(s);
            return 1;
        }
    }
    return 0;
}

static int claimable(struct evpar *p) {
    uint64_t s = atomic_load(&p->state);
    return ST_NEXT(s) < ST_AVAIL(s);
}

static void wake(struct evpar *p) {
    if (atomic_load(&p->sleeping)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *evpar_thread(void *arg) {
    struct evpar *p = arg;
    while (!atomic_load(&p->stop)) {
        size_t i;
        if (claim(p, &i)) {
            p->fn(p->ctx, i);
            atomic_fetch_add(&p->done, 1);
            continue;
        }
        uint64_t until = now_ns() + EVPAR_SPIN_NS;
        int found = 0;
        do {
            for (int k = 0; k < EVPAR_SPIN_POLLS && !(found = claimable(p)); k++)
                cpu_relax();
        } while (!found && !atomic_load(&p->stop) && now_ns() < until);
        if (found)
            continue;
        /* Sleep. sleeping is set before the last look, and evpar_avail publishes items before
         * it looks at sleeping (both sequentially consistent): one of the two sees the other. */
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->sleeping, 1);
        while (!claimable(p) && !atomic_load(&p->stop))
            pthread_cond_wait(&p->work, &p->mu);
        atomic_store(&p->sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

struct evpar *evpar_new(void) {
    struct evpar *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    atomic_init(&p->state, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    if (pthread_create(&p->tid, NULL, evpar_thread, p) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

void evpar_begin(struct evpar *p, void (*fn)(void *ctx, size_t i), void *ctx) {
    p->fn = fn; /* no item of the last job runs (evpar_end waited): nothing reads these now */
    p->ctx = ctx;
    atomic_store(&p->done, 0);
    uint64_t gen = ST_GEN(atomic_load(&p->state)) + 1;
    atomic_store(&p->state, (gen & 0xffffffffu) << 32); /* a claim of the last job now fails */
}

void evpar_avail(struct evpar *p, size_t n) {
    if (n > EVPAR_MAX_ITEMS)
        n = EVPAR_MAX_ITEMS;
    uint64_t s = atomic_load(&p->state);
    while (ST_AVAIL(s) < n &&
           !atomic_compare_exchange_weak(&p->state, &s, (s & ~(uint64_t)0xffffu) | n))
        ;
    wake(p);
}

void evpar_final(struct evpar *p, size_t n) {
    evpar_avail(p, n);
}

int evpar_claim(struct evpar *p, size_t *i) {
    return claim(p, i);
}

void evpar_done(struct evpar *p) {
    atomic_fetch_add(&p->done, 1);
}

/* Spins, then yields, until cond(arg, i): what is waited for is one item the helper is on. */
static void wait_for(int (*cond)(void *, size_t), void *arg, size_t i) {
    for (unsigned k = 0; !cond(arg, i); k++) {
        if (k < 1000)
            cpu_relax();
        else
            sched_yield();
    }
}

void evpar_wait(struct evpar *p, int (*ready)(void *ctx, size_t i), size_t i) {
    wait_for(ready, p->ctx, i);
}

static int all_done(void *arg, size_t n) {
    struct evpar *p = arg;
    return atomic_load(&p->done) >= n;
}

void evpar_end(struct evpar *p, size_t n) {
    evpar_final(p, n);
    size_t i;
    while (claim(p, &i)) {
        p->fn(p->ctx, i);
        atomic_fetch_add(&p->done, 1);
    }
    wait_for(all_done, p, n > EVPAR_MAX_ITEMS ? EVPAR_MAX_ITEMS : n);
}

void evpar_run(struct evpar *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx) {
    if (p == NULL || n > EVPAR_MAX_ITEMS) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    evpar_begin(p, fn, ctx);
    evpar_end(p, n);
}

void evpar_free(struct evpar *p) {
    if (p == NULL)
        return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->tid, NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
