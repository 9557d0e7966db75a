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

/* The growing half of jbuf_room, out of line: a query page calls jbuf_room a few thousand
 * times and grows the buffer once. */
static int jbuf_grow(struct jbuf *b, size_t n)
{
    if (b->oom)
        return 0;
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

static inline int jbuf_room(struct jbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap && !b->oom)
        return 1;
    return jbuf_grow(b, n);
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

/* Copies the bytes from s[i] on that need no escape to *o, in whole blocks (16 bytes with
 * SSE2, which every x86-64 has, then 8 with SWAR) as long as a block holds none that does;
 * advances *o and returns the index of the first byte not copied. Stores each block as it is
 * checked: a memcpy call afterwards cost more than the short values it copied. */
static size_t jbuf_copy_plain(char **o, const char *s, size_t i, size_t n)
{
    char *out = *o;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i below = _mm_set1_epi8(0x1f);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* unsigned v <= 0x1f  <=>  max(v, 0x1f) == 0x1f */
        __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, below), below);
        __m128i bad = _mm_or_si128(ctl, _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                      _mm_cmpeq_epi8(v, bslash)));
        if (_mm_movemask_epi8(bad))
            break;
        _mm_storeu_si128((__m128i *)(void *)out, v);
        out += 16;
        i += 16;
    }
#endif
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (jbuf_word_needs_escape(w))
            break;
        memcpy(out, &w, 8);
        out += 8;
        i += 8;
    }
    *o = out;
    return i;
}

/* The escape of each byte value: 0 for none, else the letter after the backslash ('u' for
 * \u00XX). */
static const char jbuf_esc[256] = {
    ['"'] = '"', ['\\'] = '\\', ['\n'] = 'n', ['\t'] = 't',
    [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u',
    [0x06] = 'u', [0x07] = 'u', [0x08] = 'u', [0x0b] = 'u', [0x0c] = 'u', [0x0d] = 'u',
    [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
    [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u', [0x19] = 'u',
    [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u',
};

/* Writes s[i..end) escaped at o, a byte at a time; returns the end of the output. */
static char *jbuf_escape_bytes(char *o, const char *s, size_t i, size_t end)
{
    static const char hex[] = "0123456789abcdef";
    for (; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = jbuf_esc[c];
        if (e == 0) {
            *o++ = (char)c;
        } else if (e != 'u') {
            o[0] = '\\';
            o[1] = e;
            o += 2;
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    return o;
}

/* Writes s (n bytes) escaped, without the quotes, at o; returns the end. o has room for 6 n.
 * Most text needs no escape at all: it goes in blocks, and only a block that holds a byte
 * needing one (or the last few bytes, and most values are short) goes a byte at a time. */
static char *jbuf_escape(char *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        i = jbuf_copy_plain(&o, s, i, n);
        size_t end = n - i > 8 ? i + 8 : n;
        o = jbuf_escape_bytes(o, s, i, end);
        i = end;
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

size_t jbuf_u64_text(uint64_t v, char out[JBUF_U64_MAX])
{
    /* by hand: printf's machinery showed in query profiles. Counted first so that the digits
     * go straight to their place, two at a time from a table. */
    static const char pairs[] = "000102030405060708091011121314151617181920212223242526272829"
                                "303132333435363738394041424344454647484950515253545556575859"
                                "606162636465666768697071727374757677787980818283848586878889"
                                "90919293949596979899";
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    char *o = out + n;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100);
        v /= 100;
        o -= 2;
        memcpy(o, pairs + 2 * d, 2);
    }
    if (v >= 10) {
        memcpy(o - 2, pairs + 2 * v, 2);
    } else {
        o[-1] = (char)('0' + v);
    }
    return n;
}

void jbuf_u64(struct jbuf *b, uint64_t v)
{
    if (!jbuf_room(b, JBUF_U64_MAX))
        return;
    b->len += jbuf_u64_text(v, b->p + b->len);
    b->p[b->len] = 0;
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

void jbuf_key_plain(struct jbuf *b, const char *name, size_t n)
{
    /* the names of this program's own members: ~40 a record in a query answer, where
     * escaping them (which finds nothing) cost more than writing them */
    jbuf_key_const(b, name, n);
}
