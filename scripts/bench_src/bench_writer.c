/* bench_writer.c: the store writer's work in a catch-up, without a network, for instruction
 * counts (valgrind --tool=callgrind, perf stat): the entries of FILE (base64 lines, as written
 * by `hubctl export --entries`) ingested into a fresh hub in DIR in batches of BATCH entries,
 * through node_ingest_begin/end with NODE_INGEST_BULK | NODE_INGEST_CHAIN (the path a catch-up
 * batch takes, on this thread instead of the node's writer thread). The store's share is
 * store_append_ready's inclusive cost less ingest_ready's (where the writer waits for, or does,
 * the pipeline workers' checks) and pack_train's (once per store).
 *
 * usage: bench_writer DIR FILE [BATCH]   (BATCH: default 4096)
 * Prints key=value lines: entries, accepted, batches, seconds. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "hub.h"
#include "log.h"
#include "node.h"

#define BW_LINE_MAX (4u << 20) /* a base64 line: an entry is at most HUB_MAX_ENTRY bytes */
#define BW_BATCH_MAX 65536

static double bw_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_writer DIR FILE [BATCH]\n");
        return 2;
    }
    size_t batch = 4096;
    if (argc > 3) {
        char *end = NULL;
        unsigned long v = strtoul(argv[3], &end, 10);
        if (!end || *end || v == 0 || v > BW_BATCH_MAX) {
            fprintf(stderr, "bench_writer: BATCH must be 1..%u\n", BW_BATCH_MAX);
            return 2;
        }
        batch = v;
    }
    if (sodium_init() < 0)
        return 1;
    log_init(LOG_WARN, LOG_TEXT);
    (void)hub_malloc_setup(); /* hubd's malloc: its big batch buffers are mappings of their own */
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char *line = malloc(BW_LINE_MAX);
    uint8_t **wires = NULL;
    size_t *lens = NULL, n = 0, cap = 0;
    while (line && fgets(line, BW_LINE_MAX, f)) {
        size_t ll = strcspn(line, "\r\n");
        if (ll == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            uint8_t **w2 = realloc(wires, cap * sizeof *w2);
            size_t *l2 = realloc(lens, cap * sizeof *l2);
            if (!w2 || !l2) {
                fprintf(stderr, "bench_writer: out of memory\n");
                return 1;
            }
            wires = w2;
            lens = l2;
        }
        size_t max = ll, bl = 0;
        wires[n] = malloc(max ? max : 1);
        if (!wires[n] || sodium_base642bin(wires[n], max, line, ll, NULL, &bl, NULL,
                                           sodium_base64_VARIANT_ORIGINAL) != 0) {
            fprintf(stderr, "bench_writer: line %zu is not base64\n", n + 1);
            return 1;
        }
        lens[n++] = bl;
    }
    fclose(f);
    free(line);

    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    if (strlen(argv[1]) >= sizeof cfg.data_dir) {
        fprintf(stderr, "bench_writer: DIR too long\n");
        return 2;
    }
    memcpy(cfg.data_dir, argv[1], strlen(argv[1]) + 1);
    if (config_finish(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_writer: %s\n", err);
        return 1;
    }
    struct node *node = NULL;
    int rc = node_open(&cfg, &node);
    if (rc != 0) {
        fprintf(stderr, "bench_writer: node_open: %s\n", hub_strerror(rc));
        return 1;
    }
    int *results = malloc((batch ? batch : 1) * sizeof *results);
    size_t accepted_all = 0, batches = 0;
    double t0 = bw_now();
    for (size_t off = 0; results && off < n; off += batch) {
        size_t cnt = n - off < batch ? n - off : batch;
        struct node_ingest_job *job;
        rc = node_ingest_begin(node, (const uint8_t *const *)wires + off, lens + off, cnt, results,
                               0, NODE_INGEST_BULK | NODE_INGEST_CHAIN, &job);
        size_t accepted = 0;
        if (rc == 0)
            rc = node_ingest_end(node, job, &accepted);
        if (rc != 0) {
            fprintf(stderr, "bench_writer: batch at %zu: %s\n", off, hub_strerror(rc));
            return 1;
        }
        accepted_all += accepted;
        batches++;
    }
    double t1 = bw_now();
    node_destroy(&node);
    printf("entries=%zu\naccepted=%zu\nbatches=%zu\nseconds=%.3f\n", n, accepted_all, batches,
           t1 - t0);
    for (size_t i = 0; i < n; i++)
        free(wires[i]);
    free(wires);
    free(lens);
    free(results);
    return accepted_all == n ? 0 : 1;
}
