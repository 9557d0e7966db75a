/* postings.c: a batch's new index postings, grouped by term as they are added.
 *
 * A batch of a few thousand records adds a few hundred thousand postings over a few thousand
 * distinct terms. Grouping them as they come (O(1) each, termtab.c) and sorting only the
 * distinct terms replaces sorting every posting, which was a tenth of an import's time.
 * The postings are then laid out term after term by a counting sort, two passes in the order
 * they were added: following each term's chain instead costs a cache miss per posting once a
 * batch's postings outgrow the cache (a catch-up batch adds a million). */
#include "postings.h"

#include <stdlib.h>
#include <string.h>

#include "hub.h"

int postings_add(struct postings *p, const uint8_t term[INDEX_TERM_LEN], uint64_t local) {
    struct postings_item *items =
        hub_reserve(p->items, &p->icap, p->nitems + 1, sizeof *items, 4096);
    if (!items)
        return HUB_E_NOMEM;
    p->items = items;
    size_t slot;
    long ti = termtab_find(&p->tab, p->terms, sizeof *p->terms, p->nterms, term, &slot);
    if (ti == -2)
        return HUB_E_NOMEM;
    if (ti == -1) {
        struct postings_term *terms =
            hub_reserve(p->terms, &p->tcap, p->nterms + 1, sizeof *terms, 1024);
        if (!terms)
            return HUB_E_NOMEM;
        p->terms = terms;
        struct postings_term *t = &p->terms[p->nterms];
        memcpy(t->term, term, INDEX_TERM_LEN);
        t->head = t->tail = 0;
        termtab_insert(&p->tab, slot, p->nterms);
        ti = (long)p->nterms++;
    }
    struct postings_term *t = &p->terms[ti];
    p->items[p->nitems] = (struct postings_item){local, 0, (uint32_t)ti};
    uint32_t idx = (uint32_t)++p->nitems;
    if (t->tail)
        p->items[t->tail - 1].next = idx;
    else
        t->head = idx;
    t->tail = idx;
    return HUB_OK;
}

int postings_remove(struct postings *p, const uint8_t term[INDEX_TERM_LEN], uint64_t local) {
    long ti = termtab_lookup(&p->tab, p->terms, sizeof *p->terms, term);
    if (ti < 0)
        return 0;
    for (uint32_t i = p->terms[ti].head; i; i = p->items[i - 1].next)
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
    uint8_t(*sorted)[8] = hub_reserve(p->sorted, &p->scap, p->nitems, sizeof *sorted, 4096);
    if (!sorted)
        return HUB_E_NOMEM;
    p->sorted = sorted;
    for (size_t t = 0; t < p->nterms; t++)
        p->terms[t].count = 0;
    for (size_t i = 0; i < p->nitems; i++)
        p->terms[p->items[i].term].count += p->items[i].local != 0;
    size_t at = 0;
    for (size_t i = 0; i < p->nterms; i++) {
        struct postings_term *t = &p->terms[p->order[i]];
        t->start = at;
        at += t->count;
        t->count = 0; /* counts again as the postings are placed */
    }
    for (size_t i = 0; i < p->nitems; i++) {
        const struct postings_item *it = &p->items[i];
        if (it->local == 0)
            continue;
        struct postings_term *t = &p->terms[it->term];
        hub_be64(sorted[t->start + t->count++], it->local);
    }
    return HUB_OK;
}

void postings_clear(struct postings *p) {
    termtab_clear(&p->tab);
    p->nterms = 0;
    p->nitems = 0;
}

void postings_free(struct postings *p) {
    free(p->terms);
    free(p->items);
    free(p->order);
    free(p->sorted);
    termtab_free(&p->tab);
    memset(p, 0, sizeof *p);
}
