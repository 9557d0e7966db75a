/* fuzz_entry.c: libFuzzer target for the entry codec on bytes from the network.
 *
 * entry_decode, then entry_verify with a fixed clock; for a decoded entry also the
 * re-encoding without payload (a purge) and, when a payload is present, every payload decoder
 * of its kind (fuzz_payload). Seeds: corpus/entry/, valid signed entries of each kind. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "fuzz_common.h"
#include "hub.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (sodium_init() < 0)
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
    (void)verified;

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
