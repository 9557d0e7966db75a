#!/usr/bin/python3
"""scripts/simnet.py [options]: a discrete-event model of hubnet replication (issue 14, item 5).

It models what node/core/sync.c does (PROTOCOL.md §9), per hub, message by message, at a size
real processes cannot reach on one machine (1,000 hubs), to show how convergence time and
redundancy grow with the number of hubs, the peering degree and the round interval.

Modelled (as sync.c does it):
  - the graph: every link is configured on both hubs, so each link carries two outbound
    sessions (each side dials) and each hub subscribes once to each neighbour's PUB;
  - live push: every entry a hub accepts (own or foreign) is published once to every
    neighbour; a subscriber takes what is queued on one SUB (up to 1,024 entries) as one batch,
    in order: an entry already held is a duplicate, the next one is accepted, one beyond the
    next is E_GAP and queues a Want for the gap on the session with that neighbour;
  - rounds: every outbound session starts a round every `interval` s (first one at a random
    phase): Hello + Summary (the digest of the heads) + WantReplies (self and each other peer);
    the dialled side answers Hello, then Summary when the digests are equal, else its Heads
    list (1,024 heads per message); the dialler answers with its own Heads (reply) and both
    sides queue Wants for every feed where the other is ahead; WantReplies get a Replies;
  - Wants: at most `window` (16) in flight per session, `batch` (2,048) entries each, feeds
    round-robin; each is answered by one Entries message with what the answerer holds; an
    empty or short answer lowers the target, a gap is asked again only if the answer made
    progress (entries_finish);
  - each hub is one event loop: it handles one socket's input at a time (a SUB's queued pushes,
    a session's queued messages, or up to 4 publishes on the control socket), taking CPU time
    for it and, when entries were stored, one commit (an fsync) during which the loop waits,
    as hubd's does (node_ingest is synchronous for live pushes and small batches);
  - resources: `--cores 0` (default) gives every hub its own CPU and disk, as in a deployment;
    `--cores K` shares K cores (FIFO) and one disk (FIFO fsyncs) between all hubs, as the
    32-hub run on this machine does: that mode is what is compared with bench_net.py.

Not modelled: TCP/ZMTP/CurveZMQ framing and handshakes (bytes are protobuf sizes, as hubd's
counters count them), message loss (PUB/SUB high-water marks, restarts: nothing is lost, so the
Want timeout never fires), the verify pipeline and writer thread of big catch-up batches
(threads take batches of 2,048 entries or more; pushes and small answers are ingested
inline), the answer window and rate limits (never reached here), policy (every hub admits
every feed, as in bench_net.py), forks, the hub's own-feed recovery, the 20 ms / 5 ms read
budgets per socket and turn.

Costs (CPU per entry accepted, per duplicate, per transaction, per message; fsync; link
latency) default to figures calibrated from bench_net.py runs on this machine (see
BENCHMARKS.md "Many hubs"); --calibrate FILE.json ... fits the CPU costs again from
bench_net.py --json outputs (least squares over the runs).

Usage:
  scripts/simnet.py --hubs N --degree D --publishes P --interval S [--seed S] [--cores K]
  scripts/simnet.py --sweep            the tables of BENCHMARKS.md (hubs, degree, interval)
  scripts/simnet.py --calibrate F ...  fit CPU costs from bench_net.py --json files
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
import sys
import time
from collections import deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_net import random_graph  # noqa: E402  (the same graphs as the real runs)

# sync.c constants
WINDOW = 16
BATCH = 2048
HEADS_CHUNK = 1024
PUSH_BATCH = 1024
CTL_BACKED_PER_TURN = 4  # control.c CONTROL_BACKED_REQS_PER_TURN

# Message sizes (protobuf, as hubd's bytes counters count them)
ENTRY_B = 234  # a bench_net offer entry (bench_net: push_bytes_sent / pushes_sent)
HELLO_B, SUMMARY_B, WANT_B, WANT_REPLIES_B, REPLIES_B = 42, 39, 41, 43, 2
HEAD_B = 73


def heads_bytes(n: int) -> int:
    return 4 + HEAD_B * n


def entries_bytes(n: int) -> int:
    return 40 + n * (ENTRY_B + 3)


# Costs: seconds. Calibrated on this machine (BENCHMARKS.md "Many hubs"): cpu_new and cpu_dup by
# `--calibrate` over nine 32-hub bench_net.py runs of degree 2, 3, 4 and 6; the whole publish
# (cpu_pub + cpu_new + cpu_txn = 530 us) and fsync (0.7 ms, an idle disk) measured on one hub
# with 300 sequential publishes; latency from the `live` step of scripts/bench (4 hops in
# 3.3 ms, a fsync per hop included). cpu_txn, cpu_msg and cpu_head are estimates (they are
# small next to the rest in every run here).
COSTS = {
    "cpu_txn": 250e-6,   # per write transaction (begin, index tail, commit bookkeeping)
    "cpu_new": 98e-6,    # per entry accepted (decode, verify Ed25519, store, index, push)
    "cpu_dup": 9e-6,     # per duplicate (decode, id lookup)
    "cpu_pub": 182e-6,   # per publish (JSON, sign, ...) on top of cpu_new and cpu_txn
    "cpu_msg": 15e-6,    # per anti-entropy message (decode, dispatch)
    "cpu_head": 0.3e-6,  # per head compared in a Heads list
    "fsync": 0.7e-3,     # one commit's fsync, one hub alone on an idle disk
    "latency": 0.15e-3,  # one message over loopback TCP + CurveZMQ, both ends
}


class Sim:
    def __init__(self, n, degree, publishes, interval, seed=1, cores=0, costs=None,
                 base_seq=2, horizon=600.0, loss=0.0, spread=0.0):
        """loss: probability that a push batch to one subscriber is lost (what-if: PUB/SUB
        drops at a reconnect or a full queue); spread: the publishes arrive uniformly over
        this many seconds instead of all at t = 0."""
        self.n, self.degree, self.P, self.interval = n, degree, publishes, interval
        self.c = dict(COSTS, **(costs or {}))
        self.rng = random.Random(seed)
        self.adj = [sorted(a) for a in random_graph(n, degree, self.rng)]
        self.cores = cores
        self.cpu_free = [0.0] * cores if cores else None
        self.disk_free = 0.0
        self.horizon = horizon
        self.loss, self.spread = loss, spread
        self.lrng = random.Random(seed + 1)
        # state: heads[h][author]
        self.heads = [[base_seq] * n for _ in range(n)]
        self.held = [base_seq * n] * n
        self.expect_total = base_seq * n + publishes
        self.converged_at = [None] * n
        self.n_conv = 0
        # sessions: sid -> (dialler, dialled); per side state keyed (hub, sid)
        self.sess = []
        self.out_sid = {}  # (dialler, dialled) -> sid
        for a in range(n):
            for b in self.adj[a]:
                self.out_sid[(a, b)] = len(self.sess)
                self.sess.append((a, b))
        self.wq = {}        # (hub, sid) -> {author: [next, target, inflight]}
        self.rr = {}        # (hub, sid) -> round-robin position
        self.inflight = {}  # (hub, sid) -> count
        # inputs: per hub, socket -> list; ready deque of sockets
        self.inq = [dict() for _ in range(n)]
        self.ready = [deque() for _ in range(n)]
        self.busy = [False] * n
        self.ctl = [0] * n  # publishes waiting on the control socket
        self.ctl_times = [deque() for _ in range(n)]  # ... and when each arrived
        self.reach = {}  # (author, seq) of a publish -> [time published, hubs holding it]
        self.entry_lat = []  # publish request to the last hub holding the entry
        self.ev = []
        self.k = 0
        self.now = 0.0
        # counters
        self.cnt = {"pushes": 0, "push_bytes": 0, "msgs": 0, "bytes": 0, "new": 0, "dup": 0,
                    "txns": 0, "heads_msgs": 0, "heads_bytes": 0, "entries_msgs": 0,
                    "rounds": 0, "rounds_differ": 0, "cpu": 0.0, "lost": 0}

    # -- events -------------------------------------------------------------------------

    def at(self, t, fn, *args):
        self.k += 1
        heapq.heappush(self.ev, (t, self.k, fn, args))

    def deliver(self, h, sock, item):
        """An input for hub h on socket sock, now."""
        q = self.inq[h].get(sock)
        if q is None:
            self.inq[h][sock] = q = []
            self.ready[h].append(sock)
        q.append(item)
        if not self.busy[h]:
            self.busy[h] = True
            self.at(self.now, self.turn, h)

    def send_push(self, src, ranges, t):
        lat = self.c["latency"]
        nb = sum(hi - lo + 1 for _, lo, hi in ranges)
        for d in self.adj[src]:
            if self.loss and self.lrng.random() < self.loss:
                self.cnt["lost"] += 1
                continue
            self.at(t + lat, self._arrive_push, d, src, ranges, nb)

    def _arrive_push(self, d, src, ranges, nb):
        self.cnt["pushes"] += nb
        self.cnt["push_bytes"] += nb * ENTRY_B
        self.deliver(d, ("sub", src), ranges)

    def send(self, src, dst, sid, msg, size, t):
        self.at(t + self.c["latency"], self._arrive_msg, dst, sid, msg, size)

    def _arrive_msg(self, dst, sid, msg, size):
        self.cnt["msgs"] += 1
        self.cnt["bytes"] += size
        if msg[0] == "heads":
            self.cnt["heads_msgs"] += 1
            self.cnt["heads_bytes"] += size
        elif msg[0] == "entries":
            self.cnt["entries_msgs"] += 1
        self.deliver(dst, ("ae", sid), msg)

    # -- resources ------------------------------------------------------------------------

    def run_job(self, h, cpu, fsyncs):
        """CPU then fsyncs for hub h starting now; returns the time the loop is free again."""
        self.cnt["cpu"] += cpu
        if self.cores:
            t = heapq.heappop(self.cpu_free)
            start = max(self.now, t)
            end = start + cpu
            heapq.heappush(self.cpu_free, end)
        else:
            end = self.now + cpu
        for _ in range(fsyncs):
            if self.cores:  # one shared disk
                start = max(end, self.disk_free)
                end = start + self.c["fsync"]
                self.disk_free = end
            else:
                end += self.c["fsync"]
        return end

    # -- the event loop of one hub --------------------------------------------------------

    def turn(self, h):
        """Handle the next socket with input (round-robin), or go idle."""
        if self.ctl[h] and ("ctl",) not in self.inq[h]:
            self.inq[h][("ctl",)] = [None]
            self.ready[h].append(("ctl",))
        if not self.ready[h]:
            self.busy[h] = False
            return
        sock = self.ready[h].popleft()
        items = self.inq[h].pop(sock)
        out = []  # (fn, args) run when the job is done
        if sock[0] == "sub":
            cpu, fs = self.on_pushes(h, sock[1], items, out)
        elif sock[0] == "ae":
            cpu, fs = self.on_msgs(h, sock[1], items, out)
        else:
            cpu, fs = self.on_publish(h, out)
        done = self.run_job(h, cpu, fs)
        self.at(done, self.job_done, h, out)

    def job_done(self, h, out):
        for fn, args in out:
            fn(*args)
        self.turn(h)

    def ingest(self, h, ranges, accepted):
        """Apply entries (author, lo, hi) in order; returns (new, dup, gaps[(a, from, to)])."""
        hd = self.heads[h]
        new = dup = 0
        gaps = []
        for a, lo, hi in ranges:
            cur = hd[a]
            if lo > cur + 1:
                gaps.append((a, cur + 1, hi))
                continue
            if hi <= cur:
                dup += hi - lo + 1
                continue
            dup += cur - lo + 1
            new += hi - cur
            hd[a] = hi
            for q in range(cur + 1, hi + 1):
                r = self.reach.get((a, q))
                if r is not None:
                    r[1] += 1
                    if r[1] == self.n:
                        self.entry_lat.append(self.now - r[0])
            accepted.append((a, cur + 1, hi))
        if new:
            self.held[h] += new
            self.cnt["new"] += new
            if self.held[h] == self.expect_total and self.converged_at[h] is None:
                self.converged_at[h] = -1.0  # set to the commit time in job_done
        self.cnt["dup"] += dup
        return new, dup, gaps

    def mark_converged(self, h):
        if self.converged_at[h] == -1.0:
            self.converged_at[h] = self.now
            self.n_conv += 1

    def stored(self, h, accepted, out):
        """After the commit: push what was accepted, note convergence."""
        if accepted:
            out.append((self.send_push_now, (h, accepted)))
            out.append((self.mark_converged, (h,)))

    def send_push_now(self, h, accepted):
        self.send_push(h, accepted, self.now)

    def on_pushes(self, h, src, batches, out):
        ranges = []
        taken = 0
        rest = []
        for b in batches:  # up to PUSH_BATCH entries in one transaction
            nb = sum(hi - lo + 1 for _, lo, hi in b)
            if taken and taken + nb > PUSH_BATCH:
                rest.append(b)
                continue
            ranges += b
            taken += nb
        if rest:
            self.inq[h][("sub", src)] = rest
            self.ready[h].append(("sub", src))
        accepted = []
        new, dup, gaps = self.ingest(h, ranges, accepted)
        c = self.c
        cpu = c["cpu_txn"] + c["cpu_new"] * new + c["cpu_dup"] * (dup + len(gaps))
        sid = self.out_sid[(h, src)]
        if gaps:
            key = (h, sid)
            for a, lo, hi in gaps:
                self.wq_add(key, a, lo, hi)
            out.append((self.want_fill, (h, sid)))
        self.stored(h, accepted, out)
        if new:
            self.cnt["txns"] += 1
        return cpu, 1 if new else 0

    def on_publish(self, h, out):
        k = min(self.ctl[h], CTL_BACKED_PER_TURN)
        self.ctl[h] -= k
        s0 = self.heads[h][h]
        for i in range(k):
            self.reach[(h, s0 + 1 + i)] = [self.ctl_times[h].popleft(), 0]
        accepted = []
        self.ingest(h, [(h, s0 + 1, s0 + k)], accepted)
        self.cnt["new"] -= k  # own publishes are not deliveries
        self.cnt["txns"] += k
        self.stored(h, accepted, out)
        return k * (self.c["cpu_pub"] + self.c["cpu_new"] + self.c["cpu_txn"]), k

    # -- anti-entropy ---------------------------------------------------------------------

    def peer_of(self, h, sid):
        a, b = self.sess[sid]
        return b if h == a else a

    def round(self, sid):
        if self.done():
            return
        a, b = self.sess[sid]
        t = self.now
        self.cnt["rounds"] += 1
        self.send(a, b, sid, ("hello",), HELLO_B, t)
        self.send(a, b, sid, ("summary", tuple(self.heads[a])), SUMMARY_B, t)
        for _ in range(len(self.adj[a])):  # self and each other peer
            self.send(a, b, sid, ("want_replies",), WANT_REPLIES_B, t)
        self.at(t + self.interval, self.round, sid)

    def on_msgs(self, h, sid, msgs, out):
        c = self.c
        cpu = 0.0
        peer = self.peer_of(h, sid)
        key = (h, sid)
        accepted = []
        fill = False
        for m in msgs:
            cpu += c["cpu_msg"]
            kind = m[0]
            if kind == "hello":
                if self.sess[sid][1] == h:  # the dialled side answers every Hello
                    out.append((self.send_now, (h, peer, sid, ("hello",), HELLO_B)))
            elif kind == "want_replies":
                out.append((self.send_now, (h, peer, sid, ("replies",), REPLIES_B)))
            elif kind == "replies":
                pass
            elif kind == "summary":
                if m[1] is None:  # the dialled side's answer to equal digests
                    pass
                elif m[1] == tuple(self.heads[h]):
                    if self.sess[sid][1] == h:
                        out.append((self.send_now, (h, peer, sid, ("summary", None), SUMMARY_B)))
                else:
                    self.cnt["rounds_differ"] += 1
                    out.append((self.send_heads, (h, peer, sid, False)))
            elif kind == "heads":
                _, theirs, reply = m
                mine = self.heads[h]
                cpu += c["cpu_head"] * self.n
                for a in range(self.n):
                    if theirs[a] > mine[a] and a != h:
                        self.wq_add(key, a, mine[a] + 1, theirs[a])
                if not reply:
                    out.append((self.send_heads, (h, peer, sid, True)))
                fill = True
            elif kind == "want":
                _, a, frm, count = m
                have = self.heads[h][a]
                hi = min(frm + count - 1, have)
                n = max(0, hi - frm + 1)
                cpu += c["cpu_dup"] * n  # reading them from the store
                out.append((self.send_now, (h, peer, sid, ("entries", a, frm, n),
                                            entries_bytes(n))))
            elif kind == "entries":
                _, a, frm, n = m
                self.inflight[key] = self.inflight.get(key, 1) - 1
                got = []
                new = dup = 0
                if n:
                    new, dup, _ = self.ingest(h, [(a, frm, frm + n - 1)], got)
                    accepted += got
                cpu += c["cpu_new"] * new + c["cpu_dup"] * dup
                self.want_answered(key, a, frm, n, new)
                fill = True
        if accepted:
            cpu += c["cpu_txn"]
            self.cnt["txns"] += 1
        if fill:
            out.append((self.want_fill, (h, sid)))
        self.stored(h, accepted, out)
        return cpu, 1 if accepted else 0

    def send_now(self, h, peer, sid, msg, size):
        self.send(h, peer, sid, msg, size, self.now)

    def send_heads(self, h, peer, sid, reply):
        snap = tuple(self.heads[h])
        chunks = max(1, math.ceil(self.n / HEADS_CHUNK))
        for i in range(chunks):  # the list is handled when its last message arrives
            size = heads_bytes(min(HEADS_CHUNK, self.n - i * HEADS_CHUNK))
            msg = ("heads", snap, reply) if i == chunks - 1 else ("heads_part",)
            self.send(h, peer, sid, msg, size, self.now)

    def wq_add(self, key, a, nxt, target):
        q = self.wq.setdefault(key, {})
        w = q.get(a)
        if w is None:
            q[a] = [nxt, target, 0]
        elif target > w[1]:
            w[1] = target

    def want_answered(self, key, a, frm, n, new):
        q = self.wq.get(key, {})
        w = q.get(a)
        if w is None:
            return
        w[2] -= 1
        h = key[0]
        have = self.heads[h][a]
        if n == 0 and w[1] >= frm:
            w[1] = frm - 1
        if have >= w[1]:
            if w[2] <= 0:
                del q[a]
        elif w[2] <= 0:
            if new > 0:
                w[0] = have + 1
            else:
                del q[a]

    def want_fill(self, h, sid):
        key = (h, sid)
        q = self.wq.get(key)
        if not q:
            return
        peer = self.peer_of(h, sid)
        infl = self.inflight.get(key, 0)
        authors = sorted(q)
        rr = self.rr.get(key, 0)
        tried = 0
        while infl < WINDOW and tried < len(authors):
            a = authors[rr % len(authors)]
            rr += 1
            tried += 1
            w = q[a]
            if w[0] > w[1]:
                continue
            count = min(w[1] - w[0] + 1, BATCH)
            self.send(h, peer, sid, ("want", a, w[0], count), WANT_B, self.now)
            w[0] += count
            w[2] += 1
            infl += 1
            tried = 0
        self.inflight[key] = infl
        self.rr[key] = rr

    # -- the run --------------------------------------------------------------------------

    def arrive_publish(self, h):
        self.ctl[h] += 1
        self.ctl_times[h].append(self.now)
        if not self.busy[h]:
            self.busy[h] = True
            self.at(self.now, self.turn, h)

    def idle_cost(self):
        """Messages and bytes a hub receives per second from rounds when all are in sync: per
        outbound session and round, Hello + Summary + d WantReplies one way, Hello + Summary
        + d Replies the other (equal digests; sync.c ask_replies asks for itself and each other
        peer); every link has two sessions."""
        msgs = byts = 0.0
        for a in range(self.n):
            d = len(self.adj[a])
            for b in self.adj[a]:  # session a -> b: b receives, a receives the answers
                msgs += 2 * (2 + d)
                byts += HELLO_B * 2 + SUMMARY_B * 2 + d * (WANT_REPLIES_B + REPLIES_B)
        return msgs / self.n / self.interval, byts / self.n / self.interval

    def done(self):
        return self.n_conv == self.n

    def run(self):
        t_wall = time.monotonic()
        for sid in range(len(self.sess)):
            self.at(self.rng.uniform(0, self.interval), self.round, sid)
        if self.spread:  # publishes arrive over time, each at a random hub
            for k in range(self.P):
                self.at(self.rng.uniform(0, self.spread), self.arrive_publish,
                        self.rng.randrange(self.n))
        else:  # spread over the hubs, all at t = 0
            for k in range(self.P):
                self.ctl[k % self.n] += 1
                self.ctl_times[k % self.n].append(0.0)
            for h in range(self.n):
                if self.ctl[h]:
                    self.busy[h] = True
                    self.at(0.0, self.turn, h)
        # a hub that publishes nothing already holds its own feed: it converges when it holds
        # the others'; one that publishes converges like any other
        while self.ev and not self.done():
            t, _, fn, args = heapq.heappop(self.ev)
            if t > self.horizon:
                break
            self.now = t
            fn(*args)
        delivered = self.P * (self.n - 1)
        conv = sorted(x for x in self.converged_at if x is not None and x >= 0)
        cnt = self.cnt
        lat = sorted(self.entry_lat)
        return {
            "entry_p50_s": lat[len(lat) // 2] if lat else float("inf"),
            "entry_max_s": lat[-1] if len(lat) == self.P else float("inf"),
            "hubs": self.n, "degree": self.degree, "interval": self.interval,
            "loss": self.loss, "spread": self.spread, "lost": cnt["lost"],
            "fsync_ms": self.c["fsync"] * 1e3,
            "publishes": self.P, "cores": self.cores,
            "converged_s": conv[-1] if len(conv) == self.n else float("inf"),
            "hub_p50_s": conv[len(conv) // 2] if conv else float("inf"),
            "msgs_per_entry": (cnt["msgs"] + cnt["pushes"]) / delivered,
            "ae_msgs_per_entry": cnt["msgs"] / delivered,
            "bytes_per_entry": (cnt["bytes"] + cnt["push_bytes"]) / delivered,
            "ae_bytes_per_entry": cnt["bytes"] / delivered,
            "heads_bytes_per_entry": cnt["heads_bytes"] / delivered,
            "copies_per_entry": (cnt["new"] + cnt["dup"]) / delivered,
            "cpu_us_per_entry": cnt["cpu"] / delivered * 1e6,
            "txns": cnt["txns"], "rounds": cnt["rounds"],
            "idle_msgs_per_hub_s": self.idle_cost()[0], "idle_bytes_per_hub_s": self.idle_cost()[1],
            "rounds_differ": cnt["rounds_differ"],
            "sim_wall_s": time.monotonic() - t_wall,
        }


# ---------------------------------------------------------------------------------------------
# Calibration


def calibrate(files, cpu_txn=None, cpu_publish=None):
    """Least squares over the runs of bench_net.py --json files of
        hubd CPU - publishes * cpu_publish - txns * cpu_txn
            = cpu_new * entries accepted + cpu_dup * duplicates
    cpu_txn and cpu_publish (the whole CPU of one publish, its own transaction included) are
    held fixed: in these runs the number of transactions hardly varies and goes with the
    duplicates, so a free fit of it is meaningless (it came out negative). cpu_publish is
    measured by bench_net.py --publish-cost (one hub, sequential publishes)."""
    cpu_txn = COSTS["cpu_txn"] if cpu_txn is None else cpu_txn
    cpu_publish = (COSTS["cpu_pub"] + COSTS["cpu_new"] + COSTS["cpu_txn"]
                   if cpu_publish is None else cpu_publish)
    rows, ys = [], []
    for f in files:
        with open(f) as fh:
            res = json.load(fh)
        for r in res["runs"]:
            t = r["traffic"]
            rows.append([t["entries_accepted"], t["entries_duplicate"]])
            ys.append(r["cpu_s"] - r["publishes"] * cpu_publish - r["txns"] * cpu_txn)
    # normal equations, 2 x 2
    a11 = sum(r[0] * r[0] for r in rows)
    a12 = sum(r[0] * r[1] for r in rows)
    a22 = sum(r[1] * r[1] for r in rows)
    b1 = sum(r[0] * y for r, y in zip(rows, ys))
    b2 = sum(r[1] * y for r, y in zip(rows, ys))
    det = a11 * a22 - a12 * a12
    new, dup = (b1 * a22 - b2 * a12) / det, (a11 * b2 - a12 * b1) / det
    pred = [new * r[0] + dup * r[1] for r in rows]
    err = max(abs(p - y) / y for p, y in zip(pred, ys))
    return {"cpu_new": new, "cpu_dup": dup, "cpu_txn (fixed)": cpu_txn,
            "cpu_publish (fixed)": cpu_publish, "runs": len(rows),
            "max_rel_err (variable part)": err}


# ---------------------------------------------------------------------------------------------
# Output


COLS = [("hubs", "hubs", "d"), ("degree", "deg", "d"), ("interval", "ivl s", "g"),
        ("fsync_ms", "fsync ms", "g"), ("loss", "loss", "g"), ("spread", "over s", "g"),
        ("converged_s", "converged s", ".2f"), ("hub_p50_s", "median hub s", ".2f"),
        ("entry_p50_s", "entry p50 s", ".3f"), ("entry_max_s", "entry max s", ".2f"),
        ("copies_per_entry", "copies/entry", ".2f"), ("msgs_per_entry", "msgs/entry", ".2f"),
        ("ae_msgs_per_entry", "AE msgs/entry", ".3f"), ("bytes_per_entry", "B/entry", ".0f"),
        ("heads_bytes_per_entry", "Heads B/entry", ".0f"), ("rounds_differ", "Heads rounds", "d"),
        ("idle_msgs_per_hub_s", "idle msgs/hub/s", ".1f"),
        ("idle_bytes_per_hub_s", "idle B/hub/s", ".0f"), ("sim_wall_s", "sim s", ".0f")]


def print_table(rows, title):
    print(title)
    hdr = [c[1] for c in COLS]
    cells = [[format(r[k], f) for k, _, f in COLS] for r in rows]
    w = [max(len(x) for x in [h] + [c[i] for c in cells]) for i, h in enumerate(hdr)]
    print("  ".join(h.rjust(w[i]) for i, h in enumerate(hdr)))
    for c in cells:
        print("  ".join(x.rjust(w[i]) for i, x in enumerate(c)))
    print(flush=True)


def parse(argv):
    o = {"hubs": 32, "degree": 3, "publishes": 1000, "interval": 10.0, "seed": 1, "cores": 0,
         "sweep": False, "calibrate": [], "costs": None, "json": None, "quick": False,
         "loss": 0.0, "spread": 0.0}
    it = iter(argv)
    for a in it:
        if a in ("--hubs", "--degree", "--publishes", "--seed", "--cores"):
            o[a[2:]] = int(next(it))
        elif a in ("--loss", "--spread"):
            o[a[2:]] = float(next(it))
        elif a == "--interval":
            o["interval"] = float(next(it))
        elif a == "--sweep":
            o["sweep"] = True
        elif a == "--quick":
            o["quick"] = True
        elif a == "--calibrate":
            o["calibrate"] = list(it)
        elif a == "--costs":
            o["costs"] = json.loads(next(it))
        elif a == "--json":
            o["json"] = next(it)
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            sys.exit(f"simnet: unknown argument {a!r} (--help)")
    return o


def sweep(o):
    """The tables of BENCHMARKS.md "Many hubs". --quick: 300 hubs instead of 1,000."""
    big = 300 if o["quick"] else 1000
    P, seed, costs = o["publishes"], o["seed"], o["costs"]
    out = {}

    def table(key, title, runs):
        rows = []
        for kw in runs:
            rows.append(Sim(kw.pop("n"), kw.pop("d"), P, kw.pop("ivl", 10.0), seed,
                            costs=dict(costs or {}, **kw.pop("costs", {})), **kw).run())
        print_table(rows, title)
        out[key] = rows

    table("machine", f"32 hubs on this machine's resources: 2 shared cores, one disk (fsync "
                     f"0.7 ms idle, 2 ms loaded), {P} publishes at once: compare with "
                     f"bench_net.py",
          [dict(n=32, d=d, cores=2, costs={"fsync": f}) for f in (0.7e-3, 2e-3)
           for d in (2, 3, 4, 6)])
    table("hubs", f"growth with the number of hubs: degree 3, interval 10 s, {P} publishes at "
                  f"once, each hub its own core and disk",
          [dict(n=n, d=3) for n in (32, 100, 300, big)])
    table("degree", f"growth with the degree: {big} hubs, interval 10 s, {P} publishes at once",
          [dict(n=big, d=d) for d in (2, 3, 4, 6, 8)])
    table("interval_loss", f"the round interval when pushes are lost (5% of push batches to a "
                           f"subscriber dropped): {big} hubs, degree 3",
          [dict(n=big, d=3, ivl=i, loss=0.05) for i in (1, 3, 10, 30)])
    table("degree_loss", f"the degree when pushes are lost (5%): {big} hubs, interval 10 s",
          [dict(n=big, d=d, loss=0.05) for d in (2, 3, 4, 6)])
    table("steady", f"steady publishing: {P} publishes at random hubs over 100 s, {big} hubs, "
                    f"degree 3 (rounds and Heads lists while the network is busy)",
          [dict(n=big, d=3, ivl=i, spread=100.0) for i in (1, 10, 30)])
    return out


def main():
    o = parse(sys.argv[1:])
    if o["calibrate"]:
        print(json.dumps(calibrate(o["calibrate"]), indent=1))
        return
    if o["sweep"]:
        res = sweep(o)
    else:
        r = Sim(o["hubs"], o["degree"], o["publishes"], o["interval"], o["seed"],
                cores=o["cores"], costs=o["costs"], loss=o["loss"], spread=o["spread"]).run()
        print_table([r], f"simnet: {o['hubs']} hubs, degree {o['degree']}, {o['publishes']} "
                         f"publishes, interval {o['interval']:g} s, "
                         f"{'%d shared cores' % o['cores'] if o['cores'] else 'a core per hub'}")
        res = r
    if o["json"]:
        with open(o["json"], "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
