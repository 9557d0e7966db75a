/* entry.c: build, sign, hash, decode and verify signed entries.
 *
 * The outer SignedEntry is parsed by hand, without copying, so that the header, signature and
 * payload are exactly the bytes received: we verify what we got and never re-serialize.
 * The header (Entry) is unpacked with protobuf-c. PROTOCOL.md gives the rules in order. */
#include "entry.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "entry.pb-c.h"
#include "identity.h"
#include "pbcheck.h"

/* ---- protobuf wire helpers for the outer message ---- */

static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static size_t wire_put_varint(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Skip an unknown field of the given wire type. */
static int wire_skip(const uint8_t **p, const uint8_t *end, unsigned type) {
    uint64_t v;
    switch (type) {
    case 0:
        return wire_varint(p, end, &v);
    case 1:
        if (end - *p < 8)
            return -1;
        *p += 8;
        return 0;
    case 2:
        if (wire_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p))
            return -1;
        *p += v;
        return 0;
    case 5:
        if (end - *p < 4)
            return -1;
        *p += 4;
        return 0;
    default:
        return -1;
    }
}

/* SignedEntry: fields 1 header, 2 signature, 3 payload, each bytes, each at most once. */
static int entry_split(const uint8_t *wire, size_t len, struct entry *e) {
    const uint8_t *p = wire, *end = wire + len;
    int seen[4] = {0};
    while (p < end) {
        /* The tag rules of §3.2 hold here too (§4.3 step 1): at most 5 bytes, field 1 … 2^29−1,
         * wire type 0, 1, 2 or 5. */
        uint32_t field;
        unsigned type;
        if (pb_read_tag(&p, end, &field, &type) != HUB_OK)
            return HUB_E_DECODE;
        if (field <= 3) {
            uint64_t n;
            if (type != 2 || seen[field] || wire_varint(&p, end, &n) != 0 ||
                n > (uint64_t)(end - p))
                return HUB_E_DECODE;
            seen[field] = 1;
            if (field == 1) {
                e->header = p;
                e->header_len = n;
            } else if (field == 2) {
                if (n != HUB_SIG_LEN)
                    return HUB_E_FIELD;
                e->sig = p;
            } else {
                e->payload = n ? p : NULL;
                e->payload_len = n;
            }
            p += n;
        } else {
            const uint8_t *val;
            size_t vlen;
            if (pb_skip_value(&p, end, type, &val, &vlen) != HUB_OK)
                return HUB_E_DECODE;
        }
    }
    if (!seen[1] || !seen[2])
        return HUB_E_DECODE;
    return HUB_OK;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points above U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* The record key exactly as the header encodes it (protobuf: the last field 7 wins). The
 * unpacked C string cannot show a key with a NUL inside whole, so the bytes are checked. */
static int header_key_valid(const uint8_t *hdr, size_t len, const char *unpacked) {
    const uint8_t *p = hdr, *end = hdr + len, *key = NULL;
    uint64_t klen = 0;
    while (p < end) {
        uint64_t tag, n;
        if (wire_varint(&p, end, &tag) != 0)
            return 0;
        if (tag >> 3 == 7 && (tag & 7) == 2) {
            if (wire_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
                return 0;
            key = p;
            klen = n;
            p += n;
        } else if (wire_skip(&p, end, (unsigned)(tag & 7)) != 0) {
            return 0;
        }
    }
    return key && klen == strlen(unpacked) && utf8_valid(key, klen);
}

static int key_valid(const char *k) {
    size_t n = strlen(k);
    if (n == 0 || n > HUB_MAX_RECORD_KEY)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
            return 0;
    return 1;
}

/* A header (at most HUB_MAX_HEADER bytes) of known fields unpacks into far less than this, so
 * decoding it takes no malloc: every entry received is decoded first, by the thousand. */
struct hdr_arena {
    size_t used;
    size_t mallocs; /* fallbacks to malloc not yet freed */
    _Alignas(max_align_t) unsigned char buf[4096];
};

static void *hdr_alloc(void *data, size_t size) {
    struct hdr_arena *a = data;
    size_t n = (size + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    if (n < size || n > sizeof a->buf - a->used) {
        void *p = malloc(size); /* a header of many tiny unknown fields can need more */
        if (p != NULL)
            a->mallocs++;
        return p;
    }
    void *p = a->buf + a->used;
    a->used += n;
    return p;
}

static void hdr_free(void *data, void *p) {
    struct hdr_arena *a = data;
    unsigned char *c = p;
    if (p != NULL && (c < a->buf || c >= a->buf + sizeof a->buf)) {
        free(p);
        a->mallocs--;
    }
}

int entry_decode(const uint8_t *wire, size_t len, struct entry *out) {
    memset(out, 0, sizeof *out);
    if (len > HUB_MAX_ENTRY)
        return HUB_E_TOO_LARGE;
    int rc = entry_split(wire, len, out);
    if (rc != 0)
        return rc;
    if (out->header_len > HUB_MAX_HEADER || out->payload_len > HUB_MAX_PAYLOAD)
        return HUB_E_TOO_LARGE;
    out->wire = wire;
    out->wire_len = len;

    /* §3.2's rules first: protobuf-c reads a field number of 2^29 or more as an unknown field. */
    if (pb_check_strict(&hubnet__entry__descriptor, out->header, out->header_len) != HUB_OK)
        return HUB_E_DECODE;
    struct hdr_arena arena;
    arena.used = 0;
    arena.mallocs = 0;
    ProtobufCAllocator alloc = {hdr_alloc, hdr_free, &arena};
    Hubnet__Entry *h = hubnet__entry__unpack(&alloc, out->header_len, out->header);
    if (!h)
        return HUB_E_DECODE;
    rc = HUB_OK;
    if (h->version != HUB_ENTRY_VERSION) {
        rc = HUB_E_VERSION;
    } else if (h->author.len != HUB_KEY_LEN || h->seq == 0 || h->payload_hash.len != 32 ||
               (h->seq == 1 ? h->prev.len != 0 : h->prev.len != HUB_ID_LEN) || !key_valid(h->key) ||
               !header_key_valid(out->header, out->header_len, h->key) ||
               (h->expires != 0 && h->expires <= h->timestamp)) {
        rc = HUB_E_FIELD;
    } else if (h->kind < HUBNET__KIND__KIND_PROFILE || h->kind > HUBNET__KIND__KIND_ENDORSEMENT) {
        rc = HUB_E_KIND;
    } else if (h->payload_size > HUB_MAX_PAYLOAD) {
        rc = HUB_E_TOO_LARGE;
    } else {
        memcpy(out->author, h->author.data, HUB_KEY_LEN);
        out->seq = h->seq;
        if (h->prev.len)
            memcpy(out->prev, h->prev.data, HUB_ID_LEN);
        out->timestamp = h->timestamp;
        out->kind = (int)h->kind;
        memcpy(out->key, h->key, strlen(h->key) + 1);
        memcpy(out->payload_hash, h->payload_hash.data, 32);
        out->payload_size = h->payload_size;
        out->expires = h->expires;
        crypto_generichash(out->id, HUB_ID_LEN, out->header, out->header_len, NULL, 0);
    }
    if (arena.mallocs != 0) /* else all of it is on the stack: nothing to walk and free */
        hubnet__entry__free_unpacked(h, &alloc);
    return rc;
}

/* self: this hub's identity or NULL. Its own entries are checked with its secret scalar
 * (identity_verify_own: the same verdict, a third of the cost). */
static int entry_check_sig(const uint8_t *sig, const uint8_t *header, size_t header_len,
                           const uint8_t *author, const struct identity *self) {
    uint8_t msg[sizeof HUB_SIGN_DOMAIN + HUB_MAX_HEADER]; /* domain, 0x00, header */
    memcpy(msg, HUB_SIGN_DOMAIN, sizeof HUB_SIGN_DOMAIN);
    memcpy(msg + sizeof HUB_SIGN_DOMAIN, header, header_len);
    size_t len = sizeof HUB_SIGN_DOMAIN + header_len;
    if (self && memcmp(author, self->pk, HUB_KEY_LEN) == 0)
        return identity_verify_own(self, sig, msg, len);
    return crypto_sign_verify_detached(sig, msg, len, author);
}

int entry_verify(const struct entry *e, uint64_t now_ms) {
    return entry_verify_at(e, now_ms, NULL);
}

int entry_verify_at(const struct entry *e, uint64_t now_ms, const struct identity *self) {
    if (entry_verify_sig(e, self) != 0)
        return HUB_E_SIGNATURE;
    return entry_verify_chained(e, now_ms);
}

int entry_verify_sig(const struct entry *e, const struct identity *self) {
    if (entry_check_sig(e->sig, e->header, e->header_len, e->author, self) != 0)
        return HUB_E_SIGNATURE;
    return HUB_OK;
}

int entry_verify_chained(const struct entry *e, uint64_t now_ms) {
    /* An absent payload is a purged one: the header still verifies the chain. */
    if (e->payload_len || e->payload_size == 0) {
        uint8_t h[32];
        if (e->payload_len != e->payload_size)
            return HUB_E_PAYLOAD_HASH;
        crypto_generichash(h, sizeof h, e->payload, e->payload_len, NULL, 0);
        if (sodium_memcmp(h, e->payload_hash, sizeof h) != 0)
            return HUB_E_PAYLOAD_HASH;
    }
    if (e->timestamp < HUB_MIN_TIMESTAMP_MS || e->timestamp > now_ms + HUB_MAX_FUTURE_MS)
        return HUB_E_TIMESTAMP;
    return HUB_OK;
}

/* Encode header, signature and payload as a SignedEntry (canonical field order). */
static int entry_encode(const uint8_t *header, size_t hlen, const uint8_t *sig,
                        const uint8_t *payload, size_t plen, uint8_t **wire, size_t *wire_len) {
    uint8_t *buf = malloc(hlen + plen + HUB_SIG_LEN + 16);
    if (!buf)
        return HUB_E_NOMEM;
    size_t n = 0;
    buf[n++] = 0x0a;
    n += wire_put_varint(buf + n, hlen);
    memcpy(buf + n, header, hlen);
    n += hlen;
    buf[n++] = 0x12;
    n += wire_put_varint(buf + n, HUB_SIG_LEN);
    memcpy(buf + n, sig, HUB_SIG_LEN);
    n += HUB_SIG_LEN;
    if (plen) {
        buf[n++] = 0x1a;
        n += wire_put_varint(buf + n, plen);
        memcpy(buf + n, payload, plen);
        n += plen;
    }
    *wire = buf;
    *wire_len = n;
    return HUB_OK;
}

int entry_build_header(const uint8_t author[32], const struct entry_draft *d, uint8_t *header,
                       size_t *header_len, uint8_t id[HUB_ID_LEN]) {
    if (d->payload_len > HUB_MAX_PAYLOAD)
        return HUB_E_TOO_LARGE;
    if (!d->key || !key_valid(d->key))
        return HUB_E_FIELD;
    uint8_t phash[32];
    crypto_generichash(phash, sizeof phash, d->payload, d->payload_len, NULL, 0);

    Hubnet__Entry h = HUBNET__ENTRY__INIT;
    h.version = HUB_ENTRY_VERSION;
    h.author.data = (uint8_t *)author;
    h.author.len = HUB_KEY_LEN;
    h.seq = d->seq;
    if (d->seq > 1) {
        h.prev.data = (uint8_t *)d->prev;
        h.prev.len = HUB_ID_LEN;
    }
    h.timestamp = d->timestamp;
    h.kind = (Hubnet__Kind)d->kind;
    h.key = (char *)d->key;
    h.payload_hash.data = phash;
    h.payload_hash.len = sizeof phash;
    h.payload_size = (uint32_t)d->payload_len;
    h.expires = d->expires;

    size_t hlen = hubnet__entry__get_packed_size(&h);
    if (hlen > HUB_MAX_HEADER)
        return HUB_E_TOO_LARGE;
    hubnet__entry__pack(&h, header);
    *header_len = hlen;
    crypto_generichash(id, HUB_ID_LEN, header, hlen, NULL, 0);
    return HUB_OK;
}

int entry_sign(const struct identity *id, const uint8_t *header, size_t hlen,
               const uint8_t *payload, size_t plen, uint8_t **wire, size_t *wire_len) {
    uint8_t msg[sizeof HUB_SIGN_DOMAIN + HUB_MAX_HEADER];
    if (hlen > HUB_MAX_HEADER)
        return HUB_E_TOO_LARGE;
    memcpy(msg, HUB_SIGN_DOMAIN, sizeof HUB_SIGN_DOMAIN);
    memcpy(msg + sizeof HUB_SIGN_DOMAIN, header, hlen);
    uint8_t sig[HUB_SIG_LEN];
    if (crypto_sign_detached(sig, NULL, msg, sizeof HUB_SIGN_DOMAIN + hlen, id->sk) != 0)
        return HUB_E_INTERNAL;
    return entry_encode(header, hlen, sig, payload, plen, wire, wire_len);
}

int entry_build(const struct identity *id, const struct entry_draft *d, uint8_t **wire,
                size_t *wire_len) {
    uint8_t header[HUB_MAX_HEADER], eid[HUB_ID_LEN];
    size_t hlen;
    int rc = entry_build_header(id->pk, d, header, &hlen, eid);
    if (rc != 0)
        return rc;
    return entry_sign(id, header, hlen, d->payload, d->payload_len, wire, wire_len);
}

int entry_strip_payload(const struct entry *e, uint8_t **out, size_t *out_len) {
    return entry_encode(e->header, e->header_len, e->sig, NULL, 0, out, out_len);
}

void entry_id_hex(const struct entry *e, char out[HUB_HEX_LEN + 1]) {
    hub_hex(e->id, HUB_ID_LEN, out);
}

static const char *const kind_names[] = {
    [HUBNET__KIND__KIND_PROFILE] = "profile",
    [HUBNET__KIND__KIND_OFFER] = "offer",
    [HUBNET__KIND__KIND_REQUEST] = "request",
    [HUBNET__KIND__KIND_RESPONSE] = "response",
    [HUBNET__KIND__KIND_RETRACTION] = "retraction",
    [HUBNET__KIND__KIND_ENDORSEMENT] = "endorsement",
};

const char *entry_kind_name(int kind) {
    if (kind <= 0 || (size_t)kind >= HUB_ARRAY_LEN(kind_names))
        return NULL;
    return kind_names[kind];
}

int entry_kind_parse(const char *name) {
    for (size_t i = 1; i < HUB_ARRAY_LEN(kind_names); i++)
        if (strcmp(kind_names[i], name) == 0)
            return (int)i;
    return HUB_E_KIND;
}
