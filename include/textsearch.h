/* textsearch.h: text analysis for full-text search, shared by indexing (record.c) and queries
 * (control.c), so that the two cannot disagree about what a word is.
 *
 * A text is folded (Unicode case folding, compatibility decomposition, accents and other
 * combining marks removed, default-ignorable characters such as soft hyphens dropped: utf8proc)
 * and split into words: a word is a run of letters and digits (Unicode categories L* and N*);
 * every other character (punctuation of any script, typographic apostrophes, guillemets, any
 * space including no-break spaces, symbols) separates words. A record's words are indexed as
 * they are (folded); the hub's word dictionary (store.c, "words") maps each word's Snowball stem
 * in the language of the records it came from (ts_record_lang) back to the word, so that a
 * query word finds the words that share one of its stems (search.c).
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
#define TS_PREFIX_MAX_WORDS 32 /* words one prefix expands to (the first in byte order) */
#define TS_STEM_MAX_WORDS 32   /* words found through the stems of one query word */
#define TS_MAX_VARIANTS 32     /* forms of one query word: itself and its stems */
#define TS_DICT_BYTES 1024     /* a record's distinct words kept for the dictionary */

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

/* The stem of a folded word in lang (ts_lang), or the word itself when lang is -1. out holds
 * TS_WORD_MAX + 1 bytes; returns the length (NUL-terminated). */
size_t ts_stem(int lang, const char *w, size_t len, char *out);

/* The stems a query word may share with a record's word: the word itself and its stem in every
 * language Snowball has, each once. Returns the count (at most max). */
size_t ts_variants(const char *w, size_t len, char (*out)[TS_WORD_MAX + 1], size_t max);

/* A record's words for the dictionary: its stemming language (ts_lang + 1, 0 for none) in the
 * first byte, then each distinct word once, NUL-terminated. Filled by record_index, written by
 * the store (which stems the words it has not met before). */
struct ts_dict {
    char buf[TS_DICT_BYTES];
    size_t len;
};
void ts_dict_init(struct ts_dict *d, int lang);
/* Adds a word; returns 0, or -1 when the buffer is full (the word is dropped). */
int ts_dict_add(struct ts_dict *d, const char *w, size_t wlen);

#endif
