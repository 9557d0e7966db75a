"""Test vectors (tests/vectors/entries.txt) checked with the independent reference implementation
hubnet_ref.py (PROTOCOL.md §12): every byte hubd produced is reproduced from the spec alone,
and mutated vectors fail with the error PROTOCOL.md §5 names, in its order.

Needs no hubd: run with /usr/bin/python3 -m pytest tests/integration/test_vectors.py."""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubnet_ref as ref  # noqa: E402
from hubnet_ref import EntryError  # noqa: E402

VECTORS = ref.load_vectors()
BY_NAME = {v["name"]: v for v in VECTORS}


def now_ms(v=None):
    t = int(time.time() * 1000)
    return max(t, int(v["timestamp"])) if v else t


def b(v, name):
    return bytes.fromhex(v[name])


def kind_of(v):
    return int(v["kind"].split()[0])


def prev_of(v):
    return None if v["prev"] == "-" else b(v, "prev")


def kp_of(v):
    return ref.Keypair.from_seed(b(v, "seed"))


def rebuild(v, **kw):
    """The vector's entry built by the reference implementation, with overrides."""
    args = dict(seq=int(v["seq"]), prev=prev_of(v), timestamp=int(v["timestamp"]),
                kind=kind_of(v), key=v["key"], payload=b(v, "payload"),
                expires=int(v["expires"]))
    args.update(kw)
    return ref.build_entry(kp_of(v), **args)


def expect(name, wire, now=None, admit=None):
    with pytest.raises(EntryError) as ei:
        ref.validate_entry(wire, now if now is not None else now_ms(), admit)
    assert ei.value.name == name, f"expected {name}, got {ei.value}"


def test_file_has_vectors():
    assert len(VECTORS) >= 4
    required = ["seed", "public_key", "curve_public_key", "seq", "prev", "timestamp", "kind",
                "key", "expires", "payload_json", "payload", "payload_hash", "payload_size",
                "header", "signed_message", "signature", "id", "wire"]
    for v in VECTORS:
        missing = [f for f in required if f not in v]
        assert not missing, f"{v['name']}: missing {missing}"


# ---- every vector reproduced byte for byte ----------------------------------------------------


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
class TestVector:
    def test_keys(self, v):
        kp = kp_of(v)
        assert kp.public.hex() == v["public_key"]
        assert kp.curve_public.hex() == v["curve_public_key"]
        assert ref.curve_public(kp.public) == kp.curve_public
        # the derived secret is the X25519 secret of the derived public key
        import nacl.bindings
        assert nacl.bindings.crypto_scalarmult_base(kp.curve_secret) == kp.curve_public

    def test_payload_from_json(self, v):
        payload = ref.payload_from_json(kind_of(v), json.loads(v["payload_json"]))
        assert payload.hex() == v["payload"]
        assert ref.h(payload).hex() == v["payload_hash"]
        assert len(payload) == int(v["payload_size"])
        assert ref.payload_to_json(kind_of(v), payload) == json.loads(v["payload_json"])

    def test_build_reproduces_every_byte(self, v):
        e = rebuild(v)
        assert e.header.hex() == v["header"]
        assert (ref.SIGN_PREFIX + e.header).hex() == v["signed_message"]
        assert e.signature.hex() == v["signature"]
        assert e.id.hex() == v["id"]
        assert e.wire.hex() == v["wire"]

    def test_decode_and_verify(self, v):
        e = ref.validate_entry(b(v, "wire"), now_ms(v))
        assert e.header.hex() == v["header"]
        assert e.signature.hex() == v["signature"]
        assert e.payload.hex() == v["payload"]
        assert e.id.hex() == v["id"]
        assert e.author.hex() == v["public_key"]
        assert e.seq == int(v["seq"])
        assert e.prev == (prev_of(v) or b"")
        assert e.timestamp == int(v["timestamp"])
        assert e.kind == kind_of(v) and e.kind_name == v["kind"].split()[1]
        assert e.key == v["key"]
        assert e.payload_hash.hex() == v["payload_hash"]
        assert e.payload_size == int(v["payload_size"])
        assert e.expires == int(v["expires"])
        assert ref.verify(e.author, b(v, "signed_message"), e.signature)

    def test_purged_form_keeps_id_and_chain(self, v):
        e = ref.decode_entry(b(v, "wire"))
        purged = e.purged_wire()
        assert purged == ref.field_bytes(1, e.header) + ref.field_bytes(2, e.signature)
        p = ref.decode_entry(purged)
        assert p.id == e.id and not p.payload_present and not p.has_payload
        if e.kind == 5:
            expect("E_PAYLOAD_HASH", purged, now_ms(v))  # a retraction needs its payload
        else:
            ref.validate_entry(purged, now_ms(v))  # payload-less entries are valid

    def test_signature_bit_flip(self, v):
        w = bytearray(b(v, "wire"))
        sig_at = w.index(b(v, "signature"))
        w[sig_at + 5] ^= 0x01
        expect("E_SIGNATURE", bytes(w), now_ms(v))

    def test_header_tampered(self, v):
        """Any header byte changed after signing: E_SIGNATURE (the id changes too)."""
        e = ref.decode_entry(b(v, "wire"))
        header = bytearray(e.header)
        ts_at = header.index(bytes([0x28]) + ref.put_varint(e.timestamp))
        header[ts_at + 1] ^= 0x01  # timestamp changes by 1 ms
        w = ref.encode_signed_entry(bytes(header), e.signature, e.payload)
        expect("E_SIGNATURE", w, now_ms(v))
        assert ref.h(bytes(header)).hex() != v["id"]

    def test_payload_tampered(self, v):
        e = ref.decode_entry(b(v, "wire"))
        payload = bytearray(e.payload)
        payload[-1] ^= 0x20
        expect("E_PAYLOAD_HASH", ref.encode_signed_entry(e.header, e.signature, bytes(payload)),
               now_ms(v))
        expect("E_PAYLOAD_HASH", ref.encode_signed_entry(e.header, e.signature, bytes(payload[:-1])),
               now_ms(v))


# ---- mutations: each fails with the error of its step in PROTOCOL.md §5 ----------------------

A = BY_NAME.get("a-profile", VECTORS[0])


def resign(v, header_fields=None, payload=None, **kw):
    """The vector rebuilt with changed header fields and properly signed (so that only the
    intended check can fail)."""
    if payload is not None:
        kw["payload"] = payload
    return rebuild(v, header_fields=header_fields, **kw).wire


def header_with(v, extra: bytes) -> bytes:
    """Signed entry whose header is the vector's header plus raw extra bytes."""
    e = ref.decode_entry(b(v, "wire"))
    return ref.sign_header(kp_of(v), e.header + extra, e.payload)


RETRACTION_PAYLOAD = b(BY_NAME["a-retraction"], "payload")  # withdraws offer ttt-ai-2027
TAG_2P29 = b"\x80\x80\x80\x80\x10"          # field 2^29, wire type 0: one past the largest
TAG_MAX = b"\xf8\xff\xff\xff\x0f"           # field 2^29 − 1, wire type 0
TAG_20_6_BYTES = b"\xa0\x81\x80\x80\x80\x00"  # field 20, wire type 0, in 6 bytes
TAG_20_5_BYTES = b"\xa0\x81\x80\x80\x00"      # the same in 5 bytes (non-minimal: allowed)

MUTATIONS = {
    # step 1
    "too_large": ("E_TOO_LARGE", lambda: b(A, "wire") + ref.field_bytes(9, bytes(66176))),
    # step 2
    "truncated": ("E_DECODE", lambda: b(A, "wire")[:-1]),
    "no_signature": ("E_DECODE", lambda: ref.field_bytes(1, b(A, "header"))),
    "no_header": ("E_DECODE", lambda: ref.field_bytes(2, b(A, "signature"))),
    "header_twice": ("E_DECODE", lambda: ref.field_bytes(1, b(A, "header")) + b(A, "wire")),
    "signature_wrong_wire_type": ("E_DECODE", lambda: ref.field_bytes(1, b(A, "header")) +
                                  ref.field_varint(2, 7)),
    "field_number_zero": ("E_DECODE", lambda: b(A, "wire") + b"\x00\x00"),
    "group_wire_type": ("E_DECODE", lambda: b(A, "wire") + b"\x23\x24"),
    "signature_63_bytes": ("E_FIELD", lambda: ref.field_bytes(1, b(A, "header")) +
                           ref.field_bytes(2, b(A, "signature")[:63])),
    # §3.2 tag rules in the envelope (§4.3 step 1): a tag of at most 5 bytes, field 1 … 2^29−1
    "envelope_field_number_2p29": ("E_DECODE", lambda: b(A, "wire") + TAG_2P29 + b"\x01"),
    "envelope_field_0_in_two_bytes": ("E_DECODE", lambda: b(A, "wire") + b"\x80\x00\x01"),
    "envelope_tag_6_bytes": ("E_DECODE", lambda: b(A, "wire") + TAG_20_6_BYTES + b"\x01"),
    # step 3
    "header_too_large": ("E_TOO_LARGE", lambda: header_with(A, ref.field_bytes(99, bytes(500)))),
    "payload_too_large": ("E_TOO_LARGE", lambda: ref.encode_signed_entry(
        b(A, "header"), b(A, "signature"), bytes(65537))),
    # step 4 (UTF-8 is not a decoding rule: a key that is not UTF-8 fails at step 6)
    "expires_wrong_wire_type": ("E_DECODE", lambda: header_with(A, b"\x51" + bytes(8))),
    "header_garbage": ("E_DECODE", lambda: ref.sign_header(ref.Keypair.from_seed(b(A, "seed")),
                                                          b"\xff\xff\xff")),
    "key_invalid_utf8_after_garbage": ("E_DECODE", lambda: header_with(
        A, ref.field_bytes(7, b"pro\xfffile") + b"\x51" + bytes(8))),
    "header_field_number_2p29": ("E_DECODE", lambda: header_with(A, TAG_2P29 + b"\x01")),
    "header_field_0_in_two_bytes": ("E_DECODE", lambda: header_with(A, b"\x80\x00\x01")),
    "header_tag_6_bytes": ("E_DECODE", lambda: header_with(A, TAG_20_6_BYTES + b"\x01")),
    # step 5 (before step 11: the signature is not even looked at)
    "version_2": ("E_VERSION", lambda: resign(A, {"version": 2})),
    "version_2_bad_signature": ("E_VERSION", lambda: rebuild(A, header_fields={"version": 2},
                                                             sign=False).wire),
    "version_0": ("E_VERSION", lambda: resign(A, {"version": 0})),
    "version_2_key_invalid_utf8": ("E_VERSION", lambda: header_with(
        A, ref.field_varint(1, 2) + ref.field_bytes(7, b"pro\xfffile"))),
    # step 6
    "seq_0": ("E_FIELD", lambda: resign(A, {"seq": 0})),
    "author_31_bytes": ("E_FIELD", lambda: resign(A, {"author": b(A, "public_key")[:31]})),
    "prev_at_seq_1": ("E_FIELD", lambda: resign(A, {"prev": bytes(32)})),
    "no_prev_at_seq_2": ("E_FIELD", lambda: resign(BY_NAME.get("a-offer", A), {"prev": b""})),
    "payload_hash_31": ("E_FIELD", lambda: resign(A, {"payload_hash": bytes(31)})),
    "empty_key": ("E_FIELD", lambda: resign(A, {"key": ""})),
    "key_129_bytes": ("E_FIELD", lambda: resign(A, {"key": "k" * 129})),
    "key_control_char": ("E_FIELD", lambda: resign(A, {"key": "pro\tfile"})),
    "key_nul": ("E_FIELD", lambda: resign(A, {"key": "pro\x00file"})),
    "key_del": ("E_FIELD", lambda: resign(A, {"key": "pro\x7ffile"})),
    "key_invalid_utf8": ("E_FIELD", lambda: header_with(A, ref.field_bytes(7, b"pro\xfffile"))),
    "key_overlong_utf8": ("E_FIELD", lambda: header_with(
        A, ref.field_bytes(7, b"pro\xc0\xaffile"))),
    "key_surrogate": ("E_FIELD", lambda: header_with(A, ref.field_bytes(7, b"pro\xed\xa0\x80"))),
    "expires_before_timestamp": ("E_FIELD", lambda: resign(A, {"expires": int(A["timestamp"])})),
    # step 7
    "kind_0": ("E_KIND", lambda: resign(A, {"kind": 0})),
    "kind_7": ("E_KIND", lambda: resign(A, {"kind": 7})),
    # step 8
    "payload_size_65537": ("E_TOO_LARGE", lambda: resign(A, {"payload_size": 65537})),
    # step 11
    "signed_by_someone_else": ("E_SIGNATURE", lambda: ref.sign_header(
        ref.Keypair.from_seed(bytes(32)), b(A, "header"), b(A, "payload"))),
    "signature_zero": ("E_SIGNATURE", lambda: rebuild(A, sign=False).wire),
    # step 12
    "payload_size_mismatch": ("E_PAYLOAD_HASH", lambda: resign(
        A, {"payload_size": int(A["payload_size"]) + 1})),
    "empty_payload_wrong_hash": ("E_PAYLOAD_HASH", lambda: resign(A, {"payload_size": 0})),
    # step 13
    "timestamp_2019": ("E_TIMESTAMP", lambda: resign(A, timestamp=1577836799999)),
    "timestamp_far_future": ("E_TIMESTAMP", lambda: resign(A, timestamp=now_ms() + 11 * 60_000)),
    # step 14
    "payload_not_a_profile": ("E_DECODE", lambda: resign(A, payload=b"\x0a\x05ab")),
    "payload_field_number_2p29": ("E_DECODE", lambda: resign(
        A, payload=ref.field_bytes(1, b"n") + TAG_2P29 + b"\x01")),
    "payload_cost_field_number_2p29": ("E_DECODE", lambda: resign(
        A, {"kind": 2}, payload=ref.field_bytes(1, b"t") + ref.field_bytes(
            18, ref.field_varint(1, 5) + TAG_2P29 + b"\x01"))),
    # a message field twice: protobuf merges, protobuf-c keeps the last (§3.2): refused
    "payload_cost_twice": ("E_DECODE", lambda: resign(
        A, {"kind": 2}, payload=ref.field_bytes(1, b"t") + ref.field_bytes(
            18, ref.field_bytes(2, b"EUR")) + ref.field_bytes(18, ref.field_bytes(2, b"EUR")))),
    "payload_cost_twice_amount_over_cap_first": ("E_DECODE", lambda: resign(
        A, {"kind": 2}, payload=ref.field_bytes(1, b"t") + ref.field_bytes(
            18, ref.field_varint(1, 1 << 60)) + ref.field_bytes(18, ref.field_bytes(2, b"EUR")))),
    "payload_invalid_utf8": ("E_RANGE", lambda: resign(A, payload=ref.field_bytes(1, b"\xc0\xaf"))),
    "payload_surrogate": ("E_RANGE", lambda: resign(
        A, payload=ref.field_bytes(1, b"\xed\xa0\x80"))),
    "payload_invalid_utf8_too_long": ("E_TOO_LARGE", lambda: resign(  # the cap comes first
        A, payload=ref.field_bytes(1, b"\xff" * 201))),
    "payload_invalid_utf8_then_too_long": ("E_RANGE", lambda: resign(  # fields in order
        A, payload=ref.field_bytes(1, b"\xff") + ref.field_bytes(2, b"d" * 8001))),
    "payload_invalid_utf8_topic": ("E_RANGE", lambda: resign(
        A, payload=ref.field_bytes(11, b"ok") + ref.field_bytes(11, b"\xc3"))),
    "payload_invalid_utf8_currency": ("E_RANGE", lambda: resign(
        A, {"kind": 2}, payload=ref.field_bytes(1, b"t") + ref.field_bytes(
            18, ref.field_bytes(2, b"\xff")))),
    "payload_control_char": ("E_RANGE", lambda: resign(
        A, payload=ref.payload_from_json(1, {"name": "EDIH\x01Alpha"}))),
    "payload_nul": ("E_RANGE", lambda: resign(
        A, payload=ref.payload_from_json(1, {"name": "EDIH\x00Alpha"}))),
    "payload_name_201_bytes": ("E_TOO_LARGE", lambda: resign(
        A, payload=ref.payload_from_json(1, {"name": "n" * 201}))),
    "payload_33_topics": ("E_TOO_LARGE", lambda: resign(
        A, payload=ref.payload_from_json(1, {"name": "x", "topics": ["t"] * 33}))),
    "payload_endorsed_hub_31_bytes": ("E_RANGE", lambda: resign(
        A, {"kind": 6}, payload=ref.field_bytes(1, bytes(31)))),
    "payload_amount_too_large": ("E_RANGE", lambda: resign(
        A, {"kind": 2}, payload=ref.canonical(ref.pb_entry().Offer(
            title="t", cost=ref.pb_entry().Cost(amount_minor=10**14 + 1, currency="EUR"))))),
    # step 15
    "retraction_without_target": ("E_DECODE", lambda: resign(
        A, {"kind": 5}, payload=ref.canonical(ref.pb_entry().Retraction(reason="x")))),
    "retraction_payload_less": ("E_PAYLOAD_HASH", lambda: rebuild(
        A, kind=5, payload=RETRACTION_PAYLOAD).purged_wire()),
    "retraction_payload_less_future": ("E_TIMESTAMP", lambda: rebuild(  # step 13 comes first
        A, kind=5, timestamp=now_ms() + 11 * 60_000, payload=RETRACTION_PAYLOAD).purged_wire()),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutated_vector_fails(name):
    err, make = MUTATIONS[name]
    expect(err, make(), now_ms(A))


def test_largest_field_number_and_5_byte_tag_are_allowed():
    """§3.2: field 2^29 − 1 is an unknown field (skipped) and a tag may take 5 bytes, in the
    envelope, the header and a payload (hubd: tests/unit/test_entry.c, test_record.c)."""
    for tag in (TAG_MAX, TAG_20_5_BYTES):
        ref.validate_entry(b(A, "wire") + tag + b"\x01", now_ms(A))
        ref.validate_entry(header_with(A, tag + b"\x01"), now_ms(A))
        ref.validate_entry(resign(A, payload=ref.field_bytes(1, b"n") + tag + b"\x01"), now_ms(A))


def test_only_the_last_occurrence_of_a_string_is_checked():
    """§3.2: a non-repeated string's value is its last occurrence; an earlier one with a NUL or
    invalid UTF-8 does not count (hubd: test_record.c, test_spec_rules.py)."""
    for first in (b"a\x00b", b"\xff"):
        w = resign(A, payload=ref.field_bytes(1, first) + ref.field_bytes(1, b"ok"))
        ref.validate_entry(w, now_ms(A))
        w = resign(A, payload=ref.field_bytes(1, b"ok") + ref.field_bytes(1, first))
        expect("E_RANGE", w, now_ms(A))


def test_limits_are_inclusive():
    """The limits themselves are allowed: a 128-byte key, a 200-byte name, 32 topics, a
    timestamp 10 minutes ahead, an entry of exactly 66176 bytes is not too large by step 1."""
    now = now_ms()
    ref.validate_entry(resign(A, {"key": "k" * 128}), now)
    ref.validate_entry(resign(A, payload=ref.payload_from_json(
        1, {"name": "n" * 200, "topics": ["t"] * 32, "description": "a\nb\tc"})), now)
    ref.validate_entry(resign(A, timestamp=now + 10 * 60_000), now)
    ref.validate_entry(resign(A, {"expires": int(A["timestamp"]) + 1}), now)
    ref.validate_entry(resign(A, payload=b""), now)  # empty payload, hash of ""
    assert ref.h(b"").hex() == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"


def test_retraction_with_empty_payload_is_valid():
    """A retraction whose payload is empty (payload_size 0) names no target: it withdraws
    nothing, but steps 14 and 15 apply only to a non-empty payload, so it is valid."""
    e = ref.validate_entry(rebuild(A, kind=5, payload=b"").wire, now_ms(A))
    assert e.kind == 5 and e.has_payload and not e.payload_present


def test_policy_step_comes_before_signature():
    other = ref.Keypair.from_seed(bytes(32)).public
    bad_sig = rebuild(A, sign=False).wire
    expect("E_POLICY", bad_sig, now_ms(A), admit=lambda au: au == other)


# ---- the chain rule (§5 steps 16-21) on the vectors ------------------------------------------


def test_chain_of_vectors():
    store = ref.MemoryStore()
    wires = [b(v, "wire") for v in VECTORS]
    assert store.ingest(list(reversed(wires)), now_ms()) == ["OK"] * len(wires)  # sorted per batch
    heads = store.head_list()
    assert [(a.hex(), s) for a, s, _ in heads] == sorted(
        {v["public_key"]: max(int(w["seq"]) for w in VECTORS if w["public_key"] == v["public_key"])
         for v in VECTORS}.items())
    assert store.ingest([wires[0]], now_ms()) == ["E_DUPLICATE"]


def test_chain_errors():
    a1, a2 = BY_NAME["a-profile"], BY_NAME["a-offer"]
    now = now_ms()
    s = ref.MemoryStore()
    assert s.ingest([b(a2, "wire")], now) == ["E_GAP"]
    assert s.ingest([b(a1, "wire")], now) == ["OK"]
    assert s.ingest([resign(a2, prev=bytes(32))], now) == ["E_PREV"]
    assert s.ingest([resign(a2, timestamp=int(a1["timestamp"]) - 1)], now) == ["E_TIMESTAMP"]
    assert s.ingest([resign(a2, timestamp=int(a1["timestamp"]))], now) == ["OK"]  # equal is fine
    fork = resign(a1, key="another-profile")
    assert s.ingest([fork], now) == ["E_FORK"]
    assert s.forks and s.forks[0][0] == b(a1, "public_key") and s.forks[0][1] == 1
    assert s.forks[0][2].hex() == a1["id"]
    assert s.ingest([b(a2, "wire")], now) == ["E_FORKED_FEED"]
    assert s.head_list() == []  # a frozen feed is not offered in Heads


# ---- sync messages (§9) -----------------------------------------------------------------------


def test_sync_messages_round_trip():
    a = b(A, "public_key")
    arm, m = ref.decode_sync(ref.hello(a, 7401))
    assert arm == "hello" and m.version == 1 and m.hub == a and m.pub_port == 7401
    assert ref.hello(a, 7401).hex() == ("0a270801122079b5562e8fe654f94078b112e8a98ba7901f853ae6"
                                        "95bed7e0e3910bad04966418e939")
    arm, m = ref.decode_sync(ref.want(a, 2, 512))
    assert arm == "want" and (m.author, m.from_seq, m.count) == (a, 2, 512)
    wires = [b(v, "wire") for v in VECTORS[:3]]
    arm, m = ref.decode_sync(ref.entries_msg(a, 1, wires))
    assert arm == "entries" and list(m.entries) == wires
    assert ref.decode_sync(b"") == (None, None)


def test_digest_of_vectors():
    store = ref.MemoryStore()
    store.ingest([b(v, "wire") for v in VECTORS], now_ms())
    heads = store.head_list()
    expected = ref.h(b"".join(a + s.to_bytes(8, "big") + i for a, s, i in sorted(heads)))
    assert ref.digest(heads) == expected
    assert ref.digest([]) == ref.h(b"")
    arm, m = ref.decode_sync(ref.summary(heads))
    assert arm == "summary" and m.digest == expected and m.feeds == len(heads)


@pytest.mark.parametrize("n,chunks", [(0, 1), (1, 1), (1024, 2), (1025, 2), (2049, 3)])
def test_heads_chunking(n, chunks):
    heads = [(i.to_bytes(32, "big"), i + 1, bytes(32)) for i in range(n)]
    msgs = ref.heads_messages(heads, reply=True)
    assert len(msgs) == chunks
    got = []
    for i, frame in enumerate(msgs):
        arm, m = ref.decode_sync(frame)
        assert arm == "heads" and m.reply and m.last == (i == len(msgs) - 1)
        assert len(m.heads) <= 1024
        got += [(h.author, h.seq, h.id) for h in m.heads]
    assert got == sorted(heads)


@pytest.mark.parametrize("frame", [b"\xff", b"\x0a\x05\x08", b"\x00\x00", b"\x0b\x0c",
                                   b"\x0a\x02\x10\x00\x12" + b"\x01", b"\x0d\x00\x00\x00\x00"])
def test_sync_garbage_is_decode_error(frame):
    with pytest.raises(EntryError) as ei:
        ref.decode_sync(frame)
    assert ei.value.name == "E_DECODE"
