/* termtab.h: a hash index over an array of structs that each begin with an index term (9
 * bytes), for the in-memory postings of a batch (postings.c) and the index tail (tail.c).
 * Open addressing, load factor at most 1/2; terms are SipHash outputs (record.c), so their
 * bytes serve as the hash directly. */
#ifndef HUB_TERMTAB_H
#define HUB_TERMTAB_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* Zero-initialise. slots[i]: index + 1 of an element of the caller's array, 0 empty. */
struct termtab {
    uint32_t *slots;
    size_t nslots;
};

/* Index of the element whose term is `term` among the n elements of base (each stride bytes,
 * term first), or -1 after making room and leaving *slot where it is to be inserted:
 * termtab_insert(t, slot, n) records element n (the caller's next one) there. -2: no memory. */
long termtab_find(struct termtab *t, const void *base, size_t stride, size_t n,
                  const uint8_t term[INDEX_TERM_LEN], size_t *slot);
void termtab_insert(struct termtab *t, size_t slot, size_t index);
/* Lookup only (no room made): index, or -1. */
long termtab_lookup(const struct termtab *t, const void *base, size_t stride,
                    const uint8_t term[INDEX_TERM_LEN]);
void termtab_clear(struct termtab *t);
void termtab_free(struct termtab *t);

#endif
