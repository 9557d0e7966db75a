/* store_local.c: local tables: replies seen (inbox), addressed replies, blocked responders. */
#include "store_priv.h"

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

/* Rows of such a table put (key -> v) or deleted, in one transaction (wtxn_run). */
struct key32_u64_write {
    int db;
    const uint8_t (*keys)[32];
    size_t n;
    uint64_t v;
    int del;
};

static int key32_u64_write_txn(struct store *s, MDB_txn *txn, void *arg) {
    const struct key32_u64_write *w = arg;
    uint8_t t[8];
    hub_be64(t, w->v);
    int rc = 0;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        MDB_val k = {32, (void *)w->keys[i]}, v = {8, t};
        if (w->del) {
            rc = mdb_del(txn, s->dbi[w->db], &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0; /* not there: nothing to delete */
        } else {
            rc = mdb_put(txn, s->dbi[w->db], &k, &v, 0);
        }
    }
    return rc;
}

static int key32_u64_write(struct store *s, const struct key32_u64_write *w) {
    pthread_mutex_lock(&s->write_mu);
    int rc = wtxn_run(s, key32_u64_write_txn, (void *)w);
    pthread_mutex_unlock(&s->write_mu);
    return store_err(rc);
}

int store_seen_mark(struct store *s, const uint8_t (*ids)[32], size_t n, uint64_t ms) {
    if (n == 0)
        return HUB_OK;
    struct key32_u64_write w = {DB_REPLY_SEEN, ids, n, ms, 0};
    return key32_u64_write(s, &w);
}

/* ---- addressed replies and blocked responders (areply.c; PROTOCOL.md 9.15) ---- */

struct areply_put {
    uint8_t kb[64];
    const uint8_t *wire;
    size_t len, max_held;
    int out; /* HUB_OK, or why nothing was written */
};

static int areply_put_txn(struct store *s, MDB_txn *txn, void *arg) {
    struct areply_put *a = arg;
    MDB_stat st;
    MDB_val k = {64, a->kb}, v = {a->len, (void *)a->wire};
    a->out = HUB_OK;
    int rc = mdb_stat(txn, s->dbi[DB_AREPLIES], &st);
    if (rc == 0 && st.ms_entries >= a->max_held)
        a->out = HUB_E_TOO_LARGE; /* nothing written: the commit changes nothing */
    else if (rc == 0 &&
             (rc = mdb_put(txn, s->dbi[DB_AREPLIES], &k, &v, MDB_NOOVERWRITE)) == MDB_KEYEXIST) {
        a->out = HUB_E_DUPLICATE;
        rc = 0;
    }
    return rc;
}

int store_areply_put(struct store *s, const uint8_t target[32], const uint8_t id[32],
                     const uint8_t *wire, size_t len, size_t max_held) {
    struct areply_put a = {.wire = wire, .len = len, .max_held = max_held};
    memcpy(a.kb, target, 32);
    memcpy(a.kb + 32, id, 32);
    pthread_mutex_lock(&s->write_mu);
    int rc = wtxn_run(s, areply_put_txn, &a);
    pthread_mutex_unlock(&s->write_mu);
    return rc ? store_err(rc) : a.out;
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
    struct key32_u64_write w = {DB_BLOCKED, (const uint8_t(*)[32])key, 1, ms, !blocked};
    return key32_u64_write(s, &w);
}
