/* store.h: the LMDB store. Only its files (store*.c) include <lmdb.h>; nothing above them sees
 * an MDB_* code.
 * One environment per hub, one writer (the main loop), one write transaction per batch. */
#ifndef HUB_STORE_H
#define HUB_STORE_H

#include "entry.h"
#include "hub.h"
#include "record.h"
#include "textsearch.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* 4: full-text words by field class with a word dictionary ("words": folded words and their
 * stems, textsearch.h); responses indexed by the record they answer (IDX_TARGET_REC,
 * IDX_TARGET_AUTHOR, IDX_RTYPE), offers and requests by service group and based_on (record.h),
 * and the reply_seen table. A schema-3 store lacks those terms and tables: refused, with the way
 * over (export and import of entries). */
/* 5: new entry ids and record rows are staged in "ids_new" and "records_new" and merged into
 * "ids" and "records" in key order (store_keys.c): a schema-4 store is migrated on open (it
 * only gains the two empty tables). */
/* 6: entry rows compressed with a zstd dictionary stored in meta (store_pack.c); a schema-5
 * store (no compressed row) is read as it is and marked 6 on open. */
/* 7: ids and record rows in three parts, a middle one ("ids_mid", "records_mid") between the
 * stage and the main table; a new record's only version folded into its row (store_keys.c). A
 * schema 4-6 store is marked 7 on open: the new tables start empty, its rows stay valid. */
#define STORE_SCHEMA_VERSION 7

int store_open(const char *dir, uint64_t max_map_bytes, struct store **out) HUB_WUR;
void store_destroy(struct store **s);

/* One entry to append. The caller has decoded and verified it (entry_verify) and computed its
 * index terms; the store checks the chain (seq, prev, forks) and applies record semantics. */
struct store_item {
    const struct entry *e;
    const struct index_term *terms; /* for record kinds; ignored for retractions */
    size_t nterms;
    const char *dict; /* NULL, or its text's packed (word, form) pairs (struct ts_dict) */
    size_t dict_len;
    int32_t date_start, date_end; /* days since epoch, 0 = none */
    int retract_kind;             /* for KIND_RETRACTION: the withdrawn record */
    const char *retract_key;
    /* its own signature is not checked yet: the hash chain from a later entry of the batch
     * authenticates it (PROTOCOL.md 9.16); stored, the feed gets a "sigpend" row */
    int unchecked;
    /* its own signature is not checked yet and nothing vouches for it: the store checks it
     * (step 11) only if the chain rule would append it or keep it as fork evidence; one past
     * the feed's head is refused E_GAP unchecked (a run whose entry before it was refused:
     * PROTOCOL.md 9.16 rule 1) */
    int check_sig;
    /* its feed is served only below its seq since the deferred check of the held entry there
     * failed (STORE_SIGPEND_BAD), and its own signature was checked: held with the same id, its
     * signature bytes replace the held ones and the feed is checked on from there (PROTOCOL.md
     * 9.16 rule 4); see `repaired` */
    int repair;
    /* the entry's row packed ahead by store_pack_ahead (on a pipeline worker), or NULL: the
     * writer then packs it itself */
    const uint8_t *row;
    size_t row_len;
    /* out */
    int result;     /* HUB_OK, E_DUPLICATE, E_GAP, E_SEQ, E_PREV, E_FORK,
                       E_FORKED_FEED, E_TIMESTAMP */
    uint64_t local; /* local number when stored */
    int repaired;   /* (result E_DUPLICATE) a `repair` item replaced the held signature */
};

/* The row the writer would store for an entry's wire bytes (store_pack.c), made ahead on any
 * thread so that the single writer does not compress (a fifth of its time in a catch-up). out
 * holds store_pack_bound(len) bytes. Returns the row's length, or 0 when the row is the wire
 * bytes as they are (no dictionary yet, or compression does not make it smaller). */
size_t store_pack_bound(size_t len);
/* The wire bytes of a row a raw_rows query gave, on any thread: *wire is the row itself when
 * it was stored as received (*buf NULL), else in *buf, malloc'ed for the caller to free.
 * HUB_E_DECODE for a row that does not decompress, HUB_E_NOMEM. */
int store_row_unpack(struct store *s, const uint8_t *row, size_t len, uint8_t **buf,
                     const uint8_t **wire, size_t *wire_len) HUB_WUR;
size_t store_pack_ahead(struct store *s, const uint8_t *wire, size_t len, uint8_t *out);

/* A record's dictionary words (store_item.dict, struct ts_dict) with those the store is known
 * to hold already taken out, in place, on any thread (a pipeline worker), so that the single
 * writer probes and puts only the rest: in a catch-up most words of a record are in the
 * dictionary already. Returns the new length (len when nothing is known yet). The rows stored
 * are the same with or without it. */
size_t store_dict_filter(struct store *s, char *dict, size_t len);

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
/* New entry ids and record rows are staged in a small table, merged into a middle one once the
 * stage holds a 64th of the rows after it, which is merged into the main table once it holds an
 * eighth of it, each at least min rows (default 16,384) and min rows per transaction
 * (store_keys.c). For tests, which exercise the merges with few entries. */
void store_set_id_stage(struct store *s, size_t min);
/* For tests: the map shrunk to the pages in use, so that the next write that needs a new page
 * finds it full and must grow it. */
void store_shrink_map(struct store *s);
/* For tests: fn runs on the writing thread at two points of each batch that stores entries,
 * committed 0 just before its commit (its new postings already in the memory tail) and
 * committed 1 right after it (before the batch's after-commit work), so that a test can read
 * the store from inside the window. NULL turns it off. */
void store_set_commit_hook(struct store *s, void (*fn)(struct store *s, int committed, void *arg),
                           void *arg);
/* After a batch writes the index, its under-filled leaves are merged (store_write.c,
 * ix_compact): on by default; off for tests that compare the answers with and without. */
void store_set_ix_compact(struct store *s, int on);
/* For tests: the rows of each part of the id table (ids[]) and of the records table (recs[]),
 * newest first (stage, mid, main), and whether each part holds a row of the record of author,
 * kind and key (in[]). */
int store_tiers(struct store *s, const uint8_t author[32], int kind, const char *key, size_t ids[3],
                size_t recs[3], int in[3]);
/* Entry rows are compressed with a dictionary trained once the store holds min entries
 * (default PACK_TRAIN_MIN, 1,024; store_pack.c). For tests, which train on few entries. */
void store_set_pack_train(struct store *s, size_t min);
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
 * held (one read transaction of its own: safe from any thread). */
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
    const struct index_term *terms; /* none: every current record */
    size_t nterms;
    /* NULL: every term must match. Else terms[i]'s clause: a record matches when it carries
     * one term of each clause (any-of within a clause, all-of across). A clause's terms are
     * together and clauses are numbered 0, 1, ... in order (E_RANGE otherwise). */
    const uint8_t *clause;
    uint64_t cursor;            /* 0, or the next_cursor of the previous page */
    int32_t date_from, date_to; /* days since epoch; 0 = open; matches records overlapping */
    int32_t start_from;         /* days; 0 = open; else only records starting that day or later */
    int sort;                   /* enum store_sort (store_query; a ranked query is by score) */
    uint64_t now_ms;            /* records expired at now_ms are hidden */
    size_t limit;
    /* 1: the callback gets each row as stored (compressed or not), for store_row_unpack on
     * another thread; 0: its wire bytes */
    int raw_rows;
};
enum store_sort {
    STORE_SORT_DEFAULT = 0, /* store_query: published; store_query_ranked: relevance */
    STORE_SORT_PUBLISHED,   /* newest first (by local number) */
    STORE_SORT_START,       /* start date ascending, then newest first; undated last */
    STORE_SORT_RELEVANCE,   /* a ranked query's order (store_query_ranked) */
};
/* Matches a query sorted by start date reads at most this many (E_TOO_LARGE beyond: a
 * narrower query is needed); 16 bytes each. Only the page and what precedes it are sorted. */
#define STORE_SORT_MAX 1000000
/* A store_query callback's return for an entry it leaves out (filtered): not counted in the
 * limit, the walk goes on. Any other non-zero return stops the walk. */
#define STORE_QUERY_SKIP 2
/* Current records matching q, newest first (or by q->sort); cb sees bytes valid only during
 * the call. *next_cursor is 0 when there is no further page (sorted by start: results to skip
 * + 1, as a ranked query's). Returns the count or a negative code. */
int store_query(struct store *s, const struct store_query *q,
                int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                uint64_t *next_cursor);

/* A full-text query (textsearch.h): rt are the terms of its words, each in the group of the
 * word it stands for and in a scoring slot (the word and the field class the term is in); a
 * record matches when it carries a term of every group and every filter of q (q->terms). Its
 * score: the weight of each slot it matched once, halved if it matched the slot only through
 * half terms (prefix expansions). Results by score, then newest first. q->cursor is 0 or the
 * *next_cursor of the previous page (results to skip + 1). Returns the count or a negative
 * code (E_RANGE: bad groups or slots). Reads at most STORE_RANK_SCAN postings of each term of
 * its rarest group (see there). */
#define STORE_RANK_MAX_GROUPS 16
#define STORE_RANK_MAX_FILTERS 16 /* q->terms of a ranked query */
/* Postings a ranked query reads of each term of the group it starts from (its rarest word or
 * filter): when a term has more, only records at least as new as the oldest posting read are
 * ranked (the newest matches of very common words; CONTROL.md says so). */
#define STORE_RANK_SCAN 4096
struct store_rank_term {
    struct index_term t;
    uint8_t group;  /* < ngroups */
    uint8_t slot;   /* < 64 */
    uint8_t weight; /* the slot's weight, the same in every full term of the slot */
    uint8_t half;   /* counts half the slot's weight */
};
int store_query_ranked(struct store *s, const struct store_query *q,
                       const struct store_rank_term *rt, size_t nrt, unsigned ngroups,
                       int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                       uint64_t *next_cursor);
/* Words of the full-text dictionary: stem 0, those that begin with w (a folded prefix); stem 1,
 * those whose stem in the language of some record they came in is w. In byte order, at most
 * max. */
int store_dict_words(struct store *s, int stem, const char *w, size_t len,
                     char (*words)[TS_WORD_MAX + 1], size_t max, size_t *nwords) HUB_WUR;
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

/* Addressed replies (areply.c, PROTOCOL.md 9.15): verified response entries from feeds this
 * hub does not replicate, kept by the hub they address, apart from feeds and the index.
 * put: HUB_OK, E_DUPLICATE (held), E_TOO_LARGE (max_held rows held already), E_DISK_FULL, E_IO.
 * has: 1, 0 or a negative code. walk: every one addressed to target (id order); cb returns
 * non-zero to stop; the count or a negative code. */
int store_areply_put(struct store *s, const uint8_t target[32], const uint8_t id[32],
                     const uint8_t *wire, size_t len, size_t max_held) HUB_WUR;
int store_areply_has(struct store *s, const uint8_t target[32], const uint8_t id[32]);
int store_areply_walk(struct store *s, const uint8_t target[32],
                      int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg);
int store_areply_count(struct store *s, uint64_t *n) HUB_WUR;
/* Responders blocked by the operator (hubctl block): load every row; set (blocked 1) or clear. */
int store_blocked_load(struct store *s, int (*cb)(const uint8_t key[32], uint64_t ms, void *arg),
                       void *arg);
int store_blocked_set(struct store *s, const uint8_t key[32], int blocked, uint64_t ms) HUB_WUR;

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
    uint64_t map_size;
    uint64_t used_bytes; /* pages in use (the file's pages but the free ones) x page size */
    uint64_t index_tail; /* records indexed in memory, waiting to be merged into the index */
};
int store_stats(struct store *s, struct store_stats *out) HUB_WUR;
/* {"commit_seconds": histogram, "batch_entries": histogram} of the write transactions since
 * the store was opened (hist.h's JSON form), for status and metrics. A new reference. */
json_t *store_histograms(const struct store *s);

/* ---- signatures checked after the hash chain (sigcheck.c, PROTOCOL.md 9.16) ----
 * Per feed with entries stored unchecked: lo, the lowest such seq (with STORE_SIGPEND_BAD once
 * its check failed), and `before`, the id of entry lo - 1 (the last one that may be served). */
#define STORE_SIGPEND_BAD (1ULL << 63)
/* Every row, in author order; cb returns non-zero to stop. The count or a negative code. */
int store_sigpend_load(struct store *s,
                       int (*cb)(const uint8_t author[32], uint64_t lo, const uint8_t before[32],
                                 void *arg),
                       void *arg);
/* The checker's progress, in one write transaction: each row that still reads `expect` becomes
 * `to` (with to_before), or goes when `to` is past the feed's head (all checked); `now` and
 * now_before say what the row reads afterwards (0: none). E_DISK_FULL, E_IO. */
struct store_sigpend {
    uint8_t author[32];
    uint64_t expect, to;
    uint8_t to_before[32];
    uint64_t now; /* out */
    uint8_t now_before[32];
};
int store_sigpend_advance(struct store *s, struct store_sigpend *u, size_t n) HUB_WUR;
/* store_feed_range for a thread other than the event loop's (a read transaction of its own). */
int store_sig_range(struct store *s, const uint8_t author[32], uint64_t from, size_t max_count,
                    int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg);

/* ---- backup, verify, cursors ---- */

/* A consistent, compacted copy of the store (an LMDB data.mdb) written to fd, a regular file
 * opened for writing by whoever asked (hubctl: hubd may not write outside its data dir). May
 * run on another thread while the event loop reads and writes; a map resize waits for it. */
int store_backup_fd(struct store *s, int fd) HUB_WUR;

/* The local number of the last entry accepted (0: none): the newest cursor. */
int store_last_local(struct store *s, uint64_t *out) HUB_WUR;
/* Entries accepted after cursor `after`, in acceptance order: at most max_count, and none
 * more once max_bytes were visited. cb sees bytes valid only during the call and returns
 * non-zero to stop after this entry. *last: the local number of the last entry visited
 * (`after` when none). Returns the number visited or a negative code. */
typedef int (*store_local_fn)(void *arg, uint64_t local, const uint8_t *wire, size_t len);
int store_entries_since(struct store *s, uint64_t after, size_t max_count, size_t max_bytes,
                        store_local_fn cb, void *arg, uint64_t *last);

/* store_verify's findings: what it checked, and the first problem of `problems`. */
struct store_verify {
    uint64_t feeds, entries, records, postings;
    uint64_t problems;
    int first_code; /* a HUB_E_* naming the kind of the first problem */
    char first[256];
};
/* Checks the whole store: every feed's chain (seq 1 .. head without gap, prev =
 * the id before, id table), every entry's signature and payload hash (when not purged), every
 * current record indexed and every index posting pointing at a current record. Returns HUB_OK
 * when it could read the whole store (findings in out), else a code. Runs on another thread,
 * in read transactions of its own of at most STORE_VERIFY_CHUNK rows each (a map resize
 * waits for one chunk only); every check compares rows of one transaction, so writes
 * meanwhile cause no false problem. About 12-15 s per 100,000 entries on 2 cores. */
int store_verify(struct store *s, uint64_t now_ms, struct store_verify *out) HUB_WUR;

#endif
