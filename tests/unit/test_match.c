/* test_match.c: the ranking of match.c (CONTROL.md "match"): every criterion's reason when it
 * agrees and when it does not, share criteria in part, ANY of the request's languages, budget
 * in the same and in another currency, past and full offers left out, offers sharing no
 * subject left out, the bound the search prunes with, and the tie-breaks (deterministic
 * whatever order the candidates come in). Pure functions: no store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "match.h"
#include "record.h"

/* Days since 1970-01-01 of a date (the tests' "today"). */
static int32_t day(const char *s) {
    int32_t d = 0;
    assert_int_equal(record_parse_date(s, &d), 0);
    return d;
}

#define TODAY day("2026-12-03")

/* String lists as the unpacked messages hold them. */
static char *S_AI[] = {"ai"};
static char *S_AI_EPROC[] = {"ai", "e-procurement"};
static char *S_EPROC_AI[] = {"e-procurement", "ai"};
static char *S_GDPR[] = {"gdpr"};
static char *S_ES_EN[] = {"es", "en"};
static char *S_EN[] = {"en"};
static char *S_DE[] = {"de"};
static char *S_PT[] = {"pt"};
static char *S_PT_BR[] = {"pt-BR"};
static char *S_TECH[] = {"Artificial Intelligence & Decision support", "Cybersecurity"};
static char *S_TECH1[] = {"Cybersecurity"};
static char *S_SKILL[] = {"http://data.europa.eu/esco/skill/00000000-0000-0000-0000-000000000001"};
static char *S_SECTOR[] = {"Public administration"};
static char *S_SECTOR2[] = {"Smart City"};
static char *S_SERVICE[] = {"Training"};
static char *S_SERVICE2[] = {"Networking"};

#define LIST(msg, field, arr)                                                                      \
    do {                                                                                           \
        (msg).field = (arr);                                                                       \
        (msg).n_##field = sizeof(arr) / sizeof((arr)[0]);                                          \
    } while (0)

struct fixture {
    Hubnet__Request q;
    Hubnet__Offer o;
    Hubnet__Cost budget, cost;
};

/* A request asking only for topic "ai" and an offer carrying it: score 100, one reason. */
static void base(struct fixture *f) {
    hubnet__request__init(&f->q);
    hubnet__offer__init(&f->o);
    hubnet__cost__init(&f->budget);
    hubnet__cost__init(&f->cost);
    f->q.topics = S_AI;
    f->q.n_topics = 1;
    f->o.topics = S_AI;
    f->o.n_topics = 1;
}

static const struct match_reason *reason(const struct match_result *r, enum match_field fld) {
    for (size_t i = 0; i < r->nreasons; i++)
        if (r->reasons[i].field == fld)
            return &r->reasons[i];
    return NULL;
}

/* Scores f and checks the criterion's reason: agree, points (thousandths), detail. */
static void expect(struct fixture *f, enum match_field fld, int agree, uint32_t points,
                   const char *detail) {
    struct match_result r = {.details = 1};
    match_offer(&f->q, &f->o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
    const struct match_reason *m = reason(&r, fld);
    assert_non_null(m);
    assert_int_equal(m->agree, agree);
    assert_int_equal(m->points, points);
    assert_string_equal(m->detail, detail);
    /* every other criterion agreed in full or was not asked: the score is 100 less what this
     * one missed */
    assert_int_equal(r.points, 100000 - (match_weight(fld) * 1000 - points));
}

static void test_weights(void **state) {
    (void)state;
    unsigned sum = 0;
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        assert_non_null(match_field_name((enum match_field)f));
        sum += match_weight((enum match_field)f);
    }
    assert_int_equal(sum, MATCH_MAX_SCORE);
    assert_string_equal(match_field_name(MATCH_SERVICE_GROUP), "service_group");
    assert_null(match_field_name(MATCH_NFIELDS));
    assert_int_equal(match_weight(MATCH_NFIELDS), 0);
    assert_string_equal(match_verdict_name(MATCH_LANGUAGE), "language");
}

static void test_base_and_share(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    struct match_result r = {.details = 1};
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
    assert_int_equal(r.points, 100000);
    assert_int_equal(r.nreasons, 1);
    expect(&f, MATCH_TOPICS, 1, 20000, "ai");
    /* half the request's topics: half the weight, the missing one named */
    LIST(f.q, topics, S_AI_EPROC);
    expect(&f, MATCH_TOPICS, 1, 10000, "ai; not e-procurement");
    /* duplicates and case do not count twice */
    static char *dup[] = {"ai", "AI", "e-procurement"};
    LIST(f.q, topics, dup);
    expect(&f, MATCH_TOPICS, 1, 10000, "ai; not e-procurement");
    /* train_the_trainer is the topic "train-the-trainer", as the index has it */
    static char *ttt[] = {"train-the-trainer"};
    LIST(f.q, topics, ttt);
    f.o.train_the_trainer = 1;
    expect(&f, MATCH_TOPICS, 1, 20000, "train-the-trainer");
}

static void test_each_share_criterion(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    LIST(f.q, skills, S_SKILL);
    LIST(f.o, skills, S_SKILL);
    expect(&f, MATCH_SKILLS, 1, 10000, S_SKILL[0]);
    base(&f);
    LIST(f.q, technologies, S_TECH);
    LIST(f.o, technologies, S_TECH1);
    expect(&f, MATCH_TECHNOLOGIES, 1, 7500,
           "Cybersecurity; not Artificial Intelligence & Decision support");
    base(&f);
    LIST(f.q, sectors, S_SECTOR);
    LIST(f.o, sectors, S_SECTOR2);
    expect(&f, MATCH_SECTORS, 0, 0, "asked Public administration");
    f.o.n_sectors = 0;
    expect(&f, MATCH_SECTORS, 0, 0, "none stated");
    base(&f);
    LIST(f.q, services, S_SERVICE);
    LIST(f.o, services, S_SERVICE);
    expect(&f, MATCH_SERVICES, 1, 10000, "Training");
    LIST(f.o, services, S_SERVICE2);
    expect(&f, MATCH_SERVICES, 0, 0, "asked Training");
}

static void test_service_group(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    f.q.service_group = "test-before-invest";
    expect(&f, MATCH_SERVICE_GROUP, 0, 0, "skills-training; asked test-before-invest");
    f.o.service_group = "test-before-invest";
    expect(&f, MATCH_SERVICE_GROUP, 1, 5000, "test-before-invest");
    f.q.service_type = "testbed-access";
    f.o.service_type = "demonstration";
    expect(&f, MATCH_SERVICE_GROUP, 0, 0,
           "test-before-invest/demonstration; asked test-before-invest/testbed-access");
    f.o.service_type = "testbed-access";
    expect(&f, MATCH_SERVICE_GROUP, 1, 5000, "test-before-invest/testbed-access");
    /* an empty group is skills-training, for the request as for the offer */
    base(&f);
    f.q.service_group = "skills-training";
    expect(&f, MATCH_SERVICE_GROUP, 1, 5000, "skills-training");
    /* a service group alone is a subject: an offer of another group shares none */
    base(&f);
    f.q.n_topics = 0;
    f.q.service_group = "investment";
    struct match_result r = {.details = 1};
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_NO_SUBJECT);
    f.o.service_group = "investment";
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
}

static void test_languages_any_of(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    LIST(f.q, languages, S_ES_EN);
    LIST(f.o, languages, S_EN);
    expect(&f, MATCH_LANGUAGES, 1, 10000, "en"); /* English is enough: ANY of them */
    LIST(f.q, languages, S_PT);
    LIST(f.o, languages, S_PT_BR);
    expect(&f, MATCH_LANGUAGES, 1, 10000, "pt-BR"); /* a primary subtag covers its regions */
    f.o.n_languages = 0;
    expect(&f, MATCH_LANGUAGES, 0, 0, "none stated"); /* unknown: kept, earns nothing */
    /* none of them: left out, and the reason says which were offered and asked */
    LIST(f.q, languages, S_ES_EN);
    LIST(f.o, languages, S_DE);
    struct match_result r = {.details = 1};
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_LANGUAGE);
    const struct match_reason *m = reason(&r, MATCH_LANGUAGES);
    assert_non_null(m);
    assert_false(m->agree);
    assert_int_equal(m->points, 0);
    assert_string_equal(m->detail, "de; asked es or en");

    assert_true(match_language_agrees("pt", "pt-BR"));
    assert_true(match_language_agrees("PT-br", "pt"));
    assert_true(match_language_agrees("en", "EN"));
    assert_false(match_language_agrees("pt", "ptx"));
    assert_false(match_language_agrees("es", "en"));
    assert_false(match_language_agrees("", "en"));
}

static void test_country_mode(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    f.q.country = "ES";
    f.o.country = "ES";
    expect(&f, MATCH_COUNTRY, 1, 5000, "ES");
    f.o.country = "AT";
    expect(&f, MATCH_COUNTRY, 0, 0, "AT; asked ES");
    f.o.mode = "online"; /* online: the country does not matter */
    expect(&f, MATCH_COUNTRY, 1, 5000, "online from AT");
    base(&f);
    f.q.mode = "online";
    f.o.mode = "online";
    expect(&f, MATCH_MODE, 1, 5000, "online");
    f.o.mode = "onsite";
    expect(&f, MATCH_MODE, 0, 0, "onsite; asked online");
    f.o.mode = "";
    expect(&f, MATCH_MODE, 0, 0, "none stated; asked online");
}

static void test_dates(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    f.q.start_date = "2027-04-01";
    f.q.end_date = "2027-06-30";
    f.o.start_date = "2027-06-28";
    f.o.end_date = "2027-07-02"; /* overlaps the window's end */
    expect(&f, MATCH_DATES, 1, 5000, "2027-06-28..2027-07-02");
    f.o.start_date = "2027-07-01";
    f.o.end_date = "";
    expect(&f, MATCH_DATES, 0, 0, "2027-07-01..2027-07-01; asked 2027-04-01..2027-06-30");
    f.o.start_date = "";
    expect(&f, MATCH_DATES, 0, 0, "none stated; asked 2027-04-01..2027-06-30");
    /* needed_by closes a window without end_date */
    f.q.end_date = "";
    f.q.needed_by = "2027-05-01";
    f.o.start_date = "2027-05-02";
    expect(&f, MATCH_DATES, 0, 0, "2027-05-02..2027-05-02; asked 2027-04-01..2027-05-01");
}

static void test_budget(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    f.budget.currency = "EUR";
    f.budget.amount_minor = 500000;
    f.q.budget = &f.budget;
    expect(&f, MATCH_BUDGET, 0, 0, "no cost stated; budget 5000.00 EUR");
    f.cost.currency = "EUR";
    f.cost.amount_minor = 500000; /* exactly the budget fits */
    f.o.cost = &f.cost;
    expect(&f, MATCH_BUDGET, 1, 5000, "5000.00 EUR within 5000.00");
    f.cost.amount_minor = 500001;
    expect(&f, MATCH_BUDGET, 0, 0, "5000.01 EUR over 5000.00");
    /* another currency is not converted: not compared, no points, not left out */
    f.cost.currency = "USD";
    f.cost.amount_minor = 100;
    expect(&f, MATCH_BUDGET, 0, 0, "cost in USD, budget in EUR: not compared");
    f.cost.amount_minor = 0; /* free fits any budget, whatever its currency */
    expect(&f, MATCH_BUDGET, 1, 5000, "free");
    /* the search's shortcut (match_op.c reads the cost from the bytes) decides alike */
    assert_true(match_budget_agrees(&f.q, &f.cost));
    f.cost.amount_minor = 100;
    assert_false(match_budget_agrees(&f.q, &f.cost)); /* USD */
    f.cost.currency = "eur";
    assert_true(match_budget_agrees(&f.q, &f.cost));
    f.cost.amount_minor = 500001;
    assert_false(match_budget_agrees(&f.q, &f.cost));
    assert_false(match_budget_agrees(&f.q, NULL));
    f.q.budget = NULL;
    assert_true(match_budget_agrees(&f.q, NULL)); /* not asked */
}

static void test_past_full_no_subject(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    struct match_result r = {.details = 1};
    f.o.start_date = "2026-11-30";
    f.o.end_date = "2026-12-02"; /* ended yesterday */
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_PAST);
    f.o.end_date = "2026-12-03"; /* ends today: still on */
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
    f.o.end_date = "";
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_PAST); /* no end: the start day is the last */
    f.o.start_date = "";
    assert_false(match_offer_past(&f.o, TODAY)); /* undated: on demand */
    /* full: no seats left; one seat is enough */
    match_offer(&f.q, &f.o, TODAY, 0, &r);
    assert_int_equal(r.verdict, MATCH_FULL);
    match_offer(&f.q, &f.o, TODAY, 1, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
    /* past wins over full, full over language */
    f.o.start_date = "2020-01-01";
    match_offer(&f.q, &f.o, TODAY, 0, &r);
    assert_int_equal(r.verdict, MATCH_PAST);
    /* nothing of the subject shared */
    base(&f);
    LIST(f.o, topics, S_GDPR);
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_NO_SUBJECT);
    /* a request naming no subject leaves nobody out for it */
    f.q.n_topics = 0;
    LIST(f.q, languages, S_EN);
    LIST(f.o, languages, S_EN);
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
    assert_int_equal(r.points, 100000);

    /* a request's window closes at its end_date, else needed_by */
    Hubnet__Request q;
    hubnet__request__init(&q);
    assert_false(match_request_closed(&q, TODAY));
    q.needed_by = "2026-12-02";
    assert_true(match_request_closed(&q, TODAY));
    q.end_date = "2027-01-31";
    assert_false(match_request_closed(&q, TODAY));
}

static void test_profile(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    LIST(f.q, topics, S_AI_EPROC);
    LIST(f.q, languages, S_ES_EN);
    f.q.country = "ES";
    f.q.mode = "online";
    Hubnet__Profile p;
    hubnet__profile__init(&p);
    LIST(p, topics, S_EPROC_AI);
    LIST(p, languages, S_EN);
    p.country = "ES";
    struct match_result r = {.details = 1};
    match_profile(&f.q, &p, &r);
    assert_int_equal(r.verdict, MATCH_FITS);
    /* mode belongs to offers: asked, so a profile cannot earn it */
    assert_int_equal(r.points, 95000);
    assert_non_null(reason(&r, MATCH_TOPICS));
    assert_string_equal(reason(&r, MATCH_TOPICS)->detail, "ai, e-procurement");
    assert_null(reason(&r, MATCH_MODE));
    LIST(p, languages, S_DE);
    match_profile(&f.q, &p, &r);
    assert_int_equal(r.verdict, MATCH_LANGUAGE);
}

/* The search decodes offers in order of this bound and stops below the N-th best: it must
 * never be below what the offer then scores, and equal when everything agrees. */
static void test_bound(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    LIST(f.q, topics, S_AI_EPROC);
    LIST(f.q, technologies, S_TECH);
    LIST(f.q, languages, S_ES_EN);
    f.q.mode = "online";
    struct match_plan plan;
    match_plan_init(&f.q, &plan);
    assert_int_equal(plan.n[MATCH_TOPICS], 2);
    assert_int_equal(plan.n[MATCH_TECHNOLOGIES], 2);
    assert_int_equal(plan.n[MATCH_SKILLS], 0);
    unsigned hits[MATCH_NSUBJECT] = {0};
    struct match_result r = {.details = 1};
    /* one topic, one technology, wrong mode */
    LIST(f.o, topics, S_AI);
    LIST(f.o, technologies, S_TECH1);
    LIST(f.o, languages, S_EN);
    f.o.mode = "onsite";
    hits[MATCH_TOPICS] = 1;
    hits[MATCH_TECHNOLOGIES] = 1;
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_true(match_plan_bound(&plan, hits, NULL) >= r.points);
    assert_int_equal(match_plan_bound(&plan, hits, NULL), 100000 - 10000 - 7500);
    /* all agree: the bound is the score */
    LIST(f.o, topics, S_EPROC_AI);
    LIST(f.o, technologies, S_TECH);
    f.o.mode = "online";
    hits[MATCH_TOPICS] = 2;
    hits[MATCH_TECHNOLOGIES] = 2;
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_int_equal(match_plan_bound(&plan, hits, NULL), r.points);
    assert_int_equal(r.points, 100000);
    /* more hits than values (a hash collision) cannot raise it above the weight */
    hits[MATCH_TOPICS] = 9;
    assert_int_equal(match_plan_bound(&plan, hits, NULL), 100000);
    /* what the index knows of mode and country, and the date table of dates, lowers it */
    struct match_known k = MATCH_KNOWN_NOTHING;
    k.mode = 0;
    assert_int_equal(match_plan_bound(&plan, hits, &k), 95000);
    k.country = 0; /* the request names no country: no effect */
    k.dates = 0;   /* nor dates */
    assert_int_equal(match_plan_bound(&plan, hits, &k), 95000);
    f.q.country = "ES";
    f.q.start_date = "2027-04-01";
    f.q.end_date = "2027-06-30";
    match_plan_init(&f.q, &plan);
    assert_int_equal(match_plan_bound(&plan, hits, &k), 85000);
    k.languages = 0; /* none of the request's languages: no points for them */
    assert_int_equal(match_plan_bound(&plan, hits, &k), 75000);
    k.languages = 1;
    /* the date rule is match_offer's */
    assert_true(match_plan_dates(&plan, day("2027-06-30"), 0));
    assert_true(match_plan_dates(&plan, day("2027-03-01"), day("2027-04-01")));
    assert_false(match_plan_dates(&plan, day("2027-07-01"), day("2027-07-02")));
    assert_false(match_plan_dates(&plan, 0, 0));
    f.o.start_date = "2027-07-01";
    f.o.end_date = "2027-07-02";
    f.o.country = "ES";
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    assert_false(reason(&r, MATCH_DATES)->agree);
    /* without details: the same points and verdict, no text */
    struct match_result quiet = {.details = 0};
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &quiet);
    assert_int_equal(quiet.points, r.points);
    assert_int_equal(quiet.verdict, r.verdict);
    assert_string_equal(quiet.reasons[0].detail, "");
}

/* Ties: points descending, then the earlier start, then the lower entry id; the same order
 * whatever order the candidates arrive in. */
struct ranked {
    uint32_t points;
    int32_t start;
    uint8_t id[32];
};

static int ranked_cmp(const void *a, const void *b) {
    const struct ranked *x = a, *y = b;
    return match_rank_cmp(x->points, x->start, x->id, y->points, y->start, y->id);
}

static void test_ties_deterministic(void **state) {
    (void)state;
    struct ranked want[6];
    memset(want, 0, sizeof want);
    /* already in ranking order */
    want[0].points = 90000, want[0].start = 200, want[0].id[0] = 9;
    want[1].points = 80000, want[1].start = 100, want[1].id[0] = 5;
    want[2].points = 80000, want[2].start = 150, want[2].id[0] = 1;
    want[3].points = 80000, want[3].start = 150, want[3].id[0] = 2;
    want[4].points = 80000, want[4].start = INT32_MAX, want[4].id[0] = 0; /* undated: last */
    want[5].points = 79999, want[5].start = 1, want[5].id[0] = 0;
    for (size_t i = 0; i + 1 < 6; i++)
        assert_true(ranked_cmp(&want[i], &want[i + 1]) < 0);
    assert_int_equal(ranked_cmp(&want[2], &want[2]), 0);
    /* every rotation and the reversal of the input sort to the same order */
    for (size_t rot = 0; rot < 12; rot++) {
        struct ranked in[6];
        for (size_t i = 0; i < 6; i++)
            in[i] = rot < 6 ? want[(i + rot) % 6] : want[(6 - i + rot) % 6];
        qsort(in, 6, sizeof in[0], ranked_cmp);
        assert_memory_equal(in, want, sizeof want);
    }
    /* the same two records score the same twice, reasons and all */
    struct fixture f;
    base(&f);
    LIST(f.q, topics, S_AI_EPROC);
    LIST(f.q, languages, S_ES_EN);
    LIST(f.o, languages, S_ES_EN);
    f.q.mode = "online";
    struct match_result a, b;
    memset(&a, 0xAA, sizeof a);
    memset(&b, 0x55, sizeof b);
    a.details = b.details = 1;
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &a);
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &b);
    assert_int_equal(a.points, b.points);
    assert_int_equal(a.nreasons, b.nreasons);
    for (size_t i = 0; i < a.nreasons; i++) {
        assert_int_equal(a.reasons[i].field, b.reasons[i].field);
        assert_int_equal(a.reasons[i].points, b.reasons[i].points);
        assert_string_equal(a.reasons[i].detail, b.reasons[i].detail);
    }
    /* reasons come in criterion order */
    for (size_t i = 0; i + 1 < a.nreasons; i++)
        assert_true(a.reasons[i].field < a.reasons[i + 1].field);
}

static void test_long_detail_cut(void **state) {
    (void)state;
    struct fixture f;
    base(&f);
    static char buf[32][40];
    static char *many[32];
    for (int i = 0; i < 32; i++) {
        snprintf(buf[i], sizeof buf[i], "topic-number-%02d-with-a-long-name", i);
        many[i] = buf[i];
    }
    LIST(f.q, topics, many);
    LIST(f.o, topics, many);
    struct match_result r = {.details = 1};
    match_offer(&f.q, &f.o, TODAY, MATCH_SEATS_UNLIMITED, &r);
    const struct match_reason *m = reason(&r, MATCH_TOPICS);
    assert_non_null(m);
    assert_int_equal(m->points, 20000);
    size_t len = strlen(m->detail);
    assert_true(len < MATCH_DETAIL_LEN);
    assert_string_equal(m->detail + len - 3, "...");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_base_and_share),
        cmocka_unit_test(test_each_share_criterion),
        cmocka_unit_test(test_service_group),
        cmocka_unit_test(test_languages_any_of),
        cmocka_unit_test(test_country_mode),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_past_full_no_subject),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_ties_deterministic),
        cmocka_unit_test(test_long_detail_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
