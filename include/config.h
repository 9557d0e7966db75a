/* config.h: hubd configuration. Defaults first, then the INI file (--config), then flags. */
#ifndef HUB_CONFIG_H
#define HUB_CONFIG_H

#include "log.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_PEERS 64
#define CONFIG_MAX_ALLOW 256
#define CONFIG_MAX_ANCHORS 64

/* Replication policy (PROTOCOL.md 9.10). trust, the default: the roots (configured peers,
 * [policy] anchor and allow keys) and the hubs they endorse within hops (default 2), and hubd
 * endorses its configured peers. endorsed: the same closure, hops default 1, no endorsement
 * made by hubd (the meaning it had before trust existed). allowlist: the roots only. open:
 * everyone. The numbers index the config names. */
enum policy_mode { POLICY_ALLOWLIST = 0, POLICY_ENDORSED = 1, POLICY_OPEN = 2, POLICY_TRUST = 3 };

struct config_peer {
    char endpoint[256]; /* tcp://host:port of the peer's sync (ROUTER) socket */
    uint8_t key[32];    /* the peer's hub key */
};

struct config {
    /* [hub] */
    char data_dir[512];           /* default "./hubdata" */
    char control_socket[512];     /* default "<data_dir>/hubd.sock" (empty = derive) */
    unsigned control_mode;        /* default 0660 */
    unsigned control_max_clients; /* default 64 */
    uint64_t max_map_bytes;       /* default 64 GiB: LMDB map grows up to this */
    uint64_t watch_backlog;       /* default 16 MiB: a watcher further behind is cut off */
    unsigned sweep_interval_s;    /* default 60: expiry sweep */
    unsigned own_recovery_wait_s; /* default 30: publish waits this long for a peer (0: not) */
    /* default 30 s: a control client that sends no complete request and reads nothing for
     * this long is closed */
    unsigned control_idle_timeout_s;
    /* [log] */
    enum log_level log_level;   /* default info */
    enum log_format log_format; /* default text */
    /* [sync] */
    char listen[256];         /* default "tcp://127.0.0.1:7400": ROUTER; PUB binds port+1 */
    char pub_listen[256];     /* default: derived from listen, port + 1 */
    unsigned sync_interval_s; /* default 10: anti-entropy round per peer */
    unsigned batch_entries;   /* default 2048: entries per sync batch (one transaction) */
    unsigned window;          /* default 16: outstanding batch requests per peer */
    enum policy_mode policy;  /* default trust */
    unsigned hops;            /* default 2 under trust, 1 under endorsed (config_finish) */
    int hops_set;             /* hops was given in the file or a flag */
    int discover;             /* default off */
    unsigned max_peers;       /* default 16 */
    /* [peers] peer = ENDPOINT KEY ; [policy] allow = KEY */
    struct config_peer peers[CONFIG_MAX_PEERS];
    size_t npeers;
    uint8_t allow[CONFIG_MAX_ALLOW][32];
    size_t nallow;
    /* [policy] anchor = KEY: trust roots that only sign endorsements (a network coordinator) */
    uint8_t anchor[CONFIG_MAX_ANCHORS][32];
    size_t nanchor;
    /* [policy] reply_quota: addressed replies kept per responder per hour (default 20) */
    unsigned reply_quota;
    /* [web]: read by hubweb (node/hubweb); hubd checks and prints them but does not use them */
    char web_listen[256];         /* default "127.0.0.1:8480": HOST:PORT of hubweb's HTTP */
    int web_catalogue;            /* default on: public catalogue pages (off: sign-in needed) */
    unsigned web_session_ttl_s;   /* default 43200: a staff session's lifetime */
    unsigned web_signin_attempts; /* default 5: sign-in attempts per minute per client address */
    unsigned web_threads;         /* default 4: hubweb's HTTP worker threads (1..32) */
};

void config_defaults(struct config *c);
/* HOST:PORT as [web] listen takes it (IPv4, a name, or [IPv6]; port 1..65535): 0 or -1, with
 * the host copied into host (brackets removed) and the port into *port. */
int config_parse_hostport(const char *v, char *host, size_t hostcap, unsigned *port);
/* Read an INI file over the current values. On error writes "file:line: reason" to err. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Fill derived values (control socket path, pub endpoint) after loading. */
int config_finish(struct config *c, char *err, size_t errlen);
/* Print the effective configuration as an INI file that config_load reads back (hubd -n). */
void config_print(const struct config *c, FILE *out);
/* SIGHUP: copy into cur the keys that may change at run time (log level and format, idle
 * timeout, watch backlog, sweep and sync intervals, discover, max_peers, peers, allow, anchor, reply_quota) from
 * next, logging one line per change, and log each other key that differs as kept until a
 * restart. Returns the number of changes applied. */
size_t config_reload(struct config *cur, const struct config *next);

#endif
