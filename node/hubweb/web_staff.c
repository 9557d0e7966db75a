/* web_staff.c: the staff pages (issue 13 item 3): sign-in with the web token that hubd keeps
 * (`web_token`, hubctl web-token), sign-out, the dashboard, publish / edit / retract of offers,
 * requests and the profile through forms built from the vocabularies, the inbox with accept
 * and decline, replies to other hubs' records, match results for the hub's requests, and the
 * replies the hub sent. Sessions, CSRF, the sign-in limit and the forms' mapping are in
 * web_session.c and web_form.c; this file is the HTTP side. Every string from hubd that came
 * from a record is foreign: it goes out through the html_* escapers only. */
#include "web.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "web_form.h"
#include "web_session.h"

#define STAFF_LIST_LIMIT 100  /* records, replies and requests one staff page lists */
#define STAFF_MATCH_LIMIT 10  /* offers shown per request on /staff/match */
#define STAFF_PRE_TTL_S 3600  /* the sign-in form's pre-session cookie */
#define STAFF_COUNT_LIMIT 1000 /* the dashboard counts up to this many ("1000+") */
#define STAFF_LOG_MS 10000     /* refused sign-ins are summarised in the log at most this often */

static struct web_sessions *sessions;
static char flash_once[WEB_FLASH_MAX]; /* the session's flash, for the page being drawn */
static char own_key[HUB_HEX_LEN + 1];  /* this hub's key, asked once */
static struct {
    uint64_t logged_ms;          /* when the last summary line was written (0: never) */
    unsigned wrong, limited;     /* refusals since */
    char last[WEB_CLIENT_MAX];   /* the client of the last one */
} refused;

/* ---- helpers ----------------------------------------------------------------------------- */

/* Our own markup chosen at run time (html_lit takes only a literal: sizeof). */
static void html_cstr(struct html *h, const char *s) {
    html_raw(h, s, strlen(s));
}

static struct web_session *session_of(const struct web_req *req) {
    return req->signed_in ? req->session : NULL;
}

static void set_flash(const struct web_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_flash(const struct web_req *req, const char *fmt, ...) {
    struct web_session *se = session_of(req);
    if (!se)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(se->flash, sizeof se->flash, fmt, ap);
    va_end(ap);
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
static const char *self_key(void) {
    if (own_key[0])
        return own_key;
    json_t *ans = NULL;
    if (web_ctl_op("id", &ans) == 0) {
        const char *k = json_string_value(json_object_get(ans, "hub"));
        if (k && strlen(k) == HUB_HEX_LEN)
            memcpy(own_key, k, HUB_HEX_LEN + 1);
    }
    json_decref(ans);
    return own_key;
}

/* A POST's session and CSRF token; a 403 page when either is missing or wrong. */
static int post_ok(struct web_req *req, struct web_resp *resp) {
    struct web_session *se = session_of(req);
    if (se && web_csrf_ok(se->csrf, web_form(req, "csrf")))
        return 1;
    page_error(req, resp, 403,
               "This form's security token is missing or out of date. Go back, reload the page "
               "and send the form again.");
    return 0;
}

/* The error page for a control call that failed: 502 when hubd does not answer. */
static int ctl_failed(struct web_req *req, struct web_resp *resp, int rc, json_t *ans) {
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
static void hub_name(struct html *h, const json_t *obj, const char *name_member,
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
static void record_href(struct html *h, const char *author, const char *kind, const char *key) {
    html_lit(h, "/record/");
    html_curlenc(h, author ? author : "");
    html_lit(h, "/");
    html_curlenc(h, kind ? kind : "");
    html_lit(h, "/");
    html_curlenc(h, key ? key : "");
}

static const char *title_of(const json_t *view) {
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
    req->session = NULL;
    const char *cookie = web_cookie(req, WEB_SESSION_COOKIE);
    if (!cookie)
        return;
    struct web_session *se = web_session_find(sessions, cookie, hub_mono_ms());
    if (!se)
        return;
    uint64_t gen;
    char token[WEB_SESSION_TEXT_LEN + 1];
    if (current_token(&gen, token) != 0)
        return; /* hubd unreachable: nobody is signed in for this request, the session stays */
    int ok = web_session_current(sessions, se, gen, token);
    sodium_memzero(token, sizeof token);
    if (!ok) {
        log_info("web", "a staff session ended: the web token changed (generation %llu)",
                 (unsigned long long)gen);
        set_cookie(req, resp, WEB_SESSION_COOKIE, NULL, 0);
        return;
    }
    req->signed_in = 1;
    snprintf(req->csrf, sizeof req->csrf, "%s", se->csrf);
    req->session = se;
    if (se->flash[0]) {
        memcpy(flash_once, se->flash, sizeof flash_once);
        se->flash[0] = '\0';
        req->flash = flash_once;
    }
}

/* A refused sign-in: counted, and summarised in one log line at most every STAFF_LOG_MS (the
 * first at once), so that guessing fills no disk. */
static void note_refused(const char *client, int limited) {
    uint64_t now = hub_mono_ms();
    if (limited)
        refused.limited++;
    else
        refused.wrong++;
    snprintf(refused.last, sizeof refused.last, "%s", client);
    if (refused.logged_ms && now - refused.logged_ms < STAFF_LOG_MS)
        return;
    log_warnx("web", "staff sign-in refused: %u not the web token, %u over the limit%s (the last "
              "from %s)", refused.wrong, refused.limited,
              refused.logged_ms ? " since the last such line" : "", refused.last);
    refused.logged_ms = now;
    refused.wrong = refused.limited = 0;
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
    if (!web_signin_allow(sessions, client, now)) {
        unsigned wait = web_signin_wait_s(sessions, client, now);
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
    rc = web_session_create(sessions, now, gen, token, &se);
    sodium_memzero(token, sizeof token);
    if (rc != 0)
        return rc;
    log_info("web", "staff signed in from %s (%zu sessions)", client, web_session_count(sessions));
    set_cookie(req, resp, WEB_SESSION_COOKIE, se->id, web_config()->session_ttl_s);
    set_cookie(req, resp, WEB_PRE_COOKIE, NULL, 0);
    snprintf(se->flash, sizeof se->flash, "Signed in.");
    web_redirect(resp, 303, "/staff");
    return 0;
}

static int h_signout(struct web_req *req, struct web_resp *resp) {
    struct web_session *se = session_of(req);
    if (se) {
        if (!post_ok(req, resp))
            return 0;
        web_session_end(sessions, se);
        req->session = NULL;
        req->signed_in = 0;
        log_info("web", "staff signed out (%zu sessions)", web_session_count(sessions));
    }
    set_cookie(req, resp, WEB_SESSION_COOKIE, NULL, 0);
    web_redirect(resp, 303, "/");
    return 0;
}

/* ---- dashboard ----------------------------------------------------------------------------- */

/* One list call's count (up to STAFF_COUNT_LIMIT), -1 when it failed. */
static long count_of(json_t *req) {
    json_t *ans = NULL;
    json_object_set_new(req, "limit", json_integer(STAFF_COUNT_LIMIT));
    long n = web_ctl_call(req, &ans) == 0 ? (long)json_integer_value(json_object_get(ans, "count"))
                                          : -1;
    json_decref(ans);
    return n;
}

static void count_text(struct html *h, long n) {
    if (n < 0)
        html_lit(h, "?");
    else
        html_printf(h, "%ld%s", n, n >= STAFF_COUNT_LIMIT ? "+" : "");
}

/* The hub's own records of a kind, each with edit and retract. */
static int own_records(struct html *h, const struct web_req *req, const char *kind) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", kind, "author",
                                    self_key(), "limit", STAFF_LIST_LIMIT),
                          &ans);
    if (rc != 0) {
        json_decref(ans);
        return rc;
    }
    json_t *recs = json_object_get(ans, "records");
    html_printf(h, "<ul class=\"own-records\" data-kind=\"%s\">\n", kind);
    size_t i;
    json_t *v;
    json_array_foreach(recs, i, v) {
        const char *key = json_string_value(json_object_get(v, "key"));
        const char *t = title_of(v);
        html_lit(h, "<li class=\"own-record\" data-key=\"");
        html_cattr(h, key);
        html_lit(h, "\"><a href=\"");
        record_href(h, self_key(), kind, key);
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
    json_decref(ans);
    return 0;
}

static int h_dashboard(struct web_req *req, struct web_resp *resp) {
    struct html *h = &resp->body;
    if (!self_key()[0])
        return HUB_E_IO;
    long fresh = count_of(json_pack("{s:s, s:b, s:b}", "op", "inbox", "new", 1, "peek", 1));
    long sent = count_of(json_pack("{s:s}", "op", "replies"));
    page_begin(h, req, "Staff", 1);
    html_lit(h, "<ul id=\"staff-links\">\n<li><a href=\"/staff/inbox\">Inbox</a>: "
                "<span id=\"count-new\">");
    count_text(h, fresh);
    html_lit(h, "</span> new replies</li>\n<li><a href=\"/staff/replies\">Replies sent</a>: ");
    count_text(h, sent);
    html_lit(h, "</li>\n<li><a href=\"/staff/match\">Offers that fit our requests</a></li>\n"
                "<li><a href=\"/staff/publish?kind=offer\">Publish an offer</a></li>\n"
                "<li><a href=\"/staff/publish?kind=request\">Publish a request</a></li>\n"
                "<li><a href=\"/staff/edit/profile/profile\">The hub's profile</a></li>\n</ul>\n");
    static const char *const kinds[][2] = {{"offer", "Our offers"}, {"request", "Our requests"}};
    for (size_t i = 0; i < HUB_ARRAY_LEN(kinds); i++) {
        html_printf(h, "<h2>%s</h2>\n", kinds[i][1]);
        int rc = own_records(h, req, kinds[i][0]);
        if (rc != 0)
            return rc;
    }
    page_end(h, req);
    return 0;
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
        html_cstr(h, value && strcmp(value, s) == 0 ? "\" selected>" : "\">");
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
        html_cstr(h, kerr ? "\" aria-describedby=\"error-key\" aria-invalid=\"true\">\n" : "\">\n");
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

static int formvals_of_req(const struct web_req *req, struct web_formvals *out) {
    memset(out, 0, sizeof *out);
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

/* Publish the form's record (a new one when key is NULL) or draw the form again with the
 * errors next to their fields and everything as it was typed. */
static int publish_post(struct web_req *req, struct web_resp *resp, const char *kind,
                        const char *key, const char *action) {
    if (!post_ok(req, resp))
        return 0;
    unsigned kb = web_form_kind(kind);
    struct web_formvals vals;
    struct web_form_errors errs;
    memset(&errs, 0, sizeof errs);
    int rc = formvals_of_req(req, &vals);
    if (rc != 0) {
        web_formvals_free(&vals);
        return rc;
    }
    json_t *rec = NULL;
    const char *flash = "The record was not published: see the fields marked below.";
    char msg[WEB_FORM_MAX_MESSAGE + 64];
    if (web_form_record(kb, &vals, &rec, &errs) == 0) {
        json_t *call = json_pack("{s:s, s:s, s:o}", "op", "publish", "kind", kind, "record", rec);
        const char *k = key ? key : web_formvals_get(&vals, "key");
        if (kb == WEB_KIND_PROFILE)
            k = "profile";
        if (k && *k)
            json_object_set_new(call, "key", json_string(k));
        json_t *ans = NULL;
        rc = web_ctl_call(call, &ans);
        if (rc == 0) {
            set_flash(req, "Published %s %s.", kind,
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
    return web_form_kind(kind) ? 0 : -1;
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
                                    kind, "author", self_key()),
                          &ans);
    const json_t *rec = NULL;
    if (rc == 0) {
        json_t *vers = json_object_get(ans, "versions");
        rec = json_object_get(json_array_get(vers, json_array_size(vers) - 1), "record");
    } else if (rc != HUB_E_NOT_FOUND) {
        return ctl_failed(req, resp, rc, ans);
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
    if (!post_ok(req, resp))
        return 0;
    const char *kind = web_form(req, "kind"), *key = web_form(req, "key");
    if (!kind || !key || !*key) {
        page_error(req, resp, 400, "Say which record to retract (kind and key).");
        return 0;
    }
    json_t *call = json_pack("{s:s, s:s, s:s}", "op", "retract", "kind", kind, "key", key);
    const char *reason = web_form(req, "reason");
    if (reason && *reason)
        json_object_set_new(call, "reason", json_string(reason));
    json_t *ans = NULL;
    int rc = web_ctl_call(call, &ans);
    if (rc != 0)
        return ctl_failed(req, resp, rc, ans);
    json_decref(ans);
    set_flash(req, "Retracted %s %.*s.", kind, 128, key);
    web_redirect(resp, 303, "/staff");
    return 0;
}

/* ---- inbox, accept, decline ---------------------------------------------------------------- */

static void reply_line(struct html *h, const json_t *v, int inbox) {
    const json_t *rec = json_object_get(v, "record");
    const char *type = json_string_value(json_object_get(rec, "type"));
    html_lit(h, "<span class=\"reply-type\">");
    html_ctext(h, type ? type : "reply");
    html_lit(h, "</span> ");
    if (inbox) {
        html_lit(h, "from <span class=\"reply-hub\">");
        hub_name(h, v, "author_name", "author");
        html_lit(h, "</span> ");
    } else {
        html_lit(h, "to <span class=\"reply-hub\">");
        hub_name(h, v, "target_name", "target_author");
        html_lit(h, "</span> ");
    }
    const char *tr = json_string_value(json_object_get(v, "target_record"));
    const char *tt = json_string_value(json_object_get(v, "target_title"));
    html_lit(h, "on ");
    if (tr) {
        html_lit(h, "<a href=\"/record/");
        /* AUTHOR/KIND/KEY: each segment encoded, the slashes kept */
        const char *p = tr;
        for (int seg = 0; seg < 3 && p; seg++) {
            const char *sl = seg < 2 ? strchr(p, '/') : NULL;
            size_t n = sl ? (size_t)(sl - p) : strlen(p);
            html_urlenc(h, p, n);
            if (sl)
                html_lit(h, "/");
            p = sl ? sl + 1 : NULL;
        }
        html_lit(h, "\">");
        html_ctext(h, tt && *tt ? tt : tr);
        html_lit(h, "</a>");
    } else {
        html_ctext(h, tt ? tt : "a record");
    }
    json_int_t seats = json_integer_value(json_object_get(rec, "seats"));
    if (type && strcmp(type, "enrolment") == 0)
        html_printf(h, ", <span class=\"seats\">%lld seat%s</span>", (long long)(seats ? seats : 1),
                    seats > 1 ? "s" : "");
    const char *state = json_string_value(json_object_get(v, "state"));
    html_lit(h, " — <span class=\"state\">");
    html_ctext(h, state ? state : "");
    html_lit(h, "</span>");
    const char *why = json_string_value(json_object_get(v, "answer_reason"));
    if (why && *why) {
        html_lit(h, " (<span class=\"reason\">");
        html_ctext(h, why);
        html_lit(h, "</span>)");
    }
    const json_t *sealed = json_object_get(v, "sealed");
    const char *msg = json_string_value(json_object_get(rec, "message"));
    if (json_is_object(sealed)) {
        const char *c = json_string_value(json_object_get(sealed, "contact"));
        const char *m = json_string_value(json_object_get(sealed, "message"));
        if (c) {
            html_lit(h, "<br>Contact: <span class=\"contact\">");
            html_ctext(h, c);
            html_lit(h, "</span>");
        }
        if (m)
            msg = m;
    }
    if (msg && *msg) {
        html_lit(h, "<blockquote class=\"message\">");
        html_ctext(h, msg);
        html_lit(h, "</blockquote>");
    }
}

static int h_inbox(struct web_req *req, struct web_resp *resp) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:i}", "op", "inbox", "limit", STAFF_LIST_LIMIT), &ans);
    if (rc != 0)
        return ctl_failed(req, resp, rc, ans);
    struct html *h = &resp->body;
    page_begin(h, req, "Inbox", 1);
    json_t *replies = json_object_get(ans, "replies");
    html_lit(h, "<ul id=\"inbox\">\n");
    size_t i;
    json_t *v;
    json_array_foreach(replies, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *state = json_string_value(json_object_get(v, "state"));
        const json_t *rec = json_object_get(v, "record");
        const char *type = json_string_value(json_object_get(rec, "type"));
        const char *tk = json_string_value(json_object_get(rec, "target_kind"));
        html_lit(h, "<li class=\"reply\" data-id=\"");
        html_cattr(h, id);
        html_lit(h, "\" data-state=\"");
        html_cattr(h, state);
        html_lit(h, "\">");
        reply_line(h, v, 1);
        /* an enrolment in one of our offers takes an answer (again: a later one replaces it) */
        int answerable = type && strcmp(type, "enrolment") == 0 && tk && strcmp(tk, "offer") == 0 &&
                         !json_is_true(json_object_get(v, "closed")) &&
                         !(state && strcmp(state, "closed") == 0);
        if (answerable && id) {
            html_lit(h, "\n<form class=\"accept\" method=\"post\" action=\"/staff/accept\">");
            page_csrf(h, req);
            html_lit(h, "<input type=\"hidden\" name=\"id\" value=\"");
            html_cattr(h, id);
            html_lit(h, "\"><button type=\"submit\">Accept</button></form>\n"
                        "<form class=\"decline\" method=\"post\" action=\"/staff/decline\">");
            page_csrf(h, req);
            html_lit(h, "<input type=\"hidden\" name=\"id\" value=\"");
            html_cattr(h, id);
            html_lit(h, "\"><label for=\"reason-");
            html_cattr(h, id);
            html_lit(h, "\">Reason</label> <input type=\"text\" name=\"reason\" id=\"reason-");
            html_cattr(h, id);
            html_lit(h, "\"><button type=\"submit\">Decline</button></form>\n");
        }
        html_lit(h, "</li>\n");
    }
    if (!json_array_size(replies))
        html_lit(h, "<li class=\"empty\">No replies yet.</li>\n");
    html_lit(h, "</ul>\n");
    page_end(h, req);
    json_decref(ans);
    return 0;
}

static int answer_post(struct web_req *req, struct web_resp *resp, const char *op) {
    if (!post_ok(req, resp))
        return 0;
    const char *id = web_form(req, "id");
    if (!id || !*id) {
        page_error(req, resp, 400, "Say which reply to answer (id).");
        return 0;
    }
    json_t *call = json_pack("{s:s, s:s}", "op", op, "reply", id);
    const char *reason = web_form(req, "reason"), *message = web_form(req, "message");
    if (reason && *reason && strcmp(op, "decline") == 0)
        json_object_set_new(call, "reason", json_string(reason));
    if (message && *message)
        json_object_set_new(call, "message", json_string(message));
    json_t *ans = NULL;
    int rc = web_ctl_call(call, &ans);
    if (rc != 0)
        return ctl_failed(req, resp, rc, ans);
    const char *type = json_string_value(json_object_get(ans, "type"));
    const char *why = json_string_value(json_object_get(ans, "reason"));
    json_t *left = json_object_get(ans, "seats_left");
    char seats[48] = "";
    if (json_is_integer(left))
        snprintf(seats, sizeof seats, "; seats left: %lld", (long long)json_integer_value(left));
    if (strcmp(op, "accept") == 0 && type && strcmp(type, "decline") == 0)
        set_flash(req, "The offer is full: the enrolment was declined (%s)%s.", why ? why : "full",
                  seats);
    else
        set_flash(req, "%s%s.", type && strcmp(type, "accept") == 0 ? "Accepted" : "Declined",
                  seats);
    json_decref(ans);
    web_redirect(resp, 303, "/staff/inbox");
    return 0;
}

static int h_accept(struct web_req *req, struct web_resp *resp) {
    return answer_post(req, resp, "accept");
}

static int h_decline(struct web_req *req, struct web_resp *resp) {
    return answer_post(req, resp, "decline");
}

/* ---- replying to another hub's record ------------------------------------------------------ */

/* ?to=AUTHOR/KIND/KEY: the record's current version (a new reference) or NULL. */
static int reply_target(const char *to, char *kind, size_t kcap, json_t **view) {
    *view = NULL;
    if (!to || strlen(to) < HUB_HEX_LEN + 3 || to[HUB_HEX_LEN] != '/')
        return HUB_E_RANGE;
    char author[HUB_HEX_LEN + 1];
    memcpy(author, to, HUB_HEX_LEN);
    author[HUB_HEX_LEN] = '\0';
    const char *k = to + HUB_HEX_LEN + 1, *sl = strchr(k, '/');
    if (!sl || (size_t)(sl - k) >= kcap || !sl[1])
        return HUB_E_RANGE;
    memcpy(kind, k, (size_t)(sl - k));
    kind[sl - k] = '\0';
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:s}", "op", "history", "author", author,
                                    "kind", kind, "key", sl + 1),
                          &ans);
    if (rc == 0) {
        json_t *vers = json_object_get(ans, "versions");
        *view = json_incref(json_array_get(vers, json_array_size(vers) - 1));
    }
    json_decref(ans);
    return rc == 0 && !*view ? HUB_E_NOT_FOUND : rc;
}

static void reply_form(struct html *h, const struct web_req *req, const char *to, const char *kind,
                       const json_t *view, const struct web_formvals *vals, const char *err,
                       const char *err_field) {
    html_lit(h, "<p>Replying to <a href=\"/record/");
    html_curlenc(h, json_string_value(json_object_get(view, "author")));
    html_lit(h, "/");
    html_curlenc(h, kind);
    html_lit(h, "/");
    html_curlenc(h, json_string_value(json_object_get(view, "key")));
    html_lit(h, "\" id=\"reply-target\">");
    const char *t = title_of(view);
    html_ctext(h, t ? t : json_string_value(json_object_get(view, "key")));
    html_lit(h, "</a> of <span class=\"result-hub\">");
    hub_name(h, view, "author_name", "author");
    html_lit(h, "</span>.</p>\n<form id=\"reply\" method=\"post\" action=\"/staff/reply?to=");
    html_curlenc(h, to);
    html_lit(h, "\">\n");
    page_csrf(h, req);
    static const char *const offer_types[] = {"enrolment", "interest", "question"};
    static const char *const request_types[] = {"proposal", "can-help", "interest", "question"};
    int offer = strcmp(kind, "offer") == 0;
    const char *const *types = offer ? offer_types : request_types;
    size_t ntypes = offer ? HUB_ARRAY_LEN(offer_types) : HUB_ARRAY_LEN(request_types);
    const char *type = web_formvals_get(vals, "type");
    html_lit(h, "<div class=\"field\" data-field=\"type\">\n<label for=\"f-type\">Reply</label>\n"
                "<select id=\"f-type\" name=\"type\">\n");
    for (size_t i = 0; i < ntypes; i++)
        html_printf(h, "<option value=\"%s\"%s>%s</option>\n", types[i],
                    type && strcmp(type, types[i]) == 0 ? " selected" : "", types[i]);
    html_lit(h, "</select>\n</div>\n");
    static const char *const fields[][3] = {
        {"seats", "Seats (enrolment)", "text"},
        {"contact", "Contact (sealed: only the other hub reads it)", "text"},
        {"message", "Message", "textarea"},
    };
    for (size_t i = 0; i < HUB_ARRAY_LEN(fields); i++) {
        const char *name = fields[i][0];
        if (i == 0 && !offer)
            continue;
        int bad = err && err_field && strcmp(err_field, name) == 0;
        html_printf(h, "<div class=\"field\" data-field=\"%s\">\n<label for=\"f-%s\">%s</label>\n",
                    name, name, fields[i][1]);
        const char *val = web_formvals_get(vals, name);
        if (strcmp(fields[i][2], "textarea") == 0) {
            html_printf(h, "<textarea id=\"f-%s\" name=\"%s\" rows=\"5\"%s>", name, name,
                        bad ? " aria-invalid=\"true\"" : "");
            html_ctext(h, val);
            html_lit(h, "</textarea>\n");
        } else {
            html_printf(h, "<input type=\"text\" id=\"f-%s\" name=\"%s\"%s%s value=\"", name, name,
                        i == 0 ? " inputmode=\"numeric\"" : "", bad ? " aria-invalid=\"true\"" : "");
            html_cattr(h, val);
            html_lit(h, "\">\n");
        }
        if (bad) {
            html_printf(h, "<p class=\"field-error\" id=\"error-%s\">", name);
            html_ctext(h, err);
            html_lit(h, "</p>\n");
        }
        html_lit(h, "</div>\n");
    }
    html_lit(h, "<button type=\"submit\" id=\"submit\">Send the reply</button>\n</form>\n");
}

static int h_reply(struct web_req *req, struct web_resp *resp) {
    int post = strcmp(req->method, "POST") == 0;
    if (post && !post_ok(req, resp))
        return 0;
    const char *to = web_arg(req, "to");
    char kind[16];
    json_t *view = NULL;
    int rc = reply_target(to, kind, sizeof kind, &view);
    if (rc == HUB_E_IO)
        return rc;
    if (rc != 0 || (strcmp(kind, "offer") != 0 && strcmp(kind, "request") != 0)) {
        json_decref(view);
        page_error(req, resp, 404, "This hub holds no such offer or request to reply to.");
        return 0;
    }
    struct web_formvals vals = {0};
    const char *err = NULL, *err_field = NULL;
    char errbuf[WEB_FORM_MAX_MESSAGE], fieldbuf[WEB_FORM_MAX_NAME];
    if (post) {
        if ((rc = formvals_of_req(req, &vals)) != 0)
            goto done;
        json_t *rec = json_object();
        const char *type = web_formvals_get(&vals, "type");
        json_object_set_new(rec, "type", json_string(type && *type ? type : "interest"));
        const char *seats = web_formvals_get(&vals, "seats");
        uint64_t n = 0;
        if (seats && *seats && strcmp(kind, "offer") == 0) {
            if (hub_parse_u64(seats, 4294967295ULL, &n) != 0) {
                err = "Seats: a whole number";
                err_field = "seats";
            } else {
                json_object_set_new(rec, "seats", json_integer((json_int_t)n));
            }
        }
        static const char *const texts[] = {"contact", "message"};
        for (size_t i = 0; i < HUB_ARRAY_LEN(texts) && !err; i++) {
            const char *s = web_formvals_get(&vals, texts[i]);
            if (!s || !*s)
                continue;
            /* a textarea's CR LF: a record's lines end in LF */
            char *t = strdup(s), *o = t;
            if (!t) {
                rc = HUB_E_NOMEM;
                break;
            }
            for (const char *p = s; *p; p++)
                if (*p != '\r')
                    *o++ = *p;
                else if (p[1] != '\n')
                    *o++ = '\n';
            *o = '\0';
            json_t *js = json_string(t);
            free(t);
            if (!js) {
                err = "not valid UTF-8 text";
                err_field = texts[i];
            } else {
                json_object_set_new(rec, texts[i], js);
            }
        }
        if (rc != 0 || err) {
            json_decref(rec);
            if (rc != 0)
                goto done;
        } else {
            json_t *ans = NULL;
            rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:o}", "op", "publish", "kind", "response",
                                        "target", to, "record", rec),
                              &ans);
            if (rc == 0) {
                json_t *left = json_object_get(ans, "seats_left");
                if (json_is_integer(left))
                    set_flash(req, "Reply sent; %lld seat%s left as this hub counts them.",
                              (long long)json_integer_value(left),
                              json_integer_value(left) == 1 ? "" : "s");
                else
                    set_flash(req, "Reply sent.");
                json_decref(ans);
                web_redirect(resp, 303, "/staff/replies");
                goto done;
            }
            if (rc == HUB_E_IO || !ans) {
                json_decref(ans);
                rc = HUB_E_IO;
                goto done;
            }
            snprintf(errbuf, sizeof errbuf, "%s", web_ctl_errmsg(ans));
            const char *hf = web_ctl_errfield(ans);
            snprintf(fieldbuf, sizeof fieldbuf, "%.*s", (int)strcspn(hf ? hf : "", ".["),
                     hf ? hf : "");
            err = errbuf;
            err_field = fieldbuf;
            json_decref(ans);
            rc = 0;
        }
        resp->status = 400;
        req->flash = "The reply was not sent: see the field marked below.";
        if (err_field && strcmp(err_field, "seats") != 0 && strcmp(err_field, "contact") != 0 &&
            strcmp(err_field, "message") != 0)
            req->flash = err; /* not a field of the form: the message at the top */
    }
    struct html *h = &resp->body;
    page_begin(h, req, "Reply", 1);
    reply_form(h, req, to, kind, view, &vals, err, err_field);
    page_end(h, req);
done:
    json_decref(view);
    web_formvals_free(&vals);
    return rc;
}

/* ---- match and replies sent ---------------------------------------------------------------- */

static void reasons(struct html *h, const json_t *list, const char *cls) {
    size_t i;
    const json_t *r;
    json_array_foreach(list, i, r) {
        html_printf(h, "<span class=\"%s\">", cls);
        html_jtext(h, r, "field");
        html_lit(h, ": ");
        html_jtext(h, r, "detail");
        html_lit(h, "</span>");
        if (i + 1 < json_array_size(list))
            html_lit(h, "; ");
    }
}

static int h_match(struct web_req *req, struct web_resp *resp) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "request",
                                    "author", self_key(), "limit", STAFF_LIST_LIMIT),
                          &ans);
    if (rc != 0)
        return ctl_failed(req, resp, rc, ans);
    struct html *h = &resp->body;
    page_begin(h, req, "Offers that fit our requests", 1);
    json_t *reqs = json_object_get(ans, "records");
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *key = json_string_value(json_object_get(r, "key"));
        const char *t = title_of(r);
        html_lit(h, "<section class=\"match\" data-request=\"");
        html_cattr(h, key);
        html_lit(h, "\">\n<h2>");
        html_ctext(h, t && *t ? t : key);
        html_lit(h, "</h2>\n");
        json_t *m = NULL;
        int mrc = id ? web_ctl_call(json_pack("{s:s, s:s, s:i}", "op", "match", "record", id,
                                              "limit", STAFF_MATCH_LIMIT),
                                    &m)
                     : HUB_E_NOT_FOUND;
        if (mrc == HUB_E_IO) {
            json_decref(m);
            json_decref(ans);
            return HUB_E_IO;
        }
        json_t *results = mrc == 0 ? json_object_get(m, "results") : NULL;
        if (mrc != 0) {
            html_lit(h, "<p>No match: ");
            html_ctext(h, web_ctl_errmsg(m));
            html_lit(h, "</p>\n");
        } else if (!json_array_size(results)) {
            html_lit(h, "<p>No offer fits this request yet.</p>\n");
        } else {
            html_lit(h, "<ol class=\"match-results\">\n");
            size_t k;
            json_t *o;
            json_array_foreach(results, k, o) {
                json_t *entry = json_object_get(o, "entry");
                html_lit(h, "<li class=\"match-result\"><a href=\"");
                record_href(h, json_string_value(json_object_get(o, "author")), "offer",
                            json_string_value(json_object_get(entry, "key")));
                html_lit(h, "\">");
                const char *ot = title_of(entry);
                html_ctext(h, ot ? ot : json_string_value(json_object_get(entry, "key")));
                html_lit(h, "</a> · <span class=\"result-hub\">");
                hub_name(h, o, "author_name", "author");
                json_t *score = json_object_get(o, "score");
                html_printf(h, "</span> · <span class=\"score\">%.1f</span> / 100 · "
                               "<span class=\"reasons\">",
                            json_is_number(score) ? json_number_value(score) : 0.0);
                reasons(h, json_object_get(o, "agreed"), "agreed");
                if (json_array_size(json_object_get(o, "differed"))) {
                    html_lit(h, " — differs: ");
                    reasons(h, json_object_get(o, "differed"), "differed");
                }
                html_lit(h, "</span> <a class=\"reply-link\" href=\"/staff/reply?to=");
                html_curlenc(h, json_string_value(json_object_get(o, "author")));
                html_lit(h, "%2Foffer%2F");
                html_curlenc(h, json_string_value(json_object_get(entry, "key")));
                html_lit(h, "\">Reply</a></li>\n");
            }
            html_lit(h, "</ol>\n");
        }
        json_decref(m);
        html_lit(h, "</section>\n");
    }
    if (!json_array_size(reqs))
        html_lit(h, "<p>This hub has no open request. <a href=\"/staff/publish?kind=request\">"
                    "Publish one</a>.</p>\n");
    page_end(h, req);
    json_decref(ans);
    return 0;
}

static int h_replies(struct web_req *req, struct web_resp *resp) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:i}", "op", "replies", "limit", STAFF_LIST_LIMIT), &ans);
    if (rc != 0)
        return ctl_failed(req, resp, rc, ans);
    struct html *h = &resp->body;
    page_begin(h, req, "Replies sent", 1);
    json_t *replies = json_object_get(ans, "replies");
    html_lit(h, "<ul id=\"replies-sent\">\n");
    size_t i;
    json_t *v;
    json_array_foreach(replies, i, v) {
        html_lit(h, "<li class=\"reply\" data-id=\"");
        html_jtext(h, v, "id");
        html_lit(h, "\" data-state=\"");
        html_jtext(h, v, "state");
        html_lit(h, "\">");
        reply_line(h, v, 0);
        html_lit(h, "</li>\n");
    }
    if (!json_array_size(replies))
        html_lit(h, "<li class=\"empty\">No replies sent yet.</li>\n");
    html_lit(h, "</ul>\n");
    page_end(h, req);
    json_decref(ans);
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
        {"GET", "/staff/inbox", WEB_STAFF, h_inbox},
        {"POST", "/staff/accept", WEB_STAFF, h_accept},
        {"POST", "/staff/decline", WEB_STAFF, h_decline},
        {"GET", "/staff/reply", WEB_STAFF, h_reply},
        {"POST", "/staff/reply", WEB_STAFF, h_reply},
        {"GET", "/staff/match", WEB_STAFF, h_match},
        {"GET", "/staff/replies", WEB_STAFF, h_replies},
    };
    for (size_t i = 0; i < HUB_ARRAY_LEN(routes); i++)
        if (web_route(routes[i].method, routes[i].path, routes[i].access, routes[i].h) != 0)
            fatalx("web", "route table full at %s %s", routes[i].method, routes[i].path);
    web_session_hook = staff_hook;
}
