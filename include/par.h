/* par.h: a fork-join loop over the machine's cores, for the CPU-bound parts of a batch
 * (signing, signature checks, index terms). Workers only touch their own slice. */
#ifndef HUB_PAR_H
#define HUB_PAR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define PAR_MAX_THREADS 8

/* Calls fn(ctx, begin, end) over slices of [0, n), in parallel when each slice gets at least
 * min_slice items; returns when all are done. Falls back to one call on failure. */
void par_for(size_t n, size_t min_slice, void (*fn)(void *ctx, size_t begin, size_t end),
             void *ctx);
/* Threads par_for uses at most (online CPUs, capped). */
size_t par_threads(void);
/* Called first by every background thread (workers, the store's writer, the screener): lowers
 * its scheduling priority (nice +PAR_NICE) so that the event loop, which answers queries and
 * peers, gets a core at once when it has work, instead of waiting out the time slices of the
 * threads that check signatures. They take all the CPU the event loop leaves. */
#define PAR_NICE 5
void par_background(void);

/* A pipeline for a batch whose items are worked on (signatures) by other threads while this
 * thread consumes them in order (stores them): workers claim items from the front; the consumer
 * waits for item i with par_pipe_wait, working on unclaimed items itself rather than idling, so
 * every core stays busy and neither side waits for the other. */
struct par_pipe {
    void (*work)(void *ctx, size_t i);
    void *ctx;
    size_t n;
    atomic_size_t next; /* next item to claim */
    atomic_uchar *done; /* per item: its work is finished */
    pthread_t tids[PAR_MAX_THREADS];
    size_t nthreads;
};

/* Starts workers (one fewer than par_threads()) on items [0, n); HUB_E_NOMEM. With one core,
 * or when no thread starts, the consumer does all the work in par_pipe_wait. */
int par_pipe_start(struct par_pipe *pp, size_t n, void (*work)(void *ctx, size_t i), void *ctx)
    __attribute__((warn_unused_result));
/* Returns once item i's work is finished (done by a worker or by this thread). */
void par_pipe_wait(struct par_pipe *pp, size_t i);
/* Works off what is left, joins the workers and frees the pipeline. */
void par_pipe_finish(struct par_pipe *pp);

#endif
