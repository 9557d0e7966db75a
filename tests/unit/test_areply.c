/* test_areply.c: addressed replies (areply.c, PROTOCOL.md 9.15) with real nodes and stores:
 * what a hub keeps from a feed it does not replicate, and every refusal (not a response, a
 * target it does not trust, a bad signature, over quota, a blocked responder), the counters,
 * the policy's roots (anchors) and the trusted set's explanation (policy_explain). */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "areply.h"
#include "config.h"
#include "entry.h"
#include "hub.h"
#include "node.h"
#include "policy.h"
#include "record.h"
#include "store.h"

#define QUOTA 4

struct hubfx {
    char dir[64];
    struct config cfg;
    struct node *n;
};

struct fx {
    struct hubfx a, d, t, x; /* target, responder, a hub A trusts, a hub nobody trusts */
    struct policy *pol;      /* A's */
    struct areply *ar;       /* A's */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int hub_up(struct hubfx *h, unsigned quota) {
    snprintf(h->dir, sizeof h->dir, "/tmp/hubnet-test-areply-XXXXXX");
    if (!mkdtemp(h->dir))
        return -1;
    config_defaults(&h->cfg);
    snprintf(h->cfg.data_dir, sizeof h->cfg.data_dir, "%s", h->dir);
    h->cfg.own_recovery_wait_s = 0;
    h->cfg.reply_quota = quota;
    return node_open(&h->cfg, &h->n);
}

static void hub_down(struct hubfx *h) {
    node_destroy(&h->n);
    nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const uint8_t *pk(struct hubfx *h) {
    return node_identity(h->n)->pk;
}

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof *f);
    if (!f || hub_up(&f->a, QUOTA) || hub_up(&f->d, 20) || hub_up(&f->t, 20) ||
        hub_up(&f->x, 20))
        return -1;
    /* A trusts T (an allow key); D and X are nobody's. */
    memcpy(f->a.cfg.allow[0], pk(&f->t), 32);
    f->a.cfg.nallow = 1;
    if (policy_new(&f->a.cfg, pk(&f->a), &f->pol) != 0 ||
        areply_open(f->a.n, f->pol, NULL, &f->ar) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    areply_destroy(&f->ar);
    policy_destroy(&f->pol);
    hub_down(&f->a);
    hub_down(&f->d);
    hub_down(&f->t);
    hub_down(&f->x);
    free(f);
    return 0;
}

/* Publishes a record on h from JSON and returns its signed wire bytes (malloc'd). */
static uint8_t *publish(struct hubfx *h, int kind, const char *key, const char *json,
                        size_t *len) {
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    assert_non_null(o);
    struct record_error err;
    uint8_t *payload = NULL;
    size_t plen = 0;
    int rc = record_from_json(kind, o, &payload, &plen, &err);
    if (rc != HUB_OK)
        fail_msg("record_from_json: %s: %s", err.field, err.message);
    json_decref(o);
    struct node_draft d = {.kind = kind, .key = key, .payload = payload, .payload_len = plen};
    assert_int_equal(node_publish(h->n, &d, 1), HUB_OK);
    free(payload);
    uint8_t *wire = NULL;
    assert_int_equal(store_get(node_store(h->n), d.id, &wire, len), HUB_OK);
    return wire;
}

/* An enrolment by h in target's offer "ttt" (record key key). */
static uint8_t *reply_to(struct hubfx *h, const uint8_t target[32], const char *key,
                         size_t *len) {
    char hex[HUB_HEX_LEN + 1], json[512];
    hub_hex(target, 32, hex);
    snprintf(json, sizeof json,
             "{\"target_author\":\"%s\",\"target_kind\":\"offer\",\"target_key\":\"ttt\","
             "\"type\":\"enrolment\",\"seats\":1,\"message\":\"we enrol\"}",
             hex);
    return publish(h, 4, key, json, len);
}

static json_int_t counter(struct areply *ar, const char *group, const char *name) {
    json_t *st = json_object();
    areply_status(ar, st);
    json_t *o = json_object_get(st, "addressed_replies");
    if (group)
        o = json_object_get(o, group);
    json_int_t v = json_integer_value(json_object_get(o, name));
    json_decref(st);
    return v;
}

static int collect(const uint8_t *wire, size_t len, void *arg) {
    (void)wire;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

/* A reply to A from D (whose feed A does not take) is kept once, for A, not relayed; one to T
 * (trusted) is kept and relayed; one to X (not trusted) is not A's business. */
static void test_keeps_what_addresses_a_trusted_hub(void **state) {
    struct fx *f = *state;
    size_t len;
    int relay = -1;
    uint8_t *w = reply_to(&f->d, pk(&f->a), "r1", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_OK);
    assert_int_equal(relay, 0);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_E_DUPLICATE);
    int n = 0;
    assert_int_equal(store_areply_walk(node_store(f->a.n), pk(&f->a), collect, &n), 1);
    free(w);

    w = reply_to(&f->d, pk(&f->t), "r2", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_OK);
    assert_int_equal(relay, 1);
    free(w);

    w = reply_to(&f->d, pk(&f->x), "r3", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_E_POLICY);
    assert_int_equal(relay, 0);
    free(w);

    /* not a response: an offer of D stays out, whatever it says */
    w = publish(&f->d, 2, "course", "{\"title\":\"D's course\",\"country\":\"FR\"}", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_E_POLICY);
    free(w);

    assert_int_equal(counter(f->ar, NULL, "kept"), 2);
    assert_int_equal(counter(f->ar, NULL, "held"), 2);
    assert_int_equal(counter(f->ar, "refused", "invalid"), 0);
}

/* A forged signature is refused and counted; the genuine entry is still kept afterwards. */
static void test_refuses_a_bad_signature(void **state) {
    struct fx *f = *state;
    size_t len;
    int relay;
    uint8_t *w = reply_to(&f->d, pk(&f->a), "r1", &len);
    struct entry e;
    assert_int_equal(entry_decode(w, len, &e), HUB_OK);
    uint8_t *bad = malloc(len);
    memcpy(bad, w, len);
    bad[e.sig - w] ^= 1;
    assert_int_equal(areply_offer(f->ar, bad, len, &relay), HUB_E_SIGNATURE);
    assert_int_equal(counter(f->ar, "refused", "invalid"), 1);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_OK);
    free(bad);
    free(w);
}

/* Over the quota (QUOTA replies per responder per hour): refused and counted; another
 * responder has a quota of its own. */
static void test_refuses_over_quota(void **state) {
    struct fx *f = *state;
    size_t len;
    int relay;
    char key[16];
    for (int i = 0; i < QUOTA; i++) {
        snprintf(key, sizeof key, "q%d", i);
        uint8_t *w = reply_to(&f->d, pk(&f->a), key, &len);
        assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_OK);
        free(w);
    }
    uint8_t *w = reply_to(&f->d, pk(&f->a), "over", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_E_QUOTA);
    assert_int_equal(counter(f->ar, "refused", "quota"), 1);
    free(w);
    w = reply_to(&f->x, pk(&f->a), "other", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_OK);
    free(w);
}

/* A blocked responder (kept in the store: it holds after the hub restarts) is refused and
 * counted; unblocked, it is accepted again. */
static void test_refuses_a_blocked_responder(void **state) {
    struct fx *f = *state;
    size_t len;
    int relay;
    assert_int_equal(store_blocked_set(node_store(f->a.n), pk(&f->d), 1, 1), HUB_OK);
    areply_destroy(&f->ar);
    assert_int_equal(areply_open(f->a.n, f->pol, NULL, &f->ar), HUB_OK);
    assert_true(areply_blocked(f->ar, pk(&f->d)));
    uint8_t *w = reply_to(&f->d, pk(&f->a), "b1", &len);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_E_BLOCKED);
    assert_int_equal(counter(f->ar, "refused", "blocked"), 1);
    assert_int_equal(counter(f->ar, NULL, "blocked"), 1);
    assert_int_equal(store_blocked_set(node_store(f->a.n), pk(&f->d), 0, 1), HUB_OK);
    areply_destroy(&f->ar);
    assert_int_equal(areply_open(f->a.n, f->pol, NULL, &f->ar), HUB_OK);
    assert_int_equal(areply_offer(f->ar, w, len, &relay), HUB_OK);
    free(w);
}

struct seen {
    uint8_t hub[8][32];
    struct policy_via via[8];
    size_t n;
};

static void explain_cb(void *arg, const uint8_t hub[32], const struct policy_via *v) {
    struct seen *s = arg;
    if (s->n < 8) {
        memcpy(s->hub[s->n], hub, 32);
        s->via[s->n++] = *v;
    }
}

static long find(const struct seen *s, const uint8_t hub[32]) {
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->hub[i], hub, 32) == 0)
            return (long)i;
    return -1;
}

/* Policy trust: an anchor is a root; the hub it endorses is trusted at hop 1 "by" it, the one
 * that hub endorses at hop 2; hops = 1 stops before it. */
static void test_anchor_endorsements_are_followed(void **state) {
    struct fx *f = *state;
    char hex[HUB_HEX_LEN + 1], json[256];
    size_t len;
    /* T (the anchor) endorses D; D endorses X. A holds both endorsements. */
    hub_hex(pk(&f->d), 32, hex);
    snprintf(json, sizeof json, "{\"hub\":\"%s\"}", hex);
    uint8_t *e1 = publish(&f->t, 6, hex, json, &len);
    const uint8_t *wires[1] = {e1};
    size_t lens[1] = {len};
    int res[1];
    size_t acc;
    assert_int_equal(node_ingest(f->a.n, wires, lens, 1, res, &acc, 0), HUB_OK);
    assert_int_equal(res[0], HUB_OK);
    hub_hex(pk(&f->x), 32, hex);
    snprintf(json, sizeof json, "{\"hub\":\"%s\"}", hex);
    uint8_t *e2 = publish(&f->d, 6, hex, json, &len);
    wires[0] = e2;
    lens[0] = len;
    assert_int_equal(node_ingest(f->a.n, wires, lens, 1, res, &acc, 0), HUB_OK);
    assert_int_equal(res[0], HUB_OK);

    for (unsigned hops = 1; hops <= 2; hops++) {
        struct config cfg;
        config_defaults(&cfg);
        cfg.policy = POLICY_TRUST;
        cfg.hops = hops;
        memcpy(cfg.anchor[0], pk(&f->t), 32);
        cfg.nanchor = 1;
        struct policy *p;
        assert_int_equal(policy_new(&cfg, pk(&f->a), &p), HUB_OK);
        policy_recompute(p, node_store(f->a.n));
        assert_true(policy_admits_feed(p, pk(&f->t)));
        assert_true(policy_admits_feed(p, pk(&f->d)));
        assert_int_equal(policy_admits_feed(p, pk(&f->x)), hops == 2);
        struct seen s = {.n = 0};
        policy_explain(p, node_store(f->a.n), explain_cb, &s);
        long it = find(&s, pk(&f->t)), id = find(&s, pk(&f->d)), ix = find(&s, pk(&f->x));
        assert_true(it >= 0 && id >= 0);
        assert_int_equal(s.via[it].root, POLICY_ROOT_ANCHOR);
        assert_string_equal(policy_root_name(s.via[it].root), "anchor");
        assert_int_equal(s.via[id].root, -1);
        assert_int_equal(s.via[id].hop, 1);
        assert_memory_equal(s.via[id].by, pk(&f->t), 32);
        if (hops == 2) {
            assert_true(ix >= 0);
            assert_int_equal(s.via[ix].hop, 2);
            assert_memory_equal(s.via[ix].by, pk(&f->d), 32);
        } else {
            assert_int_equal(ix, -1);
        }
        /* the anchor removed (SIGHUP): nothing it vouched for stays */
        policy_remove_root(p, pk(&f->t), POLICY_ROOT_ANCHOR);
        policy_recompute(p, node_store(f->a.n));
        assert_false(policy_admits_feed(p, pk(&f->t)));
        assert_false(policy_admits_feed(p, pk(&f->d)));
        policy_destroy(&p);
    }
    free(e1);
    free(e2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keeps_what_addresses_a_trusted_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_a_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_over_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_a_blocked_responder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchor_endorsements_are_followed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
