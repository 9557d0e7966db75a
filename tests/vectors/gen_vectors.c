/* gen_vectors.c: print the entry test vectors (tests/vectors/entries.txt) from fixed seeds.
 *
 *   gen_vectors                 print the vectors on stdout
 *   gen_vectors --check FILE    exit 0 if FILE holds exactly what would be printed, else 1
 *
 * Everything is fixed (seeds, timestamps, payload JSON) and Ed25519 signatures are
 * deterministic, so the output never changes unless the entry or payload encoding does; the
 * ctest entry_vectors_stable runs --check against the checked-in file.
 *
 * The chain: hub A (seed 0x01..0x20) publishes its profile (seq 1), a train-the-trainer offer
 * (seq 2, key "ttt-ai-2027", with an expiry) and the retraction of that offer (seq 3); hub B
 * (seed 32 x 0xa5) endorses A (seq 1). */
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "record.h"

#define OUT_MAX (256 * 1024)

struct out {
    char buf[OUT_MAX];
    size_t len;
    int overflow;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof o->buf - o->len) {
        o->overflow = 1;
        return;
    }
    o->len += (size_t)n;
}

static void out_hex(struct out *o, const char *name, const uint8_t *b, size_t len) {
    out_printf(o, "%s ", name);
    for (size_t i = 0; i < len; i++)
        out_printf(o, "%02x", b[i]);
    out_printf(o, "\n");
}

static void die(const char *what, int rc) {
    fprintf(stderr, "gen_vectors: %s: %s\n", what, rc < 0 ? hub_strerror(rc) : "failed");
    exit(2);
}

/* One vector: build the entry and print every intermediate. prev_id NULL at seq 1;
 * id_out receives the entry id for the next link of the chain. */
static void vector(struct out *o, const char *name, const uint8_t seed[32], uint64_t seq,
                   const uint8_t *prev_id, uint64_t timestamp, int kind, const char *key,
                   uint64_t expires, const char *json_text, uint8_t id_out[32]) {
    struct identity id;
    int rc = identity_from_seed(seed, &id);
    if (rc != 0)
        die("identity_from_seed", rc);

    json_error_t jerr;
    json_t *js = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    if (!js) {
        fprintf(stderr, "gen_vectors: %s: bad JSON: %s\n", name, jerr.text);
        exit(2);
    }
    uint8_t *payload = NULL;
    size_t plen = 0;
    struct record_error rerr = {{0}, {0}};
    rc = record_from_json(kind, js, &payload, &plen, &rerr);
    json_decref(js);
    if (rc != 0) {
        fprintf(stderr, "gen_vectors: %s: record_from_json: %s (%s: %s)\n", name, hub_strerror(rc),
                rerr.field, rerr.message);
        exit(2);
    }

    struct entry_draft d = {
        .seq = seq,
        .prev = prev_id,
        .timestamp = timestamp,
        .kind = kind,
        .key = key,
        .payload = payload,
        .payload_len = plen,
        .expires = expires,
    };
    uint8_t *wire = NULL;
    size_t wlen = 0;
    if ((rc = entry_build(&id, &d, &wire, &wlen)) != 0)
        die("entry_build", rc);
    struct entry e;
    if ((rc = entry_decode(wire, wlen, &e)) != 0)
        die("entry_decode", rc);
    if ((rc = entry_verify(&e, timestamp + 1000)) != 0)
        die("entry_verify", rc);

    /* The signed message, spelled out: "hubnet/entry/v1", one 0x00 byte, the header bytes. */
    size_t dlen = strlen(HUB_SIGN_DOMAIN);
    size_t mlen = dlen + 1 + e.header_len;
    uint8_t *msg = malloc(mlen);
    if (!msg)
        die("malloc", HUB_E_NOMEM);
    memcpy(msg, HUB_SIGN_DOMAIN, dlen);
    msg[dlen] = 0x00;
    memcpy(msg + dlen + 1, e.header, e.header_len);
    if (crypto_sign_verify_detached(e.sig, msg, mlen, id.pk) != 0)
        die("signature check of the spelled-out message", HUB_E_SIGNATURE);
    uint8_t hid[32];
    crypto_generichash(hid, sizeof hid, e.header, e.header_len, NULL, 0);
    if (memcmp(hid, e.id, 32) != 0)
        die("id is not BLAKE2b-256 of the header", HUB_E_INTERNAL);

    out_printf(o, "vector %s\n", name);
    out_hex(o, "seed", seed, 32);
    out_hex(o, "public_key", id.pk, 32);
    out_hex(o, "curve_public_key", id.curve_pk, 32);
    out_printf(o, "seq %llu\n", (unsigned long long)seq);
    if (prev_id)
        out_hex(o, "prev", prev_id, 32);
    else
        out_printf(o, "prev -\n");
    out_printf(o, "timestamp %llu\n", (unsigned long long)timestamp);
    out_printf(o, "kind %d %s\n", kind, entry_kind_name(kind));
    out_printf(o, "key %s\n", key);
    out_printf(o, "expires %llu\n", (unsigned long long)expires);
    out_printf(o, "payload_json %s\n", json_text);
    out_hex(o, "payload", payload, plen);
    out_hex(o, "payload_hash", e.payload_hash, 32);
    out_printf(o, "payload_size %u\n", e.payload_size);
    out_hex(o, "header", e.header, e.header_len);
    out_hex(o, "signed_message", msg, mlen);
    out_hex(o, "signature", e.sig, HUB_SIG_LEN);
    out_hex(o, "id", e.id, 32);
    out_hex(o, "wire", wire, wlen);
    out_printf(o, "end\n\n");

    memcpy(id_out, e.id, 32);
    free(msg);
    free(wire);
    free(payload);
    identity_wipe(&id);
}

static void generate(struct out *o) {
    uint8_t seed_a[32], seed_b[32];
    for (int i = 0; i < 32; i++)
        seed_a[i] = (uint8_t)(i + 1);
    memset(seed_b, 0xa5, sizeof seed_b);
    struct identity a;
    if (identity_from_seed(seed_a, &a) != 0)
        die("identity_from_seed", HUB_E_INTERNAL);
    char a_hex[HUB_HEX_LEN + 1];
    hub_hex(a.pk, 32, a_hex);
    identity_wipe(&a);

    out_printf(
        o, "# hubnet entry test vectors (PROTOCOL.md, \"Test vectors\").\n"
           "# Generated by tests/vectors/gen_vectors.c; do not edit by hand.\n"
           "#\n"
           "# Format: one block per vector, from \"vector NAME\" to \"end\"; each line is\n"
           "# \"FIELD VALUE\", split at the first space. Byte strings are lower-case hex.\n"
           "#   seed              Ed25519 seed (libsodium crypto_sign_seed_keypair)\n"
           "#   public_key        Ed25519 public key = Entry.author\n"
           "#   curve_public_key  X25519 transport key (crypto_sign_ed25519_pk_to_curve25519)\n"
           "#   seq, prev, timestamp, kind, key, expires   the Entry header fields (prev \"-\":\n"
           "#                     empty, at seq 1; kind: number and name)\n"
           "#   payload_json      the record as JSON (control socket form)\n"
           "#   payload           serialized payload message of the kind\n"
           "#   payload_hash      BLAKE2b-256 of payload (Entry.payload_hash)\n"
           "#   payload_size      length of payload (Entry.payload_size)\n"
           "#   header            serialized Entry, exactly as signed\n"
           "#   signed_message    \"hubnet/entry/v1\" || 0x00 || header\n"
           "#   signature         Ed25519 signature over signed_message\n"
           "#   id                BLAKE2b-256 of header (the entry id)\n"
           "#   wire              serialized SignedEntry {header, signature, payload}\n"
           "\n");

    uint8_t id1[32], id2[32], id3[32], idb[32];
    vector(o, "a-profile", seed_a, 1, NULL, 1789999990000ULL, 1, "profile", 0,
           "{\"name\":\"EDIH Alpha\",\"description\":\"Test before invest for SMEs.\","
           "\"country\":\"AT\",\"languages\":[\"de\",\"en\"],\"topics\":[\"govtech\"],"
           "\"technologies\":[\"Cybersecurity\"]}",
           id1);
    vector(o, "a-offer", seed_a, 2, id1, 1790000000000ULL, 2, "ttt-ai-2027", 1830297600000ULL,
           "{\"title\":\"Train-the-trainer: AI for public services\",\"topics\":"
           "[\"ai-public-services\"],\"languages\":[\"en\"],\"mode\":\"blended\","
           "\"country\":\"AT\",\"start_date\":\"2027-03-01\",\"end_date\":\"2027-06-30\","
           "\"duration_hours\":40,\"train_the_trainer\":true}",
           id2);
    vector(o, "a-retraction", seed_a, 3, id2, 1790000060000ULL, 5, "ttt-ai-2027", 0,
           "{\"target_kind\":\"offer\",\"target_key\":\"ttt-ai-2027\",\"reason\":\"cancelled\"}",
           id3);
    char endorse[512];
    int n = snprintf(endorse, sizeof endorse,
                     "{\"hub\":\"%s\",\"statement\":\"We trained our staff with them.\","
                     "\"topics\":[\"train-the-trainer\"]}",
                     a_hex);
    if (n < 0 || (size_t)n >= sizeof endorse)
        die("snprintf", HUB_E_INTERNAL);
    vector(o, "b-endorsement", seed_b, 1, NULL, 1790000120000ULL, 6, a_hex, 0, endorse, idb);
}

int main(int argc, char **argv) {
    if (sodium_init() < 0)
        return 2;
    static struct out o;
    generate(&o);
    if (o.overflow)
        die("output buffer too small", HUB_E_INTERNAL);
    if (argc == 1) {
        return fwrite(o.buf, 1, o.len, stdout) == o.len && fflush(stdout) == 0 ? 0 : 2;
    }
    if (argc == 3 && strcmp(argv[1], "--check") == 0) {
        FILE *f = fopen(argv[2], "rb");
        if (!f) {
            perror(argv[2]);
            return 1;
        }
        static char file[OUT_MAX + 1];
        size_t n = fread(file, 1, sizeof file, f);
        fclose(f);
        if (n != o.len || memcmp(file, o.buf, n) != 0) {
            size_t i = 0;
            while (i < n && i < o.len && file[i] == o.buf[i])
                i++;
            fprintf(stderr,
                    "gen_vectors: %s differs from the generated vectors at byte %zu; "
                    "regenerate with 'gen_vectors > %s' if the format change is intended\n",
                    argv[2], i, argv[2]);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: gen_vectors [--check FILE]\n");
    return 2;
}
