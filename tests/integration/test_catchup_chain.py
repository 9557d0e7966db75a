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

Repair (rule 4, what a hub SHOULD do): the chain authenticates entry 300's header, not its
signature bytes, so a correctly signed copy of 300 from any other peer (the same id) repairs
the feed. Hub H holds F correctly signed (imported: every signature checked); once A peers with
H, A asks H for entry 300, puts its signature in place, checks on from there and serves F whole:
B, behind A, ends with all of F, every signature verifying. A copy with the bad signature again
(the hostile peer, asked too) changes nothing. The old code never asks for 300 again: A stays
stopped at 299 for good, and so does B.

The old code (every signature checked before storing) refuses 300 at once (E_SIGNATURE) and
301..600 with E_GAP: B's half of the test passes on it too, and A's half fails there (A holds
299, has no `signatures` status). The test guards the new fast path: with A's serving cap or
its live-push check removed, B receives 300 (see the report of issue 14)."""

import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubtest import first_run, start_all, wait_until  # noqa: E402
from test_hostile_peer import Peer, heads_of, mk_offer, peer_row  # noqa: E402

N = 600      # one Entries answer above NODE_PIPE_MIN (512): the pipelined path
FORGED = 300


def honest_feed(kp):
    """N offers of kp's feed, correctly signed, dated a minute ago."""
    feed = ref.Feed(kp, int(time.time() * 1000) - 60000)
    for i in range(N):
        feed.next(2, f"offer-{i}", mk_offer(f"course {i}"))
    return feed


def forged_feed(kp):
    feed = honest_feed(kp)
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
    feed = honest_feed(author)
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


# ---------------------------------------------------------------------------------------------
# Repair of a stopped feed from a correctly signed copy (PROTOCOL.md §9.16 rule 4)


def repair_setup(hubs):
    """A stopped at FORGED by the hostile peer P (as above); H holds F correctly signed and
    admits A, but A does not peer with H yet; B peers only with A."""
    peer_kp, forger = ref.Keypair.generate(), ref.Keypair.generate()
    P, F = peer_kp.public, forger.public
    a = hubs.new("chain-a", interval=1)
    b = hubs.new("chain-b", interval=1)
    h = hubs.new("chain-h", interval=1)
    first_run(a, b, h)
    a.allow = [P.hex(), F.hex(), b.key, h.key]
    b.allow = [F.hex(), a.key]
    b.peers = [f"{a.endpoint} {a.key}"]
    h.allow = [F.hex(), a.key]
    start_all(a, b, h)

    feed, wires = forged_feed(forger)
    fh = F.hex()
    good = [base64.b64encode(e.wire).decode() for e in feed.entries]
    assert h.call("import", entries=good)["results"] == ["OK"] * N
    assert heads_of(h)[fh][:2] == (N, feed.entries[-1].id.hex())

    peer = Peer(peer_kp, a.key, a.endpoint)
    peer.hello()
    peer.supply(F, N, wires)
    wait_until(lambda: sig_status(a)["stopped"] and sig_status(a)["feeds_waiting"] == 0,
               timeout=30, msg="a never finished checking the deferred signatures")
    st = sig_status(a)
    assert st["stopped"] == [{"author": fh, "seq": FORGED}] and st.get("repaired", 0) == 0, st
    wait_until(lambda: heads_of(b).get(fh, (0,))[0] == FORGED - 1, timeout=30,
               msg="b did not get F up to 299")
    return a, b, h, peer, feed, wires


def assert_repaired(a, b, feed):
    """A serves F whole again, with entry FORGED's good signature; B ends with all of F and
    every signature B holds verifies (B checks what it gets from A; verify checks the store)."""
    fh = feed.entries[0].author.hex()
    wait_until(lambda: sig_status(a)["stopped"] == [] and sig_status(a).get("repaired") == 1,
               timeout=30, msg="a never repaired the stopped feed")
    a.wait_log(f"entry seq {FORGED} received with a signature that verifies; it replaces the "
               f"stored one that did not")
    wait_until(lambda: sig_status(a)["feeds_waiting"] == 0, timeout=30,
               msg="a never checked the rest of the feed")
    st = sig_status(a)
    assert st["repaired"] == 1 and st["stopped"] == [], st
    bad_id = feed.entries[FORGED - 1].id.hex()
    assert a.wire(bad_id) == feed.entries[FORGED - 1].wire  # the good bytes, stored
    head = (N, feed.entries[-1].id.hex())
    wait_until(lambda: heads_of(b).get(fh, (0, ""))[:2] == head, timeout=30,
               msg="b did not get the whole feed from the repaired a")
    assert b.wire(bad_id) == feed.entries[FORGED - 1].wire
    bs = b.status()
    assert "E_SIGNATURE" not in bs["rejected"], bs["rejected"]
    assert bs["signatures"]["failed"] == 0 and bs["signatures"]["stopped"] == []
    wait_until(lambda: b.status()["signatures"]["feeds_waiting"] == 0, timeout=30,
               msg="b never checked its deferred signatures")
    for hub in (a, b):
        v = hub.call("verify")
        assert v["problems"] == 0 and v["entries"] >= N, (hub.name, v)


def test_stopped_feed_is_repaired_from_a_good_copy(hubs):
    a, b, h, peer, feed, wires = repair_setup(hubs)
    F = feed.entries[0].author
    try:
        # The hostile peer offers F whole: A asks it for entry 300 again (the only way to a
        # good copy is to ask); the bad copy it gets changes nothing.
        peer.drain()
        peer.send(ref.encode_sync("heads", heads=[(F, N, feed.entries[-1].id)], reply=True,
                                  last=True))
        w = peer.expect("want", pred=lambda m: m.author == F and m.from_seq == FORGED)
        rejected_before = a.status()["rejected"].get("E_SIGNATURE", 0)
        peer.send(ref.entries_msg(F, w.from_seq, wires[FORGED - 1:FORGED - 1 + w.count]))
        wait_until(lambda: a.status()["rejected"].get("E_SIGNATURE", 0) > rejected_before,
                   timeout=10, msg="a did not check the bad copy")
        st = sig_status(a)
        assert st["stopped"] == [{"author": F.hex(), "seq": FORGED}], st
        assert st.get("repaired", 0) == 0, st
        assert heads_of(b)[F.hex()][0] == FORGED - 1
    finally:
        peer.close()

    # A peers with the honest H: it asks H for entry 300 and repairs the feed.
    a.call("peer_add", endpoint=h.endpoint, key=h.key)
    assert_repaired(a, b, feed)


def test_stopped_feed_is_repaired_after_a_restart(hubs):
    """The stop is stored: a hub restarted before the repair still repairs (and the repaired
    row and the cleared mark are one transaction: a second restart keeps them)."""
    a, b, h, peer, feed, _ = repair_setup(hubs)
    peer.close()
    fh = feed.entries[0].author.hex()
    a.peers = [f"{h.endpoint} {h.key}"]
    a.restart()
    assert_repaired(a, b, feed)
    a.restart()
    st = sig_status(a)
    assert st["stopped"] == [] and st["feeds_waiting"] == 0, st
    assert heads_of(a)[fh][:2] == (N, feed.entries[-1].id.hex())


def test_stopped_feed_is_repaired_by_an_import_and_only_by_a_good_copy(hubs):
    """The repair is the store's rule, whatever brings the copy: an import of entry 300 with
    the bad signature changes nothing (E_SIGNATURE), a validly signed entry at 300 with another
    header is a fork as before (E_FORK, no repair), and the correctly signed copy repairs."""
    a, b, h, peer, feed, wires = repair_setup(hubs)
    peer.close()
    fh = feed.entries[0].author.hex()

    def imp(wire):
        return a.call("import", entries=[base64.b64encode(wire).decode()])["results"]

    assert imp(wires[FORGED - 1]) == ["E_SIGNATURE"]
    other = ref.build_entry(feed.kp, seq=FORGED, prev=feed.entries[FORGED - 2].id,
                            timestamp=feed.entries[FORGED - 1].timestamp, kind=2,
                            key="offer-other", payload=mk_offer("another course"))
    assert other.id != feed.entries[FORGED - 1].id
    assert imp(other.wire) == ["E_FORK"]
    st = sig_status(a)
    assert st["stopped"] == [{"author": fh, "seq": FORGED}], st
    assert st.get("repaired", 0) == 0, st
    assert [f["seq"] for f in a.status()["forks"]] == [FORGED]

    assert imp(feed.entries[FORGED - 1].wire) == ["E_DUPLICATE"]
    wait_until(lambda: sig_status(a).get("repaired") == 1 and sig_status(a)["stopped"] == [],
               timeout=10, msg="the imported good copy did not repair the feed")
    wait_until(lambda: sig_status(a)["feeds_waiting"] == 0, timeout=30,
               msg="a never checked the rest of the feed")
    assert a.wire(feed.entries[FORGED - 1].id.hex()) == feed.entries[FORGED - 1].wire
    v = a.call("verify")
    assert v["problems"] == 0, v


# ---------------------------------------------------------------------------------------------
# A run whose newest entry fails (§9.16 rule 1): the entries before it check their own
# signatures in the signature workers; nothing stands on the chain, nothing is left unchecked.


def test_run_with_a_bad_newest_is_checked_in_full_by_the_workers(hubs):
    peer_kp, author = ref.Keypair.generate(), ref.Keypair.generate()
    P, F = peer_kp.public, author.public
    a, b, _ = chain_of_three(hubs, P, F)
    feed = honest_feed(author)
    wires = [e.wire for e in feed.entries]
    header, sig, payload, _ = ref.split_signed_entry(wires[-1])
    wires[-1] = ref.encode_signed_entry(header, bytes(b ^ 0x55 for b in sig), payload)
    fh = F.hex()
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()
        peer.supply(F, N, wires)
        # 1 .. N-1 stored, each with its own signature checked; N refused and counted
        wait_until(lambda: heads_of(a).get(fh, (0,))[0] == N - 1, timeout=30,
                   msg="a did not store the run up to the entry before its newest")
        wait_until(lambda: a.status()["rejected"].get("E_SIGNATURE", 0) == 1, timeout=10,
                   msg="a did not refuse the newest with E_SIGNATURE")
        st = sig_status(a)
        assert st.get("unchained") == N - 2, st  # all but the run's first and its newest
        assert st["deferred"] == 0 and st["feeds_waiting"] == 0 and st["stopped"] == [], st
        assert heads_of(a)[fh][1] == feed.entries[N - 2].id.hex()
        assert not a.get(feed.entries[-1].id.hex())["ok"]
    finally:
        peer.close()
    # served at once (nothing waits for the checker): B gets 1 .. N-1, every signature good
    wait_until(lambda: heads_of(b).get(fh, (0, ""))[:2] == (N - 1, feed.entries[N - 2].id.hex()),
               timeout=30, msg="b did not get the run up to the entry before its newest")
    assert "E_SIGNATURE" not in b.status()["rejected"]
    for hub in (a, b):
        v = hub.call("verify")
        assert v["problems"] == 0 and v["entries"] >= N - 1, (hub.name, v)


def test_run_after_a_refused_entry_costs_no_signature_checks(hubs):
    """Entry 2 of the run is spoiled (its payload no longer matches its hash), and so are the
    signatures of 3 .. N-1: 2 is refused, and every later entry of the run is refused E_GAP
    without its signature being checked (the store checks one only if it would keep it), not
    one by one on the store's writer. The honest run, asked for again, then goes through."""
    peer_kp, author = ref.Keypair.generate(), ref.Keypair.generate()
    P, F = peer_kp.public, author.public
    a, b, _ = chain_of_three(hubs, P, F)
    feed = honest_feed(author)
    good = [e.wire for e in feed.entries]
    wires = list(good)
    header, sig, payload, _ = ref.split_signed_entry(wires[1])
    wires[1] = ref.encode_signed_entry(header, sig, payload[:-1] + bytes([payload[-1] ^ 1]))
    for k in range(2, N - 1):
        header, sig, payload, _ = ref.split_signed_entry(wires[k])
        wires[k] = ref.encode_signed_entry(header, bytes(b ^ 0x55 for b in sig), payload)
    fh = F.hex()
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()
        peer.supply(F, N, wires)
        wait_until(lambda: a.status()["rejected"].get("E_GAP", 0) == N - 2, timeout=30,
                   msg="a did not refuse the rest of the run E_GAP")
        rej = a.status()["rejected"]
        assert rej.get("E_PAYLOAD_HASH") == 1 and "E_SIGNATURE" not in rej, rej
        assert heads_of(a)[fh][0] == 1
        st = sig_status(a)
        assert st["deferred"] == 0 and st["stopped"] == [] and st["feeds_waiting"] == 0, st

        # A asks on from its head (entry 1 was accepted): the honest entries go through
        w = peer.expect("want", timeout=15, pred=lambda m: m.author == F and m.from_seq == 2)
        peer.send(ref.entries_msg(F, 2, good[1:1 + w.count]))
        wait_until(lambda: heads_of(a).get(fh, (0,))[0] == N, timeout=30,
                   msg="a did not take the honest run")
    finally:
        peer.close()
    head = (N, feed.entries[-1].id.hex())
    wait_until(lambda: heads_of(b).get(fh, (0, ""))[:2] == head, timeout=30,
               msg="b did not get the whole feed")
    for hub in (a, b):
        v = hub.call("verify")
        assert v["problems"] == 0 and v["entries"] >= N, (hub.name, v)
