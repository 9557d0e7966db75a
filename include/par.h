/* par.h: a fork-join loop over the machine's cores, for the CPU-bound parts of a batch
 * (signing, signature checks, index terms). Workers only touch their own slice. */
#ifndef HUB_PAR_H
#define HUB_PAR_H

#include <stddef.h>

/* Calls fn(ctx, begin, end) over slices of [0, n), in parallel when each slice gets at least
 * min_slice items; returns when all are done. Falls back to one call on failure. */
void par_for(size_t n, size_t min_slice, void (*fn)(void *ctx, size_t begin, size_t end),
             void *ctx);
/* Threads par_for uses at most (online CPUs, capped). */
size_t par_threads(void);

#endif
