/* areply.h: addressed replies (PROTOCOL.md 9.15). A response entry from a feed this hub does not
 * replicate is kept apart (store "areplies") when it addresses this hub, or a hub this hub trusts
 * (then it is relayed toward it), within per-responder quotas; `hubctl block` refuses a
 * responder's. Event loop only. */
#ifndef HUB_AREPLY_H
#define HUB_AREPLY_H

#include "hub.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds (PROTOCOL.md §10). */
#define AREPLY_MAX_ENTRY 16384     /* wire bytes of one addressed reply */
#define AREPLY_MAX_HELD 100000     /* addressed replies kept, all targets together */
#define AREPLY_WINDOW_MS 3600000   /* quota window: one hour */
#define AREPLY_QUOTA_BYTES 262144  /* wire bytes kept per responder per window */
#define AREPLY_QUOTA_SLOTS 4096    /* responders whose window is tracked at once */
#define AREPLY_MAX_BLOCKED 65536   /* blocked responders */
#define AREPLY_LOG_MS 60000        /* refusals are summarised in the log at most this often */

struct areply;
struct node;
struct policy;
struct control;

/* Loads the blocked responders; registers the block and unblock control calls (ctl may be
 * NULL). policy is read (policy_admits_feed) to decide which targets are relayed. */
int areply_open(struct node *n, struct policy *p, struct control *ctl,
                struct areply **out) HUB_WUR;
void areply_destroy(struct areply **a);

/* An entry the replication policy refused (E_POLICY). HUB_OK when it was kept as an addressed
 * reply (*relay: 1 when it addresses another hub, so live push should pass it on), E_DUPLICATE
 * when already kept, E_POLICY when it is not an addressed reply this hub keeps (not a response,
 * or the target is not trusted), or the refusal: E_BLOCKED, E_QUOTA, E_TOO_LARGE, a signature
 * or payload error. Refusals other than E_POLICY and E_DUPLICATE are counted and logged. */
int areply_offer(struct areply *a, const uint8_t *wire, size_t len, int *relay);

/* 1 when the responder is blocked. */
int areply_blocked(const struct areply *a, const uint8_t key[32]);

/* status: {"kept", "relayed", "held", "refused": {"blocked", "quota", "size", "invalid"},
 * "blocked": N}. */
void areply_status(struct areply *a, json_t *st);
/* Counts one addressed reply passed on by live push. */
void areply_count_relayed(struct areply *a);
/* Periodic: the log summary of refusals. */
void areply_tick(struct areply *a, uint64_t now_mono_ms);

#endif
