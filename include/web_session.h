/* web_session.h: hubweb's staff sessions (node/hubweb/web_session.c): the session table, the
 * cookie, the CSRF token of each session, and the sign-in rate limit per client address. No
 * HTTP here: web_staff.c calls these with what it read from the request, so that they are
 * tested alone (tests/unit/test_web_session.c). Times are monotonic milliseconds.
 *
 * Threads: the table has a mutex and these functions do not take it themselves. A program that
 * shares a table between threads (hubweb's HTTP workers) holds web_sessions_lock around every
 * call below that takes the table, and copies out of a struct web_session what it needs before
 * web_sessions_unlock: a session pointer is valid only while the lock is held, since another
 * thread may end the session and a new sign-in reuse its slot. */
#ifndef HUB_WEB_SESSION_H
#define HUB_WEB_SESSION_H

#include "hub.h"
#include <stddef.h>
#include <stdint.h>

/* Bounds (PROTOCOL.md §10, "hubweb"). */
#define WEB_SESSION_MAX 1024          /* sessions at once: a new one replaces the oldest */
#define WEB_SESSION_ID_BYTES 32       /* random bytes of a session id and of a CSRF token */
#define WEB_SESSION_TEXT_LEN 43       /* their base64url form, no padding */
#define WEB_SIGNIN_SLOTS 1024         /* client addresses whose sign-in attempts are counted */
#define WEB_SIGNIN_WINDOW_MS 60000    /* [web] signin_attempts counts per this window */
#define WEB_CLIENT_MAX 64             /* bytes of a client address kept (IPv6 text is 45) */
#define WEB_FLASH_MAX 256             /* bytes of the message a session carries to its next page */
#define WEB_SESSION_COOKIE "hubweb_session"
#define WEB_PRE_COOKIE "hubweb_pre"   /* the sign-in form's CSRF token before a session exists */

struct web_session {
    char id[WEB_SESSION_TEXT_LEN + 1];   /* the cookie's value */
    char csrf[WEB_SESSION_TEXT_LEN + 1]; /* the forms' hidden csrf field */
    uint64_t created_ms, expires_ms;     /* monotonic; expires = created + session_ttl */
    uint64_t generation;                 /* of the web token it was signed in with */
    uint8_t token_hash[32];              /* BLAKE2b of that token: a token made anew (its file
                                            removed) at the same generation ends it too */
    char flash[WEB_FLASH_MAX];           /* shown once on the next page (after a redirect) */
    int used;
};

struct web_sessions;

/* A table for at most max sessions (0: WEB_SESSION_MAX) living ttl_s seconds, and a sign-in
 * limit of attempts per minute per client. Owned by the caller: web_sessions_destroy. */
int web_sessions_new(unsigned max, unsigned ttl_s, unsigned attempts, struct web_sessions **out)
    HUB_WUR;
void web_sessions_destroy(struct web_sessions **s);
void web_sessions_lock(struct web_sessions *s);
void web_sessions_unlock(struct web_sessions *s);

/* A new session for the web token (generation, token) that signed it in: fresh random id and
 * CSRF token. Replaces the oldest session when the table is full. Borrowed pointer, valid
 * until the session ends. */
int web_session_create(struct web_sessions *s, uint64_t now_ms, uint64_t generation,
                       const char *token, struct web_session **out) HUB_WUR;
/* The live session whose id is cookie (compared in constant time), NULL when none; an expired
 * session is ended on the way. */
struct web_session *web_session_find(struct web_sessions *s, const char *cookie, uint64_t now_ms);
/* 1 when the session was signed in with the current web token (generation and token hash
 * agree); else 0 and the session is ended: a rotation signs everybody out. */
int web_session_current(struct web_sessions *s, struct web_session *se, uint64_t generation,
                        const char *token);
void web_session_end(struct web_sessions *s, struct web_session *se);
size_t web_session_count(const struct web_sessions *s);

/* 1 when given is the session's CSRF token (constant time; NULL or another length: 0). */
int web_csrf_ok(const char *expected, const char *given);
/* 1 when typed is the web token: surrounding whitespace (a paste) is ignored, the comparison
 * is constant-time over the token's length. */
int web_token_ok(const char *typed, const char *token);
/* A fresh random token (base64url of WEB_SESSION_ID_BYTES) into out[WEB_SESSION_TEXT_LEN+1]. */
void web_random_token(char out[WEB_SESSION_TEXT_LEN + 1]);

/* Set-Cookie values. HttpOnly; SameSite=Strict; Path=/; Max-Age; Secure when secure. clear:
 * the header that removes the cookie. 0, or E_TOO_LARGE when cap is too small. */
int web_cookie_set(const char *name, const char *value, unsigned max_age_s, int secure,
                   char *out, size_t cap) HUB_WUR;
int web_cookie_clear(const char *name, int secure, char *out, size_t cap) HUB_WUR;

/* The request's client as the rate limit counts it, and whether it came over https. A peer on
 * loopback is a reverse proxy or tunnel on this host: then the last address of forwarded_for
 * (X-Forwarded-For: the proxy appends the address it saw) and forwarded_proto
 * (X-Forwarded-Proto) are believed; from any other peer they are ignored (a client could say
 * anything). out holds at most WEB_CLIENT_MAX - 1 bytes. */
void web_client_addr(const char *peer, const char *forwarded_for, char *out, size_t cap);
int web_request_secure(const char *peer, const char *forwarded_proto, int tls);

/* Counts one sign-in attempt of client: 1 when it is within the limit, 0 when the client has
 * made `attempts` already in the current window (refused, not counted). When every slot holds a
 * live window, clients without a slot share one overflow budget (the table stays bounded, and
 * an attacker with many addresses cannot reset anybody's count). */
int web_signin_allow(struct web_sessions *s, const char *client, uint64_t now_ms);
/* Seconds until client may try again (0: now). */
unsigned web_signin_wait_s(const struct web_sessions *s, const char *client, uint64_t now_ms);

#endif
