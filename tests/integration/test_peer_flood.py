"""Bounded memory against a peer (issue 9 item 1; PROTOCOL.md §9.9, §9.13).

A trusted peer that asks the same big ranges over and over (Want for 4,096 entries), reading the
answers or never reading them, must not grow hubd's memory without bound, bring it down, or
keep the control socket from answering. Requests beyond the answer window are deferred or
refused, counted per peer (`peers`: `deferred`, `refused`) and summarised in the log.

Also: Heads claiming absurd sequence numbers (2^63) are not shown as `behind` and never make a
hub ask anyone for its own feed; an unrequested Entries batch whose from_seq is the next wanted
seq is dropped unprocessed (§9.8); forked feeds are neither offered in Heads nor fetched (§9.7).
"""

import os
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubtest import wait_until  # noqa: E402
from test_hostile_peer import Peer, heads_of, mk_offer, mk_profile, peer_row  # noqa: E402

NOW = lambda: int(time.time() * 1000)  # noqa: E731
FEED_RECORDS = 30000
IMPORT_BATCH = 5000


def offer(i):
    return {"title": f"Flood workshop {i}: digital maturity assessment for municipalities",
            "description": "A long enough description to give each entry some weight. " * 4,
            "country": "AT", "languages": ["de"], "topics": ["digital-maturity-assessment"]}


def fill_own_feed(hub, n=FEED_RECORDS):
    for at in range(0, n, IMPORT_BATCH):
        r = hub.request({"op": "import",
                         "records": [{"kind": "offer", "record": offer(i)}
                                     for i in range(at, min(n, at + IMPORT_BATCH))]},
                        timeout=120)
        assert r["ok"] and r["accepted"] == min(IMPORT_BATCH, n - at), r
    assert hub.status()["entries"] >= n


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def never_reading_peer(kp, hub):
    """A DEALER that says Hello, then never reads again: a tiny receive buffer and HWM, so that
    what the hub sends piles up on the hub's side."""
    p = Peer.__new__(Peer)
    p.kp, p.hub, p.endpoint = kp, bytes.fromhex(hub.key), hub.endpoint
    p.ctx = zmq.Context.instance()
    s = p.ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, 1)
    s.setsockopt(zmq.RCVBUF, 4096)
    s.setsockopt(zmq.SNDHWM, 100000)
    s.setsockopt(zmq.CURVE_SERVERKEY, ref.curve_public(p.hub))
    s.setsockopt(zmq.CURVE_PUBLICKEY, kp.curve_public)
    s.setsockopt(zmq.CURVE_SECRETKEY, kp.curve_secret)
    s.connect(hub.endpoint)
    p.sock = s
    return p


def flood_wants(peer, author, n, start_seq=1, span=FEED_RECORDS, read=False):
    """n Wants of 4,096 entries each, cycling over the feed; returns how many were sent (a
    full send queue stops it: the hub reads no faster)."""
    sent = 0
    for i in range(n):
        frm = start_seq + (i * 4096) % span
        try:
            peer.sock.send(ref.want(author, frm, 4096), zmq.NOBLOCK)
        except zmq.Again:
            peer.sock.poll(50, zmq.POLLOUT)
            continue
        sent += 1
        if read:
            while peer.sock.poll(0):
                peer.sock.recv_multipart()
    return sent


def test_never_reading_peer_against_a_big_feed_does_not_bring_hubd_down(hubs):
    """The libzmq abort (`Assertion failed: !_io_error (src/stream_engine_base.cpp:331)`): a
    peer that asks for a 30,000-record feed over and over and never reads."""
    kp = ref.Keypair.generate()
    h = hubs(name="bigfeed", allow=[kp.public.hex()])
    fill_own_feed(h)
    own = bytes.fromhex(h.key)
    base_rss = rss_kib(h.pid)
    peers = []
    try:
        for round_ in range(3):
            p = never_reading_peer(kp, h)
            peers.append(p)
            p.send(ref.hello(kp.public, 0))
            # The hub's Hello comes back once the handshake is done; not read on purpose.
            wait_until(lambda: (peer_row(h, kp.public.hex()) or {}).get("state") == "up",
                       timeout=15, msg="the peer's session never came up")
            t_end = time.monotonic() + 8
            while time.monotonic() < t_end and h.running():
                flood_wants(p, own, 200)
                assert h.running(), f"hubd died: {h.log_lines()[-5:]}"
            assert h.running(), f"hubd died: {h.log_lines()[-5:]}"
            assert h.status()["ok"]
            p.close()  # and reconnect: a fresh connection with a full queue behind it
        rss = rss_kib(h.pid)
        row = peer_row(h, kp.public.hex())
        print(f"RSS before {base_rss} KiB, after {rss} KiB; peer row {row}")
        assert rss < base_rss + 1024 * 1024, (base_rss, rss)
    finally:
        for p in peers:
            p.close()
    assert h.running() and h.status()["ok"]


# ---------------------------------------------------------------------------------------------
# Wants for 4,096 entries over and over, reading and not reading


class WantFlood:
    """From a thread of its own: Wants for 4,096 entries of `author` (cycling over the feed) on
    the peer's socket as fast as the hub takes them; with read=True every answer is read too."""

    def __init__(self, peer, author, read):
        import threading
        self.peer, self.author, self.read = peer, author, read
        self.sent = self.answers = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        sock, i = self.peer.sock, 0
        try:
            while not self._stop.is_set():
                try:
                    sock.send(ref.want(self.author, 1 + (i * 4096) % FEED_RECORDS, 4096),
                              zmq.NOBLOCK)
                    self.sent += 1
                    i += 1
                except zmq.Again:
                    sock.poll(10, zmq.POLLOUT)
                while self.read and sock.poll(0):
                    sock.recv_multipart()
                    self.answers += 1
        except BaseException as e:  # reported by the main thread
            self.error = e

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()
        assert self.error is None, repr(self.error)


FLOOD_S = 8.0


def _flood_and_watch(h, flood, base_rss, bound):
    """Runs the flood for FLOOD_S seconds while status is asked; returns the peak RSS (early,
    once it is over bound: the machine is shared)."""
    peak, answers = base_rss, 0
    t_end = time.monotonic() + FLOOD_S
    flood.start()
    try:
        while time.monotonic() < t_end and peak < bound:
            assert h.running(), f"hubd died: {h.log_lines()[-5:]}"
            st = h.request({"op": "status"}, timeout=10)
            assert st["ok"], st
            answers += 1
            peak = max(peak, rss_kib(h.pid))
            time.sleep(0.05)
    finally:
        flood.stop()
    return peak, answers


def test_want_flood_keeps_memory_bounded_and_is_counted(hubs):
    kp = ref.Keypair.generate()
    h = hubs(name="wantflood", allow=[kp.public.hex()])
    fill_own_feed(h)
    own = bytes.fromhex(h.key)
    # Unflooded: an honest peer fetches the whole feed once (so the store's pages are in).
    honest = Peer(kp, h.key, h.endpoint)
    try:
        honest.hello()
        got = 0
        while got < FEED_RECORDS:
            honest.send(ref.want(own, got + 1, 4096))
            m = honest.expect("entries", pred=lambda m: m.from_seq == got + 1)
            assert m.entries, f"no entries from {got + 1}"
            got += len(m.entries)
    finally:
        honest.close()
    base_rss = rss_kib(h.pid)
    bound = 2 * base_rss + 128 * 1024  # generous: the old code went to gigabytes

    for read in (True, False):
        p = Peer(kp, h.key, h.endpoint) if read else never_reading_peer(kp, h)
        try:
            if read:
                p.hello()
            else:
                p.send(ref.hello(kp.public, 0))
            wait_until(lambda: (peer_row(h, kp.public.hex()) or {}).get("state") == "up",
                       timeout=15)
            flood = WantFlood(p, own, read)
            peak, answers = _flood_and_watch(h, flood, base_rss, bound)
            row = peer_row(h, kp.public.hex())
            print(f"read={read}: {flood.sent} Wants sent, {flood.answers} answers read; RSS "
                  f"base {base_rss} KiB, peak {peak} KiB; {answers} status answers; row {row}")
            assert peak < bound, (read, base_rss, peak)
            # (each phase is a new connection, so a new session with its own counters)
            held = row["deferred"] + row["refused"]
            assert flood.sent > 1000, flood.sent
            assert held > 0, row  # what the window held back is counted per peer
            assert row["queued_bytes"] <= 16 * 2**20 + 8 * 2**20, row
        finally:
            p.close()
        assert h.running() and h.status()["ok"]

    # `hubctl peers` shows the counters too.
    out = h.ctl("--table", "peers", json=False)
    assert "HELD BACK" in out, out
    # A fresh honest peer is still served in full.
    again = Peer(kp, h.key, h.endpoint)
    try:
        again.hello()
        again.send(ref.want(own, 1, 10))
        m = again.expect("entries", timeout=20, pred=lambda m: m.from_seq == 1)
        assert len(m.entries) == 10
    finally:
        again.close()


# ---------------------------------------------------------------------------------------------
# Absurd claims in Heads


def test_absurd_heads_claims_are_not_behind_and_own_feed_not_asked(hubs):
    kp, other = ref.Keypair.generate(), ref.Keypair.generate()
    h = hubs(name="claims", allow=[kp.public.hex(), other.public.hex()])
    r = h.publish("offer", {"title": "Own record", "topics": ["digital-skills"]})
    assert r["ok"]
    own = bytes.fromhex(h.key)
    e1 = ref.Feed(kp, NOW() - 1000).next(1, "profile", mk_profile("P"))
    peer = Peer(kp, h.key, h.endpoint)
    try:
        peer.hello()
        base = peer_row(h, kp.public.hex())["rejected"]
        # 2^63 for the hub's own feed and for a feed it lacks, and one plausible claim (P at 1)
        # as the marker that the list was compared.
        peer.send(ref.encode_sync("heads", heads=sorted([(own, 2**63, bytes(32)),
                                                         (other.public, 2**63, bytes(32)),
                                                         (kp.public, 1, bytes(32))]),
                                  reply=True, last=True))
        wants = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = peer.recv(0.5)
            if got is None:
                if any(w.author == kp.public for w in wants):
                    break
                continue
            if got[0] == "want":
                wants.append(got[1])
        assert [w.author for w in wants] == [kp.public], \
            [(w.author.hex()[:8], w.from_seq, w.count) for w in wants]
        row = peer_row(h, kp.public.hex())
        assert row["behind_us"] == 1, row  # only the plausible claim
        assert row["rejected"] == base + 2, row  # the two absurd ones, counted
        peer.send(ref.entries_msg(kp.public, 1, [e1.wire]))
        wait_until(lambda: peer_row(h, kp.public.hex())["behind_us"] == 0, timeout=10)
        # A claim the peer cannot deliver stops counting as behind once its empty answer comes.
        peer.send(ref.encode_sync("heads", heads=[(other.public, 5, bytes(32))], reply=True,
                                  last=True))
        w = peer.expect("want", pred=lambda m: m.author == other.public)
        wait_until(lambda: peer_row(h, kp.public.hex())["behind_us"] == 5, timeout=10)
        peer.send(ref.entries_msg(other.public, w.from_seq, []))
        wait_until(lambda: peer_row(h, kp.public.hex())["behind_us"] == 0, timeout=10,
                   msg="an undelivered claim still counts as behind")
    finally:
        peer.close()
    out = h.ctl("peers", json=False)
    assert str(2**63) not in out and str(2**63 - 1) not in out, out


# ---------------------------------------------------------------------------------------------
# Issue 9 item 8(d): an unrequested Entries batch at the next wanted seq is not processed


def test_unrequested_entries_at_the_next_wanted_seq_are_dropped(hubs):
    kp, q = ref.Keypair.generate(), ref.Keypair.generate()
    h = hubs(name="unreq", allow=[kp.public.hex(), q.public.hex()])
    peer = Peer(kp, h.key, h.endpoint)
    try:
        peer.hello()
        base = peer_row(h, kp.public.hex())["rejected"]
        # The hub wants P 1..5: one Want (1, 5) is out, the next seq it will ask for is 6.
        peer.send(ref.encode_sync("heads", heads=[(kp.public, 5, bytes(32))], reply=True,
                                  last=True))
        w = peer.expect("want", pred=lambda m: m.author == kp.public)
        assert (w.from_seq, w.count) == (1, 5)
        # Unrequested: from_seq 6 (= the next wanted seq), carrying a valid entry of Q that the
        # hub would store if it processed the batch (entries are validated on their own, §9.8).
        q1 = ref.Feed(q, NOW() - 1000).next(1, "profile", mk_profile("Q"))
        peer.send(ref.entries_msg(kp.public, w.from_seq + w.count, [q1.wire]))
        wait_until(lambda: peer_row(h, kp.public.hex())["rejected"] == base + 1, timeout=10,
                   msg="the unrequested batch was not counted as rejected")
        # The real answer (empty) is processed; q1 never arrived through the dropped batch.
        peer.send(ref.entries_msg(kp.public, 1, []))
        time.sleep(0.3)
        assert q.public.hex() not in heads_of(h), "an unrequested Entries batch was processed"
        assert not h.get(q1.id.hex())["ok"]
        assert peer_row(h, kp.public.hex())["rejected"] == base + 1
    finally:
        peer.close()


# ---------------------------------------------------------------------------------------------
# Issue 9 item 8(e): forked feeds in Heads (§9.7): never offered, never fetched


def test_forked_feed_is_neither_offered_nor_fetched(hubs):
    kp, leaked = ref.Keypair.generate(), ref.Keypair.generate()
    F = leaked.public
    h = hubs(name="forkheads", allow=[kp.public.hex(), F.hex()])
    peer = Peer(kp, h.key, h.endpoint)
    try:
        peer.hello()
        ts = NOW() - 1000
        f1, f1b = (ref.build_entry(leaked, seq=1, prev=None, timestamp=ts + i, kind=1,
                                   key="profile", payload=mk_profile(f"F{i}")) for i in (0, 1))
        e1 = ref.Feed(kp, ts).next(1, "profile", mk_profile("P"))
        peer.supply(F, 1, [f1.wire])
        peer.supply(kp.public, 1, [e1.wire])
        wait_until(lambda: len(heads_of(h)) == 2, timeout=10)
        peer.supply(F, 2, [f1b.wire])
        wait_until(lambda: h.status()["forks"], timeout=10, msg="fork not recorded")
        peer.drain()

        # Offered: a Summary that does not match makes the hub send its Heads list; the frozen
        # feed is not in it, the other one is.
        peer.send(ref.summary([(os.urandom(32), 1, os.urandom(32))]))
        listed, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            m = peer.expect("heads")
            listed += [(x.author, x.seq) for x in m.heads]
            if m.last:
                break
        assert (kp.public, 1) in listed, listed
        assert all(a != F for a, _ in listed), "a forked feed was offered in Heads"
        peer.drain()

        # Accepted: a Heads list claiming more of the frozen feed (and, as the marker, more of
        # P) makes the hub ask for P only.
        peer.send(ref.encode_sync("heads", heads=sorted([(F, 9, bytes(32)),
                                                         (kp.public, 3, bytes(32))]),
                                  reply=True, last=True))
        wants = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = peer.recv(0.5)
            if got is None:
                if wants:
                    break
                continue
            if got[0] == "want":
                wants.append(got[1])
        assert [w.author for w in wants] == [kp.public], \
            "the hub asked for a feed it has frozen"
        assert peer_row(h, kp.public.hex())["behind_us"] == 2
    finally:
        peer.close()
