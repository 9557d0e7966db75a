/* fuzz_record.c: libFuzzer target for record payloads from foreign entries.
 *
 * Input: one byte selecting the kind (1..6 as themselves, any other byte modulo 6), then the
 * payload bytes. Runs
 * record_check_payload, record_to_json, record_terms, record_dates and the accessors of that
 * kind (fuzz_payload). Seeds: corpus/record/, a valid payload of each kind. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (sodium_init() < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t author[HUB_KEY_LEN] = {0x5a, 0x1e};
    if (size < 1)
        return 0;
    int kind = 1 + (data[0] + 5) % 6; /* 1..6 -> 1..6, 0 -> 6 */
    /* The payload in its own allocation, so that ASan sees a read past its end. */
    size_t len = size - 1;
    uint8_t *payload = malloc(len ? len : 1);
    if (payload == NULL)
        return 0;
    if (len)
        memcpy(payload, data + 1, len);
    fuzz_payload(author, kind, len ? payload : NULL, len);
    free(payload);
    return 0;
}
