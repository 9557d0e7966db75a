/* match_op.c: the control call "match" (CONTROL.md): finds the candidates of a request in the
 * index, has match.c score them and answers the first N with their reasons; also hubs (a hub's
 * profile and its offers) and the reverse, the open requests an offer could serve.
 *
 * Candidates come from the index, not a scan: the posting lists of the request's subject values
 * (topics, skills, technologies, sectors, services) are read whole and counted per record, which
 * gives each record an upper bound of its points (match_plan_bound) before it is decoded. Records
 * are then decoded and scored in order of that bound, and the search stops when the next bound
 * is below the N-th best score found: the first N are exactly those of scoring every candidate.
 * A request without subject values falls back to the newest MATCH_SCAN_MAX records of the
 * kind. Bounds (named below, PROTOCOL.md §10) keep one call's work small whatever the store. */
#include "match.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "hub.h"
#include "jbuf.h"
#include "log.h"
#include "node.h"
#include "pbcheck.h"
#include "record.h"
#include "records.h"
#include "store.h"
#include "view.h"

#define MATCH_MAX_TERMS 64       /* subject values looked up per call */
#define MATCH_MAX_POSTINGS 65536 /* newest postings read per value */
#define MATCH_MAX_EXAMINE 4096   /* records decoded and scored per call */
#define MATCH_MAX_VISIT 16384    /* records whose dates are read per call */
#define MATCH_SCAN_MAX 4096      /* newest records of the kind, when no subject is stated */
#define MATCH_BATCH 64           /* records read per store transaction */
#define MATCH_BUCKET 100         /* thousandths of a point per bucket of the bound order */
#define MATCH_DEFAULT_LIMIT 20   /* results when the call gives no limit */
#define MATCH_MAX_LIMIT 100      /* results at most */
#define MATCH_HUB_OFFERS 3       /* best offers shown per hub */
#define MATCH_MAX_HUBS 1024      /* hubs ranked per call (--hubs) */
#define MATCH_MIN_ID_PREFIX 4    /* hex digits of an id prefix, as get takes */
#define MATCH_MSG_LEN 256        /* error message bytes match_call needs */
#define MATCH_MS_PER_DAY 86400000ULL

enum match_want { WANT_OFFERS, WANT_HUBS, WANT_REQUESTS };

struct match_cand;
/* What one call needs and the next reuses: a call allocates nothing in proportion to the
 * store (big allocations are fresh pages from the kernel each time, which showed in profiles). */
struct match_ctx {
    struct node *node;
    struct records *recs; /* hub names, seats and views (records.h) */
    uint32_t *hist;       /* bucket counts of the counting sort */
    uint64_t *buf;        /* MATCH_MAX_POSTINGS postings of one value */
    uint32_t *order;      /* candidates in order of their bound */
    size_t ocap;
    struct match_cand *c;
    size_t ccap;
    uint32_t *slots; /* local number -> candidate index + 1; all 0 between calls */
    size_t nslots;
    struct match_hit *pending; /* MATCH_BATCH */
    struct match_hit *top;     /* MATCH_MAX_LIMIT */
    /* The dates of each local number's record, as the date table gave them (first day + 1, so
     * 0 = not yet read; last day): an entry's dates never change, so they need reading once;
     * whether the record is still current is asked of the store each time it is read. */
    int32_t (*dates)[2];
    size_t ndates;
};

/* A record found in the postings, with how many subject values of each criterion it carries. */
struct match_cand {
    uint64_t local;
    uint8_t hits[MATCH_NSUBJECT];
    int8_t country, mode; /* from the index: 1 agrees, 0 does not, -1 not known */
    int8_t language;      /* 1: names one of the request's languages (or a variant), 0: none */
    uint8_t other;        /* of a kind the call does not rank: never read */
    uint32_t bound;
};

/* A scored record. */
struct match_hit {
    uint64_t local;
    uint8_t id[32];
    uint8_t author[32];
    char key[HUB_MAX_RECORD_KEY + 1];
    int kind;
    int32_t start;
    uint32_t capacity;
    int64_t seats_left;
    struct match_result res;
};

struct match_hub {
    uint8_t author[32];
    uint32_t points; /* the best of its profile's and its offers' */
    int has_profile;
    struct match_hit profile;
    struct match_hit offers[MATCH_HUB_OFFERS];
    size_t noffers;
};

struct match_run {
    struct store *st;
    enum match_want want;
    const Hubnet__Request *q; /* the request (offers, hubs) */
    const Hubnet__Offer *o;   /* the offer (requests) */
    struct match_plan plan;   /* the request's (offers, hubs) */
    int32_t today;
    size_t limit;
    /* candidates */
    struct match_cand *c;
    size_t nc, ccap;
    uint32_t *slots; /* local number -> index + 1 into c (the context's, grown on demand) */
    size_t nslots;
    int capped;    /* some posting list was longer than MATCH_MAX_POSTINGS */
    uint64_t *buf; /* the context's postings buffer */
    struct records *recs;
    struct match_ctx *ctx;
    /* scoring */
    struct match_hit *pending; /* the batch being read */
    size_t npending;
    const struct match_cand *batch[MATCH_BATCH]; /* its candidates, in order */
    size_t nbatch, bpos;
    uint32_t kth; /* the limit-th best points when the batch started, if kth_full */
    int kth_full;
    struct match_hit *top; /* ranked, best first, at most limit */
    size_t ntop;
    struct match_hub *hubs;
    size_t nhubs, hcap;
    size_t examined, visited;
    uint64_t left_out[MATCH_NVERDICTS];
    int truncated;
};

/* ---- candidates ---- */

/* Candidates are found by their local number in a plain array: locals are dense (1, 2, 3 ...
 * per store), and an array lookup is several times cheaper than hashing for the tens of
 * thousands of postings a call counts. It costs 4 bytes per entry the store holds (its records
 * take ~1.5 KB each) and is cleared entry by entry after each call. */
static int cand_slots_grow(struct match_run *r, uint64_t local) {
    if (local >= UINT32_MAX / 2)
        return HUB_E_RANGE;
    size_t want = (size_t)local + 1, cap = r->nslots ? r->nslots : 65536;
    while (cap < want)
        cap *= 2;
    uint32_t *s = realloc(r->slots, cap * sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    memset(s + r->nslots, 0, (cap - r->nslots) * sizeof *s);
    r->slots = s;
    r->nslots = cap;
    return HUB_OK;
}

/* The candidate for local, added when new; NULL when memory ran out. */
static struct match_cand *cand_get(struct match_run *r, uint64_t local) {
    if (local >= r->nslots && cand_slots_grow(r, local) != HUB_OK)
        return NULL;
    uint32_t k = r->slots[local];
    if (k)
        return &r->c[k - 1];
    struct match_cand *nc = hub_reserve(r->c, &r->ccap, r->nc + 1, sizeof *r->c, 4096);
    if (!nc)
        return NULL;
    r->c = nc;
    struct match_cand *c = &r->c[r->nc];
    memset(c, 0, sizeof *c);
    c->local = local;
    r->slots[local] = (uint32_t)++r->nc;
    return c;
}

static struct match_cand *cand_find(const struct match_run *r, uint64_t local) {
    uint32_t k = local < r->nslots ? r->slots[local] : 0;
    return k ? &r->c[k - 1] : NULL;
}

enum cand_mark { MARK_COUNTRY, MARK_MODE, MARK_LANGUAGE, MARK_OTHER };

/* What the postings of (field, value) tell of the candidates already found (none added).
 * Returns 1 when the list was complete, 0 when it was cut at max, or a negative code. */
static int cand_mark(struct match_run *r, uint64_t *buf, enum index_field field, const char *value,
                     enum cand_mark what, size_t max) {
    struct index_term t;
    index_term_make(field, value, strlen(value), &t);
    int n = store_postings(r->st, &t, buf, max);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        struct match_cand *c = cand_find(r, buf[i]);
        if (!c)
            continue;
        if (what == MARK_COUNTRY)
            c->country = 1;
        else if (what == MARK_MODE)
            c->mode = 1;
        else if (what == MARK_LANGUAGE)
            c->language = 1;
        else
            c->other = 1;
    }
    return (size_t)n < max;
}

/* For a request: country and mode from the index (the country agrees when it is the same, or
 * the offer is online), and the records of kinds not ranked, so that neither is read. */
static int cand_refine(struct match_run *r, uint64_t *buf) {
    const struct match_plan *pl = &r->plan;
    for (size_t i = 0; i < r->nc; i++) {
        r->c[i].country = pl->asks_country ? 0 : -1;
        r->c[i].mode = pl->asks_mode ? 0 : -1;
    }
    int rc, whole = 1;
    if (pl->asks_country) {
        if ((rc = cand_mark(r, buf, IDX_COUNTRY, r->q->country, MARK_COUNTRY, MATCH_MAX_POSTINGS)) <
            0)
            return rc;
        whole &= rc;
        if ((rc = cand_mark(r, buf, IDX_MODE, "online", MARK_COUNTRY, MATCH_MAX_POSTINGS)) < 0)
            return rc;
        whole &= rc;
        if (!whole) /* a list was cut: a 0 would be a guess */
            for (size_t i = 0; i < r->nc; i++)
                r->c[i].country = r->c[i].country ? 1 : -1;
    }
    if (pl->asks_mode) {
        if ((rc = cand_mark(r, buf, IDX_MODE, r->q->mode, MARK_MODE, MATCH_MAX_POSTINGS)) < 0)
            return rc;
        if (!rc)
            for (size_t i = 0; i < r->nc; i++)
                r->c[i].mode = r->c[i].mode ? 1 : -1;
    }
    /* Languages, when their postings are few next to the candidates (a language every offer
     * names, English, is not worth reading): each tag and its primary subtag, so that a mark
     * may only say too much (a 1 is checked when the record is scored; a 0 is certain). */
    for (size_t i = 0; i < r->nc; i++)
        r->c[i].language = -1;
    const char *langs[MATCH_MAX_VALUES];
    size_t nl = 0;
    for (size_t i = 0; i < r->q->n_languages && nl + 2 <= MATCH_MAX_VALUES; i++) {
        const char *l = r->q->languages[i];
        if (!l[0])
            continue;
        langs[nl++] = l;
    }
    struct index_term lt[2 * MATCH_MAX_VALUES];
    size_t nlt = 0, total = 0;
    for (size_t i = 0; i < nl; i++) {
        const char *dash = strchr(langs[i], '-');
        index_term_make(IDX_LANGUAGE, langs[i],
                        dash && dash != langs[i] ? (size_t)(dash - langs[i]) : strlen(langs[i]),
                        &lt[nlt++]);
    }
    for (size_t i = 0; i < nlt && total <= r->nc; i++) {
        size_t cnt;
        if ((rc = store_postings_count(r->st, &lt[i], &cnt)) != HUB_OK)
            return rc;
        total += cnt;
    }
    if (nlt > 0 && total <= r->nc && total <= MATCH_MAX_POSTINGS) {
        for (size_t i = 0; i < r->nc; i++)
            r->c[i].language = 0;
        for (size_t i = 0; i < nlt; i++) {
            int n = store_postings(r->st, &lt[i], buf, MATCH_MAX_POSTINGS);
            if (n < 0)
                return n;
            for (int k = 0; k < n; k++) {
                struct match_cand *c = cand_find(r, buf[k]);
                if (c)
                    c->language = 1;
            }
        }
    }
    static const char *const others[] = {"request", "endorsement", "profile"};
    for (size_t k = 0; k < HUB_ARRAY_LEN(others); k++) {
        if (k == 2 && r->want == WANT_HUBS)
            continue;
        if ((rc = cand_mark(r, buf, IDX_KIND, others[k], MARK_OTHER, MATCH_MAX_POSTINGS)) < 0)
            return rc;
    }
    return HUB_OK;
}

/* Counts the postings of (field, value) into the candidates' hits of criterion f (-1: none). */
static int cand_add_term(struct match_run *r, uint64_t *buf, enum index_field field,
                         const char *value, int f, size_t max) {
    struct index_term t;
    index_term_make(field, value, strlen(value), &t);
    int n = store_postings(r->st, &t, buf, max);
    if (n < 0)
        return n;
    if ((size_t)n == max)
        r->capped = 1;
    for (int i = 0; i < n; i++) {
        struct match_cand *c = cand_get(r, buf[i]);
        if (!c)
            return HUB_E_NOMEM;
        if (f >= 0 && c->hits[f] < UINT8_MAX)
            c->hits[f]++;
    }
    return HUB_OK;
}

static const enum index_field match_subject_index[MATCH_NSUBJECT] = {
    [MATCH_TOPICS] = IDX_TOPIC,
    [MATCH_SKILLS] = IDX_SKILL,
    [MATCH_TECHNOLOGIES] = IDX_TECHNOLOGY,
    [MATCH_SECTORS] = IDX_SECTOR,
    [MATCH_SERVICES] = IDX_SERVICE,
};

/* The subject values of the source record, per criterion. */
static size_t source_values(const struct match_run *r, int f, const char **v, size_t max) {
    if (r->q)
        return match_request_values(r->q, (enum match_field)f, v, max);
    const Hubnet__Offer *o = r->o;
    char **list = NULL;
    size_t n = 0;
    switch (f) {
    case MATCH_TOPICS:
        list = o->topics, n = o->n_topics;
        break;
    case MATCH_SKILLS:
        list = o->skills, n = o->n_skills;
        break;
    case MATCH_TECHNOLOGIES:
        list = o->technologies, n = o->n_technologies;
        break;
    case MATCH_SECTORS:
        list = o->sectors, n = o->n_sectors;
        break;
    default:
        list = o->services, n = o->n_services;
        break;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        v[k++] = list[i];
    if (f == MATCH_TOPICS && o->train_the_trainer && k < max)
        v[k++] = "train-the-trainer";
    return k;
}

static int cand_collect(struct match_run *r) {
    uint64_t *buf = r->buf;
    int rc = HUB_OK;
    size_t terms = 0;
    for (int f = 0; f < MATCH_NSUBJECT && rc == HUB_OK; f++) {
        const char *v[MATCH_MAX_VALUES];
        size_t n = source_values(r, f, v, MATCH_MAX_VALUES);
        for (size_t i = 0; i < n && rc == HUB_OK; i++) {
            if (terms++ == MATCH_MAX_TERMS) {
                r->truncated = 1;
                break;
            }
            rc = cand_add_term(r, buf, match_subject_index[f], v[i], f, MATCH_MAX_POSTINGS);
        }
    }
    const char *group = r->q ? r->q->service_group : r->o->service_group;
    if (rc == HUB_OK && terms == 0 && group[0] != '\0') {
        /* only a service group: the newest records of that group */
        rc = cand_add_term(r, buf, IDX_SERVICE_GROUP, group, -1, MATCH_SCAN_MAX);
        terms++;
    }
    if (rc == HUB_OK && terms == 0) {
        /* nothing to look up: the newest records of the kind */
        const char *kind = r->want == WANT_REQUESTS ? "request" : "offer";
        rc = cand_add_term(r, buf, IDX_KIND, kind, -1, MATCH_SCAN_MAX);
        if (rc == HUB_OK && r->want == WANT_HUBS)
            rc = cand_add_term(r, buf, IDX_KIND, "profile", -1, MATCH_SCAN_MAX);
    }
    if (rc == HUB_OK && r->q)
        rc = cand_refine(r, buf);
    return rc;
}

/* ---- scoring ---- */

/* seats_left (ISSUE10 "Derived values"), as records.c derives it for every view. */
static int64_t match_seats_left(const struct match_run *r, const struct match_hit *h) {
    struct records_seats seats;
    if (h->capacity == 0 || !r->recs)
        return MATCH_SEATS_UNLIMITED;
    /* most offers have no reply at all: one look at the replies' postings says so */
    char ref[RECORD_REF_TEXT_MAX];
    struct index_term t;
    uint64_t one;
    index_term_make(IDX_TARGET_REC, ref,
                    record_ref_text(h->author, HUBNET__KIND__KIND_OFFER, h->key, ref), &t);
    if (store_postings(r->st, &t, &one, 1) == 0)
        return h->capacity;
    if (records_offer_seats(r->recs, h->author, h->key, &seats) != HUB_OK || seats.unlimited)
        return MATCH_SEATS_UNLIMITED;
    return seats.seats_left;
}

/* Before a record is read: its dates (from the store's date table) settle the dates criterion
 * and whether the offer is past, so that a past offer, or one whose bound falls below the
 * limit-th best with its dates known, is not read at all. Requests only (offers, hubs). */
/* 0 when a candidate with these dates need not be read: past (counted), or its bound with
 * the dates criterion settled is below the limit-th best. */
static int match_dates_want(struct match_run *r, const struct match_cand *c, int32_t first,
                            int32_t last) {
    int32_t end = last ? last : first;
    if (first != 0 && end < r->today) {
        r->left_out[MATCH_PAST]++; /* only offers are left to read: see cand_refine */
        return 0;
    }
    if (r->plan.asks_dates && !match_plan_dates(&r->plan, first, last) && r->kth_full &&
        c->bound - match_weight(MATCH_DATES) * MATCH_MILLI < r->kth)
        return 0;
    return 1;
}

static int match_want_cb(uint64_t local, int32_t first, int32_t last, void *arg) {
    struct match_run *r = arg;
    r->visited++;
    struct match_ctx *ctx = r->ctx;
    if (local < ctx->ndates) {
        ctx->dates[local][0] = first + 1;
        ctx->dates[local][1] = last;
    }
    while (r->bpos < r->nbatch && r->batch[r->bpos]->local != local)
        r->bpos++;
    if (r->bpos == r->nbatch)
        return 1;
    return match_dates_want(r, r->batch[r->bpos], first, last);
}

/* Room for the dates of locals up to local in the cache (not cached when memory runs out). */
static void dates_room(struct match_ctx *ctx, uint64_t local) {
    if (local < ctx->ndates || local >= UINT32_MAX / 2)
        return;
    size_t cap = ctx->ndates ? ctx->ndates : 65536;
    while (cap <= local)
        cap *= 2;
    int32_t(*d)[2] = realloc(ctx->dates, cap * sizeof *d);
    if (!d)
        return;
    memset(d + ctx->ndates, 0, (cap - ctx->ndates) * sizeof *d);
    ctx->dates = d;
    ctx->ndates = cap;
}

/* Scores the record of entry e into h (h->res.details and h->seats_left set by the caller):
 * 0, or -1 when it is not of a kind this call ranks or does not decode. */
static int score_entry(const struct match_run *r, const struct entry *e, struct match_hit *h) {
    h->kind = e->kind;
    h->start = INT32_MAX;
    h->capacity = 0;
    if (r->want == WANT_REQUESTS) {
        if (e->kind != HUBNET__KIND__KIND_REQUEST)
            return -1;
        Hubnet__Request *q = hubnet__request__unpack(NULL, e->payload_len, e->payload);
        if (!q)
            return -1;
        match_offer(q, r->o, r->today, MATCH_SEATS_UNLIMITED, &h->res);
        if (h->res.verdict == MATCH_PAST)
            h->res.verdict = MATCH_FITS; /* the offer's dates are not the request's window */
        if (match_request_closed(q, r->today))
            h->res.verdict = MATCH_PAST;
        int32_t d;
        if (record_parse_date(q->start_date, &d) == HUB_OK)
            h->start = d;
        hubnet__request__free_unpacked(q, NULL);
    } else if (e->kind == HUBNET__KIND__KIND_OFFER) {
        Hubnet__Offer *o = hubnet__offer__unpack(NULL, e->payload_len, e->payload);
        if (!o)
            return -1;
        match_offer(r->q, o, r->today, h->seats_left, &h->res);
        h->start = match_offer_start(o);
        h->capacity = o->capacity;
        hubnet__offer__free_unpacked(o, NULL);
    } else if (e->kind == HUBNET__KIND__KIND_PROFILE && r->want == WANT_HUBS) {
        Hubnet__Profile *p = hubnet__profile__unpack(NULL, e->payload_len, e->payload);
        if (!p)
            return -1;
        match_profile(r->q, p, &h->res);
        hubnet__profile__free_unpacked(p, NULL);
    } else {
        return -1;
    }
    return 0;
}

/* An offer's cost from its payload bytes, without unpacking the whole offer (field 18, a Cost:
 * amount_minor 1, currency 2): 1 and *cost filled (currency in cur), 0 when it states none,
 * -1 when the bytes do not read as expected (the unpack then decides). */
#define MATCH_OFFER_COST_FIELD 18
static int payload_cost(const uint8_t *p, size_t len, Hubnet__Cost *cost, char *cur, size_t cap) {
    const uint8_t *end = p + len, *val;
    size_t vlen;
    int found = 0;
    while (p < end) {
        uint32_t field;
        unsigned type;
        if (pb_read_tag(&p, end, &field, &type) != HUB_OK ||
            pb_skip_value(&p, end, type, &val, &vlen) != HUB_OK)
            return -1;
        if (field != MATCH_OFFER_COST_FIELD)
            continue;
        if (type != 2 || found)
            return -1;
        found = 1;
        hubnet__cost__init(cost);
        cost->currency = cur;
        cur[0] = '\0';
        const uint8_t *q = val, *qend = val + vlen;
        while (q < qend) {
            const uint8_t *v2;
            size_t v2len;
            if (pb_read_tag(&q, qend, &field, &type) != HUB_OK)
                return -1;
            if (field == 1 && type == 0) {
                if (pb_read_varint(&q, qend, &cost->amount_minor) != HUB_OK)
                    return -1;
                continue;
            }
            if (pb_skip_value(&q, qend, type, &v2, &v2len) != HUB_OK)
                return -1;
            if (field == 2 && type == 2) {
                if (v2len >= cap)
                    return -1;
                memcpy(cur, v2, v2len);
                cur[v2len] = '\0';
            }
        }
    }
    return found;
}

/* Before unpacking an offer: its bound with dates (known by now) and budget (from its bytes)
 * settled; 0 when that is below the limit-th best, so that it need not be unpacked. */
static int match_worth_unpacking(struct match_run *r, uint64_t local, const struct entry *e) {
    if (!r->q || !r->kth_full || e->kind != HUBNET__KIND__KIND_OFFER || r->bpos >= r->nbatch ||
        r->batch[r->bpos]->local != local)
        return 1;
    uint32_t b = r->batch[r->bpos]->bound;
    struct match_ctx *ctx = r->ctx;
    if (r->plan.asks_dates && local < ctx->ndates && ctx->dates[local][0] != 0 &&
        !match_plan_dates(&r->plan, ctx->dates[local][0] - 1, ctx->dates[local][1]))
        b -= match_weight(MATCH_DATES) * MATCH_MILLI;
    if (b >= r->kth) {
        Hubnet__Cost cost;
        char cur[16];
        int has = payload_cost(e->payload, e->payload_len, &cost, cur, sizeof cur);
        if (has >= 0 && !match_budget_agrees(r->q, has ? &cost : NULL))
            b -= match_weight(MATCH_BUDGET) * MATCH_MILLI;
    }
    return b >= r->kth;
}

/* Scores one record read from the store (no store calls here: we are inside its read). */
static int match_read_cb(uint64_t local, const uint8_t *wire, size_t len, void *arg) {
    struct match_run *r = arg;
    struct entry e;
    if (entry_decode(wire, len, &e) != 0 || !e.payload || !match_worth_unpacking(r, local, &e))
        return 0;
    struct match_hit *h = &r->pending[r->npending];
    h->res.details = 0; /* the answer's records are scored again with their reasons' text */
    h->local = local;
    memcpy(h->id, e.id, 32);
    memcpy(h->author, e.author, 32);
    memcpy(h->key, e.key, sizeof h->key);
    h->seats_left = MATCH_SEATS_UNLIMITED; /* counted once it would rank: match_take */
    if (score_entry(r, &e, h) != 0)
        return 0;
    r->npending++;
    r->examined++;
    return 0;
}

static int hit_cmp(const struct match_hit *a, const struct match_hit *b) {
    return match_rank_cmp(a->res.points, a->start, a->id, b->res.points, b->start, b->id);
}

/* Keeps the best `max` of arr (sorted, best first) with h inserted. */
static void hit_insert(struct match_hit *arr, size_t *n, size_t max, const struct match_hit *h) {
    size_t i = *n;
    if (i == max) {
        if (hit_cmp(h, &arr[max - 1]) >= 0)
            return;
        i = max - 1;
    } else {
        (*n)++;
    }
    while (i > 0 && hit_cmp(h, &arr[i - 1]) < 0) {
        arr[i] = arr[i - 1];
        i--;
    }
    arr[i] = *h;
}

static int hub_cmp(const struct match_hub *a, const struct match_hub *b) {
    if (a->points != b->points)
        return a->points > b->points ? -1 : 1;
    return memcmp(a->author, b->author, 32);
}

static struct match_hub *hub_get(struct match_run *r, const uint8_t author[32]) {
    for (size_t i = 0; i < r->nhubs; i++)
        if (memcmp(r->hubs[i].author, author, 32) == 0)
            return &r->hubs[i];
    if (r->nhubs == MATCH_MAX_HUBS) {
        r->truncated = 1;
        return NULL;
    }
    struct match_hub *grown = hub_reserve(r->hubs, &r->hcap, r->nhubs + 1, sizeof *r->hubs, 16);
    if (!grown) {
        r->truncated = 1;
        return NULL;
    }
    r->hubs = grown;
    struct match_hub *h = &r->hubs[r->nhubs++];
    memset(h, 0, sizeof *h);
    memcpy(h->author, author, 32);
    return h;
}

static int points_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x == y ? 0 : x > y ? -1 : 1;
}

/* Points of the limit-th best so far: candidates bounded below it cannot rank. */
static uint32_t match_threshold(const struct match_run *r, int *full) {
    if (r->want != WANT_HUBS) {
        *full = r->ntop == r->limit;
        return *full ? r->top[r->limit - 1].res.points : 0;
    }
    if (r->nhubs < r->limit) {
        *full = 0;
        return 0;
    }
    /* the limit-th best hub's points: sorted copy of the points (at most MATCH_MAX_HUBS) */
    uint32_t pts[MATCH_MAX_HUBS];
    for (size_t i = 0; i < r->nhubs; i++)
        pts[i] = r->hubs[i].points;
    qsort(pts, r->nhubs, sizeof pts[0], points_desc);
    uint32_t best = pts[r->limit - 1];
    *full = 1;
    return best;
}

static void match_take(struct match_run *r, struct match_hit *h) {
    /* seats cost a lookup: only for an offer that would rank */
    int would_rank =
        r->want == WANT_HUBS || r->ntop < r->limit || hit_cmp(h, &r->top[r->limit - 1]) < 0;
    if (h->res.verdict == MATCH_FITS && h->kind == HUBNET__KIND__KIND_OFFER && h->capacity > 0 &&
        r->want != WANT_REQUESTS && would_rank) {
        h->seats_left = match_seats_left(r, h);
        if (h->seats_left <= 0)
            h->res.verdict = MATCH_FULL;
    }
    if (h->res.verdict != MATCH_FITS) {
        r->left_out[h->res.verdict]++;
        return;
    }
    if (r->want != WANT_HUBS) {
        hit_insert(r->top, &r->ntop, r->limit, h);
        return;
    }
    struct match_hub *hub = hub_get(r, h->author);
    if (!hub)
        return;
    if (h->kind == HUBNET__KIND__KIND_PROFILE) {
        hub->has_profile = 1;
        hub->profile = *h;
    } else {
        hit_insert(hub->offers, &hub->noffers, MATCH_HUB_OFFERS, h);
    }
    if (h->res.points > hub->points)
        hub->points = h->res.points;
}

/* Orders the candidates by bound, best first (a counting sort on buckets of MATCH_BUCKET
 * thousandths), and scores them until none left can rank. */
static int match_search(struct match_ctx *ctx, struct match_run *r) {
    const uint32_t maxb = MATCH_MAX_SCORE * MATCH_MILLI, nb = maxb / MATCH_BUCKET + 1;
    uint32_t *order = hub_reserve(ctx->order, &ctx->ocap, r->nc ? r->nc : 1, sizeof *order, 4096);
    if (!order)
        return HUB_E_NOMEM;
    ctx->order = order;
    memset(ctx->hist, 0, (nb + 1) * sizeof *ctx->hist);
    /* match_plan_bound's terms for each hits count (up to MATCH_MAX_VALUES), computed by it */
    static uint32_t part[MATCH_NSUBJECT][MATCH_MAX_VALUES + 1];
    uint32_t base = 0;
    if (r->q) {
        unsigned none[MATCH_NSUBJECT] = {0};
        base = match_plan_bound(&r->plan, none, NULL);
        for (int f = 0; f < MATCH_NSUBJECT; f++)
            for (unsigned m = 0; m <= MATCH_MAX_VALUES; m++) {
                unsigned hits[MATCH_NSUBJECT] = {0};
                hits[f] = m;
                part[f][m] = match_plan_bound(&r->plan, hits, NULL) - base;
            }
    }
    size_t nord = 0;
    for (size_t i = 0; i < r->nc; i++) {
        if (r->c[i].other)
            continue;
        nord++;
        uint32_t b = 0;
        if (r->q) {
            /* match_plan_bound(plan, hits, known), from the table */
            b = base;
            for (int f = 0; f < MATCH_NSUBJECT; f++) {
                unsigned m = r->c[i].hits[f];
                b += part[f][m < MATCH_MAX_VALUES ? m : MATCH_MAX_VALUES];
            }
            if (r->plan.asks_country && r->c[i].country == 0)
                b -= match_weight(MATCH_COUNTRY) * MATCH_MILLI;
            if (r->plan.asks_mode && r->c[i].mode == 0)
                b -= match_weight(MATCH_MODE) * MATCH_MILLI;
            if (r->plan.asks_languages && r->c[i].language == 0)
                b -= match_weight(MATCH_LANGUAGES) * MATCH_MILLI;
        } else {
            /* the reverse has no bound (each request weighs its own values): most criteria
             * hit first */
            for (int f = 0; f < MATCH_NSUBJECT; f++)
                b += r->c[i].hits[f] ? MATCH_MILLI : 0;
        }
        r->c[i].bound = b > maxb ? maxb : b;
        ctx->hist[(maxb - r->c[i].bound) / MATCH_BUCKET + 1]++;
    }
    for (uint32_t i = 1; i <= nb; i++)
        ctx->hist[i] += ctx->hist[i - 1];
    for (size_t i = 0; i < r->nc; i++)
        if (!r->c[i].other)
            order[ctx->hist[(maxb - r->c[i].bound) / MATCH_BUCKET]++] = (uint32_t)i;

    uint64_t now = hub_now_ms();
    uint64_t locals[MATCH_BATCH];
    size_t i = 0;
    int rc = HUB_OK;
    while (i < nord) {
        int full;
        uint32_t kth = match_threshold(r, &full);
        /* the highest bound the next one's bucket may hold */
        uint32_t top = maxb - (maxb - r->c[order[i]].bound) / MATCH_BUCKET * MATCH_BUCKET;
        if (r->q && full && top < kth)
            break; /* none of the rest can rank */
        r->kth = kth;
        r->kth_full = full;
        if (r->examined >= MATCH_MAX_EXAMINE || r->visited >= MATCH_MAX_VISIT) {
            r->truncated = 1;
            break;
        }
        size_t n = 0;
        while (i < nord && n < MATCH_BATCH) {
            /* in local order: neighbours in the store's trees are read together */
            const struct match_cand *c = &r->c[order[i]];
            if (r->q && full && maxb - (maxb - c->bound) / MATCH_BUCKET * MATCH_BUCKET < kth)
                break; /* the outer loop stops here */
            i++;
            if (r->q) {
                dates_room(ctx, c->local);
                if (c->local < ctx->ndates && ctx->dates[c->local][0] != 0 &&
                    !match_dates_want(r, c, ctx->dates[c->local][0] - 1, ctx->dates[c->local][1]))
                    continue; /* dates known: no need to read */
            }
            size_t k = n++;
            while (k > 0 && r->batch[k - 1]->local > c->local) {
                r->batch[k] = r->batch[k - 1];
                locals[k] = locals[k - 1];
                k--;
            }
            r->batch[k] = c;
            locals[k] = c->local;
        }
        r->nbatch = n;
        r->bpos = 0;
        r->npending = 0;
        int got =
            store_get_locals(r->st, locals, n, now, r->q ? match_want_cb : NULL, match_read_cb, r);
        if (got < 0) {
            rc = got;
            break;
        }
        for (size_t k = 0; k < r->npending; k++)
            match_take(r, &r->pending[k]);
    }
    return rc;
}

/* ---- the record named by the call ---- */

/* Resolves "ID", "ID-PREFIX" or "AUTHOR/KIND/KEY" to the record's current entry (wire copy
 * malloc'd). Errors carry a message in *msg. */
static int match_resolve(struct store *st, const char *ref, uint8_t **wire, size_t *len, char *msg,
                         size_t msglen) {
    uint8_t id[32];
    const char *slash = strchr(ref, '/');
    int rc;
    if (slash) {
        const char *slash2 = strchr(slash + 1, '/');
        char kind_s[16];
        uint8_t author[32];
        size_t kl = slash2 ? (size_t)(slash2 - slash - 1) : 0;
        char ahex[HUB_HEX_LEN + 1];
        if (slash - ref == HUB_HEX_LEN) {
            memcpy(ahex, ref, HUB_HEX_LEN);
            ahex[HUB_HEX_LEN] = '\0';
        } else {
            ahex[0] = '\0';
        }
        if (!slash2 || slash - ref != HUB_HEX_LEN || hub_unhex(ahex, author, 32) != 0 || kl == 0 ||
            kl >= sizeof kind_s || strlen(slash2 + 1) == 0 ||
            strlen(slash2 + 1) > HUB_MAX_RECORD_KEY) {
            snprintf(msg, msglen,
                     "record: expected an entry id, its first digits, or "
                     "AUTHOR/KIND/KEY (AUTHOR: 64 hex digits)");
            return HUB_E_RANGE;
        }
        memcpy(kind_s, slash + 1, kl);
        kind_s[kl] = '\0';
        int kind = entry_kind_parse(kind_s);
        if (kind < 0) {
            snprintf(msg, msglen, "record: unknown kind '%.15s'", kind_s);
            return HUB_E_KIND;
        }
        rc = store_record_current(st, author, kind, slash2 + 1, id);
        if (rc != 0) {
            snprintf(msg, msglen, "no current record %.200s", ref);
            return rc;
        }
    } else {
        size_t hl = strlen(ref);
        uint8_t pre[32] = {0};
        char hex[HUB_HEX_LEN + 1];
        if (hl < MATCH_MIN_ID_PREFIX || hl > HUB_HEX_LEN ||
            snprintf(hex, sizeof hex, "%s%s", ref, hl % 2 ? "0" : "") < 0 ||
            hub_unhex(hex, pre, strlen(hex) / 2) != 0) {
            snprintf(msg, msglen,
                     "record: expected an entry id, at least %d of its first hex "
                     "digits, or AUTHOR/KIND/KEY",
                     MATCH_MIN_ID_PREFIX);
            return HUB_E_RANGE;
        }
        if (hl == HUB_HEX_LEN) {
            memcpy(id, pre, 32);
        } else if ((rc = store_resolve_id(st, pre, hl, id)) != 0) {
            snprintf(msg, msglen,
                     rc == HUB_E_RANGE ? "record: %.63s is the start of several entry ids"
                                       : "no entry id starts with %.63s",
                     ref);
            return rc;
        }
    }
    if ((rc = store_get(st, id, wire, len)) != 0) {
        snprintf(msg, msglen, "no entry %.64s", ref);
        return rc;
    }
    /* an older version names its record: match its current version */
    struct entry e;
    if (entry_decode(*wire, *len, &e) != 0) {
        free(*wire);
        snprintf(msg, msglen, "stored entry does not decode");
        return HUB_E_INTERNAL;
    }
    uint8_t cur[32];
    if (store_record_current(st, e.author, e.kind, e.key, cur) != 0) {
        free(*wire);
        snprintf(msg, msglen, "record %.200s is retracted or expired", ref);
        return HUB_E_NOT_FOUND;
    }
    if (memcmp(cur, e.id, 32) != 0) {
        free(*wire);
        if ((rc = store_get(st, cur, wire, len)) != 0) {
            snprintf(msg, msglen, "no current version of %.64s", ref);
            return rc;
        }
    }
    return HUB_OK;
}

/* ---- the answer ---- */

/* A reason list as JSON text: [{"field","points","weight","detail"}, ...] of one side. */
static void reasons_write(struct jbuf *b, const struct match_result *res, int agree) {
    jbuf_lit(b, "[");
    for (size_t i = 0; i < res->nreasons; i++) {
        const struct match_reason *m = &res->reasons[i];
        if (m->agree != agree)
            continue;
        jbuf_sep(b);
        jbuf_lit(b, "{\"field\":");
        jbuf_cstr(b, match_field_name(m->field));
        jbuf_key(b, "points");
        jbuf_real(b, round((double)m->points / 100.0) / 10.0); /* one decimal */
        jbuf_key(b, "weight");
        jbuf_u64(b, match_weight(m->field));
        jbuf_key(b, "detail");
        jbuf_cstr(b, m->detail);
        jbuf_lit(b, "}");
    }
    jbuf_lit(b, "]");
}

static void score_write(struct jbuf *b, uint32_t points) {
    jbuf_key(b, "score");
    jbuf_real(b, round((double)points / 100.0) / 10.0);
    jbuf_key(b, "points");
    jbuf_u64(b, points);
}

/* ,"author":..,"author_name":..,"author_country":.. (null when the hub holds no profile) */
static void author_write(struct jbuf *b, struct records *recs, const uint8_t author[32]) {
    char name[RECORDS_MAX_HUB_NAME + 1] = "", country[8] = "";
    if (recs && records_author_name(recs, author, name, country) != HUB_OK)
        name[0] = country[0] = '\0';
    jbuf_key(b, "author");
    jbuf_hex(b, author, 32);
    jbuf_key(b, "author_name");
    if (name[0])
        jbuf_cstr(b, name);
    else
        jbuf_lit(b, "null");
    jbuf_key(b, "author_country");
    if (country[0])
        jbuf_cstr(b, country);
    else
        jbuf_lit(b, "null");
}

/* An answer's record: scored again, now with the reasons' text (the same points: scoring is a
 * function of the records), and a copy of its wire bytes for its view. */
struct finish {
    const struct match_run *r;
    struct match_hit *h;
    uint8_t *wire;
    size_t len;
};

static int finish_cb(uint64_t local, const uint8_t *wire, size_t len, void *arg) {
    (void)local;
    struct finish *f = arg;
    struct entry e;
    if (entry_decode(wire, len, &e) != 0 || !e.payload)
        return 1;
    f->h->res.details = 1;
    if (score_entry(f->r, &e, f->h) != 0)
        return 1;
    if ((f->wire = malloc(len)) != NULL) {
        memcpy(f->wire, wire, len);
        f->len = len;
    }
    return 1;
}

static void hit_write(struct jbuf *b, struct match_run *r, struct records *recs,
                      struct match_hit *h) {
    struct finish f = {r, h, NULL, 0};
    if (store_get_locals(r->st, &h->local, 1, hub_now_ms(), NULL, finish_cb, &f) < 0)
        f.wire = NULL; /* changed since: shown with what the search found */
    jbuf_lit(b, "{\"id\":");
    jbuf_hex(b, h->id, 32);
    jbuf_key(b, "kind");
    jbuf_cstr(b, entry_kind_name(h->kind));
    score_write(b, h->res.points);
    author_write(b, recs, h->author);
    if (h->kind == HUBNET__KIND__KIND_OFFER && r->want != WANT_REQUESTS) {
        jbuf_key(b, "seats_left");
        if (h->seats_left == MATCH_SEATS_UNLIMITED)
            jbuf_lit(b, "null");
        else
            jbuf_i64(b, h->seats_left);
    }
    jbuf_key(b, "agreed");
    reasons_write(b, &h->res, 1);
    jbuf_key(b, "differed");
    reasons_write(b, &h->res, 0);
    if (f.wire) {
        size_t mark = b->len;
        jbuf_key(b, "entry");
        int rc =
            recs ? records_write_view(recs, b, f.wire, f.len) : view_write_wire(b, f.wire, f.len);
        if (rc != 0 && !b->oom) {
            b->len = mark; /* leave out a view that does not decode */
            b->p[mark] = '\0';
        }
        free(f.wire);
    }
    jbuf_lit(b, "}");
}

static void hub_write(struct jbuf *b, struct match_run *r, struct records *recs,
                      struct match_hub *h) {
    jbuf_lit(b, "{");
    author_write(b, recs, h->author);
    score_write(b, h->points);
    if (h->has_profile) {
        struct finish f = {r, &h->profile, NULL, 0};
        if (store_get_locals(r->st, &h->profile.local, 1, hub_now_ms(), NULL, finish_cb, &f) >= 0)
            free(f.wire);
        jbuf_key(b, "profile");
        jbuf_lit(b, "{\"id\":");
        jbuf_hex(b, h->profile.id, 32);
        score_write(b, h->profile.res.points);
        jbuf_key(b, "agreed");
        reasons_write(b, &h->profile.res, 1);
        jbuf_key(b, "differed");
        reasons_write(b, &h->profile.res, 0);
        jbuf_lit(b, "}");
    }
    jbuf_key(b, "offers");
    jbuf_lit(b, "[");
    for (size_t i = 0; i < h->noffers; i++) {
        jbuf_sep(b);
        hit_write(b, r, recs, &h->offers[i]);
    }
    jbuf_lit(b, "]}");
}

static int hubs_sort_cmp(const void *a, const void *b) {
    return hub_cmp(a, b);
}

static struct match_ctx match_ctx;

__attribute__((format(printf, 6, 7))) static int
call_fail(int rc, char *field, size_t field_len, const char *f, char *msg, const char *fmt, ...);
static int call_fail(int rc, char *field, size_t field_len, const char *f, char *msg,
                     const char *fmt, ...) {
    snprintf(field, field_len, "%s", f ? f : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, MATCH_MSG_LEN, fmt, ap);
    va_end(ap);
    return rc;
}

int match_call(json_t *req, struct jbuf *b, char *field, size_t field_len, char *msg,
               size_t msg_len) {
    struct match_ctx *ctx = &match_ctx;
    if (msg_len < MATCH_MSG_LEN || field_len == 0)
        return HUB_E_INTERNAL;
    field[0] = msg[0] = '\0';
    if (!ctx->node)
        return call_fail(HUB_E_UNKNOWN_OP, field, field_len, "op", msg, "unknown op 'match'");
    struct store *st = node_store(ctx->node);
    json_t *ref = json_object_get(req, "record");
    if (!json_is_string(ref))
        return call_fail(ref ? HUB_E_TYPE : HUB_E_BAD_REQUEST, field, field_len, "record", msg,
                         "record: %s", ref ? "expected a string" : "missing");
    int want_hubs = 0, want_requests = 0;
    static const char *const flags[] = {"hubs", "requests"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(req, flags[i]);
        if (v && !json_is_boolean(v))
            return call_fail(HUB_E_TYPE, field, field_len, flags[i], msg,
                             "%s: expected true or false", flags[i]);
        *(i ? &want_requests : &want_hubs) = json_is_true(v);
    }
    size_t limit = MATCH_DEFAULT_LIMIT;
    json_t *lim = json_object_get(req, "limit");
    if (lim) {
        if (!json_is_integer(lim))
            return call_fail(HUB_E_TYPE, field, field_len, "limit", msg,
                             "limit: expected an integer");
        if (json_integer_value(lim) < 1 || json_integer_value(lim) > MATCH_MAX_LIMIT)
            return call_fail(HUB_E_RANGE, field, field_len, "limit", msg, "limit: 1 to %d",
                             MATCH_MAX_LIMIT);
        limit = (size_t)json_integer_value(lim);
    }
    uint8_t *wire = NULL;
    size_t len;
    int rc = match_resolve(st, json_string_value(ref), &wire, &len, msg, MATCH_MSG_LEN);
    if (rc != 0)
        return call_fail(rc, field, field_len, "record", msg, "%s", msg);
    struct entry e;
    if (entry_decode(wire, len, &e) != 0 || !e.payload) {
        free(wire);
        return call_fail(HUB_E_NOT_FOUND, field, field_len, "record", msg,
                         "the record has no payload (purged)");
    }
    struct match_run r = {
        .st = st, .limit = limit, .today = (int32_t)(hub_now_ms() / MATCH_MS_PER_DAY)};
    Hubnet__Request *q = NULL;
    Hubnet__Offer *o = NULL;
    if (e.kind == HUBNET__KIND__KIND_REQUEST && !want_requests) {
        r.want = want_hubs ? WANT_HUBS : WANT_OFFERS;
        q = hubnet__request__unpack(NULL, e.payload_len, e.payload);
        r.q = q;
    } else if (e.kind == HUBNET__KIND__KIND_OFFER && !want_hubs) {
        r.want = WANT_REQUESTS;
        o = hubnet__offer__unpack(NULL, e.payload_len, e.payload);
        r.o = o;
    } else {
        int k = e.kind;
        free(wire);
        return call_fail(HUB_E_KIND, field, field_len, "record", msg, "%s",
                         k == HUBNET__KIND__KIND_REQUEST
                             ? "record is a request: match ranks the offers (or, with hubs, "
                               "the hubs) that fit it; requests is for an offer"
                         : k == HUBNET__KIND__KIND_OFFER
                             ? "record is an offer: match ranks the open requests it could "
                               "serve; hubs is for a request"
                             : "match takes a request or an offer");
    }
    if (!q && !o) {
        free(wire);
        return call_fail(HUB_E_DECODE, field, field_len, "record", msg,
                         "the record does not decode");
    }
    if (q)
        match_plan_init(q, &r.plan);
    r.buf = ctx->buf;
    r.c = ctx->c;
    r.ccap = ctx->ccap;
    r.slots = ctx->slots;
    r.nslots = ctx->nslots;
    r.pending = ctx->pending;
    r.top = ctx->top;
    r.recs = ctx->recs;
    r.ctx = ctx;
    rc = cand_collect(&r);
    if (rc == HUB_OK)
        rc = match_search(ctx, &r);
    if (rc != HUB_OK) {
        call_fail(rc, field, field_len, NULL, msg, "%s", hub_strmsg(rc));
        goto done;
    }
    jbuf_lit(b, "{\"ok\":true,\"record\":{\"id\":");
    jbuf_hex(b, e.id, 32);
    jbuf_key(b, "kind");
    jbuf_cstr(b, entry_kind_name(e.kind));
    jbuf_key(b, "key");
    jbuf_cstr(b, e.key);
    jbuf_lit(b, "}");
    jbuf_key(b, "want");
    jbuf_cstr(b, r.want == WANT_HUBS ? "hubs" : r.want == WANT_REQUESTS ? "requests" : "offers");
    jbuf_key(b, "results");
    jbuf_lit(b, "[");
    size_t count = 0;
    if (r.want == WANT_HUBS) {
        qsort(r.hubs, r.nhubs, sizeof *r.hubs, hubs_sort_cmp);
        for (; count < r.nhubs && count < limit; count++) {
            jbuf_sep(b);
            hub_write(b, &r, ctx->recs, &r.hubs[count]);
        }
    } else {
        for (; count < r.ntop; count++) {
            jbuf_sep(b);
            hit_write(b, &r, ctx->recs, &r.top[count]);
        }
    }
    jbuf_lit(b, "]");
    jbuf_key(b, "count");
    jbuf_u64(b, count);
    jbuf_key(b, "left_out");
    jbuf_lit(b, "{");
    for (int v = 1; v < MATCH_NVERDICTS; v++) {
        jbuf_sep(b);
        jbuf_cstr(b, match_verdict_name((enum match_verdict)v));
        jbuf_lit(b, ":");
        jbuf_u64(b, r.left_out[v]);
    }
    jbuf_lit(b, "}");
    jbuf_key(b, "candidates");
    jbuf_u64(b, r.nc);
    jbuf_key(b, "visited");
    jbuf_u64(b, r.visited);
    jbuf_key(b, "examined");
    jbuf_u64(b, r.examined);
    jbuf_key(b, "truncated");
    if (r.truncated || r.capped)
        jbuf_lit(b, "true");
    else
        jbuf_lit(b, "false");
done:
    free(r.hubs);
    ctx->c = r.c; /* kept for the next call */
    ctx->ccap = r.ccap;
    for (size_t i = 0; i < r.nc; i++)
        r.slots[r.c[i].local] = 0; /* all 0 again for the next call */
    ctx->slots = r.slots;
    ctx->nslots = r.nslots;
    if (q)
        hubnet__request__free_unpacked(q, NULL);
    if (o)
        hubnet__offer__free_unpacked(o, NULL);
    free(wire);
    return rc;
}

int match_init(struct node *n, struct records *recs) {
    struct match_ctx *ctx = &match_ctx;
    if (!ctx->hist) {
        ctx->hist = calloc(MATCH_MAX_SCORE * MATCH_MILLI / MATCH_BUCKET + 2, sizeof *ctx->hist);
        ctx->buf = malloc(MATCH_MAX_POSTINGS * sizeof *ctx->buf);
        ctx->pending = malloc(MATCH_BATCH * sizeof *ctx->pending);
        ctx->top = malloc(MATCH_MAX_LIMIT * sizeof *ctx->top);
        if (!ctx->hist || !ctx->buf || !ctx->pending || !ctx->top)
            return HUB_E_NOMEM;
    }
    ctx->node = n;
    ctx->recs = recs;
    return HUB_OK;
}
