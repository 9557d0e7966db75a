/* web_replies.c: the staff pages about replies (issue 13 item 3): the inbox with accept and
 * decline, a reply to another hub's offer or request (an enrolment, a proposal ...), the offers
 * that fit the hub's requests with the reasons (`match`), and the replies the hub sent with
 * their state. Registered by web_staff.c; the helpers they share are in web_staff.h. Reply
 * content comes from other hubs: everything goes out through the html_* escapers. */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "web_form.h"
#include "web_session.h"
#include "web_staff.h"

/* ---- inbox, accept, decline ---------------------------------------------------------------- */

static void reply_line(struct html *h, const json_t *v, int inbox) {
    const json_t *rec = json_object_get(v, "record");
    const char *type = json_string_value(json_object_get(rec, "type"));
    html_lit(h, "<span class=\"reply-type\">");
    html_ctext(h, type ? type : "reply");
    html_lit(h, "</span> ");
    if (inbox) {
        html_lit(h, "from <span class=\"reply-hub\">");
        staff_hub_name(h, v, "author_name", "author");
        html_lit(h, "</span> ");
    } else {
        html_lit(h, "to <span class=\"reply-hub\">");
        staff_hub_name(h, v, "target_name", "target_author");
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

int staff_inbox(struct web_req *req, struct web_resp *resp) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:i}", "op", "inbox", "limit", STAFF_LIST_LIMIT), &ans);
    if (rc != 0)
        return staff_ctl_failed(req, resp, rc, ans);
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
    if (!staff_post_ok(req, resp))
        return 0;
    const char *id = web_form(req, "id");
    const char *reason = web_form(req, "reason"), *message = web_form(req, "message");
    if (!id || !*id || !staff_text_ok(id) || (reason && !staff_text_ok(reason)) ||
        (message && !staff_text_ok(message))) {
        page_error(req, resp, 400, "Say which reply to answer (id), and reasons as text.");
        return 0;
    }
    json_t *call = json_pack("{s:s, s:s}", "op", op, "reply", id);
    if (reason && *reason && strcmp(op, "decline") == 0)
        json_object_set_new(call, "reason", json_string(reason));
    if (message && *message)
        json_object_set_new(call, "message", json_string(message));
    json_t *ans = NULL;
    int rc = web_ctl_call(call, &ans);
    if (rc != 0)
        return staff_ctl_failed(req, resp, rc, ans);
    const char *type = json_string_value(json_object_get(ans, "type"));
    const char *why = json_string_value(json_object_get(ans, "reason"));
    json_t *left = json_object_get(ans, "seats_left");
    char seats[48] = "";
    if (json_is_integer(left))
        snprintf(seats, sizeof seats, "; seats left: %lld", (long long)json_integer_value(left));
    if (strcmp(op, "accept") == 0 && type && strcmp(type, "decline") == 0)
        staff_flash(req, "The offer is full: the enrolment was declined (%s)%s.", why ? why : "full",
                  seats);
    else
        staff_flash(req, "%s%s.", type && strcmp(type, "accept") == 0 ? "Accepted" : "Declined",
                  seats);
    json_decref(ans);
    web_redirect(resp, 303, "/staff/inbox");
    return 0;
}

int staff_accept(struct web_req *req, struct web_resp *resp) {
    return answer_post(req, resp, "accept");
}

int staff_decline(struct web_req *req, struct web_resp *resp) {
    return answer_post(req, resp, "decline");
}

/* ---- replying to another hub's record ------------------------------------------------------ */

/* The version *view (history's: the entry as signed) replaced by the same entry as `get` shows
 * it, with the derived fields the record page shows too (author_name: the hub's name from its
 * profile, when held). Kept as it is when get has nothing (a purged payload) or fails. */
static void reply_target_view(json_t **view) {
    const char *id = json_string_value(json_object_get(*view, "id"));
    json_t *ans = NULL;
    if (id == NULL || json_is_true(json_object_get(*view, "purged")))
        return;
    if (web_ctl_call(json_pack("{s:s, s:s}", "op", "get", "id", id), &ans) == 0) {
        json_t *e = json_object_get(ans, "entry");
        if (json_is_object(e)) {
            json_decref(*view);
            *view = json_incref(e);
        }
    }
    json_decref(ans);
}

/* ?to=AUTHOR/KIND/KEY: the record's current version (a new reference) or NULL. */
static int reply_target(const char *to, char *kind, size_t kcap, json_t **view) {
    *view = NULL;
    if (!to || strlen(to) < HUB_HEX_LEN + 3 || to[HUB_HEX_LEN] != '/' || !staff_text_ok(to))
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
    if (rc == 0 && *view)
        reply_target_view(view);
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
    const char *t = staff_title_of(view);
    html_ctext(h, t ? t : json_string_value(json_object_get(view, "key")));
    html_lit(h, "</a> of <span class=\"result-hub\">");
    staff_hub_name(h, view, "author_name", "author");
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

int staff_reply(struct web_req *req, struct web_resp *resp) {
    int post = strcmp(req->method, "POST") == 0;
    if (post && !staff_post_ok(req, resp))
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
        if ((rc = staff_formvals(req, &vals)) != 0) {
            if (rc == HUB_E_TOO_LARGE) {
                page_error(req, resp, 413, "The form has too many fields.");
                rc = 0;
            }
            goto done;
        }
        json_t *rec = json_object();
        /* the type is one of the form's choices, whatever was sent */
        static const char *const types[] = {"enrolment", "interest", "question", "proposal",
                                            "can-help"};
        const char *type = web_formvals_get(&vals, "type"), *rtype = "interest";
        for (size_t i = 0; type && i < HUB_ARRAY_LEN(types); i++)
            if (strcmp(type, types[i]) == 0)
                rtype = types[i];
        json_object_set_new(rec, "type", json_string(rtype));
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
                    staff_flash(req, "Reply sent; %lld seat%s left as this hub counts them.",
                              (long long)json_integer_value(left),
                              json_integer_value(left) == 1 ? "" : "s");
                else
                    staff_flash(req, "Reply sent.");
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

int staff_match(struct web_req *req, struct web_resp *resp) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "request",
                                    "author", staff_self_key(), "limit", STAFF_LIST_LIMIT),
                          &ans);
    if (rc != 0)
        return staff_ctl_failed(req, resp, rc, ans);
    struct html *h = &resp->body;
    page_begin(h, req, "Offers that fit our requests", 1);
    json_t *reqs = json_object_get(ans, "records");
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *key = json_string_value(json_object_get(r, "key"));
        const char *t = staff_title_of(r);
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
                staff_record_href(h, json_string_value(json_object_get(o, "author")), "offer",
                            json_string_value(json_object_get(entry, "key")));
                html_lit(h, "\">");
                const char *ot = staff_title_of(entry);
                html_ctext(h, ot ? ot : json_string_value(json_object_get(entry, "key")));
                html_lit(h, "</a> · <span class=\"result-hub\">");
                staff_hub_name(h, o, "author_name", "author");
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

int staff_replies(struct web_req *req, struct web_resp *resp) {
    json_t *ans = NULL;
    int rc = web_ctl_call(json_pack("{s:s, s:i}", "op", "replies", "limit", STAFF_LIST_LIMIT), &ans);
    if (rc != 0)
        return staff_ctl_failed(req, resp, rc, ans);
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

