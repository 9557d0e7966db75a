/* store_io.c: how LMDB's page writes reach the store file, one page per write.
 *
 * Why: LMDB (0.9, without MDB_WRITEMAP) writes the dirty pages of a commit with pwrite, and each
 * run of consecutive pages with one lseek + writev. Since Linux 6.x (ext4 and others) the page
 * cache backs a multi-page write with a large folio (up to 2 MiB), and a folio is dirtied and
 * written back whole: when a later commit rewrites one 4 KiB B-tree page that lives in such a
 * folio (a freed page reused, the leaf of a random-key tree), the kernel writes the whole folio.
 * Measured on this machine (BENCHMARKS.md, issue 14): importing 1,000,000 records, hubd passed
 * 7.3 GB to write calls and the disk got 34 GB (write_bytes), 37 KiB per record; a test program
 * that writes 20 MB of random 4 KiB pages into a file written earlier in 1 MiB writes causes
 * 1 GB of writes. Written one page per pwrite, the page cache holds the store in 4 KiB folios
 * and a rewritten page costs 4 KiB.
 *
 * How: this file defines writev(), which the dynamic linker gives liblmdb in place of libc's
 * (a symbol of the executable comes first). For a file descriptor registered by store_open (the
 * store's data file) it writes each page with its own pwrite at the offset LMDB seeked to, and
 * leaves the offset where writev would; every other descriptor goes to the writev system call
 * unchanged. Single pages already come as pwrite. Nothing else in hubd calls writev on a store
 * file. */
#include "store_priv.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Store files open at once: hubd has one, a test a few. */
#define STORE_IO_MAX_FDS 16
/* The unit in which store pages are written: LMDB's page size (store_open checks it). */
#define STORE_IO_PAGE 4096

static atomic_int store_io_fds[STORE_IO_MAX_FDS]; /* 0: free slot; else fd + 1 */

static void store_io_register(int fd);
static void store_io_unregister(int fd);

void store_io_open(struct store *s) {
    mdb_filehandle_t fd;
    MDB_stat st;
    if (mdb_env_get_fd(s->env, &fd) != 0 || mdb_env_stat(s->env, &st) != 0)
        return;
    if (st.ms_psize != STORE_IO_PAGE) {
        log_warnx("store", "LMDB page size %u, not %d: the store is written as LMDB writes it",
                  st.ms_psize, STORE_IO_PAGE);
        return;
    }
    /* Pages an earlier hubd left in the page cache may sit in large folios: dropped once (the
     * clean ones; they come back a page at a time as they are read). */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    s->io_fd = fd;
    store_io_register(fd);
}

void store_io_close(struct store *s) {
    if (s->io_fd >= 0)
        store_io_unregister(s->io_fd);
    s->io_fd = -1;
}

static void store_io_register(int fd) {
    for (size_t i = 0; i < STORE_IO_MAX_FDS; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&store_io_fds[i], &free_slot, fd + 1))
            return;
    }
    /* all slots taken: this store is written as LMDB writes it (correct, only costlier) */
    log_warnx("store", "more than %d stores open: the store file of fd %d is written in runs",
              STORE_IO_MAX_FDS, fd);
}

static void store_io_unregister(int fd) {
    for (size_t i = 0; i < STORE_IO_MAX_FDS; i++) {
        int mine = fd + 1;
        if (atomic_compare_exchange_strong(&store_io_fds[i], &mine, 0))
            return;
    }
}

static int store_io_registered(int fd) {
    for (size_t i = 0; i < STORE_IO_MAX_FDS; i++)
        if (atomic_load(&store_io_fds[i]) == fd + 1)
            return 1;
    return 0;
}

/* One buffer in page-sized pwrites from off; the bytes written, or -1 with errno (a short
 * write returns what was written, as writev would). */
static ssize_t store_io_pages(int fd, const uint8_t *p, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < STORE_IO_PAGE ? len - done : STORE_IO_PAGE;
        ssize_t w = pwrite(fd, p + done, n, off + (off_t)done);
        if (w < 0)
            return done ? (ssize_t)done : -1;
        done += (size_t)w;
        if ((size_t)w < n)
            break;
    }
    return (ssize_t)done;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    if (!store_io_registered(fd))
        return syscall(SYS_writev, fd, iov, iovcnt);
    off_t off = lseek(fd, 0, SEEK_CUR);
    if (off < 0)
        return syscall(SYS_writev, fd, iov, iovcnt);
    ssize_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        ssize_t w = store_io_pages(fd, iov[i].iov_base, iov[i].iov_len, off + total);
        if (w < 0) {
            if (total == 0)
                return -1;
            break;
        }
        total += w;
        if ((size_t)w < iov[i].iov_len)
            break;
    }
    if (lseek(fd, off + total, SEEK_SET) < 0 && total == 0)
        return -1;
    return total;
}
