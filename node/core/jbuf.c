/* jbuf.c: JSON text written straight into a buffer. */
#include "jbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "hub.h"

void jbuf_init(struct jbuf *b)
{
    memset(b, 0, sizeof *b);
}

void jbuf_free(struct jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int jbuf_room(struct jbuf *b, size_t n)
{
    if (b->oom)
        return 0;
    if (b->len + n + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

int jbuf_reserve(struct jbuf *b, size_t n)
{
    return jbuf_room(b, n);
}

void jbuf_raw(struct jbuf *b, const char *s, size_t n)
{
    if (!jbuf_room(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* Does any of the 8 bytes in w need an escape in a JSON string (< 0x20, '"' or '\\')? The
 * classic SWAR tests (a byte below 0x20; a byte equal to one after XOR): no false negatives,
 * and a false positive only sends the word through the byte loop. */
static int jbuf_word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
    uint64_t low = (w - ones * 0x20) & ~w;
    uint64_t q = (quote - ones) & ~quote;
    uint64_t b = (bslash - ones) & ~bslash;
    return ((low | q | b) & highs) != 0;
}

/* A multiple of 16 bytes from s[at] on (below n) that need no escape, found 16 at a time with
 * SSE2 (every x86-64 has it): it stops at the first 16 that hold one, so it never covers a byte
 * that needs one; the rest is left to the 8-byte and byte loops. 0 without SSE2. */
static size_t jbuf_plain_run16(const char *s, size_t at, size_t n)
{
    size_t run = at;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i below = _mm_set1_epi8(0x1f);
    while (run + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + run));
        /* unsigned v <= 0x1f  <=>  max(v, 0x1f) == 0x1f */
        __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, below), below);
        __m128i bad = _mm_or_si128(ctl, _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                      _mm_cmpeq_epi8(v, bslash)));
        if (_mm_movemask_epi8(bad))
            break;
        run += 16;
    }
#else
    (void)s;
    (void)n;
#endif
    return run - at;
}

/* Writes s (n bytes) escaped, without the quotes, at o; returns the end. o has room for 6 n. */
static char *jbuf_escape(char *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Most text needs no escape at all: copy it 16, then 8 bytes at a time until a block
         * does. */
        size_t run = i + jbuf_plain_run16(s, i, n);
        while (run + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + run, 8);
            if (jbuf_word_needs_escape(w))
                break;
            run += 8;
        }
        if (run < n && n - run < 8) {
            /* the last few bytes (most vocabulary values are shorter than 8) in one word,
             * padded with spaces, which need no escape */
            uint64_t w = 0x2020202020202020ULL;
            memcpy(&w, s + run, n - run);
            if (!jbuf_word_needs_escape(w))
                run = n;
        }
        memcpy(o, s + i, run - i);
        o += run - i;
        i = run;
        size_t end = i + 8 < n ? i + 8 : n;
        for (; i < end; i++) {
            unsigned char c = (unsigned char)s[i];
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
                static const char hex[] = "0123456789abcdef";
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
        }
    }
    return o;
}

void jbuf_str(struct jbuf *b, const char *s, size_t n)
{
    /* worst case: every byte a \u00XX escape */
    if (!jbuf_room(b, 6 * n + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    o = jbuf_escape(o, s, n);
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}

void jbuf_u64(struct jbuf *b, uint64_t v)
{
    char tmp[24];
    size_t n = sizeof tmp;
    do { /* by hand: printf's machinery showed in query profiles */
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    jbuf_raw(b, tmp + n, sizeof tmp - n);
}

void jbuf_i64(struct jbuf *b, int64_t v)
{
    if (v < 0) {
        jbuf_lit(b, "-");
        jbuf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        jbuf_u64(b, (uint64_t)v);
    }
}

void jbuf_real(struct jbuf *b, double v)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (n < 0 || (size_t)n >= sizeof tmp - 2)
        n = snprintf(tmp, sizeof tmp, "0.0");
    else if (!strpbrk(tmp, ".eEn")) /* a real always reads back as one, as jansson writes it */
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".0");
    jbuf_raw(b, tmp, (size_t)n);
}

void jbuf_hex(struct jbuf *b, const uint8_t *bin, size_t n)
{
    if (!jbuf_room(b, 2 * n + 2))
        return;
    b->p[b->len] = '"';
    hub_hex(bin, n, b->p + b->len + 1);
    b->len += 2 * n + 1;
    b->p[b->len++] = '"';
    b->p[b->len] = 0;
}

void jbuf_sep(struct jbuf *b)
{
    if (b->len && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[')
        jbuf_lit(b, ",");
}

void jbuf_key_n(struct jbuf *b, const char *name, size_t n)
{
    /* One room check and no separate calls: a query answer writes ~40 keys per record. */
    if (!jbuf_room(b, 6 * n + 4))
        return;
    char *o = b->p + b->len;
    if (b->len && o[-1] != '{' && o[-1] != '[')
        *o++ = ',';
    *o++ = '"';
    o = jbuf_escape(o, name, n);
    *o++ = '"';
    *o++ = ':';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}
