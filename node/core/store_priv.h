/* store_priv.h: what the store's files (store*.c) share: the tables, struct store, the
 * write batch, and the helpers one file defines for the others. Only store*.c include it
 * (and with it <lmdb.h>). */
#ifndef HUB_STORE_PRIV_H
#define HUB_STORE_PRIV_H

#include "hist.h"
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "log.h"
#include "postings.h"
#include "tail.h"

#define STORE_INITIAL_MAP (64ULL << 20)
#define RKEY_LEN 24
#define FEED_VAL_LEN 49
#define CHAIN_VAL_LEN 40
#define LIVE_VAL_LEN 16
#define REC_FLAG_WITHDRAWN 1 /* retracted or expired: payloads purged for good */
#define REC_FLAG_NOPAYLOAD 2 /* current version arrived without its payload: held, not shown */
/* Schema 7: the current version (local) has no version row of its own unless a withdrawal
 * wrote one; it gets one when a newer version replaces it (store_records.c) */
#define REC_FLAG_FOLDED 4
#define VERSION_WITHDRAWN 1 /* a version row's value: purged by a retraction or expiry */
#define FEED_FLAG_FORKED 1
#define STORE_DIRECT_MIN 2048    /* batches this big write the index directly */
#define STORE_IX_CHUNK 2048      /* entries of an import whose postings are written together */
#define STORE_TAIL_MAX 8192      /* records in the tail that make a write merge a chunk */
#define STORE_MERGE_CHUNK 2048   /* records merged per transaction: bounds the pause (~0.1 s) */
#define STORE_IDLE_MERGE_MIN 256 /* an idle hub merges its tail down to this */
/* Room a write needs on the filesystem beyond its entries' bytes: LMDB copies every page it
 * changes (the B-tree paths, the free list, the index) and writes them at the end of the file.
 * A write that failed with EIO or ENOSPC while less than this is free is reported E_DISK_FULL. */
#define STORE_WRITE_SLACK (1ULL << 20)

enum {
    DB_META,
    DB_ENTRIES,
    DB_IDS,
    DB_FEEDS,
    DB_CHAIN,
    DB_RECORDS,
    DB_VERSIONS,
    DB_INDEX,
    DB_RECENT,
    DB_LIVE,
    DB_EXPIRY,
    DB_FORKS,
    DB_WORDS,
    DB_REPLY_SEEN,
    DB_AREPLIES,
    DB_BLOCKED,
    DB_IDS_NEW,
    DB_RECORDS_NEW,
    DB_SIGPEND,
    DB_IDS_MID,
    DB_RECORDS_MID,
    DB_COUNT
};
/* The id and records tables are in three parts each, newest first: the stage, mid, main
 * (store_keys.c). A merge of one into the next under way: it goes on from the key from. */
#define TIER_COUNT 3
#define TIER_KEY_MAX (RKEY_LEN + 8)
struct tier_merge {
    int active;
    uint8_t from[TIER_KEY_MAX];
    size_t from_len;
};

struct store {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    uint64_t map_size, max_map;
    uint64_t next_local;
    MDB_txn *rtxn;       /* reset between uses, renewed for each read: saves a malloc per query */
    struct tail *tail;   /* postings of the records in "recent", for queries */
    void (*commit_hook)(struct store *s, int committed, void *arg); /* tests */
    void *commit_hook_arg;
    uint64_t index_max;  /* largest local with postings in index (meta "index_max") */
    size_t recent_rows;  /* records in "recent" (and the tail) */
    int tail_incomplete; /* memory ran out filling the tail: merge at the next write */
    /* STORE_DIRECT_MIN, _TAIL_MAX, _MERGE_CHUNK, _IDLE_MERGE_MIN, or smaller for a test */
    size_t direct_min, tail_max, chunk, idle_min;
    /* Threads: reads (rtxn) come from the event-loop thread only; writes may come from it and
     * from node.c's writer thread. write_mu makes each write, with the bookkeeping after its
     * commit, one step; env_lock keeps reads out while the map is resized (LMDB requires that
     * no transaction is open then); tail_mu guards the tail and recent_rows for queries. */
    pthread_mutex_t write_mu, tail_mu;
    pthread_rwlock_t env_lock;
    /* Why the last write failed with E_DISK_FULL, with the numbers (store_full_detail). */
    pthread_mutex_t full_mu;
    char full_detail[256];
    /* Every committed write transaction: how long its commit (the fsync of what it dirtied)
     * took, and how many entries it stored (store_histograms). */
    struct hist commit_us, batch_entries;
    /* Hashes of "words" rows known to be stored (written by the writer only, read also by
     * pipeline workers: store_dict_filter): most of a record's words are already in the
     * dictionary, and a hash probe is far cheaper than an LMDB put. */
    uint64_t *dict_seen;
    size_t dict_seen_n;
    struct rank_map *rank; /* ranked queries' candidates, kept between them (store_query_ranked) */
    int io_fd;             /* the data file, written a page per write (store_io.c); -1: not */
    size_t ids_stage_min;  /* 0: TIER_MIN (store_keys.c); smaller for a test */
    int ix_compact;        /* merge the index's sparse leaves after a batch (store_write.c) */
    /* The merges of the stage into mid and of mid into main, of the id table and of the
     * records table (store_keys.c) */
    struct tier_merge ids_mg[TIER_COUNT - 1], recs_mg[TIER_COUNT - 1];
    struct pack *pack; /* compression of entry rows (store_pack.c) */
    /* The largest postings buffers a batch that writes the index directly has grown, kept for
     * the next such batch (writer only; released when the hub is idle: store_write.c). */
    struct postings ix_spare;
};

/* Value stored in records: the current version. Its index terms are derived again from its
 * payload when it must be unindexed (record_terms is deterministic), so they are not stored. */
struct rec_hdr {
    uint8_t local[8];
    uint8_t flags;
    uint8_t expires[8];
};

static inline void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- write path ---- */

/* A record indexed in the tail by this batch: added to the memory tail once committed. */
struct tail_rec {
    uint64_t local;
    size_t off, n; /* its terms in wbatch.tterms */
};

struct wbatch {
    MDB_txn *txn;
    struct postings ix; /* index postings to write at the end of the batch */
    uint64_t now;
    uint64_t first_local;  /* locals from here on were stored by this batch */
    uint64_t append_floor; /* postings with locals >= this are newer than all in index */
    uint64_t ix_max;       /* largest local this batch wrote to index */
    size_t recent_rows;    /* rows in "recent" at the end of the batch */
    int to_tail;           /* index new records in the tail, not in index */
    struct index_term *tterms;
    size_t ntterms, ttcap;
    struct tail_rec *trecs;
    size_t ntrecs, trcap;
    uint64_t *dpend; /* hashes of "words" rows this batch put: known once it commits */
    size_t ndpend, dpcap;
    uint64_t *dbset; /* ... the same hashes as a set (store_write.c, dict_batch_has) */
    size_t dbcap, dbn;
    /* The head of the feed last appended to: a batch holds runs of one feed's entries, so it is
     * read once per run and written back when the run ends (feed_flush). */
    struct feed_head fh;
    enum { FH_NONE, FH_CLEAN, FH_DIRTY } fh_state;
};

/* ---- defined in one store file, used by another ---- */
/* store_keys.c: where the merges of the id and records tables stood (meta), at store_open. */
int tiers_load(struct store *s, MDB_txn *txn);
/* store_sigpend.c: the "sigpend" rows of the items of a batch stored unchecked, in its
 * transaction (PROTOCOL.md 9.16) */
int sigpend_note(struct store *s, MDB_txn *txn, const struct store_item *items, size_t n);
/* ... and a stopped feed's signature repaired (store_item.repair): the held entry at local
 * gets e's signature bytes and the feed's row reads e->seq, unchecked, again; only when the row
 * names e->seq with STORE_SIGPEND_BAD (else nothing changes). *repaired: 1 if it did. */
int sigpend_repair(struct store *s, MDB_txn *txn, const struct entry *e, const uint8_t local_be[8],
                   int *repaired);
/* store_env.c */
int store_err(int rc);
int rtxn_begin(struct store *s, MDB_txn **txn);
void rtxn_end(struct store *s);
/* A read transaction of its own, for the functions called from threads other than the event
 * loop's (s->rtxn is that thread's: renewing it while another thread reads in it fails with
 * EINVAL, or reads a snapshot being reset). */
int otxn_begin(struct store *s, MDB_txn **txn);
void otxn_end(struct store *s, MDB_txn *txn);
int store_write_err(struct store *s, int rc, uint64_t need, const char *what);
int store_grow(struct store *s);
/* For the small writes beside the batches: runs fn in a write transaction of its own and commits
 * it (fn's non-zero result aborts it and is returned); when the map is full, grows it and runs
 * fn again from the start, so fn sets its outputs afresh each time. The caller holds write_mu.
 * An MDB or errno code. */
int wtxn_run(struct store *s, int (*fn)(struct store *s, MDB_txn *txn, void *arg), void *arg);

/* store_io.c: store_io_open registers the store's data file for page-sized writes (and drops
 * its page cache once); store_io_close before the environment is closed. Both accept a store
 * whose file was not registered. */
void store_io_open(struct store *s);
void store_io_close(struct store *s);

/* store_keys.c: the id table, in three parts (see there): an entry's local number by its id
 * (E: MDB_NOTFOUND), a new id, and the merge of the newest part into the older one, for a write
 * transaction about to commit. */
int ids_get(struct store *s, MDB_txn *txn, const uint8_t id[32], MDB_val *local);
int ids_put(struct store *s, MDB_txn *txn, const uint8_t id[32], MDB_val *local);
int ids_merge(struct store *s, MDB_txn *txn);
/* The two ids the id table holds that start with the prefix start (nibbles of it), from all
 * parts: 0, 1 or 2 of them in found[]. */
int ids_prefix(struct store *s, MDB_txn *txn, const uint8_t start[32], size_t nibbles,
               uint8_t found[2][32], size_t *nfound);

/* store_keys.c: the records table, in three parts like the id table: a row (a record's, or a
 * version's) from records_new, else records_mid, else records; a row put (always into
 * records_new); the local numbers of a record's versions, ascending, from all parts and the
 * record's own row (REC_FLAG_FOLDED; *locals malloc'd, NULL when none); and the merge steps,
 * for a write transaction about to commit. */
int rec_get(struct store *s, MDB_txn *txn, const uint8_t *key, size_t klen, MDB_val *v);
int rec_put(struct store *s, MDB_txn *txn, const uint8_t *key, size_t klen, const void *val,
            size_t vlen);
int rec_version_locals(struct store *s, MDB_txn *txn, const uint8_t rkey[RKEY_LEN],
                       uint64_t **locals, size_t *n);
int recs_merge(struct store *s, MDB_txn *txn);

/* store_pack.c: the rows of the entries table (see there). pack_open loads the store's
 * dictionaries (pack_close frees them, also after a failed open); entry_row_get reads the wire
 * bytes of the entry at local (E: MDB_NOTFOUND, MDB_CORRUPTED), entry_row_decode those of a row
 * read otherwise (a cursor's): *wire points into the map or into a buffer of this thread, valid
 * until its next get; entry_row_put compresses and puts; pack_train trains a dictionary, in a
 * transaction of its own, once the store and the batch about to be written hold enough entries. */
int pack_open(struct store *s, MDB_txn *txn);
void pack_close(struct store *s);
int entry_row_get(struct store *s, MDB_txn *txn, const MDB_val *local, MDB_val *wire);
int entry_row_decode(struct store *s, const MDB_val *row, MDB_val *wire);
int entry_row_put(struct store *s, MDB_txn *txn, const MDB_val *local, const uint8_t *wire,
                  size_t len, unsigned flags);
int pack_train(struct store *s, const struct store_item *items, size_t n);

/* store_keys.c */
void rkey_make(uint8_t out[RKEY_LEN], const uint8_t author[32], int kind, const char *key);
int feed_get(struct store *s, MDB_txn *txn, const uint8_t author[32], struct feed_head *h);
int feed_put(struct store *s, MDB_txn *txn, const struct feed_head *h);

/* store_records.c */
int rec_withdraw(struct store *s, struct wbatch *w, const uint8_t rkey[RKEY_LEN]);
int rec_update(struct store *s, struct wbatch *w, const struct store_item *it, uint64_t local);
int restore_payload(struct store *s, struct wbatch *w, const struct store_item *it,
                    const uint8_t local_be[8]);

/* store_write.c */
void wbatch_free(struct store *s, struct wbatch *w);
int tail_pending(struct wbatch *w, const struct index_term *terms, size_t n, uint64_t local);
int dict_put(struct store *s, struct wbatch *w, const char *d, size_t len);
int ix_add(struct wbatch *w, const struct index_term *t, uint64_t local);

/* store_query.c */
void rank_map_destroy(struct rank_map **m);

#endif
