/* store_env.c: the LMDB environment: opening it (tables, schema check), read transactions,
 * growing the map, write errors, statistics and backup. Tables and key layouts: store_keys.c. */
#include "store_priv.h"

static const char *const db_names[DB_COUNT] = {
    "meta",     "entries", "ids",     "feeds",       "chain",   "records", "versions",
    "index",    "recent",  "live",    "expiry",      "forks",   "words",   "reply_seen",
    "areplies", "blocked", "ids_new", "records_new", "sigpend", "ids_mid", "records_mid"};

/* Bounds of the store's histograms: commits from 1 ms (a small live-push batch on an SSD) to
 * 10 s (a map resize or a slow disk); batches from one entry to the largest catch-up
 * transaction (16,384). */
static const double store_commit_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,   0.25,   0.5,   1,    2.5,   10};
static const double store_batch_le[] = {1, 2, 4, 16, 64, 256, 1024, 2048, 4096, 8192, 16384};

/* The one place MDB_* codes become hubnet codes. */
int store_err(int rc) {
    switch (rc) {
    case MDB_SUCCESS:
        return HUB_OK;
    case MDB_NOTFOUND:
        return HUB_E_NOT_FOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
        return HUB_E_DISK_FULL;
    case ENOMEM:
        return HUB_E_NOMEM;
    case EIO:
        return HUB_E_IO;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return HUB_E_VERSION;
    default:
        return HUB_E_INTERNAL;
    }
}

int rtxn_begin(struct store *s, MDB_txn **txn) {
    pthread_rwlock_rdlock(&s->env_lock);
    int rc = mdb_txn_renew(s->rtxn);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->env_lock);
        return store_err(rc);
    }
    *txn = s->rtxn;
    return HUB_OK;
}

void rtxn_end(struct store *s) {
    mdb_txn_reset(s->rtxn);
    pthread_rwlock_unlock(&s->env_lock);
}

int otxn_begin(struct store *s, MDB_txn **txn) {
    pthread_rwlock_rdlock(&s->env_lock);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->env_lock);
        return store_err(rc);
    }
    return HUB_OK;
}

void otxn_end(struct store *s, MDB_txn *txn) {
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->env_lock);
}

static int store_check_schema(struct store *s, MDB_txn *txn) {
    MDB_val k = {6, "schema"}, v;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t b[4];
        be32(b, STORE_SCHEMA_VERSION);
        MDB_val nv = {4, b};
        return store_err(mdb_put(txn, s->dbi[DB_META], &k, &nv, 0));
    }
    if (rc != 0)
        return store_err(rc);
    if (v.mv_size != 4)
        return HUB_E_VERSION;
    uint32_t ver = rd32(v.mv_data);
    if (ver > STORE_SCHEMA_VERSION) {
        log_error("store",
                  "data was written by a newer hubd (schema %u, this one knows %u); "
                  "refusing to touch it",
                  ver, STORE_SCHEMA_VERSION);
        return HUB_E_VERSION;
    }
    if (ver == 3) {
        /* Schema 3 indexed words by their ASCII lower case, without folding, stems or field
         * classes, and had no dictionary: its index cannot answer schema 4's text queries,
         * and rebuilding it means decoding every record again, which the hub does by syncing. */
        log_error("store",
                  "data was written with store schema 3 (its text index predates multilingual "
                  "search, schema 4): with the previous hubd, 'hubctl export --entries FILE'; "
                  "then move the data dir aside (keep identity.key), start this hubd and "
                  "'hubctl import --entries FILE' (README, \"Backup, restore, verify\"); or let "
                  "the hub sync again from its peers");
        return HUB_E_VERSION;
    }
    if (ver >= 4 && ver <= 6) {
        /* Schema 5 stages new entry ids and record rows in "ids_new" and "records_new"
         * (store_keys.c): a schema-4 store is one with those tables empty, which opening it
         * created. Schema 6 compresses entry rows (store_pack.c): a schema-5 store is one
         * whose rows are all uncompressed, which schema 6 reads as they are. Schema 7 adds
         * "ids_mid" and "records_mid" and folds a record's current version into its row: a
         * schema-6 store is one with those tables empty and every version in a row of its
         * own, which schema 7 reads as they are. Marked 7 now, so that an older hubd, which
         * would not look in the new tables, or would take a compressed row for a broken entry,
         * refuses it. */
        uint8_t b[4];
        be32(b, STORE_SCHEMA_VERSION);
        MDB_val nv = {4, b};
        int rc2 = mdb_put(txn, s->dbi[DB_META], &k, &nv, 0);
        if (rc2 == 0)
            log_info("store",
                     "store schema %u migrated to %u (entry ids and records staged in three "
                     "parts, entries compressed from now on)",
                     ver, STORE_SCHEMA_VERSION);
        return store_err(rc2);
    }
    if (ver < STORE_SCHEMA_VERSION) {
        /* Schema 1 (index postings stored as ~local) only ever existed in development builds
         * before the first release: there is nothing to migrate, and guessing would corrupt. */
        log_error("store",
                  "data was written by a development build of hubd (schema %u, this one knows "
                  "%u); move the data dir aside and let the hub sync again",
                  ver, STORE_SCHEMA_VERSION);
        return HUB_E_VERSION;
    }
    return HUB_OK; /* older released schemas will be migrated here */
}

/* Rebuilds the memory tail from "recent" and reads meta "index_max". */
static int tail_load(struct store *s, MDB_txn *txn) {
    if (tail_new(&s->tail) != 0)
        return ENOMEM;
    MDB_val k = {9, "index_max"}, v;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        s->index_max = hub_rd64(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_RECENT], &c)) != 0)
        return rc;
    struct index_term terms[RECORD_MAX_TERMS];
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t n = v.mv_size / INDEX_TERM_LEN;
        if (k.mv_size != 8 || v.mv_size % INDEX_TERM_LEN != 0 || n > RECORD_MAX_TERMS) {
            rc = MDB_CORRUPTED;
            break;
        }
        for (size_t i = 0; i < n; i++)
            memcpy(terms[i].b, (const uint8_t *)v.mv_data + i * INDEX_TERM_LEN, INDEX_TERM_LEN);
        if (tail_add(s->tail, terms, n, hub_rd64(k.mv_data)) != 0) {
            rc = ENOMEM;
            break;
        }
        s->recent_rows++;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_open(const char *dir, uint64_t max_map_bytes, struct store **out) {
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    s->io_fd = -1;
    s->max_map = max_map_bytes ? max_map_bytes : (64ULL << 30);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->tail_mu, NULL);
    pthread_rwlock_init(&s->env_lock, NULL);
    pthread_mutex_init(&s->full_mu, NULL);
    hist_init(&s->commit_us, store_commit_le, HUB_ARRAY_LEN(store_commit_le), 1e-6);
    hist_init(&s->batch_entries, store_batch_le, HUB_ARRAY_LEN(store_batch_le), 1);
    s->direct_min = STORE_DIRECT_MIN;
    s->tail_max = STORE_TAIL_MAX;
    s->chunk = STORE_MERGE_CHUNK;
    s->idle_min = STORE_IDLE_MERGE_MIN;
    s->ix_compact = 1;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&s->env);
    if (rc != 0)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) != 0)
        goto fail;
    /* Start small, grow on MDB_MAP_FULL; an existing bigger environment keeps its size. */
    uint64_t initial = STORE_INITIAL_MAP < s->max_map ? STORE_INITIAL_MAP : s->max_map;
    if ((rc = mdb_env_set_mapsize(s->env, initial)) != 0)
        goto fail;
    if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0) {
        log_error("store", "cannot open LMDB environment in %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    store_io_open(s);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    for (int i = 0; i < DB_COUNT; i++) {
        if (i == DB_VERSIONS) {
            s->dbi[i] = s->dbi[DB_RECORDS];
            continue;
        }
        unsigned flags = MDB_CREATE | (i == DB_INDEX ? MDB_DUPSORT | MDB_DUPFIXED : 0);
        if ((rc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i])) != 0)
            goto fail;
    }
    int hrc = store_check_schema(s, txn);
    if (hrc == 0 && (rc = pack_open(s, txn)) != 0)
        hrc = store_err(rc);
    if (hrc != 0) {
        mdb_txn_abort(txn);
        pack_close(s);
        store_io_close(s);
        mdb_env_close(s->env);
        free(s);
        return hrc;
    }
    /* next local number: one past the last entry */
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENTRIES], &c)) != 0)
        goto fail;
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    s->next_local = (rc == 0 && k.mv_size == 8) ? hub_rd64(k.mv_data) + 1 : 1;
    mdb_cursor_close(c);
    if ((rc = tail_load(s, txn)) != 0 || (rc = tiers_load(s, txn)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    txn = NULL;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn)) != 0)
        goto fail;
    mdb_txn_reset(s->rtxn);
    *out = s;
    return HUB_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    pack_close(s);
    store_io_close(s);
    if (s->env)
        mdb_env_close(s->env);
    tail_destroy(&s->tail);
    free(s);
    return store_err(rc);
}

void store_destroy(struct store **sp) {
    if (!sp || !*sp)
        return;
    struct store *s = *sp;
    if (s->rtxn)
        mdb_txn_abort(s->rtxn);
    store_io_close(s);
    mdb_env_close(s->env);
    pack_close(s);
    tail_destroy(&s->tail);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->tail_mu);
    pthread_rwlock_destroy(&s->env_lock);
    pthread_mutex_destroy(&s->full_mu);
    free(s->dict_seen);
    postings_free(&s->ix_spare);
    rank_map_destroy(&s->rank);
    free(s);
    *sp = NULL;
}

/* A write failed with rc (an errno or MDB_* code). LMDB reports a short write, which is what a
 * full filesystem gives, as EIO: so on EIO or ENOSPC look at the free space of the data dir's
 * filesystem (fstatvfs, the bytes an unprivileged process may use) and report E_DISK_FULL, with
 * the numbers logged and kept for the client (store_full_detail), when less is free than the
 * write needed at least: need bytes of entries plus STORE_WRITE_SLACK. */
int store_write_err(struct store *s, int rc, uint64_t need, const char *what) {
    if (rc != EIO && rc != ENOSPC)
        return store_err(rc);
    mdb_filehandle_t fd;
    struct statvfs vfs;
    const char *dir = NULL;
    if (mdb_env_get_fd(s->env, &fd) != 0 || fstatvfs(fd, &vfs) != 0) {
        log_warn("store", "%s failed (%s), and the free space of the data dir is unknown", what,
                 mdb_strerror(rc));
        return store_err(rc);
    }
    if (mdb_env_get_path(s->env, &dir) != 0 || dir == NULL)
        dir = "the data dir";
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t want = need + STORE_WRITE_SLACK;
    if (avail >= want && rc == EIO) {
        log_error("store", "%s failed: %s (%llu bytes free on the filesystem of %s)", what,
                  mdb_strerror(rc), (unsigned long long)avail, dir);
        return HUB_E_IO;
    }
    char detail[sizeof s->full_detail];
    snprintf(detail, sizeof detail,
             "the filesystem of %s has %llu bytes free; this write needs at least %llu (%llu of "
             "entries + %llu for the store's pages)",
             dir, (unsigned long long)avail, (unsigned long long)want, (unsigned long long)need,
             (unsigned long long)STORE_WRITE_SLACK);
    log_error("store", "disk full: %s refused, nothing of it stored: %s", what, detail);
    pthread_mutex_lock(&s->full_mu);
    memcpy(s->full_detail, detail, sizeof detail);
    pthread_mutex_unlock(&s->full_mu);
    return HUB_E_DISK_FULL;
}

void store_full_detail(struct store *s, char *out, size_t len) {
    pthread_mutex_lock(&s->full_mu);
    snprintf(out, len, "%s", s->full_detail[0] ? s->full_detail : "storage full");
    pthread_mutex_unlock(&s->full_mu);
}

int wtxn_run(struct store *s, int (*fn)(struct store *s, MDB_txn *txn, void *arg), void *arg) {
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc == 0) {
            rc = fn(s, txn, arg);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
        /* A small write may be the one that finds the map full (the batches grow it, but one
         * of these can come first): without growing here it failed as "disk full", and the
         * checker's progress was lost and its signatures checked again. */
        if (rc != MDB_MAP_FULL || store_grow(s) != 0)
            return rc;
    }
}

void store_shrink_map(struct store *s) {
    pthread_mutex_lock(&s->write_mu);
    pthread_rwlock_wrlock(&s->env_lock);
    /* LMDB raises a size below the pages in use to exactly those */
    if (mdb_env_set_mapsize(s->env, 1) == 0) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize;
    }
    pthread_rwlock_unlock(&s->env_lock);
    pthread_mutex_unlock(&s->write_mu);
}

int store_grow(struct store *s) {
    uint64_t want = s->map_size * 2;
    if (want > s->max_map)
        want = s->max_map;
    if (want <= s->map_size)
        return HUB_E_DISK_FULL;
    /* no transaction may be open in the process: the caller holds write_mu, readers wait */
    uint64_t t0 = hub_mono_us();
    pthread_rwlock_wrlock(&s->env_lock);
    uint64_t t1 = hub_mono_us();
    int rc = mdb_env_set_mapsize(s->env, want);
    pthread_rwlock_unlock(&s->env_lock);
    uint64_t t2 = hub_mono_us();
    if (rc != 0)
        return store_err(rc);
    /* how long reads were held up (the remap of a big, resident map is not free), after how
     * long a wait for those in progress (glibc's rwlock lets new reads in meanwhile) */
    log_info("store", "map size grown from %llu to %llu MiB: reads held %.1f ms, after %.1f ms",
             (unsigned long long)(s->map_size >> 20), (unsigned long long)(want >> 20),
             (double)(t2 - t1) / 1000.0, (double)(t1 - t0) / 1000.0);
    s->map_size = want;
    return HUB_OK;
}

json_t *store_histograms(const struct store *s) {
    return json_pack("{s:o, s:o}", "commit_seconds", hist_json(&s->commit_us), "batch_entries",
                     hist_json(&s->batch_entries));
}

int store_stats(struct store *s, struct store_stats *out) {
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = rtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_stat st;
    uint64_t pages = 0;
    static const int which[] = {DB_ENTRIES, DB_LIVE, DB_FEEDS, DB_FORKS};
    uint64_t *dst[] = {&out->entries, &out->records, &out->feeds, &out->forks};
    for (size_t i = 0; i < HUB_ARRAY_LEN(which); i++)
        if (mdb_stat(txn, s->dbi[which[i]], &st) == 0)
            *dst[i] = st.ms_entries;
    /* In use: every page of the file but the free ones. (mdb_stat's page counts leave out the
     * sub-databases of the index's postings, half of the store.) The free list is a table of
     * its own (FREE_DBI, 0): each row a list of page numbers, its count first. */
    uint64_t free_pages = 0;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, 0, &c) == 0) {
        MDB_val k, v;
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
            if (v.mv_size >= sizeof(size_t)) {
                size_t n;
                memcpy(&n, v.mv_data, sizeof n);
                free_pages += n;
            }
        mdb_cursor_close(c);
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info); /* not while the map is resized */
    mdb_env_stat(s->env, &st);
    rtxn_end(s);
    out->map_size = info.me_mapsize;
    pages = (uint64_t)info.me_last_pgno + 1;
    out->used_bytes = (pages > free_pages ? pages - free_pages : 0) * st.ms_psize;
    pthread_mutex_lock(&s->tail_mu);
    out->index_tail = s->recent_rows;
    pthread_mutex_unlock(&s->tail_mu);
    return HUB_OK;
}

/* ---- backup, verify, entries by local number (cursors) ----
 *
 * The local number of an entry (its key in "entries") is the hub's cursor: it grows with each
 * accepted entry and is never reused, so "entries after cursor C" is a range of that table. */

int store_backup_fd(struct store *s, int fd) {
    /* env_lock for reading: a map resize waits for the copy (it may not run while a
     * transaction of this process is open), other reads and writes go on. The copy's read
     * transaction keeps the pages it reads; writes meanwhile take new ones. */
    pthread_rwlock_rdlock(&s->env_lock);
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->env_lock);
    if (rc != 0)
        log_error("store", "backup copy failed: %s", mdb_strerror(rc));
    return store_err(rc);
}
