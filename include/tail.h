/* tail.h: the newest index postings, held in memory until the store merges them into the LMDB
 * index in bulk. Small write batches (live push, a publish) would otherwise rewrite a B-tree
 * page for each of the ~70 terms of each record; the store keeps a copy of each record's terms
 * in its "recent" table, appended, so that the tail is rebuilt after a restart. */
#ifndef HUB_TAIL_H
#define HUB_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct tail;

int tail_new(struct tail **out) __attribute__((warn_unused_result));
void tail_destroy(struct tail **t);
/* Adds one record's postings (HUB_E_NOMEM). A term's postings stay sorted by local. */
int tail_add(struct tail *t, const struct index_term *terms, size_t n, uint64_t local)
    __attribute__((warn_unused_result));
/* Takes one record's postings out again (a batch whose commit failed); those it lacks are
 * skipped. */
void tail_remove(struct tail *t, const struct index_term *terms, size_t n, uint64_t local);
/* The postings <= upto of a term, ascending; NULL and *n = 0 when it has none. upto is the last
 * entry of the reader's snapshot: the writer adds a batch's postings before its commit. Valid
 * until the next tail_add, tail_remove or tail_clear. */
const uint64_t *tail_postings(const struct tail *t, const uint8_t term[INDEX_TERM_LEN],
                              uint64_t upto, size_t *n);
/* Drops every posting <= cut (those merged into the index). */
void tail_drop_upto(struct tail *t, uint64_t cut);
void tail_clear(struct tail *t);

#endif
