/* par.c: fork-join over the online CPUs. Threads are started per batch: a batch is hundreds of
 * signatures (milliseconds of work), so the ~20 us to start a thread is noise, and there is no
 * pool to shut down. */
#include "par.h"

#include <pthread.h>
#include <unistd.h>

#define PAR_MAX_THREADS 8

struct par_slice {
    void (*fn)(void *ctx, size_t begin, size_t end);
    void *ctx;
    size_t begin, end;
};

static void *par_run(void *arg) {
    struct par_slice *s = arg;
    s->fn(s->ctx, s->begin, s->end);
    return NULL;
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
        started[i] = pthread_create(&tids[i], NULL, par_run, &slices[i]) == 0;
    par_run(&slices[0]);
    for (size_t i = 1; i < k; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            par_run(&slices[i]);
    }
}
