/* web_http.c: hubweb's HTTP server (libmicrohttpd): the daemon and its limits, the route
 * table, the request (query string, urlencoded form, headers, cookies, Accept-Language) and the
 * response, which always carries the security headers of the contract: a strict
 * Content-Security-Policy (no inline script or style), nosniff, same-origin referrers, no
 * framing.
 *
 * libmicrohttpd runs [web] threads workers (its internal thread pool), each polling its own
 * connections and calling their handlers: handlers run concurrently (web.h, "Threads"). The
 * refusal counters are atomic. Bad requests (too big a body, unknown method, too many fields) are
 * answered with a 4xx, counted, and summarised in the log at most once a minute. */
#include "hub.h"
#include "log.h"
#include "web.h"
#include "web_form.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define WEB_CSP                                                                                    \
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "              \
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#define WEB_REFUSED_LOG_MS 60000 /* a summary of refused requests at most once a minute */

void (*web_session_hook)(struct web_req *req, struct web_resp *resp);

static struct {
    char method[8];
    char path[128];
    size_t pathlen;
    int prefix;
    enum web_access access;
    web_handler h;
} routes[WEB_MAX_ROUTES];
static size_t nroutes;

static struct MHD_Daemon *daemon_;
static const struct web_conf *conf_;
static struct {
    atomic_uint_fast64_t too_large, bad_method, too_many_fields, handler_failed;
    atomic_uint_fast64_t last_log_ms; /* the worker that moves it logs the summary */
} refused;

/* Per-connection state while a request's body arrives. */
struct web_conn {
    char *body;
    size_t len, cap;
    int too_large;
};

const struct web_conf *web_config(void) {
    return conf_;
}

int web_route(const char *method, const char *path, enum web_access access, web_handler h) {
    size_t n = strlen(path);

    if (nroutes >= WEB_MAX_ROUTES || n >= sizeof(routes[0].path) || strlen(method) >= 8)
        return -1;
    memcpy(routes[nroutes].method, method, strlen(method) + 1);
    memcpy(routes[nroutes].path, path, n + 1);
    routes[nroutes].pathlen = n;
    routes[nroutes].prefix = n > 1 && path[n - 1] == '/';
    routes[nroutes].access = access;
    routes[nroutes].h = h;
    nroutes++;
    return 0;
}

/* ---- request helpers --------------------------------------------------------------------- */

const char *web_arg(const struct web_req *req, const char *name) {
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].name, name) == 0)
            return req->args[i].value;
    return NULL;
}

size_t web_arg_all(const struct web_req *req, const char *name, const char **vals, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < req->nargs && n < max; i++)
        if (strcmp(req->args[i].name, name) == 0)
            vals[n++] = req->args[i].value;
    return n;
}

const char *web_form(const struct web_req *req, const char *name) {
    for (size_t i = 0; i < req->nform; i++)
        if (strcmp(req->form[i].name, name) == 0)
            return req->form[i].value;
    return NULL;
}

size_t web_form_all(const struct web_req *req, const char *name, const char **vals, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < req->nform && n < max; i++)
        if (strcmp(req->form[i].name, name) == 0)
            vals[n++] = req->form[i].value;
    return n;
}

const char *web_header(const struct web_req *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *web_cookie(const struct web_req *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

int web_resp_header(struct web_resp *resp, const char *name, const char *value) {
    char *n, *v;

    if (resp->nheaders >= WEB_MAX_HEADERS)
        return -1;
    n = strdup(name);
    v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    resp->headers[resp->nheaders][0] = n;
    resp->headers[resp->nheaders][1] = v;
    resp->nheaders++;
    return 0;
}

void web_redirect(struct web_resp *resp, int status, const char *location) {
    /* Only local paths: a location taken from a form or query must not send people elsewhere. */
    int local = location != NULL && location[0] == '/' && location[1] != '/' &&
                location[1] != '\\' && strpbrk(location, "\r\n") == NULL;
    resp->status = status;
    web_resp_header(resp, "Location", local ? location : "/");
    html_free(&resp->body);
    html_lit(&resp->body, "<!doctype html><title>Redirect</title>");
}

static MHD_Result_t web_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    struct web_req *req = cls;
    (void)kind;
    if (req->nargs >= WEB_MAX_ARGS) {
        atomic_fetch_add(&refused.too_many_fields, 1);
        return MHD_NO;
    }
    req->args[req->nargs].name = key;
    req->args[req->nargs].value = value ? value : "";
    req->nargs++;
    return MHD_YES;
}

/* The form fields of a urlencoded body (the body is NUL-terminated and decoded in place). A
 * field decoded to hold a NUL ends there: no field value is binary. */
static void web_parse_form(struct web_req *req, char *body) {
    char *f = body;
    while (f != NULL && *f != '\0') {
        char *amp = strchr(f, '&');
        if (amp != NULL)
            *amp = '\0';
        if (*f != '\0') {
            char *eq = strchr(f, '=');
            if (req->nform >= WEB_MAX_FORM) {
                atomic_fetch_add(&refused.too_many_fields, 1);
                return;
            }
            if (eq != NULL)
                *eq = '\0';
            (void)web_pct_decode(f, strlen(f), f);
            if (eq != NULL)
                (void)web_pct_decode(eq + 1, strlen(eq + 1), eq + 1);
            req->form[req->nform].name = f;
            req->form[req->nform].value = eq ? eq + 1 : "";
            req->nform++;
        }
        f = amp != NULL ? amp + 1 : NULL;
    }
}

/* Accept-Language: language ranges by q-value, best first (ties in the order given); '*' and
 * q=0 left out. */
static void web_parse_langs(struct web_req *req, const char *al) {
    double q[WEB_MAX_LANGS];
    size_t n = 0;

    while (al != NULL && *al && n < WEB_MAX_LANGS) {
        const char *end = strchr(al, ',');
        size_t len = end ? (size_t)(end - al) : strlen(al);
        const char *semi = memchr(al, ';', len);
        size_t taglen = semi ? (size_t)(semi - al) : len;
        double qv = 1.0;
        char tag[16];
        size_t t = 0;

        for (size_t i = 0; i < taglen && t < sizeof(tag) - 1; i++) {
            char c = al[i];
            if (c == ' ' || c == '\t')
                continue;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-')) {
                t = 0;
                break;
            }
            tag[t++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        tag[t] = '\0';
        if (semi != NULL) {
            const char *qs = strstr(semi, "q=");
            if (qs != NULL && qs < al + len) {
                char *qe;
                qv = strtod(qs + 2, &qe);
                if (qe == qs + 2 || qv < 0 || qv > 1)
                    qv = 0;
            }
        }
        if (t > 0 && qv > 0) {
            size_t pos = n;
            while (pos > 0 && q[pos - 1] < qv) {
                q[pos] = q[pos - 1];
                memcpy(req->langs[pos], req->langs[pos - 1], sizeof(req->langs[0]));
                pos--;
            }
            q[pos] = qv;
            memcpy(req->langs[pos], tag, t + 1);
            n++;
        }
        al = end ? end + 1 : NULL;
    }
    req->nlangs = n;
}

/* ---- responses --------------------------------------------------------------------------- */

static MHD_Result_t web_send(struct MHD_Connection *conn, struct web_resp *resp) {
    size_t len;
    char *body = html_take(&resp->body, &len);
    struct MHD_Response *r;
    MHD_Result_t rc;

    r = MHD_create_response_from_buffer(len, body ? body : (char *)"",
                                        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type",
                            resp->content_type ? resp->content_type : "text/html; charset=utf-8");
    MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    for (size_t i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i][0], resp->headers[i][1]);
    int has_cc = 0;
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i][0], "Cache-Control") == 0)
            has_cc = 1;
    /* Pages change with every replicated record: revalidate (assets set their own). */
    if (!has_cc)
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    rc = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return rc;
}

static void web_resp_free(struct web_resp *resp) {
    html_free(&resp->body);
    for (size_t i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i][0]);
        free(resp->headers[i][1]);
    }
    resp->nheaders = 0;
}

static void web_log_refused(void) {
    uint64_t now = hub_mono_ms();
    uint_fast64_t last = atomic_load(&refused.last_log_ms);
    uint64_t too_large = atomic_load(&refused.too_large),
             bad_method = atomic_load(&refused.bad_method),
             too_many = atomic_load(&refused.too_many_fields),
             failed = atomic_load(&refused.handler_failed);
    if (now - last < WEB_REFUSED_LOG_MS)
        return;
    if (too_large + bad_method + too_many + failed == 0)
        return;
    /* One worker wins the minute's line; the others see the new time. */
    if (!atomic_compare_exchange_strong(&refused.last_log_ms, &last, now))
        return;
    log_info("http",
             "refused since start: %llu bodies over %d bytes, %llu unknown methods, %llu requests "
             "with more than %d fields; %llu pages failed",
             (unsigned long long)too_large, WEB_MAX_BODY, (unsigned long long)bad_method,
             (unsigned long long)too_many, WEB_MAX_ARGS, (unsigned long long)failed);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static void web_client_addr(struct MHD_Connection *conn, char *out, size_t cap) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "?");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out,
                  (socklen_t)cap);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)cap);
}

static void web_dispatch(struct web_req *req, struct web_resp *resp) {
    size_t best = SIZE_MAX, bestlen = 0;
    int path_known = 0;
    const char *m = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;

    for (size_t i = 0; i < nroutes; i++) {
        int match = routes[i].prefix ? strncmp(req->path, routes[i].path, routes[i].pathlen) == 0
                                     : strcmp(req->path, routes[i].path) == 0;
        if (!match)
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, m) != 0)
            continue;
        if (best == SIZE_MAX || routes[i].pathlen > bestlen) {
            best = i;
            bestlen = routes[i].pathlen;
        }
    }
    if (best == SIZE_MAX) {
        if (path_known) {
            web_resp_header(resp, "Allow", strcmp(m, "GET") == 0 ? "POST" : "GET, HEAD");
            page_error(req, resp, 405, "This page does not take that method.");
        } else {
            page_error(req, resp, 404, "There is no such page.");
        }
        return;
    }
    if (web_session_hook != NULL)
        web_session_hook(req, resp);
    if ((routes[best].access == WEB_STAFF && !req->signed_in) ||
        (routes[best].access == WEB_PUBLIC && !conf_->catalogue && !req->signed_in)) {
        web_redirect(resp, 303, "/signin");
        return;
    }
    req->rest = req->path + routes[best].pathlen;
    int rc = routes[best].h(req, resp);
    if (rc == 0 && !resp->body.oom)
        return;
    atomic_fetch_add(&refused.handler_failed, 1);
    log_warnx("http", "%s %s: %s", req->method, req->path,
              resp->body.oom ? "out of memory" : hub_strerror(rc));
    web_resp_free(resp);
    page_error(req, resp, rc == HUB_E_IO ? 502 : 500,
               rc == HUB_E_IO ? "The hub's daemon does not answer; try again in a moment."
                              : "Something went wrong on this page.");
}

static MHD_Result_t web_access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls) {
    struct web_conn *wc = *con_cls;
    (void)cls;
    (void)version;

    if (wc == NULL) {
        wc = calloc(1, sizeof(*wc));
        if (wc == NULL)
            return MHD_NO;
        *con_cls = wc;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (wc->too_large || n > WEB_MAX_BODY - wc->len) {
            wc->too_large = 1;
            return MHD_YES;
        }
        if (wc->len + n + 1 > wc->cap) {
            size_t cap = wc->len + n + 1;
            char *p = realloc(wc->body, cap);
            if (p == NULL) {
                wc->too_large = 1;
                return MHD_YES;
            }
            wc->body = p;
            wc->cap = cap;
        }
        memcpy(wc->body + wc->len, upload_data, n);
        wc->len += n;
        wc->body[wc->len] = '\0';
        return MHD_YES;
    }

    /* The whole request is here. */
    struct web_req *req = calloc(1, sizeof(*req));
    struct web_resp resp;
    char client[INET6_ADDRSTRLEN];
    MHD_Result_t rc;

    if (req == NULL)
        return MHD_NO;
    uint64_t t0 = hub_mono_us();
    (void)web_ctl_take_wait_us();
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    html_init(&resp.body);
    web_client_addr(conn, client, sizeof(client));
    req->conn = conn;
    req->method = method;
    req->path = url;
    req->client = client;
    web_parse_langs(req, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Language"));
    /* <html lang> is the language of hubweb's own text, English (it has no translations);
     * a record's text in another language carries its own lang attribute (web_view.c). */
    req->lang = "en";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "POST") != 0) {
        atomic_fetch_add(&refused.bad_method, 1);
        web_resp_header(&resp, "Allow", "GET, HEAD, POST");
        page_error(req, &resp, 405, "This method is not served here.");
    } else if (wc->too_large) {
        atomic_fetch_add(&refused.too_large, 1);
        page_error(req, &resp, 413, "The form is too large.");
    } else {
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, web_collect_arg, req);
        if (strcmp(method, "POST") == 0 && wc->body != NULL) {
            const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
            if (ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
                web_parse_form(req, wc->body);
        }
        web_dispatch(req, &resp);
    }
    /* one line per request only at debug level (the contract: no access log by default) */
    log_debug("http", "%s %s %d %zu bytes in %.2f ms (hubd %.2f ms)", method, url, resp.status,
              resp.body.len, (double)(hub_mono_us() - t0) / 1000.0,
              (double)web_ctl_take_wait_us() / 1000.0);
    rc = web_send(conn, &resp);
    web_resp_free(&resp);
    free(req);
    web_log_refused();
    return rc;
}

static void web_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe) {
    struct web_conn *wc = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (wc != NULL) {
        free(wc->body);
        free(wc);
    }
    *con_cls = NULL;
}

static void web_mhd_log(void *cls, const char *fmt, va_list ap) {
    char buf[512];
    size_t n;
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_debug("http", "libmicrohttpd: %s", buf);
}

int web_http_start(const struct web_conf *conf) {
    struct addrinfo hints, *ai = NULL;
    char port[8];
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    int gai;

    conf_ = conf;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", conf->port);
    gai = getaddrinfo(conf->host, port, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        log_error("http", "listen %s:%u: %s", conf->host, conf->port, gai_strerror(gai));
        return HUB_E_CONFIG;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
#ifdef MHD_USE_AUTO
    flags |= MHD_USE_AUTO;
#endif
    /* A pool of conf->threads workers, each with its event loop over the connections it
     * accepted; with 1, the one internal polling thread (libmicrohttpd takes a pool size of 1
     * as no pool). The connection limit is shared out among the workers. */
    daemon_ = MHD_start_daemon(
        flags, (uint16_t)conf->port, NULL, NULL, web_access, NULL, MHD_OPTION_SOCK_ADDR,
        ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(conf->threads > 1 ? conf->threads : 0),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)WEB_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, web_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, web_mhd_log,
        NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (daemon_ == NULL) {
        log_error("http", "cannot listen on %s:%u (in use, or not an address of this host?)",
                  conf->host, conf->port);
        return HUB_E_IO;
    }
    return 0;
}

void web_http_stop(void) {
    if (daemon_ != NULL)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
