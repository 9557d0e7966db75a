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
