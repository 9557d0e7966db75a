/* areply.c: addressed replies (PROTOCOL.md 9.15). A hub's policy decides whose whole feed it
 * replicates; a reply addressed to one of its records must reach it whatever that decides. Only
 * what cannot be abused passes: a verified response entry, addressed to this hub or to a hub it
 * trusts, within a per-responder quota, from a responder not blocked here. It is kept apart from
 * the feeds (the chain rule needs the feed) and never answers a query but the target's inbox. */
#include "areply.h"

#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "entry.h"
#include "log.h"
#include "node.h"
#include "policy.h"
#include "record.h"
#include "store.h"

struct quota_slot {
    uint8_t key[32];
    uint64_t start_ms; /* window start (monotonic); 0: slot free */
    uint32_t count;
    uint64_t bytes;
};

struct areply {
    struct node *node;
    struct store *st;
    struct policy *policy;
    const uint8_t *self;
    uint8_t (*blocked)[32]; /* sorted */
    size_t nblocked, capblocked;
    struct quota_slot quota[AREPLY_QUOTA_SLOTS];
    uint64_t kept, relayed, refused_blocked, refused_quota, refused_size, refused_invalid;
    uint64_t window_refused, last_log_ms; /* log summary */
    uint8_t last_refused[32];
    int last_refused_rc;
};

static int key_cmp(const void *a, const void *b) {
    return memcmp(a, b, 32);
}

int areply_blocked(const struct areply *a, const uint8_t key[32]) {
    return a->nblocked && bsearch(key, a->blocked, a->nblocked, 32, key_cmp) != NULL;
}

static int blocked_add(struct areply *a, const uint8_t key[32]) {
    if (areply_blocked(a, key))
        return 0;
    if (a->nblocked == AREPLY_MAX_BLOCKED)
        return HUB_E_TOO_LARGE;
    if (a->nblocked == a->capblocked) {
        size_t cap = a->capblocked ? a->capblocked * 2 : 16;
        uint8_t(*b)[32] = realloc(a->blocked, cap * 32);
        if (!b)
            return HUB_E_NOMEM;
        a->blocked = b;
        a->capblocked = cap;
    }
    size_t i = a->nblocked;
    while (i > 0 && memcmp(a->blocked[i - 1], key, 32) > 0) {
        memcpy(a->blocked[i], a->blocked[i - 1], 32);
        i--;
    }
    memcpy(a->blocked[i], key, 32);
    a->nblocked++;
    return HUB_OK;
}

static void blocked_remove(struct areply *a, const uint8_t key[32]) {
    uint8_t(*k)[32] = a->nblocked ? bsearch(key, a->blocked, a->nblocked, 32, key_cmp) : NULL;
    if (!k)
        return;
    size_t i = (size_t)(k - a->blocked);
    memmove(a->blocked[i], a->blocked[i + 1], (a->nblocked - i - 1) * 32);
    a->nblocked--;
}

static int load_cb(const uint8_t key[32], uint64_t ms, void *arg) {
    (void)ms;
    return blocked_add(arg, key) < 0;
}

/* The responder's window: a slot of its own (probing a few), or the oldest of them taken over:
 * a responder pushed out of the table starts a new window, which AREPLY_MAX_HELD still bounds. */
#define AREPLY_PROBE 8
static struct quota_slot *quota_slot(struct areply *a, const uint8_t key[32], uint64_t now) {
    size_t h = ((size_t)key[0] << 8 | key[1]) % AREPLY_QUOTA_SLOTS;
    struct quota_slot *oldest = NULL;
    for (size_t i = 0; i < AREPLY_PROBE; i++) {
        struct quota_slot *q = &a->quota[(h + i) % AREPLY_QUOTA_SLOTS];
        if (q->start_ms && memcmp(q->key, key, 32) == 0) {
            if (now - q->start_ms >= AREPLY_WINDOW_MS) {
                q->start_ms = now;
                q->count = 0;
                q->bytes = 0;
            }
            return q;
        }
        if (!oldest || q->start_ms < oldest->start_ms)
            oldest = q;
    }
    memcpy(oldest->key, key, 32);
    oldest->start_ms = now ? now : 1;
    oldest->count = 0;
    oldest->bytes = 0;
    return oldest;
}

static int refuse(struct areply *a, const uint8_t author[32], int rc) {
    uint64_t *c = rc == HUB_E_BLOCKED ? &a->refused_blocked
                  : rc == HUB_E_QUOTA ? &a->refused_quota
                  : rc == HUB_E_TOO_LARGE ? &a->refused_size
                                          : &a->refused_invalid;
    (*c)++;
    a->window_refused++;
    memcpy(a->last_refused, author, 32);
    a->last_refused_rc = rc;
    return rc;
}

int areply_offer(struct areply *a, const uint8_t *wire, size_t len, int *relay) {
    *relay = 0;
    struct entry e;
    if (entry_decode(wire, len, &e) != HUB_OK || e.kind != 4 /* KIND_RESPONSE */)
        return HUB_E_POLICY;
    if (!e.payload)
        return HUB_E_POLICY; /* a purged copy addresses nobody */
    struct record_response r;
    if (record_response_info(e.payload, e.payload_len, &r) != HUB_OK || !r.has_target)
        return HUB_E_POLICY;
    int to_self = memcmp(r.target_author, a->self, 32) == 0;
    /* Relayed only toward a hub we trust: an untrusted target cannot use us as a mailbox. */
    if (!to_self && !policy_admits_feed(a->policy, r.target_author))
        return HUB_E_POLICY;
    if (memcmp(e.author, a->self, 32) == 0)
        return HUB_E_POLICY; /* our own feed is never refused by policy; not ours to keep */
    int held = store_areply_has(a->st, r.target_author, e.id);
    if (held == 1)
        return HUB_E_DUPLICATE;
    if (areply_blocked(a, e.author))
        return refuse(a, e.author, HUB_E_BLOCKED);
    if (len > AREPLY_MAX_ENTRY)
        return refuse(a, e.author, HUB_E_TOO_LARGE);
    int rc = entry_verify(&e, hub_now_ms());
    if (rc == HUB_OK)
        rc = record_check_payload(e.kind, e.payload, e.payload_len);
    if (rc != HUB_OK)
        return refuse(a, e.author, rc);
    uint64_t now = hub_mono_ms();
    struct quota_slot *q = quota_slot(a, e.author, now);
    if (q->count >= node_config(a->node)->reply_quota || q->bytes + len > AREPLY_QUOTA_BYTES)
        return refuse(a, e.author, HUB_E_QUOTA);
    rc = store_areply_put(a->st, r.target_author, e.id, wire, len, AREPLY_MAX_HELD);
    if (rc == HUB_E_DUPLICATE)
        return rc;
    if (rc != HUB_OK)
        return refuse(a, e.author, rc);
    q->count++;
    q->bytes += len;
    a->kept++;
    *relay = !to_self;
    char k[9], t[9];
    hub_short(e.author, k);
    hub_short(r.target_author, t);
    log_info("sync", "kept an addressed reply from %s to %s%s", k, t,
             to_self ? " (this hub: in the inbox)" : "; relaying it");
    return HUB_OK;
}

void areply_count_relayed(struct areply *a) {
    a->relayed++;
}

void areply_tick(struct areply *a, uint64_t now) {
    if (!a->window_refused || now - a->last_log_ms < AREPLY_LOG_MS)
        return;
    char k[9];
    hub_short(a->last_refused, k);
    log_warnx("sync",
              "refused %llu addressed repl%s in the last minute (last from %s: %s); totals: "
              "blocked %llu, over quota %llu, too large %llu, invalid %llu",
              (unsigned long long)a->window_refused, a->window_refused == 1 ? "y" : "ies", k,
              hub_strerror(a->last_refused_rc), (unsigned long long)a->refused_blocked,
              (unsigned long long)a->refused_quota, (unsigned long long)a->refused_size,
              (unsigned long long)a->refused_invalid);
    a->window_refused = 0;
    a->last_log_ms = now;
}

void areply_status(struct areply *a, json_t *st) {
    uint64_t held = 0;
    if (store_areply_count(a->st, &held) != HUB_OK)
        held = 0;
    json_object_set_new(
        st, "addressed_replies",
        json_pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I}", "kept", (json_int_t)a->kept,
                  "relayed", (json_int_t)a->relayed, "held", (json_int_t)held, "refused",
                  "blocked", (json_int_t)a->refused_blocked, "quota",
                  (json_int_t)a->refused_quota, "size", (json_int_t)a->refused_size, "invalid",
                  (json_int_t)a->refused_invalid, "blocked", (json_int_t)a->nblocked));
}

/* ---- control calls: block, unblock ---- */

static int op_block_common(struct areply *a, json_t *req, json_t **resp, int block) {
    const char *key = json_string_value(json_object_get(req, "key"));
    uint8_t hub[32];
    if (!key || strlen(key) != HUB_HEX_LEN || hub_unhex(key, hub, 32) != 0) {
        *resp = json_pack("{s:s, s:s}", "field", "key", "message",
                          "key: expected a 64-hex hub key");
        return HUB_E_RANGE;
    }
    if (block && memcmp(hub, a->self, 32) == 0) {
        *resp = json_pack("{s:s, s:s}", "field", "key", "message",
                          "key: that is this hub's own key");
        return HUB_E_RANGE;
    }
    int was = areply_blocked(a, hub);
    if (block && !was && a->nblocked == AREPLY_MAX_BLOCKED) {
        *resp = json_pack("{s:s, s:s}", "field", "key", "message", "too many blocked hubs");
        return HUB_E_TOO_LARGE;
    }
    /* In the store first: a failed write changes nothing. */
    int rc = store_blocked_set(a->st, hub, block, hub_now_ms());
    if (rc != HUB_OK) {
        *resp = json_pack("{s:s}", "message", hub_strmsg(rc));
        return rc;
    }
    if (block)
        rc = blocked_add(a, hub);
    else
        blocked_remove(a, hub);
    if (rc != HUB_OK) {
        *resp = json_pack("{s:s}", "message", hub_strmsg(rc));
        return rc;
    }
    if (was != block)
        log_info("sync", "hub %.8s %s: its addressed replies are %s", key,
                 block ? "blocked" : "unblocked", block ? "refused" : "accepted again");
    *resp = json_pack("{s:s, s:b, s:b}", "key", key, "blocked", block, "changed", was != block);
    return HUB_OK;
}

static int op_block(void *arg, json_t *req, json_t **resp) {
    return op_block_common(arg, req, resp, 1);
}

static int op_unblock(void *arg, json_t *req, json_t **resp) {
    return op_block_common(arg, req, resp, 0);
}

int areply_open(struct node *n, struct policy *p, struct control *ctl, struct areply **out) {
    struct areply *a = calloc(1, sizeof *a);
    if (!a)
        return HUB_E_NOMEM;
    a->node = n;
    a->st = node_store(n);
    a->policy = p;
    a->self = node_identity(n)->pk;
    int rc = store_blocked_load(a->st, load_cb, a);
    if (rc < 0) {
        free(a);
        return rc;
    }
    if (ctl) {
        control_register_op(ctl, "block", op_block, a);
        control_register_op(ctl, "unblock", op_unblock, a);
    }
    *out = a;
    return HUB_OK;
}

void areply_destroy(struct areply **ap) {
    if (!ap || !*ap)
        return;
    free((*ap)->blocked);
    free(*ap);
    *ap = NULL;
}
