/* store_keys.c: the key layouts of the store's tables, and the encodings of their keys and
 * values. A change of a key layout touches this file (and the schema version in store.h).
 *
 * Named databases (keys big-endian so byte order is sort order):
 *   meta      "schema" -> u32 schema version; "index_max" -> u64; "zdict" id u8 -> a zstd
 *             dictionary (store_pack.c)
 *   entries   local u64 -> SignedEntry wire bytes (payload stripped once purged); appended.
 *             Schema 6: a row is the wire bytes as received, or 0x00 | dictionary id u8 | zstd
 *             frame of them (store_pack.c, which alone puts and reads these rows)
 *   ids       entry id (32) -> local u64, in two parts: "ids_new" takes every new id, "ids" the
 *             older ones, merged from ids_new in key order when ids_new holds an eighth of
 *             what ids holds (at least IDS_STAGE_MIN), IDS_MERGE_ROWS per write transaction.
 *             Ids are hashes: each new one lands on a random leaf, so a batch of 10,000
 *             rewrote most leaves of a one-table id tree (3 KiB per entry at 1M entries,
 *             growing with the store). ids_new stays small, so a batch rewrites few pages of
 *             it; the merge rewrites the leaves of ids once per IDS_STAGE_RATIO-th of its size
 *             (half a KiB per entry, whatever the size). A look-up reads ids_new, then ids (a
 *             few microseconds more). The chain rule does not look ids up at all: an entry of a
 *             feed is held when chain has its id at its seq (store_write.c)
 *   feeds     author (32) -> head: seq u64, id (32), timestamp u64, flags u8 (1 = forked)
 *   chain     author (32) | seq u64 -> local u64 | id (32)
 *   records   rkey (24: author's first 8 bytes | BLAKE2b-128 of author | kind u8 | key)
 *             -> rec (see struct rec_hdr), and rkey | local u64 (32) -> empty for each version (or
 *             VERSION_WITHDRAWN once a withdrawal purged it: see restore_payload): the
 *             versions of a record follow its row, so storing a record dirties one page of this
 *             tree, not one in each of two (DB_VERSIONS names the same database). The key is
 *             narrow on purpose: within an author rkeys are random, so a big batch rewrites
 *             most of its authors' leaves at its commit, and with author and kind in clear (49
 *             bytes) the tree had half as many leaves again; the author prefix keeps a
 *             catch-up batch (a few feeds) within a few parts of the tree. Staged like ids
 *             (schema 5): new and changed rows go to "records_new", whose rows hide those of
 *             records with the same key, and are merged into records in key order,
 *             RECS_MERGE_ROWS per write transaction, once records_new holds an eighth of
 *             records (at least RECS_STAGE_MIN): an import's random rkeys rewrote most leaves
 *             of the records tree in each batch (3.5 KiB per record at 1M, growing)
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

/* ---- the id table, in two parts (ids_new, ids) ---- */

/* ids_new is merged into ids when it holds ids/IDS_STAGE_RATIO rows, and at least
 * IDS_STAGE_MIN: a merge rewrites about every leaf of ids (its new ids are spread over all of
 * them), so the bigger the ratio's share, the fewer bytes per id; the smaller, the smaller
 * ids_new stays (a batch rewrites up to all of its leaves). */
#define IDS_STAGE_RATIO 8
#define IDS_STAGE_MIN 16384
/* Rows a merge moves per write transaction: more than a batch brings (16,384 at most), so a
 * merge ends; few enough that it rewrites a bounded share of ids in one transaction. */
#define IDS_MERGE_ROWS 32768

int ids_get(struct store *s, MDB_txn *txn, const uint8_t id[32], MDB_val *local) {
    MDB_val k = {32, (void *)id};
    int rc = mdb_get(txn, s->dbi[DB_IDS_NEW], &k, local);
    if (rc == MDB_NOTFOUND)
        rc = mdb_get(txn, s->dbi[DB_IDS], &k, local);
    if (rc == 0 && local->mv_size != 8)
        return MDB_CORRUPTED;
    return rc;
}

int ids_put(struct store *s, MDB_txn *txn, const uint8_t id[32], MDB_val *local) {
    MDB_val k = {32, (void *)id};
    return mdb_put(txn, s->dbi[DB_IDS_NEW], &k, local, MDB_NOOVERWRITE);
}

int ids_merge(struct store *s, MDB_txn *txn) {
    MDB_stat sn, so;
    int rc = mdb_stat(txn, s->dbi[DB_IDS_NEW], &sn);
    if (rc == 0)
        rc = mdb_stat(txn, s->dbi[DB_IDS], &so);
    if (rc != 0)
        return rc;
    size_t min = s->ids_stage_min ? s->ids_stage_min : IDS_STAGE_MIN;
    if (!s->ids_merging && (sn.ms_entries < min || sn.ms_entries < so.ms_entries / IDS_STAGE_RATIO))
        return 0;
    /* A merge moves at most IDS_MERGE_ROWS rows per transaction, in key order from where the
     * last one stopped: the leaves of ids it rewrites are those of the key range it covers, so
     * a transaction dirties a bounded number of pages (and of LMDB's page buffers, which are
     * memory) whatever the size of the store. A failed transaction only moves the start on:
     * rows it did not move are moved in the next round. */
    s->ids_merging = 1;
    size_t max = s->ids_stage_min ? s->ids_stage_min : IDS_MERGE_ROWS;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_IDS_NEW], &c)) != 0)
        return rc;
    MDB_val k = {32, s->ids_merge_from}, v;
    size_t moved = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && moved < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 32) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(s->ids_merge_from, k.mv_data, 32);
        if ((rc = mdb_put(txn, s->dbi[DB_IDS], &k, &v, MDB_NOOVERWRITE)) != 0)
            break;
        /* MDB_NEXT after a delete gives the row after the deleted one */
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        moved++;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) { /* the end of ids_new: this merge is done */
        s->ids_merging = 0;
        memset(s->ids_merge_from, 0, 32);
        rc = 0;
    }
    if (rc == MDB_KEYEXIST)
        return MDB_CORRUPTED;
    if (rc == 0)
        log_debug("store", "moved %zu of %zu staged entry ids into the id table of %zu%s", moved,
                  sn.ms_entries, so.ms_entries, s->ids_merging ? "" : ": merge done");
    return rc;
}

static int id_has_prefix(const uint8_t *id, const uint8_t *prefix, size_t nibbles) {
    if (memcmp(id, prefix, nibbles / 2) != 0)
        return 0;
    return nibbles % 2 == 0 || (id[nibbles / 2] >> 4) == (prefix[nibbles / 2] >> 4);
}

int ids_prefix(struct store *s, MDB_txn *txn, const uint8_t start[32], size_t nibbles,
               uint8_t found[2][32], size_t *nfound) {
    *nfound = 0;
    static const int parts[] = {DB_IDS_NEW, DB_IDS};
    for (size_t p = 0; p < HUB_ARRAY_LEN(parts) && *nfound < 2; p++) {
        MDB_cursor *c;
        int rc = mdb_cursor_open(txn, s->dbi[parts[p]], &c);
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

/* ---- the records table, in two parts (records_new, records) ---- */

#define RECS_STAGE_RATIO 8
#define RECS_STAGE_MIN 16384
/* A record stores two rows (its own and its version's): twice the ids' share per batch. */
#define RECS_MERGE_ROWS 65536

int rec_get(struct store *s, MDB_txn *txn, const uint8_t *key, size_t klen, MDB_val *v) {
    MDB_val k = {klen, (void *)key};
    int rc = mdb_get(txn, s->dbi[DB_RECORDS_NEW], &k, v);
    if (rc == MDB_NOTFOUND)
        rc = mdb_get(txn, s->dbi[DB_RECORDS], &k, v);
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
    int rc = rec_versions_of(s, txn, DB_RECORDS, rkey, locals, n, &cap);
    if (rc == 0)
        rc = rec_versions_of(s, txn, DB_RECORDS_NEW, rkey, locals, n, &cap);
    if (rc != 0) {
        free(*locals);
        *locals = NULL;
        *n = 0;
        return rc;
    }
    /* a version in both parts (its row changed since the last merge) counts once */
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
    MDB_stat sn, so;
    int rc = mdb_stat(txn, s->dbi[DB_RECORDS_NEW], &sn);
    if (rc == 0)
        rc = mdb_stat(txn, s->dbi[DB_RECORDS], &so);
    if (rc != 0)
        return rc;
    size_t min = s->ids_stage_min ? s->ids_stage_min : RECS_STAGE_MIN;
    if (!s->recs_merging &&
        (sn.ms_entries < min || sn.ms_entries < so.ms_entries / RECS_STAGE_RATIO))
        return 0;
    /* as ids_merge: a bounded run per transaction, in key order from where the last stopped */
    s->recs_merging = 1;
    size_t max = s->ids_stage_min ? s->ids_stage_min : RECS_MERGE_ROWS;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_RECORDS_NEW], &c)) != 0)
        return rc;
    uint8_t from[RKEY_LEN + 8] = {0};
    memcpy(from, s->recs_merge_from, s->recs_merge_from_len);
    MDB_val k = {s->recs_merge_from_len ? s->recs_merge_from_len : 1, from}, v;
    size_t moved = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && moved < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size > sizeof s->recs_merge_from) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(s->recs_merge_from, k.mv_data, k.mv_size);
        s->recs_merge_from_len = k.mv_size;
        /* the newer row replaces the older one of the same key */
        if ((rc = mdb_put(txn, s->dbi[DB_RECORDS], &k, &v, 0)) != 0)
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0) /* MDB_NEXT then gives the row after it */
            break;
        moved++;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        s->recs_merging = 0;
        s->recs_merge_from_len = 0;
        rc = 0;
    }
    if (rc == 0)
        log_debug("store", "moved %zu of %zu staged record rows into the records table of %zu%s",
                  moved, sn.ms_entries, so.ms_entries, s->recs_merging ? "" : ": merge done");
    return rc;
}
