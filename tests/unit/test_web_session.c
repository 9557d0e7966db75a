/* test_web_session.c: hubweb's staff sessions (web_session.c): ids and CSRF tokens are fresh
 * and random, a session ends at its ttl, on sign-out, when the web token is rotated (another
 * generation) or made anew (same generation, other secret), and the oldest goes when the table
 * is full; the CSRF and token comparisons; the cookie's attributes (Secure only over https,
 * believed from a proxy on loopback only); the sign-in limit per client and its bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "web_session.h"

static const char *TOK1 = "MpQJ66BDr4iXGPDled8FQMndAZxuwUSJTETUC65osdA";
static const char *TOK2 = "HVadoN0oqD4tUkBteyCxb0a9sbU7x3HUaknSqpT5pHI";

static void test_create_find_expire(void **state) {
    (void)state;
    struct web_sessions *s;
    assert_int_equal(web_sessions_new(8, 60, 5, &s), 0);
    struct web_session *a, *b;
    assert_int_equal(web_session_create(s, 1000, 1, TOK1, &a), 0);
    assert_int_equal(strlen(a->id), WEB_SESSION_TEXT_LEN);
    assert_int_equal(strlen(a->csrf), WEB_SESSION_TEXT_LEN);
    assert_string_not_equal(a->id, a->csrf);
    char id_a[WEB_SESSION_TEXT_LEN + 1];
    memcpy(id_a, a->id, sizeof id_a);
    assert_int_equal(web_session_create(s, 1000, 1, TOK1, &b), 0);
    assert_string_not_equal(a->id, b->id);
    assert_ptr_equal(web_session_find(s, id_a, 2000), a);
    assert_int_equal(web_session_count(s), 2);
    /* a wrong id, one of another length, NULL */
    char wrong[WEB_SESSION_TEXT_LEN + 1];
    memcpy(wrong, id_a, sizeof wrong);
    wrong[5] = wrong[5] == 'A' ? 'B' : 'A';
    assert_null(web_session_find(s, wrong, 2000));
    assert_null(web_session_find(s, "short", 2000));
    assert_null(web_session_find(s, NULL, 2000));
    assert_null(web_session_find(s, "", 2000));
    /* ttl 60 s: alive just before, gone at the ttl */
    assert_ptr_equal(web_session_find(s, id_a, 1000 + 59999), a);
    assert_null(web_session_find(s, id_a, 1000 + 60000));
    assert_int_equal(web_session_count(s), 1);
    web_sessions_destroy(&s);
    assert_null(s);
}

static void test_end_and_rotation(void **state) {
    (void)state;
    struct web_sessions *s;
    assert_int_equal(web_sessions_new(8, 3600, 5, &s), 0);
    struct web_session *a;
    char id[WEB_SESSION_TEXT_LEN + 1];
    assert_int_equal(web_session_create(s, 1, 3, TOK1, &a), 0);
    memcpy(id, a->id, sizeof id);
    assert_int_equal(web_session_current(s, a, 3, TOK1), 1);
    /* rotated: generation 4 */
    assert_int_equal(web_session_current(s, a, 4, TOK2), 0);
    assert_null(web_session_find(s, id, 2));
    /* made anew after the file was removed: generation 1 again but another secret; and the
     * same generation with another secret */
    assert_int_equal(web_session_create(s, 1, 1, TOK1, &a), 0);
    memcpy(id, a->id, sizeof id);
    assert_int_equal(web_session_current(s, a, 1, TOK2), 0);
    assert_null(web_session_find(s, id, 2));
    /* sign-out */
    assert_int_equal(web_session_create(s, 1, 1, TOK1, &a), 0);
    memcpy(id, a->id, sizeof id);
    web_session_end(s, a);
    assert_null(web_session_find(s, id, 2));
    assert_int_equal(web_session_count(s), 0);
    web_session_end(s, a); /* twice: nothing */
    assert_int_equal(web_session_count(s), 0);
    web_sessions_destroy(&s);
}

static void test_full_table_drops_oldest(void **state) {
    (void)state;
    struct web_sessions *s;
    assert_int_equal(web_sessions_new(4, 3600, 5, &s), 0);
    char ids[6][WEB_SESSION_TEXT_LEN + 1];
    for (int i = 0; i < 6; i++) {
        struct web_session *se;
        assert_int_equal(web_session_create(s, 100 + (uint64_t)i, 1, TOK1, &se), 0);
        memcpy(ids[i], se->id, sizeof ids[i]);
    }
    assert_int_equal(web_session_count(s), 4);
    assert_null(web_session_find(s, ids[0], 200));
    assert_null(web_session_find(s, ids[1], 200));
    for (int i = 2; i < 6; i++)
        assert_non_null(web_session_find(s, ids[i], 200));
    web_sessions_destroy(&s);
}

static void test_csrf_and_token_compare(void **state) {
    (void)state;
    assert_int_equal(web_csrf_ok(TOK1, TOK1), 1);
    assert_int_equal(web_csrf_ok(TOK1, TOK2), 0);
    assert_int_equal(web_csrf_ok(TOK1, ""), 0);
    assert_int_equal(web_csrf_ok(TOK1, NULL), 0);
    assert_int_equal(web_csrf_ok("", ""), 0); /* no session: no token matches */
    assert_int_equal(web_csrf_ok(NULL, TOK1), 0);
    char longer[64];
    snprintf(longer, sizeof longer, "%sx", TOK1);
    assert_int_equal(web_csrf_ok(TOK1, longer), 0);
    assert_int_equal(web_token_ok(TOK1, TOK1), 1);
    char pasted[80];
    snprintf(pasted, sizeof pasted, "  %s\r\n", TOK1);
    assert_int_equal(web_token_ok(pasted, TOK1), 1);
    assert_int_equal(web_token_ok(TOK2, TOK1), 0);
    assert_int_equal(web_token_ok("", TOK1), 0);
    assert_int_equal(web_token_ok("   ", TOK1), 0);
    assert_int_equal(web_token_ok(TOK1, ""), 0);
    char prefix[20];
    memcpy(prefix, TOK1, 19);
    prefix[19] = '\0';
    assert_int_equal(web_token_ok(prefix, TOK1), 0);
    /* random tokens differ and are base64url */
    char a[WEB_SESSION_TEXT_LEN + 1], b[WEB_SESSION_TEXT_LEN + 1];
    web_random_token(a);
    web_random_token(b);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     WEB_SESSION_TEXT_LEN);
}

static void test_cookie(void **state) {
    (void)state;
    char c[256];
    assert_int_equal(web_cookie_set(WEB_SESSION_COOKIE, TOK1, 43200, 0, c, sizeof c), 0);
    char want[256];
    snprintf(want, sizeof want,
             "hubweb_session=%s; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict", TOK1);
    assert_string_equal(c, want);
    assert_int_equal(web_cookie_set(WEB_SESSION_COOKIE, TOK1, 43200, 1, c, sizeof c), 0);
    assert_non_null(strstr(c, "; HttpOnly; SameSite=Strict; Secure"));
    assert_int_equal(web_cookie_clear(WEB_SESSION_COOKIE, 0, c, sizeof c), 0);
    assert_string_equal(c, "hubweb_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    assert_int_equal(web_cookie_set(WEB_SESSION_COOKIE, TOK1, 1, 0, c, 20), HUB_E_TOO_LARGE);
    /* https: the connection's own TLS, or a proxy on loopback that says so */
    assert_int_equal(web_request_secure("10.0.0.9", NULL, 1), 1);
    assert_int_equal(web_request_secure("127.0.0.1", "https", 0), 1);
    assert_int_equal(web_request_secure("::1", "HTTPS", 0), 1);
    assert_int_equal(web_request_secure("127.0.0.1", "http", 0), 0);
    assert_int_equal(web_request_secure("127.0.0.1", NULL, 0), 0);
    assert_int_equal(web_request_secure("192.0.2.7", "https", 0), 0); /* not believed */
}

static void test_client_addr(void **state) {
    (void)state;
    char out[WEB_CLIENT_MAX];
    web_client_addr("192.0.2.7", "203.0.113.5", out, sizeof out);
    assert_string_equal(out, "192.0.2.7"); /* a remote client's header is ignored */
    web_client_addr("127.0.0.1", "198.51.100.1, 203.0.113.5", out, sizeof out);
    assert_string_equal(out, "203.0.113.5"); /* the address the proxy appended */
    web_client_addr("127.0.0.1", " 2001:db8::1 ", out, sizeof out);
    assert_string_equal(out, "2001:db8::1");
    web_client_addr("127.0.0.1", "", out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
    web_client_addr("::1", "1.2.3.4,  ", out, sizeof out);
    assert_string_equal(out, "::1"); /* an empty last element: the peer */
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    web_client_addr("127.0.0.1", big, out, sizeof out);
    assert_int_equal(strlen(out), WEB_CLIENT_MAX - 1);
    web_client_addr(NULL, NULL, out, sizeof out);
    assert_string_equal(out, "");
}

static void test_signin_limit(void **state) {
    (void)state;
    struct web_sessions *s;
    assert_int_equal(web_sessions_new(8, 3600, 3, &s), 0);
    uint64_t t = 5000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(web_signin_allow(s, "192.0.2.1", t + (uint64_t)i), 1);
    assert_int_equal(web_signin_allow(s, "192.0.2.1", t + 10), 0);
    assert_int_equal(web_signin_allow(s, "192.0.2.1", t + 20), 0);
    assert_int_equal(web_signin_wait_s(s, "192.0.2.1", t + 20), 60);
    assert_int_equal(web_signin_wait_s(s, "192.0.2.1", t + 59000), 1);
    /* another client is not affected */
    assert_int_equal(web_signin_allow(s, "192.0.2.2", t + 30), 1);
    assert_int_equal(web_signin_wait_s(s, "192.0.2.2", t + 30), 0);
    /* the next window */
    assert_int_equal(web_signin_allow(s, "192.0.2.1", t + WEB_SIGNIN_WINDOW_MS), 1);
    web_sessions_destroy(&s);
}

/* Every slot live: new addresses share one overflow budget; the table's clients keep theirs
 * (an attacker with many addresses neither resets a count nor grows the table). */
static void test_signin_table_bounded(void **state) {
    (void)state;
    struct web_sessions *s;
    assert_int_equal(web_sessions_new(8, 3600, 2, &s), 0);
    char a[32];
    for (int i = 0; i < WEB_SIGNIN_SLOTS; i++) {
        snprintf(a, sizeof a, "10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(web_signin_allow(s, a, 1000), 1);
    }
    assert_int_equal(web_signin_allow(s, "10.0.0.0", 1001), 1);
    assert_int_equal(web_signin_allow(s, "10.0.0.0", 1002), 0); /* its own count kept */
    assert_int_equal(web_signin_allow(s, "198.51.100.1", 1003), 1);
    assert_int_equal(web_signin_allow(s, "198.51.100.2", 1004), 1);
    assert_int_equal(web_signin_allow(s, "198.51.100.3", 1005), 0); /* overflow spent */
    assert_int_equal(web_signin_wait_s(s, "198.51.100.9", 1006), 60);
    /* once the windows pass, slots are free again */
    assert_int_equal(web_signin_allow(s, "198.51.100.3", 1000 + WEB_SIGNIN_WINDOW_MS), 1);
    web_sessions_destroy(&s);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_find_expire),
        cmocka_unit_test(test_end_and_rotation),
        cmocka_unit_test(test_full_table_drops_oldest),
        cmocka_unit_test(test_csrf_and_token_compare),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_client_addr),
        cmocka_unit_test(test_signin_limit),
        cmocka_unit_test(test_signin_table_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
