/* bench_query.c: query latency over ONE persistent control-socket connection.
 *
 * usage: bench_query SOCKET COUNT LIMIT TOPICS COUNTRIES [WARMUP]
 *   TOPICS, COUNTRIES: comma-separated lists; each request asks for one (topic, country) pair,
 *   the pairs varying from request to request (a fixed pseudo-random walk over all of them).
 *   WARMUP (default 200): requests sent first and not counted.
 *   TOPICS "@FILE" (COUNTRIES then ignored, LIMIT too): FILE holds the request lines, one JSON
 *   query a line (scripts/bench's text queries); the walk goes over them instead.
 *
 * Each request is one fixed line {"op":"query","topic":T,"country":C,"limit":L}; the round trip
 * (write until the line is sent, read until '\n') is timed with CLOCK_MONOTONIC. Prints a human
 * summary, then key=value lines: query_n, query_p50_ms, query_p90_ms, query_p99_ms,
 * query_max_ms, query_mean_ms, query_mean_records, query_min_records, query_empty, query_errors,
 * query_mean_bytes. Exits 1 if any answer is not ok or if no query returned a record. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BQ_MAX_LIST 256
#define BQ_MAX_COUNT 10000000UL

struct bq_buf {
    char *data;
    size_t len, cap;
};

static uint64_t bq_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int bq_parse_ul(const char *s, unsigned long max, unsigned long *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !end || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Split a comma list in place; returns the count. */
static size_t bq_split(char *s, char **out, size_t max) {
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

static int bq_send_all(int fd, const char *p, size_t len) {
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read one line (without '\n') into b; returns its length or -1. */
static long bq_read_line(int fd, struct bq_buf *b) {
    b->len = 0;
    for (;;) {
        if (b->cap - b->len < 65536) {
            size_t cap = b->cap ? b->cap * 2 : 1 << 20;
            char *n = realloc(b->data, cap);
            if (!n)
                return -1;
            b->data = n;
            b->cap = cap;
        }
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        char *nl = memchr(b->data + b->len, '\n', (size_t)r);
        b->len += (size_t)r;
        if (nl) {
            *nl = 0;
            return nl - b->data;
        }
    }
}

/* From the answer line: ok and the record count (-1 if absent). */
static long bq_count(const char *line) {
    if (!strstr(line, "\"ok\":true") && !strstr(line, "\"ok\": true"))
        return -1;
    const char *c = strstr(line, "\"count\":");
    if (!c)
        return -1;
    c += 8;
    while (*c == ' ')
        c++;
    return strtol(c, NULL, 10);
}

static int bq_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double bq_pct(const uint64_t *sorted, size_t n, double p) {
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1e6;
}

int main(int argc, char **argv) {
    unsigned long count, limit, warmup = 200;
    if (argc < 6 || argc > 7 || bq_parse_ul(argv[2], BQ_MAX_COUNT, &count) != 0 || count == 0 ||
        bq_parse_ul(argv[3], 1000, &limit) != 0 || limit == 0 ||
        (argc == 7 && bq_parse_ul(argv[6], BQ_MAX_COUNT, &warmup) != 0)) {
        fprintf(stderr, "usage: bench_query SOCKET COUNT LIMIT TOPICS COUNTRIES [WARMUP]\n");
        return 2;
    }
    char *topics[BQ_MAX_LIST], *countries[BQ_MAX_LIST];
    size_t nt = 0, nc = 0, npairs = 0;
    char **lines = NULL;
    size_t *lens = NULL;
    if (argv[4][0] == '@') { /* prebuilt request lines */
        FILE *f = fopen(argv[4] + 1, "r");
        if (!f) {
            fprintf(stderr, "bench_query: %s: %s\n", argv[4] + 1, strerror(errno));
            return 2;
        }
        char *l = NULL;
        size_t cap = 0, lcap = 0;
        ssize_t n;
        while ((n = getline(&l, &cap, f)) > 1) {
            if (npairs == lcap) {
                lcap = lcap ? lcap * 2 : 256;
                lines = realloc(lines, lcap * sizeof *lines);
                lens = realloc(lens, lcap * sizeof *lens);
                if (!lines || !lens)
                    return 1;
            }
            if (l[n - 1] != '\n')
                return 2;
            if (!(lines[npairs] = strdup(l)))
                return 1;
            lens[npairs++] = (size_t)n;
        }
        free(l);
        fclose(f);
        if (!npairs) {
            fprintf(stderr, "bench_query: no request lines in %s\n", argv[4] + 1);
            return 2;
        }
    } else {
        nt = bq_split(argv[4], topics, BQ_MAX_LIST);
        nc = bq_split(argv[5], countries, BQ_MAX_LIST);
        if (!nt || !nc) {
            fprintf(stderr, "bench_query: empty topic or country list\n");
            return 2;
        }
        npairs = nt * nc;
        lines = calloc(npairs, sizeof *lines);
        lens = calloc(npairs, sizeof *lens);
        if (!lines || !lens)
            return 1;
    }

    /* Prebuild every request line: the timed loop only writes and reads. */
    for (size_t i = 0; i < npairs && nt; i++) {
        char tmp[512];
        int w = snprintf(tmp, sizeof tmp,
                         "{\"op\":\"query\",\"topic\":\"%s\",\"country\":\"%s\",\"limit\":%lu}\n",
                         topics[i % nt], countries[i / nt], limit);
        if (w < 0 || (size_t)w >= sizeof tmp || !(lines[i] = strdup(tmp)))
            return 1;
        lens[i] = (size_t)w;
    }

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof sa.sun_path) {
        fprintf(stderr, "bench_query: socket path too long\n");
        return 2;
    }
    memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "bench_query: connect %s: %s\n", argv[1], strerror(errno));
        return 1;
    }

    uint64_t *lat = malloc(count * sizeof *lat);
    if (!lat)
        return 1;
    struct bq_buf b = {0};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    unsigned long errors = 0, empty = 0;
    long min_records = -1;
    double sum_records = 0, sum_bytes = 0;
    for (unsigned long i = 0; i < warmup + count; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t k = (size_t)((rng >> 33) % npairs);
        uint64_t t0 = bq_now_ns();
        if (bq_send_all(fd, lines[k], lens[k]) != 0) {
            fprintf(stderr, "bench_query: write: %s\n", strerror(errno));
            return 1;
        }
        long len = bq_read_line(fd, &b);
        uint64_t t1 = bq_now_ns();
        if (len < 0) {
            fprintf(stderr, "bench_query: hubd closed the connection\n");
            return 1;
        }
        if (i < warmup)
            continue;
        lat[i - warmup] = t1 - t0;
        long n = bq_count(b.data);
        if (n < 0) {
            if (errors++ == 0)
                fprintf(stderr, "bench_query: error answer: %.300s\n", b.data);
            continue;
        }
        if (n == 0)
            empty++;
        if (min_records < 0 || n < min_records)
            min_records = n;
        sum_records += (double)n;
        sum_bytes += (double)len + 1;
    }
    close(fd);

    double sum = 0;
    for (unsigned long i = 0; i < count; i++)
        sum += (double)lat[i];
    qsort(lat, count, sizeof *lat, bq_cmp);
    unsigned long ok = count - errors;
    double mean_records = ok ? sum_records / (double)ok : 0;
    double p50 = bq_pct(lat, count, 0.50), p90 = bq_pct(lat, count, 0.90);
    double p99 = bq_pct(lat, count, 0.99), max = (double)lat[count - 1] / 1e6;
    double mean = sum / (double)count / 1e6;

    if (nt)
        printf("%lu queries (topic+country, limit %lu, %zu pairs) on one connection, after %lu "
               "warm-up:\n",
               count, limit, npairs, warmup);
    else
        printf("%lu queries (%zu request lines of %s) on one connection, after %lu warm-up:\n",
               count, npairs, argv[4] + 1, warmup);
    printf("  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n", p50, p90, p99,
           max, mean);
    printf("  records per answer: mean %.1f, min %ld; %lu empty, %lu errors; mean answer %.0f "
           "bytes\n",
           mean_records, min_records, empty, errors, ok ? sum_bytes / (double)ok : 0);
    printf("query_n=%lu\nquery_p50_ms=%.4f\nquery_p90_ms=%.4f\nquery_p99_ms=%.4f\n"
           "query_max_ms=%.4f\nquery_mean_ms=%.4f\nquery_mean_records=%.2f\n"
           "query_min_records=%ld\nquery_empty=%lu\nquery_errors=%lu\nquery_mean_bytes=%.0f\n",
           count, p50, p90, p99, max, mean, mean_records, min_records, empty, errors,
           ok ? sum_bytes / (double)ok : 0);
    free(lat);
    free(b.data);
    for (size_t i = 0; i < npairs; i++)
        free(lines[i]);
    free(lines);
    free(lens);
    if (errors || mean_records <= 0) {
        fprintf(stderr, "bench_query: %s\n",
                errors ? "some queries failed" : "no query returned any record");
        return 1;
    }
    return 0;
}
