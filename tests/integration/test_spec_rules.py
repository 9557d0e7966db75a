"""Rules PROTOCOL.md states where it used to contradict itself, checked on a real hubd:
a Want with count 0 (§9.8), an entry already expired on arrival (§5 notes, §6.4).
(The Want timeout, 10 s, and the default window, 16, are constants: §9.9 and §10.3 now agree,
and config/hubd.conf's defaults are checked by the config_example test.)"""

import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubtest import wait_until  # noqa: E402
from test_hostile_peer import Peer, heads_of  # noqa: E402

NOW = lambda: int(time.time() * 1000)  # noqa: E731


def _import(hub, wires):
    return hub.call("import", entries=[base64.b64encode(w).decode() for w in wires])["results"]


def test_want_with_count_0_gets_an_empty_entries_answer(hubs):
    author = ref.Keypair.generate()
    peer_kp = ref.Keypair.generate()
    hub = hubs("want0", allow=[author.public.hex(), peer_kp.public.hex()])
    feed = ref.Feed(author, NOW() - 60_000)
    wires = [feed.next(1, "profile", ref.payload_from_json(1, {"name": f"v{i}"})).wire
             for i in range(3)]
    assert _import(hub, wires) == ["OK"] * 3
    peer = Peer(peer_kp, hub.key, hub.endpoint)
    try:
        peer.hello()
        # count 0 asks for nothing: one Entries answer, author and from_seq copied, no entries
        # (it says nothing about what the hub holds)
        peer.send(ref.want(author.public, 1, 0))
        m = peer.expect("entries", pred=lambda m: m.author == author.public)
        assert m.from_seq == 1 and len(m.entries) == 0
        # and the session goes on: count 2 gets two
        peer.send(ref.want(author.public, 1, 2))
        m = peer.expect("entries", pred=lambda m: m.author == author.public and len(m.entries))
        assert [ref.decode_entry(w).seq for w in m.entries] == [1, 2]
    finally:
        peer.close()


def test_entry_expired_on_arrival_is_accepted_hidden_and_purged_by_the_sweep(hubs):
    author = ref.Keypair.generate()
    hub = hubs("expired-arrival", allow=[author.public.hex()], sweep_interval=1)
    t = NOW() - 3_600_000
    feed = ref.Feed(author, t)
    offer = ref.payload_from_json(2, {"title": "gone", "topics": ["expired-on-arrival"]})
    e = feed.next(2, "old", offer, expires=t + 60_000)  # expired 59 minutes ago
    live = feed.next(2, "live", ref.payload_from_json(
        2, {"title": "live", "topics": ["expired-on-arrival"]}))
    # accepted: the chain stays complete on every hub (E_EXPIRED is never an entry's result)
    assert _import(hub, [e.wire, live.wire]) == ["OK", "OK"]
    assert heads_of(hub)[author.public.hex()][0] == 2
    # hidden from queries at once (the one next to it, not expired, is found)
    assert [r["key"] for r in hub.query(topic="expired-on-arrival")] == ["live"]
    # its payload purged by the expiry sweep (every sweep_interval), header and signature kept
    wait_until(lambda: hub.get(e.id.hex())["entry"].get("purged") is True, timeout=20,
               msg="the expired entry's payload was not purged by the sweep")
    got = hub.get(e.id.hex())["entry"]
    assert got["id"] == e.id.hex() and got["seq"] == 1
    assert hub.get(live.id.hex())["entry"].get("purged") is not True


def test_only_the_last_occurrence_of_a_string_is_checked(hubs):
    """§3.2: an earlier occurrence of a non-repeated string with a NUL does not count; hubd
    refused it (E_RANGE) where hubnet_ref.py accepts: one hub relaying what another refuses."""
    author = ref.Keypair.generate()
    hub = hubs("last-string", allow=[author.public.hex()])
    feed = ref.Feed(author, NOW() - 60_000)
    ok = feed.next(1, "profile", ref.field_bytes(1, b"a\x00b") + ref.field_bytes(1, b"Alpha"))
    assert _import(hub, [ok.wire]) == ["OK"]
    bad = feed.next(1, "profile", ref.field_bytes(1, b"Alpha") + ref.field_bytes(1, b"a\x00b"),
                    append=False)
    assert _import(hub, [bad.wire]) == ["E_RANGE"]
