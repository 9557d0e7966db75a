/* store.c: the LMDB store, the only file that includes <lmdb.h>.
 *
 * Named databases (keys big-endian so byte order is sort order):
 *   meta      "schema" -> u32 schema version
 *   entries   local u64 -> SignedEntry wire bytes (payload stripped once purged); appended
 *   ids       entry id (32) -> local u64
 *   feeds     author (32) -> head: seq u64, id (32), timestamp u64, flags u8 (1 = forked)
 *   chain     author (32) | seq u64 -> local u64 | id (32)
 *   records   rkey (24: author's first 8 bytes | BLAKE2b-128 of author | kind u8 | key) -> rec
 *             (see struct rec_hdr), and rkey | local u64 (32) -> empty for each version (or
 *             VERSION_WITHDRAWN once a withdrawal purged it: see restore_payload): the
 *             versions of a record follow its row, so storing a record dirties one page of this
 *             tree, not one in each of two (DB_VERSIONS names the same database). The key is
 *             narrow on purpose: within an author rkeys are random, so a big batch rewrites
 *             most of its authors' leaves at its commit, and with author and kind in clear (49
 *             bytes) the tree had half as many leaves again; the author prefix keeps a
 *             catch-up batch (a few feeds) within a few parts of the tree
 *   index     term (9) -> local u64, sorted duplicates (DUPSORT|DUPFIXED: 8 bytes a posting);
 *             new postings are appended; queries walk them backwards, newest first
 *   recent    local u64 -> the record's index terms (9 bytes each), for records indexed in the
 *             in-memory tail (tail.c) and not yet merged into index; emptied by each merge
 *   live      local u64 -> expires u64, date_start i32, date_end i32: current, visible records
 *   expiry    expires u64 | local u64 -> empty: current versions that carry an expiry
 *   forks     author | seq -> detected u64, held id (32), other entry's wire bytes
 *   reply_seen entry id (32) -> u64 ms: replies to this hub's records listed in its inbox
 *             (local state, never replicated; records.c keeps a copy in memory)
 *   words     the full-text dictionary (textsearch.h, search.c), keys only:
 *             'w' word -> empty: every folded word indexed, for the prefix of a query's last word;
 *             's' stem 0x00 word -> empty: the word's Snowball stem in the language of a record
 *             it came in, when it differs from the word, for query words of the same stem.
 *             Only grows: a word no record uses any more finds a term without postings
 *   areplies  target hub (32) | entry id (32) -> wire bytes: addressed replies (PROTOCOL.md
 *             9.15) from feeds this hub does not replicate, apart from feeds and the index
 *   blocked   hub key (32) -> u64 ms: responders whose addressed replies are refused
 * "local" is a per-hub monotonic number, so entries and live are appended at the end.
 *
 * Small batches (live push, publish, a few hundred entries) do not write the index: a record's
 * ~70 postings would dirty a page per term per commit (hundreds of KiB per entry). Their terms go
 * to "recent" (one appended row) and to the in-memory tail, which queries read together with the
 * index. The oldest are merged into the index in chunks, many records to one page write per
 * term: when the hub is idle (store_maintain), or at once when the tail is full. Big batches
 * (import) and the batches of a longer transfer (catch-up, STORE_BULK) write the index directly:
 * for them a merge would cost more than the direct write it replaces. */
#include "store.h"
#include "hist.h"

#include <errno.h>
#include <stdarg.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
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
#define VERSION_WITHDRAWN 1  /* a version row's value: purged by a retraction or expiry */
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
    DB_SIGPEND,
    DB_COUNT
};
static const char *const db_names[DB_COUNT] = {
    "meta", "entries", "ids",   "feeds", "chain",      "records",  "versions", "index",  "recent",
    "live", "expiry",  "forks", "words", "reply_seen", "areplies", "blocked",  "sigpend"};

struct store {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    uint64_t map_size, max_map;
    uint64_t next_local;
    MDB_txn *rtxn;       /* reset between uses, renewed for each read: saves a malloc per query */
    struct tail *tail;   /* postings of the records in "recent", for queries */
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
    /* Hashes of "words" rows known to be stored (writer only): most of a record's words are
     * already in the dictionary, and a hash probe is far cheaper than an LMDB put. */
    uint64_t *dict_seen;
    size_t dict_seen_n;
    struct rank_map *rank; /* ranked queries' candidates, kept between them (store_query_ranked) */
};

/* Bounds of the store's histograms: commits from 1 ms (a small live-push batch on an SSD) to
 * 10 s (a map resize or a slow disk); batches from one entry to the largest catch-up
 * transaction (16,384). */
static const double store_commit_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,   0.25,   0.5,   1,    2.5,   10};
static const double store_batch_le[] = {1, 2, 4, 16, 64, 256, 1024, 2048, 4096, 8192, 16384};

/* Value stored in records: the current version. Its index terms are derived again from its
 * payload when it must be unindexed (record_terms is deterministic), so they are not stored. */
struct rec_hdr {
    uint8_t local[8];
    uint8_t flags;
    uint8_t expires[8];
};

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The one place MDB_* codes become hubnet codes. */
static int store_err(int rc) {
    switch (rc) {
    case MDB_SUCCESS:
        return HUB_OK;
    case MDB_NOTFOUND:
        return HUB_E_NOT_FOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
        return HUB_E_DISK_FULL;
    case ENOMEM:
        return HUB_E_NOMEM;
    case EIO:
        return HUB_E_IO;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return HUB_E_VERSION;
    default:
        return HUB_E_INTERNAL;
    }
}

/* The hash covers the whole author: making a record collide with another hub's record is a
 * second preimage of 128 bits, and making two of one's own collide (which could only garble
 * one's own records) costs 2^64. */
static void rkey_make(uint8_t out[RKEY_LEN], const uint8_t author[32], int kind, const char *key) {
    crypto_generichash_state st;
    uint8_t k = (uint8_t)kind;
    memcpy(out, author, 8);
    crypto_generichash_init(&st, NULL, 0, RKEY_LEN - 8);
    crypto_generichash_update(&st, author, 32);
    crypto_generichash_update(&st, &k, 1);
    crypto_generichash_update(&st, (const uint8_t *)key, strlen(key));
    crypto_generichash_final(&st, out + 8, RKEY_LEN - 8);
}

static int rtxn_begin(struct store *s, MDB_txn **txn) {
    pthread_rwlock_rdlock(&s->env_lock);
    int rc = mdb_txn_renew(s->rtxn);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->env_lock);
        return store_err(rc);
    }
    *txn = s->rtxn;
    return HUB_OK;
}

static void rtxn_end(struct store *s) {
    mdb_txn_reset(s->rtxn);
    pthread_rwlock_unlock(&s->env_lock);
}

/* A read transaction of its own, for the functions called from threads other than the event
 * loop's (s->rtxn is that thread's: renewing it while another thread reads in it fails with
 * EINVAL, or reads a snapshot being reset). */
static int otxn_begin(struct store *s, MDB_txn **txn) {
    pthread_rwlock_rdlock(&s->env_lock);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->env_lock);
        return store_err(rc);
    }
    return HUB_OK;
}

static void otxn_end(struct store *s, MDB_txn *txn) {
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->env_lock);
}

static int store_check_schema(struct store *s, MDB_txn *txn) {
    MDB_val k = {6, "schema"}, v;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t b[4];
        be32(b, STORE_SCHEMA_VERSION);
        MDB_val nv = {4, b};
        return store_err(mdb_put(txn, s->dbi[DB_META], &k, &nv, 0));
    }
    if (rc != 0)
        return store_err(rc);
    if (v.mv_size != 4)
        return HUB_E_VERSION;
    uint32_t ver = rd32(v.mv_data);
    if (ver > STORE_SCHEMA_VERSION) {
        log_error("store",
                  "data was written by a newer hubd (schema %u, this one knows %u); "
                  "refusing to touch it",
                  ver, STORE_SCHEMA_VERSION);
        return HUB_E_VERSION;
    }
    if (ver == 3) {
        /* Schema 3 indexed words by their ASCII lower case, without folding, stems or field
         * classes, and had no dictionary: its index cannot answer schema 4's text queries,
         * and rebuilding it means decoding every record again, which the hub does by syncing. */
        log_error("store",
                  "data was written with store schema 3 (its text index predates multilingual "
                  "search, schema 4): with the previous hubd, 'hubctl export --entries FILE'; "
                  "then move the data dir aside (keep identity.key), start this hubd and "
                  "'hubctl import --entries FILE' (README, \"Backup, restore, verify\"); or let "
                  "the hub sync again from its peers");
        return HUB_E_VERSION;
    }
    if (ver < STORE_SCHEMA_VERSION) {
        /* Schema 1 (index postings stored as ~local) only ever existed in development builds
         * before the first release: there is nothing to migrate, and guessing would corrupt. */
        log_error("store",
                  "data was written by a development build of hubd (schema %u, this one knows "
                  "%u); move the data dir aside and let the hub sync again",
                  ver, STORE_SCHEMA_VERSION);
        return HUB_E_VERSION;
    }
    return HUB_OK; /* older released schemas will be migrated here */
}

/* Rebuilds the memory tail from "recent" and reads meta "index_max". */
static int tail_load(struct store *s, MDB_txn *txn) {
    if (tail_new(&s->tail) != 0)
        return ENOMEM;
    MDB_val k = {9, "index_max"}, v;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        s->index_max = hub_rd64(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_RECENT], &c)) != 0)
        return rc;
    struct index_term terms[RECORD_MAX_TERMS];
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t n = v.mv_size / INDEX_TERM_LEN;
        if (k.mv_size != 8 || v.mv_size % INDEX_TERM_LEN != 0 || n > RECORD_MAX_TERMS) {
            rc = MDB_CORRUPTED;
            break;
        }
        for (size_t i = 0; i < n; i++)
            memcpy(terms[i].b, (const uint8_t *)v.mv_data + i * INDEX_TERM_LEN, INDEX_TERM_LEN);
        if (tail_add(s->tail, terms, n, hub_rd64(k.mv_data)) != 0) {
            rc = ENOMEM;
            break;
        }
        s->recent_rows++;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_open(const char *dir, uint64_t max_map_bytes, struct store **out) {
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    s->max_map = max_map_bytes ? max_map_bytes : (64ULL << 30);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->tail_mu, NULL);
    pthread_rwlock_init(&s->env_lock, NULL);
    pthread_mutex_init(&s->full_mu, NULL);
    hist_init(&s->commit_us, store_commit_le, HUB_ARRAY_LEN(store_commit_le), 1e-6);
    hist_init(&s->batch_entries, store_batch_le, HUB_ARRAY_LEN(store_batch_le), 1);
    s->direct_min = STORE_DIRECT_MIN;
    s->tail_max = STORE_TAIL_MAX;
    s->chunk = STORE_MERGE_CHUNK;
    s->idle_min = STORE_IDLE_MERGE_MIN;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&s->env);
    if (rc != 0)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) != 0)
        goto fail;
    /* Start small, grow on MDB_MAP_FULL; an existing bigger environment keeps its size. */
    uint64_t initial = STORE_INITIAL_MAP < s->max_map ? STORE_INITIAL_MAP : s->max_map;
    if ((rc = mdb_env_set_mapsize(s->env, initial)) != 0)
        goto fail;
    if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0) {
        log_error("store", "cannot open LMDB environment in %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    for (int i = 0; i < DB_COUNT; i++) {
        if (i == DB_VERSIONS) {
            s->dbi[i] = s->dbi[DB_RECORDS];
            continue;
        }
        unsigned flags = MDB_CREATE | (i == DB_INDEX ? MDB_DUPSORT | MDB_DUPFIXED : 0);
        if ((rc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i])) != 0)
            goto fail;
    }
    int hrc = store_check_schema(s, txn);
    if (hrc != 0) {
        mdb_txn_abort(txn);
        mdb_env_close(s->env);
        free(s);
        return hrc;
    }
    /* next local number: one past the last entry */
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENTRIES], &c)) != 0)
        goto fail;
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    s->next_local = (rc == 0 && k.mv_size == 8) ? hub_rd64(k.mv_data) + 1 : 1;
    mdb_cursor_close(c);
    if ((rc = tail_load(s, txn)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    txn = NULL;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn)) != 0)
        goto fail;
    mdb_txn_reset(s->rtxn);
    *out = s;
    return HUB_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    tail_destroy(&s->tail);
    free(s);
    return store_err(rc);
}

static void rank_map_destroy(struct rank_map **m);

void store_destroy(struct store **sp) {
    if (!sp || !*sp)
        return;
    struct store *s = *sp;
    if (s->rtxn)
        mdb_txn_abort(s->rtxn);
    mdb_env_close(s->env);
    tail_destroy(&s->tail);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->tail_mu);
    pthread_rwlock_destroy(&s->env_lock);
    pthread_mutex_destroy(&s->full_mu);
    free(s->dict_seen);
    rank_map_destroy(&s->rank);
    free(s);
    *sp = NULL;
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
    /* The head of the feed last appended to: a batch holds runs of one feed's entries, so it is
     * read once per run and written back when the run ends (feed_flush). */
    struct feed_head fh;
    enum { FH_NONE, FH_CLEAN, FH_DIRTY } fh_state;
};

static void wbatch_reset(struct wbatch *w) {
    w->fh_state = FH_NONE;
    postings_clear(&w->ix);
    w->ntterms = 0;
    w->ntrecs = 0;
    w->ndpend = 0;
    w->ix_max = 0;
}

static void wbatch_free(struct wbatch *w) {
    postings_free(&w->ix);
    free(w->tterms);
    free(w->dpend);
    w->dpend = NULL;
    w->ndpend = w->dpcap = 0;
    free(w->trecs);
    w->tterms = NULL;
    w->trecs = NULL;
}

/* Remembers a record indexed in the tail, for the memory tail once the batch is committed. */
static int tail_pending(struct wbatch *w, const struct index_term *terms, size_t n,
                        uint64_t local) {
    struct index_term *t = hub_reserve(w->tterms, &w->ttcap, w->ntterms + n, sizeof *t, 1024);
    if (!t)
        return ENOMEM;
    w->tterms = t;
    struct tail_rec *r = hub_reserve(w->trecs, &w->trcap, w->ntrecs + 1, sizeof *r, 64);
    if (!r)
        return ENOMEM;
    w->trecs = r;
    memcpy(w->tterms + w->ntterms, terms, n * sizeof *terms);
    w->trecs[w->ntrecs++] = (struct tail_rec){local, w->ntterms, n};
    w->ntterms += n;
    return 0;
}

/* ---- the full-text dictionary (DB_WORDS) ---- */

#define STORE_DICT_SEEN_SLOTS (1u << 20) /* 8 MiB, made at the first write; emptied when half full */
#define STORE_DICT_KEY_MAX (2 * TS_WORD_MAX + 2) /* 's', stem, 0x00, word */

static uint64_t dict_hash(const uint8_t *k, size_t n) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a: spread is all the set needs */
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h ? h : 1; /* 0 marks a free slot */
}

static int dict_seen_has(const struct store *s, uint64_t h) {
    if (s->dict_seen == NULL)
        return 0;
    for (size_t i = (size_t)h & (STORE_DICT_SEEN_SLOTS - 1); s->dict_seen[i];
         i = (i + 1) & (STORE_DICT_SEEN_SLOTS - 1))
        if (s->dict_seen[i] == h)
            return 1;
    return 0;
}

/* After a commit: the rows the batch put are known to be stored. A full set is emptied
 * rather than grown: it is only a shortcut, the put behind it is always right. */
static void dict_seen_apply(struct store *s, struct wbatch *w) {
    if (s->dict_seen == NULL && w->ndpend)
        s->dict_seen = calloc(STORE_DICT_SEEN_SLOTS, sizeof *s->dict_seen);
    if (s->dict_seen == NULL)
        return;
    for (size_t k = 0; k < w->ndpend; k++) {
        if (s->dict_seen_n >= STORE_DICT_SEEN_SLOTS / 2) {
            memset(s->dict_seen, 0, STORE_DICT_SEEN_SLOTS * sizeof *s->dict_seen);
            s->dict_seen_n = 0;
        }
        size_t i = (size_t)w->dpend[k] & (STORE_DICT_SEEN_SLOTS - 1);
        while (s->dict_seen[i] && s->dict_seen[i] != w->dpend[k])
            i = (i + 1) & (STORE_DICT_SEEN_SLOTS - 1);
        if (!s->dict_seen[i]) {
            s->dict_seen[i] = w->dpend[k];
            s->dict_seen_n++;
        }
    }
    w->ndpend = 0;
}

static int dict_put_key(struct store *s, struct wbatch *w, const uint8_t *key, size_t kl) {
    MDB_val k = {kl, (void *)key}, v = {0, ""};
    int rc = mdb_put(w->txn, s->dbi[DB_WORDS], &k, &v, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Puts a record's words (struct ts_dict: its language, then the words) in the dictionary:
 * each word, and its stem in the record's language. A (word, language) met before is skipped
 * after one probe of dict_seen: stemming happens once per word and language. */
static int dict_put(struct store *s, struct wbatch *w, const char *d, size_t len) {
    if (len < 1)
        return 0;
    int lang = (int)(uint8_t)d[0] - 1;
    size_t off = 1;
    while (off < len) {
        size_t wl = strnlen(d + off, len - off);
        if (off + wl >= len || wl == 0 || wl > TS_WORD_MAX)
            break;
        const char *word = d + off;
        off += wl + 1;
        uint8_t key[STORE_DICT_KEY_MAX];
        key[0] = (uint8_t)lang;
        memcpy(key + 1, word, wl);
        uint64_t h = dict_hash(key, wl + 1);
        if (dict_seen_has(s, h))
            continue;
        key[0] = 'w';
        int rc = dict_put_key(s, w, key, wl + 1);
        char stem[TS_WORD_MAX + 1];
        size_t sl = lang >= 0 ? ts_stem(lang, word, wl, stem) : wl;
        if (rc == 0 && lang >= 0 && (sl != wl || memcmp(stem, word, wl) != 0)) {
            key[0] = 's';
            memcpy(key + 1, stem, sl);
            key[1 + sl] = 0;
            memcpy(key + 2 + sl, word, wl);
            rc = dict_put_key(s, w, key, 2 + sl + wl);
        }
        if (rc != 0)
            return rc;
        uint64_t *p = hub_reserve(w->dpend, &w->dpcap, w->ndpend + 1, sizeof *p, 256);
        if (p != NULL) { /* without memory the word is only looked at again next time */
            w->dpend = p;
            w->dpend[w->ndpend++] = h;
        }
    }
    return 0;
}

/* After a commit: what the batch put in "recent" becomes visible to queries. */
static void tail_apply(struct store *s, struct wbatch *w) {
    dict_seen_apply(s, w);
    pthread_mutex_lock(&s->tail_mu);
    s->recent_rows = w->recent_rows;
    for (size_t i = 0; i < w->ntrecs; i++)
        if (tail_add(s->tail, w->tterms + w->trecs[i].off, w->trecs[i].n, w->trecs[i].local) != 0) {
            /* "recent" has them; the merge at the next write puts them in index */
            s->tail_incomplete = 1;
            log_error("store", "out of memory for the index tail: merging it at the next write");
            break;
        }
    pthread_mutex_unlock(&s->tail_mu);
}

static int ix_add(struct wbatch *w, const struct index_term *t, uint64_t local) {
    return postings_add(&w->ix, t->b, local);
}

/* Writes one term's postings: locals from append_floor on (stored by this batch, or merged
 * from the tail) are larger than any posting already in the tree, so they are appended
 * (MDB_APPENDDUP: no search, and full pages rather than half-split ones); an older one (a
 * restored payload, a tail record older than a direct batch) is inserted in place. */
static int ix_write_term(MDB_cursor *c, struct wbatch *w, const struct postings_term *t) {
    MDB_val k = {INDEX_TERM_LEN, (void *)t->term};
    uint8_t(*v)[8] = w->ix.sorted + t->start;
    size_t run = 0; /* v[0 .. run) are appended together */
    for (size_t i = 0; i <= t->count; i++) {
        uint64_t local = i < t->count ? hub_rd64(v[i]) : 0;
        if (i < t->count && local >= w->append_floor) {
            if (local > w->ix_max)
                w->ix_max = local;
            if (run != i)
                memcpy(v[run], v[i], 8);
            run++;
            continue;
        }
        if (run) {
            MDB_val mv[2] = {{8, v}, {run, NULL}};
            int rc = mdb_cursor_put(c, &k, mv, MDB_MULTIPLE | MDB_APPENDDUP);
            if (rc != 0)
                return rc;
            run = 0;
        }
        if (i < t->count) {
            if (local > w->ix_max)
                w->ix_max = local;
            MDB_val one = {8, v[i]};
            int rc = mdb_cursor_put(c, &k, &one, MDB_NODUPDATA);
            if (rc != 0 && rc != MDB_KEYEXIST)
                return rc;
        }
    }
    return 0;
}

/* Postings are written term by term, in term order, so that B-tree pages are touched in order
 * and each term's new postings go in with one call. */
static int ix_flush(struct store *s, struct wbatch *w) {
    if (w->ix.nterms == 0)
        return 0;
    if (postings_sort(&w->ix) != 0)
        return ENOMEM;
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, s->dbi[DB_INDEX], &c);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < w->ix.nterms && rc == 0; i++)
        rc = ix_write_term(c, w, &w->ix.terms[w->ix.order[i]]);
    mdb_cursor_close(c);
    postings_clear(&w->ix);
    if (rc == 0 && w->ix_max > s->index_max) {
        uint8_t b[8];
        hub_be64(b, w->ix_max);
        MDB_val k = {9, "index_max"}, v = {8, b};
        rc = mdb_put(w->txn, s->dbi[DB_META], &k, &v, 0);
    }
    return rc;
}

/* Purge the payload of one stored version, keeping header and signature. */
static int purge_local(struct store *s, MDB_txn *txn, uint64_t local) {
    uint8_t lk[8];
    hub_be64(lk, local);
    MDB_val k = {8, lk}, v;
    int rc = mdb_get(txn, s->dbi[DB_ENTRIES], &k, &v);
    if (rc != 0)
        return rc;
    struct entry e;
    if (entry_decode(v.mv_data, v.mv_size, &e) != 0)
        return MDB_CORRUPTED;
    if (!e.payload)
        return 0;
    uint8_t *stripped;
    size_t slen;
    if (entry_strip_payload(&e, &stripped, &slen) != 0)
        return ENOMEM;
    MDB_val nv = {slen, stripped};
    rc = mdb_put(txn, s->dbi[DB_ENTRIES], &k, &nv, 0);
    free(stripped);
    return rc;
}

/* Take the current version of a record out of the indexes (update, retraction, expiry). */
static int rec_unindex(struct store *s, struct wbatch *w, const uint8_t *recval, size_t len) {
    const struct rec_hdr *h = (const struct rec_hdr *)recval;
    if (len < sizeof *h)
        return MDB_CORRUPTED;
    if (h->flags & (REC_FLAG_WITHDRAWN | REC_FLAG_NOPAYLOAD))
        return 0; /* not indexed */
    uint64_t local = hub_rd64(h->local);
    uint8_t lkey[8];
    hub_be64(lkey, local);
    MDB_val lv = {8, lkey}, ev;
    int rc = mdb_get(w->txn, s->dbi[DB_ENTRIES], &lv, &ev);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    struct entry e;
    if (entry_decode(ev.mv_data, ev.mv_size, &e) != 0)
        return MDB_CORRUPTED;
    struct index_term terms[RECORD_MAX_TERMS];
    size_t n = e.payload ? record_terms(e.author, e.kind, e.payload, e.payload_len, terms,
                                        RECORD_MAX_TERMS)
                         : 0;
    uint8_t lb[8];
    hub_be64(lb, local);
    MDB_val rk = {8, lb};
    rc = mdb_del(w->txn, s->dbi[DB_RECENT], &rk, NULL);
    if (rc == 0)
        n = 0; /* indexed in the tail, never in index; the tail's postings are filtered by live */
    else if (rc != MDB_NOTFOUND)
        return rc;
    for (size_t i = 0; i < n; i++) {
        /* a version stored by this same batch is still in the pending postings */
        if (local >= w->first_local && postings_remove(&w->ix, terms[i].b, local))
            continue;
        MDB_val kv = {INDEX_TERM_LEN, terms[i].b}, dv = {8, lb};
        rc = mdb_del(w->txn, s->dbi[DB_INDEX], &kv, &dv);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    MDB_val kv = {8, lkey};
    rc = mdb_del(w->txn, s->dbi[DB_LIVE], &kv, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint64_t exp = hub_rd64(h->expires);
    if (exp) {
        uint8_t ek[16];
        hub_be64(ek, exp);
        hub_be64(ek + 8, local);
        MDB_val ekv = {16, ek};
        rc = mdb_del(w->txn, s->dbi[DB_EXPIRY], &ekv, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Purge a version of a withdrawn record, and mark its row: the record may start again later
 * (a newer version clears the record's flag), and this version's payload must stay purged. */
static int purge_version(struct store *s, MDB_txn *txn, const uint8_t rkey[RKEY_LEN],
                         uint64_t local) {
    int rc = purge_local(s, txn, local);
    if (rc != 0)
        return rc;
    uint8_t vk[RKEY_LEN + 8], flag = VERSION_WITHDRAWN;
    memcpy(vk, rkey, RKEY_LEN);
    hub_be64(vk + RKEY_LEN, local);
    MDB_val k = {sizeof vk, vk}, v = {1, &flag};
    return mdb_put(txn, s->dbi[DB_VERSIONS], &k, &v, 0);
}

/* Hide a record and purge the payloads of all its versions (retraction, expiry). */
static int rec_withdraw(struct store *s, struct wbatch *w, const uint8_t rkey[RKEY_LEN]) {
    MDB_val k = {RKEY_LEN, (void *)rkey}, v;
    int rc = mdb_get(w->txn, s->dbi[DB_RECORDS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.mv_size < sizeof(struct rec_hdr))
        return MDB_CORRUPTED;
    if ((rc = rec_unindex(s, w, v.mv_data, v.mv_size)) != 0)
        return rc;
    struct rec_hdr h;
    memcpy(&h, v.mv_data, sizeof h);
    h.flags |= REC_FLAG_WITHDRAWN;
    MDB_val nv = {sizeof h, &h};
    if ((rc = mdb_put(w->txn, s->dbi[DB_RECORDS], &k, &nv, 0)) != 0)
        return rc;

    MDB_cursor *c;
    if ((rc = mdb_cursor_open(w->txn, s->dbi[DB_VERSIONS], &c)) != 0)
        return rc;
    uint8_t start[RKEY_LEN + 8];
    memcpy(start, rkey, RKEY_LEN);
    memset(start + RKEY_LEN, 0, 8);
    MDB_val ck = {sizeof start, start}, cv;
    uint64_t locals[256];
    size_t nl = 0;
    rc = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
    /* Collect first: writing to entries while walking versions is fine in LMDB, but keeping the
     * two apart is simpler to reason about. Records rarely have more than a few versions. */
    while (rc == 0 && ck.mv_size == RKEY_LEN + 8 && memcmp(ck.mv_data, rkey, RKEY_LEN) == 0) {
        if (nl == HUB_ARRAY_LEN(locals)) {
            /* resume at this key: a copy, as the writes below change this tree's pages */
            memcpy(start, ck.mv_data, sizeof start);
            ck = (MDB_val){sizeof start, start};
            mdb_cursor_close(c);
            for (size_t i = 0; i < nl; i++)
                if ((rc = purge_version(s, w->txn, rkey, locals[i])) != 0)
                    return rc;
            nl = 0;
            if ((rc = mdb_cursor_open(w->txn, s->dbi[DB_VERSIONS], &c)) != 0)
                return rc;
            rc = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
            continue;
        }
        locals[nl++] = hub_rd64((const uint8_t *)ck.mv_data + RKEY_LEN);
        rc = mdb_cursor_get(c, &ck, &cv, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    for (size_t i = 0; i < nl; i++)
        if ((rc = purge_version(s, w->txn, rkey, locals[i])) != 0)
            return rc;
    return 0;
}

/* Index a visible version: its terms, its live row (dates, expiry), its expiry entry.
 * live_flags: MDB_APPEND for a new local (always the largest), 0 otherwise. */
static int rec_show(struct store *s, struct wbatch *w, const struct store_item *it, uint64_t local,
                    unsigned live_flags) {
    const struct entry *e = it->e;
    int rc;
    uint8_t lk[8], lv[LIVE_VAL_LEN];
    hub_be64(lk, local);
    if (w->to_tail && it->nterms) {
        uint8_t tb[RECORD_MAX_TERMS * INDEX_TERM_LEN];
        size_t nt = it->nterms < RECORD_MAX_TERMS ? it->nterms : RECORD_MAX_TERMS;
        for (size_t i = 0; i < nt; i++)
            memcpy(tb + i * INDEX_TERM_LEN, it->terms[i].b, INDEX_TERM_LEN);
        MDB_val rk = {8, lk}, rv = {nt * INDEX_TERM_LEN, tb};
        if ((rc = mdb_put(w->txn, s->dbi[DB_RECENT], &rk, &rv, live_flags)) != 0)
            return rc;
        if ((rc = tail_pending(w, it->terms, nt, local)) != 0)
            return rc;
    } else {
        for (size_t i = 0; i < it->nterms; i++)
            if ((rc = ix_add(w, &it->terms[i], local)) != 0)
                return rc == HUB_E_NOMEM ? ENOMEM : rc;
    }
    if (it->dict_len && (rc = dict_put(s, w, it->dict, it->dict_len)) != 0)
        return rc;
    hub_be64(lv, e->expires);
    be32(lv + 8, (uint32_t)it->date_start);
    be32(lv + 12, (uint32_t)it->date_end);
    MDB_val lkv = {8, lk}, lvv = {LIVE_VAL_LEN, lv}, empty = {0, ""};
    if ((rc = mdb_put(w->txn, s->dbi[DB_LIVE], &lkv, &lvv, live_flags)) != 0)
        return rc;
    if (e->expires) {
        uint8_t ek[16];
        hub_be64(ek, e->expires);
        hub_be64(ek + 8, local);
        MDB_val ekv = {16, ek};
        if ((rc = mdb_put(w->txn, s->dbi[DB_EXPIRY], &ekv, &empty, 0)) != 0)
            return rc;
    }
    return 0;
}

/* Make item the current version of its record and index it. */
static int rec_update(struct store *s, struct wbatch *w, const struct store_item *it,
                      uint64_t local) {
    const struct entry *e = it->e;
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, e->author, e->kind, e->key);
    MDB_val k = {RKEY_LEN, rkey}, v;
    int rc = mdb_get(w->txn, s->dbi[DB_RECORDS], &k, &v);
    if (rc == 0) {
        if (v.mv_size < sizeof(struct rec_hdr))
            return MDB_CORRUPTED;
        if ((rc = rec_unindex(s, w, v.mv_data, v.mv_size)) != 0)
            return rc;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    uint8_t vk[RKEY_LEN + 8];
    memcpy(vk, rkey, RKEY_LEN);
    hub_be64(vk + RKEY_LEN, local);
    MDB_val vkv = {sizeof vk, vk}, empty = {0, ""};
    if ((rc = mdb_put(w->txn, s->dbi[DB_VERSIONS], &vkv, &empty, 0)) != 0)
        return rc;

    /* A version received without its payload (purged upstream) is held but not shown. */
    int visible = e->payload != NULL || e->payload_size == 0;
    struct rec_hdr h;
    hub_be64(h.local, local);
    h.flags = visible ? 0 : REC_FLAG_NOPAYLOAD;
    hub_be64(h.expires, e->expires);
    MDB_val rv = {sizeof h, &h};
    if ((rc = mdb_put(w->txn, s->dbi[DB_RECORDS], &k, &rv, 0)) != 0)
        return rc;
    return visible ? rec_show(s, w, it, local, MDB_APPEND) : 0;
}

/* The complete copy of an entry held without its payload: store the payload and, unless the
 * record was withdrawn since, show the version again (PROTOCOL.md, payload-less copies). */
static int restore_payload(struct store *s, struct wbatch *w, const struct store_item *it,
                           const uint8_t local_be[8]) {
    const struct entry *e = it->e;
    MDB_val lk = {8, (void *)local_be}, ev;
    int rc = mdb_get(w->txn, s->dbi[DB_ENTRIES], &lk, &ev);
    if (rc != 0)
        return rc;
    struct entry held;
    if (entry_decode(ev.mv_data, ev.mv_size, &held) != 0)
        return MDB_CORRUPTED;
    if (held.payload || !e->payload || e->kind == 5 /* retractions are never held bare */)
        return 0;
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, e->author, e->kind, e->key);
    MDB_val k = {RKEY_LEN, rkey}, v;
    if ((rc = mdb_get(w->txn, s->dbi[DB_RECORDS], &k, &v)) != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    struct rec_hdr h;
    if (v.mv_size < sizeof h)
        return MDB_CORRUPTED;
    memcpy(&h, v.mv_data, sizeof h);
    if (h.flags & REC_FLAG_WITHDRAWN)
        return 0; /* retracted or expired: its payloads stay purged */
    /* ... also when the record started again since (a newer version after the withdrawal) */
    uint8_t vk[RKEY_LEN + 8];
    memcpy(vk, rkey, RKEY_LEN);
    memcpy(vk + RKEY_LEN, local_be, 8);
    MDB_val vkv = {sizeof vk, vk}, vv;
    if ((rc = mdb_get(w->txn, s->dbi[DB_VERSIONS], &vkv, &vv)) != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (vv.mv_size >= 1 && (*(const uint8_t *)vv.mv_data & VERSION_WITHDRAWN))
        return 0;
    MDB_val wv = {e->wire_len, (void *)e->wire};
    if ((rc = mdb_put(w->txn, s->dbi[DB_ENTRIES], &lk, &wv, 0)) != 0)
        return rc;
    if (memcmp(h.local, local_be, 8) != 0 || !(h.flags & REC_FLAG_NOPAYLOAD))
        return 0; /* an older version: the current one is shown already */
    h.flags = 0;
    MDB_val rv = {sizeof h, &h};
    if ((rc = mdb_put(w->txn, s->dbi[DB_RECORDS], &k, &rv, 0)) != 0)
        return rc;
    return rec_show(s, w, it, hub_rd64(local_be), 0);
}

static int feed_get(struct store *s, MDB_txn *txn, const uint8_t author[32], struct feed_head *h) {
    MDB_val k = {32, (void *)author}, v;
    memset(h, 0, sizeof *h);
    memcpy(h->author, author, 32);
    int rc = mdb_get(txn, s->dbi[DB_FEEDS], &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != FEED_VAL_LEN)
        return MDB_CORRUPTED;
    const uint8_t *p = v.mv_data;
    h->seq = hub_rd64(p);
    memcpy(h->id, p + 8, 32);
    h->timestamp = hub_rd64(p + 40);
    h->forked = p[48] & FEED_FLAG_FORKED;
    return 0;
}

static int feed_put(struct store *s, MDB_txn *txn, const struct feed_head *h) {
    uint8_t b[FEED_VAL_LEN];
    hub_be64(b, h->seq);
    memcpy(b + 8, h->id, 32);
    hub_be64(b + 40, h->timestamp);
    b[48] = h->forked ? FEED_FLAG_FORKED : 0;
    MDB_val k = {32, (void *)h->author}, v = {FEED_VAL_LEN, b};
    return mdb_put(txn, s->dbi[DB_FEEDS], &k, &v, 0);
}

static int feed_flush(struct store *s, struct wbatch *w) {
    if (w->fh_state != FH_DIRTY)
        return 0;
    w->fh_state = FH_CLEAN;
    return feed_put(s, w->txn, &w->fh);
}

/* feed_get and feed_put through the batch's cached head. */
static int batch_feed_get(struct store *s, struct wbatch *w, const uint8_t author[32],
                          struct feed_head *h) {
    if (w->fh_state == FH_NONE || memcmp(w->fh.author, author, 32) != 0) {
        int rc = feed_flush(s, w);
        if (rc != 0)
            return rc;
        rc = feed_get(s, w->txn, author, &w->fh);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        w->fh_state = FH_CLEAN;
    }
    *h = w->fh;
    return 0;
}

static void batch_feed_put(struct wbatch *w, const struct feed_head *h) {
    w->fh = *h;
    w->fh_state = FH_DIRTY;
}

static int fork_record(struct store *s, MDB_txn *txn, const struct entry *e, const uint8_t held[32],
                       uint64_t now) {
    uint8_t k[40];
    memcpy(k, e->author, 32);
    hub_be64(k + 32, e->seq);
    size_t len = 8 + 32 + e->wire_len;
    uint8_t *b = malloc(len);
    if (!b)
        return ENOMEM;
    hub_be64(b, now);
    memcpy(b + 8, held, 32);
    memcpy(b + 40, e->wire, e->wire_len);
    MDB_val kv = {40, k}, v = {len, b};
    int rc = mdb_put(txn, s->dbi[DB_FORKS], &kv, &v, MDB_NOOVERWRITE);
    free(b);
    return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Chain rule for one item; on success stores it. Returns an MDB code for store failures and
 * sets it->result for the entry's own outcome. */
static int append_one(struct store *s, struct wbatch *w, struct store_item *it) {
    const struct entry *e = it->e;
    MDB_val idk = {32, (void *)e->id}, v;
    struct feed_head h;
    int rc = batch_feed_get(s, w, e->author, &h);
    if (rc != 0)
        return rc;
    /* The id commits to author and seq, so an entry past the feed's head cannot be held: the
     * look-up by id (a random B-tree descent) is only needed for seqs up to the head. */
    rc = (h.forked || e->seq <= h.seq) ? mdb_get(w->txn, s->dbi[DB_IDS], &idk, &v) : MDB_NOTFOUND;
    if (rc == 0) {
        it->result = HUB_E_DUPLICATE;
        uint8_t local_be[8];
        if (v.mv_size != 8)
            return MDB_CORRUPTED;
        memcpy(local_be, v.mv_data, 8);
        return e->payload ? restore_payload(s, w, it, local_be) : 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    if (h.forked) {
        it->result = HUB_E_FORKED_FEED;
        return 0;
    }
    if (e->seq <= h.seq) {
        /* Not a duplicate by id, so another entry holds this seq: the key is used twice. */
        uint8_t ck[40];
        memcpy(ck, e->author, 32);
        hub_be64(ck + 32, e->seq);
        MDB_val ckv = {40, ck}, cv;
        if ((rc = mdb_get(w->txn, s->dbi[DB_CHAIN], &ckv, &cv)) != 0)
            return rc;
        if ((rc = fork_record(s, w->txn, e, (const uint8_t *)cv.mv_data + 8, w->now)) != 0)
            return rc;
        h.forked = 1;
        batch_feed_put(w, &h);
        it->result = HUB_E_FORK;
        return 0;
    }
    if (e->seq > h.seq + 1) {
        it->result = HUB_E_GAP;
        return 0;
    }
    static const uint8_t zero[32];
    if (memcmp(e->prev, h.seq ? h.id : zero, 32) != 0) {
        it->result = HUB_E_PREV;
        return 0;
    }
    if (e->timestamp < h.timestamp) {
        it->result = HUB_E_TIMESTAMP;
        return 0;
    }

    uint64_t local = s->next_local;
    uint8_t lk[8];
    hub_be64(lk, local);
    MDB_val lkv = {8, lk}, wv = {e->wire_len, (void *)e->wire};
    if ((rc = mdb_put(w->txn, s->dbi[DB_ENTRIES], &lkv, &wv, MDB_APPEND)) != 0)
        return rc;
    if ((rc = mdb_put(w->txn, s->dbi[DB_IDS], &idk, &lkv, MDB_NOOVERWRITE)) != 0)
        return rc;
    uint8_t ck[40], cvb[CHAIN_VAL_LEN];
    memcpy(ck, e->author, 32);
    hub_be64(ck + 32, e->seq);
    memcpy(cvb, lk, 8);
    memcpy(cvb + 8, e->id, 32);
    MDB_val ckv = {40, ck}, cvv = {CHAIN_VAL_LEN, cvb};
    if ((rc = mdb_put(w->txn, s->dbi[DB_CHAIN], &ckv, &cvv, 0)) != 0)
        return rc;
    h.seq = e->seq;
    memcpy(h.id, e->id, 32);
    h.timestamp = e->timestamp;
    batch_feed_put(w, &h);

    if (e->kind == 5 /* KIND_RETRACTION */) {
        if (it->retract_key) {
            uint8_t rkey[RKEY_LEN];
            rkey_make(rkey, e->author, it->retract_kind, it->retract_key);
            if ((rc = rec_withdraw(s, w, rkey)) != 0)
                return rc;
        }
    } else if ((rc = rec_update(s, w, it, local)) != 0) {
        return rc;
    }
    s->next_local = local + 1;
    it->local = local;
    it->result = HUB_OK;
    return 0;
}

/* A write failed with rc (an errno or MDB_* code). LMDB reports a short write, which is what a
 * full filesystem gives, as EIO: so on EIO or ENOSPC look at the free space of the data dir's
 * filesystem (fstatvfs, the bytes an unprivileged process may use) and report E_DISK_FULL, with
 * the numbers logged and kept for the client (store_full_detail), when less is free than the
 * write needed at least: need bytes of entries plus STORE_WRITE_SLACK. */
static int store_write_err(struct store *s, int rc, uint64_t need, const char *what) {
    if (rc != EIO && rc != ENOSPC)
        return store_err(rc);
    mdb_filehandle_t fd;
    struct statvfs vfs;
    const char *dir = NULL;
    if (mdb_env_get_fd(s->env, &fd) != 0 || fstatvfs(fd, &vfs) != 0) {
        log_warn("store", "%s failed (%s), and the free space of the data dir is unknown", what,
                 mdb_strerror(rc));
        return store_err(rc);
    }
    if (mdb_env_get_path(s->env, &dir) != 0 || dir == NULL)
        dir = "the data dir";
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t want = need + STORE_WRITE_SLACK;
    if (avail >= want && rc == EIO) {
        log_error("store", "%s failed: %s (%llu bytes free on the filesystem of %s)", what,
                  mdb_strerror(rc), (unsigned long long)avail, dir);
        return HUB_E_IO;
    }
    char detail[sizeof s->full_detail];
    snprintf(detail, sizeof detail,
             "the filesystem of %s has %llu bytes free; this write needs at least %llu (%llu of "
             "entries + %llu for the store's pages)",
             dir, (unsigned long long)avail, (unsigned long long)want, (unsigned long long)need,
             (unsigned long long)STORE_WRITE_SLACK);
    log_error("store", "disk full: %s refused, nothing of it stored: %s", what, detail);
    pthread_mutex_lock(&s->full_mu);
    memcpy(s->full_detail, detail, sizeof detail);
    pthread_mutex_unlock(&s->full_mu);
    return HUB_E_DISK_FULL;
}

void store_full_detail(struct store *s, char *out, size_t len) {
    pthread_mutex_lock(&s->full_mu);
    snprintf(out, len, "%s", s->full_detail[0] ? s->full_detail : "storage full");
    pthread_mutex_unlock(&s->full_mu);
}

static int store_grow(struct store *s) {
    uint64_t want = s->map_size * 2;
    if (want > s->max_map)
        want = s->max_map;
    if (want <= s->map_size)
        return HUB_E_DISK_FULL;
    /* no transaction may be open in the process: the caller holds write_mu, readers wait */
    pthread_rwlock_wrlock(&s->env_lock);
    int rc = mdb_env_set_mapsize(s->env, want);
    pthread_rwlock_unlock(&s->env_lock);
    if (rc != 0)
        return store_err(rc);
    log_info("store", "map size grown from %llu to %llu MiB",
             (unsigned long long)(s->map_size >> 20), (unsigned long long)(want >> 20));
    s->map_size = want;
    return HUB_OK;
}

int store_append(struct store *s, struct store_item *items, size_t n) {
    return store_append_ready(s, items, n, NULL, NULL, 0);
}

/* Rows in "recent" as the transaction sees them. */
static int recent_count(struct store *s, MDB_txn *txn, size_t *n) {
    MDB_stat st;
    int rc = mdb_stat(txn, s->dbi[DB_RECENT], &st);
    *n = rc == 0 ? st.ms_entries : 0;
    return rc;
}

/* Moves the oldest tail records (at most max) from "recent" into index, in one transaction;
 * those no longer live (updated, retracted, expired) are dropped. */
static int tail_merge(struct store *s, size_t max) {
    struct wbatch w = {0};
    w.now = hub_now_ms();
    w.first_local = UINT64_MAX; /* the merge stores no entries */
    w.append_floor = s->index_max + 1;
    for (;;) {
        uint64_t t0 = hub_mono_us();
        size_t merged = 0, dropped = 0;
        uint64_t cut = 0;
        int rc = mdb_txn_begin(s->env, NULL, 0, &w.txn);
        MDB_cursor *c = NULL;
        if (rc == 0)
            rc = mdb_cursor_open(w.txn, s->dbi[DB_RECENT], &c);
        MDB_val k, v;
        /* each row is read, then deleted: the next oldest is the first again */
        while (rc == 0 && merged + dropped < max &&
               (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
            if (k.mv_size != 8 || v.mv_size % INDEX_TERM_LEN != 0) {
                rc = MDB_CORRUPTED;
                break;
            }
            uint64_t local = hub_rd64(k.mv_data);
            MDB_val lv;
            /* only current, visible versions: an update deleted the old one's row already, but
             * an expired or retracted record may have lost only its live row */
            if (mdb_get(w.txn, s->dbi[DB_LIVE], &k, &lv) == 0) {
                for (size_t i = 0; i < v.mv_size / INDEX_TERM_LEN && rc == 0; i++)
                    if (postings_add(&w.ix, (const uint8_t *)v.mv_data + i * INDEX_TERM_LEN, local))
                        rc = ENOMEM;
                merged++;
            } else {
                dropped++;
            }
            cut = local;
            if (rc == 0)
                rc = mdb_cursor_del(c, 0);
        }
        if (c)
            mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND) /* "recent" is empty */
            rc = 0;
        if (rc == 0)
            rc = ix_flush(s, &w);
        size_t left = 0;
        if (rc == 0)
            rc = recent_count(s, w.txn, &left);
        if (rc == 0) {
            rc = mdb_txn_commit(w.txn);
            w.txn = NULL;
        }
        if (w.txn)
            mdb_txn_abort(w.txn);
        w.txn = NULL;
        if (rc == 0) {
            if (w.ix_max > s->index_max)
                s->index_max = w.ix_max;
            pthread_mutex_lock(&s->tail_mu);
            s->recent_rows = left;
            if (left == 0) {
                tail_clear(s->tail); /* also forgets terms no record uses any more */
                s->tail_incomplete = 0;
            } else {
                tail_drop_upto(s->tail, cut);
            }
            pthread_mutex_unlock(&s->tail_mu);
            log_debug("store",
                      "merged %zu tail records into the index (%zu no longer current) in %llu us; "
                      "%zu left in the tail",
                      merged, dropped, (unsigned long long)(hub_mono_us() - t0), left);
            break;
        }
        wbatch_reset(&w);
        if (rc == MDB_MAP_FULL && store_grow(s) == 0)
            continue;
        /* The tail stays as it is (memory and "recent"): queries still find every record; the
         * merge is tried again later. */
        wbatch_free(&w);
        if (rc == EIO || rc == ENOSPC)
            return store_write_err(s, rc, 0, "merging the index tail");
        log_error("store", "merging the index tail failed: %s", mdb_strerror(rc));
        return store_err(rc);
    }
    wbatch_free(&w);
    return HUB_OK;
}

static int sigpend_note(struct store *s, MDB_txn *txn, const struct store_item *items, size_t n);

static int append_locked(struct store *s, struct store_item *items, size_t n, store_ready_fn ready,
                         void *arg, unsigned flags) {
    struct wbatch w = {0};
    w.now = hub_now_ms();
    uint64_t first_local = s->next_local;
    w.first_local = first_local;
    w.append_floor = first_local;
    w.to_tail = n < s->direct_min && !(flags & STORE_BULK);
    /* A request stored as its entries are signed or checked (ready: an import) writes its
     * postings every STORE_IX_CHUNK entries, while the workers still have entries to sign:
     * written at the end, they kept one core busy and the other idle. (A catch-up batch's
     * workers have the next batch to check meanwhile: it writes them once, fewer seeks.) */
    int early_ix = ready && !w.to_tail && !(flags & STORE_BULK);
    uint64_t need = 0; /* wire bytes of the items appended: what a failed write needed at least */
    for (;;) {
        uint64_t tb = hub_mono_us();
        need = 0;
        int rc = mdb_txn_begin(s->env, NULL, 0, &w.txn);
        if (rc == 0) {
            for (size_t i = 0; i < n && rc == 0; i++) {
                items[i].local = 0;
                int pre = ready ? ready(arg, i) : 0;
                if (pre == STORE_READY_ABORT) {
                    mdb_txn_abort(w.txn);
                    s->next_local = first_local;
                    wbatch_free(&w);
                    return HUB_E_INTERNAL;
                }
                if (pre != 0) {
                    items[i].result = pre; /* refused before the chain rule (e.g. signature) */
                    continue;
                }
                items[i].result = HUB_E_INTERNAL;
                need += items[i].e->wire_len;
                rc = append_one(s, &w, &items[i]);
                if (rc == 0 && early_ix && (i + 1) % STORE_IX_CHUNK == 0 && i + 1 < n)
                    rc = ix_flush(s, &w);
            }
            uint64_t t0 = hub_mono_us();
            if (rc == 0)
                rc = sigpend_note(s, w.txn, items, n);
            if (rc == 0)
                rc = feed_flush(s, &w);
            if (rc == 0)
                rc = ix_flush(s, &w);
            if (rc == 0)
                rc = recent_count(s, w.txn, &w.recent_rows);
            uint64_t t1 = hub_mono_us();
            if (rc == 0) {
                rc = mdb_txn_commit(w.txn);
                if (rc == 0) {
                    hist_add(&s->commit_us, hub_mono_us() - t1);
                    hist_add(&s->batch_entries, n);
                }
                log_debug("store", "batch %zu (%s): items %llu us, index %llu us, commit %llu us",
                          n, w.to_tail ? "tail" : "index", (unsigned long long)(t0 - tb),
                          (unsigned long long)(t1 - t0), (unsigned long long)(hub_mono_us() - t1));
                w.txn = NULL;
            }
        }
        if (w.txn)
            mdb_txn_abort(w.txn);
        w.txn = NULL;
        if (rc == 0)
            break;
        wbatch_reset(&w);
        s->next_local = first_local; /* nothing of the batch was stored */
        if (rc == MDB_MAP_FULL && store_grow(s) == 0)
            continue;
        wbatch_free(&w);
        int err;
        if (rc == MDB_MAP_FULL) {
            char detail[sizeof s->full_detail];
            snprintf(detail, sizeof detail,
                     "the store's map is at its maximum, %llu MiB of max_map_size %llu MiB",
                     (unsigned long long)(s->map_size >> 20),
                     (unsigned long long)(s->max_map >> 20));
            log_error("store", "storage full (%s): batch of %zu refused", detail, n);
            pthread_mutex_lock(&s->full_mu);
            memcpy(s->full_detail, detail, sizeof detail);
            pthread_mutex_unlock(&s->full_mu);
            err = HUB_E_DISK_FULL;
        } else if (rc == EIO || rc == ENOSPC) {
            char what[64];
            snprintf(what, sizeof what, "a batch of %zu entries", n);
            err = store_write_err(s, rc, need, what);
        } else {
            log_error("store", "write failed: %s; batch of %zu refused", mdb_strerror(rc), n);
            err = store_err(rc);
        }
        for (size_t i = 0; i < n; i++)
            items[i].result = err;
        return err;
    }
    if (w.ix_max > s->index_max)
        s->index_max = w.ix_max;
    tail_apply(s, &w);
    wbatch_free(&w);
    /* The batch is stored; a failed merge is logged, and tried again after the next write. */
    if (s->tail_incomplete) {
        /* the memory tail lacks records: merge all of "recent", so queries see them again */
        while (s->recent_rows && tail_merge(s, s->chunk) == 0)
            ;
    } else if (s->recent_rows >= s->tail_max) {
        (void)tail_merge(s, s->chunk);
    }
    return HUB_OK;
}

int store_append_ready(struct store *s, struct store_item *items, size_t n, store_ready_fn ready,
                       void *arg, unsigned flags) {
    pthread_mutex_lock(&s->write_mu);
    int rc = append_locked(s, items, n, ready, arg, flags);
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

int store_maintain(struct store *s) {
    pthread_mutex_lock(&s->write_mu);
    int merged = s->recent_rows > s->idle_min && tail_merge(s, s->chunk) == 0;
    pthread_mutex_unlock(&s->write_mu);
    return merged;
}

void store_set_tail_limits(struct store *s, size_t direct_min, size_t tail_max, size_t chunk,
                           size_t idle_min) {
    s->direct_min = direct_min;
    s->tail_max = tail_max;
    s->chunk = chunk;
    s->idle_min = idle_min;
}

/* ---- read path ---- */

int store_feed_head(struct store *s, const uint8_t author[32], struct feed_head *out) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = feed_get(s, txn, author, out);
    rtxn_end(s);
    return store_err(rc);
}

int store_feeds(struct store *s, int (*cb)(const struct feed_head *h, void *arg), void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_FEEDS], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k, v;
    int ret = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 32 || v.mv_size != FEED_VAL_LEN)
            continue;
        struct feed_head h;
        memcpy(h.author, k.mv_data, 32);
        const uint8_t *p = v.mv_data;
        h.seq = hub_rd64(p);
        memcpy(h.id, p + 8, 32);
        h.timestamp = hub_rd64(p + 40);
        h.forked = p[48] & FEED_FLAG_FORKED;
        ret = cb(&h, arg);
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return ret;
}

int store_held_sizes(struct store *s, const struct entry *const *es, size_t n, size_t *sizes) {
    MDB_txn *txn; /* its own: a big batch is screened on a thread of its own (node.c) */
    int rc = otxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    struct feed_head h = {.seq = 0};
    int have_head = 0;
    for (size_t i = 0; i < n; i++) {
        sizes[i] = 0;
        if (es[i] == NULL)
            continue;
        if (!have_head || memcmp(h.author, es[i]->author, 32) != 0) {
            rc = feed_get(s, txn, es[i]->author, &h);
            if (rc != 0 && rc != MDB_NOTFOUND)
                h.forked = 1; /* unreadable: look every id up */
            have_head = 1;
        }
        /* past the feed's head: not held (the id commits to author and seq) */
        if (!h.forked && es[i]->seq > h.seq)
            continue;
        MDB_val k = {32, (void *)es[i]->id}, v, ev;
        if (mdb_get(txn, s->dbi[DB_IDS], &k, &v) == 0 && v.mv_size == 8 &&
            mdb_get(txn, s->dbi[DB_ENTRIES], &v, &ev) == 0)
            sizes[i] = ev.mv_size;
    }
    otxn_end(s, txn);
    return HUB_OK;
}

int store_get(struct store *s, const uint8_t id[32], uint8_t **wire, size_t *len) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {32, (void *)id}, v;
    rc = mdb_get(txn, s->dbi[DB_IDS], &k, &v);
    if (rc == 0)
        rc = mdb_get(txn, s->dbi[DB_ENTRIES], &v, &v);
    if (rc == 0) {
        *wire = malloc(v.mv_size);
        if (!*wire) {
            rtxn_end(s);
            return HUB_E_NOMEM;
        }
        memcpy(*wire, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    rtxn_end(s);
    return store_err(rc);
}

int store_fork_get(struct store *s, const uint8_t author[32], uint64_t *seq, uint8_t **other,
                   size_t *len) {
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_FORKS], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    uint8_t kb[40] = {0};
    memcpy(kb, author, 32);
    MDB_val k = {40, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); /* the author's lowest forked seq */
    if (rc == 0 && (k.mv_size != 40 || memcmp(k.mv_data, author, 32) != 0 || v.mv_size <= 40))
        rc = MDB_NOTFOUND;
    if (rc == 0) {
        *seq = hub_rd64((const uint8_t *)k.mv_data + 32);
        *len = v.mv_size - 40;
        *other = malloc(*len);
        if (!*other) {
            mdb_cursor_close(c);
            rtxn_end(s);
            return HUB_E_NOMEM;
        }
        memcpy(*other, (const uint8_t *)v.mv_data + 40, *len);
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return store_err(rc);
}

static int id_has_prefix(const uint8_t *id, const uint8_t *prefix, size_t nibbles) {
    if (memcmp(id, prefix, nibbles / 2) != 0)
        return 0;
    return nibbles % 2 == 0 || (id[nibbles / 2] >> 4) == (prefix[nibbles / 2] >> 4);
}

int store_resolve_id(struct store *s, const uint8_t *prefix, size_t nibbles, uint8_t out[32]) {
    if (nibbles == 0 || nibbles > 64)
        return HUB_E_RANGE;
    uint8_t start[32] = {0};
    memcpy(start, prefix, (nibbles + 1) / 2);
    if (nibbles % 2)
        start[nibbles / 2] &= 0xf0;
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_IDS], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    /* ids are keys in byte order: the first key >= the prefix padded with zeros is the only
     * candidate, and the one after it tells whether the prefix is ambiguous */
    MDB_val k = {32, start}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    int result = HUB_E_NOT_FOUND;
    if (rc == 0 && k.mv_size == 32 && id_has_prefix(k.mv_data, start, nibbles)) {
        memcpy(out, k.mv_data, 32);
        result = HUB_OK;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        if (rc == 0 && k.mv_size == 32 && id_has_prefix(k.mv_data, start, nibbles))
            result = HUB_E_RANGE;
        rc = 0;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return result;
}

int store_feed_range(struct store *s, const uint8_t author[32], uint64_t from, size_t max_count,
                     size_t max_bytes, int (*cb)(const uint8_t *wire, size_t len, void *arg),
                     void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_CHAIN], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    uint8_t start[40];
    memcpy(start, author, 32);
    hub_be64(start + 32, from);
    MDB_val k = {40, start}, v;
    int count = 0;
    size_t bytes = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && (size_t)count < max_count && bytes < max_bytes;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 40 || memcmp(k.mv_data, author, 32) != 0)
            break;
        MDB_val lk = {8, v.mv_data}, ev;
        if ((rc = mdb_get(txn, s->dbi[DB_ENTRIES], &lk, &ev)) != 0)
            break;
        if (cb(ev.mv_data, ev.mv_size, arg) != 0)
            break;
        count++;
        bytes += ev.mv_size;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return count;
}

/* Leapfrog join over the index cursors: each term's postings are sorted by local, and the
 * join walks them downwards (newest first), so all cursors agree on a position only for records
 * that carry every term. */
struct qjoin {
    MDB_cursor *c[16];
    const struct index_term *t[16];
    uint64_t cur[16]; /* where cursor i stands, when placed[i] */
    int placed[16];
    int ended[16];            /* the term has no index postings left <= the last seek */
    const uint64_t *tail[16]; /* the term's tail postings, ascending */
    size_t ntail[16];         /* how many of them may still be <= pos */
    size_t k;                 /* terms */
    /* Clauses (all of them must match): clause c is any of terms [cfirst[c], cfirst[c + 1]).
     * A clause of one term is the plain leapfrog; a longer one answers a seek with the
     * greatest of its terms' answers (a union of sorted lists, walked in step). */
    size_t cfirst[17];
    size_t nc;
};

/* The term's last tail posting <= pos; 1 and *got, or 0. Positions only go down, so the
 * postings above pos are dropped for good. */
static int qjoin_tail_seek(struct qjoin *j, size_t i, uint64_t pos, uint64_t *got) {
    const uint64_t *t = j->tail[i];
    size_t lo = 0, hi = j->ntail[i];
    if (hi && t[hi - 1] > pos) {
        while (lo < hi) { /* first index whose posting is > pos */
            size_t mid = lo + (hi - lo) / 2;
            if (t[mid] > pos)
                hi = mid;
            else
                lo = mid + 1;
        }
        j->ntail[i] = lo;
    }
    if (!j->ntail[i])
        return 0;
    *got = t[j->ntail[i] - 1];
    return 1;
}

static int qjoin_index_seek(struct qjoin *j, size_t i, uint64_t pos, uint64_t *got);

/* Term i's last posting <= pos, from the index or the tail; 1 and *got, or 0 when none. */
static int qjoin_seek(struct qjoin *j, size_t i, uint64_t pos, uint64_t *got) {
    uint64_t a = 0, b = 0;
    int ia = !j->ended[i] && qjoin_index_seek(j, i, pos, &a);
    if (!ia)
        j->ended[i] = 1;
    int ib = qjoin_tail_seek(j, i, pos, &b);
    if (!ia && !ib)
        return 0;
    *got = !ia ? b : !ib ? a : a > b ? a : b;
    return 1;
}

/* Position cursor i at the term's last index posting <= pos; 1 and *got, or 0 if none. */
static int qjoin_index_seek(struct qjoin *j, size_t i, uint64_t pos, uint64_t *got) {
    MDB_val k, v;
    if (j->placed[i]) {
        /* Most seeks land at or just before where the cursor stands: answer those without
         * searching the tree from its root again. */
        if (j->cur[i] <= pos) {
            *got = j->cur[i];
            return 1;
        }
        if (mdb_cursor_get(j->c[i], &k, &v, MDB_PREV_DUP) != 0 || v.mv_size != 8)
            return 0; /* no older postings of this term */
        j->cur[i] = hub_rd64(v.mv_data);
        if (j->cur[i] <= pos) {
            *got = j->cur[i];
            return 1;
        }
    }
    uint8_t p[8];
    hub_be64(p, pos);
    k = (MDB_val){INDEX_TERM_LEN, (void *)j->t[i]->b};
    v = (MDB_val){8, p};
    /* LMDB seeks to the first duplicate >= pos; the one wanted is that or the one before */
    int rc = mdb_cursor_get(j->c[i], &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == MDB_NOTFOUND) {
        /* every posting is < pos, or the term has none */
        k = (MDB_val){INDEX_TERM_LEN, (void *)j->t[i]->b};
        if (mdb_cursor_get(j->c[i], &k, &v, MDB_SET) != 0 ||
            mdb_cursor_get(j->c[i], &k, &v, MDB_LAST_DUP) != 0)
            return 0;
    } else if (rc != 0) {
        return 0;
    } else if (v.mv_size == 8 && hub_rd64(v.mv_data) > pos) {
        if (mdb_cursor_get(j->c[i], &k, &v, MDB_PREV_DUP) != 0)
            return 0;
    }
    if (v.mv_size != 8)
        return 0;
    j->placed[i] = 1;
    j->cur[i] = hub_rd64(v.mv_data);
    *got = j->cur[i];
    return 1;
}

/* Clause c's last posting <= pos: the greatest of its terms'; 1 and *got, or 0 when none. */
static int qjoin_clause_seek(struct qjoin *j, size_t c, uint64_t pos, uint64_t *got) {
    int any = 0;
    *got = 0; /* defined on every return: gcc 12 -O2 cannot see that callers read it only on 1 */
    for (size_t i = j->cfirst[c]; i < j->cfirst[c + 1]; i++) {
        uint64_t g;
        if (qjoin_seek(j, i, pos, &g) && (!any || g > *got)) {
            *got = g;
            any = 1;
        }
    }
    return any;
}

static int qjoin_next(struct qjoin *j, uint64_t *pos) {
    size_t agreed = 0, i = 0;
    while (agreed < j->nc) {
        uint64_t got;
        if (!(j->cfirst[i + 1] - j->cfirst[i] == 1 ? qjoin_seek(j, j->cfirst[i], *pos, &got)
                                                   : qjoin_clause_seek(j, i, *pos, &got)))
            return 0;
        if (got == *pos) {
            agreed++;
        } else {
            *pos = got;
            agreed = 1;
        }
        i = (i + 1) % j->nc;
    }
    return 1;
}

/* Splits q's terms into its clauses (store.h, struct store_query): E_RANGE when a clause's
 * terms are not together or there are too many. */
static int qjoin_clauses(const struct store_query *q, size_t k, size_t *cfirst, size_t max,
                         size_t *nc) {
    *nc = 0;
    if (q->clause && k > 0 && q->clause[0] != 0)
        return HUB_E_RANGE;
    for (size_t i = 0; i < k; i++) {
        if (i == 0 || !q->clause || q->clause[i] != q->clause[i - 1]) {
            if (q->clause && i > 0 && q->clause[i] != q->clause[i - 1] + 1)
                return HUB_E_RANGE;
            if (*nc == max)
                return HUB_E_RANGE;
            cfirst[(*nc)++] = i;
        }
    }
    cfirst[*nc] = k;
    return HUB_OK;
}

/* Is the live row p (LIVE_VAL_LEN bytes) of a record q may show: not expired, in the dates? */
static int query_live_ok(const struct store_query *q, const uint8_t *p, int32_t *start) {
    uint64_t exp = hub_rd64(p);
    int32_t ds = (int32_t)rd32(p + 8), de = (int32_t)rd32(p + 12);
    if (de == 0)
        de = ds;
    *start = ds;
    if (exp && exp <= q->now_ms)
        return 0;
    if ((q->date_from || q->date_to) &&
        !(ds != 0 && (!q->date_to || ds <= q->date_to) && (!q->date_from || de >= q->date_from)))
        return 0;
    return !q->start_from || (ds != 0 && ds >= q->start_from);
}

struct start_hit {
    uint32_t start; /* days in unsigned order (sign bit flipped), undated as UINT32_MAX: last */
    uint64_t local;
};

static int start_hit_cmp(const void *a, const void *b) {
    const struct start_hit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->local < y->local ? 1 : x->local > y->local ? -1 : 0; /* then newest first */
}

/* store_query sorted by start date: every match is read (its live row), sorted, and the page
 * after q->cursor - 1 results passed to cb. */
static int store_query_by_start(struct store *s, MDB_txn *txn, struct qjoin *j,
                                const struct store_query *q,
                                int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                                uint64_t *next_cursor) {
    struct start_hit *h = NULL;
    size_t n = 0, cap = 0;
    uint64_t pos = UINT64_MAX;
    while (pos > 0 && qjoin_next(j, &pos)) {
        uint8_t lk[8];
        hub_be64(lk, pos);
        MDB_val k = {8, lk}, v;
        int32_t ds;
        if (mdb_get(txn, s->dbi[DB_LIVE], &k, &v) == 0 && v.mv_size == LIVE_VAL_LEN &&
            query_live_ok(q, v.mv_data, &ds)) {
            if (n == STORE_SORT_MAX) {
                free(h);
                return HUB_E_TOO_LARGE;
            }
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                struct start_hit *nh = realloc(h, nc * sizeof *nh);
                if (!nh) {
                    free(h);
                    return HUB_E_NOMEM;
                }
                h = nh;
                cap = nc;
            }
            /* days before 1970 are negative: offset into unsigned order; 0 is undated */
            h[n++] = (struct start_hit){ds ? (uint32_t)ds ^ 0x80000000u : UINT32_MAX, pos};
        }
        pos--;
    }
    if (n)
        qsort(h, n, sizeof *h, start_hit_cmp);
    int count = 0;
    for (size_t i = q->cursor ? (size_t)(q->cursor - 1) : 0; i < n; i++) {
        if ((size_t)count == q->limit) {
            *next_cursor = (uint64_t)i + 1;
            break;
        }
        uint8_t lk[8];
        hub_be64(lk, h[i].local);
        MDB_val k = {8, lk}, ev;
        if (mdb_get(txn, s->dbi[DB_ENTRIES], &k, &ev) == 0) {
            int r = cb(ev.mv_data, ev.mv_size, arg);
            if (r != 0 && r != STORE_QUERY_SKIP)
                break;
            if (r == 0)
                count++;
        }
    }
    free(h);
    return count;
}

int store_query(struct store *s, const struct store_query *q,
                int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                uint64_t *next_cursor) {
    struct index_term all;
    index_term_make(IDX_ALL, "", 0, &all);
    struct qjoin j = {0};
    j.k = q->nterms ? q->nterms : 1;
    if (j.k > HUB_ARRAY_LEN(j.c))
        return HUB_E_RANGE;
    if (!q->nterms) {
        j.cfirst[0] = 0;
        j.cfirst[1] = 1;
        j.nc = 1;
    } else if (qjoin_clauses(q, j.k, j.cfirst, HUB_ARRAY_LEN(j.c), &j.nc) != HUB_OK) {
        return HUB_E_RANGE;
    }
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    int count = 0;
    size_t opened = 0;
    pthread_mutex_lock(&s->tail_mu); /* the tail's arrays are read until the join ends */
    *next_cursor = 0;
    for (; opened < j.k; opened++) {
        j.t[opened] = q->nterms ? &q->terms[opened] : &all;
        j.tail[opened] = tail_postings(s->tail, j.t[opened]->b, &j.ntail[opened]);
        if ((rc = mdb_cursor_open(txn, s->dbi[DB_INDEX], &j.c[opened])) != 0) {
            rc = store_err(rc);
            goto done;
        }
    }
    if (q->sort == STORE_SORT_START) {
        rc = store_query_by_start(s, txn, &j, q, cb, arg, next_cursor);
        goto done;
    }
    /* the paging cursor "before local L" starts at L-1; local 0 is never used */
    uint64_t pos = q->cursor ? q->cursor - 1 : UINT64_MAX;
    while (pos > 0 && qjoin_next(&j, &pos)) {
        uint64_t local = pos;
        uint8_t lk[8];
        hub_be64(lk, local);
        MDB_val k = {8, lk}, v;
        if (mdb_get(txn, s->dbi[DB_LIVE], &k, &v) == 0 && v.mv_size == LIVE_VAL_LEN) {
            const uint8_t *p = v.mv_data;
            uint64_t exp = hub_rd64(p);
            int32_t ds = (int32_t)rd32(p + 8), de = (int32_t)rd32(p + 12);
            if (de == 0)
                de = ds;
            int ok = !(exp && exp <= q->now_ms);
            if (ok && (q->date_from || q->date_to)) {
                /* overlap of [ds, de] with [from, to]; undated records do not match */
                ok = ds != 0 && (!q->date_to || ds <= q->date_to) &&
                     (!q->date_from || de >= q->date_from);
            }
            if (ok && q->start_from)
                ok = ds != 0 && ds >= q->start_from;
            if (ok) {
                if ((size_t)count == q->limit) {
                    *next_cursor = local + 1;
                    break;
                }
                MDB_val ev;
                if (mdb_get(txn, s->dbi[DB_ENTRIES], &k, &ev) == 0) {
                    int r = cb(ev.mv_data, ev.mv_size, arg);
                    if (r != 0 && r != STORE_QUERY_SKIP)
                        break;
                    if (r == 0)
                        count++;
                }
            }
        }
        pos--;
    }
    rc = count;
done:
    pthread_mutex_unlock(&s->tail_mu);
    for (size_t i = 0; i < opened; i++)
        mdb_cursor_close(j.c[i]);
    rtxn_end(s);
    return rc;
}

static void postings_swap(uint64_t *a, uint64_t *b) {
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/* Matching (match_op.c) ranks records by how many of a request's terms they carry, so it reads
 * whole posting lists rather than joining them: GET_MULTIPLE hands over a page of postings per
 * call. A list longer than max keeps its newest max postings (a ring), merged with the tail's. */
int store_postings(struct store *s, const struct index_term *t, uint64_t *out, size_t max) {
    if (max == 0)
        return 0;
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->tail_mu); /* the tail and the index agree until both are read */
    MDB_cursor *c = NULL;
    size_t seen = 0;
    /* out is the ring: the newest max postings of the index, ascending from (seen % max) */
    rc = mdb_cursor_open(txn, s->dbi[DB_INDEX], &c);
    if (rc == 0) {
        MDB_val k = {INDEX_TERM_LEN, (void *)t->b}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET);
        if (rc == 0)
            rc = mdb_cursor_get(c, &k, &v, MDB_GET_MULTIPLE);
        while (rc == 0) {
            const uint8_t *p = v.mv_data;
            for (size_t i = 0; i + 8 <= v.mv_size; i += 8)
                out[seen++ % max] = hub_rd64(p + i);
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_MULTIPLE);
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
        mdb_cursor_close(c);
    }
    size_t ni = seen < max ? seen : max, nt = 0, k = 0;
    const uint64_t *tp = rc == 0 ? tail_postings(s->tail, t->b, &nt) : NULL;
    uint64_t *idx = NULL;
    if (rc == 0) {
        /* newest first: the ring holds [newer | older], each run ascending; reversing each
         * run in place gives [newer reversed | older reversed], all descending */
        size_t cut = seen > max ? seen % max : 0;
        for (size_t a = 0, b = cut; a + 1 < b; a++, b--)
            postings_swap(&out[a], &out[b - 1]);
        for (size_t a = cut, b = ni; a + 1 < b; a++, b--)
            postings_swap(&out[a], &out[b - 1]);
        k = ni;
        if (nt > 0 && (idx = malloc(ni * sizeof *idx + 1)) == NULL)
            rc = HUB_E_NOMEM;
    }
    if (rc == 0 && nt > 0) {
        /* merge the tail's postings (ascending, possibly older than some of the index's) */
        memcpy(idx, out, ni * sizeof *idx);
        size_t a = 0;
        k = 0;
        while (k < max && (a < ni || nt > 0)) {
            uint64_t x = a < ni ? idx[a] : 0, y = nt ? tp[nt - 1] : 0;
            uint64_t v = x > y ? x : y;
            if (a < ni && x == v)
                a++;
            if (nt && y == v)
                nt--;
            out[k++] = v;
        }
    }
    pthread_mutex_unlock(&s->tail_mu);
    rtxn_end(s);
    free(idx);
    return rc != 0 ? (rc < 0 ? rc : store_err(rc)) : (int)k;
}

int store_postings_count(struct store *s, const struct index_term *t, size_t *count) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->tail_mu);
    MDB_cursor *c = NULL;
    size_t n = 0;
    rc = mdb_cursor_open(txn, s->dbi[DB_INDEX], &c);
    if (rc == 0) {
        MDB_val k = {INDEX_TERM_LEN, (void *)t->b}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET);
        if (rc == 0)
            rc = mdb_cursor_count(c, &n); /* the term's sub-tree knows its size */
        else if (rc == MDB_NOTFOUND)
            rc = 0;
        mdb_cursor_close(c);
    }
    size_t nt = 0;
    if (rc == 0)
        (void)tail_postings(s->tail, t->b, &nt);
    pthread_mutex_unlock(&s->tail_mu);
    rtxn_end(s);
    *count = (size_t)n + nt;
    return store_err(rc);
}

int store_get_locals(struct store *s, const uint64_t *locals, size_t n, uint64_t now_ms,
                     int (*want)(uint64_t local, int32_t first, int32_t last, void *arg),
                     int (*cb)(uint64_t local, const uint8_t *wire, size_t len, void *arg),
                     void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t lk[8];
        hub_be64(lk, locals[i]);
        MDB_val k = {8, lk}, v, ev;
        if (mdb_get(txn, s->dbi[DB_LIVE], &k, &v) != 0 || v.mv_size != LIVE_VAL_LEN)
            continue; /* no longer current, or hidden */
        const uint8_t *p = v.mv_data;
        uint64_t exp = hub_rd64(p);
        if (exp && exp <= now_ms)
            continue;
        if (want && !want(locals[i], (int32_t)rd32(p + 8), (int32_t)rd32(p + 12), arg))
            continue;
        if (mdb_get(txn, s->dbi[DB_ENTRIES], &k, &ev) != 0)
            continue;
        count++;
        if (cb(locals[i], ev.mv_data, ev.mv_size, arg) != 0)
            break;
    }
    rtxn_end(s);
    return count;
}

int store_versions(struct store *s, const uint8_t author[32], int kind, const char *key,
                   int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg) {
    uint8_t start[RKEY_LEN + 8];
    rkey_make(start, author, kind, key);
    memset(start + RKEY_LEN, 0, 8);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_VERSIONS], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k = {sizeof start, start}, v;
    int count = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != sizeof start || memcmp(k.mv_data, start, RKEY_LEN) != 0)
            break;
        MDB_val lk = {8, (uint8_t *)k.mv_data + RKEY_LEN}, ev;
        if (mdb_get(txn, s->dbi[DB_ENTRIES], &lk, &ev) != 0)
            continue;
        count++;
        if (cb(ev.mv_data, ev.mv_size, arg) != 0)
            break;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return count ? count : HUB_E_NOT_FOUND;
}

int store_record_current(struct store *s, const uint8_t author[32], int kind, const char *key,
                         uint8_t id[32]) {
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, author, kind, key);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {RKEY_LEN, rkey}, v;
    rc = mdb_get(txn, s->dbi[DB_RECORDS], &k, &v);
    if (rc == 0) {
        const struct rec_hdr *h = v.mv_data;
        if (v.mv_size < sizeof *h || (h->flags & (REC_FLAG_WITHDRAWN | REC_FLAG_NOPAYLOAD))) {
            rc = MDB_NOTFOUND;
        } else {
            MDB_val lk = {8, (void *)h->local}, ev;
            rc = mdb_get(txn, s->dbi[DB_ENTRIES], &lk, &ev);
            struct entry e;
            if (rc == 0 && entry_decode(ev.mv_data, ev.mv_size, &e) == 0)
                memcpy(id, e.id, 32);
            else if (rc == 0)
                rc = MDB_CORRUPTED;
        }
    }
    rtxn_end(s);
    return store_err(rc);
}

static int sweep_locked(struct store *s, uint64_t now_ms, size_t max, size_t *purged);

int store_sweep_expired(struct store *s, uint64_t now_ms, size_t max, size_t *purged) {
    pthread_mutex_lock(&s->write_mu);
    int rc = sweep_locked(s, now_ms, max, purged);
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

static int sweep_locked(struct store *s, uint64_t now_ms, size_t max, size_t *purged) {
    *purged = 0;
    struct wbatch w = {0};
    w.now = now_ms;
    w.first_local = UINT64_MAX; /* nothing pending: no insert happens in a sweep */
    w.append_floor = UINT64_MAX;
    int rc = mdb_txn_begin(s->env, NULL, 0, &w.txn);
    if (rc != 0)
        return store_err(rc);
    uint8_t rkeys[64][RKEY_LEN];
    size_t n = 0;
    if (max > HUB_ARRAY_LEN(rkeys))
        max = HUB_ARRAY_LEN(rkeys);
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(w.txn, s->dbi[DB_EXPIRY], &c)) != 0)
        goto fail;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || hub_rd64(k.mv_data) > now_ms)
            break;
        MDB_val lk = {8, (uint8_t *)k.mv_data + 8}, ev;
        struct entry e;
        if (mdb_get(w.txn, s->dbi[DB_ENTRIES], &lk, &ev) == 0 &&
            entry_decode(ev.mv_data, ev.mv_size, &e) == 0)
            rkey_make(rkeys[n++], e.author, e.kind, e.key);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = rec_withdraw(s, &w, rkeys[i]);
    if (rc != 0)
        goto fail;
    if ((rc = mdb_txn_commit(w.txn)) != 0) {
        wbatch_free(&w);
        return store_write_err(s, rc, 0, "purging expired records");
    }
    wbatch_free(&w);
    *purged = n;
    return HUB_OK;
fail:
    mdb_txn_abort(w.txn);
    wbatch_free(&w);
    return store_err(rc);
}

int store_forks(struct store *s, int (*cb)(const struct store_fork *f, void *arg), void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_FORKS], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k, v;
    int ret = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 40 || v.mv_size < 40)
            continue;
        struct store_fork f;
        memcpy(f.author, k.mv_data, 32);
        f.seq = hub_rd64((const uint8_t *)k.mv_data + 32);
        f.detected_ms = hub_rd64(v.mv_data);
        memcpy(f.held_id, (const uint8_t *)v.mv_data + 8, 32);
        struct entry e;
        if (entry_decode((const uint8_t *)v.mv_data + 40, v.mv_size - 40, &e) == 0)
            memcpy(f.other_id, e.id, 32);
        else
            memset(f.other_id, 0, 32);
        ret = cb(&f, arg);
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return ret;
}

json_t *store_histograms(const struct store *s) {
    return json_pack("{s:o, s:o}", "commit_seconds", hist_json(&s->commit_us), "batch_entries",
                     hist_json(&s->batch_entries));
}

int store_stats(struct store *s, struct store_stats *out) {
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_stat st;
    uint64_t pages = 0;
    static const int which[] = {DB_ENTRIES, DB_LIVE, DB_FEEDS, DB_FORKS};
    uint64_t *dst[] = {&out->entries, &out->records, &out->feeds, &out->forks};
    for (size_t i = 0; i < HUB_ARRAY_LEN(which); i++)
        if (mdb_stat(txn, s->dbi[which[i]], &st) == 0)
            *dst[i] = st.ms_entries;
    for (int i = 0; i < DB_COUNT; i++)
        if (i != DB_VERSIONS && mdb_stat(txn, s->dbi[i], &st) == 0)
            pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    MDB_envinfo info;
    mdb_env_info(s->env, &info); /* not while the map is resized */
    rtxn_end(s);
    out->map_size = info.me_mapsize;
    out->used_bytes = pages * 4096;
    pthread_mutex_lock(&s->tail_mu);
    out->index_tail = s->recent_rows;
    pthread_mutex_unlock(&s->tail_mu);
    return HUB_OK;
}

/* ---- full-text queries ---- */

int store_dict_words(struct store *s, int stem, const char *w, size_t len,
                     char (*words)[TS_WORD_MAX + 1], size_t max, size_t *nwords) {
    *nwords = 0;
    if (len == 0 || len > TS_WORD_MAX)
        return HUB_OK;
    uint8_t key[TS_WORD_MAX + 2];
    key[0] = stem ? 's' : 'w';
    memcpy(key + 1, w, len);
    size_t kl = len + 1;
    if (stem)
        key[kl++] = 0;
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_WORDS], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k = {kl, key}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && *nwords < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < kl || memcmp(k.mv_data, key, kl) != 0)
            break;
        /* 'w' rows: the word is the key after 'w'; 's' rows: after the stem's 0x00 */
        const char *kd = (const char *)k.mv_data + (stem ? kl : 1);
        size_t wl = k.mv_size - (stem ? kl : 1);
        if (wl == 0 || wl > TS_WORD_MAX)
            continue;
        memcpy(words[*nwords], kd, wl);
        words[(*nwords)++][wl] = 0;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return HUB_OK;
}

/* Candidates of a ranked query: an open-addressing map local -> the (word, field class) slots
 * it matched at full and at half weight, and the groups it matched (bit: order processed).
 * One cache line holds a slot's everything. Kept by the store between queries (the event
 * loop's thread only): a fresh one per query cost more in page faults than the query. */
struct rank_slot {
    uint64_t key; /* 0 = free (local 0 is never used) */
    uint64_t full, half;
    uint32_t mask;
};
struct rank_map {
    struct rank_slot *s;
    size_t slots, n;
};
#define STORE_RANK_KEEP (1u << 16) /* slots kept between queries: 2 MiB */

static size_t rank_hash(uint64_t local, size_t slots) {
    return (size_t)(local * 0x9E3779B97F4A7C15ULL >> 20) & (slots - 1);
}

static int rank_map_grow(struct rank_map *m) {
    size_t ns = m->slots ? m->slots * 2 : 4096;
    struct rank_slot *n = calloc(ns, sizeof *n);
    if (!n)
        return HUB_E_NOMEM;
    for (size_t i = 0; i < m->slots; i++) {
        if (!m->s[i].key)
            continue;
        size_t j = rank_hash(m->s[i].key, ns);
        while (n[j].key)
            j = (j + 1) & (ns - 1);
        n[j] = m->s[i];
    }
    free(m->s);
    m->s = n;
    m->slots = ns;
    return HUB_OK;
}

/* The slot of local; with insert, a new one if absent; SIZE_MAX if absent (or no memory). */
static size_t rank_map_slot(struct rank_map *m, uint64_t local, int insert) {
    if (insert && (m->n + 1) * 2 > m->slots && rank_map_grow(m) != HUB_OK)
        return SIZE_MAX;
    if (!m->slots)
        return SIZE_MAX;
    size_t j = rank_hash(local, m->slots);
    while (m->s[j].key) {
        if (m->s[j].key == local)
            return j;
        j = (j + 1) & (m->slots - 1);
    }
    if (!insert)
        return SIZE_MAX;
    m->s[j].key = local;
    m->n++;
    return j;
}

static void rank_map_destroy(struct rank_map **m) {
    if (*m)
        free((*m)->s);
    free(*m);
    *m = NULL;
}

/* Empties the map for the next query; a map grown past STORE_RANK_KEEP slots is freed. */
static void rank_map_reset(struct rank_map *m) {
    if (m->slots > STORE_RANK_KEEP) {
        free(m->s);
        m->s = NULL;
        m->slots = 0;
    } else if (m->n) {
        memset(m->s, 0, m->slots * sizeof *m->s);
    }
    m->n = 0;
}

/* A term of a ranked query, text or filter (slot RANK_NO_SLOT: no score). */
#define RANK_NO_SLOT 0xFF
struct rank_t {
    const uint8_t *b; /* INDEX_TERM_LEN bytes */
    uint8_t group, slot, half;
    uint8_t live; /* has postings */
    size_t n;     /* index postings */
};

static int rank_visit(struct rank_map *m, uint64_t local, unsigned o, const struct rank_t *t) {
    size_t j = rank_map_slot(m, local, o == 0);
    if (j == SIZE_MAX)
        return o == 0 ? HUB_E_NOMEM : HUB_OK;
    if (t->slot != RANK_NO_SLOT) {
        if (t->half)
            m->s[j].half |= 1ull << t->slot;
        else
            m->s[j].full |= 1ull << t->slot;
    }
    m->s[j].mask |= 1u << o;
    return HUB_OK;
}

/* The term's scan-th newest index posting, or 0 when it has no more than that: pages of
 * postings are skipped newest first without being looked at. */
static uint64_t rank_scan_floor(MDB_cursor *c, const struct rank_t *t, size_t scan) {
    MDB_val k = {INDEX_TERM_LEN, (void *)t->b}, v;
    if (mdb_cursor_get(c, &k, &v, MDB_SET) != 0 || mdb_cursor_get(c, &k, &v, MDB_LAST_DUP) != 0)
        return 0;
    size_t seen = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_GET_MULTIPLE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_PREV_MULTIPLE)) {
        size_t n = v.mv_size / 8;
        if (seen + n >= scan)
            return hub_rd64((const uint8_t *)v.mv_data + (n - (scan - seen)) * 8);
        seen += n;
    }
    return 0;
}

/* The postings >= floor of a term (index and tail) into the map, as the o-th group processed:
 * the first (o == 0) adds candidates, the others mark them. */
static int rank_term(struct store *s, MDB_cursor *c, const struct rank_t *t, unsigned o,
                     uint64_t floor, struct rank_map *m) {
    size_t nt;
    const uint64_t *tp = tail_postings(s->tail, t->b, &nt);
    for (size_t i = 0; i < nt; i++)
        if (tp[i] >= floor && rank_visit(m, tp[i], o, t) != HUB_OK)
            return HUB_E_NOMEM;
    uint8_t fb[8];
    hub_be64(fb, floor);
    MDB_val k = {INDEX_TERM_LEN, (void *)t->b}, v = {8, fb};
    int rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); /* the first posting >= floor */
    if (rc == MDB_NOTFOUND)
        return HUB_OK;
    if (rc != 0)
        return store_err(rc);
    /* DUPFIXED: a page of 8-byte postings at a time (GET_MULTIPLE: from the cursor on) */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_MULTIPLE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_MULTIPLE)) {
        const uint8_t *p = v.mv_data;
        for (size_t i = 0; i + 8 <= v.mv_size; i += 8) {
            uint64_t l = hub_rd64(p + i);
            if (l >= floor && rank_visit(m, l, o, t) != HUB_OK)
                return HUB_E_NOMEM;
        }
    }
    return rc == MDB_NOTFOUND ? HUB_OK : store_err(rc);
}

struct rank_hit {
    uint64_t local;
    uint32_t score;
};

/* 1 if a ranks before b: higher score, then newer. */
static int rank_before(const struct rank_hit *a, const struct rank_hit *b) {
    return a->score != b->score ? a->score > b->score : a->local > b->local;
}

static int rank_cmp(const void *a, const void *b) {
    const struct rank_hit *x = a, *y = b;
    return rank_before(x, y) ? -1 : rank_before(y, x) ? 1 : 0;
}

static int rank_local_cmp(const void *a, const void *b) {
    uint64_t x = ((const struct rank_hit *)a)->local, y = ((const struct rank_hit *)b)->local;
    return x < y ? -1 : x > y;
}

/* The k best of hits[0..n) (rank_before), best first, into top (room for k): a heap of the k
 * best so far, its root the worst of them. Returns how many (min(n, k)). */
static size_t rank_select(const struct rank_hit *hits, size_t n, size_t k, struct rank_hit *top) {
    size_t h = 0;
    for (size_t i = 0; i < n; i++) {
        if (h < k) {
            size_t c = h++;
            top[c] = hits[i];
            while (c > 0 && rank_before(&top[(c - 1) / 2], &top[c])) { /* worst up */
                struct rank_hit t = top[c];
                top[c] = top[(c - 1) / 2];
                top[(c - 1) / 2] = t;
                c = (c - 1) / 2;
            }
        } else if (k && rank_before(&hits[i], &top[0])) {
            top[0] = hits[i];
            for (size_t c = 0;;) {
                size_t l = 2 * c + 1, r = l + 1, w = c;
                if (l < h && rank_before(&top[w], &top[l]))
                    w = l;
                if (r < h && rank_before(&top[w], &top[r]))
                    w = r;
                if (w == c)
                    break;
                struct rank_hit t = top[c];
                top[c] = top[w];
                top[w] = t;
                c = w;
            }
        }
    }
    qsort(top, h, sizeof *top, rank_cmp);
    return h;
}

/* Is the record at local current and visible, and in q's dates? */
static int rank_live(struct store *s, MDB_txn *txn, const struct store_query *q, uint64_t local) {
    uint8_t lk[8];
    hub_be64(lk, local);
    MDB_val k = {8, lk}, v;
    if (mdb_get(txn, s->dbi[DB_LIVE], &k, &v) != 0 || v.mv_size != LIVE_VAL_LEN)
        return 0;
    const uint8_t *p = v.mv_data;
    uint64_t exp = hub_rd64(p);
    int32_t ds = (int32_t)rd32(p + 8), de = (int32_t)rd32(p + 12);
    if (de == 0)
        de = ds;
    if (exp && exp <= q->now_ms)
        return 0;
    if ((q->date_from || q->date_to) &&
        !(ds != 0 && (!q->date_to || ds <= q->date_to) && (!q->date_from || de >= q->date_from)))
        return 0;
    return !q->start_from || (ds != 0 && ds >= q->start_from);
}

int store_query_ranked(struct store *s, const struct store_query *q,
                       const struct store_rank_term *rt, size_t nrt, unsigned ngroups,
                       int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                       uint64_t *next_cursor) {
    *next_cursor = 0;
    if (ngroups == 0 || ngroups > STORE_RANK_MAX_GROUPS || q->nterms > STORE_RANK_MAX_FILTERS)
        return HUB_E_RANGE;
    /* a slot's weight (the terms of one slot share it; half: their prefix forms) */
    uint32_t sw[64] = {0};
    for (size_t i = 0; i < nrt; i++) {
        if (rt[i].slot >= 64 || rt[i].group >= ngroups)
            return HUB_E_RANGE;
        sw[rt[i].slot] = rt[i].weight;
    }
    /* the filters are groups too, without score: one per clause (any of its terms) */
    size_t cfirst[STORE_RANK_MAX_FILTERS + 1], nclauses = 0;
    if (qjoin_clauses(q, q->nterms, cfirst, STORE_RANK_MAX_FILTERS, &nclauses) != HUB_OK)
        return HUB_E_RANGE;
    unsigned ng = ngroups + (unsigned)nclauses;
    size_t nt = nrt + q->nterms;
    struct rank_t *t = malloc((nt ? nt : 1) * sizeof *t);
    if (!t)
        return HUB_E_NOMEM;
    for (size_t i = 0; i < nrt; i++)
        t[i] = (struct rank_t){rt[i].t.b, rt[i].group, rt[i].slot, rt[i].half, 0, 0};
    for (size_t cl = 0; cl < nclauses; cl++)
        for (size_t f = cfirst[cl]; f < cfirst[cl + 1]; f++)
            t[nrt + f] =
                (struct rank_t){q->terms[f].b, (uint8_t)(ngroups + cl), RANK_NO_SLOT, 0, 0, 0};
    if (!s->rank && !(s->rank = calloc(1, sizeof *s->rank))) {
        free(t);
        return HUB_E_NOMEM;
    }
    struct rank_map *mp = s->rank, m;
    rank_map_reset(mp);
    m = *mp;
    struct rank_hit *hits = NULL, *top = NULL;
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0) {
        free(t);
        return rc;
    }
    MDB_cursor *c = NULL;
    pthread_mutex_lock(&s->tail_mu); /* the tail's arrays are read until the end */
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_INDEX], &c)) != 0) {
        rc = store_err(rc);
        goto done;
    }
    /* Groups in order of their postings, fewest first: the first group makes the candidates,
     * the others only mark them, so a rare word or filter keeps the work small. */
    size_t gsize[STORE_RANK_MAX_GROUPS + STORE_RANK_MAX_FILTERS] = {0};
    for (size_t i = 0; i < nt; i++) {
        size_t ntl, dc = 0;
        (void)tail_postings(s->tail, t[i].b, &ntl);
        MDB_val k = {INDEX_TERM_LEN, (void *)t[i].b}, v;
        if (mdb_cursor_get(c, &k, &v, MDB_SET) != 0 || mdb_cursor_count(c, &dc) != 0)
            dc = 0;
        t[i].n = dc;
        t[i].live = dc + ntl > 0; /* most of a word's forms have no postings: skipped */
        gsize[t[i].group] += dc + ntl;
    }
    unsigned order[STORE_RANK_MAX_GROUPS + STORE_RANK_MAX_FILTERS];
    for (unsigned g = 0; g < ng; g++) {
        unsigned j = g;
        while (j > 0 && gsize[order[j - 1]] > gsize[g]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = g;
    }
    /* The records ranked are the newest: those at least as new as the scan-th newest posting
     * of every term that has more (a very common word's), so that no term is read much
     * beyond scan postings. When they give fewer results than asked for, the scan widens. */
    size_t skip = q->cursor ? (size_t)(q->cursor - 1) : 0;
    size_t want = skip + q->limit + 1, nh = 0;
    uint64_t floor = 0;
    uint32_t all = ng == 32 ? UINT32_MAX : (1u << ng) - 1;
    for (size_t scan = STORE_RANK_SCAN;; scan *= 4) {
        floor = 0;
        for (size_t i = 0; i < nt; i++) {
            if (t[i].n > scan) {
                uint64_t f = rank_scan_floor(c, &t[i], scan);
                floor = f > floor ? f : floor;
            }
        }
        for (size_t j = 0; m.n && j < m.slots; j++)
            m.s[j] = (struct rank_slot){0};
        m.n = 0;
        for (unsigned o = 0; o < ng; o++) {
            for (size_t i = 0; i < nt; i++) {
                if (t[i].group != order[o] || !t[i].live)
                    continue;
                /* bit o, not the group's number: the first group processed adds candidates */
                if ((rc = rank_term(s, c, &t[i], o, floor, &m)) != HUB_OK)
                    goto done;
            }
            if (m.n == 0)
                break;
        }
        free(hits);
        hits = NULL;
        nh = 0;
        if (m.n && !(hits = malloc(m.n * sizeof *hits))) {
            rc = HUB_E_NOMEM;
            goto done;
        }
        for (size_t j = 0; j < m.slots; j++) {
            const struct rank_slot *r = &m.s[j];
            if (!r->key || r->mask != all || r->key < floor)
                continue;
            /* each (word, field class) counts once: at full weight if a form of the word
             * itself matched, else at half weight if a word it begins did */
            uint32_t score = 0;
            for (uint64_t b = r->full | r->half; b; b &= b - 1) {
                unsigned slot = (unsigned)__builtin_ctzll(b);
                score += (r->full >> slot & 1) ? sw[slot] : sw[slot] / 2;
            }
            /* sorted by publication: every score equal, the newest first */
            hits[nh++] = (struct rank_hit){r->key, q->sort == STORE_SORT_PUBLISHED ? 0 : score};
        }
        if (floor == 0 || nh >= want)
            break;
    }
    /* The best skip + limit + 1 (one more tells whether there is a next page), checked for
     * being current and in the dates from the best down; if some are not, the rest are
     * selected again without them, twice as many. */
    size_t k = want, good = 0;
    int count = 0;
    while (nh > 0) {
        free(top);
        size_t cap = k < nh ? k : nh;
        if (!(top = malloc(2 * cap * sizeof *top))) { /* the selection, then the dropped */
            rc = HUB_E_NOMEM;
            goto done;
        }
        struct rank_hit *dropped = top + cap;
        size_t nsel = rank_select(hits, nh, k, top), bad = 0;
        good = 0;
        for (size_t i = 0; i < nsel && good < want; i++) {
            if (!rank_live(s, txn, q, top[i].local))
                dropped[bad++] = top[i];
            else
                top[good++] = top[i];
        }
        if (good >= want || nsel == nh || !bad)
            break;
        size_t w = 0; /* select again without the dropped ones, twice as many */
        qsort(dropped, bad, sizeof *dropped, rank_local_cmp);
        for (size_t i = 0; i < nh; i++)
            if (!bsearch(&hits[i], dropped, bad, sizeof *dropped, rank_local_cmp))
                hits[w++] = hits[i];
        nh = w;
        k *= 2;
    }
    for (size_t i = skip; i < good; i++) {
        if ((size_t)count == q->limit) {
            *next_cursor = (uint64_t)i + 1;
            break;
        }
        uint8_t lk[8];
        hub_be64(lk, top[i].local);
        MDB_val k2 = {8, lk}, ev;
        if (mdb_get(txn, s->dbi[DB_ENTRIES], &k2, &ev) == 0) {
            int r = cb(ev.mv_data, ev.mv_size, arg);
            if (r != 0 && r != STORE_QUERY_SKIP)
                break;
            if (r == 0)
                count++;
        }
    }
    rc = count;
done:
    pthread_mutex_unlock(&s->tail_mu);
    if (c)
        mdb_cursor_close(c);
    rtxn_end(s);
    free(hits);
    free(top);
    free(t);
    *mp = m; /* kept for the next query */
    return rc;
}

/* ---- backup, verify, entries by local number (cursors) ----
 *
 * The local number of an entry (its key in "entries") is the hub's cursor: it grows with each
 * accepted entry and is never reused, so "entries after cursor C" is a range of that table. */

int store_backup_fd(struct store *s, int fd) {
    /* env_lock for reading: a map resize waits for the copy (it may not run while a
     * transaction of this process is open), other reads and writes go on. The copy's read
     * transaction keeps the pages it reads; writes meanwhile take new ones. */
    pthread_rwlock_rdlock(&s->env_lock);
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->env_lock);
    if (rc != 0)
        log_error("store", "backup copy failed: %s", mdb_strerror(rc));
    return store_err(rc);
}

int store_last_local(struct store *s, uint64_t *out) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENTRIES], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    *out = (rc == 0 && k.mv_size == 8) ? hub_rd64(k.mv_data) : 0;
    mdb_cursor_close(c);
    rtxn_end(s);
    return rc == 0 || rc == MDB_NOTFOUND ? HUB_OK : store_err(rc);
}

int store_entries_since(struct store *s, uint64_t after, size_t max_count, size_t max_bytes,
                        store_local_fn cb, void *arg, uint64_t *last) {
    *last = after;
    if (after == UINT64_MAX)
        return 0;
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENTRIES], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    uint8_t kb[8];
    hub_be64(kb, after + 1);
    MDB_val k = {8, kb}, v;
    size_t n = 0, bytes = 0;
    int stop = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && n < max_count && bytes < max_bytes && !stop;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8)
            continue;
        uint64_t local = hub_rd64(k.mv_data);
        stop = cb(arg, local, v.mv_data, v.mv_size);
        *last = local;
        n++;
        bytes += v.mv_size;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return (int)n;
}

/* verify: on a thread of its own, in read transactions of its own (the event loop owns
 * s->rtxn), each covering at most STORE_VERIFY_CHUNK rows and holding env_lock only that long,
 * so that a write that must grow the map waits for one chunk, not for the whole check. Every
 * check compares rows read in one transaction: a store being written meanwhile gives no false
 * problem (the chain is append-only; a posting and its record are read together). */
#define STORE_VERIFY_CHUNK 4096

struct vstate {
    struct store *s;
    MDB_txn *txn;
    struct store_verify *out;
    uint64_t now_ms;
    size_t budget; /* rows left in this transaction */
};

static void vproblem(struct vstate *vs, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void vproblem(struct vstate *vs, int code, const char *fmt, ...) {
    if (vs->out->problems++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vs->out->first, sizeof vs->out->first, fmt, ap);
        va_end(ap);
        vs->out->first_code = code;
    }
}

static int vtxn_begin(struct vstate *vs) {
    pthread_rwlock_rdlock(&vs->s->env_lock);
    int rc = mdb_txn_begin(vs->s->env, NULL, MDB_RDONLY, &vs->txn);
    if (rc != 0) {
        vs->txn = NULL;
        pthread_rwlock_unlock(&vs->s->env_lock);
    }
    vs->budget = STORE_VERIFY_CHUNK;
    return rc;
}

static void vtxn_end(struct vstate *vs) {
    if (!vs->txn)
        return;
    mdb_txn_abort(vs->txn);
    vs->txn = NULL;
    pthread_rwlock_unlock(&vs->s->env_lock);
}

/* Where the check of a feed's chain stands between transactions. */
struct vfeed {
    uint8_t author[32];
    uint64_t want; /* the seq expected next */
    uint8_t prev[32];
    char ah[9];
};

/* One chain row (author | seq -> local | id): the entry where chain and ids say, of this
 * feed and seq, chained to the one before, its signature and (unless purged) payload valid. */
static void verify_chain_row(struct vstate *vs, struct vfeed *f, uint64_t seq, const MDB_val *v) {
    struct store *s = vs->s;
    const char *ah = f->ah;
    vs->out->entries++;
    if (seq != f->want) {
        vproblem(vs, HUB_E_GAP, "feed %s…: seq %llu follows seq %llu", ah, (unsigned long long)seq,
                 (unsigned long long)(f->want - 1));
        memset(f->prev, 0, sizeof f->prev); /* the rest of the chain is checked from here */
    }
    f->want = seq + 1;
    if (v->mv_size != CHAIN_VAL_LEN) {
        vproblem(vs, HUB_E_DECODE, "feed %s… seq %llu: chain row of %zu bytes", ah,
                 (unsigned long long)seq, v->mv_size);
        memset(f->prev, 0, sizeof f->prev);
        return;
    }
    const uint8_t *cv = v->mv_data;
    MDB_val lk = {8, (void *)cv}, ev, iv;
    MDB_val idk = {32, (void *)(cv + 8)};
    struct entry e;
    char ih[9];
    if (mdb_get(vs->txn, s->dbi[DB_ENTRIES], &lk, &ev) != 0) {
        vproblem(vs, HUB_E_NOT_FOUND, "feed %s… seq %llu: entry (cursor %llu) missing", ah,
                 (unsigned long long)seq, (unsigned long long)hub_rd64(cv));
    } else if (entry_decode(ev.mv_data, ev.mv_size, &e) != 0) {
        vproblem(vs, HUB_E_DECODE, "feed %s… seq %llu: stored entry does not decode", ah,
                 (unsigned long long)seq);
    } else {
        int vrc = entry_verify(&e, vs->now_ms);
        hub_hex(e.id, 4, ih);
        if (memcmp(e.author, f->author, 32) != 0 || e.seq != seq)
            vproblem(vs, HUB_E_FIELD,
                     "feed %s… seq %llu: stored entry %s… is of another feed "
                     "or seq",
                     ah, (unsigned long long)seq, ih);
        else if (memcmp(e.id, cv + 8, 32) != 0)
            vproblem(vs, HUB_E_FIELD,
                     "feed %s… seq %llu: entry id %s… differs from the "
                     "chain's",
                     ah, (unsigned long long)seq, ih);
        else if (seq > 1 && !sodium_is_zero(f->prev, 32) && memcmp(e.prev, f->prev, 32) != 0)
            vproblem(vs, HUB_E_PREV, "feed %s… seq %llu: prev is not the id of seq %llu", ah,
                     (unsigned long long)seq, (unsigned long long)(seq - 1));
        else if (vrc != 0 && vrc != HUB_E_TIMESTAMP) /* the window is for arrivals */
            vproblem(vs, vrc, "feed %s… seq %llu: entry %s…: %s", ah, (unsigned long long)seq, ih,
                     hub_strmsg(vrc));
        else if (mdb_get(vs->txn, s->dbi[DB_IDS], &idk, &iv) != 0 || iv.mv_size != 8 ||
                 memcmp(iv.mv_data, cv, 8) != 0)
            vproblem(vs, HUB_E_NOT_FOUND, "feed %s… seq %llu: id %s… not in the id table", ah,
                     (unsigned long long)seq, ih);
    }
    memcpy(f->prev, cv + 8, 32);
}

/* Every feed, author by author; returns an MDB code (0 when the whole table was read). */
static int verify_feeds(struct vstate *vs) {
    struct store *s = vs->s;
    struct vfeed f;
    int in_feed = 0; /* f is a feed whose chain is being walked */
    uint8_t next_author[32] = {0};
    int rc = 0;
    for (;;) {
        if ((rc = vtxn_begin(vs)) != 0)
            return rc;
        if (!in_feed) { /* the next feed at or after next_author */
            MDB_cursor *c;
            if ((rc = mdb_cursor_open(vs->txn, s->dbi[DB_FEEDS], &c)) != 0)
                break;
            MDB_val k = {32, next_author}, v;
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            mdb_cursor_close(c);
            if (rc != 0)
                break;
            if (k.mv_size != 32) {
                vproblem(vs, HUB_E_DECODE, "feeds: a key of %zu bytes", k.mv_size);
                rc = MDB_CORRUPTED;
                break;
            }
            memset(&f, 0, sizeof f);
            memcpy(f.author, k.mv_data, 32);
            hub_hex(f.author, 4, f.ah);
            f.want = 1;
            in_feed = 1;
            vs->out->feeds++;
        }
        uint8_t ck[40];
        memcpy(ck, f.author, 32);
        hub_be64(ck + 32, f.want);
        MDB_cursor *c;
        if ((rc = mdb_cursor_open(vs->txn, s->dbi[DB_CHAIN], &c)) != 0)
            break;
        MDB_val k = {40, ck}, v;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && vs->budget;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), vs->budget--) {
            if (k.mv_size != 40 || memcmp(k.mv_data, f.author, 32) != 0)
                break;
            verify_chain_row(vs, &f, hub_rd64((const uint8_t *)k.mv_data + 32), &v);
        }
        mdb_cursor_close(c);
        if (rc != 0 && rc != MDB_NOTFOUND)
            break;
        if (vs->budget == 0 && rc == 0 && k.mv_size == 40 && memcmp(k.mv_data, f.author, 32) == 0) {
            vtxn_end(vs); /* more of this chain: in the next transaction */
            continue;
        }
        /* The chain ends here, in this transaction: the head must be its last entry. */
        MDB_val hk = {32, f.author}, hv;
        if (mdb_get(vs->txn, s->dbi[DB_FEEDS], &hk, &hv) != 0 || hv.mv_size != FEED_VAL_LEN)
            vproblem(vs, HUB_E_DECODE, "feed %s…: its head row is missing or malformed", f.ah);
        else if (hub_rd64(hv.mv_data) != f.want - 1 ||
                 (f.want > 1 && memcmp(f.prev, (const uint8_t *)hv.mv_data + 8, 32) != 0))
            vproblem(vs, HUB_E_GAP, "feed %s…: head says seq %llu, chain ends at seq %llu", f.ah,
                     (unsigned long long)hub_rd64(hv.mv_data), (unsigned long long)(f.want - 1));
        in_feed = 0;
        memcpy(next_author, f.author, 32); /* the next author: one past this one */
        int i = 31;
        while (i >= 0 && ++next_author[i] == 0)
            i--;
        vtxn_end(vs);
        if (i < 0)
            return 0; /* the last possible author */
    }
    vtxn_end(vs);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Every current visible record ("live") indexed: its terms in "recent" (the tail) or each
 * term's postings hold it. */
static int verify_live(struct vstate *vs) {
    struct store *s = vs->s;
    struct index_term terms[RECORD_MAX_TERMS];
    uint64_t from = 0;
    int rc;
    for (;;) {
        if ((rc = vtxn_begin(vs)) != 0)
            return rc;
        MDB_cursor *lc = NULL, *ic = NULL;
        if ((rc = mdb_cursor_open(vs->txn, s->dbi[DB_LIVE], &lc)) != 0)
            break;
        if ((rc = mdb_cursor_open(vs->txn, s->dbi[DB_INDEX], &ic)) != 0) {
            mdb_cursor_close(lc);
            break;
        }
        uint8_t kb[8];
        hub_be64(kb, from);
        MDB_val k = {8, kb}, v;
        for (rc = mdb_cursor_get(lc, &k, &v, MDB_SET_RANGE); rc == 0 && vs->budget;
             rc = mdb_cursor_get(lc, &k, &v, MDB_NEXT), vs->budget--) {
            uint64_t local = k.mv_size == 8 ? hub_rd64(k.mv_data) : 0;
            from = local + 1;
            vs->out->records++;
            MDB_val ev, rv;
            struct entry e;
            if (mdb_get(vs->txn, s->dbi[DB_ENTRIES], &k, &ev) != 0 ||
                entry_decode(ev.mv_data, ev.mv_size, &e) != 0 || !e.payload) {
                vproblem(vs, HUB_E_NOT_FOUND,
                         "record at cursor %llu: current, but its entry is missing or purged",
                         (unsigned long long)local);
                continue;
            }
            if (mdb_get(vs->txn, s->dbi[DB_RECENT], &k, &rv) == 0)
                continue; /* indexed in the tail */
            size_t n =
                record_terms(e.author, e.kind, e.payload, e.payload_len, terms, RECORD_MAX_TERMS);
            for (size_t i = 0; i < n; i++) {
                MDB_val tk = {INDEX_TERM_LEN, terms[i].b}, tv = {8, k.mv_data};
                if (mdb_cursor_get(ic, &tk, &tv, MDB_GET_BOTH) != 0) {
                    char ih[9];
                    hub_hex(e.id, 4, ih);
                    vproblem(vs, HUB_E_NOT_FOUND,
                             "record %s… (cursor %llu): index term %zu of %zu has no posting "
                             "for it",
                             ih, (unsigned long long)local, i + 1, n);
                    break;
                }
            }
        }
        mdb_cursor_close(ic);
        mdb_cursor_close(lc);
        vtxn_end(vs);
        if (rc != 0)
            return rc == MDB_NOTFOUND ? 0 : rc;
    }
    vtxn_end(vs);
    return rc;
}

/* Every posting in "index" names a current record. Resumes at (term, local) after the last
 * one checked. */
static int verify_postings(struct vstate *vs) {
    struct store *s = vs->s;
    uint8_t term[INDEX_TERM_LEN] = {0}, lb[8] = {0};
    int started = 0, rc;
    for (;;) {
        if ((rc = vtxn_begin(vs)) != 0)
            return rc;
        MDB_cursor *ic;
        if ((rc = mdb_cursor_open(vs->txn, s->dbi[DB_INDEX], &ic)) != 0)
            break;
        MDB_val k = {INDEX_TERM_LEN, term}, v = {8, lb};
        if (!started) {
            rc = mdb_cursor_get(ic, &k, &v, MDB_FIRST);
        } else {
            rc = mdb_cursor_get(ic, &k, &v, MDB_GET_BOTH_RANGE);
            if (rc == 0 && memcmp(v.mv_data, lb, 8) == 0)
                rc = mdb_cursor_get(ic, &k, &v, MDB_NEXT); /* checked in the last chunk */
            else if (rc == MDB_NOTFOUND) { /* no posting >= local left under the term */
                k.mv_size = INDEX_TERM_LEN;
                k.mv_data = term;
                rc = mdb_cursor_get(ic, &k, &v, MDB_SET_RANGE);
                if (rc == 0 && k.mv_size == INDEX_TERM_LEN &&
                    memcmp(k.mv_data, term, INDEX_TERM_LEN) == 0)
                    rc = mdb_cursor_get(ic, &k, &v, MDB_NEXT_NODUP);
            }
        }
        for (; rc == 0 && vs->budget; rc = mdb_cursor_get(ic, &k, &v, MDB_NEXT), vs->budget--) {
            started = 1;
            vs->out->postings++;
            if (k.mv_size == INDEX_TERM_LEN)
                memcpy(term, k.mv_data, INDEX_TERM_LEN);
            if (v.mv_size == 8)
                memcpy(lb, v.mv_data, 8);
            MDB_val lv;
            if (v.mv_size != 8 || mdb_get(vs->txn, s->dbi[DB_LIVE], &v, &lv) != 0)
                vproblem(vs, HUB_E_NOT_FOUND,
                         "index: a posting names cursor %llu, which is no current record",
                         v.mv_size == 8 ? (unsigned long long)hub_rd64(v.mv_data) : 0ULL);
        }
        mdb_cursor_close(ic);
        vtxn_end(vs);
        if (rc != 0)
            return rc == MDB_NOTFOUND ? 0 : rc;
    }
    vtxn_end(vs);
    return rc;
}

int store_verify(struct store *s, uint64_t now_ms, struct store_verify *out) {
    memset(out, 0, sizeof *out);
    struct vstate vs = {s, NULL, out, now_ms, 0};
    int rc = verify_feeds(&vs);
    if (rc == 0 && (rc = vtxn_begin(&vs)) == 0) {
        /* one transaction: every entry is in exactly one feed's chain */
        MDB_stat se, sc;
        if ((rc = mdb_stat(vs.txn, s->dbi[DB_ENTRIES], &se)) == 0 &&
            (rc = mdb_stat(vs.txn, s->dbi[DB_CHAIN], &sc)) == 0 && se.ms_entries != sc.ms_entries)
            vproblem(&vs, HUB_E_GAP, "entries: %llu stored, %llu in the feeds' chains",
                     (unsigned long long)se.ms_entries, (unsigned long long)sc.ms_entries);
        vtxn_end(&vs);
    }
    if (rc == 0)
        rc = verify_live(&vs);
    if (rc == 0)
        rc = verify_postings(&vs);
    if (rc != 0)
        log_error("store", "verify could not read the store: %s", mdb_strerror(rc));
    return store_err(rc);
}

/* ---- local reply state (records.c) ---- */

/* Every row of a table of 32-byte keys and u64 big-endian values (reply_seen, blocked), in key
 * order; rows of another shape (a newer schema's) are skipped. Returns the rows given to cb or a
 * negative code. */
static int key32_u64_walk(struct store *s, int db,
                          int (*cb)(const uint8_t key[32], uint64_t v, void *arg), void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[db], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k, v;
    int n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 32 || v.mv_size != 8)
            continue;
        if (cb(k.mv_data, hub_rd64(v.mv_data), arg) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return rc == 0 || rc == MDB_NOTFOUND ? n : store_err(rc);
}

int store_seen_load(struct store *s, int (*cb)(const uint8_t id[32], uint64_t ms, void *arg),
                    void *arg) {
    return key32_u64_walk(s, DB_REPLY_SEEN, cb, arg);
}

int store_seen_mark(struct store *s, const uint8_t (*ids)[32], size_t n, uint64_t ms) {
    if (n == 0)
        return HUB_OK;
    pthread_mutex_lock(&s->write_mu);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        uint8_t t[8];
        hub_be64(t, ms);
        for (size_t i = 0; i < n && rc == 0; i++) {
            MDB_val k = {32, (void *)ids[i]}, v = {8, t};
            rc = mdb_put(txn, s->dbi[DB_REPLY_SEEN], &k, &v, 0);
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&s->write_mu);
    return store_err(rc);
}

/* ---- addressed replies and blocked responders (areply.c; PROTOCOL.md 9.15) ---- */

int store_areply_put(struct store *s, const uint8_t target[32], const uint8_t id[32],
                     const uint8_t *wire, size_t len, size_t max_held) {
    uint8_t kb[64];
    memcpy(kb, target, 32);
    memcpy(kb + 32, id, 32);
    pthread_mutex_lock(&s->write_mu);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    int out = HUB_OK;
    if (rc == 0) {
        MDB_stat st;
        MDB_val k = {64, kb}, v = {len, (void *)wire};
        rc = mdb_stat(txn, s->dbi[DB_AREPLIES], &st);
        if (rc == 0 && st.ms_entries >= max_held)
            out = HUB_E_TOO_LARGE;
        else if (rc == 0) {
            rc = mdb_put(txn, s->dbi[DB_AREPLIES], &k, &v, MDB_NOOVERWRITE);
            if (rc == MDB_KEYEXIST) {
                out = HUB_E_DUPLICATE;
                rc = 0;
            }
        }
        if (rc == 0 && out == HUB_OK)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&s->write_mu);
    return rc ? store_err(rc) : out;
}

int store_areply_has(struct store *s, const uint8_t target[32], const uint8_t id[32]) {
    uint8_t kb[64];
    memcpy(kb, target, 32);
    memcpy(kb + 32, id, 32);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {64, kb}, v;
    rc = mdb_get(txn, s->dbi[DB_AREPLIES], &k, &v);
    rtxn_end(s);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int store_areply_walk(struct store *s, const uint8_t target[32],
                      int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_AREPLIES], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    uint8_t kb[32];
    memcpy(kb, target, 32);
    MDB_val k = {32, kb}, v;
    int n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 64 || memcmp(k.mv_data, target, 32) != 0)
            break;
        n++;
        if (cb(v.mv_data, v.mv_size, arg) != 0)
            break;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return rc == 0 || rc == MDB_NOTFOUND ? n : store_err(rc);
}

int store_areply_count(struct store *s, uint64_t *n) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_stat st;
    rc = mdb_stat(txn, s->dbi[DB_AREPLIES], &st);
    rtxn_end(s);
    if (rc == 0)
        *n = st.ms_entries;
    return store_err(rc);
}

int store_blocked_load(struct store *s, int (*cb)(const uint8_t key[32], uint64_t ms, void *arg),
                       void *arg) {
    return key32_u64_walk(s, DB_BLOCKED, cb, arg);
}

int store_blocked_set(struct store *s, const uint8_t key[32], int blocked, uint64_t ms) {
    pthread_mutex_lock(&s->write_mu);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        uint8_t t[8];
        hub_be64(t, ms);
        MDB_val k = {32, (void *)key}, v = {8, t};
        rc = blocked ? mdb_put(txn, s->dbi[DB_BLOCKED], &k, &v, 0)
                     : mdb_del(txn, s->dbi[DB_BLOCKED], &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&s->write_mu);
    return store_err(rc);
}

/* ---- signatures checked after the hash chain (node/core/sigcheck.c, PROTOCOL.md 9.16) ----
 * "sigpend": author -> u64be (the lowest seq of the feed whose own signature is unchecked,
 * with STORE_SIGPEND_BAD when its check failed) || the id of the entry before it. Written in
 * the batch's transaction for the items stored with `unchecked`, so that no crash leaves an
 * unchecked entry unmarked; advanced by the checker. Kept apart from the rest of the store. */

#define SIGPEND_VAL_LEN 40

static int sigpend_get(struct store *s, MDB_txn *txn, const uint8_t author[32], uint64_t *lo,
                       uint8_t before[32]) {
    MDB_val k = {32, (void *)author}, v;
    int rc = mdb_get(txn, s->dbi[DB_SIGPEND], &k, &v);
    if (rc == 0 && v.mv_size == SIGPEND_VAL_LEN) {
        *lo = hub_rd64(v.mv_data);
        memcpy(before, (const uint8_t *)v.mv_data + 8, 32);
        return 0;
    }
    *lo = 0;
    return rc == 0 ? 0 : rc;
}

static int sigpend_put(struct store *s, MDB_txn *txn, const uint8_t author[32], uint64_t lo,
                       const uint8_t before[32]) {
    uint8_t b[SIGPEND_VAL_LEN];
    hub_be64(b, lo);
    memcpy(b + 8, before, 32);
    MDB_val k = {32, (void *)author}, v = {sizeof b, b};
    return mdb_put(txn, s->dbi[DB_SIGPEND], &k, &v, 0);
}

/* Items are in (author, seq) order: the first accepted unchecked one of each author gives the
 * feed's row, unless the row already names a lower seq (or a failed check). */
static int sigpend_note(struct store *s, MDB_txn *txn, const struct store_item *items, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = items[i].e;
        if (!items[i].unchecked || items[i].result != HUB_OK)
            continue;
        if (i > 0 && items[i - 1].unchecked && items[i - 1].result == HUB_OK &&
            memcmp(items[i - 1].e->author, e->author, 32) == 0)
            continue; /* the same run: the row was written for its first */
        uint64_t lo;
        uint8_t before[32];
        int rc = sigpend_get(s, txn, e->author, &lo, before);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        if (lo != 0 && ((lo & STORE_SIGPEND_BAD) || lo <= e->seq))
            continue;
        if ((rc = sigpend_put(s, txn, e->author, e->seq, e->prev)) != 0)
            return rc;
    }
    return 0;
}

int store_sigpend_load(struct store *s,
                       int (*cb)(const uint8_t author[32], uint64_t lo, const uint8_t before[32],
                                 void *arg),
                       void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_SIGPEND], &c)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    MDB_val k, v;
    int n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 32 || v.mv_size != SIGPEND_VAL_LEN)
            continue;
        if (cb(k.mv_data, hub_rd64(v.mv_data), (const uint8_t *)v.mv_data + 8, arg) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    return rc == 0 || rc == MDB_NOTFOUND ? n : store_err(rc);
}

int store_sigpend_advance(struct store *s, struct store_sigpend *u, size_t n) {
    pthread_mutex_lock(&s->write_mu);
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t lo;
        uint8_t before[32];
        rc = sigpend_get(s, txn, u[i].author, &lo, before);
        if (rc == MDB_NOTFOUND)
            rc = 0;
        if (rc != 0)
            break;
        if (lo != u[i].expect) { /* changed meanwhile (or gone): report it, change nothing */
            u[i].now = lo;
            memcpy(u[i].now_before, before, 32);
            continue;
        }
        struct feed_head h;
        int hr = feed_get(s, txn, u[i].author, &h);
        if (hr != 0 && hr != MDB_NOTFOUND) {
            rc = hr;
            break;
        }
        if (!(u[i].to & STORE_SIGPEND_BAD) && u[i].to > h.seq) {
            MDB_val dk = {32, (void *)u[i].author};
            rc = mdb_del(txn, s->dbi[DB_SIGPEND], &dk, NULL);
            u[i].now = 0;
        } else {
            rc = sigpend_put(s, txn, u[i].author, u[i].to, u[i].to_before);
            u[i].now = u[i].to;
            memcpy(u[i].now_before, u[i].to_before, 32);
        }
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    pthread_mutex_unlock(&s->write_mu);
    if (rc != 0)
        log_warnx("store", "recording checked signatures: %s", mdb_strerror(rc));
    return store_err(rc);
}

int store_sig_range(struct store *s, const uint8_t author[32], uint64_t from, size_t max_count,
                    int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg) {
    MDB_txn *txn;
    int rc = otxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    int count = 0;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_CHAIN], &c)) == 0) {
        uint8_t start[40];
        memcpy(start, author, 32);
        hub_be64(start + 32, from);
        MDB_val k = {40, start}, v;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && (size_t)count < max_count;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 40 || memcmp(k.mv_data, author, 32) != 0)
                break;
            MDB_val lk = {8, v.mv_data}, ev;
            if ((rc = mdb_get(txn, s->dbi[DB_ENTRIES], &lk, &ev)) != 0)
                break;
            if (cb(ev.mv_data, ev.mv_size, arg) != 0)
                break;
            count++;
        }
        mdb_cursor_close(c);
    }
    otxn_end(s, txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return count;
}
