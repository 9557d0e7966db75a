/* fuzz_common.h: what the fuzz targets share: a fixed clock and the payload walk that
 * node.c's prepare() and the control socket run on a foreign record. */
#ifndef HUB_FUZZ_COMMON_H
#define HUB_FUZZ_COMMON_H

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "hub.h"
#include "record.h"

/* Fixed "now" (2026-09-21T12:53:20Z) so that a run does not depend on the wall clock: the
 * seed entries (tests/vectors/entries.txt and the generated ones) are stamped within
 * HUB_MAX_FUTURE_MS of it and pass entry_verify all the way. */
#define FUZZ_NOW_MS 1790000000000ULL

/* Abort (a crash libFuzzer reports with its input) when an invariant breaks. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* Every decoder of record payloads the daemon runs on a payload of kind `kind` from the
 * network: the limit check, JSON for the control socket (serialised, as control.c does),
 * the index terms, the dates and the kind-specific accessors. */
static inline void fuzz_payload(const uint8_t author[HUB_KEY_LEN], int kind, const uint8_t *payload,
                                size_t len) {
    int checked = record_check_payload(kind, payload, len);

    json_t *obj = NULL;
    int rc = record_to_json(kind, payload, len, &obj);
    FUZZ_CHECK((rc == HUB_OK) == (obj != NULL));
    /* What passes the limit check must also show on the control socket. */
    FUZZ_CHECK(checked != HUB_OK || rc == HUB_OK);
    if (obj != NULL) {
        char *text = json_dumps(obj, JSON_COMPACT);
        free(text);
        json_decref(obj);
    }

    struct index_term terms[RECORD_MAX_TERMS];
    size_t n = record_terms(author, kind, payload, len, terms, RECORD_MAX_TERMS);
    FUZZ_CHECK(n >= 1 && n <= RECORD_MAX_TERMS);

    struct record_dates d;
    record_dates(kind, payload, len, &d);

    switch (kind) {
    case 1: {
        char eps[4][256];
        size_t ne = record_profile_endpoints(payload, len, eps, 4);
        FUZZ_CHECK(ne <= 4);
        for (size_t i = 0; i < ne; i++)
            FUZZ_CHECK(memchr(eps[i], '\0', sizeof eps[i]) != NULL);
        break;
    }
    case 5: {
        int tkind = 0;
        char key[HUB_MAX_RECORD_KEY + 1];
        if (record_retraction_target(payload, len, &tkind, key) == HUB_OK)
            FUZZ_CHECK(tkind != 0 && strlen(key) >= 1 && strlen(key) <= HUB_MAX_RECORD_KEY);
        break;
    }
    case 6: {
        uint8_t hub[32];
        (void)record_endorsed_hub(payload, len, hub);
        break;
    }
    default:
        break;
    }
}

#endif
