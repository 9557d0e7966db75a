/* store_sigpend.c: signatures checked after the hash chain (node/core/sigcheck.c, PROTOCOL.md
 * 9.16): the "sigpend" table, author -> u64be (the lowest seq of the feed whose own signature is
 * unchecked, with STORE_SIGPEND_BAD when its check failed) || the id of the entry before it.
 * Written in the batch's transaction for the items stored with `unchecked`, so that no crash
 * leaves an unchecked entry unmarked; advanced by the checker; a failed check lifted, with the
 * held entry's signature bytes replaced, by a correctly signed copy (sigpend_repair). */
#include "store_priv.h"

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
int sigpend_note(struct store *s, MDB_txn *txn, const struct store_item *items, size_t n) {
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

int sigpend_repair(struct store *s, MDB_txn *txn, const struct entry *e, const uint8_t local_be[8],
                   int *repaired) {
    *repaired = 0;
    uint64_t lo;
    uint8_t before[32];
    int rc = sigpend_get(s, txn, e->author, &lo, before);
    if (rc == MDB_NOTFOUND || (rc == 0 && lo != (e->seq | STORE_SIGPEND_BAD)))
        return 0; /* not stopped there (any more): a duplicate like any other */
    if (rc != 0)
        return rc;
    MDB_val lk = {8, (void *)local_be}, ev;
    if ((rc = entry_row_get(s, txn, &lk, &ev)) != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    /* The same id, so the same header: only the signature bytes differ. The held row keeps its
     * payload (or its purged form); the signature is put in place in a copy of it. */
    uint8_t *wire = malloc(ev.mv_size);
    if (!wire)
        return ENOMEM;
    memcpy(wire, ev.mv_data, ev.mv_size);
    struct entry held;
    if (entry_decode(wire, ev.mv_size, &held) != 0 || held.seq != e->seq ||
        memcmp(held.id, e->id, HUB_ID_LEN) != 0) {
        free(wire);
        return MDB_CORRUPTED;
    }
    size_t at = (size_t)(held.sig - wire); /* decoded from the copy: it points into it */
    memcpy(wire + at, e->sig, HUB_SIG_LEN);
    rc = entry_row_put(s, txn, &lk, wire, ev.mv_size, 0);
    free(wire);
    /* entry seq is unchecked again (the checker checks the new bytes, then goes on) */
    if (rc == 0)
        rc = sigpend_put(s, txn, e->author, e->seq, before);
    if (rc == 0)
        *repaired = 1;
    return rc;
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

struct advance {
    struct store_sigpend *u;
    size_t n;
};

static int advance_txn(struct store *s, MDB_txn *txn, void *arg) {
    struct store_sigpend *u = ((struct advance *)arg)->u;
    size_t n = ((struct advance *)arg)->n;
    int rc = 0;
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
    return rc;
}

int store_sigpend_advance(struct store *s, struct store_sigpend *u, size_t n) {
    struct advance a = {u, n};
    pthread_mutex_lock(&s->write_mu);
    int rc = wtxn_run(s, advance_txn, &a);
    pthread_mutex_unlock(&s->write_mu);
    if (rc != 0)
        log_warnx("store", "recording checked signatures: %s", mdb_strerror(rc));
    return store_err(rc);
}
