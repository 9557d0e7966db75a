/* control.h: the control socket: a Unix-domain stream socket speaking newline-delimited JSON
 * (CONTROL.md). Registered in hubd's zmq_poll loop as plain file descriptors. */
#ifndef HUB_CONTROL_H
#define HUB_CONTROL_H

#include "hub.h"
#include <jansson.h>
#include <stddef.h>
#include <zmq.h>

struct config;
struct control;
struct node;

/* Bind the socket at path with mode; refuses (E_BUSY) when a daemon already answers there. */
int control_open(struct node *n, const char *path, unsigned mode, unsigned max_clients,
                 struct control **out) HUB_WUR;
void control_destroy(struct control **c);

/* Extra calls provided by other subsystems (replication: peers, peer_add, peer_remove).
 * The handler fills *resp (a new object; "ok" is added by control) or returns an error code
 * and optionally sets *resp to {"message": ..., "field": ...}. */
typedef int (*control_op_fn)(void *arg, json_t *req, json_t **resp);
int control_register_op(struct control *c, const char *op, control_op_fn fn, void *arg);
/* Adds fields to the status response. */
typedef void (*control_status_fn)(void *arg, json_t *status);
void control_set_status_hook(struct control *c, control_status_fn fn, void *arg);

/* The records module (records.h): views then carry what it derives (hub names, seats, reply
 * states, opened sealed parts), publish prepares responses with it, and the calls inbox,
 * replies, accept, decline and lineage are answered. NULL (the default): plain views. */
struct records;
void control_set_records(struct control *c, struct records *r);

/* Apply what a reload may change: [hub] control_idle_timeout and watch_backlog. */
void control_reload(struct control *c, const struct config *cfg);

/* Poll integration: fill up to max items, then handle what poll reported. The caller's array
 * holds control_poll_capacity() items for control (the listening socket and every client). */
size_t control_poll_capacity(const struct control *c);
size_t control_poll_items(struct control *c, zmq_pollitem_t *items, size_t max);
void control_handle(struct control *c, const zmq_pollitem_t *items, size_t count);
/* A client with buffered complete requests needs a turn even without new input: poll with
 * a zero timeout while this is true. */
int control_has_backlog(const struct control *c);

#endif
