/* test_web_html: hubweb's escapers (node/hubweb/web_html.c), one per context: element text,
 * attribute value, link (http/https/mailto only), URL component and JSON inside
 * <script type="application/ld+json">. Every byte value goes through each escaper and the
 * output is checked against what the context allows; then the usual attack strings. */
#include "web.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *text_of(void (*fn)(struct html *, const char *, size_t), const char *s, size_t n) {
    struct html h;
    html_init(&h);
    fn(&h, s, n);
    assert_false(h.oom);
    if (h.p == NULL)
        return strdup("");
    return html_take(&h, NULL);
}

/* No byte that could open or close markup or an attribute survives, and the output is valid
 * UTF-8 without NUL or C0 controls other than tab and newline. */
static void assert_inert(const char *out) {
    const unsigned char *u = (const unsigned char *)out;
    for (size_t i = 0; u[i]; i++) {
        assert_true(u[i] != '<' && u[i] != '>' && u[i] != '"' && u[i] != '\'');
        if (u[i] == '&') {
            /* only our own entities */
            assert_true(strncmp(out + i, "&amp;", 5) == 0 || strncmp(out + i, "&lt;", 4) == 0 ||
                        strncmp(out + i, "&gt;", 4) == 0 || strncmp(out + i, "&quot;", 6) == 0 ||
                        strncmp(out + i, "&#39;", 5) == 0);
        }
        assert_true(u[i] >= 0x20 || u[i] == '\t' || u[i] == '\n');
        assert_true(u[i] != 0x7f);
    }
}

static void test_text_every_byte(void **state) {
    (void)state;
    for (int b = 0; b < 256; b++) {
        char in[3] = {'a', (char)b, 'z'};
        char *out = text_of(html_text, in, 3);
        assert_inert(out);
        /* a and z always come through, in order, around whatever b became */
        assert_int_equal(out[0], 'a');
        assert_int_equal(out[strlen(out) - 1], 'z');
        if ((b >= 0x20 && b < 0x7f && !strchr("&<>\"'", b)) || b == '\t' || b == '\n') {
            assert_int_equal(strlen(out), 3);
            assert_int_equal((unsigned char)out[1], b);
        } else if (b == 0 || b < 0x20 || b >= 0x7f) {
            assert_string_equal(out + 1, "\xEF\xBF\xBDz"); /* U+FFFD */
        }
        free(out);
        out = text_of(html_attr, in, 3);
        assert_inert(out);
        free(out);
    }
}

static void test_text_payloads(void **state) {
    (void)state;
    char *out = text_of(html_text, "\"><script>alert(1)</script>", 27);
    assert_string_equal(out, "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    free(out);
    out = text_of(html_attr, "x\" onmouseover=\"alert(1)", 24);
    assert_string_equal(out, "x&quot; onmouseover=&quot;alert(1)");
    free(out);
    out = text_of(html_text, "it's <b>&amp;</b>", 17);
    assert_string_equal(out, "it&#39;s &lt;b&gt;&amp;amp;&lt;/b&gt;");
    free(out);
    /* NUL in the middle is not the end of the string */
    out = text_of(html_text, "a\0<b", 4);
    assert_string_equal(out, "a\xEF\xBF\xBD&lt;b");
    free(out);
    /* valid UTF-8 passes: é, €, U+1F600, U+2028 (harmless in HTML text) */
    out = text_of(html_text, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xE2\x80\xA8", 12);
    assert_string_equal(out, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xE2\x80\xA8");
    free(out);
    /* invalid UTF-8: overlong '<' (C0 BC), a surrogate (ED A0 80), a truncated sequence, a
     * C1 control (C2 85): each byte or sequence becomes U+FFFD, never '<' */
    out = text_of(html_text, "\xC0\xBC|\xED\xA0\x80|\xE2\x82|\xC2\x85", 13);
    assert_inert(out);
    assert_null(strchr(out, '<'));
    assert_non_null(strstr(out, "\xEF\xBF\xBD"));
    assert_null(strstr(out, "\xC2\x85"));
    free(out);
}

static int url_ok(const char *s) {
    return html_url_ok(s, strlen(s));
}

static void test_url_filter(void **state) {
    (void)state;
    assert_true(url_ok("http://example.org/"));
    assert_true(url_ok("https://example.org/a?b=c&d=e"));
    assert_true(url_ok("HTTPS://EXAMPLE.ORG"));
    assert_true(url_ok("mailto:academy@example.pt"));
    assert_false(url_ok("javascript:alert(1)"));
    assert_false(url_ok("JaVaScRiPt:alert(1)"));
    assert_false(url_ok("&#106;avascript:alert(1)"));
    assert_false(url_ok("&#x6A;avascript:alert(1)"));
    assert_false(url_ok(" javascript:alert(1)"));
    assert_false(url_ok("java\tscript:alert(1)"));
    assert_false(url_ok("java\nscript:alert(1)"));
    assert_false(url_ok("\x01https://example.org"));
    assert_false(url_ok(" https://example.org"));
    assert_false(url_ok("data:text/html,<script>alert(1)</script>"));
    assert_false(url_ok("vbscript:msgbox(1)"));
    assert_false(url_ok("//evil.example/"));
    assert_false(url_ok("/relative"));
    assert_false(url_ok("https:\\\\evil.example"));
    assert_false(url_ok("http://"));
    assert_false(url_ok(""));
    assert_false(html_url_ok("https://a.example\0javascript:x", 30));
    assert_false(html_url_ok(NULL, 0));
}

static void test_link(void **state) {
    (void)state;
    struct html h;
    const char *u = "https://example.org/?a=1&b=\"2\"";
    html_init(&h);
    html_link(&h, u, strlen(u), NULL);
    assert_string_equal(h.p, "<a href=\"https://example.org/?a=1&amp;b=&quot;2&quot;\" "
                             "rel=\"nofollow noopener noreferrer\">https://example.org/?a=1&amp;"
                             "b=&quot;2&quot;</a>");
    html_free(&h);
    /* a refused URL is text, not a link */
    u = "javascript:alert(\"x\")";
    html_link(&h, u, strlen(u), NULL);
    assert_string_equal(h.p, "javascript:alert(&quot;x&quot;)");
    html_free(&h);
    u = "&#106;avascript:alert(1)";
    html_link(&h, u, strlen(u), "<b>home</b>");
    assert_string_equal(h.p, "&lt;b&gt;home&lt;/b&gt;");
    assert_null(strstr(h.p, "href"));
    html_free(&h);
}

static void test_urlenc(void **state) {
    (void)state;
    for (int b = 0; b < 256; b++) {
        char in[1] = {(char)b};
        char *out = text_of(html_urlenc, in, 1);
        if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
            (b != 0 && strchr("-._~", b) != NULL)) {
            assert_int_equal(strlen(out), 1);
        } else {
            assert_int_equal(strlen(out), 3);
            assert_int_equal(out[0], '%');
        }
        free(out);
    }
    char *out = text_of(html_urlenc, "a b/\"<&", 7);
    assert_string_equal(out, "a%20b%2F%22%3C%26");
    free(out);
}

static void test_json_script(void **state) {
    (void)state;
    json_t *v = json_pack("{s:s, s:s, s:s#}", "name", "</script><script>alert(1)</script>", "sep",
                          "a\xE2\x80\xA8"
                          "b\xE2\x80\xA9"
                          "c",
                          "nul", "x\0<!--", 6);
    struct html h;
    html_init(&h);
    html_json_script(&h, v);
    assert_non_null(h.p);
    const char *body = h.p + strlen("<script type=\"application/ld+json\">");
    const char *end = strstr(body, "</script>");
    assert_non_null(end);
    /* the only </script> is ours, at the end; no <, >, & or raw U+2028/9 inside */
    assert_string_equal(end, "</script>\n");
    for (const char *p = body; p < end; p++) {
        assert_true(*p != '<' && *p != '>' && *p != '&');
        assert_false((unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
                     ((unsigned char)p[2] == 0xA8 || (unsigned char)p[2] == 0xA9));
    }
    /* and it is still the same JSON */
    json_error_t e;
    json_t *back = json_loadb(body, (size_t)(end - body), JSON_ALLOW_NUL, &e);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    json_decref(back);
    json_decref(v);
    html_free(&h);

    /* every byte of a raw JSON text: < > & become escapes, the rest stays */
    for (int b = 1; b < 256; b++) {
        char in[1] = {(char)b};
        char *out = text_of(html_json_text, in, 1);
        if (b == '<' || b == '>' || b == '&')
            assert_int_equal(strlen(out), 6);
        else
            assert_int_equal((unsigned char)out[0], b);
        free(out);
    }
}

/* Accept-Language picks a record's language version (titles/descriptions maps, BCP 47 keys):
 * an exact tag in the visitor's order, then a primary-subtag match, then the plain field. */
static const char *pick(const char *langs, const json_t *rec) {
    struct web_req req;
    memset(&req, 0, sizeof req);
    for (const char *p = langs; p && *p && req.nlangs < WEB_MAX_LANGS;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        memcpy(req.langs[req.nlangs], p, n);
        req.langs[req.nlangs++][n] = '\0';
        p = c ? c + 1 : NULL;
    }
    const json_t *v = view_text(rec, "titles", "title", &req);
    return v ? json_string_value(v) : NULL;
}

static void test_lang_pick(void **state) {
    (void)state;
    json_t *rec = json_pack("{s:s, s:{s:s, s:s, s:s}}", "title", "Plain", "titles", "de", "Deutsch",
                            "pt-BR", "Portugues do Brasil", "en", "English");
    assert_string_equal(pick("de", rec), "Deutsch");
    assert_string_equal(pick("de-at,en", rec), "Deutsch"); /* primary subtag */
    assert_string_equal(pick("fr,en", rec), "English");    /* the first one held */
    assert_string_equal(pick("pt", rec), "Portugues do Brasil");
    assert_string_equal(pick("pt-br", rec), "Portugues do Brasil"); /* any case */
    assert_string_equal(pick("fr", rec), "Plain");
    assert_string_equal(pick("", rec), "Plain");
    json_decref(rec);
    rec = json_pack("{s:s, s:{s:i}}", "title", "Plain", "titles", "de", 7); /* not a string */
    assert_string_equal(pick("de", rec), "Plain");
    json_decref(rec);
    rec = json_pack("{s:i}", "title", 7);
    assert_null(pick("de", rec));
    json_decref(rec);

    /* the version's key becomes its lang attribute only when it is a well-formed tag */
    struct html h;
    json_t *t = json_string("<Titel>");
    html_init(&h);
    view_lang_text(&h, t, "de-AT");
    assert_string_equal(h.p, "<span lang=\"de-AT\">&lt;Titel&gt;</span>");
    html_free(&h);
    static const char *const bad[] = {"d\" onclick=\"x",  "x", "deutsch", "de-", "de--at",
                                      "de-toolongsubtag", "",  "1a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        view_lang_text(&h, t, bad[i]);
        assert_string_equal(h.p, "&lt;Titel&gt;");
        html_free(&h);
    }
    json_decref(t);
}

static void test_utf8_valid(void **state) {
    (void)state;
    assert_true(html_utf8_valid("", 0));
    assert_true(html_utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14));
    assert_false(html_utf8_valid("\xFF", 1));
    assert_false(html_utf8_valid("\xC0\xBC", 2));         /* overlong '<' */
    assert_false(html_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(html_utf8_valid("\xE2\x82", 2));         /* cut short */
    assert_false(html_utf8_valid("a\0b", 3));             /* NUL */
    assert_false(html_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
}

static void test_growth(void **state) {
    (void)state;
    struct html h;
    html_init(&h);
    for (int i = 0; i < 100000; i++)
        html_text(&h, "<&>", 3);
    assert_false(h.oom);
    assert_int_equal(h.len, 100000 * strlen("&lt;&amp;&gt;"));
    html_printf(&h, "%d", 42);
    assert_int_equal(h.p[h.len - 1], '2');
    html_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_every_byte), cmocka_unit_test(test_text_payloads),
        cmocka_unit_test(test_url_filter),      cmocka_unit_test(test_link),
        cmocka_unit_test(test_urlenc),          cmocka_unit_test(test_json_script),
        cmocka_unit_test(test_growth),          cmocka_unit_test(test_lang_pick),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
