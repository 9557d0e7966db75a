/* web_assets.c: app.css and app.js, compiled into hubweb (node/hubweb/embed.cmake turns
 * node/hubweb/assets/ into a C array at build time), so hubweb serves no file from disk and
 * needs no third-party asset. Each asset gets an ETag (a hash of its bytes, computed at start):
 * pages link to /assets/NAME?v=ETAG, which may be cached for a year; a request that sends the
 * ETag back in If-None-Match gets 304. */
#include "web.h"

#include <stdio.h>
#include <string.h>

#define ASSET_MAX 8
#define ASSET_MAX_AGE "public, max-age=31536000, immutable"

struct web_asset_data {
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct web_asset_data web_asset_table[];
extern const size_t web_asset_count;

static struct {
    const struct web_asset_data *d;
    char etag[20]; /* 16 hex digits */
    const char *type;
} assets[ASSET_MAX];
static size_t nassets;

/* FNV-1a, 64 bits: a cache key, not a security check. */
static unsigned long long asset_hash(const unsigned char *p, size_t n) {
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int asset_serve(struct web_req *req, struct web_resp *resp) {
    for (size_t i = 0; i < nassets; i++) {
        if (strcmp(req->rest, assets[i].d->name) != 0)
            continue;
        char quoted[24];
        const char *inm = web_header(req, "If-None-Match");
        snprintf(quoted, sizeof(quoted), "\"%s\"", assets[i].etag);
        web_resp_header(resp, "ETag", quoted);
        web_resp_header(resp, "Cache-Control", ASSET_MAX_AGE);
        resp->content_type = assets[i].type;
        if (inm != NULL && strstr(inm, quoted) != NULL) {
            resp->status = 304;
            return 0;
        }
        html_raw(&resp->body, (const char *)assets[i].d->data, assets[i].d->len);
        return 0;
    }
    page_error(req, resp, 404, "There is no such file.");
    return 0;
}

void web_assets_init(void) {
    for (size_t i = 0; i < web_asset_count && nassets < ASSET_MAX; i++) {
        const struct web_asset_data *d = &web_asset_table[i];
        size_t n = strlen(d->name);
        assets[nassets].d = d;
        snprintf(assets[nassets].etag, sizeof(assets[nassets].etag), "%016llx",
                 asset_hash(d->data, d->len));
        assets[nassets].type = n > 4 && strcmp(d->name + n - 4, ".css") == 0
                                   ? "text/css; charset=utf-8"
                                   : "text/javascript; charset=utf-8";
        nassets++;
    }
    web_route("GET", "/assets/", WEB_OPEN, asset_serve);
}

const char *web_asset_etag(const char *name) {
    for (size_t i = 0; i < nassets; i++)
        if (strcmp(assets[i].d->name, name) == 0)
            return assets[i].etag;
    return "0";
}
