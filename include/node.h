/* node.h: the hub itself: identity + store + the one path every entry takes into the store
 * (decode, verify, payload check, index terms, chain rule), publishing of own records, and
 * listeners told of each accepted entry (watchers, live push). */
#ifndef HUB_NODE_H
#define HUB_NODE_H

#include "config.h"
#include "entry.h"
#include "hub.h"
#include "identity.h"
#include "store.h"
#include <stddef.h>
#include <stdint.h>

struct node;

/* Told of every newly accepted entry, in acceptance order. origin: 0 own/control, else the
 * peer slot it came from (so live push need not echo it back). */
typedef void (*node_listener)(void *arg, const struct entry *e, int origin);

/* Policy hook: may this author's feed be stored? Default: everything. */
typedef int (*node_admit_fn)(void *arg, const uint8_t author[32]);

int node_open(const struct config *cfg, struct node **out) HUB_WUR;
void node_destroy(struct node **n);
const struct identity *node_identity(const struct node *n);
struct store *node_store(struct node *n);
const struct config *node_config(const struct node *n);
/* For hubd's reload (SIGHUP) only, on the event loop's thread: config_reload changes keys
 * that only that thread reads. */
struct config *node_config_mut(struct node *n);
int node_add_listener(struct node *n, node_listener fn, void *arg);
/* Inside a listener: the local number (the store's cursor) of the entry it is told of. */
uint64_t node_telling_local(const struct node *n);
/* Inside a listener: 1 when the entry was stored before its own signature was checked (the
 * hash chain authenticates it, PROTOCOL.md 9.16): it must not be relayed (live push). */
int node_telling_unchecked(const struct node *n);
/* The last seq of author's feed this hub may serve to peers (UINT64_MAX: all it holds); when
 * capped, before gets that entry's id (PROTOCOL.md 9.16). Safe from any thread. */
uint64_t node_servable(struct node *n, const uint8_t author[32], uint8_t before[32]);
/* Changes whenever a node_servable bound moves. */
uint64_t node_servable_generation(struct node *n);
struct sigcheck;
struct sigcheck *node_sigcheck(struct node *n);
void node_set_admit(struct node *n, node_admit_fn fn, void *arg);

/* One of the hub's own records to publish. */
struct node_draft {
    int kind;
    const char *key;
    const uint8_t *payload;
    size_t payload_len;
    uint64_t expires;
    /* out */
    uint8_t id[32];
    uint64_t seq;
};
/* Build, sign and store drafts as consecutive entries of the hub's feed, in one transaction:
 * all or nothing. */
int node_publish(struct node *n, struct node_draft *d, size_t count) HUB_WUR;
/* Makes draft i into *d: called once for each i, from several threads at once and in no
 * particular order. 0, or an error that calls the publish off. */
typedef int (*node_make_fn)(void *arg, size_t i, struct node_draft *d);
/* node_publish of drafts that are made while the first ones are already being signed and
 * stored (a big import: its records are parsed on every core as the chain is signed). All or
 * nothing like node_publish; when a make failed, nothing is stored, *failed is the lowest such
 * i and its error is returned (else *failed is SIZE_MAX). The payloads of made drafts are the
 * caller's to free. */
int node_publish_stream(struct node *n, struct node_draft *d, size_t count, node_make_fn make,
                        void *arg, size_t *failed) HUB_WUR;

/* Foreign entries (replication, import): each is validated on its own; results[i] gets its code
 * (HUB_OK, E_DUPLICATE, E_SIGNATURE, E_GAP, E_FORK, ...). Returns 0 or a store failure, in
 * which case nothing was stored. *accepted counts HUB_OK results. */
int node_ingest(struct node *n, const uint8_t *const *wires, const size_t *lens, size_t count,
                int *results, size_t *accepted, int origin) HUB_WUR;

/* node_ingest in two halves, so that the signatures of one batch are checked (by worker
 * threads) while the caller stores the one before: begin screens the batch and starts the
 * checks; end stores it and fills results[]. wires, lens and results must stay valid until
 * end, which must be called once per job, in the order of begin (and before any other store
 * write that should see the batch). */
struct node_ingest_job;
#define NODE_INGEST_BULK 1u /* part of a longer transfer (catch-up): see STORE_BULK */
/* Entries a peer answered Wants with (anti-entropy): runs of one feed may be accepted on the
 * hash chain, their inner signatures checked afterwards (sigcheck.h, PROTOCOL.md 9.16). Not for
 * imports, whose per-entry results an operator reads, nor live pushes. */
#define NODE_INGEST_CHAIN 2u
/* A batch (ingest or publish) of up to this many entries reuses per-entry memory kept from
 * earlier batches; a bigger one gets its own each time. A catch-up transaction's size. */
#define NODE_BLOCK_ENTRIES 16384
int node_ingest_begin(struct node *n, const uint8_t *const *wires, const size_t *lens, size_t count,
                      int *results, int origin, unsigned flags,
                      struct node_ingest_job **job) HUB_WUR;
int node_ingest_end(struct node *n, struct node_ingest_job *job, size_t *accepted) HUB_WUR;

/* The store half on the node's writer thread, so that the event loop goes on (queries are
 * answered from LMDB snapshots meanwhile): submit a begun job (HUB_E_BUSY while the writer holds
 * one, stored or not), collect it with node_ingest_done (wait: block until it is stored; else
 * NULL if not yet), then node_ingest_finish on this thread: results, logs and listeners. */
int node_ingest_submit(struct node *n, struct node_ingest_job *job) HUB_WUR;
struct node_ingest_job *node_ingest_done(struct node *n, int wait);
int node_ingest_finish(struct node *n, struct node_ingest_job *job, size_t *accepted) HUB_WUR;
/* node_ingest_finish over several calls, so that the event loop can tell the listeners of a big
 * batch (live push relays each entry) a part at a time between other work: each call tells them
 * of up to max more entries. Returns 1 once the job is finished and freed (*accepted and *rc are
 * then node_ingest_finish's), 0 while some remain. */
int node_ingest_finish_step(struct node *n, struct node_ingest_job *job, size_t max,
                            size_t *accepted, int *rc) HUB_WUR;

/* The hub's own feed as other hubs hold it (PROTOCOL.md §6.2, README "Backups and the hub's
 * identity"). A hub started on a data dir it did not just create may be behind its own feed (a
 * restored backup): until one sync round with a peer has compared the feed (and fetched what
 * the peer held beyond our head), or [hub] own_recovery_wait seconds have passed, it is
 * RECOVERING and node_publish refuses with HUB_E_NOT_READY. Entries of its own feed that arrive
 * from peers after that were written by another hub with the same key: KEY_IN_USE, publishing
 * refused with HUB_E_KEY_IN_USE until the operator restarts the hub. */
enum node_self_state { NODE_SELF_RECOVERING = 0, NODE_SELF_READY = 1, NODE_SELF_KEY_IN_USE = 2 };
struct node_self_info {
    enum node_self_state state;
    uint64_t wait_left_ms; /* RECOVERING: until publishing goes on without a peer */
    int recovered;         /* own entries taken back from peers at start-up: */
    uint64_t rec_lo, rec_hi;
    uint8_t rec_peer[32];
    int key_in_use;                  /* own entries this process did not write, after start-up: */
    uint64_t use_lo, use_hi, use_ms; /* seq range seen, wall-clock ms of detection */
    uint8_t use_peer[32];            /* the peer the first of them came from */
};
void node_self_info(const struct node *n, struct node_self_info *out);
/* 1 while the hub may fetch its own feed from peers (the start-up window): only then. */
int node_self_recovering(const struct node *n);
/* A sync round with peer compared our feed with its and stored what it held beyond our head. */
void node_self_round(struct node *n, const uint8_t peer[32]);
/* Verified entries of our own feed, seq lo..hi, came from peer with this store result (HUB_OK,
 * E_GAP, E_PREV, E_FORK): recovery in the start-up window (or answering a Want asked in it:
 * asked_at_start), else another hub with our key. */
void node_self_foreign(struct node *n, const uint8_t peer[32], uint64_t lo, uint64_t hi, int result,
                       int asked_at_start);

/* Periodic work: expiry sweep. */
void node_tick(struct node *n, uint64_t now_ms);

/* Rejection counters by error code (for status and the periodic log summary). */
struct node_counters {
    uint64_t accepted;
    uint64_t rejected[40]; /* index: -code */
    uint64_t pipelined;    /* batches checked while stored (par_pipe): tests see which path ran */
};
const struct node_counters *node_counters(const struct node *n);

#endif
