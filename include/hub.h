/* hub.h: project-wide error codes, limits and small helpers shared by every subsystem. */
#ifndef HUB_H
#define HUB_H

#include <stddef.h>
#include <stdint.h>

#define HUB_VERSION "0.1.0"
#define HUB_CONTROL_PROTOCOL 1

/* Errors: 0 is success, each failure a negative code. hub_strerror() gives the stable name
 * (used in logs, control-socket errors and PROTOCOL.md) and hub_strmsg() a sentence. */
enum hub_err {
    HUB_OK = 0,
    HUB_E_INTERNAL = -1,     /* broken invariant or unexpected library failure */
    HUB_E_NOMEM = -2,        /* allocation failed */
    HUB_E_IO = -3,           /* file or socket I/O failed */
    HUB_E_DISK_FULL = -4,    /* storage full: no room on the disk or in the map */
    HUB_E_DECODE = -5,       /* bytes are not a well-formed message */
    HUB_E_VERSION = -6,      /* unsupported format or protocol version */
    HUB_E_FIELD = -7,        /* a header field is missing or malformed */
    HUB_E_SIGNATURE = -8,    /* signature does not verify */
    HUB_E_PAYLOAD_HASH = -9, /* payload does not match payload_hash/payload_size */
    HUB_E_TOO_LARGE = -10,   /* entry, payload or field exceeds a limit */
    HUB_E_TIMESTAMP = -11,   /* timestamp outside the accepted window */
    HUB_E_SEQ = -12,         /* seq is not the next one for the feed */
    HUB_E_PREV = -13,        /* prev does not match the feed's previous entry id */
    HUB_E_GAP = -14,         /* earlier entries of the feed are missing */
    HUB_E_FORK = -15,        /* same author and seq with a different id */
    HUB_E_FORKED_FEED = -16, /* the feed is frozen after a fork */
    HUB_E_DUPLICATE = -17,   /* entry already held */
    HUB_E_NOT_FOUND = -18,   /* no such entry, record or peer */
    HUB_E_POLICY = -19,      /* author or peer not admitted by the replication policy */
    HUB_E_BAD_REQUEST = -20, /* control request is not valid JSON or lacks fields */
    HUB_E_UNKNOWN_OP = -21,  /* control request names an unknown op */
    HUB_E_TYPE = -22,        /* a field has the wrong JSON type */
    HUB_E_VOCAB = -23,       /* a value is not in its vocabulary */
    HUB_E_RANGE = -24,       /* a number or string is out of range */
    HUB_E_BUSY = -25,        /* resource held by another process, or too many clients */
    HUB_E_CONFIG = -26,      /* configuration error */
    HUB_E_KIND = -27,        /* kind unknown or not allowed here */
    HUB_E_EXPIRED = -28,     /* entry already expired */
    HUB_E_NOT_READY = -29,   /* own feed not yet compared with a peer after start-up */
    HUB_E_KEY_IN_USE = -30,  /* another hub publishes with this hub's key */
    HUB_E_QUOTA = -31,       /* the responder's addressed replies are over its quota */
    HUB_E_BLOCKED = -32,     /* the responder is blocked on this hub (hubctl block) */
};

const char *hub_strerror(int err); /* "E_SIGNATURE" */
const char *hub_strmsg(int err);   /* "signature does not verify" */

/* Limits. Every one is documented in PROTOCOL.md. */
#define HUB_KEY_LEN 32 /* Ed25519 public key */
#define HUB_ID_LEN 32  /* BLAKE2b-256 entry id */
#define HUB_SIG_LEN 64
#define HUB_MAX_HEADER 512                                     /* serialized Entry header bytes */
#define HUB_MAX_PAYLOAD 65536                                  /* payload bytes */
#define HUB_MAX_ENTRY (HUB_MAX_HEADER + HUB_MAX_PAYLOAD + 128) /* SignedEntry wire bytes */
#define HUB_MAX_RECORD_KEY 128                                 /* record key bytes */
#define HUB_MAX_FUTURE_MS (10 * 60 * 1000ULL) /* timestamps may run ahead of our clock by this */
#define HUB_MIN_TIMESTAMP_MS 1577836800000ULL /* 2020-01-01T00:00:00Z */
/* A hub's own feed head may be dated ahead of its clock (the clock ran fast, then was set back):
 * it goes on publishing at the head's timestamp, with a warning, up to this far ahead; beyond it
 * publishing is refused (E_TIMESTAMP) until the clock reaches head - this. PROTOCOL.md §4.5. */
#define HUB_MAX_OWN_AHEAD_MS (24 * 3600 * 1000ULL)
/* The latest `expires` a hub publishes (9999-12-31T23:59:59.999Z, the last ISO 8601 date with a
 * four-digit year): a larger number is a mistake, not a date. Receivers accept any value. */
#define HUB_MAX_EXPIRES_MS 253402300799999ULL
#define HUB_ENTRY_VERSION 1
#define HUB_SIGN_DOMAIN "hubnet/entry/v1" /* signed message = domain || 0x00 || header */

/* Text forms: keys and ids as 64 lowercase hex digits; short form = first 8 digits. */
#define HUB_HEX_LEN 64
void hub_hex(const uint8_t *bin, size_t len, char *out);  /* out holds 2*len+1 */
int hub_unhex(const char *hex, uint8_t *out, size_t len); /* exact length, 0 or HUB_E_FIELD */
int hub_hexval(char c); /* a hex digit's value (either case), -1 for any other char */
/* Binary search of an array of n structs of size bytes sorted by a 32-byte key at their start
 * (a hub or author key): the key's position (*found 1) or where it would go (*found 0). */
size_t hub_key_pos(const void *base, size_t n, size_t size, const uint8_t key[32], int *found);
void hub_short(const uint8_t key[32], char out[9]);

uint64_t hub_now_ms(void);
/* Tests only: hub_now_ms() reads the clock plus this offset (a clock that runs ahead or behind).
 * 0, the default, in hubd. */
void hub_clock_set_test_offset(int64_t ms);
uint64_t hub_mono_ms(void);
uint64_t hub_mono_us(void);

/* The process's malloc set-up, called once by hubd before its threads start: blocks of at least
 * HUB_MMAP_THRESHOLD bytes are mmapped and go back to the system when freed. glibc raises its
 * mmap threshold to the size of each mmapped block freed (up to 32 MiB), after which blocks of
 * that size come from the heap arenas and stay resident: a catch-up's batch buffers and query
 * pages made RssAnon grow with the entries (BENCHMARKS.md, "Catch-up memory"). A threshold set
 * explicitly is fixed. 0, or -1 when mallopt refused it. */
#define HUB_MMAP_THRESHOLD (1024 * 1024)
int hub_malloc_setup(void);

/* Checked unsigned parse of a whole string: 0 or HUB_E_RANGE. */
int hub_parse_u64(const char *s, uint64_t max, uint64_t *out);

#define HUB_WUR __attribute__((warn_unused_result))
#define HUB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Room for at least `need` elements of `size` bytes in the array p of *cap elements (capacity
 * doubled from `first`): the array, moved perhaps, or NULL when memory ran out (p is then still
 * valid and *cap unchanged). Owned by the caller, who frees it. */
void *hub_reserve(void *p, size_t *cap, size_t need, size_t size, size_t first) HUB_WUR;

/* Big-endian 64-bit integers: the store's keys sort by number that way. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HUB_TO_BE64(v) __builtin_bswap64(v)
#else
#define HUB_TO_BE64(v) (v)
#endif

static inline void hub_be64(uint8_t *p, uint64_t v) {
    v = HUB_TO_BE64(v);
    __builtin_memcpy(p, &v, 8); /* one load or store: postings are written by the million */
}

static inline uint64_t hub_rd64(const uint8_t *p) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return HUB_TO_BE64(v);
}

#endif
