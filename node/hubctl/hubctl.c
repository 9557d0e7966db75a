/* hubctl.c: the command-line client of hubd. It speaks only the control protocol (CONTROL.md):
 * one JSON request per line over the Unix control socket, one JSON response per line back.
 * Argument parsing, socket I/O and the commands live here; printing is in hubctl_output.c. */
#include "hub.h"
#include "hubctl_exchange.h"
#include "hubctl_metrics.h"
#include "hubctl_output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Exit status, documented in the top-level --help. */
enum {
    EXIT_OK = 0,      /* success */
    EXIT_DAEMON = 1,  /* hubd answered with an error */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_CONNECT = 3, /* cannot connect to hubd, or the connection failed */
    EXIT_LOCAL = 4,   /* local file or I/O error */
};

/* Where hubctl looks for hubd when neither --socket nor $HUBD_SOCKET says: an installed hub's
 * socket (the package's unit and /etc/hubnet/hubd.conf put it there) if it exists, else the
 * development hub that scripts/run starts in ./hubdata. */
#define INSTALLED_SOCKET "/run/hubnet/hubd.sock"
#define DEV_SOCKET "./hubdata/hubd.sock"
#define CONN_READ_CHUNK 65536                  /* first size of the response buffer */
#define CONN_MAX_LINE ((size_t)1 << 30)        /* longest response line accepted: 1 GiB */
#define CONTROL_MAX_REQUEST ((size_t)16 << 20) /* hubd's request line limit (CONTROL.md) */
#define IMPORT_BATCH 10000 /* records or entries per import request: one transaction each */
#define IMPORT_MAX_BYTES (CONTROL_MAX_REQUEST - 1024) /* leaves room for the envelope */
#define MATCH_MAX_LIMIT 100                           /* results of one match call (hubd's bound) */
#define QUERY_ALL_LIMIT 1000                          /* page size of query --all */
#define QUERY_MAX_LIMIT 1000
#define RECV_INTERRUPTED (-1) /* conn_recv: SIGINT/SIGTERM during watch */

static volatile sig_atomic_t interrupted;

/* ---- connection --------------------------------------------------------------------------- */

struct conn {
    int fd;                   /* -1 until connected */
    char *buf;                /* received bytes not yet returned as lines */
    size_t len, cap, scanned; /* scanned: bytes already searched for '\n' */
    const sigset_t *waitmask; /* watch: signal mask while waiting for input (ppoll) */
    int send_err;             /* errno of a send that found hubd's end closed */
};

struct ctl {
    const char *socket;
    const struct output *out;
    int json;
    int raw; /* 1: --raw, -1: --table, 0: raw when stdout is not a terminal */
    struct conn conn;
};

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fputs("hubctl: out of memory\n", stderr);
        exit(EXIT_LOCAL);
    }
    return q;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static int conn_open(struct ctl *ctl) {
    struct conn *c = &ctl->conn;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(ctl->socket);
    int err;
    if (n >= sizeof(sa.sun_path)) {
        err = ENAMETOOLONG;
        goto fail;
    }
    memcpy(sa.sun_path, ctl->socket, n + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        err = errno;
        goto fail;
    }
    while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EISCONN)
            break;
        err = errno;
        close(c->fd);
        c->fd = -1;
        goto fail;
    }
    return 0;
fail:
    if (err == EACCES || err == EPERM)
        fprintf(stderr,
                "hubctl: cannot connect to hubd at %s: %s (the socket's file permissions are "
                "hubd's access control: run hubctl as a user of the socket's group)\n",
                ctl->socket, strerror(err));
    else
        fprintf(stderr,
                "hubctl: cannot connect to hubd at %s: %s (is hubd running? start it with "
                "scripts/run or 'hubd --config FILE')\n",
                ctl->socket, strerror(err));
    return EXIT_CONNECT;
}

static void conn_close(struct conn *c) {
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = c->scanned = 0;
}

static int conn_lost(struct ctl *ctl, const char *what, int err) {
    if (err)
        fprintf(stderr, "hubctl: lost the connection to hubd at %s: %s: %s\n", ctl->socket, what,
                strerror(err));
    else
        fprintf(stderr, "hubctl: lost the connection to hubd at %s: %s\n", ctl->socket, what);
    return EXIT_CONNECT;
}

/* Write the whole request. If hubd closed its end early (it may answer a request it refuses
 * before reading all of it), the failure is kept and reported by conn_recv unless an answer
 * is waiting there. */
static int write_all(struct ctl *ctl, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(ctl->conn.fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET) {
                ctl->conn.send_err = errno;
                return 0;
            }
            return conn_lost(ctl, "send", errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send one request (adds "v"); connects first if needed. Does not consume req. */
static int conn_send(struct ctl *ctl, json_t *req) {
    int rc;
    if (ctl->conn.fd < 0 && (rc = conn_open(ctl)) != 0)
        return rc;
    json_object_set_new(req, "v", json_integer(HUB_CONTROL_PROTOCOL));
    char *s = json_dumps(req, JSON_COMPACT);
    if (s == NULL) {
        fputs("hubctl: cannot encode the request\n", stderr);
        return EXIT_LOCAL;
    }
    size_t n = strlen(s);
    s = xrealloc(s, n + 1); /* one write: the request and its newline */
    s[n] = '\n';
    rc = write_all(ctl, s, n + 1);
    free(s);
    return rc;
}

/* Next response line as a JSON object (new reference in *out). Returns 0, EXIT_CONNECT, or
 * RECV_INTERRUPTED when a watched signal arrived while waiting. */
static int conn_recv(struct ctl *ctl, json_t **out) {
    struct conn *c = &ctl->conn;
    for (;;) {
        char *nl =
            c->len > c->scanned ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned) : NULL;
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            json_t *v = NULL;
            json_error_t e;
            if (n > 0)
                v = json_loadb(c->buf, n, JSON_ALLOW_NUL, &e);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            c->scanned = 0;
            if (n == 0)
                continue; /* tolerate blank lines */
            if (v == NULL || !json_is_object(v)) {
                fprintf(stderr, "hubctl: hubd sent a malformed response: %s\n",
                        v ? "not a JSON object" : e.text);
                json_decref(v);
                return EXIT_CONNECT;
            }
            *out = v;
            return 0;
        }
        c->scanned = c->len;
        if (c->len == c->cap) {
            if (c->cap >= CONN_MAX_LINE) {
                fprintf(stderr, "hubctl: hubd sent a response line longer than %zu bytes\n",
                        CONN_MAX_LINE);
                return EXIT_CONNECT;
            }
            c->cap = c->cap ? 2 * c->cap : CONN_READ_CHUNK;
            c->buf = xrealloc(c->buf, c->cap);
        }
        if (c->waitmask != NULL) {
            /* Signals are blocked except inside ppoll: no lost wake-up between the flag check
             * and the wait. */
            if (interrupted)
                return RECV_INTERRUPTED;
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            if (ppoll(&p, 1, NULL, c->waitmask) < 0) {
                if (errno == EINTR)
                    continue;
                return conn_lost(ctl, "poll", errno);
            }
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return conn_lost(ctl, c->send_err ? "send" : "read", c->send_err ? c->send_err : errno);
        }
        if (r == 0 && c->send_err)
            return conn_lost(ctl, "send", c->send_err);
        if (r == 0)
            return conn_lost(
                ctl, c->len ? "hubd closed it in the middle of a response" : "hubd closed it", 0);
        c->len += (size_t)r;
    }
}

/* One request, one response. req is consumed. Returns 0 with *resp (new reference) when hubd
 * answered "ok": true; EXIT_DAEMON after printing hubd's error (*resp set, for details);
 * EXIT_CONNECT or EXIT_LOCAL otherwise (*resp NULL). */
static int call_answer(struct ctl *ctl, json_t **resp);

static int call(struct ctl *ctl, json_t *req, json_t **resp) {
    *resp = NULL;
    int rc = conn_send(ctl, req);
    json_decref(req);
    if (rc)
        return rc;
    return call_answer(ctl, resp);
}

/* A request already encoded (text, its newline included), then its answer as call() gives it. */
static int call_text(struct ctl *ctl, const char *text, size_t len, json_t **resp) {
    *resp = NULL;
    int rc;
    if (ctl->conn.fd < 0 && (rc = conn_open(ctl)) != 0)
        return rc;
    if ((rc = write_all(ctl, text, len)) != 0)
        return rc;
    return call_answer(ctl, resp);
}

/* The answer to the request just sent: 0 if ok, else the error is printed (EXIT_DAEMON). */
static int call_answer(struct ctl *ctl, json_t **resp) {
    int rc = conn_recv(ctl, resp);
    if (rc == RECV_INTERRUPTED)
        return EXIT_OK;
    if (rc)
        return rc;
    if (json_is_true(json_object_get(*resp, "ok")))
        return 0;
    ctl->out->error(*resp);
    const char *code = json_string_value(json_object_get(json_object_get(*resp, "error"), "code"));
    if (code && strcmp(code, "E_VERSION") == 0)
        fprintf(stderr,
                "hubctl: hubd speaks another control protocol version than hubctl %s (protocol "
                "%d): use the hubctl that came with this hubd\n",
                HUB_VERSION, HUB_CONTROL_PROTOCOL);
    return EXIT_DAEMON;
}

/* ---- commands and their usage ------------------------------------------------------------- */

struct optdef {
    const char *name; /* long option without "--" */
    int arg;          /* takes a value */
    int multi;        /* may be repeated: the values become a list */
};

struct command {
    const char *name;
    int (*run)(struct ctl *ctl, json_t *opts, int npos, char **pos);
    const struct optdef *opts;
    int minpos, maxpos;
    const char *usage;
};

static const char top_usage[] =
    "usage: hubctl [-s|--socket PATH] [-j|--json] [--raw|--table] COMMAND [ARGS...]\n"
    "\n"
    "hubctl drives a running hubd through its control socket.\n"
    "\n"
    "Commands:\n"
    "  status                     daemon state: store, feeds, peers, rejected input, forks\n"
    "  id                         this hub's public key\n"
    "  publish KIND FILE          sign and publish a record from a JSON file (- for stdin);\n"
    "                             KIND: offer, request, profile, response, endorsement\n"
    "  get ID                     one entry by its id (or its first 8 digits): header and\n"
    "                             record fields\n"
    "  query [FILTERS]            search the current records\n"
    "  match RECORD               rank the offers (or --hubs) that fit a request, or the\n"
    "                             requests an offer could serve (--requests), with reasons\n"
    "  history KEY                every version of one record\n"
    "  retract KEY                withdraw one of this hub's records\n"
    "  watch [FILTERS]            print new records as they arrive, until Ctrl-C; --since and\n"
    "                             --reconnect resume by cursor without missing one\n"
    "  import FILE                publish many records (JSON Lines or CSV; --dry-run), or import\n"
    "                             signed entries (--entries)\n"
    "  export --format F [FILE]   the catalogue as jsonl, csv or jsonld (schema.org)\n"
    "  export --entries [FILE]    every signed entry, base64, one a line (for import --entries)\n"
    "  backup DIR                 a consistent, compacted copy of the store and the identity\n"
    "  verify                     check every chain, signature, payload hash and index entry\n"
    "  peers                      replication peers and their state\n"
    "  heads                      the head (last seq and id) of every feed this hub holds\n"
    "  vocab [NAME]               the controlled vocabularies (sector, technology, country, ...)\n"
    "                             and their values, for publish and query\n"
    "  metrics                    Prometheus metrics; --listen ADDR serves them over HTTP\n"
    "  inbox [--new]              replies to this hub's records, newest first\n"
    "  replies                    this hub's own replies and their state\n"
    "  accept REPLY               accept an enrolment in one of this hub's offers\n"
    "  decline REPLY              decline it (--reason TEXT)\n"
    "  lineage AUTHOR/KEY         the programmes derived from an offer, across hubs\n"
    "  peer add ENDPOINT KEY      add a replication peer (and endorse it; --no-endorse)\n"
    "  peer remove KEY            remove a replication peer\n"
    "  trust                      the hubs this hub trusts and through whom\n"
    "  block KEY                  refuse a hub's addressed replies (spam)\n"
    "  unblock KEY                accept a blocked hub's addressed replies again\n"
    "  web-token [--rotate]       the secret that signs staff in to hubweb, or a new one\n"
    "  help [COMMAND]             this text, or a command's options and an example\n"
    "\n"
    "Global options (before the command):\n"
    "  -s, --socket PATH  hubd's control socket (default: $HUBD_SOCKET, else\n"
    "                     " INSTALLED_SOCKET " if it exists, else " DEV_SOCKET ")\n"
    "  -j, --json         print hubd's JSON responses, one object per line, for scripts\n"
    "  --raw              tables as tab-separated lines, no header, nothing shortened (full\n"
    "                     ids and keys, whole titles): the default when stdout is not a terminal\n"
    "  --table            aligned tables for people even when stdout is not a terminal\n"
    "  -h, --help         this help; 'hubctl COMMAND --help' for one command\n"
    "  --version          hubctl's version and control protocol version\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  hubd answered with an error (printed as 'hubctl: E_CODE: message'), or\n"
    "     import: some record or row was refused; import --entries: some entry was rejected\n"
    "  2  usage error\n"
    "  3  cannot connect to hubd, or the connection to it failed\n"
    "  4  local file or I/O error (unreadable FILE, bad JSON in FILE)\n";

static const char status_usage[] =
    "usage: hubctl status\n"
    "\n"
    "Show hubd's state: this hub's key, version, uptime, store size, entries, records, feeds,\n"
    "peers, counts of rejected input, and forked feeds (an author who signed two different\n"
    "entries with the same seq: the feed is frozen and the operator must act).\n"
    "\n"
    "Example:\n"
    "  hubctl status\n"
    "  hubctl --json status | jq .forks\n";

static const char id_usage[] =
    "usage: hubctl id\n"
    "\n"
    "Print this hub's public key (64 hex digits): the KEY other hubs give to 'hubctl peer add'.\n"
    "\n"
    "Example:\n"
    "  hubctl id\n";

static const char publish_usage[] =
    "usage: hubctl publish KIND FILE [--key KEY] [--expires TIME] [--target T]\n"
    "                      [--unheld-target] [--seal-message]\n"
    "\n"
    "Sign and publish one of this hub's records. KIND is offer, request, profile, response or\n"
    "endorsement. FILE holds a JSON object of the record's fields (PROTOCOL.md, \"Payloads\");\n"
    "- reads it from standard input. Publishing again with the same key makes a new version.\n"
    "\n"
    "Options:\n"
    "  --key KEY        record key (default: \"profile\" for a profile, else a new random key)\n"
    "  --expires TIME   ISO 8601 UTC time (2027-06-30T00:00:00Z) or milliseconds since the epoch\n"
    "Responses (KIND response):\n"
    "  --target T       the record answered: an entry id, its first digits (as get takes), or\n"
    "                   AUTHOR/KIND/KEY; fills target_author, target_kind, target_key, target\n"
    "  --unheld-target  answer a record this hub does not hold (yet): not refused E_NOT_FOUND\n"
    "  --seal-message   seal the message too; the contact is always sealed to the target's hub\n"
    "\n"
    "Example:\n"
    "  echo '{\"title\":\"Train-the-trainer: AI for public services\",\"country\":\"AT\",\n"
    "        \"languages\":[\"de\",\"en\"],\"mode\":\"blended\",\n"
    "        \"topics\":[\"train-the-trainer\"]}' |\n"
    "    hubctl publish offer - --key ttt-ai-2027 --expires 2027-12-31T00:00:00Z\n"
    "  echo '{\"type\":\"enrolment\",\"seats\":2,\"contact\":\"academy@hub.example\"}' |\n"
    "    hubctl publish response - --target AUTHOR/offer/ttt-ai-2027\n";

static const char get_usage[] =
    "usage: hubctl get ID [--wire]\n"
    "\n"
    "Show one entry by its id: the 64 hex digits printed by publish and 'hubctl --json\n"
    "query', or, as in git, any unique start of them (at least 4 digits; the 8 that tables\n"
    "show will do). Prints its header, then its record's fields as 'field: value' lines.\n"
    "\n"
    "Options:\n"
    "  --wire   print only the signed entry's exact bytes, base64 (input for import --entries)\n"
    "\n"
    "Example:\n"
    "  hubctl get 9f2c41d07a3b5e6f8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d\n"
    "  hubctl get --wire 9f2c41d07a3b5e6f8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d\n";

static const char query_usage[] =
    "usage: hubctl query [FILTERS] [--limit N] [--cursor C | --all]\n"
    "       hubctl query --since CURSOR [--kind K] [--author HUB] [--topic T] [--country CC]\n"
    "                    [--limit N] [--all]\n"
    "\n"
    "Search the current records, newest first. Different filters combine with AND; the\n"
    "filters marked (+) take several values, repeated or separated by commas, and then ANY of\n"
    "them matches (--language es,en: Spanish or English). A value outside its vocabulary is\n"
    "refused (E_VOCAB) with the nearest values; labels match in any case (`hubctl vocab`).\n"
    "\n"
    "Filters:\n"
    "  --kind KIND        profile, offer, request, response, retraction, endorsement\n"
    "  --author HUB       the author's hub key (64 hex digits)\n"
    "  --topic T          topic tag (+)\n"
    "  --technology T     EDIH catalogue technology (+)\n"
    "  --sector S         EDIH catalogue sector (+)\n"
    "  --service S        EDIH service (+)\n"
    "  --country CC       ISO 3166-1 alpha-2 country code (+)\n"
    "  --language L       BCP 47 language tag (+)\n"
    "  --mode M           learning mode: online, onsite, blended, ... (+)\n"
    "  --audience A       audience code (+)\n"
    "  --skill URI        ESCO skill URI (+)\n"
    "  --text WORDS       full-text search: every word (2+ letters) in the title, name, topics,\n"
    "                     location, region or description, any case and accents, stems,\n"
    "                     the last word as a prefix; results by relevance\n"
    "  --from DATE        records whose dates overlap DATE..--to DATE (YYYY-MM-DD)\n"
    "  --to DATE\n"
    "  --target T         replies to a record: an entry id (any version), an id prefix or\n"
    "                     AUTHOR/KIND/KEY; endorsements of a hub key\n"
    "  --based-on A/K     offers based on the offer AUTHOR/KEY (train-the-trainer lineage)\n"
    "  --service-group G  test-before-invest, skills-training, investment,\n"
    "                     ecosystem-networking (+)\n"
    "  --has-seats        leave out full offers (and every other kind); a page may come out\n"
    "                     short: follow next\n"
    "  --opportunity-type T  offers of an ELM opportunity type: Course, MOOC, ... (+)\n"
    "  --schedule S       offers of an ELM schedule: full-time, part-time-light, ... (+)\n"
    "  --region R         records whose place holds R's words: a profile's region, an\n"
    "                     offer's or request's location; any case and accents (+)\n"
    "  --free             offers without a cost or costing 0\n"
    "  --max-cost AMOUNT  offers free or costing at most AMOUNT in its currency: 500EUR,\n"
    "                     12.50 EUR (other currencies are left out)\n"
    "                     --opportunity-type, --schedule, --free and --max-cost keep offers\n"
    "                     only; with --text, they and --region may leave a page short\n"
    "  --upcoming         records whose start date is today (UTC) or later\n"
    "Order:\n"
    "  --sort ORDER       published: newest first (the default without --text); relevance:\n"
    "                     best text match first (the default with --text); start: start date,\n"
    "                     soonest first, undated last (not with --text)\n"
    "Paging:\n"
    "  --limit N          records per page, 1..1000 (default 50; 1000 with --all)\n"
    "  --cursor C         continue from the next-page cursor of an earlier query\n"
    "  --all              follow the cursors and print every page\n"
    "Entries by cursor:\n"
    "  --since CURSOR     instead of current records: every entry this hub accepted after\n"
    "                     CURSOR (0: from the first; 'now': none yet), oldest first, with\n"
    "                     its cursor (a watch event's or an earlier --since page's \"next\"):\n"
    "                     retractions and purged versions too. Only --kind, --author,\n"
    "                     --topic, --country, --limit and --all apply. A script that keeps the\n"
    "                     last \"next\" misses no entry between its runs\n"
    "\n"
    "Example:\n"
    "  hubctl query --topic train-the-trainer --country AT --language de\n"
    "  hubctl query --language es,en --sector \"smart city\" --upcoming --sort start\n"
    "  hubctl query --opportunity-type course,mooc --max-cost 500EUR\n"
    "  hubctl --json query --since 1200 --all | jq -r '.entries[].id'\n"
    "  hubctl --json query --kind offer --from 2027-01-01 --to 2027-06-30 --all > offers.json\n";

static const char match_usage[] =
    "usage: hubctl match REQUEST [--hubs] [--limit N]\n"
    "       hubctl match OFFER --requests [--limit N]\n"
    "\n"
    "Rank what fits an expertise request: the current offers of every hub this hub holds, or\n"
    "with --hubs the hubs (a hub scores the better of its profile and its best offer). For an\n"
    "offer, --requests ranks the open requests it could serve. REQUEST and OFFER are an entry\n"
    "id, its first digits (at least 4), or AUTHOR/KIND/KEY (AUTHOR: the hub's 64-digit key).\n"
    "\n"
    "Each result shows a score out of 100 and its reasons: + the criteria that agreed, - those\n"
    "that did not. Criteria and weights: topics 20, technologies 15, skills 10, sectors 10,\n"
    "services 10, service group 5, languages 10 (ANY of the request's), country 5 (or online),\n"
    "mode 5, dates 5 (overlap the request's window), budget 5 (cost within it, same currency).\n"
    "A criterion the request does not state counts as met. Left out: past offers, full offers,\n"
    "offers in none of the request's languages, and offers sharing no topic, skill, technology,\n"
    "sector or service. Ties: earlier start first, then the lower entry id. CONTROL.md, "
    "\"match\".\n"
    "\n"
    "Options:\n"
    "  --hubs        rank hubs (profile and offers) instead of offers\n"
    "  --requests    RECORD is an offer: rank the open requests it could serve\n"
    "  --limit N     results, 1 to 100 (default 20)\n"
    "\n"
    "Example:\n"
    "  hubctl match 3f9a2c41\n"
    "  hubctl match --hubs 3f9a2c41\n"
    "  hubctl --json match 9f2c...c4d5/offer/ttt-ai-2027 --requests | jq '.results[].id'\n";

static const char history_usage[] =
    "usage: hubctl history KEY [--kind KIND] [--author HUB]\n"
    "\n"
    "Every version of one record, oldest first. Versions whose payload was erased (retracted\n"
    "or expired) show as (purged).\n"
    "\n"
    "Options:\n"
    "  --kind KIND    the record's kind\n"
    "  --author HUB   the author's hub key (default: this hub)\n"
    "\n"
    "Example:\n"
    "  hubctl history ttt-ai-2027 --kind offer\n";

static const char retract_usage[] =
    "usage: hubctl retract KEY [--kind KIND] [--reason TEXT]\n"
    "\n"
    "Withdraw one of this hub's records: it disappears from queries and the payloads of all its\n"
    "versions are erased on every hub that holds it.\n"
    "\n"
    "Options:\n"
    "  --kind KIND     the record's kind (default: the kind that holds KEY; an error if several)\n"
    "  --reason TEXT   why, published with the retraction\n"
    "\n"
    "Example:\n"
    "  hubctl retract ttt-ai-2027 --kind offer --reason \"cancelled: trainer unavailable\"\n";

static const char watch_usage[] =
    "usage: hubctl watch [--kind KIND] [--author HUB] [--topic T] [--country CC] [--inbox]\n"
    "                    [--since CURSOR] [--reconnect]\n"
    "\n"
    "Print each newly accepted record, this hub's own and replicated ones, as it arrives,\n"
    "until interrupted (Ctrl-C or SIGTERM: exit status 0). A retraction shows as a record of\n"
    "kind retraction. With --json, hubd's event objects, one per line, each with its\n"
    "\"cursor\" (the hub's number for the entry, growing with each one accepted).\n"
    "A plain watch is dropped (exit status 1) if hubctl falls behind by more than the hub's\n"
    "watch_backlog (hubd.conf, default 16 MiB); it ends (exit status 3) when hubd stops.\n"
    "\n"
    "Options:\n"
    "  --inbox          only replies to this hub's records (what 'hubctl inbox' lists)\n"
    "  --since CURSOR   first every entry accepted after CURSOR (from an event or from\n"
    "                   'query --since'), then new ones, without a gap or a duplicate; hubd\n"
    "                   sends them as fast as hubctl reads and never drops this watch.\n"
    "                   'now': from the last entry accepted\n"
    "  --reconnect      when hubd stops or restarts, connect again (waits 0.1 s, doubling up\n"
    "                   to 5 s) and resume after the last cursor seen: no entry lost, none\n"
    "                   twice. Without --since it starts at 'now'. A cursor past the hub's\n"
    "                   last entry (it was restored from an older backup) is refused\n"
    "                   (E_RANGE): exit status 1\n"
    "\n"
    "Example:\n"
    "  hubctl watch --kind offer --country AT\n"
    "  hubctl --json watch --topic train-the-trainer | jq -r .entry.record.title\n"
    "  hubctl --json watch --reconnect --since \"$(cat last.cursor)\" | while read -r ev; do\n"
    "      ...; jq .cursor <<<\"$ev\" > last.cursor; done\n";

static const char export_usage[] =
    "usage: hubctl export --format jsonl|csv|jsonld [FILE] [QUERY FILTERS] [--lang L]\n"
    "       hubctl export --entries [FILE] [--since CURSOR]\n"
    "\n"
    "--format: the current records the filters select (those of 'hubctl query'; offers unless\n"
    "--kind says), to FILE (default standard output), read from hubd in pages of 1000 and\n"
    "written as they come (memory does not grow with the catalogue):\n"
    "  jsonl    one {\"kind\",\"key\",\"record\"} a line: what 'hubctl import' takes back\n"
    "  csv      RFC 4180, UTF-8, one row per offer (or request), a header row of named columns\n"
    "           (README \"Exchanging the catalogue\"); lists hold values separated by '|';\n"
    "           'hubctl import FILE.csv' takes it back\n"
    "  jsonld   schema.org JSON-LD: the hub (Organization, from its profile) and each offer as\n"
    "           a Course (+ EducationalOccupationalProgram for train-the-trainer) with its\n"
    "           CourseInstance and Offer (price), for a website and search engines\n"
    "\n"
    "--entries: every signed entry this hub holds, in the order it accepted them, one base64\n"
    "line each: the format 'hubctl import --entries' takes. It moves a hub's feeds to another\n"
    "machine or across a store schema change (README, \"Backup, restore, verify\"). Entries\n"
    "whose payload was purged go without it. At the end, stderr gives the last cursor: --since\n"
    "CURSOR exports only what came after it.\n"
    "\n"
    "Options:\n"
    "  --format F       jsonl, csv or jsonld: records (csv: offers or requests; jsonld: offers)\n"
    "  --kind K         with --format: offer (default), request, profile, ...\n"
    "  --lang L         with --format: the language to pick where records carry several (a\n"
    "                   language tag; no effect yet: records hold one title and description)\n"
    "  --country, --topic, --text, --from, ...  with --format: as 'hubctl query' takes them\n"
    "  --entries        signed entries\n"
    "  --since CURSOR   with --entries: only entries accepted after CURSOR\n"
    "\n"
    "Example:\n"
    "  hubctl export --format csv offers.csv\n"
    "  hubctl export --format jsonld --country AT > catalogue.jsonld\n"
    "  hubctl export --entries hub.entries\n"
    "  hubctl -s /run/hubnet/new.sock import --entries hub.entries\n";

static const char backup_usage[] =
    "usage: hubctl backup DIR [--no-identity]\n"
    "\n"
    "Make DIR (mode 0700; it may exist but must not hold data.mdb) and put in it a consistent,\n"
    "compacted copy of the hub's store, data.mdb, and a copy of its identity.key. hubd goes\n"
    "on answering and storing entries meanwhile: the copy is one snapshot. hubctl creates\n"
    "the file and hands it to hubd over the control socket, so hubd needs no write access to\n"
    "DIR. hubctl copies identity.key itself from hubd's data dir: if it may not read it (a\n"
    "packaged hub's key belongs to the hubnet user), it says so and exits 4, unless\n"
    "--no-identity (back the key up once, as root). To restore, see README, \"Backup,\n"
    "restore, verify\": the hub then waits for a peer before it publishes again.\n"
    "\n"
    "Options:\n"
    "  --no-identity    do not fail when the key cannot be copied\n"
    "\n"
    "Example:\n"
    "  sudo -u hubnet hubctl backup /var/backups/hubnet/$(date +%F)\n";

static const char verify_usage[] =
    "usage: hubctl verify\n"
    "\n"
    "Ask hubd to check its whole store: every feed's chain (seq 1 to its head\n"
    "without a gap, each prev the id before it), every entry's signature and, unless purged,\n"
    "payload hash, every current record present in the index and every index posting naming\n"
    "a current record. hubd goes on answering meanwhile (the check runs on a thread; 100,000\n"
    "entries take 12-15 s on 2 cores). Prints what was checked; exit status 1 with the first\n"
    "problem and the number found. Run it on a restored backup before it goes live.\n"
    "\n"
    "Example:\n"
    "  hubctl verify\n";

static const char inbox_usage[] =
    "usage: hubctl inbox [--new] [--limit N] [--cursor C]\n"
    "\n"
    "Replies to this hub's records (answers to its requests, enrolments in its offers, and\n"
    "other hubs' accepts and declines of its enrolments), newest first: the responding hub's\n"
    "name and country (its key when it published no profile), the record answered, the type,\n"
    "seats, the message and the state: new, seen, accepted, declined or closed. Contact\n"
    "details sealed to this hub are shown opened. Listing marks the replies seen (this hub\n"
    "only; not replicated). 'hubctl watch --inbox' prints them as they arrive.\n"
    "\n"
    "Options:\n"
    "  --new        only the replies not seen before\n"
    "  --limit N    replies per page, 1..1000 (default 50)\n"
    "  --cursor C   the next page\n"
    "\n"
    "Example:\n"
    "  hubctl inbox --new\n"
    "  hubctl --json inbox | jq -r '.replies[] | [.id, .author_name, .state] | @tsv'\n";

static const char replies_usage[] =
    "usage: hubctl replies [--limit N] [--cursor C]\n"
    "\n"
    "This hub's own replies, newest first, with the hub and record they answer and their\n"
    "state: pending, accepted or declined (by the answered record's hub), or closed (the\n"
    "record was retracted).\n"
    "\n"
    "Example:\n"
    "  hubctl replies\n";

static const char accept_usage[] =
    "usage: hubctl accept REPLY [--message TEXT]\n"
    "       hubctl decline REPLY [--reason TEXT] [--message TEXT]\n"
    "\n"
    "Answer an enrolment in one of this hub's offers with a signed response every hub\n"
    "replicates: seats_left is counted from these answers. REPLY is the enrolment's id, its\n"
    "first digits, or AUTHOR/response/KEY. Accepting more seats than are left publishes a\n"
    "decline with reason \"full\" instead. A later answer to the same enrolment replaces the\n"
    "earlier one.\n"
    "\n"
    "Example:\n"
    "  hubctl accept 3f9a1c07\n"
    "  hubctl decline 3f9a1c07 --reason \"the course is for public administrations\"\n";

static const char lineage_usage[] =
    "usage: hubctl lineage AUTHOR/KEY\n"
    "\n"
    "The tree of programmes based on the offer AUTHOR/KEY (based_on), across hubs and\n"
    "generations, as this hub holds them: each with its title, hub name and country. Children\n"
    "are ordered by author key, then key, so every hub prints the same tree for the same\n"
    "records. At most 500 programmes and 16 generations.\n"
    "\n"
    "Example:\n"
    "  hubctl lineage 5ab1...e2/ttt-ai-2027\n";

static const char vocab_usage[] =
    "usage: hubctl vocab [NAME]\n"
    "\n"
    "The controlled vocabularies records are checked against, with every value as publish and\n"
    "query take it: technology, sector, service, mode, schedule, opportunity_type, audience,\n"
    "country, currency, service_group, service_type, and topic: the curated public-sector\n"
    "topic tags (NAME: one of them, in any case; a plural will do: sectors). A query matches\n"
    "labels in any case; a value outside its list is refused (E_VOCAB) with the nearest\n"
    "values. Topics, languages (BCP 47) and skills (ESCO URIs) are open vocabularies, checked\n"
    "for their form only: the topic list is a suggestion.\n"
    "\n"
    "Example:\n"
    "  hubctl vocab sector\n"
    "  hubctl --json vocab | jq -r '.lists[] | .name'\n";

static const char heads_usage[] =
    "usage: hubctl heads\n"
    "\n"
    "The head of every feed this hub holds, in author order: the author's key, the last\n"
    "sequence number and the first digits of its entry id, and \"forked\" for a feed frozen by\n"
    "a fork. Compare two hubs' heads to see what replication still has to move.\n"
    "\n"
    "Example:\n"
    "  hubctl heads\n"
    "  hubctl --json heads | jq -r '.feeds[] | \"\\(.author) \\(.seq)\"'\n";

static const char metrics_usage[] =
    "usage: hubctl metrics [--listen HOST:PORT]\n"
    "\n"
    "Print hubd's state as Prometheus metrics (text exposition format 0.0.4): entries,\n"
    "records and feeds held, entries accepted and rejected by reason, per peer: up, entries\n"
    "and bytes sent and received, rejected, sync rounds and lag; commit latency and batch\n"
    "size histograms, store map used and maximum, control clients, forks.\n"
    "\n"
    "With --listen, hubctl stays running as an exporter and serves GET /metrics on that\n"
    "address (e.g. " METRICS_DEFAULT_LISTEN "), asking hubd afresh at each scrape; when hubd\n"
    "does not answer, hubnet_up is 0. hubd itself never serves HTTP: the process holding the\n"
    "hub's key parses no web requests. The package's hubnet-metrics.service runs it.\n"
    "\n"
    "Example:\n"
    "  hubctl metrics | grep hubnet_peer_up\n"
    "  hubctl metrics --listen " METRICS_DEFAULT_LISTEN " &   curl -s localhost:9477/metrics\n";

static const char import_usage[] =
    "usage: hubctl import FILE [--dry-run] [--format jsonl|csv] | FILE --entries\n"
    "\n"
    "Publish many records of this hub, from JSON Lines or CSV (FILE ending in .csv, or\n"
    "--format csv; - for standard input). JSON Lines: each line a JSON object, \"key\" optional:\n"
    "  {\"kind\":\"offer\",\"key\":\"ttt-ai-2027\",\"record\":{\"title\":\"...\"}}\n"
    "CSV: the columns 'hubctl export --format csv' writes (README \"Exchanging the catalogue\"),\n"
    "named in a header row, in any order; kind and key are needed, empty cells are absent fields.\n"
    "Every row of a FILE is checked before anything is sent; a bad one is reported with its\n"
    "line (and column) and nothing is sent. hubd checks each record as publish does: a record it\n"
    "refuses is reported (line, column, reason) and the others are stored. A record equal to\n"
    "this hub's current version of it is 'unchanged': no new version. The report counts new,\n"
    "updated, unchanged and refused records; any refused makes the exit status 1. Records go in\n"
    "requests of at most 10000 (and under the 16 MiB request limit). On a terminal, a line on\n"
    "stderr shows how many have been sent.\n"
    "\n"
    "Options:\n"
    "  --dry-run   check every row (hubd checks too) and report, storing nothing; exit 1 if\n"
    "              any row is bad\n"
    "  --format F  jsonl or csv (default: csv for a FILE ending in .csv, else jsonl)\n"
    "  --entries   each line is another hub's signed entry in base64 (as 'hubctl get --wire'\n"
    "              prints it). Each is validated like a replicated entry; valid ones are\n"
    "              stored, rejected ones are listed by line and make the exit status 1.\n"
    "\n"
    "Example:\n"
    "  hubctl import --dry-run offers.csv\n"
    "  hubctl import offers.jsonl\n"
    "  hubctl import --entries entries.b64\n";

static const char peers_usage[] =
    "usage: hubctl peers\n"
    "\n"
    "List the replication peers, one row per hub: KEY, ENDPOINT, the state of the session\n"
    "this hub dials (OUT) and of the one the peer dialled (IN): up, down, connecting, or - for\n"
    "none; UP FOR (since the earlier of them came up), FLAPS (times a session went down after\n"
    "being up), LAST HEARD, entries SENT to and\n"
    "RECV(eived) from the peer, entries from it REJECTED, and BEHIND as N/M: the peer lacks\n"
    "N entries that this hub holds, this hub lacks M entries that the peer holds; HELD BACK as\n"
    "D/R: the peer's requests deferred and refused over the answer window (it asks faster than\n"
    "it reads the answers).\n"
    "\n"
    "Piped, or with --raw: the same columns tab-separated, full keys, no header; --json gives\n"
    "hubd's list of sessions (one per direction).\n"
    "\n"
    "Example:\n"
    "  hubctl peers\n"
    "  hubctl peers | awk -F'\\t' '$3 != \"up\" { print $1 }'    # hubs we cannot reach\n";

static const char peer_usage[] =
    "usage: hubctl peer add ENDPOINT KEY [--no-endorse]\n"
    "       hubctl peer remove KEY\n"
    "\n"
    "Add or remove a replication peer. ENDPOINT is the peer's sync endpoint, tcp://host:port;\n"
    "KEY is its hub key, 64 hex digits ('hubctl id' on that hub prints it). peer add also\n"
    "publishes a signed endorsement of the peer, so that the hubs that trust this one trust\n"
    "it too (PROTOCOL.md 9.10); --no-endorse peers with it without vouching for it.\n"
    "\n"
    "Example:\n"
    "  hubctl peer add tcp://10.0.0.3:7400 \"$(ssh hub-b.example.eu hubctl id)\"\n"
    "  hubctl peer remove 5a1e0c3d9b7f4e2a8c6d0b1f3e5a7c9d2b4f6e8a0c1d3e5f7a9b2c4d6e8f0a1b\n";

static const char trust_usage[] =
    "usage: hubctl trust\n"
    "\n"
    "The hubs whose feeds this hub replicates, and why: VIA peer, anchor or allow (a root of\n"
    "trust from the config or 'peer add'), or endorsed BY a trusted hub at HOP n (PROTOCOL.md\n"
    "9.10). NAME is the hub's profile name when this hub holds its profile.\n"
    "\n"
    "Example:\n"
    "  hubctl trust\n";

static const char block_usage[] =
    "usage: hubctl block KEY\n"
    "       hubctl unblock KEY\n"
    "\n"
    "Refuse the addressed replies (PROTOCOL.md 9.15) of hub KEY from now on, or accept them\n"
    "again. Kept across restarts. Refusals are counted in 'hubctl status' (addressed replies).\n"
    "\n"
    "Example:\n"
    "  hubctl block 5a1e0c3d9b7f4e2a8c6d0b1f3e5a7c9d2b4f6e8a0c1d3e5f7a9b2c4d6e8f0a1b\n";

static const char web_token_usage[] =
    "usage: hubctl web-token [--rotate] [--json]\n"
    "\n"
    "Print the secret that signs staff in to the hub's web page (hubweb, /signin). hubd makes\n"
    "it on first use (32 random bytes, base64url) and keeps it in its data dir (web.token, mode\n"
    "0600); hubweb asks hubd for it and never stores it. With --json: the token and its\n"
    "generation.\n"
    "\n"
    "Options:\n"
    "  --rotate   make a new secret (generation + 1): every hubweb session signed in with the\n"
    "             old one ends at its next request; the old secret signs nobody in again\n"
    "\n"
    "Example:\n"
    "  hubctl web-token\n"
    "  hubctl web-token --rotate\n";

/* ---- option parsing ----------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt,
                                                             ...) {
    va_list ap;
    fputs("hubctl: ", stderr);
    if (cmd)
        fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nTry 'hubctl %s --help'.\n", cmd);
    else
        fputs("\nTry 'hubctl --help'.\n", stderr);
    return EXIT_USAGE;
}

/* A value of a global option ("--socket PATH", "--socket=PATH" or "-s PATH") at argv[*i]: 1 and
 * *val when argv[*i] is that option, 0 when not, -1 when the value is missing. */
static int take_value(const char *name, int argc, char **argv, int *i, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (a[0] == '-' && a[1] == name[0] && a[2] == '\0') { /* the short form: -s PATH */
        if (*i + 1 >= argc)
            return -1;
        *val = argv[++*i];
        return 1;
    }
    if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
        return 0;
    if (a[2 + n] == '=') {
        *val = a + 3 + n;
        return 1;
    }
    if (a[2 + n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Parse a command's arguments into opts (name -> string, list of strings, or true) and the
 * positional arguments. Global options are accepted here too. Returns 0, EXIT_USAGE, or -1
 * when --help was printed. */
static int parse_command_args(struct ctl *ctl, const struct command *cmd, int argc, char **argv,
                              json_t *opts, int *npos, char **pos) {
    int only_pos = 0;
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (*npos >= cmd->maxpos)
                return usage_error(cmd->name, "unexpected argument '%s'", a);
            pos[(*npos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(cmd->usage, stdout);
            return -1;
        }
        if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
            ctl->json = 1;
            continue;
        }
        if (strcmp(a, "--raw") == 0 || strcmp(a, "--table") == 0) {
            ctl->raw = a[2] == 'r' ? 1 : -1;
            continue;
        }
        const char *val;
        int t = take_value("socket", argc, argv, &i, &val);
        if (t < 0)
            return usage_error(cmd->name, "option '%s' needs a value", a);
        if (t > 0) {
            ctl->socket = val;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return usage_error(cmd->name, "unknown option '%s'", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct optdef *d = NULL;
        for (const struct optdef *o = cmd->opts; o && o->name; o++)
            if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
                d = o;
        if (d == NULL)
            return usage_error(cmd->name, "unknown option '%s'", a);
        /* --unheld-target is the request member unheld_target. */
        char oname[64];
        snprintf(oname, sizeof oname, "%s", d->name);
        for (char *p = oname; *p; p++)
            if (*p == '-')
                *p = '_';
        if (!d->arg) {
            if (eq)
                return usage_error(cmd->name, "option '%s' takes no value", a);
            json_object_set_new(opts, oname, json_true());
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error(cmd->name, "option '%s' needs a value", a);
            val = argv[++i];
        }
        json_t *have = json_object_get(opts, oname);
        if (have && !d->multi)
            return usage_error(cmd->name, "option '--%s' given twice", d->name);
        json_t *s = json_string(val);
        if (s == NULL)
            return usage_error(cmd->name, "option '--%s': the value is not valid UTF-8", d->name);
        if (have == NULL) {
            json_object_set_new(opts, oname, s);
        } else if (json_is_string(have)) {
            json_object_set_new(opts, oname, json_pack("[Oo]", have, s));
        } else {
            json_array_append_new(have, s);
        }
    }
    if (*npos < cmd->minpos) {
        /* The first line of the usage text names the arguments. */
        const char *u = cmd->usage + strlen("usage: ");
        return usage_error(cmd->name, "missing arguments: %.*s", (int)strcspn(u, "\n"), u);
    }
    return 0;
}

/* Checked unsigned parse of a whole decimal string. 0 or -1. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Copy the named options from opts into req (same member names). */
static void copy_opts(json_t *req, json_t *opts, const char *const *names) {
    for (; *names; names++) {
        json_t *v = json_object_get(opts, *names);
        if (v)
            json_object_set(req, *names, v);
    }
}

/* ---- local files -------------------------------------------------------------------------- */

static const char *file_label(const char *path) {
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* A whole file (or stdin for "-") as one JSON object. 0 or EXIT_LOCAL (reported). */
static int read_json_object(const char *path, json_t **out) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "hubctl: cannot read %s: %s\n", path, strerror(errno));
        return EXIT_LOCAL;
    }
    json_error_t e;
    json_t *v = json_loadf(f, 0, &e);
    int read_err = ferror(f) ? errno : 0;
    if (f != stdin)
        fclose(f);
    if (v == NULL) {
        if (read_err)
            fprintf(stderr, "hubctl: cannot read %s: %s\n", file_label(path), strerror(read_err));
        else
            fprintf(stderr, "hubctl: %s:%d:%d: bad JSON: %s\n", file_label(path), e.line, e.column,
                    e.text);
        return EXIT_LOCAL;
    }
    if (!json_is_object(v)) {
        fprintf(stderr, "hubctl: %s: expected a JSON object of the record's fields\n",
                file_label(path));
        json_decref(v);
        return EXIT_LOCAL;
    }
    *out = v;
    return 0;
}

/* ---- status, id, peers -------------------------------------------------------------------- */

static int simple_call(struct ctl *ctl, const char *op, json_t **resp) {
    json_t *req = json_object();
    json_object_set_new(req, "op", json_string(op));
    return call(ctl, req, resp);
}

static int cmd_status(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    (void)pos;
    json_t *r;
    int rc = simple_call(ctl, "status", &r);
    if (rc == 0) {
        json_t *p = json_object_get(r, "protocol");
        if (json_is_integer(p) && json_integer_value(p) != HUB_CONTROL_PROTOCOL)
            fprintf(stderr,
                    "hubctl: warning: hubd speaks control protocol %" JSON_INTEGER_FORMAT
                    ", hubctl %d\n",
                    json_integer_value(p), HUB_CONTROL_PROTOCOL);
        ctl->out->status(r);
    }
    json_decref(r);
    return rc;
}

/* A call without arguments whose answer one printer of ctl->out shows (id, peers, heads,
 * trust). */
static int show_call(struct ctl *ctl, const char *op, void (*print)(json_t *)) {
    json_t *r;
    int rc = simple_call(ctl, op, &r);
    if (rc == 0)
        print(r);
    json_decref(r);
    return rc;
}

static int cmd_id(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    (void)pos;
    return show_call(ctl, "id", ctl->out->id);
}

static int cmd_peers(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    (void)pos;
    return show_call(ctl, "peers", ctl->out->peers);
}

static int cmd_heads(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    (void)pos;
    return show_call(ctl, "heads", ctl->out->heads);
}

/* vocab [NAME]: one list per block, its name then one value a line (--json: the reply). */
static int cmd_vocab(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    json_t *r, *req = json_pack("{s:s}", "op", "vocab");
    if (npos > 0)
        json_object_set_new(req, "name", json_string(pos[0]));
    int rc = call(ctl, req, &r);
    if (rc == 0) {
        if (ctl->json) {
            char *s = json_dumps(r, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
        } else {
            size_t i, k;
            json_t *l, *v;
            json_array_foreach(json_object_get(r, "lists"), i, l) {
                json_t *vals = json_object_get(l, "values");
                printf("%s%s (%zu values)\n", i ? "\n" : "",
                       json_string_value(json_object_get(l, "name")), json_array_size(vals));
                json_array_foreach(vals, k, v) {
                    printf("  %s\n", json_string_value(v));
                }
            }
        }
    }
    json_decref(r);
    return rc;
}

static int cmd_trust(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    (void)pos;
    return show_call(ctl, "trust", ctl->out->trust);
}

static int cmd_block_op(struct ctl *ctl, const char *op, const char *key) {
    json_t *r, *req = json_pack("{s:s,s:s}", "op", op, "key", key);
    if (req == NULL)
        return usage_error(op, "%s", "KEY is not valid UTF-8");
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->blocked(r);
    json_decref(r);
    return rc;
}

static int cmd_block(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    return cmd_block_op(ctl, "block", pos[0]);
}

static int cmd_unblock(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    return cmd_block_op(ctl, "unblock", pos[0]);
}

static int cmd_peer(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    json_t *req, *r;
    const char *verb, *key, *endpoint = NULL;
    if (strcmp(pos[0], "add") == 0) {
        if (npos != 3)
            return usage_error("peer", "%s", "peer add needs ENDPOINT and KEY");
        endpoint = pos[1];
        key = pos[2];
        verb = "added";
        req = json_pack("{s:s,s:s,s:s,s:b}", "op", "peer_add", "endpoint", endpoint, "key", key,
                        "endorse", !json_is_true(json_object_get(opts, "no_endorse")));
    } else if (strcmp(pos[0], "remove") == 0) {
        if (npos != 2)
            return usage_error("peer", "%s", "peer remove needs exactly one KEY");
        key = pos[1];
        verb = "removed";
        req = json_pack("{s:s,s:s}", "op", "peer_remove", "key", key);
    } else {
        return usage_error("peer", "unknown subcommand '%s' (add or remove)", pos[0]);
    }
    if (req == NULL)
        return usage_error("peer", "%s", "arguments are not valid UTF-8");
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->peer_changed(r, verb, key, endpoint);
    json_decref(r);
    return rc;
}

/* ---- publish, get, retract ---------------------------------------------------------------- */

static const char *const publish_kinds[] = {"offer",    "request",     "profile",
                                            "response", "endorsement", NULL};

static int cmd_publish(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    const char *kind = pos[0];
    int ok = 0;
    for (const char *const *k = publish_kinds; *k; k++)
        ok |= strcmp(*k, kind) == 0;
    if (!ok)
        return usage_error("publish",
                           "KIND '%s' is not one of offer, request, profile, response, endorsement",
                           kind);
    json_t *expires = NULL;
    const char *exp = json_string_value(json_object_get(opts, "expires"));
    if (exp) {
        uint64_t ms;
        if (strspn(exp, "0123456789") == strlen(exp)) {
            if (parse_u64(exp, INT64_MAX, &ms) != 0)
                return usage_error(
                    "publish", "--expires '%s' is neither an ISO 8601 time nor milliseconds", exp);
            expires = json_integer((json_int_t)ms);
        } else {
            expires = json_string(exp);
        }
    }
    json_t *record;
    int rc = read_json_object(pos[1], &record);
    if (rc) {
        json_decref(expires);
        return rc;
    }
    json_t *req = json_pack("{s:s,s:s,s:o}", "op", "publish", "kind", kind, "record", record);
    copy_opts(req, opts,
              (const char *const[]){"key", "target", "unheld_target", "seal_message", NULL});
    if (expires)
        json_object_set_new(req, "expires", expires);
    json_t *r;
    rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->published(r);
    json_decref(r);
    return rc;
}

static int cmd_get(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    const char *id = pos[0];
    json_t *r, *req = json_pack("{s:s,s:s}", "op", "get", "id", id);
    if (req == NULL)
        return usage_error("get", "%s", "ID is not valid UTF-8");
    int rc = call(ctl, req, &r);
    if (rc == 0) {
        if (json_is_true(json_object_get(opts, "wire"))) {
            const char *w = json_string_value(json_object_get(r, "wire"));
            if (w == NULL) {
                fputs("hubctl: hubd's get response carries no \"wire\" member\n", stderr);
                rc = EXIT_DAEMON;
            } else {
                printf("%s\n", w);
            }
        } else {
            ctl->out->entry(r);
        }
    }
    json_decref(r);
    return rc;
}

static int cmd_retract(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    json_t *r, *req = json_pack("{s:s,s:s}", "op", "retract", "key", pos[0]);
    if (req == NULL)
        return usage_error("retract", "%s", "KEY is not valid UTF-8");
    copy_opts(req, opts, (const char *const[]){"kind", "reason", NULL});
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->retracted(r, pos[0]);
    json_decref(r);
    return rc;
}

/* ---- match --------------------------------------------------------------------------------- */

static int cmd_match(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    uint64_t limit = 0;
    const char *ls = json_string_value(json_object_get(opts, "limit"));
    if (ls && (parse_u64(ls, MATCH_MAX_LIMIT, &limit) != 0 || limit == 0))
        return usage_error("match", "--limit '%s' is not a number from 1 to %d", ls,
                           MATCH_MAX_LIMIT);
    int hubs = json_is_true(json_object_get(opts, "hubs"));
    int requests = json_is_true(json_object_get(opts, "requests"));
    if (hubs && requests)
        return usage_error("match", "%s", "--hubs is for a request, --requests for an offer");
    json_t *r, *req = json_pack("{s:s,s:s}", "op", "match", "record", pos[0]);
    if (req == NULL)
        return usage_error("match", "%s", "RECORD is not valid UTF-8");
    if (hubs)
        json_object_set_new(req, "hubs", json_true());
    if (requests)
        json_object_set_new(req, "requests", json_true());
    if (limit)
        json_object_set_new(req, "limit", json_integer((json_int_t)limit));
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->match(r);
    json_decref(r);
    return rc;
}

/* ---- query, history ----------------------------------------------------------------------- */

static const char *const query_filters[] = {
    "kind",     "author",   "topic",         "technology", "sector",           "service",
    "country",  "language", "mode",          "audience",   "skill",            "text",
    "from",     "to",       "target",        "based_on",   "service_group",    "has_seats",
    "schedule", "region",   "free",          "max_cost",   "opportunity_type", "upcoming",
    "sort",     NULL};

static int query_since(struct ctl *ctl, json_t *opts);

static int cmd_query(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    (void)pos;
    if (json_object_get(opts, "since"))
        return query_since(ctl, opts);
    int all = json_is_true(json_object_get(opts, "all"));
    uint64_t limit = 0;
    const char *ls = json_string_value(json_object_get(opts, "limit"));
    if (ls && (parse_u64(ls, QUERY_MAX_LIMIT, &limit) != 0 || limit == 0))
        return usage_error("query", "--limit '%s' is not a number from 1 to 1000", ls);
    if (all && limit == 0)
        limit = QUERY_ALL_LIMIT;

    char *cursor = NULL;
    const char *cs = json_string_value(json_object_get(opts, "cursor"));
    if (cs)
        cursor = xstrdup(cs);
    size_t count = 0;
    int rc = 0, started = 0;
    char *next = NULL;
    for (;;) {
        json_t *r, *req = json_pack("{s:s}", "op", "query");
        copy_opts(req, opts, query_filters);
        if (limit)
            json_object_set_new(req, "limit", json_integer((json_int_t)limit));
        if (cursor)
            json_object_set_new(req, "cursor", json_string(cursor));
        rc = call(ctl, req, &r);
        if (rc) {
            json_decref(r);
            break;
        }
        if (!started) {
            ctl->out->list_head("records");
            started = 1;
        }
        json_t *recs = json_object_get(r, "records");
        size_t i, got = json_array_size(recs);
        json_t *v;
        json_array_foreach(recs, i, v) {
            ctl->out->list_record(v);
        }
        count += got;
        const char *n = json_string_value(json_object_get(r, "next"));
        free(next);
        next = n ? xstrdup(n) : NULL;
        json_decref(r);
        if (!all || next == NULL || got == 0 || (cursor && strcmp(cursor, next) == 0))
            break;
        free(cursor);
        cursor = next;
        next = NULL;
    }
    if (started)
        ctl->out->list_tail("records", count, all ? NULL : next, 1);
    free(cursor);
    free(next);
    return rc;
}

static int cmd_history(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    json_t *r, *req = json_pack("{s:s,s:s}", "op", "history", "key", pos[0]);
    if (req == NULL)
        return usage_error("history", "%s", "KEY is not valid UTF-8");
    copy_opts(req, opts, (const char *const[]){"kind", "author", NULL});
    int rc = call(ctl, req, &r);
    if (rc == 0) {
        ctl->out->list_head("versions");
        json_t *vs = json_object_get(r, "versions");
        size_t i;
        json_t *v;
        json_array_foreach(vs, i, v) {
            ctl->out->list_record(v);
        }
        ctl->out->list_tail("versions", json_array_size(vs), NULL, 0);
    }
    json_decref(r);
    return rc;
}

/* ---- inbox, replies, accept, decline, lineage (records) ----------------------------------- */

static int replies_call(struct ctl *ctl, json_t *opts, const char *op) {
    json_t *r, *req = json_pack("{s:s}", "op", op);
    const char *ls = json_string_value(json_object_get(opts, "limit"));
    uint64_t limit;
    if (ls) {
        if (parse_u64(ls, QUERY_MAX_LIMIT, &limit) != 0 || limit == 0) {
            json_decref(req);
            return usage_error(op, "--limit '%s' is not a number from 1 to 1000", ls);
        }
        json_object_set_new(req, "limit", json_integer((json_int_t)limit));
    }
    copy_opts(req, opts, (const char *const[]){"new", "cursor", NULL});
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->replies(r, op);
    json_decref(r);
    return rc;
}

static int cmd_inbox(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    (void)pos;
    return replies_call(ctl, opts, "inbox");
}

static int cmd_replies(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    (void)pos;
    return replies_call(ctl, opts, "replies");
}

static int answer_call(struct ctl *ctl, json_t *opts, const char *op, const char *reply) {
    json_t *r, *req = json_pack("{s:s,s:s}", "op", op, "reply", reply);
    if (req == NULL)
        return usage_error(op, "%s", "REPLY is not valid UTF-8");
    copy_opts(req, opts, (const char *const[]){"message", "reason", NULL});
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->answered(r);
    json_decref(r);
    return rc;
}

static int cmd_accept(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    return answer_call(ctl, opts, "accept", pos[0]);
}

static int cmd_decline(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    return answer_call(ctl, opts, "decline", pos[0]);
}

static int cmd_lineage(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    json_t *r, *req = json_pack("{s:s,s:s}", "op", "lineage", "root", pos[0]);
    if (req == NULL)
        return usage_error("lineage", "%s", "AUTHOR/KEY is not valid UTF-8");
    int rc = call(ctl, req, &r);
    if (rc == 0)
        ctl->out->lineage(r);
    json_decref(r);
    return rc;
}

/* ---- watch -------------------------------------------------------------------------------- */

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

/* One scrape: status and peers on a fresh connection (hubd may have restarted since the last). */
static int metrics_fetch(void *arg, json_t **status, json_t **peers) {
    struct ctl *ctl = arg;
    *status = *peers = NULL;
    int rc = simple_call(ctl, "status", status);
    if (rc == 0)
        rc = simple_call(ctl, "peers", peers);
    conn_close(&ctl->conn);
    if (rc) {
        json_decref(*status);
        json_decref(*peers);
        *status = *peers = NULL;
    }
    return rc;
}

static int cmd_metrics(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    (void)pos;
    const char *listen = json_string_value(json_object_get(opts, "listen"));
    if (listen == NULL) {
        json_t *status, *peers;
        int rc = metrics_fetch(ctl, &status, &peers);
        if (rc)
            return rc;
        rc = metrics_write(status, peers, stdout) ? EXIT_LOCAL : EXIT_OK;
        json_decref(status);
        json_decref(peers);
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return metrics_serve(listen, metrics_fetch, ctl, &interrupted) ? EXIT_USAGE : EXIT_OK;
}

/* ---- import ------------------------------------------------------------------------------- */

struct import {
    struct ctl *ctl;
    const char *path;
    int entries;                  /* --entries */
    int csv;                      /* FILE is CSV (hubctl_exchange.h), not JSON Lines */
    int dry_run;                  /* --dry-run: hubd checks and classifies, stores nothing */
    uint64_t bad_rows;            /* CSV rows refused by hubctl itself (reported) */
    int checked;                  /* every line was checked by a first pass (a file) */
    char *batch;                  /* the next request's items, as sent: the input lines, */
    size_t batch_len, batch_cap;  /* comma-separated (an entry in quotes) */
    size_t count;                 /* items in batch */
    uint64_t sent;                /* items in the requests answered so far */
    uint64_t total;               /* items in the file (its check counted them), 0 if unknown */
    int progress;                 /* a progress line on stderr (a terminal, text output) */
    uint64_t lines[IMPORT_BATCH]; /* input line of each batch item */
    struct import_totals t;
};

static int import_fail_line(struct import *im, uint64_t line, const char *what) {
    fprintf(stderr, "hubctl: %s:%" PRIu64 ": %s\n", file_label(im->path), line, what);
    return EXIT_LOCAL;
}

static uint64_t count_of(json_t *r, const char *name) {
    json_int_t v = json_integer_value(json_object_get(r, name));
    return v > 0 ? (uint64_t)v : 0;
}

/* An import of records' answer: its counts, and each refused record by input line, with the
 * CSV column when the input is CSV. */
static void import_counts(struct import *im, json_t *r, size_t n) {
    im->t.created += count_of(r, "new");
    im->t.updated += count_of(r, "updated");
    im->t.unchanged += count_of(r, "unchanged");
    im->t.refused += count_of(r, "refused");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r, "errors"), i, e) {
        json_int_t idx = json_integer_value(json_object_get(e, "index"));
        const char *field = json_string_value(json_object_get(e, "field"));
        const char *dot = field ? strchr(field, '.') : NULL;
        const char *shown = im->csv ? exchange_csv_column_of(field)
                            : dot   ? dot + 1
                                    : (field ? field : "");
        /* hubd's message starts with the request's field name ("records[3].country: "): the
         * line and column say it here */
        const char *msg = json_string_value(json_object_get(e, "message")) ?: "";
        const char *colon = strncmp(msg, "records[", 8) == 0 ? strstr(msg, ": ") : NULL;
        msg = colon ? colon + 2 : msg;
        const char *code = json_string_value(json_object_get(e, "code")) ?: "E_INTERNAL";
        uint64_t line = idx >= 0 && (size_t)idx < n ? im->lines[idx] : 0;
        if (!im->ctl->json) /* as hubctl's own checks report a bad line */
            fprintf(stderr, "hubctl: %s:%" PRIu64 ": %s: %s (%s)\n", file_label(im->path), line,
                    shown, msg, code);
        json_array_append_new(im->t.refusals,
                              json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "field",
                                        shown, "code", code, "message", msg));
    }
}

/* Send the batch; add the response to the totals. */
static int import_flush(struct import *im) {
    size_t n = im->count;
    if (n == 0)
        return 0;
    /* The lines go as they are (checked, and hubd checks them again): no re-encoding. */
    char head[64];
    /* Records: bad ones are refused one by one and reported (partial), or nothing is stored
     * (dry_run). */
    int hl = snprintf(head, sizeof head, "{\"op\":\"import\",\"v\":%d,%s\"%s\":[",
                      HUB_CONTROL_PROTOCOL,
                      im->entries   ? ""
                      : im->dry_run ? "\"dry_run\":true,"
                                    : "\"partial\":true,",
                      im->entries ? "entries" : "records");
    size_t len = (size_t)hl + im->batch_len + 3;
    char *text = xrealloc(NULL, len);
    memcpy(text, head, (size_t)hl);
    memcpy(text + hl, im->batch, im->batch_len);
    memcpy(text + hl + im->batch_len, "]}\n", 3);
    json_t *r;
    int rc = call_text(im->ctl, text, len, &r);
    free(text);
    im->t.requests++;
    if (rc == EXIT_DAEMON) {
        json_t *idx = json_object_get(json_object_get(r, "error"), "index");
        if (!json_is_integer(idx))
            idx = json_object_get(r, "index");
        if (json_is_integer(idx) && json_integer_value(idx) >= 0 &&
            (size_t)json_integer_value(idx) < n)
            fprintf(stderr, "hubctl: %s:%" PRIu64 ": hubd refused the %s on this line\n",
                    file_label(im->path), im->lines[json_integer_value(idx)],
                    im->entries ? "entry" : "record");
        fprintf(stderr, "hubctl: %s: lines %" PRIu64 "..%" PRIu64 " were not imported\n",
                file_label(im->path), im->lines[0], im->lines[n - 1]);
    }
    if (rc) {
        json_decref(r);
        return rc;
    }
    json_int_t acc = json_integer_value(json_object_get(r, "accepted"));
    im->t.accepted += acc > 0 ? (uint64_t)acc : 0;
    if (im->entries) {
        json_int_t dup = json_integer_value(json_object_get(r, "duplicate"));
        im->t.duplicate += dup > 0 ? (uint64_t)dup : 0;
        size_t i;
        json_t *res;
        json_array_foreach(json_object_get(r, "results"), i, res) {
            json_array_append(im->t.results, res);
            const char *code = json_string_value(res);
            if (code && (strcmp(code, "OK") == 0 || strcmp(code, "E_DUPLICATE") == 0))
                continue;
            im->t.rejected++;
            json_array_append_new(im->t.rejects,
                                  json_pack("{s:I,s:O}", "line",
                                            (json_int_t)im->lines[i < n ? i : 0], "result", res));
        }
    } else {
        import_counts(im, r, n);
        json_t *f = json_object_get(r, "first_seq"), *l = json_object_get(r, "last_seq");
        if (json_is_integer(f) && im->t.first_seq < 0)
            im->t.first_seq = json_integer_value(f);
        if (json_is_integer(l))
            im->t.last_seq = json_integer_value(l);
    }
    json_decref(r);
    im->sent += n;
    if (im->progress) {
        if (im->total)
            fprintf(stderr, "\rhubctl: %" PRIu64 " of %" PRIu64 " sent (%" PRIu64 "%%)", im->sent,
                    im->total, im->sent * 100 / im->total);
        else
            fprintf(stderr, "\rhubctl: %" PRIu64 " sent", im->sent);
    }
    im->batch_len = 0;
    im->count = 0;
    return 0;
}

/* What is wrong with one input line (trimmed, non-empty), or NULL; msg may hold the message.
 * Touches nothing shared: the check of a file runs on several threads. */
static const char *import_check(int entries, const char *s, size_t len, char msg[256]) {
    if (entries) {
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '='))
                return "not a base64 signed entry";
        }
        return NULL;
    }
    /* Duplicate keys are refused here as hubd refuses them, before anything is sent. */
    json_error_t e;
    json_t *v = json_loadb(s, len, JSON_REJECT_DUPLICATES, &e);
    if (v == NULL) {
        snprintf(msg, 256, "bad JSON at column %d: %s", e.column, e.text);
        return msg;
    }
    const char *why = NULL;
    json_t *key = json_object_get(v, "key");
    if (!json_is_object(v))
        why = "expected a JSON object {\"kind\":...,\"key\":...,\"record\":{...}}";
    else if (!json_is_string(json_object_get(v, "kind")))
        why = "\"kind\" must be a string: offer, request, profile, response or endorsement";
    else if (!json_is_object(json_object_get(v, "record")))
        why = "\"record\" must be a JSON object of the record's fields";
    else if (key && !json_is_string(key))
        why = "\"key\" must be a string";
    json_decref(v);
    return why;
}

/* What one line adds to a request: the line, a comma, and an entry's quotes. */
static size_t import_bytes(const struct import *im, size_t len) {
    return len + (im->entries ? 3 : 1);
}

/* Checks one input line (trimmed, non-empty) unless a first pass did; *bytes is what it adds
 * to a request. 0 or EXIT_LOCAL (reported). */
static int import_item(struct import *im, const char *s, size_t len, uint64_t line, size_t *bytes) {
    *bytes = import_bytes(im, len);
    if (im->checked)
        return 0;
    char msg[256];
    const char *why = import_check(im->entries, s, len, msg);
    return why ? import_fail_line(im, line, why) : 0;
}

/* The next line of [p, end), trimmed of blanks and its '\r\n' (a line ends at '\n' or at the
 * end): for a mapped file and for each getline() line alike. Returns the next line's start. */
static const char *import_next_line(const char *p, const char *end, const char **s, size_t *n) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    *s = p;
    *n = (size_t)(e - p);
    return nl ? nl + 1 : end;
}

/* One thread's share of a file's check: the first bad line of [p, end). */
struct check_part {
    const struct import *im;
    const char *p, *end;
    uint64_t line;     /* number of the part's first line */
    uint64_t bad_line; /* 0: none */
    uint64_t items;    /* non-empty lines checked */
    const char *why;
    char msg[256];
};

static void *check_part_run(void *arg) {
    struct check_part *c = arg;
    for (const char *p = c->p; p < c->end; c->line++) {
        const char *s;
        size_t n;
        p = import_next_line(p, c->end, &s, &n);
        if (n == 0)
            continue;
        c->items++;
        c->why = import_bytes(c->im, n) > IMPORT_MAX_BYTES
                     ? "too large for one control request (16 MiB)"
                     : import_check(c->im->entries, s, n, c->msg);
        if (c->why) {
            c->bad_line = c->line;
            break;
        }
    }
    return NULL;
}

#define IMPORT_CHECK_THREADS 8
#define IMPORT_CHECK_MIN_PART (1u << 20) /* bytes per thread, at least */

/* The first pass over a file: every line checked, on every core (parsing is most of hubctl's
 * time). 0, EXIT_LOCAL (the first bad line reported), or 1 if the file cannot be mapped (the
 * caller checks it line by line instead). */
static int import_check_file(struct import *im, FILE *f) {
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
        return 1;
    size_t size = (size_t)st.st_size;
    const char *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    if (map == MAP_FAILED)
        return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t k = cpus < 1 ? 1 : (size_t)cpus;
    if (k > IMPORT_CHECK_THREADS)
        k = IMPORT_CHECK_THREADS;
    if (k > size / IMPORT_CHECK_MIN_PART)
        k = size / IMPORT_CHECK_MIN_PART ? size / IMPORT_CHECK_MIN_PART : 1;
    struct check_part parts[IMPORT_CHECK_THREADS];
    pthread_t tids[IMPORT_CHECK_THREADS];
    int started[IMPORT_CHECK_THREADS] = {0};
    const char *end = map + size, *at = map;
    uint64_t line = 1;
    for (size_t i = 0; i < k; i++) { /* parts end at a line's end */
        const char *stop = i + 1 == k ? end : map + size / k * (i + 1);
        if (stop < at)
            stop = at;
        const char *nl = stop < end ? memchr(stop, '\n', (size_t)(end - stop)) : NULL;
        stop = i + 1 == k || !nl ? end : nl + 1;
        parts[i] = (struct check_part){.im = im, .p = at, .end = stop, .line = line};
        for (const char *q = at; (q = memchr(q, '\n', (size_t)(stop - q))) != NULL; q++)
            line++;
        at = stop;
    }
    for (size_t i = 1; i < k; i++)
        started[i] = pthread_create(&tids[i], NULL, check_part_run, &parts[i]) == 0;
    check_part_run(&parts[0]);
    for (size_t i = 1; i < k; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            check_part_run(&parts[i]);
    }
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (parts[i].bad_line)
            rc = import_fail_line(im, parts[i].bad_line, parts[i].why);
        im->total += parts[i].items;
    }
    munmap((void *)map, size);
    return rc;
}

/* Appends a checked line to the batch. */
static void import_add(struct import *im, const char *s, size_t len, size_t bytes, uint64_t line) {
    if (im->batch_len + bytes > im->batch_cap) {
        im->batch_cap = (im->batch_len + bytes) * 2;
        im->batch = xrealloc(im->batch, im->batch_cap);
    }
    char *p = im->batch + im->batch_len;
    if (im->count > 0)
        *p++ = ',';
    if (im->entries)
        *p++ = '"';
    memcpy(p, s, len);
    p += len;
    if (im->entries)
        *p++ = '"';
    im->batch_len = (size_t)(p - im->batch);
    im->lines[im->count++] = line;
}

/* Read every line of f; send them when send is set, else only check them. */
static int import_pass(struct import *im, FILE *f, int send) {
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t line = 0;
    int rc = 0;
    errno = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        const char *s;
        size_t n;
        (void)import_next_line(buf, buf + len, &s, &n); /* trimmed as in a mapped file */
        if (n == 0)
            continue;
        size_t bytes;
        if ((rc = import_item(im, s, n, line, &bytes)) != 0)
            break;
        if (bytes > IMPORT_MAX_BYTES) {
            rc = import_fail_line(im, line, "too large for one control request (16 MiB)");
            break;
        }
        if (!send)
            continue;
        if (im->count == IMPORT_BATCH || im->batch_len + bytes > IMPORT_MAX_BYTES) {
            if ((rc = import_flush(im)) != 0)
                break;
        }
        import_add(im, s, n, bytes, line);
        errno = 0;
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "hubctl: cannot read %s: %s\n", file_label(im->path),
                strerror(errno ? errno : EIO));
        rc = EXIT_LOCAL;
    }
    free(buf);
    if (rc == 0 && send)
        rc = import_flush(im);
    return rc;
}

/* A CSV row hubctl refused itself: on stderr, and in the --json report's refusals. */
static void import_refused_row(struct import *im, unsigned long line, const char *field,
                               const char *code, const char *msg) {
    if (*field)
        fprintf(stderr, "hubctl: %s:%lu: %s: %s\n", file_label(im->path), line, field, msg);
    else
        fprintf(stderr, "hubctl: %s:%lu: %s\n", file_label(im->path), line, msg);
    json_array_append_new(im->t.refusals, json_pack("{s:I, s:s, s:s, s:s}", "line",
                                                    (json_int_t)line, "field", field, "code",
                                                    code, "message", msg));
}

/* Read every row of a CSV file (hubctl_exchange.h): each is made an import item as hubctl
 * export --format csv wrote it; send the good ones when send is set. Every bad row is reported
 * (line, column, reason) once: by the check pass of a file, else as it is read. */
static int import_csv_pass(struct import *im, FILE *f, int send) {
    int report = !send || !im->checked;
    struct csv_reader *r = csv_reader_new(f);
    if (!r) {
        fputs("hubctl: out of memory\n", stderr);
        return EXIT_LOCAL;
    }
    char **cells;
    size_t n, ncols = 0;
    unsigned long line;
    const char *why;
    int map[EXCHANGE_MAX_CSV_CELLS], got, rc = 0, bad = 0;
    char field[64], msg[256];
    while ((got = csv_next(r, &cells, &n, &line, &why)) != 0) {
        if (got < 0) {
            rc = import_fail_line(im, line, why);
            break;
        }
        if (ncols == 0) { /* the header row */
            if (exchange_csv_columns(cells, n, map, msg) != 0) {
                rc = import_fail_line(im, line, msg);
                break;
            }
            ncols = n;
            continue;
        }
        if (n != ncols) {
            snprintf(msg, sizeof msg, "%zu cells, the header has %zu", n, ncols);
            if (report)
                import_refused_row(im, line, "", "E_BAD_REQUEST", msg);
            bad = 1;
            im->bad_rows += report;
            continue;
        }
        json_t *item = exchange_csv_item(cells, n, map, field, msg);
        if (!item) {
            if (report)
                import_refused_row(im, line, field, "E_FIELD", msg);
            bad = 1;
            im->bad_rows += report;
            continue;
        }
        if (!send) {
            json_decref(item);
            continue;
        }
        char *text = json_dumps(item, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(item);
        if (!text) {
            fputs("hubctl: out of memory\n", stderr);
            rc = EXIT_LOCAL;
            break;
        }
        size_t len = strlen(text), bytes = import_bytes(im, len);
        if (im->count == IMPORT_BATCH || im->batch_len + bytes > IMPORT_MAX_BYTES)
            rc = import_flush(im);
        if (rc == 0)
            import_add(im, text, len, bytes, line);
        free(text);
        if (rc != 0)
            break;
    }
    if (rc == 0 && ncols == 0 && !bad)
        rc = import_fail_line(im, 1, "no header row (hubctl export --format csv writes one)");
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "hubctl: cannot read %s: %s\n", file_label(im->path), strerror(EIO));
        rc = EXIT_LOCAL;
    }
    csv_reader_destroy(&r);
    if (rc == 0 && send)
        rc = import_flush(im);
    if (rc == 0 && bad && !send && !im->dry_run)
        rc = EXIT_DAEMON; /* a file with bad rows: reported, nothing is sent */
    return rc;
}

static int cmd_import(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    struct import *im = calloc(1, sizeof(*im));
    if (im == NULL) {
        fputs("hubctl: out of memory\n", stderr);
        return EXIT_LOCAL;
    }
    im->ctl = ctl;
    im->path = pos[0];
    im->entries = json_is_true(json_object_get(opts, "entries"));
    im->dry_run = json_is_true(json_object_get(opts, "dry_run"));
    const char *fmt = json_string_value(json_object_get(opts, "format"));
    size_t plen = strlen(im->path);
    im->csv = fmt ? strcmp(fmt, "csv") == 0
                  : plen > 4 && strcasecmp(im->path + plen - 4, ".csv") == 0;
    im->t.entries = im->entries;
    im->t.dry_run = im->dry_run;
    im->t.first_seq = im->t.last_seq = -1;
    im->t.results = json_array();
    im->t.rejects = json_array();
    im->t.refusals = json_array();

    int rc;
    FILE *f = NULL;
    if (fmt && strcmp(fmt, "csv") != 0 && strcmp(fmt, "jsonl") != 0) {
        rc = usage_error("import", "--format '%s': say jsonl or csv", fmt);
        goto done;
    }
    if (im->entries && (im->csv || im->dry_run)) {
        rc = usage_error("import", "--entries takes neither CSV nor --dry-run");
        goto done;
    }
    f = strcmp(im->path, "-") == 0 ? stdin : fopen(im->path, "r");
    if (f == NULL) {
        fprintf(stderr, "hubctl: cannot read %s: %s\n", im->path, strerror(errno));
        rc = EXIT_LOCAL;
        goto done;
    }
    if (im->csv) { /* checked row by row, then sent: CSV is small next to its JSON */
        if (f != stdin) {
            if ((rc = import_csv_pass(im, f, 0)) != 0)
                goto done;
            rewind(f);
            im->checked = 1;
        }
        im->progress = !ctl->json && isatty(STDERR_FILENO);
        rc = import_csv_pass(im, f, 1);
        goto sent;
    }
    /* A file is checked whole before the first request; stdin cannot be read twice. */
    if (f != stdin) {
        rc = import_check_file(im, f);
        if (rc == 1) /* not a mappable file: line by line */
            rc = import_pass(im, f, 0);
        if (rc != 0)
            goto done;
        rewind(f);
        im->checked = 1;
    }
    /* Long imports show how far they are, as other bulk tools do, where a person watches. */
    im->progress = !ctl->json && isatty(STDERR_FILENO) && (!im->total || im->total > IMPORT_BATCH);
    rc = import_pass(im, f, 1);
sent:
    if (im->progress && im->sent)
        fputc('\n', stderr);
    if (rc != 0) {
        if (im->t.accepted > 0)
            fprintf(stderr, "hubctl: %s: %" PRIu64 " %s from earlier requests were imported\n",
                    file_label(im->path), im->t.accepted, im->entries ? "entries" : "records");
        goto done;
    }
    im->t.refused += im->bad_rows;
    ctl->out->imported(&im->t);
    if (im->t.rejected > 0 || im->t.refused > 0 || im->bad_rows > 0)
        rc = EXIT_DAEMON;
done:
    if (f && f != stdin)
        fclose(f);
    free(im->batch);
    json_decref(im->t.results);
    json_decref(im->t.rejects);
    json_decref(im->t.refusals);
    free(im);
    return rc;
}

/* ---- backup, verify, export, and entries by cursor ----------------------------------------- */

#define WATCH_RETRY_MIN_MS 100  /* watch --reconnect: first wait before connecting again */
#define WATCH_RETRY_MAX_MS 5000 /* ... doubled up to this */
#define EXPORT_PAGE 1000        /* entries per query of export --entries */
#define COPY_CHUNK 65536

/* "since": digits, or "now": 0 with *out (a JSON number or "now"), else a usage error. */
static int since_arg(const char *cmd, const char *s, json_t **out) {
    uint64_t v;
    if (strcmp(s, "now") == 0)
        *out = json_string("now");
    else if (parse_u64(s, INT64_MAX, &v) == 0)
        *out = json_integer((json_int_t)v);
    else
        return usage_error(cmd, "--since '%s' is not a cursor (a number) or 'now'", s);
    return 0;
}

/* query --since: entries accepted after a cursor, oldest first, with their cursors. */
static int query_since(struct ctl *ctl, json_t *opts) {
    static const char *const allowed[] = {"since",   "kind",  "author", "topic",
                                          "country", "limit", "all"};
    const char *name;
    json_t *val;
    json_object_foreach(opts, name, val) {
        size_t i = 0;
        while (i < sizeof allowed / sizeof allowed[0] && strcmp(name, allowed[i]) != 0)
            i++;
        if (i == sizeof allowed / sizeof allowed[0])
            return usage_error("query",
                               "--since takes only --kind, --author, --topic, "
                               "--country, --limit and --all, not --%s",
                               name);
    }
    int all = json_is_true(json_object_get(opts, "all"));
    uint64_t limit = all ? QUERY_ALL_LIMIT : 0;
    const char *ls = json_string_value(json_object_get(opts, "limit"));
    if (ls && (parse_u64(ls, QUERY_MAX_LIMIT, &limit) != 0 || limit == 0))
        return usage_error("query", "--limit '%s' is not a number from 1 to 1000", ls);
    json_t *since = NULL;
    int rc = since_arg("query", json_string_value(json_object_get(opts, "since")), &since);
    if (rc)
        return rc;
    size_t count = 0;
    int started = 0, more = 0;
    char next[24] = "";
    for (;;) {
        json_t *r, *req = json_pack("{s:s, s:O}", "op", "query", "since", since);
        copy_opts(req, opts, (const char *const[]){"kind", "author", "topic", "country", NULL});
        if (limit)
            json_object_set_new(req, "limit", json_integer((json_int_t)limit));
        if ((rc = call(ctl, req, &r)) != 0) {
            json_decref(r);
            break;
        }
        if (!started) {
            ctl->out->list_head("entries");
            started = 1;
        }
        json_t *ents = json_object_get(r, "entries"), *v;
        size_t i;
        json_array_foreach(ents, i, v) {
            ctl->out->list_record(v);
        }
        count += json_array_size(ents);
        json_int_t n = json_integer_value(json_object_get(r, "next"));
        more = json_is_true(json_object_get(r, "more"));
        snprintf(next, sizeof next, "%lld", (long long)n);
        json_decref(r);
        json_decref(since);
        since = json_integer(n);
        if (!all || !more)
            break;
    }
    json_decref(since);
    if (started) {
        /* JSON: "next" is the cursor to give --since next time, whether or not more wait */
        ctl->out->list_tail("entries", count, ctl->json ? next : NULL, 1);
        if (!ctl->json)
            fprintf(stderr, "(%zu shown; %s: --since %s)\n", count,
                    more ? "more wait, next page" : "all caught up, next time", next);
    }
    return rc;
}

/* Waits ms, less if SIGINT or SIGTERM arrives: 1 if one did. */
static int watch_pause(const sigset_t *waitmask, long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    if (!interrupted)
        ppoll(NULL, 0, &ts, waitmask);
    return interrupted != 0;
}

static int cmd_watch(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    (void)pos;
    int reconnect = json_is_true(json_object_get(opts, "reconnect"));
    const char *ss = json_string_value(json_object_get(opts, "since"));
    json_t *since = NULL; /* NULL: live from now (a plain watch) */
    int rc;
    if (ss && (rc = since_arg("watch", ss, &since)) != 0)
        return rc;
    if (!since && reconnect)
        since = json_string("now"); /* resumable from the first answer on */
    /* SIGINT and SIGTERM stay blocked except while waiting in ppoll, so a signal either ends
     * the wait or is seen by the flag check before it: watch always ends cleanly with 0. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &block, &waitmask) != 0) {
        fprintf(stderr, "hubctl: sigprocmask: %s\n", strerror(errno));
        json_decref(since);
        return EXIT_LOCAL;
    }
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ctl->conn.waitmask = &waitmask;

    long retry = WATCH_RETRY_MIN_MS;
    int headed = 0;
    for (;;) {
        json_t *r, *req = json_pack("{s:s}", "op", "watch");
        copy_opts(req, opts, (const char *const[]){"kind", "author", "topic", "country", "inbox", NULL});
        if (since)
            json_object_set(req, "since", since);
        rc = call(ctl, req, &r);
        if (rc == 0 && since && json_is_integer(json_object_get(r, "cursor"))) {
            json_decref(since); /* "now" becomes the number it stood for */
            since = json_integer(json_integer_value(json_object_get(r, "cursor")));
        }
        json_decref(r);
        if (interrupted)
            break;
        if (rc == 0) {
            retry = WATCH_RETRY_MIN_MS;
            if (!headed)
                ctl->out->watch_head();
            headed = 1;
            for (;;) {
                json_t *ev;
                rc = conn_recv(ctl, &ev);
                if (rc)
                    break;
                const char *what = json_string_value(json_object_get(ev, "event"));
                if (what == NULL && json_is_false(json_object_get(ev, "ok"))) {
                    ctl->out->error(ev);
                    json_decref(ev);
                    rc = EXIT_DAEMON;
                    break;
                }
                json_t *cv = json_object_get(ev, "cursor");
                if (since && json_is_integer(cv)) {
                    json_decref(since);
                    since = json_integer(json_integer_value(cv));
                }
                ctl->out->watch_event(ev);
                int overflow = what && strcmp(what, "overflow") == 0;
                json_decref(ev);
                if (overflow) {
                    fputs("hubctl: watch: hubd dropped this watch: hubctl fell more than "
                          "watch_backlog behind (--since or --reconnect watches are not dropped)\n",
                          stderr);
                    rc = EXIT_DAEMON;
                    break;
                }
                if (ferror(stdout)) {
                    rc = EXIT_LOCAL; /* reported by main */
                    break;
                }
            }
        }
        if (rc == RECV_INTERRUPTED || interrupted) {
            rc = EXIT_OK;
            break;
        }
        if (rc != EXIT_CONNECT || !reconnect)
            break;
        conn_close(&ctl->conn);
        ctl->conn.send_err = 0;
        fprintf(stderr, "hubctl: watch: connecting again in %ld ms, to resume after cursor %lld\n",
                retry, (long long)json_integer_value(since));
        if (watch_pause(&waitmask, retry)) {
            rc = EXIT_OK;
            break;
        }
        retry = retry * 2 > WATCH_RETRY_MAX_MS ? WATCH_RETRY_MAX_MS : retry * 2;
    }
    json_decref(since);
    return rc;
}

enum export_format { EXPORT_JSONL, EXPORT_CSV, EXPORT_JSONLD };

/* One record view in the export's format (hubctl_exchange.h). */
static int export_one(FILE *f, enum export_format fmt, json_t *v) {
    switch (fmt) {
    case EXPORT_JSONL:
        return exchange_jsonl(f, v);
    case EXPORT_CSV:
        return exchange_csv_row(f, v);
    default:
        return exchange_jsonld_item(f, v);
    }
}

/* A language tag as --lang takes it: letters, digits and hyphens, 2 to 35 characters. */
static int lang_ok(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return n >= 2 && n <= 35;
}

/* The JSON-LD's Organization: this hub's key and current profile view (NULL if none). */
static int export_hub(struct ctl *ctl, char me[HUB_HEX_LEN + 1], json_t **profile) {
    json_t *r;
    *profile = NULL;
    int rc = simple_call(ctl, "id", &r);
    if (rc == 0)
        snprintf(me, HUB_HEX_LEN + 1, "%s", json_string_value(json_object_get(r, "hub")) ?: "");
    json_decref(r);
    if (rc != 0)
        return rc;
    rc = call(ctl,
              json_pack("{s:s, s:s, s:s, s:i}", "op", "query", "kind", "profile", "author", me,
                        "limit", 1),
              &r);
    if (rc == 0)
        *profile = json_incref(json_array_get(json_object_get(r, "records"), 0));
    json_decref(r);
    return rc;
}

/* export --format: the current records the query filters select (offers unless --kind says),
 * page by page (EXPORT_PAGE records per query, each written as it comes: memory does not grow
 * with the catalogue), converted by hubctl from the record views, as any script could. */
static int export_records(struct ctl *ctl, json_t *opts, const char *fmts, const char *path) {
    enum export_format fmt;
    if (strcmp(fmts, "jsonl") == 0)
        fmt = EXPORT_JSONL;
    else if (strcmp(fmts, "csv") == 0)
        fmt = EXPORT_CSV;
    else if (strcmp(fmts, "jsonld") == 0)
        fmt = EXPORT_JSONLD;
    else
        return usage_error("export", "--format '%s': say jsonl, csv or jsonld", fmts);
    if (json_object_get(opts, "since") || json_object_get(opts, "entries"))
        return usage_error("export", "--format exports current records: no --since, --entries");
    const char *lang = json_string_value(json_object_get(opts, "lang"));
    if (lang && !lang_ok(lang))
        return usage_error("export", "--lang '%s' is not a language tag (en, de, pt-BR)", lang);
    const char *kind = json_string_value(json_object_get(opts, "kind"));
    if (!kind)
        kind = "offer";
    if ((fmt == EXPORT_CSV && strcmp(kind, "offer") != 0 && strcmp(kind, "request") != 0) ||
        (fmt == EXPORT_JSONLD && strcmp(kind, "offer") != 0))
        return usage_error("export", "--format %s exports %s, not %s", fmts,
                           fmt == EXPORT_CSV ? "offers or requests" : "offers", kind);
    char me[HUB_HEX_LEN + 1] = "";
    json_t *profile = NULL;
    int rc = fmt == EXPORT_JSONLD ? export_hub(ctl, me, &profile) : 0;
    if (rc != 0)
        return rc;
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        json_decref(profile);
        fprintf(stderr, "hubctl: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_LOCAL;
    }
    int werr = fmt == EXPORT_CSV      ? exchange_csv_header(f)
               : fmt == EXPORT_JSONLD ? exchange_jsonld_begin(f, profile, me)
                                      : 0;
    json_decref(profile);
    uint64_t n = 0;
    char *cursor = NULL;
    while (werr == 0) {
        json_t *r, *req = json_pack("{s:s, s:s, s:i}", "op", "query", "kind", kind, "limit",
                                    EXPORT_PAGE);
        copy_opts(req, opts, query_filters);
        json_object_set_new(req, "kind", json_string(kind));
        if (cursor)
            json_object_set_new(req, "cursor", json_string(cursor));
        if ((rc = call(ctl, req, &r)) != 0) {
            json_decref(r);
            break;
        }
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(r, "records"), i, v) {
            if (werr == 0 && (werr = export_one(f, fmt, v)) == 0)
                n++;
        }
        const char *next = json_string_value(json_object_get(r, "next"));
        int again = next && json_array_size(json_object_get(r, "records")) &&
                    !(cursor && strcmp(cursor, next) == 0);
        free(cursor);
        cursor = again ? xstrdup(next) : NULL;
        json_decref(r);
        if (!again)
            break;
    }
    free(cursor);
    if (rc == 0 && werr == 0 && fmt == EXPORT_JSONLD)
        werr = exchange_jsonld_end(f);
    if (rc == 0 && (werr != 0 || ferror(f))) {
        fprintf(stderr, "hubctl: writing %s: %s\n", file_label(path), strerror(errno ? errno : EIO));
        rc = EXIT_LOCAL;
    }
    if (f != stdout && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "hubctl: writing %s: %s\n", path, strerror(errno));
        rc = EXIT_LOCAL;
    }
    if (rc == 0)
        fprintf(stderr, "hubctl: exported %" PRIu64 " record%s (%s)\n", n, n == 1 ? "" : "s",
                fmts);
    return rc;
}

/* export --entries: every signed entry, oldest first, one base64 line each: what import
 * --entries takes on another hub (or after a store schema change). Pages of EXPORT_PAGE. */
static int cmd_export(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    const char *fmts = json_string_value(json_object_get(opts, "format"));
    if (fmts)
        return export_records(ctl, opts, fmts, npos ? pos[0] : "-");
    if (!json_is_true(json_object_get(opts, "entries")))
        return usage_error("export", "say what to export: --entries, or --format jsonl|csv|jsonld");
    const char *path = npos ? pos[0] : "-";
    uint64_t since = 0;
    const char *ss = json_string_value(json_object_get(opts, "since"));
    if (ss && parse_u64(ss, INT64_MAX, &since) != 0)
        return usage_error("export", "--since '%s' is not a cursor (a number)", ss);
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "hubctl: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_LOCAL;
    }
    uint64_t n = 0;
    int rc, more;
    do {
        json_t *r, *req = json_pack("{s:s, s:I, s:s, s:i}", "op", "query", "since",
                                    (json_int_t)since, "format", "wire", "limit", EXPORT_PAGE);
        if ((rc = call(ctl, req, &r)) != 0) {
            json_decref(r);
            break;
        }
        json_t *ents = json_object_get(r, "entries"), *v;
        size_t i;
        json_array_foreach(ents, i, v) {
            const char *b64 = json_string_value(json_object_get(v, "entry"));
            if (b64)
                fprintf(f, "%s\n", b64);
        }
        n += json_array_size(ents);
        since = (uint64_t)json_integer_value(json_object_get(r, "next"));
        more = json_is_true(json_object_get(r, "more"));
        json_decref(r);
        if (ferror(f)) {
            fprintf(stderr, "hubctl: writing %s: %s\n", path, strerror(errno));
            rc = EXIT_LOCAL;
            break;
        }
    } while (more);
    if (f != stdout && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "hubctl: writing %s: %s\n", path, strerror(errno));
        rc = EXIT_LOCAL;
    }
    if (rc == 0)
        fprintf(stderr,
                "hubctl: exported %" PRIu64 " entries up to cursor %" PRIu64
                " (export --entries --since %" PRIu64 " continues from there)\n",
                n, since, since);
    return rc;
}

/* Sends req with fd attached (SCM_RIGHTS) and reads the answer as call() does. */
static int call_with_fd(struct ctl *ctl, json_t *req, int fd, json_t **resp) {
    *resp = NULL;
    int rc;
    if (ctl->conn.fd < 0 && (rc = conn_open(ctl)) != 0) {
        json_decref(req);
        return rc;
    }
    json_object_set_new(req, "v", json_integer(HUB_CONTROL_PROTOCOL));
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!s) {
        fputs("hubctl: cannot encode the request\n", stderr);
        return EXIT_LOCAL;
    }
    size_t n = strlen(s);
    s = xrealloc(s, n + 1);
    s[n++] = '\n';
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {s, n};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    ssize_t w;
    do
        w = sendmsg(ctl->conn.fd, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        free(s);
        return conn_lost(ctl, "send", errno);
    }
    rc = (size_t)w < n ? write_all(ctl, s + w, n - (size_t)w) : 0; /* the fd went with byte 0 */
    free(s);
    return rc ? rc : call_answer(ctl, resp);
}

/* Copies src to the new file dst (mode 0600). 0, or errno with *what naming the failing step. */
static int copy_file(const char *src, const char *dst, const char **what) {
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, err = 0;
    char buf[COPY_CHUNK];
    *what = "read";
    if (in < 0)
        return errno;
    *what = "create";
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        err = errno;
        close(in);
        return err;
    }
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = r < 0 ? errno : 0;
            *what = "read";
            break;
        }
        if (write(out, buf, (size_t)r) != r) {
            err = errno ? errno : EIO;
            *what = "write";
            break;
        }
    }
    if (!err && fsync(out) != 0) {
        err = errno;
        *what = "write";
    }
    close(in);
    if (close(out) != 0 && !err) {
        err = errno;
        *what = "write";
    }
    if (err)
        unlink(dst);
    return err;
}

/* backup DIR: hubctl creates DIR/data.mdb and hands hubd the open file (hubd writes only its
 * data dir), then copies identity.key itself. */
static int cmd_backup(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    const char *dir = pos[0];
    int no_identity = json_is_true(json_object_get(opts, "no_identity"));
    json_t *st;
    int rc = simple_call(ctl, "status", &st);
    if (rc) {
        json_decref(st);
        return rc;
    }
    const char *dd = json_string_value(json_object_get(st, "data_dir"));
    char *data_dir = xstrdup(dd ? dd : "");
    char hub[17] = "";
    snprintf(hub, sizeof hub, "%s", json_string_value(json_object_get(st, "hub")) ?: "");
    json_decref(st);
    char db[4096], key_src[4096], key_dst[4096];
    if ((size_t)snprintf(db, sizeof db, "%s/data.mdb", dir) >= sizeof db ||
        (size_t)snprintf(key_dst, sizeof key_dst, "%s/identity.key", dir) >= sizeof key_dst ||
        (size_t)snprintf(key_src, sizeof key_src, "%s/identity.key", data_dir) >= sizeof key_src) {
        free(data_dir);
        return usage_error("backup", "path too long");
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "hubctl: backup: cannot create %s: %s\n", dir, strerror(errno));
        free(data_dir);
        return EXIT_LOCAL;
    }
    int fd = open(db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "hubctl: backup: cannot create %s: %s%s\n", db, strerror(errno),
                errno == EEXIST ? " (give a new or empty directory)" : "");
        free(data_dir);
        return EXIT_LOCAL;
    }
    json_t *r;
    rc = call_with_fd(ctl, json_pack("{s:s}", "op", "backup"), fd, &r);
    close(fd);
    if (rc) {
        json_decref(r);
        unlink(db);
        free(data_dir);
        return rc;
    }
    long long bytes = json_integer_value(json_object_get(r, "bytes"));
    long long cursor = json_integer_value(json_object_get(r, "cursor"));
    long long ms = json_integer_value(json_object_get(r, "ms"));
    json_decref(r);
    const char *what;
    int err = copy_file(key_src, key_dst, &what);
    if (ctl->json) {
        json_t *o = json_pack("{s:b, s:s, s:I, s:I, s:I, s:b}", "ok", 1, "dir", dir, "bytes",
                              (json_int_t)bytes, "cursor", (json_int_t)cursor, "ms", (json_int_t)ms,
                              "identity", err == 0);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("backup of hub %s… in %s: data.mdb, %lld bytes (compacted; entries up to cursor "
               "%lld at least), %lld ms\n",
               hub, dir, bytes, cursor, ms);
        if (err == 0)
            printf("identity.key copied: keep this directory as secret as the hub's key\n");
    }
    if (err) {
        fprintf(stderr,
                "hubctl: backup: %s %s: %s. The store was copied, the hub's key was not: copy "
                "%s as a user that may read it (e.g. 'sudo install -m 600 %s %s'), or back the "
                "key up once elsewhere%s\n",
                what, what[0] == 'c' ? key_dst : key_src, strerror(err), key_src, key_src, key_dst,
                no_identity ? "" : " and run 'hubctl backup --no-identity'");
        rc = no_identity ? EXIT_OK : EXIT_LOCAL;
    }
    free(data_dir);
    return rc;
}

/* verify: hubd checks every chain, signature, payload hash and index entry (on a thread). */
static int cmd_verify(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)opts;
    (void)npos;
    (void)pos;
    json_t *r;
    int rc = simple_call(ctl, "verify", &r);
    if (rc) {
        json_decref(r);
        return rc;
    }
    long long problems = json_integer_value(json_object_get(r, "problems"));
    json_t *first = json_object_get(r, "first");
    if (ctl->json) {
        char *s = json_dumps(r, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
    } else {
        printf("verified %lld feeds, %lld entries, %lld records, %lld index postings in %lld "
               "ms: %lld problem%s\n",
               (long long)json_integer_value(json_object_get(r, "feeds")),
               (long long)json_integer_value(json_object_get(r, "entries")),
               (long long)json_integer_value(json_object_get(r, "records")),
               (long long)json_integer_value(json_object_get(r, "postings")),
               (long long)json_integer_value(json_object_get(r, "ms")), problems,
               problems == 1 ? "" : "s");
    }
    if (problems)
        fprintf(stderr, "hubctl: verify: %s: %s (%lld problem%s in all)\n",
                json_string_value(json_object_get(first, "code")) ?: "E_INTERNAL",
                json_string_value(json_object_get(first, "message")) ?: "?", problems,
                problems == 1 ? "" : "s");
    json_decref(r);
    return problems ? EXIT_DAEMON : EXIT_OK;
}

/* web-token [--rotate]: the token alone on stdout (to paste into /signin); --json: the reply. */
static int cmd_web_token(struct ctl *ctl, json_t *opts, int npos, char **pos) {
    (void)npos;
    (void)pos;
    json_t *r, *req = json_pack("{s:s}", "op", "web_token");
    if (json_is_true(json_object_get(opts, "rotate")))
        json_object_set_new(req, "rotate", json_true());
    int rc = call(ctl, req, &r);
    if (rc == 0) {
        if (ctl->json) {
            char *s = json_dumps(r, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
        } else {
            puts(json_string_value(json_object_get(r, "token")) ?: "");
            if (json_is_true(json_object_get(opts, "rotate")))
                fprintf(stderr, "hubctl: new web token (generation %lld): hubweb sessions "
                        "signed in with the old one have ended\n",
                        (long long)json_integer_value(json_object_get(r, "generation")));
        }
    }
    json_decref(r);
    return rc;
}

/* ---- command table and main --------------------------------------------------------------- */

static const struct optdef publish_opts[] = {{"key", 1, 0},          {"expires", 1, 0},
                                             {"target", 1, 0},       {"unheld-target", 0, 0},
                                             {"seal-message", 0, 0}, {NULL, 0, 0}};
static const struct optdef get_opts[] = {{"wire", 0, 0}, {NULL, 0, 0}};
static const struct optdef query_opts[] = {
    {"kind", 1, 0},      {"author", 1, 0},   {"topic", 1, 1},    {"technology", 1, 1},
    {"sector", 1, 1},    {"service", 1, 1},  {"country", 1, 1},  {"language", 1, 1},
    {"mode", 1, 1},      {"audience", 1, 1}, {"skill", 1, 1},    {"text", 1, 0},
    {"from", 1, 0},      {"to", 1, 0},       {"target", 1, 0},   {"limit", 1, 0},
    {"cursor", 1, 0},    {"all", 0, 0},      {"based-on", 1, 0}, {"service-group", 1, 1},
    {"has-seats", 0, 0}, {"since", 1, 0},    {"schedule", 1, 1}, {"region", 1, 1},
    {"free", 0, 0},      {"upcoming", 0, 0}, {"sort", 1, 0},     {"max-cost", 1, 0},
    {"opportunity-type", 1, 1},              {NULL, 0, 0}};
static const struct optdef match_opts[] = {
    {"hubs", 0, 0}, {"requests", 0, 0}, {"limit", 1, 0}, {NULL, 0, 0}};
static const struct optdef history_opts[] = {{"kind", 1, 0}, {"author", 1, 0}, {NULL, 0, 0}};
static const struct optdef retract_opts[] = {{"kind", 1, 0}, {"reason", 1, 0}, {NULL, 0, 0}};
static const struct optdef watch_opts[] = {
    {"kind", 1, 0},  {"author", 1, 0}, {"topic", 1, 1},     {"country", 1, 1},
    {"inbox", 0, 0}, {"since", 1, 0},  {"reconnect", 0, 0}, {NULL, 0, 0}};
static const struct optdef export_opts[] = {
    {"entries", 0, 0},   {"since", 1, 0},    {"format", 1, 0},   {"lang", 1, 0},
    {"kind", 1, 0},      {"author", 1, 0},   {"topic", 1, 1},    {"technology", 1, 1},
    {"sector", 1, 1},    {"service", 1, 1},  {"country", 1, 1},  {"language", 1, 1},
    {"mode", 1, 1},      {"audience", 1, 1}, {"skill", 1, 1},    {"text", 1, 0},
    {"from", 1, 0},      {"to", 1, 0},       {"based-on", 1, 0}, {"service-group", 1, 1},
    {"has-seats", 0, 0}, {"schedule", 1, 1}, {"region", 1, 1},   {"free", 0, 0},
    {"upcoming", 0, 0},  {"sort", 1, 0},     {"max-cost", 1, 0}, {"opportunity-type", 1, 1},
    {NULL, 0, 0}};
static const struct optdef backup_opts[] = {{"no-identity", 0, 0}, {NULL, 0, 0}};
static const struct optdef inbox_opts[] = {
    {"new", 0, 0}, {"limit", 1, 0}, {"cursor", 1, 0}, {NULL, 0, 0}};
static const struct optdef replies_opts[] = {{"limit", 1, 0}, {"cursor", 1, 0}, {NULL, 0, 0}};
static const struct optdef accept_opts[] = {{"message", 1, 0}, {NULL, 0, 0}};
static const struct optdef decline_opts[] = {{"message", 1, 0}, {"reason", 1, 0}, {NULL, 0, 0}};
static const struct optdef import_opts[] = {
    {"entries", 0, 0}, {"dry-run", 0, 0}, {"format", 1, 0}, {NULL, 0, 0}};

static const struct optdef metrics_opts[] = {{"listen", 1, 0}, {NULL, 0, 0}};
static const struct optdef peer_opts[] = {{"no-endorse", 0, 0}, {NULL, 0, 0}};
static const struct optdef web_token_opts[] = {{"rotate", 0, 0}, {NULL, 0, 0}};

static const struct command commands[] = {
    {"status", cmd_status, NULL, 0, 0, status_usage},
    {"id", cmd_id, NULL, 0, 0, id_usage},
    {"publish", cmd_publish, publish_opts, 2, 2, publish_usage},
    {"get", cmd_get, get_opts, 1, 1, get_usage},
    {"query", cmd_query, query_opts, 0, 0, query_usage},
    {"match", cmd_match, match_opts, 1, 1, match_usage},
    {"history", cmd_history, history_opts, 1, 1, history_usage},
    {"retract", cmd_retract, retract_opts, 1, 1, retract_usage},
    {"watch", cmd_watch, watch_opts, 0, 0, watch_usage},
    {"import", cmd_import, import_opts, 1, 1, import_usage},
    {"export", cmd_export, export_opts, 0, 1, export_usage},
    {"backup", cmd_backup, backup_opts, 1, 1, backup_usage},
    {"verify", cmd_verify, NULL, 0, 0, verify_usage},
    {"peers", cmd_peers, NULL, 0, 0, peers_usage},
    {"heads", cmd_heads, NULL, 0, 0, heads_usage},
    {"vocab", cmd_vocab, NULL, 0, 1, vocab_usage},
    {"metrics", cmd_metrics, metrics_opts, 0, 0, metrics_usage},
    {"inbox", cmd_inbox, inbox_opts, 0, 0, inbox_usage},
    {"replies", cmd_replies, replies_opts, 0, 0, replies_usage},
    {"accept", cmd_accept, accept_opts, 1, 1, accept_usage},
    {"decline", cmd_decline, decline_opts, 1, 1, accept_usage},
    {"lineage", cmd_lineage, NULL, 1, 1, lineage_usage},
    {"peer", cmd_peer, peer_opts, 1, 3, peer_usage},
    {"trust", cmd_trust, NULL, 0, 0, trust_usage},
    {"block", cmd_block, NULL, 1, 1, block_usage},
    {"unblock", cmd_unblock, NULL, 1, 1, block_usage},
    {"web-token", cmd_web_token, web_token_opts, 0, 0, web_token_usage},
};

static const struct command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Flush stdout; a failed write (disk full, closed pipe) is a local I/O error. */
static int finish_output(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE)
            fprintf(stderr, "hubctl: cannot write the output: %s\n", strerror(errno));
        return rc ? rc : EXIT_LOCAL;
    }
    return rc;
}

static const char *default_socket(void) {
    struct stat st;
    if (stat(INSTALLED_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode))
        return INSTALLED_SOCKET;
    return DEV_SOCKET;
}

int main(int argc, char **argv) {
    struct ctl ctl = {.conn = {.fd = -1}};
    const char *env = getenv("HUBD_SOCKET");
    ctl.socket = env && *env ? env : default_socket();

    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *val;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(top_usage, stdout);
            return finish_output(EXIT_OK);
        }
        if (strcmp(a, "--version") == 0) {
            printf("hubctl %s (control protocol %d)\n", HUB_VERSION, HUB_CONTROL_PROTOCOL);
            return finish_output(EXIT_OK);
        }
        if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
            ctl.json = 1;
            continue;
        }
        if (strcmp(a, "--raw") == 0 || strcmp(a, "--table") == 0) {
            ctl.raw = a[2] == 'r' ? 1 : -1;
            continue;
        }
        int t = take_value("socket", argc, argv, &i, &val);
        if (t < 0)
            return usage_error(NULL, "option '%s' needs a value", a);
        if (t == 0)
            return usage_error(NULL, "unknown option '%s'", a);
        ctl.socket = val;
    }
    if (i >= argc) {
        fputs(top_usage, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i++];
    if (strcmp(name, "help") == 0) {
        if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(top_usage, stdout);
            return finish_output(EXIT_OK);
        }
        const struct command *c = find_command(argv[i]);
        if (c == NULL)
            return usage_error(NULL, "no command '%s'", argv[i]);
        fputs(c->usage, stdout);
        return finish_output(EXIT_OK);
    }
    const struct command *cmd = find_command(name);
    if (cmd == NULL)
        return usage_error(NULL, "unknown command '%s'", name);

    json_t *opts = json_object();
    char *pos[4];
    int npos;
    int rc = parse_command_args(&ctl, cmd, argc - i, argv + i, opts, &npos, pos);
    if (rc != 0) {
        json_decref(opts);
        return rc < 0 ? finish_output(EXIT_OK) : rc;
    }
    if (ctl.socket[0] == '\0') {
        json_decref(opts);
        return usage_error(NULL, "%s", "--socket needs a non-empty PATH");
    }
    ctl.out = ctl.json ? &output_json : &output_text;
    output_set_raw(ctl.raw > 0 || (ctl.raw == 0 && !isatty(STDOUT_FILENO)));
    rc = cmd->run(&ctl, opts, npos, pos);
    json_decref(opts);
    conn_close(&ctl.conn);
    return finish_output(rc);
}
