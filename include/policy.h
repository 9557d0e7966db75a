/* policy.h: which hubs we trust: whose feeds we store and relay, and whose transport keys the
 * ZAP handler admits. Modes: allowlist (config allow + configured peers), endorsed (those plus
 * hubs endorsed by trusted hubs within `hops` hops), open (everyone). */
#ifndef HUB_POLICY_H
#define HUB_POLICY_H

#include "config.h"
#include "hub.h"
#include <stddef.h>
#include <stdint.h>

struct policy;
struct store;

int policy_new(const struct config *cfg, const uint8_t self[32], struct policy **out) HUB_WUR;
void policy_destroy(struct policy **p);
/* Configured peers are trusted like allowlisted hubs. */
int policy_add_base(struct policy *p, const uint8_t hub[32]);
void policy_remove_base(struct policy *p, const uint8_t hub[32]);
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
