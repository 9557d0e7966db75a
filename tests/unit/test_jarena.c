/* test_jarena.c: with jarena installed, jansson values made inside jarena_begin/jarena_end live
 * in the arena (their frees do nothing, jarena_release frees them all), values made outside
 * are ordinary heap values, and strings from json_dumps are freed the right way. Run under
 * AddressSanitizer too (scripts/test), which would report a heap value leaked or freed wrongly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jarena.h"

static const char *RECORD = "{\"kind\":\"offer\",\"record\":{\"title\":\"Cyber hygiene\","
                            "\"topics\":[\"cybersecurity\",\"public-sector\"],\"n\":3}}";

static void test_arena_values(void **state) {
    (void)state;
    struct jarena a = {0};
    jarena_begin(&a);
    json_t *objs[200];
    for (size_t i = 0; i < 200; i++) {
        json_error_t e;
        objs[i] = json_loads(RECORD, JSON_REJECT_DUPLICATES, &e);
        assert_non_null(objs[i]);
    }
    jarena_end();
    assert_non_null(a.chunks); /* the values went to the arena */
    /* values read after jarena_end are intact */
    json_t *rec = json_object_get(objs[199], "record");
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Cyber hygiene");
    assert_int_equal(json_array_size(json_object_get(rec, "topics")), 2);
    /* a decref of an arena value is harmless, the release frees everything */
    json_decref(objs[0]);
    /* a heap value made now may hold an arena value for a while (a response with a field) */
    json_t *resp = json_object();
    json_object_set(resp, "record", rec);
    char *s = json_dumps(resp, JSON_COMPACT);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"Cyber hygiene\""));
    jarena_free_dump(s);
    json_decref(resp); /* drops the heap object; the arena value's refcount goes back */
    jarena_release(&a);
    assert_null(a.chunks);
}

static void test_heap_values_outside(void **state) {
    (void)state;
    /* no arena: ordinary allocations, freed by json_decref (ASan reports a leak otherwise) */
    json_error_t e;
    json_t *o = json_loads(RECORD, 0, &e);
    assert_non_null(o);
    json_t *big = json_array();
    for (int i = 0; i < 1000; i++)
        json_array_append_new(big, json_string("a string long enough to need its own block"));
    char *s = json_dumps(big, JSON_COMPACT);
    assert_non_null(s);
    jarena_free_dump(s);
    json_decref(big);
    json_decref(o);
}

static void test_big_value(void **state) {
    (void)state;
    /* one value larger than a chunk gets a chunk of its own */
    size_t n = (2u << 20) + 7;
    char *text = malloc(n + 3);
    assert_non_null(text);
    text[0] = '"';
    memset(text + 1, 'x', n);
    text[n + 1] = '"';
    text[n + 2] = '\0';
    struct jarena a = {0};
    jarena_begin(&a);
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    jarena_end();
    assert_non_null(v);
    assert_int_equal(json_string_length(v), n);
    jarena_release(&a);
    free(text);
}

int main(void) {
    jarena_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_values),
        cmocka_unit_test(test_heap_values_outside),
        cmocka_unit_test(test_big_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
