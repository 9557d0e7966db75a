/* termtab.c: see termtab.h. */
#include "termtab.h"

#include <stdlib.h>
#include <string.h>

static uint64_t term_hash(const uint8_t t[INDEX_TERM_LEN]) {
    uint64_t h;
    memcpy(&h, t + 1, 8);
    return h ^ ((uint64_t)t[0] * 0x9E3779B97F4A7C15ULL);
}

static const uint8_t *term_at(const void *base, size_t stride, size_t i) {
    return (const uint8_t *)base + i * stride;
}

static size_t probe(const struct termtab *t, const void *base, size_t stride,
                    const uint8_t term[INDEX_TERM_LEN]) {
    size_t at = term_hash(term) & (t->nslots - 1);
    while (t->slots[at] &&
           memcmp(term_at(base, stride, t->slots[at] - 1), term, INDEX_TERM_LEN) != 0)
        at = (at + 1) & (t->nslots - 1);
    return at;
}

static int grow(struct termtab *t, const void *base, size_t stride, size_t n) {
    size_t ns = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t at = term_hash(term_at(base, stride, i)) & (ns - 1);
        while (s[at])
            at = (at + 1) & (ns - 1);
        s[at] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
    return 0;
}

long termtab_find(struct termtab *t, const void *base, size_t stride, size_t n,
                  const uint8_t term[INDEX_TERM_LEN], size_t *slot) {
    if (n * 2 >= t->nslots && grow(t, base, stride, n) != 0)
        return -2;
    size_t at = probe(t, base, stride, term);
    if (t->slots[at])
        return (long)t->slots[at] - 1;
    *slot = at;
    return -1;
}

void termtab_insert(struct termtab *t, size_t slot, size_t index) {
    t->slots[slot] = (uint32_t)index + 1;
}

long termtab_lookup(const struct termtab *t, const void *base, size_t stride,
                    const uint8_t term[INDEX_TERM_LEN]) {
    if (!t->nslots)
        return -1;
    size_t at = probe(t, base, stride, term);
    return t->slots[at] ? (long)t->slots[at] - 1 : -1;
}

void termtab_clear(struct termtab *t) {
    if (t->nslots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
}

void termtab_free(struct termtab *t) {
    free(t->slots);
    t->slots = NULL;
    t->nslots = 0;
}
