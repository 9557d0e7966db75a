/* test_jsplit.c: jsplit_records finds the records of an import line exactly, and refuses what
 * it does not expect (the ordinary path then answers). scripts/fuzz jsplit checks it against
 * jansson on arbitrary input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsplit.h"

static char rest[1024];

static size_t split(const char *line, struct jspan **el) {
    size_t n = 99;
    assert_int_equal(jsplit_records(line, strlen(line), rest, sizeof rest, el, &n), 0);
    return n;
}

static void assert_span(const char *line, struct jspan s, const char *want) {
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(line + s.off, want, s.len);
}

static void test_split(void **state) {
    (void)state;
    const char *line = " {\"op\" : \"import\",\"records\":[ {\"a\":\"]}\\\"[{\"} ,[1,[2]],"
                       "\"x\\\\\",-1.5e3, true ,null],\"tag\":{\"t\":[\"records\"]}} \n";
    struct jspan *el;
    size_t n = split(line, &el);
    assert_int_equal(n, 6);
    assert_span(line, el[0], "{\"a\":\"]}\\\"[{\"}");
    assert_span(line, el[1], "[1,[2]]");
    assert_span(line, el[2], "\"x\\\\\"");
    assert_span(line, el[3], "-1.5e3");
    assert_span(line, el[4], "true");
    assert_span(line, el[5], "null");
    assert_string_equal(rest, "{\"op\" : \"import\",\"tag\":{\"t\":[\"records\"]}}");
    free(el);

    n = split("{\"records\":[]}", &el);
    assert_int_equal(n, 0);
    assert_string_equal(rest, "{}");
    free(el);
}

static void test_refused(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"op\":\"import\"}",               /* no records */
        "{\"records\":{}}",                  /* not a list */
        "{\"records\":[1],\"records\":[2]}", /* twice */
        "{\"records\":[1,]}",                /* a missing element */
        "{\"records\":[1 2]}",               /* a missing comma */
        "{\"records\":[\"unterminated]}",
        "{\"records\":[1]} x", /* after the object */
        "{\"records\":[1]",    /* cut off */
        "{\"records\":[1],}",  /* trailing comma */
        "{records:[1]}",       /* unquoted key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jspan *el = (struct jspan *)1;
        size_t n = 7;
        assert_int_equal(jsplit_records(bad[i], strlen(bad[i]), rest, sizeof rest, &el, &n), -1);
        assert_null(el);
        assert_int_equal(n, 0);
    }
    /* Brackets are counted, not matched by type: jansson refuses the element afterwards. */
    struct jspan *e2;
    size_t n2;
    const char *mism = "{\"records\":[{\"a\":1]]}";
    assert_int_equal(jsplit_records(mism, strlen(mism), rest, sizeof rest, &e2, &n2), 0);
    assert_int_equal(n2, 1);
    assert_span(mism, e2[0], "{\"a\":1]");
    free(e2);
    /* the other members must fit in rest */
    char big[2048];
    memset(big, 'a', sizeof big);
    memcpy(big, "{\"records\":[],\"x\":\"", 19);
    memcpy(big + sizeof big - 3, "\"}", 3);
    struct jspan *el;
    size_t n;
    assert_int_equal(jsplit_records(big, strlen(big), rest, sizeof rest, &el, &n), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
