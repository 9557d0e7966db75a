/* test_match_store.c: the two store reads matching is built on, on a real hub (node_open in a
 * temporary directory, records published through node_publish): store_postings gives a term's
 * current records newest first, from the index and the in-memory tail together, the newest
 * `max` of a longer list (its ring wraps); store_get_locals skips what is no longer current and
 * hands each record's dates to the `want` filter before reading it. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "entry.h"
#include "hub.h"
#include "node.h"
#include "record.h"
#include "store.h"

struct mfx {
    char dir[64];
    struct node *n;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int mfx_setup(void **state) {
    struct mfx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    snprintf(x->dir, sizeof x->dir, "/tmp/hubnet-test-match-XXXXXX");
    if (!mkdtemp(x->dir))
        return -1;
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", x->dir);
    cfg.own_recovery_wait_s = 0;
    if (node_open(&cfg, &x->n) != 0)
        return -1;
    *state = x;
    return 0;
}

static int mfx_teardown(void **state) {
    struct mfx *x = *state;
    node_destroy(&x->n);
    nftw(x->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(x);
    return 0;
}

/* Publishes count offers in one batch (one transaction): offer i has topics "ai" and tag,
 * starts on day start + i. Keys key0, key1, ... from first. */
static void publish(struct mfx *x, const char *tag, size_t first, size_t count, int32_t start) {
    struct node_draft d[16];
    uint8_t *payloads[16];
    char keys[16][32];
    assert_true(count <= 16);
    for (size_t i = 0; i < count; i++) {
        char date[16];
        int32_t day = start + (int32_t)i;
        /* days -> YYYY-MM-DD by a small search: tests only */
        for (int y = 2020, found = 0; y < 2040 && !found; y++)
            for (int m = 1; m <= 12 && !found; m++)
                for (int dd = 1; dd <= 31 && !found; dd++) {
                    snprintf(date, sizeof date, "%04d-%02d-%02d", y, m, dd);
                    int32_t v;
                    if (record_parse_date(date, &v) == 0 && v == day)
                        found = 1;
                }
        json_t *rec = json_pack("{s:s, s:[s,s], s:s}", "title", "An offer", "topics", "ai", tag,
                                "start_date", date);
        struct record_error err;
        size_t len;
        assert_int_equal(record_from_json(2, rec, &payloads[i], &len, &err), 0);
        json_decref(rec);
        snprintf(keys[i], sizeof keys[i], "key%zu", first + i);
        d[i] = (struct node_draft){
            .kind = 2, .key = keys[i], .payload = payloads[i], .payload_len = len};
    }
    assert_int_equal(node_publish(x->n, d, count), 0);
    for (size_t i = 0; i < count; i++)
        free(payloads[i]);
}

static int postings(struct mfx *x, const char *topic, uint64_t *out, size_t max) {
    struct index_term t;
    index_term_make(IDX_TOPIC, topic, strlen(topic), &t);
    return store_postings(node_store(x->n), &t, out, max);
}

static void assert_descending(const uint64_t *v, int n) {
    for (int i = 0; i + 1 < n; i++)
        assert_true(v[i] > v[i + 1]);
}

static void test_postings_index_and_tail(void **state) {
    struct mfx *x = *state;
    struct store *st = node_store(x->n);
    /* batches of 8 or more write the index directly; smaller ones go to the tail */
    store_set_tail_limits(st, 8, 1000, 1000, 1000);
    int32_t d0;
    assert_int_equal(record_parse_date("2027-01-01", &d0), 0);
    publish(x, "one", 0, 10, d0); /* index: locals 1..10 */
    publish(x, "two", 10, 2, d0); /* tail: 11, 12 */
    publish(x, "one", 12, 1, d0); /* tail: 13 */
    publish(x, "two", 13, 9, d0); /* index: 14..22 */
    struct store_stats ss;
    assert_int_equal(store_stats(st, &ss), 0);
    assert_int_equal(ss.index_tail, 3);

    uint64_t out[64];
    int n = postings(x, "ai", out, 64);
    assert_int_equal(n, 22);
    assert_descending(out, n);
    assert_int_equal(out[0], 22);
    assert_int_equal(out[21], 1);
    /* the newest max: the index's ring wraps, the tail's older postings interleave */
    n = postings(x, "ai", out, 11);
    assert_int_equal(n, 11);
    assert_descending(out, n);
    assert_int_equal(out[0], 22);
    assert_int_equal(out[10], 12); /* 22..14 from the index, 13 and 12 from the tail */
    n = postings(x, "one", out, 64);
    assert_int_equal(n, 11);
    assert_descending(out, n);
    assert_int_equal(out[0], 13); /* the tail's one above the index's 10..1 */
    assert_int_equal(out[1], 10);
    n = postings(x, "one", out, 3); /* ring of 3 over 10 index postings, plus the tail */
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 13);
    assert_int_equal(out[1], 10);
    assert_int_equal(out[2], 9);
    n = postings(x, "two", out, 4);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 22);
    assert_int_equal(out[3], 19);
    assert_int_equal(postings(x, "none", out, 64), 0);
    assert_int_equal(postings(x, "ai", out, 0), 0);

    /* an update replaces the record's posting: the old version's local is gone */
    publish(x, "one", 0, 1, d0 + 100); /* key0 again: local 23 */
    n = postings(x, "ai", out, 64);
    assert_int_equal(n, 22);
    assert_int_equal(out[0], 23);
    assert_int_equal(out[21], 2);
}

struct got {
    uint64_t locals[64];
    int32_t first[64];
    size_t n, wanted;
    uint64_t skip; /* want says no to this one */
};

static int want_cb(uint64_t local, int32_t first, int32_t last, void *arg) {
    struct got *g = arg;
    (void)last;
    g->first[g->wanted++] = first;
    return local != g->skip;
}

static int read_cb(uint64_t local, const uint8_t *wire, size_t len, void *arg) {
    struct got *g = arg;
    struct entry e;
    assert_int_equal(entry_decode(wire, len, &e), 0);
    assert_int_equal(e.kind, 2);
    g->locals[g->n++] = local;
    return 0;
}

static void test_get_locals(void **state) {
    struct mfx *x = *state;
    int32_t d0;
    assert_int_equal(record_parse_date("2027-03-01", &d0), 0);
    publish(x, "one", 0, 4, d0); /* locals 1..4, starting d0 .. d0+3 */
    publish(x, "one", 0, 1, d0); /* key0 again: local 5; local 1 is no longer current */
    struct got g = {.skip = 3};
    uint64_t ask[] = {4, 1, 3, 2, 99, 5};
    int n = store_get_locals(node_store(x->n), ask, 6, hub_now_ms(), want_cb, read_cb, &g);
    assert_int_equal(n, 3);
    assert_int_equal(g.wanted, 4); /* 4, 3, 2, 5: not 1 (replaced) nor 99 (never was) */
    assert_int_equal(g.first[0], d0 + 3);
    assert_int_equal(g.first[3], d0);
    assert_int_equal(g.locals[0], 4);
    assert_int_equal(g.locals[1], 2);
    assert_int_equal(g.locals[2], 5);
    /* without a filter every current one is read */
    struct got h = {.skip = 0};
    assert_int_equal(store_get_locals(node_store(x->n), ask, 6, hub_now_ms(), NULL, read_cb, &h),
                     4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_postings_index_and_tail, mfx_setup, mfx_teardown),
        cmocka_unit_test_setup_teardown(test_get_locals, mfx_setup, mfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
