/* policy.h: which hubs we trust: whose feeds we store and relay, and whose transport keys the
 * ZAP handler admits. The roots: configured peers, [policy] anchor and allow keys (and the hub
 * itself). Modes: allowlist (the roots), endorsed and trust (the roots plus the hubs endorsed
 * by trusted hubs within `hops` hops), open (everyone). PROTOCOL.md 9.10. */
#ifndef HUB_POLICY_H
#define HUB_POLICY_H

#include "config.h"
#include "hub.h"
#include <stddef.h>
#include <stdint.h>

struct policy;
struct store;

/* Why a hub is a root of trust. */
enum policy_root { POLICY_ROOT_PEER = 0, POLICY_ROOT_ANCHOR = 1, POLICY_ROOT_ALLOW = 2 };
#define POLICY_ROOT_COUNT 3

int policy_new(const struct config *cfg, const uint8_t self[32], struct policy **out) HUB_WUR;
void policy_destroy(struct policy **p);
/* Roots of trust by kind; a hub named by several kinds stays trusted until the last goes. */
int policy_add_root(struct policy *p, const uint8_t hub[32], enum policy_root kind);
void policy_remove_root(struct policy *p, const uint8_t hub[32], enum policy_root kind);
/* Peers (policy_add_root with POLICY_ROOT_PEER). */
int policy_add_base(struct policy *p, const uint8_t hub[32]);
void policy_remove_base(struct policy *p, const uint8_t hub[32]);

/* Why a hub is trusted: a root (root >= 0, hop 0), or endorsed by `by` at hop (root -1). */
struct policy_via {
    int root;
    unsigned hop;
    uint8_t by[32];
};
typedef void (*policy_explain_fn)(void *arg, const uint8_t hub[32], const struct policy_via *v);
/* Calls cb once per trusted hub (roots first, then each hop in turn; a hub reached several
 * ways is given once, by its shortest path); the hub itself is not listed. Event loop only:
 * reads the store. */
void policy_explain(struct policy *p, struct store *s, policy_explain_fn cb, void *arg);
const char *policy_root_name(int root); /* "peer", "anchor", "allow", "endorsed" (-1) */
#define POLICY_TRUST_LIST_MAX 10000 /* hubs one trust call lists */
/* Recompute the endorsed set from the endorsement records in the store. */
void policy_recompute(struct policy *p, struct store *s);
int policy_admits_feed(const struct policy *p, const uint8_t author[32]);
/* Transport key (X25519) check for the ZAP handler; hub is set when the key is a known hub. */
int policy_admits_curve(const struct policy *p, const uint8_t curve_pk[32], uint8_t hub[32]);
/* 1 and hub set when curve_pk is the transport key of a trusted hub. */
int policy_trusted_curve(const struct policy *p, const uint8_t curve_pk[32], uint8_t hub[32]);
size_t policy_trusted_count(const struct policy *p);
const char *policy_mode_name(enum policy_mode m);

/* ZAP (RFC 27) handler on inproc://zeromq.zap.01 in ctx: must exist before curve servers bind. */
struct zap;
int zap_open(void *ctx, struct policy *p, struct zap **out) HUB_WUR;
void zap_destroy(struct zap **z);
void *zap_socket(struct zap *z);
void zap_handle(struct zap *z); /* call when the socket is readable */

#endif
