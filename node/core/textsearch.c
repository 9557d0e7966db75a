/* textsearch.c: folding, word splitting and stemming for full-text search (see textsearch.h).
 * Indexing and querying both go through here, so a word is always folded, split and stemmed
 * the same way on both sides. */
#include "textsearch.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Title words outrank tags and places, which outrank description words: a word in a title
 * says what the record is about, one in a description may be incidental. */
const uint8_t ts_class_weight[TS_NCLASS] = {[TS_TITLE] = 8, [TS_TAGS] = 4, [TS_PLACE] = 4,
                                            [TS_DESC] = 2};

/* BCP 47 primary subtags and the Snowball stemmer of each (libstemmer 2.2's list, less
 * "porter", the older English one). */
static const struct {
    const char *code, *name;
} ts_langs[] = {
    {"ar", "arabic"},     {"hy", "armenian"}, {"eu", "basque"},     {"ca", "catalan"},
    {"da", "danish"},     {"nl", "dutch"},    {"en", "english"},    {"fi", "finnish"},
    {"fr", "french"},     {"de", "german"},   {"el", "greek"},      {"hi", "hindi"},
    {"hu", "hungarian"},  {"id", "indonesian"}, {"ga", "irish"},    {"it", "italian"},
    {"lt", "lithuanian"}, {"ne", "nepali"},   {"no", "norwegian"},  {"nb", "norwegian"},
    {"nn", "norwegian"},  {"pt", "portuguese"}, {"ro", "romanian"}, {"ru", "russian"},
    {"sr", "serbian"},    {"es", "spanish"},  {"sv", "swedish"},    {"ta", "tamil"},
    {"tr", "turkish"},    {"yi", "yiddish"},
};
#define TS_NLANGS (sizeof ts_langs / sizeof ts_langs[0])

int ts_lang(const char *tag) {
    if (tag == NULL)
        return -1;
    size_t n = strcspn(tag, "-_");
    if (n < 2 || n > 3)
        return -1;
    for (size_t i = 0; i < TS_NLANGS; i++) {
        const char *c = ts_langs[i].code;
        if (strlen(c) == n && (tag[0] | 0x20) == c[0] && (tag[1] | 0x20) == c[1] &&
            (n == 2 || (tag[2] | 0x20) == c[2]))
            return (int)i;
    }
    return -1;
}

int ts_record_lang(char **langs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int l = ts_lang(langs[i]);
        if (l >= 0)
            return l;
    }
    return -1;
}

/* ---- folding and splitting ---- */

/* Compatibility decomposition (ligatures, full-width forms, no-break spaces become plain),
 * case folding, marks stripped (the accents of a decomposed letter), default-ignorables
 * dropped. No composition is needed: with the marks gone nothing is left to compose. */
#define TS_FOLD (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | \
                 UTF8PROC_IGNORE)
#define TS_FOLD_MAX 8 /* code points one code point folds to (U+FDFA: 18, cut: not a word) */

static int ts_word_char(utf8proc_int32_t cp) {
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* The word being assembled by ts_words. */
struct ts_acc {
    char w[TS_WORD_MAX + 4];
    size_t len;
    int full; /* reached TS_WORD_MAX: the rest of the word is dropped */
};

static void ts_acc_put(struct ts_acc *a, const char *b, size_t n) {
    if (a->full)
        return;
    if (a->len + n > TS_WORD_MAX) {
        a->full = 1;
        return;
    }
    memcpy(a->w + a->len, b, n);
    a->len += n;
}

/* Ends the word being assembled, if any: fn sees it. */
static int ts_acc_end(struct ts_acc *a, ts_word_fn fn, void *arg) {
    int rc = 0;
    if (a->len) {
        a->w[a->len] = 0;
        rc = fn(a->w, a->len, arg);
    }
    a->len = 0;
    a->full = 0;
    return rc;
}

int ts_words(const char *text, size_t len, ts_word_fn fn, void *arg) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    struct ts_acc a = {.len = 0};
    size_t i = 0;
    int rc;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            /* ASCII, most of most texts: folded here, without utf8proc's tables */
            i++;
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                ts_acc_put(&a, (const char *)&c, 1);
            } else if (c >= 'A' && c <= 'Z') {
                char l = (char)(c + 32);
                ts_acc_put(&a, &l, 1);
            } else if ((rc = ts_acc_end(&a, fn, arg)) != 0) {
                return rc;
            }
            continue;
        }
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        i += n > 0 ? (size_t)n : 1;
        utf8proc_int32_t folded[TS_FOLD_MAX];
        utf8proc_ssize_t nf = -1;
        if (n > 0 && cp >= 0) {
            int last = 0;
            nf = utf8proc_decompose_char(cp, folded, TS_FOLD_MAX, TS_FOLD, &last);
            if (nf > TS_FOLD_MAX)
                nf = -1; /* cannot fold: a separator */
        }
        if (nf == 0)
            continue; /* ignorable or a bare mark: part of no word, separates nothing */
        if (nf < 0) { /* invalid UTF-8, or unfoldable: a separator */
            if ((rc = ts_acc_end(&a, fn, arg)) != 0)
                return rc;
            continue;
        }
        for (utf8proc_ssize_t k = 0; k < nf; k++) {
            if (ts_word_char(folded[k])) {
                utf8proc_uint8_t enc[4];
                utf8proc_ssize_t el = utf8proc_encode_char(folded[k], enc);
                ts_acc_put(&a, (const char *)enc, (size_t)el);
            } else if ((rc = ts_acc_end(&a, fn, arg)) != 0) {
                return rc;
            }
        }
    }
    return ts_acc_end(&a, fn, arg);
}

size_t ts_chars(const char *w, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)w[i] & 0xC0) != 0x80;
    return n;
}

/* ---- stemming ---- */

/* sb_stemmer objects are not thread-safe, and making one costs allocations: each thread keeps
 * its own, made on first use and freed when the thread ends. Stemming a word costs about a
 * microsecond, and a record has a hundred words, most of them frequent: each thread also keeps
 * the stems of the words it met last (a direct-mapped cache; short words only). */
#define TS_CACHE_SLOTS 16384 /* power of two; 800 KiB a thread */
#define TS_CACHE_WORD 24    /* longer words are stemmed every time */
struct ts_cached {
    uint8_t lang; /* ts_lang + 1; 0 = free */
    uint8_t wlen, flen;
    char w[TS_CACHE_WORD], f[TS_CACHE_WORD];
};
struct ts_thread {
    struct sb_stemmer *st[TS_NLANGS];
    struct ts_cached cache[TS_CACHE_SLOTS];
};
static pthread_key_t ts_key;
static pthread_once_t ts_once = PTHREAD_ONCE_INIT;

static void ts_thread_free(void *p) {
    struct ts_thread *t = p;
    for (size_t i = 0; i < TS_NLANGS; i++)
        if (t->st[i])
            sb_stemmer_delete(t->st[i]);
    free(t);
}

static void ts_key_make(void) {
    (void)pthread_key_create(&ts_key, ts_thread_free);
}

static struct ts_thread *ts_thread(int lang) {
    if (lang < 0 || (size_t)lang >= TS_NLANGS || pthread_once(&ts_once, ts_key_make) != 0)
        return NULL;
    struct ts_thread *t = pthread_getspecific(ts_key);
    if (t == NULL) {
        t = calloc(1, sizeof *t);
        if (t == NULL || pthread_setspecific(ts_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->st[lang] == NULL)
        t->st[lang] = sb_stemmer_new(ts_langs[lang].name, "UTF_8");
    return t->st[lang] ? t : NULL;
}

size_t ts_stem(int lang, const char *w, size_t len, char *out) {
    if (len > TS_WORD_MAX)
        len = TS_WORD_MAX;
    struct ts_thread *t = ts_thread(lang);
    struct ts_cached *c = NULL;
    if (t && len < TS_CACHE_WORD) {
        uint32_t h = 2166136261u ^ (uint32_t)lang;
        for (size_t i = 0; i < len; i++)
            h = (h ^ (uint8_t)w[i]) * 16777619u;
        c = &t->cache[h & (TS_CACHE_SLOTS - 1)];
        if (c->lang == lang + 1 && c->wlen == len && memcmp(c->w, w, len) == 0) {
            memcpy(out, c->f, c->flen);
            out[c->flen] = 0;
            return c->flen;
        }
    }
    const sb_symbol *r = t ? sb_stemmer_stem(t->st[lang], (const sb_symbol *)w, (int)len) : NULL;
    if (r != NULL) {
        size_t n = (size_t)sb_stemmer_length(t->st[lang]);
        if (n > 0 && n <= TS_WORD_MAX) {
            memcpy(out, r, n);
            out[n] = 0;
            if (c && n < TS_CACHE_WORD) {
                c->lang = (uint8_t)(lang + 1);
                c->wlen = (uint8_t)len;
                c->flen = (uint8_t)n;
                memcpy(c->w, w, len);
                memcpy(c->f, r, n);
            }
            return n;
        }
    }
    /* no stemmer (or it failed for want of memory): the word is its own form */
    memcpy(out, w, len);
    out[len] = 0;
    return len;
}

size_t ts_variants(const char *w, size_t len, char (*out)[TS_WORD_MAX + 1], size_t max) {
    size_t n = 0;
    if (max == 0)
        return 0;
    n = 1;
    ts_stem(-1, w, len, out[0]);
    for (size_t l = 0; l < TS_NLANGS && n < max; l++) {
        if (l > 0 && strcmp(ts_langs[l].name, ts_langs[l - 1].name) == 0)
            continue; /* no, nb, nn: one stemmer */
        size_t sl = ts_stem((int)l, w, len, out[n]);
        size_t k = 0;
        while (k < n && (strlen(out[k]) != sl || memcmp(out[k], out[n], sl) != 0))
            k++;
        if (k == n)
            n++;
    }
    return n;
}

void ts_dict_init(struct ts_dict *d, int lang) {
    d->buf[0] = (char)(lang >= 0 && (size_t)lang < TS_NLANGS ? lang + 1 : 0);
    d->len = 1;
}

int ts_dict_add(struct ts_dict *d, const char *w, size_t wlen) {
    if (d->len == 0)
        ts_dict_init(d, -1);
    if (d->len + wlen + 1 > sizeof d->buf)
        return -1;
    memcpy(d->buf + d->len, w, wlen);
    d->len += wlen;
    d->buf[d->len++] = 0;
    return 0;
}
