/* evpar.c: see evpar.h. Every item is claimed under one mutex: items are tens of microseconds
 * of work, so a lock per item is noise, and it keeps the hand-over simple to reason about (the
 * caller's ctx is only used while its job is open, and evpar_end waits for the helper's last
 * item before the job closes). */
#include "evpar.h"

#include <pthread.h>
#include <stdlib.h>

struct evpar {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the helper waits here for items */
    pthread_cond_t idle; /* the caller waits here for the helper's last item */
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n;    /* items that may be claimed: [0, n) */
    size_t next; /* the next item to claim */
    size_t done; /* items finished */
    int final;   /* n is the job's total (evpar_end) */
    int waiting;  /* the helper waits on work */
    int watching; /* the caller waits on idle for an item (evpar_wait) */
    int stop;
};

static void *evpar_thread(void *arg) {
    struct evpar *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next >= p->n) {
            p->waiting = 1;
            pthread_cond_wait(&p->work, &p->mu);
            p->waiting = 0;
        }
        if (p->stop)
            break;
        size_t i = p->next++;
        void (*fn)(void *, size_t) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        if ((++p->done == p->n && p->final) || p->watching)
            pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct evpar *evpar_new(void) {
    struct evpar *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    if (pthread_create(&p->tid, NULL, evpar_thread, p) != 0) {
        pthread_cond_destroy(&p->idle);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

void evpar_begin(struct evpar *p, void (*fn)(void *ctx, size_t i), void *ctx) {
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = p->next = p->done = 0;
    p->final = 0;
    pthread_mutex_unlock(&p->mu);
}

void evpar_avail(struct evpar *p, size_t n) {
    pthread_mutex_lock(&p->mu);
    if (n > p->n) {
        p->n = n;
        if (p->waiting)
            pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->mu);
}

void evpar_final(struct evpar *p, size_t n) {
    pthread_mutex_lock(&p->mu);
    p->n = n;
    p->final = 1;
    if (p->waiting && p->next < n)
        pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

int evpar_claim(struct evpar *p, size_t *i) {
    pthread_mutex_lock(&p->mu);
    int got = p->next < p->n;
    if (got)
        *i = p->next++;
    pthread_mutex_unlock(&p->mu);
    return got;
}

void evpar_done(struct evpar *p) {
    pthread_mutex_lock(&p->mu);
    p->done++;
    pthread_mutex_unlock(&p->mu);
}

void evpar_wait(struct evpar *p, int (*ready)(void *ctx, size_t i), size_t i) {
    pthread_mutex_lock(&p->mu);
    p->watching = 1;
    while (!ready(p->ctx, i))
        pthread_cond_wait(&p->idle, &p->mu);
    p->watching = 0;
    pthread_mutex_unlock(&p->mu);
}

void evpar_end(struct evpar *p, size_t n) {
    evpar_final(p, n);
    pthread_mutex_lock(&p->mu);
    while (p->next < n) {
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, i); /* only this thread changes fn and ctx */
        pthread_mutex_lock(&p->mu);
        p->done++;
    }
    while (p->done < n) /* the helper's last item */
        pthread_cond_wait(&p->idle, &p->mu);
    p->n = p->next = p->done = 0; /* nothing to claim until the next job */
    p->final = 0;
    pthread_mutex_unlock(&p->mu);
}

void evpar_run(struct evpar *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx) {
    if (p == NULL) {
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
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->tid, NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
