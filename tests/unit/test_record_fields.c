/* test_record_fields.c: the field's standard fields (issue 11 item 4): ISCED-F, EQF, DigComp,
 * learning outcomes, prerequisites, application deadline, titles and descriptions by
 * language, sessions, NUTS; a profile's hub type and customer types. JSON <-> payload round
 * trips, every rejection with its code, field and suggestion, limits on foreign payloads, index
 * terms and the dates sessions give an offer; the vocabularies with their labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "entry.pb-c.h"
#include "hub.h"
#include "record.h"
#include "textsearch.h"
#include "vocab.h"

#define K_PROFILE HUBNET__KIND__KIND_PROFILE
#define K_OFFER HUBNET__KIND__KIND_OFFER
#define SKILL "http://data.europa.eu/esco/skill/c8fa4313-80b0-4f37-8b1b-1739707bc362"

/* Every new field of an offer, written as record_write_json writes it (titles sorted). */
static const char *const offer_json =
    "{\"title\":\"KI in der Verwaltung\",\"description\":\"Drei Module.\","
    "\"languages\":[\"de\",\"en\",\"fr\"],"
    "\"isced\":[\"0613\",\"041\",\"06\"],\"eqf_level\":5,\"digcomp\":[\"1.1\",\"5\",\"2.6\"],"
    "\"learning_outcomes\":[{\"text\":\"Evaluate procurement bids for AI systems\","
    "\"skill\":\"" SKILL "\"},{\"text\":\"Explain the AI Act's risk classes\"}],"
    "\"prerequisites\":\"Basic office software.\\nA laptop.\","
    "\"application_deadline\":\"2027-02-15\","
    "\"titles\":{\"en\":\"AI in public administration\",\"fr\":\"L\\u2019IA dans "
    "l\\u2019administration\"},"
    "\"descriptions\":{\"en\":\"Three modules.\\nHands-on.\",\"fr\":\"Trois modules.\"},"
    "\"sessions\":[{\"start\":\"2027-03-01\",\"end\":\"2027-03-03\",\"location\":\"Graz\","
    "\"mode\":\"onsite\",\"seats\":20},{\"start\":\"2027-09-10\",\"mode\":\"online\"}],"
    "\"nuts\":[\"AT22\",\"AT221\",\"DE300\"]}";

static const char *const profile_json =
    "{\"name\":\"EDIH Steiermark\",\"country\":\"AT\",\"hub_type\":\"edih\","
    "\"customer_types\":[\"smes\",\"public_sector\"],\"nuts\":[\"AT22\"]}";

static json_t *parse(const char *text) {
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        fail_msg("bad test JSON at %d: %s", jerr.position, jerr.text);
    return v;
}

static uint8_t *make(int kind, const char *text, size_t *len) {
    json_t *in = parse(text);
    uint8_t *buf = NULL;
    struct record_error err;
    int rc = record_from_json(kind, in, &buf, len, &err);
    if (rc != HUB_OK)
        fail_msg("record_from_json: %d, field '%s': %s", rc, err.field, err.message);
    json_decref(in);
    return buf;
}

static void assert_json_text(const char *want, json_t *got) {
    json_t *w = parse(want);
    if (!json_equal(w, got)) {
        char *a = json_dumps(w, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);
        print_error("want %s\n got  %s\n", a, b);
        free(a);
        free(b);
        fail();
    }
    json_decref(w);
}

/* JSON -> bytes -> JSON gives the input back (as written), and again the same bytes. */
static void roundtrip(int kind, const char *text, const char *want) {
    size_t len, len2;
    uint8_t *buf = make(kind, text, &len);
    assert_int_equal(record_check_payload(kind, buf, len), HUB_OK);
    json_t *out = NULL;
    assert_int_equal(record_to_json(kind, buf, len, &out), HUB_OK);
    assert_json_text(want ? want : text, out);
    char *again = json_dumps(out, JSON_COMPACT);
    uint8_t *buf2 = make(kind, again, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    free(again);
    free(buf2);
    free(buf);
    json_decref(out);
}

static void test_roundtrip(void **state) {
    (void)state;
    roundtrip(K_OFFER, offer_json, NULL);
    roundtrip(K_PROFILE, profile_json, NULL);
    /* The old single title alone stays valid; a session needs only its start. */
    roundtrip(K_OFFER, "{\"title\":\"x\",\"sessions\":[{\"start\":\"2027-01-01\"}]}", NULL);
    /* Titles in any order encode the same: sorted by tag. */
    size_t a, b;
    uint8_t *x = make(K_OFFER, "{\"title\":\"t\",\"titles\":{\"fr\":\"F\",\"de\":\"D\"}}", &a);
    uint8_t *y = make(K_OFFER, "{\"title\":\"t\",\"titles\":{\"de\":\"D\",\"fr\":\"F\"}}", &b);
    assert_int_equal(a, b);
    assert_memory_equal(x, y, a);
    free(x);
    free(y);
}

struct reject {
    int kind;
    const char *json;
    int code;
    const char *field;
    const char *says; /* in the message, or NULL */
};

static const struct reject rejects[] = {
    {K_OFFER, "{\"title\":\"x\",\"isced\":[\"0614\"]}", HUB_E_VOCAB, "isced[0]", "did you mean"},
    {K_OFFER, "{\"title\":\"x\",\"isced\":[\"6\"]}", HUB_E_VOCAB, "isced[0]", NULL},
    {K_OFFER, "{\"title\":\"x\",\"eqf_level\":9}", HUB_E_RANGE, "eqf_level", "1 .. 8"},
    {K_OFFER, "{\"title\":\"x\",\"eqf_level\":0}", HUB_E_RANGE, "eqf_level", NULL},
    {K_OFFER, "{\"title\":\"x\",\"eqf_level\":\"5\"}", HUB_E_TYPE, "eqf_level", NULL},
    {K_OFFER, "{\"title\":\"x\",\"digcomp\":[\"5.5\"]}", HUB_E_VOCAB, "digcomp[0]", "did you mean"},
    {K_OFFER,
     "{\"title\":\"x\",\"learning_outcomes\":[{\"text\":\"t\",\"skill\":"
     "\"http://data.europa.eu/esco/skill/xyz\"}]}",
     HUB_E_RANGE, "learning_outcomes[0].skill", "ESCO"},
    {K_OFFER, "{\"title\":\"x\",\"learning_outcomes\":[{\"skill\":\"" SKILL "\"}]}", HUB_E_FIELD,
     "learning_outcomes[0].text", "required"},
    {K_OFFER, "{\"title\":\"x\",\"learning_outcomes\":[\"text\"]}", HUB_E_TYPE,
     "learning_outcomes[0]", NULL},
    {K_OFFER, "{\"title\":\"x\",\"learning_outcomes\":[{\"text\":\"t\",\"level\":1}]}", HUB_E_FIELD,
     "learning_outcomes[0].level", "unknown"},
    {K_OFFER, "{\"title\":\"x\",\"application_deadline\":\"2027-02-30\"}", HUB_E_RANGE,
     "application_deadline", NULL},
    {K_OFFER, "{\"title\":\"x\",\"titles\":{\"Deutsch\":\"D\"}}", HUB_E_RANGE, "titles.Deutsch",
     "BCP 47"},
    {K_OFFER, "{\"title\":\"x\",\"titles\":{\"de\":\"\"}}", HUB_E_FIELD, "titles.de", "empty"},
    {K_OFFER, "{\"title\":\"x\",\"titles\":{\"pt-BR\":\"a\",\"pt-br\":\"b\"}}", HUB_E_RANGE,
     "titles.pt-br", "twice"},
    {K_OFFER, "{\"title\":\"x\",\"titles\":[\"de\"]}", HUB_E_TYPE, "titles", NULL},
    {K_OFFER, "{\"title\":\"x\",\"titles\":{\"de\":\"a\\nb\"}}", HUB_E_RANGE, "titles.de",
     "control"},
    {K_OFFER, "{\"title\":\"x\",\"sessions\":[{\"end\":\"2027-01-01\"}]}", HUB_E_FIELD,
     "sessions[0].start", "required"},
    {K_OFFER, "{\"title\":\"x\",\"sessions\":[{\"start\":\"2027-01-02\",\"end\":\"2027-01-01\"}]}",
     HUB_E_RANGE, "sessions[0].end", "before"},
    {K_OFFER, "{\"title\":\"x\",\"sessions\":[{\"start\":\"2027-01-02\",\"mode\":\"hybrid\"}]}",
     HUB_E_VOCAB, "sessions[0].mode", NULL},
    {K_OFFER, "{\"title\":\"x\",\"sessions\":[{\"start\":\"2027-01-02\",\"seats\":-1}]}",
     HUB_E_RANGE, "sessions[0].seats", NULL},
    {K_OFFER, "{\"title\":\"x\",\"sessions\":[{\"start\":\"2027-01-02\",\"room\":\"1\"}]}",
     HUB_E_FIELD, "sessions[0].room", "unknown"},
    {K_OFFER, "{\"title\":\"x\",\"nuts\":[\"XX12\"]}", HUB_E_VOCAB, "nuts[0]",
     "not a NUTS country"},
    {K_OFFER, "{\"title\":\"x\",\"nuts\":[\"GR30\"]}", HUB_E_VOCAB, "nuts[0]", "'EL30'"},
    {K_OFFER, "{\"title\":\"x\",\"nuts\":[\"at13\"]}", HUB_E_VOCAB, "nuts[0]", "'AT13'"},
    {K_OFFER, "{\"title\":\"x\",\"nuts\":[\"AT1234\"]}", HUB_E_RANGE, "nuts[0]", NULL},
    {K_OFFER, "{\"title\":\"x\",\"nuts\":[\"AT-1\"]}", HUB_E_RANGE, "nuts[0]", NULL},
    {K_PROFILE, "{\"name\":\"x\",\"hub_type\":\"EDIH hub\"}", HUB_E_VOCAB, "hub_type",
     "did you mean 'edih'"},
    {K_PROFILE, "{\"name\":\"x\",\"customer_types\":[\"sme\"]}", HUB_E_VOCAB, "customer_types[0]",
     "'smes'"},
    /* Offer fields are not a profile's. */
    {K_PROFILE, "{\"name\":\"x\",\"eqf_level\":3}", HUB_E_FIELD, "eqf_level", NULL},
};

static void test_rejects(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        const struct reject *r = &rejects[i];
        json_t *in = parse(r->json);
        uint8_t *buf = NULL;
        size_t len = 0;
        struct record_error err;
        int rc = record_from_json(r->kind, in, &buf, &len, &err);
        if (rc != r->code || strcmp(err.field, r->field) != 0 ||
            (r->says && !strstr(err.message, r->says)))
            fail_msg("case %zu %s: want %d '%s' (%s), got %d '%s' (%s)", i, r->json, r->code,
                     r->field, r->says ? r->says : "", rc, err.field, err.message);
        assert_null(buf);
        json_decref(in);
    }
}

/* A foreign offer is checked for limits only: a title in another language beyond the title's
 * cap is refused, unknown codes are not (a newer hub may know more). */
static void test_foreign_limits(void **state) {
    (void)state;
    Hubnet__Offer o = HUBNET__OFFER__INIT;
    Hubnet__LangText t = HUBNET__LANG_TEXT__INIT;
    Hubnet__LangText *tp = &t;
    Hubnet__Session se = HUBNET__SESSION__INIT;
    Hubnet__Session *sp = &se;
    char *isced[] = {"7777"};
    char big[RECORD_MAX_TITLE_BYTES + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    o.title = "x";
    o.n_isced = 1;
    o.isced = isced;
    o.eqf_level = 12;
    t.lang = "de";
    t.text = "ok";
    o.n_titles = 1;
    o.titles = &tp;
    se.start = "not a date";
    o.n_sessions = 1;
    o.sessions = &sp;
    uint8_t buf[1024];
    size_t len = hubnet__offer__pack(&o, buf);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_OK);
    t.text = big;
    uint8_t buf2[1024];
    len = hubnet__offer__pack(&o, buf2);
    assert_int_equal(record_check_payload(K_OFFER, buf2, len), HUB_E_TOO_LARGE);
    t.text = "a\001b"; /* a control character in a nested text */
    len = hubnet__offer__pack(&o, buf2);
    assert_int_equal(record_check_payload(K_OFFER, buf2, len), HUB_E_RANGE);
    /* and what it shows: the values as they are */
    t.text = "ok";
    len = hubnet__offer__pack(&o, buf2);
    json_t *out = NULL;
    assert_int_equal(record_to_json(K_OFFER, buf2, len, &out), HUB_OK);
    assert_json_text("{\"title\":\"x\",\"isced\":[\"7777\"],\"eqf_level\":12,"
                     "\"titles\":{\"de\":\"ok\"},\"sessions\":[{\"start\":\"not a date\"}]}",
                     out);
    json_decref(out);
}

static int has_term(const struct index_term *t, size_t n, enum index_field f, const char *v) {
    struct index_term want;
    index_term_make(f, v, strlen(v), &want);
    for (size_t i = 0; i < n; i++)
        if (memcmp(t[i].b, want.b, INDEX_TERM_LEN) == 0)
            return 1;
    return 0;
}

static int has_word(const struct index_term *t, size_t n, int cls, const char *w) {
    struct index_term want;
    index_term_word(cls, w, strlen(w), &want);
    for (size_t i = 0; i < n; i++)
        if (memcmp(t[i].b, want.b, INDEX_TERM_LEN) == 0)
            return 1;
    return 0;
}

static const uint8_t author[32] = {1, 2, 3};

static void test_terms(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = make(K_OFFER, offer_json, &len);
    struct index_term t[RECORD_MAX_TERMS];
    size_t n = record_terms(author, K_OFFER, buf, len, t, RECORD_MAX_TERMS);
    /* ISCED-F: the code and its narrow and broad fields */
    assert_true(has_term(t, n, IDX_ISCED, "0613"));
    assert_true(has_term(t, n, IDX_ISCED, "061"));
    assert_true(has_term(t, n, IDX_ISCED, "06"));
    assert_true(has_term(t, n, IDX_ISCED, "04"));
    assert_false(has_term(t, n, IDX_ISCED, "0"));
    assert_true(has_term(t, n, IDX_EQF, "5"));
    assert_false(has_term(t, n, IDX_EQF, "4"));
    /* DigComp: competence and its area */
    assert_true(has_term(t, n, IDX_DIGCOMP, "1.1"));
    assert_true(has_term(t, n, IDX_DIGCOMP, "1"));
    assert_true(has_term(t, n, IDX_DIGCOMP, "2"));
    assert_true(has_term(t, n, IDX_DIGCOMP, "5"));
    assert_false(has_term(t, n, IDX_DIGCOMP, "3"));
    /* NUTS: the region and the larger ones it lies in (case folded as every term) */
    assert_true(has_term(t, n, IDX_NUTS, "AT221"));
    assert_true(has_term(t, n, IDX_NUTS, "at22"));
    assert_true(has_term(t, n, IDX_NUTS, "DE3"));
    assert_true(has_term(t, n, IDX_NUTS, "DE"));
    assert_false(has_term(t, n, IDX_NUTS, "D"));
    /* outcomes' skills and sessions' modes as the offer's own */
    assert_true(has_term(t, n, IDX_SKILL, SKILL));
    assert_true(has_term(t, n, IDX_MODE, "online"));
    /* the text search: every language's title and description, outcomes, session places */
    assert_true(has_word(t, n, TS_TITLE, "verwaltung"));
    assert_true(has_word(t, n, TS_TITLE, "administration"));
    assert_true(has_word(t, n, TS_TITLE, "administration"));
    assert_true(has_word(t, n, TS_DESC, "trois"));
    assert_true(has_word(t, n, TS_DESC, "hands"));
    assert_true(has_word(t, n, TS_DESC, "procurement"));
    assert_true(has_word(t, n, TS_PLACE, "graz"));
    free(buf);

    buf = make(K_PROFILE, profile_json, &len);
    n = record_terms(author, K_PROFILE, buf, len, t, RECORD_MAX_TERMS);
    assert_true(has_term(t, n, IDX_HUB_TYPE, "edih"));
    assert_true(has_term(t, n, IDX_CUSTOMER_TYPE, "smes"));
    assert_true(has_term(t, n, IDX_CUSTOMER_TYPE, "public_sector"));
    assert_true(has_term(t, n, IDX_NUTS, "AT2"));
    free(buf);
}

/* An offer's dates span its sessions; the store's (record_dates), the seats' (wire fields)
 * and record_offer_info's agree. */
static void test_session_dates(void **state) {
    (void)state;
    static const struct {
        const char *json, *start, *end;
    } cases[] = {
        {"{\"title\":\"x\",\"sessions\":[{\"start\":\"2027-03-01\",\"end\":\"2027-03-03\"},"
         "{\"start\":\"2027-09-10\"}]}",
         "2027-03-01", "2027-09-10"},
        {"{\"title\":\"x\",\"start_date\":\"2027-05-01\",\"end_date\":\"2027-05-02\","
         "\"sessions\":[{\"start\":\"2027-01-01\",\"end\":\"2027-01-02\"}]}",
         "2027-01-01", "2027-05-02"},
        {"{\"title\":\"x\",\"start_date\":\"2027-05-01\"}", "2027-05-01", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *buf = make(K_OFFER, cases[i].json, &len);
        struct record_dates d, w;
        struct record_offer info;
        uint32_t cap;
        int32_t s, e = 0;
        assert_int_equal(record_parse_date(cases[i].start, &s), HUB_OK);
        if (cases[i].end)
            assert_int_equal(record_parse_date(cases[i].end, &e), HUB_OK);
        record_dates(K_OFFER, buf, len, &d);
        assert_int_equal(d.start, s);
        assert_int_equal(d.end, e);
        assert_int_equal(record_offer_seats_fields(buf, len, &cap, &w), HUB_OK);
        assert_int_equal(w.start, s);
        assert_int_equal(w.end, e);
        assert_int_equal(record_offer_info(buf, len, &info), HUB_OK);
        assert_int_equal(info.dates.start, s);
        assert_int_equal(info.dates.end, e);
        free(buf);
    }
}

static void test_vocabularies(void **state) {
    (void)state;
    size_t n = 0;
    for (const char *const *v = vocab_values(VOCAB_ISCED); *v; v++, n++)
        assert_non_null(vocab_label(VOCAB_ISCED, *v));
    /* 12 broad (with 99 unknown), 48 narrow, 118 detailed: the inter-disciplinary (x8) and
     * "not elsewhere classified" (x9) fields included */
    assert_int_equal(n, 178);
    assert_string_equal(vocab_label(VOCAB_ISCED, "0613"),
                        "Software and applications development and analysis");
    n = 0;
    for (const char *const *v = vocab_values(VOCAB_DIGCOMP); *v; v++, n++)
        ;
    assert_int_equal(n, 5 + 21);
    assert_string_equal(vocab_label(VOCAB_DIGCOMP, "3.4"), "Programming");
    n = 0;
    for (const char *const *v = vocab_values(VOCAB_EQF); *v; v++, n++)
        ;
    assert_int_equal(n, 8);
    assert_true(vocab_has(VOCAB_HUB_TYPE, "seal_of_excellence"));
    assert_true(vocab_has(VOCAB_CUSTOMER_TYPE, "midcaps"));
    assert_null(vocab_label(VOCAB_SECTOR, "Energy"));
    assert_int_equal(vocab_list_by_name("isced"), VOCAB_ISCED);
    assert_true(vocab_is_nuts("AT"));
    assert_true(vocab_is_nuts("DE300"));
    assert_true(vocab_is_nuts("ELZZZ"));
    assert_false(vocab_is_nuts("GR30"));
    assert_int_equal(vocab_nuts_check("GR30"), -1);
    assert_int_equal(vocab_nuts_check("at13"), 0);
    assert_int_equal(vocab_nuts_check("A"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_foreign_limits), cmocka_unit_test(test_terms),
        cmocka_unit_test(test_session_dates),  cmocka_unit_test(test_vocabularies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
