/* test_web_form.c: hubweb's record forms (web_form.c): the urlencoded decoder (escapes, '+',
 * repeated names, empty pairs, bounds, every byte value through %XX), the form -> record JSON
 * mapping of every field type for offers, requests and profiles (lists from repeated names
 * and from words, numbers, costs, based_on, CR LF in textareas, invalid UTF-8 refused at its
 * field), the inverse for editing, and hubd's error fields mapped to form controls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "web_form.h"

static void test_decode(void **state) {
    (void)state;
    struct web_formvals f;
    const char *body = "title=AI+for+cities%21&sectors=Smart+City&sectors=Energy&&empty="
                       "&flag&pct=100%25&bad=%zz%4&x%5Fy=1";
    assert_int_equal(web_form_decode(body, strlen(body), &f), 0);
    assert_int_equal(f.n, 8);
    assert_string_equal(web_formvals_get(&f, "title"), "AI for cities!");
    const char *vals[4];
    assert_int_equal(web_formvals_all(&f, "sectors", vals, 4), 2);
    assert_string_equal(vals[0], "Smart City");
    assert_string_equal(vals[1], "Energy");
    assert_string_equal(web_formvals_get(&f, "empty"), "");
    assert_string_equal(web_formvals_get(&f, "flag"), "");
    assert_string_equal(web_formvals_get(&f, "pct"), "100%");
    assert_string_equal(web_formvals_get(&f, "bad"), "%zz%4"); /* not an escape: kept */
    assert_string_equal(web_formvals_get(&f, "x_y"), "1");
    assert_null(web_formvals_get(&f, "nothing"));
    assert_int_equal(web_formvals_all(&f, "sectors", vals, 1), 2); /* counts beyond max */
    web_formvals_free(&f);
    assert_int_equal(f.n, 0);
    assert_int_equal(web_form_decode("", 0, &f), 0);
    assert_int_equal(f.n, 0);
    web_formvals_free(&f);
}

/* Every byte value, escaped, comes back as that byte (NUL included, counted by value_len). */
static void test_decode_every_byte(void **state) {
    (void)state;
    char body[16 + 256 * 3];
    size_t n = (size_t)snprintf(body, sizeof body, "v=");
    for (int b = 0; b < 256; b++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%%%02X", b);
    struct web_formvals f;
    assert_int_equal(web_form_decode(body, n, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].value_len, 256);
    for (int b = 0; b < 256; b++)
        assert_int_equal((unsigned char)f.v[0].value[b], b);
    web_formvals_free(&f);
}

static void test_decode_bounds(void **state) {
    (void)state;
    struct web_formvals f;
    /* too many pairs */
    size_t cap = (WEB_FORM_MAX_FIELDS + 1) * 4 + 1;
    char *body = malloc(cap);
    size_t n = 0;
    for (int i = 0; i <= WEB_FORM_MAX_FIELDS; i++)
        n += (size_t)snprintf(body + n, cap - n, "a=1&");
    assert_int_equal(web_form_decode(body, n, &f), HUB_E_TOO_LARGE);
    web_formvals_free(&f);
    /* exactly the bound is fine */
    assert_int_equal(web_form_decode(body, (size_t)WEB_FORM_MAX_FIELDS * 4, &f), 0);
    assert_int_equal(f.n, WEB_FORM_MAX_FIELDS);
    web_formvals_free(&f);
    free(body);
    /* a long name */
    char name[WEB_FORM_MAX_NAME + 8];
    memset(name, 'n', sizeof name);
    memcpy(name + WEB_FORM_MAX_NAME + 1, "=v", 2);
    assert_int_equal(web_form_decode(name, WEB_FORM_MAX_NAME + 3, &f), HUB_E_TOO_LARGE);
    web_formvals_free(&f);
    /* a NUL in a name */
    assert_int_equal(web_form_decode("a%00b=1", 7, &f), HUB_E_DECODE);
    web_formvals_free(&f);
    /* a body over the bound */
    char *big = calloc(WEB_FORM_MAX_BODY + 1, 1);
    memset(big, 'x', WEB_FORM_MAX_BODY + 1);
    assert_int_equal(web_form_decode(big, WEB_FORM_MAX_BODY + 1, &f), HUB_E_TOO_LARGE);
    web_formvals_free(&f);
    free(big);
}

static json_t *record_of(unsigned kind, const char *body, struct web_form_errors *errs) {
    struct web_formvals f;
    assert_int_equal(web_form_decode(body, strlen(body), &f), 0);
    json_t *rec = NULL;
    memset(errs, 0, sizeof *errs);
    int rc = web_form_record(kind, &f, &rec, errs);
    web_formvals_free(&f);
    if (rc != 0)
        assert_null(rec);
    return rec;
}

static void assert_json(json_t *got, const char *want_text) {
    json_t *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        fprintf(stderr, "got  %s\nwant %s\n", g, want_text);
        free(g);
    }
    assert_true(json_equal(got, want));
    json_decref(want);
}

static void test_offer_record(void **state) {
    (void)state;
    struct web_form_errors errs;
    json_t *rec = record_of(
        WEB_KIND_OFFER,
        "key=ignored&title=++Train-the-trainer%3A+AI++&description=Line+1%0D%0ALine+2%0Dthree"
        "&topics=train-the-trainer%2C+ai++govtech&sectors=Smart+City&sectors=Public+administration"
        "&languages=de+en&mode=blended&country=AT&start_date=2027-03-01&end_date="
        "&capacity=12&duration_hours=&cost=49.9&cost_currency=EUR&train_the_trainer=1"
        "&based_on=F1E330AE00000000000000000000000000000000000000000000000000000001%2Fttt-ai"
        "&technologies=&name=not+an+offer+field&needed_by=2027-01-01",
        &errs);
    assert_int_equal(errs.n, 0);
    assert_json(rec, "{\"title\":\"Train-the-trainer: AI\","
                     "\"description\":\"Line 1\\nLine 2\\nthree\","
                     "\"topics\":[\"train-the-trainer\",\"ai\",\"govtech\"],"
                     "\"sectors\":[\"Smart City\",\"Public administration\"],"
                     "\"languages\":[\"de\",\"en\"],\"mode\":\"blended\",\"country\":\"AT\","
                     "\"start_date\":\"2027-03-01\",\"capacity\":12,"
                     "\"cost\":{\"amount\":49.9,\"currency\":\"EUR\"},"
                     "\"train_the_trainer\":true,"
                     "\"based_on\":{\"author\":\"f1e330ae0000000000000000000000000000000000000"
                     "0000000000000000001\",\"key\":\"ttt-ai\"}}");
    json_decref(rec);
    /* a whole amount is an integer; a request's budget */
    rec = record_of(WEB_KIND_REQUEST, "title=T&budget=5000&budget_currency=EUR&needed_by=2027-01-01"
                                      "&capacity=3", &errs);
    assert_json(rec, "{\"title\":\"T\",\"budget\":{\"amount\":5000,\"currency\":\"EUR\"},"
                     "\"needed_by\":\"2027-01-01\"}");
    json_decref(rec);
    /* a profile */
    rec = record_of(WEB_KIND_PROFILE, "name=EDIH+Wien&country=AT&website=https%3A%2F%2Fx.at"
                                      "&endpoints=tcp%3A%2F%2Fa%3A1%0D%0Atcp%3A%2F%2Fb%3A2&title=x",
                    &errs);
    assert_json(rec, "{\"name\":\"EDIH Wien\",\"country\":\"AT\",\"website\":\"https://x.at\","
                     "\"endpoints\":[\"tcp://a:1\",\"tcp://b:2\"]}");
    json_decref(rec);
}

static void test_form_errors(void **state) {
    (void)state;
    struct web_form_errors errs;
    json_t *rec = record_of(WEB_KIND_OFFER,
                            "title=%FF%FE&capacity=-1&duration_hours=4294967296&ects_credits=1x"
                            "&cost=1.234&based_on=abc%2Fkey&sectors=%C3%28",
                            &errs);
    assert_null(rec);
    assert_non_null(web_form_error_for(&errs, "title"));
    assert_non_null(strstr(web_form_error_for(&errs, "title"), "UTF-8"));
    assert_non_null(web_form_error_for(&errs, "capacity"));
    assert_non_null(web_form_error_for(&errs, "duration_hours"));
    assert_non_null(web_form_error_for(&errs, "ects_credits"));
    assert_non_null(web_form_error_for(&errs, "cost"));
    assert_non_null(web_form_error_for(&errs, "based_on"));
    assert_non_null(web_form_error_for(&errs, "sectors"));
    assert_null(web_form_error_for(&errs, "country"));
    /* an amount without a currency; the largest amount; one beyond */
    rec = record_of(WEB_KIND_OFFER, "title=t&cost=10", &errs);
    assert_null(rec);
    assert_non_null(strstr(web_form_error_for(&errs, "cost"), "currency"));
    rec = record_of(WEB_KIND_OFFER, "title=t&cost=1000000000000&cost_currency=EUR", &errs);
    assert_json(rec, "{\"title\":\"t\",\"cost\":{\"amount\":1000000000000,\"currency\":\"EUR\"}}");
    json_decref(rec);
    rec = record_of(WEB_KIND_OFFER, "title=t&cost=1000000000000.01&cost_currency=EUR", &errs);
    assert_null(rec);
    /* the errors kept are bounded */
    memset(&errs, 0, sizeof errs);
    for (int i = 0; i < WEB_FORM_MAX_ERRORS + 5; i++)
        web_form_error(&errs, "title", "message %d", i);
    assert_int_equal(errs.n, WEB_FORM_MAX_ERRORS);
}

static void test_record_form_round_trip(void **state) {
    (void)state;
    const char *text =
        "{\"title\":\"Formación en IA\",\"description\":\"a\\nb\",\"topics\":[\"ai\",\"eid\"],"
        "\"technologies\":[\"Cybersecurity\",\"Big data\"],\"languages\":[\"es\"],"
        "\"mode\":\"online\",\"country\":\"ES\",\"capacity\":20,"
        "\"cost\":{\"amount\":12.5,\"currency\":\"EUR\"},\"train_the_trainer\":true,"
        "\"based_on\":{\"author\":\"f1e330ae00000000000000000000000000000000000000000000000000000001\","
        "\"key\":\"k\"},\"unknown_member\":7}";
    json_t *rec = json_loads(text, 0, NULL);
    struct web_formvals f;
    assert_int_equal(web_record_form(WEB_KIND_OFFER, rec, &f), 0);
    assert_string_equal(web_formvals_get(&f, "topics"), "ai, eid");
    assert_string_equal(web_formvals_get(&f, "cost"), "12.50");
    assert_string_equal(web_formvals_get(&f, "cost_currency"), "EUR");
    const char *v[4];
    assert_int_equal(web_formvals_all(&f, "technologies", v, 4), 2);
    json_t *back = NULL;
    struct web_form_errors errs = {0};
    assert_int_equal(web_form_record(WEB_KIND_OFFER, &f, &back, &errs), 0);
    json_object_del(rec, "unknown_member");
    assert_true(json_equal(rec, back));
    json_decref(back);
    json_decref(rec);
    web_formvals_free(&f);
}

static void test_error_field(void **state) {
    (void)state;
    char out[WEB_FORM_MAX_NAME];
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, "sectors[0]", out, sizeof out), 1);
    assert_string_equal(out, "sectors");
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, "cost.currency", out, sizeof out), 1);
    assert_string_equal(out, "cost");
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, "record.title", out, sizeof out), 1);
    assert_string_equal(out, "title");
    assert_int_equal(web_form_error_field(WEB_KIND_REQUEST, "records[3].country", out, sizeof out),
                     1);
    assert_string_equal(out, "country");
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, "country", out, sizeof out), 1);
    /* not a field of the kind, or not a field at all */
    assert_int_equal(web_form_error_field(WEB_KIND_PROFILE, "title", out, sizeof out), 0);
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, "key", out, sizeof out), 0);
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, "countryx", out, sizeof out), 0);
    assert_int_equal(web_form_error_field(WEB_KIND_OFFER, NULL, out, sizeof out), 0);
    assert_int_equal(web_form_kind("offer"), WEB_KIND_OFFER);
    assert_int_equal(web_form_kind("response"), 0);
    assert_int_equal(web_form_kind(NULL), 0);
    /* every field has a kind, a label, and a vocabulary when it is a select */
    size_t n;
    const struct web_field *fs = web_fields(&n);
    assert_true(n > 30);
    for (size_t i = 0; i < n; i++) {
        assert_true(fs[i].kinds != 0);
        assert_non_null(fs[i].label);
        if (fs[i].type == WF_SELECT || fs[i].type == WF_MULTISELECT || fs[i].type == WF_COST)
            assert_non_null(fs[i].vocab);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_decode_every_byte),
        cmocka_unit_test(test_decode_bounds),
        cmocka_unit_test(test_offer_record),
        cmocka_unit_test(test_form_errors),
        cmocka_unit_test(test_record_form_round_trip),
        cmocka_unit_test(test_error_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
