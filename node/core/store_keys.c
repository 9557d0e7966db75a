/* store_keys.c: the key layouts of the store's tables, and the encodings of their keys and
 * values. A change of a key layout touches this file (and the schema version in store.h).
 *
 * Named databases (keys big-endian so byte order is sort order):
 *   meta      "schema" -> u32 schema version; "index_max" -> u64; "zdict" id u8 -> a zstd
 *             dictionary (store_pack.c)
 *   entries   local u64 -> SignedEntry wire bytes (payload stripped once purged); appended.
 *             Schema 6: a row is the wire bytes as received, or 0x00 | dictionary id u8 | zstd
 *             frame of them (store_pack.c, which alone puts and reads these rows)
 *   ids       entry id (32) -> local u64, in three parts (schema 7): "ids_new" (the stage)
 *             takes every new id, "ids_mid" and "ids" (main) the older ones. The stage is merged
 *             into mid in key order when it holds a 64th of mid and main together, mid into
 *             main when it holds an eighth of main (each at least TIER_MIN), IDS_MERGE_ROWS per
 *             write transaction (see tier_merge). Ids are hashes: each new one lands on a random
 *             leaf, so a batch of 10,000 rewrote most leaves of a one-table id tree (3 KiB per
 *             entry at 1M entries, growing with the store); with two parts (schema 5) the stage
 *             grew to an eighth of the store, more leaves than a batch has ids from a few
 *             hundred thousand entries on. Each merge rewrites the leaves of the part it merges
 *             into once per ratio-th of that part's size (a constant per id, whatever the size).
 *             A look-up reads ids_new, then ids_mid, then ids (a few microseconds more). The
 *             chain rule does not look ids up at all: an entry of a feed is held when chain has
 *             its id at its seq (store_write.c)
 *   feeds     author (32) -> head: seq u64, id (32), timestamp u64, flags u8 (1 = forked)
 *   chain     author (32) | seq u64 -> local u64 | id (32)
 *   records   rkey (24: author's first 8 bytes | BLAKE2b-128 of author | kind u8 | key)
 *             -> rec (see struct rec_hdr), and rkey | local u64 (32) -> empty for a version (or
 *             VERSION_WITHDRAWN once a withdrawal purged it: see restore_payload): the
 *             versions of a record follow its row, so storing a record dirties one page of this
 *             tree, not one in each of two (DB_VERSIONS names the same database). Schema 7: the
 *             current version is folded into the record's row (REC_FLAG_FOLDED: its local is
 *             the row's, and it has no version row unless a withdrawal wrote one); when a newer
 *             version replaces it, it gets its row. A new record is one row, not two. The key
 *             is narrow on purpose: within an author rkeys are random, so a big batch rewrites
 *             most of its authors' leaves at its commit, and with author and kind in clear (49
 *             bytes) the tree had half as many leaves again; the author prefix keeps a
 *             catch-up batch (a few feeds) within a few parts of the tree. In three parts like
 *             ids: new and changed rows go to "records_new", whose rows hide those of
 *             "records_mid" with the same key, whose rows hide those of "records"; merged as
 *             ids are, RECS_MERGE_ROWS per write transaction, the newer row replacing the older
 *             (an import's random rkeys rewrote most leaves of a one-table records tree in
 *             each batch: 3.5 KiB per record at 1M, growing)
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
 *   sigpend   author (32) -> u64 lowest seq whose own signature waits (bit 63: its check failed)
 *             | id (32) of the entry before it: catch-up on the hash chain (store_sigpend.c)
 * "local" is a per-hub monotonic number, so entries and live are appended at the end.
 *
 * Small batches (live push, publish, a few hundred entries) do not write the index: a record's
 * ~70 postings would dirty a page per term per commit (hundreds of KiB per entry). Their terms go
 * to "recent" (one appended row) and to the in-memory tail, which queries read together with the
 * index. The oldest are merged into the index in chunks, many records to one page write per
 * term: when the hub is idle (store_maintain), or at once when the tail is full. Big batches
 * (import) and the batches of a longer transfer (catch-up, STORE_BULK) write the index directly:
 * for them a merge would cost more than the direct write it replaces. */
#include "store_priv.h"

/* The hash covers the whole author: making a record collide with another hub's record is a
 * second preimage of 128 bits, and making two of one's own collide (which could only garble
 * one's own records) costs 2^64. */
void rkey_make(uint8_t out[RKEY_LEN], const uint8_t author[32], int kind, const char *key) {
    crypto_generichash_state st;
    uint8_t k = (uint8_t)kind;
    memcpy(out, author, 8);
    crypto_generichash_init(&st, NULL, 0, RKEY_LEN - 8);
    crypto_generichash_update(&st, author, 32);
    crypto_generichash_update(&st, &k, 1);
    crypto_generichash_update(&st, (const uint8_t *)key, strlen(key));
    crypto_generichash_final(&st, out + 8, RKEY_LEN - 8);
}

int feed_get(struct store *s, MDB_txn *txn, const uint8_t author[32], struct feed_head *h) {
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

int feed_put(struct store *s, MDB_txn *txn, const struct feed_head *h) {
    uint8_t b[FEED_VAL_LEN];
    hub_be64(b, h->seq);
    memcpy(b + 8, h->id, 32);
    hub_be64(b + 40, h->timestamp);
    b[48] = h->forked ? FEED_FLAG_FORKED : 0;
    MDB_val k = {32, (void *)h->author}, v = {FEED_VAL_LEN, b};
    return mdb_put(txn, s->dbi[DB_FEEDS], &k, &v, 0);
}

/* ---- tiers: the id and records tables in three parts each ---- */

/* A part is merged into the next one when it holds 1/ratio of what the parts after it hold
 * (and at least TIER_MIN rows): the stage (ids_new, records_new) into mid at 1/TIER_STAGE_RATIO,
 * mid into main (ids, records) at 1/TIER_MID_RATIO. A merge of n rows into a part of m rows
 * rewrites about every leaf of it (its rows are spread over all of them): per row merged, the
 * part's size over n, the ratio. Two merges of ratios 8 and 8 cost what one of 8 does twice,
 * but the stage, which every batch writes, stays at 1/64 of the store instead of 1/8: with one
 * stage its leaves outnumbered a batch's rows from a few hundred thousand entries on, so a
 * batch rewrote a page per row, and more of them the bigger the store. */
#define TIER_STAGE_RATIO 64
#define TIER_MID_RATIO 8
#define TIER_MIN 16384
/* Rows a merge moves per write transaction: more than a batch brings (16,384 at most), so a
 * merge ends; few enough that it rewrites a bounded share of a part in one transaction. A
 * record stores one or two rows (its own, and a row per older version): twice the ids' share. */
#define IDS_MERGE_ROWS 32768
#define RECS_MERGE_ROWS 65536

static const int ids_tiers[TIER_COUNT] = {DB_IDS_NEW, DB_IDS_MID, DB_IDS};
static const int recs_tiers[TIER_COUNT] = {DB_RECORDS_NEW, DB_RECORDS_MID, DB_RECORDS};

/* One step of the merge of part db[from] into db[from + 1]: started when the part holds its
 * share of the parts after it, then at most max rows per write transaction, in key order from
 * where the last one stopped, so that the leaves of the next part it rewrites are those of the
 * key range it covers: a transaction dirties a bounded number of pages (and of LMDB's page
 * buffers, which are memory) whatever the size of the store. A failed transaction only moves
 * the start on: rows it did not move are moved in the next round. put_flags: MDB_NOOVERWRITE
 * where a key lives in one part only (ids), 0 where the newer row replaces the older. */
/* Where a merge stands ("merge:ids:0" -> the last key it moved) is kept in meta, written in the
 * transaction that moved the rows: after a restart the merge goes on from there, instead of
 * waiting for its part, now below its share, to fill up to it again. */
static MDB_val merge_pos_key(char buf[32], const char *tag, int from) {
    int n = snprintf(buf, 32, "merge:%s:%d", tag, from);
    return (MDB_val){(size_t)n, buf};
}

static int merge_pos_save(struct store *s, MDB_txn *txn, const char *tag, int from,
                          const struct tier_merge *m) {
    char buf[32];
    MDB_val k = merge_pos_key(buf, tag, from);
    if (m->active && m->from_len) {
        MDB_val v = {m->from_len, (void *)m->from};
        return mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
    }
    int rc = mdb_del(txn, s->dbi[DB_META], &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int merge_pos_load(struct store *s, MDB_txn *txn, const char *tag,
                          struct tier_merge m[TIER_COUNT - 1]) {
    for (int from = 0; from < TIER_COUNT - 1; from++) {
        char buf[32];
        MDB_val k = merge_pos_key(buf, tag, from), v;
        int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        if (v.mv_size == 0 || v.mv_size > TIER_KEY_MAX) { /* a hint only: merged afresh */
            log_warnx("store", "ignoring a bad merge position (%s)", buf);
            continue;
        }
        m[from].active = 1;
        memcpy(m[from].from, v.mv_data, v.mv_size);
        m[from].from_len = v.mv_size;
    }
    return 0;
}

int tiers_load(struct store *s, MDB_txn *txn) {
    int rc = merge_pos_load(s, txn, "ids", s->ids_mg);
    return rc ? rc : merge_pos_load(s, txn, "records", s->recs_mg);
}

static int tier_merge(struct store *s, MDB_txn *txn, const int db[TIER_COUNT], int from,
                      size_t ratio, size_t max, unsigned put_flags, struct tier_merge *m,
                      const char *what, const char *tag) {
    MDB_stat st[TIER_COUNT];
    for (int i = from; i < TIER_COUNT; i++) {
        int rc = mdb_stat(txn, s->dbi[db[i]], &st[i]);
        if (rc != 0)
            return rc;
    }
    size_t older = 0;
    for (int i = from + 1; i < TIER_COUNT; i++)
        older += st[i].ms_entries;
    size_t min = s->ids_stage_min ? s->ids_stage_min : TIER_MIN;
    if (!m->active && (st[from].ms_entries < min || st[from].ms_entries < older / ratio))
        return 0;
    m->active = 1;
    if (s->ids_stage_min)
        max = s->ids_stage_min;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[db[from]], &c);
    if (rc != 0)
        return rc;
    uint8_t start[TIER_KEY_MAX] = {0};
    memcpy(start, m->from, m->from_len);
    MDB_val k = {m->from_len ? m->from_len : 1, start}, v;
    size_t moved = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && moved < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size > TIER_KEY_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(m->from, k.mv_data, k.mv_size);
        m->from_len = k.mv_size;
        if ((rc = mdb_put(txn, s->dbi[db[from + 1]], &k, &v, put_flags)) != 0)
            break;
        /* MDB_NEXT after a delete gives the row after the deleted one */
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        moved++;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) { /* the end of the part: this merge is done */
        m->active = 0;
        m->from_len = 0;
        rc = 0;
    }
    if (rc == MDB_KEYEXIST)
        return MDB_CORRUPTED;
    if (rc == 0)
        rc = merge_pos_save(s, txn, tag, from, m);
    if (rc == 0)
        log_debug("store", "moved %zu of %zu staged %s from tier %d into tier %d (%zu rows)%s",
                  moved, st[from].ms_entries, what, from, from + 1, st[from + 1].ms_entries,
                  m->active ? "" : ": merge done");
    return rc;
}

/* The merge steps of both parts of a table, for a write transaction about to commit: the stage
 * into mid, then mid (grown by it, maybe) into main. */
static int tiers_merge(struct store *s, MDB_txn *txn, const int db[TIER_COUNT], size_t max,
                       unsigned put_flags, struct tier_merge m[TIER_COUNT - 1], const char *what,
                       const char *tag) {
    int rc = tier_merge(s, txn, db, 0, TIER_STAGE_RATIO, max, put_flags, &m[0], what, tag);
    if (rc == 0)
        rc = tier_merge(s, txn, db, 1, TIER_MID_RATIO, max, put_flags, &m[1], what, tag);
    return rc;
}

/* ---- the id table, in three parts (ids_new, ids_mid, ids) ---- */

int ids_get(struct store *s, MDB_txn *txn, const uint8_t id[32], MDB_val *local) {
    MDB_val k = {32, (void *)id};
    int rc = MDB_NOTFOUND;
    for (int i = 0; i < TIER_COUNT && rc == MDB_NOTFOUND; i++)
        rc = mdb_get(txn, s->dbi[ids_tiers[i]], &k, local);
    if (rc == 0 && local->mv_size != 8)
        return MDB_CORRUPTED;
    return rc;
}

int ids_put(struct store *s, MDB_txn *txn, const uint8_t id[32], MDB_val *local) {
    MDB_val k = {32, (void *)id};
    return mdb_put(txn, s->dbi[DB_IDS_NEW], &k, local, MDB_NOOVERWRITE);
}

int ids_merge(struct store *s, MDB_txn *txn) {
    return tiers_merge(s, txn, ids_tiers, IDS_MERGE_ROWS, MDB_NOOVERWRITE, s->ids_mg, "entry ids",
                       "ids");
}

static int id_has_prefix(const uint8_t *id, const uint8_t *prefix, size_t nibbles) {
    if (memcmp(id, prefix, nibbles / 2) != 0)
        return 0;
    return nibbles % 2 == 0 || (id[nibbles / 2] >> 4) == (prefix[nibbles / 2] >> 4);
}

int ids_prefix(struct store *s, MDB_txn *txn, const uint8_t start[32], size_t nibbles,
               uint8_t found[2][32], size_t *nfound) {
    *nfound = 0;
    for (size_t p = 0; p < TIER_COUNT && *nfound < 2; p++) {
        MDB_cursor *c;
        int rc = mdb_cursor_open(txn, s->dbi[ids_tiers[p]], &c);
        if (rc != 0)
            return rc;
        /* ids are keys in byte order: the first key >= the prefix padded with zeros is the
         * first candidate, and the one after it tells whether the prefix is ambiguous */
        MDB_val k = {32, (void *)start}, v;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
             rc == 0 && *nfound < 2 && k.mv_size == 32 && id_has_prefix(k.mv_data, start, nibbles);
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
            memcpy(found[(*nfound)++], k.mv_data, 32);
        mdb_cursor_close(c);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

void store_set_id_stage(struct store *s, size_t min) {
    s->ids_stage_min = min;
}

void store_set_ix_compact(struct store *s, int on) {
    s->ix_compact = on;
}

/* ---- the records table, in three parts (records_new, records_mid, records) ---- */

int rec_get(struct store *s, MDB_txn *txn, const uint8_t *key, size_t klen, MDB_val *v) {
    MDB_val k = {klen, (void *)key};
    int rc = MDB_NOTFOUND;
    for (int i = 0; i < TIER_COUNT && rc == MDB_NOTFOUND; i++)
        rc = mdb_get(txn, s->dbi[recs_tiers[i]], &k, v);
    return rc;
}

int rec_put(struct store *s, MDB_txn *txn, const uint8_t *key, size_t klen, const void *val,
            size_t vlen) {
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    return mdb_put(txn, s->dbi[DB_RECORDS_NEW], &k, &v, 0);
}

/* The version rows of rkey in one part, appended to *locals (grown as needed). */
static int rec_versions_of(struct store *s, MDB_txn *txn, int db, const uint8_t rkey[RKEY_LEN],
                           uint64_t **locals, size_t *n, size_t *cap) {
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[db], &c);
    if (rc != 0)
        return rc;
    uint8_t start[RKEY_LEN + 8];
    memcpy(start, rkey, RKEY_LEN);
    memset(start + RKEY_LEN, 0, 8);
    MDB_val k = {sizeof start, start}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size == RKEY_LEN + 8 && memcmp(k.mv_data, rkey, RKEY_LEN) == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t *p = hub_reserve(*locals, cap, *n + 1, sizeof *p, 16);
        if (!p) {
            rc = ENOMEM;
            break;
        }
        *locals = p;
        (*locals)[(*n)++] = hub_rd64((const uint8_t *)k.mv_data + RKEY_LEN);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || (rc == 0) ? 0 : rc;
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int rec_version_locals(struct store *s, MDB_txn *txn, const uint8_t rkey[RKEY_LEN],
                       uint64_t **locals, size_t *n) {
    *locals = NULL;
    *n = 0;
    size_t cap = 0;
    int rc = 0;
    for (int i = 0; i < TIER_COUNT && rc == 0; i++)
        rc = rec_versions_of(s, txn, recs_tiers[i], rkey, locals, n, &cap);
    /* the current version folded into the record's row (REC_FLAG_FOLDED) has no row of its own */
    MDB_val v;
    int grc = rc == 0 ? rec_get(s, txn, rkey, RKEY_LEN, &v) : 0;
    if (grc == 0 && rc == 0 && v.mv_size >= sizeof(struct rec_hdr) &&
        (((const struct rec_hdr *)v.mv_data)->flags & REC_FLAG_FOLDED)) {
        uint64_t *p = hub_reserve(*locals, &cap, *n + 1, sizeof *p, 16);
        if (!p)
            rc = ENOMEM;
        else {
            *locals = p;
            (*locals)[(*n)++] = hub_rd64(((const struct rec_hdr *)v.mv_data)->local);
        }
    } else if (grc != 0 && grc != MDB_NOTFOUND) {
        rc = grc;
    }
    if (rc != 0) {
        free(*locals);
        *locals = NULL;
        *n = 0;
        return rc;
    }
    /* a version in several parts (its row changed since the last merge), or both folded and
     * in a row of its own (purged by a withdrawal), counts once */
    if (*n > 1)
        qsort(*locals, *n, sizeof **locals, u64_cmp);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++)
        if (m == 0 || (*locals)[m - 1] != (*locals)[i])
            (*locals)[m++] = (*locals)[i];
    *n = m;
    return 0;
}

int recs_merge(struct store *s, MDB_txn *txn) {
    return tiers_merge(s, txn, recs_tiers, RECS_MERGE_ROWS, 0, s->recs_mg, "record rows",
                       "records");
}

int store_tiers(struct store *s, const uint8_t author[32], int kind, const char *key,
                size_t ids[TIER_COUNT], size_t recs[TIER_COUNT], int in[TIER_COUNT]) {
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, author, kind, key);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    for (int i = 0; i < TIER_COUNT && rc == 0; i++) {
        MDB_stat st;
        MDB_val k = {RKEY_LEN, rkey}, v;
        if ((rc = mdb_stat(txn, s->dbi[ids_tiers[i]], &st)) != 0)
            break;
        ids[i] = st.ms_entries;
        if ((rc = mdb_stat(txn, s->dbi[recs_tiers[i]], &st)) != 0)
            break;
        recs[i] = st.ms_entries;
        rc = mdb_get(txn, s->dbi[recs_tiers[i]], &k, &v);
        in[i] = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    rtxn_end(s);
    return store_err(rc);
}
