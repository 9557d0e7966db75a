/* evpar.h: one helper thread for the event loop, so that the CPU-bound part of an answer (a
 * query page's rows decompressed and written as JSON) runs on two cores. The event loop works
 * on the items too, from the same counter: a helper that is slow to wake (or busy) costs
 * nothing but its share. Items may be handed over as they are found (evpar_avail): the helper
 * starts on the first rows while the event loop still walks the index for the next ones. The
 * helper spins for up to EVPAR_SPIN_NS (100 us) after its last item before it sleeps. */
#ifndef HUB_EVPAR_H
#define HUB_EVPAR_H

#include <stddef.h>

/* Items a job may have (a query page has at most QPAGE_MAX_ROWS). */
#define EVPAR_MAX_ITEMS 65535

struct evpar;

/* Starts the helper thread; NULL when it cannot (callers then run items on their own). */
struct evpar *evpar_new(void);
/* A job: fn(ctx, i) for every item i, each called once, on the calling thread or the helper.
 * fn must only touch item i's own state (and thread-safe shared state), and item i must not
 * move while the job runs. One job at a time, from one thread (the event loop). */
void evpar_begin(struct evpar *p, void (*fn)(void *ctx, size_t i), void *ctx);
/* Items [0, n) are ready to be worked on (n only grows). */
void evpar_avail(struct evpar *p, size_t n);
/* The job has n items in all (then evpar_claim, evpar_wait, and evpar_end). */
void evpar_final(struct evpar *p, size_t n);
/* Claims the next item no thread has taken yet into *i: 1, or 0 when every item is taken. The
 * caller runs it, then calls evpar_done. */
int evpar_claim(struct evpar *p, size_t *i);
void evpar_done(struct evpar *p);
/* Waits until ready(ctx, i) holds: item i's thread makes it true before it finishes the item. */
void evpar_wait(struct evpar *p, int (*ready)(void *ctx, size_t i), size_t i);
/* The job has n items in all: works on those left with the helper, returns when all are done. */
void evpar_end(struct evpar *p, size_t n);
/* evpar_begin, evpar_end(n); with p NULL, every item on the calling thread. */
void evpar_run(struct evpar *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx);
/* Stops and joins the helper (no job may be running). */
void evpar_free(struct evpar *p);

#endif
