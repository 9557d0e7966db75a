/* sigcheck.h: catch-up on the hash chain (PROTOCOL.md 9.16). Inside a run of one feed's
 * consecutive entries in a batch, a checked signature on the run's newest entry authenticates
 * every earlier header (each names its predecessor's id, a BLAKE2b-256 hash), so the entries
 * between the run's first and its newest are stored before their own signatures are checked.
 * Those signatures are checked afterwards by a background thread, in seq order; until then the
 * feed is served (Wants, Heads, live push, fork evidence, replies) only up to the entry before
 * the first unchecked one. A signature that fails there stops the feed's serving at that entry
 * (the entries stay: their content is the author's; the bytes of a signature are not covered by
 * any id, so a relay may have replaced them) until a correctly signed copy of it, asked of the
 * peers, repairs the feed (sigcheck_repaired). */
#ifndef HUB_SIGCHECK_H
#define HUB_SIGCHECK_H

#include "entry.h"
#include "hub.h"
#include "store.h"
#include <stddef.h>
#include <stdint.h>

/* Entries checked per read of the checker thread, and at most this many per write of its
 * progress (one small transaction; the writer thread's batches wait for it at most that long). */
#define SIGCHECK_CHUNK 4096
/* The checker runs at this nice value (19: it takes only what the rest of the hub leaves). */
#define SIGCHECK_NICE 19
/* With nothing to check, or nothing it could read, the checker looks again after this long. */
#define SIGCHECK_IDLE_MS 200
/* While a catch-up batch is checked and stored (sigcheck_hold), the checker does one pass at
 * most this often: the cores go to the catch-up, whose entries are held and queryable at once;
 * their signatures are checked once it ends, on every core. */
#define SIGCHECK_YIELD_MS 2000

/* The pure core. order[0..n) is a batch in (author, seq) order (entries refused before may be
 * NULL: they break runs). Sets defer[i] = 1 for each entry inside a run — the entry before it
 * in order is its feed predecessor (same author, seq - 1, its prev is that entry's id) and so
 * is it of the entry after it — and anchor[i] to the index of its run's newest entry, whose
 * signature must check for it to stand; else defer[i] = 0 and anchor[i] = i. The run's first
 * entry is checked in full: only its predecessor in the store (not the batch) could vouch that
 * it is not a fork, and a fork's evidence must carry a checked signature. */
void sigcheck_plan(const struct entry *const *order, size_t n, uint8_t *defer, size_t *anchor);

struct sigcheck;
/* Loads the rows of feeds with unchecked entries and starts the checker thread. */
int sigcheck_open(struct store *st, struct sigcheck **out) HUB_WUR;
void sigcheck_destroy(struct sigcheck **sc);
/* The writer thread, before the commit of a batch that stores entry seq of author unchecked
 * (before = its prev): from now on the feed is served only below it. */
void sigcheck_note(struct sigcheck *sc, const uint8_t author[32], uint64_t seq,
                   const uint8_t before[32]);
/* The last seq of author's feed that may be served (UINT64_MAX: all of it) and, when it is
 * capped, the id of that entry in before (a cap of 0: nothing). */
uint64_t sigcheck_servable(struct sigcheck *sc, const uint8_t author[32], uint8_t before[32]);
/* node.c: +1 when a pipelined catch-up batch starts, -1 when it ends (see SIGCHECK_YIELD_MS). */
void sigcheck_hold(struct sigcheck *sc, int delta);
/* Changes whenever a bound moves (the checker's progress, a note, a failed check): whoever
 * caches what it offers (the Summary digest) computes it again. */
uint64_t sigcheck_generation(struct sigcheck *sc);

struct sigcheck_stats {
    uint64_t deferred; /* entries stored on the chain (sigcheck_count_deferred) */
    uint64_t checked;  /* their signatures checked since start-up */
    uint64_t bad;      /* of which failed */
    uint64_t feeds;    /* feeds with entries waiting (bad ones included) */
    uint64_t feeds_bad;
    uint64_t repaired; /* stopped feeds repaired since start-up (sigcheck_repaired) */
    uint64_t unchained; /* entries inside a run whose newest failed: checked in full instead */
};
void sigcheck_count_deferred(struct sigcheck *sc, uint64_t n);
void sigcheck_count_unchained(struct sigcheck *sc, uint64_t n);
void sigcheck_stats(struct sigcheck *sc, struct sigcheck_stats *out);
/* The seq at which a failed check stopped author's feed, or 0 (not stopped). */
uint64_t sigcheck_stopped_at(struct sigcheck *sc, const uint8_t author[32]);
/* After the commit of a batch in which a correctly signed copy of the entry at seq
 * replaced the held signature (store_item.repaired): the feed, stopped at seq, is checked on
 * from seq again (PROTOCOL.md 9.16 rule 4). */
void sigcheck_repaired(struct sigcheck *sc, const uint8_t author[32], uint64_t seq);
/* Each feed whose serving a failed check stopped: author and the seq of the entry. */
int sigcheck_bad_walk(struct sigcheck *sc,
                      int (*cb)(const uint8_t author[32], uint64_t seq, void *arg), void *arg);

#endif
