"""Catch-up on the hash chain (PROTOCOL.md §9.16): a run with one forged older signature.

A forger's feed F of 600 entries is served by a hostile peer (hubnet_ref.py crafts the entries;
test_hostile_peer.py's Peer speaks the protocol) to hub A, in one Entries answer, so that A
takes its pipelined catch-up path: entries inside the run are stored on the hash chain before
their own signatures are checked. Entry 300 carries a garbage signature; entry 600 (the newest)
is correctly signed, so the chain authenticates every earlier header, 300's included.

Hub B peers only with A. The rule says: A stores the run (the chain authenticates its content),
checks the deferred signatures in the background, finds 300's bad, counts and logs it, and from
then on serves F only up to 299 (Heads, Summary, Wants, live push); B therefore holds F up to 299
and never receives entry 300, exactly as if A had refused 300 with E_SIGNATURE. The state
survives a restart of A.

The old code (every signature checked before storing) refuses 300 at once (E_SIGNATURE) and
301..600 with E_GAP: B's half of the test passes on it too, and A's half fails there (A holds
299, has no `signatures` status). The test guards the new fast path: with A's serving cap or
its live-push check removed, B receives 300 (see the report of issue 14)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubtest import first_run, start_all, wait_until  # noqa: E402
from test_hostile_peer import Peer, heads_of, mk_offer, peer_row  # noqa: E402

N = 600      # one Entries answer above NODE_PIPE_MIN (512): the pipelined path
FORGED = 300


def forged_feed(kp):
    feed = ref.Feed(kp, int(time.time() * 1000) - 60000)
    for i in range(N):
        feed.next(2, f"offer-{i}", mk_offer(f"course {i}"))
    wires = [e.wire for e in feed.entries]
    e = feed.entries[FORGED - 1]
    header, sig, payload, _ = ref.split_signed_entry(e.wire)
    bad = bytes(b ^ 0x55 for b in sig)  # 64 bytes, not the author's signature
    assert not ref.verify(kp.public, ref.SIGN_PREFIX + header, bad)
    wires[FORGED - 1] = ref.encode_signed_entry(header, bad, payload)
    return feed, wires


def sig_status(h):
    return h.status()["signatures"]


def test_forged_older_signature_is_never_relayed(hubs):
    peer_kp, forger = ref.Keypair.generate(), ref.Keypair.generate()
    P, F = peer_kp.public, forger.public
    a = hubs.new("chain-a", interval=1)
    b = hubs.new("chain-b", interval=1)
    first_run(a, b)
    a.allow = [P.hex(), F.hex(), b.key]
    b.allow = [F.hex(), a.key]
    b.peers = [f"{a.endpoint} {a.key}"]
    start_all(a, b)

    def b_live():
        p = [r for r in b.call("peers")["peers"] if r["key"] == a.key and r["direction"] == "out"]
        return p and p[0]["state"] == "up" and p[0]["live"]
    wait_until(b_live, timeout=15, msg="b never up with live push from a")

    feed, wires = forged_feed(forger)
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()
        w = peer.supply(F, N, wires)
        assert w.from_seq == 1 and w.count >= N

        fh = F.hex()
    finally:
        peer.close()

    # B: holds F exactly up to 299, and never received entry 300 (no E_SIGNATURE, not held)
    def b_head():
        return heads_of(b).get(fh, (0, ""))
    try:
        wait_until(lambda: b_head()[0] == FORGED - 1, timeout=15, msg="b did not get F up to 299")
    except AssertionError:
        print("BHEAD", b_head(), b.status()["rejected"], peer_row(b, a.key)); print(b.log_tail(30)); print(a.log_tail(30)); raise
    assert b_head()[1] == feed.entries[FORGED - 2].id.hex()
    rounds = peer_row(b, a.key)["rounds"]
    wait_until(lambda: peer_row(b, a.key)["rounds"] >= rounds + 3, timeout=30,
               msg="b made no further rounds with a")
    assert b_head()[0] == FORGED - 1
    bs = b.status()
    assert "E_SIGNATURE" not in bs["rejected"], bs["rejected"]
    assert not b.get(feed.entries[FORGED - 1].id.hex())["ok"]
    assert not b.get(feed.entries[-1].id.hex())["ok"]

