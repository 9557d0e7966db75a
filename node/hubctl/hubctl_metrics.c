/* hubctl_metrics.c: hubd's status and peers as Prometheus metrics (text exposition 0.0.4), and
 * the exporter that serves them over HTTP from hubctl (see hubctl_metrics.h for why not hubd).
 *
 * Every metric comes from a member of hubd's "status" or "peers" response; a member hubd does
 * not send is left out, so an older hubd gives fewer metrics, never wrong ones. */
#include "hubctl_metrics.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- exposition --------------------------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped (the format's rules). */
static void put_label_value(FILE *out, const char *s) {
    for (; s && *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '"')
            fputs("\\\"", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void family(FILE *out, const char *name, const char *type, const char *help) {
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *jstr(json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

/* A sample of an integer or real member; nothing when the member is absent. */
static void sample_of(FILE *out, const char *name, json_t *v) {
    if (json_is_integer(v))
        fprintf(out, "%s %" JSON_INTEGER_FORMAT "\n", name, json_integer_value(v));
    else if (json_is_real(v))
        fprintf(out, "%s %.17g\n", name, json_real_value(v));
}

/* A metric made from one member of a response object. */
struct member_metric {
    const char *member, *name, *type, *help;
};

/* One family and sample per numeric member of obj named in the table (absent ones skipped). */
static void put_members(FILE *out, json_t *obj, const struct member_metric *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, t[i].member);
        if (!json_is_number(v))
            continue;
        family(out, t[i].name, t[i].type, t[i].help);
        sample_of(out, t[i].name, v);
    }
}

/* Scalar members of status. */
static const struct member_metric status_metrics[] = {
    {"uptime_s", "hubnet_uptime_seconds", "gauge", "Seconds since hubd started."},
    {"own_seq", "hubnet_own_seq", "gauge", "Sequence number of this hub's newest own entry."},
    {"entries", "hubnet_entries", "gauge", "Entries held (every author, every version)."},
    {"records", "hubnet_records", "gauge", "Current records held."},
    {"feeds", "hubnet_feeds", "gauge", "Feeds (authors) held."},
    {"accepted", "hubnet_entries_accepted_total", "counter",
     "Entries accepted since start (own and replicated)."},
    {"used_bytes", "hubnet_store_used_bytes", "gauge", "Bytes of the LMDB map in use."},
    {"map_size", "hubnet_store_map_bytes", "gauge", "Current size of the LMDB map."},
    {"map_max", "hubnet_store_map_max_bytes", "gauge",
     "Largest size the LMDB map may grow to (max_map_size)."},
    {"index_tail", "hubnet_index_tail_records", "gauge",
     "Records whose index terms are not yet merged into the index."},
    {"clients", "hubnet_control_clients", "gauge", "Connected control clients."},
    {"watchers", "hubnet_control_watchers", "gauge", "Control clients streaming a watch."},
};

/* Integer members of each peer (one sample per session, labelled with peer and direction). */
static const struct member_metric peer_metrics[] = {
    {"sent", "hubnet_peer_entries_sent_total", "counter", "Entries sent to the peer."},
    {"received", "hubnet_peer_entries_received_total", "counter", "Entries received from the peer."},
    {"rejected", "hubnet_peer_entries_rejected_total", "counter",
     "Entries from the peer that were refused."},
    {"bytes_sent", "hubnet_peer_sent_bytes_total", "counter", "Sync bytes sent to the peer."},
    {"bytes_received", "hubnet_peer_received_bytes_total", "counter",
     "Sync bytes received from the peer."},
    {"rounds", "hubnet_peer_sync_rounds_total", "counter", "Anti-entropy rounds with the peer."},
    {"behind_them", "hubnet_peer_lag_peer_lacks_entries", "gauge",
     "Entries this hub holds that the peer lacks (its lag behind us)."},
    {"behind_us", "hubnet_peer_lag_we_lack_entries", "gauge",
     "Entries the peer holds that this hub lacks (our lag behind it)."},
    {"flaps", "hubnet_peer_flaps_total", "counter", "Times the session went down after being up."},
    {"deferred", "hubnet_peer_requests_deferred_total", "counter",
     "Requests from the peer that waited for the answer window."},
    {"refused", "hubnet_peer_requests_refused_total", "counter",
     "Requests from the peer dropped unanswered over the answer window."},
    {"queued_bytes", "hubnet_peer_queued_bytes", "gauge",
     "Bytes of answers to the peer that libzmq still holds."},
    {"replies_kept", "hubnet_peer_addressed_replies_kept_total", "counter",
     "Replies from outside the trust that came on this session and were kept."},
    {"replies_refused", "hubnet_peer_addressed_replies_refused_total", "counter",
     "Replies from outside the trust that came on this session and were refused."},
};

static void peer_labels(FILE *out, json_t *p) {
    fputs("{peer=\"", out);
    put_label_value(out, jstr(p, "key"));
    fputs("\",direction=\"", out);
    put_label_value(out, jstr(p, "direction") ? jstr(p, "direction") : "");
    fputs("\"}", out);
}

/* A histogram member of status: {"le":[bounds...],"counts":[cumulative...],"sum":S,"count":N}
 * (the last bound is +Inf and is not listed). Returns 0 when it was not well formed. */
static int histogram(FILE *out, const char *name, const char *help, json_t *h) {
    json_t *le = json_object_get(h, "le"), *counts = json_object_get(h, "counts");
    json_t *sum = json_object_get(h, "sum"), *count = json_object_get(h, "count");
    if (!json_is_array(le) || !json_is_array(counts) ||
        json_array_size(le) != json_array_size(counts) || !json_is_number(sum) ||
        !json_is_integer(count))
        return 0;
    family(out, name, "histogram", help);
    size_t i;
    json_t *b;
    json_array_foreach(le, i, b) {
        fprintf(out, "%s_bucket{le=\"%.17g\"} %" JSON_INTEGER_FORMAT "\n", name,
                json_number_value(b), json_integer_value(json_array_get(counts, i)));
    }
    fprintf(out, "%s_bucket{le=\"+Inf\"} %" JSON_INTEGER_FORMAT "\n", name,
            json_integer_value(count));
    fprintf(out, "%s_sum %.17g\n%s_count %" JSON_INTEGER_FORMAT "\n", name,
            json_number_value(sum), name, json_integer_value(count));
    return 1;
}

int metrics_write(json_t *status, json_t *peers, FILE *out) {
    family(out, "hubnet_up", "gauge", "1 when hubd answered on its control socket.");
    fprintf(out, "hubnet_up %d\n", status != NULL);
    if (status == NULL)
        return ferror(out) ? -1 : 0;

    family(out, "hubnet_info", "gauge", "This hub's key and hubd's version (value 1).");
    fputs("hubnet_info{hub=\"", out);
    put_label_value(out, jstr(status, "hub"));
    fputs("\",version=\"", out);
    put_label_value(out, jstr(status, "version"));
    fputs("\"} 1\n", out);

    put_members(out, status, status_metrics, sizeof status_metrics / sizeof status_metrics[0]);

    json_t *forks = json_object_get(status, "forks");
    if (json_is_array(forks)) {
        family(out, "hubnet_forks", "gauge", "Feeds frozen by a fork (one key used twice).");
        fprintf(out, "hubnet_forks %zu\n", json_array_size(forks));
    }

    family(out, "hubnet_entries_rejected_total", "counter",
           "Entries refused since start, by reason (the error name).");
    const char *code;
    json_t *cnt;
    json_object_foreach(json_object_get(status, "rejected"), code, cnt) {
        if (!json_is_integer(cnt))
            continue;
        fputs("hubnet_entries_rejected_total{reason=\"", out);
        put_label_value(out, code);
        fprintf(out, "\"} %" JSON_INTEGER_FORMAT "\n", json_integer_value(cnt));
    }

    /* What replication cost since start, every session together (CONTROL.md status sync.traffic;
     * BENCHMARKS.md "Many hubs" derives messages and copies per delivered entry from them). */
    json_t *tr = json_object_get(json_object_get(status, "sync"), "traffic");
    if (json_is_object(tr)) {
        static const struct member_metric tr_metrics[] = {
            {"msgs_sent", "hubnet_sync_messages_sent_total", "counter",
             "Anti-entropy messages sent to peers."},
            {"bytes_sent", "hubnet_sync_message_bytes_sent_total", "counter",
             "Bytes of the anti-entropy messages sent (protobuf sizes)."},
            {"msgs_received", "hubnet_sync_messages_received_total", "counter",
             "Anti-entropy messages received from peers."},
            {"bytes_received", "hubnet_sync_message_bytes_received_total", "counter",
             "Bytes of the anti-entropy messages received (protobuf sizes)."},
            {"pushes_sent", "hubnet_sync_pushes_sent_total", "counter",
             "Live pushes published (once however many peers subscribe)."},
            {"push_bytes_sent", "hubnet_sync_push_bytes_sent_total", "counter",
             "Bytes of the live pushes published."},
            {"pushes_received", "hubnet_sync_pushes_received_total", "counter",
             "Live-push frames read from peers, each copy counted."},
            {"push_bytes_received", "hubnet_sync_push_bytes_received_total", "counter",
             "Bytes of the live-push frames read from peers."},
            {"entries_accepted", "hubnet_sync_entries_new_total", "counter",
             "Entries from peers that were new here."},
            {"entries_duplicate", "hubnet_sync_entries_duplicate_total", "counter",
             "Entries from peers that were held already (redundant copies)."},
        };
        put_members(out, tr, tr_metrics, sizeof tr_metrics / sizeof tr_metrics[0]);
    }

    /* Replies from hubs outside this hub's trust (PROTOCOL.md §9.15). */
    json_t *ar = json_object_get(status, "addressed_replies");
    if (json_is_object(ar)) {
        static const struct member_metric ar_metrics[] = {
            {"kept", "hubnet_addressed_replies_kept_total", "counter",
             "Replies from outside the trust kept since start (for this hub or relayed)."},
            {"relayed", "hubnet_addressed_replies_relayed_total", "counter",
             "Kept replies addressed to another hub and pushed on."},
            {"held", "hubnet_addressed_replies_held", "gauge",
             "Replies from outside the trust held in the store now."},
            {"blocked", "hubnet_blocked_responders", "gauge", "Responders blocked now."},
        };
        put_members(out, ar, ar_metrics, sizeof ar_metrics / sizeof ar_metrics[0]);
        json_t *refused = json_object_get(ar, "refused");
        if (json_is_object(refused)) {
            family(out, "hubnet_addressed_replies_refused_total", "counter",
                   "Replies from outside the trust refused since start, by reason.");
            json_object_foreach(refused, code, cnt) {
                if (!json_is_integer(cnt))
                    continue;
                fputs("hubnet_addressed_replies_refused_total{reason=\"", out);
                put_label_value(out, code);
                fprintf(out, "\"} %" JSON_INTEGER_FORMAT "\n", json_integer_value(cnt));
            }
        }
    }

    json_t *hist = json_object_get(status, "histograms");
    histogram(out, "hubnet_commit_seconds", "Time to commit one write transaction of the store.",
              json_object_get(hist, "commit_seconds"));
    histogram(out, "hubnet_batch_entries", "Entries per stored batch (one transaction).",
              json_object_get(hist, "batch_entries"));

    json_t *list = json_object_get(peers, "peers");
    if (!json_is_array(list))
        return ferror(out) ? -1 : 0;
    size_t i;
    json_t *p;
    family(out, "hubnet_peers_up", "gauge", "Replication sessions that are up.");
    size_t up = 0;
    json_array_foreach(list, i, p) {
        const char *st = jstr(p, "state");
        up += st && strcmp(st, "up") == 0;
    }
    fprintf(out, "hubnet_peers_up %zu\n", up);
    family(out, "hubnet_peer_up", "gauge", "1 when the session with this peer is up.");
    json_array_foreach(list, i, p) {
        const char *st = jstr(p, "state");
        fputs("hubnet_peer_up", out);
        peer_labels(out, p);
        fprintf(out, " %d\n", st && strcmp(st, "up") == 0);
    }
    family(out, "hubnet_peer_last_heard_timestamp_seconds", "gauge",
           "When the peer was last heard from (Unix time).");
    json_array_foreach(list, i, p) {
        json_t *v = json_object_get(p, "last_heard");
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            continue;
        fputs("hubnet_peer_last_heard_timestamp_seconds", out);
        peer_labels(out, p);
        fprintf(out, " %.3f\n", (double)json_integer_value(v) / 1000.0);
    }
    for (size_t m = 0; m < sizeof peer_metrics / sizeof peer_metrics[0]; m++) {
        int any = 0;
        json_array_foreach(list, i, p) {
            json_t *v = json_object_get(p, peer_metrics[m].member);
            if (!json_is_integer(v))
                continue;
            if (!any++)
                family(out, peer_metrics[m].name, peer_metrics[m].type, peer_metrics[m].help);
            fputs(peer_metrics[m].name, out);
            peer_labels(out, p);
            fprintf(out, " %" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
        }
    }
    return ferror(out) ? -1 : 0;
}

/* ---- the exporter ------------------------------------------------------------------------- */

static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *addr) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof host) {
        fprintf(stderr, "hubctl: metrics: --listen %s: expected HOST:PORT\n", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 1 && h[hl - 1] == ']') { /* [::1]:9477 */
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(h, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "hubctl: metrics: --listen %s: %s\n", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "hubctl: metrics: cannot listen on %s: %s\n", addr, strerror(errno));
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, const char *status, const char *ctype, const char *body, size_t n,
                    int head_only) {
    char hdr[256];
    int h = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, ctype, n);
    if (h < 0 || (size_t)h >= sizeof hdr)
        return;
    send_all(fd, hdr, (size_t)h);
    if (!head_only)
        send_all(fd, body, n);
}

/* Read the request head (up to the blank line) within the deadline; 0 when complete. */
static int read_head(int fd, char *buf, size_t cap, size_t *len) {
    long long deadline = mono_ms() + METRICS_REQUEST_TIMEOUT_MS;
    *len = 0;
    while (*len + 1 < cap) {
        long long left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            return -1;
        if (n <= 0)
            return -1;
        ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (r <= 0)
            return -1;
        *len += (size_t)r;
        buf[*len] = '\0';
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
            return 0;
    }
    return -1; /* head too long */
}

static void serve_one(int fd, metrics_fetch_fn fetch, void *arg) {
    char req[METRICS_MAX_REQUEST];
    size_t len;
    if (read_head(fd, req, sizeof req, &len) != 0)
        return;
    static const char text[] = "text/plain; charset=utf-8";
    int head_only = strncmp(req, "HEAD ", 5) == 0;
    if (strncmp(req, "GET ", 4) != 0 && !head_only) {
        static const char m[] = "only GET and HEAD\n";
        respond(fd, "405 Method Not Allowed", text, m, sizeof m - 1, 0);
        return;
    }
    const char *path = req + (head_only ? 5 : 4);
    size_t plen = strcspn(path, " ?\r\n");
    if (!(plen == 8 && strncmp(path, "/metrics", 8) == 0)) {
        static const char m[] = "hubnet metrics are at /metrics\n";
        respond(fd, "404 Not Found", text, m, sizeof m - 1, head_only);
        return;
    }
    json_t *status = NULL, *peers = NULL;
    if (fetch(arg, &status, &peers) != 0)
        status = peers = NULL;
    char *body = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&body, &n);
    if (mem == NULL)
        return;
    int rc = metrics_write(status, peers, mem);
    fclose(mem);
    json_decref(status);
    json_decref(peers);
    if (rc == 0)
        respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, n, head_only);
    free(body);
}

int metrics_serve(const char *addr, metrics_fetch_fn fetch, void *arg,
                  volatile sig_atomic_t *stop) {
    int lfd = listen_on(addr);
    if (lfd < 0)
        return -1;
    fprintf(stderr, "hubctl: metrics: serving http://%s/metrics\n", addr);
    while (!*stop) {
        struct pollfd pfd = {lfd, POLLIN, 0};
        int n = poll(&pfd, 1, 500);
        if (n <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_one(fd, fetch, arg);
        close(fd);
    }
    close(lfd);
    return 0;
}
