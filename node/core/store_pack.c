/* store_pack.c: the rows of the entries table, compressed (schema 6). Every put and get of an
 * entry's wire bytes goes through here; nothing else in the store sees a compressed row.
 *
 * A row is either the entry's wire bytes as received (a SignedEntry: a protobuf message, whose
 * first byte is a field tag, never 0), or PACK_MARK (0), a dictionary id (1 byte), and a zstd
 * frame of the wire bytes compressed with that dictionary (no dictionary id or checksum in the
 * frame: the row names the dictionary, and LMDB's pages are not where corruption is caught).
 * Decompressed, a row gives back the wire bytes bit-exact: they are relayed and hashed.
 *
 * Entries are ~1 KB of which the payload, JSON with the same field names in every record, is
 * most: alone, zstd finds little to share in 1 KB; with a dictionary trained on the hub's own
 * first entries, a record shrinks to about a third. The dictionary is trained once, when the
 * store (with the batch being written) first holds PACK_TRAIN_MIN entries, from up to
 * PACK_TRAIN_SAMPLES of them, and stored in meta under "zdict" + its id, in a transaction of its
 * own before the batch's (so no row ever names a dictionary that was not committed). Rows
 * written before it stay as they are: a schema-5 store is read as it is, nothing rewritten. */
#include "store_priv.h"

#include <zdict.h>
#include <zstd.h>

#define PACK_MARK 0x00
#define PACK_HDR 2                 /* PACK_MARK, dictionary id */
#define PACK_DICT_ID 1             /* the one dictionary this version trains */
#define PACK_DICTS 256             /* ids a row can name (1 byte); 0 is never used */
#define PACK_TRAIN_MIN 1024        /* entries before a dictionary is trained */
#define PACK_TRAIN_SAMPLES 4096    /* entries it is trained from (~4 MB) */
#define PACK_DICT_MAX (110 * 1024) /* zstd's default size: 5% smaller rows than 32 KiB */
#define PACK_LEVEL 3 /* zstd's default: the writer thread is the import's bottleneck */

struct pack {
    ZSTD_CCtx *cctx; /* the writer's (write_mu) */
    ZSTD_CDict *cdict;
    uint8_t cur;   /* id of cdict; 0: rows are written uncompressed */
    uint8_t *cbuf; /* the writer's output buffer */
    size_t ccap;
    int trained;         /* a training was tried by this process (it is not retried) */
    size_t train_min;    /* PACK_TRAIN_MIN, or fewer for a test */
    pthread_mutex_t dmu; /* dctx: reads come from the event loop, the writer, verify */
    pthread_mutex_t amu; /* cur and cdict as store_pack_ahead reads them from other threads */
    ZSTD_DCtx *dctx;
    ZSTD_DDict *ddict[PACK_DICTS];
};

/* The decompressed wire bytes a get returns: one entry per thread, valid until that thread's
 * next get (no caller holds two decoded entries at a time). Static, so no thread leaves it
 * behind when it ends. */
static _Thread_local uint8_t pack_out[HUB_MAX_ENTRY];

static int dict_key(uint8_t kb[6], uint8_t id) {
    memcpy(kb, "zdict", 5);
    kb[5] = id;
    return 6;
}

static int pack_install(struct pack *p, uint8_t id, const void *dict, size_t len, int writer) {
    ZSTD_DDict *dd = ZSTD_createDDict(dict, len);
    if (!dd)
        return ENOMEM;
    ZSTD_freeDDict(p->ddict[id]);
    p->ddict[id] = dd;
    if (writer) {
        ZSTD_CDict *cd = ZSTD_createCDict(dict, len, PACK_LEVEL);
        if (!cd)
            return ENOMEM;
        /* referenced by the context, so that ZSTD_compress2 applies its frame parameters (no
         * dictionary id: ZSTD_compress_usingCDict would write it, 4 bytes a row) */
        if (ZSTD_isError(ZSTD_CCtx_refCDict(p->cctx, cd))) {
            ZSTD_freeCDict(cd);
            return EINVAL;
        }
        /* The old CDict is freed while pipeline workers may be packing with it only if a
         * dictionary replaced another while the hub runs: one is trained per process, and
         * pack_open installs before any worker starts. */
        pthread_mutex_lock(&p->amu);
        ZSTD_freeCDict(p->cdict);
        p->cdict = cd;
        p->cur = id;
        pthread_mutex_unlock(&p->amu);
    }
    return 0;
}

int pack_open(struct store *s, MDB_txn *txn) {
    struct pack *p = calloc(1, sizeof *p);
    if (!p)
        return ENOMEM;
    pthread_mutex_init(&p->dmu, NULL);
    pthread_mutex_init(&p->amu, NULL);
    p->train_min = PACK_TRAIN_MIN;
    s->pack = p;
    p->cctx = ZSTD_createCCtx();
    p->dctx = ZSTD_createDCtx();
    p->ccap = ZSTD_compressBound(HUB_MAX_ENTRY) + PACK_HDR;
    p->cbuf = malloc(p->ccap);
    if (!p->cctx || !p->dctx || !p->cbuf)
        return ENOMEM;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(p->cctx, ZSTD_c_dictIDFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(p->cctx, ZSTD_c_checksumFlag, 0)))
        return EINVAL;
    /* every dictionary the store holds, for its rows; the newest one for new rows */
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[DB_META], &c);
    if (rc != 0)
        return rc;
    uint8_t kb[6];
    MDB_val k = {(size_t)dict_key(kb, 0), kb}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size == 6 && memcmp(k.mv_data, "zdict", 5) == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint8_t id = ((const uint8_t *)k.mv_data)[5];
        if (id == 0 || (rc = pack_install(p, id, v.mv_data, v.mv_size, 1)) != 0) {
            rc = rc ? rc : MDB_CORRUPTED;
            break;
        }
        p->trained = 1;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void pack_close(struct store *s) {
    struct pack *p = s->pack;
    if (!p)
        return;
    ZSTD_freeCCtx(p->cctx);
    ZSTD_freeCDict(p->cdict);
    ZSTD_freeDCtx(p->dctx);
    for (size_t i = 0; i < PACK_DICTS; i++)
        ZSTD_freeDDict(p->ddict[i]);
    free(p->cbuf);
    pthread_mutex_destroy(&p->dmu);
    pthread_mutex_destroy(&p->amu);
    free(p);
    s->pack = NULL;
}

int entry_row_decode(struct store *s, const MDB_val *row, MDB_val *wire) {
    const uint8_t *b = row->mv_data;
    if (row->mv_size == 0 || b[0] != PACK_MARK) {
        *wire = *row; /* stored as received */
        return 0;
    }
    struct pack *p = s->pack;
    if (row->mv_size < PACK_HDR || !p->ddict[b[1]])
        return MDB_CORRUPTED; /* names a dictionary the store does not hold */
    pthread_mutex_lock(&p->dmu);
    size_t n = ZSTD_decompress_usingDDict(p->dctx, pack_out, sizeof pack_out, b + PACK_HDR,
                                          row->mv_size - PACK_HDR, p->ddict[b[1]]);
    pthread_mutex_unlock(&p->dmu);
    if (ZSTD_isError(n))
        return MDB_CORRUPTED;
    wire->mv_data = pack_out;
    wire->mv_size = n;
    return 0;
}

/* store_row_unpack's decompression contexts: one per thread, freed when the thread ends (the
 * event loop's helper thread and the event loop itself decompress a query page together). */
static pthread_key_t unpack_key;
static pthread_once_t unpack_once = PTHREAD_ONCE_INIT;

static void unpack_free(void *dctx) {
    ZSTD_freeDCtx(dctx);
}

static void unpack_init(void) {
    (void)pthread_key_create(&unpack_key, unpack_free);
}

int store_row_unpack(struct store *s, const uint8_t *row, size_t len, uint8_t **buf,
                     const uint8_t **wire, size_t *wire_len) {
    *buf = NULL;
    if (len == 0 || row[0] != PACK_MARK) {
        *wire = row; /* stored as received */
        *wire_len = len;
        return HUB_OK;
    }
    struct pack *p = s->pack;
    if (len < PACK_HDR || !p->ddict[row[1]])
        return HUB_E_DECODE;
    unsigned long long n = ZSTD_getFrameContentSize(row + PACK_HDR, len - PACK_HDR);
    if (n == ZSTD_CONTENTSIZE_ERROR || (n > HUB_MAX_ENTRY && n != ZSTD_CONTENTSIZE_UNKNOWN))
        return HUB_E_DECODE;
    /* ZSTD_compress2 writes the size in the frame; a frame without it gets the largest entry */
    size_t cap = n == ZSTD_CONTENTSIZE_UNKNOWN ? HUB_MAX_ENTRY : (size_t)n;
    (void)pthread_once(&unpack_once, unpack_init);
    ZSTD_DCtx *dc = pthread_getspecific(unpack_key);
    if (dc == NULL) {
        if (!(dc = ZSTD_createDCtx()) || pthread_setspecific(unpack_key, dc) != 0) {
            ZSTD_freeDCtx(dc);
            return HUB_E_NOMEM;
        }
    }
    uint8_t *out = malloc(cap ? cap : 1);
    if (out == NULL)
        return HUB_E_NOMEM;
    size_t got = ZSTD_decompress_usingDDict(dc, out, cap, row + PACK_HDR, len - PACK_HDR,
                                            p->ddict[row[1]]);
    if (ZSTD_isError(got) || got == 0 || (n != ZSTD_CONTENTSIZE_UNKNOWN && got != n)) {
        free(out);
        return HUB_E_DECODE;
    }
    *buf = out;
    *wire = out;
    *wire_len = got;
    return HUB_OK;
}

int entry_row_get(struct store *s, MDB_txn *txn, const MDB_val *local, MDB_val *wire) {
    MDB_val k = *local, row;
    int rc = mdb_get(txn, s->dbi[DB_ENTRIES], &k, &row);
    return rc != 0 ? rc : entry_row_decode(s, &row, wire);
}

int entry_row_put(struct store *s, MDB_txn *txn, const MDB_val *local, const uint8_t *wire,
                  size_t len, unsigned flags) {
    struct pack *p = s->pack;
    MDB_val k = *local, v = {len, (void *)wire};
    if (p->cur && len > PACK_HDR) {
        size_t n = ZSTD_compress2(p->cctx, p->cbuf + PACK_HDR, p->ccap - PACK_HDR, wire, len);
        /* kept only when smaller: an incompressible entry is stored as received */
        if (!ZSTD_isError(n) && n + PACK_HDR < len) {
            p->cbuf[0] = PACK_MARK;
            p->cbuf[1] = p->cur;
            v.mv_data = p->cbuf;
            v.mv_size = n + PACK_HDR;
        }
    }
    return mdb_put(txn, s->dbi[DB_ENTRIES], &k, &v, flags);
}

/* store_pack_ahead's compression contexts: one per thread (pipeline workers are started per
 * batch), freed when the thread ends. */
static pthread_key_t ahead_key;
static pthread_once_t ahead_once = PTHREAD_ONCE_INIT;

static void ahead_free(void *cctx) {
    ZSTD_freeCCtx(cctx);
}

static void ahead_init(void) {
    (void)pthread_key_create(&ahead_key, ahead_free);
}

size_t store_pack_bound(size_t len) {
    return ZSTD_compressBound(len) + PACK_HDR;
}

size_t store_pack_ahead(struct store *s, const uint8_t *wire, size_t len, uint8_t *out) {
    struct pack *p = s->pack;
    if (!p || len <= PACK_HDR)
        return 0;
    pthread_once(&ahead_once, ahead_init);
    ZSTD_CCtx *cc = pthread_getspecific(ahead_key);
    if (!cc) {
        if (!(cc = ZSTD_createCCtx()) || pthread_setspecific(ahead_key, cc) != 0) {
            ZSTD_freeCCtx(cc);
            return 0; /* the writer packs it */
        }
        if (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, 0)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0)))
            return 0;
    }
    pthread_mutex_lock(&p->amu);
    uint8_t id = p->cur;
    const ZSTD_CDict *cd = p->cdict;
    pthread_mutex_unlock(&p->amu);
    if (!id || !cd)
        return 0;
    /* the same frame parameters as the writer's context (entry_row_put): same rows */
    if (ZSTD_isError(ZSTD_CCtx_refCDict(cc, cd)))
        return 0;
    size_t n = ZSTD_compress2(cc, out + PACK_HDR, ZSTD_compressBound(len), wire, len);
    if (ZSTD_isError(n) || n + PACK_HDR >= len)
        return 0;
    out[0] = PACK_MARK;
    out[1] = id;
    return n + PACK_HDR;
}

/* Samples for the training: the store's first rows (uncompressed, as no dictionary exists),
 * then the batch's entries. */
struct samples {
    uint8_t *buf;
    size_t len, cap, n;
    size_t sizes[PACK_TRAIN_SAMPLES];
};

static int sample_add(struct samples *sm, const void *b, size_t len) {
    if (sm->n == PACK_TRAIN_SAMPLES || len == 0)
        return 0;
    uint8_t *nb = hub_reserve(sm->buf, &sm->cap, sm->len + len, 1, 1 << 20);
    if (!nb)
        return ENOMEM;
    sm->buf = nb;
    memcpy(sm->buf + sm->len, b, len);
    sm->len += len;
    sm->sizes[sm->n++] = len;
    return 0;
}

int pack_train(struct store *s, const struct store_item *items, size_t n) {
    struct pack *p = s->pack;
    /* locals are never reused: next_local - 1 entries at most were stored */
    if (p->trained || s->next_local - 1 + n < p->train_min)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    p->trained = 1; /* once: a failure below is logged, and rows stay uncompressed */
    struct samples *sm = calloc(1, sizeof *sm);
    uint8_t *dict = malloc(PACK_DICT_MAX);
    if (!sm || !dict) {
        rc = ENOMEM;
        goto done;
    }
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENTRIES], &c)) != 0)
        goto done;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && sm->n < PACK_TRAIN_SAMPLES;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if ((rc = sample_add(sm, v.mv_data, v.mv_size)) != 0)
            break;
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto done;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (items[i].e && items[i].e->wire)
            rc = sample_add(sm, items[i].e->wire, items[i].e->wire_len);
    if (rc != 0)
        goto done;
    uint64_t t0 = hub_mono_us();
    size_t dl = ZDICT_trainFromBuffer(dict, PACK_DICT_MAX, sm->buf, sm->sizes, (unsigned)sm->n);
    if (ZDICT_isError(dl)) {
        log_warn("store", "entries stay uncompressed: no dictionary from %zu entries (%s)", sm->n,
                 ZDICT_getErrorName(dl));
        goto done;
    }
    uint8_t kb[6];
    MDB_val dk = {(size_t)dict_key(kb, PACK_DICT_ID), kb}, dv = {dl, dict};
    if ((rc = mdb_put(txn, s->dbi[DB_META], &dk, &dv, 0)) != 0)
        goto done;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc == 0)
        rc = pack_install(p, PACK_DICT_ID, dict, dl, 1);
    if (rc == 0)
        log_info("store",
                 "entries compressed from now on: a dictionary of %zu bytes from %zu "
                 "entries (%llu ms)",
                 dl, sm->n, (unsigned long long)((hub_mono_us() - t0) / 1000));
done:
    if (txn)
        mdb_txn_abort(txn);
    if (sm)
        free(sm->buf);
    free(sm);
    free(dict);
    if (rc == MDB_MAP_FULL && store_grow(s) == 0) {
        /* the caller holds write_mu and no transaction is open: trained again at the next
         * batch, in the grown map (kept "trained", every later row stayed uncompressed) */
        p->trained = 0;
        return 0;
    }
    if (rc != 0)
        log_warn("store", "entries stay uncompressed: training a dictionary failed: %s",
                 mdb_strerror(rc));
    return 0; /* the batch is stored either way */
}

void store_set_pack_train(struct store *s, size_t min) {
    s->pack->train_min = min;
}
