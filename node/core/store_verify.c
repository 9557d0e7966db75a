/* store_verify.c: store_verify, the whole-store check, on a thread of its own. */
#include "store_priv.h"

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

    struct entry e;
    char ih[9];
    int grc = entry_row_get(s, vs->txn, &lk, &ev);
    if (grc == MDB_CORRUPTED) { /* a compressed row that does not decompress (store_pack.c) */
        vproblem(vs, HUB_E_DECODE,
                 "feed %s… seq %llu: stored entry (cursor %llu) does not "
                 "decompress",
                 ah, (unsigned long long)seq, (unsigned long long)hub_rd64(cv));
    } else if (grc != 0) {
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
        else if (ids_get(s, vs->txn, cv + 8, &iv) != 0 || memcmp(iv.mv_data, cv, 8) != 0)
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
            if (entry_row_get(s, vs->txn, &k, &ev) != 0 ||
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
