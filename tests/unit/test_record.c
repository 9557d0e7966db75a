/* test_record.c: record JSON <-> payload bytes for every kind, each class of rejection with
 * its error code and field, limits on foreign payloads, index terms, dates and accessors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "entry.pb-c.h"
#include "hub.h"
#include "record.h"

#define K_PROFILE HUBNET__KIND__KIND_PROFILE
#define K_OFFER HUBNET__KIND__KIND_OFFER
#define K_REQUEST HUBNET__KIND__KIND_REQUEST
#define K_RESPONSE HUBNET__KIND__KIND_RESPONSE
#define K_RETRACTION HUBNET__KIND__KIND_RETRACTION
#define K_ENDORSEMENT HUBNET__KIND__KIND_ENDORSEMENT

#define HEX_A "5a1e000000000000000000000000000000000000000000000000000000000001"
#define HEX_B "77b0ffeeddccbbaa998877665544332211000000000000000000000000000002"
#define SKILL_TEACH "http://data.europa.eu/esco/skill/c8fa4313-80b0-4f37-8b1b-1739707bc362"
#define SKILL_ONLINE "http://data.europa.eu/esco/skill/0d7f2cce-245a-4d02-9b8d-2e9946cc4c5d"

static const char *const offer_json =
    "{\"title\":\"Train-the-trainer: AI for public services\","
    "\"description\":\"Three modules.\\nFor hub staff who will train municipalities.\\tTabs.\","
    "\"topics\":[\"train-the-trainer\",\"ai-public-services\"],"
    "\"technologies\":[\"Artificial Intelligence & Decision support\","
    "\"Micro- and nanoelectronics, optoelectronics\"],"
    "\"sectors\":[\"Public administration\",\"Retail, wholesale or distribution\"],"
    "\"services\":[\"skills-and-training\",\"Vocational training\"],"
    "\"audience\":[\"trainers\",\"hub-staff\",\"public-administration\"],"
    "\"languages\":[\"de\",\"en\",\"pt-BR\"],"
    "\"mode\":\"blended\",\"opportunity_type\":\"Short learning programme\","
    "\"schedule\":\"part-time-light\",\"country\":\"AT\",\"location\":\"Wien / online\","
    "\"start_date\":\"2027-03-01\",\"end_date\":\"2027-06-30\","
    "\"duration_hours\":40,\"capacity\":25,\"cost\":{\"amount\":120.5,\"currency\":\"EUR\"},"
    "\"skills\":[\"" SKILL_ONLINE "\",\"" SKILL_TEACH "\"],"
    "\"registration_url\":\"https://edih.example.at/ttt-ai?lang=de\","
    "\"contact\":\"ttt@edih.example.at\",\"train_the_trainer\":true,\"ects_credits\":3}";

static const char *const profile_json =
    "{\"name\":\"EDIH \\u00d6sterreich S\\u00fcd\","
    "\"description\":\"Test before invest for SMEs and municipalities.\\n\\u00dcber uns.\","
    "\"country\":\"AT\",\"region\":\"K\\u00e4rnten\",\"website\":\"https://edih-sued.example.at\","
    "\"contact\":\"office@edih-sued.example.at\","
    "\"technologies\":[\"Cybersecurity\",\"Digital twins\"],"
    "\"sectors\":[\"Energy, fuels and petroleum engineering\",\"Smart City\"],"
    "\"services\":[\"test-before-invest\",\"SME support\"],"
    "\"languages\":[\"de\",\"sl\",\"en\"],\"topics\":[\"govtech\",\"eudi-wallet\"],"
    "\"endpoints\":[\"tcp://hub.edih-sued.example.at:7400\",\"tcp://[2001:db8::1]:7400\"],"
    "\"edih_id\":\"EDIH-AT-03\"}";

static const char *const request_json =
    "{\"title\":\"Expertise wanted: e-invoicing for a small municipality\","
    "\"description\":\"We need help with Peppol and the SDG once-only principle.\","
    "\"topics\":[\"einvoicing\",\"once-only\"],\"technologies\":[\"Cloud Services\"],"
    "\"sectors\":[\"Public administration\"],\"services\":[\"Knowledge transfer\"],"
    "\"audience\":[\"municipality\"],\"languages\":[\"el\",\"en\"],\"mode\":\"online\","
    "\"country\":\"GR\",\"location\":\"Ioannina\",\"start_date\":\"2027-01-10\","
    "\"end_date\":\"2027-02-28\",\"needed_by\":\"2026-12-20\","
    "\"budget\":{\"amount\":15000,\"currency\":\"EUR\"},"
    "\"skills\":[\"http://data.europa.eu/esco/skill/378caeec-10a0-4162-b75c-ab374a42e93d\"],"
    "\"contact\":\"it@ioannina.example.gr\"}";

/* The record a response answers (required since issue 10: replies follow records). */
#define TGT "\"target_author\":\"" HEX_A "\",\"target_kind\":\"offer\",\"target_key\":\"o1\","

static const char *const response_json =
    "{\"target\":\"" HEX_B "\",\"target_author\":\"" HEX_A "\",\"target_kind\":\"offer\","
    "\"target_key\":\"ttt-ai-2027\",\"type\":\"enrolment\","
    "\"message\":\"Three of our trainers would like to join.\\nThanks!\","
    "\"contact\":\"training@edih.example.pt\",\"seats\":3}";

static const char *const retraction_json =
    "{\"target_kind\":\"offer\",\"target_key\":\"ttt-ai-2027\",\"reason\":\"cancelled\"}";

static const char *const endorsement_json =
    "{\"hub\":\"" HEX_A "\",\"statement\":\"We ran two train-the-trainer programmes with them.\","
    "\"topics\":[\"train-the-trainer\",\"ai-public-services\"]}";

static json_t *parse(const char *text) {
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        fail_msg("bad test JSON at %d: %s", jerr.position, jerr.text);
    return v;
}

/* Payload bytes for a valid record; the caller frees them. */
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

static void assert_json_equal(json_t *want, json_t *got) {
    if (!json_equal(want, got)) {
        char *a = json_dumps(want, JSON_SORT_KEYS);
        char *b = json_dumps(got, JSON_SORT_KEYS);
        print_error("want %s\n got  %s\n", a, b);
        free(a);
        free(b);
        fail();
    }
}

/* JSON -> bytes -> JSON gives the input back, and bytes -> JSON -> bytes the same bytes. */
static void roundtrip(int kind, const char *text) {
    json_t *in = parse(text);
    uint8_t *buf = NULL;
    size_t len = 0;
    struct record_error err;
    int rc = record_from_json(kind, in, &buf, &len, &err);
    if (rc != HUB_OK)
        fail_msg("record_from_json: %d, field '%s': %s", rc, err.field, err.message);
    assert_int_equal(record_check_payload(kind, buf, len), HUB_OK);

    json_t *out = NULL;
    assert_int_equal(record_to_json(kind, buf, len, &out), HUB_OK);
    assert_json_equal(in, out);

    uint8_t *buf2 = NULL;
    size_t len2 = 0;
    assert_int_equal(record_from_json(kind, out, &buf2, &len2, &err), HUB_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);

    free(buf2);
    free(buf);
    json_decref(out);
    json_decref(in);
}

static void test_roundtrip_every_kind(void **state) {
    (void)state;
    roundtrip(K_PROFILE, profile_json);
    roundtrip(K_OFFER, offer_json);
    roundtrip(K_REQUEST, request_json);
    roundtrip(K_RESPONSE, response_json);
    roundtrip(K_RETRACTION, retraction_json);
    roundtrip(K_ENDORSEMENT, endorsement_json);
    /* Minimal records. */
    roundtrip(K_OFFER, "{\"title\":\"x\"}");
    roundtrip(K_PROFILE, "{\"name\":\"EDIH\"}");
    roundtrip(K_RESPONSE, "{" TGT "\"target\":\"" HEX_B "\",\"type\":\"question\"}");
    roundtrip(K_RESPONSE, "{\"target_author\":\"" HEX_A "\",\"target_key\":\"r1\",\"target\":\"" HEX_B
                          "\",\"type\":\"can-help\",\"target_kind\":\"request\"}");
    roundtrip(K_RESPONSE, "{" TGT "\"type\":\"interest\"}");
    roundtrip(K_RETRACTION, "{\"target_kind\":\"profile\",\"target_key\":\"profile\"}");
    roundtrip(K_ENDORSEMENT, "{\"hub\":\"" HEX_A "\"}");
    /* Limits are inclusive. */
    roundtrip(K_OFFER, "{\"title\":\"x\",\"capacity\":4294967295,\"duration_hours\":1,"
                       "\"end_date\":\"2027-01-01\",\"start_date\":\"2027-01-01\"}");
    /* A free course; a price in whole units stays an integer. */
    roundtrip(K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":0,\"currency\":\"EUR\"}}");
    roundtrip(K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":19.99,\"currency\":\"CHF\"}}");
    roundtrip(K_OFFER,
              "{\"title\":\"x\",\"cost\":{\"amount\":1000000000000,\"currency\":\"JPY\"}}");
    roundtrip(K_REQUEST, "{\"title\":\"x\",\"budget\":{\"amount\":0.01,\"currency\":\"EUR\"}}");
}

static void test_cost_minor_units(void **state) {
    (void)state;
    static const struct {
        const char *amount;
        uint64_t minor;
        const char *back; /* the amount record_to_json gives */
    } cases[] = {
        {"120.5", 12050, "120.5"}, {"120.50", 12050, "120.5"},
        {"120", 12000, "120"},     {"120.0", 12000, "120"},
        {"19.99", 1999, "19.99"},  {"0.1", 10, "0.1"},
        {"1e3", 100000, "1000"},   {"0", 0, "0"},
        {"0.004", 0, "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[200];
        snprintf(text, sizeof text,
                 "{\"title\":\"x\",\"cost\":{\"amount\":%s,\"currency\":\"EUR\"}}",
                 cases[i].amount);
        size_t len;
        uint8_t *buf = make(K_OFFER, text, &len);
        Hubnet__Offer *o = hubnet__offer__unpack(NULL, len, buf);
        assert_non_null(o);
        assert_non_null(o->cost);
        assert_int_equal(o->cost->amount_minor, cases[i].minor);
        assert_string_equal(o->cost->currency, "EUR");
        hubnet__offer__free_unpacked(o, NULL);

        json_t *out;
        assert_int_equal(record_to_json(K_OFFER, buf, len, &out), HUB_OK);
        json_t *want = parse(cases[i].back);
        assert_json_equal(want, json_object_get(json_object_get(out, "cost"), "amount"));
        json_decref(want);
        json_decref(out);
        free(buf);
    }
}

/* What JSON the defaults leave out: empty strings, lists, zero numbers and false. */
static void test_defaults_omitted(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = make(K_OFFER,
                        "{\"title\":\"x\",\"location\":\"\",\"topics\":[],\"capacity\":0,"
                        "\"train_the_trainer\":false}",
                        &len);
    json_t *out;
    assert_int_equal(record_to_json(K_OFFER, buf, len, &out), HUB_OK);
    json_t *want = parse("{\"title\":\"x\"}");
    assert_json_equal(want, out);
    json_decref(want);
    json_decref(out);
    free(buf);
}

struct reject {
    int kind;
    const char *json;
    int code;
    const char *field;
};

static const struct reject rejects[] = {
    /* unknown fields, missing required fields */
    {K_OFFER, "{\"title\":\"x\",\"colour\":\"red\"}", HUB_E_FIELD, "colour"},
    {K_OFFER, "{\"title\":\"x\",\"name\":\"y\"}", HUB_E_FIELD, "name"}, /* a profile field */
    {K_OFFER, "{\"description\":\"no title\"}", HUB_E_FIELD, "title"},
    {K_OFFER, "{}", HUB_E_FIELD, "title"},
    {K_OFFER, "{\"title\":\"\"}", HUB_E_FIELD, "title"},
    {K_REQUEST, "{\"topics\":[\"ai\"]}", HUB_E_FIELD, "title"},
    {K_PROFILE, "{\"title\":\"x\"}", HUB_E_FIELD, "title"},
    {K_PROFILE, "{\"country\":\"AT\"}", HUB_E_FIELD, "name"},
    {K_RESPONSE, "{\"type\":\"interest\"}", HUB_E_FIELD, "target_author"},
    {K_RESPONSE, "{" TGT "\"target\":\"" HEX_B "\"}", HUB_E_FIELD, "type"},
    {K_ENDORSEMENT, "{\"statement\":\"good\"}", HUB_E_FIELD, "hub"},
    {K_RETRACTION, "{\"target_kind\":\"offer\"}", HUB_E_FIELD, "target_key"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":1}}", HUB_E_FIELD, "cost.currency"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"currency\":\"EUR\"}}", HUB_E_FIELD, "cost.amount"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":1,\"currency\":\"EUR\",\"vat\":true}}",
     HUB_E_FIELD, "cost.vat"},
    /* wrong JSON types */
    {K_OFFER, "{\"title\":7}", HUB_E_TYPE, "title"},
    {K_OFFER, "{\"title\":null}", HUB_E_TYPE, "title"},
    {K_OFFER, "{\"title\":\"x\",\"topics\":\"ai\"}", HUB_E_TYPE, "topics"},
    {K_OFFER, "{\"title\":\"x\",\"topics\":[\"ai\",1]}", HUB_E_TYPE, "topics[1]"},
    {K_OFFER, "{\"title\":\"x\",\"capacity\":\"10\"}", HUB_E_TYPE, "capacity"},
    {K_OFFER, "{\"title\":\"x\",\"capacity\":1.5}", HUB_E_TYPE, "capacity"},
    {K_OFFER, "{\"title\":\"x\",\"train_the_trainer\":\"yes\"}", HUB_E_TYPE, "train_the_trainer"},
    {K_OFFER, "{\"title\":\"x\",\"train_the_trainer\":1}", HUB_E_TYPE, "train_the_trainer"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":\"120 EUR\"}", HUB_E_TYPE, "cost"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":\"120\",\"currency\":\"EUR\"}}", HUB_E_TYPE,
     "cost.amount"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":1,\"currency\":978}}", HUB_E_TYPE,
     "cost.currency"},
    {K_RESPONSE, "{\"target\":7,\"type\":\"interest\"}", HUB_E_TYPE, "target"},
    {K_RESPONSE, "{\"target\":\"" HEX_B "\",\"type\":2}", HUB_E_TYPE, "type"},
    /* out of vocabulary */
    {K_OFFER, "{\"title\":\"x\",\"country\":\"XX\"}", HUB_E_VOCAB, "country"},
    {K_OFFER, "{\"title\":\"x\",\"country\":\"at\"}", HUB_E_VOCAB, "country"},
    {K_OFFER, "{\"title\":\"x\",\"country\":\"\"}", HUB_E_VOCAB, "country"},
    {K_OFFER, "{\"title\":\"x\",\"sectors\":[\"Retail\"]}", HUB_E_VOCAB, "sectors[0]"},
    {K_OFFER, "{\"title\":\"x\",\"technologies\":[\"Big data\",\"big data\"]}", HUB_E_VOCAB,
     "technologies[1]"},
    {K_OFFER, "{\"title\":\"x\",\"services\":[\"Skills and training\"]}", HUB_E_VOCAB,
     "services[0]"},
    {K_OFFER, "{\"title\":\"x\",\"audience\":[\"SME\"]}", HUB_E_VOCAB, "audience[0]"},
    {K_OFFER, "{\"title\":\"x\",\"mode\":\"hybrid\"}", HUB_E_VOCAB, "mode"},
    {K_OFFER, "{\"title\":\"x\",\"schedule\":\"part-time\"}", HUB_E_VOCAB, "schedule"},
    {K_OFFER, "{\"title\":\"x\",\"opportunity_type\":\"course\"}", HUB_E_VOCAB, "opportunity_type"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":1,\"currency\":\"EURO\"}}", HUB_E_VOCAB,
     "cost.currency"},
    {K_REQUEST, "{\"title\":\"x\",\"budget\":{\"amount\":1,\"currency\":\"eur\"}}", HUB_E_VOCAB,
     "budget.currency"},
    {K_PROFILE, "{\"name\":\"x\",\"country\":\"UK\"}", HUB_E_VOCAB, "country"},
    {K_RESPONSE, "{\"target\":\"" HEX_B "\",\"type\":\"like\"}", HUB_E_VOCAB, "type"},
    /* kinds */
    {K_RESPONSE, "{\"target\":\"" HEX_B "\",\"type\":\"interest\",\"target_kind\":\"profile\"}",
     HUB_E_KIND, "target_kind"},
    {K_RESPONSE, "{\"target\":\"" HEX_B "\",\"type\":\"interest\",\"target_kind\":\"Offer\"}",
     HUB_E_KIND, "target_kind"},
    {K_RETRACTION, "{\"target_kind\":\"retraction\",\"target_key\":\"k\"}", HUB_E_KIND,
     "target_kind"},
    {0, "{\"title\":\"x\"}", HUB_E_KIND, "kind"},
    {7, "{\"title\":\"x\"}", HUB_E_KIND, "kind"},
    /* out of range: dates, syntax, numbers */
    {K_OFFER, "{\"title\":\"x\",\"start_date\":\"2027-02-30\"}", HUB_E_RANGE, "start_date"},
    {K_OFFER, "{\"title\":\"x\",\"start_date\":\"2027-1-05\"}", HUB_E_RANGE, "start_date"},
    {K_OFFER, "{\"title\":\"x\",\"start_date\":\"2027-01-05T10:00:00Z\"}", HUB_E_RANGE,
     "start_date"},
    {K_OFFER, "{\"title\":\"x\",\"end_date\":\"2027-13-01\"}", HUB_E_RANGE, "end_date"},
    {K_REQUEST, "{\"title\":\"x\",\"needed_by\":\"tomorrow\"}", HUB_E_RANGE, "needed_by"},
    {K_OFFER, "{\"title\":\"x\",\"start_date\":\"2027-06-01\",\"end_date\":\"2027-05-31\"}",
     HUB_E_RANGE, "end_date"},
    {K_REQUEST, "{\"title\":\"x\",\"start_date\":\"2027-06-01\",\"end_date\":\"2026-06-01\"}",
     HUB_E_RANGE, "end_date"},
    {K_OFFER, "{\"title\":\"x\",\"registration_url\":\"ftp://example.eu\"}", HUB_E_RANGE,
     "registration_url"},
    {K_PROFILE, "{\"name\":\"x\",\"website\":\"www.example.eu\"}", HUB_E_RANGE, "website"},
    {K_OFFER, "{\"title\":\"x\",\"skills\":[\"cyber security\"]}", HUB_E_RANGE, "skills[0]"},
    {K_OFFER, "{\"title\":\"x\",\"languages\":[\"en\",\"english\"]}", HUB_E_RANGE, "languages[1]"},
    {K_OFFER, "{\"title\":\"x\",\"topics\":[\"AI\"]}", HUB_E_RANGE, "topics[0]"},
    {K_PROFILE, "{\"name\":\"x\",\"endpoints\":[\"tcp://hub.example.eu\"]}", HUB_E_RANGE,
     "endpoints[0]"},
    {K_PROFILE, "{\"name\":\"x\",\"endpoints\":[\"http://hub.example.eu:7400\"]}", HUB_E_RANGE,
     "endpoints[0]"},
    {K_OFFER, "{\"title\":\"x\",\"capacity\":-1}", HUB_E_RANGE, "capacity"},
    {K_OFFER, "{\"title\":\"x\",\"ects_credits\":4294967296}", HUB_E_RANGE, "ects_credits"},
    {K_RESPONSE, "{\"target\":\"" HEX_B "\",\"type\":\"enrolment\",\"seats\":-3}", HUB_E_RANGE,
     "seats"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":-0.5,\"currency\":\"EUR\"}}", HUB_E_RANGE,
     "cost.amount"},
    {K_OFFER, "{\"title\":\"x\",\"cost\":{\"amount\":1e13,\"currency\":\"EUR\"}}", HUB_E_RANGE,
     "cost.amount"},
    {K_RESPONSE, "{\"target\":\"abc\",\"type\":\"interest\"}", HUB_E_RANGE, "target"},
    {K_RESPONSE,
     "{\"target\":\"77B0FFEEDDCCBBAA998877665544332211000000000000000000000000000002\","
     "\"type\":\"interest\"}",
     HUB_E_RANGE, "target"},
    {K_RESPONSE,
     "{\"target\":\"" HEX_B "\",\"type\":\"interest\",\"target_author\":\"" HEX_A "0\"}",
     HUB_E_RANGE, "target_author"},
    {K_ENDORSEMENT,
     "{\"hub\":\"zz1e000000000000000000000000000000000000000000000000000000000001\"}", HUB_E_RANGE,
     "hub"},
    /* control characters: only the multi-line fields take \n and \t */
    {K_OFFER, "{\"title\":\"two\\nlines\"}", HUB_E_RANGE, "title"},
    {K_OFFER, "{\"title\":\"x\",\"contact\":\"a\\tb\"}", HUB_E_RANGE, "contact"},
    {K_OFFER, "{\"title\":\"x\",\"description\":\"bell\\u0007\"}", HUB_E_RANGE, "description"},
    {K_OFFER, "{\"title\":\"x\",\"description\":\"cr\\r\\nlf\"}", HUB_E_RANGE, "description"},
    {K_OFFER, "{\"title\":\"del\\u007f\"}", HUB_E_RANGE, "title"},
    /* lists that are too long */
    {K_OFFER,
     "{\"title\":\"x\",\"topics\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\","
     "\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\","
     "\"z\",\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"]}",
     HUB_E_TOO_LARGE, "topics"},
};

static void test_rejects(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        const struct reject *r = &rejects[i];
        json_t *in = parse(r->json);
        uint8_t *buf = (uint8_t *)1;
        size_t len = 99;
        struct record_error err;
        int rc = record_from_json(r->kind, in, &buf, &len, &err);
        if (rc != r->code || strcmp(err.field, r->field) != 0)
            fail_msg("case %zu %s: want %d '%s', got %d '%s' (%s)", i, r->json, r->code, r->field,
                     rc, err.field, err.message);
        assert_null(buf);
        assert_int_equal(len, 0);
        assert_true(err.message[0] != '\0');
        json_decref(in);
    }
}

/* Field as a string of n copies of c, in an otherwise valid record of kind. */
static int with_long(int kind, const char *base, const char *field, size_t n, char c,
                     struct record_error *err) {
    json_t *in = parse(base);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    assert_int_equal(json_object_set_new(in, field, json_string(s)), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = record_from_json(kind, in, &buf, &len, err);
    if (rc == HUB_OK)
        assert_int_equal(record_check_payload(kind, buf, len), HUB_OK);
    free(buf);
    free(s);
    json_decref(in);
    return rc;
}

static void test_string_caps(void **state) {
    (void)state;
    static const struct {
        int kind;
        const char *base;
        const char *field;
        size_t cap;
    } caps[] = {
        {K_OFFER, "{}", "title", 200},
        {K_PROFILE, "{}", "name", 200},
        {K_OFFER, "{\"title\":\"x\"}", "description", 8000},
        {K_PROFILE, "{\"name\":\"x\"}", "description", 8000},
        {K_RESPONSE, "{" TGT "\"type\":\"question\"}", "message", 4000},
        {K_ENDORSEMENT, "{\"hub\":\"" HEX_A "\"}", "statement", 4000},
        {K_OFFER, "{\"title\":\"x\"}", "contact", 256},
        {K_OFFER, "{\"title\":\"x\"}", "location", 200},
        {K_PROFILE, "{\"name\":\"x\"}", "region", 200},
        {K_PROFILE, "{\"name\":\"x\"}", "edih_id", 128},
        {K_RETRACTION, "{\"target_kind\":\"offer\"}", "target_key", 128},
        {K_RETRACTION, "{\"target_kind\":\"offer\",\"target_key\":\"k\"}", "reason", 128},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        struct record_error err;
        if (with_long(caps[i].kind, caps[i].base, caps[i].field, caps[i].cap, 'a', &err) != HUB_OK)
            fail_msg("%s at its cap: %s", caps[i].field, err.message);
        assert_int_equal(
            with_long(caps[i].kind, caps[i].base, caps[i].field, caps[i].cap + 1, 'a', &err),
            HUB_E_TOO_LARGE);
        assert_string_equal(err.field, caps[i].field);
    }

    /* A topic of 65 bytes is too large before it is malformed. */
    struct record_error err;
    char topic[70];
    memset(topic, 'a', 65);
    topic[65] = '\0';
    json_t *in = parse("{\"title\":\"x\"}");
    assert_int_equal(json_object_set_new(in, "topics", json_pack("[s]", topic)), 0);
    uint8_t *buf = NULL;
    size_t len;
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_E_TOO_LARGE);
    assert_string_equal(err.field, "topics[0]");
    json_decref(in);

    /* 32 list items pass. */
    in = parse("{\"title\":\"x\"}");
    json_t *list = json_array();
    for (int i = 0; i < 32; i++) {
        char t[8];
        snprintf(t, sizeof t, "t%d", i);
        assert_int_equal(json_array_append_new(list, json_string(t)), 0);
    }
    assert_int_equal(json_object_set_new(in, "topics", list), 0);
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_OK);
    free(buf);
    json_decref(in);
}

static void test_bad_strings(void **state) {
    (void)state;
    struct record_error err;
    uint8_t *buf = NULL;
    size_t len;
    /* Built without jansson's checks, as a caller might: invalid UTF-8 and an embedded NUL. */
    json_t *in = json_object();
    assert_int_equal(json_object_set_new(in, "title",
                                         json_stringn_nocheck("a\xff"
                                                              "b",
                                                              3)),
                     0);
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_E_RANGE);
    assert_string_equal(err.field, "title");
    assert_int_equal(json_object_set_new(in, "title", json_stringn("a\0b", 3)), 0);
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_E_RANGE);
    assert_string_equal(err.field, "title");
    /* Overlong encoding of '/' and a UTF-16 surrogate are not UTF-8 either. */
    assert_int_equal(json_object_set_new(in, "title", json_stringn_nocheck("\xc0\xaf", 2)), 0);
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_E_RANGE);
    assert_int_equal(json_object_set_new(in, "title", json_stringn_nocheck("\xed\xa0\x80", 3)), 0);
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_E_RANGE);
    json_decref(in);

    /* Not an object at all. */
    in = parse("[\"title\"]");
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_E_TYPE);
    json_decref(in);
    assert_int_equal(record_from_json(K_OFFER, NULL, &buf, &len, NULL), HUB_E_TYPE);
}

/* ---- foreign payloads ---- */

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void test_check_payload(void **state) {
    (void)state;
    char title[202];
    memset(title, 'T', 201);
    title[201] = '\0';
    char *topics[33];
    for (int i = 0; i < 33; i++)
        topics[i] = "ai";
    size_t len;
    uint8_t *buf;

    /* Vocabularies are not checked on foreign payloads, only limits. */
    Hubnet__Offer o = HUBNET__OFFER__INIT;
    o.title = "x";
    o.country = "XX";
    o.mode = "hybrid";
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_OK);
    free(buf);

    o.title = title;
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_E_TOO_LARGE);
    free(buf);

    o.title = "x";
    o.n_topics = 33;
    o.topics = topics;
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_E_TOO_LARGE);
    free(buf);
    o.n_topics = 32;
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_OK);
    free(buf);
    o.n_topics = 0;

    o.title = "bad\x01";
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_E_RANGE);
    free(buf);
    o.title = "bad \xff utf-8";
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_E_RANGE);
    /* record_to_json cannot show it either. */
    json_t *out = NULL;
    assert_int_equal(record_to_json(K_OFFER, buf, len, &out), HUB_E_DECODE);
    assert_null(out);
    free(buf);

    Hubnet__Cost cost = HUBNET__COST__INIT;
    cost.amount_minor = UINT64_MAX;
    cost.currency = "EUR";
    o.title = "x";
    o.cost = &cost;
    buf = pack(&o.base, &len);
    assert_int_equal(record_check_payload(K_OFFER, buf, len), HUB_E_RANGE);
    free(buf);

    /* Keys and ids are 32 bytes. */
    uint8_t id[33] = {0};
    Hubnet__Response r = HUBNET__RESPONSE__INIT;
    r.target.data = id;
    r.target.len = 31;
    r.type = HUBNET__RESPONSE_TYPE__RESPONSE_INTEREST;
    buf = pack(&r.base, &len);
    assert_int_equal(record_check_payload(K_RESPONSE, buf, len), HUB_E_RANGE);
    free(buf);
    r.target.len = 32;
    r.target_kind = 99; /* from a newer protocol: shown as a number */
    r.type = 42;
    buf = pack(&r.base, &len);
    assert_int_equal(record_check_payload(K_RESPONSE, buf, len), HUB_OK);
    assert_int_equal(record_to_json(K_RESPONSE, buf, len, &out), HUB_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "target_kind")), 99);
    assert_int_equal(json_integer_value(json_object_get(out, "type")), 42);
    json_decref(out);
    free(buf);

    /* Bytes that are not a message of the kind. */
    static const uint8_t junk[] = {0x0a, 0x05, 'a', 'b'}; /* length runs past the end */
    assert_int_equal(record_check_payload(K_OFFER, junk, sizeof junk), HUB_E_DECODE);
    assert_int_equal(record_to_json(K_OFFER, junk, sizeof junk, &out), HUB_E_DECODE);
    static const uint8_t wrong_type[] = {0x08, 0x01}; /* field 1 as a varint, not a string */
    assert_int_equal(record_check_payload(K_OFFER, wrong_type, sizeof wrong_type), HUB_E_DECODE);
    assert_int_equal(record_check_payload(9, wrong_type, sizeof wrong_type), HUB_E_KIND);
    /* An empty payload is a message with every field at its default. */
    assert_int_equal(record_check_payload(K_RETRACTION, NULL, 0), HUB_OK);
}

/* §3.2's tag rules in payloads and in their nested Cost: a field number of 2^29 or more (which
 * protobuf-c reads as an unknown field) is E_DECODE, as hubnet_ref.py says; 2^29 − 1 is an unknown
 * field, allowed. */
static void test_check_payload_strict_tags(void **state) {
    (void)state;
    size_t len;
    uint8_t *base = make(K_OFFER, offer_json, &len);
    static const uint8_t f2p29[] = {0x80, 0x80, 0x80, 0x80, 0x10, 0x01};
    static const uint8_t fmax[] = {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01};
    static const uint8_t f0long[] = {0x80, 0x00, 0x01};
    const uint8_t *tails[] = {f2p29, f0long, fmax};
    const size_t tlen[] = {sizeof f2p29, sizeof f0long, sizeof fmax};
    const int want[] = {HUB_E_DECODE, HUB_E_DECODE, HUB_OK};
    uint8_t buf[4096];
    assert_true(len + 16 < sizeof buf);
    for (size_t i = 0; i < 3; i++) {
        memcpy(buf, base, len);
        memcpy(buf + len, tails[i], tlen[i]);
        assert_int_equal(record_check_payload(K_OFFER, buf, len + tlen[i]), want[i]);
        /* the same inside Cost (Offer field 18): 0x92 0x01 len, then Cost's bytes */
        size_t n = 0;
        buf[n++] = 0x92;
        buf[n++] = 0x01;
        buf[n++] = (uint8_t)(2 + tlen[i]);
        buf[n++] = 0x08; /* amount_minor = 5 */
        buf[n++] = 0x05;
        memcpy(buf + n, tails[i], tlen[i]);
        n += tlen[i];
        assert_int_equal(record_check_payload(K_OFFER, buf, n), want[i]);
    }
    free(base);
}

/* A non-repeated field that occurs twice (PROTOCOL.md §3.2): a scalar's last occurrence wins
 * (protobuf's rule); a message field (Cost) twice is E_DECODE: Google's parsers merge the two
 * (hubnet_ref.py did), protobuf-c keeps only the last, so hubs on the two libraries checked
 * different amounts and one could accept what the other refuses. */
static void test_repeated_occurrences(void **state) {
    (void)state;
    uint8_t buf[64];
    size_t n = 0;
    buf[n++] = 0x0a, buf[n++] = 0x01, buf[n++] = 'A';
    buf[n++] = 0x0a, buf[n++] = 0x01, buf[n++] = 'B';
    size_t titles = n;
    assert_int_equal(record_check_payload(K_OFFER, buf, n), HUB_OK);
    json_t *out;
    assert_int_equal(record_to_json(K_OFFER, buf, n, &out), HUB_OK);
    assert_string_equal(json_string_value(json_object_get(out, "title")), "B");
    json_decref(out);
    /* cost { amount_minor: 2^60, over the cap }, then cost { currency: "EUR" }: protobuf-c
     * kept the second (accepted), Google's protobuf merged them (E_RANGE). */
    buf[n++] = 0x92, buf[n++] = 0x01, buf[n++] = 0x0a;
    buf[n++] = 0x08;
    for (int i = 0; i < 8; i++)
        buf[n++] = 0x80;
    buf[n++] = 0x10;
    size_t one_cost = n;
    assert_int_equal(record_check_payload(K_OFFER, buf, one_cost), HUB_E_RANGE);
    buf[n++] = 0x92, buf[n++] = 0x01, buf[n++] = 0x05;
    buf[n++] = 0x12, buf[n++] = 0x03, buf[n++] = 'E', buf[n++] = 'U', buf[n++] = 'R';
    assert_int_equal(record_check_payload(K_OFFER, buf, n), HUB_E_DECODE);
    /* Two Costs that are each fine: E_DECODE all the same. */
    n = titles;
    for (int k = 0; k < 2; k++) {
        buf[n++] = 0x92, buf[n++] = 0x01, buf[n++] = 0x05;
        buf[n++] = 0x12, buf[n++] = 0x03, buf[n++] = 'E', buf[n++] = 'U', buf[n++] = 'R';
    }
    assert_int_equal(record_check_payload(K_OFFER, buf, n), HUB_E_DECODE);
    /* A string's value is its last occurrence, and only that one is checked (§3.2): a NUL in
     * an earlier one does not count (it did: E_RANGE, where hubnet_ref.py accepts). */
    static const uint8_t nul_then_ok[] = {0x0a, 0x03, 'a', 0x00, 'b', 0x0a, 0x02, 'o', 'k'};
    static const uint8_t ok_then_nul[] = {0x0a, 0x02, 'o', 'k', 0x0a, 0x03, 'a', 0x00, 'b'};
    assert_int_equal(record_check_payload(K_OFFER, nul_then_ok, sizeof nul_then_ok), HUB_OK);
    assert_int_equal(record_check_payload(K_OFFER, ok_then_nul, sizeof ok_then_nul), HUB_E_RANGE);
    /* An item of a repeated field always counts. */
    static const uint8_t topic_nul[] = {0x1a, 0x03, 'a', 0x00, 'b', 0x1a, 0x02, 'o', 'k'};
    assert_int_equal(record_check_payload(K_OFFER, topic_nul, sizeof topic_nul), HUB_E_RANGE);
    /* A repeated field's items are not occurrences of one value. */
    n = 0;
    for (int k = 0; k < 2; k++)
        buf[n++] = 0x1a, buf[n++] = 0x02, buf[n++] = 'a', buf[n++] = (uint8_t)('a' + k);
    assert_int_equal(record_check_payload(K_OFFER, buf, n), HUB_OK);
}

/* ---- index terms ---- */

static const uint8_t author[32] = {0x5a, 0x1e, [31] = 0x01};

static int has_term(const struct index_term *t, size_t n, enum index_field f, const char *v) {
    struct index_term want;
    index_term_make(f, v, strlen(v), &want);
    for (size_t i = 0; i < n; i++)
        if (memcmp(t[i].b, want.b, INDEX_TERM_LEN) == 0)
            return 1;
    return 0;
}

static void assert_unique(const struct index_term *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (memcmp(t[i].b, t[j].b, INDEX_TERM_LEN) == 0)
                fail_msg("terms %zu and %zu are equal", i, j);
}

static void test_term_make(void **state) {
    (void)state;
    struct index_term t, u;
    /* Test vectors: SipHash-2-4 (key "hubnet-index-v1\0") of the lower-cased value,
     * computed independently with PyNaCl's siphash24. */
    static const uint8_t offer[INDEX_TERM_LEN] = {IDX_KIND, 0x1c, 0x4d, 0x15, 0x38,
                                                  0x7e,     0x0e, 0x33, 0x93};
    static const uint8_t all[INDEX_TERM_LEN] = {IDX_ALL, 0x2f, 0xc2, 0xdf, 0x49,
                                                0xf4,    0x03, 0xdf, 0x8a};
    static const uint8_t at[INDEX_TERM_LEN] = {IDX_COUNTRY, 0xdc, 0xc7, 0x1f, 0xdf,
                                               0xc7,        0xdb, 0x29, 0x86};
    index_term_make(IDX_KIND, "offer", 5, &t);
    assert_memory_equal(t.b, offer, INDEX_TERM_LEN);
    index_term_make(IDX_KIND, "OFFER", 5, &t);
    assert_memory_equal(t.b, offer, INDEX_TERM_LEN);
    index_term_make(IDX_ALL, "", 0, &t);
    assert_memory_equal(t.b, all, INDEX_TERM_LEN);
    index_term_make(IDX_COUNTRY, "AT", 2, &t);
    assert_memory_equal(t.b, at, INDEX_TERM_LEN);
    /* Only the given length is hashed. */
    index_term_make(IDX_KIND, "offers", 5, &u);
    assert_memory_equal(u.b, offer, INDEX_TERM_LEN);
    /* Same value, other field: other term. */
    index_term_make(IDX_TOPIC, "offer", 5, &u);
    assert_memory_not_equal(u.b, offer, INDEX_TERM_LEN);
    assert_memory_equal(u.b + 1, offer + 1, INDEX_TERM_LEN - 1);
    /* Non-ASCII bytes are not folded. */
    index_term_make(IDX_WORD,
                    "\xc3\xbc"
                    "ber",
                    5, &t); /* über */
    index_term_make(IDX_WORD,
                    "\xc3\x9c"
                    "ber",
                    5, &u); /* Über */
    assert_memory_not_equal(t.b, u.b, INDEX_TERM_LEN);

    /* Values longer than the internal buffer hash the same as in one piece. */
    size_t n = 1000;
    char *upper = malloc(n), *lower = malloc(n);
    assert_non_null(upper);
    assert_non_null(lower);
    for (size_t i = 0; i < n; i++) {
        upper[i] = (char)('A' + i % 26);
        lower[i] = (char)('a' + i % 26);
    }
    static const uint8_t key[crypto_shorthash_KEYBYTES] = "hubnet-index-v1";
    uint8_t h[crypto_shorthash_BYTES];
    assert_int_equal(crypto_shorthash(h, (const uint8_t *)lower, n, key), 0);
    index_term_make(IDX_WORD, upper, n, &t);
    assert_int_equal(t.b[0], IDX_WORD);
    assert_memory_equal(t.b + 1, h, 8);
    free(upper);
    free(lower);
}

static void test_terms_offer(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = make(K_OFFER, offer_json, &len);
    struct index_term t[RECORD_MAX_TERMS], t2[RECORD_MAX_TERMS];
    size_t n = record_terms(author, K_OFFER, buf, len, t, RECORD_MAX_TERMS);
    size_t n2 = record_terms(author, K_OFFER, buf, len, t2, RECORD_MAX_TERMS);
    assert_int_equal(n, n2);
    assert_memory_equal(t, t2, n * sizeof t[0]); /* deterministic, order included */
    assert_unique(t, n);

    char hex[HUB_HEX_LEN + 1];
    hub_hex(author, 32, hex);
    assert_true(has_term(t, n, IDX_ALL, ""));
    assert_true(has_term(t, n, IDX_KIND, "offer"));
    assert_true(has_term(t, n, IDX_AUTHOR, hex));
    assert_true(has_term(t, n, IDX_TOPIC, "train-the-trainer"));
    assert_true(has_term(t, n, IDX_TOPIC, "ai-public-services"));
    assert_true(has_term(t, n, IDX_TECHNOLOGY, "Micro- and nanoelectronics, optoelectronics"));
    assert_true(has_term(t, n, IDX_SECTOR, "retail, wholesale or distribution"));
    assert_true(has_term(t, n, IDX_SERVICE, "skills-and-training"));
    assert_true(has_term(t, n, IDX_AUDIENCE, "trainers"));
    assert_true(has_term(t, n, IDX_AUDIENCE, "hub-staff"));
    assert_true(has_term(t, n, IDX_LANGUAGE, "pt-br"));
    assert_true(has_term(t, n, IDX_LANGUAGE, "pt"));
    assert_true(has_term(t, n, IDX_LANGUAGE, "de"));
    assert_true(has_term(t, n, IDX_MODE, "blended"));
    assert_true(has_term(t, n, IDX_COUNTRY, "at"));
    assert_true(has_term(t, n, IDX_SKILL, SKILL_TEACH));
    assert_true(has_term(t, n, IDX_WORD, "train"));
    assert_true(has_term(t, n, IDX_WORD, "ai"));
    assert_true(has_term(t, n, IDX_WORD, "public"));
    assert_true(has_term(t, n, IDX_WORD, "municipalities"));
    assert_true(has_term(t, n, IDX_WORD, "tabs"));
    /* Not indexed: one-letter words, other free-text fields, wrong field tags. */
    assert_false(has_term(t, n, IDX_WORD, "a"));
    assert_false(has_term(t, n, IDX_WORD, "wien"));
    assert_false(has_term(t, n, IDX_WORD, "ttt"));
    assert_false(has_term(t, n, IDX_TOPIC, "trainers"));
    assert_false(has_term(t, n, IDX_COUNTRY, "de"));
    assert_false(has_term(t, n, IDX_LANGUAGE, "br"));
    /* Title: train, the, trainer, ai, for, public, services; description adds: three,
     * modules, hub, staff, who, will, municipalities, tabs ("for" again). */
    size_t words = 7 + 8;
    size_t tags = 3 /* all kind author */ + 2 + 2 + 2 + 2 + 3 + 4 /* de en pt-br pt */ + 1 + 1 + 2 +
                  1 /* service group (skills-training by default) */;
    assert_int_equal(n, tags + words);
    free(buf);
}

static void test_terms_dedupe(void **state) {
    (void)state;
    size_t len;
    struct index_term t[RECORD_MAX_TERMS];
    /* train_the_trainer adds the topic and audience the record already names. */
    uint8_t *buf = make(K_OFFER,
                        "{\"title\":\"AI ai Ai aI: a.i. A-I\",\"topics\":[\"train-the-trainer\","
                        "\"train-the-trainer\"],\"audience\":[\"trainers\"],"
                        "\"train_the_trainer\":true,\"languages\":[\"en\",\"en\"]}",
                        &len);
    size_t n = record_terms(author, K_OFFER, buf, len, t, RECORD_MAX_TERMS);
    assert_unique(t, n);
    /* all, kind, author, topic, audience, language en, word ai, service group */
    assert_int_equal(n, 8);
    assert_true(has_term(t, n, IDX_WORD, "ai"));
    free(buf);

    /* train_the_trainer alone implies the topic and the audience. */
    buf = make(K_OFFER, "{\"title\":\"x\",\"train_the_trainer\":true}", &len);
    n = record_terms(author, K_OFFER, buf, len, t, RECORD_MAX_TERMS);
    assert_int_equal(n, 6); /* all, kind, author, topic, audience, service group */
    assert_true(has_term(t, n, IDX_TOPIC, "train-the-trainer"));
    assert_true(has_term(t, n, IDX_AUDIENCE, "trainers"));
    free(buf);

    /* Word splitting: punctuation splits, bytes >= 0x80 are part of words. */
    buf = make(K_REQUEST,
               "{\"title\":\"\\u00dcber-KI, e-Mail & 5G (x)\","
               "\"description\":\"ki KI k\\u00fcnstliche\"}",
               &len);
    n = record_terms(author, K_REQUEST, buf, len, t, RECORD_MAX_TERMS);
    assert_unique(t, n);
    assert_true(has_term(t, n, IDX_WORD,
                         "\xc3\x9c"
                         "ber"));
    assert_true(has_term(t, n, IDX_WORD, "ki"));
    assert_true(has_term(t, n, IDX_WORD, "mail"));
    assert_true(has_term(t, n, IDX_WORD, "5g"));
    assert_true(has_term(t, n, IDX_WORD, "k\xc3\xbcnstliche"));
    assert_false(has_term(t, n, IDX_WORD, "e"));
    assert_false(has_term(t, n, IDX_WORD, "x"));
    assert_int_equal(n, 3 + 5 + 1 /* service group */);
    free(buf);

    /* The query side splits text the same way. */
    assert_int_equal(record_word_terms("AI for AI-based services, for all", t, RECORD_MAX_TERMS),
                     5);
    assert_true(has_term(t, 5, IDX_WORD, "based"));
    assert_int_equal(record_word_terms("", t, RECORD_MAX_TERMS), 0);
    assert_int_equal(record_word_terms("a b c", t, RECORD_MAX_TERMS), 0);
}

static void test_terms_cap(void **state) {
    (void)state;
    /* 400 distinct words: tags are kept, words stop at the cap. */
    size_t cap = 400 * 6 + 1;
    char *desc = malloc(cap);
    assert_non_null(desc);
    size_t off = 0;
    for (int i = 0; i < 400; i++) {
        int w = snprintf(desc + off, cap - off, "w%d ", i);
        assert_true(w > 0 && (size_t)w < cap - off);
        off += (size_t)w;
    }
    json_t *in = json_pack("{s:s, s:s, s:[s,s], s:s}", "title", "Cap test", "description", desc,
                           "topics", "ai", "govtech", "country", "BE");
    assert_non_null(in);
    uint8_t *buf = NULL;
    size_t len;
    struct record_error err;
    assert_int_equal(record_from_json(K_OFFER, in, &buf, &len, &err), HUB_OK);
    struct index_term t[RECORD_MAX_TERMS];
    size_t n = record_terms(author, K_OFFER, buf, len, t, RECORD_MAX_TERMS);
    assert_int_equal(n, RECORD_MAX_TERMS);
    assert_unique(t, n);
    assert_true(has_term(t, n, IDX_TOPIC, "govtech"));
    assert_true(has_term(t, n, IDX_COUNTRY, "be"));
    assert_true(has_term(t, n, IDX_WORD, "cap"));
    assert_true(has_term(t, n, IDX_WORD, "w0"));
    assert_false(has_term(t, n, IDX_WORD, "w399"));
    /* A smaller max is respected exactly. */
    assert_int_equal(record_terms(author, K_OFFER, buf, len, t, 2), 2);
    assert_int_equal(record_terms(author, K_OFFER, buf, len, t, 0), 0);
    free(buf);
    free(desc);
    json_decref(in);
}

/* The per-thread term cache gives the same terms as hashing afresh, through evictions and
 * for values too long to cache. */
static void test_terms_cache(void **state) {
    (void)state;
    struct index_term t[4], want;
    char text[400], w1[32], w2[32];
    for (int i = 0; i < 30000; i++) {
        int n1 = snprintf(w1, sizeof w1, "w%d", i);
        int n2 = snprintf(w2, sizeof w2, "Word-Number-%d-Long-Enough", i % 977);
        assert_true(n1 > 0 && n2 > 0);
        snprintf(text, sizeof text, "%s %s", w1, w2);
        size_t n = record_word_terms(text, t, 4);
        assert_int_equal(n, 4); /* w<i>, word, number, ... */
        index_term_make(IDX_WORD, w1, strlen(w1), &want);
        assert_memory_equal(t[0].b, want.b, INDEX_TERM_LEN);
    }
    /* A 300-byte word: longer than the cache and than index_term_make's buffer. */
    memset(text, 'Q', 300);
    text[300] = '\0';
    assert_int_equal(record_word_terms(text, t, 4), 1);
    index_term_make(IDX_WORD, text, 300, &want);
    assert_memory_equal(t[0].b, want.b, INDEX_TERM_LEN);
    memset(text, 'q', 300);
    assert_int_equal(record_word_terms(text, t, 4), 1);
    assert_memory_equal(t[0].b, want.b, INDEX_TERM_LEN);
}

static void test_terms_other_kinds(void **state) {
    (void)state;
    size_t len;
    struct index_term t[RECORD_MAX_TERMS];
    uint8_t *buf = make(K_RESPONSE, response_json, &len);
    size_t n = record_terms(author, K_RESPONSE, buf, len, t, RECORD_MAX_TERMS);
    /* all, kind, author, target id, target record, target author, type */
    assert_int_equal(n, 7);
    assert_true(has_term(t, n, IDX_KIND, "response"));
    assert_true(has_term(t, n, IDX_TARGET, HEX_B));
    assert_true(has_term(t, n, IDX_TARGET_REC, HEX_A "/offer/ttt-ai-2027"));
    assert_true(has_term(t, n, IDX_TARGET_AUTHOR, HEX_A));
    assert_true(has_term(t, n, IDX_RTYPE, "enrolment"));
    assert_false(has_term(t, n, IDX_WORD, "trainers")); /* messages are not indexed */
    free(buf);

    buf = make(K_ENDORSEMENT, endorsement_json, &len);
    n = record_terms(author, K_ENDORSEMENT, buf, len, t, RECORD_MAX_TERMS);
    assert_int_equal(n, 6);
    assert_true(has_term(t, n, IDX_TARGET, HEX_A));
    assert_true(has_term(t, n, IDX_TOPIC, "ai-public-services"));
    free(buf);

    buf = make(K_PROFILE, profile_json, &len);
    n = record_terms(author, K_PROFILE, buf, len, t, RECORD_MAX_TERMS);
    assert_unique(t, n);
    assert_true(has_term(t, n, IDX_KIND, "profile"));
    assert_true(has_term(t, n, IDX_SECTOR, "Energy, fuels and petroleum engineering"));
    assert_true(has_term(t, n, IDX_LANGUAGE, "sl"));
    /* Only ASCII is folded: "Österreich" is indexed with its capital Ö. */
    assert_true(has_term(t, n, IDX_WORD, "\xc3\x96sterreich"));
    assert_false(has_term(t, n, IDX_WORD, "\xc3\xb6sterreich"));
    assert_true(has_term(t, n, IDX_WORD, "edih"));
    assert_true(has_term(t, n, IDX_WORD, "smes"));
    free(buf);

    buf = make(K_RETRACTION, retraction_json, &len);
    n = record_terms(author, K_RETRACTION, buf, len, t, RECORD_MAX_TERMS);
    assert_int_equal(n, 3);
    free(buf);

    /* Purged or undecodable: still found by kind and author. */
    static const uint8_t junk[] = {0x0a, 0x05, 'a'};
    assert_int_equal(record_terms(author, K_OFFER, junk, sizeof junk, t, RECORD_MAX_TERMS), 3);
}

/* ---- dates and accessors ---- */

/* record_index (what node.c's prepare uses: one decoding) agrees with the three calls it
 * replaces, on good payloads of each indexed kind and on bad ones. */
static void test_index_matches_separate_calls(void **state) {
    (void)state;
    static const struct {
        int kind;
        const char *json;
    } good[] = {
        {K_OFFER, NULL}, /* offer_json */
        {K_REQUEST, "{\"title\":\"Need help\",\"needed_by\":\"2027-06-30\",\"country\":\"AT\"}"},
        {K_PROFILE, "{\"name\":\"EDIH Alpha\",\"description\":\"Alpha beta\"}"},
    };
    for (size_t g = 0; g < sizeof good / sizeof good[0]; g++) {
        size_t len;
        uint8_t *buf = make(good[g].kind, good[g].json ? good[g].json : offer_json, &len);
        struct index_term t1[RECORD_MAX_TERMS], t2[RECORD_MAX_TERMS];
        struct record_dates d1, d2;
        size_t n1 = record_terms(author, good[g].kind, buf, len, t1, RECORD_MAX_TERMS), n2 = 0;
        record_dates(good[g].kind, buf, len, &d1);
        for (int check = 0; check <= 1; check++) {
            assert_int_equal(record_index(author, good[g].kind, buf, len, check, t2,
                                          RECORD_MAX_TERMS, &n2, &d2),
                             HUB_OK);
            assert_int_equal(n2, n1);
            assert_memory_equal(t2, t1, n1 * sizeof t1[0]);
            assert_int_equal(d2.start, d1.start);
            assert_int_equal(d2.end, d1.end);
        }
        free(buf);
    }
    /* an empty payload may come as NULL (a present but empty payload field): the same verdict
     * as for an empty buffer (UBSan once caught arithmetic on the NULL pointer here) */
    static const uint8_t none[1];
    for (int k = K_PROFILE; k <= K_ENDORSEMENT; k++)
        assert_int_equal(record_check_payload(k, NULL, 0), record_check_payload(k, none, 0));
    /* undecodable, and a string with a NUL: the same verdict as record_check_payload */
    static const uint8_t junk[] = {0x0a, 0x7f, 0x01};
    static const uint8_t nul[] = {0x0a, 0x03, 'a', 0x00, 'b'}; /* title "a\0b" */
    const uint8_t *bad[] = {junk, nul};
    size_t badlen[] = {sizeof junk, sizeof nul};
    for (size_t b = 0; b < 2; b++) {
        struct index_term t[RECORD_MAX_TERMS];
        struct record_dates d;
        size_t n = 99;
        int want = record_check_payload(K_OFFER, bad[b], badlen[b]);
        assert_int_not_equal(want, HUB_OK);
        assert_int_equal(record_index(author, K_OFFER, bad[b], badlen[b], 1, t, RECORD_MAX_TERMS,
                                      &n, &d),
                         want);
        assert_int_equal(n, 99); /* nothing filled */
    }
}

static void test_dates(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int32_t days;
    } good[] = {
        {"1970-01-01", 0},       {"1970-01-02", 1},     {"2000-02-29", 11016},
        {"2000-03-01", 11017},   {"2024-02-29", 19782}, {"2026-11-18", 20775},
        {"9999-12-31", 2932896},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int32_t d = -1;
        assert_int_equal(record_parse_date(good[i].s, &d), HUB_OK);
        assert_int_equal(d, good[i].days);
    }
    static const char *const bad[] = {"2023-02-29",  "1900-02-29", "2027-04-31", "2027-00-10",
                                      "2027-01-00",  "2027-13-01", "2027-1-01",  "20270101",
                                      "2027-01-01 ", "2027/01/01", "1969-12-31", "",
                                      "+027-01-01",  "2027-01-3a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t d = 7;
        assert_int_equal(record_parse_date(bad[i], &d), HUB_E_FIELD);
        assert_int_equal(d, 7);
    }

    struct record_dates rd;
    size_t len;
    uint8_t *buf = make(K_OFFER, offer_json, &len);
    record_dates(K_OFFER, buf, len, &rd);
    int32_t s, e;
    assert_int_equal(record_parse_date("2027-03-01", &s), HUB_OK);
    assert_int_equal(record_parse_date("2027-06-30", &e), HUB_OK);
    assert_int_equal(rd.start, s);
    assert_int_equal(rd.end, e);
    free(buf);

    /* A request's needed_by ends it when end_date is missing. */
    buf = make(K_REQUEST, "{\"title\":\"x\",\"needed_by\":\"2027-06-30\"}", &len);
    record_dates(K_REQUEST, buf, len, &rd);
    assert_int_equal(rd.start, 0);
    assert_int_equal(rd.end, e);
    free(buf);
    buf = make(K_REQUEST, request_json, &len);
    record_dates(K_REQUEST, buf, len, &rd);
    assert_int_equal(record_parse_date("2027-02-28", &e), HUB_OK);
    assert_int_equal(rd.end, e);
    free(buf);

    buf = make(K_PROFILE, profile_json, &len);
    record_dates(K_PROFILE, buf, len, &rd);
    assert_int_equal(rd.start, 0);
    assert_int_equal(rd.end, 0);
    free(buf);
}

static void test_accessors(void **state) {
    (void)state;
    size_t len;
    uint8_t hub[32], want[32];
    assert_int_equal(hub_unhex(HEX_A, want, 32), HUB_OK);
    uint8_t *buf = make(K_ENDORSEMENT, endorsement_json, &len);
    assert_int_equal(record_endorsed_hub(buf, len, hub), HUB_OK);
    assert_memory_equal(hub, want, 32);
    free(buf);
    Hubnet__Endorsement e = HUBNET__ENDORSEMENT__INIT;
    e.statement = "no hub";
    buf = pack(&e.base, &len);
    assert_int_equal(record_endorsed_hub(buf, len, hub), HUB_E_NOT_FOUND);
    free(buf);

    int kind = 0;
    char key[HUB_MAX_RECORD_KEY + 1];
    buf = make(K_RETRACTION, retraction_json, &len);
    assert_int_equal(record_retraction_target(buf, len, &kind, key), HUB_OK);
    assert_int_equal(kind, K_OFFER);
    assert_string_equal(key, "ttt-ai-2027");
    free(buf);
    assert_int_equal(record_retraction_target(NULL, 0, &kind, key), HUB_E_NOT_FOUND);

    char eps[4][256];
    buf = make(K_PROFILE, profile_json, &len);
    assert_int_equal(record_profile_endpoints(buf, len, eps, 4), 2);
    assert_string_equal(eps[0], "tcp://hub.edih-sued.example.at:7400");
    assert_string_equal(eps[1], "tcp://[2001:db8::1]:7400");
    assert_int_equal(record_profile_endpoints(buf, len, eps, 1), 1);
    free(buf);
    /* A foreign profile's endpoints are passed on only if they can be dialled. */
    char *list[] = {"tcp://ok.example.eu:7400", "tcp://no-port.example.eu", "ipc:///tmp/x",
                    "tcp://b.example.eu:65536", "tcp://c.example.eu:1"};
    Hubnet__Profile p = HUBNET__PROFILE__INIT;
    p.name = "x";
    p.n_endpoints = 5;
    p.endpoints = list;
    buf = pack(&p.base, &len);
    assert_int_equal(record_profile_endpoints(buf, len, eps, 4), 2);
    assert_string_equal(eps[0], "tcp://ok.example.eu:7400");
    assert_string_equal(eps[1], "tcp://c.example.eu:1");
    free(buf);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_kind),
        cmocka_unit_test(test_cost_minor_units),
        cmocka_unit_test(test_defaults_omitted),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_string_caps),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_check_payload),
        cmocka_unit_test(test_check_payload_strict_tags),
        cmocka_unit_test(test_repeated_occurrences),
        cmocka_unit_test(test_term_make),
        cmocka_unit_test(test_terms_offer),
        cmocka_unit_test(test_terms_dedupe),
        cmocka_unit_test(test_terms_cap),
        cmocka_unit_test(test_terms_cache),
        cmocka_unit_test(test_terms_other_kinds),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_index_matches_separate_calls),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
