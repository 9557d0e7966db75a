/* sync.c: replication between hubs (PROTOCOL.md, "Sync").
 *
 * Channels: each configured peer gets an outbound session (our DEALER to its ROUTER); each hub
 * that dials us gets an inbound session on our ROUTER, keyed by its routing id. Any session may
 * carry a SUB socket on the peer's PUB for live push. Outbound sessions start a round every
 * sync interval: Hello + Summary; the other side answers Hello + Summary (in sync) or Heads;
 * whoever is behind sends Wants, at most `window` in flight, each answered by one Entries batch.
 * Nothing here queues without bound: wants are capped per session, sends never block
 * (ZMQ_DONTWAIT; a dropped reply is re-asked after a timeout), and what a peer is answered is
 * bounded by the bytes libzmq still holds for it (the answer window, PROTOCOL.md §9.8). */
#include "sync.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "control.h"
#include "entry.h"
#include "log.h"
#include "node.h"
#include "pbcheck.h"
#include "policy.h"
#include "areply.h"
#include "record.h"
#include "sigcheck.h"
#include "store.h"
#include "sync.pb-c.h"

#define SYNC_VERSION 1
#define SYNC_MAX_SESSIONS 128
#define SYNC_MAX_MSG (8u << 20)           /* ZMQ_MAXMSGSIZE: a larger message drops the peer */
#define SYNC_ENTRIES_MAX_BYTES (4u << 20) /* one Entries batch */
#define SYNC_HEADS_CHUNK 1024
#define SYNC_MAX_BATCH 4096       /* entries per Entries message (config batch <= this) */
#define SYNC_MAX_WANT_FEEDS 65536 /* feeds queued for fetching per session */
#define SYNC_MAX_WINDOW 64        /* config window <= this */
#define SYNC_WANT_TIMEOUT_MS 10000
#define SYNC_MSGS_PER_TURN 64 /* per socket per loop turn: fairness between peers */
#define SYNC_DEFER_MSGS 64    /* Entries messages stored in one transaction */
/* ... and at most this many entries: a commit rewrites every B-tree leaf the batch touched, and
 * ids and records take random keys, so a catch-up into a big store writes about a fifth as much
 * with 16,384 per commit as with 4,096; the price was the event loop's pause while it decoded a
 * batch (a thread of its own screens a big batch now: node_ingest_begin). */
#define SYNC_DEFER_ENTRIES 16384
_Static_assert(SYNC_DEFER_ENTRIES <= NODE_BLOCK_ENTRIES, "a catch-up batch reuses kept memory");
#define SYNC_PUSH_BATCH 1024  /* live pushes applied in one transaction */
#define SYNC_PENDING_MAX 2    /* Entries batches checked ahead of the one being stored */
#define SYNC_WRITER_POLL_MS 1 /* event-loop wake-up while the writer thread stores a batch */
#define SYNC_HELD_MAX 64      /* Heads messages held back during a catch-up (see handle_msg) */
/* Work per socket per loop turn, so that control and the other peers get their turn even while
 * one peer floods or a catch-up streams in: with the background threads niced (par_background)
 * and booking done in parts, it bounds the pause a query sees during a catch-up (measured max:
 * 24-41 ms with 20 ms; 6-32 ms with 5 ms, at the same throughput). */
#define SYNC_TURN_BUDGET_US 5000
#define SYNC_RATE_MSGS 20000 /* requests per session per second; the excess is dropped */
#define SYNC_RATE_PUSHES                                                                           \
    100000 /* live pushes per session per second, counted apart: a peer                            \
              relaying a catch-up pushes ~20k/s, and its echoes must not                           \
              use up the budget of its requests (Wants) */
#define SYNC_SUMMARY_LOG_MS 60000
/* The answer window (see "answer window" below): bytes of this hub's messages to one session that
 * libzmq still holds, and to all sessions together. A Want beyond it waits (at most
 * SYNC_DEFER_WANTS per session, answered in order as the window opens); the excess is refused. */
#define SYNC_ANSWER_WINDOW_BYTES (16u << 20)
#define SYNC_ANSWER_TOTAL_BYTES (256u << 20)
#define SYNC_DEFER_WANTS 64  /* a conforming peer has at most SYNC_MAX_WINDOW out */
#define SYNC_DEFER_POLL_MS 5 /* event-loop wake-up while Wants wait for the window */
/* Answering Wants (reading up to 4,096 entries and packing them: 1-2 ms each) takes at most
 * this much of one event-loop turn (the answer under way is finished); the rest wait for the
 * next turn, which comes at once, after the control socket and the other peers were polled.
 * So a peer asking as fast as it can delays a query by about one answer, and an honest
 * catch-up is served as fast as before (a time share instead cost it a fifth of its rate). */
#define SYNC_ANSWER_TURN_US 2000
/* Answer bytes per session and second. An honest catch-up moves ~20 MB/s (the receiver checks
 * every signature); a peer that asks and reads as fast as it can made this hub encrypt and
 * send ~260 MB/s, which took both cores of a small machine from everything else. */
#define SYNC_ANSWER_RATE_BYTES (64u << 20)
/* Heads claims above this seq are absurd (2^40 entries of >= 100 bytes would be 100 TiB): such a
 * head is ignored, neither fetched nor counted as behind. */
#define SYNC_MAX_CLAIM_SEQ (1ull << 40)
#define SYNC_HWM 10000
#define SYNC_KEEPALIVE_IDLE_S 5  /* TCP keepalive (instead of ZMTP heartbeats, see sock_common): */
#define SYNC_KEEPALIVE_INTVL_S 5 /* a dead connection is dropped after about 5 + 2 x 5 s */
#define SYNC_KEEPALIVE_CNT 2
#define SYNC_HELLO_WAIT_MS 10000     /* an inbound session must say Hello by then */
#define SYNC_INBOUND_IDLE_MS 60000   /* a silent inbound session is closed after this */
#define SYNC_POLICY_REFRESH_MS 60000 /* endorsed policy: expiries change the trusted set */
#define SYNC_REDIAL_MIN_MS 2000      /* first re-dial of a peer that is not up */
#define SYNC_FORK_PUSHES_MAX 16      /* forks pushed again per session and Heads list (fw_*) */
#define SYNC_REDIAL_MAX_MS 60000     /* re-dial back-off cap */
#define SYNC_RETRY_MIN_MS 5          /* round retry while a peer is not connected: from 5 ms */
#define SYNC_RETRY_MS 200            /* doubling up to this */
#define SYNC_REPLY_TARGETS 16        /* targets asked per round with WantReplies (self + peers) */
#define SYNC_REPLIES_MAX 256         /* entries in one Replies answer */
#define SYNC_REPLIES_MAX_BYTES (1u << 20)
#define SYNC_REPLIES_SCAN 1024       /* replies of the store looked at for one answer */
#define SYNC_REPLIES_SLACK_MS 600000 /* WantReplies asks again from this long before the last ask */
#define SYNC_ENDORSE_QUEUE 64        /* endorsements waiting to be published (own feed not ready) */
#define SYNC_ENDORSE_RETRY_MS 1000   /* retry of a waiting endorsement */
#define SYNC_REPAIR_MAX 16 /* stopped feeds asked again per session and Heads list (repair) */

enum sess_dir { SESS_OUT = 1, SESS_IN = 2 };
enum peer_state { PEER_CONNECTING, PEER_UP, PEER_DOWN };

/* A feed being fetched: several consecutive batches may be in flight at once, so that one
 * long feed streams without waiting a round trip per batch. */
struct want_feed {
    uint8_t author[32];
    uint64_t next;   /* next seq to ask for */
    uint64_t target; /* the peer's head */
    int inflight;    /* batches asked and not yet answered */
};

struct inflight {
    uint8_t author[32];
    uint64_t from;
    uint64_t sent_ms;
};

struct session {
    int used;
    uint32_t gen; /* changes each time the slot is reused */
    enum sess_dir dir;
    uint8_t hub[32];
    int hub_known;
    char endpoint[256]; /* outbound: configured; inbound: tcp://addr (informational) */
    void *dealer;       /* outbound */
    uint8_t rid[256];   /* inbound routing id */
    size_t rid_len;
    uint8_t curve[32]; /* inbound: transport key from ZAP's User-Id */
    void *sub;
    enum peer_state state;
    uint64_t up_since_wall; /* when the session last came up (0: not up), for peers' uptime */
    uint64_t flaps;         /* times it went down after being up */
    int hello_seen;
    uint64_t created_ms, last_heard_ms, last_heard_wall, next_round_ms;
    uint64_t redial_at_ms, redial_backoff_ms;
    uint64_t retry_ms; /* wait before the next Hello while the connection is not up yet */
    uint64_t sent, received, rejected, rounds, bytes_sent, bytes_received;
    uint64_t rej_window[40], rej_window_total;
    int64_t behind_us, behind_them;
    struct want_feed *wq;
    size_t nwq, capwq, rr;
    struct inflight inflight[SYNC_MAX_WINDOW];
    size_t ninflight;
    Hubnet__Head **their; /* heads received in the current Heads exchange */
    size_t ntheir, captheir;
    struct rate {
        uint64_t start_ms;
        uint32_t count;
    } rate_req, rate_push; /* messages on the DEALER/ROUTER, and live pushes on the SUB */
    uint64_t rate_dropped;
    uint64_t last_summary_log;
    int fw_compared;    /* heads compared; our own feed's fetch may still be running (fw_*) */
    int fw_own_start;   /* our own feed's want here was queued in the start-up window */
    unsigned fw_backs;  /* fetch-backs asked since the last Heads comparison */
    unsigned repairs;   /* stopped feeds asked again since then (repair_want) */
    unsigned fw_pushes; /* forks to push again after this Heads list (fw_again) */
    uint8_t fw_again[SYNC_FORK_PUSHES_MAX][32];
    /* the answer window: Wants waiting for it, and what was held back (totals and this minute) */
    struct deferred_want {
        uint8_t author[32];
        uint64_t from;
        uint32_t count;
    } dw[SYNC_DEFER_WANTS];
    size_t ndw;
    uint64_t deferred, refused, deferred_window, refused_window;
    uint64_t answer_sec_ms, answer_sec_bytes; /* SYNC_ANSWER_RATE_BYTES: this second's answers */
    uint64_t replies_kept, replies_refused;   /* addressed replies from this peer (areply.c) */
    uint64_t replies_asked_ms; /* wall clock of the last WantReplies round; 0: none yet */
    /* traffic (CONTROL.md "peers"): anti-entropy messages each way, live-push frames read from
     * this peer, and entries it sent that were held already (E_DUPLICATE) */
    uint64_t msgs_sent, msgs_received, pushes_received, duplicates;
};

/* What replication cost since start, over every session, including sessions that are gone (a
 * peer that reconnected): the figures behind "messages and bytes per delivered entry"
 * (CONTROL.md status "sync.traffic", BENCHMARKS.md "Many hubs"). Bytes are the protocol
 * messages' sizes, without ZMTP framing, CurveZMQ and TCP. A push is counted once when it is
 * published, however many peers subscribe; the receiving side counts each copy. */
struct sync_traffic {
    uint64_t msgs_sent, bytes_sent, msgs_received, bytes_received;
    uint64_t pushes_sent, push_bytes_sent, pushes_received, push_bytes_received;
    uint64_t entries_accepted, entries_duplicate; /* from peers, anti-entropy and push */
};

struct sync {
    struct node *node;
    const struct config *cfg;
    void *ctx;
    struct zap *zap;
    struct policy *policy;
    struct areply *areply;
    /* hubs to endorse (peer_add, configured peers under policy trust) once the own feed is
     * ready for publishing */
    uint8_t endorse_q[SYNC_ENDORSE_QUEUE][32];
    size_t nendorse;
    uint64_t endorse_at;
    void *router, *pub;
    uint32_t pub_port;
    struct session sess[SYNC_MAX_SESSIONS];
    uint8_t digest[32];
    uint32_t digest_feeds;
    int digest_valid;
    uint64_t digest_gen; /* node_servable_generation it was computed at */
    int policy_dirty;
    int deferring; /* Entries are stashed for entries_flush while a socket is read */
    struct defer {
        struct {
            struct session *ss;
            uint32_t gen;
            Hubnet__SyncMsg *m;
            size_t n;
        } items[SYNC_DEFER_MSGS];
        size_t n, total;
        /* or a batch of live pushes from one session (push_ss): total copies in push_wires */
        struct session *push_ss;
        uint32_t push_gen;
        uint8_t **push_wires;
        /* once handed to node_ingest_begin: */
        const uint8_t **wires;
        size_t *lens;
        int *results;
        struct node_ingest_job *job;
        size_t booked, booked_entries; /* defer_booked_some: items[0, booked) are done */
    } defer,                           /* stashed this turn */
        pending[SYNC_PENDING_MAX],     /* begun: being checked by workers, oldest first */
        writing,                       /* handed to the node's writer thread (writing_busy) */
        booking; /* stored, being booked a part per loop turn (booking_busy) */
    size_t npending;
    size_t drain_rr;         /* wants_drain_all starts at this session */
    uint64_t turn_answer_us; /* spent answering Wants this loop turn (SYNC_ANSWER_TURN_US) */
    int writing_busy;
    int booking_busy, book_ok;
    struct node_ingest_job *book_job; /* booking's job until its listeners are all told */
    struct { /* Heads lists held while Entries received before them are outstanding */
        struct session *ss;
        uint32_t gen;
        Hubnet__SyncMsg *m;
    } held[SYNC_HELD_MAX];
    size_t nheld;
    struct { /* live-push batch buffers, reused */
        zmq_msg_t msgs[SYNC_PUSH_BATCH];
        const uint8_t *wires[SYNC_PUSH_BATCH];
        size_t lens[SYNC_PUSH_BATCH];
        int results[SYNC_PUSH_BATCH];
    } push;
    uint64_t policy_refreshed;
    struct sync_traffic traffic;
    /* Bytes handed to libzmq and not yet taken by it (see outbuf_free): per session slot (its
     * Heads lists apart as well) and in total. Written by libzmq's I/O thread. */
    _Atomic uint64_t out_bytes[SYNC_MAX_SESSIONS], out_heads[SYNC_MAX_SESSIONS], out_total;
    /* poll bookkeeping: which item is which */
    struct {
        int kind; /* 0 zap, 1 router, 2 dealer, 3 sub */
        int sess;
    } map[2 + 2 * SYNC_MAX_SESSIONS + 1];
};

/* ---- helpers ---- */

static void short_hex(const uint8_t k[32], char out[9]) {
    hub_short(k, out);
}

static int port_of(const char *endpoint, uint32_t *port) {
    const char *c = strrchr(endpoint, ':');
    uint64_t v;
    if (!c || hub_parse_u64(c + 1, 65535, &v) != 0 || v == 0)
        return -1;
    *port = (uint32_t)v;
    return 0;
}

static void set_int(void *sock, int opt, int v) {
    if (zmq_setsockopt(sock, opt, &v, sizeof v) != 0)
        log_warnx("sync", "zmq_setsockopt(%d): %s", opt, zmq_strerror(zmq_errno()));
}

static void sock_common(void *sock) {
    set_int(sock, ZMQ_LINGER, 0);
    int64_t max = SYNC_MAX_MSG;
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    set_int(sock, ZMQ_SNDHWM, SYNC_HWM);
    set_int(sock, ZMQ_RCVHWM, SYNC_HWM);
    set_int(sock, ZMQ_RECONNECT_IVL, 250);
    set_int(sock, ZMQ_RECONNECT_IVL_MAX, 30000); /* exponential backoff up to 30 s */
    /* No ZMTP heartbeats (ZMQ_HEARTBEAT_IVL): libzmq 4.3.4 (Debian 12) aborts with them.
     * When a peer sends faster than hubd reads, the connection's receive pipe fills
     * (ZMQ_RCVHWM) and its engine stops reading the TCP socket (_input_stopped). If the peer
     * then resets or closes the connection, epoll still reports EPOLLERR/EPOLLHUP; the engine's
     * in_event sees input stopped, removes the fd and sets _io_error, and waits for the pipe to
     * drain. The heartbeat timer is still armed: its timer_event calls out_event() without
     * checking _io_error, and out_event asserts `!_io_error` (stream_engine_base.cpp:331):
     * SIGABRT, the hub gone (libzmq issue #4364; a never-reading peer flooding Wants against a
     * big feed did it within seconds). Dead connections are found by TCP keepalive instead,
     * which the kernel runs without the engine's timers, and by the sessions' own silence
     * timeouts (§9.9). */
    set_int(sock, ZMQ_HEARTBEAT_IVL, 0);
    set_int(sock, ZMQ_TCP_KEEPALIVE, 1);
    set_int(sock, ZMQ_TCP_KEEPALIVE_IDLE, SYNC_KEEPALIVE_IDLE_S);
    set_int(sock, ZMQ_TCP_KEEPALIVE_INTVL, SYNC_KEEPALIVE_INTVL_S);
    set_int(sock, ZMQ_TCP_KEEPALIVE_CNT, SYNC_KEEPALIVE_CNT);
}

static void *curve_server(struct sync *s, int type) {
    const struct identity *id = node_identity(s->node);
    void *sock = zmq_socket(s->ctx, type);
    if (!sock)
        return NULL;
    sock_common(sock);
    set_int(sock, ZMQ_CURVE_SERVER, 1);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, id->curve_sk, 32);
    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "hubnet", 6);
    return sock;
}

static void *curve_client(struct sync *s, int type, const uint8_t server_ed[32]) {
    const struct identity *id = node_identity(s->node);
    uint8_t server_curve[32];
    if (identity_curve_pk(server_ed, server_curve) != 0)
        return NULL;
    void *sock = zmq_socket(s->ctx, type);
    if (!sock)
        return NULL;
    sock_common(sock);
    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_curve, 32);
    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, id->curve_pk, 32);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, id->curve_sk, 32);
    return sock;
}

/* ---- sending ---- */

/* ---- answer window ----
 *
 * hubd cannot see how much of what it sent libzmq still queues for a peer (ZMQ_SNDHWM counts
 * messages, 10000 of up to 8 MiB each), and a peer that asks and never reads would make it
 * queue without bound. So every message goes to libzmq zero-copy (zmq_msg_init_data) from a
 * buffer that counts itself: libzmq frees it (outbuf_free, on its I/O thread) once the
 * connection's engine has taken it off the queue (CURVE encrypts it into a copy that is written
 * out next: at most one more message per connection), or when the connection goes. The counts
 * are what the answer window is measured on. */

struct outbuf {
    _Atomic uint64_t *sess, *heads, *total;
    size_t len;
    uint8_t data[];
};

static void outbuf_free(void *data, void *hint) {
    (void)data;
    struct outbuf *ob = hint;
    atomic_fetch_sub(ob->sess, ob->len);
    if (ob->heads)
        atomic_fetch_sub(ob->heads, ob->len);
    atomic_fetch_sub(ob->total, ob->len);
    free(ob);
}

static size_t sess_slot(const struct sync *s, const struct session *ss) {
    return (size_t)(ss - s->sess);
}

/* Is there room for one more answer to this session (and in total)? */
static int window_open(const struct sync *s, const struct session *ss) {
    return atomic_load(&s->out_bytes[sess_slot(s, ss)]) < SYNC_ANSWER_WINDOW_BYTES &&
           atomic_load(&s->out_total) < SYNC_ANSWER_TOTAL_BYTES;
}

/* A Heads list is sent only once the previous one to this session has left the queue. */
static int heads_window_open(const struct sync *s, const struct session *ss) {
    return atomic_load(&s->out_heads[sess_slot(s, ss)]) == 0 &&
           atomic_load(&s->out_total) < SYNC_ANSWER_TOTAL_BYTES;
}

/* May this session be answered now (SYNC_ANSWER_RATE_BYTES)? */
static int answer_rate_ok(struct session *ss) {
    uint64_t now = hub_mono_ms();
    if (now - ss->answer_sec_ms >= 1000) {
        ss->answer_sec_ms = now;
        ss->answer_sec_bytes = 0;
    }
    return ss->answer_sec_bytes < SYNC_ANSWER_RATE_BYTES;
}

/* Is there answering time left in this loop turn (SYNC_ANSWER_TURN_US)? */
static int answer_time_left(const struct sync *s) {
    return s->turn_answer_us < SYNC_ANSWER_TURN_US;
}

static void held_back(struct session *ss, int refused) {
    if (refused) {
        ss->refused++;
        ss->refused_window++;
    } else {
        ss->deferred++;
        ss->deferred_window++;
    }
}

static int send_msg_counted(struct sync *s, struct session *ss, const Hubnet__SyncMsg *m,
                            int heads) {
    size_t len = hubnet__sync_msg__get_packed_size(m);
    size_t slot = sess_slot(s, ss);
    struct outbuf *ob = malloc(sizeof *ob + (len ? len : 1));
    if (!ob)
        return -1;
    hubnet__sync_msg__pack(m, ob->data);
    ob->sess = &s->out_bytes[slot];
    ob->heads = heads ? &s->out_heads[slot] : NULL;
    ob->total = &s->out_total;
    ob->len = len;
    atomic_fetch_add(ob->sess, len);
    if (ob->heads)
        atomic_fetch_add(ob->heads, len);
    atomic_fetch_add(ob->total, len);
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, ob->data, len, outbuf_free, ob) != 0) {
        outbuf_free(ob->data, ob);
        return -1;
    }
    int rc;
    if (ss->dir == SESS_OUT) {
        rc = zmq_msg_send(&msg, ss->dealer, ZMQ_DONTWAIT);
    } else {
        rc = zmq_send(s->router, ss->rid, ss->rid_len, ZMQ_DONTWAIT | ZMQ_SNDMORE);
        if (rc >= 0)
            rc = zmq_msg_send(&msg, s->router, ZMQ_DONTWAIT);
    }
    if (rc >= 0) {
        ss->bytes_sent += len;
        ss->msgs_sent++;
        s->traffic.msgs_sent++;
        s->traffic.bytes_sent += len;
    } else
        zmq_msg_close(&msg); /* not sent: still ours, outbuf_free runs now */
    /* EAGAIN: peer not connected or its queue is full; the round or want timeout retries. */
    return rc >= 0 ? 0 : -1;
}

static int send_msg(struct sync *s, struct session *ss, const Hubnet__SyncMsg *m) {
    return send_msg_counted(s, ss, m, 0);
}

static int send_hello(struct sync *s, struct session *ss) {
    Hubnet__Hello h = HUBNET__HELLO__INIT;
    h.version = SYNC_VERSION;
    h.hub.data = (uint8_t *)node_identity(s->node)->pk;
    h.hub.len = 32;
    h.pub_port = s->pub_port;
    Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
    m.msg_case = HUBNET__SYNC_MSG__MSG_HELLO;
    m.hello = &h;
    return send_msg(s, ss, &m);
}

struct digest_ctx {
    crypto_generichash_state st;
    uint32_t n;
    struct node *node;
};

/* Is the session's peer the author of the feed (its hub key, authenticated by CURVE)? A hub is
 * offered and served its own feed whole, unchecked signatures included (PROTOCOL.md 9.16): the
 * disagreement they could cause needs a third hub, and a hub restored from a backup must see
 * every entry of its feed that others hold before it publishes again (§6.2), or it forks it. */
static int to_author(const struct session *ss, const uint8_t author[32]) {
    return ss && ss->hub_known && memcmp(ss->hub, author, 32) == 0;
}

/* The head a feed is offered with (Summary, Heads): the last entry this hub may serve, which
 * is below the held head while signatures stored on the hash chain wait to be checked
 * (PROTOCOL.md 9.16), except to the feed's author (ss; NULL for the digest, which is the same
 * for every peer). 0: none may be served (the feed is not offered). */
static uint64_t offered_head(struct node *n, const struct session *ss, const struct feed_head *h,
                             const uint8_t **id, uint8_t buf[32]) {
    *id = h->id;
    if (to_author(ss, h->author))
        return h->seq;
    uint64_t cap = node_servable(n, h->author, buf);
    if (cap >= h->seq)
        return h->seq;
    *id = buf;
    return cap;
}

static int digest_cb(const struct feed_head *h, void *arg) {
    struct digest_ctx *d = arg;
    if (h->forked)
        return 0; /* the digest covers exactly the feeds Heads lists */
    const uint8_t *id;
    uint8_t buf[32];
    uint64_t head = offered_head(d->node, NULL, h, &id, buf);
    if (head == 0)
        return 0;
    uint8_t seq[8];
    for (int i = 0; i < 8; i++)
        seq[i] = (uint8_t)(head >> (56 - 8 * i));
    crypto_generichash_update(&d->st, h->author, 32);
    crypto_generichash_update(&d->st, seq, 8);
    crypto_generichash_update(&d->st, id, 32);
    d->n++;
    return 0;
}

static void digest_refresh(struct sync *s) {
    /* the offered heads move as deferred signatures are checked (PROTOCOL.md 9.16) */
    uint64_t gen = node_servable_generation(s->node);
    if (s->digest_valid && s->digest_gen == gen)
        return;
    s->digest_gen = gen;
    struct digest_ctx d;
    crypto_generichash_init(&d.st, NULL, 0, 32);
    d.n = 0;
    d.node = s->node;
    store_feeds(node_store(s->node), digest_cb, &d);
    crypto_generichash_final(&d.st, s->digest, 32);
    s->digest_feeds = d.n;
    s->digest_valid = 1;
}

static void send_summary(struct sync *s, struct session *ss) {
    digest_refresh(s);
    uint8_t digest[32];
    memcpy(digest, s->digest, 32);
    /* The digest offers the peer's own feed only up to its checked part: when more of it waits
     * for its signatures, a digest that cannot match makes the peer compare Heads, where it is
     * offered whole (to_author). */
    struct feed_head own;
    uint8_t before[32];
    if (ss->hub_known && store_feed_head(node_store(s->node), ss->hub, &own) == 0 &&
        !own.forked && node_servable(s->node, ss->hub, before) < own.seq)
        digest[0] ^= 0xff;
    Hubnet__Summary sm = HUBNET__SUMMARY__INIT;
    sm.digest.data = digest;
    sm.digest.len = 32;
    sm.feeds = s->digest_feeds;
    Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
    m.msg_case = HUBNET__SYNC_MSG__MSG_SUMMARY;
    m.summary = &sm;
    send_msg(s, ss, &m);
}

struct heads_ctx {
    struct sync *s;
    struct session *ss;
    Hubnet__Head heads[SYNC_HEADS_CHUNK];
    Hubnet__Head *ptrs[SYNC_HEADS_CHUNK];
    uint8_t keys[SYNC_HEADS_CHUNK][64];
    size_t n;
    int reply;
};

static void heads_flush(struct heads_ctx *hc, int last) {
    Hubnet__Heads hs = HUBNET__HEADS__INIT;
    hs.n_heads = hc->n;
    hs.heads = hc->ptrs;
    hs.reply = hc->reply;
    hs.last = last;
    Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
    m.msg_case = HUBNET__SYNC_MSG__MSG_HEADS;
    m.heads = &hs;
    send_msg_counted(hc->s, hc->ss, &m, 1);
    hc->n = 0;
}

static int heads_cb(const struct feed_head *h, void *arg) {
    struct heads_ctx *hc = arg;
    if (h->forked)
        return 0;
    const uint8_t *id;
    uint8_t buf[32];
    uint64_t head = offered_head(hc->s->node, hc->ss, h, &id, buf);
    if (head == 0)
        return 0;
    Hubnet__Head *hd = &hc->heads[hc->n];
    hubnet__head__init(hd);
    memcpy(hc->keys[hc->n], h->author, 32);
    memcpy(hc->keys[hc->n] + 32, id, 32);
    hd->author.data = hc->keys[hc->n];
    hd->author.len = 32;
    hd->id.data = hc->keys[hc->n] + 32;
    hd->id.len = 32;
    hd->seq = head;
    hc->ptrs[hc->n] = hd;
    if (++hc->n == SYNC_HEADS_CHUNK)
        heads_flush(hc, 0);
    return 0;
}

static void send_heads(struct sync *s, struct session *ss, int reply) {
    if (!heads_window_open(s, ss)) {
        held_back(ss, 1); /* the last list is still queued: the next round asks again */
        return;
    }
    struct heads_ctx *hc = malloc(sizeof *hc);
    if (!hc)
        return;
    hc->s = s;
    hc->ss = ss;
    hc->n = 0;
    hc->reply = reply;
    store_feeds(node_store(s->node), heads_cb, hc);
    heads_flush(hc, 1);
    free(hc);
}

/* ---- wants ---- */

/* The want queue is kept in author order so that lookups are a binary search: a Heads
 * exchange may name tens of thousands of feeds. */
_Static_assert(offsetof(struct want_feed, author) == 0, "wq_pos searches by the first member");

static size_t wq_pos(const struct session *ss, const uint8_t author[32], int *found) {
    return hub_key_pos(ss->wq, ss->nwq, sizeof *ss->wq, author, found); /* author comes first */
}

static struct want_feed *wq_find(struct session *ss, const uint8_t author[32]) {
    int found;
    size_t i = wq_pos(ss, author, &found);
    return found ? &ss->wq[i] : NULL;
}

static void wq_add(struct session *ss, const uint8_t author[32], uint64_t next, uint64_t target) {
    int found;
    size_t i = wq_pos(ss, author, &found);
    if (found) {
        if (target > ss->wq[i].target)
            ss->wq[i].target = target;
        return;
    }
    if (ss->nwq == SYNC_MAX_WANT_FEEDS)
        return; /* the next round picks up what did not fit */
    if (ss->nwq == ss->capwq) {
        size_t cap = ss->capwq ? ss->capwq * 2 : 64;
        struct want_feed *n = realloc(ss->wq, cap * sizeof *n);
        if (!n)
            return;
        ss->wq = n;
        ss->capwq = cap;
    }
    memmove(&ss->wq[i + 1], &ss->wq[i], (ss->nwq - i) * sizeof *ss->wq);
    ss->nwq++;
    struct want_feed *w = &ss->wq[i];
    memcpy(w->author, author, 32);
    w->next = next;
    w->target = target;
    w->inflight = 0;
}

static void wq_remove(struct session *ss, struct want_feed *w) {
    size_t i = (size_t)(w - ss->wq);
    memmove(&ss->wq[i], &ss->wq[i + 1], (ss->nwq - i - 1) * sizeof *ss->wq);
    ss->nwq--;
}

static void want_fill(struct sync *s, struct session *ss) {
    unsigned window = s->cfg->window ? s->cfg->window : 4;
    if (window > SYNC_MAX_WINDOW)
        window = SYNC_MAX_WINDOW;
    unsigned batch = s->cfg->batch_entries ? s->cfg->batch_entries : 512;
    size_t tried = 0;
    while (ss->ninflight < window && ss->nwq && tried < ss->nwq) {
        if (ss->rr >= ss->nwq)
            ss->rr = 0;
        struct want_feed *w = &ss->wq[ss->rr++];
        tried++;
        if (w->next > w->target)
            continue;
        uint64_t count = w->target - w->next + 1;
        if (count > batch)
            count = batch;
        Hubnet__Want wt = HUBNET__WANT__INIT;
        wt.author.data = w->author;
        wt.author.len = 32;
        wt.from_seq = w->next;
        wt.count = (uint32_t)count;
        Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
        m.msg_case = HUBNET__SYNC_MSG__MSG_WANT;
        m.want = &wt;
        if (send_msg(s, ss, &m) != 0) {
            log_debug("sync", "want not sent: %s", zmq_strerror(zmq_errno()));
            break; /* the queue to the peer is full: ask when the timeouts come round */
        }
        struct inflight *f = &ss->inflight[ss->ninflight++];
        memcpy(f->author, w->author, 32);
        f->from = w->next;
        f->sent_ms = hub_mono_ms();
        w->next += count;
        w->inflight++;
        tried = 0;
    }
}

/* ---- sessions ---- */

static struct session *sess_new(struct sync *s, enum sess_dir dir) {
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++)
        if (!s->sess[i].used) {
            struct session *ss = &s->sess[i];
            uint32_t gen = ss->gen + 1;
            memset(ss, 0, sizeof *ss);
            ss->gen = gen;
            ss->used = 1;
            ss->dir = dir;
            ss->state = PEER_CONNECTING;
            ss->created_ms = hub_mono_ms();
            return ss;
        }
    return NULL;
}

static void sess_free(struct session *ss) {
    if (ss->dealer)
        zmq_close(ss->dealer);
    if (ss->sub)
        zmq_close(ss->sub);
    for (size_t i = 0; i < ss->ntheir; i++)
        hubnet__head__free_unpacked(ss->their[i], NULL);
    free(ss->their);
    free(ss->wq);
    uint32_t gen = ss->gen; /* kept: entries_flush tells a reused slot by it */
    memset(ss, 0, sizeof *ss);
    ss->gen = gen;
}

static struct session *sess_out_by_hub(struct sync *s, const uint8_t hub[32]) {
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++)
        if (s->sess[i].used && s->sess[i].dir == SESS_OUT && memcmp(s->sess[i].hub, hub, 32) == 0)
            return &s->sess[i];
    return NULL;
}

/* (Re)open the DEALER of an outbound session. */
static int sess_connect(struct sync *s, struct session *ss) {
    if (ss->dealer)
        zmq_close(ss->dealer);
    ss->dealer = curve_client(s, ZMQ_DEALER, ss->hub);
    if (!ss->dealer)
        return HUB_E_FIELD;
    set_int(ss->dealer, ZMQ_IMMEDIATE, 1); /* do not queue for a peer that is not connected */
    if (zmq_connect(ss->dealer, ss->endpoint) != 0) {
        log_error("sync", "cannot dial %s: %s", ss->endpoint, zmq_strerror(zmq_errno()));
        zmq_close(ss->dealer);
        ss->dealer = NULL;
        return HUB_E_CONFIG;
    }
    ss->next_round_ms = 0;
    ss->retry_ms = SYNC_RETRY_MIN_MS;
    return HUB_OK;
}

static int sess_dial(struct sync *s, const char *endpoint, const uint8_t hub[32]) {
    struct session *ss = sess_new(s, SESS_OUT);
    if (!ss)
        return HUB_E_BUSY;
    memcpy(ss->hub, hub, 32);
    ss->hub_known = 1;
    snprintf(ss->endpoint, sizeof ss->endpoint, "%s", endpoint);
    ss->redial_backoff_ms = SYNC_REDIAL_MIN_MS;
    ss->redial_at_ms = hub_mono_ms() + SYNC_REDIAL_MIN_MS;
    int rc = sess_connect(s, ss);
    if (rc != 0)
        sess_free(ss);
    return rc;
}

/* libzmq retries a refused TCP connection by itself, but not a handshake the peer's ZAP
 * refused: a peer that did not trust us then (not yet endorsed, config fixed later) would
 * never be asked again. So an outbound session that is not up is re-dialled, with back-off. */
static void sess_maybe_redial(struct sync *s, struct session *ss, uint64_t now) {
    if (ss->dir != SESS_OUT || ss->state == PEER_UP || now < ss->redial_at_ms)
        return;
    if (sess_connect(s, ss) != 0)
        return;
    ss->redial_backoff_ms *= 2;
    if (ss->redial_backoff_ms > SYNC_REDIAL_MAX_MS)
        ss->redial_backoff_ms = SYNC_REDIAL_MAX_MS;
    ss->redial_at_ms = now + ss->redial_backoff_ms;
}

/* Live push from the peer: SUB on its PUB, host from its endpoint, port from its Hello. */
static void sess_subscribe(struct sync *s, struct session *ss, const char *host, uint32_t port) {
    if (ss->sub || !port || !ss->hub_known)
        return;
    char ep[300];
    int w = strchr(host, ':') ? snprintf(ep, sizeof ep, "tcp://[%s]:%u", host, port)
                              : snprintf(ep, sizeof ep, "tcp://%s:%u", host, port);
    if (w < 0 || (size_t)w >= sizeof ep)
        return;
    ss->sub = curve_client(s, ZMQ_SUB, ss->hub);
    if (!ss->sub)
        return;
    zmq_setsockopt(ss->sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(ss->sub, ep) != 0) {
        log_warnx("sync", "cannot subscribe to %s: %s", ep, zmq_strerror(zmq_errno()));
        zmq_close(ss->sub);
        ss->sub = NULL;
    }
}

static void sess_down(struct session *ss) {
    if (ss->state == PEER_UP)
        ss->flaps++;
    ss->state = PEER_DOWN;
    ss->up_since_wall = 0;
}

static void sess_heard(struct session *ss) {
    ss->last_heard_ms = hub_mono_ms();
    ss->last_heard_wall = hub_now_ms();
    if (ss->state != PEER_UP) {
        char k[9];
        short_hex(ss->hub, k);
        if (ss->state == PEER_DOWN)
            log_info("sync", "peer %s (%s) is up again", k, ss->endpoint);
        else
            log_info("sync", "peer %s (%s) connected", k, ss->endpoint);
        ss->state = PEER_UP;
        ss->up_since_wall = ss->last_heard_wall;
    }
    ss->redial_backoff_ms = SYNC_REDIAL_MIN_MS;
}

static void count_rejects(struct session *ss, const int *results, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rc = results[i];
        if (rc == HUB_OK || rc == HUB_E_DUPLICATE || rc == HUB_E_GAP || rc == HUB_E_POLICY)
            continue;
        ss->rejected++;
        ss->rej_window_total++;
        if (-rc < (int)HUB_ARRAY_LEN(ss->rej_window))
            ss->rej_window[-rc]++;
    }
}

/* Entries from a peer that were new, and those that were held already (redundant copies). */
static void count_traffic(struct sync *s, struct session *ss, const int *results, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (results[i] == HUB_OK) {
            s->traffic.entries_accepted++;
        } else if (results[i] == HUB_E_DUPLICATE) {
            ss->duplicates++;
            s->traffic.entries_duplicate++;
        }
    }
}

/* ---- forks and the hub's own feed (PROTOCOL.md §6.2, §9.7, §9.8) ----
 * Kept apart from the replication logic above and below: small hooks call these. A fork is
 * only recorded where a hub holds one entry at a seq and receives another; an entry whose prev
 * contradicts our chain (E_PREV) or a head whose id differs from ours at the same seq shows
 * that another history exists, so the entries below it are fetched back from that peer until
 * the two meet. A hub that records a fork pushes both entries to its peers, so that every hub
 * holding either branch sees the other. */

#define SYNC_FORK_FETCHBACK 64            /* entries fetched back up to a contradiction */
#define SYNC_FORK_BACKS_MAX 16            /* fetch-backs per session between two Heads lists */
#define SYNC_OWN_RECOVER_MAX (1ull << 20) /* own entries asked per round at start-up */

static int fw_is_own(struct sync *s, const uint8_t author[32]) {
    return memcmp(author, node_identity(s->node)->pk, 32) == 0;
}

/* Ask the peer for the entries of a feed from upto - SYNC_FORK_FETCHBACK + 1 to upto: those we
 * hold come back E_DUPLICATE up to where the histories part, and the first other one is E_FORK
 * (the store keeps both as evidence). Bounded per session and per round. */
static void fw_fetch_back(struct sync *s, struct session *ss, const uint8_t author[32],
                          uint64_t upto, const char *why, int in_compare) {
    if (upto == 0 || !ss->hello_seen || ss->fw_backs >= SYNC_FORK_BACKS_MAX)
        return;
    struct feed_head h; /* (in compare_cb the feed is known not to be frozen, and the store
                         * cannot be read inside store_feeds) */
    if (!in_compare && store_feed_head(node_store(s->node), author, &h) == 0 && h.forked)
        return; /* recorded already */
    ss->fw_backs++;
    uint64_t from = upto > SYNC_FORK_FETCHBACK ? upto - SYNC_FORK_FETCHBACK + 1 : 1;
    struct want_feed *w = wq_find(ss, author);
    if (w) {
        if (from < w->next)
            w->next = from;
        if (w->target < upto)
            w->target = upto;
    } else {
        wq_add(ss, author, from, upto);
    }
    char a[9], k[9];
    hub_short(author, a);
    hub_short(ss->hub, k);
    log_info("sync", "feed %s: %s; fetching seq %llu..%llu back from peer %s", a, why,
             (unsigned long long)from, (unsigned long long)upto, k);
}

/* Our own feed in a Heads comparison (have: our head; th: theirs, or NULL). At start-up we
 * fetch what a peer holds beyond our head (a restored backup takes its feed back). After that
 * nobody can hold more of our feed than we do, nor another entry at our head, unless another
 * hub signs with our key: a claim of that is not believed, and not counted as behind, but the
 * entries at and just after our head are fetched (two at most) to see whether it is so. */
static int claim_plausible(struct session *ss, uint64_t claimed);

static void fw_want_own(struct sync *s, struct session *ss, const struct feed_head *h,
                        const Hubnet__Head *th) {
    uint64_t have = h ? h->seq : 0, theirs = th ? th->seq : 0;
    if (theirs > have && !claim_plausible(ss, theirs)) /* 2^63 "of our own feed": ignored */
        return;
    int differs = h && th && theirs == have && have > 0 && th->id.len == 32 &&
                  memcmp(th->id.data, h->id, 32) != 0;
    if (theirs > have && node_self_recovering(s->node)) {
        uint64_t target =
            theirs - have > SYNC_OWN_RECOVER_MAX ? have + SYNC_OWN_RECOVER_MAX : theirs;
        wq_add(ss, node_identity(s->node)->pk, have + 1, target);
        ss->fw_own_start = 1;
    } else if (differs) {
        fw_fetch_back(s, ss, h->author, have,
                      "a peer holds another entry of our own feed at our head", 1);
    } else if (theirs > have && have > 0 && !wq_find(ss, node_identity(s->node)->pk)) {
        wq_add(ss, node_identity(s->node)->pk, have, have + 1);
    }
}

static void fw_relay_fork(struct sync *s, const struct entry *e, int again);

/* A peer offers a feed we hold frozen: it has not seen the fork yet (a pushed entry may be lost:
 * PUB/SUB drops what a subscriber that is still connecting would get). Push the evidence again. */
static void fw_push_again(struct sync *s, const uint8_t author[32]) {
    uint64_t seq;
    uint8_t *other;
    size_t len;
    struct entry e;
    if (store_fork_get(node_store(s->node), author, &seq, &other, &len) != 0)
        return;
    if (entry_decode(other, len, &e) == 0 && e.seq == seq)
        fw_relay_fork(s, &e, 1);
    free(other);
}

/* After a Heads comparison (the store's read transaction is over): the pushes it asked for. */
static void fw_heads_done(struct sync *s, struct session *ss) {
    for (unsigned i = 0; i < ss->fw_pushes; i++)
        fw_push_again(s, ss->fw_again[i]);
    ss->fw_pushes = 0;
}

/* compare_cb's hook for a feed we hold. 1: handled here, skip the usual rule. */
static int fw_compare(struct sync *s, struct session *ss, const struct feed_head *h,
                      const Hubnet__Head *th) {
    if (h->forked) { /* noted: the store cannot be read again inside store_feeds */
        if (th && ss->fw_pushes < SYNC_FORK_PUSHES_MAX)
            memcpy(ss->fw_again[ss->fw_pushes++], h->author, 32);
        return 1;
    }
    if (fw_is_own(s, h->author)) {
        fw_want_own(s, ss, h, th);
        if (h->seq > (th ? th->seq : 0)) /* the peer is behind on our feed: that is counted */
            ss->behind_them += (int64_t)(h->seq - (th ? th->seq : 0));
        return 1;
    }
    if (th && th->seq == h->seq && h->seq > 0 && th->id.len == 32 &&
        memcmp(th->id.data, h->id, 32) != 0) {
        fw_fetch_back(s, ss, h->author, h->seq, "the peer's head differs from ours at the same seq",
                      1);
        return 1;
    }
    return 0;
}

/* Start-up: a round with this peer is complete once our own feed was compared (equal digests,
 * or a Heads list) and nothing more of it is being fetched from the peer. */
static void fw_round_check(struct sync *s, struct session *ss) {
    int fetching = wq_find(ss, node_identity(s->node)->pk) != NULL;
    if (!fetching)
        ss->fw_own_start = 0; /* the start-up fetch from this peer is over */
    if (!ss->fw_compared || !ss->hub_known || (node_self_recovering(s->node) && fetching))
        return;
    ss->fw_compared = 0;
    node_self_round(s->node, ss->hub);
}

/* Every live push goes out here (counted once, whatever the number of subscribers). */
static void pub_send(struct sync *s, const uint8_t *wire, size_t len) {
    if (zmq_send(s->pub, wire, len, ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() != EAGAIN)
            log_debug("sync", "publish: %s", zmq_strerror(zmq_errno()));
        return;
    }
    s->traffic.pushes_sent++;
    s->traffic.push_bytes_sent += len;
}

static int fw_send_held(const uint8_t *wire, size_t len, void *arg) {
    pub_send(arg, wire, len);
    return 0;
}

/* A fork just recorded here: push both entries (the held one and the other) to our peers. A
 * peer holding either branch records the fork too and pushes them on; one that recorded it
 * already finds E_FORKED_FEED or E_DUPLICATE and stops there. */
static void fw_relay_fork(struct sync *s, const struct entry *e, int again) {
    s->digest_valid = 0; /* the frozen feed leaves the digest (no entry was accepted) */
    pub_send(s, e->wire, e->wire_len);
    uint8_t before[32];
    if (e->seq <= node_servable(s->node, e->author, before)) /* its signature was checked */
        (void)store_feed_range(node_store(s->node), e->author, e->seq, 1, SYNC_ENTRIES_MAX_BYTES,
                               fw_send_held, s);
    char a[9];
    hub_short(e->author, a);
    if (again)
        log_debug("sync", "fork of feed %s at seq %llu: evidence pushed again (a peer offers it)",
                  a, (unsigned long long)e->seq);
    else
        log_info("sync", "fork of feed %s at seq %llu: both entries pushed to peers as evidence", a,
                 (unsigned long long)e->seq);
}

struct fw_own {
    int any, result;
    uint64_t lo, hi;
};

/* One entry of a stored batch from peer ss, with its result. */
static void fw_one(struct sync *s, struct session *ss, const uint8_t *wire, size_t len, int rc,
                   struct fw_own *own) {
    struct entry e;
    if (entry_decode(wire, len, &e) != 0)
        return;
    if (fw_is_own(s, e.author)) {
        if (!own->any || e.seq < own->lo)
            own->lo = e.seq;
        if (!own->any || e.seq > own->hi)
            own->hi = e.seq;
        if (!own->any || own->result == HUB_OK || rc == HUB_E_FORK || rc == HUB_E_PREV)
            own->result = rc;
        own->any = 1;
    }
    if (rc == HUB_E_PREV && e.seq > 1) /* E_PREV: seq is our head + 1 */
        fw_fetch_back(s, ss, e.author, e.seq - 1, "an entry's prev contradicts our chain", 0);
    else if (rc == HUB_E_FORK)
        fw_relay_fork(s, &e, 0);
}

/* Results worth a look. Accepted entries are the bulk of a catch-up or a relay: only those whose
 * bytes contain our key (the author field of the header) are decoded. */
static int fw_interesting(struct sync *s, int rc, const uint8_t *wire, size_t len) {
    if (rc == HUB_OK)
        return memmem(wire, len, node_identity(s->node)->pk, 32) != NULL;
    return rc == HUB_E_GAP || rc == HUB_E_PREV || rc == HUB_E_FORK;
}

static void fw_own_done(struct sync *s, struct session *ss, const struct fw_own *own,
                        int asked_at_start) {
    if (own->any && ss->hub_known)
        node_self_foreign(s->node, ss->hub, own->lo, own->hi, own->result, asked_at_start);
}

/* entries_finish's hook: an Entries answer of n entries was stored with results[]. */
static void fw_entries(struct sync *s, struct session *ss, const Hubnet__Entries *es, size_t n,
                       const int *results) {
    int own_answer = es->author.len == 32 && fw_is_own(s, es->author.data);
    struct fw_own own = {0};
    for (size_t i = 0; i < n && i < es->n_entries; i++)
        if (fw_interesting(s, results[i], es->entries[i].data, es->entries[i].len))
            fw_one(s, ss, es->entries[i].data, es->entries[i].len, results[i], &own);
    fw_own_done(s, ss, &own, own_answer && ss->fw_own_start);
    fw_round_check(s, ss);
}

/* push_booked's hook: live pushes from ss, stored with results[]. */
static void fw_pushed(struct sync *s, struct session *ss, const uint8_t *const *wires,
                      const size_t *lens, const int *results, size_t n) {
    struct fw_own own = {0};
    for (size_t i = 0; i < n; i++)
        if (fw_interesting(s, results[i], wires[i], lens[i]))
            fw_one(s, ss, wires[i], lens[i], results[i], &own);
    fw_own_done(s, ss, &own, 0);
}

/* status_hook's part: the own feed's state (CONTROL.md, status "own_feed"). */
static void fw_status(struct sync *s, json_t *st) {
    struct node_self_info si;
    node_self_info(s->node, &si);
    static const char *const names[] = {"recovering", "ready", "key_in_use"};
    json_t *o = json_pack("{s:s}", "state", names[si.state]);
    if (!o)
        return;
    if (si.state == NODE_SELF_RECOVERING)
        json_object_set_new(o, "wait_left_ms", json_integer((json_int_t)si.wait_left_ms));
    char hex[HUB_HEX_LEN + 1];
    if (si.recovered) {
        hub_hex(si.rec_peer, 32, hex);
        json_object_set_new(o, "recovered",
                            json_pack("{s:I, s:I, s:s}", "from", (json_int_t)si.rec_lo, "to",
                                      (json_int_t)si.rec_hi, "peer", hex));
    }
    if (si.key_in_use) {
        hub_hex(si.use_peer, 32, hex);
        json_object_set_new(o, "key_in_use",
                            json_pack("{s:I, s:I, s:s, s:I}", "from", (json_int_t)si.use_lo, "to",
                                      (json_int_t)si.use_hi, "peer", hex, "detected",
                                      (json_int_t)si.use_ms));
    }
    json_object_set_new(st, "own_feed", o);
}

/* ---- receiving ---- */

static void on_hello(struct sync *s, struct session *ss, Hubnet__Hello *h, const char *peer_addr) {
    char k[9];
    if (h->version != SYNC_VERSION || h->hub.len != 32) {
        ss->rejected++;
        ss->rej_window[-HUB_E_VERSION]++;
        ss->rej_window_total++;
        return;
    }
    if (ss->dir == SESS_OUT) {
        if (memcmp(h->hub.data, ss->hub, 32) != 0)
            return; /* cannot happen under CURVE: the server key names the hub */
    } else {
        /* The hub key must name the transport key the connection authenticated with; when
         * that key belongs to a trusted hub, it must be that hub (the X25519 conversion
         * ignores the sign, so two Ed25519 keys map to one transport key). */
        uint8_t curve[32], trusted[32];
        int known = policy_trusted_curve(s->policy, ss->curve, trusted);
        if (identity_curve_pk(h->hub.data, curve) != 0 || memcmp(curve, ss->curve, 32) != 0 ||
            (known && memcmp(trusted, h->hub.data, 32) != 0)) {
            hub_short(h->hub.data, k);
            log_warnx("sync", "hello claims hub %s but the connection's key differs; ignored", k);
            ss->rejected++;
            ss->rej_window[-HUB_E_SIGNATURE]++;
            ss->rej_window_total++;
            return;
        }
        if (!ss->hub_known) {
            /* The hub reconnected (new routing id): its old inbound session is stale. */
            for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++) {
                struct session *o = &s->sess[i];
                if (o != ss && o->used && o->dir == SESS_IN && o->hub_known &&
                    memcmp(o->hub, h->hub.data, 32) == 0)
                    sess_free(o);
            }
            memcpy(ss->hub, h->hub.data, 32);
            ss->hub_known = 1;
            snprintf(ss->endpoint, sizeof ss->endpoint, "in:%s", peer_addr ? peer_addr : "?");
        }
        send_hello(s, ss);
    }
    ss->hello_seen = 1;
    sess_heard(ss);
    /* Live push both ways: subscribe unless an outbound session to this hub already does. */
    struct session *out = ss->dir == SESS_IN ? sess_out_by_hub(s, ss->hub) : NULL;
    if (ss->dir == SESS_OUT) {
        char host[256];
        const char *p = strstr(ss->endpoint, "://");
        snprintf(host, sizeof host, "%s", p ? p + 3 : ss->endpoint);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = 0;
        if (host[0] == '[') {
            memmove(host, host + 1, strlen(host));
            host[strcspn(host, "]")] = 0;
        }
        sess_subscribe(s, ss, host, h->pub_port);
    } else if (!out && peer_addr) {
        sess_subscribe(s, ss, peer_addr, h->pub_port);
    }
}

static void on_summary(struct sync *s, struct session *ss, Hubnet__Summary *sm) {
    digest_refresh(s);
    if (sm->digest.len == 32 && memcmp(sm->digest.data, s->digest, 32) == 0) {
        ss->behind_us = ss->behind_them = 0;
        ss->fw_compared = 1; /* equal digests: equal heads, our own feed's too */
        fw_round_check(s, ss);
        if (ss->dir == SESS_IN) {
            if (window_open(s, ss))
                send_summary(s, ss);
            else
                held_back(ss, 1);
        }
        return;
    }
    send_heads(s, ss, 0);
}

static int head_cmp(const void *a, const void *b) {
    const Hubnet__Head *x = *(Hubnet__Head *const *)a, *y = *(Hubnet__Head *const *)b;
    return memcmp(x->author.data, y->author.data, 32);
}

/* behind_us counts entries a peer claims we lack; its seq numbers are only claims, so the sum
 * saturates instead of overflowing. */
static void behind_add(int64_t *v, uint64_t n) {
    *v = n > (uint64_t)(INT64_MAX - *v) ? INT64_MAX : *v + (int64_t)n;
}

/* ... and lowers it when the peer fails to deliver what it claimed. */
static void behind_sub(struct session *ss, uint64_t n) {
    ss->behind_us = n >= (uint64_t)ss->behind_us ? 0 : ss->behind_us - (int64_t)n;
}

/* A peer's Heads are claims. One above SYNC_MAX_CLAIM_SEQ is absurd: it is neither fetched nor
 * counted as behind (whatever the feed, this hub's own included), and counted as rejected
 * (E_RANGE). A plausible claim is fetched; what the peer then fails to deliver (an empty or a
 * junk answer) is taken off behind_us again (entries_finish). Returns 1 if the claim counts. */
static int claim_plausible(struct session *ss, uint64_t claimed) {
    if (claimed <= SYNC_MAX_CLAIM_SEQ)
        return 1;
    ss->rejected++;
    ss->rej_window[-HUB_E_RANGE]++;
    ss->rej_window_total++;
    return 0;
}

struct cmp_ctx {
    struct sync *s;
    struct session *ss;
    size_t i; /* merge position in ss->their */
};

/* A feed whose deferred signature check failed at seq k is served only up to k - 1 here
 * (PROTOCOL.md 9.16 rule 4). The id of entry k is authenticated (the chain), its signature bytes
 * are not: every peer that offers the feed up to k or further is asked for entry k again, one
 * Want from k, each Heads list while the feed stays stopped (bounded per session and list). A
 * correctly signed copy repairs the feed (node.c, the store); a bad one changes nothing. */
static void repair_want(struct sync *s, struct session *ss, const struct feed_head *h,
                        const Hubnet__Head *th) {
    if (!th || h->forked || ss->repairs >= SYNC_REPAIR_MAX)
        return;
    uint64_t k = sigcheck_stopped_at(node_sigcheck(s->node), h->author);
    if (k == 0 || k > h->seq || th->seq < k)
        return;
    ss->repairs++;
    struct want_feed *w = wq_find(ss, h->author);
    if (w) {
        if (k < w->next)
            w->next = k;
    } else {
        wq_add(ss, h->author, k, k);
    }
    char a[9], p[9];
    hub_short(h->author, a);
    hub_short(ss->hub, p);
    log_debug("sync", "feed %s: stopped at seq %llu (signature); asking peer %s for it again", a,
              (unsigned long long)k, p);
}

/* Merge-join of our feeds with their heads (both in author order). */
static int compare_cb(const struct feed_head *h, void *arg) {
    struct cmp_ctx *c = arg;
    struct session *ss = c->ss;
    while (c->i < ss->ntheir && memcmp(ss->their[c->i]->author.data, h->author, 32) < 0) {
        Hubnet__Head *t = ss->their[c->i++];
        if (fw_is_own(c->s, t->author.data))
            fw_want_own(c->s, ss, NULL, t);
        else if (policy_admits_feed(c->s->policy, t->author.data) &&
                 claim_plausible(ss, t->seq)) { /* a feed we lack entirely */
            behind_add(&ss->behind_us, t->seq);
            wq_add(ss, t->author.data, 1, t->seq);
        }
    }
    uint64_t theirs = 0;
    const Hubnet__Head *th = NULL;
    if (c->i < ss->ntheir && memcmp(ss->their[c->i]->author.data, h->author, 32) == 0)
        theirs = (th = ss->their[c->i++])->seq;
    repair_want(c->s, ss, h, th);
    if (fw_compare(c->s, ss, h, th))
        return 0;
    if (theirs > h->seq && claim_plausible(ss, theirs)) {
        behind_add(&ss->behind_us, theirs - h->seq);
        wq_add(ss, h->author, h->seq + 1, theirs);
    } else if (h->seq > theirs) {
        ss->behind_them += (int64_t)(h->seq - theirs);
    }
    return 0;
}

static void on_heads(struct sync *s, struct session *ss, Hubnet__SyncMsg *m) {
    Hubnet__Heads *hs = m->heads;
    for (size_t i = 0; i < hs->n_heads; i++) {
        Hubnet__Head *h = hs->heads[i];
        if (h->author.len != 32 || ss->ntheir >= SYNC_MAX_WANT_FEEDS)
            continue;
        if (ss->ntheir == ss->captheir) {
            size_t cap = ss->captheir ? ss->captheir * 2 : 256;
            Hubnet__Head **n = realloc(ss->their, cap * sizeof *n);
            if (!n)
                break;
            ss->their = n;
            ss->captheir = cap;
        }
        ss->their[ss->ntheir++] = h;
        hs->heads[i] = NULL; /* ownership moves to the session */
    }
    if (!hs->last)
        return;
    if (ss->ntheir > 1)
        qsort(ss->their, ss->ntheir, sizeof *ss->their, head_cmp);
    ss->behind_us = ss->behind_them = 0;
    ss->fw_backs = ss->fw_pushes = ss->repairs = 0;
    struct cmp_ctx c = {s, ss, 0};
    store_feeds(node_store(s->node), compare_cb, &c);
    for (; c.i < ss->ntheir; c.i++) {
        Hubnet__Head *t = ss->their[c.i];
        if (fw_is_own(s, t->author.data)) {
            fw_want_own(s, ss, NULL, t);
        } else if (policy_admits_feed(s->policy, t->author.data) && claim_plausible(ss, t->seq)) {
            behind_add(&ss->behind_us, t->seq);
            wq_add(ss, t->author.data, 1, t->seq);
        }
    }
    for (size_t i = 0; i < ss->ntheir; i++)
        hubnet__head__free_unpacked(ss->their[i], NULL);
    ss->ntheir = 0;
    if (!hs->reply)
        send_heads(s, ss, 1);
    log_debug("sync", "heads compared: %zu feed(s) to fetch, %lld entries behind, %zu in flight",
              ss->nwq, (long long)ss->behind_us, ss->ninflight);
    want_fill(s, ss);
    fw_heads_done(s, ss);
    ss->fw_compared = 1;
    fw_round_check(s, ss);
}

struct serve_ctx {
    ProtobufCBinaryData items[SYNC_MAX_BATCH];
    size_t n;
};

static int serve_cb(const uint8_t *wire, size_t len, void *arg) {
    struct serve_ctx *c = arg;
    uint8_t *copy = malloc(len);
    if (!copy)
        return 1;
    memcpy(copy, wire, len);
    c->items[c->n].data = copy;
    c->items[c->n].len = len;
    c->n++;
    return 0;
}

static void want_answer(struct sync *s, struct session *ss, const uint8_t author[32],
                        uint64_t from_seq, uint32_t want_count) {
    ProtobufCBinaryData author_bin = {32, (uint8_t *)author};
    uint64_t t0 = hub_mono_us();
    size_t count = want_count;
    unsigned batch = s->cfg->batch_entries ? s->cfg->batch_entries : 512;
    if (count > batch)
        count = batch;
    if (count > SYNC_MAX_BATCH)
        count = SYNC_MAX_BATCH;
    struct serve_ctx *c = malloc(sizeof *c);
    if (!c)
        return;
    c->n = 0;
    int rc = 0;
    /* only entries whose signatures were checked (PROTOCOL.md 9.16) */
    uint8_t before[32];
    uint64_t upto = to_author(ss, author) ? UINT64_MAX : node_servable(s->node, author, before);
    if (from_seq > upto)
        count = 0;
    else if (upto - from_seq < count)
        count = (size_t)(upto - from_seq + 1);
    if (count && policy_admits_feed(s->policy, author))
        rc = store_feed_range(node_store(s->node), author, from_seq, count, SYNC_ENTRIES_MAX_BYTES,
                              serve_cb, c);
    (void)rc;
    ProtobufCBinaryData *ptrs = c->items;
    Hubnet__Entries es = HUBNET__ENTRIES__INIT;
    es.author = author_bin;
    es.from_seq = from_seq;
    es.n_entries = c->n;
    es.entries = ptrs;
    Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
    m.msg_case = HUBNET__SYNC_MSG__MSG_ENTRIES;
    m.entries = &es;
    send_msg(s, ss, &m);
    ss->answer_sec_bytes += hubnet__sync_msg__get_packed_size(&m);
    ss->sent += c->n;
    ss->behind_them = ss->behind_them > (int64_t)c->n ? ss->behind_them - (int64_t)c->n : 0;
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].data);
    free(c);
    s->turn_answer_us += hub_mono_us() - t0; /* SYNC_ANSWER_TURN_US */
}

/* Answers the Wants that waited, in the order they came, while the window and the turn's
 * answering time let it. */
static void want_drain(struct sync *s, struct session *ss) {
    size_t done = 0;
    while (done < ss->ndw && window_open(s, ss) && answer_rate_ok(ss) && answer_time_left(s)) {
        struct deferred_want *d = &ss->dw[done++];
        want_answer(s, ss, d->author, d->from, d->count);
    }
    if (done) {
        memmove(&ss->dw[0], &ss->dw[done], (ss->ndw - done) * sizeof ss->dw[0]);
        ss->ndw -= done;
    }
}

/* A Want is answered at once while the session's answer window (and the total) has room and
 * none waits before it; else it waits, unless the same range already waits or SYNC_DEFER_WANTS
 * do: then it is refused (a conforming peer asks again after its Want timeout). */
static void on_want(struct sync *s, struct session *ss, Hubnet__Want *w) {
    if (w->author.len != 32 || w->from_seq == 0)
        return;
    if (ss->ndw == 0 && window_open(s, ss) && answer_rate_ok(ss) && answer_time_left(s)) {
        want_answer(s, ss, w->author.data, w->from_seq, w->count);
        return;
    }
    for (size_t i = 0; i < ss->ndw; i++)
        if (ss->dw[i].from == w->from_seq && memcmp(ss->dw[i].author, w->author.data, 32) == 0) {
            held_back(ss, 1);
            return;
        }
    if (ss->ndw == SYNC_DEFER_WANTS) {
        held_back(ss, 1);
        return;
    }
    struct deferred_want *d = &ss->dw[ss->ndw++];
    memcpy(d->author, w->author.data, 32);
    d->from = w->from_seq;
    d->count = w->count;
    held_back(ss, 0);
}

/* From sync_tick, at the start of a loop turn: the waiting Wants of every session, within the
 * turn's answering time (an answer of 4,096 entries takes milliseconds, and a window's worth at
 * once kept queries waiting tens of them), the sessions taken in turn. Returns the ms until it
 * wants to run again: 0 while an open window has Wants waiting, SYNC_DEFER_POLL_MS while only
 * full ones do (libzmq does not say when a window opens), -1 if none waits. */
static long wants_drain_all(struct sync *s) {
    long next = -1;
    s->turn_answer_us = 0;
    for (size_t k = 0; k < SYNC_MAX_SESSIONS; k++) {
        size_t i = (s->drain_rr + k) % SYNC_MAX_SESSIONS;
        struct session *ss = &s->sess[i];
        if (!ss->used || !ss->ndw)
            continue;
        want_drain(s, ss);
        if (ss->ndw) {
            long want = window_open(s, ss) && answer_rate_ok(ss) ? 0 : SYNC_DEFER_POLL_MS;
            if (next < 0 || want < next)
                next = want;
        }
        if (!answer_time_left(s)) {
            s->drain_rr = (i + 1) % SYNC_MAX_SESSIONS; /* the next turn starts after it */
            return 0;
        }
    }
    return next;
}

/* The first half of an Entries answer: is it one we asked for? Returns how many entries to
 * ingest (0: refused, already counted). */
static void entries_flush(struct sync *s);

/* Entries received and not yet stored and booked: stashed, being checked, or being stored. */
static int entries_outstanding(const struct sync *s) {
    return s->defer.n || s->npending || s->writing_busy || s->booking_busy;
}

static size_t entries_accept(struct sync *s, struct session *ss, Hubnet__Entries *es) {
    if (es->author.len != 32)
        return 0;
    /* Only answers to our Wants are processed: checking signatures costs CPU, and a peer must
     * not be able to make us spend it on batches nobody asked for. */
    int matched = 0;
    for (size_t i = 0; i < ss->ninflight; i++)
        if (memcmp(ss->inflight[i].author, es->author.data, 32) == 0 &&
            ss->inflight[i].from == es->from_seq) {
            ss->inflight[i] = ss->inflight[--ss->ninflight];
            matched = 1;
            break;
        }
    if (!matched && entries_outstanding(s))
        entries_flush(s); /* decide on the state that the answers before this one leave */
    struct want_feed *w = wq_find(ss, es->author.data);
    /* A late answer to a Want that timed out is still useful: it is a range we asked for. */
    int late = !matched && w && es->from_seq < w->next;
    if (!matched && !late) {
        ss->rejected++;
        ss->rej_window[-HUB_E_BAD_REQUEST]++;
        ss->rej_window_total++;
        return 0;
    }
    if (matched && w && w->inflight > 0)
        w->inflight--;
    size_t n = es->n_entries;
    if (n > SYNC_MAX_BATCH) {
        /* More than any Want asks for: refuse the batch before node_ingest allocates its
         * per-entry state (about 2 KiB per entry, for 2 bytes of message each). */
        ss->rejected++;
        ss->rej_window[-HUB_E_TOO_LARGE]++;
        ss->rej_window_total++;
        return 0;
    }
    return n;
}

/* The second half, once its entries went through node_ingest (n of them, results[]). */
static void entries_finish(struct sync *s, struct session *ss, Hubnet__Entries *es, size_t n,
                           const int *results) {
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++)
        accepted += results[i] == HUB_OK;
    ss->received += accepted;
    ss->behind_us = ss->behind_us > (int64_t)accepted ? ss->behind_us - (int64_t)accepted : 0;
    count_rejects(ss, results, n);
    count_traffic(s, ss, results, n);
    struct want_feed *w = es->author.len == 32 ? wq_find(ss, es->author.data) : NULL;
    if (w) {
        struct feed_head h;
        int rc = store_feed_head(node_store(s->node), es->author.data, &h);
        uint64_t have = rc == 0 ? h.seq : 0;
        if (n == 0 && es->from_seq > 0 && w->target >= es->from_seq) {
            behind_sub(ss, w->target - (es->from_seq - 1)); /* claimed, not delivered */
            w->target = es->from_seq - 1; /* the peer holds nothing from there on */
        }
        if (have >= w->target || (rc == 0 && h.forked)) {
            if (w->inflight == 0)
                wq_remove(ss, w);
        } else if (w->inflight == 0) {
            /* Everything asked has come back and a gap is left (a batch was lost or refused).
             * Ask again from our head if this batch made progress; else stop until the next
             * round, so a peer that sends junk cannot keep us asking. */
            log_debug("sync", "feed gap after seq %llu (target %llu, %zu accepted): %s",
                      (unsigned long long)have, (unsigned long long)w->target, accepted,
                      accepted ? "asking again" : "left to the next round");
            if (accepted > 0) {
                w->next = have + 1;
            } else {
                behind_sub(ss, w->target - have);
                wq_remove(ss, w);
            }
        }
    }
    fw_entries(s, ss, es, n, results);
    want_fill(s, ss);
}

/* Entries answers read in one loop turn are stored together, in one transaction: a commit
 * costs about as much for one batch as for four, so catch-up commits less often.
 *
 * During a catch-up the batches are also overlapped: at the end of a read turn the new batch
 * is handed to node_ingest_begin (worker threads check its signatures, up to two batches
 * ahead), and the oldest checked batch goes to the node's writer thread, which stores it while
 * this thread goes on reading, answering queries (from LMDB snapshots) and serving peers. When
 * the writer is done, sync_tick books the batch (writer_reap: counters, Want window) and hands
 * it the next. Anything else that depends on the stored state (other messages, live push)
 * waits for all of it first (entries_flush). */

/* Hands the stash to node_ingest_begin; on failure its messages are dropped (counted as not
 * received: the Wants time out and are asked again). Returns 0 if d->job is running. */
static int defer_begin(struct sync *s, struct defer *d) {
    size_t total = d->total ? d->total : 1;
    if (d->push_ss) { /* wires and lens were filled by push_batch */
        d->results = calloc(total, sizeof *d->results);
        d->job = NULL;
        if (!d->results)
            return HUB_E_NOMEM;
        int origin = (int)(d->push_ss - s->sess) + 1;
        return node_ingest_begin(s->node, d->wires, d->lens, d->total, d->results, origin, 0,
                                 &d->job);
    }
    d->wires = malloc(total * sizeof *d->wires);
    d->lens = malloc(total * sizeof *d->lens);
    d->results = calloc(total, sizeof *d->results);
    d->job = NULL;
    if (!d->wires || !d->lens || !d->results)
        return HUB_E_NOMEM;
    size_t at = 0;
    for (size_t i = 0; i < d->n; i++) {
        Hubnet__Entries *es = d->items[i].m->entries;
        for (size_t e = 0; e < d->items[i].n; e++, at++) {
            d->wires[at] = es->entries[e].data;
            d->lens[at] = es->entries[e].len;
        }
    }
    /* While Wants are still out, this batch is one of a catch-up: the store writes such
     * batches straight into its index (a small, final one goes to the index tail). */
    unsigned flags = NODE_INGEST_CHAIN; /* answers to Wants: PROTOCOL.md 9.16 */
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].ss->used && d->items[i].ss->gen == d->items[i].gen &&
            d->items[i].ss->ninflight > 0)
            flags |= NODE_INGEST_BULK;
    return node_ingest_begin(s->node, d->wires, d->lens, d->total, d->results, 0, flags, &d->job);
}

static void push_booked(struct sync *s, struct session *ss, const uint8_t *const *wires,
                        const size_t *lens, const int *results, size_t n, size_t accepted);

/* After the store: per-session bookkeeping (counters, the Want window), frees the messages;
 * up to max entries' worth of messages per call. Returns 1 once all are done. */
static int defer_booked_some(struct sync *s, struct defer *d, int ok, size_t max) {
    if (d->push_ss) {
        if (ok && d->push_ss->used && d->push_ss->gen == d->push_gen) {
            size_t accepted = 0;
            for (size_t i = 0; i < d->total; i++)
                accepted += d->results[i] == HUB_OK;
            push_booked(s, d->push_ss, d->wires, d->lens, d->results, d->total, accepted);
        }
        for (size_t i = 0; i < d->total; i++)
            free(d->push_wires[i]);
        free(d->push_wires);
        d->push_wires = NULL;
        d->push_ss = NULL;
    }
    for (size_t done = 0; d->booked < d->n && done < max; d->booked++) {
        struct session *ss = d->items[d->booked].ss;
        size_t cnt = d->items[d->booked].n;
        if (ok && ss->used && ss->gen == d->items[d->booked].gen)
            entries_finish(s, ss, d->items[d->booked].m->entries, cnt,
                           d->results + d->booked_entries);
        d->booked_entries += cnt;
        done += cnt;
        hubnet__sync_msg__free_unpacked(d->items[d->booked].m, NULL);
    }
    if (d->booked < d->n)
        return 0;
    d->n = 0;
    d->total = 0;
    d->booked = 0;
    d->booked_entries = 0;
    free(d->wires);
    free(d->lens);
    free(d->results);
    d->wires = NULL;
    d->lens = NULL;
    d->results = NULL;
    return 1;
}

static void defer_booked(struct sync *s, struct defer *d, int ok) {
    (void)defer_booked_some(s, d, ok, SIZE_MAX);
}

/* Stores a begun stash on this thread, then the bookkeeping. */
static void defer_end(struct sync *s, struct defer *d, int ok) {
    size_t accepted = 0;
    if (d->job) {
        ok = node_ingest_end(s->node, d->job, &accepted) == 0 && ok;
        d->job = NULL;
    } else {
        ok = 0;
    }
    defer_booked(s, d, ok);
}

/* Booking a stored catch-up batch (16k entries: relaying each on live push, then the sessions'
 * counters and Want windows, freeing the messages) took the event loop 10-40 ms at once; it is
 * done SYNC_BOOK_CHUNK entries per loop turn instead, queries and peers served in between. */
#define SYNC_BOOK_CHUNK 2048

/* Books up to max more entries of the batch being booked. Returns 1 when none is left. */
static int book_step(struct sync *s, size_t max) {
    if (!s->booking_busy)
        return 1;
    if (s->book_job) {
        size_t accepted;
        int rc;
        if (!node_ingest_finish_step(s->node, s->book_job, max, &accepted, &rc))
            return 0;
        s->book_job = NULL;
        s->book_ok = s->book_ok && rc == 0;
    }
    if (!defer_booked_some(s, &s->booking, s->book_ok, max))
        return 0;
    s->booking_busy = 0;
    return 1;
}

/* The batch on the writer thread, once stored (wait: block until then, and book it all now),
 * once the one before it is booked. */
static void writer_reap(struct sync *s, int wait) {
    size_t max = wait ? SIZE_MAX : SYNC_BOOK_CHUNK;
    if (!book_step(s, max) || !s->writing_busy)
        return;
    struct node_ingest_job *job = node_ingest_done(s->node, wait);
    if (!job)
        return;
    s->booking = s->writing; /* the messages and buffers move with it */
    s->book_job = job;
    s->book_ok = 1;
    s->booking_busy = 1;
    s->writing.job = NULL;
    s->writing_busy = 0;
    (void)book_step(s, max);
}

/* Hands the oldest pending batch to the writer thread when it is free. */
static void writer_feed(struct sync *s) {
    if (s->writing_busy || !s->npending)
        return;
    s->writing = s->pending[0];
    s->npending--;
    memmove(&s->pending[0], &s->pending[1], s->npending * sizeof s->pending[0]);
    if (node_ingest_submit(s->node, s->writing.job) != 0) {
        defer_end(s, &s->writing, 1); /* cannot happen: the writer was free */
        return;
    }
    s->writing_busy = 1;
}

/* Everything begun is stored and booked when this returns. */
static void pending_end(struct sync *s) {
    writer_reap(s, 1);
    while (s->npending) {
        writer_feed(s);
        writer_reap(s, 1);
    }
}

/* Stores everything received so far, now. */
static void entries_flush(struct sync *s) {
    pending_end(s);
    if (s->defer.n == 0)
        return;
    int ok = defer_begin(s, &s->defer) == 0;
    defer_end(s, &s->defer, ok);
}

/* The writer holds a batch and SYNC_PENDING_MAX more are being checked: the sockets are not
 * read until it is done (libzmq and TCP hold the rest), so this thread never waits for it. */
static int pipeline_full(const struct sync *s) {
    return s->npending == SYNC_PENDING_MAX && s->writing_busy;
}

/* Starts the checks of a batch and queues it behind the older ones, which the writer thread
 * stores in order; waits for the writer only when SYNC_PENDING_MAX batches are queued. */
static void pipeline_add(struct sync *s, struct defer *d) {
    if (defer_begin(s, d) != 0) {
        defer_end(s, d, 0);
        return;
    }
    if (s->npending == SYNC_PENDING_MAX) { /* make room: wait for the writer, give it the oldest */
        writer_reap(s, 1);
        writer_feed(s);
    }
    s->pending[s->npending++] = *d; /* the messages and buffers move with it */
    memset(d, 0, sizeof *d);
    writer_reap(s, 0);
    writer_feed(s);
}

/* End of a read turn: this turn's stash starts its checks while older ones are stored. With
 * the pipeline full the stash is kept for sync_tick, unless must (the stash itself is full):
 * then this waits for the writer. */
static void entries_flush_overlapped(struct sync *s, int must) {
    if (s->defer.n == 0 || (pipeline_full(s) && !must))
        return;
    pipeline_add(s, &s->defer);
}

/* Takes ownership of m (an Entries message): it is stashed and applied by entries_flush, at
 * once unless a socket is being read (then with the other answers of that turn). */
static void on_entries(struct sync *s, struct session *ss, Hubnet__SyncMsg *m) {
    size_t n = entries_accept(s, ss, m->entries);
    if (s->defer.n == SYNC_DEFER_MSGS || s->defer.total + n > SYNC_DEFER_ENTRIES)
        entries_flush_overlapped(s, 1);
    s->defer.items[s->defer.n].ss = ss;
    s->defer.items[s->defer.n].gen = ss->gen;
    s->defer.items[s->defer.n].m = m;
    s->defer.items[s->defer.n].n = n;
    s->defer.n++;
    s->defer.total += n;
    if (!s->deferring)
        entries_flush(s);
}

/* Per-session message budget: the excess of a flooding peer is dropped and counted. */
static int rate_ok(struct session *ss, struct rate *r, uint32_t per_s) {
    uint64_t now = hub_mono_ms();
    if (now - r->start_ms >= 1000) {
        r->start_ms = now;
        r->count = 0;
    }
    if (++r->count > per_s) {
        ss->rate_dropped++;
        return 0;
    }
    return 1;
}

/* Handles the Heads held by handle_msg, in the order they came, once nothing is outstanding. */
static void heads_release(struct sync *s) {
    if (entries_outstanding(s))
        return;
    for (size_t i = 0; i < s->nheld; i++) {
        struct session *ss = s->held[i].ss;
        if (ss->used && ss->gen == s->held[i].gen)
            on_heads(s, ss, s->held[i].m);
        hubnet__sync_msg__free_unpacked(s->held[i].m, NULL);
    }
    s->nheld = 0;
}

/* ---- replies by anti-entropy (WantReplies / Replies, PROTOCOL.md 9.15) ---- */

static void sync_addressed(struct sync *s, struct session *ss, const uint8_t *wire, size_t len);

/* Each round: ask the peer for the replies addressing this hub and each other peer of it (the
 * hubs it relays to), so that a live push lost while a link was down is made good. */
static void ask_replies(struct sync *s, struct session *ss) {
    uint64_t now = hub_now_ms();
    uint64_t since = ss->replies_asked_ms > SYNC_REPLIES_SLACK_MS
                         ? ss->replies_asked_ms - SYNC_REPLIES_SLACK_MS
                         : 0;
    ss->replies_asked_ms = now;
    uint8_t targets[SYNC_REPLY_TARGETS][32];
    size_t nt = 0;
    memcpy(targets[nt++], node_identity(s->node)->pk, 32);
    for (size_t i = 0; i < SYNC_MAX_SESSIONS && nt < SYNC_REPLY_TARGETS; i++) {
        struct session *o = &s->sess[i];
        if (!o->used || !o->hub_known || !o->hello_seen || memcmp(o->hub, ss->hub, 32) == 0)
            continue;
        size_t j = 0;
        while (j < nt && memcmp(targets[j], o->hub, 32) != 0)
            j++;
        if (j == nt)
            memcpy(targets[nt++], o->hub, 32);
    }
    for (size_t i = 0; i < nt; i++) {
        Hubnet__WantReplies w = HUBNET__WANT_REPLIES__INIT;
        w.target.data = targets[i];
        w.target.len = 32;
        w.since = since;
        Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
        m.msg_case = HUBNET__SYNC_MSG__MSG_WANT_REPLIES;
        m.want_replies = &w;
        send_msg(s, ss, &m);
    }
}

struct replies_ctx {
    struct node *node;
    uint64_t since;
    ProtobufCBinaryData *e;
    size_t n, bytes;
};

static int replies_cb(const uint8_t *wire, size_t len, void *arg) {
    struct replies_ctx *c = arg;
    struct entry e;
    if (c->n == SYNC_REPLIES_MAX || c->bytes + len > SYNC_REPLIES_MAX_BYTES)
        return 1;
    uint8_t before[32];
    if (entry_decode(wire, len, &e) != HUB_OK || e.timestamp < c->since ||
        e.seq > node_servable(c->node, e.author, before)) /* its signature is unchecked */
        return 0; /* looked at (the scan budget), not sent */
    for (size_t i = 0; i < c->n; i++) /* a reply both in a feed and kept apart: once */
        if (c->e[i].len == len && memcmp(c->e[i].data, wire, len) == 0)
            return 0;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 1;
    memcpy(copy, wire, len);
    c->e[c->n].data = copy;
    c->e[c->n].len = len;
    c->n++;
    c->bytes += len;
    return 0;
}

static void on_want_replies(struct sync *s, struct session *ss, Hubnet__WantReplies *w) {
    if (w->target.len != 32) {
        ss->rejected++;
        ss->rej_window[-HUB_E_FIELD]++;
        ss->rej_window_total++;
        return;
    }
    struct replies_ctx c = {.node = s->node, .since = w->since};
    c.e = calloc(SYNC_REPLIES_MAX, sizeof *c.e);
    if (!c.e)
        return;
    char hex[HUB_HEX_LEN + 1];
    hub_hex(w->target.data, 32, hex);
    struct index_term t[2];
    index_term_make(IDX_KIND, "response", 8, &t[0]);
    index_term_make(IDX_TARGET_AUTHOR, hex, HUB_HEX_LEN, &t[1]);
    struct store_query q = {
        .terms = t, .nterms = 2, .limit = SYNC_REPLIES_SCAN, .now_ms = hub_now_ms()};
    uint64_t next = 0;
    if (store_query(node_store(s->node), &q, replies_cb, &c, &next) < 0)
        log_debug("sync", "replies for %.8s: store query failed", hex);
    if (store_areply_walk(node_store(s->node), w->target.data, replies_cb, &c) < 0)
        log_debug("sync", "replies for %.8s: addressed replies not read", hex);
    Hubnet__Replies r = HUBNET__REPLIES__INIT;
    r.target = w->target;
    r.n_entries = c.n;
    r.entries = c.e;
    Hubnet__SyncMsg m = HUBNET__SYNC_MSG__INIT;
    m.msg_case = HUBNET__SYNC_MSG__MSG_REPLIES;
    m.replies = &r;
    if (c.n)
        send_msg(s, ss, &m);
    for (size_t i = 0; i < c.n; i++)
        free(c.e[i].data);
    free(c.e);
}

/* Replies from a feed we replicate come with the feed (anti-entropy); the others are offered as
 * addressed replies, exactly as a live push of them would be. */
static void on_replies(struct sync *s, struct session *ss, Hubnet__Replies *r) {
    if (r->n_entries > SYNC_REPLIES_MAX) {
        ss->rejected++;
        ss->rej_window[-HUB_E_TOO_LARGE]++;
        ss->rej_window_total++;
        return;
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        struct entry e;
        if (entry_decode(r->entries[i].data, r->entries[i].len, &e) != HUB_OK) {
            ss->rejected++;
            ss->rej_window[-HUB_E_DECODE]++;
            ss->rej_window_total++;
            continue;
        }
        if (policy_admits_feed(s->policy, e.author))
            continue;
        sync_addressed(s, ss, r->entries[i].data, r->entries[i].len);
    }
}

static void handle_msg(struct sync *s, struct session *ss, const uint8_t *data, size_t len,
                       const char *peer_addr) {
    ss->bytes_received += len;
    ss->msgs_received++;
    s->traffic.msgs_received++;
    s->traffic.bytes_received += len;
    if (!rate_ok(ss, &ss->rate_req, SYNC_RATE_MSGS))
        return;
    /* §3.2 as for entries: protobuf-c alone would read a tag of field number 2^29 or more as an
     * unknown field and act on the rest of the message. */
    Hubnet__SyncMsg *m = pb_check_strict(&hubnet__sync_msg__descriptor, data, len) == HUB_OK
                             ? hubnet__sync_msg__unpack(NULL, len, data)
                             : NULL;
    if (!m) {
        ss->rej_window[-HUB_E_DECODE]++;
        ss->rej_window_total++;
        ss->rejected++;
        return;
    }
    /* A Heads list must see the outcome of the Entries that came before it (which feeds are
     * complete, which have gaps): while some are still being checked or stored it is held, and
     * handled once they are booked (heads_release), so this thread does not wait for the
     * writer. Other messages do not depend on them. */
    if (m->msg_case == HUBNET__SYNC_MSG__MSG_HEADS && ss->hello_seen &&
        (entries_outstanding(s) || s->nheld)) {
        if (s->nheld == SYNC_HELD_MAX) { /* a long catch-up with many rounds: wait this once */
            entries_flush(s);
            heads_release(s);
        } else {
            sess_heard(ss);
            s->held[s->nheld].ss = ss;
            s->held[s->nheld].gen = ss->gen;
            s->held[s->nheld].m = m;
            s->nheld++;
            return;
        }
    }
    if (m->msg_case == HUBNET__SYNC_MSG__MSG_HELLO) {
        on_hello(s, ss, m->hello, peer_addr);
    } else if (!ss->hello_seen) {
        /* nothing but Hello before Hello */
    } else {
        sess_heard(ss);
        switch (m->msg_case) {
        case HUBNET__SYNC_MSG__MSG_SUMMARY:
            on_summary(s, ss, m->summary);
            break;
        case HUBNET__SYNC_MSG__MSG_HEADS:
            on_heads(s, ss, m);
            break;
        case HUBNET__SYNC_MSG__MSG_WANT:
            on_want(s, ss, m->want);
            break;
        case HUBNET__SYNC_MSG__MSG_ENTRIES:
            on_entries(s, ss, m);
            m = NULL; /* entries_flush frees it */
            break;
        case HUBNET__SYNC_MSG__MSG_WANT_REPLIES:
            on_want_replies(s, ss, m->want_replies);
            break;
        case HUBNET__SYNC_MSG__MSG_REPLIES:
            on_replies(s, ss, m->replies);
            break;
        default:
            break;
        }
    }
    if (m)
        hubnet__sync_msg__free_unpacked(m, NULL);
}

static void drain_rest(void *sock, zmq_msg_t *m) {
    while (zmq_msg_more(m)) {
        zmq_msg_close(m);
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0)
            break;
    }
}

static struct session *sess_in_by_rid(struct sync *s, const uint8_t *rid, size_t len) {
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++)
        if (s->sess[i].used && s->sess[i].dir == SESS_IN && s->sess[i].rid_len == len &&
            memcmp(s->sess[i].rid, rid, len) == 0)
            return &s->sess[i];
    return NULL;
}

static void router_read_turn(struct sync *s) {
    uint64_t start = hub_mono_us();
    for (int turn = 0; turn < SYNC_MSGS_PER_TURN * 4; turn++) {
        if (hub_mono_us() - start > SYNC_TURN_BUDGET_US || pipeline_full(s))
            return; /* zmq_poll reports the socket readable again next turn */
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, s->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            return;
        }
        zmq_msg_init(&body);
        if (!zmq_msg_more(&rid) || zmq_msg_recv(&body, s->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            continue;
        }
        int junk = zmq_msg_more(&body); /* one body frame per message */
        drain_rest(s->router, &body);
        size_t rl = zmq_msg_size(&rid);
        struct session *ss = rl <= 256 ? sess_in_by_rid(s, zmq_msg_data(&rid), rl) : NULL;
        if (!ss && rl <= 256) {
            const char *user = zmq_msg_gets(&body, "User-Id");
            uint8_t curve[32];
            if (user && strlen(user) == HUB_HEX_LEN && hub_unhex(user, curve, 32) == 0 &&
                (ss = sess_new(s, SESS_IN)) != NULL) {
                memcpy(ss->rid, zmq_msg_data(&rid), rl);
                ss->rid_len = rl;
                memcpy(ss->curve, curve, 32);
            }
        }
        if (ss && !junk) {
            const char *addr = zmq_msg_gets(&body, "Peer-Address");
            handle_msg(s, ss, zmq_msg_data(&body), zmq_msg_size(&body), addr);
        } else if (ss) {
            ss->rej_window[-HUB_E_DECODE]++;
            ss->rej_window_total++;
            ss->rejected++;
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

static void dealer_read_turn(struct sync *s, struct session *ss) {
    uint64_t start = hub_mono_us();
    for (int turn = 0; turn < SYNC_MSGS_PER_TURN; turn++) {
        if (hub_mono_us() - start > SYNC_TURN_BUDGET_US || pipeline_full(s))
            return;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, ss->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (zmq_msg_more(&m)) {
            drain_rest(ss->dealer, &m);
            ss->rej_window[-HUB_E_DECODE]++;
            ss->rej_window_total++;
            ss->rejected++;
        } else {
            handle_msg(s, ss, zmq_msg_data(&m), zmq_msg_size(&m), NULL);
        }
        zmq_msg_close(&m);
        if (!ss->used)
            return;
    }
}

static void router_read(struct sync *s) {
    s->deferring = 1;
    router_read_turn(s);
    entries_flush_overlapped(s, 0);
    s->deferring = 0;
}

static void dealer_read(struct sync *s, struct session *ss) {
    s->deferring = 1;
    dealer_read_turn(s, ss);
    entries_flush_overlapped(s, 0);
    s->deferring = 0;
}

/* Live push: a batch of single-frame entries from one peer, stored in one transaction. */
static int push_batch(struct sync *s, struct session *ss, const uint8_t *const *wires,
                      const size_t *lens, size_t n);

static void sub_read(struct sync *s, struct session *ss) {
    /* Everything queued, up to SYNC_PUSH_BATCH, goes into one transaction: a burst of pushes
     * (a peer's import, a relayed catch-up) then costs one commit, not one per message. */
    zmq_msg_t *msgs = s->push.msgs;
    const uint8_t **wires = s->push.wires;
    size_t *lens = s->push.lens;
    int *results = s->push.results;
    size_t n = 0;
    uint64_t start = hub_mono_us();
    /* junk and rate-dropped pushes count toward the turn's message cap too */
    for (int turn = 0; turn < SYNC_PUSH_BATCH && n < SYNC_PUSH_BATCH; turn++) {
        if (hub_mono_us() - start > SYNC_TURN_BUDGET_US)
            break;
        zmq_msg_init(&msgs[n]);
        if (zmq_msg_recv(&msgs[n], ss->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msgs[n]);
            break;
        }
        if (zmq_msg_more(&msgs[n])) {
            drain_rest(ss->sub, &msgs[n]);
            zmq_msg_close(&msgs[n]);
            ss->rejected++;
            ss->rej_window[-HUB_E_DECODE]++;
            ss->rej_window_total++;
            continue;
        }
        ss->bytes_received += zmq_msg_size(&msgs[n]);
        ss->pushes_received++;
        s->traffic.pushes_received++;
        s->traffic.push_bytes_received += zmq_msg_size(&msgs[n]);
        if (!rate_ok(ss, &ss->rate_push, SYNC_RATE_PUSHES)) {
            zmq_msg_close(&msgs[n]);
            continue;
        }
        wires[n] = zmq_msg_data(&msgs[n]);
        lens[n] = zmq_msg_size(&msgs[n]);
        n++;
    }
    if (n && entries_outstanding(s)) {
        /* During a catch-up the pushes join the pipeline behind the batches received before
         * them (a push may continue a feed whose earlier entries are in there), so that this
         * thread does not wait for the writer. */
        entries_flush_overlapped(s, 1);
        if (push_batch(s, ss, wires, lens, n) == 0) {
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&msgs[i]);
            return;
        }
        pending_end(s); /* out of memory for the copies: store them here instead */
    }
    if (n) {
        size_t accepted = 0;
        if (node_ingest(s->node, wires, lens, n, results, &accepted, (int)(ss - s->sess) + 1) == 0)
            push_booked(s, ss, wires, lens, results, n, accepted);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&msgs[i]);
}

/* A pushed entry the policy refused: an addressed reply (PROTOCOL.md 9.15) is kept, and passed
 * on by live push when it addresses another hub (toward it: every hub that trusts the target
 * keeps and relays it; a copy already kept is not relayed again, so it does not loop). */
static void sync_addressed(struct sync *s, struct session *ss, const uint8_t *wire, size_t len) {
    int relay = 0;
    int rc = areply_offer(s->areply, wire, len, &relay);
    if (rc == HUB_OK) {
        ss->replies_kept++;
        if (relay) {
            pub_send(s, wire, len);
            areply_count_relayed(s->areply);
        }
    } else if (rc != HUB_E_POLICY && rc != HUB_E_DUPLICATE) {
        ss->replies_refused++;
    }
}

/* After pushes were stored: counters, and a Want for each gap they revealed. */
static void push_booked(struct sync *s, struct session *ss, const uint8_t *const *wires,
                        const size_t *lens, const int *results, size_t n, size_t accepted) {
    ss->received += accepted;
    count_rejects(ss, results, n);
    count_traffic(s, ss, results, n);
    /* A gap means we missed entries (slow joiner, HWM, restart): fetch the range now. */
    for (size_t i = 0; i < n; i++) {
        if (results[i] == HUB_E_POLICY)
            sync_addressed(s, ss, wires[i], lens[i]);
        if (results[i] != HUB_E_GAP)
            continue;
        struct entry e;
        struct feed_head h;
        if (entry_decode(wires[i], lens[i], &e) != 0)
            continue;
        if (store_feed_head(node_store(s->node), e.author, &h) != 0)
            h.seq = 0;
        if (ss->hello_seen)
            wq_add(ss, e.author, h.seq + 1, e.seq);
    }
    fw_pushed(s, ss, wires, lens, results, n);
    want_fill(s, ss);
}

/* Copies a turn's pushes into a pipeline batch; HUB_E_NOMEM. */
static int push_batch(struct sync *s, struct session *ss, const uint8_t *const *wires,
                      const size_t *lens, size_t n) {
    struct defer d;
    memset(&d, 0, sizeof d);
    d.push_ss = ss;
    d.push_gen = ss->gen;
    d.total = n;
    d.push_wires = calloc(n, sizeof *d.push_wires);
    d.wires = malloc(n * sizeof *d.wires);
    d.lens = malloc(n * sizeof *d.lens);
    int ok = d.push_wires && d.wires && d.lens;
    for (size_t i = 0; ok && i < n; i++) {
        d.push_wires[i] = malloc(lens[i] ? lens[i] : 1);
        ok = d.push_wires[i] != NULL;
        if (ok) {
            memcpy(d.push_wires[i], wires[i], lens[i]);
            d.wires[i] = d.push_wires[i];
            d.lens[i] = lens[i];
        }
    }
    if (!ok) {
        for (size_t i = 0; d.push_wires && i < n; i++)
            free(d.push_wires[i]);
        free(d.push_wires);
        free(d.wires);
        free(d.lens);
        return HUB_E_NOMEM;
    }
    pipeline_add(s, &d);
    return HUB_OK;
}

/* ---- node listener: live push out, digest and policy upkeep ---- */

static void on_accept(void *arg, const struct entry *e, int origin) {
    struct sync *s = arg;
    s->digest_valid = 0;
    if (e->kind == 6 || e->kind == 5) /* an endorsement, or a retraction of one */
        s->policy_dirty = 1;
    /* an entry stored on the hash chain is not relayed before its signature is checked
     * (PROTOCOL.md 9.16); peers fetch it once it is */
    if (!node_telling_unchecked(s->node))
        pub_send(s, e->wire, e->wire_len);
    if (e->kind == 1 && s->cfg->discover && e->payload &&
        memcmp(e->author, node_identity(s->node)->pk, 32) != 0 && !sess_out_by_hub(s, e->author) &&
        policy_admits_feed(s->policy, e->author)) {
        size_t nout = 0;
        for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++)
            nout += s->sess[i].used && s->sess[i].dir == SESS_OUT;
        char eps[4][256];
        size_t ne = record_profile_endpoints(e->payload, e->payload_len, eps, 4);
        if (ne && nout < s->cfg->max_peers && sess_dial(s, eps[0], e->author) == 0) {
            char k[9];
            hub_short(e->author, k);
            log_info("sync", "discovered hub %s at %s from its profile; dialing", k, eps[0]);
        }
    }
}

static int admit_cb(void *arg, const uint8_t author[32]) {
    return policy_admits_feed(arg, author);
}

/* ---- control calls ---- */

static const char *state_name(enum peer_state st) {
    return st == PEER_UP ? "up" : st == PEER_DOWN ? "down" : "connecting";
}

static int op_peers(void *arg, json_t *req, json_t **resp) {
    struct sync *s = arg;
    json_t *arr = json_array();
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++) {
        struct session *ss = &s->sess[i];
        if (!ss->used || !ss->hub_known)
            continue;
        char k[HUB_HEX_LEN + 1];
        hub_hex(ss->hub, 32, k);
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, "
                      "s:I, s:I, s:I, s:I, s:I}",
                      "key", k, "endpoint", ss->endpoint, "direction",
                      ss->dir == SESS_OUT ? "out" : "in", "state", state_name(ss->state),
                      "last_heard", (json_int_t)ss->last_heard_wall, "sent", (json_int_t)ss->sent,
                      "received", (json_int_t)ss->received, "rejected", (json_int_t)ss->rejected,
                      "behind_us", (json_int_t)ss->behind_us, "behind_them",
                      (json_int_t)ss->behind_them, "bytes_sent", (json_int_t)ss->bytes_sent,
                      "bytes_received", (json_int_t)ss->bytes_received, "rounds",
                      (json_int_t)ss->rounds, "live", ss->sub != NULL, "deferred",
                      (json_int_t)ss->deferred, "refused", (json_int_t)ss->refused, "queued_bytes",
                      (json_int_t)atomic_load(&s->out_bytes[i]), "up_since",
                      (json_int_t)ss->up_since_wall, "flaps", (json_int_t)ss->flaps));
        json_t *o = json_array_get(arr, json_array_size(arr) - 1);
        if (o) {
            json_object_set_new(o, "msgs_sent", json_integer((json_int_t)ss->msgs_sent));
            json_object_set_new(o, "msgs_received", json_integer((json_int_t)ss->msgs_received));
            json_object_set_new(o, "pushes_received",
                                json_integer((json_int_t)ss->pushes_received));
            json_object_set_new(o, "duplicates", json_integer((json_int_t)ss->duplicates));
            json_object_set_new(o, "replies_kept", json_integer((json_int_t)ss->replies_kept));
            json_object_set_new(o, "replies_refused",
                                json_integer((json_int_t)ss->replies_refused));
        }
    }
    *resp = json_pack("{s:o}", "peers", arr);
    return 0;
}

static int op_error(json_t **resp, const char *field, const char *msg) {
    *resp = json_pack("{s:s, s:s}", "field", field, "message", msg);
    return HUB_E_RANGE;
}

/* ---- endorsements this hub makes (policy trust: its peers; peer_add) ---- */

/* Publishes a signed endorsement of hub (record key: the hub's key in hex, so one per hub):
 * HUB_OK, E_DUPLICATE when a current one is held, or publish's error (E_NOT_READY while the
 * own feed is being recovered: queue it with endorse_queue). */
static int sync_endorse(struct sync *s, const uint8_t hub[32]) {
    char hex[HUB_HEX_LEN + 1], k[9];
    uint8_t id[32];
    hub_hex(hub, 32, hex);
    struct node *n = s->node;
    if (store_record_current(node_store(n), node_identity(n)->pk, 6 /* endorsement */, hex, id) ==
        HUB_OK)
        return HUB_E_DUPLICATE;
    json_t *rec = json_pack("{s:s, s:s}", "hub", hex, "statement", "peer of this hub");
    if (!rec)
        return HUB_E_NOMEM;
    struct record_error err;
    uint8_t *payload = NULL;
    size_t plen = 0;
    int rc = record_from_json(6, rec, &payload, &plen, &err);
    json_decref(rec);
    if (rc != HUB_OK)
        return rc;
    struct node_draft d = {.kind = 6, .key = hex, .payload = payload, .payload_len = plen};
    rc = node_publish(n, &d, 1);
    free(payload);
    hub_short(hub, k);
    if (rc == HUB_OK)
        log_info("sync", "endorsed peer %s (signed endorsement, seq %llu)", k,
                 (unsigned long long)d.seq);
    return rc;
}

static void endorse_queue(struct sync *s, const uint8_t hub[32]) {
    for (size_t i = 0; i < s->nendorse; i++)
        if (memcmp(s->endorse_q[i], hub, 32) == 0)
            return;
    if (s->nendorse < SYNC_ENDORSE_QUEUE) {
        memcpy(s->endorse_q[s->nendorse++], hub, 32);
        return;
    }
    char k[9];
    hub_short(hub, k);
    log_warnx("sync", "peer %s not endorsed: %d endorsements wait already (own feed not ready)", k,
              SYNC_ENDORSE_QUEUE);
}

/* From sync_tick: publish the queued endorsements once the own feed is ready. */
static void endorse_drain(struct sync *s, uint64_t now) {
    if (!s->nendorse || now < s->endorse_at)
        return;
    s->endorse_at = now + SYNC_ENDORSE_RETRY_MS;
    size_t keep = 0;
    for (size_t i = 0; i < s->nendorse; i++) {
        int rc = sync_endorse(s, s->endorse_q[i]);
        if (rc == HUB_E_NOT_READY || rc == HUB_E_DISK_FULL || rc == HUB_E_IO)
            memmove(s->endorse_q[keep++], s->endorse_q[i], 32);
        else if (rc != HUB_OK && rc != HUB_E_DUPLICATE) {
            char k[9];
            hub_short(s->endorse_q[i], k);
            log_warnx("sync", "cannot endorse peer %s: %s", k, hub_strerror(rc));
        }
    }
    s->nendorse = keep;
}

/* ---- trust: which hubs are trusted and through whom ---- */

/* A hub's name from its current profile (empty when none is held). */
static void profile_name(struct store *st, const uint8_t hub[32], char *name, char *country) {
    uint8_t id[32], *wire = NULL;
    size_t len = 0;
    struct entry e;
    name[0] = country[0] = 0;
    if (store_record_current(st, hub, 1 /* profile */, "profile", id) != HUB_OK ||
        store_get(st, id, &wire, &len) != HUB_OK)
        return;
    if (entry_decode(wire, len, &e) == HUB_OK && e.payload &&
        record_profile_name(e.payload, e.payload_len, name, country) != HUB_OK)
        name[0] = country[0] = 0;
    free(wire);
}

struct trust_list {
    struct sync *s;
    json_t *arr;
};

static void trust_cb(void *arg, const uint8_t hub[32], const struct policy_via *v) {
    struct trust_list *t = arg;
    if (json_array_size(t->arr) >= POLICY_TRUST_LIST_MAX)
        return;
    char hex[HUB_HEX_LEN + 1];
    hub_hex(hub, 32, hex);
    json_t *o = json_pack("{s:s, s:s, s:i}", "key", hex, "via", policy_root_name(v->root), "hop",
                          (int)v->hop);
    if (!o)
        return;
    if (v->root < 0) {
        char by[HUB_HEX_LEN + 1];
        hub_hex(v->by, 32, by);
        json_object_set_new(o, "by", json_string(by));
    }
    json_object_set_new(o, "connected", json_boolean(sess_out_by_hub(t->s, hub) != NULL));
    json_array_append_new(t->arr, o);
}

/* Names are looked up after the walk: policy_explain reads the store itself. */
static void trust_names(struct sync *s, json_t *arr) {
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *fields[2] = {"key", "by"};
        const char *outs[2] = {"name", "by_name"};
        for (int f = 0; f < 2; f++) {
            const char *hex = json_string_value(json_object_get(o, fields[f]));
            uint8_t hub[32];
            char name[201], country[8];
            if (!hex || hub_unhex(hex, hub, 32) != 0)
                continue;
            profile_name(node_store(s->node), hub, name, country);
            if (name[0])
                json_object_set_new(o, outs[f], json_string(name));
            if (f == 0 && country[0])
                json_object_set_new(o, "country", json_string(country));
        }
    }
}

static int op_trust(void *arg, json_t *req, json_t **resp) {
    struct sync *s = arg;
    (void)req;
    struct trust_list t = {.s = s, .arr = json_array()};
    if (!t.arr)
        return HUB_E_NOMEM;
    policy_explain(s->policy, node_store(s->node), trust_cb, &t);
    trust_names(s, t.arr);
    *resp = json_pack("{s:s, s:i, s:I, s:o}", "policy", policy_mode_name(s->cfg->policy), "hops",
                      (int)s->cfg->hops, "trusted",
                      (json_int_t)policy_trusted_count(s->policy) - 1, "hubs", t.arr);
    return 0;
}

static int op_peer_add(void *arg, json_t *req, json_t **resp) {
    struct sync *s = arg;
    const char *ep = json_string_value(json_object_get(req, "endpoint"));
    const char *key = json_string_value(json_object_get(req, "key"));
    uint8_t hub[32];
    uint32_t port;
    if (!ep || strncmp(ep, "tcp://", 6) != 0 || strlen(ep) >= 256 || port_of(ep, &port) != 0)
        return op_error(resp, "endpoint", "endpoint: expected tcp://HOST:PORT");
    if (!key || strlen(key) != HUB_HEX_LEN || hub_unhex(key, hub, 32) != 0)
        return op_error(resp, "key", "key: expected a 64-hex hub key");
    if (memcmp(hub, node_identity(s->node)->pk, 32) == 0)
        return op_error(resp, "key", "key: that is this hub's own key");
    if (sess_out_by_hub(s, hub))
        return op_error(resp, "key", "key: already a peer");
    uint8_t curve[32];
    if (identity_curve_pk(hub, curve) != 0)
        return op_error(resp, "key", "key: not a valid Ed25519 public key");
    json_t *en = json_object_get(req, "endorse");
    if (en && !json_is_boolean(en))
        return op_error(resp, "endorse", "endorse: expected true or false");
    int endorse = !en || json_is_true(en);
    policy_add_base(s->policy, hub);
    s->policy_dirty = 1;
    int rc = sess_dial(s, ep, hub);
    if (rc != 0) {
        *resp = json_pack("{s:s}", "message", "cannot dial that endpoint");
        return rc;
    }
    log_info("sync", "peer %.8s added at %s (until restart; add it to the config to keep it)", key,
             ep);
    const char *endorsed = "no";
    if (endorse) {
        rc = sync_endorse(s, hub);
        endorsed = rc == HUB_OK ? "yes" : rc == HUB_E_DUPLICATE ? "already" : "pending";
        if (rc != HUB_OK && rc != HUB_E_DUPLICATE)
            endorse_queue(s, hub);
    }
    *resp = json_pack("{s:s}", "endorsed", endorsed);
    return 0;
}

static int op_peer_remove(void *arg, json_t *req, json_t **resp) {
    struct sync *s = arg;
    const char *key = json_string_value(json_object_get(req, "key"));
    uint8_t hub[32];
    if (!key || strlen(key) != HUB_HEX_LEN || hub_unhex(key, hub, 32) != 0)
        return op_error(resp, "key", "key: expected a 64-hex hub key");
    int found = 0;
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++)
        if (s->sess[i].used && s->sess[i].hub_known && memcmp(s->sess[i].hub, hub, 32) == 0) {
            sess_free(&s->sess[i]);
            found = 1;
        }
    if (!found) {
        *resp = json_pack("{s:s, s:s}", "field", "key", "message", "no such peer");
        return HUB_E_NOT_FOUND;
    }
    policy_remove_base(s->policy, hub);
    s->policy_dirty = 1;
    log_info("sync", "peer %.8s removed", key);
    return 0;
}

static void status_hook(void *arg, json_t *st) {
    struct sync *s = arg;
    size_t configured = 0, up = 0, inbound = 0;
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++) {
        if (!s->sess[i].used)
            continue;
        configured += s->sess[i].dir == SESS_OUT;
        inbound += s->sess[i].dir == SESS_IN;
        up += s->sess[i].state == PEER_UP;
    }
    json_object_set_new(st, "peers",
                        json_pack("{s:I, s:I, s:I}", "configured", (json_int_t)configured,
                                  "inbound", (json_int_t)inbound, "connected", (json_int_t)up));
    json_object_set_new(st, "sync",
                        json_pack("{s:s, s:s, s:s, s:I}", "listen", s->cfg->listen, "pub",
                                  s->cfg->pub_listen, "policy", policy_mode_name(s->cfg->policy),
                                  "trusted", (json_int_t)policy_trusted_count(s->policy)));
    const struct sync_traffic *t = &s->traffic;
    json_t *sy = json_object_get(st, "sync");
    if (sy)
        json_object_set_new(
            sy, "traffic",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "msgs_sent",
                      (json_int_t)t->msgs_sent, "bytes_sent", (json_int_t)t->bytes_sent,
                      "msgs_received", (json_int_t)t->msgs_received, "bytes_received",
                      (json_int_t)t->bytes_received, "pushes_sent", (json_int_t)t->pushes_sent,
                      "push_bytes_sent", (json_int_t)t->push_bytes_sent, "pushes_received",
                      (json_int_t)t->pushes_received, "push_bytes_received",
                      (json_int_t)t->push_bytes_received, "entries_accepted",
                      (json_int_t)t->entries_accepted, "entries_duplicate",
                      (json_int_t)t->entries_duplicate));
    fw_status(s, st);
    areply_status(s->areply, st);
}

/* ---- lifecycle ---- */

int sync_open(struct node *n, struct control *ctl, struct sync **out) {
    struct sync *s = calloc(1, sizeof *s);
    if (!s)
        return HUB_E_NOMEM;
    s->node = n;
    s->cfg = node_config(n);
    s->ctx = zmq_ctx_new();
    int rc = HUB_E_INTERNAL;
    if (!s->ctx)
        goto fail;
    if ((rc = policy_new(s->cfg, node_identity(n)->pk, &s->policy)) != 0)
        goto fail;
    policy_recompute(s->policy, node_store(n));
    if ((rc = zap_open(s->ctx, s->policy, &s->zap)) != 0)
        goto fail;
    if ((rc = areply_open(n, s->policy, ctl, &s->areply)) != 0)
        goto fail;
    rc = HUB_E_CONFIG;
    s->router = curve_server(s, ZMQ_ROUTER);
    s->pub = curve_server(s, ZMQ_PUB);
    if (!s->router || !s->pub)
        goto fail;
    set_int(s->router, ZMQ_ROUTER_MANDATORY, 1);
    if (zmq_bind(s->router, s->cfg->listen) != 0) {
        log_error("sync", "cannot bind %s: %s", s->cfg->listen, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_bind(s->pub, s->cfg->pub_listen) != 0) {
        log_error("sync", "cannot bind %s: %s", s->cfg->pub_listen, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (port_of(s->cfg->pub_listen, &s->pub_port) != 0)
        goto fail;
    node_set_admit(n, admit_cb, s->policy);
    if ((rc = node_add_listener(n, on_accept, s)) != 0)
        goto fail;
    if (ctl) {
        control_register_op(ctl, "peers", op_peers, s);
        control_register_op(ctl, "peer_add", op_peer_add, s);
        control_register_op(ctl, "peer_remove", op_peer_remove, s);
        control_register_op(ctl, "trust", op_trust, s);
        control_set_status_hook(ctl, status_hook, s);
    }
    for (size_t i = 0; i < s->cfg->npeers; i++)
        if (sess_dial(s, s->cfg->peers[i].endpoint, s->cfg->peers[i].key) != 0)
            log_warnx("sync", "peer %s skipped", s->cfg->peers[i].endpoint);
    /* Policy trust: the configured peers are endorsed, so that the hubs that trust this one
     * trust its peers too (the web of trust of PROTOCOL.md 9.10). Published from sync_tick once
     * the own feed may be written; a peer endorsed before is skipped there. */
    if (s->cfg->policy == POLICY_TRUST)
        for (size_t i = 0; i < s->cfg->npeers; i++)
            endorse_queue(s, s->cfg->peers[i].key);
    log_info("sync",
             "replicating on %s (push on %s), policy %s with %zu trusted hub(s), "
             "%zu peer(s) configured",
             s->cfg->listen, s->cfg->pub_listen, policy_mode_name(s->cfg->policy),
             policy_trusted_count(s->policy), s->cfg->npeers);
    *out = s;
    return HUB_OK;
fail:
    sync_destroy(&s);
    return rc;
}

void sync_destroy(struct sync **sp) {
    if (!sp || !*sp)
        return;
    struct sync *s = *sp;
    entries_flush(s); /* store what was received and checked */
    for (size_t i = 0; i < s->nheld; i++)
        hubnet__sync_msg__free_unpacked(s->held[i].m, NULL);
    s->nheld = 0;
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++)
        if (s->sess[i].used)
            sess_free(&s->sess[i]);
    if (s->router)
        zmq_close(s->router);
    if (s->pub)
        zmq_close(s->pub);
    zap_destroy(&s->zap);
    areply_destroy(&s->areply);
    policy_destroy(&s->policy);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    free(s);
    *sp = NULL;
}

size_t sync_poll_items(struct sync *s, zmq_pollitem_t *items, size_t max) {
    size_t n = 0;
    short in = pipeline_full(s) ? 0 : ZMQ_POLLIN; /* see pipeline_full */
    if (n < max) {
        s->map[n].kind = 0;
        items[n++] = (zmq_pollitem_t){.socket = zap_socket(s->zap), .events = ZMQ_POLLIN};
    }
    if (n < max) {
        s->map[n].kind = 1;
        items[n++] = (zmq_pollitem_t){.socket = s->router, .events = in};
    }
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++) {
        struct session *ss = &s->sess[i];
        if (!ss->used)
            continue;
        if (ss->dealer && n < max) {
            s->map[n].kind = 2;
            s->map[n].sess = (int)i;
            items[n++] = (zmq_pollitem_t){.socket = ss->dealer, .events = in};
        }
        if (ss->sub && n < max) {
            s->map[n].kind = 3;
            s->map[n].sess = (int)i;
            items[n++] = (zmq_pollitem_t){.socket = ss->sub, .events = in};
        }
    }
    return n;
}

void sync_handle(struct sync *s, const zmq_pollitem_t *items, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (!(items[i].revents & ZMQ_POLLIN))
            continue;
        switch (s->map[i].kind) {
        case 0:
            zap_handle(s->zap);
            break;
        case 1:
            router_read(s);
            break;
        case 2:
            if (s->sess[s->map[i].sess].used && s->sess[s->map[i].sess].dealer == items[i].socket)
                dealer_read(s, &s->sess[s->map[i].sess]);
            break;
        case 3:
            if (s->sess[s->map[i].sess].used && s->sess[s->map[i].sess].sub == items[i].socket)
                sub_read(s, &s->sess[s->map[i].sess]);
            break;
        }
    }
    if (s->policy_dirty) {
        policy_recompute(s->policy, node_store(s->node));
        s->policy_dirty = 0;
    }
}

static void log_rejects(struct session *ss, uint64_t now) {
    if (now - ss->last_summary_log < SYNC_SUMMARY_LOG_MS)
        return;
    ss->last_summary_log = now;
    if (!ss->rej_window_total && !ss->rate_dropped && !ss->deferred_window && !ss->refused_window)
        return;
    char detail[512] = "";
    size_t off = 0;
    for (size_t c = 1; c < HUB_ARRAY_LEN(ss->rej_window); c++) {
        if (!ss->rej_window[c])
            continue;
        int w = snprintf(detail + off, sizeof detail - off, "%s%s %llu", off ? ", " : "",
                         hub_strerror(-(int)c), (unsigned long long)ss->rej_window[c]);
        if (w < 0 || (size_t)w >= sizeof detail - off)
            break;
        off += (size_t)w;
    }
    char k[9] = "unknown";
    if (ss->hub_known)
        hub_short(ss->hub, k);
    /* One line, naming only what happened: a peer that asks faster than it reads is not
     * "rejected 0 ... ()" but held back. */
    char parts[3][640];
    size_t np = 0;
    if (ss->rej_window_total)
        snprintf(parts[np++], sizeof parts[0], "rejected %llu message(s)/entries (%s)",
                 (unsigned long long)ss->rej_window_total, detail);
    if (ss->rate_dropped)
        snprintf(parts[np++], sizeof parts[0], "dropped %llu over the rate limit",
                 (unsigned long long)ss->rate_dropped);
    if (ss->deferred_window || ss->refused_window)
        snprintf(parts[np++], sizeof parts[0],
                 "held back %llu request(s) and refused %llu over the answer window",
                 (unsigned long long)ss->deferred_window,
                 (unsigned long long)ss->refused_window);
    log_warnx("sync", "peer %s in the last minute: %s%s%s%s%s", k, parts[0],
              np > 1 ? "; " : "", np > 1 ? parts[1] : "", np > 2 ? "; " : "",
              np > 2 ? parts[2] : "");
    memset(ss->rej_window, 0, sizeof ss->rej_window);
    ss->rej_window_total = 0;
    ss->rate_dropped = 0;
    ss->deferred_window = ss->refused_window = 0;
}

long sync_tick(struct sync *s) {
    /* Collect what the writer stored; give it the next batch, and the stash a turn kept. */
    writer_reap(s, 0);
    writer_feed(s);
    entries_flush_overlapped(s, 0);
    heads_release(s);
    uint64_t now = hub_mono_ms();
    if ((s->cfg->policy == POLICY_ENDORSED || s->cfg->policy == POLICY_TRUST) &&
        now - s->policy_refreshed >= SYNC_POLICY_REFRESH_MS) {
        s->policy_refreshed = now;
        s->policy_dirty = 1;
    }
    if (s->policy_dirty) {
        policy_recompute(s->policy, node_store(s->node));
        s->policy_dirty = 0;
    }
    endorse_drain(s, now);
    areply_tick(s->areply, now);
    uint64_t ivl = (uint64_t)(s->cfg->sync_interval_s ? s->cfg->sync_interval_s : 10) * 1000;
    long next = (long)ivl;
    if (s->nendorse && next > SYNC_ENDORSE_RETRY_MS)
        next = SYNC_ENDORSE_RETRY_MS;
    for (size_t i = 0; i < SYNC_MAX_SESSIONS; i++) {
        struct session *ss = &s->sess[i];
        if (!ss->used)
            continue;
        /* want timeouts: the request or its answer was lost */
        for (size_t f = 0; f < ss->ninflight;) {
            if (now - ss->inflight[f].sent_ms >= SYNC_WANT_TIMEOUT_MS) {
                log_debug("sync", "want from seq %llu timed out; asking again",
                          (unsigned long long)ss->inflight[f].from);
                struct want_feed *w = wq_find(ss, ss->inflight[f].author);
                if (w) { /* ask again from the lost batch on */
                    if (w->inflight > 0)
                        w->inflight--;
                    if (ss->inflight[f].from < w->next)
                        w->next = ss->inflight[f].from;
                }
                ss->inflight[f] = ss->inflight[--ss->ninflight];
            } else {
                f++;
            }
        }
        want_fill(s, ss);
        uint64_t silent = now - (ss->last_heard_ms ? ss->last_heard_ms : ss->created_ms);
        char k[9];
        hub_short(ss->hub, k);
        if (ss->dir == SESS_IN) {
            /* The peer's own interval may be longer than ours: give it a generous while. An
             * inbound session is re-created by the peer's next Hello. */
            uint64_t idle = 10 * ivl > SYNC_INBOUND_IDLE_MS ? 10 * ivl : SYNC_INBOUND_IDLE_MS;
            if (silent > idle || (!ss->hello_seen && silent > SYNC_HELLO_WAIT_MS)) {
                if (ss->hello_seen)
                    log_info("sync", "peer %s (%s) not heard for %llu s; inbound session closed", k,
                             ss->endpoint, (unsigned long long)(silent / 1000));
                sess_free(ss);
                continue;
            }
            /* Down as soon as an outbound session would be, so that `peers` does not show a
             * stopped peer's inbound session as up for the minute it is kept. */
            if (ss->state == PEER_UP && silent > 3 * ivl + 5000)
                sess_down(ss);
        } else if (silent > 3 * ivl + 5000) {
            if (ss->state == PEER_UP) {
                log_warnx("sync",
                          "peer %s (%s) is down: not heard for %llu s; retrying with "
                          "backoff",
                          k, ss->endpoint, (unsigned long long)(silent / 1000));
                sess_down(ss);
            } else if (ss->state == PEER_CONNECTING) {
                log_warnx("sync", "peer %s (%s) not reachable yet; retrying with backoff", k,
                          ss->endpoint);
                ss->state = PEER_DOWN;
            }
        }
        sess_maybe_redial(s, ss, now);
        if (!ss->used || (ss->dir == SESS_OUT && !ss->dealer))
            continue;
        log_rejects(ss, now);
        if (ss->dir == SESS_OUT && now >= ss->next_round_ms) {
            ss->next_round_ms = now + ivl;
            if (send_hello(s, ss) != 0) {
                /* Not connected yet (ZMQ_IMMEDIATE): try again soon, not a whole interval on;
                 * a handshake on a LAN takes milliseconds, a peer that is down longer. */
                ss->next_round_ms = now + ss->retry_ms;
                ss->retry_ms = ss->retry_ms * 2 < SYNC_RETRY_MS ? ss->retry_ms * 2 : SYNC_RETRY_MS;
            } else {
                ss->retry_ms = SYNC_RETRY_MIN_MS;
                ss->rounds++;
                send_summary(s, ss);
                if (ss->hello_seen)
                    ask_replies(s, ss);
            }
        }
        if (ss->dir == SESS_OUT && ss->next_round_ms > now &&
            (long)(ss->next_round_ms - now) < next)
            next = (long)(ss->next_round_ms - now);
    }
    long drain = wants_drain_all(s);
    if (drain >= 0 && drain < next)
        next = drain;
    /* while the writer works, look again soon: its batch is booked (Wants refilled) then */
    return s->writing_busy || s->npending || s->booking_busy ? SYNC_WRITER_POLL_MS : next;
}

/* ---- reload (SIGHUP) ---- */

/* Is hub a configured peer in c (the peer root; allow and anchor keys are roots of their own). */
static int reload_has_key(const struct config *c, const uint8_t hub[32]) {
    for (size_t i = 0; i < c->npeers; i++)
        if (memcmp(c->peers[i].key, hub, 32) == 0)
            return 1;
    return 0;
}

static int reload_in(const uint8_t (*keys)[32], size_t n, const uint8_t hub[32]) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i], hub, 32) == 0)
            return 1;
    return 0;
}

static int reload_same_peer(const struct config *c, const struct config_peer *p) {
    for (size_t i = 0; i < c->npeers; i++)
        if (memcmp(c->peers[i].key, p->key, 32) == 0 &&
            strcmp(c->peers[i].endpoint, p->endpoint) == 0)
            return 1;
    return 0;
}

/* The same steps as op_peer_remove and op_peer_add, driven by the difference between the
 * running config (old, still s->cfg) and the file. Peers added with peer_add are not in old
 * and are left alone. */
void sync_reload(struct sync *s, const struct config *old, const struct config *next) {
    char k[9];
    for (size_t i = 0; i < old->npeers; i++) {
        const struct config_peer *p = &old->peers[i];
        if (reload_same_peer(next, p))
            continue;
        for (size_t j = 0; j < SYNC_MAX_SESSIONS; j++)
            if (s->sess[j].used && s->sess[j].hub_known && memcmp(s->sess[j].hub, p->key, 32) == 0)
                sess_free(&s->sess[j]);
        if (!reload_has_key(next, p->key))
            policy_remove_root(s->policy, p->key, POLICY_ROOT_PEER);
        s->policy_dirty = 1;
    }
    for (size_t i = 0; i < old->nallow; i++)
        if (!reload_in(next->allow, next->nallow, old->allow[i])) {
            policy_remove_root(s->policy, old->allow[i], POLICY_ROOT_ALLOW);
            s->policy_dirty = 1;
        }
    for (size_t i = 0; i < next->nallow; i++) {
        policy_add_root(s->policy, next->allow[i], POLICY_ROOT_ALLOW);
        s->policy_dirty = 1;
    }
    /* Anchors: trusted, and their endorsements followed, from the next recompute on. */
    for (size_t i = 0; i < old->nanchor; i++)
        if (!reload_in(next->anchor, next->nanchor, old->anchor[i])) {
            policy_remove_root(s->policy, old->anchor[i], POLICY_ROOT_ANCHOR);
            s->policy_dirty = 1;
        }
    for (size_t i = 0; i < next->nanchor; i++) {
        policy_add_root(s->policy, next->anchor[i], POLICY_ROOT_ANCHOR);
        s->policy_dirty = 1;
    }
    for (size_t i = 0; i < next->npeers; i++) {
        const struct config_peer *p = &next->peers[i];
        if (reload_same_peer(old, p) || sess_out_by_hub(s, p->key))
            continue;
        policy_add_base(s->policy, p->key);
        s->policy_dirty = 1;
        if (s->cfg->policy == POLICY_TRUST)
            endorse_queue(s, p->key);
        if (sess_dial(s, p->endpoint, p->key) != 0) {
            hub_short(p->key, k);
            log_warnx("sync", "reload: cannot dial peer %s at %s", k, p->endpoint);
        }
    }
}

size_t sync_poll_capacity(void) {
    return 2 + 2 * SYNC_MAX_SESSIONS; /* ZAP, ROUTER, and a DEALER and a SUB per session */
}
