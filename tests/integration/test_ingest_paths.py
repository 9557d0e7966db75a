"""Every rejection rule for every kind through a real hubd, on both of its ingest paths.

hubd checks a batch of foreign entries one of two ways (node/core/node.c): below NODE_PIPE_MIN (512)
screened entries it checks them all, then stores them; from 512 on (with more than one core)
worker threads check signatures and payloads while the store appends them (a pipeline). Both
must give each entry exactly the verdict of PROTOCOL.md §5 and §7.1. The verdicts here come
from the independent reference implementation (hubnet_ref.MemoryStore), and hubd must match it
one case at a time (small imports), in one import of 512+ entries (the pipeline, the path a
catch-up takes), and over the sync protocol, where a peer answers a Want with a big Entries
batch holding one bad entry: the feed is stored up to it and the rest is a gap.

Also (§6.5): a complete copy of an entry whose record was retracted, or retracted and then
published again, does not bring its payload back, on either path.

The unit test tests/unit/test_ingest.c runs the full matrix (every rule, every kind, both paths,
also the writer thread); this file shows the running daemon behaves the same.
"""

import base64
import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubtest import wait_until  # noqa: E402
from test_hostile_peer import Peer, heads_of  # noqa: E402

NOW = lambda: int(time.time() * 1000)  # noqa: E731
PIPE_MIN = 512  # NODE_PIPE_MIN in node/core/node_priv.h
TOPIC = "ingest-paths"
KINDS = {1: "profile", 2: "offer", 3: "request", 4: "response", 5: "retraction",
         6: "endorsement"}
TARGET = bytes(range(32))


def b64(w: bytes) -> str:
    return base64.b64encode(w).decode()


def good_payload(kind: int) -> bytes:
    return {
        1: lambda: ref.payload_from_json(1, {"name": "Hub", "topics": [TOPIC]}),
        2: lambda: ref.payload_from_json(2, {"title": "Offer", "topics": [TOPIC]}),
        3: lambda: ref.payload_from_json(3, {"title": "Request", "topics": [TOPIC]}),
        4: lambda: ref.field_bytes(1, TARGET) + ref.field_varint(5, 1),
        5: lambda: ref.field_varint(1, 2) + ref.field_bytes(2, b"gone"),
        6: lambda: ref.field_bytes(1, TARGET) + ref.field_bytes(3, TOPIC.encode()),
    }[kind]()


# a one-line string field of each kind (control characters refused), a repeated one, a bytes one
ONE_LINE = {1: 1, 2: 1, 3: 1, 4: 4, 5: 3, 6: 3}
LIST = {1: 7, 2: 3, 3: 3, 6: 3}
BYTES = {4: 1, 6: 1}


def payload_rule(kind: int, rule: str):
    """(payload, expected result) of a payload rule for kind, or None if it does not apply."""
    head = good_payload(5) if kind == 5 else b""
    if rule == "p_control":
        return head + ref.field_bytes(ONE_LINE[kind], b"a\x01z"), "E_RANGE"
    if rule == "p_undecodable":
        return b"\x0a\x05ab", "E_DECODE"
    if rule == "p_list_33" and kind in LIST:
        return b"".join(ref.field_bytes(LIST[kind], b"t") for _ in range(33)), "E_TOO_LARGE"
    if rule == "p_bytes_31" and kind in BYTES:
        return ref.field_bytes(BYTES[kind], bytes(31)), "E_RANGE"
    if rule == "p_no_target" and kind == 5:
        return ref.field_bytes(3, b"why"), "E_DECODE"
    return None


HEADER_RULES = ["sig_other", "sig_flip", "payload_flip", "psize", "ts_future", "ts_back",
                "version", "key_ctrl", "prev", "gap", "stripped"]
PAYLOAD_RULES = ["p_control", "p_undecodable", "p_list_33", "p_bytes_31", "p_no_target"]


class Case:
    """One rule for one kind: a feed [valid seq 1, the bad entry, the valid seq 3]. For a
    retraction, seq 1 is the offer "gone" that the (bad) retraction names."""

    def __init__(self, kind: int, rule: str, now: int):
        self.kind, self.rule = kind, rule
        self.me, self.other = ref.Keypair.generate(), ref.Keypair.generate()
        self.wires, self.bad = [], None
        f = ref.Feed(self.me, now - 3_600_000)
        k1 = 2 if kind == 5 else kind
        f.next(k1, "gone" if kind == 5 else "k1", good_payload(k1))
        self.wires.append(f.head.wire)
        f.timestamp += 1000
        pay = good_payload(kind)
        good = f.next(kind, "k2", pay, append=False)
        want = None
        if rule in HEADER_RULES:
            bad = good.wire
            if rule == "sig_other":
                bad = ref.sign_header(self.other, good.header, pay)
                want = "E_SIGNATURE"
            elif rule == "sig_flip":
                bad = ref.encode_signed_entry(good.header, bytes([good.signature[0] ^ 1]) +
                                              good.signature[1:], pay)
                want = "E_SIGNATURE"
            elif rule == "payload_flip":
                bad = ref.encode_signed_entry(good.header, good.signature,
                                              pay[:-1] + bytes([pay[-1] ^ 1]))
                want = "E_PAYLOAD_HASH"
            elif rule == "psize":
                bad = f.next(kind, "k2", pay, append=False,
                             header_fields={"payload_size": len(pay) + 1}).wire
                want = "E_PAYLOAD_HASH"
            elif rule == "ts_future":
                bad = f.next(kind, "k2", pay, append=False,
                             timestamp=now + 11 * 60_000).wire
                want = "E_TIMESTAMP"
            elif rule == "ts_back":
                bad = f.next(kind, "k2", pay, append=False, timestamp=f.timestamp - 5000).wire
                want = "E_TIMESTAMP"
            elif rule == "version":
                bad = f.next(kind, "k2", pay, append=False, header_fields={"version": 2}).wire
                want = "E_VERSION"
            elif rule == "key_ctrl":
                bad = f.next(kind, "k\t2", pay, append=False).wire
                want = "E_FIELD"
            elif rule == "prev":
                bad = f.next(kind, "k2", pay, append=False, header_fields={"prev": bytes(32)}).wire
                want = "E_PREV"
            elif rule == "gap":
                bad = None
            elif rule == "stripped":
                bad = good.purged_wire()
                want = "E_PAYLOAD_HASH" if kind == 5 else "OK"
        else:
            pr = payload_rule(kind, rule)
            if pr is None:
                raise ValueError("rule does not apply")
            bad_pay, want = pr
            bad = f.next(kind, "k2", bad_pay, append=False).wire
        self.bad = bad
        self.want_bad = want
        if bad is not None:
            self.wires.append(bad)
        f.entries.append(good)  # seq 3 chains on what seq 2 should have been
        f.timestamp += 1000
        k3 = ref.field_varint(1, 3) + ref.field_bytes(2, b"other") if kind == 5 else pay
        self.wires.append(f.next(kind, "k3", k3).wire)

    @property
    def name(self):
        return f"{self.rule}/{KINDS[self.kind]}"


def all_cases(now: int):
    out = []
    for kind in KINDS:
        for rule in HEADER_RULES + PAYLOAD_RULES:
            try:
                out.append(Case(kind, rule, now))
            except ValueError:
                pass
    return out


def padding(n: int, now: int):
    """n valid offers of fresh feeds (48 per feed)."""
    wires = []
    f = None
    for i in range(n):
        if i % 48 == 0:
            f = ref.Feed(ref.Keypair.generate(), now - 7_200_000)
        wires.append(f.next(2, f"pad{i}", ref.payload_from_json(
            2, {"title": f"Padding {i}", "topics": ["padding"]})).wire)
        f.timestamp += 1
    return wires


def import_results(hub, wires):
    r = hub.call("import", entries=[b64(w) for w in wires])
    assert len(r["results"]) == len(wires)
    return r["results"]


def test_every_rule_every_kind_small_and_pipelined(hubs):
    now = NOW()
    cases = all_cases(now)
    # the reference's verdicts, case by case (each case is its own feed)
    for c in cases:
        ref_res = ref.MemoryStore().ingest(c.wires, now)
        if c.bad is not None:
            assert ref_res[1] == c.want_bad, (c.name, ref_res)
        c.ref = ref_res
    small = hubs(name="small", policy="open")
    big = hubs(name="pipelined", policy="open")

    # small path: one import per case
    for c in cases:
        got = import_results(small, c.wires)
        assert got == c.ref, f"{c.name} (small path): hubd {got}, reference {c.ref}"

    # pipelined path: every case in one import, shuffled, with valid padding to 512+ entries
    batch = [(c, i) for c in cases for i in range(len(c.wires))]
    pad = padding(max(0, PIPE_MIN + 16 - len(batch)), now)
    batch += [(None, w) for w in pad]
    random.Random(7).shuffle(batch)
    wires = [c.wires[i] if c else i for c, i in batch]
    assert len(wires) >= PIPE_MIN
    got = import_results(big, wires)
    bad = []
    for (c, i), res in zip(batch, got):
        want = c.ref[i] if c else "OK"
        if res != want:
            bad.append(f"{c.name if c else 'padding'}[{i if c else '-'}]: {res} != {want}")
    assert not bad, f"pipelined path ({len(wires)} entries) differs: {bad[:20]}"

    # the same state on both hubs: every feed's head, and the offer "gone" of each retraction
    # case is withdrawn only where the author's own valid retraction was accepted
    hs, hb = heads_of(small), heads_of(big)
    for c in cases:
        a = c.me.public.hex()
        assert hs.get(a) == hb.get(a), c.name
        if c.kind == 5:
            visible = {r["key"] for r in big.query(author=a, kind="offer")}
            withdrawn = c.ref[1] == "OK" and c.rule != "stripped" and c.bad is not None
            assert ("gone" not in visible) == withdrawn, (c.name, visible)


def test_forged_and_foreign_retractions_withdraw_nothing(hubs):
    """A retraction signed with another key in the author's name is refused; a valid one by
    another hub names only that hub's records: the author's offer stays, on both paths."""
    now = NOW()
    for size in (1, PIPE_MIN + 8):
        hub = hubs(name=f"forged{size}", policy="open")
        me, mallory = ref.Keypair.generate(), ref.Keypair.generate()
        f = ref.Feed(me, now - 60_000)
        offer = f.next(2, "gone", good_payload(2))
        f.timestamp += 1
        retr = f.next(5, "gone", good_payload(5), append=False)
        forged = ref.sign_header(mallory, retr.header, good_payload(5))
        foreign = ref.build_entry(mallory, seq=1, prev=None, timestamp=now - 1000, kind=5,
                                  key="gone", payload=good_payload(5))
        assert import_results(hub, [offer.wire]) == ["OK"]
        pad = padding(size - 2, now) if size > 1 else []
        got = import_results(hub, [forged, foreign.wire] + pad)
        assert got[:2] == ["E_SIGNATURE", "OK"], got[:2]
        assert got[2:] == ["OK"] * len(pad)
        assert [r["key"] for r in hub.query(author=me.public.hex(), kind="offer")] == ["gone"]
        # the author's own retraction does withdraw it
        assert import_results(hub, [retr.wire]) == ["OK"]
        assert hub.query(author=me.public.hex(), kind="offer") == []


def serve(peer, answers, timeout=0.2):
    """Answer the hub's Wants: from `answers` ({author: wires}, from seq 1) the first time,
    empty (nothing more here) after that, so that re-asks after a gap do not fill the window.
    Returns the authors whose Want was answered with entries."""
    served = []
    got = peer.recv(timeout)
    while got is not None:
        arm, m = got
        if arm == "want":
            wires = answers.pop(m.author, None) if m.from_seq == 1 else None
            peer.send(ref.entries_msg(m.author, m.from_seq, wires or []))
            if wires:
                served.append(m.author)
        got = peer.recv(0.05)
    return served


def test_big_entries_answer_with_one_bad_entry(hubs):
    """Over sync: a peer answers the hub's Want with 600 entries of one feed, one of them bad
    (a forgery, a broken payload hash, a payload that fails §7.1), for every kind: the hub
    stores the feed up to the bad entry, no further, and the rest is a gap (asked again); a
    forged signature inside the run is stored on the hash chain and stops the feed's serving
    once checked (PROTOCOL.md 9.16)."""
    now = NOW()
    hub = hubs(name="victim", policy="open")
    peer_kp = ref.Keypair.generate()
    peer = Peer(peer_kp, hub.key, hub.endpoint)
    n = 600
    expect, stopped = {}, []
    try:
        peer.hello()
        for kind in KINDS:
            for v, how in enumerate(("sig_other", "payload_flip", "p_control")):
                kp, other = ref.Keypair.generate(), ref.Keypair.generate()
                at = [0, n // 2, n - 1][(kind + v) % 3]  # 0-based position of the bad one
                f = ref.Feed(kp, now - 3_600_000)
                wires = []
                for i in range(n):
                    key = f"e{i}"
                    pay = good_payload(kind) if kind != 5 else \
                        ref.field_varint(1, 2) + ref.field_bytes(2, key.encode())
                    if i != at:
                        wires.append(f.next(kind, key, pay).wire)
                        continue
                    if how == "p_control":
                        wires.append(f.next(kind, key, payload_rule(kind, how)[0],
                                            append=False).wire)
                        f.next(kind, key, pay)  # the rest chains on the valid one
                    else:
                        e = f.next(kind, key, pay)
                        wires.append(
                            ref.sign_header(other, e.header, pay) if how == "sig_other" else
                            ref.encode_signed_entry(e.header, e.signature,
                                                    pay[:-1] + bytes([pay[-1] ^ 1])))
                assert ref.MemoryStore().ingest(wires, now)[at] != "OK"
                # a Heads list claiming the feed makes the hub ask for it
                answers = {kp.public: wires}
                peer.send(ref.encode_sync("heads", heads=[(kp.public, n, bytes(32))],
                                          reply=True, last=True))
                def answered():
                    serve(peer, answers)
                    return not answers
                wait_until(answered, timeout=30)
                if how == "sig_other" and 0 < at < n - 1:
                    # inside a run whose newest entry checks: stored on the hash chain, its
                    # own signature checked afterwards; the feed is served up to the entry
                    # before it (PROTOCOL.md 9.16)
                    expect[kp.public.hex()] = (n, f.entries[n - 1].id.hex())
                    stopped.append({"author": kp.public.hex(), "seq": at + 1})
                else:
                    expect[kp.public.hex()] = (at, f.entries[at - 1].id.hex() if at else None)

        def stored():
            serve(peer, {}, 0.05)
            h = heads_of(hub)
            return all((h.get(a) or (0, None, False))[:2] == (at, hid)
                       for a, (at, hid) in expect.items())
        wait_until(stored, timeout=60)
        key = lambda d: d["author"]
        wait_until(lambda: sorted(hub.status()["signatures"]["stopped"], key=key) ==
                   sorted(stopped, key=key), timeout=30,
                   msg="the deferred signature checks did not stop the forged feeds")
        assert stopped  # the case is exercised
        assert hub.running
    finally:
        peer.close()


@pytest.mark.parametrize("size", [1, PIPE_MIN + 8])
def test_complete_copy_of_a_retracted_entry(hubs, size):
    """§6.5: the complete copy of a version whose record was retracted stays purged, also
    when the record was published again after the retraction."""
    now = NOW()
    hub = hubs(name=f"restore{size}", policy="open")
    me = ref.Keypair.generate()
    f = ref.Feed(me, now - 60_000)
    v1 = f.next(2, "r", ref.payload_from_json(2, {"title": "One", "topics": ["restore-one"]}))
    f.timestamp += 1
    f.next(5, "r", ref.field_varint(1, 2) + ref.field_bytes(2, b"r"))
    assert import_results(hub, [e.wire for e in f.entries]) == ["OK", "OK"]
    for restarted in (False, True):
        if restarted:
            f.timestamp += 1
            f.next(2, "r", ref.payload_from_json(2, {"title": "Two", "topics": ["restore-two"]}))
            assert import_results(hub, [f.head.wire]) == ["OK"]
        pad = padding(size - 1, now) if size > 1 else []
        assert import_results(hub, [v1.wire] + pad) == ["E_DUPLICATE"] + ["OK"] * len(pad)
        assert not ref.decode_entry(hub.wire(v1.id.hex())).payload_present, \
            f"payload of a retracted version restored (restarted={restarted}, batch {size})"
        assert hub.query(topic="restore-one") == []
        assert len(hub.query(topic="restore-two")) == (1 if restarted else 0)


@pytest.mark.parametrize("size", [1, PIPE_MIN + 8])
def test_forged_endorsement_and_retraction_change_no_trust(hubs, size):
    """Under the endorsed policy (§9.10) an endorsement or a retraction of one forged in a
    trusted hub's name (signed with another key) is refused and changes nothing; the genuine
    ones do. In a batch of one and in one of 512+ (the trusted hub's own offers before it)."""
    b_kp, c_kp, mallory = (ref.Keypair.generate() for _ in range(3))
    a = hubs(name=f"endorse{size}", policy="endorsed", hops=1, allow=[b_kp.public.hex()])
    base = a.status()["sync"]["trusted"]
    ts = NOW() - 60_000
    b_feed, c_feed = ref.Feed(b_kp, ts), ref.Feed(c_kp, ts)

    def trusted():
        a.status()  # a turn of the loop after the import's: the policy is recomputed by then
        return a.status()["sync"]["trusted"]

    def forge_after_padding(kind, key, payload):
        """b's own offers (admitted), then kind/key/payload in b's name signed by mallory, in
        one import: the forgery's verdict, and the genuine entry (not sent) at its seq."""
        pad = [b_feed.next(2, f"pad{len(b_feed.entries)}", good_payload(2)).wire
               for _ in range(size - 1)]
        genuine = b_feed.next(kind, key, payload, append=False)
        got = import_results(a, pad + [ref.sign_header(mallory, genuine.header, payload)])
        assert got[:-1] == ["OK"] * len(pad)
        return got[-1], genuine

    got, endorse = forge_after_padding(6, "hub-c",
                                       ref.payload_from_json(6, {"hub": c_kp.public.hex()}))
    assert got == "E_SIGNATURE"
    assert trusted() == base
    c1 = c_feed.next(1, "profile", ref.payload_from_json(1, {"name": "Hub C"}))
    assert import_results(a, [c1.wire]) == ["E_POLICY"]
    b_feed.entries.append(endorse)  # the genuine one, at the same seq
    assert import_results(a, [endorse.wire]) == ["OK"]
    wait_until(lambda: a.status()["sync"]["trusted"] == base + 1, timeout=10,
               msg="the endorsement did not make c trusted")
    assert import_results(a, [c1.wire]) == ["OK"]

    got, _ = forge_after_padding(5, "hub-c",
                                 ref.field_varint(1, 6) + ref.field_bytes(2, b"hub-c"))
    assert got == "E_SIGNATURE"
    assert trusted() == base + 1
    c2 = c_feed.next(2, "offer-1", good_payload(2))
    assert import_results(a, [c2.wire]) == ["OK"]
