/* web_view.c: record views (CONTROL.md "Record JSON") as HTML, shared by the catalogue, the
 * network page and the staff pages: a record's title in the visitor's language, links to
 * records and hubs, and the list of every field (<dl id="fields">). All of it is foreign
 * text from other hubs: every string goes through an html_* escaper, links only through
 * html_link (http, https, mailto). */
#include "hub.h"
#include "web.h"

#include <string.h>
#include <strings.h>

/* Field labels, in the order a record page lists them; fields not named here come after, under
 * their JSON name (a newer hub's fields are shown too). */
static const struct {
    const char *name, *label;
} view_labels[] = {
    {"title", "Title"},
    {"titles", "Title in other languages"},
    {"name", "Name"},
    {"hub_type", "Type of hub"},
    {"description", "Description"},
    {"descriptions", "Description in other languages"},
    {"learning_outcomes", "Learning outcomes"},
    {"prerequisites", "Prerequisites"},
    {"opportunity_type", "Type"},
    {"service_group", "Service group"},
    {"service_type", "Service type"},
    {"facility", "Facility"},
    {"mode", "Mode"},
    {"schedule", "Schedule"},
    {"country", "Country"},
    {"region", "Region"},
    {"location", "Location"},
    {"start_date", "Starts"},
    {"end_date", "Ends"},
    {"needed_by", "Needed by"},
    {"application_deadline", "Apply by"},
    {"sessions", "Sessions"},
    {"duration_hours", "Hours"},
    {"capacity", "Seats"},
    {"cost", "Cost"},
    {"budget", "Budget"},
    {"ects_credits", "ECTS credits"},
    {"languages", "Languages"},
    {"topics", "Topics"},
    {"technologies", "Technologies"},
    {"sectors", "Sectors"},
    {"services", "Services"},
    {"audience", "Audience"},
    {"skills", "Skills"},
    {"isced", "Fields of education (ISCED-F)"},
    {"eqf_level", "EQF level"},
    {"digcomp", "DigComp"},
    {"nuts", "NUTS regions"},
    {"customer_types", "Serves"},
    {"train_the_trainer", "Train-the-trainer"},
    {"based_on", "Based on"},
    {"registration_url", "Registration"},
    {"website", "Web site"},
    {"material_licence", "Material licence"},
    {"material_url", "Material"},
    {"contact", "Contact"},
    {"edih_id", "EDIH id"},
    {"endpoints", "Sync endpoints"},
};

const char *view_label(const char *field) {
    for (size_t i = 0; i < HUB_ARRAY_LEN(view_labels); i++)
        if (strcmp(view_labels[i].name, field) == 0)
            return view_labels[i].label;
    return NULL;
}

/* The member of a language map ({"de": "...", "en": "..."}, BCP 47 keys) that suits the
 * visitor: an exact tag of Accept-Language first (in its order), then a primary subtag match
 * either way ("de" for "de-AT", "de-AT" for "de"). NULL when none does. */
static const json_t *view_lang_pick(const json_t *map, const struct web_req *req,
                                    const char **lang) {
    const char *k;
    const json_t *v;

    if (!json_is_object(map) || req == NULL)
        return NULL;
    for (size_t i = 0; i < req->nlangs; i++) {
        const char *want = req->langs[i];
        size_t wl = strcspn(want, "-");
        json_object_foreach((json_t *)map, k, v) {
            if (json_is_string(v) && strcasecmp(k, want) == 0) {
                *lang = k;
                return v;
            }
        }
        json_object_foreach((json_t *)map, k, v) {
            size_t kl = strcspn(k, "-");
            if (json_is_string(v) && kl == wl && strncasecmp(k, want, wl) == 0) {
                *lang = k;
                return v;
            }
        }
    }
    return NULL;
}

const json_t *view_text_lang(const json_t *rec, const char *map, const char *plain,
                             const struct web_req *req, const char **lang) {
    *lang = NULL;
    const json_t *v = view_lang_pick(json_object_get(rec, map), req, lang);
    if (v != NULL)
        return v;
    v = json_object_get(rec, plain);
    return json_is_string(v) ? v : NULL;
}

const json_t *view_text(const json_t *rec, const char *map, const char *plain,
                        const struct web_req *req) {
    const char *lang;
    return view_text_lang(rec, map, plain, req, &lang);
}

/* A language tag fit for a lang attribute: a primary subtag of 2 or 3 letters, then subtags
 * of 1 to 8 letters or digits (a record's map key is foreign: anything else is not used). */
static int view_lang_ok(const char *t) {
    size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
    if (n < 2 || n > 3)
        return 0;
    t += n;
    while (*t == '-') {
        size_t m = strspn(t + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        if (m < 1 || m > 8)
            return 0;
        t += 1 + m;
    }
    return *t == '\0';
}

void view_lang_text(struct html *h, const json_t *v, const char *lang) {
    if (!json_is_string(v))
        return;
    if (lang != NULL && view_lang_ok(lang)) {
        html_lit(h, "<span lang=\"");
        html_cattr(h, lang);
        html_lit(h, "\">");
        html_text(h, json_string_value(v), json_string_length(v));
        html_lit(h, "</span>");
    } else {
        html_text(h, json_string_value(v), json_string_length(v));
    }
}

void view_title(struct html *h, const json_t *view, const struct web_req *req) {
    const json_t *rec = json_object_get(view, "record");
    const char *lang;
    const json_t *t = view_text_lang(rec, "titles", "title", req, &lang);
    if (t == NULL)
        t = json_object_get(rec, "name"); /* a profile */
    /* the plain title is in the record's first language (PROTOCOL.md 7.2) */
    if (lang == NULL)
        lang = json_string_value(json_array_get(json_object_get(rec, "languages"), 0));
    if (lang != NULL && strcmp(lang, "en") == 0)
        lang = NULL; /* the page's own language: no attribute needed */
    if (json_is_string(t) && json_string_length(t) > 0) {
        view_lang_text(h, t, lang);
        return;
    }
    html_lit(h, "(untitled ");
    html_ctext(h, json_string_value(json_object_get(view, "kind")));
    html_lit(h, " ");
    html_ctext(h, json_string_value(json_object_get(view, "key")));
    html_lit(h, ")");
}

void view_record_href(struct html *h, const char *author, const char *kind, const char *key) {
    html_lit(h, "/record/");
    html_curlenc(h, author);
    html_lit(h, "/");
    html_curlenc(h, kind);
    html_lit(h, "/");
    html_curlenc(h, key);
}

void view_hub_name(struct html *h, const char *author, const char *name) {
    if (name != NULL && name[0] != '\0') {
        html_ctext(h, name);
    } else {
        html_lit(h, "hub ");
        if (author != NULL)
            html_text(h, author, strnlen(author, 8));
    }
}

void view_hub_link(struct html *h, const char *author, const char *name) {
    html_lit(h, "<a href=\"/hub/");
    html_curlenc(h, author);
    html_lit(h, "\">");
    view_hub_name(h, author, name);
    html_lit(h, "</a>");
}

static int view_is_url_field(const char *name) {
    return strcmp(name, "registration_url") == 0 || strcmp(name, "website") == 0 ||
           strcmp(name, "material_url") == 0 || strcmp(name, "material_licence") == 0;
}

static void view_value(struct html *h, const char *name, const json_t *v) {
    if (json_is_string(v)) {
        if (view_is_url_field(name) || strcmp(name, "contact") == 0) {
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            /* a contact that is an e-mail address becomes a mailto: link */
            if (strcmp(name, "contact") == 0 && memchr(s, '@', n) != NULL &&
                strpbrk(s, " <>\"'") == NULL && n < 250) {
                char buf[260];
                memcpy(buf, "mailto:", 7);
                memcpy(buf + 7, s, n);
                buf[7 + n] = '\0';
                html_link(h, buf, 7 + n, s);
            } else {
                html_link(h, s, n, NULL);
            }
        } else {
            html_text(h, json_string_value(v), json_string_length(v));
        }
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach((json_t *)v, i, e) {
            html_lit(h, "<span class=\"tag\">");
            if (json_is_string(e))
                html_text(h, json_string_value(e), json_string_length(e));
            else
                view_value(h, name, e);
            html_lit(h, "</span> ");
        }
    } else if (json_is_true(v)) {
        html_lit(h, "yes");
    } else if (json_is_false(v)) {
        html_lit(h, "no");
    } else if (json_is_integer(v)) {
        html_printf(h, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        html_printf(h, "%.2f", json_real_value(v));
    } else if (json_is_object(v) && (strcmp(name, "cost") == 0 || strcmp(name, "budget") == 0)) {
        view_value(h, "", json_object_get(v, "amount"));
        html_lit(h, " ");
        view_value(h, "", json_object_get(v, "currency"));
    } else if (json_is_object(v) && strcmp(name, "based_on") == 0) {
        const char *a = json_string_value(json_object_get(v, "author"));
        const char *k = json_string_value(json_object_get(v, "key"));
        if (a != NULL && k != NULL) {
            html_lit(h, "<a id=\"based-on\" href=\"");
            view_record_href(h, a, "offer", k);
            html_lit(h, "\">");
            html_ctext(h, k);
            html_lit(h, "</a> (");
            view_hub_name(h, a, NULL);
            html_lit(h, ")");
        }
    } else if (json_is_object(v)) {
        /* a language map (titles, descriptions) or a field of a newer hub */
        const char *k;
        const json_t *e;
        html_lit(h, "<ul class=\"map\">");
        json_object_foreach((json_t *)v, k, e) {
            html_lit(h, "<li><span class=\"tag\">");
            html_ctext(h, k);
            html_lit(h, "</span> ");
            view_value(h, "", e);
            html_lit(h, "</li>");
        }
        html_lit(h, "</ul>");
    }
}

static void view_field(struct html *h, const char *name, const json_t *v) {
    const char *label = view_label(name);
    html_lit(h, "<dt>");
    if (label != NULL)
        html_ctext(h, label);
    else
        html_ctext(h, name);
    html_lit(h, "</dt><dd data-field=\"");
    html_cattr(h, name);
    html_lit(h, "\">");
    view_value(h, name, v);
    html_lit(h, "</dd>\n");
}

void view_fields(struct html *h, const json_t *rec) {
    const char *k;
    const json_t *v;

    html_lit(h, "<dl id=\"fields\">\n");
    for (size_t i = 0; i < HUB_ARRAY_LEN(view_labels); i++) {
        v = json_object_get(rec, view_labels[i].name);
        if (v != NULL && !json_is_null(v))
            view_field(h, view_labels[i].name, v);
    }
    json_object_foreach((json_t *)rec, k, v) {
        if (view_label(k) == NULL && !json_is_null(v))
            view_field(h, k, v);
    }
    html_lit(h, "</dl>\n");
}
