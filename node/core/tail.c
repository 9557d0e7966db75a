/* tail.c: per-term arrays of the newest postings, found through a termtab. */
#include "tail.h"

#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "termtab.h"

struct tail_term {
    uint8_t term[INDEX_TERM_LEN]; /* first: termtab.h */
    uint32_t n, cap;
    uint64_t *locals; /* ascending */
};

struct tail {
    struct tail_term *terms;
    size_t nterms, tcap;
    struct termtab tab; /* term -> index in terms */
};

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
    termtab_free(&t->tab);
    free(t);
    *tp = NULL;
}

static struct tail_term *term_get(struct tail *t, const uint8_t term[INDEX_TERM_LEN]) {
    size_t slot;
    long ti = termtab_find(&t->tab, t->terms, sizeof *t->terms, t->nterms, term, &slot);
    if (ti >= 0)
        return &t->terms[ti];
    if (ti == -2)
        return NULL;
    struct tail_term *terms = hub_reserve(t->terms, &t->tcap, t->nterms + 1, sizeof *terms, 1024);
    if (!terms)
        return NULL;
    t->terms = terms;
    struct tail_term *tt = &t->terms[t->nterms];
    memset(tt, 0, sizeof *tt);
    memcpy(tt->term, term, INDEX_TERM_LEN);
    termtab_insert(&t->tab, slot, t->nterms++);
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

void tail_remove(struct tail *t, const struct index_term *terms, size_t n, uint64_t local) {
    for (size_t i = 0; i < n; i++) {
        long ti = termtab_lookup(&t->tab, t->terms, sizeof *t->terms, terms[i].b);
        if (ti < 0)
            continue;
        struct tail_term *tt = &t->terms[ti];
        uint32_t at = tt->n; /* the batch's postings are the newest: looked for from the end */
        while (at > 0 && tt->locals[at - 1] > local)
            at--;
        if (at == 0 || tt->locals[at - 1] != local)
            continue;
        memmove(tt->locals + at - 1, tt->locals + at, (tt->n - at) * sizeof *tt->locals);
        tt->n--;
    }
}

const uint64_t *tail_postings(const struct tail *t, const uint8_t term[INDEX_TERM_LEN],
                              uint64_t upto, size_t *n) {
    *n = 0;
    long ti = termtab_lookup(&t->tab, t->terms, sizeof *t->terms, term);
    if (ti < 0)
        return NULL;
    const struct tail_term *tt = &t->terms[ti];
    size_t lo = 0, hi = tt->n; /* the first posting > upto; nearly always none */
    if (hi > 0 && tt->locals[hi - 1] > upto)
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tt->locals[mid] <= upto)
                lo = mid + 1;
            else
                hi = mid;
        }
    *n = hi;
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
    termtab_clear(&t->tab);
}
