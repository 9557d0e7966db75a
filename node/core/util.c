/* util.c: error names, hex text forms, clocks, the checked number parser and the malloc set-up
 * (hub.h). */
#include "hub.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Indexed by -err. The names are part of the control protocol and PROTOCOL.md: never rename
 * one, only add. */
static const struct {
    const char *name;
    const char *msg;
} util_errors[] = {
    [0] = {"OK", "success"},
    [-HUB_E_INTERNAL] = {"E_INTERNAL", "broken invariant or unexpected library failure"},
    [-HUB_E_NOMEM] = {"E_NOMEM", "allocation failed"},
    [-HUB_E_IO] = {"E_IO", "file or socket I/O failed"},
    [-HUB_E_DISK_FULL] = {"E_DISK_FULL", "storage full: no room on the disk or in the map"},
    [-HUB_E_DECODE] = {"E_DECODE", "bytes are not a well-formed message"},
    [-HUB_E_VERSION] = {"E_VERSION", "unsupported format or protocol version"},
    [-HUB_E_FIELD] = {"E_FIELD", "a header field is missing or malformed"},
    [-HUB_E_SIGNATURE] = {"E_SIGNATURE", "signature does not verify"},
    [-HUB_E_PAYLOAD_HASH] = {"E_PAYLOAD_HASH", "payload does not match payload_hash/payload_size"},
    [-HUB_E_TOO_LARGE] = {"E_TOO_LARGE", "entry, payload or field exceeds a limit"},
    [-HUB_E_TIMESTAMP] = {"E_TIMESTAMP", "timestamp outside the accepted window"},
    [-HUB_E_SEQ] = {"E_SEQ", "seq is not the next one for the feed"},
    [-HUB_E_PREV] = {"E_PREV", "prev does not match the feed's previous entry id"},
    [-HUB_E_GAP] = {"E_GAP", "earlier entries of the feed are missing"},
    [-HUB_E_FORK] = {"E_FORK", "same author and seq with a different id"},
    [-HUB_E_FORKED_FEED] = {"E_FORKED_FEED", "the feed is frozen after a fork"},
    [-HUB_E_DUPLICATE] = {"E_DUPLICATE", "entry already held"},
    [-HUB_E_NOT_FOUND] = {"E_NOT_FOUND", "no such entry, record or peer"},
    [-HUB_E_POLICY] = {"E_POLICY", "author or peer not admitted by the replication policy"},
    [-HUB_E_BAD_REQUEST] = {"E_BAD_REQUEST", "control request is not valid JSON or lacks fields"},
    [-HUB_E_UNKNOWN_OP] = {"E_UNKNOWN_OP", "control request names an unknown op"},
    [-HUB_E_TYPE] = {"E_TYPE", "a field has the wrong JSON type"},
    [-HUB_E_VOCAB] = {"E_VOCAB", "a value is not in its vocabulary"},
    [-HUB_E_RANGE] = {"E_RANGE", "a number or string is out of range"},
    [-HUB_E_BUSY] = {"E_BUSY", "resource held by another process, or too many clients"},
    [-HUB_E_CONFIG] = {"E_CONFIG", "configuration error"},
    [-HUB_E_KIND] = {"E_KIND", "kind unknown or not allowed here"},
    [-HUB_E_EXPIRED] = {"E_EXPIRED", "entry already expired"},
    [-HUB_E_NOT_READY] = {"E_NOT_READY",
                          "own feed not yet compared with a peer after start-up: retry shortly"},
    [-HUB_E_KEY_IN_USE] = {"E_KEY_IN_USE",
                           "another hub publishes with this hub's key (see hubctl status)"},
    [-HUB_E_QUOTA] = {"E_QUOTA", "the responder's addressed replies are over its quota"},
    [-HUB_E_BLOCKED] = {"E_BLOCKED", "the responder is blocked on this hub"},
};

static int util_err_known(int err) {
    return err <= 0 && (size_t) - (long)err < HUB_ARRAY_LEN(util_errors) &&
           util_errors[-err].name != NULL;
}

const char *hub_strerror(int err) {
    return util_err_known(err) ? util_errors[-err].name : "E_UNKNOWN";
}

const char *hub_strmsg(int err) {
    return util_err_known(err) ? util_errors[-err].msg : "unknown error";
}

void hub_hex(const uint8_t *bin, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    size_t i = 0;
#ifdef __SSE2__
    /* 16 bytes at a time (a record view writes four 32-byte ids): each nibble n becomes
     * '0' + n, plus 39 ('a' - '0' - 10) where n > 9 */
    const __m128i low4 = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
    const __m128i zero = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(bin + i));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4), lo = _mm_and_si128(v, low4);
        __m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);
        a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
        b = _mm_add_epi8(_mm_add_epi8(b, zero), _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
        _mm_storeu_si128((__m128i *)(void *)(out + 2 * i), a);
        _mm_storeu_si128((__m128i *)(void *)(out + 2 * i + 16), b);
    }
#endif
    for (; i < len; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

int hub_hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hub_unhex(const char *hex, uint8_t *out, size_t len) {
    if (hex == NULL || strnlen(hex, 2 * len + 1) != 2 * len)
        return HUB_E_FIELD;
    /* Validate everything first so that out is untouched on failure. */
    for (size_t i = 0; i < 2 * len; i++)
        if (hub_hexval(hex[i]) < 0)
            return HUB_E_FIELD;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(hub_hexval(hex[2 * i]) << 4 | hub_hexval(hex[2 * i + 1]));
    return 0;
}

void hub_short(const uint8_t key[32], char out[9]) {
    hub_hex(key, 4, out);
}

static uint64_t util_clock_ms(clockid_t id) {
    struct timespec ts;

    /* Cannot fail for these clocks on Linux; a zero time is the visible fallback. */
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Set only by unit tests, before the threads that read it start. */
static int64_t util_clock_test_offset;

void hub_clock_set_test_offset(int64_t ms) {
    util_clock_test_offset = ms;
}

uint64_t hub_now_ms(void) {
    return util_clock_ms(CLOCK_REALTIME) + (uint64_t)util_clock_test_offset;
}

uint64_t hub_mono_ms(void) {
    return util_clock_ms(CLOCK_MONOTONIC);
}

uint64_t hub_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int hub_parse_u64(const char *s, uint64_t max, uint64_t *out) {
    uint64_t v = 0;

    /* Digits only: strtoull would accept leading blanks, a sign and wrap "-1" to UINT64_MAX. */
    if (s == NULL || *s == '\0')
        return HUB_E_RANGE;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return HUB_E_RANGE;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return HUB_E_RANGE;
        v = v * 10 + d;
    }
    if (v > max)
        return HUB_E_RANGE;
    *out = v;
    return 0;
}

void *hub_reserve(void *p, size_t *cap, size_t need, size_t size, size_t first) {
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    void *n = realloc(p, c * size);
    if (n)
        *cap = c;
    return n;
}

size_t hub_key_pos(const void *base, size_t n, size_t size, const uint8_t key[32], int *found) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp((const uint8_t *)base + mid * size, key, 32);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

int hub_malloc_setup(void) {
    return mallopt(M_MMAP_THRESHOLD, HUB_MMAP_THRESHOLD) == 1 ? 0 : -1;
}
