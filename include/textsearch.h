/* textsearch.h: text analysis for full-text search, shared by indexing (record.c) and queries
 * (control.c), so that the two cannot disagree about what a word is.
 *
 * A text is folded (Unicode case folding, compatibility decomposition, accents and other
 * combining marks removed, default-ignorable characters such as soft hyphens dropped: utf8proc)
 * and split into words: a word is a run of letters and digits (Unicode categories L* and N*);
 * every other character (punctuation of any script, typographic apostrophes, guillemets, any
 * space including no-break spaces, symbols) separates words. A record's words are indexed as
 * their Snowball stem in the record's language (textsearch_lang), when Snowball has one.
 *
 * Not done: typo tolerance (no edit distance), compound splitting, word segmentation for
 * scripts written without spaces (Chinese, Japanese, Thai: a run of letters is one word),
 * UAX #29's exceptions ("can't", "3.14" are two words here), synonyms, stop words. */
#ifndef HUB_TEXTSEARCH_H
#define HUB_TEXTSEARCH_H

#include <stddef.h>
#include <stdint.h>

#define TS_WORD_MAX 64         /* bytes of a folded word that count; longer words are cut */
#define TS_QUERY_MIN_CHARS 2   /* a query word shorter than this (code points) is E_RANGE */
#define TS_PREFIX_MIN_CHARS 3  /* the last query word is matched as a prefix from this long */
#define TS_QUERY_MAX_WORDS 8   /* words in one text query */
#define TS_PREFIX_MAX_FORMS 32 /* indexed forms one prefix expands to (first in byte order) */
#define TS_MAX_VARIANTS 32     /* forms of one query word: itself and its stems */
#define TS_DICT_BYTES 1024     /* a record's dictionary pairs (word, form) kept for prefixes */

/* Fields searched, each with its weight in the relevance score (CONTROL.md "query"). */
enum ts_class {
    TS_TITLE = 0, /* offer/request title, profile name */
    TS_TAGS = 1,  /* topics */
    TS_PLACE = 2, /* location, region */
    TS_DESC = 3,  /* description */
    TS_NCLASS = 4
};
extern const uint8_t ts_class_weight[TS_NCLASS];

/* The stemmer of a BCP 47 language tag (its primary subtag), or -1 when Snowball has none. */
int ts_lang(const char *bcp47);
/* The stemmer of the first of a record's languages that has one, or -1. */
int ts_record_lang(char **langs, size_t n);

/* Calls fn for each folded word of text (any length, NUL-free, at most TS_WORD_MAX bytes) in
 * order; a non-zero return from fn stops and is returned. Invalid UTF-8 bytes separate words. */
typedef int (*ts_word_fn)(const char *w, size_t len, void *arg);
int ts_words(const char *text, size_t len, ts_word_fn fn, void *arg);

/* Number of code points of a folded word. */
size_t ts_chars(const char *w, size_t len);

/* The indexed form of a folded word: its stem in lang (ts_lang), or the word itself when lang
 * is -1. out holds TS_WORD_MAX + 1 bytes; returns the length (NUL-terminated). */
size_t ts_stem(int lang, const char *w, size_t len, char *out);

/* The forms a query word may be indexed under: the word itself and its stem in every language
 * Snowball has, each once. Returns the count (at most max). */
size_t ts_variants(const char *w, size_t len, char (*out)[TS_WORD_MAX + 1], size_t max);

/* A record's dictionary: packed pairs, each "word\0form\0" (form empty when equal to word),
 * for prefix expansion. Filled by record_index, written by the store. */
struct ts_dict {
    char buf[TS_DICT_BYTES];
    size_t len;
};
/* Adds a pair; returns 0, or -1 when the buffer is full (the pair is dropped). */
int ts_dict_add(struct ts_dict *d, const char *w, size_t wlen, const char *form, size_t flen);

#endif
