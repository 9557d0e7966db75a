/* evpar.h: one helper thread for the event loop, so that the CPU-bound part of an answer (a
 * query page's rows decompressed and written as JSON) runs on two cores and the answer comes
 * back in about half the time. The event loop works on the items too, from the same counter:
 * a helper that is slow to wake (or busy) costs nothing but its share. */
#ifndef HUB_EVPAR_H
#define HUB_EVPAR_H

#include <stddef.h>

/* Below this many items an answer is done on the event loop alone: waking the helper costs
 * about as much as an item (a row is ~30 us of work). */
#define EVPAR_MIN_ITEMS 4

struct evpar;

/* Starts the helper thread; NULL when it cannot (callers then run items on their own). */
struct evpar *evpar_new(void);
/* Calls fn(ctx, i) for every i in [0, n), on the calling thread and the helper; returns when
 * all are done. fn must only touch item i's own state (and thread-safe shared state). p may be
 * NULL. Not reentrant: one caller (the event loop) at a time. */
void evpar_run(struct evpar *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx);
/* Stops and joins the helper. */
void evpar_free(struct evpar *p);

#endif
