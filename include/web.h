/* web.h: hubweb, the hub's web pages (node/hubweb/). A separate process that speaks to hubd
 * only through the control socket; everything it shows from records is foreign text, escaped
 * for where it goes by the html_* functions of web_html.c.
 *
 * The pieces, one file each:
 *   hubweb.c      main: options, the [web] config, signals
 *   web_http.c    libmicrohttpd daemon, the route table, requests (args, form, cookies),
 *                 responses (every one with the security headers), request limits
 *   web_ctl.c     the control-socket client: one JSON line out, one in; reconnects
 *   web_html.c    the HTML builder and its escapers (text, attribute, URL, JSON in <script>)
 *   web_page.c    the page layout (head, nav, main, footer, flash) and the error pages
 *   web_assets.c  app.css and app.js, built into the binary (ETag, Cache-Control)
 *   web_catalogue.c  public pages: search, record, hub
 *   web_network.c    the network page, its JSON and its SVG drawing
 *   web_staff.c   staff pages (sign-in, publish, inbox, ...): registered by web_staff_init
 *
 * Threads: libmicrohttpd runs a pool of [web] threads workers (MHD_OPTION_THREAD_POOL_SIZE),
 * each with its own event loop, and calls a request's handler on the worker that holds its
 * connection: handlers run concurrently. A handler that waits for hubd holds its worker only
 * (each call takes a control connection of its own from web_ctl.c's pool); a slow visitor holds
 * none (libmicrohttpd reads and writes without blocking). So everything handlers share is
 * locked or atomic: the control connections and the vocabulary cache (web_ctl.c), the facet
 * counts cache (web_catalogue.c), the session table and sign-in limiter (web_session.c, locked
 * by web_staff.c), the refusal counters; tables filled before the daemon starts (routes,
 * assets, the config) are only read afterwards. */
#ifndef HUB_WEB_H
#define HUB_WEB_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits (README "The web pages" lists them) ------------------------------------------- */
#define WEB_MAX_BODY (64 * 1024)          /* POST body bytes; more: 413 */
#define WEB_MAX_ARGS 64                   /* query-string or form fields kept per request */
#define WEB_MAX_FORM 512                  /* POST form fields (list fields repeat their name) */
#define WEB_MAX_HEADERS 8                 /* extra response headers a handler may add */
#define WEB_MAX_CONNECTIONS 256           /* HTTP connections at once (no limit per address:
                                             behind a reverse proxy every client is the proxy) */
#define WEB_CONN_TIMEOUT_S 30             /* an idle HTTP connection is closed after this */
#define WEB_CONN_MEMORY (128 * 1024)      /* libmicrohttpd's memory per connection (URL, headers) */
#define WEB_MAX_LANGS 8                   /* Accept-Language entries considered */
#define WEB_CTL_TIMEOUT_MS 10000          /* a control call that takes longer fails (E_IO) */
#define WEB_CTL_MAX_ANSWER (16u << 20)    /* longest control answer line accepted */

/* ---- configuration (hubweb.c) -------------------------------------------------------------- */
struct web_conf {
    char host[256];           /* [web] listen, host part ("127.0.0.1", "::1") */
    unsigned port;            /* [web] listen, port */
    char control[512];        /* hubd's control socket path */
    char data_dir[512];       /* [hub] data_dir */
    int catalogue;            /* [web] catalogue: 1 on, 0 off */
    unsigned session_ttl_s;   /* [web] session_ttl */
    unsigned signin_attempts; /* [web] signin_attempts (per minute per client address) */
    unsigned threads;         /* [web] threads: HTTP workers, and control connections at most */
};

/* ---- HTML builder (web_html.c) ------------------------------------------------------------- */
/* A growable buffer; on allocation failure oom is set and further writes are dropped (the
 * handler answers 500). The html_text/attr/... functions take foreign bytes: any bytes, NUL and
 * invalid UTF-8 included; invalid sequences, NUL and C0/C1 controls but tab and newline come out
 * as U+FFFD. */
struct html {
    char *p;
    size_t len, cap;
    int oom;
};

void html_init(struct html *h);
void html_free(struct html *h);
/* The buffer's bytes, handed to the caller (who frees them); h is empty afterwards. */
char *html_take(struct html *h, size_t *len);
/* Trusted markup: our own literals only. */
void html_raw(struct html *h, const char *s, size_t n);
#define html_lit(h, s) html_raw((h), (s), sizeof(s) - 1)
/* Trusted markup with printf formatting: numbers and our own strings, never record content. */
void html_printf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Element text: & < > " ' escaped. */
void html_text(struct html *h, const char *s, size_t n);
void html_ctext(struct html *h, const char *s); /* NUL-terminated; NULL writes nothing */
/* A double-quoted attribute value (the caller writes the quotes): same escaping as text. */
void html_attr(struct html *h, const char *s, size_t n);
void html_cattr(struct html *h, const char *s);
/* 1 when s is a link hubweb may put in href: http://, https:// or mailto: (any case) followed
 * by no whitespace, control character or backslash; 0 for everything else (javascript:, data:,
 * entity-encoded or whitespace-padded schemes, relative URLs). */
int html_url_ok(const char *s, size_t n);
/* <a href="URL" rel="nofollow noopener">TEXT</a> when html_url_ok(url), else TEXT alone as
 * element text (text NULL: the URL itself is the text). */
void html_link(struct html *h, const char *url, size_t n, const char *text);
/* 1 when s holds well-formed UTF-8 without NUL (what jansson takes into a JSON string). */
int html_utf8_valid(const char *s, size_t n);
/* Percent-encoding of a URL query value or path segment: only A-Z a-z 0-9 - . _ ~ stay. The
 * result is safe in an attribute as it is. */
void html_urlenc(struct html *h, const char *s, size_t n);
void html_curlenc(struct html *h, const char *s);
/* JSON text for inside <script type="application/ld+json">: < > & as \u003c \u003e \u0026
 * and U+2028, U+2029 as \u2028, \u2029 (valid JSON, never "</script>" or "<!--"). */
void html_json_text(struct html *h, const char *json, size_t n);
/* <script type="application/ld+json">v</script>; v is not consumed. */
void html_json_script(struct html *h, const json_t *v);
/* The string value of a JSON member as element text (nothing when absent or not a string);
 * jansson strings may hold NUL: the full length is used. */
void html_jtext(struct html *h, const json_t *obj, const char *member);

/* ---- requests and responses (web_http.c) --------------------------------------------------- */
struct web_kv {
    const char *name, *value; /* valid during the request */
};

struct web_req {
    const char *method;          /* "GET", "HEAD" or "POST" */
    const char *path;            /* URL path, percent-decoded by libmicrohttpd */
    const char *rest;            /* the path after the matched route's prefix */
    struct web_kv args[WEB_MAX_ARGS]; /* query string, in order, repeated names kept */
    size_t nargs;
    struct web_kv form[WEB_MAX_FORM]; /* POST body (application/x-www-form-urlencoded) */
    size_t nform;
    const char *client;          /* the client's address as text */
    char langs[WEB_MAX_LANGS][16]; /* Accept-Language, best first, lower case ("de-at", "de") */
    size_t nlangs;
    const char *lang;            /* the page's <html lang>: hubweb's own text is English, "en" */
    /* Filled by web_session_hook (the staff code), before the handler runs: copies, since
     * another worker may end the session while this request is served. */
    int signed_in;               /* a valid staff session */
    char csrf[64];               /* that session's CSRF token ("" without a session) */
    char session_id[64];         /* that session's id (the cookie; "" without a session) */
    /* Set by a handler for the layout: a message shown in <p id="flash" role="status">. */
    const char *flash;
    char flash_buf[256];         /* storage for a flash the session carried to this page */
    void *conn;                  /* struct MHD_Connection *, for what the helpers lack */
};

struct web_resp {
    int status;               /* default 200 */
    const char *content_type; /* default "text/html; charset=utf-8" */
    struct html body;
    char *headers[WEB_MAX_HEADERS][2]; /* owned copies */
    size_t nheaders;
};

/* First value of a query-string argument (NULL when absent) and every value of it. */
const char *web_arg(const struct web_req *req, const char *name);
size_t web_arg_all(const struct web_req *req, const char *name, const char **vals, size_t max);
/* The same for POST form fields. */
const char *web_form(const struct web_req *req, const char *name);
size_t web_form_all(const struct web_req *req, const char *name, const char **vals, size_t max);
/* A request header (case-insensitive name) or cookie, NULL when absent. */
const char *web_header(const struct web_req *req, const char *name);
const char *web_cookie(const struct web_req *req, const char *name);

/* An extra response header (copied; e.g. "Set-Cookie"). Beyond WEB_MAX_HEADERS: -1. */
int web_resp_header(struct web_resp *resp, const char *name, const char *value);
/* 303 See Other (after a POST) or 302 to a local path (starting with '/', not "//"); any other
 * location is replaced by "/". */
void web_redirect(struct web_resp *resp, int status, const char *location);

/* A handler fills resp and returns 0; a negative hub error code makes a 500 page (logged). */
typedef int (*web_handler)(struct web_req *req, struct web_resp *resp);

/* Who may see a route. */
enum web_access {
    WEB_OPEN = 0,    /* everybody, always (sign-in, assets) */
    WEB_PUBLIC = 1,  /* the catalogue: everybody when [web] catalogue = on, else signed-in staff
                        (others are redirected to /signin) */
    WEB_STAFF = 2,   /* signed-in staff only (others are redirected to /signin) */
};

/* Register a route: method "GET" (HEAD is served by GET routes) or "POST"; path matched exactly,
 * or as a prefix when it ends with '/' (req->rest is what follows). Longest match wins. At most
 * WEB_MAX_ROUTES routes; -1 beyond. */
#define WEB_MAX_ROUTES 64
int web_route(const char *method, const char *path, enum web_access access, web_handler h);

/* Set by the staff code: called for each request before its handler, to fill signed_in, csrf
 * and session (and maybe refresh a cookie through resp). NULL: nobody is signed in. */
extern void (*web_session_hook)(struct web_req *req, struct web_resp *resp);

/* Start serving (returns after binding; the daemon runs on its own thread) and stop. */
int web_http_start(const struct web_conf *conf);
void web_http_stop(void);
const struct web_conf *web_config(void);

/* ---- control calls (web_ctl.c) ------------------------------------------------------------- */
/* Up to nconns connections to hubd (one per HTTP worker), opened when first needed. */
int web_ctl_init(const char *socket_path, unsigned nconns);
void web_ctl_close(void);
/* One request and its answer. req is consumed ("v": 1 is added). Returns 0 with *answer (a new
 * reference) when hubd answered "ok": true; when it answered "ok": false, the negative hub error
 * of its code with *answer set (read its message with web_ctl_errmsg); HUB_E_IO when hubd
 * cannot be reached or did not answer in WEB_CTL_TIMEOUT_MS (*answer NULL). A lost connection is
 * reopened once per call. */
int web_ctl_call(json_t *req, json_t **answer);
/* Several requests sent at once (one round trip; hubd answers in order): reqs[i] consumed,
 * answers[i] and rcs[i] as web_ctl_call gives them. Returns 0 when every answer arrived (each
 * may still be a refusal: see rcs), else HUB_E_IO or HUB_E_NOMEM (answers all NULL). */
int web_ctl_calls(json_t **reqs, size_t n, json_t **answers, int *rcs);
/* {"op": op} and its answer, as web_ctl_call. */
int web_ctl_op(const char *op, json_t **answer);
/* Microseconds this thread spent waiting for hubd since its last call of this (the request
 * log's figure: a request is served on one thread). */
uint64_t web_ctl_take_wait_us(void);
/* The error message of a refused answer ("" when none); borrowed from answer. */
const char *web_ctl_errmsg(const json_t *answer);
const char *web_ctl_errfield(const json_t *answer);
/* The values of a vocabulary (`vocab` call, fetched once and cached for the process): a
 * borrowed JSON array of strings, or NULL when hubd has no such list or cannot be reached. */
const json_t *web_vocab(const char *name);

/* ---- page layout (web_page.c) -------------------------------------------------------------- */
/* Everything from <!doctype html> to the opening of <main id="main">, with the <h1>TITLE</h1>
 * when h1 is set (title is escaped). */
void page_begin(struct html *h, const struct web_req *req, const char *title, int h1);
/* Closes main, writes the footer and closes the document. */
void page_end(struct html *h, const struct web_req *req);
/* A whole error page with status (404, 403, 500, 502 when hubd cannot be reached ...). */
void page_error(struct web_req *req, struct web_resp *resp, int status, const char *message);
/* The <input type="hidden" name="csrf"> of a form (the session's token). */
void page_csrf(struct html *h, const struct web_req *req);

/* ---- record views as HTML (web_view.c) ------------------------------------------------------ */
/* A field's label ("Starts" for start_date), NULL for a field it does not know. */
const char *view_label(const char *field);
/* The string of a language map member (rec[map], e.g. "titles") that suits the visitor's
 * Accept-Language, else rec[plain] ("title"); NULL when neither is a string. Borrowed. */
const json_t *view_text(const json_t *rec, const char *map, const char *plain,
                        const struct web_req *req);
/* view_text, and in *lang the map's key when the text came from the map (NULL otherwise). */
const json_t *view_text_lang(const json_t *rec, const char *map, const char *plain,
                             const struct web_req *req, const char **lang);
/* A JSON string as element text, in <span lang="LANG"> when lang is a well-formed tag. */
void view_lang_text(struct html *h, const json_t *v, const char *lang);
/* The record's title (a profile's name), escaped, in the visitor's language when the record
 * has per-language titles. */
void view_title(struct html *h, const json_t *view, const struct web_req *req);
/* /record/AUTHOR/KIND/KEY with each part percent-encoded (safe inside href="..."). */
void view_record_href(struct html *h, const char *author, const char *kind, const char *key);
/* A hub's name (escaped), or "hub 1234abcd" when its profile is not held; and as a link. */
void view_hub_name(struct html *h, const char *author, const char *name);
void view_hub_link(struct html *h, const char *author, const char *name);
/* <dl id="fields">: every field of a record, one <dt>/<dd data-field="NAME"> each. */
void view_fields(struct html *h, const json_t *rec);

/* ---- assets (web_assets.c) ----------------------------------------------------------------- */
void web_assets_init(void);     /* registers /assets/app.css and /assets/app.js */
const char *web_asset_etag(const char *name); /* for the ?v= in links: "app.css" */

/* ---- pages (one file each) ----------------------------------------------------------------- */
void web_catalogue_init(void);  /* web_catalogue.c: /, /record/, /hub/ */
void web_network_init(void);    /* web_network.c: /network, /network.json, /network.svg */
void web_staff_init(const struct web_conf *conf); /* web_staff.c: /signin, /staff... */

#endif
