/* par.c: fork-join over the online CPUs. Threads are started per batch: a batch is hundreds of
 * signatures (milliseconds of work), so the ~20 us to start a thread is noise, and there is no
 * pool to shut down. */
#include "par.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hub.h"

struct par_slice {
    void (*fn)(void *ctx, size_t begin, size_t end);
    void *ctx;
    size_t begin, end;
};

void par_background(void) {
    /* Linux applies nice per thread (PRIO_PROCESS with a thread id); raising it needs no
     * privilege. Relative to the thread's own (a unit file may set Nice=). Failure only costs
     * latency, so it is ignored. */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return;
    (void)setpriority(PRIO_PROCESS, tid, cur + PAR_NICE > 19 ? 19 : cur + PAR_NICE);
}

static void *par_thread(void *arg) {
    par_background();
    struct par_slice *s = arg;
    s->fn(s->ctx, s->begin, s->end);
    return NULL;
}

static void par_run(void *arg) {
    struct par_slice *s = arg;
    s->fn(s->ctx, s->begin, s->end);
}

size_t par_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > PAR_MAX_THREADS ? PAR_MAX_THREADS : (size_t)n;
}

void par_for(size_t n, size_t min_slice, void (*fn)(void *ctx, size_t begin, size_t end),
             void *ctx) {
    size_t k = par_threads();
    if (min_slice == 0)
        min_slice = 1;
    if (k > n / min_slice)
        k = n / min_slice;
    if (k <= 1) {
        fn(ctx, 0, n);
        return;
    }
    struct par_slice slices[PAR_MAX_THREADS];
    pthread_t tids[PAR_MAX_THREADS];
    int started[PAR_MAX_THREADS] = {0};
    size_t per = n / k, extra = n % k, at = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = per + (i < extra);
        slices[i] = (struct par_slice){fn, ctx, at, at + len};
        at += len;
    }
    /* slice 0 runs on the calling thread; a slice whose thread fails to start runs here too */
    for (size_t i = 1; i < k; i++)
        started[i] = pthread_create(&tids[i], NULL, par_thread, &slices[i]) == 0;
    par_run(&slices[0]);
    for (size_t i = 1; i < k; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            par_run(&slices[i]);
    }
}

static void pipe_do(struct par_pipe *pp, size_t i) {
    pp->work(pp->ctx, i);
    atomic_store_explicit(&pp->done[i], 1, memory_order_release);
}

static void *pipe_worker(void *arg) {
    par_background();
    struct par_pipe *pp = arg;
    size_t i;
    while ((i = atomic_fetch_add(&pp->next, 1)) < pp->n)
        pipe_do(pp, i);
    return NULL;
}

int par_pipe_start(struct par_pipe *pp, size_t n, void (*work)(void *ctx, size_t i), void *ctx) {
    pp->work = work;
    pp->ctx = ctx;
    pp->n = n;
    pp->nthreads = 0;
    atomic_init(&pp->next, 0);
    pp->done = calloc(n ? n : 1, sizeof *pp->done);
    if (!pp->done)
        return HUB_E_NOMEM;
    size_t want = par_threads() - 1;
    for (size_t t = 0; t < want; t++)
        if (pthread_create(&pp->tids[pp->nthreads], NULL, pipe_worker, pp) == 0)
            pp->nthreads++;
    return HUB_OK;
}

void par_pipe_wait(struct par_pipe *pp, size_t i) {
    while (!atomic_load_explicit(&pp->done[i], memory_order_acquire)) {
        size_t j = atomic_fetch_add(&pp->next, 1);
        if (j < pp->n)
            pipe_do(pp, j); /* help rather than wait */
        else
            sched_yield(); /* item i is being worked on by a worker */
    }
}

void par_pipe_finish(struct par_pipe *pp) {
    size_t j;
    while ((j = atomic_fetch_add(&pp->next, 1)) < pp->n)
        pipe_do(pp, j);
    for (size_t t = 0; t < pp->nthreads; t++)
        pthread_join(pp->tids[t], NULL);
    free(pp->done);
    pp->done = NULL;
}
