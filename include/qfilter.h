/* qfilter.h: the query filters the index does not answer (fields of an offer's payload that
 * are not index terms), checked on each record a query finds; and the vocabularies' listing. */
#ifndef HUB_QFILTER_H
#define HUB_QFILTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define QFILTER_MAX_VALUES 16                   /* values of one filter (any of them matches) */
#define QFILTER_MAX_COST_UNITS 1000000000000ull /* max_cost: Cost's own bound, 10^12 units */

#define QFILTER_PLACE_WORDS 64 /* words of a place compared (200 bytes hold fewer) */
#define QFILTER_VALUE_MAX 200  /* bytes of one value: a region's cap (PROTOCOL.md 7.2) */

struct qfilter_set {
    char opportunity_type[QFILTER_MAX_VALUES][QFILTER_VALUE_MAX + 1];
    size_t n_opportunity_type;
    char schedule[QFILTER_MAX_VALUES][QFILTER_VALUE_MAX + 1];
    size_t n_schedule;
    /* words of a profile's region or an offer's or request's location, case and accents
     * folded: "andalucia" is in "Sevilla, Andalucía" */
    char region[QFILTER_MAX_VALUES][QFILTER_VALUE_MAX + 1];
    size_t n_region;
    int free_only;           /* cost absent or 0 */
    int has_max_cost;        /* cost absent, or in max_currency and at most max_cost_minor */
    uint64_t max_cost_minor; /* hundredths, as Cost.amount_minor */
    char max_currency[8];
    int has_deadline;      /* offers only: application_deadline absent or >= deadline_from */
    int32_t deadline_from; /* days since 1970-01-01 (today, UTC) */
};

/* Any filter set? */
int qfilter_active(const struct qfilter_set *f);
/* Does the entry (wire bytes) pass every filter? Opportunity type, schedule and cost are an
 * offer's: other kinds never pass them; region passes profiles, offers and requests. */
int qfilter_match(const struct qfilter_set *f, const uint8_t *wire, size_t len);
/* "500EUR", "500 EUR", "12.50EUR": amount in hundredths and currency (ISO 4217); 0 or
 * HUB_E_RANGE / HUB_E_VOCAB. */
int qfilter_parse_cost(const char *s, uint64_t *minor, char currency[8]);

/* The vocabularies as JSON: {"lists": [{"name", "values": [...]}, ...]}, every list or the one
 * named (case-insensitive; E_VOCAB with the nearest names otherwise, why set). */
int qfilter_vocab_json(const char *name, json_t **out, char *why, size_t why_size);

#endif
