/* match.c: the fit of an offer or a hub's profile to an expertise request, with the reasons.
 *
 * Every hub must rank the same candidates in the same order, so the score is integer
 * arithmetic over the records alone (today is an argument) and CONTROL.md gives the rules:
 *
 *   criterion       weight  agrees when
 *   topics            20    share of the request's topics the offer carries (train_the_trainer
 *                           counts as the topic "train-the-trainer")
 *   skills            10    share of the request's ESCO skills
 *   technologies      15    share of the request's technologies
 *   sectors           10    share of the request's sectors
 *   services          10    share of the request's services
 *   service_group      5    same service group (an offer's empty group is skills-training), and
 *                           same service type when the request names one
 *   languages         10    the offer names ANY of the request's languages
 *   country            5    same country, or the offer is online
 *   mode               5    same learning mode
 *   dates              5    the offer's dates overlap the request's window
 *   budget             5    cost <= budget in the same currency (free fits any budget)
 *
 * A criterion the request does not state earns its whole weight (nobody asked), so a score of
 * 100 is an offer that gives everything the request asks. A stated criterion the offer does not
 * state earns nothing. Values compare ignoring ASCII case, as the index does. */
#include "match.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hub.h"
#include "record.h"

/* The service group an offer or request without one belongs to (ISSUE10_DESIGN.md). */
#define MATCH_DEFAULT_GROUP "skills-training"

static const struct {
    const char *name;
    unsigned weight;
} match_fields[MATCH_NFIELDS] = {
    [MATCH_TOPICS] = {"topics", 20},
    [MATCH_SKILLS] = {"skills", 10},
    [MATCH_TECHNOLOGIES] = {"technologies", 15},
    [MATCH_SECTORS] = {"sectors", 10},
    [MATCH_SERVICES] = {"services", 10},
    [MATCH_SERVICE_GROUP] = {"service_group", 5},
    [MATCH_LANGUAGES] = {"languages", 10},
    [MATCH_COUNTRY] = {"country", 5},
    [MATCH_MODE] = {"mode", 5},
    [MATCH_DATES] = {"dates", 5},
    [MATCH_BUDGET] = {"budget", 5},
};

static const char *const match_verdicts[MATCH_NVERDICTS] = {
    [MATCH_FITS] = "fits",
    [MATCH_PAST] = "past",
    [MATCH_FULL] = "full",
    [MATCH_LANGUAGE] = "language",
    [MATCH_NO_SUBJECT] = "no_subject",
};

unsigned match_weight(enum match_field f) {
    return (unsigned)f < MATCH_NFIELDS ? match_fields[f].weight : 0;
}

const char *match_field_name(enum match_field f) {
    return (unsigned)f < MATCH_NFIELDS ? match_fields[f].name : NULL;
}

const char *match_verdict_name(enum match_verdict v) {
    return (unsigned)v < MATCH_NVERDICTS ? match_verdicts[v] : NULL;
}

static uint32_t match_full(enum match_field f) {
    return match_fields[f].weight * MATCH_MILLI;
}

/* ---- reasons ---- */

/* Appends text to a reason's detail; a detail that does not fit ends in "...". */
/* Set by match_reason from the result being filled: whether details are wanted. */
static _Thread_local int match_details = 1;

__attribute__((format(printf, 2, 3))) static void match_add(struct match_reason *r, const char *fmt,
                                                            ...) {
    if (!match_details)
        return;
    size_t len = strlen(r->detail);
    if (len + 4 >= sizeof r->detail)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->detail + len, sizeof r->detail - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        r->detail[len] = '\0';
    else if ((size_t)n >= sizeof r->detail - len)
        memcpy(r->detail + sizeof r->detail - 4, "...", 4);
}

static struct match_reason *match_reason(struct match_result *out, enum match_field f, int agree,
                                         uint32_t points) {
    struct match_reason *r = &out->reasons[out->nreasons++];
    r->field = f;
    r->agree = agree;
    r->points = points;
    r->detail[0] = '\0';
    out->points += points;
    return r;
}

/* ---- lists ---- */

/* A record's list of one criterion, with the value a flag implies (train_the_trainer). */
struct match_list {
    char **v;
    size_t n;
    const char *extra;
};

static int match_list_has(const struct match_list *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], s) == 0)
            return 1;
    return l->extra != NULL && strcasecmp(l->extra, s) == 0;
}

static size_t match_list_len(const struct match_list *l) {
    return l->n + (l->extra != NULL);
}

/* The request's distinct values (ignoring case), at most max, in its order. */
static size_t match_distinct(char **v, size_t n, const char **out, size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        if (v[i] == NULL || v[i][0] == '\0')
            continue;
        size_t j = 0;
        while (j < k && strcasecmp(out[j], v[i]) != 0)
            j++;
        if (j == k)
            out[k++] = v[i];
    }
    return k;
}

/* A share criterion: the part of the request's values the candidate carries. Returns 1 when
 * the request states it (a reason was added). */
static int match_share(struct match_result *out, enum match_field f, char **qv, size_t qn,
                       const struct match_list *have) {
    const char *want[MATCH_MAX_VALUES];
    size_t n = match_distinct(qv, qn, want, MATCH_MAX_VALUES);
    if (n == 0) {
        out->points += match_full(f); /* not asked */
        return 0;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += match_list_has(have, want[i]);
    uint32_t pts = (uint32_t)((uint64_t)match_full(f) * m / n);
    struct match_reason *r = match_reason(out, f, m > 0, pts);
    if (m > 0) {
        const char *sep = "";
        for (size_t i = 0; i < n; i++)
            if (match_list_has(have, want[i])) {
                match_add(r, "%s%s", sep, want[i]);
                sep = ", ";
            }
        if (m < n) {
            sep = "; not ";
            for (size_t i = 0; i < n; i++)
                if (!match_list_has(have, want[i])) {
                    match_add(r, "%s%s", sep, want[i]);
                    sep = ", ";
                }
        }
    } else if (match_list_len(have) == 0) {
        match_add(r, "none stated");
    } else {
        const char *sep = "asked ";
        for (size_t i = 0; i < n; i++) {
            match_add(r, "%s%s", sep, want[i]);
            sep = ", ";
        }
    }
    return 1;
}

/* ---- languages ---- */

int match_language_agrees(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la < lb ? la : lb;
    if (n == 0 || strncasecmp(a, b, n) != 0)
        return 0;
    return la == lb || (la > n ? a[n] : b[n]) == '-';
}

/* Languages: any of the request's. Returns 1 when both state some and none is shared. */
static int match_languages(struct match_result *out, char **qv, size_t qn, char **ov, size_t on) {
    const char *want[MATCH_MAX_VALUES];
    size_t n = match_distinct(qv, qn, want, MATCH_MAX_VALUES);
    if (n == 0) {
        out->points += match_full(MATCH_LANGUAGES);
        return 0;
    }
    if (on == 0) {
        match_add(match_reason(out, MATCH_LANGUAGES, 0, 0), "none stated");
        return 0;
    }
    struct match_reason *r = match_reason(out, MATCH_LANGUAGES, 1, match_full(MATCH_LANGUAGES));
    const char *sep = "";
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < on; j++)
            if (match_language_agrees(want[i], ov[j])) {
                match_add(r, "%s%s", sep, ov[j]);
                sep = ", ";
                break;
            }
    if (*sep != '\0')
        return 0;
    /* none shared: take the reason back as a disagreement */
    out->points -= r->points;
    r->points = 0;
    r->agree = 0;
    sep = "";
    for (size_t j = 0; j < on; j++) {
        match_add(r, "%s%s", sep, ov[j]);
        sep = ", ";
    }
    sep = "; asked ";
    for (size_t i = 0; i < n; i++) {
        match_add(r, "%s%s", sep, want[i]);
        sep = " or ";
    }
    return 1;
}

/* ---- single values ---- */

static int match_stated(const char *s) {
    return s != NULL && s[0] != '\0';
}

static void match_country(struct match_result *out, const char *want, const char *have,
                          const char *mode) {
    if (!match_stated(want)) {
        out->points += match_full(MATCH_COUNTRY);
        return;
    }
    int online = mode != NULL && strcasecmp(mode, "online") == 0;
    if (match_stated(have) && strcasecmp(want, have) == 0) {
        match_add(match_reason(out, MATCH_COUNTRY, 1, match_full(MATCH_COUNTRY)), "%s", have);
    } else if (online) {
        match_add(match_reason(out, MATCH_COUNTRY, 1, match_full(MATCH_COUNTRY)), "online%s%s%s",
                  match_stated(have) ? " from " : "", match_stated(have) ? have : "",
                  match_stated(have) ? "" : "");
    } else if (!match_stated(have)) {
        match_add(match_reason(out, MATCH_COUNTRY, 0, 0), "none stated; asked %s", want);
    } else {
        match_add(match_reason(out, MATCH_COUNTRY, 0, 0), "%s; asked %s", have, want);
    }
}

static void match_mode(struct match_result *out, const char *want, const char *have) {
    if (!match_stated(want)) {
        out->points += match_full(MATCH_MODE);
        return;
    }
    if (match_stated(have) && strcasecmp(want, have) == 0)
        match_add(match_reason(out, MATCH_MODE, 1, match_full(MATCH_MODE)), "%s", have);
    else
        match_add(match_reason(out, MATCH_MODE, 0, 0), "%s; asked %s",
                  match_stated(have) ? have : "none stated", want);
}

/* ---- dates ---- */

static int match_day(const char *s, int32_t *d) {
    return match_stated(s) && record_parse_date(s, d) == HUB_OK;
}

int32_t match_offer_start(const Hubnet__Offer *o) {
    int32_t d;
    return match_day(o->start_date, &d) ? d : INT32_MAX;
}

int match_offer_past(const Hubnet__Offer *o, int32_t today) {
    int32_t d;
    if (match_day(o->end_date, &d) || match_day(o->start_date, &d))
        return d < today;
    return 0; /* undated: on demand, never past */
}

int match_request_closed(const Hubnet__Request *q, int32_t today) {
    int32_t d;
    if (match_day(q->end_date, &d) || match_day(q->needed_by, &d))
        return d < today;
    return 0;
}

static void match_dates(struct match_result *out, const Hubnet__Request *q,
                        const Hubnet__Offer *o) {
    int32_t rs = 0, re = 0, os, oe;
    int has_rs = match_day(q->start_date, &rs);
    int has_re = match_day(q->end_date, &re) || match_day(q->needed_by, &re);
    if (!has_rs && !has_re) {
        out->points += match_full(MATCH_DATES);
        return;
    }
    const char *qs = has_rs ? q->start_date : "", *qe = match_stated(q->end_date) ? q->end_date
                                                        : has_re                  ? q->needed_by
                                                                                  : "";
    if (!match_day(o->start_date, &os)) {
        match_add(match_reason(out, MATCH_DATES, 0, 0), "none stated; asked %s..%s", qs, qe);
        return;
    }
    const char *oes = o->start_date;
    if (match_day(o->end_date, &oe))
        oes = o->end_date;
    else
        oe = os;
    int overlap = (!has_rs || oe >= rs) && (!has_re || os <= re);
    struct match_reason *r =
        match_reason(out, MATCH_DATES, overlap, overlap ? match_full(MATCH_DATES) : 0);
    match_add(r, "%s..%s", o->start_date, oes);
    if (!overlap)
        match_add(r, "; asked %s..%s", qs, qe);
}

/* ---- budget ---- */

int match_budget_agrees(const Hubnet__Request *q, const Hubnet__Cost *cost) {
    const Hubnet__Cost *budget = q->budget;
    if (budget == NULL || !match_stated(budget->currency))
        return 1; /* not asked */
    if (cost == NULL)
        return 0;
    if (cost->amount_minor == 0)
        return 1;
    return match_stated(cost->currency) && strcasecmp(cost->currency, budget->currency) == 0 &&
           cost->amount_minor <= budget->amount_minor;
}

static void match_budget(struct match_result *out, const Hubnet__Cost *budget,
                         const Hubnet__Cost *cost) {
    if (budget == NULL || !match_stated(budget->currency)) {
        out->points += match_full(MATCH_BUDGET);
        return;
    }
    unsigned long long bmaj = budget->amount_minor / 100, bmin = budget->amount_minor % 100;
    if (cost == NULL) {
        match_add(match_reason(out, MATCH_BUDGET, 0, 0), "no cost stated; budget %llu.%02llu %s",
                  bmaj, bmin, budget->currency);
        return;
    }
    unsigned long long cmaj = cost->amount_minor / 100, cmin = cost->amount_minor % 100;
    if (cost->amount_minor == 0) {
        match_add(match_reason(out, MATCH_BUDGET, 1, match_full(MATCH_BUDGET)), "free");
    } else if (!match_stated(cost->currency) || strcasecmp(cost->currency, budget->currency) != 0) {
        /* No exchange rates: a hub has no trustworthy source, and every hub must score alike. */
        match_add(match_reason(out, MATCH_BUDGET, 0, 0), "cost in %s, budget in %s: not compared",
                  match_stated(cost->currency) ? cost->currency : "no currency", budget->currency);
    } else if (cost->amount_minor <= budget->amount_minor) {
        match_add(match_reason(out, MATCH_BUDGET, 1, match_full(MATCH_BUDGET)),
                  "%llu.%02llu %s within %llu.%02llu", cmaj, cmin, cost->currency, bmaj, bmin);
    } else {
        match_add(match_reason(out, MATCH_BUDGET, 0, 0), "%llu.%02llu %s over %llu.%02llu", cmaj,
                  cmin, cost->currency, bmaj, bmin);
    }
}

/* ---- service group ---- */

static const char *match_group(const char *g) {
    return match_stated(g) ? g : MATCH_DEFAULT_GROUP;
}

/* want_group NULL or empty and want_type empty: not asked. */
static void match_service_group(struct match_result *out, const char *want_group,
                                const char *want_type, const char *have_group,
                                const char *have_type) {
    if (!match_stated(want_group) && !match_stated(want_type)) {
        out->points += match_full(MATCH_SERVICE_GROUP);
        return;
    }
    const char *hg = match_group(have_group);
    int g_ok = !match_stated(want_group) || strcasecmp(want_group, hg) == 0;
    int t_ok = !match_stated(want_type) ||
               (match_stated(have_type) && strcasecmp(want_type, have_type) == 0);
    struct match_reason *r = match_reason(out, MATCH_SERVICE_GROUP, g_ok && t_ok,
                                          g_ok && t_ok ? match_full(MATCH_SERVICE_GROUP) : 0);
    match_add(r, "%s%s%s", hg, match_stated(have_type) ? "/" : "",
              match_stated(have_type) ? have_type : "");
    if (!(g_ok && t_ok))
        match_add(r, "; asked %s%s%s", match_stated(want_group) ? want_group : "",
                  match_stated(want_type) ? "/" : "", match_stated(want_type) ? want_type : "");
}

/* ---- the two comparisons ---- */

static void match_result_init(struct match_result *out) {
    match_details = out->details;
    out->verdict = MATCH_FITS;
    out->points = 0;
    out->nreasons = 0;
}

/* Did a subject criterion agree, when the request states any? */
static int match_subject_missing(const struct match_result *out, int stated) {
    if (!stated)
        return 0;
    for (size_t i = 0; i < out->nreasons; i++)
        if (out->reasons[i].field <= MATCH_SERVICE_GROUP && out->reasons[i].agree)
            return 0;
    return 1;
}

static void match_request_group(const Hubnet__Request *q, const char **group, const char **type) {
    *group = q->service_group;
    *type = q->service_type;
}

void match_offer(const Hubnet__Request *q, const Hubnet__Offer *o, int32_t today,
                 int64_t seats_left, struct match_result *out) {
    match_result_init(out);
    int stated = 0;
    struct match_list l;
    l = (struct match_list){o->topics, o->n_topics,
                            o->train_the_trainer ? "train-the-trainer" : NULL};
    stated |= match_share(out, MATCH_TOPICS, q->topics, q->n_topics, &l);
    l = (struct match_list){o->skills, o->n_skills, NULL};
    stated |= match_share(out, MATCH_SKILLS, q->skills, q->n_skills, &l);
    l = (struct match_list){o->technologies, o->n_technologies, NULL};
    stated |= match_share(out, MATCH_TECHNOLOGIES, q->technologies, q->n_technologies, &l);
    l = (struct match_list){o->sectors, o->n_sectors, NULL};
    stated |= match_share(out, MATCH_SECTORS, q->sectors, q->n_sectors, &l);
    l = (struct match_list){o->services, o->n_services, NULL};
    stated |= match_share(out, MATCH_SERVICES, q->services, q->n_services, &l);
    const char *wg, *wt;
    match_request_group(q, &wg, &wt);
    stated |= match_stated(wg) || match_stated(wt);
    match_service_group(out, wg, wt, o->service_group, o->service_type);
    int wrong_language =
        match_languages(out, q->languages, q->n_languages, o->languages, o->n_languages);
    match_country(out, q->country, o->country, o->mode);
    match_mode(out, q->mode, o->mode);
    match_dates(out, q, o);
    match_budget(out, q->budget, o->cost);

    if (match_offer_past(o, today))
        out->verdict = MATCH_PAST;
    else if (seats_left <= 0)
        out->verdict = MATCH_FULL;
    else if (wrong_language)
        out->verdict = MATCH_LANGUAGE;
    else if (match_subject_missing(out, stated))
        out->verdict = MATCH_NO_SUBJECT;
}

void match_profile(const Hubnet__Request *q, const Hubnet__Profile *p, struct match_result *out) {
    match_result_init(out);
    int stated = 0;
    struct match_list l;
    l = (struct match_list){p->topics, p->n_topics, NULL};
    stated |= match_share(out, MATCH_TOPICS, q->topics, q->n_topics, &l);
    if (q->n_skills > 0) /* a profile lists no skills: asked, not compared */
        stated = 1;
    else
        out->points += match_full(MATCH_SKILLS);
    l = (struct match_list){p->technologies, p->n_technologies, NULL};
    stated |= match_share(out, MATCH_TECHNOLOGIES, q->technologies, q->n_technologies, &l);
    l = (struct match_list){p->sectors, p->n_sectors, NULL};
    stated |= match_share(out, MATCH_SECTORS, q->sectors, q->n_sectors, &l);
    l = (struct match_list){p->services, p->n_services, NULL};
    stated |= match_share(out, MATCH_SERVICES, q->services, q->n_services, &l);
    int wrong_language =
        match_languages(out, q->languages, q->n_languages, p->languages, p->n_languages);
    match_country(out, q->country, p->country, NULL);
    /* Service group, mode, dates and budget belong to offers: a profile earns them only when
     * the request does not ask (as an offer would). */
    const char *wg, *wt;
    match_request_group(q, &wg, &wt);
    if (!match_stated(wg) && !match_stated(wt))
        out->points += match_full(MATCH_SERVICE_GROUP);
    if (!match_stated(q->mode))
        out->points += match_full(MATCH_MODE);
    int32_t d;
    if (!match_day(q->start_date, &d) && !match_day(q->end_date, &d) &&
        !match_day(q->needed_by, &d))
        out->points += match_full(MATCH_DATES);
    if (q->budget == NULL || !match_stated(q->budget->currency))
        out->points += match_full(MATCH_BUDGET);
    if (wrong_language)
        out->verdict = MATCH_LANGUAGE;
    else if (match_subject_missing(out, stated))
        out->verdict = MATCH_NO_SUBJECT;
}

/* ---- ranking ---- */

int match_rank_cmp(uint32_t a_points, int32_t a_start, const uint8_t a_id[32], uint32_t b_points,
                   int32_t b_start, const uint8_t b_id[32]) {
    if (a_points != b_points)
        return a_points > b_points ? -1 : 1;
    if (a_start != b_start)
        return a_start < b_start ? -1 : 1;
    return memcmp(a_id, b_id, 32);
}

size_t match_request_values(const Hubnet__Request *q, enum match_field f, const char **values,
                            size_t max) {
    switch (f) {
    case MATCH_TOPICS:
        return match_distinct(q->topics, q->n_topics, values, max);
    case MATCH_SKILLS:
        return match_distinct(q->skills, q->n_skills, values, max);
    case MATCH_TECHNOLOGIES:
        return match_distinct(q->technologies, q->n_technologies, values, max);
    case MATCH_SECTORS:
        return match_distinct(q->sectors, q->n_sectors, values, max);
    case MATCH_SERVICES:
        return match_distinct(q->services, q->n_services, values, max);
    default:
        return 0;
    }
}

void match_plan_init(const Hubnet__Request *q, struct match_plan *plan) {
    memset(plan, 0, sizeof *plan);
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        const char *v[MATCH_MAX_VALUES];
        if (f < MATCH_NSUBJECT) {
            plan->n[f] = match_request_values(q, (enum match_field)f, v, MATCH_MAX_VALUES);
            if (plan->n[f] == 0)
                plan->rest += match_full((enum match_field)f); /* not asked */
        } else {
            plan->rest += match_full((enum match_field)f);
        }
    }
    plan->asks_country = match_stated(q->country);
    const char *langs[MATCH_MAX_VALUES];
    plan->asks_languages =
        match_distinct(q->languages, q->n_languages, langs, MATCH_MAX_VALUES) > 0;
    plan->asks_mode = match_stated(q->mode);
    int has_from = match_day(q->start_date, &plan->from);
    int has_to = match_day(q->end_date, &plan->to) || match_day(q->needed_by, &plan->to);
    if (!has_from)
        plan->from = 0;
    if (!has_to)
        plan->to = 0;
    plan->asks_dates = has_from || has_to;
}

int match_plan_dates(const struct match_plan *plan, int32_t first, int32_t last) {
    if (first == 0)
        return 0; /* undated: none stated */
    if (last == 0)
        last = first;
    return (plan->from == 0 || last >= plan->from) && (plan->to == 0 || first <= plan->to);
}

uint32_t match_plan_bound(const struct match_plan *plan, const unsigned hits[MATCH_NSUBJECT],
                          const struct match_known *known) {
    uint32_t b = plan->rest;
    for (int f = 0; f < MATCH_NSUBJECT; f++) {
        size_t n = plan->n[f];
        if (n == 0)
            continue;
        size_t m = hits[f] < n ? hits[f] : n;
        b += (uint32_t)((uint64_t)match_full((enum match_field)f) * m / n);
    }
    if (known != NULL) {
        if (plan->asks_country && known->country == 0)
            b -= match_full(MATCH_COUNTRY);
        if (plan->asks_mode && known->mode == 0)
            b -= match_full(MATCH_MODE);
        if (plan->asks_dates && known->dates == 0)
            b -= match_full(MATCH_DATES);
        if (plan->asks_languages && known->languages == 0)
            b -= match_full(MATCH_LANGUAGES);
    }
    return b;
}
