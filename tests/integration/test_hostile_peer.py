"""A hostile peer speaks the sync protocol (PROTOCOL.md §9) to a real hubd over CurveZMQ.

The peer is Python code built on the independent reference implementation hubnet_ref.py and
pyzmq: a DEALER connected to the hub's ROUTER, CURVE keys derived from Ed25519 identities
(§9.3). It is admitted (its key is in the hub's [policy] allow) but sends what an honest hub
never would: forged signatures, broken chains, gaps, forks, junk frames, multi-frame messages,
an oversize message, Wants for unknown feeds. The hub must store nothing bad, report the fork,
count the rejections per peer, and keep serving: an honest second hub still replicates from it.

Also: a peer whose key is not trusted is refused by ZAP under the allowlist policy; and hubd
agrees with the reference implementation on the digest, Heads, Want/Entries, the purged form
and the result of every mutated test vector.
"""

import base64
import os
import random
import sys
import time

import pytest
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubtest import wait_until  # noqa: E402

NOW = lambda: int(time.time() * 1000)  # noqa: E731


# ---------------------------------------------------------------------------------------------
# The hostile peer


class Peer:
    """A CurveZMQ DEALER speaking SyncMsg frames to one hub's ROUTER."""

    def __init__(self, kp: ref.Keypair, hub_key_hex: str, endpoint: str):
        self.kp = kp
        self.hub = bytes.fromhex(hub_key_hex)
        self.endpoint = endpoint
        self.ctx = zmq.Context.instance()
        self.sock = None
        self.connect()

    def connect(self):
        if self.sock is not None:
            self.sock.close(linger=0)
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.CURVE_SERVERKEY, ref.curve_public(self.hub))
        s.setsockopt(zmq.CURVE_PUBLICKEY, self.kp.curve_public)
        s.setsockopt(zmq.CURVE_SECRETKEY, self.kp.curve_secret)
        s.connect(self.endpoint)
        self.sock = s

    def close(self):
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def send(self, frame: bytes):
        self.sock.send(frame)

    def recv(self, timeout: float = 5.0):
        """Next SyncMsg from the hub, decoded with the reference implementation: (arm, msg),
        or None if nothing came within timeout."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) == 1, f"hub sent a {len(frames)}-frame message"
        return ref.decode_sync(frames[0])

    def expect(self, arm: str, timeout: float = 10.0, pred=lambda m: True):
        """Wait for a message of this arm (skipping others, e.g. Hellos) and return it."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            got = self.recv(max(0.05, deadline - time.monotonic()))
            if got is None:
                break
            seen.append(got[0])
            if got[0] == arm and pred(got[1]):
                return got[1]
        raise AssertionError(f"no {arm} from the hub within {timeout} s (saw {seen})")

    def hello(self, timeout: float = 10.0):
        """Send Hello until the hub answers with its own (the first may go before the CURVE
        handshake is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send(ref.hello(self.kp.public, 0))
            got = self.recv(1.0)
            while got is not None:
                if got[0] == "hello":
                    assert got[1].hub == self.hub and got[1].version == 1
                    return got[1]
                got = self.recv(0.2)
        raise AssertionError("the hub never answered Hello")

    def push(self, author: bytes, from_seq: int, wires):
        """An unsolicited Entries message: the hub must drop it unprocessed (§9.8)."""
        self.send(ref.entries_msg(author, from_seq, list(wires)))

    def supply(self, author: bytes, claim_seq: int, wires, timeout: float = 10.0):
        """Make the hub ask for `author`'s feed (a Heads list claiming a head at claim_seq) and
        answer its Want with these entry wires, whatever they are. Returns the Want."""
        self.send(ref.encode_sync("heads", heads=[(author, claim_seq, bytes(32))], reply=True,
                                  last=True))
        w = self.expect("want", timeout, pred=lambda m: m.author == author)
        self.send(ref.entries_msg(author, w.from_seq, list(wires)))
        return w

    def drain(self, t: float = 0.2):
        while self.recv(t) is not None:
            pass


@pytest.fixture
def zctx():
    yield zmq.Context.instance()


def heads_of(hub) -> dict:
    """{author hex: (seq, id hex, forked)} from the control socket's heads call."""
    r = hub.call("heads")
    return {f["author"]: (f["seq"], f["id"], f.get("forked", False)) for f in r["feeds"]}


def peer_row(hub, key_hex):
    for p in hub.call("peers")["peers"]:
        if p["key"] == key_hex:
            return p
    return None


def rejected(hub, key_hex) -> int:
    row = peer_row(hub, key_hex)
    return row["rejected"] if row else -1


def mk_profile(name: str) -> bytes:
    return ref.payload_from_json(1, {"name": name})


def mk_offer(title: str) -> bytes:
    return ref.payload_from_json(2, {"title": title, "topics": ["digital-skills"]})


# ---------------------------------------------------------------------------------------------
# The hostile peer against one hub, then an honest hub replicating from it


def test_hostile_peer_stores_nothing_bad_and_hub_keeps_serving(hubs):
    peer_kp = ref.Keypair.generate()      # the hostile peer's identity and its own feed P
    fork_kp = ref.Keypair.generate()      # a second admitted author whose key "leaked": feed F
    P, F = peer_kp.public, fork_kp.public
    a = hubs(name="victim", allow=[P.hex(), F.hex()])
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()

        # A valid first entry of P: accepted.
        ts = NOW() - 60_000
        feed = ref.Feed(peer_kp, ts)
        e1 = feed.next(1, "profile", mk_profile("Hostile hub"))
        w = peer.supply(P, 1, [e1.wire])
        assert (w.from_seq, w.count) == (1, 1)
        wait_until(lambda: heads_of(a).get(P.hex()), timeout=10, msg="valid entry not stored")
        assert heads_of(a)[P.hex()] == (1, e1.id.hex(), False)
        base = rejected(a, P.hex())
        assert base == 0

        # 1. Forged signature on seq 2.
        e2 = feed.next(2, "offer-1", mk_offer("Real offer"), append=False)
        forged = bytearray(e2.wire)
        at = forged.index(e2.signature)
        forged[at] ^= 0x40
        peer.supply(P, 2, [bytes(forged)])
        # 2. Broken chain: a validly signed seq 2 whose prev is not e1's id.
        bad_prev = ref.build_entry(peer_kp, seq=2, prev=ref.h(b"not e1"), timestamp=ts,
                                   kind=2, key="offer-1", payload=mk_offer("Wrong prev"))
        peer.supply(P, 2, [bad_prev.wire])
        # E_PREV shows that the peer holds another seq 1: the hub fetches back up to its head
        # (PROTOCOL.md §6.2). The real e1 comes back: a duplicate, no fork.
        w = peer.expect("want", 10, pred=lambda m: m.author == P)
        assert (w.from_seq, w.count) == (1, 1)
        peer.send(ref.entries_msg(P, 1, [e1.wire]))
        # 3. A gap: seq 3 (validly chained on an e2 the hub never got).
        e3 = ref.build_entry(peer_kp, seq=3, prev=e2.id, timestamp=ts, kind=2, key="offer-2",
                             payload=mk_offer("After a gap"))
        w = peer.supply(P, 3, [e3.wire])
        assert (w.from_seq, w.count) == (2, 2)
        # 4. A payload that does not match its header, and a header signed by someone else.
        bad_payload = ref.encode_signed_entry(e2.header, e2.signature, mk_offer("Swapped"))
        impostor = ref.sign_header(ref.Keypair.generate(), e2.header, e2.payload)
        peer.supply(P, 2, [bad_payload, impostor])
        # 5. A valid e2, but unsolicited: dropped unread (only answers to Wants count, §9.8).
        peer.push(P, 2, [e2.wire])

        # 6. A fork on F: two different, validly signed entries with the same author and seq.
        f1 = ref.build_entry(fork_kp, seq=1, prev=None, timestamp=ts, kind=1, key="profile",
                             payload=mk_profile("Hub F"))
        f1_other = ref.build_entry(fork_kp, seq=1, prev=None, timestamp=ts + 1, kind=1,
                                   key="profile", payload=mk_profile("Hub F, second site"))
        peer.supply(F, 1, [f1.wire])
        wait_until(lambda: F.hex() in heads_of(a), timeout=10, msg="F's first entry not stored")
        # The hub holds F at seq 1; claiming seq 2 makes it ask from 2, and the answer carries
        # the other seq 1 (each entry is validated on its own) and then a valid seq 2, which
        # the frozen feed must refuse.
        f2 = ref.build_entry(fork_kp, seq=2, prev=f1.id, timestamp=ts, kind=2, key="x",
                             payload=mk_offer("After the fork"))
        peer.supply(F, 2, [f1_other.wire, f2.wire])
        fork_line = a.wait_log(f"fork: author {F.hex()}", timeout=10)
        assert "seq 1" in fork_line
        forks = wait_until(lambda: a.status()["forks"], timeout=10, msg="fork not in status")
        assert [f["author"] for f in forks] == [F.hex()]
        assert forks[0]["seq"] == 1
        assert forks[0]["held"] == f1.id.hex() and forks[0]["other"] == f1_other.id.hex()

        # 7. Junk: random bytes (never a valid SyncMsg: field number 0), multi-frame messages,
        #    an empty frame, a truncated SyncMsg.
        rnd = random.Random(7)
        junk = [b"\x07" + rnd.randbytes(rnd.randrange(1, 4000)) for _ in range(10)]
        for j in junk:
            with pytest.raises(ref.EntryError):
                ref.decode_sync(j)
            peer.send(j)
        peer.sock.send_multipart([b"\x01\x02", b"\x03"])
        peer.sock.send_multipart([ref.hello(P), ref.hello(P)])
        peer.send(b"")
        peer.send(ref.hello(P)[:-3])

        # Everything above is counted against this peer: 4 bad entries at seq 2 (forged, bad
        # prev, bad payload, impostor), the unsolicited Entries, the fork, the entry of the
        # frozen feed, 10 junk frames, 2 multi-frame messages, 1 truncated message. The gap is
        # not a rejection (§9.13).
        want_rejected = 4 + 1 + 1 + 1 + 10 + 2 + 1
        wait_until(lambda: rejected(a, P.hex()) >= want_rejected, timeout=10,
                   msg=f"peer's rejected count never reached {want_rejected}")
        st = a.status()
        for name in ("E_SIGNATURE", "E_PREV", "E_PAYLOAD_HASH", "E_FORK", "E_FORKED_FEED"):
            assert st["rejected"].get(name, 0) >= 1, (name, st["rejected"])

        # Nothing bad was stored: P still at e1, F frozen at f1.
        heads = heads_of(a)
        assert heads[P.hex()] == (1, e1.id.hex(), False)
        assert heads[F.hex()][:2] == (1, f1.id.hex()) and heads[F.hex()][2] is True
        assert set(heads) <= {P.hex(), F.hex(), a.key}
        for bad in (e2, bad_prev, e3, f1_other, f2):
            assert not a.get(bad.id.hex())["ok"], f"{bad.id.hex()} was stored"
        assert a.wire(e1.id.hex()) == e1.wire

        # 8. Wants for feeds the hub does not hold: an empty Entries each; a malformed Want
        #    (from_seq 0) gets no answer; a Want for P returns exactly e1.
        peer.drain()
        for _ in range(3):
            unknown = os.urandom(32)
            peer.send(ref.want(unknown, 1, 100))
            m = peer.expect("entries", pred=lambda m: m.author == unknown)
            assert m.from_seq == 1 and list(m.entries) == []
        peer.send(ref.want(os.urandom(32), 0, 5))
        peer.send(ref.want(P, 1, 100))
        m = peer.expect("entries", pred=lambda m: m.author == P)
        assert (m.from_seq, list(m.entries)) == (1, [e1.wire])
        peer.send(ref.want(P, 2, 100))
        m = peer.expect("entries", pred=lambda m: m.author == P and m.from_seq == 2)
        assert list(m.entries) == []

        # 9. An oversize message (> 8 MiB): libzmq drops the connection; the hub lives on.
        peer.send(b"\x2a" + bytes(8 * 1024 * 1024 + 16))
        time.sleep(0.5)
        assert a.running() and a.status()["ok"]
        peer.connect()
        peer.hello()
        peer.send(ref.want(P, 1, 1))
        m = peer.expect("entries", pred=lambda m: m.author == P)
        assert list(m.entries) == [e1.wire]
    finally:
        peer.close()

    # An honest hub replicates from the victim: a record published afterwards arrives, and of
    # the hostile peer's feed only the valid entry does.
    b = hubs(name="honest", peers=[(a.endpoint, a.key)], allow=[P.hex()])
    a.call("peer_add", endpoint=b.endpoint, key=b.key)
    r = a.publish("offer", {"title": "Train-the-trainer after the attack",
                            "topics": ["train-the-trainer"]})
    wait_until(lambda: b.get(r["id"])["ok"], timeout=20, msg="honest hub never got the record")
    assert b.wire(r["id"]) == a.wire(r["id"])
    wait_until(lambda: heads_of(b).get(P.hex()) == (1, e1.id.hex(), False), timeout=20,
               msg="honest hub did not get P's valid entry")
    assert F.hex() not in heads_of(b)  # not trusted by b, and frozen on a
    assert b.status()["forks"] == []
    assert a.running() and b.running()


# ---------------------------------------------------------------------------------------------
# ZAP: an untrusted key is refused


def test_unknown_key_is_refused_under_allowlist(hubs):
    a = hubs(name="closed", policy="allowlist")
    stranger = ref.Keypair.generate()
    peer = Peer(stranger, a.key, a.endpoint)
    try:
        for _ in range(5):
            peer.send(ref.hello(stranger.public))
            peer.send(ref.want(os.urandom(32), 1, 1))
        assert peer.recv(timeout=3.0) is None, "an untrusted peer got an answer"
        line = a.wait_log("refused connection from", timeout=10)
        assert stranger.curve_public.hex()[:8] in line
        assert "not a trusted hub" in line and "allowlist" in line
        assert all(p["key"] != stranger.public.hex() for p in a.call("peers")["peers"])
    finally:
        peer.close()
    # A trusted key is admitted by the same hub at once (peer_add trusts it).
    friend = ref.Keypair.generate()
    a.call("peer_add", endpoint="tcp://127.0.0.1:9", key=friend.public.hex())
    peer = Peer(friend, a.key, a.endpoint)
    try:
        peer.hello()
    finally:
        peer.close()


def test_hello_with_another_hubs_key_is_ignored(hubs):
    """Hello's hub key must convert to the connection's transport key (§9.5 rule 5); each bad
    Hello counts in the session's `rejected` (§9.13)."""
    peer_kp, other = ref.Keypair.generate(), ref.Keypair.generate()
    a = hubs(name="hello", allow=[peer_kp.public.hex(), other.public.hex()])
    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        for _ in range(5):
            peer.send(ref.hello(other.public))
        assert peer.recv(timeout=2.0) is None
        a.wait_log("hello claims hub", timeout=10)
        peer.hello()  # its own key is fine
        row = peer_row(a, peer_kp.public.hex())
        assert row["direction"] == "in" and row["endpoint"].startswith("in:")
        assert row["rejected"] == 5, row
        assert peer_row(a, other.public.hex()) is None
    finally:
        peer.close()


@pytest.mark.slow
def test_inbound_session_without_hello_is_freed(hubs):
    """An inbound session that never says Hello is freed after 10 s (§9.4), so connections
    that say nothing cannot keep the session slots."""
    kp = ref.Keypair.generate()
    a = hubs(name="nohello", allow=[kp.public.hex()])
    peer = Peer(kp, a.key, a.endpoint)
    try:
        t0 = time.monotonic()
        peer.send(ref.want(os.urandom(32), 1, 1))  # anything but Hello opens a session
        wait_until(lambda: a.status()["peers"]["inbound"] == 1, timeout=10,
                   msg="no inbound session for the first message")
        assert peer.recv(timeout=0.5) is None  # nothing is answered before Hello
        assert a.call("peers")["peers"] == []  # a session without Hello is not listed
        wait_until(lambda: a.status()["peers"]["inbound"] == 0, timeout=20,
                   msg="the session without Hello was never freed")
        assert time.monotonic() - t0 >= 9.5
        peer.hello()  # the same connection may still start over with a Hello
        assert a.status()["peers"]["inbound"] == 1
    finally:
        peer.close()


def test_round_retried_while_the_peer_is_not_connected(hubs):
    """A dialler whose DEALER is not connected yet starts its round again after 200 ms
    (SYNC_RETRY_MS), not a whole interval later (§9.6)."""
    a = hubs(name="late", interval=60)
    a.stop()
    b = hubs(name="early", interval=60, peers=[(a.endpoint, a.key)])
    a.allow = [b.key]
    time.sleep(1.0)  # b's first round finds nobody
    assert peer_row(b, a.key)["state"] == "connecting"
    a.start()
    wait_until(lambda: (peer_row(b, a.key) or {}).get("state") == "up", timeout=20,
               msg="b waited for its next interval (60 s) instead of retrying")
    assert peer_row(b, a.key)["rounds"] == 1


def test_window_up_to_64_is_honoured(hubs):
    """[sync] window = 64 keeps 64 Wants outstanding on a session (SYNC_MAX_WINDOW, §9.9)."""
    kp = ref.Keypair.generate()
    a = hubs(name="window", policy="open", extra={"sync": {"window": 64}})
    peer = Peer(kp, a.key, a.endpoint)
    try:
        peer.hello()
        authors = [os.urandom(32) for _ in range(100)]
        for frame in ref.heads_messages([(au, 1, bytes(32)) for au in authors], reply=True):
            peer.send(frame)
        wants = []
        got = peer.recv(5.0)
        while got is not None:
            if got[0] == "want":
                wants.append(got[1].author)
            got = peer.recv(1.0)  # none is answered: the window stays full
        assert len(wants) == 64 and len(set(wants)) == 64 and set(wants) <= set(authors)
    finally:
        peer.close()


def test_retracted_endorsement_is_no_longer_trusted(hubs):
    """Under the endorsed policy the trusted set is recomputed when an endorsement is
    retracted (§9.10): the endorsed hub's entries are refused from then on."""
    b_kp, c_kp = ref.Keypair.generate(), ref.Keypair.generate()
    a = hubs(name="endorsed", policy="endorsed", hops=1, allow=[b_kp.public.hex()])
    base = a.status()["sync"]["trusted"]
    assert base == 2  # a itself and b
    ts = NOW() - 1000
    b_feed, c_feed = ref.Feed(b_kp, ts), ref.Feed(c_kp, ts)
    endorse = b_feed.next(6, "hub-c", ref.payload_from_json(6, {"hub": c_kp.public.hex()}))
    c1 = c_feed.next(1, "profile", mk_profile("Hub C"))
    assert a.call("import", entries=[_b64(endorse.wire)])["results"] == ["OK"]
    wait_until(lambda: a.status()["sync"]["trusted"] == base + 1, timeout=10,
               msg="the endorsement did not make c trusted")
    assert a.call("import", entries=[_b64(c1.wire)])["results"] == ["OK"]
    retract = b_feed.next(5, "hub-c", ref.canonical(ref.pb_entry().Retraction(
        target_kind=6, target_key="hub-c")))
    assert a.call("import", entries=[_b64(retract.wire)])["results"] == ["OK"]
    wait_until(lambda: a.status()["sync"]["trusted"] == base, timeout=10,
               msg="the retracted endorsement still trusts c")
    c2 = c_feed.next(2, "offer-1", mk_offer("After the retraction"))
    assert a.call("import", entries=[_b64(c2.wire)])["results"] == ["E_POLICY"]


# ---------------------------------------------------------------------------------------------
# Conformance: hubd and the reference implementation agree (digest, Heads, Want/Entries,
# purged form, validation results)


def import_vectors(hub, vectors):
    wires = [base64.b64encode(bytes.fromhex(v["wire"])).decode() for v in vectors]
    return hub.call("import", entries=wires)


def test_digest_heads_and_entries_match_reference(hubs):
    vectors = ref.load_vectors()
    authors = sorted({v["public_key"] for v in vectors})
    peer_kp = ref.Keypair.generate()
    a = hubs(name="conform", allow=authors + [peer_kp.public.hex()])
    r = import_vectors(a, vectors)
    assert r["results"] == ["OK"] * len(vectors), r

    store = ref.MemoryStore()
    assert store.ingest([bytes.fromhex(v["wire"]) for v in vectors], NOW()) == ["OK"] * len(vectors)
    heads = store.head_list()
    assert {au.hex(): (s, i.hex(), False) for au, s, i in heads} == heads_of(a)

    peer = Peer(peer_kp, a.key, a.endpoint)
    try:
        peer.hello()
        # Same digest: the dialled hub answers with its Summary (in sync), nothing else.
        peer.send(ref.summary(heads))
        m = peer.expect("summary")
        assert m.digest == ref.digest(heads) and m.feeds == len(heads)
        # Another digest: the hub sends its Heads list (reply = false), in author order.
        peer.send(ref.summary([]))
        m = peer.expect("heads")
        assert not m.reply and m.last
        assert [(h.author, h.seq, h.id) for h in m.heads] == heads
        # Our (empty) Heads list, reply = false: the hub answers with its list, reply = true.
        for frame in ref.heads_messages([], reply=False):
            peer.send(frame)
        m = peer.expect("heads")
        assert m.reply and m.last and [(h.author, h.seq, h.id) for h in m.heads] == heads
        # Want A's feed: the retracted offer comes back in the purged form of §4.6.
        A = bytes.fromhex(vectors[0]["public_key"])
        peer.send(ref.want(A, 1, 10))
        m = peer.expect("entries", pred=lambda m: m.author == A)
        a_vectors = [v for v in vectors if v["public_key"] == A.hex()]
        assert len(m.entries) == len(a_vectors)
        for got, v in zip(m.entries, a_vectors):
            e = ref.validate_entry(got, NOW())
            assert e.id.hex() == v["id"]
            if v["name"] == "a-offer":  # withdrawn by a-retraction: payload purged
                assert got == ref.decode_entry(bytes.fromhex(v["wire"])).purged_wire()
                assert not e.payload_present
            else:
                assert got.hex() == v["wire"]
        # count limits the batch; from_seq in the middle
        peer.send(ref.want(A, 2, 1))
        m = peer.expect("entries", pred=lambda m: m.author == A and m.from_seq == 2)
        assert len(m.entries) == 1 and ref.decode_entry(m.entries[0]).seq == 2
    finally:
        peer.close()


# Mutated vectors whose result in hubd differs from PROTOCOL.md (listed there as "hubd 0.1.0"
# notes). Each runs on a hub of its own (hubd may store it) and is expected to fail until hubd
# is fixed (strict: an XPASS fails the run, so that the note and this entry are removed); every
# other mutation must get exactly the reference's error.
# Mutations where hubd departs from PROTOCOL.md (none at present): run as xfail(strict).
HUBD_DISCREPANCIES: dict = {}


def _mutations():
    import test_vectors
    return test_vectors.MUTATIONS, test_vectors.A


@pytest.fixture(scope="module")
def mutant_hub():
    from hubtest import HubFactory
    factory = HubFactory()
    hub = factory(name="mutants", allow=[ref.load_vectors()[0]["public_key"]])
    yield hub
    problems = factory.cleanup()
    assert not problems, problems


def _import_result(hub, wire):
    return hub.call("import", entries=[base64.b64encode(wire).decode()])["results"]


@pytest.mark.parametrize("name", sorted(set(_mutations()[0]) - set(HUBD_DISCREPANCIES)))
def test_hubd_refuses_mutated_vectors_like_the_reference(mutant_hub, name):
    err, make = _mutations()[0][name]
    assert _import_result(mutant_hub, make()) == [err], name
    assert heads_of(mutant_hub) == {}  # nothing stored


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=why, strict=True))
    for n, why in sorted(HUBD_DISCREPANCIES.items())])
def test_hubd_discrepant_mutations(hubs, name):
    mutations, A = _mutations()
    err, make = mutations[name]
    hub = hubs(name="discrepant", allow=[A["public_key"]])
    assert _import_result(hub, make()) == [err], name
    assert heads_of(hub) == {}


def _b64(w):
    return base64.b64encode(w).decode()


# ---------------------------------------------------------------------------------------------
# Defects of hubd 0.1.0 that are fixed: PROTOCOL.md no longer has notes for them.


def test_digest_leaves_out_forked_feeds(hubs):
    """§9.6: the digest covers exactly the feeds Heads lists (not frozen ones)."""
    kp, leaked = ref.Keypair.generate(), ref.Keypair.generate()
    a = hubs(name="digest", allow=[kp.public.hex(), leaked.public.hex()])
    peer = Peer(kp, a.key, a.endpoint)
    try:
        peer.hello()
        ts = NOW() - 1000
        e = ref.build_entry(kp, seq=1, prev=None, timestamp=ts, kind=1, key="profile",
                            payload=mk_profile("P"))
        f1, f1b = (ref.build_entry(leaked, seq=1, prev=None, timestamp=ts + i, kind=1,
                                   key="profile", payload=mk_profile(f"F{i}")) for i in (0, 1))
        peer.supply(kp.public, 1, [e.wire])
        peer.supply(leaked.public, 1, [f1.wire])
        wait_until(lambda: len(heads_of(a)) == 2, timeout=10)
        peer.supply(leaked.public, 2, [f1b.wire])
        wait_until(lambda: a.status()["forks"], timeout=10)
        peer.drain()
        peer.send(ref.summary([(kp.public, 1, e.id)]))  # the feeds the hub lists in Heads
        arm, _ = peer.recv(5.0)
        assert arm == "summary", "digest over non-forked feeds not recognised as in sync"
    finally:
        peer.close()


def test_hello_with_negated_key_is_ignored(hubs):
    """§9.5 rule 5: the negated key -A converts to A's transport key, but Hello must name the
    trusted hub A itself."""
    kp = ref.Keypair.generate()
    neg = bytearray(kp.public)
    neg[31] ^= 0x80  # -A: same Edwards y, other sign of x; same X25519 key
    neg = bytes(neg)
    assert ref.curve_public(neg) == kp.curve_public and neg != kp.public
    a = hubs(name="negated", allow=[kp.public.hex()])
    peer = Peer(kp, a.key, a.endpoint)
    try:
        for _ in range(5):
            peer.send(ref.hello(neg))
        assert peer.recv(timeout=2.0) is None, "hub accepted a Hello for a key it does not trust"
        a.wait_log("hello claims hub", timeout=10)
        peer.hello()  # A itself, on the same connection, is fine
        assert peer_row(a, kp.public.hex())["rejected"] == 5
        assert peer_row(a, neg.hex()) is None
    finally:
        peer.close()


def test_payload_less_retraction_is_refused(hubs):
    """§5 step 15: a retraction without its payload is refused, so that the complete copy can
    still withdraw the record."""
    vs = {v["name"]: v for v in ref.load_vectors()}
    a = hubs(name="retract", allow=[vs["a-profile"]["public_key"]])
    w = {n: bytes.fromhex(v["wire"]) for n, v in vs.items()}
    assert a.call("import", entries=[_b64(w["a-profile"]), _b64(w["a-offer"])])["results"] == \
        ["OK", "OK"]
    stripped = ref.decode_entry(w["a-retraction"]).purged_wire()
    assert a.call("import", entries=[_b64(stripped)])["results"] == ["E_PAYLOAD_HASH"]
    assert len(a.query(kind="offer")) == 1
    assert a.call("import", entries=[_b64(w["a-retraction"])])["results"] == ["OK"]
    assert a.query(kind="offer") == []  # withdrawn after all


# ---------------------------------------------------------------------------------------------
# What PROTOCOL.md requires and hubd does not do yet (its "hubd 0.1.0" notes). Expected to fail
# until hubd is fixed (strict: an XPASS fails the run, so that the note and the marker go).


def test_retraction_with_empty_payload_is_accepted(hubs):
    v = ref.load_vectors()[0]
    a = hubs(name="emptyretr", allow=[v["public_key"]])
    e = ref.build_entry(ref.Keypair.from_seed(bytes.fromhex(v["seed"])), seq=1, prev=None,
                        timestamp=NOW() - 1000, kind=5, key="nothing", payload=b"")
    assert a.call("import", entries=[_b64(e.wire)])["results"] == ["OK"]


def test_complete_copy_restores_a_stripped_payload(hubs):
    v = ref.load_vectors()[0]
    a = hubs(name="stripped", allow=[v["public_key"]])
    full = bytes.fromhex(v["wire"])
    stripped = ref.decode_entry(full).purged_wire()
    assert a.call("import", entries=[_b64(stripped)])["results"] == ["OK"]
    assert a.query(kind="profile") == []  # payload-less: not visible
    a.call("import", entries=[_b64(full)])
    assert len(a.query(kind="profile")) == 1


# ---------------------------------------------------------------------------------------------
# Flooding: one peer sending as fast as it can must not starve the control socket or the
# other peers (§9.9: 20000 messages per session and second, 20 ms per socket and loop turn)


class Flood:
    """Sends `frames` (cycled; with every 16th step also a 2-frame message) on a Peer's
    socket as fast as the hub takes them, from a thread of its own, until stop(). The Peer's
    socket belongs to this thread while it runs."""

    def __init__(self, peer: Peer, frames):
        import threading
        self.peer, self.frames = peer, list(frames)
        self.sent = 0
        self.blocked = 0  # times the socket was full (the hub reads no faster)
        self.error = None
        self.started = self.ended = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flood", daemon=True)

    def _run(self):
        sock, frames, n = self.peer.sock, self.frames, len(self.frames)
        i = 0
        try:
            while not self._stop.is_set():
                try:
                    if i % 16 == 15:
                        sock.send_multipart([b"\x07junk", b"\x07more"], zmq.NOBLOCK)
                    else:
                        sock.send(frames[i % n], zmq.NOBLOCK)
                except zmq.Again:
                    self.blocked += 1
                    sock.poll(10, zmq.POLLOUT)
                    continue
                self.sent += 1
                i += 1
        except BaseException as e:  # reported by the main thread
            self.error = e
        finally:
            self.ended = time.monotonic()

    def start(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def running(self):
        return self._thread.is_alive()

    def elapsed(self):
        return (self.ended or time.monotonic()) - self.started

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the flood thread did not stop"
        assert self.error is None, f"the flood thread failed: {self.error!r}"


def _answer_within(hub, req, timeout):
    """hub's answer to req on a fresh control connection, failing (not raising a socket error)
    if it does not come within `timeout` seconds."""
    try:
        return hub.request(req, timeout=timeout)
    except (TimeoutError, OSError, EOFError) as e:
        pytest.fail(f"{hub.name}: no answer to {req} within {timeout} s during the flood: {e!r}")


FLOOD_MIN_S = 5.0
FLOOD_REPLY_TIMEOUT = 5.0  # per control request: generous, the machines are shared


def test_flooding_peer_does_not_starve_others(hubs):
    p_kp = ref.Keypair.generate()
    P = p_kp.public
    h = hubs.new("flooded", allow=[P.hex()])
    g = hubs.new("honest-g")
    # Keys exist once a hub has run: start both once, then configure G to dial H and H to
    # trust G (as well as the hostile P), and start them again.
    for x in (h, g):
        x.start()
        assert x.key
        x.stop()
    h.allow.append(g.key)
    g.peers = [f"{h.endpoint} {h.key}"]
    h.start()
    g.start()
    wait_until(lambda: (peer_row(g, h.key) or {}).get("state") == "up", timeout=15,
               msg="g never up on h")
    warm = g.publish("offer", {"title": "Before the flood", "topics": ["digital-skills"]})
    wait_until(lambda: h.get(warm["id"])["ok"], timeout=15, msg="g's record never reached h")

    peer = Peer(p_kp, h.key, h.endpoint)
    try:
        peer.hello()
        # Junk (never a valid SyncMsg: field number 0), Summaries with digests H does not have
        # (each answered with H's Heads list), Wants for feeds H does not hold (each answered
        # with an empty Entries), and every 16th a 2-frame message.
        rnd = random.Random(11)
        frames = []
        for _ in range(64):
            frames.append(b"\x07" + rnd.randbytes(rnd.randrange(8, 200)))
            frames.append(ref.summary([(rnd.randbytes(32), 1, rnd.randbytes(32))]))
            frames.append(ref.want(rnd.randbytes(32), 1, 512))
        flood = Flood(peer, frames).start()
        try:
            wait_until(lambda: flood.sent >= 5000 or not flood.running(), timeout=10,
                       msg="the flood never got going")
            assert flood.running(), f"the flood stopped early: {flood.error!r}"
            flood_on_ms = NOW()
            rec = g.publish("offer", {"title": "Published during the flood",
                                      "topics": ["cybersecurity"]})
            # Until the record is on H, G has heard from H and the flood has lasted
            # FLOOD_MIN_S: every status request is answered (each within FLOOD_REPLY_TIMEOUT).
            # The record may come by live push (H's SUB on G's PUB); G hears from H only if H
            # reads G's Hello and Summary (every interval, 1 s) off the ROUTER P floods.
            answers, arrived, g_heard, slowest = 0, None, None, 0.0
            deadline = time.monotonic() + 60
            while arrived is None or g_heard is None or flood.elapsed() < FLOOD_MIN_S:
                assert flood.running(), f"the flood stopped early: {flood.error!r}"
                t = time.monotonic()
                st = _answer_within(h, {"op": "status"}, FLOOD_REPLY_TIMEOUT)
                slowest = max(slowest, time.monotonic() - t)
                assert st["ok"], st
                answers += 1
                if arrived is None and _answer_within(h, {"op": "get", "id": rec["id"]},
                                                      FLOOD_REPLY_TIMEOUT)["ok"]:
                    arrived = flood.elapsed()
                if g_heard is None and (peer_row(g, h.key) or {}).get("last_heard", 0) > \
                        flood_on_ms:
                    g_heard = flood.elapsed()
                assert time.monotonic() < deadline, (
                    f"within 60 s of flooding: g's record on h: {arrived is not None}, g heard "
                    f"from h: {g_heard is not None} ({flood.sent} messages sent, {answers} "
                    f"status answers)")
                time.sleep(0.05)
            assert flood.running()  # all of the above happened while P was flooding
        finally:
            flood.stop()
        print(f"flood: {flood.sent} messages in {flood.elapsed():.1f} s "
              f"({flood.blocked} times blocked); {answers} status answers, slowest "
              f"{slowest:.3f} s; g's record on h after {arrived:.2f} s of flooding, g heard "
              f"from h after {g_heard:.2f} s")
        assert flood.sent >= 20000, f"only {flood.sent} messages sent: not a flood"
    finally:
        peer.close()

    # Afterwards: H is fine, G is still up on H, and P's session shows what was thrown away.
    assert h.running() and h.status()["ok"]
    assert (peer_row(h, g.key) or {}).get("state") == "up", peer_row(h, g.key)
    row = peer_row(h, P.hex())
    assert row is not None and row["direction"] == "in", row
    summary_lines = [ln for ln in h.log_lines()
                     if f"peer {P.hex()[:8]} in the last minute:" in ln and "over the rate limit" in ln]
    print(f"P's session on h: rejected {row['rejected']}, received bytes "
          f"{row['bytes_received']}; log summary: {summary_lines}")
    # Junk frames and 2-frame messages are counted in `rejected` (§9.13); what exceeds the rate
    # limit is dropped unread and only the once-a-minute log summary counts it.
    assert row["rejected"] >= 1000 or summary_lines, (row, summary_lines)
    after = g.publish("offer", {"title": "After the flood", "topics": ["digital-skills"]})
    wait_until(lambda: h.get(after["id"])["ok"], timeout=15,
               msg="g's record published after the flood never reached h")
    assert h.running() and h.status()["ok"]


def test_live_push_flood_does_not_use_up_the_peers_request_budget(hubs):
    """A peer relaying a catch-up pushes ~20k entries a second (every accepted entry is
    published once). Those pushes count against a budget of their own (§9.9): they must not
    use up the 20000 messages a second the peer's Wants are allowed, or its Wants are dropped
    unread (a bug seen in catch-up benchmarks: the catch-up stalled until Wants timed out)."""
    import threading
    p_kp = ref.Keypair.generate()
    P = p_kp.public
    h = hubs(name="pushed", allow=[P.hex()])
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.CURVE_SERVER, 1)
    pub.setsockopt(zmq.CURVE_SECRETKEY, p_kp.curve_secret)
    pub.setsockopt(zmq.SNDHWM, 100000)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    peer = Peer(p_kp, h.key, h.endpoint)
    stop = threading.Event()
    pushed = [0]
    try:
        # Hello with our PUB port: the hub subscribes to it. Then one valid entry of P.
        deadline = time.monotonic() + 10
        while True:
            peer.send(ref.hello(P, port))
            got = peer.recv(1.0)
            if got is not None and got[0] == "hello":
                break
            assert time.monotonic() < deadline, "the hub never answered Hello"
        e1 = ref.Feed(p_kp, NOW() - 60_000).next(1, "profile", mk_profile("Pushing hub"))
        peer.supply(P, 1, [e1.wire])
        wait_until(lambda: heads_of(h).get(P.hex()), timeout=10, msg="e1 not stored")
        wait_until(lambda: (peer_row(h, P.hex()) or {}).get("live"), timeout=10,
                   msg="the hub never subscribed to the peer's PUB")

        def flood():  # e1 again and again: each one is screened as a duplicate
            while not stop.is_set():
                for _ in range(1000):
                    pub.send(e1.wire)
                pushed[0] += 1000

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        time.sleep(0.5)
        before = (peer_row(h, P.hex()) or {}).get("bytes_received", 0)
        t0 = time.monotonic()
        answered = 0
        for i in range(20):  # 20 Wants over 2 s, each must be answered
            peer.send(ref.want(P, 1, 1))
            m = peer.expect("entries", timeout=5.0, pred=lambda m: m.author == P)
            assert len(m.entries) == 1
            answered += 1
            time.sleep(0.1)
        took = time.monotonic() - t0
        got_bytes = (peer_row(h, P.hex()) or {}).get("bytes_received", 0) - before
    finally:
        stop.set()
        time.sleep(0.1)
        peer.close()
        pub.close(linger=0)
    rate = got_bytes / len(e1.wire) / took
    print(f"pushes: {pushed[0]} sent; the hub read ~{rate:.0f} a second; "
          f"{answered} of 20 Wants answered in {took:.1f} s")
    assert answered == 20
    assert h.running() and h.status()["ok"]


def test_sync_message_with_field_number_2_29_is_refused(hubs):
    """PROTOCOL.md §3.2 applies to SyncMsg too: a tag of field number 2^29 (an unknown field to
    protobuf-c, which would read the rest of the message as if it were not there) makes the
    whole message E_DECODE, counted against the peer, and nothing of it is acted upon."""
    kp = ref.Keypair.generate()
    a = hubs(name="strict-sync", allow=[kp.public.hex()])
    peer = Peer(kp, a.key, a.endpoint)
    try:
        peer.hello()
        ok = ref.summary([])
        peer.send(ok)
        wait_until(lambda: rejected(a, kp.public.hex()) == 0, timeout=10,
                   msg="the peer's session never showed")
        # field 2^29, varint: tag (2^29 << 3) | 0 = 2^32, five bytes 80 80 80 80 10, value 0
        bad = ok + bytes([0x80, 0x80, 0x80, 0x80, 0x10, 0x00])
        with pytest.raises(ref.EntryError):
            ref.decode_sync(bad)
        peer.send(bad)
        wait_until(lambda: rejected(a, kp.public.hex()) >= 1, timeout=10,
                   msg="a SyncMsg with field number 2^29 was not refused")
        assert a.running()
    finally:
        peer.close()
