/* store_records.c: record semantics: the current version of a record, its versions,
 * withdrawal (retraction, expiry) and the purge of payloads, a payload restored later. */
#include "store_priv.h"

/* Purge the payload of one stored version, keeping header and signature. */
static int purge_local(struct store *s, MDB_txn *txn, uint64_t local) {
    uint8_t lk[8];
    hub_be64(lk, local);
    MDB_val k = {8, lk}, v;
    int rc = entry_row_get(s, txn, &k, &v);
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
    rc = entry_row_put(s, txn, &k, stripped, slen, 0);
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
    int rc = entry_row_get(s, w->txn, &lv, &ev);
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
    return rec_put(s, txn, vk, sizeof vk, &flag, 1);
}

/* Hide a record and purge the payloads of all its versions (retraction, expiry). */
int rec_withdraw(struct store *s, struct wbatch *w, const uint8_t rkey[RKEY_LEN]) {
    MDB_val v;
    int rc = rec_get(s, w->txn, rkey, RKEY_LEN, &v);
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
    if ((rc = rec_put(s, w->txn, rkey, RKEY_LEN, &h, sizeof h)) != 0)
        return rc;
    /* Collect first, then purge: the purges write the rows being read. */
    uint64_t *locals;
    size_t nl;
    if ((rc = rec_version_locals(s, w->txn, rkey, &locals, &nl)) != 0)
        return rc;
    for (size_t i = 0; i < nl && rc == 0; i++)
        rc = purge_version(s, w->txn, rkey, locals[i]);
    free(locals);
    return rc;
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
int rec_update(struct store *s, struct wbatch *w, const struct store_item *it, uint64_t local) {
    const struct entry *e = it->e;
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, e->author, e->kind, e->key);
    MDB_val v;
    struct rec_hdr old;
    int rc = rec_get(s, w->txn, rkey, RKEY_LEN, &v);
    if (rc == 0) {
        if (v.mv_size < sizeof old)
            return MDB_CORRUPTED;
        memcpy(&old, v.mv_data, sizeof old);
        if ((rc = rec_unindex(s, w, v.mv_data, v.mv_size)) != 0)
            return rc;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    } else {
        old.flags = 0;
    }
    /* The new version is folded into the record's row (one row per new record, not two): the
     * version it replaces, if folded, gets a row of its own, unless a withdrawal wrote one. */
    if (old.flags & REC_FLAG_FOLDED) {
        uint8_t vk[RKEY_LEN + 8];
        memcpy(vk, rkey, RKEY_LEN);
        memcpy(vk + RKEY_LEN, old.local, 8);
        MDB_val vv;
        rc = rec_get(s, w->txn, vk, sizeof vk, &vv);
        if (rc == MDB_NOTFOUND)
            rc = rec_put(s, w->txn, vk, sizeof vk, "", 0);
        if (rc != 0)
            return rc;
    }

    /* A version received without its payload (purged upstream) is held but not shown. */
    int visible = e->payload != NULL || e->payload_size == 0;
    struct rec_hdr h;
    hub_be64(h.local, local);
    h.flags = REC_FLAG_FOLDED | (visible ? 0 : REC_FLAG_NOPAYLOAD);
    hub_be64(h.expires, e->expires);
    if ((rc = rec_put(s, w->txn, rkey, RKEY_LEN, &h, sizeof h)) != 0)
        return rc;
    return visible ? rec_show(s, w, it, local, MDB_APPEND) : 0;
}

/* The complete copy of an entry held without its payload: store the payload and, unless the
 * record was withdrawn since, show the version again (PROTOCOL.md, payload-less copies). */
int restore_payload(struct store *s, struct wbatch *w, const struct store_item *it,
                    const uint8_t local_be[8]) {
    const struct entry *e = it->e;
    MDB_val lk = {8, (void *)local_be}, ev;
    int rc = entry_row_get(s, w->txn, &lk, &ev);
    if (rc != 0)
        return rc;
    struct entry held;
    if (entry_decode(ev.mv_data, ev.mv_size, &held) != 0)
        return MDB_CORRUPTED;
    if (held.payload || !e->payload || e->kind == 5 /* retractions are never held bare */)
        return 0;
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, e->author, e->kind, e->key);
    MDB_val v;
    if ((rc = rec_get(s, w->txn, rkey, RKEY_LEN, &v)) != 0)
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
    MDB_val vv;
    rc = rec_get(s, w->txn, vk, sizeof vk, &vv);
    if (rc == MDB_NOTFOUND && (h.flags & REC_FLAG_FOLDED) && memcmp(h.local, local_be, 8) == 0) {
        rc = 0; /* the current version, folded into the record's row */
        vv.mv_size = 0;
    }
    if (rc != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (vv.mv_size >= 1 && (*(const uint8_t *)vv.mv_data & VERSION_WITHDRAWN))
        return 0;
    if ((rc = entry_row_put(s, w->txn, &lk, e->wire, e->wire_len, 0)) != 0)
        return rc;
    if (memcmp(h.local, local_be, 8) != 0 || !(h.flags & REC_FLAG_NOPAYLOAD))
        return 0; /* an older version: the current one is shown already */
    h.flags &= (uint8_t)~REC_FLAG_NOPAYLOAD;
    if ((rc = rec_put(s, w->txn, rkey, RKEY_LEN, &h, sizeof h)) != 0)
        return rc;
    return rec_show(s, w, it, hub_rd64(local_be), 0);
}

int store_versions(struct store *s, const uint8_t author[32], int kind, const char *key,
                   int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg) {
    uint8_t rkey[RKEY_LEN];
    rkey_make(rkey, author, kind, key);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    uint64_t *locals;
    size_t nl;
    if ((rc = rec_version_locals(s, txn, rkey, &locals, &nl)) != 0) {
        rtxn_end(s);
        return store_err(rc);
    }
    int count = 0;
    for (size_t i = 0; i < nl; i++) {
        uint8_t lb[8];
        hub_be64(lb, locals[i]);
        MDB_val lk = {8, lb}, ev;
        if (entry_row_get(s, txn, &lk, &ev) != 0)
            continue;
        count++;
        if (cb(ev.mv_data, ev.mv_size, arg) != 0)
            break;
    }
    free(locals);
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
    MDB_val v;
    rc = rec_get(s, txn, rkey, RKEY_LEN, &v);
    if (rc == 0) {
        const struct rec_hdr *h = v.mv_data;
        if (v.mv_size < sizeof *h || (h->flags & (REC_FLAG_WITHDRAWN | REC_FLAG_NOPAYLOAD))) {
            rc = MDB_NOTFOUND;
        } else {
            MDB_val lk = {8, (void *)h->local}, ev;
            rc = entry_row_get(s, txn, &lk, &ev);
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
        if (entry_row_get(s, w.txn, &lk, &ev) == 0 && entry_decode(ev.mv_data, ev.mv_size, &e) == 0)
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
        wbatch_free(s, &w);
        return store_write_err(s, rc, 0, "purging expired records");
    }
    wbatch_free(s, &w);
    *purged = n;
    return HUB_OK;
fail:
    mdb_txn_abort(w.txn);
    wbatch_free(s, &w);
    return store_err(rc);
}
