/* search.c: a text query made into the ranked terms store_query_ranked runs. */
#include "search.h"

#include <string.h>

#include "hub.h"
#include "record.h"

_Static_assert(TS_QUERY_MAX_WORDS * TS_NCLASS <= 64, "a scoring slot per word and class");
_Static_assert(TS_QUERY_MAX_WORDS <= STORE_RANK_MAX_GROUPS, "a group per word");

struct search_words {
    char w[TS_QUERY_MAX_WORDS][TS_WORD_MAX + 1];
    size_t len[TS_QUERY_MAX_WORDS];
    size_t n;
    int too_many, too_short;
};

static int search_word(const char *w, size_t len, void *arg) {
    struct search_words *sw = arg;
    if (ts_chars(w, len) < TS_QUERY_MIN_CHARS) {
        sw->too_short = 1;
        return 1;
    }
    if (sw->n == TS_QUERY_MAX_WORDS) {
        sw->too_many = 1;
        return 1;
    }
    memcpy(sw->w[sw->n], w, len);
    sw->w[sw->n][len] = 0;
    sw->len[sw->n++] = len;
    return 0;
}

static void search_add(struct store_rank_term *rt, size_t *n, const char *w, unsigned group,
                       int half) {
    for (int c = 0; c < TS_NCLASS && *n < SEARCH_MAX_TERMS; c++) {
        struct store_rank_term *t = &rt[(*n)++];
        index_term_word(c, w, strlen(w), &t->t);
        t->group = (uint8_t)group;
        t->slot = (uint8_t)(group * TS_NCLASS + (unsigned)c);
        t->weight = ts_class_weight[c];
        t->half = (uint8_t)half;
    }
}

/* The words of one query word, each once. */
struct search_set {
    char w[TS_MAX_VARIANTS + TS_STEM_MAX_WORDS + TS_PREFIX_MAX_WORDS][TS_WORD_MAX + 1];
    size_t n, nfull; /* the first nfull count in full */
};

static void search_set_add(struct search_set *set, const char *w) {
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->w[i], w) == 0)
            return;
    if (set->n < sizeof set->w / sizeof set->w[0]) {
        size_t l = strlen(w);
        memcpy(set->w[set->n], w, l + 1);
        set->n++;
    }
}

int search_terms(struct store *st, const char *text, size_t len, struct store_rank_term *rt,
                 size_t *nrt, unsigned *ngroups, const char **why) {
    struct search_words sw = {0};
    *nrt = 0;
    *ngroups = 0;
    (void)ts_words(text, len, search_word, &sw);
    if (sw.too_short) {
        *why = "text: every word must have at least 2 characters";
        return HUB_E_RANGE;
    }
    if (sw.too_many) {
        *why = "text: at most 8 words";
        return HUB_E_TOO_LARGE;
    }
    if (sw.n == 0) {
        *why = "text: no word to search for (words are letters and digits)";
        return HUB_E_RANGE;
    }
    static struct search_set set; /* event-loop thread only; 4 KiB */
    char found[TS_STEM_MAX_WORDS][TS_WORD_MAX + 1];
    for (size_t i = 0; i < sw.n; i++) {
        /* full weight: the word, its stems in every language, and the dictionary's words that
         * share one of those stems (in the language of the records they came in) */
        set.n = 0;
        char v[TS_MAX_VARIANTS][TS_WORD_MAX + 1];
        size_t nv = ts_variants(sw.w[i], sw.len[i], v, TS_MAX_VARIANTS);
        for (size_t k = 0; k < nv; k++)
            search_set_add(&set, v[k]);
        size_t room = TS_STEM_MAX_WORDS;
        for (size_t k = 0; k < nv && room; k++) {
            size_t nf;
            int rc = store_dict_words(st, 1, v[k], strlen(v[k]), found, room, &nf);
            if (rc != HUB_OK) {
                *why = "text: the word dictionary cannot be read";
                return rc;
            }
            for (size_t f = 0; f < nf; f++)
                search_set_add(&set, found[f]);
            room -= nf;
        }
        set.nfull = set.n;
        /* half weight: the last word may be typed in part, the words it begins */
        if (i + 1 == sw.n && ts_chars(sw.w[i], sw.len[i]) >= TS_PREFIX_MIN_CHARS) {
            char pre[TS_PREFIX_MAX_WORDS][TS_WORD_MAX + 1];
            size_t np;
            int rc = store_dict_words(st, 0, sw.w[i], sw.len[i], pre, TS_PREFIX_MAX_WORDS, &np);
            if (rc != HUB_OK) {
                *why = "text: the word dictionary cannot be read";
                return rc;
            }
            for (size_t p = 0; p < np; p++)
                search_set_add(&set, pre[p]);
        }
        for (size_t k = 0; k < set.n; k++)
            search_add(rt, nrt, set.w[k], (unsigned)i, k >= set.nfull);
    }
    *ngroups = (unsigned)sw.n;
    return HUB_OK;
}
