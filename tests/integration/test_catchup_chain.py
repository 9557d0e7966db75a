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


def chain_of_three(hubs, P, F):
    """Hub A admits the hostile peer P and the author F; hub B peers only with A."""
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
    return a, b, b_live


def test_valid_run_is_relayed_once_checked(hubs):
    """The honest case: the run is stored on the chain, checked in the background, and then
    offered and served whole: B ends with all of it."""
    peer_kp, author = ref.Keypair.generate(), ref.Keypair.generate()
    P, F = peer_kp.public, author.public
    a, b, _ = chain_of_three(hubs, P, F)
    feed = ref.Feed(author, int(time.time() * 1000) - 60000)
    for i in range(N):
        feed.next(2, f"offer-{i}", mk_offer(f"course {i}"))
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()
        peer.supply(F, N, [e.wire for e in feed.entries])
        fh, head = F.hex(), feed.entries[-1].id.hex()
        wait_until(lambda: heads_of(b).get(fh, (0, ""))[:2] == (N, head), timeout=30,
                   msg="b did not get the whole run")
        st = a.status()["signatures"]
        assert st["deferred"] >= N - 2 and st["failed"] == 0 and st["stopped"] == [], st
        assert st["feeds_waiting"] == 0, st
        assert b.status()["signatures"]["failed"] == 0
        assert "E_SIGNATURE" not in b.status()["rejected"]
        # the held entries are A's records at once (queries), like any accepted entry
        assert len(a.query(author=fh, limit=1000)) == N
    finally:
        peer.close()


def test_forged_older_signature_is_never_relayed(hubs):
    peer_kp, forger = ref.Keypair.generate(), ref.Keypair.generate()
    P, F = peer_kp.public, forger.public
    a, b, b_live = chain_of_three(hubs, P, F)

    feed, wires = forged_feed(forger)
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()
        w = peer.supply(F, N, wires)
        assert w.from_seq == 1 and w.count >= N

        # A: the run is stored (its content is the author's, through the chain) ...
        fh = F.hex()
        wait_until(lambda: heads_of(a).get(fh, (0,))[0] == N, timeout=20,
                   msg="a did not store the run")
        assert heads_of(a)[fh][1] == feed.entries[-1].id.hex()
        # ... and the deferred checks find 300: serving stops there, the author is not forked
        wait_until(lambda: sig_status(a)["stopped"] and sig_status(a)["feeds_waiting"] == 0,
                   timeout=30, msg="a never finished checking the deferred signatures")
        st = sig_status(a)
        assert st["stopped"] == [{"author": fh, "seq": FORGED}], st
        assert st["failed"] == 1, st
        assert st["deferred"] >= N - 2, st  # all but the run's first and newest
        assert st["checked"] >= FORGED - 1, st
        assert a.status()["forks"] == []
        a.wait_log(f"the signature of entry seq {FORGED}, stored on the hash chain, does not "
                   f"verify (E_SIGNATURE); the feed is served up to seq {FORGED - 1} only")

        # A offers F with head 299 and serves nothing from 300 on (the wire, via the peer)
        peer.drain()
        peer.send(ref.encode_sync("heads", heads=[], reply=False, last=True))
        hs = peer.expect("heads", pred=lambda m: m.reply)
        offered = {bytes(x.author): (x.seq, bytes(x.id)) for x in hs.heads}
        assert offered[F] == (FORGED - 1, feed.entries[FORGED - 2].id), offered[F]
        peer.send(ref.want(F, FORGED, 10))
        es = peer.expect("entries", pred=lambda m: m.from_seq == FORGED)
        assert len(es.entries) == 0
        peer.send(ref.want(F, FORGED - 5, 10))
        es = peer.expect("entries", pred=lambda m: m.from_seq == FORGED - 5)
        assert [ref.decode_entry(x).seq for x in es.entries] == list(range(FORGED - 5, FORGED))
    finally:
        peer.close()

    # B: holds F exactly up to 299, and never received entry 300 (no E_SIGNATURE, not held)
    def b_head():
        return heads_of(b).get(fh, (0, ""))
    wait_until(lambda: b_head()[0] == FORGED - 1, timeout=30, msg="b did not get F up to 299")
    assert b_head()[1] == feed.entries[FORGED - 2].id.hex()
    rounds = peer_row(b, a.key)["rounds"]
    wait_until(lambda: peer_row(b, a.key)["rounds"] >= rounds + 3, timeout=30,
               msg="b made no further rounds with a")
    assert b_head()[0] == FORGED - 1
    bs = b.status()
    assert "E_SIGNATURE" not in bs["rejected"], bs["rejected"]
    assert bs["signatures"]["stopped"] == [] and bs["signatures"]["failed"] == 0
    assert not b.get(feed.entries[FORGED - 1].id.hex())["ok"]
    assert not b.get(feed.entries[-1].id.hex())["ok"]

    # A after a restart: the failed check is remembered (the store's row), serving still stops
    a.restart()
    wait_until(lambda: sig_status(a)["stopped"] == [{"author": fh, "seq": FORGED}], timeout=10,
               msg="a forgot the failed check over a restart")
    wait_until(b_live, timeout=15, msg="b not up again with a")
    rounds = peer_row(b, a.key)["rounds"]
    wait_until(lambda: peer_row(b, a.key)["rounds"] >= rounds + 3, timeout=30,
               msg="b made no rounds with the restarted a")
    assert b_head()[0] == FORGED - 1
    assert "E_SIGNATURE" not in b.status()["rejected"]
