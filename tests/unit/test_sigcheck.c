/* test_sigcheck.c: catch-up on the hash chain (PROTOCOL.md 9.16). sigcheck_plan, the pure core,
 * on runs, breaks and neighbours; then with a real store: a feed stored with its inner entries
 * unchecked is checked by the background thread, which lifts the serving bound when every
 * signature verifies and stops it for good (over a reopen too) at a forged one. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "sigcheck.h"
#include "store.h"

#define MAXN 16

/* A feed of n entries of one author (no signature needed for the plan). */
static void chain(struct entry *e, size_t n, uint8_t author_fill, uint64_t first_seq) {
    for (size_t i = 0; i < n; i++) {
        memset(&e[i], 0, sizeof e[i]);
        memset(e[i].author, author_fill, 32);
        e[i].seq = first_seq + i;
        randombytes_buf(e[i].id, 32);
        if (i > 0)
            memcpy(e[i].prev, e[i - 1].id, 32);
        else
            randombytes_buf(e[i].prev, 32);
    }
}

static void plan(struct entry *e, size_t n, uint8_t *defer, size_t *anchor) {
    const struct entry *order[MAXN];
    for (size_t i = 0; i < n; i++)
        order[i] = &e[i];
    sigcheck_plan(order, n, defer, anchor);
}

static void test_plan_one_run(void **state) {
    (void)state;
    struct entry e[6];
    uint8_t d[6];
    size_t a[6];
    chain(e, 6, 1, 10);
    plan(e, 6, d, a);
    /* the first (it could be a fork of what is held) and the newest are checked */
    uint8_t want[6] = {0, 1, 1, 1, 1, 0};
    assert_memory_equal(d, want, 6);
    for (size_t i = 1; i < 5; i++)
        assert_int_equal(a[i], 5);
    assert_int_equal(a[0], 0);
    assert_int_equal(a[5], 5);
}

static void test_plan_short_and_empty(void **state) {
    (void)state;
    struct entry e[2];
    uint8_t d[2] = {9, 9};
    size_t a[2];
    chain(e, 2, 1, 1);
    plan(e, 2, d, a); /* nothing lies inside a run of two */
    assert_int_equal(d[0], 0);
    assert_int_equal(d[1], 0);
    plan(e, 0, d, a);
}

static void test_plan_breaks(void **state) {
    (void)state;
    /* author A seq 1..4, then author B seq 1..4; inside A a broken prev link after seq 2 */
    struct entry e[8];
    uint8_t d[8];
    size_t a[8];
    chain(e, 4, 0xa, 1);
    chain(e + 4, 4, 0xb, 1);
    randombytes_buf(e[2].prev, 32); /* seq 3 does not name seq 2: two runs, 1-2 and 3-4 */
    plan(e, 8, d, a);
    uint8_t want[8] = {0, 0, 0, 0, 0, 1, 1, 0};
    assert_memory_equal(d, want, 8);
    assert_int_equal(a[5], 7);
    assert_int_equal(a[6], 7);

    /* a seq that skips one, and two entries at one seq (a fork inside the batch) */
    struct entry f[6];
    chain(f, 6, 0xc, 1);
    f[3].seq = 5; /* 1 2 3 | 5 | 5 6: runs [1 2 3], [5] and [5 6] */
    plan(f, 6, d, a);
    uint8_t want2[6] = {0, 1, 0, 0, 0, 0};
    assert_memory_equal(d, want2, 6);
    assert_int_equal(a[1], 2);

    struct entry g[5];
    chain(g, 5, 0xd, 1);
    g[2] = g[1]; /* seq 2 twice, and seq 4 names the seq 3 that is no longer there */
    plan(g, 5, d, a);
    uint8_t want4[5] = {0, 0, 0, 0, 0};
    assert_memory_equal(d, want4, 5);

    /* an author change with the same seqs and a prev that would match must not link */
    struct entry h[4];
    chain(h, 4, 0xe, 1);
    memset(h[2].author, 0xf, 32);
    plan(h, 4, d, a);
    uint8_t want3[4] = {0, 0, 0, 0};
    assert_memory_equal(d, want3, 4);
}

/* ---- with a store ---- */

struct fx {
    char dir[64];
    struct store *s;
    struct identity id;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int fx_setup(void **state) {
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/hubnet-test-sigcheck-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    uint8_t seed[32];
    memset(seed, 0x42, sizeof seed);
    if (identity_from_seed(seed, &f->id) != 0 || store_open(f->dir, 0, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state) {
    struct fx *f = *state;
    store_destroy(&f->s);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

#define FEED_N 10

struct built {
    uint8_t *wire[FEED_N];
    size_t len[FEED_N];
    struct entry e[FEED_N];
};

/* Builds and stores seq 1..FEED_N; entries 2..FEED_N-1 unchecked (as a catch-up stores them);
 * the one at `forged` (0: none) gets a signature that does not verify. */
static void store_feed(struct fx *f, struct built *b, uint64_t forged) {
    uint64_t ts = 1700000000000ULL;
    for (size_t i = 0; i < FEED_N; i++) {
        struct entry_draft d = {.seq = i + 1,
                                .prev = i ? b->e[i - 1].id : NULL,
                                .timestamp = ts + i,
                                .kind = 5,
                                .key = "k"};
        assert_int_equal(entry_build(&f->id, &d, &b->wire[i], &b->len[i]), HUB_OK);
        assert_int_equal(entry_decode(b->wire[i], b->len[i], &b->e[i]), HUB_OK);
        if (i + 1 == forged)
            ((uint8_t *)b->e[i].sig)[5] ^= 0x40;
    }
    struct store_item items[FEED_N];
    memset(items, 0, sizeof items);
    for (size_t i = 0; i < FEED_N; i++) {
        items[i].e = &b->e[i];
        items[i].retract_kind = 2;
        items[i].retract_key = "nothing";
        items[i].unchecked = i > 0 && i + 1 < FEED_N;
    }
    assert_int_equal(store_append(f->s, items, FEED_N), HUB_OK);
    for (size_t i = 0; i < FEED_N; i++)
        assert_int_equal(items[i].result, HUB_OK);
}

static void built_free(struct built *b) {
    for (size_t i = 0; i < FEED_N; i++)
        free(b->wire[i]);
}

/* Polls (no timed assertion: the checker runs at nice 19 on a busy machine) until the checker
 * has nothing left to do, for at most a minute. */
static void settle(struct sigcheck *sc) {
    for (int i = 0; i < 6000; i++) {
        struct sigcheck_stats st;
        sigcheck_stats(sc, &st);
        if (st.feeds == st.feeds_bad)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the checker did not finish");
}

static int bad_cb(const uint8_t author[32], uint64_t seq, void *arg) {
    (void)author;
    *(uint64_t *)arg = seq;
    return 0;
}

static void test_checked_feed_is_served_whole(void **state) {
    struct fx *f = *state;
    struct built b;
    store_feed(f, &b, 0);
    struct sigcheck *sc;
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    settle(sc);
    uint8_t before[32];
    assert_true(sigcheck_servable(sc, f->id.pk, before) == UINT64_MAX);
    struct sigcheck_stats st;
    sigcheck_stats(sc, &st);
    assert_int_equal(st.checked, FEED_N - 1); /* from the first unchecked to the head */
    assert_int_equal(st.bad, 0);
    sigcheck_destroy(&sc);
    /* the row is gone: a reopened checker has nothing to do */
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    sigcheck_stats(sc, &st);
    assert_int_equal(st.feeds, 0);
    sigcheck_destroy(&sc);
    built_free(&b);
}

static void test_forged_signature_stops_serving(void **state) {
    struct fx *f = *state;
    struct built b;
    store_feed(f, &b, 6);
    struct sigcheck *sc;
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    uint8_t before[32];
    /* at once: nothing past seq 1 (the run's first, checked) may be served */
    assert_true(sigcheck_servable(sc, f->id.pk, before) <= 5);
    settle(sc);
    assert_int_equal(sigcheck_servable(sc, f->id.pk, before), 5);
    assert_memory_equal(before, b.e[4].id, 32);
    struct sigcheck_stats st;
    sigcheck_stats(sc, &st);
    assert_int_equal(st.bad, 1);
    assert_int_equal(st.feeds_bad, 1);
    uint64_t seq = 0;
    assert_int_equal(sigcheck_bad_walk(sc, bad_cb, &seq), 0);
    assert_int_equal(seq, 6);
    sigcheck_destroy(&sc);
    /* remembered by the store: stopped at once after a restart, nothing checked again */
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    assert_int_equal(sigcheck_servable(sc, f->id.pk, before), 5);
    assert_memory_equal(before, b.e[4].id, 32);
    sigcheck_stats(sc, &st);
    assert_int_equal(st.feeds_bad, 1);
    sigcheck_destroy(&sc);
    built_free(&b);
}

/* PROTOCOL.md 9.16 rule 5: a correctly signed copy of the stopped entry (the same id) replaces
 * the held signature bytes and the stop in one transaction; the checker goes on from there. */
static void test_good_copy_repairs_stopped_feed(void **state) {
    struct fx *f = *state;
    struct built b;
    store_feed(f, &b, 6);
    struct sigcheck *sc;
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    settle(sc);
    assert_int_equal(sigcheck_stopped_at(sc, f->id.pk), 6);
    /* the good copy: the forged one with the flipped bit put back */
    uint8_t *good = malloc(b.len[5]);
    assert_non_null(good);
    memcpy(good, b.wire[5], b.len[5]);
    good[(size_t)(b.e[5].sig - b.wire[5]) + 5] ^= 0x40;
    struct entry ge;
    assert_int_equal(entry_decode(good, b.len[5], &ge), HUB_OK);
    assert_int_equal(entry_verify_sig(&ge, NULL), HUB_OK);

    /* a copy of another seq (not the stopped one) and an unchecked one repair nothing */
    struct store_item it[1];
    memset(it, 0, sizeof it);
    it[0].e = &b.e[4];
    it[0].repair = 1;
    assert_int_equal(store_append(f->s, it, 1), HUB_OK);
    assert_int_equal(it[0].result, HUB_E_DUPLICATE);
    assert_int_equal(it[0].repaired, 0);
    memset(it, 0, sizeof it);
    it[0].e = &ge;
    it[0].repair = 1;
    it[0].unchecked = 1;
    assert_int_equal(store_append(f->s, it, 1), HUB_OK);
    assert_int_equal(it[0].repaired, 0);

    memset(it, 0, sizeof it);
    it[0].e = &ge;
    it[0].repair = 1;
    it[0].retract_kind = 2;
    it[0].retract_key = "nothing";
    assert_int_equal(store_append(f->s, it, 1), HUB_OK);
    assert_int_equal(it[0].result, HUB_E_DUPLICATE);
    assert_int_equal(it[0].repaired, 1);
    uint8_t *held;
    size_t hl;
    assert_int_equal(store_get(f->s, ge.id, &held, &hl), HUB_OK);
    assert_int_equal(hl, b.len[5]);
    assert_memory_equal(held, good, hl);
    free(held);
    /* as after a crash before the checker's memory was told: the store's row alone says that
     * seq 6 is unchecked again, and a reopened checker checks on from there */
    sigcheck_destroy(&sc);
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    assert_int_equal(sigcheck_stopped_at(sc, f->id.pk), 0);
    settle(sc);
    uint8_t before[32];
    assert_true(sigcheck_servable(sc, f->id.pk, before) == UINT64_MAX);
    struct sigcheck_stats st;
    sigcheck_stats(sc, &st);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.feeds, 0);
    /* a second copy changes nothing: the feed is no longer stopped */
    memset(it, 0, sizeof it);
    it[0].e = &ge;
    it[0].repair = 1;
    assert_int_equal(store_append(f->s, it, 1), HUB_OK);
    assert_int_equal(it[0].repaired, 0);
    sigcheck_destroy(&sc);
    free(good);
    built_free(&b);
}

/* sigcheck_repaired: the checker's memory follows the store's row without a restart. */
static void test_repaired_goes_on_checking(void **state) {
    struct fx *f = *state;
    struct built b;
    store_feed(f, &b, 4);
    struct sigcheck *sc;
    assert_int_equal(sigcheck_open(f->s, &sc), HUB_OK);
    settle(sc);
    uint8_t before[32];
    assert_int_equal(sigcheck_servable(sc, f->id.pk, before), 3);
    uint8_t *good = malloc(b.len[3]);
    assert_non_null(good);
    memcpy(good, b.wire[3], b.len[3]);
    good[(size_t)(b.e[3].sig - b.wire[3]) + 5] ^= 0x40;
    struct entry ge;
    assert_int_equal(entry_decode(good, b.len[3], &ge), HUB_OK);
    struct store_item it[1];
    memset(it, 0, sizeof it);
    it[0].e = &ge;
    it[0].repair = 1;
    assert_int_equal(store_append(f->s, it, 1), HUB_OK);
    assert_int_equal(it[0].repaired, 1);
    sigcheck_repaired(sc, f->id.pk, 4);
    sigcheck_repaired(sc, f->id.pk, 4); /* told twice: counted once */
    settle(sc);
    assert_true(sigcheck_servable(sc, f->id.pk, before) == UINT64_MAX);
    struct sigcheck_stats st;
    sigcheck_stats(sc, &st);
    assert_int_equal(st.repaired, 1);
    assert_int_equal(st.feeds, 0);
    sigcheck_destroy(&sc);
    free(good);
    built_free(&b);
}

static int count_fork(const struct store_fork *fk, void *arg) {
    (void)fk;
    (*(int *)arg)++;
    return 0;
}

/* One entry, signed; with forge, its signature spoiled (the wire is the caller's). */
static void one_entry(struct fx *f, uint64_t seq, const uint8_t *prev, const char *key, int forge,
                      uint8_t **wire, struct entry *e) {
    struct entry_draft d = {
        .seq = seq, .prev = prev, .timestamp = 1700000000000ULL + seq, .kind = 5, .key = key};
    size_t len;
    assert_int_equal(entry_build(&f->id, &d, wire, &len), HUB_OK);
    assert_int_equal(entry_decode(*wire, len, e), HUB_OK);
    if (forge)
        ((uint8_t *)e->sig)[7] ^= 0x01;
}

static int append_one_item(struct fx *f, const struct entry *e, int check_sig) {
    struct store_item it[1];
    memset(it, 0, sizeof it);
    it[0].e = e;
    it[0].check_sig = check_sig;
    assert_int_equal(store_append(f->s, it, 1), HUB_OK);
    return it[0].result;
}

/* store_item.check_sig (PROTOCOL.md 9.16 rule 1): checked only where the entry would be kept,
 * appended or as fork evidence; past the head refused E_GAP without a check. */
static void test_check_sig_where_it_counts(void **state) {
    struct fx *f = *state;
    uint8_t *w1, *w2bad, *w2, *w3bad, *wfbad, *wf;
    struct entry e1, e2bad, e2, e3bad, efbad, ef;
    one_entry(f, 1, NULL, "a", 0, &w1, &e1);
    one_entry(f, 2, e1.id, "b", 1, &w2bad, &e2bad);
    one_entry(f, 2, e1.id, "b", 0, &w2, &e2);
    one_entry(f, 3, e2.id, "c", 1, &w3bad, &e3bad);
    one_entry(f, 2, e1.id, "other", 1, &wfbad, &efbad);
    one_entry(f, 2, e1.id, "other", 0, &wf, &ef);
    assert_int_equal(append_one_item(f, &e1, 0), HUB_OK);
    assert_int_equal(append_one_item(f, &e3bad, 1), HUB_E_GAP);      /* no check needed */
    assert_int_equal(append_one_item(f, &e2bad, 1), HUB_E_SIGNATURE); /* would be appended */
    assert_int_equal(append_one_item(f, &e2, 1), HUB_OK);
    assert_int_equal(append_one_item(f, &e2bad, 1), HUB_E_DUPLICATE); /* the id is held */
    /* a fork's evidence must carry a checked signature */
    assert_int_equal(append_one_item(f, &efbad, 1), HUB_E_SIGNATURE);
    int forks = 0;
    assert_int_equal(store_forks(f->s, count_fork, &forks), 0);
    assert_int_equal(forks, 0);
    assert_int_equal(append_one_item(f, &ef, 1), HUB_E_FORK);
    assert_int_equal(store_forks(f->s, count_fork, &forks), 0);
    assert_int_equal(forks, 1);
    free(w1);
    free(w2bad);
    free(w2);
    free(w3bad);
    free(wfbad);
    free(wf);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_one_run),
        cmocka_unit_test(test_plan_short_and_empty),
        cmocka_unit_test(test_plan_breaks),
        cmocka_unit_test_setup_teardown(test_checked_feed_is_served_whole, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_forged_signature_stops_serving, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_good_copy_repairs_stopped_feed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_repaired_goes_on_checking, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_check_sig_where_it_counts, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
