/* qfilter.c: query filters on an offer's payload fields that are not index terms (opportunity
 * type, schedule, region, cost), and the vocabularies as a listing (control op "vocab").
 *
 * These fields are not indexed, so the filters read each record the index join found: a query
 * that sets one reads records until its page is full (CONTROL.md, query). */
#include "qfilter.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "entry.h"
#include "hub.h"
#include "record.h"
#include "textsearch.h"
#include "vocab.h"

int qfilter_active(const struct qfilter_set *f) {
    return f->n_opportunity_type || f->n_schedule || f->n_region || f->free_only ||
           f->has_max_cost || f->has_deadline;
}

static int qf_fold(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int qf_equal_ci(const char *a, const char *b) {
    for (; *a && qf_fold((unsigned char)*a) == qf_fold((unsigned char)*b); a++, b++)
        ;
    return *a == 0 && *b == 0;
}

/* Is the string member name of o one of vals (any-of)? */
static int qf_any(json_t *o, const char *name, const char (*vals)[QFILTER_VALUE_MAX + 1], size_t n,
                  int ci) {
    const char *s = json_string_value(json_object_get(o, name));
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ci ? qf_equal_ci(s, vals[i]) : strcmp(s, vals[i]) == 0)
            return 1;
    return 0;
}

/* Folded words of a place (ts_words): at most QFILTER_PLACE_WORDS, the rest dropped. */
struct qf_words {
    char w[QFILTER_PLACE_WORDS][TS_WORD_MAX + 1];
    size_t n;
};

static int qf_word(const char *w, size_t len, void *arg) {
    struct qf_words *ws = arg;
    if (ws->n == QFILTER_PLACE_WORDS)
        return 1;
    memcpy(ws->w[ws->n], w, len);
    ws->w[ws->n++][len] = 0;
    return 0;
}

/* Do the folded words of region appear, one after the other, among those of place? Case and
 * accents do not count ("andalucia" is in "Sevilla, Andalucía"). */
static int qf_place_has(const char *place, const char *region) {
    static _Thread_local struct qf_words p, r;
    p.n = r.n = 0;
    (void)ts_words(place, strlen(place), qf_word, &p);
    (void)ts_words(region, strlen(region), qf_word, &r);
    if (r.n == 0)
        return 0;
    for (size_t i = 0; i + r.n <= p.n; i++) {
        size_t k = 0;
        while (k < r.n && strcmp(p.w[i + k], r.w[k]) == 0)
            k++;
        if (k == r.n)
            return 1;
    }
    return 0;
}

/* Is one of the regions in the place s? */
static int qf_region_in(const char *s, const struct qfilter_set *f) {
    for (size_t i = 0; s && i < f->n_region; i++)
        if (qf_place_has(s, f->region[i]))
            return 1;
    return 0;
}

/* Is one of the regions in the record's region or location, or an offer's session's? */
static int qf_region(json_t *o, const struct qfilter_set *f) {
    static const char *const fields[] = {"region", "location"};
    for (size_t k = 0; k < 2; k++)
        if (qf_region_in(json_string_value(json_object_get(o, fields[k])), f))
            return 1;
    size_t i;
    json_t *se;
    json_array_foreach(json_object_get(o, "sessions"), i, se) {
        if (qf_region_in(json_string_value(json_object_get(se, "location")), f))
            return 1;
    }
    return 0;
}

int qfilter_match(const struct qfilter_set *f, const uint8_t *wire, size_t len) {
    struct entry e;
    if (entry_decode(wire, len, &e) != 0 || !e.payload)
        return 0;
    /* the offer's fields; a region is a profile's region or an offer's or request's location */
    int offer_only = f->n_opportunity_type || f->n_schedule || f->free_only || f->has_max_cost ||
                     f->has_deadline;
    if (offer_only ? e.kind != 2 : (e.kind != 1 && e.kind != 2 && e.kind != 3))
        return 0;
    json_t *o = NULL;
    if (record_to_json(e.kind, e.payload, e.payload_len, &o) != 0)
        return 0;
    int ok = 1;
    if (f->n_opportunity_type &&
        !qf_any(o, "opportunity_type", f->opportunity_type, f->n_opportunity_type, 1))
        ok = 0;
    if (ok && f->n_schedule && !qf_any(o, "schedule", f->schedule, f->n_schedule, 1))
        ok = 0;
    if (ok && f->n_region && !qf_region(o, f))
        ok = 0;
    json_t *cost = json_object_get(o, "cost");
    double amount = cost ? json_number_value(json_object_get(cost, "amount")) : 0;
    uint64_t minor = amount > 0 ? (uint64_t)llround(amount * 100) : 0;
    if (ok && f->free_only && minor != 0)
        ok = 0;
    if (ok && f->has_max_cost && minor != 0) {
        const char *cur = json_string_value(json_object_get(cost, "currency"));
        ok = cur && strcmp(cur, f->max_currency) == 0 && minor <= f->max_cost_minor;
    }
    if (ok && f->has_deadline) {
        /* no deadline: open; a malformed one (a foreign record) counts as none */
        int32_t d;
        const char *dl = json_string_value(json_object_get(o, "application_deadline"));
        if (dl && record_parse_date(dl, &d) == 0 && d < f->deadline_from)
            ok = 0;
    }
    json_decref(o);
    return ok;
}

int qfilter_parse_cost(const char *s, uint64_t *minor, char currency[8]) {
    uint64_t units = 0, cents = 0;
    size_t i = 0, digits = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (units > QFILTER_MAX_COST_UNITS)
            return HUB_E_RANGE;
        units = units * 10 + (uint64_t)(s[i] - '0');
    }
    if (digits == 0 || units > QFILTER_MAX_COST_UNITS)
        return HUB_E_RANGE;
    if (s[i] == '.') {
        i++;
        size_t fd = 0;
        for (; s[i] >= '0' && s[i] <= '9'; i++, fd++) {
            if (fd >= 2)
                return HUB_E_RANGE; /* hundredths at most, as Cost stores */
            cents = cents * 10 + (uint64_t)(s[i] - '0');
        }
        if (fd == 0)
            return HUB_E_RANGE;
        if (fd == 1)
            cents *= 10;
    }
    while (s[i] == ' ')
        i++;
    size_t cl = strlen(s + i);
    if (cl == 0 || cl >= 8)
        return HUB_E_RANGE;
    char cur[8];
    for (size_t k = 0; k <= cl; k++) /* currency codes are upper case: fold */
        cur[k] = (char)(s[i + k] >= 'a' && s[i + k] <= 'z' ? s[i + k] - 'a' + 'A' : s[i + k]);
    if (!vocab_has(VOCAB_CURRENCY, cur))
        return HUB_E_VOCAB;
    memcpy(currency, cur, cl + 1);
    *minor = units * 100 + cents;
    return HUB_OK;
}

int qfilter_vocab_json(const char *name, json_t **out, char *why, size_t why_size) {
    int only = -1;
    if (name) {
        /* "sectors", "countries", "service-group" name the lists too: the singular, '_' */
        char one[64];
        size_t n = strnlen(name, sizeof one);
        if (n < sizeof one) {
            for (size_t i = 0; i <= n; i++)
                one[i] = name[i] == '-' ? '_' : name[i];
            if (n > 3 && qf_equal_ci(one + n - 3, "ies"))
                memcpy(one + n - 3, "y", 2);
            else if (n > 1 && (one[n - 1] == 's' || one[n - 1] == 'S'))
                one[n - 1] = 0;
        } else {
            one[0] = 0;
        }
        for (int l = 0; l < VOCAB_COUNT; l++)
            if (qf_equal_ci(vocab_name((enum vocab_list)l), name) ||
                qf_equal_ci(vocab_name((enum vocab_list)l), one))
                only = l;
        if (only < 0) {
            /* every name: there are few */
            int w = snprintf(why, why_size, "no vocabulary '%.64s'; the vocabularies:", name);
            for (int l = 0; l < VOCAB_COUNT && w > 0 && (size_t)w < why_size; l++)
                w += snprintf(why + w, why_size - (size_t)w, "%s %s", l ? "," : "",
                              vocab_name((enum vocab_list)l));
            return HUB_E_VOCAB;
        }
    }
    json_t *lists = json_array();
    if (!lists)
        return HUB_E_NOMEM;
    for (int l = 0; l < VOCAB_COUNT; l++) {
        if (only >= 0 && l != only)
            continue;
        json_t *vals = json_array();
        /* the lists of codes (ISCED-F, EQF, DigComp, ...) say what each code means */
        json_t *labels = vocab_label((enum vocab_list)l, vocab_values((enum vocab_list)l)[0])
                             ? json_object()
                             : NULL;
        for (const char *const *v = vocab_values((enum vocab_list)l); vals && *v; v++) {
            json_array_append_new(vals, json_string(*v));
            if (labels)
                json_object_set_new(labels, *v, json_string(vocab_label((enum vocab_list)l, *v)));
        }
        json_t *o =
            vals ? json_pack("{s:s, s:o}", "name", vocab_name((enum vocab_list)l), "values", vals)
                 : NULL;
        if (o && labels)
            json_object_set_new(o, "labels", labels);
        else
            json_decref(labels);
        if (!o || json_array_append_new(lists, o) != 0) {
            json_decref(lists);
            return HUB_E_NOMEM;
        }
    }
    *out = json_pack("{s:b, s:o}", "ok", 1, "lists", lists);
    return *out ? HUB_OK : HUB_E_NOMEM;
}
