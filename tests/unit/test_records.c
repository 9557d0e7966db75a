/* test_records.c: records.c on a real node and store (issue 10): every refusal of a reply's
 * target, seats counted from the offer author's accepts only, accept over capacity answered
 * "full", sealed contact that only the target hub opens, the inbox's seen state, lineage that
 * ends on a cycle, and record-level refusals (reply to a reply, all-zero target, services). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "jbuf.h"
#include "node.h"
#include "record.h"
#include "records.h"
#include "store.h"

struct fx {
    char dir[64];
    struct node *n;
    struct records *r;
    char me[HUB_HEX_LEN + 1];
    /* foreign hubs B and C, with their feeds' heads */
    struct identity id[2];
    uint64_t seq[2];
    uint8_t prev[2][32];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    struct fx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    snprintf(x->dir, sizeof x->dir, "/tmp/hubnet-test-records-XXXXXX");
    if (!mkdtemp(x->dir))
        return -1;
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", x->dir);
    if (node_open(&cfg, &x->n) != 0 || records_open(x->n, NULL, &x->r) != 0)
        return -1;
    hub_hex(node_identity(x->n)->pk, 32, x->me);
    for (int i = 0; i < 2; i++) {
        uint8_t seed[32];
        memset(seed, 0x31 + i, sizeof seed);
        if (identity_from_seed(seed, &x->id[i]) != 0)
            return -1;
    }
    *state = x;
    return 0;
}

static int teardown(void **state) {
    struct fx *x = *state;
    node_destroy(&x->n);
    records_destroy(&x->r);
    nftw(x->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(x);
    return 0;
}

static json_t *parse(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (v == NULL)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return v;
}

/* A record of foreign hub i (0: B, 1: C), ingested as a replicated entry. */
static void foreign(struct fx *x, int i, int kind, const char *key, const char *json,
                    uint8_t id_out[32]) {
    json_t *o = parse(json);
    uint8_t *payload;
    size_t plen;
    struct record_error err;
    int rc = record_from_json(kind, o, &payload, &plen, &err);
    if (rc != 0)
        fail_msg("record_from_json %s: %s %s", json, err.field, err.message);
    json_decref(o);
    struct entry_draft d = {.seq = x->seq[i] + 1,
                            .prev = x->seq[i] ? x->prev[i] : NULL,
                            .timestamp = hub_now_ms(),
                            .kind = kind,
                            .key = key,
                            .payload = payload,
                            .payload_len = plen};
    uint8_t *wire;
    size_t wl;
    assert_int_equal(entry_build(&x->id[i], &d, &wire, &wl), 0);
    struct entry e;
    assert_int_equal(entry_decode(wire, wl, &e), 0);
    const uint8_t *w[1] = {wire};
    int res;
    size_t acc;
    assert_int_equal(node_ingest(x->n, w, &wl, 1, &res, &acc, 1), 0);
    assert_int_equal(res, HUB_OK);
    x->seq[i]++;
    memcpy(x->prev[i], e.id, 32);
    if (id_out)
        memcpy(id_out, e.id, 32);
    free(wire);
    free(payload);
}

/* One of our own records, through the same preparation as control's publish. */
static int own(struct fx *x, int kind, const char *key, const char *req_json, uint8_t id[32],
               char *field) {
    json_t *req = parse(req_json);
    json_t *rec = json_object_get(req, "record");
    char msg[400], fbuf[64];
    char *f = field ? field : fbuf;
    int rc = kind == 4   ? records_prepare_response(x->r, req, rec, f, 64, msg, sizeof msg)
             : kind == 2 ? records_prepare_offer(x->r, req, rec, f, 64, msg, sizeof msg)
                         : 0;
    if (rc == 0) {
        uint8_t *payload;
        size_t plen;
        struct record_error err;
        rc = record_from_json(kind, rec, &payload, &plen, &err);
        if (rc != 0) {
            snprintf(f, 64, "%s", err.field);
        } else {
            struct node_draft d = {
                .kind = kind, .key = key, .payload = payload, .payload_len = plen};
            rc = node_publish(x->n, &d, 1);
            if (id)
                memcpy(id, d.id, 32);
            free(payload);
        }
    }
    json_decref(req);
    return rc;
}

/* tmpl with each "%s" replaced by val (the case tables hold templates, not formats). */
static void subst(char *out, size_t size, const char *tmpl, const char *val) {
    size_t n = 0, vl = strlen(val);
    for (const char *p = tmpl; *p && n + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 's' && n + vl + 1 < size) {
            memcpy(out + n, val, vl);
            n += vl;
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
}

static char *hexs(const uint8_t *b) {
    static char buf[4][HUB_HEX_LEN + 1];
    static int k;
    k = (k + 1) % 4;
    hub_hex(b, 32, buf[k]);
    return buf[k];
}

/* The call's answer as JSON (b holds it without its closing brace). */
static json_t *call(struct fx *x, const char *op, const char *req_json, int *rc) {
    struct jbuf b;
    jbuf_init(&b);
    char field[64], msg[400];
    json_t *req = parse(req_json);
    *rc = records_call(x->r, op, req, &b, field, sizeof field, msg, sizeof msg);
    json_decref(req);
    json_t *out = NULL;
    if (*rc == 0) {
        jbuf_lit(&b, "}");
        out = json_loadb(b.p, b.len, 0, NULL);
        assert_non_null(out);
    }
    jbuf_free(&b);
    return out;
}

static json_t *view_of(struct fx *x, const uint8_t id[32]) {
    uint8_t *wire;
    size_t len;
    assert_int_equal(store_get(node_store(x->n), id, &wire, &len), 0);
    struct jbuf b;
    jbuf_init(&b);
    assert_int_equal(records_write_view(x->r, &b, wire, len), 0);
    json_t *v = json_loadb(b.p, b.len, 0, NULL);
    assert_non_null(v);
    jbuf_free(&b);
    free(wire);
    return v;
}

/* ---- tests ---- */

static void test_target_refusals(void **state) {
    struct fx *x = *state;
    char req[1024], field[64];
    uint8_t offer_b[32], enrol[32], id[32];
    char bkey[HUB_HEX_LEN + 1];
    hub_hex(x->id[0].pk, 32, bkey);
    foreign(x, 0, 2, "o-b", "{\"title\":\"B's course\",\"capacity\":4}", offer_b);

    /* Held target by AUTHOR/KIND/KEY, by full id and by a prefix: accepted. */
    snprintf(req, sizeof req, "{\"target\":\"%s/offer/o-b\",\"record\":{\"type\":\"interest\"}}",
             bkey);
    assert_int_equal(own(x, 4, "r1", req, NULL, field), 0);
    char pre[9];
    memcpy(pre, hexs(offer_b), 8);
    pre[8] = 0;
    snprintf(req, sizeof req, "{\"target\":\"%s\",\"record\":{\"type\":\"question\"}}", pre);
    assert_int_equal(own(x, 4, "r2", req, NULL, field), 0);

    struct {
        const char *req;
        int rc;
        const char *field;
    } bad[] = {
        /* a record this hub does not hold */
        {"{\"target\":\"%s/offer/none\",\"record\":{\"type\":\"interest\"}}", HUB_E_NOT_FOUND,
         "target"},
        /* an id (prefix) of no held entry */
        {"{\"target\":\"0badc0de\",\"record\":{\"type\":\"interest\"}}", HUB_E_NOT_FOUND, "target"},
        {"{\"target\":\"xyz\",\"record\":{\"type\":\"interest\"}}", HUB_E_RANGE, "target"},
        /* all-zero id and key */
        {"{\"target\":\"0000000000000000000000000000000000000000000000000000000000000000\","
         "\"record\":{\"type\":\"interest\"}}",
         HUB_E_RANGE, "target"},
        {"{\"record\":{\"target_author\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\","
         "\"target_kind\":\"offer\",\"target_key\":\"o-b\",\"type\":\"interest\"}}",
         HUB_E_RANGE, "target_author"},
        /* an enrolment answers an offer, a proposal a request */
        {"{\"target\":\"%s/offer/o-b\",\"record\":{\"type\":\"proposal\"}}", HUB_E_KIND,
         "target_kind"},
        /* only a decline has a reason, only an enrolment seats */
        {"{\"target\":\"%s/offer/o-b\",\"record\":{\"type\":\"interest\",\"reason\":\"x\"}}",
         HUB_E_FIELD, "reason"},
        {"{\"target\":\"%s/offer/o-b\",\"record\":{\"type\":\"interest\",\"seats\":2}}",
         HUB_E_FIELD, "seats"},
        /* the version answered must be a version of the record */
        {"{\"record\":{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"o-b\","
         "\"target\":\"1111111111111111111111111111111111111111111111111111111111111111\","
         "\"type\":\"interest\"}}",
         HUB_E_NOT_FOUND, "target"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        subst(req, sizeof req, bad[i].req, bkey);
        int rc = own(x, 4, "bad", req, NULL, field);
        if (rc != bad[i].rc || strcmp(field, bad[i].field) != 0)
            fail_msg("case %zu %s: want %d '%s', got %d '%s'", i, req, bad[i].rc, bad[i].field, rc,
                     field);
    }
    /* The documented override: a record not (yet) held. */
    snprintf(req, sizeof req,
             "{\"target\":\"%s/offer/none\",\"unheld_target\":true,\"record\":{\"type\":"
             "\"interest\"}}",
             bkey);
    assert_int_equal(own(x, 4, "r3", req, NULL, field), 0);

    /* A reply to a reply: refused unless accept/decline of an enrolment in our offer. */
    assert_int_equal(
        own(x, 2, "mine", "{\"record\":{\"title\":\"Ours\",\"capacity\":2}}", NULL, field), 0);
    char ej[512];
    snprintf(ej, sizeof ej,
             "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"mine\","
             "\"type\":\"enrolment\",\"seats\":1}",
             x->me);
    foreign(x, 0, 4, "enr", ej, enrol);
    snprintf(req, sizeof req, "{\"target\":\"%s\",\"record\":{\"type\":\"interest\"}}",
             hexs(enrol));
    assert_int_equal(own(x, 4, "rr", req, NULL, field), HUB_E_KIND);
    assert_string_equal(field, "target_kind");
    /* accept of a reply that is not an enrolment in one of our offers */
    uint8_t intr[32];
    snprintf(ej, sizeof ej,
             "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"mine\","
             "\"type\":\"interest\"}",
             x->me);
    foreign(x, 1, 4, "int", ej, intr);
    int rc;
    snprintf(req, sizeof req, "{\"reply\":\"%s\"}", hexs(intr));
    assert_null(call(x, "accept", req, &rc));
    assert_int_equal(rc, HUB_E_KIND);
    snprintf(req, sizeof req, "{\"reply\":\"%s\"}", hexs(offer_b));
    assert_null(call(x, "accept", req, &rc));
    assert_int_equal(rc, HUB_E_KIND);
    snprintf(req, sizeof req, "{\"target\":\"%s\",\"record\":{\"type\":\"accept\"}}", hexs(enrol));
    assert_int_equal(own(x, 4, "acc", req, id, field), 0); /* the one allowed reply to a reply */

    /* A retracted target is closed: refused, override or not. */
    foreign(x, 0, 5, "o-b", "{\"target_kind\":\"offer\",\"target_key\":\"o-b\"}", NULL);
    snprintf(req, sizeof req,
             "{\"target\":\"%s/offer/o-b\",\"unheld_target\":true,\"record\":{\"type\":"
             "\"interest\"}}",
             bkey);
    assert_int_equal(own(x, 4, "late", req, NULL, field), HUB_E_NOT_FOUND);
    /* ... and based_on is checked the same way */
    snprintf(req, sizeof req,
             "{\"record\":{\"title\":\"d\",\"based_on\":{\"author\":\"%s\",\"key\":\"o-b\"}}}",
             bkey);
    assert_int_equal(own(x, 2, "d", req, NULL, field), HUB_E_NOT_FOUND);
    assert_string_equal(field, "based_on");
    snprintf(req, sizeof req,
             "{\"record\":{\"title\":\"d\",\"based_on\":{\"author\":\"%s\",\"key\":\"nope\"}}}",
             bkey);
    assert_int_equal(own(x, 2, "d", req, NULL, field), HUB_E_NOT_FOUND);
    snprintf(req, sizeof req,
             "{\"unheld_target\":true,\"record\":{\"title\":\"d\",\"based_on\":{\"author\":"
             "\"%s\",\"key\":\"nope\"}}}",
             bkey);
    assert_int_equal(own(x, 2, "d", req, NULL, field), 0);
}

static void test_seats_and_full(void **state) {
    struct fx *x = *state;
    char j[512], req[256], field[64];
    uint8_t o[32], eb[32], ec[32];
    assert_int_equal(own(x, 2, "ttt", "{\"record\":{\"title\":\"TTT\",\"capacity\":3}}", o, field),
                     0);
    snprintf(j, sizeof j,
             "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"ttt\","
             "\"type\":\"enrolment\",\"seats\":2}",
             x->me);
    foreign(x, 0, 4, "eb", j, eb);
    foreign(x, 1, 4, "ec", j, ec);
    struct records_seats s;
    assert_int_equal(records_offer_seats(x->r, node_identity(x->n)->pk, "ttt", &s), 0);
    assert_int_equal(s.seats_left, 3);
    assert_false(s.full);
    /* C "accepts" B's enrolment: not the offer's author, it does not count. */
    snprintf(j, sizeof j,
             "{\"target_author\":\"%s\",\"target_kind\":\"response\",\"target_key\":\"eb\","
             "\"type\":\"accept\"}",
             hexs(x->id[0].pk));
    foreign(x, 1, 4, "forged-accept", j, NULL);
    assert_int_equal(records_offer_seats(x->r, node_identity(x->n)->pk, "ttt", &s), 0);
    assert_int_equal(s.seats_left, 3);

    int rc;
    snprintf(req, sizeof req, "{\"reply\":\"%s\"}", hexs(eb));
    json_t *a = call(x, "accept", req, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(json_string_value(json_object_get(a, "type")), "accept");
    assert_int_equal(json_integer_value(json_object_get(a, "seats_left")), 1);
    json_decref(a);
    /* Accepting the same enrolment again does not count it twice. */
    a = call(x, "accept", req, &rc);
    assert_int_equal(json_integer_value(json_object_get(a, "seats_left")), 1);
    json_decref(a);
    /* C wants 2 of the 1 left: the accept is answered "full". */
    snprintf(req, sizeof req, "{\"reply\":\"%s\"}", hexs(ec));
    a = call(x, "accept", req, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(json_string_value(json_object_get(a, "type")), "decline");
    assert_string_equal(json_string_value(json_object_get(a, "reason")), "full");
    json_decref(a);
    json_t *v = view_of(x, ec);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "declined");
    assert_string_equal(json_string_value(json_object_get(v, "answer_reason")), "full");
    json_decref(v);
    /* Declining B frees its seats; the offer view shows them. */
    snprintf(req, sizeof req, "{\"reply\":\"%s\",\"reason\":\"moved\"}", hexs(eb));
    json_decref(call(x, "decline", req, &rc));
    assert_int_equal(rc, 0);
    v = view_of(x, o);
    assert_int_equal(json_integer_value(json_object_get(v, "seats_left")), 3);
    assert_false(json_is_true(json_object_get(v, "full")));
    json_decref(v);
    /* Unlimited (capacity 0) and past. */
    assert_int_equal(
        own(x, 2, "old", "{\"record\":{\"title\":\"Old\",\"end_date\":\"2020-01-31\"}}", o, field),
        0);
    v = view_of(x, o);
    assert_true(json_is_null(json_object_get(v, "seats_left")));
    assert_true(json_is_true(json_object_get(v, "past")));
    json_decref(v);
}

static void test_sealed_contact(void **state) {
    struct fx *x = *state;
    char req[512], field[64], j[1200];
    uint8_t ob[32], r[32], in[32];
    char bkey[HUB_HEX_LEN + 1];
    hub_hex(x->id[0].pk, 32, bkey);
    foreign(x, 0, 2, "o", "{\"title\":\"B\"}", ob);
    snprintf(req, sizeof req,
             "{\"target\":\"%s/offer/o\",\"seal_message\":true,\"record\":{\"type\":\"interest\","
             "\"contact\":\"me@a.example\",\"message\":\"private\"}}",
             bkey);
    assert_int_equal(own(x, 4, "r", req, r, field), 0);
    /* Here: the record carries only the sealed part, which this hub cannot open. */
    json_t *v = view_of(x, r);
    json_t *rec = json_object_get(v, "record");
    assert_null(json_object_get(rec, "contact"));
    assert_null(json_object_get(rec, "message"));
    assert_string_equal(json_string_value(json_object_get(v, "sealed")), "(sealed)");
    /* B opens it with its own key. */
    uint8_t box[RECORD_MAX_SEALED], plain[RECORD_MAX_SEALED];
    size_t bl;
    const char *b64 = json_string_value(json_object_get(rec, "sealed"));
    assert_int_equal(sodium_base642bin(box, sizeof box, b64, strlen(b64), NULL, &bl, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(crypto_box_seal_open(plain, box, bl, x->id[0].curve_pk, x->id[0].curve_sk), 0);
    plain[bl - crypto_box_SEALBYTES] = 0;
    assert_string_equal((char *)plain, "{\"contact\":\"me@a.example\",\"message\":\"private\"}");
    json_decref(v);

    /* B's reply to our offer, sealed to us: opened in our views. */
    assert_int_equal(own(x, 2, "ours", "{\"record\":{\"title\":\"Ours\"}}", NULL, field), 0);
    uint8_t xpk[32], c[256];
    const char *m = "{\"contact\":\"b@b.example\",\"evil\":1}";
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(xpk, node_identity(x->n)->pk), 0);
    assert_int_equal(crypto_box_seal(c, (const uint8_t *)m, strlen(m), xpk), 0);
    char enc[512];
    sodium_bin2base64(enc, sizeof enc, c, strlen(m) + crypto_box_SEALBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(j, sizeof j,
             "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"ours\","
             "\"type\":\"interest\",\"sealed\":\"%s\"}",
             x->me, enc);
    foreign(x, 0, 4, "in", j, in);
    v = view_of(x, in);
    json_t *opened = json_object_get(v, "sealed");
    assert_true(json_is_object(opened));
    assert_string_equal(json_string_value(json_object_get(opened, "contact")), "b@b.example");
    assert_null(json_object_get(opened, "evil")); /* only contact and message are shown */
    json_decref(v);
    /* A box that does not open (sealed to another key) shows as sealed. */
    assert_int_equal(crypto_box_seal(c, (const uint8_t *)m, strlen(m), x->id[1].curve_pk), 0);
    sodium_bin2base64(enc, sizeof enc, c, strlen(m) + crypto_box_SEALBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(j, sizeof j,
             "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"ours\","
             "\"type\":\"interest\",\"sealed\":\"%s\"}",
             x->me, enc);
    foreign(x, 1, 4, "in2", j, in);
    v = view_of(x, in);
    assert_string_equal(json_string_value(json_object_get(v, "sealed")), "(sealed)");
    json_decref(v);
}

static void test_inbox_seen(void **state) {
    struct fx *x = *state;
    char j[512], field[64];
    assert_int_equal(own(x, 3, "req", "{\"record\":{\"title\":\"Need\"}}", NULL, field), 0);
    snprintf(j, sizeof j,
             "{\"target_author\":\"%s\",\"target_kind\":\"request\",\"target_key\":\"req\","
             "\"type\":\"proposal\",\"message\":\"we can\"}",
             x->me);
    foreign(x, 0, 4, "p1", j, NULL);
    foreign(x, 1, 4, "p2", j, NULL);
    int rc;
    json_t *a = call(x, "inbox", "{\"new\":true,\"limit\":1}", &rc);
    assert_int_equal(rc, 0);
    json_t *list = json_object_get(a, "replies");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
                        "new");
    assert_non_null(json_object_get(a, "next"));
    json_decref(a);
    a = call(x, "inbox", "{\"new\":true}", &rc);
    assert_int_equal(json_array_size(json_object_get(a, "replies")), 1); /* the other one */
    json_decref(a);
    a = call(x, "inbox", "{\"new\":true}", &rc);
    assert_int_equal(json_array_size(json_object_get(a, "replies")), 0);
    json_decref(a);
    a = call(x, "inbox", "{}", &rc);
    list = json_object_get(a, "replies");
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "state")),
                            "seen");
    json_decref(a);
    /* Reopened, the state is read back from the store. */
    records_destroy(&x->r);
    assert_int_equal(records_open(x->n, NULL, &x->r), 0);
    a = call(x, "inbox", "{\"new\":true}", &rc);
    assert_int_equal(json_array_size(json_object_get(a, "replies")), 0);
    json_decref(a);
    assert_null(call(x, "inbox", "{\"limit\":0}", &rc));
    assert_int_equal(rc, HUB_E_RANGE);
    assert_null(call(x, "inbox", "{\"new\":1}", &rc));
    assert_int_equal(rc, HUB_E_TYPE);
}

static void test_lineage_cycle(void **state) {
    struct fx *x = *state;
    char req[512], field[64];
    assert_int_equal(own(x, 2, "p", "{\"record\":{\"title\":\"P\"}}", NULL, field), 0);
    snprintf(req, sizeof req,
             "{\"record\":{\"title\":\"Q\",\"based_on\":{\"author\":\"%s\",\"key\":\"p\"}}}",
             x->me);
    assert_int_equal(own(x, 2, "q", req, NULL, field), 0);
    /* P edited to be based on Q: a cycle, listed once. */
    snprintf(req, sizeof req,
             "{\"record\":{\"title\":\"P2\",\"based_on\":{\"author\":\"%s\",\"key\":\"q\"}}}",
             x->me);
    assert_int_equal(own(x, 2, "p", req, NULL, field), 0);
    int rc;
    snprintf(req, sizeof req, "{\"root\":\"%s/p\"}", x->me);
    json_t *a = call(x, "lineage", req, &rc);
    assert_int_equal(rc, 0);
    json_t *nodes = json_object_get(a, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 1), "key")), "q");
    json_decref(a);
    assert_null(call(x, "lineage", "{\"root\":\"abc/p\"}", &rc));
    assert_int_equal(rc, HUB_E_RANGE);
}

/* Record-level rules (record_from_json) of the issue-10 fields. */
static void test_record_rules(void **state) {
    (void)state;
    static const char A[] = "1111111111111111111111111111111111111111111111111111111111111111";
    struct {
        int kind;
        const char *json;
        int rc;
        const char *field;
    } cases[] = {
        {4,
         "{\"target_author\":\"%s\",\"target_kind\":\"response\",\"target_key\":\"k\","
         "\"type\":\"question\"}",
         HUB_E_KIND, "target_kind"},
        {4,
         "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"k\","
         "\"type\":\"decline\"}",
         HUB_E_KIND, "target_kind"},
        {4,
         "{\"target_author\":\"%s\",\"target_kind\":\"profile\",\"target_key\":\"k\","
         "\"type\":\"interest\"}",
         HUB_E_KIND, "target_kind"},
        {4,
         "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"k\","
         "\"type\":\"interest\",\"target\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
         HUB_E_RANGE, "target"},
        {4, "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"type\":\"interest\"}",
         HUB_E_FIELD, "target_key"},
        {4,
         "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"k\","
         "\"type\":\"interest\",\"sealed\":\"not base64!\"}",
         HUB_E_RANGE, "sealed"},
        {2, "{\"title\":\"x\",\"service_group\":\"investment\",\"service_type\":\"event\"}",
         HUB_E_VOCAB, "service_type"},
        {2, "{\"title\":\"x\",\"service_type\":\"testbed-access\"}", HUB_E_VOCAB, "service_type"},
        {2, "{\"title\":\"x\",\"service_group\":\"skills-training\",\"facility\":\"lab\"}",
         HUB_E_FIELD, "facility"},
        {2, "{\"title\":\"x\",\"material_url\":\"ftp://x\"}", HUB_E_RANGE, "material_url"},
        {2, "{\"title\":\"x\",\"based_on\":{\"author\":\"%s\"}}", HUB_E_FIELD, "based_on.key"},
        {2, "{\"title\":\"x\",\"based_on\":{\"author\":\"%s\",\"key\":\"k\",\"kind\":\"request\"}}",
         HUB_E_KIND, "based_on.kind"},
        {2,
         "{\"title\":\"x\",\"based_on\":{\"author\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"key\":\"k\"}}",
         HUB_E_RANGE, "based_on.author"},
        {3,
         "{\"title\":\"x\",\"service_group\":\"test-before-invest\",\"service_type\":"
         "\"proof-of-concept\"}",
         HUB_OK, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char j[512];
        subst(j, sizeof j, cases[i].json, A);
        json_t *o = parse(j);
        uint8_t *p = NULL;
        size_t len;
        struct record_error err = {{0}, {0}};
        int rc = record_from_json(cases[i].kind, o, &p, &len, &err);
        if (rc != cases[i].rc || (rc != 0 && strcmp(err.field, cases[i].field) != 0))
            fail_msg("case %zu %s: want %d '%s', got %d '%s' (%s)", i, j, cases[i].rc,
                     cases[i].field, rc, err.field, err.message);
        free(p);
        json_decref(o);
    }
    /* A decline's reason holds 256 bytes; a retraction's still 128. */
    char j[700], r[258];
    memset(r, 'r', 256);
    r[256] = 0;
    snprintf(j, sizeof j,
             "{\"target_author\":\"%s\",\"target_kind\":\"response\",\"target_key\":\"k\","
             "\"type\":\"decline\",\"reason\":\"%s\"}",
             A, r);
    json_t *o = parse(j);
    uint8_t *p = NULL;
    size_t len;
    struct record_error err;
    assert_int_equal(record_from_json(4, o, &p, &len, &err), 0);
    assert_int_equal(record_check_payload(4, p, len), 0);
    free(p);
    json_decref(o);
    snprintf(j, sizeof j, "{\"target_kind\":\"offer\",\"target_key\":\"k\",\"reason\":\"%s\"}", r);
    o = parse(j);
    assert_int_equal(record_from_json(5, o, &p, &len, &err), HUB_E_TOO_LARGE);
    json_decref(o);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_target_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seats_and_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_contact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lineage_cycle, setup, teardown),
        cmocka_unit_test(test_record_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
