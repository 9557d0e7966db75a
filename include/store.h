/* store.h: the LMDB store. Only store.c includes <lmdb.h>; nothing above it sees an MDB_* code.
 * One environment per hub, one writer (the main loop), one write transaction per batch. */
#ifndef HUB_STORE_H
#define HUB_STORE_H

#include "entry.h"
#include "hub.h"
#include "record.h"
#include <stddef.h>
#include <stdint.h>

struct store;

/* 4: responses indexed by the record they answer (IDX_TARGET_REC, IDX_TARGET_AUTHOR,
 * IDX_RTYPE), offers and requests by service group and based_on (record.h), and the
 * reply_seen table: a schema-3 store lacks those terms, so its inbox would miss old replies. */
#define STORE_SCHEMA_VERSION 4

int store_open(const char *dir, uint64_t max_map_bytes, struct store **out) HUB_WUR;
void store_destroy(struct store **s);

/* One entry to append. The caller has decoded and verified it (entry_verify) and computed its
 * index terms; the store checks the chain (seq, prev, forks) and applies record semantics. */
struct store_item {
    const struct entry *e;
    const struct index_term *terms; /* for record kinds; ignored for retractions */
    size_t nterms;
    int32_t date_start, date_end; /* days since epoch, 0 = none */
    int retract_kind;             /* for KIND_RETRACTION: the withdrawn record */
    const char *retract_key;
    /* out */
    int result;     /* HUB_OK, E_DUPLICATE, E_GAP, E_SEQ, E_PREV, E_FORK,
                       E_FORKED_FEED, E_TIMESTAMP */
    uint64_t local; /* local number when stored */
};

/* Append a batch in one write transaction; per-item outcome in items[i].result. Items of one
 * feed may follow each other in the batch. Returns 0, or E_DISK_FULL / E_IO / E_INTERNAL when
 * the transaction failed: then nothing of the batch was stored. Grows the map when it fills. */
int store_append(struct store *s, struct store_item *items, size_t n) HUB_WUR;
/* After E_DISK_FULL: why, with the numbers (free bytes on the data dir's filesystem and what
 * the write needed, or the map at max_map_size), for the client. */
void store_full_detail(struct store *s, char *out, size_t len);

/* Called before items[i] is appended, in order, inside the write transaction: lets the caller
 * finish an item while the ones before it are stored (signature checks in another thread).
 * Returns 0 to append items[i] (the callback may fill it in first), or the code to give it
 * instead, or STORE_READY_ABORT to abandon the whole batch (nothing stored; the call returns
 * HUB_E_INTERNAL and the caller knows why). May be called again for the same i if the batch is
 * retried (map growth). */
#define STORE_READY_ABORT 1
typedef int (*store_ready_fn)(void *arg, size_t i);
/* flags: STORE_BULK for a batch that is part of a longer transfer (catch-up): its index
 * postings are written directly, whatever its size (see store.c). */
#define STORE_BULK 1u
int store_append_ready(struct store *s, struct store_item *items, size_t n, store_ready_fn ready,
                       void *arg, unsigned flags) HUB_WUR;

/* Batches of at least direct_min items write the index directly; smaller ones go to the
 * in-memory tail, merged into the index chunk records at a time once it holds tail_max
 * records, or idle_min when the hub is idle (see store.c). For tests, which exercise both
 * paths and the merges with few records. */
void store_set_tail_limits(struct store *s, size_t direct_min, size_t tail_max, size_t chunk,
                           size_t idle_min);
/* For a hub with nothing to write for a while: merges one chunk of the tail into the index
 * (a write transaction of ~0.1 s) when more than idle_min records wait there. 1 if it merged (call
 * again later), 0 if there was nothing worth merging or the merge failed (logged). */
int store_maintain(struct store *s);

struct feed_head {
    uint8_t author[32];
    uint64_t seq; /* 0: nothing held */
    uint8_t id[32];
    uint64_t timestamp;
    int forked;
};
int store_feed_head(struct store *s, const uint8_t author[32], struct feed_head *out) HUB_WUR;
/* Calls cb for each feed in author order; a non-zero return from cb stops and is returned. */
int store_feeds(struct store *s, int (*cb)(const struct feed_head *h, void *arg), void *arg);

/* For each entry (NULL: none), the size of the held wire bytes of the same id, or 0 when not
 * held (one read transaction). */
int store_held_sizes(struct store *s, const struct entry *const *es, size_t n,
                     size_t *sizes) HUB_WUR;
/* Wire bytes of an entry by id, malloc'd copy. E_NOT_FOUND. */
int store_get(struct store *s, const uint8_t id[32], uint8_t **wire, size_t *len) HUB_WUR;
/* The id of the one entry whose id starts with the given hex digits (nibbles of them, from the
 * high half of prefix[0] on): HUB_OK, HUB_E_NOT_FOUND, or HUB_E_RANGE when several match. */
int store_resolve_id(struct store *s, const uint8_t *prefix, size_t nibbles,
                     uint8_t out[32]) HUB_WUR;
/* Entries of a feed from seq `from`, at most max_count entries and about max_bytes; cb sees
 * bytes valid only during the call. Returns the number of entries visited or a negative code. */
int store_feed_range(struct store *s, const uint8_t author[32], uint64_t from, size_t max_count,
                     size_t max_bytes, int (*cb)(const uint8_t *wire, size_t len, void *arg),
                     void *arg);

struct store_query {
    const struct index_term *terms; /* all must match; none: every current record */
    size_t nterms;
    uint64_t cursor;            /* 0, or the next_cursor of the previous page */
    int32_t date_from, date_to; /* days since epoch; 0 = open; matches records overlapping */
    uint64_t now_ms;            /* records expired at now_ms are hidden */
    size_t limit;
};
/* A store_query callback's return for an entry it leaves out (filtered): not counted in the
 * limit, the walk goes on. Any other non-zero return stops the walk. */
#define STORE_QUERY_SKIP 2
/* Current records matching q, newest first; cb sees bytes valid only during the call.
 * *next_cursor is 0 when there is no further page. Returns the count or a negative code. */
int store_query(struct store *s, const struct store_query *q,
                int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                uint64_t *next_cursor);

/* Postings of one term (its current records' local numbers), newest first, at most max into
 * out: the index and the in-memory tail together. Returns the count or a negative code. */
int store_postings(struct store *s, const struct index_term *t, uint64_t *out, size_t max);
/* How many postings a term has (index and tail), without reading them. */
int store_postings_count(struct store *s, const struct index_term *t, size_t *count) HUB_WUR;
/* For each local number in order, the wire bytes of its record when it is still current,
 * visible and not expired at now_ms (else skipped), in one read transaction: first want (when
 * not NULL) sees the record's dates from the live table (days, 0 = none) and returns 0 to
 * skip it unread; then cb sees bytes valid only during the call. Neither may call the store;
 * a non-zero return from cb stops. Returns the number of records passed to cb, or a negative
 * code. */
int store_get_locals(struct store *s, const uint64_t *locals, size_t n, uint64_t now_ms,
                     int (*want)(uint64_t local, int32_t first, int32_t last, void *arg),
                     int (*cb)(uint64_t local, const uint8_t *wire, size_t len, void *arg),
                     void *arg);

/* All versions of record (author, kind, key), oldest first; purged ones have no payload. */
int store_versions(struct store *s, const uint8_t author[32], int kind, const char *key,
                   int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg);

/* Current version of a record: its entry id, or E_NOT_FOUND (also when retracted). */
int store_record_current(struct store *s, const uint8_t author[32], int kind, const char *key,
                         uint8_t id[32]) HUB_WUR;

/* Hide and purge records whose current version expired at now_ms; up to max per call. */
int store_sweep_expired(struct store *s, uint64_t now_ms, size_t max, size_t *purged) HUB_WUR;

/* The local seen state of replies (records.c's inbox): every row, in id order; cb returns
 * non-zero to stop. Returns the count or a negative code. */
int store_seen_load(struct store *s, int (*cb)(const uint8_t id[32], uint64_t ms, void *arg),
                    void *arg);
/* Marks replies seen at ms, in one write transaction. E_DISK_FULL, E_IO. */
int store_seen_mark(struct store *s, const uint8_t (*ids)[32], size_t n, uint64_t ms) HUB_WUR;

struct store_fork {
    uint8_t author[32];
    uint64_t seq;
    uint8_t held_id[32];
    uint8_t other_id[32];
    uint64_t detected_ms;
};
int store_forks(struct store *s, int (*cb)(const struct store_fork *f, void *arg), void *arg);
/* The evidence of an author's first fork: its seq and a malloc'd copy of the other entry's wire
 * bytes (the held one is the feed's entry at that seq). E_NOT_FOUND if the feed has none. */
int store_fork_get(struct store *s, const uint8_t author[32], uint64_t *seq, uint8_t **other,
                   size_t *len) HUB_WUR;

struct store_stats {
    uint64_t entries, records, feeds, forks;
    uint64_t map_size, used_bytes;
    uint64_t index_tail; /* records indexed in memory, waiting to be merged into the index */
};
int store_stats(struct store *s, struct store_stats *out) HUB_WUR;

#endif
