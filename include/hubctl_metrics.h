/* hubctl_metrics.h: hubd's state in the Prometheus text exposition format (version 0.0.4),
 * made from the "status" and "peers" control calls, and a small HTTP exporter serving it.
 *
 * The exporter runs in hubctl, not in hubd: the process that holds the identity key and the
 * store never parses HTTP (DESIGN.md, as for hubweb). It reads hubd through the control
 * socket like any script, one fresh connection per scrape. */
#ifndef HUBCTL_METRICS_H
#define HUBCTL_METRICS_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#define METRICS_DEFAULT_LISTEN "127.0.0.1:9477"
#define METRICS_MAX_REQUEST 8192     /* bytes of an HTTP request head read at most */
#define METRICS_REQUEST_TIMEOUT_MS 5000 /* a client that sends nothing is dropped after this */

/* Write the exposition of a status and a peers response (either may be NULL: hubd did not
 * answer, so hubnet_up is 0 and only that is written). Returns 0, or -1 on a write error. */
int metrics_write(json_t *status, json_t *peers, FILE *out);

/* Fetch status and peers from hubd: 0 and both owned responses, or non-zero when hubd cannot
 * be reached or answers with an error (then both are NULL). */
typedef int (*metrics_fetch_fn)(void *arg, json_t **status, json_t **peers);

/* Serve GET /metrics on HOST:PORT until SIGINT/SIGTERM (*stop set). Sequential: one client at a
 * time, each with a deadline. Returns 0 when stopped, -1 (message on stderr) when the address
 * cannot be used. */
int metrics_serve(const char *addr, metrics_fetch_fn fetch, void *arg,
                  volatile sig_atomic_t *stop);

#endif
