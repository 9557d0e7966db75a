/* pbcheck.h: the strict decoding rules of PROTOCOL.md §3.2 that protobuf-c does not apply by
 * itself (it reads a tag of field number 2^29 or more, or a field 0 written in two bytes, as an
 * unknown field). Every hub must refuse exactly the same bytes: an entry one hub refuses and
 * another relays splits the network. */
#ifndef HUB_PBCHECK_H
#define HUB_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#define PB_MAX_TAG_BYTES 5            /* a tag is a varint of at most 5 bytes */
#define PB_MAX_FIELD ((1u << 29) - 1) /* field numbers 1 … 2^29 − 1 */
#define PB_MAX_VARINT_BYTES 10        /* a varint is at most 10 bytes */
#define PB_MAX_DEPTH 8                /* nested messages walked (hubnet's nest 2 deep) */

/* The three readers below are inline: the query path reads ~40 tags a record with them (the
 * entry header's strict check, the seats fields of each offer), a call each cost more than the
 * reading. */

/* One tag at *p: HUB_OK with *field and *type set and *p past it, or HUB_E_DECODE (a tag longer
 * than 5 bytes, field number 0 or above 2^29 − 1, wire type 3, 4, 6 or 7, truncated). */
HUB_WUR static inline int pb_read_tag(const uint8_t **p, const uint8_t *end, uint32_t *field,
                                      unsigned *type) {
    uint64_t tag = 0;
    for (int i = 0;; i++) {
        if (i == PB_MAX_TAG_BYTES || *p >= end)
            return HUB_E_DECODE;
        uint8_t b = *(*p)++;
        tag |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    uint64_t f = tag >> 3;
    unsigned t = (unsigned)(tag & 7);
    if (f == 0 || f > PB_MAX_FIELD || !(t == 0 || t == 1 || t == 2 || t == 5))
        return HUB_E_DECODE;
    *field = (uint32_t)f;
    *type = t;
    return HUB_OK;
}

/* One varint of at most 10 bytes: HUB_OK or HUB_E_DECODE (truncated or longer). */
HUB_WUR static inline int pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < PB_MAX_VARINT_BYTES; i++) {
        if (*p >= end)
            return HUB_E_DECODE;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return HUB_OK;
        }
    }
    return HUB_E_DECODE;
}

/* The value of wire type `type` at *p skipped (a length-delimited value: *val, *val_len are its
 * bytes): HUB_OK or HUB_E_DECODE (truncated, or a length past the end). */
HUB_WUR static inline int pb_skip_value(const uint8_t **p, const uint8_t *end, unsigned type,
                                        const uint8_t **val, size_t *val_len) {
    uint64_t n;
    *val = NULL;
    *val_len = 0;
    switch (type) {
    case 0:
        return pb_read_varint(p, end, &n);
    case 1:
    case 5:
        n = type == 1 ? 8 : 4;
        if ((uint64_t)(end - *p) < n)
            return HUB_E_DECODE;
        *p += n;
        return HUB_OK;
    case 2:
        if (pb_read_varint(p, end, &n) != HUB_OK || n > (uint64_t)(end - *p))
            return HUB_E_DECODE;
        *val = *p;
        *val_len = (size_t)n;
        *p += n;
        return HUB_OK;
    default:
        return HUB_E_DECODE;
    }
}

/* The whole message of descriptor d in buf[0, len) under §3.2: every tag as pb_read_tag, every
 * value complete, each field the message defines with the wire type of its declared type (a
 * repeated numeric field may also be packed), a non-repeated message field at most once
 * (protobuf would merge two occurrences, protobuf-c keeps the last: no rule every library
 * follows), and the same for every nested message field. Messages of at most 64 fields.
 * HUB_OK or HUB_E_DECODE. UTF-8 is not a decoding rule (§3.2) and is not checked here. */
int pb_check_strict(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len) HUB_WUR;

#endif
