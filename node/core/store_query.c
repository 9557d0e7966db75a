/* store_query.c: queries over the index and the tail: the leapfrog join, sorting by start
 * date, postings of a term, records by local number, ranked full-text queries. */
#include "store_priv.h"

/* Leapfrog join over the index cursors: each term's postings are sorted by local, and the
 * join walks them downwards (newest first), so all cursors agree on a position only for records
 * that carry every term. */
struct qjoin {
    MDB_cursor *c[16];
    const struct index_term *t[16];
    /* The page of postings cursor i stands on, when placed[i]: 8-byte big-endian postings,
     * ascending, read in place from the map (MDB_GET_MULTIPLE); npg[i] of them may still be
     * <= the last seek. A join moves through a term's postings a page at a time instead of a
     * cursor call per posting: at 1M records that was a fifth of a query's instructions. */
    const uint8_t *pg[16];
    size_t npg[16];
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

/* The last posting <= pos on term i's page; 1 and *got (and the postings above it are dropped
 * for good, positions only go down), or 0 when the page starts above pos. */
static int qjoin_page_pick(struct qjoin *j, size_t i, uint64_t pos, uint64_t *got) {
    const uint8_t *p = j->pg[i];
    size_t n = j->npg[i];
    if (!n || hub_rd64(p) > pos)
        return 0;
    if (hub_rd64(p + 8 * (n - 1)) > pos) {
        size_t lo = 1, hi = n - 1; /* the first posting > pos is in [1, n - 1] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (hub_rd64(p + 8 * mid) > pos)
                hi = mid;
            else
                lo = mid + 1;
        }
        j->npg[i] = n = lo;
    }
    *got = hub_rd64(p + 8 * (n - 1));
    return 1;
}

/* Loads the page of postings op moves cursor i to (MDB_GET_MULTIPLE: the page it stands on;
 * MDB_PREV_MULTIPLE: the one before). A term with a single posting has no page of duplicates:
 * one is the value the cursor was placed on (one). 1, or 0 when there is no such page. */
static int qjoin_page_load(struct qjoin *j, size_t i, MDB_cursor_op op, const MDB_val *one) {
    MDB_val k = {0, NULL}, v = {0, NULL};
    int rc = mdb_cursor_get(j->c[i], &k, &v, op);
    if (rc == 0 && v.mv_size == 0 && one)
        v = *one;
    if (rc != 0 || v.mv_size == 0 || v.mv_size % 8 != 0) {
        j->npg[i] = 0;
        return 0;
    }
    j->pg[i] = v.mv_data;
    j->npg[i] = v.mv_size / 8;
    return 1;
}

/* Term i's last index posting <= pos; 1 and *got, or 0 if none. */
static int qjoin_index_seek(struct qjoin *j, size_t i, uint64_t pos, uint64_t *got) {
    if (j->placed[i]) {
        if (qjoin_page_pick(j, i, pos, got))
            return 1;
        /* Below the page: most often on the page before, when the join moves by little. */
        if (!qjoin_page_load(j, i, MDB_PREV_MULTIPLE, NULL))
            return 0; /* no older postings of this term */
        if (qjoin_page_pick(j, i, pos, got))
            return 1;
    }
    uint8_t p[8];
    hub_be64(p, pos);
    MDB_val k = {INDEX_TERM_LEN, (void *)j->t[i]->b}, v = {8, p};
    /* LMDB seeks to the first duplicate >= pos; the one wanted is on its page or the one before */
    int rc = mdb_cursor_get(j->c[i], &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == MDB_NOTFOUND) {
        /* every posting is < pos (every query starts so), or the term has none: place the
         * cursor on the last posting by value, since MDB_LAST_DUP leaves the duplicates'
         * cursor at its end, where MDB_GET_MULTIPLE answers nothing */
        k = (MDB_val){INDEX_TERM_LEN, (void *)j->t[i]->b};
        if (mdb_cursor_get(j->c[i], &k, &v, MDB_SET) != 0 ||
            mdb_cursor_get(j->c[i], &k, &v, MDB_LAST_DUP) != 0 || v.mv_size != 8)
            return 0;
        memcpy(p, v.mv_data, 8);
        k = (MDB_val){INDEX_TERM_LEN, (void *)j->t[i]->b};
        v = (MDB_val){8, p};
        if (mdb_cursor_get(j->c[i], &k, &v, MDB_GET_BOTH) != 0)
            return 0;
    } else if (rc != 0) {
        return 0;
    }
    if (v.mv_size != 8 || !qjoin_page_load(j, i, MDB_GET_MULTIPLE, &v))
        return 0;
    j->placed[i] = 1;
    if (qjoin_page_pick(j, i, pos, got))
        return 1;
    return qjoin_page_load(j, i, MDB_PREV_MULTIPLE, NULL) && qjoin_page_pick(j, i, pos, got);
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
    /* overlap of [ds, de] with [from, to]; undated records do not match */
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

/* Orders a[lo..hi] (inclusive) so that its k smallest (start_hit_cmp) come first, in any
 * order: quickselect, O(n) on average. Past a depth of 2 log2(n) (an unlucky run of pivots)
 * it sorts the range instead, so the worst case stays O(n log n). */
static void start_hit_select(struct start_hit *a, size_t n, size_t k) {
    size_t lo = 0, hi = n, depth = 0, limit = 2;
    for (size_t m = n; m > 1; m >>= 1)
        limit += 2;
    while (hi - lo > 1 && k > lo && k < hi) {
        if (++depth > limit) {
            qsort(a + lo, hi - lo, sizeof *a, start_hit_cmp);
            return;
        }
        /* median of three as the pivot, moved to hi - 1 */
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        struct start_hit t;
        if (start_hit_cmp(&a[mid], &a[lo]) < 0) {
            t = a[mid], a[mid] = a[lo], a[lo] = t;
        }
        if (start_hit_cmp(&a[last], &a[lo]) < 0) {
            t = a[last], a[last] = a[lo], a[lo] = t;
        }
        if (start_hit_cmp(&a[mid], &a[last]) < 0) {
            t = a[mid], a[mid] = a[last], a[last] = t;
        }
        struct start_hit pivot = a[last];
        size_t store = lo;
        for (size_t i = lo; i < last; i++) {
            if (start_hit_cmp(&a[i], &pivot) < 0) {
                t = a[i], a[i] = a[store], a[store] = t;
                store++;
            }
        }
        t = a[store], a[store] = a[last], a[last] = t;
        /* a[lo..store) < pivot = a[store] < a(store..hi): the k smallest are left of k */
        if (store == k || store + 1 == k)
            return;
        if (k < store)
            hi = store;
        else
            lo = store + 1;
    }
}

/* The live row of local pos through cursor lc (k holds pos's key), for positions that only go
 * down: when the matches are dense, the row is the one before where the cursor stands, and a
 * step back is cheaper than a search. 1 and *v, or 0 when there is none. */
static int live_at(MDB_cursor *lc, int *placed, uint64_t pos, MDB_val *k, MDB_val *v) {
    MDB_val ck;
    if (*placed && mdb_cursor_get(lc, &ck, v, MDB_PREV) == 0 && ck.mv_size == 8 &&
        hub_rd64(ck.mv_data) == pos)
        return 1;
    *placed = mdb_cursor_get(lc, k, v, MDB_SET) == 0;
    return *placed;
}

/* store_query sorted by start date: every match's start date is read (its live row, through
 * one cursor: the join's positions only go down, so most reads land on the page the cursor
 * already stands on), the first q->cursor - 1 + q->limit of the order are selected and only
 * those sorted (the rest only if the callback skips enough of them to need it), and the page
 * after q->cursor - 1 results passed to cb. The paging cursor is the position in the order. */
/* The row a query's callback gets: its wire bytes, or the row as stored (raw_rows). */
static int query_row(struct store *s, MDB_txn *txn, const struct store_query *q,
                     const MDB_val *local, MDB_val *ev) {
    if (!q->raw_rows)
        return entry_row_get(s, txn, local, ev);
    MDB_val k = *local;
    return mdb_get(txn, s->dbi[DB_ENTRIES], &k, ev);
}

static int store_query_by_start(struct store *s, MDB_txn *txn, struct qjoin *j,
                                const struct store_query *q,
                                int (*cb)(const uint8_t *wire, size_t len, void *arg), void *arg,
                                uint64_t *next_cursor) {
    struct start_hit *h = NULL;
    size_t n = 0, cap = 0;
    uint64_t pos = UINT64_MAX;
    MDB_cursor *lc;
    int placed = 0;
    int rc = mdb_cursor_open(txn, s->dbi[DB_LIVE], &lc);
    if (rc != 0)
        return store_err(rc);
    while (pos > 0 && qjoin_next(j, &pos)) {
        uint8_t lk[8];
        hub_be64(lk, pos);
        MDB_val k = {8, lk}, v;
        int32_t ds;
        if (live_at(lc, &placed, pos, &k, &v) && v.mv_size == LIVE_VAL_LEN &&
            query_live_ok(q, v.mv_data, &ds)) {
            if (n == STORE_SORT_MAX) {
                mdb_cursor_close(lc);
                free(h);
                return HUB_E_TOO_LARGE;
            }
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                struct start_hit *nh = realloc(h, nc * sizeof *nh);
                if (!nh) {
                    mdb_cursor_close(lc);
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
    mdb_cursor_close(lc);
    size_t first = q->cursor ? (size_t)(q->cursor - 1) : 0;
    /* h[0, sorted) is in order and holds the smallest of h */
    size_t sorted = n;
    if (first < n && q->limit < n - first) {
        sorted = first + q->limit;
        start_hit_select(h, n, sorted);
    }
    if (sorted > 1)
        qsort(h, sorted, sizeof *h, start_hit_cmp);
    int count = 0;
    for (size_t i = first; i < n; i++) {
        if ((size_t)count == q->limit) {
            *next_cursor = (uint64_t)i + 1;
            break;
        }
        if (i == sorted) { /* the callback skipped some: order the rest as well */
            qsort(h + sorted, n - sorted, sizeof *h, start_hit_cmp);
            sorted = n;
        }
        uint8_t lk[8];
        hub_be64(lk, h[i].local);
        MDB_val k = {8, lk}, ev;
        if (query_row(s, txn, q, &k, &ev) == 0) {
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

/* A query's view: the tail's lock, then a snapshot, and the snapshot's last entry. The writer
 * adds a batch's postings to the tail before its commit and takes merged ones out after it, so
 * a snapshot begun under the lock finds every entry it holds in the index or the tail; postings
 * past its last entry (a batch not committed when it began) are left out (tail_postings). */
static int qview_begin(struct store *s, MDB_txn **txn, uint64_t *upto) {
    pthread_mutex_lock(&s->tail_mu);
    int rc = rtxn_begin(s, txn);
    if (rc != 0) {
        pthread_mutex_unlock(&s->tail_mu);
        return rc;
    }
    MDB_cursor *c;
    MDB_val k, v;
    *upto = 0;
    if ((rc = mdb_cursor_open(*txn, s->dbi[DB_ENTRIES], &c)) == 0) {
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == 8)
            *upto = hub_rd64(k.mv_data);
        mdb_cursor_close(c);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rtxn_end(s);
        pthread_mutex_unlock(&s->tail_mu);
        return store_err(rc);
    }
    return HUB_OK;
}

static void qview_end(struct store *s) {
    rtxn_end(s);
    pthread_mutex_unlock(&s->tail_mu);
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
    uint64_t upto;
    int rc = qview_begin(s, &txn, &upto); /* the tail's arrays are read until the join ends */
    if (rc != 0)
        return rc;
    int count = 0;
    size_t opened = 0;
    *next_cursor = 0;
    for (; opened < j.k; opened++) {
        j.t[opened] = q->nterms ? &q->terms[opened] : &all;
        j.tail[opened] = tail_postings(s->tail, j.t[opened]->b, upto, &j.ntail[opened]);
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
        int32_t start;
        if (mdb_get(txn, s->dbi[DB_LIVE], &k, &v) == 0 && v.mv_size == LIVE_VAL_LEN) {
            if (query_live_ok(q, v.mv_data, &start)) {
                if ((size_t)count == q->limit) {
                    *next_cursor = local + 1;
                    break;
                }
                MDB_val ev;
                if (query_row(s, txn, q, &k, &ev) == 0) {
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
    for (size_t i = 0; i < opened; i++)
        mdb_cursor_close(j.c[i]);
    qview_end(s);
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
    uint64_t upto;
    int rc = qview_begin(s, &txn, &upto); /* the tail and the index agree until both are read */
    if (rc != 0)
        return rc;
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
    const uint64_t *tp = rc == 0 ? tail_postings(s->tail, t->b, upto, &nt) : NULL;
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
    qview_end(s);
    free(idx);
    return rc != 0 ? (rc < 0 ? rc : store_err(rc)) : (int)k;
}

int store_postings_count(struct store *s, const struct index_term *t, size_t *count) {
    MDB_txn *txn;
    uint64_t upto;
    int rc = qview_begin(s, &txn, &upto);
    if (rc != 0)
        return rc;
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
        (void)tail_postings(s->tail, t->b, upto, &nt);
    qview_end(s);
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
        if (entry_row_get(s, txn, &k, &ev) != 0)
            continue;
        count++;
        if (cb(locals[i], ev.mv_data, ev.mv_size, arg) != 0)
            break;
    }
    rtxn_end(s);
    return count;
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

void rank_map_destroy(struct rank_map **m) {
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
                     uint64_t floor, uint64_t upto, struct rank_map *m) {
    size_t nt;
    const uint64_t *tp = tail_postings(s->tail, t->b, upto, &nt);
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
    int32_t start;
    return query_live_ok(q, v.mv_data, &start);
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
    uint64_t upto;
    int rc = qview_begin(s, &txn, &upto); /* the tail's arrays are read until the end */
    if (rc != 0) {
        free(t);
        return rc;
    }
    MDB_cursor *c = NULL;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_INDEX], &c)) != 0) {
        rc = store_err(rc);
        goto done;
    }
    /* Groups in order of their postings, fewest first: the first group makes the candidates,
     * the others only mark them, so a rare word or filter keeps the work small. */
    size_t gsize[STORE_RANK_MAX_GROUPS + STORE_RANK_MAX_FILTERS] = {0};
    for (size_t i = 0; i < nt; i++) {
        size_t ntl, dc = 0;
        (void)tail_postings(s->tail, t[i].b, upto, &ntl);
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
                if ((rc = rank_term(s, c, &t[i], o, floor, upto, &m)) != HUB_OK)
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
        if (query_row(s, txn, q, &k2, &ev) == 0) {
            int r = cb(ev.mv_data, ev.mv_size, arg);
            if (r != 0 && r != STORE_QUERY_SKIP)
                break;
            if (r == 0)
                count++;
        }
    }
    rc = count;
done:
    if (c)
        mdb_cursor_close(c);
    qview_end(s);
    free(hits);
    free(top);
    free(t);
    *mp = m; /* kept for the next query */
    return rc;
}
