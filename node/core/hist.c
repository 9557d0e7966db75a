/* hist.c: fixed-bucket histograms (hist.h). */
#include "hist.h"

void hist_init(struct hist *h, const double *le, size_t nle, double unit) {
    h->le = le;
    h->nle = nle > HIST_MAX_BOUNDS ? HIST_MAX_BOUNDS : nle;
    h->unit = unit;
    for (size_t i = 0; i <= HIST_MAX_BOUNDS; i++)
        atomic_init(&h->counts[i], 0);
    atomic_init(&h->sum_units, 0);
}

void hist_add(struct hist *h, uint64_t units) {
    double v = (double)units * h->unit;
    size_t b = 0;
    while (b < h->nle && v > h->le[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_units, units, memory_order_relaxed);
}

json_t *hist_json(const struct hist *h) {
    json_t *le = json_array(), *counts = json_array();
    uint64_t cum = 0;
    for (size_t b = 0; b < h->nle; b++) {
        cum += atomic_load_explicit(&h->counts[b], memory_order_relaxed);
        json_array_append_new(le, json_real(h->le[b]));
        json_array_append_new(counts, json_integer((json_int_t)cum));
    }
    cum += atomic_load_explicit(&h->counts[h->nle], memory_order_relaxed);
    double sum = (double)atomic_load_explicit(&h->sum_units, memory_order_relaxed) * h->unit;
    return json_pack("{s:o, s:o, s:f, s:I}", "le", le, "counts", counts, "sum", sum, "count",
                     (json_int_t)cum);
}
