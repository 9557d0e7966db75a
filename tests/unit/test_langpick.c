/* test_langpick.c: the language version of an offer view's title and description
 * (node/core/langpick.c, shared by hubd's query "lang" and hubctl --lang): the language asked
 * (its tag, any case, or one of the same primary language), then English, then the record's
 * own text, then the first version it has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "langpick.h"

static const char *const view_json =
    "{\"record\":{\"title\":\"Titel\",\"description\":\"Beschreibung\",\"languages\":[\"de\"],"
    "\"titles\":{\"en\":\"Title\",\"pt-BR\":\"T\\u00edtulo\",\"fr\":\"Titre\"},"
    "\"descriptions\":{\"fr\":\"Description FR\"}}}";

/* title, description and view lang after picking lang in the view's JSON */
static void check(const char *json, const char *lang, const char *title, const char *desc,
                  const char *picked) {
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    langpick_view(v, lang);
    json_t *rec = json_object_get(v, "record");
    assert_string_equal(json_string_value(json_object_get(rec, "title")), title);
    if (desc)
        assert_string_equal(json_string_value(json_object_get(rec, "description")), desc);
    else
        assert_null(json_object_get(rec, "description"));
    if (picked)
        assert_string_equal(json_string_value(json_object_get(v, "lang")), picked);
    else
        assert_null(json_object_get(v, "lang"));
    json_decref(v);
}

static void test_order(void **state) {
    (void)state;
    check(view_json, "fr", "Titre", "Description FR", "fr");
    check(view_json, "FR", "Titre", "Description FR", "fr");          /* any case */
    check(view_json, "pt", "T\xc3\xadtulo", "Beschreibung", "pt-BR"); /* primary language */
    check(view_json, "de", "Titel", "Beschreibung", "de");            /* its own language */
    check(view_json, "de-AT", "Titel", "Beschreibung", "de");
    check(view_json, "pl", "Title", "Beschreibung", "en"); /* English, else its own text */
    check(view_json, "en", "Title", "Beschreibung", "en");
    /* no languages: the own title stays unless the language or English is there */
    check("{\"record\":{\"title\":\"T\",\"titles\":{\"fr\":\"F\"}}}", "pl", "T", NULL, NULL);
    check("{\"record\":{\"title\":\"T\",\"titles\":{\"fr\":\"F\"}}}", "fr", "F", NULL, "fr");
    /* a record with only versions: the first */
    check("{\"record\":{\"title\":\"T\",\"descriptions\":{\"es\":\"D\"}}}", "pl", "T", "D", NULL);
}

static void test_leaves_other_views(void **state) {
    (void)state;
    json_t *v = json_loads("{\"kind\":\"offer\",\"purged\":true}", 0, NULL);
    langpick_view(v, "fr");
    assert_int_equal(json_object_size(v), 2);
    json_decref(v);
    v = json_loads(view_json, 0, NULL);
    langpick_view(v, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "record"), "title")),
                        "Titel");
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_leaves_other_views),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
