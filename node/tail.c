/* tail.c: per-term arrays of the newest postings, found through an open-addressing table.
 * Terms are SipHash outputs (record.c), so their bytes serve as the hash directly. */
#include "tail.h"

#include <stdlib.h>
#include <string.h>

#include "hub.h"

struct tail_term {
    uint8_t term[INDEX_TERM_LEN];
    uint32_t n, cap;
    uint64_t *locals; /* ascending */
};

struct tail {
    struct tail_term *terms;
    size_t nterms, tcap;
    uint32_t *slots; /* term index + 1, 0 empty */
    size_t nslots;
};

static uint64_t term_hash(const uint8_t t[INDEX_TERM_LEN]) {
    uint64_t h;
    memcpy(&h, t + 1, 8);
    return h ^ ((uint64_t)t[0] * 0x9E3779B97F4A7C15ULL);
}

int tail_new(struct tail **out) {
    *out = calloc(1, sizeof **out);
    return *out ? HUB_OK : HUB_E_NOMEM;
}

void tail_destroy(struct tail **tp) {
    if (!tp || !*tp)
        return;
    struct tail *t = *tp;
    for (size_t i = 0; i < t->nterms; i++)
        free(t->terms[i].locals);
    free(t->terms);
    free(t->slots);
    free(t);
    *tp = NULL;
}

static size_t find_slot(const struct tail *t, const uint8_t term[INDEX_TERM_LEN]) {
    size_t at = term_hash(term) & (t->nslots - 1);
    while (t->slots[at] && memcmp(t->terms[t->slots[at] - 1].term, term, INDEX_TERM_LEN) != 0)
        at = (at + 1) & (t->nslots - 1);
    return at;
}

static int grow_slots(struct tail *t) {
    size_t n = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *s = calloc(n, sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    for (size_t i = 0; i < t->nterms; i++) {
        size_t at = term_hash(t->terms[i].term) & (n - 1);
        while (s[at])
            at = (at + 1) & (n - 1);
        s[at] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = n;
    return HUB_OK;
}

static struct tail_term *term_get(struct tail *t, const uint8_t term[INDEX_TERM_LEN]) {
    if (t->nterms * 2 >= t->nslots && grow_slots(t) != 0) /* load factor <= 1/2 */
        return NULL;
    size_t at = find_slot(t, term);
    if (t->slots[at])
        return &t->terms[t->slots[at] - 1];
    if (t->nterms == t->tcap) {
        size_t cap = t->tcap ? t->tcap * 2 : 1024;
        struct tail_term *n = realloc(t->terms, cap * sizeof *n);
        if (!n)
            return NULL;
        t->terms = n;
        t->tcap = cap;
    }
    struct tail_term *tt = &t->terms[t->nterms];
    memset(tt, 0, sizeof *tt);
    memcpy(tt->term, term, INDEX_TERM_LEN);
    t->slots[at] = (uint32_t)++t->nterms;
    return tt;
}

int tail_add(struct tail *t, const struct index_term *terms, size_t n, uint64_t local) {
    for (size_t i = 0; i < n; i++) {
        struct tail_term *tt = term_get(t, terms[i].b);
        if (!tt)
            return HUB_E_NOMEM;
        if (tt->n == tt->cap) {
            uint32_t cap = tt->cap ? tt->cap * 2 : 4;
            uint64_t *v = realloc(tt->locals, cap * sizeof *v);
            if (!v)
                return HUB_E_NOMEM;
            tt->locals = v;
            tt->cap = cap;
        }
        /* New records have the largest local; only a restored payload re-indexes an older
         * one, which is inserted in order. */
        uint32_t at = tt->n;
        while (at > 0 && tt->locals[at - 1] >= local)
            at--;
        if (at < tt->n && tt->locals[at] == local)
            continue; /* already there */
        memmove(tt->locals + at + 1, tt->locals + at, (tt->n - at) * sizeof *tt->locals);
        tt->locals[at] = local;
        tt->n++;
    }
    return HUB_OK;
}

const uint64_t *tail_postings(const struct tail *t, const uint8_t term[INDEX_TERM_LEN], size_t *n) {
    *n = 0;
    if (!t->nslots)
        return NULL;
    size_t at = find_slot(t, term);
    if (!t->slots[at])
        return NULL;
    const struct tail_term *tt = &t->terms[t->slots[at] - 1];
    *n = tt->n;
    return tt->locals;
}

void tail_drop_upto(struct tail *t, uint64_t cut) {
    for (size_t i = 0; i < t->nterms; i++) {
        struct tail_term *tt = &t->terms[i];
        uint32_t k = 0;
        while (k < tt->n && tt->locals[k] <= cut) /* the oldest come first */
            k++;
        memmove(tt->locals, tt->locals + k, (tt->n - k) * sizeof *tt->locals);
        tt->n -= k;
    }
}

void tail_clear(struct tail *t) {
    for (size_t i = 0; i < t->nterms; i++)
        free(t->terms[i].locals);
    t->nterms = 0;
    if (t->nslots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
}
