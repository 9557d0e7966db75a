/* bench_feedgen.c: builds, offline, the data directory of a source hub for the catch-up
 * benchmarks: AUTHORS foreign feeds (keys from identity_from_seed) of PER_AUTHOR signed offer
 * entries each, stored through node_open + node_ingest (the path replication uses), in one
 * batch per feed. Payloads are real offer records: the JSON lines of RECORDS (as written for
 * the import benchmark, {"kind":"offer","record":{...}}) turned into payload bytes by
 * record_from_json, used round-robin.
 *
 * usage:
 *   bench_feedgen keygen DIR
 *       create (or load) the hub identity in DIR and print hub_key=HEX
 *   bench_feedgen gen --dir DIR --records FILE.jsonl [--authors 200] [--per-author 1000]
 *                     [--extra FILE] [--extra-authors 200] [--extra-per-author 5]
 *       fill DIR (which becomes the source hub's data dir; its own identity is created there)
 *       and, with --extra, write the next --extra-per-author entries of the first
 *       --extra-authors feeds (not stored) to FILE as base64 lines, ready for a control
 *       {"op":"import","entries":[...]} on the source hub: the incremental catch-up load.
 *
 * Prints key=value lines: hub_key, entries, authors, gen_seconds, extra_entries. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "log.h"
#include "node.h"
#include "par.h"
#include "record.h"

#define FG_MAX_AUTHORS 100000
#define FG_MAX_PER_AUTHOR 1000000
#define FG_TS_STEP_MS 10
#define FG_PAR_MIN 16

struct fg_payload {
    int kind;
    uint8_t *data;
    size_t len;
};

struct fg_sign_job {
    const struct identity *id;
    uint8_t (*headers)[HUB_MAX_HEADER];
    size_t *hlens;
    const struct fg_payload **pl;
    uint8_t **wires;
    size_t *wlens;
    int *rcs;
};

static double fg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fg_parse(const char *s, unsigned long max, unsigned long *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !end || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static void fg_sign_slice(void *arg, size_t begin, size_t end) {
    struct fg_sign_job *j = arg;
    for (size_t i = begin; i < end; i++)
        j->rcs[i] = entry_sign(j->id, j->headers[i], j->hlens[i], j->pl[i]->data, j->pl[i]->len,
                               &j->wires[i], &j->wlens[i]);
}

/* Records file -> payloads. *out malloc'd. */
static int fg_load_records(const char *path, struct fg_payload **out, size_t *count) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_feedgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 0;
    struct fg_payload *p = NULL;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)len, 0, &jerr);
        const char *kind = obj ? json_string_value(json_object_get(obj, "kind")) : NULL;
        json_t *rec = obj ? json_object_get(obj, "record") : NULL;
        int k = kind ? entry_kind_parse(kind) : HUB_E_KIND;
        if (!obj || k < 0 || !json_is_object(rec)) {
            fprintf(stderr, "bench_feedgen: %s:%lu: not a {\"kind\",\"record\"} line\n", path,
                    lineno);
            json_decref(obj);
            rc = -1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            struct fg_payload *np = realloc(p, cap * sizeof *np);
            if (!np) {
                json_decref(obj);
                rc = -1;
                break;
            }
            p = np;
        }
        struct record_error err = {{0}, {0}};
        int r = record_from_json(k, rec, &p[n].data, &p[n].len, &err);
        json_decref(obj);
        if (r != 0) {
            fprintf(stderr, "bench_feedgen: %s:%lu: %s: %s: %s\n", path, lineno, hub_strerror(r),
                    err.field, err.message);
            rc = -1;
            break;
        }
        p[n].kind = k;
        n++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && n == 0) {
        fprintf(stderr, "bench_feedgen: %s: no records\n", path);
        rc = -1;
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            free(p[i].data);
        free(p);
        return -1;
    }
    *out = p;
    *count = n;
    return 0;
}

static int fg_keygen(const char *dir) {
    struct identity id;
    int created = 0;
    int rc = identity_load_or_create(dir, &id, &created);
    if (rc != 0) {
        fprintf(stderr, "bench_feedgen: identity in %s: %s\n", dir, hub_strerror(rc));
        return 1;
    }
    char hex[HUB_HEX_LEN + 1];
    hub_hex(id.pk, 32, hex);
    printf("hub_key=%s\n", hex);
    identity_wipe(&id);
    return 0;
}

static void fg_usage(void) {
    fprintf(stderr, "usage: bench_feedgen keygen DIR\n"
                    "       bench_feedgen gen --dir DIR --records FILE.jsonl [--authors N] "
                    "[--per-author N]\n"
                    "                         [--extra FILE] [--extra-authors N] "
                    "[--extra-per-author N]\n");
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0) {
        if (argc != 3) {
            fg_usage();
            return 2;
        }
        if (sodium_init() < 0)
            return 1;
        return fg_keygen(argv[2]);
    }
    if (argc < 2 || strcmp(argv[1], "gen") != 0) {
        fg_usage();
        return 2;
    }
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"records", required_argument, NULL, 'r'},
                                         {"authors", required_argument, NULL, 'a'},
                                         {"per-author", required_argument, NULL, 'p'},
                                         {"extra", required_argument, NULL, 'x'},
                                         {"extra-authors", required_argument, NULL, 'A'},
                                         {"extra-per-author", required_argument, NULL, 'P'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *records = NULL, *extra = NULL;
    unsigned long authors = 200, per = 1000, xauthors = 200, xper = 5;
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'r':
            records = optarg;
            break;
        case 'x':
            extra = optarg;
            break;
        case 'a':
            bad = fg_parse(optarg, FG_MAX_AUTHORS, &authors) != 0 || !authors;
            break;
        case 'p':
            bad = fg_parse(optarg, FG_MAX_PER_AUTHOR, &per) != 0 || !per;
            break;
        case 'A':
            bad = fg_parse(optarg, FG_MAX_AUTHORS, &xauthors) != 0;
            break;
        case 'P':
            bad = fg_parse(optarg, FG_MAX_PER_AUTHOR, &xper) != 0;
            break;
        default:
            bad = 1;
            break;
        }
        if (bad) {
            fg_usage();
            return 2;
        }
    }
    if (!dir || !records || optind != argc) {
        fg_usage();
        return 2;
    }
    if (xauthors > authors)
        xauthors = authors;
    if (!extra)
        xper = 0;
    if (sodium_init() < 0)
        return 1;
    log_init(LOG_WARN, LOG_TEXT);

    double t0 = fg_now();
    struct fg_payload *pl = NULL;
    size_t npl = 0;
    if (fg_load_records(records, &pl, &npl) != 0)
        return 1;

    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    if (strlen(dir) >= sizeof cfg.data_dir) {
        fprintf(stderr, "bench_feedgen: --dir too long\n");
        return 2;
    }
    memcpy(cfg.data_dir, dir, strlen(dir) + 1);
    if (config_finish(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_feedgen: %s\n", err);
        return 1;
    }
    struct node *n = NULL;
    int rc = node_open(&cfg, &n);
    if (rc != 0) {
        fprintf(stderr, "bench_feedgen: node_open %s: %s\n", dir, hub_strerror(rc));
        return 1;
    }
    FILE *xf = NULL;
    if (extra && !(xf = fopen(extra, "w"))) {
        fprintf(stderr, "bench_feedgen: %s: %s\n", extra, strerror(errno));
        return 1;
    }

    size_t total = per + xper;
    uint8_t(*headers)[HUB_MAX_HEADER] = malloc(total * sizeof *headers);
    size_t *hlens = malloc(total * sizeof *hlens), *wlens = malloc(total * sizeof *wlens);
    const struct fg_payload **use = malloc(total * sizeof *use);
    uint8_t **wires = calloc(total, sizeof *wires);
    int *rcs = malloc(total * sizeof *rcs), *results = malloc(total * sizeof *results);
    char *b64 = malloc(sodium_base64_ENCODED_LEN(HUB_MAX_ENTRY, sodium_base64_VARIANT_ORIGINAL));
    if (!headers || !hlens || !wlens || !use || !wires || !rcs || !results || !b64)
        return 1;

    /* Timestamps: a few hours ago, FG_TS_STEP_MS apart, so that the extra entries signed now
     * still fall in the accept window when imported minutes later. */
    uint64_t base_ts = hub_now_ms() - 3ULL * 3600 * 1000;
    size_t stored = 0, extras = 0, next_payload = 0;
    for (unsigned long a = 0; a < authors; a++) {
        uint8_t seed[32] = {0};
        snprintf((char *)seed, sizeof seed, "bench-author-%06lu", a % 1000000UL);
        struct identity id;
        if (identity_from_seed(seed, &id) != 0)
            return 1;
        size_t count = per + (a < xauthors ? xper : 0);
        uint8_t prev[32] = {0};
        for (size_t i = 0; i < count; i++) {
            char key[32];
            snprintf(key, sizeof key, "offer-%06zu", i + 1);
            use[i] = &pl[next_payload++ % npl];
            struct entry_draft d = {
                .seq = i + 1,
                .prev = i ? prev : NULL,
                .timestamp = base_ts + (uint64_t)i * FG_TS_STEP_MS,
                .kind = use[i]->kind,
                .key = key,
                .payload = use[i]->data,
                .payload_len = use[i]->len,
                .expires = 0,
            };
            if ((rc = entry_build_header(id.pk, &d, headers[i], &hlens[i], prev)) != 0) {
                fprintf(stderr, "bench_feedgen: header: %s\n", hub_strerror(rc));
                return 1;
            }
        }
        struct fg_sign_job j = {&id, headers, hlens, use, wires, wlens, rcs};
        par_for(count, FG_PAR_MIN, fg_sign_slice, &j);
        for (size_t i = 0; i < count; i++)
            if (rcs[i] != 0) {
                fprintf(stderr, "bench_feedgen: sign: %s\n", hub_strerror(rcs[i]));
                return 1;
            }
        size_t accepted = 0;
        rc = node_ingest(n, (const uint8_t *const *)wires, wlens, per, results, &accepted, 0);
        if (rc != 0 || accepted != per) {
            fprintf(stderr,
                    "bench_feedgen: author %lu: ingest %s, %zu of %lu accepted (first "
                    "result %s)\n",
                    a, hub_strerror(rc), accepted, per, hub_strerror(results[0]));
            return 1;
        }
        stored += accepted;
        for (size_t i = per; i < count; i++) {
            sodium_bin2base64(
                b64, sodium_base64_ENCODED_LEN(HUB_MAX_ENTRY, sodium_base64_VARIANT_ORIGINAL),
                wires[i], wlens[i], sodium_base64_VARIANT_ORIGINAL);
            fprintf(xf, "%s\n", b64);
            extras++;
        }
        for (size_t i = 0; i < count; i++) {
            free(wires[i]);
            wires[i] = NULL;
        }
        identity_wipe(&id);
    }
    if (xf && fclose(xf) != 0) {
        fprintf(stderr, "bench_feedgen: %s: %s\n", extra, strerror(errno));
        return 1;
    }
    char hex[HUB_HEX_LEN + 1];
    hub_hex(node_identity(n)->pk, 32, hex);
    node_destroy(&n);
    double secs = fg_now() - t0;
    printf("stored %zu entries of %lu feeds in %s (%.1f s); %zu extra entries%s%s\n", stored,
           authors, dir, secs, extras, extra ? " in " : "", extra ? extra : "");
    printf("hub_key=%s\nentries=%zu\nauthors=%lu\ngen_seconds=%.2f\nextra_entries=%zu\n", hex,
           stored, authors, secs, extras);
    for (size_t i = 0; i < npl; i++)
        free(pl[i].data);
    free(pl);
    free(headers);
    free(hlens);
    free(wlens);
    free(use);
    free(wires);
    free(rcs);
    free(results);
    free(b64);
    return 0;
}
