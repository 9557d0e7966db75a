/* store_keys.c: the key layouts of the store's tables, and the encodings of their keys and
 * values. A change of a key layout touches this file (and the schema version in store.h).
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
