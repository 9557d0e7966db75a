#!/usr/bin/python3
"""scripts/bench_net.py [options]: many hubd processes on one machine (issue 14, item 5).

Starts N hubd processes on 127.0.0.1 (ports they pick), peered in a random connected graph of
degree D (seeded), with a mix of policies: open, allowlist (every hub's key allowed) and trust
(hub n0 is the trust anchor and endorses every other hub, so every hub admits every feed).
Then, for each of --runs measurements:

  P publishes spread over the hubs, sent at once (one control connection per hub, all of its
  publish lines written in one go), and the time until every hub holds every entry (each
  hub's `heads` polled); messages, bytes and copies per delivered entry from hubd's
  counters (CONTROL.md status `sync.traffic`), and hubd CPU time per delivered entry.

and once (unless --no-restart): one hub killed (SIGKILL), P/4 more publishes on the others,
the time until the others converge, then the hub restarted and the time until it, and so the
whole network, holds everything again.

Options:
  --hubs N        hubs (default 32)          --degree D      peers per hub (default 3)
  --publishes P   publishes per run (1000)   --seed S        graph and policy seed (1)
  --interval S    [sync] interval of every hub (default: hubd's default, 10)
  --runs R        measurements (default 3)   --no-restart    skip the restart measurement
  --timeout S     give up on a convergence after S seconds (default 120)
  --json FILE     write the figures as JSON too (scripts/simnet.py --calibrate reads it)
  --keep          keep the hubs' directories (they are kept anyway when a run fails)

Prints a table. Used by scripts/bench (step `net`) and tests/integration/test_many_hubs.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import sys
import threading
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from hubtest import ControlConnection, Hub, first_run, start_all, wait_until  # noqa: E402

POLICIES = ("open", "allowlist", "trust")
#: Map size bound of each hub: 32 hubs share a small machine, and a run stores a few MB each.
MAP_SIZE = "256M"
#: Seconds between two sweeps of the convergence poller over the hubs not converged yet.
POLL_S = 0.01
TARGET_S = 5.0  # issue 14: 32-hub convergence after 1,000 publishes under 5 s


def log(msg: str) -> None:
    print(f"[bench_net {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The graph


def random_graph(n: int, degree: int, rng: random.Random) -> list[set[int]]:
    """A random connected graph on n nodes where every node has `degree` neighbours (one node
    has degree + 1 when n * degree is odd): the pairing model, drawn again until it is simple
    and connected. Degree >= n - 1 gives the complete graph."""
    if degree >= n - 1:
        return [set(range(n)) - {i} for i in range(n)]
    for _ in range(200):
        stubs = [i for i in range(n) for _ in range(degree)]
        if len(stubs) % 2:
            stubs.append(rng.randrange(n))
        rng.shuffle(stubs)
        adj: list[set[int]] = [set() for _ in range(n)]
        ok = True
        for a, b in zip(stubs[::2], stubs[1::2]):
            if a == b or b in adj[a]:
                ok = False
                break
            adj[a].add(b)
            adj[b].add(a)
        if ok and connected(adj):
            return adj
    # At a larger n * degree the plain pairing is almost never simple (the chance is about
    # exp(-(d^2 - 1) / 4)): pair the stubs one by one, each time among those that make a valid
    # edge (Steger and Wormald's algorithm).
    for _ in range(100):
        stubs = [i for i in range(n) for _ in range(degree)]
        if len(stubs) % 2:
            stubs.append(rng.randrange(n))
        adj = [set() for _ in range(n)]
        stuck = False
        while stubs and not stuck:
            for _ in range(1000):
                i, j = rng.randrange(len(stubs)), rng.randrange(len(stubs))
                a, b = stubs[i], stubs[j]
                if i != j and a != b and b not in adj[a]:
                    break
            else:
                stuck = True
                break
            adj[a].add(b)
            adj[b].add(a)
            for k in sorted((i, j), reverse=True):
                stubs[k] = stubs[-1]
                stubs.pop()
        if not stuck and connected(adj):
            return adj
    raise RuntimeError(f"no simple connected graph of {n} nodes and degree {degree}")


def connected(adj: list[set[int]]) -> bool:
    seen, todo = {0}, [0]
    while todo:
        for j in adj[todo.pop()]:
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return len(seen) == len(adj)


def diameter(adj: list[set[int]]) -> int:
    best = 0
    for s in range(len(adj)):
        dist = {s: 0}
        todo = [s]
        for u in todo:
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    todo.append(v)
        best = max(best, max(dist.values()))
    return best


# ---------------------------------------------------------------------------------------------
# The network


class Net:
    """N hubs, their graph and policies; measurement helpers."""

    def __init__(self, n: int, degree: int, seed: int, interval: int | None, log_level="warn",
                 make=Hub):
        """`make` creates each (unstarted) Hub: a test passes its HubFactory's `new`, so that
        the fixture cleans up and reports the logs."""
        self.rng = random.Random(seed)
        self.adj = random_graph(n, degree, self.rng)
        pol = [POLICIES[i % len(POLICIES)] for i in range(n)]
        self.rng.shuffle(pol)
        pol[0] = "open"  # n0 is the anchor: any policy would do; fixed so runs compare
        self.hubs = [make(f"n{i}", interval=interval, policy=pol[i], log_level=log_level,
                         own_recovery_wait=0, extra={"hub": {"max_map_size": MAP_SIZE}})
                     for i in range(n)]
        self.down: set[int] = set()

    def start(self) -> None:
        hs = self.hubs
        first_run(*hs)
        keys = [h.key for h in hs]
        for i, h in enumerate(hs):
            h.peers = [f"{hs[j].endpoint} {hs[j].key}" for j in sorted(self.adj[i])]
            if h.policy == "allowlist":
                h.allow = [k for k in keys if k != h.key]
            elif h.policy == "trust":
                h.extra = dict(h.extra, policy={"anchor": keys[0]})
        start_all(*hs)
        # every session up, both directions of every link
        wait_until(lambda: all(h.status()["peers"]["connected"] >= 2 * len(self.adj[i])
                               for i, h in enumerate(hs)),
                   timeout=60, interval=0.2, msg="not every link came up")
        anchor = hs[0]
        for h in hs[1:]:
            anchor.publish("endorsement", {"hub": h.key, "statement": "bench_net network member"},
                           key=h.key)

    def live(self) -> list[int]:
        return [i for i in range(len(self.hubs)) if i not in self.down]

    def own_seqs(self) -> dict[str, int]:
        return {h.key: h.status()["own_seq"] for i, h in enumerate(self.hubs) if i not in self.down}

    def holds(self, i: int, expect: dict[str, int]) -> bool:
        got = {f["author"]: f["seq"] for f in self.hubs[i].request({"op": "heads"})["feeds"]}
        return all(got.get(a, 0) >= s for a, s in expect.items())

    def wait_converged(self, expect: dict[str, int], t0: float, timeout: float,
                       hubs: list[int] | None = None) -> dict[int, float]:
        """Poll until every hub of `hubs` (default: the live ones) holds `expect`; returns
        {hub index: seconds since t0 when it was first seen converged}."""
        todo = list(self.live() if hubs is None else hubs)
        done: dict[int, float] = {}
        conns = {i: ControlConnection(self.hubs[i].control_socket) for i in todo}
        try:
            while todo:
                if time.monotonic() - t0 > timeout:
                    raise AssertionError(f"not converged after {timeout} s: hubs "
                                         f"{[self.hubs[i].name for i in todo]}")
                for i in list(todo):
                    r = conns[i].request({"op": "heads"})
                    got = {f["author"]: f["seq"] for f in r["feeds"]}
                    if all(got.get(a, 0) >= s for a, s in expect.items()):
                        done[i] = time.monotonic() - t0
                        todo.remove(i)
                if todo:
                    time.sleep(POLL_S)
        finally:
            for c in conns.values():
                c.close()
        return done

    def settle(self, timeout: float = 120) -> dict[str, int]:
        """Wait until the network holds every hub's feed (nothing being published), and return
        the heads."""
        deadline = time.monotonic() + timeout
        while True:
            expect = self.own_seqs()
            self.wait_converged(expect, time.monotonic(), max(1.0, deadline - time.monotonic()))
            if self.own_seqs() == expect:
                return expect

    def traffic(self) -> dict[str, int]:
        tot: dict[str, int] = {}
        for i in self.live():
            for k, v in self.hubs[i].status()["sync"]["traffic"].items():
                tot[k] = tot.get(k, 0) + v
        return tot

    def store_batches(self) -> dict[str, float]:
        """Write transactions of the live hubs so far (status histograms): how many, the
        entries they stored, and the seconds their commits took."""
        out = {"txns": 0.0, "txn_entries": 0.0, "commit_s": 0.0}
        for i in self.live():
            hs = self.hubs[i].status().get("histograms", {})
            out["txns"] += hs.get("batch_entries", {}).get("count", 0)
            out["txn_entries"] += hs.get("batch_entries", {}).get("sum", 0)
            out["commit_s"] += hs.get("commit_seconds", {}).get("sum", 0)
        return out

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads) of the live hubds so far."""
        tck = os.sysconf("SC_CLK_TCK")
        s = 0.0
        for i in self.live():
            with open(f"/proc/{self.hubs[i].pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            s += (int(fields[11]) + int(fields[12])) / tck
        return s

    def publish(self, total: int, tag: str, hubs: list[int] | None = None) -> tuple[float, float]:
        """`total` publishes spread over `hubs` (default: the live ones), all at once: one
        thread per hub writes all of its publish lines, then reads the answers. Returns (t0,
        seconds until the last answer)."""
        idx = list(self.live() if hubs is None else hubs)
        share = {i: total // len(idx) + (k < total % len(idx)) for k, i in enumerate(idx)}
        errors: list[str] = []

        def one(i: int) -> None:
            h = self.hubs[i]
            lines = b"".join(json.dumps({
                "op": "publish", "kind": "offer", "key": f"{tag}-{i}-{j}",
                "record": {"title": f"bench_net {tag} offer {j} of {h.name}", "country": "AT",
                           "languages": ["en"]}}).encode() + b"\n" for j in range(share[i]))
            with ControlConnection(h.control_socket, timeout=120) as c:
                barrier.wait()
                c.sock.sendall(lines)
                for _ in range(share[i]):
                    r = c.recv()
                    if not r.get("ok"):
                        errors.append(f"{h.name}: {r}")
        ts = [threading.Thread(target=one, args=(i,)) for i in idx if share[i]]
        barrier = threading.Barrier(len(ts) + 1)
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.monotonic()
        for t in ts:
            t.join()
        if errors:
            raise AssertionError(f"publishes failed: {errors[:3]}")
        return t0, time.monotonic() - t0

    def stop(self, keep: bool = False) -> None:
        for h in self.hubs:
            h.cleanup(keep=keep)


# ---------------------------------------------------------------------------------------------
# Measurements


def measure(net: Net, publishes: int, tag: str, timeout: float) -> dict:
    """One run: publish, wait for convergence, read the counters."""
    n = len(net.live())
    tr0, cpu0, sb0 = net.traffic(), net.cpu(), net.store_batches()
    t0, pub_s = net.publish(publishes, tag)
    expect = net.own_seqs()
    done = net.wait_converged(expect, t0, timeout)
    conv = max(done.values())
    tr1, cpu1, sb1 = net.traffic(), net.cpu(), net.store_batches()
    sb = {k: sb1[k] - sb0[k] for k in sb1}
    d = {k: tr1[k] - tr0.get(k, 0) for k in tr1}
    delivered = publishes * (n - 1)
    times = sorted(done.values())
    return {
        "publishes": publishes, "hubs": n, "converged_s": conv, "publish_s": pub_s,
        "hub_p50_s": times[len(times) // 2],
        "delivered": delivered,
        "msgs_per_entry": (d["msgs_received"] + d["pushes_received"]) / delivered,
        "ae_msgs_per_entry": d["msgs_received"] / delivered,
        "pushes_per_entry": d["pushes_received"] / delivered,
        "bytes_per_entry": (d["bytes_received"] + d["push_bytes_received"]) / delivered,
        "ae_bytes_per_entry": d["bytes_received"] / delivered,
        "copies_per_entry": (d["entries_accepted"] + d["entries_duplicate"]) / delivered,
        "accepted_per_entry": d["entries_accepted"] / delivered,
        "cpu_s": cpu1 - cpu0,
        "cpu_us_per_entry": (cpu1 - cpu0) / delivered * 1e6,
        "entry_bytes": d["push_bytes_sent"] / max(1, d["pushes_sent"]),
        "txns": sb["txns"], "txn_entries": sb["txn_entries"],
        "commit_ms": sb["commit_s"] / max(1, sb["txns"]) * 1e3,
        "cpu_cores": (cpu1 - cpu0) / conv,
        "traffic": d,
    }


def measure_restart(net: Net, publishes: int, timeout: float) -> dict:
    """Kill one hub (not the anchor), publish on the others, converge, restart it, converge."""
    victim = net.rng.randrange(1, len(net.hubs))
    h = net.hubs[victim]
    log(f"restart: killing {h.name} ({h.policy}, peers {sorted(net.adj[victim])})")
    h.kill()
    net.down.add(victim)
    t0, pub_s = net.publish(publishes, "restart")
    expect = net.own_seqs()
    others = max(net.wait_converged(expect, t0, timeout).values())
    t_down = time.monotonic() - t0
    tr_start = time.monotonic()
    h.start()
    net.down.discard(victim)
    ready = time.monotonic() - tr_start
    expect = net.own_seqs()
    done = net.wait_converged(expect, tr_start, timeout)
    return {"victim": h.name, "policy": h.policy, "publishes": publishes,
            "others_converged_s": others, "down_s": t_down, "start_s": ready,
            "victim_converged_s": done[victim], "all_converged_s": max(done.values())}


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def spread(xs: list[float], fmt: str) -> str:
    if len(xs) == 1:
        return format(xs[0], fmt)
    return (f"{format(statistics.median(xs), fmt)} (min {format(min(xs), fmt)}, "
            f"max {format(max(xs), fmt)})")


def table(o: dict, net: Net, runs: list[dict], restart: dict | None) -> str:
    rows = []
    deg = [len(a) for a in net.adj]
    pols = {p: sum(h.policy == p for h in net.hubs) for p in POLICIES}
    rows.append(("network", f"{len(net.hubs)} hubs, degree {min(deg)}-{max(deg)}, diameter "
                            f"{diameter(net.adj)}, seed {o['seed']}, interval "
                            f"{o['interval'] or 'default (10)'} s",
                 ", ".join(f"{v} {k}" for k, v in pols.items())))
    rows.append((f"convergence after {o['publishes']} publishes ({len(runs)} runs)",
                 spread([r["converged_s"] for r in runs], ".2f") + " s",
                 f"target < {TARGET_S:.0f} s"))
    rows.append(("  publishing took (last answer)", spread([r["publish_s"] for r in runs], ".2f")
                 + " s", ""))
    rows.append(("  median hub converged at", spread([r["hub_p50_s"] for r in runs], ".2f") + " s",
                 ""))
    rows.append(("messages per delivered entry", spread([r["msgs_per_entry"] for r in runs], ".2f"),
                 "live pushes + anti-entropy messages received"))
    rows.append(("  of which live pushes", spread([r["pushes_per_entry"] for r in runs], ".2f"), ""))
    rows.append(("  of which anti-entropy", spread([r["ae_msgs_per_entry"] for r in runs], ".3f"),
                 "Hello, Summary, Heads, Want, Entries"))
    rows.append(("bytes per delivered entry", spread([r["bytes_per_entry"] for r in runs], ".0f"),
                 f"an entry is {statistics.median(r['entry_bytes'] for r in runs):.0f} B"))
    rows.append(("  of which anti-entropy", spread([r["ae_bytes_per_entry"] for r in runs], ".0f"),
                 ""))
    rows.append(("copies received per delivered entry",
                 spread([r["copies_per_entry"] for r in runs], ".2f"),
                 "new + duplicate, push and anti-entropy"))
    rows.append(("hubd CPU per delivered entry",
                 spread([r["cpu_us_per_entry"] for r in runs], ".0f") + " us",
                 "all hubs, user + system"))
    rows.append(("  write transactions (all hubs)", spread([r["txns"] for r in runs], ".0f"),
                 f"commit {spread([r['commit_ms'] for r in runs], '.2f')} ms each"))
    rows.append(("  hubd CPU over the convergence", spread([r["cpu_cores"] for r in runs], ".2f")
                 + " cores", f"of {os.cpu_count()}, shared with whatever else runs"))
    if restart:
        x = restart
        rows.append((f"restart: {x['victim']} ({x['policy']}) killed, {x['publishes']} publishes",
                     f"{x['others_converged_s']:.2f} s", "the others converged"))
        rows.append(("  restarted: control socket answered after", f"{x['start_s']:.2f} s", ""))
        rows.append(("  restarted hub holds everything after", f"{x['victim_converged_s']:.2f} s",
                     f"network: {x['all_converged_s']:.2f} s (from its start)"))
    rows.append(("load average (1/5/15 min) at start / end", f"{o.get('load_start', '?')} / "
                 f"{loadavg()}", "other work on the machine shares its 2 cores and its disk"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def parse_args(argv: list[str]) -> dict:
    o = {"hubs": 32, "degree": 3, "publishes": 1000, "seed": 1, "interval": None, "runs": 3,
         "restart": True, "timeout": 120.0, "json": None, "keep": False}
    it = iter(argv)
    num = {"--hubs": "hubs", "--degree": "degree", "--publishes": "publishes", "--seed": "seed",
           "--interval": "interval", "--runs": "runs", "--timeout": "timeout"}
    for a in it:
        if a in num:
            try:
                o[num[a]] = float(next(it)) if a == "--timeout" else int(next(it))
            except (StopIteration, ValueError):
                sys.exit(f"bench_net: {a} needs a number")
        elif a == "--no-restart":
            o["restart"] = False
        elif a == "--keep":
            o["keep"] = True
        elif a == "--json":
            o["json"] = next(it, None)
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            sys.exit(f"bench_net: unknown argument {a!r} (--help)")
    if o["hubs"] < 2 or o["degree"] < 1:
        sys.exit("bench_net: --hubs >= 2 and --degree >= 1")
    return o


def run(o: dict) -> dict:
    """The whole measurement; returns the figures (and prints the table)."""
    o["load_start"] = loadavg()
    net = Net(o["hubs"], o["degree"], o["seed"], o["interval"])
    ok = False

    def on_signal(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    try:
        log(f"starting {o['hubs']} hubs (degree {o['degree']}, seed {o['seed']})")
        net.start()
        net.settle(o["timeout"])
        log("network settled; measuring")
        runs = []
        for k in range(o["runs"]):
            r = measure(net, o["publishes"], f"r{k}", o["timeout"])
            log(f"run {k + 1}: converged in {r['converged_s']:.2f} s, "
                f"{r['msgs_per_entry']:.2f} msgs / {r['bytes_per_entry']:.0f} B / "
                f"{r['copies_per_entry']:.2f} copies per delivered entry")
            runs.append(r)
            net.settle(o["timeout"])
        restart = measure_restart(net, max(1, o["publishes"] // 4), o["timeout"]) \
            if o["restart"] else None
        res = {"options": o, "runs": runs, "restart": restart,
               "degrees": [len(a) for a in net.adj], "diameter": diameter(net.adj),
               "table": table(o, net, runs, restart)}
        print(res["table"])
        if o["json"]:
            with open(o["json"], "w") as f:
                json.dump(res, f, indent=1)
        ok = True
        return res
    finally:
        net.stop(keep=o["keep"] or not ok)


if __name__ == "__main__":
    run(parse_args(sys.argv[1:]))
