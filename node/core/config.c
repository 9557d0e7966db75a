/* config.c: hubd's configuration file (INI, parsed by libinih).
 *
 * Every key is checked when it is read: an unknown section or key, or a bad value, stops the
 * load with "FILE:LINE: reason" so that a typo never silently leaves a default in force.
 * config_print writes the effective configuration in the same syntax, and reading that back
 * gives the same configuration (hubd -n; tests/config is the golden test). */
#include "config.h"
#include "hub.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Ranges of the numeric keys. Wide enough for any real hub, narrow enough to catch typos. */
#define CONFIG_MODE_MAX 0777u
#define CONFIG_CLIENTS_MAX 4096u
#define CONFIG_IDLE_MAX 3600u       /* control_idle_timeout: an hour */
#define CONFIG_MAP_MIN (1ULL << 20) /* 1M: LMDB needs room for its own pages */
#define CONFIG_BACKLOG_MIN (64ULL << 10)
#define CONFIG_BACKLOG_MAX (1ULL << 30)
#define CONFIG_MAP_MAX (1ULL << 44) /* 16T */
#define CONFIG_SWEEP_MAX 86400u     /* a day */
#define CONFIG_INTERVAL_MAX 3600u
#define CONFIG_BATCH_MAX 4096u
#define CONFIG_WINDOW_MAX 64u
#define CONFIG_HOPS_MAX 8u
#define CONFIG_HOPS_TRUST 2u     /* default hops under policy trust (PROTOCOL.md 9.10) */
#define CONFIG_HOPS_ENDORSED 1u  /* default hops under policy endorsed (its old default) */
#define CONFIG_REPLY_QUOTA_DEFAULT 20u
#define CONFIG_REPLY_QUOTA_MAX 100000u
#define CONFIG_MAX_PEERS_MAX 1024u
#define CONFIG_WEB_TTL_MIN 60u          /* [web] session_ttl: a minute ... */
#define CONFIG_WEB_TTL_MAX 2592000u     /* ... to 30 days */
#define CONFIG_WEB_ATTEMPTS_MAX 1000u   /* [web] signin_attempts per minute */
#define CONFIG_WEB_THREADS_MAX 32u      /* [web] threads: hubweb's HTTP workers */

/* Unix socket paths are limited by sockaddr_un; refuse a longer one here, not at bind time. */
#define CONFIG_SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* [hub] own_recovery_wait: an hour at most */
#define CONFIG_RECOVERY_WAIT_MAX 3600u

void config_defaults(struct config *c) {
    memset(c, 0, sizeof(*c));
    snprintf(c->data_dir, sizeof(c->data_dir), "%s", "./hubdata");
    c->control_socket[0] = '\0';
    c->control_mode = 0660;
    c->control_max_clients = 64;
    c->control_idle_timeout_s = 30;
    c->max_map_bytes = 64ULL << 30;
    c->watch_backlog = 16ULL << 20;
    c->sweep_interval_s = 60;
    c->own_recovery_wait_s = 30;
    c->log_level = LOG_INFO;
    c->log_format = LOG_TEXT;
    snprintf(c->listen, sizeof(c->listen), "%s", "tcp://127.0.0.1:7400");
    c->pub_listen[0] = '\0';
    c->sync_interval_s = 10;
    c->batch_entries = 2048;
    c->window = 16;
    c->policy = POLICY_TRUST;
    c->hops = 0; /* config_finish: 2 under trust, 1 under endorsed, unless given */
    c->hops_set = 0;
    c->reply_quota = CONFIG_REPLY_QUOTA_DEFAULT;
    c->discover = 0;
    c->max_peers = 16;
    snprintf(c->web_listen, sizeof(c->web_listen), "%s", "127.0.0.1:8480");
    c->web_catalogue = 1;
    c->web_session_ttl_s = 43200;
    c->web_signin_attempts = 5;
    c->web_threads = 4;
}

/* ---- parse state ---------------------------------------------------------------------- */

/* Scalar keys that may appear once per file: a second "listen" is more likely a mistake
 * than an intended override. */
enum config_key {
    K_DATA_DIR,
    K_CONTROL_SOCKET,
    K_CONTROL_MODE,
    K_CONTROL_MAX_CLIENTS,
    K_CONTROL_IDLE_TIMEOUT,
    K_MAX_MAP_SIZE,
    K_WATCH_BACKLOG,
    K_SWEEP_INTERVAL,
    K_OWN_RECOVERY_WAIT,
    K_LOG_LEVEL,
    K_LOG_FORMAT,
    K_LISTEN,
    K_PUB_LISTEN,
    K_INTERVAL,
    K_BATCH,
    K_WINDOW,
    K_POLICY,
    K_HOPS,
    K_DISCOVER,
    K_MAX_PEERS,
    K_PEER,  /* repeatable */
    K_ALLOW,  /* repeatable */
    K_ANCHOR, /* repeatable */
    K_REPLY_QUOTA,
    K_WEB_LISTEN,
    K_WEB_CATALOGUE,
    K_WEB_SESSION_TTL,
    K_WEB_SIGNIN_ATTEMPTS,
    K_WEB_THREADS,
    K_COUNT
};

struct config_parse {
    struct config *c;
    const char *path;
    FILE *fp;
    int line;     /* line number of the line inih is handling now */
    int err_line; /* first error found by us, 0 = none */
    char *err;
    size_t errlen;
    int seen[K_COUNT]; /* line of first occurrence */
};

static void config_fail(struct config_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the first error only: later ones are usually consequences of it. */
static void config_fail(struct config_parse *p, const char *fmt, ...) {
    char reason[512];
    va_list ap;

    if (p->err_line != 0)
        return;
    p->err_line = p->line;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (p->err != NULL && p->errlen > 0)
        snprintf(p->err, p->errlen, "%s:%d: %s", p->path, p->line, reason);
}

/* ---- value parsers: 0 or -1 after config_fail ------------------------------------------- */

static int config_str(struct config_parse *p, const char *name, const char *v, char *dst,
                      size_t cap, size_t max, int allow_empty) {
    size_t len = strlen(v);

    if (len == 0 && !allow_empty) {
        config_fail(p, "%s: must not be empty", name);
        return -1;
    }
    if (len >= cap || len > max) {
        config_fail(p, "%s: longer than %zu bytes", name, max < cap - 1 ? max : cap - 1);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            config_fail(p, "%s: contains a control character", name);
            return -1;
        }
    }
    memcpy(dst, v, len + 1);
    return 0;
}

static int config_uint(struct config_parse *p, const char *name, const char *v, unsigned min,
                       unsigned max, unsigned *dst) {
    uint64_t n;

    if (hub_parse_u64(v, max, &n) != 0 || n < min) {
        config_fail(p, "%s: expected a whole number from %u to %u", name, min, max);
        return -1;
    }
    *dst = (unsigned)n;
    return 0;
}

static int config_mode(struct config_parse *p, const char *name, const char *v, unsigned *dst) {
    unsigned m = 0;
    size_t len = strlen(v);

    /* Octal like chmod: "0660" or "660"; at most 4 digits so 00660 style typos stand out. */
    if (len == 0 || len > 4)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '7')
            goto bad;
        m = m * 8 + (unsigned)(v[i] - '0');
    }
    if (m > CONFIG_MODE_MAX)
        goto bad;
    *dst = m;
    return 0;
bad:
    config_fail(p, "%s: expected an octal file mode from 0000 to 0777, like 0660", name);
    return -1;
}

/* Bytes with an optional binary suffix K, M, G or T (powers of 1024). */
static int config_size(struct config_parse *p, const char *name, const char *v, uint64_t min,
                       uint64_t max, uint64_t *dst) {
    char digits[32];
    size_t len = strlen(v);
    unsigned shift = 0;
    uint64_t n;

    if (len > 0) {
        switch (v[len - 1]) {
        case 'K':
        case 'k':
            shift = 10;
            break;
        case 'M':
        case 'm':
            shift = 20;
            break;
        case 'G':
        case 'g':
            shift = 30;
            break;
        case 'T':
        case 't':
            shift = 40;
            break;
        default:
            break;
        }
        if (shift != 0)
            len--;
    }
    if (len == 0 || len >= sizeof(digits))
        goto bad;
    memcpy(digits, v, len);
    digits[len] = '\0';
    if (hub_parse_u64(digits, max >> shift, &n) != 0)
        goto bad;
    n <<= shift;
    if (n < min)
        goto bad;
    *dst = n;
    return 0;
bad:
    config_fail(p,
                "%s: expected a size from 1M to 16T in bytes, with an optional K, M, G or T "
                "suffix",
                name);
    return -1;
}

static int config_choice(struct config_parse *p, const char *name, const char *v,
                         const char *const *choices, size_t n, int *dst) {
    char list[128];
    size_t off = 0;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(v, choices[i]) == 0) {
            *dst = (int)i;
            return 0;
        }
    }
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", choices[i]);
        if (w < 0 || (size_t)w >= sizeof(list) - off)
            break;
        off += (size_t)w;
    }
    config_fail(p, "%s: expected one of %s", name, list);
    return -1;
}

/* tcp://HOST:PORT with port 1..65535. HOST is a name, an IPv4 address, an IPv6 address in
 * brackets, or "*" (all interfaces) where bind is set; it is not resolved here (ZeroMQ does
 * that when binding or connecting). On success *port is set (if not NULL). Does not call
 * config_fail: the callers word it. */
static int config_check_endpoint(const char *v, int bind, unsigned *port) {
    static const char prefix[] = "tcp://";
    const char *host, *colon;
    uint64_t n;

    if (strncmp(v, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    host = v + sizeof(prefix) - 1;
    colon = strrchr(host, ':');
    if (colon == NULL || colon == host)
        return -1;
    if (host[0] == '[') {
        /* IPv6: "[...]" directly before the port colon. */
        if (colon[-1] != ']' || colon - host < 3)
            return -1;
        for (const char *h = host + 1; h < colon - 1; h++)
            if (!(*h == ':' || *h == '.' || (*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f') ||
                  (*h >= 'A' && *h <= 'F')))
                return -1;
    } else if (host[0] == '*' && colon == host + 1) {
        if (!bind)
            return -1;
    } else {
        for (const char *h = host; h < colon; h++)
            if (!(*h == '-' || *h == '.' || *h == '_' || (*h >= '0' && *h <= '9') ||
                  (*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z')))
                return -1;
    }
    if (hub_parse_u64(colon + 1, 65535, &n) != 0 || n == 0)
        return -1;
    if (port != NULL)
        *port = (unsigned)n;
    return 0;
}

/* HOST:PORT for [web] listen (no scheme: libmicrohttpd binds it, not ZeroMQ). The host is an
 * IPv4 address or a name (resolved by hubweb), or an IPv6 address in brackets. */
int config_parse_hostport(const char *v, char *host, size_t hostcap, unsigned *port) {
    const char *colon = strrchr(v, ':');
    const char *h = v, *hend;
    uint64_t n;

    if (colon == NULL || colon == v)
        return -1;
    hend = colon;
    if (v[0] == '[') {
        if (colon[-1] != ']' || colon - v < 3)
            return -1;
        h = v + 1;
        hend = colon - 1;
        for (const char *q = h; q < hend; q++)
            if (!(*q == ':' || *q == '.' || (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F')))
                return -1;
    } else {
        for (const char *q = h; q < hend; q++)
            if (!(*q == '-' || *q == '.' || *q == '_' || (*q >= '0' && *q <= '9') ||
                  (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
                return -1;
    }
    if ((size_t)(hend - h) >= hostcap)
        return -1;
    if (hub_parse_u64(colon + 1, 65535, &n) != 0 || n == 0)
        return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (unsigned)n;
    return 0;
}

static int config_endpoint(struct config_parse *p, const char *name, const char *v, int bind,
                           char *dst, size_t cap) {
    if (strlen(v) >= cap || config_check_endpoint(v, bind, NULL) != 0) {
        config_fail(p, "%s: expected tcp://HOST:PORT with a port from 1 to 65535, got '%s'", name,
                    v);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int config_key(struct config_parse *p, const char *name, const char *v, uint8_t out[32]) {
    if (hub_unhex(v, out, HUB_KEY_LEN) != 0) {
        config_fail(p, "%s: expected a hub key of 64 hex digits", name);
        return -1;
    }
    return 0;
}

/* [peers] peer = ENDPOINT KEYHEX */
static int config_peer(struct config_parse *p, const char *v) {
    struct config *c = p->c;
    struct config_peer peer;
    char ep[sizeof(peer.endpoint)];
    const char *sp, *key;
    size_t eplen;

    if (c->npeers >= CONFIG_MAX_PEERS) {
        config_fail(p, "peers.peer: more than %d peers", CONFIG_MAX_PEERS);
        return -1;
    }
    sp = strpbrk(v, " \t");
    if (sp == NULL) {
        config_fail(p, "peers.peer: expected 'tcp://HOST:PORT KEY'");
        return -1;
    }
    eplen = (size_t)(sp - v);
    if (eplen >= sizeof(ep)) {
        config_fail(p, "peers.peer: endpoint longer than %zu bytes", sizeof(ep) - 1);
        return -1;
    }
    memcpy(ep, v, eplen);
    ep[eplen] = '\0';
    key = sp + strspn(sp, " \t");
    if (config_endpoint(p, "peers.peer", ep, 0, peer.endpoint, sizeof(peer.endpoint)) != 0 ||
        config_key(p, "peers.peer", key, peer.key) != 0)
        return -1;
    for (size_t i = 0; i < c->npeers; i++) {
        if (memcmp(c->peers[i].key, peer.key, HUB_KEY_LEN) == 0) {
            config_fail(p, "peers.peer: key %.8s... is listed twice", key);
            return -1;
        }
    }
    c->peers[c->npeers++] = peer;
    return 0;
}

/* [policy] allow = KEYHEX */
static int config_allow(struct config_parse *p, const char *v) {
    struct config *c = p->c;
    uint8_t key[HUB_KEY_LEN];

    if (c->nallow >= CONFIG_MAX_ALLOW) {
        config_fail(p, "policy.allow: more than %d keys", CONFIG_MAX_ALLOW);
        return -1;
    }
    if (config_key(p, "policy.allow", v, key) != 0)
        return -1;
    for (size_t i = 0; i < c->nallow; i++) {
        if (memcmp(c->allow[i], key, HUB_KEY_LEN) == 0) {
            config_fail(p, "policy.allow: key %.8s... is listed twice", v);
            return -1;
        }
    }
    memcpy(c->allow[c->nallow++], key, HUB_KEY_LEN);
    return 0;
}

/* [policy] anchor = KEYHEX */
static int config_anchor(struct config_parse *p, const char *v) {
    struct config *c = p->c;
    uint8_t key[HUB_KEY_LEN];

    if (c->nanchor >= CONFIG_MAX_ANCHORS) {
        config_fail(p, "policy.anchor: more than %d keys", CONFIG_MAX_ANCHORS);
        return -1;
    }
    if (config_key(p, "policy.anchor", v, key) != 0)
        return -1;
    for (size_t i = 0; i < c->nanchor; i++) {
        if (memcmp(c->anchor[i], key, HUB_KEY_LEN) == 0) {
            config_fail(p, "policy.anchor: key %.8s... is listed twice", v);
            return -1;
        }
    }
    memcpy(c->anchor[c->nanchor++], key, HUB_KEY_LEN);
    return 0;
}

/* ---- the key table ---------------------------------------------------------------------- */

static const char *const config_sections[] = {"hub", "log", "sync", "peers", "policy", "web"};

static const struct {
    const char *section, *name;
    enum config_key key;
} config_keys[] = {
    {"hub", "data_dir", K_DATA_DIR},
    {"hub", "control_socket", K_CONTROL_SOCKET},
    {"hub", "control_mode", K_CONTROL_MODE},
    {"hub", "control_max_clients", K_CONTROL_MAX_CLIENTS},
    {"hub", "control_idle_timeout", K_CONTROL_IDLE_TIMEOUT},
    {"hub", "max_map_size", K_MAX_MAP_SIZE},
    {"hub", "watch_backlog", K_WATCH_BACKLOG},
    {"hub", "sweep_interval", K_SWEEP_INTERVAL},
    {"hub", "own_recovery_wait", K_OWN_RECOVERY_WAIT},
    {"log", "level", K_LOG_LEVEL},
    {"log", "format", K_LOG_FORMAT},
    {"sync", "listen", K_LISTEN},
    {"sync", "pub_listen", K_PUB_LISTEN},
    {"sync", "interval", K_INTERVAL},
    {"sync", "batch", K_BATCH},
    {"sync", "window", K_WINDOW},
    {"sync", "policy", K_POLICY},
    {"sync", "hops", K_HOPS},
    {"sync", "discover", K_DISCOVER},
    {"sync", "max_peers", K_MAX_PEERS},
    {"peers", "peer", K_PEER},
    {"policy", "allow", K_ALLOW},
    {"policy", "anchor", K_ANCHOR},
    {"policy", "reply_quota", K_REPLY_QUOTA},
    {"web", "listen", K_WEB_LISTEN},
    {"web", "catalogue", K_WEB_CATALOGUE},
    {"web", "session_ttl", K_WEB_SESSION_TTL},
    {"web", "signin_attempts", K_WEB_SIGNIN_ATTEMPTS},
    {"web", "threads", K_WEB_THREADS},
};

static const char *const config_level_names[] = {"error", "warn", "info", "debug"};
static const char *const config_format_names[] = {"text", "json"};
static const char *const config_policy_names[] = {"allowlist", "endorsed", "open", "trust"};
static const char *const config_onoff_names[] = {"off", "on"};

static int config_known_section(const char *s) {
    for (size_t i = 0; i < HUB_ARRAY_LEN(config_sections); i++)
        if (strcmp(s, config_sections[i]) == 0)
            return 1;
    return 0;
}

static int config_set(struct config_parse *p, enum config_key k, const char *name, const char *v) {
    struct config *c = p->c;
    int choice;

    switch (k) {
    case K_DATA_DIR:
        return config_str(p, name, v, c->data_dir, sizeof(c->data_dir), SIZE_MAX, 0);
    case K_CONTROL_SOCKET:
        /* Empty means "derive from data_dir" (config_finish). */
        return config_str(p, name, v, c->control_socket, sizeof(c->control_socket),
                          CONFIG_SUN_PATH_MAX, 1);
    case K_CONTROL_MODE:
        return config_mode(p, name, v, &c->control_mode);
    case K_CONTROL_MAX_CLIENTS:
        return config_uint(p, name, v, 1, CONFIG_CLIENTS_MAX, &c->control_max_clients);
    case K_CONTROL_IDLE_TIMEOUT:
        return config_uint(p, name, v, 1, CONFIG_IDLE_MAX, &c->control_idle_timeout_s);
    case K_MAX_MAP_SIZE:
        return config_size(p, name, v, CONFIG_MAP_MIN, CONFIG_MAP_MAX, &c->max_map_bytes);
    case K_WATCH_BACKLOG:
        return config_size(p, name, v, CONFIG_BACKLOG_MIN, CONFIG_BACKLOG_MAX, &c->watch_backlog);
    case K_SWEEP_INTERVAL:
        return config_uint(p, name, v, 1, CONFIG_SWEEP_MAX, &c->sweep_interval_s);
    case K_OWN_RECOVERY_WAIT:
        return config_uint(p, name, v, 0, CONFIG_RECOVERY_WAIT_MAX, &c->own_recovery_wait_s);
    case K_LOG_LEVEL:
        if (config_choice(p, name, v, config_level_names, HUB_ARRAY_LEN(config_level_names),
                          &choice) != 0)
            return -1;
        c->log_level = (enum log_level)choice;
        return 0;
    case K_LOG_FORMAT:
        if (config_choice(p, name, v, config_format_names, HUB_ARRAY_LEN(config_format_names),
                          &choice) != 0)
            return -1;
        c->log_format = (enum log_format)choice;
        return 0;
    case K_LISTEN:
        return config_endpoint(p, name, v, 1, c->listen, sizeof(c->listen));
    case K_PUB_LISTEN:
        /* Empty means "listen's port + 1" (config_finish). */
        if (v[0] == '\0') {
            c->pub_listen[0] = '\0';
            return 0;
        }
        return config_endpoint(p, name, v, 1, c->pub_listen, sizeof(c->pub_listen));
    case K_INTERVAL:
        return config_uint(p, name, v, 1, CONFIG_INTERVAL_MAX, &c->sync_interval_s);
    case K_BATCH:
        return config_uint(p, name, v, 1, CONFIG_BATCH_MAX, &c->batch_entries);
    case K_WINDOW:
        return config_uint(p, name, v, 1, CONFIG_WINDOW_MAX, &c->window);
    case K_POLICY:
        if (config_choice(p, name, v, config_policy_names, HUB_ARRAY_LEN(config_policy_names),
                          &choice) != 0)
            return -1;
        c->policy = (enum policy_mode)choice;
        return 0;
    case K_HOPS:
        c->hops_set = 1;
        return config_uint(p, name, v, 0, CONFIG_HOPS_MAX, &c->hops);
    case K_DISCOVER:
        return config_choice(p, name, v, config_onoff_names, HUB_ARRAY_LEN(config_onoff_names),
                             &c->discover);
    case K_MAX_PEERS:
        return config_uint(p, name, v, 1, CONFIG_MAX_PEERS_MAX, &c->max_peers);
    case K_PEER:
        return config_peer(p, v);
    case K_ALLOW:
        return config_allow(p, v);
    case K_ANCHOR:
        return config_anchor(p, v);
    case K_REPLY_QUOTA:
        return config_uint(p, name, v, 1, CONFIG_REPLY_QUOTA_MAX, &c->reply_quota);
    case K_WEB_LISTEN: {
        char host[256];
        unsigned port;
        if (strlen(v) >= sizeof(c->web_listen) ||
            config_parse_hostport(v, host, sizeof(host), &port) != 0) {
            config_fail(p, "%s: expected HOST:PORT with a port from 1 to 65535, got '%s'", name,
                        v);
            return -1;
        }
        memcpy(c->web_listen, v, strlen(v) + 1);
        return 0;
    }
    case K_WEB_CATALOGUE:
        return config_choice(p, name, v, config_onoff_names, HUB_ARRAY_LEN(config_onoff_names),
                             &c->web_catalogue);
    case K_WEB_SESSION_TTL:
        return config_uint(p, name, v, CONFIG_WEB_TTL_MIN, CONFIG_WEB_TTL_MAX,
                           &c->web_session_ttl_s);
    case K_WEB_SIGNIN_ATTEMPTS:
        return config_uint(p, name, v, 1, CONFIG_WEB_ATTEMPTS_MAX, &c->web_signin_attempts);
    case K_WEB_THREADS:
        return config_uint(p, name, v, 1, CONFIG_WEB_THREADS_MAX, &c->web_threads);
    case K_COUNT:
        break;
    }
    config_fail(p, "internal error: key %s has no parser", name);
    return -1;
}

static int config_handler(void *user, const char *section, const char *name, const char *value) {
    struct config_parse *p = user;
    char full[64];

    if (p->err_line != 0)
        return 1; /* already failed: the reader stops at the next line */
    if (section[0] == '\0') {
        config_fail(p, "key '%s' outside any section", name);
        return 0;
    }
    if (!config_known_section(section)) {
        config_fail(p, "unknown section [%s]", section);
        return 0;
    }
    for (size_t i = 0; i < HUB_ARRAY_LEN(config_keys); i++) {
        if (strcmp(section, config_keys[i].section) != 0 || strcmp(name, config_keys[i].name) != 0)
            continue;
        enum config_key k = config_keys[i].key;
        snprintf(full, sizeof(full), "%s.%s", section, name);
        if (k != K_PEER && k != K_ALLOW && k != K_ANCHOR) {
            if (p->seen[k] != 0) {
                config_fail(p, "%s: set twice (first on line %d)", full, p->seen[k]);
                return 0;
            }
            p->seen[k] = p->line;
        }
        return config_set(p, k, full, value) == 0;
    }
    config_fail(p, "unknown key '%s' in [%s]", name, section);
    return 0;
}

/* fgets-style reader for inih that counts lines (so the handler knows where it is), rejects
 * overlong lines instead of letting inih split them silently (Debian's libinih has a 200-byte
 * line buffer), and checks section headers where they
 * stand (inih only reports keys, so an empty unknown section would pass unseen). */
static char *config_reader(char *str, int num, void *stream) {
    struct config_parse *p = stream;
    char buf[4096];
    size_t len, limit;

    if (p->err_line != 0)
        return NULL;
    if (fgets(buf, sizeof(buf), p->fp) == NULL)
        return NULL;
    p->line++;
    /* inih needs 3 bytes beyond the longest line, for "\r\n\0". */
    limit = (num > 0 && (size_t)num < sizeof(buf) ? (size_t)num : sizeof(buf)) - 3;
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    else if (!feof(p->fp))
        len = sizeof(buf); /* longer than buf: reported below */
    if (len > 0 && len < sizeof(buf) && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (len > limit) {
        config_fail(p, "line longer than %zu characters", limit);
        return NULL;
    }
    /* Hand inih the line without its indentation: with multi-line values enabled (inih's
     * default) an indented "key = value" would be glued to the previous key instead. */
    const char *s = buf + strspn(buf, " \t");
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end != NULL) {
            char name[64];
            size_t n = (size_t)(end - s - 1);
            if (n >= sizeof(name))
                n = sizeof(name) - 1;
            memcpy(name, s + 1, n);
            name[n] = '\0';
            if (!config_known_section(name)) {
                config_fail(p, "unknown section [%s]", name);
                return NULL;
            }
        }
    }
    snprintf(str, (size_t)num, "%s\n", s);
    return str;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen) {
    struct config_parse p;
    struct config *work;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    /* Parse into a copy so that a failed load leaves *c as it was. */
    work = malloc(sizeof(*work));
    if (work == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: out of memory", path);
        return HUB_E_NOMEM;
    }
    memcpy(work, c, sizeof(*work));
    memset(&p, 0, sizeof(p));
    p.c = work;
    p.path = path;
    p.err = err;
    p.errlen = errlen;
    p.fp = fopen(path, "r");
    if (p.fp == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(work);
        return HUB_E_CONFIG;
    }
    rc = ini_parse_stream(config_reader, &p, config_handler, &p);
    if (rc == 0 && ferror(p.fp)) {
        p.line++;
        config_fail(&p, "read error");
    }
    fclose(p.fp);
    if (rc > 0 && (p.err_line == 0 || rc < p.err_line)) {
        /* inih's own error on a line our handler never saw: no '=' or no closing ']'. */
        p.err_line = 0;
        p.line = rc;
        config_fail(&p, "syntax error: expected [section] or key = value");
    } else if (rc < 0 && p.err_line == 0) {
        p.line = 0;
        config_fail(&p, "cannot parse (inih error %d)", rc);
    }
    if (p.err_line != 0) {
        free(work);
        return HUB_E_CONFIG;
    }
    memcpy(c, work, sizeof(*c));
    free(work);
    return 0;
}

static int config_finish_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_finish_fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return HUB_E_CONFIG;
}

/* Values may also have come from flags, so everything derived is checked again here. */
int config_finish(struct config *c, char *err, size_t errlen) {
    char buf[sizeof(c->pub_listen)];
    unsigned port;
    int n;

    if (c->data_dir[0] == '\0')
        return config_finish_fail(err, errlen, "hub.data_dir: must not be empty");
    if (c->control_socket[0] == '\0') {
        n = snprintf(buf, sizeof(buf), "%s/hubd.sock", c->data_dir);
        if (n < 0 || (size_t)n >= sizeof(buf) || (size_t)n > CONFIG_SUN_PATH_MAX)
            return config_finish_fail(err, errlen,
                                      "hub.control_socket: '%s/hubd.sock' is longer than %zu "
                                      "bytes; set hub.control_socket to a shorter path",
                                      c->data_dir, CONFIG_SUN_PATH_MAX);
        memcpy(c->control_socket, buf, (size_t)n + 1);
    } else if (strlen(c->control_socket) > CONFIG_SUN_PATH_MAX) {
        return config_finish_fail(err, errlen, "hub.control_socket: longer than %zu bytes",
                                  CONFIG_SUN_PATH_MAX);
    }
    if (config_check_endpoint(c->listen, 1, &port) != 0)
        return config_finish_fail(err, errlen, "sync.listen: expected tcp://HOST:PORT, got '%s'",
                                  c->listen);
    if (c->pub_listen[0] == '\0') {
        if (port >= 65535)
            return config_finish_fail(err, errlen,
                                      "sync.listen: port %u leaves no port + 1 for the PUB "
                                      "socket; set sync.pub_listen",
                                      port);
        /* Same host, next port: keep everything before the last colon. */
        size_t hostlen = (size_t)(strrchr(c->listen, ':') - c->listen);
        n = snprintf(buf, sizeof(buf), "%.*s:%u", (int)hostlen, c->listen, port + 1);
        if (n < 0 || (size_t)n >= sizeof(buf))
            return config_finish_fail(err, errlen,
                                      "sync.listen: too long to derive sync.pub_listen");
        memcpy(c->pub_listen, buf, (size_t)n + 1);
    } else if (config_check_endpoint(c->pub_listen, 1, NULL) != 0) {
        return config_finish_fail(
            err, errlen, "sync.pub_listen: expected tcp://HOST:PORT, got '%s'", c->pub_listen);
    }
    if (strcmp(c->pub_listen, c->listen) == 0)
        return config_finish_fail(err, errlen, "sync.pub_listen: must differ from sync.listen");
    /* hops not given: the default of the policy (endorsed keeps the 1 it always had) */
    if (!c->hops_set)
        c->hops = c->policy == POLICY_TRUST ? CONFIG_HOPS_TRUST : CONFIG_HOPS_ENDORSED;
    return 0;
}

/* Largest binary suffix that divides the size exactly, so printing never rounds. */
static void config_print_size(FILE *out, uint64_t n) {
    static const struct {
        char suffix;
        unsigned shift;
    } units[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};

    for (size_t i = 0; i < HUB_ARRAY_LEN(units); i++) {
        uint64_t unit = 1ULL << units[i].shift;
        if (n != 0 && n % unit == 0) {
            fprintf(out, "%llu%c\n", (unsigned long long)(n / unit), units[i].suffix);
            return;
        }
    }
    fprintf(out, "%llu\n", (unsigned long long)n);
}

static const char *config_name(const char *const *names, size_t n, int v) {
    return v >= 0 && (size_t)v < n ? names[v] : "?";
}

void config_print(const struct config *c, FILE *out) {
    char hex[HUB_HEX_LEN + 1];

    fprintf(out, "# hubd: effective configuration\n");
    fprintf(out, "[hub]\n");
    fprintf(out, "data_dir = %s\n", c->data_dir);
    fprintf(out, "control_socket = %s\n", c->control_socket);
    fprintf(out, "control_mode = %04o\n", c->control_mode);
    fprintf(out, "control_max_clients = %u\n", c->control_max_clients);
    fprintf(out, "control_idle_timeout = %u\n", c->control_idle_timeout_s);
    fprintf(out, "max_map_size = ");
    config_print_size(out, c->max_map_bytes);
    fprintf(out, "watch_backlog = ");
    config_print_size(out, c->watch_backlog);
    fprintf(out, "sweep_interval = %u\n", c->sweep_interval_s);
    fprintf(out, "own_recovery_wait = %u\n", c->own_recovery_wait_s);

    fprintf(out, "\n[log]\n");
    fprintf(out, "level = %s\n",
            config_name(config_level_names, HUB_ARRAY_LEN(config_level_names), (int)c->log_level));
    fprintf(
        out, "format = %s\n",
        config_name(config_format_names, HUB_ARRAY_LEN(config_format_names), (int)c->log_format));

    fprintf(out, "\n[sync]\n");
    fprintf(out, "listen = %s\n", c->listen);
    fprintf(out, "pub_listen = %s\n", c->pub_listen);
    fprintf(out, "interval = %u\n", c->sync_interval_s);
    fprintf(out, "batch = %u\n", c->batch_entries);
    fprintf(out, "window = %u\n", c->window);
    fprintf(out, "policy = %s\n",
            config_name(config_policy_names, HUB_ARRAY_LEN(config_policy_names), (int)c->policy));
    fprintf(out, "hops = %u\n", c->hops);
    fprintf(out, "discover = %s\n", c->discover ? "on" : "off");
    fprintf(out, "max_peers = %u\n", c->max_peers);

    fprintf(out, "\n[peers]\n");
    for (size_t i = 0; i < c->npeers; i++) {
        hub_hex(c->peers[i].key, HUB_KEY_LEN, hex);
        fprintf(out, "peer = %s %s\n", c->peers[i].endpoint, hex);
    }

    fprintf(out, "\n[policy]\n");
    for (size_t i = 0; i < c->nallow; i++) {
        hub_hex(c->allow[i], HUB_KEY_LEN, hex);
        fprintf(out, "allow = %s\n", hex);
    }
    for (size_t i = 0; i < c->nanchor; i++) {
        hub_hex(c->anchor[i], HUB_KEY_LEN, hex);
        fprintf(out, "anchor = %s\n", hex);
    }
    fprintf(out, "reply_quota = %u\n", c->reply_quota);

    fprintf(out, "\n[web]\n");
    fprintf(out, "listen = %s\n", c->web_listen);
    fprintf(out, "catalogue = %s\n", c->web_catalogue ? "on" : "off");
    fprintf(out, "session_ttl = %u\n", c->web_session_ttl_s);
    fprintf(out, "signin_attempts = %u\n", c->web_signin_attempts);
    fprintf(out, "threads = %u\n", c->web_threads);
}

/* ---- reload (SIGHUP) -------------------------------------------------------------------- */

static int config_has_key(const uint8_t (*keys)[HUB_KEY_LEN], size_t n, const uint8_t key[32]) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i], key, HUB_KEY_LEN) == 0)
            return 1;
    return 0;
}

static const struct config_peer *config_find_peer(const struct config *c, const uint8_t key[32]) {
    for (size_t i = 0; i < c->npeers; i++)
        if (memcmp(c->peers[i].key, key, HUB_KEY_LEN) == 0)
            return &c->peers[i];
    return NULL;
}

/* A reloadable unsigned key: log and copy. */
static size_t config_reload_uint(const char *name, unsigned *cur, unsigned next) {
    if (*cur == next)
        return 0;
    log_info("config", "reload: %s %u -> %u", name, *cur, next);
    *cur = next;
    return 1;
}

/* A key only a restart changes: say so, keep the running value. */
static void config_restart_only(const char *name, int differs) {
    if (differs)
        log_warnx("config",
                  "reload: %s changed in the file; it takes effect at the next start "
                  "(the running value is kept)",
                  name);
}

size_t config_reload(struct config *cur, const struct config *next) {
    char hex[HUB_HEX_LEN + 1];
    size_t changes = 0;

    config_restart_only("hub.data_dir", strcmp(cur->data_dir, next->data_dir) != 0);
    config_restart_only("hub.control_socket",
                        strcmp(cur->control_socket, next->control_socket) != 0);
    config_restart_only("hub.control_mode", cur->control_mode != next->control_mode);
    config_restart_only("hub.control_max_clients",
                        cur->control_max_clients != next->control_max_clients);
    config_restart_only("hub.max_map_size", cur->max_map_bytes != next->max_map_bytes);
    config_restart_only("sync.listen", strcmp(cur->listen, next->listen) != 0);
    config_restart_only("sync.pub_listen", strcmp(cur->pub_listen, next->pub_listen) != 0);
    config_restart_only("sync.batch", cur->batch_entries != next->batch_entries);
    config_restart_only("sync.window", cur->window != next->window);
    config_restart_only("sync.policy", cur->policy != next->policy);
    config_restart_only("sync.hops", cur->hops != next->hops);

    if (cur->log_level != next->log_level) {
        log_info("config", "reload: log.level %s -> %s", log_level_name(cur->log_level),
                 log_level_name(next->log_level));
        cur->log_level = next->log_level;
        changes++;
    }
    if (cur->log_format != next->log_format) {
        log_info("config", "reload: log.format %s -> %s",
                 config_name(config_format_names, HUB_ARRAY_LEN(config_format_names),
                             (int)cur->log_format),
                 config_name(config_format_names, HUB_ARRAY_LEN(config_format_names),
                             (int)next->log_format));
        cur->log_format = next->log_format;
        changes++;
    }
    changes += config_reload_uint("hub.control_idle_timeout", &cur->control_idle_timeout_s,
                                  next->control_idle_timeout_s);
    if (cur->watch_backlog != next->watch_backlog) {
        log_info("config", "reload: hub.watch_backlog %llu -> %llu bytes",
                 (unsigned long long)cur->watch_backlog, (unsigned long long)next->watch_backlog);
        cur->watch_backlog = next->watch_backlog;
        changes++;
    }
    changes +=
        config_reload_uint("hub.sweep_interval", &cur->sweep_interval_s, next->sweep_interval_s);
    changes += config_reload_uint("sync.interval", &cur->sync_interval_s, next->sync_interval_s);
    changes += config_reload_uint("sync.max_peers", &cur->max_peers, next->max_peers);
    if (cur->discover != next->discover) {
        log_info("config", "reload: sync.discover %s -> %s", cur->discover ? "on" : "off",
                 next->discover ? "on" : "off");
        cur->discover = next->discover;
        changes++;
    }

    /* Peers: by key; a known key at a new endpoint is a removal and an addition. */
    for (size_t i = 0; i < cur->npeers; i++) {
        const struct config_peer *np = config_find_peer(next, cur->peers[i].key);
        if (np && strcmp(np->endpoint, cur->peers[i].endpoint) == 0)
            continue;
        hub_hex(cur->peers[i].key, HUB_KEY_LEN, hex);
        log_info("config", "reload: peers.peer removed: %s %s", cur->peers[i].endpoint, hex);
        changes++;
    }
    for (size_t i = 0; i < next->npeers; i++) {
        const struct config_peer *op = config_find_peer(cur, next->peers[i].key);
        if (op && strcmp(op->endpoint, next->peers[i].endpoint) == 0)
            continue;
        hub_hex(next->peers[i].key, HUB_KEY_LEN, hex);
        log_info("config", "reload: peers.peer added: %s %s", next->peers[i].endpoint, hex);
        changes++;
    }
    memcpy(cur->peers, next->peers, sizeof cur->peers);
    cur->npeers = next->npeers;

    for (size_t i = 0; i < cur->nallow; i++)
        if (!config_has_key((const uint8_t(*)[HUB_KEY_LEN])next->allow, next->nallow,
                            cur->allow[i])) {
            hub_hex(cur->allow[i], HUB_KEY_LEN, hex);
            log_info("config", "reload: policy.allow removed: %s", hex);
            changes++;
        }
    for (size_t i = 0; i < next->nallow; i++)
        if (!config_has_key((const uint8_t(*)[HUB_KEY_LEN])cur->allow, cur->nallow,
                            next->allow[i])) {
            hub_hex(next->allow[i], HUB_KEY_LEN, hex);
            log_info("config", "reload: policy.allow added: %s", hex);
            changes++;
        }
    memcpy(cur->allow, next->allow, sizeof cur->allow);
    cur->nallow = next->nallow;

    for (size_t i = 0; i < cur->nanchor; i++)
        if (!config_has_key((const uint8_t(*)[HUB_KEY_LEN])next->anchor, next->nanchor,
                            cur->anchor[i])) {
            hub_hex(cur->anchor[i], HUB_KEY_LEN, hex);
            log_info("config", "reload: policy.anchor removed: %s", hex);
            changes++;
        }
    for (size_t i = 0; i < next->nanchor; i++)
        if (!config_has_key((const uint8_t(*)[HUB_KEY_LEN])cur->anchor, cur->nanchor,
                            next->anchor[i])) {
            hub_hex(next->anchor[i], HUB_KEY_LEN, hex);
            log_info("config", "reload: policy.anchor added: %s", hex);
            changes++;
        }
    memcpy(cur->anchor, next->anchor, sizeof cur->anchor);
    cur->nanchor = next->nanchor;
    changes += config_reload_uint("policy.reply_quota", &cur->reply_quota, next->reply_quota);
    return changes;
}
