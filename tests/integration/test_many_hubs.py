"""Many hubs (issue 14, item 5): the harness of scripts/bench_net.py at a size a test run can
afford, so that it cannot rot. 8 hubds in a random connected graph of degree 3 with mixed
policies (open, allowlist, trust with an anchor), 100 publishes at once: every hub ends up
holding every entry (polled with a deadline: no timing is asserted), and the traffic counters
(CONTROL.md status sync.traffic) add up; then one hub is killed, the others publish, it is
restarted and catches up."""

import importlib.util
import os

from hubtest import SRC_DIR

spec = importlib.util.spec_from_file_location("bench_net",
                                              os.path.join(SRC_DIR, "scripts", "bench_net.py"))
bench_net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_net)

HUBS, DEGREE, PUBLISHES, SEED = 8, 3, 100, 14
#: Generous: convergence takes well under a second on an idle machine (BENCHMARKS.md).
DEADLINE = 120


def test_graph_is_connected_and_regular():
    import random
    for n, d in ((8, 3), (32, 3), (33, 3), (10, 2), (5, 8)):
        adj = bench_net.random_graph(n, d, random.Random(n * d))
        assert bench_net.connected(adj)
        assert all(i not in a for i, a in enumerate(adj))  # no loops
        assert all(i in adj[j] for i, a in enumerate(adj) for j in a)  # symmetric
        degs = sorted(len(a) for a in adj)
        assert degs[0] == min(d, n - 1) and degs[-1] <= min(d, n - 1) + 1, degs


def test_many_hubs_converge_and_count_their_traffic(hubs):
    net = bench_net.Net(HUBS, DEGREE, SEED, interval=1, log_level="info", make=hubs.new)
    assert {h.policy for h in net.hubs} == {"open", "allowlist", "trust"}
    net.start()
    net.settle(DEADLINE)

    r = bench_net.measure(net, PUBLISHES, "t", DEADLINE)
    # every hub holds every entry (measure polled each hub's heads until it did)
    expect = net.own_seqs()
    assert sum(expect.values()) >= PUBLISHES
    for i in range(HUBS):
        assert net.holds(i, expect), net.hubs[i].name
    d = r["traffic"]
    delivered = PUBLISHES * (HUBS - 1)
    # each entry is new exactly once on each other hub; the rest of the copies are duplicates
    assert d["entries_accepted"] == delivered, d
    assert r["copies_per_entry"] >= 1.0
    # every hub pushes what it accepts (its own publishes too); a push reaches each
    # subscribed peer at most once
    assert d["pushes_sent"] >= PUBLISHES * HUBS, d
    assert d["pushes_received"] <= d["pushes_sent"] * (DEGREE + 1), d
    assert d["push_bytes_received"] >= d["pushes_received"] * 100, d  # an entry is > 100 B
    # anti-entropy (rounds since start: the publishes converge by push, faster than a round)
    # was counted both ways, messages and bytes
    tot = net.traffic()
    assert tot["msgs_sent"] > 0 and tot["msgs_received"] > 0, tot
    assert tot["bytes_received"] > 10 * tot["msgs_received"], tot
    peers = net.hubs[0].call("peers")["peers"]
    assert peers and all("duplicates" in p and "msgs_received" in p and "pushes_received" in p
                         for p in peers)
    assert sum(p["pushes_received"] for p in peers) > 0

    x = bench_net.measure_restart(net, PUBLISHES // 4, DEADLINE)
    victim = next(i for i, h in enumerate(net.hubs) if h.name == x["victim"])
    assert net.holds(victim, net.own_seqs())


def test_simnet_model_runs_and_floods():
    """scripts/simnet.py (the model of the same protocol at 1,000 hubs) still runs, converges,
    and shows the flood's arithmetic: each hub receives every entry once per peer."""
    spec = importlib.util.spec_from_file_location("simnet",
                                                  os.path.join(SRC_DIR, "scripts", "simnet.py"))
    simnet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(simnet)
    r = simnet.Sim(40, 3, 200, 1.0, seed=SEED).run()
    assert r["converged_s"] < float("inf"), r
    assert r["entry_max_s"] <= r["converged_s"] + 1e-9, r
    # pushes per delivered entry are N x D / (N - 1) once all have arrived (the run stops at
    # convergence, with the last few in flight); the copies ingested are at most those plus
    # what anti-entropy fetched
    pushes = r["msgs_per_entry"] - r["ae_msgs_per_entry"]
    assert 0.95 * 40 * 3 / 39 <= pushes <= 40 * 3 / 39 + 1e-9, r
    assert 1.0 <= r["copies_per_entry"] <= pushes + r["ae_msgs_per_entry"] * simnet.BATCH, r
    # with every push batch lost half the time, the rounds (Heads, Want, Entries) still converge
    lossy = simnet.Sim(40, 3, 200, 1.0, seed=SEED, loss=0.5).run()
    assert lossy["converged_s"] < float("inf") and lossy["ae_msgs_per_entry"] > 0, lossy
