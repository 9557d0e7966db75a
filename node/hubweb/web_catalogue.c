/* web_catalogue.c: the public catalogue: the search page (/) with its filters, their counts
 * (control call `facets`) and paged results; one record (/record/AUTHOR/KIND/KEY) with every
 * field, its versions, its hub's profile, its train-the-trainer lineage and its reply count;
 * one hub (/hub/AUTHOR). Each page's control calls go out together (web_ctl_calls: one round
 * trip). The query is in the URL (shareable); everything works without JavaScript. */
#include "hub.h"
#include "jsonld.h"
#include "web.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT_PAGE_SIZE 20    /* results per page */
#define CAT_MAX_PAGE 50     /* pages reachable by number (query's limit is 1000) */
#define CAT_FACET_TOP 12    /* values shown per facet */
#define CAT_MAX_VALUES 16   /* values of one filter taken from the URL (hubd's bound) */
#define CAT_SNIPPET 240     /* bytes of a description shown in a result */
#define CAT_HUB_RECORDS 100 /* a hub page's records */
#define CAT_MAX_VERSIONS 50 /* versions listed on a record page (the newest) */
/* Facet counts are kept this long per query (paging through results, changing the order or
 * coming back costs no second count): counts may lag the catalogue by as much, the results
 * never do. */
#define CAT_FACETS_TTL_MS 15000
#define CAT_FACETS_SLOTS 64
/* Matches a text search's facets count: ranking costs more the more matches it must order
 * (CONTROL.md facets), so a text search counts its best 250 and says "more than 250". */
#define CAT_FACETS_TEXT_SCAN 250

/* Shared by the HTTP workers: every slot is read and written under cat_facets_lock, and each
 * answer in it is a copy of its own that no worker holds a reference to (a hit is copied out,
 * a keep copies in): jansson's reference counts are atomic, but its decref reads the count
 * plainly first, and a page must not depend on that. */
static pthread_mutex_t cat_facets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *key;   /* the facets request's text */
    json_t *ans; /* its answer */
    uint64_t at; /* hub_mono_ms() when asked */
} cat_facets_cache[CAT_FACETS_SLOTS];

static uint64_t cat_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* A cached answer to the facets request text (a new object of the caller's), or NULL. */
static json_t *cat_facets_cached(const char *key) {
    size_t i = (size_t)(cat_hash(key) % CAT_FACETS_SLOTS);
    json_t *ans = NULL;
    pthread_mutex_lock(&cat_facets_lock);
    if (cat_facets_cache[i].key != NULL && strcmp(cat_facets_cache[i].key, key) == 0 &&
        hub_mono_ms() - cat_facets_cache[i].at < CAT_FACETS_TTL_MS)
        ans = json_deep_copy(cat_facets_cache[i].ans);
    pthread_mutex_unlock(&cat_facets_lock);
    return ans;
}

static void cat_facets_keep(const char *key, json_t *ans) {
    size_t i = (size_t)(cat_hash(key) % CAT_FACETS_SLOTS);
    char *k = strdup(key), *old_key;
    json_t *copy = json_deep_copy(ans), *old_ans;
    if (k == NULL || copy == NULL) {
        free(k);
        json_decref(copy);
        return;
    }
    pthread_mutex_lock(&cat_facets_lock);
    old_key = cat_facets_cache[i].key;
    old_ans = cat_facets_cache[i].ans;
    cat_facets_cache[i].key = k;
    cat_facets_cache[i].ans = copy;
    cat_facets_cache[i].at = hub_mono_ms();
    pthread_mutex_unlock(&cat_facets_lock);
    free(old_key);
    json_decref(old_ans);
}

/* URL parameter, the query filter it sets, its vocabulary (NULL: free text) and its label. */
static const struct {
    const char *param, *filter, *vocab, *label;
} cat_filters[] = {
    {"country", "country", "country", "Country"},
    {"language", "language", NULL, "Language"},
    {"topic", "topic", NULL, "Topic"},
    {"technology", "technology", "technology", "Technology"},
    {"sector", "sector", "sector", "Sector"},
    {"service", "service", "service", "Service"},
    {"mode", "mode", "mode", "Mode"},
    {"type", "opportunity_type", "opportunity_type", "Type"},
};

static const struct {
    const char *value, *label;
} cat_kinds[] = {{"offer", "Offers"}, {"request", "Requests"}, {"profile", "Hubs"}};

static const char *cat_kind_label(const char *k) {
    for (size_t i = 0; i < HUB_ARRAY_LEN(cat_kinds); i++)
        if (k != NULL && strcmp(k, cat_kinds[i].value) == 0)
            return cat_kinds[i].label;
    return k;
}

static int cat_is_date(const char *s) {
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

static int cat_is_month(const char *s) {
    if (s == NULL || strlen(s) != 7)
        return 0;
    for (int i = 0; i < 7; i++)
        if (i == 4 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

static int cat_page(const struct web_req *req) {
    uint64_t p;
    const char *s = web_arg(req, "page");
    if (s == NULL || hub_parse_u64(s, CAT_MAX_PAGE, &p) != 0 || p == 0)
        return 1;
    return (int)p;
}

/* Non-empty values of a parameter. */
static size_t cat_values(const struct web_req *req, const char *name, const char **vals) {
    const char *all[WEB_MAX_ARGS];
    size_t n = web_arg_all(req, name, all, WEB_MAX_ARGS), k = 0;
    for (size_t i = 0; i < n && k < CAT_MAX_VALUES; i++)
        if (all[i][0] != '\0')
            vals[k++] = all[i];
    return k;
}

static int cat_selected(const struct web_req *req, const char *name, const char *value) {
    const char *vals[CAT_MAX_VALUES];
    size_t n = cat_values(req, name, vals);
    for (size_t i = 0; i < n; i++)
        if (strcmp(vals[i], value) == 0)
            return 1;
    return 0;
}

/* Every parameter's value is text (a value decoded from %XX may be any bytes): 0, or -1 for a
 * value that is not UTF-8, which no filter could match and JSON cannot carry. */
static int cat_args_ok(const struct web_req *req) {
    for (size_t i = 0; i < req->nargs; i++)
        if (!html_utf8_valid(req->args[i].value, strlen(req->args[i].value)))
            return -1;
    return 0;
}

/* The query's filters from the URL into req (a query or facets request). */
static void cat_filters_json(const struct web_req *req, json_t *q) {
    const char *vals[CAT_MAX_VALUES];
    size_t n = cat_values(req, "kind", vals);
    json_t *kinds = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(kinds, json_string(vals[i]));
    if (n == 0) /* the catalogue: no replies, endorsements or retractions */
        for (size_t i = 0; i < HUB_ARRAY_LEN(cat_kinds); i++)
            json_array_append_new(kinds, json_string(cat_kinds[i].value));
    json_object_set_new(q, "kind", kinds);
    for (size_t f = 0; f < HUB_ARRAY_LEN(cat_filters); f++) {
        n = cat_values(req, cat_filters[f].param, vals);
        if (n == 0)
            continue;
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_string(vals[i]));
        json_object_set_new(q, cat_filters[f].filter, a);
    }
    const char *text = web_arg(req, "q");
    if (text != NULL && text[0] != '\0')
        json_object_set_new(q, "text", json_string(text));
    const char *from = web_arg(req, "from"), *to = web_arg(req, "to");
    if (from != NULL && from[0] != '\0')
        json_object_set_new(q, "from", json_string(from));
    if (to != NULL && to[0] != '\0')
        json_object_set_new(q, "to", json_string(to));
}

/* The sort the page uses: relevance only with a text, start only without. */
static const char *cat_sort(const struct web_req *req) {
    const char *s = web_arg(req, "sort"), *q = web_arg(req, "q");
    int text = q != NULL && q[0] != '\0';
    if (s != NULL && strcmp(s, "start") == 0 && !text)
        return "start";
    if (s != NULL && strcmp(s, "published") == 0)
        return "published";
    return text ? "relevance" : "published";
}

/* A link to the search page: the current parameters (without page and cursor), with
 * name=value toggled (removed when present, added when not); name "dates" toggles the month
 * value (YYYY-MM) as from/to; page > 1 and cursor select a page. */
static void cat_href(struct html *h, const struct web_req *req, const char *name, const char *value,
                     int page, const char *cursor) {
    char from[11] = "", to[11] = "";
    int found = 0, dates = name != NULL && strcmp(name, "dates") == 0;
    int first = 1;

    if (dates) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = atoi(value), m = atoi(value + 5);
        int d = m >= 1 && m <= 12 ? mdays[m - 1] : 31;
        if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
            d = 29;
        snprintf(from, sizeof from, "%.7s-01", value);
        snprintf(to, sizeof to, "%.7s-%02d", value, d);
        const char *cf = web_arg(req, "from"), *ct = web_arg(req, "to");
        found = cf != NULL && ct != NULL && strcmp(cf, from) == 0 && strcmp(ct, to) == 0;
    }
    html_lit(h, "/?");
    for (size_t i = 0; i < req->nargs; i++) {
        const struct web_kv *a = &req->args[i];
        if (a->value[0] == '\0' || strcmp(a->name, "page") == 0 || strcmp(a->name, "cursor") == 0)
            continue;
        if (dates && (strcmp(a->name, "from") == 0 || strcmp(a->name, "to") == 0))
            continue;
        if (!dates && name != NULL && strcmp(a->name, name) == 0 && strcmp(a->value, value) == 0) {
            found = 1;
            continue;
        }
        if (!first)
            html_lit(h, "&amp;");
        first = 0;
        html_curlenc(h, a->name);
        html_lit(h, "=");
        html_curlenc(h, a->value);
    }
    if (dates && !found) {
        html_printf(h, "%sfrom=", first ? "" : "&amp;");
        html_curlenc(h, from);
        html_lit(h, "&amp;to=");
        html_curlenc(h, to);
        first = 0;
    } else if (name != NULL && !dates && !found) {
        if (!first)
            html_lit(h, "&amp;");
        first = 0;
        html_curlenc(h, name);
        html_lit(h, "=");
        html_curlenc(h, value);
    }
    if (page > 1) {
        html_printf(h, "%spage=%d", first ? "" : "&amp;", page);
        first = 0;
        if (cursor != NULL) {
            html_lit(h, "&amp;cursor=");
            html_curlenc(h, cursor);
        }
    }
}

/* ---- the search form --------------------------------------------------------------------- */

static void cat_select(struct html *h, const struct web_req *req, const char *param,
                       const char *label, const json_t *values) {
    const char *vals[CAT_MAX_VALUES];
    size_t n = cat_values(req, param, vals);
    size_t i;
    const json_t *v;

    html_printf(h,
                "<div class=\"field\"><label for=\"f-%s\">%s</label><select id=\"f-%s\" "
                "name=\"%s\">",
                param, label, param, param);
    html_lit(h, "<option value=\"\">Any</option>");
    json_array_foreach((json_t *)values, i, v) {
        if (!json_is_string(v))
            continue;
        html_lit(h, "<option");
        if (n > 0 && strcmp(vals[0], json_string_value(v)) == 0)
            html_lit(h, " selected");
        html_lit(h, ">");
        html_text(h, json_string_value(v), json_string_length(v));
        html_lit(h, "</option>");
    }
    html_lit(h, "</select></div>\n");
    /* further values of a repeated filter (set through the facets) are kept */
    for (i = 1; i < n; i++) {
        html_printf(h, "<input type=\"hidden\" name=\"%s\" value=\"", param);
        html_cattr(h, vals[i]);
        html_lit(h, "\">");
    }
}

static void cat_input(struct html *h, const struct web_req *req, const char *param,
                      const char *label, const char *type) {
    const char *vals[CAT_MAX_VALUES];
    size_t n = cat_values(req, param, vals);
    html_printf(h,
                "<div class=\"field\"><label for=\"f-%s\">%s</label><input id=\"f-%s\" "
                "name=\"%s\" type=\"%s\"",
                param, label, param, param, type);
    if (n > 0) {
        html_lit(h, " value=\"");
        html_cattr(h, vals[0]);
        html_lit(h, "\"");
    }
    html_lit(h, "></div>\n");
    for (size_t i = 1; i < n; i++) {
        html_printf(h, "<input type=\"hidden\" name=\"%s\" value=\"", param);
        html_cattr(h, vals[i]);
        html_lit(h, "\">");
    }
}

static void cat_form(struct html *h, const struct web_req *req) {
    const char *q = web_arg(req, "q"), *sort = cat_sort(req);
    const char *kinds[CAT_MAX_VALUES];
    size_t nk = cat_values(req, "kind", kinds);

    html_lit(h, "<form id=\"search\" method=\"get\" action=\"/\" role=\"search\">\n"
                "<div class=\"row\"><label for=\"q\">Search the catalogue</label>"
                "<input id=\"q\" name=\"q\" type=\"search\" size=\"40\"");
    if (q != NULL) {
        html_lit(h, " value=\"");
        html_cattr(h, q);
        html_lit(h, "\"");
    }
    html_lit(h, ">\n<label for=\"f-kind\">Kind</label><select id=\"f-kind\" name=\"kind\">"
                "<option value=\"\">Offers, requests and hubs</option>");
    for (size_t i = 0; i < HUB_ARRAY_LEN(cat_kinds); i++)
        html_printf(h, "<option value=\"%s\"%s>%s</option>", cat_kinds[i].value,
                    nk > 0 && strcmp(kinds[0], cat_kinds[i].value) == 0 ? " selected" : "",
                    cat_kinds[i].label);
    html_lit(h, "</select>\n");
    for (size_t i = 1; i < nk; i++) {
        html_lit(h, "<input type=\"hidden\" name=\"kind\" value=\"");
        html_cattr(h, kinds[i]);
        html_lit(h, "\">");
    }
    html_lit(h, "<label for=\"f-sort\">Order</label><select id=\"f-sort\" name=\"sort\">");
    html_printf(h, "<option value=\"relevance\"%s>Best match</option>",
                strcmp(sort, "relevance") == 0 ? " selected" : "");
    html_printf(h, "<option value=\"start\"%s>Start date</option>",
                strcmp(sort, "start") == 0 ? " selected" : "");
    html_printf(h, "<option value=\"published\"%s>Newest</option>",
                strcmp(sort, "published") == 0 ? " selected" : "");
    html_lit(h, "</select>\n<button type=\"submit\">Search</button></div>\n"
                "<fieldset><legend>Filters</legend><div class=\"filters\">\n");
    for (size_t f = 0; f < HUB_ARRAY_LEN(cat_filters); f++) {
        const json_t *vals = cat_filters[f].vocab ? web_vocab(cat_filters[f].vocab) : NULL;
        if (vals != NULL)
            cat_select(h, req, cat_filters[f].param, cat_filters[f].label, vals);
        else
            cat_input(h, req, cat_filters[f].param, cat_filters[f].label, "text");
    }
    cat_input(h, req, "from", "From", "date");
    cat_input(h, req, "to", "To", "date");
    html_printf(h,
                "<div class=\"field check\"><input id=\"f-seats\" type=\"checkbox\" "
                "name=\"seats\" value=\"1\"%s><label for=\"f-seats\">Seats left only</label>"
                "</div>\n",
                web_arg(req, "seats") && strcmp(web_arg(req, "seats"), "1") == 0 ? " checked" : "");
    html_lit(h, "</div></fieldset>\n</form>\n");
}

/* ---- facets ------------------------------------------------------------------------------ */

/* Is v one of the vocabulary's values (ASCII case folded, as hubd compares a query's value)?
 * No when the list is unknown (hubd did not give it). */
static int cat_in_vocab(const json_t *vocab, const char *v) {
    size_t i;
    const json_t *e;
    json_array_foreach((json_t *)vocab, i, e) {
        const char *s = json_string_value(e);
        if (s == NULL)
            continue;
        size_t k = 0;
        while (s[k] != '\0' && v[k] != '\0' &&
               (s[k] | (s[k] >= 'A' && s[k] <= 'Z' ? 0x20 : 0)) ==
                   (v[k] | (v[k] >= 'A' && v[k] <= 'Z' ? 0x20 : 0)))
            k++;
        if (s[k] == '\0' && v[k] == '\0')
            return 1;
    }
    return 0;
}

/* The vocabulary name of a closed-vocabulary filter parameter, or NULL (open or not a filter). */
static const char *cat_param_vocab(const char *param) {
    for (size_t f = 0; f < HUB_ARRAY_LEN(cat_filters); f++)
        if (strcmp(cat_filters[f].param, param) == 0)
            return cat_filters[f].vocab;
    return NULL;
}

/* One facet's values as links. A value outside a closed vocabulary (another hub checks only
 * lengths and characters, PROTOCOL.md §7.1) is left out: hubd refuses a query by it (E_VOCAB),
 * so a link to it would lead to a refusal. */
static void cat_facet(struct html *h, const struct web_req *req, const char *facet,
                      const char *param, const char *label, const json_t *values) {
    const char *vocab_name = cat_param_vocab(param);
    const json_t *vocab = vocab_name ? web_vocab(vocab_name) : NULL;
    size_t i;
    const json_t *pair;
    size_t shown = 0;

    html_printf(h, "<section class=\"facet\" data-facet=\"%s\"><h2>%s</h2><ul>", facet, label);
    json_array_foreach((json_t *)values, i, pair) {
        const json_t *v = json_array_get(pair, 0);
        json_int_t count = json_integer_value(json_array_get(pair, 1));
        const char *value = json_string_value(v);
        const char *shownv = value;
        char month[8];
        int sel;

        if (value == NULL || shown >= CAT_FACET_TOP || count <= 0)
            continue;
        if (vocab_name != NULL && !cat_in_vocab(vocab, value))
            continue;
        if (strcmp(facet, "seats") == 0) {
            shownv = "1";
            sel = web_arg(req, "seats") != NULL;
        } else if (strcmp(facet, "dates") == 0) {
            if (!cat_is_month(value))
                continue; /* YYYY-MM from hubd; anything else is not a date to link to */
            snprintf(month, sizeof month, "%.7s", value);
            shownv = month;
            const char *cf = web_arg(req, "from");
            sel = cf != NULL && strncmp(cf, month, 7) == 0;
        } else {
            sel = cat_selected(req, param, value);
        }
        shown++;
        html_lit(h, "<li><a class=\"facet-value");
        if (sel)
            html_lit(h, " selected\" aria-current=\"true");
        html_lit(h, "\" data-value=\"");
        html_cattr(h, shownv);
        html_lit(h, "\" href=\"");
        if (strcmp(facet, "seats") == 0)
            cat_href(h, req, "seats", "1", 0, NULL);
        else
            cat_href(h, req, param, shownv, 0, NULL);
        html_lit(h, "\">");
        if (strcmp(facet, "seats") == 0)
            html_lit(h, "Seats left");
        else if (strcmp(facet, "kind") == 0)
            html_ctext(h, cat_kind_label(value));
        else
            html_text(h, json_string_value(v), json_string_length(v));
        html_printf(h, "</a> <span class=\"count\">%lld</span></li>", (long long)count);
    }
    html_lit(h, "</ul>");
    if (shown == 0)
        html_lit(h, "<p class=\"none\">none among the results</p>");
    html_lit(h, "</section>\n");
}

static void cat_facets(struct html *h, const struct web_req *req, const json_t *ans) {
    const json_t *fs = json_object_get(ans, "facets");
    static const struct {
        const char *facet, *param, *member, *label;
    } order[] = {
        {"kind", "kind", "kind", "Kind"},
        {"country", "country", "country", "Country"},
        {"language", "language", "language", "Language"},
        {"topic", "topic", "topic", "Topic"},
        {"technology", "technology", "technology", "Technology"},
        {"sector", "sector", "sector", "Sector"},
        {"service", "service", "service", "Service"},
        {"mode", "mode", "mode", "Mode"},
        {"type", "type", "type", "Type"},
        {"dates", "dates", "start", "Starts in"},
        {"seats", "seats", "seats", "Seats"},
    };
    html_lit(h, "<aside id=\"facets\" aria-label=\"Refine the results\">\n");
    for (size_t i = 0; i < HUB_ARRAY_LEN(order); i++)
        cat_facet(h, req, order[i].facet, order[i].param, order[i].label,
                  json_object_get(fs, order[i].member));
    html_lit(h, "</aside>\n");
}

/* ---- results ----------------------------------------------------------------------------- */

/* The first bytes of a text, cut at a character boundary. */
static void cat_snippet(struct html *h, const json_t *v) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n == 0)
        return;
    if (n > CAT_SNIPPET) {
        n = CAT_SNIPPET;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    html_lit(h, "<p class=\"result-text\">");
    html_text(h, s, n);
    if (n < json_string_length(v))
        html_lit(h, "…");
    html_lit(h, "</p>");
}

static void cat_result(struct html *h, const struct web_req *req, const json_t *view) {
    const json_t *rec = json_object_get(view, "record");
    const char *author = json_string_value(json_object_get(view, "author"));
    const char *kind = json_string_value(json_object_get(view, "kind"));
    const char *key = json_string_value(json_object_get(view, "key"));
    const char *s;

    if (author == NULL || kind == NULL || key == NULL)
        return;
    html_lit(h, "<li class=\"result\" data-kind=\"");
    html_cattr(h, kind);
    html_lit(h, "\"><a class=\"result-link\" href=\"");
    view_record_href(h, author, kind, key);
    html_lit(h, "\">");
    view_title(h, view, req);
    html_lit(h, "</a><br><span class=\"result-meta\">");
    html_ctext(h, cat_kind_label(kind));
    if ((s = json_string_value(json_object_get(rec, "country"))) != NULL) {
        html_lit(h, " · ");
        html_ctext(h, s);
    }
    if ((s = json_string_value(json_object_get(rec, "start_date"))) != NULL) {
        html_lit(h, " · from ");
        html_ctext(h, s);
    }
    if ((s = json_string_value(json_object_get(rec, "mode"))) != NULL) {
        html_lit(h, " · ");
        html_ctext(h, s);
    }
    const json_t *seats = json_object_get(view, "seats_left");
    if (json_is_integer(seats))
        html_printf(h, " · %lld seats left", (long long)json_integer_value(seats));
    html_lit(h, "</span> · <span class=\"result-hub\">");
    view_hub_name(h, author, json_string_value(json_object_get(view, "author_name")));
    html_lit(h, "</span>");
    cat_snippet(h, view_text(rec, "descriptions", "description", req));
    html_lit(h, "</li>\n");
}

/* schema.org: the page's results as an ItemList of short items (type, @id, name, url; the
 * record page holds the full mapping): the list stays a small part of the page's weight. */
static void cat_jsonld_list(struct html *h, const struct web_req *req, const json_t *views,
                            size_t first) {
    json_t *items = json_array();
    size_t i;
    const json_t *v;

    json_array_foreach((json_t *)views, i, v) {
        const char *author = json_string_value(json_object_get(v, "author"));
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *key = json_string_value(json_object_get(v, "key"));
        struct html url;
        if (author == NULL || kind == NULL || key == NULL)
            continue;
        html_init(&url);
        view_record_href(&url, author, kind, key);
        const json_t *rec = json_object_get(v, "record");
        const json_t *t = view_text(rec, "titles", "title", req);
        if (t == NULL)
            t = json_object_get(rec, "name");
        json_t *item = json_pack("{s:s, s:o*, s:s}", "@type",
                                 strcmp(kind, "offer") == 0     ? "Course"
                                 : strcmp(kind, "profile") == 0 ? "Organization"
                                                                : "Demand",
                                 "@id",
                                 strcmp(kind, "profile") == 0 ? jsonld_hub_id(author)
                                                              : jsonld_id(author, kind, key),
                                 "url", url.p ? url.p : "/");
        if (item != NULL && json_is_string(t))
            json_object_set(item, "name", (json_t *)t);
        if (item != NULL)
            json_array_append_new(items,
                                  json_pack("{s:s, s:I, s:o}", "@type", "ListItem", "position",
                                            (json_int_t)(first + i + 1), "item", item));
        html_free(&url);
    }
    json_t *list = json_pack("{s:s, s:s, s:o}", "@context", "https://schema.org", "@type",
                             "ItemList", "itemListElement", items);
    if (list != NULL)
        html_json_script(h, list);
    json_decref(list);
}

static int cat_search(struct web_req *req, struct web_resp *resp) {
    struct html *h = &resp->body;
    int page = cat_page(req);
    const char *sort = cat_sort(req), *cursor = web_arg(req, "cursor");
    const char *from = web_arg(req, "from"), *to = web_arg(req, "to");
    json_t *reqs[2], *ans[2] = {NULL, NULL};
    int rcs[2];
    size_t skip = 0;

    if ((from != NULL && from[0] && !cat_is_date(from)) ||
        (to != NULL && to[0] && !cat_is_date(to))) {
        page_error(req, resp, 400, "Dates are written YYYY-MM-DD.");
        return 0;
    }
    if (cat_args_ok(req) != 0) {
        page_error(req, resp, 400, "The search holds bytes that are not text (UTF-8).");
        return 0;
    }
    reqs[0] = json_pack("{s:s, s:s}", "op", "query", "sort", sort);
    reqs[1] = json_pack("{s:s, s:i}", "op", "facets", "top", CAT_FACET_TOP);
    if (reqs[0] == NULL || reqs[1] == NULL) {
        json_decref(reqs[0]);
        json_decref(reqs[1]);
        return HUB_E_NOMEM;
    }
    cat_filters_json(req, reqs[0]);
    cat_filters_json(req, reqs[1]);
    if (json_object_get(reqs[1], "text") != NULL)
        json_object_set_new(reqs[1], "scan", json_integer(CAT_FACETS_TEXT_SCAN));
    if (web_arg(req, "seats") != NULL)
        json_object_set_new(reqs[0], "has_seats", json_true());
    /* Paging: a cursor from a "next" link; else page N of a ranked or start-sorted query is
     * its cursor (results to skip + 1); of a newest-first one, the first N pages read and the
     * earlier ones skipped (at most CAT_MAX_PAGE pages, the query's limit of 1000). */
    if (page > 1 && cursor != NULL && cursor[0] != '\0') {
        json_object_set_new(reqs[0], "cursor", json_string(cursor));
        json_object_set_new(reqs[0], "limit", json_integer(CAT_PAGE_SIZE));
    } else if (page > 1 && strcmp(sort, "published") != 0) {
        char c[24];
        snprintf(c, sizeof c, "%d", (page - 1) * CAT_PAGE_SIZE + 1);
        json_object_set_new(reqs[0], "cursor", json_string(c));
        json_object_set_new(reqs[0], "limit", json_integer(CAT_PAGE_SIZE));
    } else {
        skip = (size_t)(page - 1) * CAT_PAGE_SIZE;
        json_object_set_new(reqs[0], "limit", json_integer((json_int_t)skip + CAT_PAGE_SIZE));
    }
    char *fkey = json_dumps(reqs[1], JSON_COMPACT | JSON_SORT_KEYS);
    json_t *cached = fkey ? cat_facets_cached(fkey) : NULL;
    if (cached != NULL) {
        json_decref(reqs[1]);
        ans[1] = cached;
        rcs[1] = 0;
        if (web_ctl_calls(reqs, 1, ans, rcs) != 0) {
            free(fkey);
            json_decref(cached);
            return rcs[0];
        }
    } else {
        if (web_ctl_calls(reqs, 2, ans, rcs) != 0) {
            free(fkey);
            return rcs[0];
        }
        if (rcs[1] == 0 && fkey != NULL)
            cat_facets_keep(fkey, ans[1]);
    }
    free(fkey);

    page_begin(h, req, "Catalogue", 0);
    html_lit(h, "<h1>Catalogue of the network</h1>\n");
    cat_form(h, req);
    html_lit(h, "<div class=\"catalogue\">\n");
    if (rcs[1] == 0)
        cat_facets(h, req, ans[1]);
    else
        html_lit(h, "<aside id=\"facets\" aria-label=\"Refine the results\"></aside>\n");
    html_lit(h, "<section aria-labelledby=\"result-count\">\n");
    if (rcs[0] != 0) {
        resp->status = rcs[0] == HUB_E_IO ? 502 : 400;
        html_lit(h, "<p id=\"result-count\">No results</p>\n<p class=\"error\" role=\"alert\">");
        html_ctext(h, web_ctl_errmsg(ans[0]));
        html_lit(h, "</p>\n<ol id=\"results\"></ol>\n");
    } else {
        const json_t *views = json_object_get(ans[0], "records");
        const char *next = json_string_value(json_object_get(ans[0], "next"));
        json_t *shown = json_array();
        for (size_t i = skip; i < json_array_size(views); i++)
            json_array_append(shown, json_array_get(views, i));
        html_lit(h, "<p id=\"result-count\" role=\"status\">");
        if (rcs[1] == 0) {
            json_int_t total = json_integer_value(json_object_get(ans[1], "total"));
            int complete = json_is_true(json_object_get(ans[1], "complete"));
            html_printf(h, "%s%lld result%s", complete ? "" : "More than ", (long long)total,
                        total == 1 && complete ? "" : "s");
        } else {
            html_printf(h, "%zu results on this page", json_array_size(shown));
        }
        if (page > 1)
            html_printf(h, " · page %d", page);
        html_lit(h, "</p>\n<ol id=\"results\">\n");
        for (size_t i = 0; i < json_array_size(shown); i++)
            cat_result(h, req, json_array_get(shown, i));
        html_lit(h, "</ol>\n");
        if (page > 1 || (next != NULL && page < CAT_MAX_PAGE)) {
            html_lit(h, "<nav id=\"paging\" aria-label=\"Pages\">");
            if (page > 1) {
                html_lit(h, "<a rel=\"prev\" href=\"");
                cat_href(h, req, NULL, NULL, page - 1, NULL);
                html_lit(h, "\">Previous page</a>");
            }
            if (next != NULL && page < CAT_MAX_PAGE) {
                html_lit(h, "<a rel=\"next\" href=\"");
                cat_href(h, req, NULL, NULL, page + 1, next);
                html_lit(h, "\">Next page</a>");
            }
            html_lit(h, "</nav>\n");
        }
        cat_jsonld_list(h, req, shown, skip);
        json_decref(shown);
    }
    html_lit(h, "</section>\n</div>\n");
    page_end(h, req);
    json_decref(ans[0]);
    json_decref(ans[1]);
    return 0;
}

/* ---- one record -------------------------------------------------------------------------- */

static int cat_is_hex64(const char *s, size_t n) {
    if (n != HUB_HEX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void cat_versions(struct html *h, const json_t *versions) {
    size_t n = json_array_size(versions);
    size_t first = n > CAT_MAX_VERSIONS ? n - CAT_MAX_VERSIONS : 0;
    html_printf(h, "<section id=\"versions\"><h2>Versions</h2><p>%zu version%s.</p><ol>", n,
                n == 1 ? "" : "s");
    for (size_t i = n; i-- > first;) {
        const json_t *v = json_array_get(versions, i);
        html_printf(h, "<li data-seq=\"%lld\">",
                    (long long)json_integer_value(json_object_get(v, "seq")));
        html_jtext(h, v, "time");
        html_lit(h, " · entry <code>");
        const char *id = json_string_value(json_object_get(v, "id"));
        if (id != NULL)
            html_text(h, id, strnlen(id, 16));
        html_lit(h, "</code>");
        if (json_is_true(json_object_get(v, "purged")))
            html_lit(h, " · withdrawn");
        else if (i + 1 == n)
            html_lit(h, " · current");
        html_lit(h, "</li>");
    }
    html_lit(h, "</ol></section>\n");
}

static void cat_profile(struct html *h, const struct web_req *req, const char *author,
                        const json_t *profile) {
    const json_t *rec = json_object_get(profile, "record");
    html_lit(h, "<section id=\"hub-profile\"><h2>The hub</h2>");
    if (!json_is_object(rec)) {
        html_lit(h, "<p>This hub has not published a profile that this hub holds: ");
        view_hub_link(h, author, NULL);
        html_lit(h, "</p></section>\n");
        return;
    }
    html_lit(h, "<p>");
    view_hub_link(h, author, json_string_value(json_object_get(rec, "name")));
    const char *c = json_string_value(json_object_get(rec, "country"));
    if (c != NULL) {
        html_lit(h, " · ");
        html_ctext(h, c);
    }
    const char *r = json_string_value(json_object_get(rec, "region"));
    if (r != NULL) {
        html_lit(h, " · ");
        html_ctext(h, r);
    }
    const json_t *web = json_object_get(rec, "website");
    if (json_is_string(web)) {
        html_lit(h, " · ");
        html_link(h, json_string_value(web), json_string_length(web), NULL);
    }
    html_lit(h, "</p>");
    const json_t *d = view_text(rec, "descriptions", "description", req);
    if (d != NULL) {
        html_lit(h, "<p class=\"hub-description\">");
        html_text(h, json_string_value(d), json_string_length(d));
        html_lit(h, "</p>");
    }
    html_lit(h, "</section>\n");
}

static void cat_lineage(struct html *h, const json_t *rec, const json_t *lineage, int offer) {
    const json_t *based = json_object_get(rec, "based_on");
    const json_t *nodes = json_object_get(lineage, "nodes");
    size_t i;
    const json_t *n;

    html_lit(h, "<section id=\"lineage\"><h2>Train-the-trainer lineage</h2>");
    if (!offer) {
        html_lit(h, "<p>Only offers have a lineage.</p></section>\n");
        return;
    }
    if (json_is_object(based)) {
        const char *a = json_string_value(json_object_get(based, "author"));
        const char *k = json_string_value(json_object_get(based, "key"));
        if (a != NULL && k != NULL) {
            html_lit(h, "<p>Based on <a href=\"");
            view_record_href(h, a, "offer", k);
            html_lit(h, "\">");
            html_ctext(h, k);
            html_lit(h, "</a> by ");
            view_hub_name(h, a, NULL);
            html_lit(h, ".</p>");
        }
    }
    if (json_array_size(nodes) <= 1) {
        html_lit(h, "<p>No programme held here is based on this one.</p></section>\n");
        return;
    }
    html_lit(h, "<p>Programmes based on this one:</p><ul>");
    json_array_foreach((json_t *)nodes, i, n) {
        json_int_t depth = json_integer_value(json_object_get(n, "depth"));
        const char *a = json_string_value(json_object_get(n, "author"));
        const char *k = json_string_value(json_object_get(n, "key"));
        if (depth == 0 || a == NULL || k == NULL)
            continue;
        html_printf(h, "<li data-depth=\"%lld\">", (long long)depth);
        for (json_int_t d = 1; d < depth && d < 16; d++)
            html_lit(h, "↳ ");
        if (json_is_true(json_object_get(n, "held"))) {
            html_lit(h, "<a href=\"");
            view_record_href(h, a, "offer", k);
            html_lit(h, "\">");
            const json_t *t = json_object_get(n, "title");
            if (json_is_string(t))
                html_text(h, json_string_value(t), json_string_length(t));
            else
                html_ctext(h, k);
            html_lit(h, "</a>");
        } else {
            html_ctext(h, k);
            html_lit(h, " (not held here)");
        }
        html_lit(h, " · ");
        view_hub_name(h, a, json_string_value(json_object_get(n, "author_name")));
        html_lit(h, "</li>");
    }
    html_lit(h, "</ul>");
    if (json_is_true(json_object_get(lineage, "truncated")))
        html_lit(h, "<p>The lineage is longer than shown.</p>");
    html_lit(h, "</section>\n");
}

static int cat_record(struct web_req *req, struct web_resp *resp) {
    struct html *h = &resp->body;
    const char *p = req->rest, *s1, *s2;
    char author[HUB_HEX_LEN + 1], kind[16], refbuf[HUB_HEX_LEN + 2 + 16 + HUB_MAX_RECORD_KEY + 2];
    const char *key;
    json_t *reqs[4], *ans[4] = {NULL, NULL, NULL, NULL};
    int rcs[4], offer;

    s1 = strchr(p, '/');
    s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (s1 == NULL || s2 == NULL || !cat_is_hex64(p, (size_t)(s1 - p)) ||
        (size_t)(s2 - s1 - 1) >= sizeof kind || s2[1] == '\0' ||
        strlen(s2 + 1) > HUB_MAX_RECORD_KEY) {
        page_error(req, resp, 404, "There is no such record.");
        return 0;
    }
    memcpy(author, p, HUB_HEX_LEN);
    author[HUB_HEX_LEN] = '\0';
    memcpy(kind, s1 + 1, (size_t)(s2 - s1 - 1));
    kind[s2 - s1 - 1] = '\0';
    key = s2 + 1;
    /* a record key is text without control characters (PROTOCOL.md §10.1) */
    int key_ok = html_utf8_valid(key, strlen(key));
    for (const char *k = key; key_ok && *k; k++)
        if ((unsigned char)*k < 0x20 || *k == 0x7f)
            key_ok = 0;
    if (!key_ok || (strcmp(kind, "offer") != 0 && strcmp(kind, "request") != 0 &&
                    strcmp(kind, "profile") != 0)) {
        page_error(req, resp, 404, "There is no such record.");
        return 0;
    }
    offer = strcmp(kind, "offer") == 0;
    snprintf(refbuf, sizeof refbuf, "%s/%s/%s", author, kind, key);
    reqs[0] = json_pack("{s:s, s:s, s:s, s:s}", "op", "history", "author", author, "kind", kind,
                        "key", key);
    reqs[1] = json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "profile", "author", author,
                        "limit", 1);
    /* replies: counted by facets (bounded), not listed */
    reqs[2] = json_pack("{s:s, s:s, s:s, s:i}", "op", "facets", "kind", "response", "target",
                        refbuf, "top", 1);
    if (offer) {
        snprintf(refbuf, sizeof refbuf, "%s/%s", author, key);
        reqs[3] = json_pack("{s:s, s:s}", "op", "lineage", "root", refbuf);
    } else {
        reqs[3] = json_pack("{s:s}", "op", "id");
    }
    if (reqs[0] == NULL || reqs[1] == NULL || reqs[2] == NULL || reqs[3] == NULL) {
        for (int i = 0; i < 4; i++)
            json_decref(reqs[i]);
        return HUB_E_NOMEM;
    }
    if (web_ctl_calls(reqs, 4, ans, rcs) != 0)
        return rcs[0];
    if (rcs[0] == HUB_E_NOT_FOUND || rcs[0] == HUB_E_BAD_REQUEST || rcs[0] == HUB_E_RANGE) {
        page_error(req, resp, 404, "There is no such record on this hub.");
        goto out;
    }
    if (rcs[0] != 0) {
        for (int i = 0; i < 4; i++)
            json_decref(ans[i]);
        return rcs[0];
    }
    const json_t *versions = json_object_get(ans[0], "versions");
    const json_t *cur = json_array_get(versions, json_array_size(versions) - 1);
    json_t *view = NULL;
    /* The current version as query shows it (derived fields: hub name, seats left). */
    if (cur != NULL && !json_is_true(json_object_get(cur, "purged"))) {
        json_t *g = json_pack("{s:s, s:s}", "op", "get", "id",
                              json_string_value(json_object_get(cur, "id")));
        json_t *gans = NULL;
        if (g != NULL && web_ctl_call(g, &gans) == 0)
            view = json_incref(json_object_get(gans, "entry"));
        json_decref(gans);
    }
    if (view == NULL) {
        resp->status = 410;
        page_begin(h, req, "Withdrawn", 1);
        html_lit(h, "<article id=\"record\" data-kind=\"");
        html_cattr(h, kind);
        html_lit(h, "\"><p>This record was withdrawn by its hub; its content is gone.</p>");
        cat_versions(h, versions);
        html_lit(h, "</article>\n");
        page_end(h, req);
        goto out;
    }
    const json_t *rec = json_object_get(view, "record");
    const json_t *profile = json_array_get(json_object_get(ans[1], "records"), 0);
    const char *hubname = json_string_value(json_object_get(view, "author_name"));
    {
        /* page_begin escapes the <title>: it gets the unescaped text */
        const json_t *t = view_text(rec, "titles", "title", req);
        if (t == NULL)
            t = json_object_get(rec, "name");
        page_begin(h, req, json_is_string(t) ? json_string_value(t) : "Record", 0);
    }
    html_lit(h, "<article id=\"record\" data-kind=\"");
    html_cattr(h, kind);
    html_lit(h, "\">\n<h1 id=\"record-title\">");
    view_title(h, view, req);
    html_lit(h, "</h1>\n<p class=\"record-meta\">");
    html_ctext(h, cat_kind_label(kind));
    html_lit(h, " by ");
    view_hub_link(h, author, hubname);
    html_lit(h, " · published ");
    html_jtext(h, view, "time");
    const json_t *seats = json_object_get(view, "seats_left");
    if (json_is_integer(seats))
        html_printf(h, " · <span id=\"seats-left\">%lld seats left</span>",
                    (long long)json_integer_value(seats));
    else if (offer && json_is_true(json_object_get(view, "full")))
        html_lit(h, " · <span id=\"seats-left\">full</span>");
    html_lit(h, "</p>\n");
    if (rcs[2] == 0) {
        json_int_t n = json_integer_value(json_object_get(ans[2], "total"));
        int complete = json_is_true(json_object_get(ans[2], "complete"));
        html_printf(h, "<p id=\"reply-count\">%s%lld repl%s held by this hub.</p>\n",
                    complete ? "" : "More than ", (long long)n, n == 1 && complete ? "y" : "ies");
    } else {
        html_lit(h, "<p id=\"reply-count\">Replies: unknown.</p>\n");
    }
    if (req->signed_in && strcmp(kind, "profile") != 0) {
        html_lit(h, "<p><a id=\"reply-link\" href=\"/staff/reply?to=");
        html_curlenc(h, author);
        html_lit(h, "%2F");
        html_curlenc(h, kind);
        html_lit(h, "%2F");
        html_curlenc(h, key);
        html_printf(h, "\">%s</a></p>\n", offer ? "Enrol or reply" : "Answer this request");
    }
    if (json_is_object(rec))
        view_fields(h, rec);
    cat_versions(h, versions);
    cat_profile(h, req, author, profile);
    cat_lineage(h, rec, rcs[3] == 0 ? ans[3] : NULL, offer);
    html_lit(h, "</article>\n");
    /* schema.org: an offer as a Course, a profile as an Organization, a request as a Demand */
    json_t *ld = offer                          ? jsonld_offer(view)
                 : strcmp(kind, "profile") == 0 ? jsonld_org(view, author)
                                                : NULL;
    if (ld == NULL) {
        const json_t *t = view_text(rec, "titles", "title", req);
        ld = json_pack("{s:s}", "@type", "Demand");
        if (json_is_string(t))
            json_object_set(ld, "name", (json_t *)t);
        const json_t *d = view_text(rec, "descriptions", "description", req);
        if (json_is_string(d))
            json_object_set(ld, "description", (json_t *)d);
    }
    if (ld != NULL) {
        json_object_set_new(ld, "@context", json_string("https://schema.org"));
        html_json_script(h, ld);
        json_decref(ld);
    }
    page_end(h, req);
    json_decref(view);
out:
    for (int i = 0; i < 4; i++)
        json_decref(ans[i]);
    return 0;
}

/* ---- one hub ----------------------------------------------------------------------------- */

static int cat_hub(struct web_req *req, struct web_resp *resp) {
    struct html *h = &resp->body;
    const char *author = req->rest;
    json_t *reqs[2], *ans[2] = {NULL, NULL};
    int rcs[2];

    if (!cat_is_hex64(author, strlen(author))) {
        page_error(req, resp, 404, "There is no such hub.");
        return 0;
    }
    reqs[0] = json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "profile", "author", author,
                        "limit", 1);
    reqs[1] = json_pack("{s:s, s:[s,s], s:s, s:i}", "op", "query", "kind", "offer", "request",
                        "author", author, "limit", CAT_HUB_RECORDS);
    if (reqs[0] == NULL || reqs[1] == NULL) {
        json_decref(reqs[0]);
        json_decref(reqs[1]);
        return HUB_E_NOMEM;
    }
    if (web_ctl_calls(reqs, 2, ans, rcs) != 0)
        return rcs[0];
    if (rcs[0] != 0 || rcs[1] != 0) {
        int rc = rcs[0] != 0 ? rcs[0] : rcs[1];
        json_decref(ans[0]);
        json_decref(ans[1]);
        return rc;
    }
    const json_t *profile = json_array_get(json_object_get(ans[0], "records"), 0);
    const json_t *records = json_object_get(ans[1], "records");
    if (profile == NULL && json_array_size(records) == 0) {
        page_error(req, resp, 404, "This hub holds nothing of that hub.");
        goto out;
    }
    const json_t *rec = json_object_get(profile, "record");
    const char *name = json_string_value(json_object_get(rec, "name"));
    if (name == NULL && json_array_size(records) > 0)
        name = json_string_value(json_object_get(json_array_get(records, 0), "author_name"));
    {
        char fallback[16];
        snprintf(fallback, sizeof fallback, "hub %.8s", author);
        page_begin(h, req, name ? name : fallback, 1);
    }
    html_lit(h, "<p class=\"hub-key\">Hub key <code>");
    html_ctext(h, author);
    html_lit(h, "</code></p>\n");
    if (json_is_object(rec)) {
        html_lit(h, "<section id=\"hub-profile\"><h2>Profile</h2>");
        view_fields(h, rec);
        html_lit(h, "</section>\n");
    }
    html_printf(h, "<section id=\"hub-records\"><h2>Offers and requests</h2><ol id=\"results\">");
    for (size_t i = 0; i < json_array_size(records); i++)
        cat_result(h, req, json_array_get(records, i));
    html_lit(h, "</ol></section>\n");
    if (profile != NULL) {
        json_t *ld = jsonld_org((json_t *)profile, author);
        if (ld != NULL) {
            json_object_set_new(ld, "@context", json_string("https://schema.org"));
            html_json_script(h, ld);
            json_decref(ld);
        }
    }
    page_end(h, req);
out:
    json_decref(ans[0]);
    json_decref(ans[1]);
    return 0;
}

void web_catalogue_init(void) {
    web_route("GET", "/", WEB_PUBLIC, cat_search);
    web_route("GET", "/record/", WEB_PUBLIC, cat_record);
    web_route("GET", "/hub/", WEB_PUBLIC, cat_hub);
}
