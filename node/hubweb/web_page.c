/* web_page.c: the layout every hubweb page shares: <html lang>, the head with the built-in
 * assets (no inline script or style: the CSP forbids them), the navigation, <main id="main">,
 * the flash message and the footer; and the error pages. The ids are those of
 * WEB_CONTRACT.md (the browser tests find the page by them). */
#include "hub.h"
#include "web.h"

#include <string.h>

void page_begin(struct html *h, const struct web_req *req, const char *title, int h1) {
    const struct web_conf *conf = web_config();

    html_lit(h, "<!doctype html>\n<html lang=\"");
    html_cattr(h, req->lang);
    html_lit(h, "\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    html_ctext(h, title);
    html_lit(h, " · hubnet</title>\n<link rel=\"stylesheet\" href=\"/assets/app.css?v=");
    html_cattr(h, web_asset_etag("app.css"));
    html_lit(h, "\">\n<script src=\"/assets/app.js?v=");
    html_cattr(h, web_asset_etag("app.js"));
    html_lit(h, "\" defer></script>\n</head>\n<body>\n"
                "<a class=\"skip\" href=\"#main\">Skip to the content</a>\n"
                "<header>\n<nav id=\"nav\" aria-label=\"Main\">\n<ul>\n");
    if (conf == NULL || conf->catalogue || req->signed_in)
        html_lit(h, "<li><a href=\"/\">Catalogue</a></li>\n"
                    "<li><a href=\"/network\">Network</a></li>\n");
    if (req->signed_in) {
        html_lit(h, "<li><a href=\"/staff\">Staff</a></li>\n<li><form class=\"signout\" "
                    "method=\"post\" action=\"/signout\">");
        page_csrf(h, req);
        html_lit(h, "<button type=\"submit\">Sign out</button></form></li>\n");
    } else {
        html_lit(h, "<li><a href=\"/signin\">Staff sign-in</a></li>\n");
    }
    html_lit(h, "</ul>\n</nav>\n</header>\n<main id=\"main\">\n");
    if (req->flash != NULL && req->flash[0] != '\0') {
        html_lit(h, "<p id=\"flash\" role=\"status\">");
        html_ctext(h, req->flash);
        html_lit(h, "</p>\n");
    }
    if (h1) {
        html_lit(h, "<h1>");
        html_ctext(h, title);
        html_lit(h, "</h1>\n");
    }
}

void page_end(struct html *h, const struct web_req *req) {
    (void)req;
    html_lit(h, "</main>\n<footer>\n<p>hubnet " HUB_VERSION
                " · <a href=\"/network\">the network</a></p>\n</footer>\n</body>\n</html>\n");
}

void page_csrf(struct html *h, const struct web_req *req) {
    html_lit(h, "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_cattr(h, req->csrf);
    html_lit(h, "\">");
}

void page_error(struct web_req *req, struct web_resp *resp, int status, const char *message) {
    const char *title;

    switch (status) {
    case 400:
        title = "Bad request";
        break;
    case 403:
        title = "Forbidden";
        break;
    case 404:
        title = "Not found";
        break;
    case 405:
        title = "Method not allowed";
        break;
    case 413:
        title = "Too large";
        break;
    case 429:
        title = "Too many requests";
        break;
    case 502:
        title = "The hub is not answering";
        break;
    default:
        title = "Error";
        break;
    }
    resp->status = status;
    resp->content_type = NULL;
    html_free(&resp->body);
    page_begin(&resp->body, req, title, 1);
    html_lit(&resp->body, "<p class=\"error\">");
    html_ctext(&resp->body, message);
    html_lit(&resp->body, "</p>\n<p><a href=\"/\">Back to the catalogue</a></p>\n");
    page_end(&resp->body, req);
}
