/* fuzz_jsplit.c: libFuzzer target for jsplit_records, differential against jansson.
 *
 * Input: any bytes, taken as a control request line. jsplit must stay within them, and when it
 * splits a line whose pieces all parse (what import_fast then uses), jansson must parse the
 * whole line to the same object: the fast import path must never take a request that the
 * ordinary path would refuse or read differently. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *line = malloc(size ? size : 1); /* its own allocation: ASan sees a read past it */
    if (!line)
        return 0;
    memcpy(line, data, size);
    char rest[1024];
    struct jspan *el;
    size_t n;
    if (jsplit_records(line, size, rest, sizeof rest, &el, &n) != 0) {
        free(line);
        return 0;
    }
    json_error_t e;
    json_t *req = json_loads(rest, JSON_REJECT_DUPLICATES, &e);
    json_t *arr = json_array();
    int pieces_ok = req && json_is_object(req) && !json_object_get(req, "records");
    for (size_t i = 0; i < n; i++) {
        if (el[i].off + el[i].len > size || el[i].len == 0)
            abort(); /* a span outside the line */
        json_t *o = json_loadb(line + el[i].off, el[i].len, JSON_REJECT_DUPLICATES, &e);
        if (!o)
            pieces_ok = 0;
        else
            json_array_append_new(arr, o);
    }
    if (pieces_ok) {
        json_t *whole = json_loadb(line, size, JSON_REJECT_DUPLICATES, &e);
        if (!whole)
            abort(); /* the fast path would take what the ordinary one refuses */
        json_object_set(req, "records", arr);
        if (!json_equal(whole, req))
            abort(); /* ... or read it differently */
        json_decref(whole);
    }
    json_decref(arr);
    json_decref(req);
    free(el);
    free(line);
    return 0;
}
