/* test_evpar.c: the event loop's helper thread (evpar.h) runs every item of a job exactly once,
 * whatever the job's size, job after job, with items of uneven length (so that the caller and
 * the helper finish in either order), and without a helper (NULL); items handed over one by
 * one (evpar_avail) are never started before they are ready. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "evpar.h"

#define JOB_MAX 257

struct job {
    atomic_uint runs[JOB_MAX];
    atomic_uint ready[JOB_MAX]; /* set before the item is made available */
    int check_ready;
    pthread_t who[JOB_MAX];
    size_t n;
    unsigned spin; /* work per item, uneven: item i spins (i * 7919 % 13) * spin */
};

static void item(void *ctx, size_t i) {
    struct job *j = ctx;
    assert_true(i < j->n);
    if (j->check_ready)
        assert_int_equal(atomic_load(&j->ready[i]), 1);
    volatile unsigned x = 0;
    for (unsigned k = 0; k < (i * 7919 % 13) * j->spin; k++)
        x += k;
    j->who[i] = pthread_self();
    atomic_fetch_add(&j->runs[i], 1);
}

static void job_init(struct job *j, size_t n, unsigned spin) {
    memset(j, 0, sizeof *j);
    j->n = n;
    j->spin = spin;
}

/* Every item of the job ran once, and no other. */
static void job_check(struct job *j) {
    for (size_t i = 0; i < JOB_MAX; i++)
        assert_int_equal(atomic_load(&j->runs[i]), i < j->n ? 1 : 0);
}

static void run_job(struct evpar *p, size_t n, unsigned spin) {
    static struct job j;
    job_init(&j, n, spin);
    evpar_run(p, n, item, &j);
    job_check(&j);
}

static void test_every_item_once(void **state) {
    (void)state;
    struct evpar *p = evpar_new();
    assert_non_null(p);
    for (size_t n = 0; n < JOB_MAX; n += n < 16 ? 1 : 37)
        run_job(p, n, 200);
    for (int round = 0; round < 2000; round++) /* job after job: no item of one left to the next */
        run_job(p, 1 + (size_t)round % 64, round % 3 ? 0 : 50);
    evpar_free(p);
}

static void test_without_helper(void **state) {
    (void)state;
    run_job(NULL, 0, 0);
    run_job(NULL, 100, 10);
    evpar_free(NULL);
}

/* As a query walk hands rows over: item i becomes ready, then available; the helper works
 * meanwhile; evpar_end adds the last ones and waits. */
static void test_items_handed_over(void **state) {
    (void)state;
    struct evpar *p = evpar_new();
    assert_non_null(p);
    static struct job j;
    for (int round = 0; round < 300; round++) {
        job_init(&j, 1 + (size_t)round % JOB_MAX, round % 2 ? 100 : 0);
        j.check_ready = 1;
        size_t given = round % 3 == 0 ? j.n / 2 : j.n; /* the rest only at evpar_end */
        evpar_begin(p, item, &j);
        for (size_t i = 0; i < given; i++) {
            atomic_store(&j.ready[i], 1);
            evpar_avail(p, i + 1);
            volatile unsigned x = 0; /* the walk's own work between rows */
            for (unsigned k = 0; k < (unsigned)(round % 5) * 300; k++)
                x += k;
        }
        for (size_t i = given; i < j.n; i++)
            atomic_store(&j.ready[i], 1);
        evpar_end(p, j.n);
        job_check(&j);
    }
    /* a job that ends with no item, and one whose items all came before the end */
    evpar_begin(p, item, &j);
    evpar_end(p, 0);
    evpar_free(p);
}

static int item_ran(void *ctx, size_t i) {
    struct job *j = ctx;
    return atomic_load(&j->runs[i]) == 1;
}

/* As a query page is read out: the caller takes the items in order, writing a later one itself
 * while the helper still works on the one it needs (evpar_claim), else waiting for it. */
static void test_in_order(void **state) {
    (void)state;
    struct evpar *p = evpar_new();
    assert_non_null(p);
    static struct job j;
    for (int round = 0; round < 300; round++) {
        job_init(&j, 1 + (size_t)round % JOB_MAX, (unsigned)(round % 4) * 60);
        evpar_begin(p, item, &j);
        evpar_avail(p, j.n / 3);
        evpar_final(p, j.n);
        for (size_t i = 0; i < j.n; i++) {
            while (!item_ran(&j, i)) {
                size_t k;
                if (evpar_claim(p, &k)) {
                    item(&j, k);
                    evpar_done(p);
                } else {
                    evpar_wait(p, item_ran, i);
                }
            }
            assert_int_equal(atomic_load(&j.runs[i]), 1);
        }
        evpar_end(p, j.n);
        job_check(&j);
    }
    evpar_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_without_helper),
        cmocka_unit_test(test_items_handed_over),
        cmocka_unit_test(test_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
