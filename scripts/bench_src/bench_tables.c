/* bench_tables DATA_DIR [RECORDS]: where a store's bytes go, table by table (issue 14: a
 * smaller store). Opens the LMDB environment read-only, beside a running hubd (LMDB allows
 * readers in other processes), and prints one line: each table's pages x page size per record,
 * the index's posting sub-trees (the pages no table's mdb_stat counts), the free pages, and the
 * mean entry row, compressed or not (store_pack.c). Reads only; for scripts/bench. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLES_MAX 64 /* named databases a store may hold (DB_COUNT is 18) */

static int fail(const char *what, int rc) {
    fprintf(stderr, "bench_tables: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tables DATA_DIR [RECORDS]\n");
        return 2;
    }
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_dbi;
    MDB_cursor *c;
    MDB_val k, v;
    MDB_stat st;
    MDB_envinfo info;
    int rc;
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, TABLES_MAX)) != 0)
        return fail("environment", rc);
    if ((rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0600)) != 0)
        return fail(argv[1], rc);
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
        (rc = mdb_cursor_open(txn, main_dbi, &c)) != 0)
        return fail("main table", rc);
    mdb_env_info(env, &info);
    mdb_env_stat(env, &st);
    double psize = st.ms_psize;
    MDB_dbi entries = 0;
    int have_entries = 0;
    if (mdb_dbi_open(txn, "entries", 0, &entries) == 0 && mdb_stat(txn, entries, &st) == 0)
        have_entries = 1;
    double n = argc > 2 ? atof(argv[2]) : (have_entries ? (double)st.ms_entries : 1);
    if (n < 1)
        n = 1;
    unsigned long long counted = 0;
    printf("bytes per record:");
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
        MDB_dbi d;
        if (mdb_dbi_open(txn, name, 0, &d) != 0 || mdb_stat(txn, d, &st) != 0)
            continue;
        unsigned long long pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        counted += pages;
        if (pages * psize / n >= 0.05)
            printf(" %s %.1f", name, pages * psize / n);
    }
    mdb_cursor_close(c);
    /* the free list: each row a list of page numbers, its count first */
    unsigned long long free_pages = 0;
    if (mdb_cursor_open(txn, 0, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
            if (v.mv_size >= sizeof(size_t)) {
                size_t m;
                memcpy(&m, v.mv_data, sizeof m);
                free_pages += m;
            }
        mdb_cursor_close(c);
    }
    unsigned long long all = (unsigned long long)info.me_last_pgno + 1;
    unsigned long long used = all > free_pages ? all - free_pages : 0;
    printf("; index postings (sub-trees) %.1f; used %.1f; free %.1f\n",
           used > counted ? (used - counted) * psize / n : 0.0, used * psize / n,
           free_pages * psize / n);
    if (have_entries && mdb_cursor_open(txn, entries, &c) == 0) {
        unsigned long long rows = 0, bytes = 0, packed = 0, pbytes = 0;
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            rows++;
            bytes += v.mv_size;
            if (v.mv_size > 0 && ((const unsigned char *)v.mv_data)[0] == 0) {
                packed++;
                pbytes += v.mv_size;
            }
        }
        mdb_cursor_close(c);
        printf("entry rows: %llu, mean %.0f B; compressed %llu (mean %.0f B), as received %llu "
               "(mean %.0f B)\n",
               rows, rows ? (double)bytes / rows : 0, packed, packed ? (double)pbytes / packed : 0,
               rows - packed, rows > packed ? (double)(bytes - pbytes) / (rows - packed) : 0);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}
