/* qpage.h: the records of a query page as JSON views, written on two cores. The store's walk
 * collects the rows as stored (store_query with raw_rows: no decompression under the walk),
 * and each row is decompressed, decoded and written on its own (view_write_entry) by the
 * event loop's helper thread (evpar.h) as soon as it is collected, while the walk goes on.
 * Once the walk is done, the event loop takes the rows in order (qpage_get) and adds what needs
 * the hub's state (records.h: names, seats) to each; while the row it needs next is still being
 * written by the helper, it writes a later one itself. */
#ifndef HUB_QPAGE_H
#define HUB_QPAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "jbuf.h"
#include "records.h"

struct evpar;
struct store;

/* Rows a page holds at most (the control socket's largest limit is below), in chunks that
 * never move while the helper works on them. */
#define QPAGE_CHUNK 64
#define QPAGE_MAX_ROWS 1024
/* About what a row's view takes in an answer (1.6 KB for a typical offer), to size it. */
#define QPAGE_ROW_BYTES 2048

struct qpage_row {
    uint8_t *row; /* a copy of the row the walk gave */
    size_t row_len;
    uint8_t *buf; /* the decompressed wire bytes (store_row_unpack), or NULL */
    struct entry e;
    struct jbuf view; /* view_write_entry's object */
    struct records_offer_fields offer; /* an offer's capacity and dates (records.h) */
    int rc;           /* HUB_OK, or why the row has no view (it is left out) */
    atomic_int ready; /* rc, e and view are written (release: read them after an acquire) */
    /* the event loop's own copy of the row's view (buf, e, view, rc), written while the helper
     * was on the row (qpage_get), or NULL */
    struct qpage_row *again;
};

struct qpage {
    struct store *s;
    struct evpar *par; /* NULL: every row on the event loop */
    struct qpage_row *chunk[QPAGE_MAX_ROWS / QPAGE_CHUNK];
    size_t n;
    int oom;     /* a row could not be kept: the page is incomplete */
    int running; /* a job of par is open */
};

/* par may be NULL. qpage_free must follow (it closes the job, waiting for the helper's row:
 * free after the answer is sent). */
void qpage_init(struct qpage *pg, struct store *s, struct evpar *par);
/* A store_query callback (arg: the qpage): keeps a copy of the row; hands it to the helper. */
int qpage_collect(const uint8_t *row, size_t len, void *arg);
static inline struct qpage_row *qpage_row(const struct qpage *pg, size_t i) {
    return &pg->chunk[i / QPAGE_CHUNK][i % QPAGE_CHUNK];
}
/* The walk is over: pg->n rows in all. */
void qpage_walked(struct qpage *pg);
/* Row i (below pg->n) decoded and written, after qpage_walked (valid until qpage_free). */
const struct qpage_row *qpage_get(struct qpage *pg, size_t i);
void qpage_free(struct qpage *pg);

#endif
