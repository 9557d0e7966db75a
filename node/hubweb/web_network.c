/* web_network.c: the network as this hub sees it: the hubs it knows (profiles, trusted hubs,
 * peers: name, country, type), its replication sessions (state, lag, counters), the forks it
 * found, and a drawing of who peers with whom and who endorses whom. /network is the page,
 * /network.json the same data, /network.svg the drawing alone.
 *
 * The drawing is SVG written here (no library): the hubs on a circle, this hub first at the
 * top; a line for each of this hub's replication sessions, a dashed arrow for each endorsement
 * held (the signed "I trust this hub" records that build the web of trust, PROTOCOL.md 9.10).
 * Only presentation attributes, no <style> or script: the page's CSP allows neither. Names are
 * foreign text, escaped into <title> and <text>. */
#include "hub.h"
#include "web.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NET_MAX_HUBS 200     /* hubs drawn and listed (the rest are counted) */
#define NET_QUERY_LIMIT 1000 /* profiles and endorsements read (query's limit) */
#define NET_LABEL_MAX 24     /* bytes of a name written next to its node */
#define NET_SIZE 720         /* the drawing's width and height */
#define NET_RADIUS 260       /* the circle the hubs sit on */
#define NET_MAX_EDGES 4000   /* edges kept */

/* The hubs met while collecting: one object each in hubs, found by key through index. */
struct net_ctx {
    json_t *hubs, *index;
    const char *me;
    size_t dropped; /* hubs beyond NET_MAX_HUBS */
};

/* The hub object of key (borrowed), made on first sight; NULL beyond NET_MAX_HUBS. */
static json_t *net_hub(struct net_ctx *c, const char *key) {
    json_t *h;
    if (key == NULL)
        return NULL;
    h = json_object_get(c->index, key);
    if (h != NULL)
        return h;
    if (json_array_size(c->hubs) >= NET_MAX_HUBS) {
        c->dropped++;
        return NULL;
    }
    h = json_pack("{s:s, s:b}", "key", key, "self", c->me != NULL && strcmp(c->me, key) == 0);
    if (h == NULL)
        return NULL;
    json_array_append_new(c->hubs, h);
    json_object_set(c->index, key, h);
    return h;
}

/* The data of the three URLs, collected from one batch of control calls. */
static int net_collect(json_t **out) {
    json_t *reqs[5], *ans[5] = {NULL};
    int rcs[5], rc = 0;

    reqs[0] = json_pack("{s:s}", "op", "status");
    reqs[1] = json_pack("{s:s}", "op", "peers");
    reqs[2] = json_pack("{s:s}", "op", "trust");
    reqs[3] =
        json_pack("{s:s, s:s, s:i}", "op", "query", "kind", "profile", "limit", NET_QUERY_LIMIT);
    reqs[4] = json_pack("{s:s, s:s, s:i}", "op", "query", "kind", "endorsement", "limit",
                        NET_QUERY_LIMIT);
    if (web_ctl_calls(reqs, 5, ans, rcs) != 0)
        return rcs[0];
    if (rcs[0] != 0) {
        rc = rcs[0];
        goto out;
    }
    const char *me = json_string_value(json_object_get(ans[0], "hub"));
    json_t *hubs = json_array(), *edges = json_array(), *index = json_object();
    json_t *net = json_pack("{s:s?, s:o, s:o, s:O?, s:O?, s:O?}", "hub", me, "hubs", hubs, "edges",
                            edges, "peers", json_object_get(ans[1], "peers"), "forks",
                            json_object_get(ans[0], "forks"), "policy",
                            json_object_get(json_object_get(ans[0], "sync"), "policy"));
    if (net == NULL || index == NULL) {
        json_decref(net);
        json_decref(index);
        rc = HUB_E_NOMEM;
        goto out;
    }
    struct net_ctx ctx = {hubs, index, me, 0};
    if (me != NULL)
        (void)net_hub(&ctx, me);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ans[3], "records"), i, v) {
        const char *k = json_string_value(json_object_get(v, "author"));
        json_t *h = net_hub(&ctx, k), *rec = json_object_get(v, "record");
        if (h == NULL)
            continue;
        json_t *name = json_object_get(rec, "name"), *country = json_object_get(rec, "country");
        json_t *type = json_object_get(rec, "hub_type"); /* edih, seal_of_excellence, ... */
        if (json_is_string(name))
            json_object_set(h, "name", name);
        if (json_is_string(country))
            json_object_set(h, "country", country);
        if (json_is_string(type))
            json_object_set(h, "type", type);
        json_object_set_new(h, "profile", json_true());
    }
    json_array_foreach(json_object_get(ans[2], "hubs"), i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        json_t *h = net_hub(&ctx, k);
        if (h == NULL)
            continue;
        json_object_set(h, "via", json_object_get(v, "via"));
        json_object_set(h, "hop", json_object_get(v, "hop"));
        if (!json_object_get(h, "name") && json_is_string(json_object_get(v, "name")))
            json_object_set(h, "name", json_object_get(v, "name"));
        if (!json_object_get(h, "country") && json_is_string(json_object_get(v, "country")))
            json_object_set(h, "country", json_object_get(v, "country"));
    }
    /* edges: this hub's sessions (one per peer, whatever the direction), endorsements held */
    json_t *seen = json_object();
    json_array_foreach(json_object_get(ans[1], "peers"), i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        if (k == NULL || me == NULL || json_object_get(seen, k) || net_hub(&ctx, k) == NULL)
            continue;
        json_object_set_new(seen, k, json_true());
        json_t *h = json_object_get(index, k);
        json_object_set(h, "state", json_object_get(v, "state"));
        if (json_array_size(edges) < NET_MAX_EDGES)
            json_array_append_new(edges,
                                  json_pack("{s:s, s:s, s:s, s:O?}", "type", "peer", "from", me,
                                            "to", k, "state", json_object_get(v, "state")));
    }
    json_decref(seen);
    json_array_foreach(json_object_get(ans[4], "records"), i, v) {
        const char *from = json_string_value(json_object_get(v, "author"));
        const char *to = json_string_value(json_object_get(json_object_get(v, "record"), "hub"));
        if (from == NULL || to == NULL || net_hub(&ctx, from) == NULL || net_hub(&ctx, to) == NULL)
            continue;
        if (json_array_size(edges) < NET_MAX_EDGES)
            json_array_append_new(
                edges, json_pack("{s:s, s:s, s:s}", "type", "endorsement", "from", from, "to", to));
    }
    json_object_set_new(net, "hubs_not_shown", json_integer((json_int_t)ctx.dropped));
    json_object_set_new(net, "profiles_complete",
                        json_boolean(json_object_get(ans[3], "next") == NULL));
    json_decref(index);
    *out = net;
out:
    for (int k = 0; k < 5; k++)
        json_decref(ans[k]);
    return rc;
}

/* A name cut to NET_LABEL_MAX bytes at a character boundary, with "…". */
static void net_label(struct html *h, const char *s) {
    size_t n = strlen(s);
    if (n <= NET_LABEL_MAX) {
        html_text(h, s, n);
        return;
    }
    n = NET_LABEL_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    html_text(h, s, n);
    html_lit(h, "…");
}

static void net_svg(struct html *h, const json_t *net, int standalone) {
    const json_t *hubs = json_object_get(net, "hubs"), *edges = json_object_get(net, "edges");
    size_t n = json_array_size(hubs), i;
    const json_t *v;
    double cx = NET_SIZE / 2.0, cy = NET_SIZE / 2.0;
    double x[NET_MAX_HUBS], y[NET_MAX_HUBS];

    for (i = 0; i < n && i < NET_MAX_HUBS; i++) {
        double a = -M_PI / 2 + 2 * M_PI * (double)i / (double)(n ? n : 1);
        x[i] = n == 1 ? cx : cx + NET_RADIUS * cos(a);
        y[i] = n == 1 ? cy : cy + NET_RADIUS * sin(a);
    }
    if (standalone)
        html_lit(h, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    html_printf(h,
                "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                "width=\"%d\" height=\"%d\" role=\"img\" aria-labelledby=\"graph-title "
                "graph-desc\">\n<title id=\"graph-title\">Hubs this hub knows</title>\n"
                "<desc id=\"graph-desc\">%zu hubs on a circle; solid lines: this hub's "
                "replication sessions; dashed arrows: endorsements (who trusts whom).</desc>\n",
                NET_SIZE, NET_SIZE + 60, NET_SIZE, NET_SIZE + 60, n);
    html_lit(h, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"18\" refY=\"5\" "
                "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">"
                "<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#1a7f37\"/></marker></defs>\n");
    json_array_foreach((json_t *)edges, i, v) {
        const char *from = json_string_value(json_object_get(v, "from"));
        const char *to = json_string_value(json_object_get(v, "to"));
        const char *type = json_string_value(json_object_get(v, "type"));
        size_t a = SIZE_MAX, b = SIZE_MAX, j;
        const json_t *hv;
        json_array_foreach((json_t *)hubs, j, hv) {
            const char *k = json_string_value(json_object_get(hv, "key"));
            if (k != NULL && from != NULL && strcmp(k, from) == 0)
                a = j;
            if (k != NULL && to != NULL && strcmp(k, to) == 0)
                b = j;
        }
        if (a >= n || b >= n || a == b || type == NULL)
            continue;
        if (strcmp(type, "peer") == 0)
            html_printf(h,
                        "<line class=\"edge-peer\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                        "y2=\"%.1f\" stroke=\"#0b57a4\" stroke-width=\"2.5\"/>\n",
                        x[a], y[a], x[b], y[b]);
        else {
            /* a curve bent to its left: an endorsement next to a session line between the
             * same hubs, and the two directions of mutual endorsements, stay apart */
            double mx = (x[a] + x[b]) / 2, my = (y[a] + y[b]) / 2;
            double dx = x[b] - x[a], dy = y[b] - y[a];
            html_printf(h,
                        "<path class=\"edge-endorsement\" d=\"M %.1f %.1f Q %.1f %.1f %.1f "
                        "%.1f\" fill=\"none\" stroke=\"#1a7f37\" stroke-width=\"1.5\" "
                        "stroke-dasharray=\"6 4\" marker-end=\"url(#arrow)\"/>\n",
                        x[a], y[a], mx + dy * 0.15, my - dx * 0.15, x[b], y[b]);
        }
    }
    json_array_foreach((json_t *)hubs, i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        const char *name = json_string_value(json_object_get(v, "name"));
        int self = json_is_true(json_object_get(v, "self"));
        if (k == NULL || i >= NET_MAX_HUBS)
            continue;
        html_lit(h, "<g class=\"node\" data-key=\"");
        html_cattr(h, k);
        html_printf(h, "\"><title>");
        view_hub_name(h, k, name);
        html_lit(h, "</title>");
        html_printf(h, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" stroke=\"#1b1f24\"/>",
                    x[i], y[i], self ? 11 : 8, self ? "#f2b600" : "#ffffff");
        html_printf(h,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                    "fill=\"#1b1f24\">",
                    x[i], y[i] + (y[i] < cy ? -16.0 : 24.0));
        if (name != NULL)
            net_label(h, name);
        else
            html_text(h, k, 8);
        html_lit(h, "</text></g>\n");
    }
    /* legend, below the circle */
    html_printf(h,
                "<g class=\"legend\"><circle cx=\"20\" cy=\"%d\" r=\"8\" fill=\"#f2b600\" "
                "stroke=\"#1b1f24\"/><text x=\"34\" y=\"%d\" font-size=\"13\">this hub</text>"
                "<line x1=\"130\" y1=\"%d\" x2=\"180\" y2=\"%d\" stroke=\"#0b57a4\" "
                "stroke-width=\"2.5\"/><text x=\"188\" y=\"%d\" font-size=\"13\">replication "
                "session</text><line x1=\"350\" y1=\"%d\" x2=\"400\" y2=\"%d\" "
                "stroke=\"#1a7f37\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
                "<text x=\"408\" y=\"%d\" font-size=\"13\">endorses (arrow: whom)</text></g>\n",
                NET_SIZE + 30, NET_SIZE + 34, NET_SIZE + 30, NET_SIZE + 30, NET_SIZE + 34,
                NET_SIZE + 30, NET_SIZE + 30, NET_SIZE + 34);
    html_lit(h, "</svg>\n");
}

static int net_json(struct web_req *req, struct web_resp *resp) {
    json_t *net = NULL;
    int rc = net_collect(&net);
    (void)req;
    if (rc != 0)
        return rc;
    char *s = json_dumps(net, JSON_COMPACT);
    json_decref(net);
    if (s == NULL)
        return HUB_E_NOMEM;
    resp->content_type = "application/json";
    html_raw(&resp->body, s, strlen(s));
    html_lit(&resp->body, "\n");
    free(s);
    return 0;
}

static int net_svg_page(struct web_req *req, struct web_resp *resp) {
    json_t *net = NULL;
    int rc = net_collect(&net);
    (void)req;
    if (rc != 0)
        return rc;
    resp->content_type = "image/svg+xml";
    net_svg(&resp->body, net, 1);
    json_decref(net);
    return 0;
}

static void net_cell_u64(struct html *h, const json_t *o, const char *m) {
    const json_t *v = json_object_get(o, m);
    if (json_is_integer(v))
        html_printf(h, "<td>%lld</td>", (long long)json_integer_value(v));
    else
        html_lit(h, "<td></td>");
}

static int net_page(struct web_req *req, struct web_resp *resp) {
    struct html *h = &resp->body;
    json_t *net = NULL;
    int rc = net_collect(&net);
    size_t i;
    const json_t *v;

    if (rc != 0)
        return rc;
    const json_t *hubs = json_object_get(net, "hubs");
    page_begin(h, req, "Network", 1);
    html_printf(h,
                "<p>This hub knows %zu hub%s. <a href=\"/network.json\">The data as "
                "JSON</a> · <a href=\"/network.svg\">the drawing as SVG</a>.</p>\n",
                json_array_size(hubs), json_array_size(hubs) == 1 ? "" : "s");
    html_lit(h, "<section id=\"drawing\" aria-labelledby=\"drawing-h\"><h2 id=\"drawing-h\">"
                "Who peers with whom, who endorses whom</h2>\n");
    net_svg(h, net, 0);
    html_lit(h, "<ul class=\"legend\"><li>Yellow circle: this hub</li><li>Solid blue line: a "
                "replication session of this hub</li><li>Dashed green arrow: an endorsement "
                "(the hub at the arrow's end is trusted by the other)</li></ul></section>\n");

    html_lit(h, "<h2>Hubs</h2>\n<table id=\"hubs\"><thead><tr><th scope=\"col\">Hub</th>"
                "<th scope=\"col\">Country</th><th scope=\"col\">Type</th><th scope=\"col\">"
                "Trusted</th><th scope=\"col\">Key</th></tr></thead><tbody>\n");
    json_array_foreach((json_t *)hubs, i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        if (k == NULL)
            continue;
        html_lit(h, "<tr><td>");
        view_hub_link(h, k, json_string_value(json_object_get(v, "name")));
        if (json_is_true(json_object_get(v, "self")))
            html_lit(h, " (this hub)");
        html_lit(h, "</td><td>");
        html_jtext(h, v, "country");
        html_lit(h, "</td><td>");
        html_jtext(h, v, "type");
        html_lit(h, "</td><td>");
        const char *via = json_string_value(json_object_get(v, "via"));
        if (via != NULL) {
            html_ctext(h, via);
            html_printf(h, ", hop %lld", (long long)json_integer_value(json_object_get(v, "hop")));
        } else if (!json_is_true(json_object_get(v, "self"))) {
            html_lit(h, "no");
        }
        html_lit(h, "</td><td><code>");
        html_text(h, k, 16);
        html_lit(h, "</code></td></tr>\n");
    }
    html_lit(h, "</tbody></table>\n");
    json_int_t dropped = json_integer_value(json_object_get(net, "hubs_not_shown"));
    if (dropped > 0)
        html_printf(h, "<p>%lld more hubs are not shown.</p>\n", (long long)dropped);

    html_lit(h, "<h2>Replication sessions</h2>\n<table id=\"peers\"><thead><tr>"
                "<th scope=\"col\">Hub</th><th scope=\"col\">Direction</th><th scope=\"col\">"
                "State</th><th scope=\"col\">Last heard</th><th scope=\"col\">Behind us</th>"
                "<th scope=\"col\">Behind them</th><th scope=\"col\">Sent</th>"
                "<th scope=\"col\">Received</th><th scope=\"col\">Rejected</th></tr></thead>"
                "<tbody>\n");
    json_array_foreach(json_object_get(net, "peers"), i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        if (k == NULL)
            continue;
        const json_t *hv = NULL;
        size_t j;
        const json_t *x;
        json_array_foreach((json_t *)hubs, j, x) {
            const char *hk = json_string_value(json_object_get(x, "key"));
            if (hk != NULL && strcmp(hk, k) == 0)
                hv = x;
        }
        html_lit(h, "<tr class=\"peer\" data-state=\"");
        html_cattr(h, json_string_value(json_object_get(v, "state")));
        html_lit(h, "\"><td>");
        view_hub_link(h, k, json_string_value(json_object_get(hv, "name")));
        html_lit(h, "</td><td>");
        html_jtext(h, v, "direction");
        html_lit(h, "</td><td>");
        html_jtext(h, v, "state");
        html_lit(h, "</td>");
        json_int_t heard = json_integer_value(json_object_get(v, "last_heard"));
        if (heard > 0) {
            json_int_t ago = ((json_int_t)hub_now_ms() - heard) / 1000;
            html_printf(h, "<td>%lld s ago</td>", (long long)(ago < 0 ? 0 : ago));
        } else {
            html_lit(h, "<td>never</td>");
        }
        net_cell_u64(h, v, "behind_us");
        net_cell_u64(h, v, "behind_them");
        net_cell_u64(h, v, "sent");
        net_cell_u64(h, v, "received");
        net_cell_u64(h, v, "rejected");
        html_lit(h, "</tr>\n");
    }
    html_lit(h, "</tbody></table>\n");

    const json_t *forks = json_object_get(net, "forks");
    html_lit(h, "<section id=\"forks\"><h2>Forks</h2>");
    if (json_array_size(forks) == 0) {
        html_lit(h, "<p>No fork found: no hub's key signed two histories.</p>");
    } else {
        html_lit(h, "<p>These hubs' keys signed two different entries at the same place in "
                    "their feed; their feeds are frozen here.</p><ul>");
        json_array_foreach((json_t *)forks, i, v) {
            const char *a = json_string_value(json_object_get(v, "author"));
            html_lit(h, "<li class=\"fork\">");
            if (a != NULL)
                view_hub_link(h, a, NULL);
            html_printf(h, " at seq %lld</li>",
                        (long long)json_integer_value(json_object_get(v, "seq")));
        }
        html_lit(h, "</ul>");
    }
    html_lit(h, "</section>\n");
    page_end(h, req);
    json_decref(net);
    return 0;
}

void web_network_init(void) {
    web_route("GET", "/network", WEB_PUBLIC, net_page);
    web_route("GET", "/network.json", WEB_PUBLIC, net_json);
    web_route("GET", "/network.svg", WEB_PUBLIC, net_svg_page);
}
