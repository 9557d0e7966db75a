/* test_store_dict.c: the full-text dictionary ("words" rows: each word, and its stem in the
 * record's language) is the same whether a hub stores entries in small batches (the writer
 * probes, stems and puts every word itself) or in pipelined catch-up batches (the workers drop
 * the words the dictionary holds already, store_dict_filter, and the writer puts each new word
 * of a batch once). Real signatures, real stores, the node's ingest paths. */
#include <ftw.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "node.h"
#include "par.h"
#include "record.h"
#include "store.h"
#include "textsearch.h"

#include "../../node/core/node_priv.h" /* NODE_PIPE_MIN */

#define FEEDS 4
#define PER_FEED 640                  /* 2,560 entries: */
#define BIG_BATCH (2 * NODE_PIPE_MIN) /* ... 3 pipelined batches of 1,024 ... */
#define SMALL_BATCH 100               /* ... or 26 small ones per hub */
#define WORDS_MAX 4096                /* dictionary words listed per first letter */

/* Words with inflections (so that their stems are rows of their own), each in a run of 300
 * consecutive records: most are new in a later batch, and met in many records of it. */
static const char *const inflected[] = {
    "connection", "connected",     "connecting", "generously", "happiness", "running",
    "houses",     "organizations", "nationally", "trainers",   "hauser",    "gemeinden",
};

struct hub {
    char dir[64];
    struct node *n;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void hub_open(struct hub *h) {
    snprintf(h->dir, sizeof h->dir, "/tmp/hubnet-test-dict-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", h->dir);
    assert_int_equal(node_open(&cfg, &h->n), HUB_OK);
}

static void hub_close(struct hub *h) {
    node_destroy(&h->n);
    nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The entries of FEEDS feeds, feed by feed; feeds alternate English and German records. */
static void make_entries(uint8_t **wires, size_t *lens) {
    uint64_t ts = hub_now_ms() - 3600 * 1000;
    int offer = entry_kind_parse("offer");
    assert_true(offer > 0);
    for (unsigned f = 0; f < FEEDS; f++) {
        uint8_t seed[32] = {0};
        snprintf((char *)seed, sizeof seed, "test-dict-feed-%u", f);
        struct identity id;
        assert_int_equal(identity_from_seed(seed, &id), HUB_OK);
        uint8_t prev[32];
        for (unsigned i = 0; i < PER_FEED; i++) {
            unsigned g = f * PER_FEED + i;
            char desc[512], key[32], title[64];
            snprintf(desc, sizeof desc,
                     "Training for public services and the municipalities: %s, %s and "
                     "token%u token%u. Weiterbildung für Gemeinden.",
                     inflected[g / 300 % HUB_ARRAY_LEN(inflected)],
                     inflected[(g / 300 + 5) % HUB_ARRAY_LEN(inflected)], g / 40, g % 7);
            snprintf(title, sizeof title, "Course %u of feed %u", i, f);
            json_t *rec = json_pack("{s:s, s:s, s:[s], s:[s], s:s, s:s}", "title", title,
                                    "description", desc, "topics", "train-the-trainer", "languages",
                                    f % 2 ? "de" : "en", "country", "AT", "mode", "onsite");
            assert_non_null(rec);
            uint8_t *payload;
            size_t plen;
            struct record_error err;
            int rc = record_from_json(offer, rec, &payload, &plen, &err);
            if (rc != 0)
                fail_msg("record_from_json: %s: %s", err.field, err.message);
            json_decref(rec);
            snprintf(key, sizeof key, "offer-%u", i);
            struct entry_draft d = {.seq = i + 1,
                                    .prev = i ? prev : NULL,
                                    .timestamp = ts + g,
                                    .kind = offer,
                                    .key = key,
                                    .payload = payload,
                                    .payload_len = plen};
            uint8_t header[HUB_MAX_HEADER];
            size_t hl;
            assert_int_equal(entry_build_header(id.pk, &d, header, &hl, prev), HUB_OK);
            assert_int_equal(entry_sign(&id, header, hl, payload, plen, &wires[g], &lens[g]),
                             HUB_OK);
            free(payload);
        }
        identity_wipe(&id);
    }
}

/* Every word row, and every stem row of every word in both languages, of a store. A line
 * holds a tag ("s:" stem ":") and a word, each up to TS_WORD_MAX. */
#define DUMP_LINE_MAX (2 * TS_WORD_MAX + 16)
struct dict_dump {
    char (*w)[DUMP_LINE_MAX];
    size_t n;
};

static void dump_add(struct dict_dump *d, const char *tag, const char *w) {
    d->w = realloc(d->w, (d->n + 1) * sizeof *d->w);
    assert_non_null(d->w);
    snprintf(d->w[d->n++], DUMP_LINE_MAX, "%.*s%.*s", TS_WORD_MAX + 8, tag, TS_WORD_MAX, w);
}

static void dict_dump(struct store *s, struct dict_dump *d) {
    static char words[WORDS_MAX][TS_WORD_MAX + 1], forms[WORDS_MAX][TS_WORD_MAX + 1];
    const char *langs[] = {"en", "de"};
    for (const char *c = "abcdefghijklmnopqrstuvwxyz0123456789"; *c; c++) {
        size_t nw;
        assert_int_equal(store_dict_words(s, 0, c, 1, words, WORDS_MAX, &nw), HUB_OK);
        assert_true(nw < WORDS_MAX);
        for (size_t i = 0; i < nw; i++) {
            dump_add(d, "w:", words[i]);
            for (size_t l = 0; l < HUB_ARRAY_LEN(langs); l++) {
                char stem[TS_WORD_MAX + 1];
                size_t sl = ts_stem(ts_lang(langs[l]), words[i], strlen(words[i]), stem);
                size_t nf;
                assert_int_equal(store_dict_words(s, 1, stem, sl, forms, WORDS_MAX, &nf), HUB_OK);
                for (size_t k = 0; k < nf; k++) {
                    char t[TS_WORD_MAX + 8];
                    snprintf(t, sizeof t, "s:%s:", stem);
                    dump_add(d, t, forms[k]);
                }
            }
        }
    }
}

static int dump_has(const struct dict_dump *d, const char *w) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->w[i], w) == 0)
            return 1;
    return 0;
}

/* The same entries stored in small batches (one hub) and in pipelined catch-up batches (the
 * other) give the same dictionary rows, the stems among them; and the workers' filter drops
 * exactly the words the store holds. */
static void test_dictionary_same_on_both_paths(void **state) {
    (void)state;
    if (par_threads() < 2) {
        print_message("one CPU online: hubd never pipelines here, so neither can this test\n");
        skip();
    }
    size_t total = FEEDS * PER_FEED;
    uint8_t **wires = calloc(total, sizeof *wires);
    size_t *lens = calloc(total, sizeof *lens);
    int *results = calloc(total, sizeof *results);
    assert_non_null(wires);
    assert_non_null(lens);
    assert_non_null(results);
    make_entries(wires, lens);

    struct hub small, big;
    hub_open(&small);
    hub_open(&big);
    for (size_t off = 0; off < total; off += SMALL_BATCH) {
        size_t cnt = total - off < SMALL_BATCH ? total - off : SMALL_BATCH, accepted;
        assert_int_equal(node_ingest(small.n, (const uint8_t *const *)wires + off, lens + off, cnt,
                                     results, &accepted, 0),
                         HUB_OK);
        assert_int_equal(accepted, cnt);
    }
    /* A catch-up's batches: the first fills the dictionary, the workers filter the next ones
     * against it. */
    for (size_t off = 0; off < total; off += BIG_BATCH) {
        size_t cnt = total - off < BIG_BATCH ? total - off : BIG_BATCH, accepted;
        struct node_ingest_job *job;
        assert_int_equal(node_ingest_begin(big.n, (const uint8_t *const *)wires + off, lens + off,
                                           cnt, results, 0, NODE_INGEST_BULK | NODE_INGEST_CHAIN,
                                           &job),
                         HUB_OK);
        assert_int_equal(node_ingest_end(big.n, job, &accepted), HUB_OK);
        assert_int_equal(accepted, cnt);
    }

    struct dict_dump ds = {0}, db = {0};
    dict_dump(node_store(small.n), &ds);
    dict_dump(node_store(big.n), &db);
    print_message("%zu dictionary rows (words, and the stems of each word)\n", ds.n);
    assert_int_equal(ds.n, db.n);
    for (size_t i = 0; i < ds.n; i++)
        assert_string_equal(ds.w[i], db.w[i]);
    /* the rows the test means to cover are there: words of the last batch, their stems in
     * the language of their records, and a German stem of a German record's word */
    char t[TS_WORD_MAX * 2 + 8];
    for (size_t i = 0; i < HUB_ARRAY_LEN(inflected); i++) {
        snprintf(t, sizeof t, "w:%s", inflected[i]);
        assert_true(dump_has(&db, t));
    }
    assert_true(dump_has(&db, "w:token63")); /* the last batch's */
    assert_true(dump_has(&db, "s:connect:connecting"));
    assert_true(dump_has(&db, "s:connect:connection"));
    assert_true(dump_has(&db, "s:organ:organizations"));
    assert_true(dump_has(&db, "s:gemeind:gemeinden"));

    /* store_dict_filter: a known (language, word) is dropped, an unknown one kept, and a
     * word known in another language only is kept */
    char d[64] = {0};
    int en = ts_lang("en"), de = ts_lang("de");
    d[0] = (char)(en + 1);
    memcpy(d + 1, "connection\0zzyzxunknown\0token3\0", 31);
    size_t dl = store_dict_filter(node_store(big.n), d, 32);
    assert_int_equal(dl, 1 + strlen("zzyzxunknown") + 1);
    assert_string_equal(d + 1, "zzyzxunknown");
    memset(d, 0, sizeof d);
    d[0] = (char)(de + 1);
    memcpy(d + 1, "weiterbildung\0", 14);
    assert_int_equal(store_dict_filter(node_store(big.n), d, 15), 1);

    free(ds.w);
    free(db.w);
    hub_close(&small);
    hub_close(&big);
    for (size_t i = 0; i < total; i++)
        free(wires[i]);
    free(wires);
    free(lens);
    free(results);
}

/* A batch that fills the map is stored again, whole, after the map grew (one transaction per
 * batch): the words its first try put are put again, though the batch's set had them. */
#define RETRY_ENTRIES 1400 /* x 60 KB: past the initial 64 MiB map */
#define RETRY_PAYLOAD 60000
#define RETRY_WORDS 50

static void test_dictionary_after_map_growth(void **state) {
    (void)state;
    struct hub h;
    snprintf(h.dir, sizeof h.dir, "/tmp/hubnet-test-dict-XXXXXX");
    assert_non_null(mkdtemp(h.dir));
    struct store *s;
    assert_int_equal(store_open(h.dir, 512ULL << 20, &s), HUB_OK);
    struct store_stats st;
    assert_int_equal(store_stats(s, &st), HUB_OK);
    uint64_t map0 = st.map_size;
    uint8_t seed[32] = {0};
    memcpy(seed, "test-dict-retry", 15);
    struct identity id;
    assert_int_equal(identity_from_seed(seed, &id), HUB_OK);
    int offer = entry_kind_parse("offer");
    struct entry *es = calloc(RETRY_ENTRIES, sizeof *es);
    uint8_t **wires = calloc(RETRY_ENTRIES, sizeof *wires);
    struct store_item *items = calloc(RETRY_ENTRIES, sizeof *items);
    struct ts_dict *dicts = calloc(RETRY_ENTRIES, sizeof *dicts);
    uint8_t *payload = malloc(RETRY_PAYLOAD);
    assert_true(es && wires && items && dicts && payload);
    uint8_t prev[32];
    uint64_t ts = hub_now_ms() - 3600 * 1000;
    int en = ts_lang("en");
    for (size_t i = 0; i < RETRY_ENTRIES; i++) {
        randombytes_buf(payload, RETRY_PAYLOAD);
        char key[32];
        snprintf(key, sizeof key, "big-%zu", i);
        struct entry_draft d = {.seq = i + 1,
                                .prev = i ? prev : NULL,
                                .timestamp = ts + i,
                                .kind = offer,
                                .key = key,
                                .payload = payload,
                                .payload_len = RETRY_PAYLOAD};
        size_t wl;
        assert_int_equal(entry_build(&id, &d, &wires[i], &wl), HUB_OK);
        assert_int_equal(entry_decode(wires[i], wl, &es[i]), HUB_OK);
        memcpy(prev, es[i].id, 32);
        /* each word in one record of every RETRY_WORDS: all met early in the batch */
        ts_dict_init(&dicts[i], en);
        char w[32];
        int wn = snprintf(w, sizeof w, "retrying%zu", i % RETRY_WORDS);
        assert_int_equal(ts_dict_add(&dicts[i], w, (size_t)wn), 0);
        items[i].e = &es[i];
        items[i].dict = dicts[i].buf;
        items[i].dict_len = dicts[i].len;
    }
    assert_int_equal(store_append_ready(s, items, RETRY_ENTRIES, NULL, NULL, STORE_BULK), HUB_OK);
    for (size_t i = 0; i < RETRY_ENTRIES; i++)
        assert_int_equal(items[i].result, HUB_OK);
    assert_int_equal(store_stats(s, &st), HUB_OK);
    assert_true(st.map_size > map0); /* the batch did fill the map once */
    for (size_t k = 0; k < RETRY_WORDS; k++) {
        char w[32], found[2][TS_WORD_MAX + 1];
        int wn = snprintf(w, sizeof w, "retrying%zu", k);
        size_t nf;
        assert_int_equal(store_dict_words(s, 0, w, (size_t)wn, found, 2, &nf), HUB_OK);
        assert_true(nf >= 1);
        assert_string_equal(found[0], w);
    }
    store_destroy(&s);
    for (size_t i = 0; i < RETRY_ENTRIES; i++)
        free(wires[i]);
    free(wires);
    free(es);
    free(items);
    free(dicts);
    free(payload);
    identity_wipe(&id);
    nftw(h.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dictionary_same_on_both_paths),
        cmocka_unit_test(test_dictionary_after_map_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
