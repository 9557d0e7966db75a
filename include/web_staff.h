/* web_staff.h: what hubweb's staff pages share (node/hubweb/web_staff.c: session hook,
 * sign-in, dashboard, record forms; node/hubweb/web_replies.c: inbox, replies, match). Only
 * those two files include it. */
#ifndef HUB_WEB_STAFF_H
#define HUB_WEB_STAFF_H

#include "web.h"
#include "web_form.h"
#include "web_session.h"

/* Bounds (PROTOCOL.md §10.5b). */
#define STAFF_LIST_LIMIT 100   /* records, replies and requests one staff page lists */
#define STAFF_MATCH_LIMIT 10   /* offers shown per request on /staff/match */
#define STAFF_PRE_TTL_S 3600   /* the sign-in form's pre-session cookie */
#define STAFF_COUNT_LIMIT 1000 /* the dashboard counts up to this many ("1000+") */
#define STAFF_LOG_MS 10000     /* refused sign-ins are summarised in the log at most this often */

/* Our own markup chosen at run time (html_lit takes only a literal: it uses sizeof). */
void staff_cstr(struct html *h, const char *s);
/* A message for the session's next page (after a redirect); nothing without a session. */
void staff_flash(const struct web_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* This hub's key (64 hex digits, asked once), "" while hubd does not answer. */
const char *staff_self_key(void);
/* 1 when the POST carries the session's CSRF token; else a 403 page is in resp and 0. */
int staff_post_ok(struct web_req *req, struct web_resp *resp);
/* A control call that failed (ans consumed): HUB_E_IO when hubd did not answer (the caller
 * returns it: 502), else 0 with a 404 (E_NOT_FOUND) or 400 page giving hubd's message. */
int staff_ctl_failed(struct web_req *req, struct web_resp *resp, int rc, json_t *ans);
/* A hub's name from obj's name_member (escaped), else "hub " and its key's first 8 digits. */
void staff_hub_name(struct html *h, const json_t *obj, const char *name_member,
                    const char *key_member);
/* /record/AUTHOR/KIND/KEY, each part percent-encoded, for inside href="...". */
void staff_record_href(struct html *h, const char *author, const char *kind, const char *key);
/* 1 when s is valid UTF-8 (what a control request may carry). */
int staff_text_ok(const char *s);
/* A record view's title (offers, requests) or name (profiles); NULL when none. */
const char *staff_title_of(const json_t *view);
/* The request's form fields as web_formvals (freed by the caller, also on error); E_TOO_LARGE
 * when the form was cut at WEB_MAX_FORM fields. */
int staff_formvals(const struct web_req *req, struct web_formvals *out);

/* web_replies.c's pages (registered by web_staff_init). */
int staff_inbox(struct web_req *req, struct web_resp *resp);
int staff_accept(struct web_req *req, struct web_resp *resp);
int staff_decline(struct web_req *req, struct web_resp *resp);
int staff_reply(struct web_req *req, struct web_resp *resp);
int staff_match(struct web_req *req, struct web_resp *resp);
int staff_replies(struct web_req *req, struct web_resp *resp);

#endif
