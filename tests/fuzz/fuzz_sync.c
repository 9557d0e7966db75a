/* fuzz_sync.c: libFuzzer target for replication messages from a peer.
 *
 * One input is one SyncMsg frame as a peer's DEALER or ROUTER socket delivers it. It goes
 * through sync.c itself: this file includes node/core/sync.c, so that its static handle_msg (the
 * hubnet__sync_msg__unpack of the frame, then on_hello, on_summary, on_heads, on_want or
 * on_entries) runs unchanged, and a fix there is what the fuzzer then tests.
 *
 * Around it: a real node (a fixed identity and an LMDB store in a temporary directory on tmpfs
 * if there is one, unlinked once open; two records of its own published at start so that Heads
 * and Want meet a feed), the open policy, and no sockets: sends go to a NULL socket, which libzmq
 * refuses with ENOTSOCK, as a dropped send. Each input gets fresh inbound sessions: a Hello
 * arrives on a new session (hub not yet known) next to a stale session of the same hub, as after
 * a reconnect; any other message arrives on a session that has seen Hello and has Wants in
 * flight for the peer's feed from seq 1 and from seq 4 (what the seed Entries answer). Entries that
 * carry a valid signature (the seeds' feed) are stored the first time and are duplicates after
 * that. Seeds: corpus/sync/, one message of each case. */
#include "../../node/core/sync.c"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The peer: the key the seed entries and the seed Hello are made with (tests/fuzz/corpus). */
static const uint8_t fuzz_peer_seed[32] = {
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
};

/* The hub itself: a fixed key, so that a seed Want (corpus/sync/want-own) names its feed. */
static const uint8_t fuzz_hub_seed[32] = {
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};

static struct {
    char dir[256];
    struct config cfg;
    struct node *node;
    struct sync s;
    struct identity peer;
} fz;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static void fuzz_cleanup(void) {
    policy_destroy(&fz.s.policy);
    node_destroy(&fz.node);
}

static void fuzz_fail(const char *what) {
    fprintf(stderr, "fuzz_sync: setup failed: %s\n", what);
    abort();
}

/* Two records of the hub's own feed, so that its store is not empty. */
static void fuzz_publish(void) {
    static const char *const recs[][3] = {
        {"1", "profile",
         "{\"name\":\"EDIH Fuzz\",\"country\":\"AT\",\"topics\":[\"govtech\"],"
         "\"endpoints\":[\"tcp://127.0.0.1:7400\"]}"},
        {"2", "offer-1", "{\"title\":\"Train the trainer\",\"start_date\":\"2027-03-01\"}"},
    };
    struct node_draft d[2];
    uint8_t *payloads[2] = {NULL, NULL};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = json_loads(recs[i][2], 0, NULL);
        size_t len = 0;
        if (j == NULL || record_from_json(recs[i][0][0] - '0', j, &payloads[i], &len, NULL) != 0)
            fuzz_fail("seed record");
        json_decref(j);
        memset(&d[i], 0, sizeof d[i]);
        d[i].kind = recs[i][0][0] - '0';
        d[i].key = recs[i][1];
        d[i].payload = payloads[i];
        d[i].payload_len = len;
    }
    if (node_publish(fz.node, d, 2) != 0)
        fuzz_fail("node_publish");
    free(payloads[0]);
    free(payloads[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (sodium_init() < 0)
        fuzz_fail("sodium_init");
    log_init(LOG_ERROR, LOG_TEXT);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    int w = snprintf(fz.dir, sizeof fz.dir, "%s/hub-fuzz-sync-XXXXXX", base ? base : "/tmp");
    if (w < 0 || (size_t)w >= sizeof fz.dir || mkdtemp(fz.dir) == NULL)
        fuzz_fail("mkdtemp");
    atexit(fuzz_cleanup);

    config_defaults(&fz.cfg);
    snprintf(fz.cfg.data_dir, sizeof fz.cfg.data_dir, "%s", fz.dir);
    fz.cfg.max_map_bytes = 256u << 20;
    fz.cfg.policy = POLICY_OPEN;
    /* identity.key as identity.c writes it: the 64-byte libsodium secret key, mode 0600. */
    struct identity hub;
    char path[512];
    w = snprintf(path, sizeof path, "%s/identity.key", fz.dir);
    if (identity_from_seed(fuzz_hub_seed, &hub) != 0 || w < 0 || (size_t)w >= sizeof path)
        fuzz_fail("hub identity");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, hub.sk, sizeof hub.sk) != (ssize_t)sizeof hub.sk || close(fd) != 0)
        fuzz_fail("writing identity.key");
    identity_wipe(&hub);
    if (node_open(&fz.cfg, &fz.node) != 0)
        fuzz_fail("node_open");
    if (identity_from_seed(fuzz_peer_seed, &fz.peer) != 0)
        fuzz_fail("peer identity");

    /* What sync_open sets up, minus the sockets and the control calls. */
    struct sync *s = &fz.s;
    s->node = fz.node;
    s->cfg = node_config(fz.node);
    if (policy_new(s->cfg, node_identity(fz.node)->pk, &s->policy) != 0)
        fuzz_fail("policy_new");
    policy_recompute(s->policy, node_store(fz.node));
    node_set_admit(fz.node, admit_cb, s->policy);
    if (node_add_listener(fz.node, on_accept, s) != 0)
        fuzz_fail("node_add_listener");
    fuzz_publish();
    /* The store keeps its files open: unlink them now, so that nothing is left behind when a
     * crash ends the process. */
    if (nftw(fz.dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS) != 0)
        fuzz_fail("removing the temporary directory");
    return 0;
}

/* An inbound session from the peer, as router_read creates it. */
static struct session *fuzz_session(uint8_t rid) {
    struct session *ss = sess_new(&fz.s, SESS_IN);
    if (ss == NULL)
        fuzz_fail("sess_new");
    ss->rid[0] = rid;
    ss->rid_len = 1;
    memcpy(ss->curve, fz.peer.curve_pk, 32);
    return ss;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct sync *s = &fz.s;
    /* Peek at the case only to pick the session state; handle_msg unpacks for itself. */
    Hubnet__SyncMsg *m = hubnet__sync_msg__unpack(NULL, size, data);
    int hello = m != NULL && m->msg_case == HUBNET__SYNC_MSG__MSG_HELLO;
    hubnet__sync_msg__free_unpacked(m, NULL);

    struct session *ss;
    if (hello) {
        struct session *stale = fuzz_session(1);
        memcpy(stale->hub, fz.peer.pk, 32);
        stale->hub_known = 1;
        stale->hello_seen = 1;
        ss = fuzz_session(2);
    } else {
        ss = fuzz_session(3);
        memcpy(ss->hub, fz.peer.pk, 32);
        ss->hub_known = 1;
        ss->hello_seen = 1;
        /* We asked for the peer's feed from seq 1 and from seq 4 (the seed batches). */
        wq_add(ss, fz.peer.pk, 1, 6);
        static const uint64_t from[] = {1, 4};
        for (size_t i = 0; i < HUB_ARRAY_LEN(from); i++) {
            struct inflight *f = &ss->inflight[ss->ninflight++];
            memcpy(f->author, fz.peer.pk, 32);
            f->from = from[i];
            f->sent_ms = hub_mono_ms();
            ss->wq[0].inflight++;
        }
    }
    handle_msg(s, ss, data, size, NULL);

    /* Counters stay consistent whatever the peer sent. */
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++) {
        struct session *x = &s->sess[i];
        if (!x->used)
            continue;
        FUZZ_CHECK(x->behind_us >= 0 && x->nwq <= SYNC_MAX_WANT_FEEDS);
        FUZZ_CHECK(x->ninflight <= SYNC_MAX_WINDOW && x->ntheir <= SYNC_MAX_WANT_FEEDS);
        sess_free(x);
    }
    if (s->policy_dirty) {
        policy_recompute(s->policy, node_store(s->node));
        s->policy_dirty = 0;
    }
    return 0;
}
