/* web_staff.c: the staff pages (issue 13 item 3): sign-in with the web token that hubd keeps
 * (`web_token`, hubctl web-token), sign-out, the dashboard, publish / edit / retract of offers,
 * requests and the profile through forms built from the vocabularies, the inbox with accept
 * and decline, replies to other hubs' records, match results for the hub's requests, and the
 * replies the hub sent. Sessions, CSRF, the sign-in limit and the forms' mapping are in
 * web_session.c and web_form.c; this file is the HTTP side of sign-in and of the record forms,
 * web_replies.c that of the inbox, replies and match. Every string from hubd that came
 * from a record is foreign: it goes out through the html_* escapers only. */
#include "web.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "web_form.h"
#include "web_session.h"
#include "web_staff.h"

/* Shared by the HTTP workers (web.h, "Threads"): the session table is used only under
 * web_sessions_lock, and a request keeps copies of its session's id and CSRF token (web_req),
 * never a pointer into the table. */
static struct web_sessions *sessions;
static char own_key[HUB_HEX_LEN + 1]; /* this hub's key, asked once: written under */
static pthread_mutex_t own_key_lock = PTHREAD_MUTEX_INITIALIZER; /* this lock, and then */
static atomic_int own_key_set;        /* set (release), after which it never changes */
static struct {
    pthread_mutex_t lock;
    uint64_t logged_ms;          /* when the last summary line was written (0: never) */
    unsigned wrong, limited;     /* refusals since */
    char last[WEB_CLIENT_MAX];   /* the client of the last one */
} refused = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- helpers ----------------------------------------------------------------------------- */

/* Our own markup chosen at run time (html_lit takes only a literal: sizeof). */
void staff_cstr(struct html *h, const char *s) {
    html_raw(h, s, strlen(s));
}

void staff_flash(const struct web_req *req, const char *fmt, ...) {
    char msg[WEB_FLASH_MAX];
    if (!req->signed_in)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* by id: the session may have ended (signed out elsewhere) since this request began */
    web_sessions_lock(sessions);
    struct web_session *se = web_session_find(sessions, req->session_id, hub_mono_ms());
    if (se)
        memcpy(se->flash, msg, sizeof se->flash);
    web_sessions_unlock(sessions);
}

static int is_secure(const struct web_req *req) {
    return web_request_secure(req->client, web_header(req, "X-Forwarded-Proto"), 0);
}

static void set_cookie(struct web_req *req, struct web_resp *resp, const char *name,
                       const char *value, unsigned max_age) {
    char c[256];
    int rc = value ? web_cookie_set(name, value, max_age, is_secure(req), c, sizeof c)
                   : web_cookie_clear(name, is_secure(req), c, sizeof c);
    if (rc == 0 && web_resp_header(resp, "Set-Cookie", c) != 0)
        log_warnx("web", "too many response headers: cookie %s not set", name);
}

/* The current web token from hubd. 0, or the control error (HUB_E_IO: hubd unreachable). */
static int current_token(uint64_t *generation, char token[WEB_SESSION_TEXT_LEN + 1]) {
    json_t *ans = NULL;
    int rc = web_ctl_op("web_token", &ans);
    if (rc == 0) {
        const char *t = json_string_value(json_object_get(ans, "token"));
        json_t *g = json_object_get(ans, "generation");
        if (!t || strlen(t) != WEB_SESSION_TEXT_LEN || !json_is_integer(g))
            rc = HUB_E_DECODE;
        else {
            memcpy(token, t, WEB_SESSION_TEXT_LEN + 1);
            *generation = (uint64_t)json_integer_value(g);
        }
    }
    json_decref(ans);
    return rc;
}

/* This hub's key (64 hex digits), or "" when hubd does not answer. */
const char *staff_self_key(void) {
    if (atomic_load_explicit(&own_key_set, memory_order_acquire))
        return own_key;
    json_t *ans = NULL;
    int got = 0;
    char key[HUB_HEX_LEN + 1];
    if (web_ctl_op("id", &ans) == 0) {
        const char *k = json_string_value(json_object_get(ans, "hub"));
        if (k && strlen(k) == HUB_HEX_LEN) {
            memcpy(key, k, HUB_HEX_LEN + 1);
            got = 1;
        }
    }
    json_decref(ans);
    if (!got)
        return "";
    pthread_mutex_lock(&own_key_lock);
    if (!atomic_load_explicit(&own_key_set, memory_order_relaxed)) {
        memcpy(own_key, key, sizeof own_key);
        atomic_store_explicit(&own_key_set, 1, memory_order_release);
    }
    pthread_mutex_unlock(&own_key_lock);
    return own_key;
}

/* A POST's session and CSRF token; a 403 page when either is missing or wrong. */
int staff_post_ok(struct web_req *req, struct web_resp *resp) {
    if (req->signed_in && web_csrf_ok(req->csrf, web_form(req, "csrf")))
        return 1;
    page_error(req, resp, 403,
               "This form's security token is missing or out of date. Go back, reload the page "
               "and send the form again.");
    return 0;
}

/* The error page for a control call that failed: 502 when hubd does not answer. */
int staff_ctl_failed(struct web_req *req, struct web_resp *resp, int rc, json_t *ans) {
    if (rc == HUB_E_IO || !ans) {
        json_decref(ans);
        return HUB_E_IO;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "hubd refused: %s (%s)", web_ctl_errmsg(ans), hub_strerror(rc));
    json_decref(ans);
    page_error(req, resp, rc == HUB_E_NOT_FOUND ? 404 : 400, msg);
    return 0;
}

/* A hub as people read it: its name when this hub holds its profile, else its short key. */
void staff_hub_name(struct html *h, const json_t *obj, const char *name_member,
                     const char *key_member) {
    const char *n = json_string_value(json_object_get(obj, name_member));
    if (n && *n) {
        html_ctext(h, n);
        return;
    }
    const char *k = json_string_value(json_object_get(obj, key_member));
    html_lit(h, "hub ");
    html_text(h, k ? k : "?", k ? (strlen(k) < 8 ? strlen(k) : 8) : 1);
}

/* href="/record/AUTHOR/KIND/KEY" (the attribute's value, escaped per segment). */
void staff_record_href(struct html *h, const char *author, const char *kind, const char *key) {
    html_lit(h, "/record/");
    html_curlenc(h, author ? author : "");
    html_lit(h, "/");
    html_curlenc(h, kind ? kind : "");
    html_lit(h, "/");
    html_curlenc(h, key ? key : "");
}

/* 1 when s is text a control request may carry (valid UTF-8: what jansson takes); form fields
 * and URL parts are any bytes. */
int staff_text_ok(const char *s) {
    json_t *j = s ? json_string(s) : NULL;
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

const char *staff_title_of(const json_t *view) {
    const json_t *rec = json_object_get(view, "record");
    const char *t = json_string_value(json_object_get(rec, "title"));
    if (!t)
        t = json_string_value(json_object_get(rec, "name"));
    return t;
}

/* ---- session hook -------------------------------------------------------------------------- */

static void staff_hook(struct web_req *req, struct web_resp *resp) {
    req->signed_in = 0;
    req->csrf[0] = '\0';
    req->session_id[0] = '\0';
    const char *cookie = web_cookie(req, WEB_SESSION_COOKIE);
    if (!cookie)
        return;
    web_sessions_lock(sessions);
    int found = web_session_find(sessions, cookie, hub_mono_ms()) != NULL;
    web_sessions_unlock(sessions);
    if (!found)
        return;
    uint64_t gen;
    char token[WEB_SESSION_TEXT_LEN + 1];
    /* asked without the lock: the call may wait for hubd, and other workers go on */
    if (current_token(&gen, token) != 0)
        return; /* hubd unreachable: nobody is signed in for this request, the session stays */
    web_sessions_lock(sessions);
    /* found again: another worker may have ended it meanwhile (sign-out, rotation) */
    struct web_session *se = web_session_find(sessions, cookie, hub_mono_ms());
    int ok = se != NULL && web_session_current(sessions, se, gen, token);
    int ended = se != NULL && !ok;
    if (ok) {
        snprintf(req->csrf, sizeof req->csrf, "%s", se->csrf);
        snprintf(req->session_id, sizeof req->session_id, "%s", se->id);
        if (se->flash[0]) {
            snprintf(req->flash_buf, sizeof req->flash_buf, "%s", se->flash);
            se->flash[0] = '\0';
            req->flash = req->flash_buf;
        }
    }
    web_sessions_unlock(sessions);
    sodium_memzero(token, sizeof token);
    if (ended) {
        log_info("web", "a staff session ended: the web token changed (generation %llu)",
                 (unsigned long long)gen);
        set_cookie(req, resp, WEB_SESSION_COOKIE, NULL, 0);
    }
    req->signed_in = ok;
}

/* A refused sign-in: counted, and summarised in one log line at most every STAFF_LOG_MS (the
 * first at once), so that guessing fills no disk. */
static void note_refused(const char *client, int limited) {
    uint64_t now = hub_mono_ms();
    pthread_mutex_lock(&refused.lock);
    if (limited)
        refused.limited++;
    else
        refused.wrong++;
    snprintf(refused.last, sizeof refused.last, "%s", client);
    if (!refused.logged_ms || now - refused.logged_ms >= STAFF_LOG_MS) {
        log_warnx("web",
                  "staff sign-in refused: %u not the web token, %u over the limit%s (the last "
                  "from %s)",
                  refused.wrong, refused.limited,
                  refused.logged_ms ? " since the last such line" : "", refused.last);
        refused.logged_ms = now;
        refused.wrong = refused.limited = 0;
    }
    pthread_mutex_unlock(&refused.lock);
}

/* ---- sign-in, sign-out --------------------------------------------------------------------- */

static void signin_page(struct web_req *req, struct web_resp *resp, const char *pre) {
    struct html *h = &resp->body;
    page_begin(h, req, "Staff sign-in", 1);
    html_lit(h, "<p>Sign in with the hub's web token: <code>hubctl web-token</code> prints it on "
                "the hub's server.</p>\n<form id=\"signin\" method=\"post\" action=\"/signin\">\n"
                "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_cattr(h, pre);
    html_lit(h, "\">\n<label for=\"token\">Web token</label>\n"
                "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" "
                "required>\n<button type=\"submit\" id=\"submit\">Sign in</button>\n</form>\n");
    page_end(h, req);
}

/* The sign-in form's CSRF token: the pre-session cookie's, or a new one (set). */
static const char *pre_token(struct web_req *req, struct web_resp *resp, char buf[WEB_SESSION_TEXT_LEN + 1]) {
    const char *c = web_cookie(req, WEB_PRE_COOKIE);
    if (c && strlen(c) == WEB_SESSION_TEXT_LEN &&
        strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
            WEB_SESSION_TEXT_LEN)
        return c;
    web_random_token(buf);
    set_cookie(req, resp, WEB_PRE_COOKIE, buf, STAFF_PRE_TTL_S);
    return buf;
}

static int h_signin_get(struct web_req *req, struct web_resp *resp) {
    if (req->signed_in) {
        web_redirect(resp, 303, "/staff");
        return 0;
    }
    char buf[WEB_SESSION_TEXT_LEN + 1];
    signin_page(req, resp, pre_token(req, resp, buf));
    return 0;
}

static int h_signin_post(struct web_req *req, struct web_resp *resp) {
    const char *pre = web_cookie(req, WEB_PRE_COOKIE);
    if (!pre || strlen(pre) != WEB_SESSION_TEXT_LEN || !web_csrf_ok(pre, web_form(req, "csrf"))) {
        page_error(req, resp, 403,
                   "This form's security token is missing or out of date. Reload the sign-in "
                   "page and try again.");
        return 0;
    }
    char client[WEB_CLIENT_MAX];
    web_client_addr(req->client, web_header(req, "X-Forwarded-For"), client, sizeof client);
    uint64_t now = hub_mono_ms();
    char buf[WEB_SESSION_TEXT_LEN + 1];
    unsigned wait = 0;
    web_sessions_lock(sessions);
    int allowed = web_signin_allow(sessions, client, now);
    if (!allowed)
        wait = web_signin_wait_s(sessions, client, now);
    web_sessions_unlock(sessions);
    if (!allowed) {
        char msg[160], ra[16];
        snprintf(msg, sizeof msg, "Too many sign-in attempts from your address: try again in %u s.",
                 wait ? wait : 1);
        snprintf(ra, sizeof ra, "%u", wait ? wait : 1);
        note_refused(client, 1);
        web_resp_header(resp, "Retry-After", ra);
        resp->status = 429;
        req->flash = msg;
        signin_page(req, resp, pre_token(req, resp, buf));
        return 0;
    }
    uint64_t gen;
    char token[WEB_SESSION_TEXT_LEN + 1];
    int rc = current_token(&gen, token);
    if (rc != 0)
        return rc == HUB_E_IO ? HUB_E_IO : rc;
    if (!web_token_ok(web_form(req, "token"), token)) {
        sodium_memzero(token, sizeof token);
        note_refused(client, 0);
        resp->status = 403;
        req->flash = "That is not the hub's web token. 'hubctl web-token' on the hub's server "
                     "prints it.";
        signin_page(req, resp, pre_token(req, resp, buf));
        return 0;
    }
    struct web_session *se;
    char id[WEB_SESSION_TEXT_LEN + 1];
    size_t live = 0;
    web_sessions_lock(sessions);
    rc = web_session_create(sessions, now, gen, token, &se);
    if (rc == 0) {
        memcpy(id, se->id, sizeof id);
        snprintf(se->flash, sizeof se->flash, "Signed in.");
        live = web_session_count(sessions);
    }
    web_sessions_unlock(sessions);
    sodium_memzero(token, sizeof token);
    if (rc != 0)
        return rc;
    log_info("web", "staff signed in from %s (%zu sessions)", client, live);
    set_cookie(req, resp, WEB_SESSION_COOKIE, id, web_config()->session_ttl_s);
    sodium_memzero(id, sizeof id);
    set_cookie(req, resp, WEB_PRE_COOKIE, NULL, 0);
    web_redirect(resp, 303, "/staff");
    return 0;
}

static int h_signout(struct web_req *req, struct web_resp *resp) {
    if (req->signed_in) {
        if (!staff_post_ok(req, resp))
            return 0;
        web_sessions_lock(sessions);
        web_session_end(sessions, web_session_find(sessions, req->session_id, hub_mono_ms()));
        size_t live = web_session_count(sessions);
        web_sessions_unlock(sessions);
        req->session_id[0] = '\0';
        req->signed_in = 0;
        log_info("web", "staff signed out (%zu sessions)", live);
    }
    set_cookie(req, resp, WEB_SESSION_COOKIE, NULL, 0);
    web_redirect(resp, 303, "/");
    return 0;
}

/* ---- dashboard ----------------------------------------------------------------------------- */

/* A list answer's count (up to STAFF_COUNT_LIMIT) as text; "?" when the call failed. */
static void count_text(struct html *h, int rc, const json_t *ans) {
    if (rc != 0) {
        html_lit(h, "?");
        return;
    }
    long n = (long)json_integer_value(json_object_get(ans, "count"));
    html_printf(h, "%ld%s", n, n >= STAFF_COUNT_LIMIT ? "+" : "");
}

/* The hub's own records of a kind (a query answer), each with edit and retract. */
static void own_records(struct html *h, const struct web_req *req, const char *kind,
                        const json_t *ans) {
    const json_t *recs = json_object_get(ans, "records");
    html_printf(h, "<ul class=\"own-records\" data-kind=\"%s\">\n", kind);
    size_t i;
    const json_t *v;
    json_array_foreach(recs, i, v) {
        const char *key = json_string_value(json_object_get(v, "key"));
        const char *t = staff_title_of(v);
        html_lit(h, "<li class=\"own-record\" data-key=\"");
        html_cattr(h, key);
        html_lit(h, "\"><a href=\"");
        staff_record_href(h, staff_self_key(), kind, key);
        html_lit(h, "\">");
        html_ctext(h, t && *t ? t : key);
        html_lit(h, "</a> <a class=\"edit\" href=\"/staff/edit/");
        html_curlenc(h, kind);
        html_lit(h, "/");
        html_curlenc(h, key);
        html_lit(h, "\">Edit</a> <form class=\"retract\" method=\"post\" action=\"/staff/retract\">");
        page_csrf(h, req);
        html_printf(h, "<input type=\"hidden\" name=\"kind\" value=\"%s\">", kind);
        html_lit(h, "<input type=\"hidden\" name=\"key\" value=\"");
        html_cattr(h, key);
        html_lit(h, "\"><button type=\"submit\">Retract</button></form></li>\n");
    }
    if (!json_array_size(recs))
        html_lit(h, "<li>None yet.</li>\n");
    html_lit(h, "</ul>\n");
}

/* The dashboard: its four calls in one round trip (web_ctl_calls). */
static int h_dashboard(struct web_req *req, struct web_resp *resp) {
    struct html *h = &resp->body;
    const char *self = staff_self_key();
    if (!self[0])
        return HUB_E_IO;
    json_t *calls[4] = {
        json_pack("{s:s, s:b, s:b, s:i}", "op", "inbox", "new", 1, "peek", 1, "limit",
                  STAFF_COUNT_LIMIT),
        json_pack("{s:s, s:i}", "op", "replies", "limit", STAFF_COUNT_LIMIT),
        json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "offer", "author", self, "limit",
                  STAFF_LIST_LIMIT),
        json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "request", "author", self,
                  "limit", STAFF_LIST_LIMIT),
    };
    json_t *ans[4];
    int rcs[4];
    int rc = web_ctl_calls(calls, 4, ans, rcs);
    if (rc == 0 && (rcs[2] != 0 || rcs[3] != 0))
        rc = rcs[2] != 0 ? rcs[2] : rcs[3];
    if (rc == 0) {
        page_begin(h, req, "Staff", 1);
        html_lit(h, "<ul id=\"staff-links\">\n<li><a href=\"/staff/inbox\">Inbox</a>: "
                    "<span id=\"count-new\">");
        count_text(h, rcs[0], ans[0]);
        html_lit(h, "</span> new replies</li>\n<li><a href=\"/staff/replies\">Replies sent</a>: ");
        count_text(h, rcs[1], ans[1]);
        html_lit(h, "</li>\n<li><a href=\"/staff/match\">Offers that fit our requests</a></li>\n"
                    "<li><a href=\"/staff/publish?kind=offer\">Publish an offer</a></li>\n"
                    "<li><a href=\"/staff/publish?kind=request\">Publish a request</a></li>\n"
                    "<li><a href=\"/staff/edit/profile/profile\">The hub's profile</a></li>\n"
                    "</ul>\n<h2>Our offers</h2>\n");
        own_records(h, req, "offer", ans[2]);
        html_lit(h, "<h2>Our requests</h2>\n");
        own_records(h, req, "request", ans[3]);
        page_end(h, req);
    }
    for (size_t i = 0; i < HUB_ARRAY_LEN(ans); i++)
        json_decref(ans[i]);
    return rc;
}

/* ---- record forms -------------------------------------------------------------------------- */

static void attr_describedby(struct html *h, const struct web_field *f, const char *err,
                             const char *hint_id) {
    if (err || hint_id) {
        html_lit(h, " aria-describedby=\"");
        if (err)
            html_printf(h, "error-%s", f->name);
        if (hint_id)
            html_printf(h, "%shint-%s", err ? " " : "", f->name);
        html_lit(h, "\"");
    }
    if (err)
        html_lit(h, " aria-invalid=\"true\"");
}

/* 1 when value is one of the vocabulary's values. */
static int in_vocab(const json_t *vals, const char *value) {
    size_t i;
    const json_t *v;
    json_array_foreach(vals, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return 1;
    }
    return 0;
}

static void select_control(struct html *h, const char *name, const char *value,
                           const json_t *vals, const struct web_field *f, const char *err,
                           const char *hint) {
    html_printf(h, "<select id=\"f-%s\" name=\"%s\"", name, name);
    attr_describedby(h, f, err, hint);
    html_lit(h, ">\n<option value=\"\">(none)</option>\n");
    /* what was typed or sent stays selected even when it is not in the list (it is shown
     * next to the error that refused it) */
    if (value && *value && !in_vocab(vals, value)) {
        html_lit(h, "<option selected value=\"");
        html_cattr(h, value);
        html_lit(h, "\">");
        html_ctext(h, value);
        html_lit(h, "</option>\n");
    }
    size_t i;
    const json_t *v;
    json_array_foreach(vals, i, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        html_lit(h, "<option value=\"");
        html_cattr(h, s);
        staff_cstr(h, value && strcmp(value, s) == 0 ? "\" selected>" : "\">");
        html_ctext(h, s);
        html_lit(h, "</option>\n");
    }
    html_lit(h, "</select>\n");
}

static void checkbox(struct html *h, const char *name, size_t idx, const char *value, int checked) {
    html_printf(h, "<span class=\"choice\"><input type=\"checkbox\" id=\"f-%s-%zu\" name=\"%s\" value=\"",
                name, idx, name);
    html_cattr(h, value);
    html_printf(h, "\"%s><label for=\"f-%s-%zu\">", checked ? " checked" : "", name, idx);
    html_ctext(h, value);
    html_lit(h, "</label></span>\n");
}

static void one_control(struct html *h, const struct web_field *f, unsigned kind,
                        const struct web_formvals *vals, const struct web_form_errors *errs) {
    const char *err = web_form_error_for(errs, f->name);
    const char *value = web_formvals_get(vals, f->name);
    const char *hint = f->hint ? f->name : NULL;
    int req_ = (f->required & kind) != 0;
    html_printf(h, "<div class=\"field\" data-field=\"%s\">\n", f->name);
    if (f->type == WF_MULTISELECT) {
        const json_t *voc = web_vocab(f->vocab);
        html_printf(h, "<fieldset id=\"f-%s\"", f->name);
        attr_describedby(h, f, err, hint);
        html_printf(h, "><legend>%s</legend>\n", f->label);
        size_t idx = 0, i;
        const json_t *v;
        /* values sent that the vocabulary lacks first, checked, so the form keeps them */
        const char *sent[64];
        size_t nsent = web_formvals_all(vals, f->name, sent, HUB_ARRAY_LEN(sent));
        if (nsent > HUB_ARRAY_LEN(sent))
            nsent = HUB_ARRAY_LEN(sent);
        for (size_t k = 0; k < nsent; k++)
            if (*sent[k] && !in_vocab(voc, sent[k]))
                checkbox(h, f->name, idx++, sent[k], 1);
        json_array_foreach(voc, i, v) {
            const char *s = json_string_value(v);
            if (!s)
                continue;
            int on = 0;
            for (size_t k = 0; k < nsent && !on; k++)
                on = strcmp(sent[k], s) == 0;
            checkbox(h, f->name, idx++, s, on);
        }
        html_lit(h, "</fieldset>\n");
    } else {
        html_printf(h, "<label for=\"f-%s\">%s%s</label>\n", f->name, f->label,
                    req_ ? " (required)" : "");
        switch (f->type) {
        case WF_MULTILINE:
            html_printf(h, "<textarea id=\"f-%s\" name=\"%s\" rows=\"6\"", f->name, f->name);
            attr_describedby(h, f, err, hint);
            html_lit(h, ">");
            html_ctext(h, value);
            html_lit(h, "</textarea>\n");
            break;
        case WF_SELECT:
            select_control(h, f->name, value, web_vocab(f->vocab), f, err, hint);
            break;
        case WF_BOOL:
            /* the label is above; the box itself */
            html_printf(h, "<input type=\"checkbox\" id=\"f-%s\" name=\"%s\" value=\"1\"%s", f->name,
                        f->name, value && *value ? " checked" : "");
            attr_describedby(h, f, err, hint);
            html_lit(h, ">\n");
            break;
        case WF_COST: {
            char cname[WEB_FORM_MAX_NAME + 16];
            snprintf(cname, sizeof cname, "%s_currency", f->name);
            html_printf(h, "<input type=\"text\" inputmode=\"decimal\" id=\"f-%s\" name=\"%s\" value=\"",
                        f->name, f->name);
            html_cattr(h, value);
            html_lit(h, "\"");
            attr_describedby(h, f, err, hint);
            html_printf(h, ">\n<label for=\"f-%s\">Currency</label>\n", cname);
            select_control(h, cname, web_formvals_get(vals, cname), web_vocab(f->vocab), f, NULL,
                           NULL);
            break;
        }
        default: {
            const char *type = f->type == WF_DATE ? "date" : f->type == WF_URL ? "url" : "text";
            html_printf(h, "<input type=\"%s\" id=\"f-%s\" name=\"%s\"%s%s value=\"", type, f->name,
                        f->name, f->type == WF_UINT ? " inputmode=\"numeric\"" : "",
                        req_ ? " required" : "");
            html_cattr(h, value);
            html_lit(h, "\"");
            attr_describedby(h, f, err, hint);
            html_lit(h, ">\n");
            break;
        }
        }
    }
    if (f->hint)
        html_printf(h, "<p class=\"hint\" id=\"hint-%s\">%s</p>\n", f->name, f->hint);
    if (err) {
        html_printf(h, "<p class=\"field-error\" id=\"error-%s\">", f->name);
        html_ctext(h, err);
        html_lit(h, "</p>\n");
    }
    html_lit(h, "</div>\n");
}

/* The form of a kind, filled with vals; action is its own URL; key NULL: a new record (a key
 * may be typed), else the record edited (its key fixed). */
static void record_form(struct html *h, const struct web_req *req, const char *kind,
                        const char *action, const char *key, const struct web_formvals *vals,
                        const struct web_form_errors *errs) {
    unsigned kb = web_form_kind(kind);
    html_lit(h, "<form id=\"publish\" method=\"post\" action=\"");
    html_cattr(h, action);
    html_printf(h, "\" data-kind=\"%s\">\n", kind);
    page_csrf(h, req);
    const char *kerr = web_form_error_for(errs, "key");
    if (!key && kb != WEB_KIND_PROFILE) {
        html_lit(h, "<div class=\"field\" data-field=\"key\">\n<label for=\"f-key\">Key (optional: "
                    "a new one is made)</label>\n<input type=\"text\" id=\"f-key\" name=\"key\" value=\"");
        html_cattr(h, web_formvals_get(vals, "key"));
        staff_cstr(h, kerr ? "\" aria-describedby=\"error-key\" aria-invalid=\"true\">\n" : "\">\n");
        if (kerr) {
            html_lit(h, "<p class=\"field-error\" id=\"error-key\">");
            html_ctext(h, kerr);
            html_lit(h, "</p>\n");
        }
        html_lit(h, "</div>\n");
    } else if (key) {
        html_lit(h, "<p>Key: <code>");
        html_ctext(h, key);
        html_lit(h, "</code></p>\n");
    }
    size_t n;
    const struct web_field *fs = web_fields(&n);
    for (size_t i = 0; i < n; i++)
        if (fs[i].kinds & kb)
            one_control(h, &fs[i], kb, vals, errs);
    html_lit(h, "<button type=\"submit\" id=\"submit\">Publish</button>\n</form>\n");
}

/* The request's form as web_formvals. E_TOO_LARGE when web_http.c had to stop at WEB_MAX_FORM
 * fields: the rest were dropped, and a record made of part of a form is not what was sent. */
int staff_formvals(const struct web_req *req, struct web_formvals *out) {
    memset(out, 0, sizeof *out);
    if (req->nform >= WEB_MAX_FORM)
        return HUB_E_TOO_LARGE;
    for (size_t i = 0; i < req->nform; i++) {
        int rc = web_formvals_add(out, req->form[i].name, req->form[i].value,
                                  strlen(req->form[i].value));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char *kind_title(const char *kind, int edit) {
    if (strcmp(kind, "profile") == 0)
        return "The hub's profile";
    if (strcmp(kind, "offer") == 0)
        return edit ? "Edit an offer" : "Publish an offer";
    return edit ? "Edit a request" : "Publish a request";
}

/* An edit publishes the form's record as the new version: members of the current version that
 * no control of the form expresses (titles and descriptions by language, learning outcomes,
 * sessions, fields a newer hubd knows) are copied into rec, so that saving a form never drops
 * them. A record not found (a profile not made yet) has nothing to keep. */
static int keep_unformed(const char *kind, const char *key, json_t *rec) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:s}", "op", "history", "key", key, "kind",
                                    kind, "author", staff_self_key()),
                          &ans);
    if (rc == HUB_E_NOT_FOUND) {
        json_decref(ans);
        return 0;
    }
    if (rc != 0) {
        json_decref(ans);
        return rc;
    }
    json_t *vers = json_object_get(ans, "versions");
    json_t *cur = json_object_get(json_array_get(vers, json_array_size(vers) - 1), "record");
    unsigned kb = web_form_kind(kind);
    size_t nf;
    const struct web_field *fs = web_fields(&nf);
    const char *name;
    json_t *v;
    json_object_foreach(cur, name, v) {
        int formed = 0;
        for (size_t i = 0; i < nf && !formed; i++)
            formed = (fs[i].kinds & kb) && strcmp(fs[i].name, name) == 0;
        if (!formed && !json_object_get(rec, name))
            json_object_set(rec, name, v);
    }
    json_decref(ans);
    return 0;
}

/* Publish the form's record (a new one when key is NULL) or draw the form again with the
 * errors next to their fields and everything as it was typed. */
static int publish_post(struct web_req *req, struct web_resp *resp, const char *kind,
                        const char *key, const char *action) {
    if (!staff_post_ok(req, resp))
        return 0;
    unsigned kb = web_form_kind(kind);
    struct web_formvals vals;
    struct web_form_errors errs;
    memset(&errs, 0, sizeof errs);
    int rc = staff_formvals(req, &vals);
    if (rc != 0) {
        web_formvals_free(&vals);
        if (rc != HUB_E_TOO_LARGE)
            return rc;
        page_error(req, resp, 413, "The form has too many fields.");
        return 0;
    }
    json_t *rec = NULL;
    const char *flash = "The record was not published: see the fields marked below.";
    char msg[WEB_FORM_MAX_MESSAGE + 64];
    const char *typed_key = web_formvals_get(&vals, "key");
    if (!key && typed_key && !staff_text_ok(typed_key))
        web_form_error(&errs, "key", "Key: not valid UTF-8 text");
    if (web_form_record(kb, &vals, &rec, &errs) == 0 && errs.n) {
        json_decref(rec); /* the key was refused: the record waits for it */
        rec = NULL;
    }
    if (rec && key && (rc = keep_unformed(kind, key, rec)) != 0) {
        json_decref(rec);
        web_formvals_free(&vals);
        return rc;
    }
    if (rec) {
        json_t *call = json_pack("{s:s, s:s, s:o}", "op", "publish", "kind", kind, "record", rec);
        const char *k = key ? key : web_formvals_get(&vals, "key");
        if (kb == WEB_KIND_PROFILE)
            k = "profile";
        if (k && *k)
            json_object_set_new(call, "key", json_string(k));
        json_t *ans = NULL;
        rc = web_ctl_call(call, &ans);
        if (rc == 0) {
            staff_flash(req, "Published %s %s.", kind,
                      json_string_value(json_object_get(ans, "key")) ?: "");
            json_decref(ans);
            web_formvals_free(&vals);
            web_redirect(resp, 303, "/staff");
            return 0;
        }
        if (rc == HUB_E_IO || !ans) {
            json_decref(ans);
            web_formvals_free(&vals);
            return HUB_E_IO;
        }
        char field[WEB_FORM_MAX_NAME];
        const char *hf = web_ctl_errfield(ans);
        if (web_form_error_field(kb, hf, field, sizeof field))
            web_form_error(&errs, field, "%s", web_ctl_errmsg(ans));
        else if (hf && strcmp(hf, "key") == 0 && !key)
            web_form_error(&errs, "key", "%s", web_ctl_errmsg(ans));
        else {
            snprintf(msg, sizeof msg, "The record was not published: %s (%s)",
                     web_ctl_errmsg(ans), hub_strerror(rc));
            flash = msg;
        }
        json_decref(ans);
    }
    resp->status = 400;
    req->flash = flash;
    struct html *h = &resp->body;
    page_begin(h, req, kind_title(kind, key != NULL), 1);
    record_form(h, req, kind, action, key, &vals, &errs);
    page_end(h, req);
    web_formvals_free(&vals);
    return 0;
}

static int h_publish_get(struct web_req *req, struct web_resp *resp) {
    const char *kind = web_arg(req, "kind");
    if (!kind)
        kind = "offer";
    unsigned kb = web_form_kind(kind);
    if (!kb) {
        page_error(req, resp, 404, "There is no form for that kind: offer, request or profile.");
        return 0;
    }
    if (kb == WEB_KIND_PROFILE) {
        web_redirect(resp, 303, "/staff/edit/profile/profile");
        return 0;
    }
    struct web_formvals vals = {0};
    struct web_form_errors errs = {0};
    char action[64];
    snprintf(action, sizeof action, "/staff/publish?kind=%s", kind);
    struct html *h = &resp->body;
    page_begin(h, req, kind_title(kind, 0), 1);
    record_form(h, req, kind, action, NULL, &vals, &errs);
    page_end(h, req);
    return 0;
}

static int h_publish_post(struct web_req *req, struct web_resp *resp) {
    const char *kind = web_arg(req, "kind");
    if (!kind)
        kind = web_form(req, "kind");
    unsigned kb = web_form_kind(kind);
    if (!kb) {
        page_error(req, resp, 404, "There is no form for that kind: offer, request or profile.");
        return 0;
    }
    char action[64];
    snprintf(action, sizeof action, "/staff/publish?kind=%s", kind);
    return publish_post(req, resp, kind, kb == WEB_KIND_PROFILE ? "profile" : NULL, action);
}

/* /staff/edit/KIND/KEY: KIND and KEY from req->rest (the key may hold '/'). */
static int edit_target(const struct web_req *req, char *kind, size_t kcap, const char **key) {
    const char *slash = strchr(req->rest, '/');
    if (!slash || (size_t)(slash - req->rest) >= kcap || !slash[1])
        return -1;
    memcpy(kind, req->rest, (size_t)(slash - req->rest));
    kind[slash - req->rest] = '\0';
    *key = slash + 1;
    return web_form_kind(kind) && staff_text_ok(*key) ? 0 : -1;
}

static int h_edit_get(struct web_req *req, struct web_resp *resp) {
    char kind[16], action[600];
    const char *key;
    if (edit_target(req, kind, sizeof kind, &key) != 0 || strlen(key) > HUB_MAX_RECORD_KEY) {
        page_error(req, resp, 404, "There is no such record to edit.");
        return 0;
    }
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:s}", "op", "history", "key", key, "kind",
                                    kind, "author", staff_self_key()),
                          &ans);
    const json_t *rec = NULL;
    if (rc == 0) {
        json_t *vers = json_object_get(ans, "versions");
        rec = json_object_get(json_array_get(vers, json_array_size(vers) - 1), "record");
    } else if (rc != HUB_E_NOT_FOUND) {
        return staff_ctl_failed(req, resp, rc, ans);
    }
    if (!rec && strcmp(kind, "profile") != 0) {
        json_decref(ans);
        page_error(req, resp, 404, "This hub has no such record (or it was retracted).");
        return 0;
    }
    struct web_formvals vals = {0};
    struct web_form_errors errs = {0};
    if (rec && web_record_form(web_form_kind(kind), rec, &vals) != 0) {
        json_decref(ans);
        web_formvals_free(&vals);
        return HUB_E_NOMEM;
    }
    json_decref(ans);
    struct html *h = &resp->body;
    snprintf(action, sizeof action, "/staff/edit/%s/", kind);
    struct html a;
    html_init(&a);
    html_raw(&a, action, strlen(action));
    html_curlenc(&a, key);
    html_raw(&a, "", 1);
    page_begin(h, req, kind_title(kind, 1), 1);
    record_form(h, req, kind, a.p ? a.p : "/staff", key, &vals, &errs);
    page_end(h, req);
    html_free(&a);
    web_formvals_free(&vals);
    return 0;
}

static int h_edit_post(struct web_req *req, struct web_resp *resp) {
    char kind[16], action[600];
    const char *key;
    if (edit_target(req, kind, sizeof kind, &key) != 0 || strlen(key) > HUB_MAX_RECORD_KEY) {
        page_error(req, resp, 404, "There is no such record to edit.");
        return 0;
    }
    snprintf(action, sizeof action, "/staff/edit/%s/", kind);
    struct html a;
    html_init(&a);
    html_raw(&a, action, strlen(action));
    html_curlenc(&a, key);
    html_raw(&a, "", 1);
    int rc = publish_post(req, resp, kind, key, a.p ? a.p : "/staff");
    html_free(&a);
    return rc;
}

static int h_retract(struct web_req *req, struct web_resp *resp) {
    if (!staff_post_ok(req, resp))
        return 0;
    const char *kind = web_form(req, "kind"), *key = web_form(req, "key");
    const char *reason = web_form(req, "reason");
    if (!kind || !key || !*key || !staff_text_ok(kind) || !staff_text_ok(key) ||
        (reason && !staff_text_ok(reason))) {
        page_error(req, resp, 400, "Say which record to retract (kind and key, as text).");
        return 0;
    }
    json_t *call = json_pack("{s:s, s:s, s:s}", "op", "retract", "kind", kind, "key", key);
    if (reason && *reason)
        json_object_set_new(call, "reason", json_string(reason));
    json_t *ans = NULL;
    int rc = web_ctl_call(call, &ans);
    if (rc != 0)
        return staff_ctl_failed(req, resp, rc, ans);
    json_decref(ans);
    staff_flash(req, "Retracted %s %.*s.", kind, 128, key);
    web_redirect(resp, 303, "/staff");
    return 0;
}

/* ---- registration -------------------------------------------------------------------------- */

void web_staff_init(const struct web_conf *conf) {
    if (web_sessions_new(WEB_SESSION_MAX, conf->session_ttl_s, conf->signin_attempts, &sessions) !=
        0)
        fatalx("web", "out of memory for the session table");
    static const struct {
        const char *method, *path;
        enum web_access access;
        web_handler h;
    } routes[] = {
        {"GET", "/signin", WEB_OPEN, h_signin_get},
        {"POST", "/signin", WEB_OPEN, h_signin_post},
        {"POST", "/signout", WEB_OPEN, h_signout},
        {"GET", "/staff", WEB_STAFF, h_dashboard},
        {"GET", "/staff/publish", WEB_STAFF, h_publish_get},
        {"POST", "/staff/publish", WEB_STAFF, h_publish_post},
        {"GET", "/staff/edit/", WEB_STAFF, h_edit_get},
        {"POST", "/staff/edit/", WEB_STAFF, h_edit_post},
        {"POST", "/staff/retract", WEB_STAFF, h_retract},
        {"GET", "/staff/inbox", WEB_STAFF, staff_inbox},
        {"POST", "/staff/accept", WEB_STAFF, staff_accept},
        {"POST", "/staff/decline", WEB_STAFF, staff_decline},
        {"GET", "/staff/reply", WEB_STAFF, staff_reply},
        {"POST", "/staff/reply", WEB_STAFF, staff_reply},
        {"GET", "/staff/match", WEB_STAFF, staff_match},
        {"GET", "/staff/replies", WEB_STAFF, staff_replies},
    };
    for (size_t i = 0; i < HUB_ARRAY_LEN(routes); i++)
        if (web_route(routes[i].method, routes[i].path, routes[i].access, routes[i].h) != 0)
            fatalx("web", "route table full at %s %s", routes[i].method, routes[i].path);
    web_session_hook = staff_hook;
}
