/* entry.h: build, sign, hash, decode and verify signed entries (PROTOCOL.md, "Entries"). */
#ifndef HUB_ENTRY_H
#define HUB_ENTRY_H

#include "hub.h"
#include <stddef.h>
#include <stdint.h>

struct identity;

/* A decoded entry. Byte pointers (header, sig, payload) point into the wire buffer given to
 * entry_decode, which must outlive this struct. */
struct entry {
    uint8_t id[HUB_ID_LEN];
    uint8_t author[HUB_KEY_LEN];
    uint64_t seq;
    uint8_t prev[HUB_ID_LEN]; /* zero when seq == 1 */
    uint64_t timestamp;       /* ms since epoch */
    int kind;                 /* Hubnet__Kind */
    char key[HUB_MAX_RECORD_KEY + 1];
    uint8_t payload_hash[32];
    uint32_t payload_size;
    uint64_t expires;    /* ms since epoch, 0 = never */
    const uint8_t *wire; /* whole SignedEntry */
    size_t wire_len;
    const uint8_t *header;
    size_t header_len;
    const uint8_t *sig;
    const uint8_t *payload; /* NULL / 0 when purged */
    size_t payload_len;
};

/* Parse a SignedEntry and its header; checks structure and limits (not the signature).
 * Errors: E_DECODE, E_TOO_LARGE, E_VERSION, E_FIELD, E_KIND. */
int entry_decode(const uint8_t *wire, size_t len, struct entry *out) HUB_WUR;
/* Signature over the header, then payload hash and size (if the payload is present),
 * then the timestamp window against now_ms. Errors: E_SIGNATURE, E_PAYLOAD_HASH, E_TIMESTAMP. */
int entry_verify(const struct entry *e, uint64_t now_ms) HUB_WUR;
/* entry_verify on a hub: self is its identity (or NULL), whose own entries are checked with the
 * secret key (identity_verify_own), with the same verdict. */
int entry_verify_at(const struct entry *e, uint64_t now_ms, const struct identity *self) HUB_WUR;
/* entry_verify_at in its two parts. sig: the signature alone (step 11). chained: the rest
 * (payload hash and size, timestamp window: steps 12-13), all an entry needs whose header is
 * authenticated by the hash chain from a later entry of its feed whose signature was checked
 * (PROTOCOL.md 9.16); its own signature is then checked later (sigcheck.c). */
int entry_verify_sig(const struct entry *e, const struct identity *self) HUB_WUR;
int entry_verify_chained(const struct entry *e, uint64_t now_ms) HUB_WUR;

struct entry_draft {
    uint64_t seq;
    const uint8_t *prev; /* NULL for seq 1 */
    uint64_t timestamp;
    int kind;
    const char *key;
    const uint8_t *payload;
    size_t payload_len;
    uint64_t expires;
};
/* Build and sign an entry. *wire is malloc'd, owned by the caller. */
/* The two halves of entry_build: the header and its id need no signature, so a feed's chain
 * (prev = id of the previous header) can be built first and the signing done in parallel.
 * header holds HUB_MAX_HEADER bytes. */
int entry_build_header(const uint8_t author[32], const struct entry_draft *d, uint8_t *header,
                       size_t *header_len, uint8_t id[HUB_ID_LEN]) HUB_WUR;
int entry_sign(const struct identity *id, const uint8_t *header, size_t header_len,
               const uint8_t *payload, size_t payload_len, uint8_t **wire,
               size_t *wire_len) HUB_WUR;
int entry_build(const struct identity *id, const struct entry_draft *d, uint8_t **wire,
                size_t *wire_len) HUB_WUR;
/* Re-encode the wire form without the payload (after a purge). *out malloc'd. */
int entry_strip_payload(const struct entry *e, uint8_t **out, size_t *out_len) HUB_WUR;

void entry_id_hex(const struct entry *e, char out[HUB_HEX_LEN + 1]);
const char *entry_kind_name(int kind);  /* "offer"; NULL if unknown */
int entry_kind_parse(const char *name); /* kind number or HUB_E_KIND */

#endif
