/* evpar.c: see evpar.h. Every item is claimed under one mutex: items are tens of microseconds
 * of work, so a lock per item is noise, and it keeps the hand-over simple to reason about (the
 * caller's ctx is only used while the caller waits for its items). */
#include "evpar.h"

#include <pthread.h>
#include <stdlib.h>

struct evpar {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the helper waits here for a job */
    pthread_cond_t idle; /* the caller waits here for the helper's last item */
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n, next, done;
    int stop;
};

static void *evpar_thread(void *arg) {
    struct evpar *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next >= p->n)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        size_t i = p->next++;
        void (*fn)(void *, size_t) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        if (++p->done == p->n)
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

void evpar_run(struct evpar *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx) {
    if (p == NULL || n < EVPAR_MIN_ITEMS) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->next = 0;
    p->done = 0;
    pthread_cond_signal(&p->work);
    while (p->next < n) {
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        p->done++;
    }
    while (p->done < n) /* the helper's last item */
        pthread_cond_wait(&p->idle, &p->mu);
    p->n = 0; /* nothing to claim until the next job */
    p->next = 0;
    pthread_mutex_unlock(&p->mu);
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
