/* search.h: a text query made into ranked store terms (textsearch.h says how words are folded,
 * split and stemmed; store_query_ranked runs the result). */
#ifndef HUB_SEARCH_H
#define HUB_SEARCH_H

#include <stddef.h>

#include "store.h"
#include "textsearch.h"

/* Terms one text query can make: each word's forms in every field class. */
#define SEARCH_MAX_TERMS                                                                       \
    (TS_QUERY_MAX_WORDS * (TS_MAX_VARIANTS + TS_STEM_MAX_WORDS + TS_PREFIX_MAX_WORDS) * TS_NCLASS)

/* The ranked terms of text: one group per word. A word matches, at its field class's weight,
 * itself, its stem in every Snowball language, and the dictionary's words that have one of
 * those as their stem in a record's language; the last word, when at least
 * TS_PREFIX_MIN_CHARS long, also matches the dictionary's words it begins, at half the weight.
 * rt holds SEARCH_MAX_TERMS. Errors: E_RANGE (a word shorter than TS_QUERY_MIN_CHARS, or no
 * word at all), E_TOO_LARGE (more than TS_QUERY_MAX_WORDS words), or the store's; why is a
 * sentence for the client. */
int search_terms(struct store *st, const char *text, size_t len, struct store_rank_term *rt,
                 size_t *nrt, unsigned *ngroups, const char **why);

#endif
