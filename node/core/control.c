/* control.c: the control socket server (CONTROL.md). Non-blocking clients with bounded buffers:
 * a slow or stuck client is cut off, never waited for. */
#include "control.h"
#include "search.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "entry.h"
#include "jarena.h"
#include "jbuf.h"
#include "jsplit.h"
#include "langpick.h"
#include "log.h"
#include "match.h"
#include "node.h"
#include "evpar.h"
#include "par.h"
#include "qfilter.h"
#include "qpage.h"
#include "record.h"
#include "records.h"
#include "sigcheck.h"
#include "store.h"
#include "view.h"
#include "vocab.h"
#include "facets.h"
#include "webtoken.h"

#define CONTROL_MAX_LINE (16u << 20)  /* a request line */
#define CONTROL_MAX_OUT (96u << 20)   /* pending responses: a full query page fits */
#define CONTROL_READ_PAUSE (1u << 20) /* stop reading requests while this much is unsent */
/* Totals over all clients (CONTROL.md, "Connections"): the per-client caps above times
 * control_max_clients would be gigabytes. Buffer capacity is counted, as allocated. */
#define CONTROL_TOTAL_IN (64u << 20) /* unfinished (and unhandled) request lines */
/* unsent answers and events: one answer of CONTROL_MAX_OUT still fits when nothing else waits */
#define CONTROL_TOTAL_OUT (CONTROL_MAX_OUT + (32u << 20))
#define CONTROL_IN_MIN (64u << 10) /* a client's input buffer: first size, room kept per read */
/* A client's first output buffer, never refused (an error line fits), and the most kept
 * allocated once everything is sent. */
#define CONTROL_OUT_MIN 4096u
#define CONTROL_OUT_KEEP (64u << 10)
#define CONTROL_REQS_PER_TURN 8       /* fairness between clients */
/* ... and no more requests of a client in one turn once this much is queued for it */
#define CONTROL_TURN_BYTES (64u << 10)
/* Requests per loop turn, all clients together, from clients that have not read their last
 * answers: what such clients can make hubd do between two turns for everyone else. */
#define CONTROL_BACKED_REQS_PER_TURN 4
#define CONTROL_MAX_QUERY_LIMIT 1000
_Static_assert(CONTROL_MAX_QUERY_LIMIT <= QPAGE_MAX_ROWS, "a query page holds its limit");
#define CONTROL_DEFAULT_LIMIT 50
#define CONTROL_MAX_IMPORT 10000 /* records or entries per import request */
_Static_assert(CONTROL_MAX_IMPORT <= NODE_BLOCK_ENTRIES, "an import reuses the node's kept memory");
#define CONTROL_MAX_EXT_OPS 16
#define CONTROL_CLOSE_GRACE_MS 5000 /* an overflowed watcher gets this long to read the event */
#define CONTROL_MAX_WATCH_TERMS 8
#define CONTROL_MIN_ID_PREFIX 4             /* hex digits of an id prefix that get accepts */
#define CONTROL_FAST_IMPORT_MIN (64u << 10) /* requests this long may take import_fast */
#define FAST_MAX_ARENAS 64 /* threads of one import_fast that get an arena of their own */
/* Idle clients (CONTROL.md, "Connections"): the timeout itself is [hub] control_idle_timeout. */
#define CONTROL_IDLE_PROGRESS (64u << 10) /* bytes of one partial line that count as activity */
#define CONTROL_EVICT_MIN_IDLE_MS 1000 /* a full server closes a client this idle for a new one */
#define CONTROL_SUMMARY_MS 10000       /* closed/refused clients: one log line per period */
/* Descriptors kept free for LMDB, sync sockets and the log: accepting stops when the lowest
 * free descriptor reaches the limit minus this (accept4 hands out the lowest free one). */
#define CONTROL_FD_RESERVE 64
#define CONTROL_ACCEPT_PAUSE_MS 1000 /* no descriptors left (EMFILE, ENFILE): wait this long */
#define CONTROL_ACCEPTS_PER_TURN 64  /* connections taken (or refused) per loop turn */
#define CONTROL_LISTEN_BACKLOG 128   /* listen(2): connections the kernel queues meanwhile */

struct client {
    struct control *ctl; /* its server: the totals its buffers count in */
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    int watching;
    struct index_term wterms[CONTROL_MAX_WATCH_TERMS];
    size_t nwterms;
    int eof;     /* peer closed its side: answer what it sent, then close */
    int closing; /* told it overflowed: flush what is queued, then close */
    uint64_t close_by;
    int dead;
    int has_line;         /* a complete request line waits in in (the per-turn cap) */
    uint64_t last_active; /* mono ms: connected, a request handled or answer bytes sent */
    size_t in_progress;   /* bytes of a partial line received since last_active */
    int slow;             /* cut off: its unread answers passed CONTROL_MAX_OUT */
    int backed;           /* this turn: had unsent answers, handled after the others */
    int fresh;            /* accepted in this turn: its first request is read at once */
    /* backup, verify and watch "since" (the section "store jobs and cursors" below) */
    int passed_fd;   /* 1 + a descriptor the client sent (SCM_RIGHTS); 0: none */
    uint64_t serial; /* names the client to a store job (the array moves clients) */
    int job_wait;    /* a store job answers its request: handle nothing else meanwhile */
    int since;       /* watching from a cursor: its events are read from the store */
    uint64_t cursor; /* since: the last entry sent or passed over by its filter */
    int behind;      /* since: entries may have been accepted after cursor */
    /* import of records with partial or dry_run: an answer made while set is kept here
     * (a refused record's error, reported in the import's answer) instead of being sent */
    int capturing;
    json_t *captured;
    int budget_error; /* an E_BUSY for CONTROL_TOTAL_OUT is being queued: not another one */
};

struct ext_op {
    char name[32];
    control_op_fn fn;
    void *arg;
};

struct control {
    struct node *node;
    int lfd;
    char path[108];
    unsigned max_clients;
    struct client *clients;
    size_t nclients;
    struct ext_op ops[CONTROL_MAX_EXT_OPS];
    size_t nops;
    control_status_fn status_fn;
    void *status_arg;
    uint64_t started_mono;
    uint64_t watch_backlog;
    uint64_t idle_timeout_ms;
    int fd_limit;                 /* RLIMIT_NOFILE soft limit at start */
    uint64_t accept_paused_until; /* mono ms: descriptors ran out */
    /* Totals since start (status "control"), and what the last summary line reported. */
    struct control_counts {
        uint64_t idle_closed, evicted, refused, slow_closed, fd_refused;
        uint64_t in_budget_closed;    /* clients closed: CONTROL_TOTAL_IN held */
        uint64_t out_budget_refused;  /* answers refused, watchers cut off: CONTROL_TOTAL_OUT */
    } total, logged;
    size_t in_held, out_held; /* buffer capacity of all clients, against the totals */
    uint64_t last_summary;
    struct records *records; /* views with derived values, and the reply calls (records.h) */
    int backed_budget;       /* CONTROL_BACKED_REQS_PER_TURN, counted down in a turn */
    size_t backed_rr;        /* where the turn's pass over backed clients starts (round robin) */
    struct control_job *job; /* the backup or verify running on its thread, or NULL */
    struct evpar *par;       /* the event loop's helper thread (query pages), or NULL */
    /* the last query page: freed when the next one starts (qpage_free waits for the helper's
     * row, which may outlast the answer), or at the end */
    struct qpage page;
    int page_used;
    uint64_t serials;        /* the last client serial given out */
};

/* ---- output ---- */

/* E_TOO_LARGE: over CONTROL_MAX_OUT for this client; E_BUSY: over CONTROL_TOTAL_OUT for all. */
static int client_queue(struct client *cl, const char *data, size_t len) {
    if (cl->out_off && cl->out_off == cl->out_len)
        cl->out_off = cl->out_len = 0;
    if (cl->out_len + len + 1 > CONTROL_MAX_OUT)
        return HUB_E_TOO_LARGE;
    if (cl->out_len + len + 1 > cl->out_cap && cl->out_off) { /* compact before growing */
        memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
        cl->out_len -= cl->out_off;
        cl->out_off = 0;
    }
    size_t need = cl->out_len + len + 1;
    if (need > cl->out_cap) {
        /* doubling for many small lines, the exact size for one big answer */
        size_t cap = cl->out_cap ? cl->out_cap * 2 : CONTROL_OUT_MIN;
        if (cap > CONTROL_MAX_OUT)
            cap = CONTROL_MAX_OUT;
        if (cap < need)
            cap = need;
        if (cap > CONTROL_OUT_MIN && cl->ctl->out_held - cl->out_cap + cap > CONTROL_TOTAL_OUT)
            return HUB_E_BUSY;
        char *n = realloc(cl->out, cap);
        if (!n)
            return HUB_E_NOMEM;
        cl->ctl->out_held += cap - cl->out_cap;
        cl->out = n;
        cl->out_cap = cap;
    }
    memcpy(cl->out + cl->out_len, data, len);
    cl->out_len += len;
    cl->out[cl->out_len++] = '\n';
    return HUB_OK;
}

/* Queues an answer built in b (which is left empty): when nothing else waits to be sent, b's
 * buffer becomes the client's rather than being copied (a query page is ~80 KB). */
static int client_queue_jbuf(struct client *cl, struct jbuf *b) {
    if (cl->out_off != cl->out_len || b->p == NULL || b->len + 1 > b->cap ||
        b->len + 1 > CONTROL_MAX_OUT)
        return client_queue(cl, b->p, b->len);
    if (b->cap > CONTROL_OUT_MIN && cl->ctl->out_held - cl->out_cap + b->cap > CONTROL_TOTAL_OUT)
        return HUB_E_BUSY;
    free(cl->out);
    cl->ctl->out_held = cl->ctl->out_held - cl->out_cap + b->cap;
    cl->out = b->p;
    cl->out_cap = b->cap;
    cl->out_off = 0;
    cl->out_len = b->len;
    cl->out[cl->out_len++] = '\n';
    b->p = NULL;
    b->len = b->cap = 0;
    return HUB_OK;
}

static void client_flush(struct client *cl) {
    while (cl->out_off < cl->out_len) {
        ssize_t w = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                cl->dead = 1;
            return;
        }
        cl->out_off += (size_t)w;
        cl->last_active = hub_mono_ms(); /* a reader that keeps reading is not idle */
    }
    cl->out_off = cl->out_len = 0;
    if (cl->out_cap > CONTROL_OUT_KEEP) { /* a big answer's buffer goes back to the total */
        free(cl->out);
        cl->ctl->out_held -= cl->out_cap;
        cl->out = NULL;
        cl->out_cap = 0;
    }
}

static size_t client_pending(const struct client *cl) {
    return cl->out_len - cl->out_off;
}

static void send_error(struct client *cl, json_t *tag, int code, const char *field, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

/* An answer client_queue refused (rc). Over CONTROL_TOTAL_OUT the request is refused with
 * E_BUSY and the client kept (the memory is held by others; it may retry): the error carries
 * the request's tag unless even that does not fit, and if the bare error does not fit either
 * the client is closed. Over its own CONTROL_MAX_OUT the client is closed. */
static void queue_failed(struct client *cl, int rc, json_t *tag) {
    if (rc == HUB_E_BUSY && cl->budget_error) {
        cl->budget_error = 2; /* the error line itself did not fit */
        return;
    }
    if (rc == HUB_E_BUSY) {
        cl->ctl->total.out_budget_refused++;
        for (int bare = 0; bare < 2; bare++) {
            cl->budget_error = 1;
            send_error(cl, bare ? NULL : tag, HUB_E_BUSY, NULL,
                       "hubd holds %u MiB of unsent answers for all its clients: this answer "
                       "was not made; read yours and retry",
                       CONTROL_TOTAL_OUT >> 20);
            if (cl->budget_error == 1)
                break;
        }
        cl->dead = cl->dead || cl->budget_error == 2;
        cl->budget_error = 0;
        return;
    }
    log_warnx("control", "client fell %u MiB behind; disconnected", CONTROL_MAX_OUT >> 20);
    cl->dead = 1;
    cl->slow = 1;
}

/* cl NULL: a quiet check (make_draft on a worker thread); the response is dropped. */
static void send_json(struct client *cl, json_t *o, json_t *tag) {
    if (!cl) {
        json_decref(o);
        return;
    }
    if (cl->capturing) {
        json_decref(cl->captured);
        cl->captured = o;
        return;
    }
    if (tag)
        json_object_set(o, "tag", tag);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!s) {
        cl->dead = 1;
        return;
    }
    int rc = client_queue(cl, s, strlen(s));
    jarena_free_dump(s);
    if (rc != 0)
        queue_failed(cl, rc, tag);
}

static void send_error(struct client *cl, json_t *tag, int code, const char *field, const char *fmt,
                       ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int w = fmt ? vsnprintf(msg, sizeof msg, fmt, ap) : -1;
    va_end(ap);
    if (w < 0)
        snprintf(msg, sizeof msg, "%s", hub_strmsg(code));
    json_t *err = json_pack("{s:s, s:s}", "code", hub_strerror(code), "message", msg);
    if (field && err)
        json_object_set_new(err, "field", json_string(field));
    send_json(cl, json_pack("{s:b, s:o}", "ok", 0, "error", err), tag);
}

/* b holds a response object's text without its closing brace: add the tag, close it and
 * queue it. Frees b. */
static void send_text(struct client *cl, struct jbuf *b, json_t *tag) {
    if (tag) {
        char *t = json_dumps(tag, JSON_COMPACT | JSON_ENCODE_ANY);
        if (t) {
            jbuf_key(b, "tag");
            jbuf_raw(b, t, strlen(t));
            jarena_free_dump(t);
        }
    }
    jbuf_lit(b, "}");
    if (b->oom) {
        send_error(cl, tag, HUB_E_NOMEM, NULL, "out of memory building the answer");
    } else {
        int rc = client_queue_jbuf(cl, b);
        if (rc != 0) {
            jbuf_free(b);
            queue_failed(cl, rc, tag);
            return;
        }
    }
    jbuf_free(b);
}

/* A watcher whose events cannot all be kept: drop the backlog but keep the stream well-formed
 * (finish the line being sent, then the overflow event), and close once that is out or after
 * a grace time. */
static void watch_overflow(struct client *cl) {
    static const char overflow[] = "{\"event\":\"overflow\"}";
    char *nl = client_pending(cl) ? memchr(cl->out + cl->out_off, '\n', client_pending(cl)) : NULL;
    if (nl)
        cl->out_len = (size_t)(nl - cl->out) + 1;
    int rc = client_queue(cl, overflow, sizeof overflow - 1);
    (void)rc; /* closed either way */
    client_flush(cl);
    cl->closing = 1;
    cl->close_by = hub_mono_ms() + CONTROL_CLOSE_GRACE_MS;
}

/* ---- request helpers ---- */

/* Optional string field: 0 (absent: *out NULL), or E_TYPE after replying. */
static int opt_string(struct client *cl, json_t *tag, json_t *req, const char *name,
                      const char **out) {
    json_t *v = json_object_get(req, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        send_error(cl, tag, HUB_E_TYPE, name, "%s: expected a string", name);
        return HUB_E_TYPE;
    }
    *out = json_string_value(v);
    return 0;
}

static int parse_kind(struct client *cl, json_t *tag, const char *s, const char *field) {
    int k = entry_kind_parse(s);
    if (k < 0)
        send_error(cl, tag, HUB_E_KIND, field,
                   "%s: unknown kind '%.40s' (profile, offer, request, response, retraction, "
                   "endorsement)",
                   field, s);
    return k;
}

static int parse_hex32(struct client *cl, json_t *tag, const char *s, const char *field,
                       uint8_t out[32]) {
    if (strlen(s) != HUB_HEX_LEN || hub_unhex(s, out, 32) != 0) {
        send_error(cl, tag, HUB_E_RANGE, field, "%s: expected 64 hex digits", field);
        return HUB_E_RANGE;
    }
    return 0;
}

/* ---- calls ---- */

struct fork_list {
    json_t *arr;
};

static int fork_cb(const struct store_fork *f, void *arg) {
    struct fork_list *fl = arg;
    char a[HUB_HEX_LEN + 1], h[HUB_HEX_LEN + 1], o[HUB_HEX_LEN + 1];
    hub_hex(f->author, 32, a);
    hub_hex(f->held_id, 32, h);
    hub_hex(f->other_id, 32, o);
    json_array_append_new(fl->arr, json_pack("{s:s, s:I, s:s, s:s, s:I}", "author", a, "seq",
                                             (json_int_t)f->seq, "held", h, "other", o, "detected",
                                             (json_int_t)f->detected_ms));
    return 0;
}

static int sig_bad_cb(const uint8_t author[32], uint64_t seq, void *arg) {
    char a[HUB_HEX_LEN + 1];
    hub_hex(author, 32, a);
    json_array_append_new(arg, json_pack("{s:s, s:I}", "author", a, "seq", (json_int_t)seq));
    return 0;
}

/* Catch-up on the hash chain (PROTOCOL.md 9.16): entries stored before their own signatures
 * were checked, the checks done since, and the feeds whose serving a failed check stopped. */
static json_t *status_signatures(struct node *n) {
    struct sigcheck_stats ss;
    sigcheck_stats(node_sigcheck(n), &ss);
    json_t *bad = json_array();
    (void)sigcheck_bad_walk(node_sigcheck(n), sig_bad_cb, bad);
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:I}", "deferred", (json_int_t)ss.deferred,
                     "checked", (json_int_t)ss.checked, "failed", (json_int_t)ss.bad,
                     "feeds_waiting", (json_int_t)(ss.feeds - ss.feeds_bad), "stopped", bad,
                     "repaired", (json_int_t)ss.repaired, "unchained", (json_int_t)ss.unchained);
}

static void op_status(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    struct node *n = c->node;
    const struct config *cfg = node_config(n);
    char hub[HUB_HEX_LEN + 1];
    hub_hex(node_identity(n)->pk, 32, hub);
    struct store_stats st;
    if (store_stats(node_store(n), &st) != 0) {
        send_error(cl, tag, HUB_E_INTERNAL, NULL, "cannot read store statistics");
        return;
    }
    struct feed_head own;
    if (store_feed_head(node_store(n), node_identity(n)->pk, &own) != 0)
        own.seq = 0;
    struct fork_list fl = {json_array()};
    store_forks(node_store(n), fork_cb, &fl);
    json_t *rej = json_object();
    const struct node_counters *nc = node_counters(n);
    for (size_t i = 1; i < HUB_ARRAY_LEN(nc->rejected); i++)
        if (nc->rejected[i] && i != (size_t)-HUB_E_DUPLICATE)
            json_object_set_new(rej, hub_strerror(-(int)i),
                                json_integer((json_int_t)nc->rejected[i]));
    json_t *o = json_pack(
        "{s:b, s:s, s:s, s:i, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:o}",
        "ok", 1, "hub", hub, "version", HUB_VERSION, "protocol", HUB_CONTROL_PROTOCOL, "uptime_s",
        (json_int_t)((hub_mono_ms() - c->started_mono) / 1000), "data_dir", cfg->data_dir,
        "control_socket", c->path, "own_seq", (json_int_t)own.seq, "entries",
        (json_int_t)st.entries, "records", (json_int_t)st.records, "feeds", (json_int_t)st.feeds,
        "forks", fl.arr, "map_size", (json_int_t)st.map_size, "used_bytes",
        (json_int_t)st.used_bytes, "clients", (json_int_t)c->nclients, "accepted",
        (json_int_t)nc->accepted, "rejected", rej);
    size_t watchers = 0;
    for (size_t i = 0; i < c->nclients; i++)
        watchers += c->clients[i].watching && !c->clients[i].closing;
    if (o) {
        json_object_set_new(
            o, "control",
            json_pack(
                "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "max_clients",
                (json_int_t)c->max_clients,
                "idle_timeout_s", (json_int_t)(c->idle_timeout_ms / 1000), "idle_closed",
                (json_int_t)c->total.idle_closed, "evicted", (json_int_t)c->total.evicted,
                "refused", (json_int_t)(c->total.refused + c->total.fd_refused), "slow_closed",
                (json_int_t)c->total.slow_closed, "fd_refused", (json_int_t)c->total.fd_refused,
                "in_budget_closed", (json_int_t)c->total.in_budget_closed, "out_budget_refused",
                (json_int_t)c->total.out_budget_refused));
        json_object_set_new(o, "watchers", json_integer((json_int_t)watchers));
        json_object_set_new(o, "index_tail", json_integer((json_int_t)st.index_tail));
        json_object_set_new(o, "map_max", json_integer((json_int_t)cfg->max_map_bytes));
        json_object_set_new(o, "histograms", store_histograms(node_store(n)));
        json_object_set_new(o, "signatures", status_signatures(n));
    }
    if (c->status_fn && o)
        c->status_fn(c->status_arg, o);
    send_json(cl, o, tag);
}

static void op_id(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    char hub[HUB_HEX_LEN + 1];
    hub_hex(node_identity(c->node)->pk, 32, hub);
    send_json(cl, json_pack("{s:b, s:s}", "ok", 1, "hub", hub), tag);
}

/* Turn one {"kind","key","record","expires"} object into a draft; replies on error (cl NULL:
 * quietly, on any thread). prefix names the element in error messages ("" or "records[3].").
 * keybuf holds a generated key. */
static int make_draft(struct client *cl, json_t *tag, json_t *obj, const char *prefix,
                      struct node_draft *d, char keybuf[32], int index) {
    char field[96];
    const char *kind_s, *key, *expires_s;
    json_t *kv = json_object_get(obj, "kind");
    if (!json_is_string(kv)) {
        snprintf(field, sizeof field, "%skind", prefix);
        send_error(cl, tag, kv ? HUB_E_TYPE : HUB_E_BAD_REQUEST, field, "%s: %s", field,
                   kv ? "expected a string" : "missing");
        return HUB_E_BAD_REQUEST;
    }
    kind_s = json_string_value(kv);
    snprintf(field, sizeof field, "%skind", prefix);
    int kind = parse_kind(cl, tag, kind_s, field);
    if (kind < 0)
        return kind;
    if (kind == 5) {
        send_error(cl, tag, HUB_E_KIND, field, "%s: use the retract call to withdraw a record",
                   field);
        return HUB_E_KIND;
    }
    if (opt_string(cl, tag, obj, "key", &key) != 0)
        return HUB_E_TYPE;
    /* expires: milliseconds since the epoch, or an ISO 8601 UTC time */
    expires_s = NULL;
    if (!json_is_integer(json_object_get(obj, "expires")) &&
        opt_string(cl, tag, obj, "expires", &expires_s) != 0)
        return HUB_E_TYPE;
    d->expires = 0;
    json_t *ev = json_object_get(obj, "expires");
    /* A negative number is not "never" (that is 0 or no expires), nor is one past year 9999. */
    if (json_is_integer(ev) &&
        (json_integer_value(ev) < 0 || (uint64_t)json_integer_value(ev) > HUB_MAX_EXPIRES_MS)) {
        snprintf(field, sizeof field, "%sexpires", prefix);
        send_error(cl, tag, HUB_E_RANGE, field,
                   "%s: milliseconds since the epoch, 0 (never) to %llu (9999-12-31T23:59:59.999Z)",
                   field, (unsigned long long)HUB_MAX_EXPIRES_MS);
        return HUB_E_RANGE;
    }
    if (json_is_integer(ev)) {
        d->expires = (uint64_t)json_integer_value(ev);
    } else if (expires_s &&
               (view_parse_time(expires_s, &d->expires) != 0 || d->expires > HUB_MAX_EXPIRES_MS)) {
        snprintf(field, sizeof field, "%sexpires", prefix);
        send_error(cl, tag, HUB_E_RANGE, field,
                   "%s: expected an ISO 8601 UTC time or milliseconds up to %llu", field,
                   (unsigned long long)HUB_MAX_EXPIRES_MS);
        return HUB_E_RANGE;
    }
    if (d->expires && d->expires <= hub_now_ms()) {
        snprintf(field, sizeof field, "%sexpires", prefix);
        send_error(cl, tag, HUB_E_RANGE, field, "%s: already in the past", field);
        return HUB_E_RANGE;
    }
    if (key) {
        size_t kl = strlen(key);
        int bad = kl == 0 || kl > HUB_MAX_RECORD_KEY;
        for (size_t i = 0; i < kl && !bad; i++)
            bad = (unsigned char)key[i] < 0x20 || key[i] == 0x7f;
        if (bad) {
            snprintf(field, sizeof field, "%skey", prefix);
            send_error(cl, tag, HUB_E_RANGE, field, "%s: 1 to %d bytes without control characters",
                       field, HUB_MAX_RECORD_KEY);
            return HUB_E_RANGE;
        }
    } else if (kind == 1) {
        key = "profile";
    } else {
        uint8_t r[8];
        randombytes_buf(r, sizeof r);
        hub_hex(r, sizeof r, keybuf);
        key = keybuf;
    }
    d->kind = kind;
    d->key = key;
    json_t *rec = json_object_get(obj, "record");
    if (!json_is_object(rec)) {
        snprintf(field, sizeof field, "%srecord", prefix);
        send_error(cl, tag, rec ? HUB_E_TYPE : HUB_E_BAD_REQUEST, field, "%s: %s", field,
                   rec ? "expected an object" : "missing");
        return HUB_E_BAD_REQUEST;
    }
    struct record_error rerr = {{0}, {0}};
    uint8_t *payload = NULL;
    size_t plen = 0;
    int rc = record_from_json(kind, rec, &payload, &plen, &rerr);
    if (rc != 0) {
        snprintf(field, sizeof field, "%s%s", prefix, rerr.field);
        json_t *err =
            json_pack("{s:s, s:s, s:s}", "code", hub_strerror(rc), "message", "", "field", field);
        char msg[400];
        snprintf(msg, sizeof msg, "%s: %s", field, rerr.message[0] ? rerr.message : hub_strmsg(rc));
        json_object_set_new(err, "message", json_string(msg));
        if (index >= 0)
            json_object_set_new(err, "index", json_integer(index));
        send_json(cl, json_pack("{s:b, s:o}", "ok", 0, "error", err), tag);
        return rc;
    }
    d->payload = payload;
    d->payload_len = plen;
    return 0;
}

static void publish_failed(struct control *c, struct client *cl, json_t *tag, int rc) {
    if (rc == HUB_E_DISK_FULL) { /* the numbers, so that the operator knows what to free */
        char detail[256];
        store_full_detail(node_store(c->node), detail, sizeof detail);
        send_error(cl, tag, rc, NULL, "%s: %s; nothing was stored", hub_strmsg(rc), detail);
        return;
    }
    send_error(cl, tag, rc, NULL, "%s; nothing was stored", hub_strmsg(rc));
}

/* An enrolment's publish answer says whether the offer is full as this hub sees it
 * (`seats_left`, `offer_full`): the enrolment waits for the offering hub's answer. */
static void enrolment_note(struct control *c, json_t *rec, json_t *ans) {
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *author = json_string_value(json_object_get(rec, "target_author"));
    const char *key = json_string_value(json_object_get(rec, "target_key"));
    uint8_t a[32];
    struct records_seats st;
    if (!type || strcmp(type, "enrolment") != 0 || !author || !key ||
        strlen(author) != HUB_HEX_LEN || hub_unhex(author, a, 32) != 0 ||
        records_offer_seats(c->records, a, key, &st) != 0 || st.unlimited)
        return;
    json_object_set_new(ans, "seats_left", json_integer(st.seats_left));
    json_object_set_new(ans, "offer_full", json_boolean(st.full));
}

static void op_publish(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    struct node_draft d = {0};
    char keybuf[32];
    json_t *kv = json_object_get(req, "kind"), *rec = json_object_get(req, "record");
    if (c->records && json_is_string(kv) && strcmp(json_string_value(kv), "response") == 0 &&
        json_is_object(rec)) {
        /* A reply: its target resolved and checked, its contact sealed (records.c). */
        char field[64], msg[400];
        int rc =
            records_prepare_response(c->records, req, rec, field, sizeof field, msg, sizeof msg);
        if (rc != 0) {
            send_error(cl, tag, rc, field[0] ? field : NULL, "%s", msg);
            return;
        }
    }
    if (c->records && json_is_string(kv) && strcmp(json_string_value(kv), "offer") == 0 &&
        json_is_object(rec)) {
        char field[64], msg[400];
        int rc = records_prepare_offer(c->records, req, rec, field, sizeof field, msg, sizeof msg);
        if (rc != 0) {
            send_error(cl, tag, rc, field[0] ? field : NULL, "%s", msg);
            return;
        }
    }
    if (make_draft(cl, tag, req, "", &d, keybuf, -1) != 0)
        return;
    int rc = node_publish(c->node, &d, 1);
    if (rc != 0) {
        publish_failed(c, cl, tag, rc);
    } else {
        char id[HUB_HEX_LEN + 1];
        hub_hex(d.id, 32, id);
        json_t *ans = json_pack("{s:b, s:s, s:I, s:s, s:s}", "ok", 1, "id", id, "seq",
                                (json_int_t)d.seq, "kind", entry_kind_name(d.kind), "key", d.key);
        if (c->records && d.kind == 4)
            enrolment_note(c, rec, ans);
        send_json(cl, ans, tag);
    }
    free((void *)d.payload);
}

static void op_get(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    const char *ids;
    uint8_t id[32];
    if (opt_string(cl, tag, req, "id", &ids) != 0)
        return;
    if (!ids) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, "id", "id: missing");
        return;
    }
    /* A full id, or (like git) a unique prefix of 4 or more hex digits: tables show 8. */
    size_t hl = strlen(ids);
    if (hl >= CONTROL_MIN_ID_PREFIX && hl < HUB_HEX_LEN) {
        uint8_t pre[32] = {0};
        char hex[HUB_HEX_LEN + 1];
        snprintf(hex, sizeof hex, "%s%s", ids, hl % 2 ? "0" : "");
        if (hub_unhex(hex, pre, strlen(hex) / 2) != 0) {
            send_error(cl, tag, HUB_E_RANGE, "id", "id: expected hex digits");
            return;
        }
        int rc = store_resolve_id(node_store(c->node), pre, hl, id);
        if (rc == HUB_E_RANGE) {
            send_error(cl, tag, HUB_E_RANGE, "id",
                       "id: %.63s is the start of several entry ids; give more digits", ids);
            return;
        }
        if (rc != 0) {
            send_error(cl, tag, rc, "id",
                       rc == HUB_E_NOT_FOUND ? "no entry id starts with %.63s" : "%s",
                       rc == HUB_E_NOT_FOUND ? ids : hub_strmsg(rc));
            return;
        }
    } else if (hl < CONTROL_MIN_ID_PREFIX || hl > HUB_HEX_LEN || hub_unhex(ids, id, 32) != 0) {
        send_error(cl, tag, HUB_E_RANGE, "id",
                   "id: expected 64 hex digits, or at least %d of their start",
                   CONTROL_MIN_ID_PREFIX);
        return;
    }
    uint8_t *wire;
    size_t len;
    int rc = store_get(node_store(c->node), id, &wire, &len);
    if (rc != 0) {
        send_error(cl, tag, rc, "id", rc == HUB_E_NOT_FOUND ? "no entry with id %.64s" : "%s",
                   rc == HUB_E_NOT_FOUND ? ids : hub_strmsg(rc));
        return;
    }
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{\"ok\":true,\"entry\":");
    if (!b64 || (c->records ? records_write_view(c->records, &b, wire, len)
                            : view_write_wire(&b, wire, len)) != 0) {
        jbuf_free(&b);
        free(b64);
        free(wire);
        send_error(cl, tag, HUB_E_INTERNAL, NULL, "stored entry does not decode");
        return;
    }
    sodium_bin2base64(b64, b64len, wire, len, sodium_base64_VARIANT_ORIGINAL);
    jbuf_key(&b, "wire");
    jbuf_cstr(&b, b64);
    send_text(cl, &b, tag);
    free(b64);
    free(wire);
}

/* ---- query ---- */

struct qfilter {
    const char *name;
    enum index_field field;
    int vocab; /* enum vocab_list its values must be in, or -1 (open) */
};
static const struct qfilter query_filters[] = {
    {"topic", IDX_TOPIC, -1},
    {"technology", IDX_TECHNOLOGY, VOCAB_TECHNOLOGY},
    {"sector", IDX_SECTOR, VOCAB_SECTOR},
    {"service", IDX_SERVICE, VOCAB_SERVICE},
    {"country", IDX_COUNTRY, VOCAB_COUNTRY},
    {"language", IDX_LANGUAGE, -1},
    {"mode", IDX_MODE, VOCAB_MODE},
    {"audience", IDX_AUDIENCE, VOCAB_AUDIENCE},
    {"skill", IDX_SKILL, -1},
    {"service_group", IDX_SERVICE_GROUP, VOCAB_SERVICE_GROUP},
    /* issue 11 item 4: a broad or narrow ISCED-F field finds its detailed ones, a NUTS region
     * the smaller ones in it, a DigComp area its competences (record.c indexes the prefixes) */
    {"isced", IDX_ISCED, VOCAB_ISCED},
    {"eqf", IDX_EQF, VOCAB_EQF},
    {"digcomp", IDX_DIGCOMP, VOCAB_DIGCOMP},
    {"nuts", IDX_NUTS, VOCAB_NUTS},
    {"hub_type", IDX_HUB_TYPE, VOCAB_HUB_TYPE},
    {"customer_type", IDX_CUSTOMER_TYPE, VOCAB_CUSTOMER_TYPE},
};

/* A query value outside its vocabulary: E_VOCAB with the nearest values (as publish says). */
static int query_vocab_check(struct client *cl, json_t *tag, const char *name, int list,
                             const char *v) {
    if (list == VOCAB_NUTS) { /* a region code, any case (terms are folded) */
        char up[VOCAB_NUTS_MAX_LEN + 1];
        size_t n = strnlen(v, sizeof up);
        for (size_t i = 0; i < n && n < sizeof up; i++)
            up[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 'a' + 'A' : v[i]);
        if (n < sizeof up)
            up[n] = 0;
        int ok = n < sizeof up ? vocab_nuts_check(up) : 0;
        if (ok == 1)
            return 0;
        char near[200] = "";
        if (ok == -1)
            vocab_nuts_suggest_text(up, near, sizeof near);
        send_error(cl, tag, ok == -1 ? HUB_E_VOCAB : HUB_E_RANGE, name,
                   "%s: '%.80s' is not a NUTS region code (a NUTS country code and 1 to 3 "
                   "letters or digits, e.g. AT13)%s%s",
                   name, v, near[0] ? "; " : "", near);
        return ok == -1 ? HUB_E_VOCAB : HUB_E_RANGE;
    }
    if (list < 0 || vocab_find((enum vocab_list)list, v))
        return 0;
    char near[200];
    vocab_suggest_text((enum vocab_list)list, v, near, sizeof near);
    send_error(cl, tag, HUB_E_VOCAB, name, "%s: '%.80s' is not in the %s vocabulary%s%s", name, v,
               vocab_name((enum vocab_list)list), near[0] ? "; " : "", near);
    return HUB_E_VOCAB;
}

/* Calls each(piece) for every value of a filter's string: the whole string when it is a
 * value of list (some EDIH labels hold commas), else each comma-separated piece, trimmed
 * (`--language es,en` is es or en). A piece too long for buf is E_RANGE. Replies on error. */
static int query_split(struct client *cl, json_t *tag, const char *name, int list, const char *s,
                       int (*each)(const char *v, void *arg), void *arg) {
    if ((list >= 0 && vocab_find((enum vocab_list)list, s)) || !strchr(s, ',')) {
        if (query_vocab_check(cl, tag, name, list, s) != 0)
            return -1;
        return each(s, arg);
    }
    char buf[QFILTER_VALUE_MAX + 1];
    for (const char *p = s;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len > QFILTER_VALUE_MAX) {
            send_error(cl, tag, HUB_E_RANGE, name, "%s: a value is longer than %d bytes", name,
                       QFILTER_VALUE_MAX);
            return -1;
        }
        if (len) {
            memcpy(buf, p, len);
            buf[len] = 0;
            if (query_vocab_check(cl, tag, name, list, buf) != 0)
                return -1;
            int rc = each(buf, arg);
            if (rc != 0)
                return rc;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

/* Calls query_split for a filter that takes a string or a list of strings. Replies on error. */
static int query_each(struct client *cl, json_t *tag, json_t *req, const char *name, int list,
                      int (*each)(const char *v, void *arg), void *arg) {
    json_t *v = json_object_get(req, name);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return query_split(cl, tag, name, list, json_string_value(v), each, arg);
    if (!json_is_array(v)) {
        send_error(cl, tag, HUB_E_TYPE, name, "%s: expected a string or a list of strings", name);
        return -1;
    }
    size_t idx;
    json_t *e;
    json_array_foreach(v, idx, e) {
        if (!json_is_string(e)) {
            send_error(cl, tag, HUB_E_TYPE, name, "%s: expected a list of strings", name);
            return -1;
        }
        int rc = query_split(cl, tag, name, list, json_string_value(e), each, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* query_each into a payload filter's values (qfilter.h). */
struct qvals {
    struct client *cl;
    json_t *tag;
    const char *name;
    char (*vals)[QFILTER_VALUE_MAX + 1];
    size_t *n;
};

static int qvals_add(const char *v, void *arg) {
    struct qvals *qv = arg;
    size_t len = strlen(v);
    if (*qv->n == QFILTER_MAX_VALUES || len > QFILTER_VALUE_MAX) {
        send_error(qv->cl, qv->tag, HUB_E_TOO_LARGE, qv->name,
                   "%s: at most %d values of at most %d bytes", qv->name, QFILTER_MAX_VALUES,
                   QFILTER_VALUE_MAX);
        return -1;
    }
    memcpy(qv->vals[(*qv->n)++], v, len + 1);
    return 0;
}

static int query_values(struct client *cl, json_t *tag, json_t *req, const char *name, int list,
                        char (*vals)[QFILTER_VALUE_MAX + 1], size_t *n) {
    struct qvals qv = {cl, tag, name, vals, n};
    *n = 0;
    return query_each(cl, tag, req, name, list, qvals_add, &qv);
}

/* query_each into index terms. */
struct qterms {
    struct client *cl;
    json_t *tag;
    struct index_term *terms;
    size_t *n;
    enum index_field field;
};

static int add_term(struct client *cl, json_t *tag, struct index_term *terms, size_t *n,
                    enum index_field f, const char *v, size_t len);

static int qterms_add(const char *v, void *arg) {
    struct qterms *qt = arg;
    return add_term(qt->cl, qt->tag, qt->terms, qt->n, qt->field, v, strlen(v)) != 0 ? -1 : 0;
}

/* The filters on payload fields (qfilter.h), upcoming and sort: replies on error. */
static int query_parse_more(struct client *cl, json_t *tag, json_t *req, struct store_query *q,
                            struct qfilter_set *f) {
    memset(f, 0, sizeof *f);
    if (query_values(cl, tag, req, "opportunity_type", VOCAB_OPPORTUNITY, f->opportunity_type,
                     &f->n_opportunity_type) != 0 ||
        query_values(cl, tag, req, "schedule", VOCAB_SCHEDULE, f->schedule, &f->n_schedule) != 0 ||
        query_values(cl, tag, req, "region", -1, f->region, &f->n_region) != 0)
        return -1;
    static const char *const flags[] = {"free", "upcoming", "deadline_open"};
    int on[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        json_t *b = json_object_get(req, flags[i]);
        if (b && !json_is_boolean(b)) {
            send_error(cl, tag, HUB_E_TYPE, flags[i], "%s: expected true or false", flags[i]);
            return -1;
        }
        on[i] = json_is_true(b);
    }
    f->free_only = on[0];
    if (on[1]) /* start date today (UTC) or later */
        q->start_from = (int32_t)(q->now_ms / 86400000u);
    if (on[2]) /* offers whose application deadline is today (UTC) or later, or that have none */
        f->deadline_from = (int32_t)(q->now_ms / 86400000u);
    f->has_deadline = on[2];
    const char *s;
    if (opt_string(cl, tag, req, "max_cost", &s) != 0)
        return -1;
    if (s) {
        int rc = qfilter_parse_cost(s, &f->max_cost_minor, f->max_currency);
        if (rc != 0) {
            send_error(cl, tag, rc, "max_cost",
                       "max_cost: expected an amount and an ISO 4217 currency, e.g. 500EUR");
            return -1;
        }
        f->has_max_cost = 1;
    }
    if (opt_string(cl, tag, req, "sort", &s) != 0)
        return -1;
    if (s) {
        if (strcmp(s, "published") == 0) {
            q->sort = STORE_SORT_PUBLISHED;
        } else if (strcmp(s, "start") == 0) {
            q->sort = STORE_SORT_START;
        } else if (strcmp(s, "relevance") == 0) {
            if (!json_object_get(req, "text")) {
                send_error(cl, tag, HUB_E_BAD_REQUEST, "sort",
                           "sort: relevance needs a text query");
                return -1;
            }
            q->sort = STORE_SORT_RELEVANCE;
        } else {
            send_error(cl, tag, HUB_E_RANGE, "sort", "sort: relevance, start or published");
            return -1;
        }
    }
    return 0;
}

#define QUERY_MAX_TERMS 16

static int add_term(struct client *cl, json_t *tag, struct index_term *terms, size_t *n,
                    enum index_field f, const char *v, size_t len) {
    if (*n == QUERY_MAX_TERMS) {
        send_error(cl, tag, HUB_E_TOO_LARGE, NULL, "at most %d filter values per query",
                   QUERY_MAX_TERMS);
        return HUB_E_TOO_LARGE;
    }
    index_term_make(f, v, len, &terms[(*n)++]);
    return 0;
}

struct qkinds {
    struct client *cl;
    json_t *tag;
    struct index_term *terms;
    size_t *n;
};

static int qkinds_add(const char *v, void *arg) {
    struct qkinds *qk = arg;
    if (parse_kind(qk->cl, qk->tag, v, "kind") < 0)
        return -1;
    return add_term(qk->cl, qk->tag, qk->terms, qk->n, IDX_KIND, v, strlen(v)) != 0 ? -1 : 0;
}

/* Builds the store query from a request's filters; replies and returns non-zero on error. */
static int query_parse(struct control *c, struct client *cl, json_t *tag, json_t *req,
                       struct store_query *q, struct index_term *terms, uint8_t *clause,
                       json_t **text) {
    size_t n = 0;
    const char *s;
    memset(q, 0, sizeof *q);
    q->terms = terms;
    q->limit = CONTROL_DEFAULT_LIMIT;
    q->now_ms = hub_now_ms();
    /* kind: one name or several (any-of), as the other filters (hubweb's catalogue asks for
     * offers, requests and profiles together) */
    struct qkinds qk = {cl, tag, terms, &n};
    if (query_each(cl, tag, req, "kind", -1, qkinds_add, &qk) != 0)
        return -1;
    if (opt_string(cl, tag, req, "author", &s) != 0)
        return -1;
    if (s) {
        uint8_t k[32];
        if (parse_hex32(cl, tag, s, "author", k) != 0)
            return -1;
        if (add_term(cl, tag, terms, &n, IDX_AUTHOR, s, strlen(s)) != 0)
            return -1;
    }
    for (size_t i = 0; i < HUB_ARRAY_LEN(query_filters); i++) {
        struct qterms qt = {cl, tag, terms, &n, query_filters[i].field};
        if (query_each(cl, tag, req, query_filters[i].name, query_filters[i].vocab, qterms_add,
                       &qt) != 0)
            return -1;
    }
    if (opt_string(cl, tag, req, "text", &s) != 0)
        return -1;
    *text = s ? json_object_get(req, "text") : NULL; /* ranked: op_query runs it (search.c) */
    /* target: the replies to a record, named by a full id, an id prefix or AUTHOR/KIND/KEY */
    if (opt_string(cl, tag, req, "target", &s) != 0)
        return -1;
    if (s) {
        if (n == QUERY_MAX_TERMS)
            return add_term(cl, tag, terms, &n, IDX_TARGET, s, strlen(s));
        char field[64], msg[400];
        int rc = c->records ? records_target_term(c->records, s, &terms[n], field, sizeof field,
                                                  msg, sizeof msg)
                            : HUB_E_NOT_FOUND;
        if (rc == HUB_E_NOT_FOUND && strlen(s) == HUB_HEX_LEN) {
            /* Not an entry this hub holds: an endorsed hub's key, or a version not held. */
            index_term_make(IDX_TARGET, s, strlen(s), &terms[n]);
        } else if (rc != 0) {
            send_error(cl, tag, rc, "target", "%s", msg);
            return -1;
        }
        n++;
    }
    if (opt_string(cl, tag, req, "based_on", &s) != 0)
        return -1;
    if (s) {
        uint8_t k[32];
        const char *slash = strchr(s, '/');
        char hex[HUB_HEX_LEN + 1] = "";
        if (slash && slash - s == HUB_HEX_LEN) {
            memcpy(hex, s, HUB_HEX_LEN);
            hex[HUB_HEX_LEN] = 0;
        }
        if (!slash || slash - s != HUB_HEX_LEN || hub_unhex(hex, k, 32) != 0 || !slash[1]) {
            send_error(cl, tag, HUB_E_RANGE, "based_on",
                       "based_on: expected AUTHOR/KEY (64 hex digits, '/', the offer's key)");
            return -1;
        }
        char low[HUB_HEX_LEN + 1];
        hub_hex(k, 32, low); /* the term is of the lower-case form record.c indexes */
        char ref[HUB_HEX_LEN + 2 + HUB_MAX_RECORD_KEY + 1];
        int rl = snprintf(ref, sizeof ref, "%s%s", low, slash);
        if (rl < 0 || (size_t)rl >= sizeof ref) {
            send_error(cl, tag, HUB_E_RANGE, "based_on", "based_on: key too long");
            return -1;
        }
        if (add_term(cl, tag, terms, &n, IDX_BASED_ON, ref, (size_t)rl) != 0)
            return -1;
    }
    static const char *const dates[] = {"from", "to"};
    for (int i = 0; i < 2; i++) {
        if (opt_string(cl, tag, req, dates[i], &s) != 0)
            return -1;
        if (s && record_parse_date(s, i ? &q->date_to : &q->date_from) != 0) {
            send_error(cl, tag, HUB_E_RANGE, dates[i], "%s: expected a date YYYY-MM-DD", dates[i]);
            return -1;
        }
    }
    json_t *lim = json_object_get(req, "limit");
    if (lim) {
        if (!json_is_integer(lim)) {
            send_error(cl, tag, HUB_E_TYPE, "limit", "limit: expected an integer");
            return -1;
        }
        json_int_t l = json_integer_value(lim);
        if (l < 1 || l > CONTROL_MAX_QUERY_LIMIT) {
            send_error(cl, tag, HUB_E_RANGE, "limit", "limit: 1 to %d", CONTROL_MAX_QUERY_LIMIT);
            return -1;
        }
        q->limit = (size_t)l;
    }
    if (opt_string(cl, tag, req, "cursor", &s) != 0)
        return -1;
    if (s && (hub_parse_u64(s, UINT64_MAX - 1, &q->cursor) != 0 || q->cursor == 0)) {
        send_error(cl, tag, HUB_E_RANGE, "cursor",
                   "cursor: expected the 'next' of a previous page");
        return -1;
    }
    q->nterms = n;
    /* Any-of within a field, all-of across: the values of one filter are one clause (the
     * terms of a field are together, and each term's first byte is its field). */
    for (size_t i = 0; i < n; i++)
        clause[i] = (uint8_t)(i == 0 ? 0 : clause[i - 1] + (terms[i].b[0] != terms[i - 1].b[0]));
    q->clause = clause;
    return 0;
}

/* Appends each entry's view to a JSON array being written; counts them. */
struct view_list {
    struct jbuf *b;
    size_t n;
    const char *lang; /* query's "lang": the language version of the views' texts, or NULL */
};

/* The view written into b from start on, with its texts in lang (langpick.h): parsed, changed
 * and written again. Only queries that ask for a language pay for it. A view that does not
 * parse stays as it was. */
static void view_pick_lang(struct jbuf *b, size_t start, const char *lang) {
    if (!lang || b->oom)
        return;
    json_t *v = json_loadb(b->p + start, b->len - start, 0, NULL);
    if (!v)
        return;
    langpick_view(v, lang);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!s)
        return;
    b->len = start;
    b->p[start] = 0;
    jbuf_raw(b, s, strlen(s));
    jarena_free_dump(s); /* jansson's allocator in hubd (jarena.h) */
}

static int collect_view(const uint8_t *wire, size_t len, void *arg) {
    struct view_list *vl = arg;
    size_t mark = vl->b->len;
    jbuf_sep(vl->b);
    size_t start = vl->b->len;
    if (view_write_wire(vl->b, wire, len) == 0) {
        view_pick_lang(vl->b, start, vl->lang);
        vl->n++;
    } else if (!vl->b->oom) {
        vl->b->len = mark; /* skip an entry that does not decode */
        vl->b->p[mark] = 0;
    }
    return 0;
}

/* A store callback behind the payload filters (qfilter.h): records that fail one are left
 * out of the page (STORE_QUERY_SKIP), the walk goes on. */
struct qfilter_cb {
    const struct qfilter_set *f;
    int (*cb)(const uint8_t *wire, size_t len, void *arg);
    void *arg;
};

static int qfilter_cb(const uint8_t *wire, size_t len, void *arg) {
    struct qfilter_cb *qc = arg;
    if (!qfilter_match(qc->f, wire, len))
        return STORE_QUERY_SKIP;
    return qc->cb(wire, len, qc->arg);
}

/* The ranked-search terms of a query's `text` (query, facets); 0 after answering the error. */
static int text_terms(struct control *c, struct client *cl, json_t *tag, json_t *text,
                      struct store_rank_term *rt, size_t *nrt, unsigned *ngroups) {
    const char *why = NULL;
    int rc = search_terms(node_store(c->node), json_string_value(text), json_string_length(text),
                          rt, nrt, ngroups, &why);
    if (rc != HUB_OK) {
        send_error(cl, tag, rc, "text", "%s", why ? why : hub_strmsg(rc));
        return 0;
    }
    return 1;
}

/* The query page to fill: the last one is freed first. */
static struct qpage *page_new(struct control *c) {
    if (c->page_used)
        qpage_free(&c->page);
    qpage_init(&c->page, node_store(c->node), c->par);
    c->page_used = 1;
    return &c->page;
}

static void op_query_since(struct control *c, struct client *cl, json_t *req, json_t *tag);

static void op_query(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    if (json_object_get(req, "since")) { /* entries by cursor: another kind of query */
        op_query_since(c, cl, req, tag);
        return;
    }
    struct index_term terms[QUERY_MAX_TERMS];
    uint8_t clause[QUERY_MAX_TERMS];
    struct store_query q;
    struct qfilter_set qf;
    json_t *text;
    if (query_parse(c, cl, tag, req, &q, terms, clause, &text) != 0 ||
        query_parse_more(cl, tag, req, &q, &qf) != 0)
        return;
    if (text && q.sort == STORE_SORT_START) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, "sort",
                   "sort: a text query is by relevance or published (start: without text)");
        return;
    }
    int filtered = qfilter_active(&qf);
    const char *lang;
    if (opt_string(cl, tag, req, "lang", &lang) != 0)
        return;
    if (lang && !vocab_is_language(lang)) {
        send_error(cl, tag, HUB_E_RANGE, "lang", "lang: '%.64s' is not a BCP 47 language tag",
                   lang);
        return;
    }
    json_t *hs = json_object_get(req, "has_seats");
    if (hs && !json_is_boolean(hs)) {
        send_error(cl, tag, HUB_E_TYPE, "has_seats", "has_seats: expected true or false");
        return;
    }
    static struct store_rank_term rt[SEARCH_MAX_TERMS]; /* event-loop thread only */
    size_t nrt = 0;
    unsigned ngroups = 0;
    if (text && !text_terms(c, cl, tag, text, rt, &nrt, &ngroups))
        return;
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{\"ok\":true,\"records\":[");
    struct view_list vl = {&b, 0, lang};
    uint64_t next = 0;
    int rc;
    if (c->records) {
        /* Found first (rows as stored, unless a filter reads them), then written on two cores
         * (qpage.h); the views' derived parts read the store (names, seats, states). */
        struct qpage *pg = page_new(c);
        struct qfilter_cb qc = {&qf, qpage_collect, pg};
        int (*fcb)(const uint8_t *, size_t, void *) = filtered ? qfilter_cb : qpage_collect;
        void *farg = filtered ? (void *)&qc : (void *)pg;
        q.raw_rows = !filtered;
        rc = text ? store_query_ranked(node_store(c->node), &q, rt, nrt, ngroups, fcb, farg, &next)
                  : store_query(node_store(c->node), &q, fcb, farg, &next);
        qpage_walked(pg);
        jbuf_reserve(&b, pg->n * QPAGE_ROW_BYTES); /* grown once, not doubled five times */
        for (size_t i = 0; rc >= 0 && i < pg->n; i++) {
            const struct qpage_row *pr = qpage_get(pg, i);
            const struct entry *ep = &pr->e;
            if (pr->rc != HUB_OK) {
                if (pr->rc == HUB_E_NOMEM)
                    b.oom = 1;
                continue; /* a row that does not decode is left out, as before */
            }
            if (json_is_true(hs)) {
                /* A page may come out short: the full offers are left out after the page's
                 * records were found (CONTROL.md, query). */
                struct records_seats st;
                if (ep->kind != 2 || !ep->payload ||
                    records_offer_seats_fields(c->records, ep->author, ep->key, &pr->offer,
                                               &st) != 0 ||
                    st.full)
                    continue;
            }
            if (pr->view.len == 0 || pr->view.p[pr->view.len - 1] != '}')
                continue;
            jbuf_sep(&b);
            size_t start = b.len;
            jbuf_raw(&b, pr->view.p, pr->view.len - 1); /* reopened for the derived members */
            records_write_view_extra(c->records, &b, ep, ep->kind == 2 ? &pr->offer : NULL);
            jbuf_lit(&b, "}");
            view_pick_lang(&b, start, lang);
            vl.n++;
        }
        if (rc >= 0 && (pg->oom || b.oom))
            rc = HUB_E_NOMEM;
    } else {
        struct qfilter_cb qc = {&qf, collect_view, &vl};
        int (*fcb)(const uint8_t *, size_t, void *) = filtered ? qfilter_cb : collect_view;
        void *farg = filtered ? (void *)&qc : (void *)&vl;
        rc = text ? store_query_ranked(node_store(c->node), &q, rt, nrt, ngroups, fcb, farg, &next)
                  : store_query(node_store(c->node), &q, fcb, farg, &next);
    }
    if (rc < 0) {
        jbuf_free(&b);
        send_error(cl, tag, rc, NULL, "%s", hub_strmsg(rc));
        return;
    }
    jbuf_lit(&b, "]");
    jbuf_key(&b, "count");
    jbuf_u64(&b, vl.n);
    if (next) {
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)next);
        jbuf_key(&b, "next");
        jbuf_cstr(&b, buf);
    }
    send_text(cl, &b, tag);
}

/* facets: value counts of a query's matches (facets.c, CONTROL.md). The filters are query's;
 * the first FACETS_SCAN_MAX matches in the query's order are counted. */
struct facets_walk {
    struct facets *f;
    const struct qfilter_set *qf;
    int filtered;
};

static int facets_cb(const uint8_t *wire, size_t len, void *arg) {
    struct facets_walk *w = arg;
    struct entry e;
    if (w->filtered && !qfilter_match(w->qf, wire, len))
        return STORE_QUERY_SKIP;
    if (entry_decode(wire, len, &e) != 0)
        return STORE_QUERY_SKIP;
    return facets_add(w->f, &e) == 0 ? 0 : 1;
}

static void op_facets(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    struct index_term terms[QUERY_MAX_TERMS];
    uint8_t clause[QUERY_MAX_TERMS];
    struct store_query q;
    struct qfilter_set qf;
    json_t *text;
    size_t top = FACETS_TOP_DEFAULT;
    if (json_object_get(req, "since") || json_object_get(req, "cursor")) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, json_object_get(req, "since") ? "since" : "cursor",
                   "facets counts a query's matches from the first: no since or cursor");
        return;
    }
    if (query_parse(c, cl, tag, req, &q, terms, clause, &text) != 0 ||
        query_parse_more(cl, tag, req, &q, &qf) != 0)
        return;
    json_t *t = json_object_get(req, "top");
    if (t) {
        if (!json_is_integer(t) || json_integer_value(t) < 1 ||
            json_integer_value(t) > FACETS_MAX_VALUES) {
            send_error(cl, tag, json_is_integer(t) ? HUB_E_RANGE : HUB_E_TYPE, "top",
                       "top: values per facet, 1 to %d", FACETS_MAX_VALUES);
            return;
        }
        top = (size_t)json_integer_value(t);
    }
    q.limit = FACETS_SCAN_MAX;
    json_t *sc = json_object_get(req, "scan");
    if (sc) {
        if (!json_is_integer(sc) || json_integer_value(sc) < 1 ||
            json_integer_value(sc) > FACETS_SCAN_MAX) {
            send_error(cl, tag, json_is_integer(sc) ? HUB_E_RANGE : HUB_E_TYPE, "scan",
                       "scan: matches counted, 1 to %d", FACETS_SCAN_MAX);
            return;
        }
        q.limit = (size_t)json_integer_value(sc);
    }
    if (text && q.sort == STORE_SORT_START)
        q.sort = STORE_SORT_DEFAULT; /* the order only chooses which matches are counted */
    static struct store_rank_term rt[SEARCH_MAX_TERMS]; /* event-loop thread only */
    size_t nrt = 0;
    unsigned ngroups = 0;
    if (text && !text_terms(c, cl, tag, text, rt, &nrt, &ngroups))
        return;
    struct facets *f = facets_new();
    if (!f) {
        send_error(cl, tag, HUB_E_NOMEM, NULL, "%s", hub_strmsg(HUB_E_NOMEM));
        return;
    }
    struct facets_walk w = {f, &qf, qfilter_active(&qf)};
    uint64_t next = 0;
    int rc = text ? store_query_ranked(node_store(c->node), &q, rt, nrt, ngroups, facets_cb, &w,
                                       &next)
                  : store_query(node_store(c->node), &q, facets_cb, &w, &next);
    if (rc >= 0)
        rc = facets_seats(f, c->records); /* outside the query's read transaction */
    if (rc < 0) {
        facets_destroy(&f);
        send_error(cl, tag, rc, NULL, "%s", hub_strmsg(rc));
        return;
    }
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{\"ok\":true");
    facets_write(f, &b, next == 0, top);
    facets_destroy(&f);
    send_text(cl, &b, tag);
}

/* vocab [name]: the controlled vocabularies, every one or the one named (qfilter.h). */
static void op_vocab(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    (void)c;
    const char *name;
    if (opt_string(cl, tag, req, "name", &name) != 0)
        return;
    json_t *out = NULL;
    char why[400] = "";
    int rc = qfilter_vocab_json(name, &out, why, sizeof why);
    if (rc != HUB_OK) {
        send_error(cl, tag, rc, "name", "%s", why[0] ? why : hub_strmsg(rc));
        return;
    }
    send_json(cl, out, tag);
}

static int count_cb(const uint8_t *wire, size_t len, void *arg) {
    (void)wire;
    (void)len;
    (void)arg;
    return 1; /* one is enough: the record exists */
}

/* Does author hold a record (kind, key)? current: only a current, visible one. */
static int record_exists(struct store *st, const uint8_t author[32], int kind, const char *key,
                         int current) {
    uint8_t id[32];
    if (current)
        return store_record_current(st, author, kind, key, id) == 0;
    return store_versions(st, author, kind, key, count_cb, NULL) >= 0;
}

/* The kind of record `key` names: kind_s when given, else the one kind holding the key (as
 * git resolves an unambiguous name). Replies and returns a negative code when there is none or
 * several. Retractions are never a target. */
static int resolve_kind(struct client *cl, json_t *tag, struct store *st, const uint8_t author[32],
                        const char *key, const char *kind_s, int current) {
    int kind = 0;
    if (kind_s) {
        if ((kind = parse_kind(cl, tag, kind_s, "kind")) < 0)
            return kind;
        if (!record_exists(st, author, kind, key, current))
            kind = 0;
    } else {
        for (int k = 1; k <= 6; k++) {
            if (k == 5 || !record_exists(st, author, k, key, current))
                continue;
            if (kind) {
                send_error(cl, tag, HUB_E_BAD_REQUEST, "kind",
                           "key '%.128s' names records of kinds %s and %s: say which with kind",
                           key, entry_kind_name(kind), entry_kind_name(k));
                return HUB_E_BAD_REQUEST;
            }
            kind = k;
        }
    }
    if (!kind) {
        send_error(cl, tag, HUB_E_NOT_FOUND, "key", "no %srecord with key '%.128s' by that author",
                   current ? "current " : "", key);
        return HUB_E_NOT_FOUND;
    }
    return kind;
}

static void op_history(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    const char *author_s, *kind_s, *key;
    if (opt_string(cl, tag, req, "author", &author_s) != 0 ||
        opt_string(cl, tag, req, "kind", &kind_s) != 0 ||
        opt_string(cl, tag, req, "key", &key) != 0)
        return;
    if (!key) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, "key", "key: missing");
        return;
    }
    uint8_t author[32];
    memcpy(author, node_identity(c->node)->pk, 32);
    if (author_s && parse_hex32(cl, tag, author_s, "author", author) != 0)
        return;
    struct store *st = node_store(c->node);
    int kind = resolve_kind(cl, tag, st, author, key, kind_s, 0);
    if (kind < 0)
        return;
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{\"ok\":true,\"kind\":");
    jbuf_cstr(&b, entry_kind_name(kind));
    jbuf_lit(&b, ",\"versions\":[");
    struct view_list vl = {&b, 0, NULL};
    int rc = store_versions(st, author, kind, key, collect_view, &vl);
    if (rc < 0) {
        jbuf_free(&b);
        send_error(cl, tag, rc, "key", "no record %s/%.128s by that author", entry_kind_name(kind),
                   key);
        return;
    }
    jbuf_lit(&b, "]");
    send_text(cl, &b, tag);
}

static void op_retract(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    const char *key, *kind_s, *reason;
    if (opt_string(cl, tag, req, "key", &key) != 0 ||
        opt_string(cl, tag, req, "kind", &kind_s) != 0 ||
        opt_string(cl, tag, req, "reason", &reason) != 0)
        return;
    if (!key) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, "key", "key: missing");
        return;
    }
    int kind =
        resolve_kind(cl, tag, node_store(c->node), node_identity(c->node)->pk, key, kind_s, 1);
    if (kind < 0)
        return;
    json_t *rec = json_pack("{s:s, s:s}", "target_kind", entry_kind_name(kind), "target_key", key);
    if (reason)
        json_object_set_new(rec, "reason", json_string(reason));
    struct record_error rerr = {{0}, {0}};
    struct node_draft d = {.kind = 5, .key = key};
    uint8_t *payload = NULL;
    int rc = record_from_json(5, rec, &payload, &d.payload_len, &rerr);
    json_decref(rec);
    if (rc != 0) {
        send_error(cl, tag, rc, rerr.field, "%s: %s", rerr.field, rerr.message);
        return;
    }
    d.payload = payload;
    rc = node_publish(c->node, &d, 1);
    free(payload);
    if (rc != 0) {
        publish_failed(c, cl, tag, rc);
        return;
    }
    char hex[HUB_HEX_LEN + 1];
    hub_hex(d.id, 32, hex);
    send_json(cl,
              json_pack("{s:b, s:s, s:I, s:s, s:s}", "ok", 1, "id", hex, "seq", (json_int_t)d.seq,
                        "kind", entry_kind_name(kind), "key", key),
              tag);
}

static int watch_filters(struct client *cl, json_t *tag, json_t *req, struct index_term *terms,
                         size_t *n);
static int parse_since(struct control *c, struct client *cl, json_t *tag, json_t *req,
                       uint64_t *out);
static void watch_since_start(struct client *cl, uint64_t since);

/* The answer carries the cursor the watch starts after: with "since", that one; without, the
 * last entry accepted (what a script resumes from if it sees no event before it reconnects). */
static void op_watch(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    uint64_t since = 0;
    int has = parse_since(c, cl, tag, req, &since);
    if (has < 0 || watch_filters(cl, tag, req, cl->wterms, &cl->nwterms) != 0)
        return;
    json_t *inbox = json_object_get(req, "inbox");
    if (inbox && !json_is_boolean(inbox)) {
        send_error(cl, tag, HUB_E_TYPE, "inbox", "inbox: expected true or false");
        return;
    }
    if (json_is_true(inbox)) {
        /* Replies to this hub's records, as they arrive (records.h's inbox). */
        if (cl->nwterms + 2 > CONTROL_MAX_WATCH_TERMS) {
            send_error(cl, tag, HUB_E_TOO_LARGE, "inbox",
                       "inbox takes 2 of the %d watch filters", CONTROL_MAX_WATCH_TERMS);
            return;
        }
        char me[HUB_HEX_LEN + 1];
        hub_hex(node_identity(c->node)->pk, 32, me);
        index_term_make(IDX_KIND, "response", 8, &cl->wterms[cl->nwterms++]);
        index_term_make(IDX_TARGET_AUTHOR, me, HUB_HEX_LEN, &cl->wterms[cl->nwterms++]);
    }
    if (has == 0)
        watch_since_start(cl, since);
    else if (store_last_local(node_store(c->node), &since) != 0)
        since = 0;
    cl->watching = 1;
    send_json(cl, json_pack("{s:b, s:b, s:I}", "ok", 1, "watching", 1, "cursor", (json_int_t)since),
              tag);
}

/* What an import did with each record (the "results" of its answer). */
enum import_result { IMPORT_NEW, IMPORT_UPDATED, IMPORT_UNCHANGED, IMPORT_REFUSED };
static const char *const import_result_name[] = {"new", "updated", "unchanged", "refused"};
#define IMPORT_PARTIAL 1u /* "partial": refuse bad records one by one, publish the others */
#define IMPORT_DRY_RUN 2u /* "dry_run": check and classify every record, store nothing */

/* The error of records[i] (o) as an object {"index","code","message","field"}: make_draft
 * again with the client's answers captured. */
static json_t *import_error(struct client *cl, json_t *o, size_t i) {
    char prefix[40], key[32];
    snprintf(prefix, sizeof prefix, "records[%zu].", i);
    struct node_draft d = {0};
    cl->capturing = 1;
    cl->captured = NULL;
    if (!o) /* a big import's element that did not parse (import_fast) */
        send_error(cl, NULL, HUB_E_BAD_REQUEST, "records", "records[%zu]: not valid JSON", i);
    else if (!json_is_object(o))
        send_error(cl, NULL, HUB_E_TYPE, "records", "records[%zu]: expected an object", i);
    else if (make_draft(cl, NULL, o, prefix, &d, key, (int)i) == 0)
        send_error(cl, NULL, HUB_E_NOMEM, NULL, "records[%zu]: out of memory", i);
    free((void *)d.payload);
    cl->capturing = 0;
    json_t *err = json_incref(json_object_get(cl->captured, "error"));
    json_decref(cl->captured);
    cl->captured = NULL;
    if (!err)
        err = json_pack("{s:s, s:s}", "code", hub_strerror(HUB_E_NOMEM), "message",
                        "out of memory");
    json_object_set_new(err, "index", json_integer((json_int_t)i));
    return err;
}

/* Whether draft d makes a new record, a new version of one, or would repeat this hub's current
 * version of it (the same payload bytes and the same expiry): then it is not published, so a
 * nightly re-import of an unchanged catalogue signs and replicates nothing. On the event loop
 * (the store's read transaction is the loop's). A draft without a key given gets a random one:
 * always new. */
static enum import_result import_classify(struct control *c, const struct node_draft *d) {
    struct store *st = node_store(c->node);
    uint8_t id[32];
    if (store_record_current(st, node_identity(c->node)->pk, d->kind, d->key, id) != HUB_OK)
        return IMPORT_NEW;
    uint8_t *wire = NULL;
    size_t wl = 0;
    enum import_result r = IMPORT_UPDATED;
    struct entry e;
    if (store_get(st, id, &wire, &wl) == HUB_OK && entry_decode(wire, wl, &e) == HUB_OK &&
        e.payload && e.payload_len == d->payload_len && e.expires == d->expires &&
        memcmp(e.payload, d->payload, d->payload_len) == 0)
        r = IMPORT_UNCHANGED;
    free(wire);
    return r;
}

/* Publishes the n drafts of an import but those unchanged (import_classify) and those refused
 * (rcs[i] != 0, with IMPORT_PARTIAL or IMPORT_DRY_RUN; objs[i] says why), in one transaction
 * (none with IMPORT_DRY_RUN), and answers with the counts and each record's result, in request
 * order. */
static void import_publish(struct control *c, struct client *cl, json_t *tag, struct node_draft *d,
                           size_t n, json_t *const *objs, const int *rcs, unsigned flags) {
    unsigned char *res = calloc(n ? n : 1, 1);
    struct node_draft *pub = calloc(n ? n : 1, sizeof *pub);
    size_t *at = calloc(n ? n : 1, sizeof *at);
    if (!res || !pub || !at) {
        free(res);
        free(pub);
        free(at);
        send_error(cl, tag, HUB_E_NOMEM, NULL, "out of memory");
        return;
    }
    size_t np = 0, count[4] = {0, 0, 0, 0};
    json_t *errors = json_array();
    for (size_t i = 0; i < n; i++) {
        if (rcs && rcs[i] != 0) {
            res[i] = IMPORT_REFUSED;
            json_array_append_new(errors, import_error(cl, objs[i], i));
        } else {
            res[i] = (unsigned char)import_classify(c, &d[i]);
        }
        count[res[i]]++;
        if (res[i] == IMPORT_NEW || res[i] == IMPORT_UPDATED) {
            at[np] = i;
            pub[np++] = d[i];
        }
    }
    int rc = np && !(flags & IMPORT_DRY_RUN) ? node_publish(c->node, pub, np) : HUB_OK;
    if (rc != HUB_OK) {
        publish_failed(c, cl, tag, rc);
    } else {
        for (size_t k = 0; k < np; k++)
            d[at[k]].seq = pub[k].seq;
        json_t *results = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(results, json_string(import_result_name[res[i]]));
        int dry = (flags & IMPORT_DRY_RUN) != 0;
        json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "ok", 1, "accepted",
                              (json_int_t)(dry ? 0 : np), "new", (json_int_t)count[IMPORT_NEW],
                              "updated", (json_int_t)count[IMPORT_UPDATED], "unchanged",
                              (json_int_t)count[IMPORT_UNCHANGED], "refused",
                              (json_int_t)count[IMPORT_REFUSED], "results", results);
        if (json_array_size(errors))
            json_object_set(o, "errors", errors);
        if (dry)
            json_object_set_new(o, "dry_run", json_true());
        if (np && !dry) {
            json_object_set_new(o, "first_seq", json_integer((json_int_t)pub[0].seq));
            json_object_set_new(o, "last_seq", json_integer((json_int_t)pub[np - 1].seq));
        }
        send_json(cl, o, tag);
    }
    json_decref(errors);
    free(res);
    free(pub);
    free(at);
}

/* The error of records[i] (o), whose draft failed with rc on a worker thread: made again here,
 * where it can be reported. */
static void import_report(struct client *cl, json_t *tag, json_t *o, size_t i, int rc) {
    if (!json_is_object(o)) {
        send_error(cl, tag, HUB_E_TYPE, "records", "records[%zu]: expected an object", i);
        return;
    }
    char prefix[40], key[32];
    snprintf(prefix, sizeof prefix, "records[%zu].", i);
    struct node_draft d = {0};
    if (make_draft(cl, tag, o, prefix, &d, key, (int)i) == 0) { /* failed for want of memory */
        free((void *)d.payload);
        send_error(cl, tag, rc, NULL, "records[%zu]: %s; nothing was stored", i, hub_strmsg(rc));
    }
}

static void op_import_records(struct control *c, struct client *cl, json_t *const *objs, size_t n,
                              json_t *tag, unsigned flags) {
    struct node_draft *d = calloc(n ? n : 1, sizeof *d);
    char(*keys)[32] = calloc(n ? n : 1, 32);
    int *rcs = calloc(n ? n : 1, sizeof *rcs);
    if (!d || !keys || !rcs) {
        free(d);
        free(keys);
        free(rcs);
        send_error(cl, tag, HUB_E_NOMEM, NULL, "out of memory");
        return;
    }
    size_t built = 0;
    int rc = 0;
    for (; built < n; built++) {
        json_t *o = objs[built];
        char prefix[40];
        snprintf(prefix, sizeof prefix, "records[%zu].", built);
        if (flags) { /* every record checked, quietly: import_publish reports the refused */
            rcs[built] = !json_is_object(o) ? HUB_E_TYPE
                                            : make_draft(NULL, NULL, o, prefix, &d[built],
                                                         keys[built], (int)built);
            continue;
        }
        if (!json_is_object(o)) {
            send_error(cl, tag, HUB_E_TYPE, "records", "records[%zu]: expected an object", built);
            rc = -1;
            break;
        }
        if ((rc = make_draft(cl, tag, o, prefix, &d[built], keys[built], (int)built)) != 0)
            break;
    }
    if (rc == 0)
        import_publish(c, cl, tag, d, n, objs, rcs, flags);
    for (size_t i = 0; i < built; i++)
        free((void *)d[i].payload);
    free(d);
    free(keys);
    free(rcs);
}

/* The import flags of a request: partial, dry_run (booleans). -1 if one is not a boolean
 * (answered). */
static int import_flags(struct client *cl, json_t *req, json_t *tag, unsigned *flags) {
    static const struct {
        const char *name;
        unsigned flag;
    } fl[] = {{"partial", IMPORT_PARTIAL}, {"dry_run", IMPORT_DRY_RUN}};
    *flags = 0;
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        json_t *v = json_object_get(req, fl[i].name);
        if (v && !json_is_boolean(v)) {
            send_error(cl, tag, HUB_E_TYPE, fl[i].name, "%s: expected true or false",
                       fl[i].name);
            return -1;
        }
        if (json_is_true(v))
            *flags |= fl[i].flag;
    }
    return 0;
}

static void op_import_entries(struct control *c, struct client *cl, json_t *arr, json_t *tag) {
    size_t n = json_array_size(arr);
    uint8_t **wires = calloc(n ? n : 1, sizeof *wires);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    int *results = calloc(n ? n : 1, sizeof *results);
    int rc = (!wires || !lens || !results) ? HUB_E_NOMEM : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_string(e)) {
            send_error(cl, tag, HUB_E_TYPE, "entries", "entries[%zu]: expected a base64 string", i);
            rc = -1;
            break;
        }
        size_t slen = json_string_length(e);
        wires[i] = malloc(slen + 1);
        if (!wires[i]) {
            rc = HUB_E_NOMEM;
            break;
        }
        if (sodium_base642bin(wires[i], slen + 1, json_string_value(e), slen, NULL, &lens[i], NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            send_error(cl, tag, HUB_E_DECODE, "entries", "entries[%zu]: not valid base64", i);
            rc = -1;
        }
    }
    size_t accepted = 0;
    if (rc == 0)
        rc = node_ingest(c->node, (const uint8_t *const *)wires, lens, n, results, &accepted, 0);
    if (rc > 0 || rc == HUB_E_NOMEM || rc < -1) {
        send_error(cl, tag, rc, NULL, "%s; nothing was stored", hub_strmsg(rc));
    } else if (rc == 0) {
        json_t *res = json_array();
        size_t dup = 0;
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(res, json_string(hub_strerror(results[i])));
            dup += results[i] == HUB_E_DUPLICATE;
        }
        send_json(cl,
                  json_pack("{s:b, s:I, s:I, s:I, s:o}", "ok", 1, "accepted", (json_int_t)accepted,
                            "duplicate", (json_int_t)dup, "rejected",
                            (json_int_t)(n - accepted - dup), "results", res),
                  tag);
    }
    for (size_t i = 0; wires && i < n; i++)
        free(wires[i]);
    free(wires);
    free(lens);
    free(results);
}

static void op_import(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    json_t *recs = json_object_get(req, "records"), *ents = json_object_get(req, "entries");
    json_t *arr = recs ? recs : ents;
    const char *name = recs ? "records" : "entries";
    if ((recs && ents) || !arr) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, "records", "give either records or entries");
        return;
    }
    if (!json_is_array(arr)) {
        send_error(cl, tag, HUB_E_TYPE, name, "%s: expected a list", name);
        return;
    }
    if (json_array_size(arr) > CONTROL_MAX_IMPORT) {
        send_error(cl, tag, HUB_E_TOO_LARGE, name, "%s: at most %d per request", name,
                   CONTROL_MAX_IMPORT);
        return;
    }
    unsigned flags;
    if (import_flags(cl, req, tag, &flags) != 0)
        return;
    if (flags && !recs) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, flags & IMPORT_DRY_RUN ? "dry_run" : "partial",
                   "partial and dry_run are for records, not entries");
        return;
    }
    if (recs) {
        size_t n = json_array_size(arr);
        json_t **objs = malloc((n ? n : 1) * sizeof *objs);
        if (!objs) {
            send_error(cl, tag, HUB_E_NOMEM, NULL, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++)
            objs[i] = json_array_get(arr, i);
        op_import_records(c, cl, objs, n, tag, flags);
        free(objs);
    } else {
        op_import_entries(c, cl, arr, tag);
    }
}

static int heads_cb(const struct feed_head *h, void *arg) {
    char a[HUB_HEX_LEN + 1], id[HUB_HEX_LEN + 1];
    hub_hex(h->author, 32, a);
    hub_hex(h->id, 32, id);
    json_array_append_new(arg, json_pack("{s:s, s:I, s:s, s:b}", "author", a, "seq",
                                         (json_int_t)h->seq, "id", id, "forked", h->forked));
    return 0;
}

/* Every feed this hub holds and its head: what replication compares. */
static void op_heads(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    json_t *arr = json_array();
    store_feeds(node_store(c->node), heads_cb, arr);
    send_json(cl, json_pack("{s:b, s:o}", "ok", 1, "feeds", arr), tag);
}

/* ---- store jobs and cursors: backup, verify, query and watch "since" ----
 *
 * The cursor of an entry is its local number in the store (store_entries_since): it grows with
 * each accepted entry. A watch "since" a cursor reads its events from the store, a bounded
 * number per loop turn (control_pump_since), so it is never cut off for falling behind: it is
 * paced by its reader, and it passes from the replay to live entries without a gap or a
 * duplicate because both are the same read. Backup and verify run on a thread (one at a time,
 * with read transactions of their own: store_backup_fd, store_verify); the client that asked
 * gets the answer when it is done and meanwhile has nothing else handled. */

#define CONTROL_SINCE_PER_TURN 512          /* entries a watch "since" reads per loop turn */
#define CONTROL_SINCE_PAGE_BYTES (8u << 20) /* a query "since" page stops after this much */
#define CONTROL_SINCE_SCAN 10000            /* entries a query "since" passes over per request */
#define CONTROL_MAX_PASSED_FDS 4            /* descriptors taken from one message (one is kept) */

enum { JOB_BACKUP = 1, JOB_VERIFY };

struct control_job {
    pthread_t thread;
    int pipe[2]; /* the thread writes a byte to [1] when done: wakes the event loop */
    int op;
    struct store *store;
    int fd; /* backup: the file to write (ours to close) */
    uint64_t serial;
    json_t *tag;
    uint64_t started;
    uint64_t cursor; /* backup: the last entry accepted when it started */
    int rc;
    struct store_verify v;
};

/* The terms a watch filter is matched against: the record's index terms, or for a
 * retraction or purged entry its kind and author. n: RECORD_MAX_TERMS. */
static size_t watch_terms(const struct entry *e, struct index_term *terms) {
    size_t n = 0;
    if (e->payload && e->kind != 5)
        return record_terms(e->author, e->kind, e->payload, e->payload_len, terms,
                            RECORD_MAX_TERMS);
    char hex[HUB_HEX_LEN + 1];
    hub_hex(e->author, 32, hex);
    const char *kn = entry_kind_name(e->kind);
    index_term_make(IDX_KIND, kn, strlen(kn), &terms[n++]);
    index_term_make(IDX_AUTHOR, hex, HUB_HEX_LEN, &terms[n++]);
    return n;
}

/* Every filter term of the watcher among terms. */
static int watch_match(const struct index_term *wterms, size_t nw, const struct index_term *terms,
                       size_t n) {
    int match = 1;
    for (size_t w = 0; w < nw && match; w++) {
        match = 0;
        for (size_t t = 0; t < n && !match; t++)
            match = memcmp(wterms[w].b, terms[t].b, INDEX_TERM_LEN) == 0;
    }
    return match;
}

/* kind, author, topic, country of a watch or query "since": 0, or answered with an error. */
static int watch_filters(struct client *cl, json_t *tag, json_t *req, struct index_term *terms,
                         size_t *n) {
    static const struct qfilter wf[] = {{"kind", IDX_KIND, -1},
                                        {"author", IDX_AUTHOR, -1},
                                        {"topic", IDX_TOPIC, -1},
                                        {"country", IDX_COUNTRY, -1}};
    *n = 0;
    for (size_t i = 0; i < HUB_ARRAY_LEN(wf); i++) {
        const char *s;
        if (opt_string(cl, tag, req, wf[i].name, &s) != 0)
            return -1;
        if (!s)
            continue;
        if (wf[i].field == IDX_KIND && parse_kind(cl, tag, s, "kind") < 0)
            return -1;
        index_term_make(wf[i].field, s, strlen(s), &terms[(*n)++]);
    }
    return 0;
}

/* "since": a cursor (a number, or digits in a string), or "now" (the last entry accepted).
 * 1 if absent, 0 with *out, -1 answered with an error. A cursor past the last entry is
 * refused: it comes from another hub, or from this one before it was restored from a backup,
 * and entries numbered up to it here would be passed over. */
static int parse_since(struct control *c, struct client *cl, json_t *tag, json_t *req,
                       uint64_t *out) {
    json_t *v = json_object_get(req, "since");
    if (!v)
        return 1;
    uint64_t last;
    int rc = store_last_local(node_store(c->node), &last);
    if (rc != 0) {
        send_error(cl, tag, rc, NULL, "%s", hub_strmsg(rc));
        return -1;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "now") == 0) {
        *out = last;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
    } else if (!json_is_string(v) || hub_parse_u64(json_string_value(v), UINT64_MAX, out) != 0) {
        send_error(cl, tag, json_is_string(v) || json_is_integer(v) ? HUB_E_RANGE : HUB_E_TYPE,
                   "since", "since: a cursor (a number from an event or a query) or \"now\"");
        return -1;
    }
    if (*out > last) {
        send_error(cl, tag, HUB_E_RANGE, "since",
                   "since: cursor %llu is past this hub's last entry (%llu): it is from another "
                   "hub, or from before this hub was restored from a backup",
                   (unsigned long long)*out, (unsigned long long)last);
        return -1;
    }
    return 0;
}

/* Writes {"cursor":N, ...the view...} (a view with its cursor first). */
static int write_cursor_view(struct jbuf *b, uint64_t local, const uint8_t *wire, size_t len) {
    size_t mark = b->len;
    jbuf_lit(b, "{\"cursor\":");
    jbuf_u64(b, local);
    jbuf_lit(b, ",");
    size_t at = b->len;
    if (view_write_wire(b, wire, len) != 0 || b->oom || b->len < at + 2 || b->p[at] != '{') {
        b->len = mark;
        if (b->p)
            b->p[mark] = 0;
        return -1;
    }
    memmove(b->p + at, b->p + at + 1, b->len - at); /* drop the view's '{', keep the NUL */
    b->len--;
    return 0;
}

struct since_page {
    struct jbuf *b;
    const struct index_term *wterms;
    size_t nw;
    int wire;     /* format "wire": base64 of the signed entry instead of its view */
    size_t n;     /* entries written */
    size_t limit; /* query: stop after this many written */
};

static int since_page_cb(void *arg, uint64_t local, const uint8_t *wire, size_t len) {
    struct since_page *p = arg;
    struct entry e;
    if (entry_decode(wire, len, &e) != 0)
        return 0;
    if (p->nw) {
        struct index_term terms[RECORD_MAX_TERMS];
        size_t n = watch_terms(&e, terms);
        if (!watch_match(p->wterms, p->nw, terms, n))
            return 0;
    }
    size_t mark = p->b->len;
    jbuf_sep(p->b);
    if (p->wire) {
        jbuf_lit(p->b, "{\"cursor\":");
        jbuf_u64(p->b, local);
        jbuf_lit(p->b, ",\"entry\":\"");
        size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(blen);
        if (!s) {
            p->b->oom = 1;
            return 1;
        }
        sodium_bin2base64(s, blen, wire, len, sodium_base64_VARIANT_ORIGINAL);
        jbuf_raw(p->b, s, blen - 1);
        free(s);
        jbuf_lit(p->b, "\"}");
    } else if (write_cursor_view(p->b, local, wire, len) != 0) {
        p->b->len = mark;
        if (p->b->p)
            p->b->p[mark] = 0;
        return 0;
    }
    return ++p->n >= p->limit || p->b->oom;
}

/* query with "since": entries accepted after the cursor, in acceptance order, with their
 * cursors; every kind (retractions, purged versions) unless filtered. */
static void op_query_since(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    static const char *const allowed[] = {"op",   "v",      "tag",   "since",   "limit",
                                          "kind", "author", "topic", "country", "format"};
    const char *name;
    json_t *val;
    json_object_foreach(req, name, val) {
        size_t i = 0;
        while (i < HUB_ARRAY_LEN(allowed) && strcmp(name, allowed[i]) != 0)
            i++;
        if (i == HUB_ARRAY_LEN(allowed)) {
            send_error(cl, tag, HUB_E_BAD_REQUEST, name,
                       "%.40s: a query with since takes only kind, author, topic, country, "
                       "limit and format",
                       name);
            return;
        }
    }
    struct index_term wterms[CONTROL_MAX_WATCH_TERMS];
    size_t nw;
    uint64_t since, limit = CONTROL_DEFAULT_LIMIT;
    const char *fmt;
    if (watch_filters(cl, tag, req, wterms, &nw) != 0 || opt_string(cl, tag, req, "format", &fmt))
        return;
    if (fmt && strcmp(fmt, "view") != 0 && strcmp(fmt, "wire") != 0) {
        send_error(cl, tag, HUB_E_RANGE, "format", "format: \"view\" or \"wire\"");
        return;
    }
    json_t *lv = json_object_get(req, "limit");
    if (lv && (!json_is_integer(lv) || json_integer_value(lv) < 1 ||
               json_integer_value(lv) > CONTROL_MAX_QUERY_LIMIT)) {
        send_error(cl, tag, json_is_integer(lv) ? HUB_E_RANGE : HUB_E_TYPE, "limit",
                   "limit: 1 to %d", CONTROL_MAX_QUERY_LIMIT);
        return;
    }
    if (lv)
        limit = (uint64_t)json_integer_value(lv);
    if (parse_since(c, cl, tag, req, &since) != 0)
        return;
    struct jbuf b;
    jbuf_init(&b);
    jbuf_lit(&b, "{\"ok\":true,\"entries\":[");
    struct since_page pg = {&b, wterms, nw, fmt && strcmp(fmt, "wire") == 0, 0, limit};
    uint64_t next = since, last = 0;
    struct store *st = node_store(c->node);
    int rc = store_entries_since(st, since, CONTROL_SINCE_SCAN, CONTROL_SINCE_PAGE_BYTES,
                                 since_page_cb, &pg, &next);
    if (rc >= 0)
        rc = store_last_local(st, &last);
    if (rc < 0 || b.oom) {
        jbuf_free(&b);
        rc = rc < 0 ? rc : HUB_E_NOMEM;
        send_error(cl, tag, rc, NULL, "%s", hub_strmsg(rc));
        return;
    }
    jbuf_lit(&b, "]");
    jbuf_key(&b, "count");
    jbuf_u64(&b, pg.n);
    jbuf_key(&b, "next");
    jbuf_u64(&b, next);
    jbuf_key(&b, "more");
    jbuf_raw(&b, next < last ? "true" : "false", next < last ? 4 : 5);
    send_text(cl, &b, tag);
}

/* watch with "since": called by op_watch once the filters are in cl->wterms. */
static void watch_since_start(struct client *cl, uint64_t since) {
    cl->since = 1;
    cl->cursor = since;
    cl->behind = 1;
}

struct since_pump {
    struct client *cl;
    struct jbuf ev;
};

static int since_pump_cb(void *arg, uint64_t local, const uint8_t *wire, size_t len) {
    struct since_pump *p = arg;
    struct client *cl = p->cl;
    struct entry e;
    if (entry_decode(wire, len, &e) != 0)
        return 0;
    if (cl->nwterms) {
        struct index_term terms[RECORD_MAX_TERMS];
        size_t n = watch_terms(&e, terms);
        if (!watch_match(cl->wterms, cl->nwterms, terms, n))
            return 0;
    }
    p->ev.len = 0;
    jbuf_lit(&p->ev, "{\"event\":\"record\",\"cursor\":");
    jbuf_u64(&p->ev, local);
    jbuf_lit(&p->ev, ",\"entry\":");
    if (view_write_wire(&p->ev, wire, len) != 0 || p->ev.oom)
        return 0;
    jbuf_lit(&p->ev, "}");
    int rc = client_queue(cl, p->ev.p, p->ev.len);
    if (rc == HUB_E_BUSY) { /* CONTROL_TOTAL_OUT: it may watch again from its last cursor */
        cl->ctl->total.out_budget_refused++;
        watch_overflow(cl);
        return 1;
    }
    if (rc != 0) {
        cl->dead = 1;
        return 1;
    }
    return client_pending(cl) >= CONTROL_READ_PAUSE; /* the rest when it has read this */
}

/* One turn of every watch "since" that may be behind and has room for more. */
static void control_pump_since(struct control *c) {
    struct since_pump p;
    jbuf_init(&p.ev);
    for (size_t i = 0; i < c->nclients; i++) {
        struct client *cl = &c->clients[i];
        if (!cl->since || !cl->behind || cl->dead || cl->closing ||
            client_pending(cl) >= CONTROL_READ_PAUSE)
            continue;
        p.cl = cl;
        uint64_t last;
        int n = store_entries_since(node_store(c->node), cl->cursor, CONTROL_SINCE_PER_TURN,
                                    CONTROL_MAX_OUT, since_pump_cb, &p, &last);
        if (n < 0) {
            log_warnx("control", "watch since %llu: reading the store failed: %s",
                      (unsigned long long)cl->cursor, hub_strmsg(n));
            continue; /* tried again next turn */
        }
        cl->cursor = last;
        cl->behind = n > 0; /* until a read finds nothing new; on_accept sets it again */
        if (client_pending(cl))
            client_flush(cl);
    }
    jbuf_free(&p.ev);
}

static void *job_run(void *arg) {
    struct control_job *j = arg;
    if (j->op == JOB_BACKUP) {
        j->rc = store_backup_fd(j->store, j->fd);
        if (j->rc == 0 && fsync(j->fd) != 0) {
            log_warn("control", "backup: fsync of the copy failed");
            j->rc = HUB_E_IO;
        }
    } else {
        j->rc = store_verify(j->store, hub_now_ms(), &j->v);
    }
    ssize_t w;
    do
        w = write(j->pipe[1], "x", 1);
    while (w < 0 && errno == EINTR);
    return NULL;
}

static void job_free(struct control_job *j) {
    if (j->fd >= 0)
        close(j->fd);
    close(j->pipe[0]);
    close(j->pipe[1]);
    json_decref(j->tag);
    free(j);
}

/* Starts op for cl (fd: the backup's file, taken over). Answers cl itself on failure. */
static void job_start(struct control *c, struct client *cl, json_t *tag, int op, int fd) {
    if (c->job) {
        if (fd >= 0)
            close(fd);
        send_error(cl, tag, HUB_E_BUSY, NULL,
                   "a backup or verify is running; try again when it is done");
        return;
    }
    struct control_job *j = calloc(1, sizeof *j);
    if (!j || pipe2(j->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(j);
        if (fd >= 0)
            close(fd);
        send_error(cl, tag, HUB_E_NOMEM, NULL, "cannot start the job: %s", strerror(errno));
        return;
    }
    if (!cl->serial)
        cl->serial = ++c->serials;
    j->op = op;
    j->store = node_store(c->node);
    j->fd = fd;
    j->serial = cl->serial;
    j->tag = json_incref(tag);
    j->started = hub_mono_ms();
    if (op == JOB_BACKUP && store_last_local(j->store, &j->cursor) != 0)
        j->cursor = 0;
    if (pthread_create(&j->thread, NULL, job_run, j) != 0) {
        job_free(j);
        send_error(cl, tag, HUB_E_NOMEM, NULL, "cannot start a thread for the job");
        return;
    }
    c->job = j;
    cl->job_wait = 1;
    log_info("control", "%s started", op == JOB_BACKUP ? "backup" : "verify");
}

/* The job's thread is done (its byte arrived): answer its client, if still connected. */
static void job_finish(struct control *c) {
    struct control_job *j = c->job;
    char b;
    if (!j || read(j->pipe[0], &b, 1) != 1)
        return;
    pthread_join(j->thread, NULL);
    c->job = NULL;
    struct client *cl = NULL;
    for (size_t i = 0; i < c->nclients && !cl; i++)
        if (c->clients[i].serial == j->serial && !c->clients[i].dead)
            cl = &c->clients[i];
    uint64_t ms = hub_mono_ms() - j->started;
    const char *what = j->op == JOB_BACKUP ? "backup" : "verify";
    if (j->rc != 0) {
        log_warnx("control", "%s failed after %llu ms: %s", what, (unsigned long long)ms,
                  hub_strmsg(j->rc));
        if (cl)
            send_error(cl, j->tag, j->rc, NULL, "%s failed: %s", what, hub_strmsg(j->rc));
    } else if (j->op == JOB_BACKUP) {
        struct stat sb;
        uint64_t bytes = fstat(j->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        log_info("control", "backup done: %llu bytes in %llu ms", (unsigned long long)bytes,
                 (unsigned long long)ms);
        if (cl)
            send_json(cl,
                      json_pack("{s:b, s:I, s:I, s:I}", "ok", 1, "bytes", (json_int_t)bytes,
                                "cursor", (json_int_t)j->cursor, "ms", (json_int_t)ms),
                      j->tag);
    } else {
        const struct store_verify *v = &j->v;
        if (v->problems)
            log_warnx("control", "verify: %llu problems; the first: %s",
                      (unsigned long long)v->problems, v->first);
        else
            log_info("control", "verify: no problem in %llu entries, %llu records (%llu ms)",
                     (unsigned long long)v->entries, (unsigned long long)v->records,
                     (unsigned long long)ms);
        json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "ok", 1, "feeds",
                              (json_int_t)v->feeds, "entries", (json_int_t)v->entries, "records",
                              (json_int_t)v->records, "postings", (json_int_t)v->postings,
                              "problems", (json_int_t)v->problems, "ms", (json_int_t)ms);
        if (o && v->problems)
            json_object_set_new(
                o, "first",
                json_pack("{s:s, s:s}", "code", hub_strerror(v->first_code), "message", v->first));
        if (cl)
            send_json(cl, o, j->tag);
        else
            json_decref(o);
    }
    if (cl) {
        cl->job_wait = 0;
        cl->last_active = hub_mono_ms();
        if (client_pending(cl))
            client_flush(cl);
    }
    job_free(j);
}

/* backup: the client sends, with the request line, the descriptor of an empty regular file
 * open for writing (SCM_RIGHTS); hubd writes a compacted copy of its store into it. hubd
 * opens nothing itself: under systemd it may write only its data dir. */
static void op_backup(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    (void)req;
    if (!cl->passed_fd) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, NULL,
                   "backup: send the descriptor of the file to write with the request "
                   "(SCM_RIGHTS); 'hubctl backup DIR' does");
        return;
    }
    int fd = cl->passed_fd - 1;
    cl->passed_fd = 0;
    struct stat sb;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size != 0 || fl < 0 ||
        (fl & O_ACCMODE) == O_RDONLY) {
        close(fd);
        send_error(cl, tag, HUB_E_RANGE, NULL,
                   "backup: the descriptor sent is not an empty regular file open for writing");
        return;
    }
    job_start(c, cl, tag, JOB_BACKUP, fd);
}

/* verify: every chain, signature, payload hash and index entry (store_verify), on a thread. */
static void op_verify(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    (void)req;
    job_start(c, cl, tag, JOB_VERIFY, -1);
}

/* recv() that takes descriptors sent along (SCM_RIGHTS): the last one is kept for the next
 * request (backup), any others closed. */
static ssize_t client_recv(struct client *cl, char *buf, size_t len) {
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(CONTROL_MAX_PASSED_FDS * sizeof(int))];
    } u;
    struct iovec iov = {buf, len};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    ssize_t r = recvmsg(cl->fd, &m, MSG_CMSG_CLOEXEC);
    if (r < 0)
        return r;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
            if (cl->passed_fd)
                close(cl->passed_fd - 1);
            cl->passed_fd = fd + 1;
        }
    }
    return r;
}

/* inbox, replies, accept, decline, lineage: answered by records.c. */
static void op_records(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    const char *op = json_string_value(json_object_get(req, "op"));
    if (!c->records) {
        send_error(cl, tag, HUB_E_UNKNOWN_OP, "op", "unknown op '%.40s'", op);
        return;
    }
    struct jbuf b;
    jbuf_init(&b);
    char field[64], msg[400];
    int rc = records_call(c->records, op, req, &b, field, sizeof field, msg, sizeof msg);
    if (rc != 0) {
        jbuf_free(&b);
        send_error(cl, tag, rc, field[0] ? field : NULL, "%s", msg);
        return;
    }
    send_text(cl, &b, tag);
}

/* match (match_op.c): answered as JSON text, like the record views. */
static void op_match(struct control *c, struct client *cl, json_t *req, json_t *tag) {
    (void)c;
    struct jbuf b;
    jbuf_init(&b);
    char field[64], msg[400];
    int rc = match_call(req, &b, field, sizeof field, msg, sizeof msg);
    if (rc != 0) {
        jbuf_free(&b);
        send_error(cl, tag, rc, field[0] ? field : NULL, "%s", msg);
        return;
    }
    send_text(cl, &b, tag);
}

struct builtin_op {
    const char *name;
    void (*fn)(struct control *c, struct client *cl, json_t *req, json_t *tag);
};
static const struct builtin_op builtin_ops[] = {
    {"status", op_status},   {"id", op_id},           {"publish", op_publish},
    {"get", op_get},         {"query", op_query},     {"history", op_history},
    {"retract", op_retract}, {"watch", op_watch},     {"import", op_import},
    {"heads", op_heads},     {"inbox", op_records},   {"replies", op_records},
    {"accept", op_records},  {"decline", op_records}, {"lineage", op_records},
    {"backup", op_backup},   {"verify", op_verify},   {"match", op_match},
    {"vocab", op_vocab},     {"facets", op_facets},
};

/* ---- big imports: the records are parsed on every core ----
 *
 * A request importing thousands of records is mostly JSON: parsing it, turning each record
 * into its payload and freeing it cost as much as signing it. jsplit finds the records in the
 * line; each is parsed (and its payload made) by par_for; the ordinary import code then takes
 * them in order, so its checks and answers are the same. Anything unexpected (an element that
 * does not parse, another op) goes the ordinary way, which answers as it always does. */

struct fast_import {
    const char *line;
    const struct jspan *spans;
    json_t **objs; /* in arenas[] (or on the heap): valid until fast_free */
    char (*keys)[32];
    struct node_draft *d; /* made by fast_make_slice */
    int *rcs;             /* each draft's make result */
    unsigned gen;         /* this import's number, for fast_arena */
    atomic_size_t nslots; /* arenas handed out */
    atomic_int heap;      /* a thread parsed onto the heap (no arena left for it) */
    struct jarena arenas[FAST_MAX_ARENAS];
};

static atomic_uint fast_gen = 1;
static _Thread_local unsigned fast_tl_gen;
static _Thread_local struct jarena *fast_tl_arena;

/* Each thread parses into an arena of its own (jarena.h), so that the values need no freeing
 * one by one; a thread that cannot have one parses onto the heap (those values are freed). */
static struct jarena *fast_arena(struct fast_import *f) {
    if (fast_tl_gen != f->gen) {
        fast_tl_gen = f->gen;
        size_t slot = atomic_fetch_add(&f->nslots, 1);
        fast_tl_arena = slot < FAST_MAX_ARENAS ? &f->arenas[slot] : NULL;
        if (!fast_tl_arena)
            atomic_store(&f->heap, 1);
    }
    return fast_tl_arena;
}

/* node_make_fn of a fast import, on any thread: parse record i and make its draft, quietly
 * (import_fast reports the first failure with make_draft again, on the event loop). */
static int fast_make(void *arg, size_t i, struct node_draft *d) {
    struct fast_import *f = arg;
    struct jarena *a = fast_arena(f);
    if (a)
        jarena_begin(a);
    json_error_t e;
    json_t *o = json_loadb(f->line + f->spans[i].off, f->spans[i].len, JSON_REJECT_DUPLICATES, &e);
    f->objs[i] = o;
    int rc = !o                   ? HUB_E_BAD_REQUEST
             : !json_is_object(o) ? HUB_E_TYPE
                                  : make_draft(NULL, NULL, o, "", d, f->keys[i], (int)i);
    if (a)
        jarena_end();
    return rc;
}

static void fast_make_slice(void *arg, size_t begin, size_t end) {
    struct fast_import *f = arg;
    for (size_t i = begin; i < end; i++)
        f->rcs[i] = fast_make(f, i, &f->d[i]);
}

static void fast_free(struct fast_import *f, size_t n) {
    if (atomic_load(&f->heap))
        for (size_t i = 0; i < n; i++)
            json_decref(f->objs[i]); /* a no-op for the values in arenas */
    size_t slots = atomic_load(&f->nslots);
    for (size_t i = 0; i < slots && i < FAST_MAX_ARENAS; i++)
        jarena_release(&f->arenas[i]);
}

/* Records of a big import are parsed on every core, then the changed ones signed and stored
 * (import_publish). 1 if it answered the request, 0 if dispatch should handle it
 * (a request of another shape, or a record that is not valid JSON: dispatch says where). */
static int import_fast(struct control *c, struct client *cl, const char *line, size_t len) {
    char rest[1024];
    struct jspan *spans;
    size_t n;
    if (jsplit_records(line, len, rest, sizeof rest, &spans, &n) != 0)
        return 0;
    json_error_t jerr;
    json_t *req = json_loads(rest, JSON_REJECT_DUPLICATES, &jerr);
    json_t *opv = req ? json_object_get(req, "op") : NULL,
           *v = req ? json_object_get(req, "v") : NULL,
           *tag = req ? json_object_get(req, "tag") : NULL;
    int handled = 0;
    struct fast_import *f = calloc(1, sizeof *f);
    struct node_draft *d = NULL;
    if (!f || !json_is_string(opv) || strcmp(json_string_value(opv), "import") != 0 ||
        json_object_get(req, "entries") || json_object_get(req, "records") ||
        (v && (!json_is_integer(v) || json_integer_value(v) != HUB_CONTROL_PROTOCOL)) || n == 0 ||
        n > CONTROL_MAX_IMPORT)
        goto out;
    unsigned flags;
    if (import_flags(cl, req, tag, &flags) != 0) {
        handled = 1;
        goto out;
    }
    f->line = line;
    f->spans = spans;
    f->gen = atomic_fetch_add(&fast_gen, 1);
    f->objs = calloc(n, sizeof *f->objs);
    f->keys = calloc(n, sizeof *f->keys);
    d = calloc(n, sizeof *d);
    if (!f->objs || !f->keys || !d)
        goto out;
    /* All the drafts are made first: which of them are unchanged is read from the store on
     * this thread (import_classify), before anything is signed. */
    f->rcs = calloc(n, sizeof *f->rcs);
    f->d = d;
    if (!f->rcs)
        goto out;
    par_for(n, 1, fast_make_slice, f);
    size_t failed = SIZE_MAX;
    for (size_t i = 0; i < n && failed == SIZE_MAX; i++)
        if (f->rcs[i] != 0)
            failed = i;
    if (failed == SIZE_MAX || (flags && f->objs[failed])) {
        import_publish(c, cl, tag, d, n, f->objs, f->rcs, flags);
        handled = 1;
    } else if (f->objs[failed]) { /* say what is wrong with it, as op_import_records would */
        import_report(cl, tag, f->objs[failed], failed, f->rcs[failed]);
        handled = 1;
    }
    for (size_t i = 0; i < n; i++)
        free((void *)d[i].payload);
    fast_free(f, n);
out:
    if (f) {
        free(f->objs);
        free(f->keys);
        free(f->rcs);
    }
    free(f);
    free(d);
    free(spans);
    json_decref(req);
    return handled;
}

static void dispatch(struct control *c, struct client *cl, const char *line, size_t len) {
    if (len >= CONTROL_FAST_IMPORT_MIN && !cl->watching && import_fast(c, cl, line, len))
        return;
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        send_error(cl, NULL, HUB_E_BAD_REQUEST, NULL, "invalid JSON at column %d: %s", jerr.column,
                   jerr.text);
        return;
    }
    json_t *tag = json_object_get(req, "tag");
    if (!json_is_object(req)) {
        send_error(cl, NULL, HUB_E_BAD_REQUEST, NULL, "a request is a JSON object");
        json_decref(req);
        return;
    }
    json_t *v = json_object_get(req, "v");
    json_t *opv = json_object_get(req, "op");
    if (v && (!json_is_integer(v) || json_integer_value(v) != HUB_CONTROL_PROTOCOL)) {
        send_error(cl, tag, HUB_E_VERSION, "v", "this hubd speaks control protocol %d",
                   HUB_CONTROL_PROTOCOL);
    } else if (!json_is_string(opv)) {
        send_error(cl, tag, opv ? HUB_E_TYPE : HUB_E_BAD_REQUEST, "op", "op: %s",
                   opv ? "expected a string" : "missing");
    } else if (cl->watching) {
        send_error(cl, tag, HUB_E_BAD_REQUEST, "op", "this connection is watching; open another");
    } else {
        const char *op = json_string_value(opv);
        int done = 0;
        for (size_t i = 0; i < HUB_ARRAY_LEN(builtin_ops) && !done; i++)
            if (strcmp(op, builtin_ops[i].name) == 0) {
                builtin_ops[i].fn(c, cl, req, tag);
                done = 1;
            }
        for (size_t i = 0; i < c->nops && !done; i++)
            if (strcmp(op, c->ops[i].name) == 0) {
                json_t *resp = NULL;
                int rc = c->ops[i].fn(c->ops[i].arg, req, &resp);
                if (rc == 0) {
                    if (!resp)
                        resp = json_object();
                    json_object_set_new(resp, "ok", json_true());
                    send_json(cl, resp, tag);
                } else {
                    const char *msg =
                        resp ? json_string_value(json_object_get(resp, "message")) : NULL;
                    const char *field =
                        resp ? json_string_value(json_object_get(resp, "field")) : NULL;
                    send_error(cl, tag, rc, field, "%s", msg ? msg : hub_strmsg(rc));
                    json_decref(resp);
                }
                done = 1;
            }
        if (!done)
            send_error(cl, tag, HUB_E_UNKNOWN_OP, "op", "unknown op '%.40s'", op);
    }
    json_decref(req);
}

/* ---- watch delivery ---- */

static void on_accept(void *arg, const struct entry *e, int origin) {
    struct control *c = arg;
    struct index_term terms[RECORD_MAX_TERMS];
    size_t nterms = 0;
    int have_terms = 0;
    struct jbuf event; /* written once, queued to every matching watcher */
    jbuf_init(&event);
    for (size_t i = 0; i < c->nclients; i++) {
        struct client *cl = &c->clients[i];
        if (!cl->watching || cl->dead)
            continue;
        if (cl->since) {
            cl->behind = 1; /* read from the store by control_pump_since */
            continue;
        }
        if (cl->nwterms && !have_terms) {
            nterms = watch_terms(e, terms);
            have_terms = 1;
        }
        if (!watch_match(cl->wterms, cl->nwterms, terms, nterms))
            continue;
        if (cl->closing)
            continue;
        /* a reader keeping up empties its buffer while a big import is applied */
        if (client_pending(cl) > CONTROL_READ_PAUSE)
            client_flush(cl);
        if (client_pending(cl) > c->watch_backlog) {
            watch_overflow(cl);
            log_warnx("control", "watcher fell more than %llu KiB behind; disconnecting it",
                      (unsigned long long)(c->watch_backlog >> 10));
            continue;
        }
        if (!event.len) {
            jbuf_lit(&event, "{\"event\":\"record\",\"cursor\":");
            jbuf_u64(&event, node_telling_local(c->node));
            jbuf_lit(&event, ",\"entry\":");
            if ((c->records ? records_write_view_entry(c->records, &event, e)
                            : view_write_entry(&event, e)) != 0)
                break;
            jbuf_lit(&event, "}");
        }
        int rc = client_queue(cl, event.p, event.len);
        if (rc == HUB_E_BUSY) { /* CONTROL_TOTAL_OUT: counted, in the summary line */
            c->total.out_budget_refused++;
            watch_overflow(cl);
        } else if (rc != 0) {
            cl->dead = 1;
        }
    }
    jbuf_free(&event);
}

/* ---- socket management ---- */

int control_open(struct node *n, const char *path, unsigned mode, unsigned max_clients,
                 struct control **out) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        log_error("control", "socket path %s is longer than %zu bytes", path,
                  sizeof sa.sun_path - 1);
        return HUB_E_CONFIG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Probe before unlinking: a stale socket file is removed, a live daemon is not stolen from. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        if (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            log_error("control", "another hubd already answers on %s", path);
            return HUB_E_BUSY;
        }
        close(probe);
    }
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return HUB_E_IO;
    mode_t old = umask(0777 & ~mode);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || chmod(path, mode) != 0 || listen(fd, CONTROL_LISTEN_BACKLOG) != 0) {
        log_warn("control", "cannot listen on %s", path);
        close(fd);
        return HUB_E_IO;
    }
    struct control *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return HUB_E_NOMEM;
    }
    c->node = n;
    c->lfd = fd;
    memcpy(c->path, path, strlen(path) + 1);
    c->max_clients = max_clients ? max_clients : 64;
    c->started_mono = hub_mono_ms();
    control_reload(c, node_config(n));
    struct rlimit rl;
    c->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                          rl.rlim_cur < (rlim_t)INT32_MAX
                      ? (int)rl.rlim_cur
                      : INT32_MAX;
    if ((uint64_t)c->max_clients + 2 * CONTROL_FD_RESERVE > (uint64_t)c->fd_limit)
        log_warnx("control",
                  "control_max_clients %u does not fit the descriptor limit %d (RLIMIT_NOFILE) "
                  "with %d kept free: new clients are refused before that many connect",
                  c->max_clients, c->fd_limit, 2 * CONTROL_FD_RESERVE);
    c->clients = calloc(c->max_clients, sizeof *c->clients);
    if (!c->clients || node_add_listener(n, on_accept, c) != 0 ||
        control_register_op(c, "web_token", webtoken_op, n) != 0) {
        close(fd);
        free(c->clients);
        free(c);
        return HUB_E_NOMEM;
    }
    /* a second core for query pages; without one (or without the thread) pages are written on
     * the event loop alone */
    c->par = par_threads() > 1 ? evpar_new() : NULL;
    *out = c;
    return HUB_OK;
}

static void client_close(struct client *cl) {
    close(cl->fd);
    if (cl->passed_fd)
        close(cl->passed_fd - 1);
    free(cl->in);
    free(cl->out);
    if (cl->ctl) {
        cl->ctl->in_held -= cl->in_cap;
        cl->ctl->out_held -= cl->out_cap;
    }
    memset(cl, 0, sizeof *cl);
}

void control_destroy(struct control **cp) {
    if (!cp || !*cp)
        return;
    if ((*cp)->job) { /* a backup or verify: its thread uses the store, closed after this */
        log_info("control", "waiting for the running backup or verify to finish");
        pthread_join((*cp)->job->thread, NULL);
        job_free((*cp)->job);
        (*cp)->job = NULL;
    }
    struct control *c = *cp;
    for (size_t i = 0; i < c->nclients; i++)
        client_close(&c->clients[i]);
    close(c->lfd);
    unlink(c->path);
    if (c->page_used)
        qpage_free(&c->page);
    evpar_free(c->par);
    free(c->clients);
    free(c);
    *cp = NULL;
}

int control_register_op(struct control *c, const char *op, control_op_fn fn, void *arg) {
    if (c->nops == CONTROL_MAX_EXT_OPS || strlen(op) >= sizeof c->ops[0].name)
        return HUB_E_INTERNAL;
    memcpy(c->ops[c->nops].name, op, strlen(op) + 1);
    c->ops[c->nops].fn = fn;
    c->ops[c->nops].arg = arg;
    c->nops++;
    return HUB_OK;
}

void control_set_records(struct control *c, struct records *r) {
    c->records = r;
}

void control_set_status_hook(struct control *c, control_status_fn fn, void *arg) {
    c->status_fn = fn;
    c->status_arg = arg;
}

void control_reload(struct control *c, const struct config *cfg) {
    c->watch_backlog = cfg->watch_backlog ? cfg->watch_backlog : 16u << 20;
    c->idle_timeout_ms =
        (uint64_t)(cfg->control_idle_timeout_s ? cfg->control_idle_timeout_s : 30) * 1000;
}

size_t control_poll_capacity(const struct control *c) {
    return 2 + c->max_clients; /* the listening socket, every client, a store job's pipe */
}

size_t control_poll_items(struct control *c, zmq_pollitem_t *items, size_t max) {
    size_t n = 0;
    /* While descriptors are short the listening socket is left out (its backlog waits), but
     * it keeps its slot: control_handle finds client i at item i + 1. */
    short lev = hub_mono_ms() >= c->accept_paused_until ? ZMQ_POLLIN : 0;
    if (n < max)
        items[n++] = (zmq_pollitem_t){.fd = c->lfd, .events = lev};
    for (size_t i = 0; i < c->nclients && n < max; i++) {
        struct client *cl = &c->clients[i];
        short ev = 0;
        /* Read more only once what was read is handled and what was answered is mostly sent:
         * a client's buffers stay near CONTROL_READ_PAUSE however fast it writes. */
        if (client_pending(cl) < CONTROL_READ_PAUSE && !cl->eof && !cl->has_line)
            ev |= ZMQ_POLLIN;
        if (client_pending(cl))
            ev |= ZMQ_POLLOUT;
        items[n++] = (zmq_pollitem_t){.fd = cl->fd, .events = ev};
    }
    if (c->job && n < max) /* after the clients: control_handle finds client i at item i + 1 */
        items[n++] = (zmq_pollitem_t){.fd = c->job->pipe[0], .events = ZMQ_POLLIN};
    return n;
}

/* The longest-idle client that may give its slot to a new one: not watching, and nothing
 * handled for it or read by it for CONTROL_EVICT_MIN_IDLE_MS (a client stuck with unread
 * answers qualifies). NULL if every client is busy. */
static struct client *evict_candidate(struct control *c, uint64_t now) {
    struct client *best = NULL;
    for (size_t i = 0; i < c->nclients; i++) {
        struct client *cl = &c->clients[i];
        if (cl->watching || cl->dead || cl->closing || cl->job_wait ||
            now - cl->last_active < CONTROL_EVICT_MIN_IDLE_MS)
            continue;
        if (!best || cl->last_active < best->last_active)
            best = cl;
    }
    return best;
}

static void refuse(int fd, const char *why) {
    char msg[160];
    int w = snprintf(msg, sizeof msg,
                     "{\"ok\":false,\"error\":{\"code\":\"E_BUSY\",\"message\":\"%s\"}}\n", why);
    if (w > 0 && (size_t)w < sizeof msg) {
        ssize_t r = send(fd, msg, (size_t)w, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)r; /* best effort: the client is refused either way */
    }
    close(fd);
}

static void control_accept(struct control *c) {
    for (int turn = 0; turn < CONTROL_ACCEPTS_PER_TURN; turn++) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: the pending connection stays queued; stop polling the
                 * listening socket for a while rather than spin on it. */
                c->accept_paused_until = hub_mono_ms() + CONTROL_ACCEPT_PAUSE_MS;
                c->total.fd_refused++;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log_warn("control", "accept");
            }
            return;
        }
        uint64_t now = hub_mono_ms();
        if (fd >= c->fd_limit - CONTROL_FD_RESERVE) {
            /* accept4 returns the lowest free descriptor: this one means fewer than the
             * reserve are left for LMDB and sync (OpenSMTPD's control.c does the same). */
            refuse(fd, "hubd is short of file descriptors");
            c->total.fd_refused++;
            continue;
        }
        if (c->nclients == c->max_clients) {
            struct client *old = evict_candidate(c, now);
            if (!old) {
                refuse(fd, "too many clients");
                c->total.refused++;
                continue;
            }
            /* Closed at once (not marked dead) so that its slot is free for this client. */
            client_close(old);
            *old = c->clients[--c->nclients];
            memset(&c->clients[c->nclients], 0, sizeof c->clients[0]);
            c->total.evicted++;
        }
        struct client *cl = &c->clients[c->nclients++];
        memset(cl, 0, sizeof *cl);
        cl->ctl = c;
        cl->fd = fd;
        cl->last_active = now;
        cl->fresh = 1;
    }
}

/* What a long line needed goes back to CONTROL_TOTAL_IN once it is handled: the buffer keeps
 * the size the growth in client_read would have reached for what is left, none if nothing. */
static void client_shrink_in(struct control *c, struct client *cl) {
    if (!cl->in_len) {
        free(cl->in);
        c->in_held -= cl->in_cap;
        cl->in = NULL;
        cl->in_cap = 0;
        return;
    }
    size_t cap = CONTROL_IN_MIN;
    while (cap < cl->in_len + CONTROL_IN_MIN)
        cap *= 2;
    if (cap >= cl->in_cap)
        return;
    char *n = realloc(cl->in, cap);
    if (!n)
        return; /* keeps the bigger one */
    c->in_held -= cl->in_cap - cap;
    cl->in = n;
    cl->in_cap = cap;
}

/* Read what the client sent (do_read), then handle complete lines. */
static void client_read(struct control *c, struct client *cl, int do_read) {
    while (do_read) {
        if (cl->in_cap - cl->in_len < CONTROL_IN_MIN) {
            size_t cap = cl->in_cap ? cl->in_cap * 2 : CONTROL_IN_MIN;
            if (cap > CONTROL_MAX_LINE + CONTROL_IN_MIN) {
                send_error(cl, NULL, HUB_E_TOO_LARGE, NULL, "request line over %u MiB",
                           CONTROL_MAX_LINE >> 20);
                client_flush(cl);
                cl->dead = 1;
                return;
            }
            if (c->in_held - cl->in_cap + cap > CONTROL_TOTAL_IN) {
                /* The complete requests it sent are answered first; only a line that needs
                 * more room than all clients together may hold closes the client. */
                if (cl->in_len && memchr(cl->in, '\n', cl->in_len))
                    break;
                c->total.in_budget_closed++;
                send_error(cl, NULL, HUB_E_BUSY, NULL,
                           "hubd holds %u MiB of unfinished requests of all its clients: "
                           "connection closed; retry later",
                           CONTROL_TOTAL_IN >> 20);
                client_flush(cl);
                cl->dead = 1;
                return;
            }
            char *n = realloc(cl->in, cap);
            if (!n) {
                cl->dead = 1;
                return;
            }
            c->in_held += cap - cl->in_cap;
            cl->in = n;
            cl->in_cap = cap;
        }
        ssize_t r = client_recv(cl, cl->in + cl->in_len, cl->in_cap - cl->in_len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                cl->dead = 1;
            break;
        }
        if (r == 0) {
            cl->eof = 1;
            break;
        }
        cl->in_len += (size_t)r;
        cl->in_progress += (size_t)r;
        if (cl->in_len >= 1u << 20)
            break; /* handle what we have before reading more */
    }
    /* A long request line arriving at a steady pace is not idle; a trickle of bytes is. */
    if (cl->in_progress >= CONTROL_IDLE_PROGRESS) {
        cl->in_progress = 0;
        cl->last_active = hub_mono_ms();
    }
    /* Handle complete lines, a few per turn so no client monopolises the loop, and none while
     * the client has not read what it was sent: its answers wait in memory, so a client that
     * never reads may not make hubd build more of them (it is closed when idle instead). */
    size_t off = 0, start = client_pending(cl);
    int max_reqs = !start ? CONTROL_REQS_PER_TURN : c->backed_budget > 0 ? 1 : 0;
    for (int handled = 0;
         handled < max_reqs && !cl->dead && !cl->job_wait &&
         client_pending(cl) < CONTROL_READ_PAUSE && client_pending(cl) < start + CONTROL_TURN_BYTES;
         handled++) {
        char *nl = memchr(cl->in + off, '\n', cl->in_len - off);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (cl->in + off));
        if (len && cl->in[off + len - 1] == '\r')
            len--;
        if (len)
            dispatch(c, cl, cl->in + off, len);
        off = (size_t)(nl - cl->in) + 1;
        cl->last_active = hub_mono_ms();
        cl->in_progress = 0;
        c->backed_budget -= start != 0;
    }
    if (off) {
        memmove(cl->in, cl->in + off, cl->in_len - off);
        cl->in_len -= off;
    }
    cl->has_line = cl->in_len && memchr(cl->in, '\n', cl->in_len) != NULL;
    client_shrink_in(c, cl);
    if (cl->in_len > CONTROL_MAX_LINE) {
        send_error(cl, NULL, HUB_E_TOO_LARGE, NULL, "request line over %u MiB",
                   CONTROL_MAX_LINE >> 20);
        client_flush(cl);
        cl->dead = 1;
    }
}

/* One line per CONTROL_SUMMARY_MS for clients closed or refused, not one per client: a
 * thousand misbehaving clients must not flood the log. */
static void log_summary(struct control *c, uint64_t now) {
    struct control_counts *t = &c->total, *l = &c->logged;
    if (now - c->last_summary < CONTROL_SUMMARY_MS || memcmp(t, l, sizeof *t) == 0)
        return;
    c->last_summary = now;
    log_warnx("control",
              "clients: %llu closed idle (nothing complete for %llu s), %llu closed for a new "
              "client (server full), %llu refused (all %u slots busy), %llu cut "
              "off unread (over %u MiB), %llu refused short of descriptors (limit %d), %llu "
              "closed and %llu answers or watches refused over the total budgets (%u MiB of "
              "unfinished requests, %u MiB of unsent answers, all clients); %zu connected now",
              (unsigned long long)(t->idle_closed - l->idle_closed),
              (unsigned long long)(c->idle_timeout_ms / 1000),
              (unsigned long long)(t->evicted - l->evicted),
              (unsigned long long)(t->refused - l->refused), c->max_clients,
              (unsigned long long)(t->slow_closed - l->slow_closed), CONTROL_MAX_OUT >> 20,
              (unsigned long long)(t->fd_refused - l->fd_refused), c->fd_limit,
              (unsigned long long)(t->in_budget_closed - l->in_budget_closed),
              (unsigned long long)(t->out_budget_refused - l->out_budget_refused),
              CONTROL_TOTAL_IN >> 20, CONTROL_TOTAL_OUT >> 20, c->nclients);
    *l = *t;
}

void control_handle(struct control *c, const zmq_pollitem_t *items, size_t count) {
    if (count == 0)
        return;
    job_finish(c);                 /* a backup or verify that is done: answered first */
    size_t nclients = c->nclients; /* items were built for these */
    /* Two passes: first the clients that have read everything they were sent, then those with
     * answers still unsent. A client that does not read its answers (or asks for more than it
     * reads) then delays the others by at most its one request per turn (client_read). */
    for (size_t i = 0; i < nclients && i + 1 < count; i++)
        c->clients[i].backed = client_pending(&c->clients[i]) != 0;
    c->backed_budget = CONTROL_BACKED_REQS_PER_TURN;
    size_t rr = nclients ? c->backed_rr++ % nclients : 0;
    for (size_t k = 0; k < 2 * nclients; k++) {
        size_t i = k < nclients ? k : (k + rr) % nclients;
        if (i + 1 >= count || c->clients[i].backed != (k >= nclients))
            continue;
        struct client *cl = &c->clients[i];
        short re = items[i + 1].revents;
        if (re & ZMQ_POLLIN)
            client_read(c, cl, 1);
        /* leftover complete lines (fairness cap) are handled once the client reads */
        else if (cl->has_line && client_pending(cl) < CONTROL_READ_PAUSE)
            client_read(c, cl, 0);
        if (re & ZMQ_POLLERR)
            cl->dead = 1;
        if (client_pending(cl))
            client_flush(cl);
        if (cl->eof && !client_pending(cl) && !cl->has_line)
            cl->dead = 1;
        if (cl->closing && (!client_pending(cl) || hub_mono_ms() > cl->close_by))
            cl->dead = 1;
    }
    /* Idle clients: nothing complete received, nothing of their answers read, for the idle
     * timeout. A watcher waits for events by design; it is cut off by its backlog instead. */
    uint64_t now = hub_mono_ms();
    for (size_t i = 0; i < c->nclients; i++) {
        struct client *cl = &c->clients[i];
        if (!cl->dead && !cl->watching && !cl->job_wait &&
            now - cl->last_active >= c->idle_timeout_ms) {
            cl->dead = 1;
            c->total.idle_closed++;
        }
    }
    /* sweep out closed clients, keeping the array dense */
    for (size_t i = 0; i < c->nclients;) {
        if (c->clients[i].dead) {
            c->total.slow_closed += c->clients[i].slow;
            client_close(&c->clients[i]);
            c->clients[i] = c->clients[--c->nclients];
            memset(&c->clients[c->nclients], 0, sizeof c->clients[0]);
        } else {
            i++;
        }
    }
    /* New clients last, when the slots of closed ones are free. */
    if (items[0].revents & ZMQ_POLLIN) {
        control_accept(c);
        /* A new client's first request is usually there already: answer it in this turn. */
        for (size_t i = 0; i < c->nclients; i++) {
            struct client *cl = &c->clients[i];
            if (!cl->fresh)
                continue;
            cl->fresh = 0;
            client_read(c, cl, 1);
            if (client_pending(cl))
                client_flush(cl);
        }
    }
    control_pump_since(c);
    log_summary(c, now);
}

int control_has_backlog(const struct control *c) {
    for (size_t i = 0; i < c->nclients; i++) {
        const struct client *cl = &c->clients[i];
        if (cl->has_line && !cl->job_wait && client_pending(cl) < CONTROL_READ_PAUSE)
            return 1;
        if (cl->since && cl->behind && !cl->dead && !cl->closing &&
            client_pending(cl) < CONTROL_READ_PAUSE)
            return 1; /* a watch "since" with entries to read */
    }
    return 0;
}
