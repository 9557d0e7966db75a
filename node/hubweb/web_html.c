/* web_html.c: the HTML builder of hubweb and its escapers, one per context (STYLE.md, "Processes
 * and hostile content"): element text, attribute value, link (http, https and mailto only),
 * URL component, and JSON inside <script type="application/ld+json">.
 *
 * Record content comes from other hubs: it may hold any byte. The text escapers therefore also
 * check UTF-8 themselves (a browser would otherwise guess at broken sequences) and turn NUL and
 * control characters into U+FFFD, so what reaches the page is always well-formed text.
 * tests/unit/test_web_html.c feeds them every byte value and the usual attack strings. */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTML_FIRST_CAP 4096
#define HTML_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

void html_init(struct html *h) {
    h->p = NULL;
    h->len = h->cap = 0;
    h->oom = 0;
}

void html_free(struct html *h) {
    free(h->p);
    html_init(h);
}

char *html_take(struct html *h, size_t *len) {
    char *p = h->p;
    if (len != NULL)
        *len = h->len;
    html_init(h);
    return p;
}

static int html_grow(struct html *h, size_t need) {
    size_t cap;
    char *p;

    if (h->oom)
        return -1;
    if (need <= h->cap - h->len)
        return 0;
    cap = h->cap ? h->cap : HTML_FIRST_CAP;
    while (cap - h->len < need) {
        if (cap > SIZE_MAX / 2) {
            h->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    p = realloc(h->p, cap);
    if (p == NULL) {
        h->oom = 1;
        return -1;
    }
    h->p = p;
    h->cap = cap;
    return 0;
}

void html_raw(struct html *h, const char *s, size_t n) {
    /* +1 keeps room for a terminating NUL, so the text can be read as a C string. */
    if (html_grow(h, n + 1) != 0)
        return;
    memcpy(h->p + h->len, s, n);
    h->len += n;
    h->p[h->len] = '\0';
}

void html_printf(struct html *h, const char *fmt, ...) {
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || html_grow(h, (size_t)n + 1) != 0) {
        h->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(h->p + h->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one (overlong
 * forms, surrogates and code points above U+10FFFF are not). */
static size_t html_utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

int html_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = html_utf8_len(u + i, n - i);
        if (len == 0 || u[i] == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* Shared by text and attribute values: inside a double-quoted attribute the same five
 * characters are the only ones that matter, and escaping all five everywhere keeps one rule. */
static void html_escape(struct html *h, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    if (s == NULL)
        return;
    while (i < n) {
        unsigned char c = u[i];
        const char *rep = NULL;
        size_t len = 1;

        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                rep = HTML_REPLACEMENT;
            } else if (c >= 0x80) {
                len = html_utf8_len(u + i, n - i);
                if (len == 0) {
                    rep = HTML_REPLACEMENT;
                    len = 1;
                } else if (len == 2 && c == 0xC2 && u[i + 1] < 0xA0) {
                    rep = HTML_REPLACEMENT; /* C1 controls U+0080..U+009F */
                }
            }
            break;
        }
        if (rep != NULL) {
            html_raw(h, s + i - run, run);
            run = 0;
            html_raw(h, rep, strlen(rep));
            i += len;
        } else {
            run += len;
            i += len;
        }
    }
    html_raw(h, s + n - run, run);
}

void html_text(struct html *h, const char *s, size_t n) {
    html_escape(h, s, n);
}

void html_ctext(struct html *h, const char *s) {
    if (s != NULL)
        html_escape(h, s, strlen(s));
}

void html_attr(struct html *h, const char *s, size_t n) {
    html_escape(h, s, n);
}

void html_cattr(struct html *h, const char *s) {
    if (s != NULL)
        html_escape(h, s, strlen(s));
}

int html_url_ok(const char *s, size_t n) {
    static const char *const schemes[] = {"http://", "https://", "mailto:"};
    size_t i;

    if (s == NULL)
        return 0;
    /* Browsers strip leading spaces and controls and drop tabs and newlines anywhere in a URL
     * before they read the scheme; refusing every such byte means what is checked here is what
     * a browser would read. Backslashes count as slashes in http URLs: refused too. */
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '\\')
            return 0;
    }
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t sl = strlen(schemes[i]);
        if (n > sl && strncasecmp(s, schemes[i], sl) == 0)
            return 1;
    }
    return 0;
}

void html_link(struct html *h, const char *url, size_t n, const char *text) {
    if (html_url_ok(url, n)) {
        html_lit(h, "<a href=\"");
        html_attr(h, url, n);
        html_lit(h, "\" rel=\"nofollow noopener noreferrer\">");
        if (text != NULL)
            html_ctext(h, text);
        else
            html_text(h, url, n);
        html_lit(h, "</a>");
    } else if (text != NULL) {
        html_ctext(h, text);
    } else {
        html_text(h, url, n);
    }
}

void html_urlenc(struct html *h, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    char buf[3];

    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            html_raw(h, (const char *)&s[i], 1);
        } else {
            buf[0] = '%';
            buf[1] = hex[c >> 4];
            buf[2] = hex[c & 15];
            html_raw(h, buf, 3);
        }
    }
}

void html_curlenc(struct html *h, const char *s) {
    if (s != NULL)
        html_urlenc(h, s, strlen(s));
}

void html_json_text(struct html *h, const char *json, size_t n) {
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)json[i];
        const char *rep = NULL;
        size_t skip = 1;

        if (c == '<')
            rep = "\\u003c";
        else if (c == '>')
            rep = "\\u003e";
        else if (c == '&')
            rep = "\\u0026";
        else if (c == 0xE2 && i + 2 < n && (unsigned char)json[i + 1] == 0x80 &&
                 ((unsigned char)json[i + 2] == 0xA8 || (unsigned char)json[i + 2] == 0xA9)) {
            rep = (unsigned char)json[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (rep != NULL) {
            html_raw(h, json + i - run, run);
            run = 0;
            html_raw(h, rep, strlen(rep));
            i += skip - 1;
        } else {
            run++;
        }
    }
    html_raw(h, json + n - run, run);
}

void html_json_script(struct html *h, const json_t *v) {
    /* jansson escapes control characters and NUL, and refuses invalid UTF-8 in its strings. */
    char *s = json_dumps(v, JSON_COMPACT);
    if (s == NULL) {
        h->oom = 1;
        return;
    }
    html_lit(h, "<script type=\"application/ld+json\">");
    html_json_text(h, s, strlen(s));
    html_lit(h, "</script>\n");
    free(s);
}

void html_jtext(struct html *h, const json_t *obj, const char *member) {
    const json_t *v = json_object_get(obj, member);
    if (json_is_string(v))
        html_text(h, json_string_value(v), json_string_length(v));
}
