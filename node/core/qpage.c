/* qpage.c: see qpage.h. */
#include "qpage.h"

#include <stdlib.h>
#include <string.h>

#include "evpar.h"
#include "hub.h"
#include "store.h"
#include "view.h"

_Static_assert(QPAGE_MAX_ROWS <= EVPAR_MAX_ITEMS, "a page's rows fit a job of the helper");

/* Decodes and writes the row src holds into r (r may be src). */
static void qpage_render_into(struct store *s, const struct qpage_row *src, struct qpage_row *r) {
    const uint8_t *wire;
    size_t wlen;
    r->rc = store_row_unpack(s, src->row, src->row_len, &r->buf, &wire, &wlen);
    if (r->rc == HUB_OK)
        r->rc = entry_decode(wire, wlen, &r->e);
    if (r->rc != HUB_OK)
        return;
    jbuf_init(&r->view);
    r->rc = view_write_entry(&r->view, &r->e);
    if (r->e.kind == 2 /* KIND_OFFER */ && r->e.payload != NULL) /* seats: on the event loop */
        records_offer_fields(r->e.payload, r->e.payload_len, &r->offer);
}

static void qpage_render_row(void *ctx, size_t i) {
    struct qpage *pg = ctx;
    qpage_render_into(pg->s, qpage_row(pg, i), qpage_row(pg, i));
    atomic_store_explicit(&qpage_row(ctx, i)->ready, 1, memory_order_release);
}

static int qpage_row_ready(void *ctx, size_t i) {
    return atomic_load_explicit(&qpage_row(ctx, i)->ready, memory_order_acquire);
}

void qpage_init(struct qpage *pg, struct store *s, struct evpar *par) {
    memset(pg, 0, sizeof *pg);
    pg->s = s;
    pg->par = par;
    if (par) {
        evpar_begin(par, qpage_render_row, pg);
        pg->running = 1;
    }
}

int qpage_collect(const uint8_t *row, size_t len, void *arg) {
    struct qpage *pg = arg;
    size_t c = pg->n / QPAGE_CHUNK;
    if (pg->n == QPAGE_MAX_ROWS ||
        (pg->chunk[c] == NULL && !(pg->chunk[c] = malloc(QPAGE_CHUNK * sizeof *pg->chunk[c])))) {
        pg->oom = 1;
        return 1; /* stops the walk */
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        pg->oom = 1;
        return 1;
    }
    memcpy(copy, row, len);
    struct qpage_row *r = qpage_row(pg, pg->n);
    memset(r, 0, sizeof *r);
    atomic_init(&r->ready, 0);
    r->row = copy;
    r->row_len = len;
    r->rc = HUB_E_INTERNAL;
    pg->n++;
    if (pg->par)
        evpar_avail(pg->par, pg->n);
    return 0;
}

void qpage_walked(struct qpage *pg) {
    if (pg->running)
        evpar_final(pg->par, pg->n);
}

const struct qpage_row *qpage_get(struct qpage *pg, size_t i) {
    if (!pg->running) {
        if (!qpage_row_ready(pg, i))
            qpage_render_row(pg, i);
        return qpage_row(pg, i);
    }
    struct qpage_row *r = qpage_row(pg, i);
    while (!qpage_row_ready(pg, i)) {
        if (r->again)
            return r->again;
        size_t j;
        if (evpar_claim(pg->par, &j)) { /* a later row, while the helper ends row i */
            qpage_render_row(pg, j);
            evpar_done(pg->par);
            continue;
        }
        /* The helper is on row i. It is written again here rather than waited for: a helper
         * that lost its core (a busy machine) would hold the answer for a time slice or more,
         * while a row costs tens of microseconds. */
        struct qpage_row *a = calloc(1, sizeof *a);
        if (a == NULL) {
            evpar_wait(pg->par, qpage_row_ready, i);
            break;
        }
        qpage_render_into(pg->s, r, a);
        r->again = a;
        return a;
    }
    return r;
}

void qpage_free(struct qpage *pg) {
    if (pg->running) { /* the helper may be on a row: the job ends before rows are freed */
        evpar_end(pg->par, pg->n);
        pg->running = 0;
    }
    for (size_t i = 0; i < pg->n; i++) {
        struct qpage_row *r = qpage_row(pg, i);
        free(r->row);
        free(r->buf);
        jbuf_free(&r->view);
        if (r->again) {
            free(r->again->buf);
            jbuf_free(&r->again->view);
            free(r->again);
        }
    }
    for (size_t c = 0; c < HUB_ARRAY_LEN(pg->chunk); c++)
        free(pg->chunk[c]);
    memset(pg, 0, sizeof *pg);
}
