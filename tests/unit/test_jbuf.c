/* test_jbuf.c: jbuf_str (the query answers' strings) writes exactly what a reference escaper
 * writes, for every byte value at every position of strings up to 40 bytes and for random
 * strings rich in bytes that need escaping, short and long (the block copies and the byte
 * loop meet at every offset); and jansson reads back the original string; and jbuf_key writes
 * the separator and escapes the name, and jbuf_key_plain writes what it writes for names that
 * need no escape; and jbuf_u64 writes what printf's %llu writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jbuf.h"

/* The escaper jbuf_str must agree with: '"' and '\\' escaped, \n and \t by name, the other
 * control characters as \u00XX, every other byte (UTF-8 included) as it is. */
static size_t ref_str(char *o, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    char *start = o;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20) {
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    *o++ = '"';
    return (size_t)(o - start);
}

#define CHECK_MAX 512

static void check(const unsigned char *s, size_t n) {
    static char want[6 * CHECK_MAX + 2];
    assert_true(n <= CHECK_MAX);
    size_t wl = ref_str(want, s, n);
    struct jbuf b;
    jbuf_init(&b);
    jbuf_str(&b, (const char *)s, n);
    assert_false(b.oom);
    if (b.len != wl || memcmp(b.p, want, wl) != 0)
        fail_msg("jbuf_str differs for a string of %zu bytes", n);
    jbuf_free(&b);
}

/* Each byte value that needs escaping (and neighbours that do not), at every offset of
 * strings of every length up to 40, in otherwise plain text. */
static void test_every_special_byte_at_every_offset(void **state) {
    (void)state;
    unsigned char s[64];
    for (unsigned v = 0; v < 256; v++)
        for (size_t n = 1; n <= 40; n++)
            for (size_t at = 0; at < n; at++) {
                memset(s, 'a', n);
                s[at] = (unsigned char)v;
                check(s, n);
            }
}

static void test_random_strings(void **state) {
    (void)state;
    static const unsigned char pick[] = {0x00, 0x01, 0x1f, 0x20, 0x21, '"', '\\', '\n', '\t',
                                         0x7f, 0x80, 0xc3, 0xa9, 0xff, 'a', 'Z',  '0',  ' '};
    unsigned char s[64];
    srand(7);
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand() % 41);
        for (size_t i = 0; i < n; i++)
            s[i] = rand() % 3 ? (unsigned char)('a' + rand() % 26)
                              : pick[(size_t)rand() % sizeof pick];
        check(s, n);
    }
}

/* Long strings with a few bytes needing escapes at random places: the 16- and 8-byte block
 * copies stop and start again around each, at every alignment. */
static void test_long_strings_sparse_escapes(void **state) {
    (void)state;
    static const unsigned char pick[] = {0x00, 0x1f, '"', '\\', '\n', '\t', 0x7f, 0xc3, 0xff};
    unsigned char s[CHECK_MAX];
    srand(11);
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % CHECK_MAX);
        for (size_t i = 0; i < n; i++)
            s[i] = (unsigned char)(' ' + 1 + rand() % 90); /* printable, none of '"' or '\\' */
        for (size_t i = 0; i < n; i++)
            if (s[i] == '"' || s[i] == '\\')
                s[i] = 'x';
        int specials = rand() % 6;
        for (int k = 0; k < specials && n > 0; k++)
            s[(size_t)rand() % n] = pick[(size_t)rand() % sizeof pick];
        check(s, n);
    }
}

/* What a client reads back is the string itself (valid UTF-8 in, as records are). */
static void test_jansson_reads_it_back(void **state) {
    (void)state;
    const char *texts[] = {"", "plain text of some length, past eight bytes",
                           "quote \" and backslash \\ and\nnewline\ttab \x01 ctrl",
                           "Zürich – Ελληνικά – 日本語 \x1f end",
                           "\"\"\"\"\"\"\"\"\\\\\\\\\\\\\\\\"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct jbuf b;
        jbuf_init(&b);
        jbuf_str(&b, texts[i], strlen(texts[i]));
        json_error_t e;
        json_t *v = json_loadb(b.p, b.len, JSON_DECODE_ANY, &e);
        assert_non_null(v);
        assert_string_equal(json_string_value(v), texts[i]);
        json_decref(v);
        jbuf_free(&b);
    }
}

/* jbuf_key: the separator only after a value, the name escaped like any string. */
static void test_key(void **state) {
    (void)state;
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{");
    jbuf_key(&b, "a");
    jbuf_u64(&b, 1);
    jbuf_key(&b, "b\"\n");
    jbuf_lit(&b, "[");
    jbuf_u64(&b, 2);
    jbuf_lit(&b, "]");
    jbuf_key(&b, "a long name past sixteen bytes");
    jbuf_lit(&b, "{}}");
    assert_false(b.oom);
    assert_string_equal(b.p, "{\"a\":1,\"b\\\"\\n\":[2],\"a long name past sixteen bytes\":{}}");
    jbuf_free(&b);
}

/* jbuf_key_plain and jbuf_key_lit: the same text as jbuf_key for a name that needs no escape,
 * separator rules included, at every length up to 40 and after each kind of opening. */
static void test_key_plain(void **state) {
    (void)state;
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
    const char *opens[] = {"", "{", "[", "{\"a\":1", "[1"};
    char name[41];
    for (size_t o = 0; o < sizeof opens / sizeof opens[0]; o++)
        for (size_t n = 0; n <= 40; n++) {
            for (size_t i = 0; i < n; i++)
                name[i] = chars[(i * 7 + n) % (sizeof chars - 1)];
            name[n] = 0;
            struct jbuf want, got;
            jbuf_init(&want);
            jbuf_init(&got);
            jbuf_raw(&want, opens[o], strlen(opens[o]));
            jbuf_raw(&got, opens[o], strlen(opens[o]));
            jbuf_key(&want, name);
            jbuf_key_plain(&got, name, n);
            assert_false(got.oom);
            assert_int_equal(got.len, want.len);
            assert_string_equal(got.p, want.p);
            jbuf_free(&want);
            jbuf_free(&got);
        }
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{");
    jbuf_key_lit(&b, "seats_left");
    jbuf_u64(&b, 3);
    jbuf_key_lit(&b, "full");
    jbuf_lit(&b, "false}");
    assert_string_equal(b.p, "{\"seats_left\":3,\"full\":false}");
    jbuf_free(&b);
}

/* jbuf_hex (hub_hex, 16 bytes at a time where it can) writes what printf's %02x writes, for
 * every byte value and every length around the 16-byte blocks. */
static void test_hex(void **state) {
    (void)state;
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 37 + i / 256);
    for (size_t i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    for (size_t len = 0; len <= sizeof bin; len += len < 70 ? 1 : 23) {
        for (size_t off = 0; off + len <= sizeof bin; off += len ? len : 1) {
            char want[2 * sizeof bin + 3], *w = want;
            *w++ = '"';
            for (size_t i = 0; i < len; i++)
                w += sprintf(w, "%02x", bin[off + i]);
            *w++ = '"';
            *w = 0;
            struct jbuf b;
            jbuf_init(&b);
            jbuf_hex(&b, bin + off, len);
            assert_false(b.oom);
            assert_string_equal(b.p, want);
            jbuf_free(&b);
            if (off > 200)
                break;
        }
    }
}

/* jbuf_u64 and jbuf_u64_text against printf: every value up to 100,000, each power of ten
 * and its neighbours (where the digit count changes), UINT64_MAX, and random values of every
 * magnitude; appended after existing text. */
static void check_u64(uint64_t v) {
    char want[32], text[JBUF_U64_MAX + 1];
    int wl = snprintf(want, sizeof want, "%llu", (unsigned long long)v);
    size_t n = jbuf_u64_text(v, text);
    text[n] = 0;
    assert_int_equal(n, (size_t)wl);
    assert_string_equal(text, want);
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "x");
    jbuf_u64(&b, v);
    assert_false(b.oom);
    assert_int_equal(b.len, 1 + (size_t)wl);
    assert_string_equal(b.p + 1, want);
    jbuf_free(&b);
}

static void test_u64(void **state) {
    (void)state;
    for (uint64_t v = 0; v <= 100000; v++)
        check_u64(v);
    for (uint64_t p = 1; p <= UINT64_MAX / 10; p *= 10) {
        check_u64(p - 1);
        check_u64(p);
        check_u64(p + 1);
        check_u64(p * 10 - 1);
    }
    check_u64(UINT64_MAX);
    check_u64(UINT64_MAX - 1);
    uint64_t x = 88172645463325252ULL; /* xorshift64 */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_u64(x >> (i % 64));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_special_byte_at_every_offset),
        cmocka_unit_test(test_random_strings),
        cmocka_unit_test(test_long_strings_sparse_escapes),
        cmocka_unit_test(test_jansson_reads_it_back),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_key_plain),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
