/* postings.h: the index postings a write batch adds, grouped by term in memory so that the
 * store writes each term's new postings with one call, in term order. */
#ifndef HUB_POSTINGS_H
#define HUB_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "termtab.h"

struct postings_term {
    uint8_t term[INDEX_TERM_LEN]; /* first: termtab.h */
    uint32_t head, tail;          /* first and last posting of this term (indexes into items, +1) */
    size_t start, count;          /* its postings in sorted, after postings_sort */
};

struct postings_item {
    uint64_t local; /* 0: removed again within the batch */
    uint32_t next;  /* next posting of the same term (index + 1), 0 at the end */
    uint32_t term;  /* index in terms */
};

/* Zero-initialise; postings_free releases the memory. */
struct postings {
    struct postings_term *terms;
    size_t nterms, tcap;
    struct termtab tab; /* term -> index in terms */
    struct postings_item *items;
    size_t nitems, icap;
    uint32_t *order;       /* term indexes sorted by term, filled by postings_sort */
    uint8_t (*sorted)[8];  /* every posting not removed, big-endian, term after term in order */
    size_t scap;
};

/* Adds a posting; postings of a term keep the order they were added in. HUB_E_NOMEM. */
int postings_add(struct postings *p, const uint8_t term[INDEX_TERM_LEN], uint64_t local)
    __attribute__((warn_unused_result));
/* Removes a pending posting; 1 if it was there, 0 if not. */
int postings_remove(struct postings *p, const uint8_t term[INDEX_TERM_LEN], uint64_t local);
/* Sorts the terms (memcmp order) into p->order and lays the postings out term after term in
 * p->sorted (each term's [start, start + count)), in the order they were added; HUB_E_NOMEM. */
int postings_sort(struct postings *p) __attribute__((warn_unused_result));
/* Forgets every posting, keeping the memory for the next batch. */
void postings_clear(struct postings *p);
void postings_free(struct postings *p);

#endif
