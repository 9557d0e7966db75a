/* test_textsearch.c: folding, word splitting, stemming and the query forms (textsearch.c), and
 * that a query word's forms always include the form its record indexed (both sides go through
 * the same code; this checks the cases issue 11 lists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "textsearch.h"

#define MAXW 32
struct words {
    char w[MAXW][TS_WORD_MAX + 1];
    size_t n;
};

static int collect(const char *w, size_t len, void *arg) {
    struct words *ws = arg;
    assert_true(len > 0 && len <= TS_WORD_MAX);
    assert_int_equal(strlen(w), len); /* NUL-terminated, no NUL inside */
    if (ws->n < MAXW) {
        memcpy(ws->w[ws->n], w, len + 1);
        ws->n++;
    }
    return 0;
}

/* text splits into exactly the words of want (a NULL-terminated list). */
static void split_is(const char *text, const char *const *want) {
    struct words ws = {0};
    assert_int_equal(ts_words(text, strlen(text), collect, &ws), 0);
    size_t n = 0;
    while (want[n])
        n++;
    if (ws.n != n) {
        for (size_t i = 0; i < ws.n; i++)
            print_message("got word %zu: '%s'\n", i, ws.w[i]);
        fail_msg("'%s': expected %zu words, got %zu", text, n, ws.n);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(ws.w[i], want[i]) != 0)
            fail_msg("'%s': word %zu is '%s', expected '%s'", text, i, ws.w[i], want[i]);
}

#define SPLIT(text, ...)                                                                         \
    do {                                                                                         \
        static const char *const want_[] = {__VA_ARGS__, NULL};                                  \
        split_is(text, want_);                                                                   \
    } while (0)

static void test_fold_and_split(void **state) {
    (void)state;
    SPLIT("Formación", "formacion");
    SPLIT("ÖFFENTLICHEN öffentlichen Offentlichen", "offentlichen", "offentlichen",
          "offentlichen");
    SPLIT("Ärzte", "arzte");
    SPLIT("Andalucía", "andalucia");
    SPLIT("Straße", "strasse");     /* full case folding */
    SPLIT("\xef\xac\x81nance", "finance"); /* U+FB01 ligature: compatibility decomposition */
    SPLIT("Ver\xc2\xadwaltung", "verwaltung"); /* soft hyphen: ignorable, joins */
    /* word boundaries: typographic apostrophe, guillemets, no-break spaces, dashes, slashes */
    SPLIT("l\xe2\x80\x99" "administration", "l", "administration");
    SPLIT("l'administration", "l", "administration");
    SPLIT("\xc2\xab" "eIDAS\xc2\xbb", "eidas");
    SPLIT("digital\xc2\xa0skills", "digital", "skills");          /* U+00A0 */
    SPLIT("digital\xe2\x80\xaf" "skills", "digital", "skills");   /* U+202F narrow */
    SPLIT("AI\xe2\x80\x94" "Act", "ai", "act");                   /* em dash */
    SPLIT("Wien / online", "wien", "online");
    SPLIT("e-Mail, 5G (x) 3.14", "e", "mail", "5g", "x", "3", "14");
    SPLIT("\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1", "\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1");
    /* invalid UTF-8 separates, never ends the text early */
    SPLIT("ab\xff" "cd\xc3", "ab", "cd");
    SPLIT("", NULL);
    SPLIT(" .,;:!? \xc2\xa0", NULL);
}

static void test_long_word_cut(void **state) {
    (void)state;
    char text[300];
    memset(text, 'Q', 200);
    memcpy(text + 200, " ok", 4);
    struct words ws = {0};
    assert_int_equal(ts_words(text, strlen(text), collect, &ws), 0);
    assert_int_equal(ws.n, 2);
    assert_int_equal(strlen(ws.w[0]), TS_WORD_MAX);
    assert_int_equal(ws.w[0][0], 'q');
    assert_string_equal(ws.w[1], "ok");
    /* a cut never splits a code point: 2-byte letters, 64 bytes hold 32 of them */
    size_t o = 0;
    for (int i = 0; i < 40; i++) {
        memcpy(text + o, "\xc3\xa9", 2); /* é -> e: 1 byte folded */
        o += 2;
    }
    for (int i = 0; i < 40; i++) {
        memcpy(text + o, "\xce\xb1", 2); /* α stays 2 bytes */
        o += 2;
    }
    text[o] = 0;
    memset(&ws, 0, sizeof ws);
    assert_int_equal(ts_words(text, o, collect, &ws), 0);
    assert_int_equal(ws.n, 1);
    assert_int_equal(strlen(ws.w[0]), 40 + 24); /* 40 e, then 12 alphas */
    assert_int_equal(ts_chars(ws.w[0], strlen(ws.w[0])), 52);
}

static int stop_at_second(const char *w, size_t len, void *arg) {
    (void)w;
    (void)len;
    int *n = arg;
    return ++*n == 2 ? 7 : 0;
}

static void test_stop(void **state) {
    (void)state;
    int n = 0;
    assert_int_equal(ts_words("one two three", 13, stop_at_second, &n), 7);
    assert_int_equal(n, 2);
}

static void test_lang(void **state) {
    (void)state;
    assert_true(ts_lang("es") >= 0);
    assert_int_equal(ts_lang("ES"), ts_lang("es"));
    assert_int_equal(ts_lang("pt-BR"), ts_lang("pt"));
    assert_int_equal(ts_lang("nb"), ts_lang("no") + 1); /* same stemmer, own row */
    assert_int_equal(ts_lang("xx"), -1);
    assert_int_equal(ts_lang("e"), -1);
    assert_int_equal(ts_lang("english"), -1);
    assert_int_equal(ts_lang(NULL), -1);
    char *langs[] = {"sl", "xx", "de", "en"}; /* Slovenian: no Snowball stemmer */
    assert_int_equal(ts_record_lang(langs, 4), ts_lang("de"));
    assert_int_equal(ts_record_lang(langs, 2), -1);
}

static void test_stem(void **state) {
    (void)state;
    char out[TS_WORD_MAX + 1];
    assert_int_equal(ts_stem(ts_lang("en"), "trainers", 8, out), 7);
    assert_string_equal(out, "trainer");
    ts_stem(ts_lang("en"), "training", 8, out);
    assert_string_equal(out, "train");
    ts_stem(-1, "trainers", 8, out);
    assert_string_equal(out, "trainers");
    ts_stem(ts_lang("de"), "offentlichen", 12, out);
    assert_string_equal(out, "offent");
}

/* How search.c finds a record's word (indexed as it is, folded) from a query word: the word
 * is one of the query word's stems (the word itself included), or its stem in the record's
 * language is (the dictionary's stem rows): 1; or (the last word) it begins with the query
 * word: 2; else 0. */
static int query_finds(const char *record_lang, const char *record_text, const char *query) {
    struct words rw = {0}, qw = {0};
    assert_int_equal(ts_words(record_text, strlen(record_text), collect, &rw), 0);
    assert_int_equal(ts_words(query, strlen(query), collect, &qw), 0);
    assert_int_equal(qw.n, 1);
    char v[TS_MAX_VARIANTS][TS_WORD_MAX + 1];
    size_t nv = ts_variants(qw.w[0], strlen(qw.w[0]), v, TS_MAX_VARIANTS);
    int best = 0;
    for (size_t i = 0; i < rw.n; i++) {
        char stem[TS_WORD_MAX + 1];
        ts_stem(ts_lang(record_lang), rw.w[i], strlen(rw.w[i]), stem);
        for (size_t k = 0; k < nv; k++)
            if (strcmp(v[k], rw.w[i]) == 0 || strcmp(v[k], stem) == 0)
                return 1;
        if (strncmp(rw.w[i], qw.w[0], strlen(qw.w[0])) == 0)
            best = 2;
    }
    return best;
}

static void test_query_forms(void **state) {
    (void)state;
    assert_int_equal(query_finds("es", "Formación profesional", "formacion"), 1);
    assert_int_equal(query_finds("es", "Formación profesional", "FORMACIÓN"), 1);
    assert_int_equal(query_finds("de", "der öffentlichen Verwaltung", "offentlichen"), 1);
    assert_int_equal(query_finds("de", "der öffentlichen Verwaltung", "ÖFFENTLICHEN"), 1);
    assert_int_equal(query_finds("de", "der öffentlichen Verwaltung", "öffentliche"), 1);
    assert_int_equal(query_finds("de", "für Ärzte", "ärzte"), 1);
    assert_int_equal(query_finds("es", "Sevilla, Andalucía", "andalucia"), 1);
    assert_int_equal(query_finds("fr", "formation «eIDAS»", "eidas"), 1);
    assert_int_equal(query_finds("fr", "de l\xe2\x80\x99" "administration", "administration"),
                     1);
    assert_int_equal(query_finds("en", "for trainers", "trainer"), 1);
    assert_int_equal(query_finds("en", "for trainers", "trainers"), 1);
    assert_int_equal(query_finds("es", "Formación", "formac"), 2);
    assert_true(query_finds("en", "training", "traini") != 0); /* it: "traini" -> "train" */
    assert_int_equal(query_finds("en", "procurement workshops", "workshop"), 1);
    assert_int_equal(query_finds("de", "procurement workshops", "workshop"), 2);
    /* no typo tolerance */
    assert_int_equal(query_finds("es", "Formación", "formasion"), 0);

    char v[TS_MAX_VARIANTS][TS_WORD_MAX + 1];
    size_t nv = ts_variants("trainer", 7, v, TS_MAX_VARIANTS);
    assert_true(nv >= 2);
    assert_string_equal(v[0], "trainer"); /* the word itself first */
    for (size_t i = 0; i < nv; i++)
        for (size_t j = i + 1; j < nv; j++)
            assert_string_not_equal(v[i], v[j]);
    assert_int_equal(ts_variants("trainer", 7, v, 1), 1);
    assert_int_equal(ts_variants("trainer", 7, v, 0), 0);
}

static void test_dict(void **state) {
    (void)state;
    struct ts_dict d;
    ts_dict_init(&d, ts_lang("en"));
    assert_int_equal((unsigned char)d.buf[0], ts_lang("en") + 1);
    assert_int_equal(ts_dict_add(&d, "trainers", 8), 0);
    assert_int_equal(ts_dict_add(&d, "ai", 2), 0);
    assert_int_equal(d.len, 1 + 9 + 3);
    assert_memory_equal(d.buf + 1, "trainers\0ai\0", d.len - 1);
    ts_dict_init(&d, -1);
    assert_int_equal(d.buf[0], 0);
    while (ts_dict_add(&d, "abcdefgh", 8) == 0)
        ;
    assert_true(d.len <= sizeof d.buf);
    assert_true(d.len + 9 > sizeof d.buf);
    struct ts_dict z = {.len = 0}; /* never initialised: no language */
    assert_int_equal(ts_dict_add(&z, "ab", 2), 0);
    assert_int_equal(z.buf[0], 0);
    assert_int_equal(z.len, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_and_split), cmocka_unit_test(test_long_word_cut),
        cmocka_unit_test(test_stop),           cmocka_unit_test(test_lang),
        cmocka_unit_test(test_stem),           cmocka_unit_test(test_query_forms),
        cmocka_unit_test(test_dict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
