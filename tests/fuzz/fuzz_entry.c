/* fuzz_entry.c: libFuzzer target for the entry codec on bytes from the network.
 *
 * entry_decode, then entry_verify with a fixed clock; for a decoded entry also the
 * re-encoding without payload (a purge) and, when a payload is present, every payload decoder
 * of its kind (fuzz_payload). The signature verdict is also that of the hubs of the two vector
 * keys (entry_verify_at): the author's own hub checks with its secret key (identity_verify_own)
 * and must agree with libsodium on every mutation of its entries. Seeds: corpus/entry/, valid
 * signed entries of each kind (tests/vectors: hub A seed 0x01..0x20, hub B 32 x 0xa5). */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "fuzz_common.h"
#include "hub.h"
#include "identity.h"

static struct identity hub_a, hub_b;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (sodium_init() < 0)
        abort();
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    if (identity_from_seed(seed, &hub_a) != 0)
        abort();
    memset(seed, 0xa5, sizeof seed);
    if (identity_from_seed(seed, &hub_b) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct entry e;
    if (entry_decode(data, size, &e) != HUB_OK)
        return 0;
    FUZZ_CHECK(e.wire == data && e.wire_len == size);
    FUZZ_CHECK(e.header_len <= HUB_MAX_HEADER && e.payload_len <= HUB_MAX_PAYLOAD);
    FUZZ_CHECK(e.kind >= 1 && e.kind <= 6 && entry_kind_name(e.kind) != NULL);
    FUZZ_CHECK(e.seq >= 1 && strlen(e.key) >= 1 && strlen(e.key) <= HUB_MAX_RECORD_KEY);
    FUZZ_CHECK((e.payload == NULL) == (e.payload_len == 0));

    int verified = entry_verify(&e, FUZZ_NOW_MS);
    FUZZ_CHECK(entry_verify_at(&e, FUZZ_NOW_MS, &hub_a) == verified);
    FUZZ_CHECK(entry_verify_at(&e, FUZZ_NOW_MS, &hub_b) == verified);

    /* A purge keeps the header and signature: the stripped form decodes to the same id. */
    uint8_t *stripped = NULL;
    size_t slen = 0;
    if (entry_strip_payload(&e, &stripped, &slen) == HUB_OK) {
        struct entry s;
        FUZZ_CHECK(entry_decode(stripped, slen, &s) == HUB_OK);
        FUZZ_CHECK(memcmp(s.id, e.id, HUB_ID_LEN) == 0 && s.payload == NULL);
        free(stripped);
    }

    if (e.payload != NULL)
        fuzz_payload(e.author, e.kind, e.payload, e.payload_len);
    return 0;
}
