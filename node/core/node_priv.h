/* node_priv.h: what the files of the node subsystem (node.c: the store path of every entry,
 * ingest of foreign ones, the writer thread; publish.c: the hub's own entries) share. Not for
 * other subsystems: they call node.h. */
#ifndef HUB_NODE_PRIV_H
#define HUB_NODE_PRIV_H

#include <pthread.h>

#include "node.h"
#include "record.h"

#define NODE_MAX_LISTENERS 4
/* Signing, and checking entries, is most of a publish or an ingest: done in parallel slices,
 * and from this many entries checked (signed) and stored at once. */
#define NODE_PAR_MIN_SLICE 16
#define NODE_PIPE_MIN 512
/* Per-entry blocks kept between batches (node_prepared_take): ~49 MiB each, freed when idle. */
#define NODE_SPARE_MAX 2

/* The hub's own feed as other hubs hold it (node.c, node_self_*): what a restarted hub took back
 * from its peers before publishing (a restored backup), and entries of it that this process did
 * not write (another hub with this key). */
struct node_self {
    int state;              /* enum node_self_state */
    uint64_t wait_until_ms; /* hub_mono_ms: the end of the start-up window */
    int recovered;          /* own entries taken back from peers in the window: */
    uint64_t rec_lo, rec_hi;
    uint8_t rec_peer[32];
    int key_in_use; /* another hub publishes with this key: publishing stopped */
    uint64_t use_lo, use_hi, use_ms;
    uint8_t use_peer[32];
    int use_result;
    uint64_t use_logged_ms; /* hub_mono_ms of the last error line about it */
};

struct node {
    struct config cfg;
    struct identity id;
    struct store *store;
    struct {
        node_listener fn;
        void *arg;
    } listeners[NODE_MAX_LISTENERS];
    size_t nlisteners;
    uint64_t telling_local; /* local number of the entry the listeners are told of */
    int telling_unchecked;  /* ... and it was stored before its signature was checked */
    struct sigcheck *sigcheck; /* catch-up on the hash chain (sigcheck.h) */
    node_admit_fn admit;
    void *admit_arg;
    uint64_t next_sweep;
    uint64_t last_write;    /* hub_mono_ms of the last publish or ingest */
    uint64_t next_maintain; /* no index upkeep asked of the writer before this */
    struct node_writer {
        pthread_t tid;
        int started, stop;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct node_ingest_job *todo, *done; /* at most one job in the writer's hands */
        int maintain, maintain_more;         /* store_maintain asked for; it had more to merge */
    } writer;
    struct node_counters counters;
    struct node_self self;
    /* Per-entry blocks of finished batches, kept for the next ones (node.c,
     * node_prepared_take): p[0, n), each of NODE_BLOCK_ENTRIES entries */
    struct node_spare {
        pthread_mutex_t mu;
        struct prepared *p[NODE_SPARE_MAX];
        size_t n;
    } spare;
};

/* Per-entry work before the store: what it needs to index and apply the entry. */
struct prepared {
    struct entry e;
    struct store_item item;
    struct index_term *terms; /* RECORD_MAX_TERMS of them, in one block per batch */
    struct ts_dict *dict;     /* its text's (word, form) pairs, in one block per batch */
    char retract_key[HUB_MAX_RECORD_KEY + 1];
    uint8_t *row; /* its store row packed ahead by a pipeline worker (malloc'd), or NULL */
    int queued; /* in an ingest job's order (screened and checked), else refused before */
    int repair; /* held, but its feed stopped at its seq: checked, a copy to repair it with */
    int own_sig; /* inside a run whose newest entry fails: its own signature checked (worker) */
};

/* Per-entry state for count entries, zeroed but for its blocks of terms and text (NULL if out of
 * memory); node_prepared_give hands it back, with the same count. Either is safe from any
 * thread. */
struct prepared *node_prepared_take(struct node *n, size_t count);
void node_prepared_give(struct node *n, struct prepared *p, size_t count);
/* Frees the blocks kept for the next batches (an idle hub; node_destroy). */
void node_prepared_release(struct node *n);
/* Terms, dates and record semantics of a decoded, verified entry (its payload checked too when
 * check_payload: foreign entries). */
int node_prepare(struct prepared *p, int check_payload);
/* Counts each result and tells the listeners of the accepted entries, in order. */
void node_notify(struct node *n, struct prepared *p, size_t count, int origin);
/* At start-up: warn when our own feed's head is dated ahead of the clock (publish.c). */
void node_clock_report(struct node *n);
void node_count(struct node *n, int code);

#endif
