/* web_ctl.c: hubweb's client of hubd's control socket (CONTROL.md): one JSON line out, one
 * line in, on persistent connections (a page costs one or two calls; connecting for each
 * would double their cost). hubd may close an idle connection (control_idle_timeout) or
 * restart: a call that finds its connection gone opens a new one and tries once more, but only
 * when nothing of the answer was read yet, so a request is never sent twice after hubd began to
 * answer it. Every wait is bounded by WEB_CTL_TIMEOUT_MS and every answer by
 * WEB_CTL_MAX_ANSWER bytes.
 *
 * HTTP workers call these functions at the same time (web.h, "Threads"): a call takes a
 * connection of its own from a pool of [web] threads connections for its whole exchange (the
 * answers of one connection come in the order of its requests, so two calls must never
 * share one), and gives it back after. A call that waits for a slow hubd so holds one
 * connection and one worker; the other workers go on with theirs. */
#include "hub.h"
#include "log.h"
#include "web.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_READ_CHUNK 65536
#define CTL_MAX_VOCABS 32 /* vocabularies cached (hubd has a dozen) */
#define CTL_MAX_CONNS 32  /* connections in the pool: config.c's bound of [web] threads */

/* One connection to hubd; used by one call at a time (taken from the pool). */
struct ctl_conn {
    int fd;
    char *buf; /* bytes received after the last answer (hubd answers in order: none, normally) */
    size_t len, cap;
    int busy; /* taken by a call (under ctl.lock) */
};

static struct {
    char path[512];
    pthread_mutex_t lock; /* the busy flags; nconns is fixed before the workers start */
    pthread_cond_t freed;
    struct ctl_conn conns[CTL_MAX_CONNS];
    unsigned nconns;
    atomic_uint_fast64_t failures; /* calls that could not reach hubd: logged, not per call */
} ctl = {.lock = PTHREAD_MUTEX_INITIALIZER, .freed = PTHREAD_COND_INITIALIZER};

/* Time spent in calls by this thread since web_ctl_take_wait_us: a request is served on one
 * thread from start to end, so the figure is the request's. */
static _Thread_local uint64_t ctl_wait_us;

uint64_t web_ctl_take_wait_us(void) {
    uint64_t us = ctl_wait_us;
    ctl_wait_us = 0;
    return us;
}

/* The vocabularies, fetched once: filled under vocab_lock, never changed afterwards until
 * web_ctl_close (so a borrowed pointer stays valid while hubweb serves). */
static pthread_mutex_t vocab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    json_t *values;
} vocab_cache[CTL_MAX_VOCABS];
static size_t vocab_n;
static int vocab_loaded;

int web_ctl_init(const char *socket_path, unsigned nconns) {
    if (strlen(socket_path) >= sizeof(ctl.path) ||
        strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path) || nconns == 0 ||
        nconns > CTL_MAX_CONNS)
        return HUB_E_RANGE;
    memcpy(ctl.path, socket_path, strlen(socket_path) + 1);
    for (unsigned i = 0; i < CTL_MAX_CONNS; i++)
        ctl.conns[i] = (struct ctl_conn){.fd = -1};
    ctl.nconns = nconns;
    return 0;
}

static void ctl_disconnect(struct ctl_conn *c) {
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

/* After the HTTP daemon has stopped: no call runs any more. */
void web_ctl_close(void) {
    for (unsigned i = 0; i < CTL_MAX_CONNS; i++) {
        ctl_disconnect(&ctl.conns[i]);
        free(ctl.conns[i].buf);
        ctl.conns[i].buf = NULL;
        ctl.conns[i].cap = 0;
    }
    for (size_t i = 0; i < vocab_n; i++)
        json_decref(vocab_cache[i].values);
    vocab_n = 0;
    vocab_loaded = 0;
}

/* A free connection, an open one if there is (no connect). There are as many as HTTP workers,
 * so the wait is for a call of a thread other than a worker's (none today) at most. */
static struct ctl_conn *ctl_take(void) {
    struct ctl_conn *c = NULL;
    pthread_mutex_lock(&ctl.lock);
    for (;;) {
        for (unsigned i = 0; i < ctl.nconns; i++) {
            struct ctl_conn *k = &ctl.conns[i];
            if (!k->busy && (c == NULL || (c->fd < 0 && k->fd >= 0)))
                c = k;
        }
        if (c != NULL)
            break;
        pthread_cond_wait(&ctl.freed, &ctl.lock);
    }
    c->busy = 1;
    pthread_mutex_unlock(&ctl.lock);
    return c;
}

static void ctl_give(struct ctl_conn *c) {
    pthread_mutex_lock(&ctl.lock);
    c->busy = 0;
    pthread_cond_signal(&ctl.freed);
    pthread_mutex_unlock(&ctl.lock);
}

static int ctl_connect(struct ctl_conn *c) {
    struct sockaddr_un sa;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, ctl.path, strlen(ctl.path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return HUB_E_IO;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return HUB_E_IO;
    }
    c->fd = fd;
    c->len = 0;
    return 0;
}

/* Wait until fd is ready for events, at most until deadline (monotonic ms). */
static int ctl_wait(struct ctl_conn *c, short events, uint64_t deadline) {
    for (;;) {
        uint64_t now = hub_mono_ms();
        struct pollfd p = {.fd = c->fd, .events = events};
        int r;

        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        r = poll(&p, 1, (int)(deadline - now));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int ctl_send(struct ctl_conn *c, const char *s, size_t n, uint64_t deadline) {
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (ctl_wait(c, POLLOUT, deadline) != 0)
                    return -1;
                continue;
            }
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One answer line. *got_any: some byte of it arrived (then a retry would repeat the request). */
static int ctl_recv(struct ctl_conn *c, json_t **out, uint64_t deadline, int *got_any) {
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            json_error_t e;
            json_t *v = json_loadb(c->buf, n, 0, &e);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            if (v == NULL || !json_is_object(v)) {
                log_warnx("ctl", "hubd sent a malformed answer: %s",
                          v ? "not a JSON object" : e.text);
                json_decref(v);
                errno = EPROTO;
                return -1;
            }
            *out = v;
            return 0;
        }
        if (c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : CTL_READ_CHUNK;
            char *p;
            if (c->cap >= WEB_CTL_MAX_ANSWER) {
                log_warnx("ctl", "hubd's answer is longer than %u bytes: dropped",
                          (unsigned)WEB_CTL_MAX_ANSWER);
                errno = EMSGSIZE;
                return -1;
            }
            p = realloc(c->buf, cap);
            if (p == NULL) {
                errno = ENOMEM;
                return -1;
            }
            c->buf = p;
            c->cap = cap;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (r > 0) {
            c->len += (size_t)r;
            *got_any = 1;
            continue;
        }
        if (r == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (ctl_wait(c, POLLIN, deadline) != 0)
            return -1;
    }
}

/* The hub error named by an answer's error code (hub_strerror's names), E_INTERNAL if unknown. */
static int ctl_code(const json_t *answer) {
    const char *code = json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
    if (code == NULL)
        return HUB_E_INTERNAL;
    for (int e = -1; e >= -64; e--)
        if (strcmp(hub_strerror(e), code) == 0)
            return e;
    return HUB_E_INTERNAL;
}

int web_ctl_calls(json_t **reqs, size_t n, json_t **answers, int *rcs) {
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        answers[i] = NULL;
        rcs[i] = HUB_E_IO;
    }
    /* Every request on one line each, sent at once: hubd answers them in order, so a page's
     * calls cost one round trip. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *line = NULL;
        if (json_object_set_new(reqs[i], "v", json_integer(HUB_CONTROL_PROTOCOL)) != 0 ||
            (line = json_dumps(reqs[i], JSON_COMPACT)) == NULL) {
            rc = HUB_E_NOMEM;
            break;
        }
        size_t l = strlen(line);
        if (len + l + 2 > cap) {
            size_t ncap = (len + l + 2) * 2;
            char *p = realloc(text, ncap);
            if (p == NULL) {
                free(line);
                rc = HUB_E_NOMEM;
                break;
            }
            text = p;
            cap = ncap;
        }
        memcpy(text + len, line, l);
        len += l;
        text[len++] = '\n';
        free(line);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(reqs[i]);
    if (rc != 0) {
        free(text);
        for (size_t i = 0; i < n; i++)
            rcs[i] = rc;
        return rc;
    }

    uint64_t deadline = hub_mono_ms() + WEB_CTL_TIMEOUT_MS, t0 = hub_mono_us();
    struct ctl_conn *c = ctl_take();
    rc = HUB_E_IO;
    for (int attempt = 0; attempt < 2; attempt++) {
        int got_any = 0, failed = 0;
        int reused = c->fd >= 0;
        if (c->fd < 0 && ctl_connect(c) != 0) {
            log_debug("ctl", "cannot connect to hubd at %s: %s", ctl.path, strerror(errno));
            break;
        }
        if (ctl_send(c, text, len, deadline) != 0)
            failed = 1;
        for (size_t i = 0; i < n && !failed; i++) {
            if (ctl_recv(c, &answers[i], deadline, &got_any) != 0) {
                failed = 1;
                break;
            }
            rcs[i] = json_is_true(json_object_get(answers[i], "ok")) ? 0 : ctl_code(answers[i]);
        }
        if (!failed) {
            rc = 0;
            break;
        }
        int e = errno;
        ctl_disconnect(c);
        for (size_t i = 0; i < n; i++) {
            json_decref(answers[i]);
            answers[i] = NULL;
            rcs[i] = HUB_E_IO;
        }
        /* Retry only a connection that may simply have been closed while idle. */
        if (!reused || got_any || e == ETIMEDOUT || e == EMSGSIZE || e == EPROTO) {
            errno = e;
            break;
        }
    }
    if (rc == HUB_E_IO) {
        int e = errno;
        uint64_t failures = atomic_fetch_add(&ctl.failures, 1) + 1;
        /* The first failure and then every 100th: a hubd that is down for long must not flood
         * the log with one line per page view. */
        errno = e;
        if (failures % 100 == 1)
            log_warn("ctl", "hubd at %s did not answer (%llu calls failed so far)", ctl.path,
                     (unsigned long long)failures);
    }
    ctl_give(c);
    free(text);
    ctl_wait_us += hub_mono_us() - t0;
    return rc;
}

int web_ctl_call(json_t *req, json_t **answer) {
    int rc;
    web_ctl_calls(&req, 1, answer, &rc); /* on failure rc holds the failure too */
    return rc;
}

int web_ctl_op(const char *op, json_t **answer) {
    json_t *req = json_pack("{s:s}", "op", op);
    if (req == NULL) {
        *answer = NULL;
        return HUB_E_NOMEM;
    }
    return web_ctl_call(req, answer);
}

const char *web_ctl_errmsg(const json_t *answer) {
    const char *m = json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
    return m ? m : "";
}

const char *web_ctl_errfield(const json_t *answer) {
    const char *m = json_string_value(json_object_get(json_object_get(answer, "error"), "field"));
    return m ? m : "";
}

/* Under vocab_lock. */
static const json_t *vocab_find(const char *name) {
    for (size_t i = 0; i < vocab_n; i++)
        if (strcmp(vocab_cache[i].name, name) == 0)
            return vocab_cache[i].values;
    return NULL;
}

const json_t *web_vocab(const char *name) {
    json_t *ans = NULL, *lists;
    const json_t *v;
    int loaded;

    pthread_mutex_lock(&vocab_lock);
    loaded = vocab_loaded;
    v = loaded ? vocab_find(name) : NULL;
    pthread_mutex_unlock(&vocab_lock);
    if (loaded)
        return v;
    /* All lists in one call, on first use: they do not change while hubd runs. Asked without
     * the lock (the call may wait for hubd): workers that ask at the same time all ask, and
     * the first answer is kept. */
    if (web_ctl_op("vocab", &ans) != 0) {
        json_decref(ans);
        return NULL;
    }
    pthread_mutex_lock(&vocab_lock);
    lists = json_object_get(ans, "lists");
    for (size_t i = 0; !vocab_loaded && i < json_array_size(lists) && vocab_n < CTL_MAX_VOCABS;
         i++) {
        json_t *l = json_array_get(lists, i);
        const char *n = json_string_value(json_object_get(l, "name"));
        json_t *vals = json_object_get(l, "values");
        if (n == NULL || !json_is_array(vals) || strlen(n) >= sizeof(vocab_cache[0].name))
            continue;
        memcpy(vocab_cache[vocab_n].name, n, strlen(n) + 1);
        vocab_cache[vocab_n].values = json_incref(vals);
        vocab_n++;
    }
    vocab_loaded = vocab_n > 0;
    v = vocab_find(name);
    pthread_mutex_unlock(&vocab_lock);
    json_decref(ans);
    return v;
}
