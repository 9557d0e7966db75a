/* match.h: how well an offer (or a hub's profile) fits an expertise request, with the reasons.
 * Pure functions over decoded records: no store, no clock (the caller passes today), so the
 * ranking is the same on every hub and testable on its own. The weights, the rules and the
 * tie-breaks are documented in CONTROL.md ("match"); the retrieval of candidates that feeds
 * these functions is the control op's (match_op.c). */
#ifndef HUB_MATCH_H
#define HUB_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "entry.pb-c.h"

/* The criteria, in the order reasons are listed. */
enum match_field {
    MATCH_TOPICS,
    MATCH_SKILLS,
    MATCH_TECHNOLOGIES,
    MATCH_SECTORS,
    MATCH_SERVICES,
    MATCH_SERVICE_GROUP,
    MATCH_LANGUAGES,
    MATCH_COUNTRY,
    MATCH_MODE,
    MATCH_DATES,
    MATCH_BUDGET,
    MATCH_NFIELDS
};

/* Points are counted in thousandths so that ranking is exact integer arithmetic; the weights
 * (whole points) add up to MATCH_MAX_SCORE. */
#define MATCH_MILLI 1000
#define MATCH_MAX_SCORE 100
#define MATCH_DETAIL_LEN 192 /* a reason's text; longer lists end in "..." */
/* Values of one criterion compared; records carry at most 32 (PROTOCOL.md limits). */
#define MATCH_MAX_VALUES 64

/* The weight of a criterion in whole points (MATCH_NFIELDS: 0). */
unsigned match_weight(enum match_field f);
/* Its name in reasons and in CONTROL.md: "topics", "service_group", "budget" ... */
const char *match_field_name(enum match_field f);

/* Why a candidate is left out (MATCH_FITS: it is ranked). */
enum match_verdict {
    MATCH_FITS = 0,
    MATCH_PAST,       /* the offer ended before today (or the request's window closed) */
    MATCH_FULL,       /* capacity > 0 and no seats left */
    MATCH_LANGUAGE,   /* both name languages and none is shared */
    MATCH_NO_SUBJECT, /* not one of topics, skills, technologies, sectors, services agrees */
    MATCH_NVERDICTS
};
const char *match_verdict_name(enum match_verdict v); /* "past", "full", ... */

/* One criterion the request states, compared. */
struct match_reason {
    enum match_field field;
    int agree;       /* 1: agreed (perhaps in part: points < weight); 0: did not */
    uint32_t points; /* thousandths earned */
    char detail[MATCH_DETAIL_LEN];
};

struct match_result {
    int details; /* set by the caller: 0 skips the reasons' text (points and verdict only) */
    enum match_verdict verdict;
    uint32_t points; /* thousandths, 0 .. MATCH_MAX_SCORE * MATCH_MILLI */
    struct match_reason reasons[MATCH_NFIELDS];
    size_t nreasons; /* the criteria the request states, in enum order */
};

/* Seats: capacity 0 means unlimited; pass MATCH_SEATS_UNLIMITED then. */
#define MATCH_SEATS_UNLIMITED INT64_MAX

/* An offer against a request. today: days since 1970-01-01 (UTC); seats_left: the offer's
 * seats left (ISSUE10 "Derived values"), MATCH_SEATS_UNLIMITED when capacity is 0. Fills out
 * (verdict, points, reasons) for every candidate, left out or not; the reasons' detail text
 * only when out->details is set (the search scores thousands, the answer shows twenty). */
void match_offer(const Hubnet__Request *q, const Hubnet__Offer *o, int32_t today,
                 int64_t seats_left, struct match_result *out);

/* A hub's profile against a request: the criteria a profile can state (topics, technologies,
 * sectors, services, languages, country); the others earn nothing. Never past or full. */
void match_profile(const Hubnet__Request *q, const Hubnet__Profile *p, struct match_result *out);

/* The budget criterion as match_offer decides it: 1 when the request asks no budget, or the
 * offer's cost (NULL: none stated) is free or within it in the same currency; else 0. */
int match_budget_agrees(const Hubnet__Request *q, const Hubnet__Cost *cost);

/* 1 when the request's window has closed before today: its end_date, else needed_by. */
int match_request_closed(const Hubnet__Request *q, int32_t today);
/* 1 when the offer is past: its end_date, else start_date, before today. */
int match_offer_past(const Hubnet__Offer *o, int32_t today);

/* First day of an offer (days since epoch) for the tie-break; INT32_MAX when undated. */
int32_t match_offer_start(const Hubnet__Offer *o);

/* Ranking order of two ranked candidates: points descending, then start day ascending
 * (undated last), then entry id ascending (bytes). <0 when a ranks first. */
int match_rank_cmp(uint32_t a_points, int32_t a_start, const uint8_t a_id[32], uint32_t b_points,
                   int32_t b_start, const uint8_t b_id[32]);

/* BCP 47 tags agree when equal ignoring case, or one is the other's prefix up to a '-'
 * ("pt" and "pt-BR"). */
int match_language_agrees(const char *a, const char *b);

/* What bounds an offer's points before it is decoded: the request's number of distinct values
 * of each indexed subject criterion (MATCH_TOPICS .. MATCH_SERVICES), which of country, mode
 * and dates it asks, and the points every other criterion can give at most. */
#define MATCH_NSUBJECT (MATCH_SERVICES + 1)
struct match_plan {
    size_t n[MATCH_NSUBJECT];
    int asks_country, asks_mode, asks_dates, asks_languages;
    int32_t from, to; /* the request's window, days; 0 = open */
    uint32_t rest;
};
void match_plan_init(const Hubnet__Request *q, struct match_plan *plan);
/* What the index and the store's date table tell of a candidate before it is decoded: for
 * country, mode, dates and languages, 1 when it may agree, 0 when it does not, -1 when not
 * known. */
struct match_known {
    int country, mode, dates, languages;
};
#define MATCH_KNOWN_NOTHING ((struct match_known){-1, -1, -1, -1})
/* Upper bound of the points of an offer that carries hits[f] of the request's values of each
 * subject criterion f (as the index counts them), with what is known of the others:
 * candidates whose bound is below the N-th best points found cannot rank in the first N. */
uint32_t match_plan_bound(const struct match_plan *plan, const unsigned hits[MATCH_NSUBJECT],
                          const struct match_known *known);
/* The dates criterion from an offer's first and last day (days; 0 = none, last 0 = first), as
 * match_offer decides it: 1 agrees, 0 does not. */
int match_plan_dates(const struct match_plan *plan, int32_t first, int32_t last);

/* Distinct request values of a subject criterion (MATCH_TOPICS .. MATCH_SERVICES), as the
 * index knows them: what the candidate retrieval looks up. Returns the count, at most max;
 * values[i] point into q. */
size_t match_request_values(const Hubnet__Request *q, enum match_field f, const char **values,
                            size_t max);

/* The control call "match" (match_op.c, CONTROL.md). match_init once at start-up (recs may
 * be NULL: no hub names, seats unlimited); match_call answers one request: on success the
 * answer object's text, without its closing brace, is appended to b (control.c's send_text
 * closes it) and 0 returned; else the error code, with field (may be empty) and msg (at least
 * 256 bytes) filled. The event loop's thread only. */
struct node;
struct records;
struct jbuf;
int match_init(struct node *n, struct records *recs);
int match_call(json_t *req, struct jbuf *b, char *field, size_t field_len, char *msg,
               size_t msg_len);

#endif
