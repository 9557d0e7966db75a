/* qpage.c: see qpage.h. */
#include "qpage.h"

#include <stdlib.h>
#include <string.h>

#include "evpar.h"
#include "hub.h"
#include "store.h"
#include "view.h"

void qpage_init(struct qpage *pg, struct store *s) {
    memset(pg, 0, sizeof *pg);
    pg->s = s;
}

int qpage_collect(const uint8_t *row, size_t len, void *arg) {
    struct qpage *pg = arg;
    struct qpage_row *r = hub_reserve(pg->rows, &pg->cap, pg->n + 1, sizeof *r, 64);
    uint8_t *copy = r ? malloc(len ? len : 1) : NULL;
    if (copy == NULL) {
        if (r)
            pg->rows = r;
        pg->oom = 1;
        return 1; /* stops the walk */
    }
    pg->rows = r;
    memcpy(copy, row, len);
    r = &pg->rows[pg->n++];
    memset(r, 0, sizeof *r);
    r->row = copy;
    r->row_len = len;
    r->rc = HUB_E_INTERNAL;
    return 0;
}

static void qpage_render_one(void *ctx, size_t i) {
    struct qpage *pg = ctx;
    struct qpage_row *r = &pg->rows[i];
    const uint8_t *wire;
    size_t wlen;
    r->rc = store_row_unpack(pg->s, r->row, r->row_len, &r->buf, &wire, &wlen);
    if (r->rc == HUB_OK)
        r->rc = entry_decode(wire, wlen, &r->e);
    if (r->rc != HUB_OK)
        return;
    jbuf_init(&r->view);
    r->rc = view_write_entry(&r->view, &r->e);
}

void qpage_render(struct qpage *pg, struct evpar *par) {
    evpar_run(par, pg->n, qpage_render_one, pg);
}

void qpage_free(struct qpage *pg) {
    for (size_t i = 0; i < pg->n; i++) {
        free(pg->rows[i].row);
        free(pg->rows[i].buf);
        jbuf_free(&pg->rows[i].view);
    }
    free(pg->rows);
    memset(pg, 0, sizeof *pg);
}
