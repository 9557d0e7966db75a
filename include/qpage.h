/* qpage.h: the records of a query page as JSON views, written on two cores. The store's walk
 * only collects the rows as stored (store_query with raw_rows: no decompression under the
 * walk); then each row is decompressed, decoded and written on its own (view_write_entry),
 * the event loop and its helper thread (evpar.h) taking rows from the same counter. What needs
 * the hub's state (records.h: names, seats) is added afterwards, on the event loop, in order. */
#ifndef HUB_QPAGE_H
#define HUB_QPAGE_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "jbuf.h"

struct evpar;
struct store;

struct qpage_row {
    uint8_t *row; /* a copy of the row the walk gave */
    size_t row_len;
    uint8_t *buf; /* the decompressed wire bytes (store_row_unpack), or NULL */
    struct entry e;
    struct jbuf view; /* view_write_entry's object */
    int rc;           /* HUB_OK, or why the row has no view (it is left out) */
};

struct qpage {
    struct store *s;
    struct qpage_row *rows;
    size_t n, cap;
    int oom; /* a row could not be kept: the page is incomplete */
};

void qpage_init(struct qpage *pg, struct store *s);
/* A store_query callback (arg: the qpage): keeps a copy of the row. */
int qpage_collect(const uint8_t *row, size_t len, void *arg);
/* Decodes and writes every kept row (par may be NULL: all on this thread). */
void qpage_render(struct qpage *pg, struct evpar *par);
void qpage_free(struct qpage *pg);

#endif
