/* sync.h: replication. Live push (PUB/SUB) and anti-entropy (DEALER/ROUTER) with CurveZMQ,
 * a ZAP handler for admission, and the peer table behind 'hubctl peers'. PROTOCOL.md, "Sync". */
#ifndef HUB_SYNC_H
#define HUB_SYNC_H

#include "hub.h"
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

struct sync;
struct node;
struct control;
struct config;

/* Binds the ROUTER and PUB endpoints from the config, starts the ZAP handler, dials configured
 * peers, and registers the peers/peer_add/peer_remove control calls. */
int sync_open(struct node *n, struct control *ctl, struct sync **out) HUB_WUR;
void sync_destroy(struct sync **s);

/* SIGHUP: dial peers added to the file, drop those removed from it, and trust or distrust
 * the keys of [policy] allow accordingly. Call before the running config becomes next. */
void sync_reload(struct sync *s, const struct config *old, const struct config *next);

/* Most items sync_poll_items fills: size the poll array with this. */
size_t sync_poll_capacity(void);
size_t sync_poll_items(struct sync *s, zmq_pollitem_t *items, size_t max);
/* Handles what zmq_poll reported for the items sync_poll_items filled. */
void sync_handle(struct sync *s, const zmq_pollitem_t *items, size_t count);
/* Timers: rounds, timeouts, peer state, log summaries. Returns ms until it wants to run again. */
long sync_tick(struct sync *s);

#endif
