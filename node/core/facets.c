/* facets.c: value counts of a query's matches (control call `facets`, CONTROL.md; facets.h).
 *
 * Each match's payload is read field by field from its protobuf wire bytes (no unpacking, no
 * allocation per record but for a value seen the first time): the fields counted are few
 * strings and one number per kind, listed in facet_fields. Counts go into one small hash table
 * per facet, at most FACETS_MAX_VALUES distinct values each (more: counted as "other"), so the
 * work and memory of a call are bounded by FACETS_SCAN_MAX records whatever the catalogue. */
#include "facets.h"

#include "entry.h"
#include "hub.h"
#include "jbuf.h"
#include "pbcheck.h"
#include "records.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Facets, by the names of the query filters a page sets with them. */
enum facet_id {
    F_KIND,
    F_COUNTRY,
    F_LANGUAGE,
    F_TOPIC,
    F_TECHNOLOGY,
    F_SECTOR,
    F_SERVICE,
    F_MODE,
    F_TYPE,  /* offers' opportunity_type (query filter opportunity_type) */
    F_START, /* YYYY-MM of start_date */
    F_SEATS, /* "left": offers with a seat left (query has_seats) */
    F_COUNT
};
static const char *const facet_names[F_COUNT] = {"kind",       "country", "language", "topic",
                                                 "technology", "sector",  "service",  "mode",
                                                 "type",       "start",   "seats"};

/* Payload fields counted: kind (entry kind number), protobuf field number, facet. */
#define FIELD_CAPACITY (-1) /* an offer's capacity: a number, for the seats facet */
static const struct {
    int kind, field, facet;
} facet_fields[] = {
    /* Profile (1) */
    {1, 3, F_COUNTRY},
    {1, 7, F_TECHNOLOGY},
    {1, 8, F_SECTOR},
    {1, 9, F_SERVICE},
    {1, 10, F_LANGUAGE},
    {1, 11, F_TOPIC},
    /* Offer (2) */
    {2, 3, F_TOPIC},
    {2, 4, F_TECHNOLOGY},
    {2, 5, F_SECTOR},
    {2, 6, F_SERVICE},
    {2, 8, F_LANGUAGE},
    {2, 9, F_MODE},
    {2, 10, F_TYPE},
    {2, 12, F_COUNTRY},
    {2, 14, F_START},
    {2, 17, FIELD_CAPACITY},
    /* Request (3) */
    {3, 3, F_TOPIC},
    {3, 4, F_TECHNOLOGY},
    {3, 5, F_SECTOR},
    {3, 6, F_SERVICE},
    {3, 8, F_LANGUAGE},
    {3, 9, F_MODE},
    {3, 10, F_COUNTRY},
    {3, 12, F_START},
};

#define FACET_SLOTS (FACETS_MAX_VALUES * 2) /* open addressing, at most half full */
#define FACET_VALUE_MAX 128                 /* longest value counted (a vocabulary label's cap) */

struct facet_value {
    char *s; /* NULL: free slot */
    uint32_t len;
    uint64_t count;
};

struct facet {
    struct facet_value slot[FACET_SLOTS];
    size_t nvalues;
    uint64_t other; /* values beyond FACETS_MAX_VALUES */
};

/* An offer with a capacity: its seats are counted after the walk (they read the store). Of
 * its payload only the capacity matters to records_offer_seats_payload's full/not full: it is
 * kept as a payload of that one field (tag and varint), not as a copy of the whole record. */
#define FACET_CAP_PAYLOAD 12
struct facet_offer {
    uint8_t author[32];
    char key[HUB_MAX_RECORD_KEY + 1];
    uint8_t payload[FACET_CAP_PAYLOAD];
    size_t len;
};

struct facets {
    struct facet f[F_COUNT];
    uint64_t total;
    struct facet_offer *offers;
    size_t noffers, cap_offers;
    int oom;
};

/* facet_fields as a table by kind and field number (filled once; -2: not counted) */
#define FACET_MAX_FIELD 32
static signed char facet_table[4][FACET_MAX_FIELD];
static pthread_once_t facet_table_once = PTHREAD_ONCE_INIT;

static void facet_table_fill(void) {
    memset(facet_table, -2, sizeof facet_table);
    for (size_t i = 0; i < HUB_ARRAY_LEN(facet_fields); i++)
        facet_table[facet_fields[i].kind][facet_fields[i].field] =
            (signed char)facet_fields[i].facet;
}

static int facet_field(int kind, int field) {
    if (kind < 1 || kind > 3 || field < 0 || field >= FACET_MAX_FIELD)
        return -2;
    return facet_table[kind][field];
}

struct facets *facets_new(void) {
    pthread_once(&facet_table_once, facet_table_fill);
    return calloc(1, sizeof(struct facets));
}

void facets_destroy(struct facets **fp) {
    struct facets *f = fp ? *fp : NULL;
    if (f == NULL)
        return;
    for (size_t i = 0; i < F_COUNT; i++)
        for (size_t j = 0; j < FACET_SLOTS; j++)
            free(f->f[i].slot[j].s);
    free(f->offers);
    free(f);
    *fp = NULL;
}

static uint64_t facet_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int facet_count(struct facet *fc, const char *s, size_t n) {
    if (n == 0 || n > FACET_VALUE_MAX)
        return 0;
    size_t i = (size_t)(facet_hash(s, n) % FACET_SLOTS);
    for (;;) {
        struct facet_value *v = &fc->slot[i];
        if (v->s == NULL)
            break;
        if (v->len == n && memcmp(v->s, s, n) == 0) {
            v->count++;
            return 0;
        }
        i = (i + 1) % FACET_SLOTS;
    }
    if (fc->nvalues >= FACETS_MAX_VALUES) {
        fc->other++;
        return 0;
    }
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return HUB_E_NOMEM;
    memcpy(copy, s, n);
    copy[n] = '\0';
    fc->slot[i].s = copy;
    fc->slot[i].len = (uint32_t)n;
    fc->slot[i].count = 1;
    fc->nvalues++;
    return 0;
}

/* The YYYY-MM of a start_date (a foreign record's field is checked only for its length and
 * characters, PROTOCOL.md 7.1: anything but digits where a date has them is not counted). */
static int facet_month(struct facets *f, const uint8_t *p, size_t len) {
    if (len != 10)
        return 0;
    for (size_t i = 0; i < 7; i++)
        if (i == 4 ? p[i] != '-' : (p[i] < '0' || p[i] > '9'))
            return 0;
    return facet_count(&f->f[F_START], (const char *)p, 7);
}

static int facet_keep_offer(struct facets *f, const struct entry *e, uint64_t capacity) {
    struct facet_offer *o;
    if (f->noffers == f->cap_offers) {
        size_t cap = f->cap_offers ? f->cap_offers * 2 : 64;
        o = realloc(f->offers, cap * sizeof *o);
        if (o == NULL)
            return HUB_E_NOMEM;
        f->offers = o;
        f->cap_offers = cap;
    }
    o = &f->offers[f->noffers];
    o->len = 0;
    o->payload[o->len++] = (uint8_t)(((17 << 3) & 0x7f) | 0x80); /* field 17 (capacity), varint */
    o->payload[o->len++] = (uint8_t)((17 << 3) >> 7);
    do { /* capacity is a uint32: at most 5 bytes */
        uint8_t b = capacity & 0x7f;
        capacity >>= 7;
        o->payload[o->len++] = b | (capacity ? 0x80 : 0);
    } while (capacity && o->len < FACET_CAP_PAYLOAD);
    memcpy(o->author, e->author, 32);
    memcpy(o->key, e->key, sizeof o->key);
    f->noffers++;
    return 0;
}

int facets_add(struct facets *f, const struct entry *e) {
    const char *kn = entry_kind_name(e->kind);
    const uint8_t *p = e->payload, *end = e->payload + e->payload_len;
    uint64_t capacity = 0;
    int rc = 0;

    f->total++;
    if (kn != NULL)
        rc = facet_count(&f->f[F_KIND], kn, strlen(kn));
    if (e->payload == NULL)
        return rc;
    /* Field by field; malformed bytes end the walk (stored payloads were checked on arrival,
     * so this only guards the counting). */
    while (rc == 0 && p < end) {
        uint64_t tag, len;
        if (pb_read_varint(&p, end, &tag) != 0)
            break;
        int field = (int)(tag >> 3), wt = (int)(tag & 7);
        int facet = facet_field(e->kind, field);
        if (wt == 0) {
            uint64_t v;
            if (pb_read_varint(&p, end, &v) != 0)
                break;
            if (facet == FIELD_CAPACITY)
                capacity = v;
        } else if (wt == 2) {
            if (pb_read_varint(&p, end, &len) != 0 || len > (uint64_t)(end - p))
                break;
            if (facet == F_START)
                rc = facet_month(f, p, (size_t)len);
            else if (facet >= 0)
                rc = facet_count(&f->f[facet], (const char *)p, (size_t)len);
            p += len;
        } else if (wt == 1) {
            if (end - p < 8)
                break;
            p += 8;
        } else if (wt == 5) {
            if (end - p < 4)
                break;
            p += 4;
        } else {
            break;
        }
    }
    if (rc == 0 && e->kind == 2) {
        if (capacity == 0) /* unlimited: always a seat left */
            rc = facet_count(&f->f[F_SEATS], "left", 4);
        else
            rc = facet_keep_offer(f, e, capacity);
    }
    if (rc != 0)
        f->oom = 1;
    return rc;
}

int facets_seats(struct facets *f, struct records *r) {
    for (size_t i = 0; i < f->noffers; i++) {
        struct records_seats st;
        struct facet_offer *o = &f->offers[i];
        if (r == NULL ||
            records_offer_seats_payload(r, o->author, o->key, o->payload, o->len, &st) != 0 ||
            !st.full) {
            /* Without the records module seats are unknown: counted as left, as has_seats
             * without it would keep them. */
            if (facet_count(&f->f[F_SEATS], "left", 4) != 0)
                return HUB_E_NOMEM;
        }
    }
    return f->oom ? HUB_E_NOMEM : 0;
}

static int facet_cmp(const void *a, const void *b) {
    const struct facet_value *x = *(const struct facet_value *const *)a;
    const struct facet_value *y = *(const struct facet_value *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->s, y->s);
}

void facets_write(const struct facets *f, struct jbuf *b, int complete, size_t top) {
    const struct facet_value *list[FACETS_MAX_VALUES];

    jbuf_key(b, "total");
    jbuf_u64(b, f->total);
    jbuf_key(b, "complete");
    if (complete)
        jbuf_lit(b, "true");
    else
        jbuf_lit(b, "false");
    jbuf_key(b, "facets");
    jbuf_lit(b, "{");
    for (size_t i = 0; i < F_COUNT; i++) {
        const struct facet *fc = &f->f[i];
        size_t n = 0;
        for (size_t j = 0; j < FACET_SLOTS && n < FACETS_MAX_VALUES; j++)
            if (fc->slot[j].s != NULL)
                list[n++] = &fc->slot[j];
        qsort(list, n, sizeof list[0], facet_cmp);
        jbuf_key(b, facet_names[i]);
        jbuf_lit(b, "[");
        for (size_t j = 0; j < n && j < top; j++) {
            jbuf_sep(b);
            jbuf_lit(b, "[");
            jbuf_str(b, list[j]->s, list[j]->len);
            jbuf_lit(b, ",");
            jbuf_u64(b, list[j]->count);
            jbuf_lit(b, "]");
        }
        jbuf_lit(b, "]");
    }
    jbuf_lit(b, "}");
}
