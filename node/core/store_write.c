/* store_write.c: the write path: one transaction per batch, the chain rule, the index
 * postings written directly or through the in-memory tail (merged in chunks), the dictionary. */
#include "store_priv.h"

static void dict_batch_clear(struct wbatch *w);

static void wbatch_reset(struct wbatch *w) {
    w->fh_state = FH_NONE;
    postings_clear(&w->ix);
    w->ntterms = 0;
    w->ntrecs = 0;
    w->ndpend = 0;
    dict_batch_clear(w); /* its rows were not committed: a retry puts them again */
    w->ix_max = 0;
}

/* A batch that writes the index directly (a catch-up batch, an import request) adds up to a
 * million postings: tens of MiB of buffers, each one mapping of its own (hub_malloc_setup), which
 * every batch faulted in again page by page when it made them afresh (a sixth of a catch-up's
 * CPU). The largest are kept from one batch to the next, and freed when the hub goes idle
 * (store_maintain): what they hold is bounded by the largest batch. Tail batches (a publish) do
 * not take them: clearing their term table costs more than those batches' own. */
static void wbatch_take_spare(struct store *s, struct wbatch *w) {
    w->ix = s->ix_spare;
    memset(&s->ix_spare, 0, sizeof s->ix_spare);
}

void wbatch_free(struct store *s, struct wbatch *w) {
    if (w->ix.icap > s->ix_spare.icap) {
        postings_clear(&w->ix);
        struct postings old = s->ix_spare;
        s->ix_spare = w->ix;
        w->ix = old;
    }
    postings_free(&w->ix);
    free(w->tterms);
    free(w->dpend);
    w->dpend = NULL;
    w->ndpend = w->dpcap = 0;
    free(w->dbset);
    w->dbset = NULL;
    w->dbcap = w->dbn = 0;
    free(w->trecs);
    w->tterms = NULL;
    w->trecs = NULL;
}

/* Remembers a record indexed in the tail, for the memory tail once the batch is committed. */
int tail_pending(struct wbatch *w, const struct index_term *terms, size_t n, uint64_t local) {
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

#define STORE_DICT_SEEN_SLOTS                                                                      \
    (1u << 20) /* 8 MiB, made at the first write; emptied when half full */
#define STORE_DICT_KEY_MAX (2 * TS_WORD_MAX + 2) /* 's', stem, 0x00, word */

static uint64_t dict_hash(const uint8_t *k, size_t n) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a: spread is all the set needs */
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h ? h : 1; /* 0 marks a free slot */
}

/* dict_seen is written by the writer only (dict_seen_apply, after a commit) and read by it and,
 * through store_dict_filter, by pipeline workers at the same time: every access to the pointer
 * and to a slot is atomic. A reader may miss a hash being added or emptied (then the word is put
 * again: MDB_KEYEXIST, no harm), but a hash it finds was always that of a committed row (rows of
 * "words" are never deleted). */
static uint64_t *dict_seen_table(const struct store *s) {
    return __atomic_load_n(&s->dict_seen, __ATOMIC_ACQUIRE);
}

static uint64_t dict_seen_slot(const uint64_t *t, size_t i) {
    return __atomic_load_n(&t[i], __ATOMIC_RELAXED);
}

static int dict_seen_has(const struct store *s, uint64_t h) {
    const uint64_t *t = dict_seen_table(s);
    if (t == NULL)
        return 0;
    uint64_t v;
    for (size_t i = (size_t)h & (STORE_DICT_SEEN_SLOTS - 1); (v = dict_seen_slot(t, i)) != 0;
         i = (i + 1) & (STORE_DICT_SEEN_SLOTS - 1))
        if (v == h)
            return 1;
    return 0;
}

/* After a commit: the rows the batch put are known to be stored. A full set is emptied
 * rather than grown: it is only a shortcut, the put behind it is always right. */
static void dict_seen_apply(struct store *s, struct wbatch *w) {
    uint64_t *t = s->dict_seen; /* this thread is its only writer */
    if (t == NULL && w->ndpend) {
        t = calloc(STORE_DICT_SEEN_SLOTS, sizeof *t);
        __atomic_store_n(&s->dict_seen, t, __ATOMIC_RELEASE);
    }
    for (size_t k = 0; t != NULL && k < w->ndpend; k++) {
        if (s->dict_seen_n >= STORE_DICT_SEEN_SLOTS / 2) {
            for (size_t i = 0; i < STORE_DICT_SEEN_SLOTS; i++)
                __atomic_store_n(&t[i], 0, __ATOMIC_RELAXED);
            s->dict_seen_n = 0;
        }
        size_t i = (size_t)w->dpend[k] & (STORE_DICT_SEEN_SLOTS - 1);
        while (t[i] && t[i] != w->dpend[k])
            i = (i + 1) & (STORE_DICT_SEEN_SLOTS - 1);
        if (!t[i]) {
            __atomic_store_n(&t[i], w->dpend[k], __ATOMIC_RELAXED);
            s->dict_seen_n++;
        }
    }
    w->ndpend = 0;
    dict_batch_clear(w);
}

/* The (word, language) hashes this batch put rows for, as a set (wbatch.dbset, open
 * addressing, at most half full): a new word is met in many records of one catch-up batch, and
 * dict_seen knows it only after the commit; without this each record put its rows again (an
 * LMDB descent for MDB_KEYEXIST, and the stemming). */
#define STORE_DICT_BATCH_MIN 1024 /* slots of the set at first */

static int dict_batch_has(const struct wbatch *w, uint64_t h) {
    if (w->dbn == 0)
        return 0;
    for (size_t i = (size_t)h & (w->dbcap - 1); w->dbset[i]; i = (i + 1) & (w->dbcap - 1))
        if (w->dbset[i] == h)
            return 1;
    return 0;
}

static void dict_batch_insert(uint64_t *set, size_t cap, uint64_t h) {
    size_t i = (size_t)h & (cap - 1);
    while (set[i] && set[i] != h)
        i = (i + 1) & (cap - 1);
    set[i] = h;
}

/* Notes a hash whose rows this batch put: in dpend (for dict_seen after the commit) and in the
 * set. Without memory the word is only put again by the next record that has it. */
static void dict_batch_add(struct wbatch *w, uint64_t h) {
    uint64_t *p = hub_reserve(w->dpend, &w->dpcap, w->ndpend + 1, sizeof *p, 256);
    if (p == NULL)
        return;
    w->dpend = p;
    w->dpend[w->ndpend++] = h;
    if (2 * (w->dbn + 1) > w->dbcap) {
        size_t cap = w->dbcap ? 2 * w->dbcap : STORE_DICT_BATCH_MIN;
        uint64_t *set = calloc(cap, sizeof *set);
        if (set == NULL)
            return;
        for (size_t k = 0; k < w->dbcap; k++)
            if (w->dbset[k])
                dict_batch_insert(set, cap, w->dbset[k]);
        free(w->dbset);
        w->dbset = set;
        w->dbcap = cap;
    }
    dict_batch_insert(w->dbset, w->dbcap, h);
    w->dbn++;
}

static void dict_batch_clear(struct wbatch *w) {
    if (w->dbn)
        memset(w->dbset, 0, w->dbcap * sizeof *w->dbset);
    w->dbn = 0;
}

static int dict_put_key(struct store *s, struct wbatch *w, const uint8_t *key, size_t kl) {
    MDB_val k = {kl, (void *)key}, v = {0, ""};
    int rc = mdb_put(w->txn, s->dbi[DB_WORDS], &k, &v, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Puts a record's words (struct ts_dict: its language, then the words) in the dictionary:
 * each word, and its stem in the record's language. A (word, language) stored before is
 * skipped after one probe of dict_seen (a catch-up's workers dropped most of those already:
 * store_dict_filter), one this batch put after one of the batch's set: stemming happens once
 * per word and language. */
int dict_put(struct store *s, struct wbatch *w, const char *d, size_t len) {
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
        if (dict_seen_has(s, h) || dict_batch_has(w, h))
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
        dict_batch_add(w, h);
    }
    return 0;
}

size_t store_dict_filter(struct store *s, char *d, size_t len) {
    if (len < 1 || dict_seen_table(s) == NULL)
        return len;
    size_t off = 1, out = 1;
    while (off < len) {
        size_t wl = strnlen(d + off, len - off);
        if (off + wl >= len || wl == 0 || wl > TS_WORD_MAX)
            break; /* as dict_put: the rest is not a word */
        uint8_t key[1 + TS_WORD_MAX];
        key[0] = (uint8_t)((int)(uint8_t)d[0] - 1);
        memcpy(key + 1, d + off, wl);
        if (!dict_seen_has(s, dict_hash(key, wl + 1))) {
            memmove(d + out, d + off, wl + 1);
            out += wl + 1;
        }
        off += wl + 1;
    }
    return out;
}

/* The records a batch put in "recent" go into the memory tail in two steps. The new ones (locals
 * from the batch's first on) go in before the commit: a query's snapshot then finds each entry
 * it holds in the index or the tail, and leaves out those past its last entry (qview_begin in
 * store_query.c). Added after the commit, they were missing from the queries of a snapshot
 * taken in between, which `get` already answered from. A restored payload's older local is in
 * every snapshot's range, so it goes in after the commit, as before. */
static void tail_add_recs(struct store *s, struct wbatch *w, int fresh) {
    for (size_t i = 0; i < w->ntrecs; i++) {
        if ((w->trecs[i].local >= w->first_local) != fresh)
            continue;
        if (tail_add(s->tail, w->tterms + w->trecs[i].off, w->trecs[i].n, w->trecs[i].local) != 0) {
            /* "recent" has them; the merge at the next write puts them in index */
            s->tail_incomplete = 1;
            log_error("store", "out of memory for the index tail: merging it at the next write");
            break;
        }
    }
}

/* Before the commit. */
static void tail_stage(struct store *s, struct wbatch *w) {
    if (!w->ntrecs)
        return;
    pthread_mutex_lock(&s->tail_mu);
    tail_add_recs(s, w, 1);
    pthread_mutex_unlock(&s->tail_mu);
}

/* A failed commit: its locals are given to the next batch. */
static void tail_unstage(struct store *s, struct wbatch *w) {
    if (!w->ntrecs)
        return;
    pthread_mutex_lock(&s->tail_mu);
    for (size_t i = 0; i < w->ntrecs; i++)
        if (w->trecs[i].local >= w->first_local)
            tail_remove(s->tail, w->tterms + w->trecs[i].off, w->trecs[i].n, w->trecs[i].local);
    pthread_mutex_unlock(&s->tail_mu);
}

/* After the commit. */
static void tail_apply(struct store *s, struct wbatch *w) {
    dict_seen_apply(s, w);
    pthread_mutex_lock(&s->tail_mu);
    s->recent_rows = w->recent_rows;
    tail_add_recs(s, w, 0);
    pthread_mutex_unlock(&s->tail_mu);
}

int ix_add(struct wbatch *w, const struct index_term *t, uint64_t local) {
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

/* After a batch's postings are written: the leaves of the term tree that hold fewer than
 * IX_COMPACT_TERMS of the batch's terms are made to merge with a neighbour when under-filled.
 * LMDB merges a leaf only after a delete from it (under a quarter full), never after a put; a
 * term's node shrinks when its postings move from inline duplicates to a sub-database, and a
 * split leaves two half-full leaves, so the term tree grows leaves holding a few terms each,
 * and the next batches dirty (write whole) many more leaves than their terms need. A 10-byte
 * key (the term and a 0 byte: no term is 10 bytes, and it sorts right after its term, on the
 * term's leaf) put and deleted again makes LMDB rebalance that leaf; the put dirties nothing
 * the batch had not (the leaf holds a term it just wrote). Which leaf a term is on is not in
 * LMDB's interface: terms whose keys lie within a page of each other in memory (a leaf is one
 * page buffer) are taken for one leaf; a wrong guess costs a put and a delete, nothing else. */
#define IX_COMPACT_TERMS 4

static int ix_compact(struct store *s, struct wbatch *w, MDB_cursor *c) {
    MDB_stat st;
    size_t psize = mdb_env_stat(s->env, &st) == 0 ? st.ms_psize : 4096;
    const uint8_t *run_ptr = NULL;
    size_t run_start = 0, run_n = 0, picked = 0, nterms = w->ix.nterms;
    uint32_t *pick = malloc((nterms ? nterms : 1) * sizeof *pick);
    if (!pick)
        return ENOMEM;
    int rc = 0;
    /* a pass of reads first: the writes below move the pages */
    for (size_t i = 0; i <= nterms; i++) {
        const uint8_t *p = NULL;
        if (i < nterms) {
            MDB_val k = {INDEX_TERM_LEN, (void *)w->ix.terms[w->ix.order[i]].term}, v;
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
            if (rc == MDB_NOTFOUND) { /* every posting of the term removed again */
                rc = 0;
                continue;
            }
            if (rc != 0)
                break;
            p = k.mv_data;
        }
        size_t d = p && run_ptr ? (size_t)(p > run_ptr ? p - run_ptr : run_ptr - p) : psize;
        if (p && d < psize) {
            run_n++;
            continue;
        }
        if (run_ptr && run_n < IX_COMPACT_TERMS)
            pick[picked++] = w->ix.order[run_start];
        run_ptr = p;
        run_start = i;
        run_n = 1;
    }
    MDB_stat before;
    if (rc == 0)
        rc = mdb_stat(w->txn, s->dbi[DB_INDEX], &before);
    for (size_t i = 0; i < picked && rc == 0; i++) {
        uint8_t dk[INDEX_TERM_LEN + 1], zero[8] = {0};
        memcpy(dk, w->ix.terms[pick[i]].term, INDEX_TERM_LEN);
        dk[INDEX_TERM_LEN] = 0;
        MDB_val k = {sizeof dk, dk}, v = {8, zero};
        if ((rc = mdb_put(w->txn, s->dbi[DB_INDEX], &k, &v, 0)) == 0)
            rc = mdb_del(w->txn, s->dbi[DB_INDEX], &k, NULL);
    }
    free(pick);
    MDB_stat after;
    if (rc == 0 && mdb_stat(w->txn, s->dbi[DB_INDEX], &after) == 0)
        log_debug("store", "index: %zu of %zu terms' leaves compacted, term tree leaves %zu -> %zu",
                  picked, nterms, before.ms_leaf_pages, after.ms_leaf_pages);
    return rc;
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
    if (rc == 0 && s->ix_compact)
        rc = ix_compact(s, w, c);
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
    struct feed_head h;
    int rc = batch_feed_get(s, w, e->author, &h);
    if (rc != 0)
        return rc;
    /* The id commits to author and seq, so an entry past the feed's head cannot be held, and
     * one up to it is held when the chain has its id at its seq: looked up there (rows of one
     * feed, in order), not in the id table (a random B-tree descent in each of its parts). */
    uint8_t hk[40];
    memcpy(hk, e->author, 32);
    hub_be64(hk + 32, e->seq);
    MDB_val hkv = {40, hk}, hv;
    rc =
        (h.forked || e->seq <= h.seq) ? mdb_get(w->txn, s->dbi[DB_CHAIN], &hkv, &hv) : MDB_NOTFOUND;
    if (rc == 0 && hv.mv_size != CHAIN_VAL_LEN)
        return MDB_CORRUPTED;
    if (rc == 0 && memcmp((const uint8_t *)hv.mv_data + 8, e->id, 32) == 0) {
        it->result = HUB_E_DUPLICATE;
        uint8_t local_be[8];
        memcpy(local_be, hv.mv_data, 8);
        /* a checked copy of an entry whose held signature failed its deferred check */
        if (it->repair && !it->unchecked && !it->check_sig &&
            (rc = sigpend_repair(s, w->txn, e, local_be, &it->repaired)) != 0)
            return rc;
        return e->payload ? restore_payload(s, w, it, local_be) : 0;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (h.forked) {
        it->result = HUB_E_FORKED_FEED;
        return 0;
    }
    /* Checked only where it counts: appended, or fork evidence (which must carry a checked
     * signature). Past the head it is refused E_GAP below without a check. */
    if (it->check_sig && e->seq <= h.seq + 1 && entry_verify_sig(e, NULL) != 0) {
        it->result = HUB_E_SIGNATURE;
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
    MDB_val lkv = {8, lk};
    if (it->row && it->row_len) {
        MDB_val rv = {it->row_len, (void *)it->row};
        rc = mdb_put(w->txn, s->dbi[DB_ENTRIES], &lkv, &rv, MDB_APPEND);
    } else {
        rc = entry_row_put(s, w->txn, &lkv, e->wire, e->wire_len, MDB_APPEND);
    }
    if (rc != 0)
        return rc;
    if ((rc = ids_put(s, w->txn, e->id, &lkv)) != 0)
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
    wbatch_take_spare(s, &w);
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
        wbatch_free(s, &w);
        if (rc == EIO || rc == ENOSPC)
            return store_write_err(s, rc, 0, "merging the index tail");
        log_error("store", "merging the index tail failed: %s", mdb_strerror(rc));
        return store_err(rc);
    }
    wbatch_free(s, &w);
    return HUB_OK;
}

static int append_locked(struct store *s, struct store_item *items, size_t n, store_ready_fn ready,
                         void *arg, unsigned flags) {
    struct wbatch w = {0};
    w.now = hub_now_ms();
    uint64_t first_local = s->next_local;
    w.first_local = first_local;
    w.append_floor = first_local;
    w.to_tail = n < s->direct_min && !(flags & STORE_BULK);
    if (!w.to_tail)
        wbatch_take_spare(s, &w);
    /* A request stored as its entries are signed or checked (ready: an import) writes its
     * postings every STORE_IX_CHUNK entries, while the workers still have entries to sign:
     * written at the end, they kept one core busy and the other idle. (A catch-up batch's
     * workers have the next batch to check meanwhile: it writes them once, fewer seeks.) */
    int early_ix = ready && !w.to_tail && !(flags & STORE_BULK);
    uint64_t need = 0; /* wire bytes of the items appended: what a failed write needed at least */
    /* Once, when the store has enough entries to train a dictionary on: with this batch's
     * when they are all there (not while an import is still signing them: then after it). */
    if (!ready)
        pack_train(s, items, n);
    for (;;) {
        uint64_t tb = hub_mono_us();
        need = 0;
        int rc = mdb_txn_begin(s->env, NULL, 0, &w.txn);
        if (rc == 0) {
            for (size_t i = 0; i < n && rc == 0; i++) {
                items[i].local = 0;
                items[i].repaired = 0;
                int pre = ready ? ready(arg, i) : 0;
                if (pre == STORE_READY_ABORT) {
                    mdb_txn_abort(w.txn);
                    s->next_local = first_local;
                    wbatch_free(s, &w);
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
            if (rc == 0 && s->next_local != first_local)
                rc = ids_merge(s, w.txn);
            if (rc == 0 && s->next_local != first_local)
                rc = recs_merge(s, w.txn);
            if (rc == 0)
                rc = ix_flush(s, &w);
            if (rc == 0)
                rc = recent_count(s, w.txn, &w.recent_rows);
            uint64_t t1 = hub_mono_us();
            if (rc == 0) {
                tail_stage(s, &w);
                if (s->commit_hook)
                    s->commit_hook(s, 0, s->commit_hook_arg);
                rc = mdb_txn_commit(w.txn);
                if (rc != 0)
                    tail_unstage(s, &w);
                else if (s->commit_hook)
                    s->commit_hook(s, 1, s->commit_hook_arg);
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
        wbatch_free(s, &w);
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
    wbatch_free(s, &w);
    pack_train(s, NULL, 0);
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
    postings_free(&s->ix_spare);
    int merged = s->recent_rows > s->idle_min && tail_merge(s, s->chunk) == 0;
    pthread_mutex_unlock(&s->write_mu);
    return merged;
}

void store_set_commit_hook(struct store *s, void (*fn)(struct store *s, int committed, void *arg),
                           void *arg) {
    pthread_mutex_lock(&s->write_mu);
    s->commit_hook = fn;
    s->commit_hook_arg = arg;
    pthread_mutex_unlock(&s->write_mu);
}

void store_set_tail_limits(struct store *s, size_t direct_min, size_t tail_max, size_t chunk,
                           size_t idle_min) {
    s->direct_min = direct_min;
    s->tail_max = tail_max;
    s->chunk = chunk;
    s->idle_min = idle_min;
}
