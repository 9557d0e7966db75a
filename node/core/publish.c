/* publish.c: the hub's own entries. Drafts are chained (seq, prev), signed, checked like any
 * foreign entry (the signature with the secret key: identity_verify_own) and stored in one
 * transaction, all or nothing; a big import's drafts are made (parsed) by the same workers as
 * the first ones are signed (node_publish_stream). */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "node_priv.h"
#include "par.h"

struct publish_job {
    struct node *n;
    struct node_draft *d;
    size_t count;
    struct prepared *p;
    uint8_t (*headers)[HUB_MAX_HEADER];
    size_t *hlens;
    uint8_t **wires;
    int *rcs;
    struct store_item *items;
    struct par_pipe pipe;
    uint64_t now;
    /* The chain: header i names the id (hash) of header i - 1. */
    uint64_t seq0; /* our feed's head before this publish */
    uint64_t ts;
    uint8_t prev[32];
    /* node_publish_stream: drafts made by the workers, chained by whichever thread holds
     * chain_busy, in order, as far as they are made. */
    node_make_fn make;
    void *make_arg;
    atomic_uchar *made;    /* per draft: MADE_OK or MADE_FAILED once made */
    atomic_size_t chained; /* headers [0, chained) are built */
    atomic_int chain_busy;
    atomic_size_t failed; /* lowest draft whose make failed, or SIZE_MAX */
};
#define MADE_OK 1
#define MADE_FAILED 2

/* Header i of the chain; j->prev is header i - 1's id. */
static int chain_one(struct publish_job *j, size_t i) {
    struct node_draft *d = &j->d[i];
    struct entry_draft ed = {
        .seq = j->seq0 + 1 + i,
        .prev = j->seq0 + i ? j->prev : NULL,
        .timestamp = j->ts,
        .kind = d->kind,
        .key = d->key,
        .payload = d->payload,
        .payload_len = d->payload_len,
        .expires = d->expires,
    };
    int rc = entry_build_header(j->n->id.pk, &ed, j->headers[i], &j->hlens[i], d->id);
    memcpy(j->prev, d->id, 32);
    d->seq = ed.seq;
    return rc;
}

static void publish_one(void *arg, size_t i) {
    struct publish_job *j = arg;
    size_t wl;
    int rc = entry_sign(&j->n->id, j->headers[i], j->hlens[i], j->d[i].payload, j->d[i].payload_len,
                        &j->wires[i], &wl);
    if (rc == 0)
        rc = entry_decode(j->wires[i], wl, &j->p[i].e);
    /* Same checks as a foreign entry, signature included: a bug here must not let us publish
     * what other hubs would reject. */
    if (rc == 0)
        rc = entry_verify_at(&j->p[i].e, j->now, &j->n->id);
    if (rc == 0)
        rc = node_prepare(&j->p[i], 0);
    j->rcs[i] = rc;
}

static void publish_slice(void *arg, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++)
        publish_one(arg, i);
}

/* Builds the headers of the drafts made so far, unless another thread is at it. The flag and
 * made[] are sequentially consistent: a maker that finds the flag taken stored its made[]
 * before the holder lets go and looks again, so one of the two chains the draft. */
static void chain_advance(struct publish_job *j) {
    for (;;) {
        if (atomic_exchange(&j->chain_busy, 1))
            return;
        size_t k = atomic_load(&j->chained);
        while (k < j->count && atomic_load(&j->made[k]) == MADE_OK) {
            int rc = chain_one(j, k);
            if (rc != 0) {
                j->rcs[k] = rc;
                atomic_store(&j->made[k], MADE_FAILED); /* the chain ends here */
                break;
            }
            atomic_store(&j->chained, ++k);
        }
        atomic_store(&j->chain_busy, 0);
        if (k >= j->count || atomic_load(&j->made[k]) != MADE_OK)
            return;
    }
}

/* A pipeline item of node_publish_stream: make draft i, chain it, then sign and check it.
 * Drafts are claimed in order, and making one waits for nothing, so the chain always reaches
 * a claimed draft. */
static void publish_stream_one(void *arg, size_t i) {
    struct publish_job *j = arg;
    /* After a failed draft the publish is off: later ones need not be made. */
    int rc = i > atomic_load(&j->failed) ? HUB_E_INTERNAL : j->make(j->make_arg, i, &j->d[i]);
    if (rc != 0) {
        j->rcs[i] = rc;
        size_t f = atomic_load(&j->failed);
        while (i < f && !atomic_compare_exchange_weak(&j->failed, &f, i))
            ;
        atomic_store(&j->made[i], MADE_FAILED);
        return;
    }
    atomic_store(&j->made[i], MADE_OK);
    chain_advance(j);
    for (size_t at; (at = atomic_load(&j->chained)) <= i;) {
        if (atomic_load(&j->made[at]) == MADE_FAILED) {
            if (at != i) /* at == i: its header failed, and chain_advance said why */
                j->rcs[i] = HUB_E_INTERNAL;
            return;
        }
        sched_yield(); /* a draft before this one is being made */
        chain_advance(j);
    }
    publish_one(j, i);
}

/* Big publishes sign and store at once: entry i is stored as soon as it is signed and checked;
 * any failure abandons the whole transaction, so a publish is still all or nothing. */
static int publish_ready(void *arg, size_t i) {
    struct publish_job *j = arg;
    par_pipe_wait(&j->pipe, i);
    if (j->rcs[i] != 0)
        return STORE_READY_ABORT;
    j->items[i] = j->p[i].item;
    return 0;
}

/* Whether the hub may sign the next entries of its feed now (node.h, node_self_*): not before a
 * peer has compared the feed after start-up (a restored backup would sign seqs the network
 * already holds: a fork), and not while another hub publishes with this key. */
static int publish_gate(struct node *n) {
    struct node_self_info si;
    node_self_info(n, &si);
    if (si.state == NODE_SELF_KEY_IN_USE)
        return HUB_E_KEY_IN_USE; /* node_self_foreign logged it */
    if (si.state == NODE_SELF_RECOVERING) {
        log_debug("node", "publish refused: own feed not yet compared with a peer (%llu s left)",
                  (unsigned long long)((si.wait_left_ms + 999) / 1000));
        return HUB_E_NOT_READY;
    }
    return HUB_OK;
}

/* ---- the clock (PROTOCOL.md §4.5) ---- */

static void publish_time_text(uint64_t ms, char out[32]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%llu ms", (unsigned long long)ms);
}

/* The timestamp of the next own entries, and the clock to check them against: now, but never
 * before the own head's timestamp (a feed's timestamps never decrease). A head dated more than
 * HUB_MAX_FUTURE_MS ahead (the clock ran fast and was set back) is followed at its own timestamp,
 * with a warning, and the own check reads the head's timestamp as its clock: other hubs judge
 * these entries by their own clocks whatever we do, and refusing would only stop this hub until
 * real time catches up, saying nothing. Beyond HUB_MAX_OWN_AHEAD_MS, or with a clock before
 * 2020, E_TIMESTAMP, logged with the reason. */
static int publish_clock(const struct feed_head *head, uint64_t now, uint64_t *ts,
                         uint64_t *check_now) {
    char clock[32], at[32];
    publish_time_text(now, clock);
    *ts = now;
    *check_now = now;
    if (head->seq == 0 || head->timestamp <= now) {
        if (now >= HUB_MIN_TIMESTAMP_MS)
            return HUB_OK;
        log_error("node",
                  "publish refused (E_TIMESTAMP): this hub's clock reads %s, before "
                  "2020-01-01T00:00:00Z, the earliest timestamp an entry may have; set the clock",
                  clock);
        return HUB_E_TIMESTAMP;
    }
    uint64_t ahead = head->timestamp - now;
    *ts = head->timestamp;
    if (ahead <= HUB_MAX_FUTURE_MS) /* a small step back (NTP): every hub accepts the entries */
        return HUB_OK;
    publish_time_text(head->timestamp, at);
    if (ahead > HUB_MAX_OWN_AHEAD_MS) {
        char resume[32];
        publish_time_text(head->timestamp - HUB_MAX_OWN_AHEAD_MS, resume);
        log_error("node",
                  "publish refused (E_TIMESTAMP): our feed's head (seq %llu) is dated %s, %llu s "
                  "ahead of this hub's clock (%s), more than the %llu s a hub may publish ahead "
                  "of its clock; if the clock is right, publishing resumes at %s",
                  (unsigned long long)head->seq, at, (unsigned long long)(ahead / 1000), clock,
                  (unsigned long long)(HUB_MAX_OWN_AHEAD_MS / 1000), resume);
        return HUB_E_TIMESTAMP;
    }
    log_warnx("node",
              "publishing at our feed's head timestamp %s, %llu s ahead of this hub's clock (%s): "
              "the clock ran ahead before; other hubs accept these entries once their clocks "
              "are within %llu s of it",
              at, (unsigned long long)(ahead / 1000), clock,
              (unsigned long long)(HUB_MAX_FUTURE_MS / 1000));
    *check_now = head->timestamp;
    return HUB_OK;
}

void node_clock_report(struct node *n) {
    struct feed_head head;
    uint64_t now = hub_now_ms();
    if (store_feed_head(n->store, n->id.pk, &head) != 0 ||
        head.timestamp <= now + HUB_MAX_FUTURE_MS)
        return;
    char clock[32], at[32];
    publish_time_text(now, clock);
    publish_time_text(head.timestamp, at);
    uint64_t ahead = head.timestamp - now;
    if (ahead > HUB_MAX_OWN_AHEAD_MS)
        log_error("node",
                  "our feed's head (seq %llu) is dated %s, %llu s ahead of this hub's clock (%s), "
                  "more than %llu s: publishing is refused until the clock is within that of it",
                  (unsigned long long)head.seq, at, (unsigned long long)(ahead / 1000), clock,
                  (unsigned long long)(HUB_MAX_OWN_AHEAD_MS / 1000));
    else
        log_warnx("node",
                  "our feed's head (seq %llu) is dated %s, %llu s ahead of this hub's clock (%s): "
                  "new entries get the head's timestamp until the clock passes it",
                  (unsigned long long)head.seq, at, (unsigned long long)(ahead / 1000), clock);
}

static int publish_run(struct node *n, struct node_draft *d, size_t count, node_make_fn make,
                       void *make_arg, size_t *failed) {
    if (failed)
        *failed = SIZE_MAX;
    int gate = publish_gate(n);
    if (gate != 0)
        return gate;
    n->last_write = hub_mono_ms();
    struct feed_head head;
    int rc = store_feed_head(n->store, n->id.pk, &head);
    if (rc != 0 && rc != HUB_E_NOT_FOUND)
        return rc;
    if (head.forked) {
        log_error("node", "our own feed is marked forked: another process signed with this key");
        return HUB_E_FORKED_FEED;
    }
    struct publish_job j = {
        .n = n, .d = d, .count = count, .now = hub_now_ms(), .make = make, .make_arg = make_arg};
    j.p = node_prepared_take(n, count);
    j.wires = calloc(count, sizeof *j.wires);
    j.headers = malloc(count * sizeof *j.headers);
    j.hlens = malloc(count * sizeof *j.hlens);
    j.rcs = calloc(count, sizeof *j.rcs);
    j.items = malloc(count * sizeof *j.items);
    j.made = make ? calloc(count, sizeof *j.made) : NULL;
    rc = (!j.p || !j.wires || !j.headers || !j.hlens || !j.rcs || !j.items || (make && !j.made))
             ? HUB_E_NOMEM
             : HUB_OK;
    j.seq0 = head.seq;
    if (rc == 0)
        rc = publish_clock(&head, j.now, &j.ts, &j.now);
    memcpy(j.prev, head.id, 32);
    atomic_init(&j.chained, 0);
    atomic_init(&j.chain_busy, 0);
    atomic_init(&j.failed, SIZE_MAX);
    /* Without a make, the chain first; with one, the pipeline chains as drafts are made. */
    for (size_t i = 0; i < count && rc == 0 && !make; i++)
        rc = chain_one(&j, i);
    uint64_t t0 = hub_mono_us();
    int pipelined = make || (count >= NODE_PIPE_MIN && par_threads() > 1);
    if (rc == 0 && pipelined) {
        rc = par_pipe_start(&j.pipe, count, make ? publish_stream_one : publish_one, &j);
        if (rc == 0) {
            rc = store_append_ready(n->store, j.items, count, publish_ready, &j, 0);
            par_pipe_finish(&j.pipe);
            for (size_t i = 0; i < count && rc == HUB_E_INTERNAL; i++)
                if (j.rcs[i] != 0) {
                    rc = j.rcs[i]; /* the reason the batch was abandoned */
                    if (failed && i == atomic_load(&j.failed))
                        *failed = i; /* and it was a draft */
                    break;
                }
        }
    } else if (rc == 0) {
        par_for(count, NODE_PAR_MIN_SLICE, publish_slice, &j);
        for (size_t i = 0; i < count && rc == 0; i++)
            rc = j.rcs[i];
        for (size_t i = 0; i < count && rc == 0; i++)
            j.items[i] = j.p[i].item;
        if (rc == 0)
            rc = store_append(n->store, j.items, count);
    }
    if (rc == 0)
        log_debug("node", "published %zu (%s): %llu us", count,
                  make        ? "made, signed and stored at once"
                  : pipelined ? "signed and stored at once"
                              : "signed, then stored",
                  (unsigned long long)(hub_mono_us() - t0));
    for (size_t i = 0; i < count && rc == 0; i++) {
        j.p[i].item.result = j.items[i].result;
        j.p[i].item.local = j.items[i].local;
        if (j.items[i].result != HUB_OK) {
            log_error("node", "own entry seq %llu refused by the store: %s",
                      (unsigned long long)j.p[i].e.seq, hub_strerror(j.items[i].result));
            rc = HUB_E_INTERNAL; /* cannot happen: one writer builds our feed */
        }
    }
    if (rc == 0)
        node_notify(n, j.p, count, 0);
    for (size_t i = 0; j.wires && i < count; i++)
        free(j.wires[i]);
    free(j.items);
    free(j.wires);
    free(j.headers);
    free(j.hlens);
    free(j.rcs);
    free(j.made);
    node_prepared_give(n, j.p, count);
    return rc;
}

int node_publish(struct node *n, struct node_draft *d, size_t count) {
    return publish_run(n, d, count, NULL, NULL, NULL);
}

int node_publish_stream(struct node *n, struct node_draft *d, size_t count, node_make_fn make,
                        void *arg, size_t *failed) {
    *failed = SIZE_MAX;
    if (count >= NODE_PIPE_MIN && par_threads() > 1)
        return publish_run(n, d, count, make, arg, failed);
    for (size_t i = 0; i < count; i++) { /* small, or one core: make them all, then publish */
        int rc = make(arg, i, &d[i]);
        if (rc != 0) {
            *failed = i;
            return rc;
        }
    }
    return node_publish(n, d, count);
}
