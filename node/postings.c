/* postings.c: a batch's new index postings, grouped by term with a hash table.
 *
 * A batch of a few thousand records adds a few hundred thousand postings over a few thousand
 * distinct terms. Grouping them as they come (O(1) each) and sorting only the distinct terms
 * replaces sorting every posting, which was a tenth of an import's time. Terms are SipHash
 * outputs (record.c), so their bytes serve as the hash directly. */
#include "postings.h"

#include <stdlib.h>
#include <string.h>

#include "hub.h"

static uint64_t term_hash(const uint8_t t[INDEX_TERM_LEN]) {
    uint64_t h;
    memcpy(&h, t + 1, 8);
    return h ^ ((uint64_t)t[0] * 0x9E3779B97F4A7C15ULL);
}

static int grow_slots(struct postings *p) {
    size_t n = p->nslots ? p->nslots * 2 : 1024;
    uint32_t *s = calloc(n, sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    for (size_t i = 0; i < p->nterms; i++) {
        size_t at = term_hash(p->terms[i].term) & (n - 1);
        while (s[at])
            at = (at + 1) & (n - 1);
        s[at] = (uint32_t)i + 1;
    }
    free(p->slots);
    p->slots = s;
    p->nslots = n;
    return HUB_OK;
}

/* The slot holding term, or the empty slot where it would go. */
static size_t find_slot(const struct postings *p, const uint8_t term[INDEX_TERM_LEN]) {
    size_t at = term_hash(term) & (p->nslots - 1);
    while (p->slots[at] && memcmp(p->terms[p->slots[at] - 1].term, term, INDEX_TERM_LEN) != 0)
        at = (at + 1) & (p->nslots - 1);
    return at;
}

int postings_add(struct postings *p, const uint8_t term[INDEX_TERM_LEN], uint64_t local) {
    if (p->nterms * 2 >= p->nslots && grow_slots(p) != 0) /* load factor <= 1/2 */
        return HUB_E_NOMEM;
    if (p->nitems == p->icap) {
        size_t cap = p->icap ? p->icap * 2 : 4096;
        struct postings_item *n = realloc(p->items, cap * sizeof *n);
        if (!n)
            return HUB_E_NOMEM;
        p->items = n;
        p->icap = cap;
    }
    size_t at = find_slot(p, term);
    if (!p->slots[at]) {
        if (p->nterms == p->tcap) {
            size_t cap = p->tcap ? p->tcap * 2 : 1024;
            struct postings_term *n = realloc(p->terms, cap * sizeof *n);
            if (!n)
                return HUB_E_NOMEM;
            p->terms = n;
            p->tcap = cap;
        }
        struct postings_term *t = &p->terms[p->nterms];
        memcpy(t->term, term, INDEX_TERM_LEN);
        t->head = t->tail = 0;
        p->slots[at] = (uint32_t)++p->nterms;
    }
    struct postings_term *t = &p->terms[p->slots[at] - 1];
    p->items[p->nitems] = (struct postings_item){local, 0};
    uint32_t idx = (uint32_t)++p->nitems;
    if (t->tail)
        p->items[t->tail - 1].next = idx;
    else
        t->head = idx;
    t->tail = idx;
    return HUB_OK;
}

int postings_remove(struct postings *p, const uint8_t term[INDEX_TERM_LEN], uint64_t local) {
    if (!p->nslots)
        return 0;
    size_t at = find_slot(p, term);
    if (!p->slots[at])
        return 0;
    for (uint32_t i = p->terms[p->slots[at] - 1].head; i; i = p->items[i - 1].next)
        if (p->items[i - 1].local == local) {
            p->items[i - 1].local = 0; /* skipped when written; keeps the chain intact */
            return 1;
        }
    return 0;
}

static int term_cmp(const void *a, const void *b, void *arg) {
    const struct postings *p = arg;
    return memcmp(p->terms[*(const uint32_t *)a].term, p->terms[*(const uint32_t *)b].term,
                  INDEX_TERM_LEN);
}

int postings_sort(struct postings *p) {
    free(p->order);
    p->order = malloc((p->nterms ? p->nterms : 1) * sizeof *p->order);
    if (!p->order)
        return HUB_E_NOMEM;
    for (size_t i = 0; i < p->nterms; i++)
        p->order[i] = (uint32_t)i;
    qsort_r(p->order, p->nterms, sizeof *p->order, term_cmp, p); /* glibc (_GNU_SOURCE) */
    return HUB_OK;
}

void postings_clear(struct postings *p) {
    if (p->nslots)
        memset(p->slots, 0, p->nslots * sizeof *p->slots);
    p->nterms = 0;
    p->nitems = 0;
}

void postings_free(struct postings *p) {
    free(p->terms);
    free(p->slots);
    free(p->items);
    free(p->order);
    memset(p, 0, sizeof *p);
}
