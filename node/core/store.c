/* store.c: reads of entries and feeds: heads, entries by id, by feed range, by local number
 * (cursors), forks. The store is split by subject: store_env.c (environment), store_keys.c
 * (key layouts), store_write.c (writes), store_records.c (record semantics), store_query.c,
 * store_verify.c, store_local.c; store_priv.h is what they share. Only these files include
 * <lmdb.h>. */
#include "store_priv.h"

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
        MDB_val v, ev;
        if (ids_get(s, txn, es[i]->id, &v) == 0 && entry_row_get(s, txn, &v, &ev) == 0)
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
    MDB_val v;
    rc = ids_get(s, txn, id, &v);
    if (rc == 0)
        rc = entry_row_get(s, txn, &v, &v);
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
    uint8_t found[2][32];
    size_t n = 0;
    rc = ids_prefix(s, txn, start, nibbles, found, &n);
    rtxn_end(s);
    if (rc != 0)
        return store_err(rc);
    if (n == 0)
        return HUB_E_NOT_FOUND;
    memcpy(out, found[0], 32);
    return n == 1 ? HUB_OK : HUB_E_RANGE;
}

/* The entries of author's feed from seq from on, in txn, until max_count or max_bytes. */
static int feed_range_in(struct store *s, MDB_txn *txn, const uint8_t author[32], uint64_t from,
                         size_t max_count, size_t max_bytes,
                         int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg) {
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[DB_CHAIN], &c);
    if (rc != 0)
        return store_err(rc);
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
        if ((rc = entry_row_get(s, txn, &lk, &ev)) != 0)
            break;
        if (cb(ev.mv_data, ev.mv_size, arg) != 0)
            break;
        count++;
        bytes += ev.mv_size;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return count;
}

int store_feed_range(struct store *s, const uint8_t author[32], uint64_t from, size_t max_count,
                     size_t max_bytes, int (*cb)(const uint8_t *wire, size_t len, void *arg),
                     void *arg) {
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = feed_range_in(s, txn, author, from, max_count, max_bytes, cb, arg);
    rtxn_end(s);
    return rc;
}

int store_sig_range(struct store *s, const uint8_t author[32], uint64_t from, size_t max_count,
                    int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg) {
    MDB_txn *txn;
    int rc = otxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = feed_range_in(s, txn, author, from, max_count, SIZE_MAX, cb, arg);
    otxn_end(s, txn);
    return rc;
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
        MDB_val w;
        if ((rc = entry_row_decode(s, &v, &w)) != 0)
            break;
        stop = cb(arg, local, w.mv_data, w.mv_size);
        *last = local;
        n++;
        bytes += w.mv_size;
    }
    mdb_cursor_close(c);
    rtxn_end(s);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    return (int)n;
}
