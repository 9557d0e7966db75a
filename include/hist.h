/* hist.h: a fixed-bucket histogram that threads update without a lock (relaxed atomics) and
 * that is read as Prometheus reads one: cumulative counts per upper bound, a sum and a count.
 * For hubd's own measurements (commit latency, batch sizes), shown by status and metrics. */
#ifndef HUB_HIST_H
#define HUB_HIST_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_BOUNDS 16

struct hist {
    const double *le; /* upper bounds, increasing; a last +Inf bucket is implied */
    size_t nle;
    double unit;                               /* what one unit of `sum_units` is worth */
    atomic_uint_fast64_t counts[HIST_MAX_BOUNDS + 1]; /* per bucket, not cumulative */
    atomic_uint_fast64_t sum_units;
};

/* le: nle (at most HIST_MAX_BOUNDS) increasing bounds, kept by the caller; unit: the value of
 * one unit of the integers given to hist_add (1e-6 for microseconds measured as seconds). */
void hist_init(struct hist *h, const double *le, size_t nle, double unit);
/* One observation of `units` units (e.g. microseconds). */
void hist_add(struct hist *h, uint64_t units);
/* {"le":[...],"counts":[cumulative...],"sum":S,"count":N}: a new reference, NULL when out of
 * memory. */
json_t *hist_json(const struct hist *h);

#endif
