"""hubnet_ref: an independent reference implementation of PROTOCOL.md (entries and sync messages).

Written from PROTOCOL.md alone, with Google's protobuf (python3-protobuf; the Python modules are
generated from proto/*.proto with protoc at import time, into a temporary directory) and PyNaCl
(python3-nacl: Ed25519, BLAKE2b, the Ed25519 -> X25519 conversion). It does not share code with
hubd, so agreement between the two is evidence that PROTOCOL.md is complete.

What it does (section numbers are PROTOCOL.md's):
  - keys: Ed25519 key pairs from seeds, X25519 transport keys (§2, §9.3);
  - strict protobuf decoding (§3.2) on top of Google's parser, which is laxer;
  - entries: build and sign (§4.5), split a SignedEntry by hand (§4.3), decode, verify and check
    payloads in the order of §5, steps 1-15, each failure an ``EntryError`` naming the error;
  - a small in-memory feed store with the chain rule (§5 steps 16-21, §6.2);
  - payload JSON (control-socket form) <-> payload messages (§7.2);
  - sync messages: encode and strictly decode SyncMsg, the digest, Heads chunking (§9).

Run as a script it prints the derived example values that PROTOCOL.md quotes.
"""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import nacl.bindings
from nacl.encoding import RawEncoder
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.hash import blake2b
from nacl.signing import SigningKey, VerifyKey

SRC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.environ.get("HUBNET_PROTO_DIR") or os.path.join(SRC_DIR, "proto")

# ---- constants (PROTOCOL.md §4, §5, §10) ---------------------------------------------------

SIGN_DOMAIN = b"hubnet/entry/v1"
SIGN_PREFIX = SIGN_DOMAIN + b"\x00"
ENTRY_VERSION = 1
SYNC_VERSION = 1
KEY_LEN = 32
ID_LEN = 32
SIG_LEN = 64
MAX_HEADER = 512
MAX_PAYLOAD = 65536
MAX_ENTRY = MAX_HEADER + MAX_PAYLOAD + 128  # 66176
MAX_RECORD_KEY = 128
MAX_FUTURE_MS = 10 * 60 * 1000
MIN_TIMESTAMP_MS = 1577836800000
MAX_LIST = 32
MAX_AMOUNT_MINOR = 100_000_000_000_000
HEADS_CHUNK = 1024
MAX_MSG = 8 << 20
ENTRIES_MAX_BYTES = 4 << 20

KINDS = {1: "profile", 2: "offer", 3: "request", 4: "response", 5: "retraction", 6: "endorsement"}
KIND_NUMBERS = {v: k for k, v in KINDS.items()}
KIND_MESSAGES = {1: "Profile", 2: "Offer", 3: "Request", 4: "Response", 5: "Retraction",
                 6: "Endorsement"}
RESPONSE_TYPES = {1: "interest", 2: "enrolment", 3: "can-help", 4: "question"}
RESPONSE_TYPE_NUMBERS = {v: k for k, v in RESPONSE_TYPES.items()}

# §7.2: string caps in bytes by field name (the same name means the same thing in every message).
STRING_CAPS = {
    "title": 200, "name": 200, "description": 8000, "message": 4000, "statement": 4000,
    "contact": 256, "location": 200, "region": 200, "website": 512, "registration_url": 512,
    "topics": 64, "target_key": 128,
}
DEFAULT_STRING_CAP = 128
MULTILINE = {"description", "message", "statement"}

# §11: every error name.
ERROR_NAMES = [
    "OK", "E_INTERNAL", "E_NOMEM", "E_IO", "E_DISK_FULL", "E_DECODE", "E_VERSION", "E_FIELD",
    "E_SIGNATURE", "E_PAYLOAD_HASH", "E_TOO_LARGE", "E_TIMESTAMP", "E_SEQ", "E_PREV", "E_GAP",
    "E_FORK", "E_FORKED_FEED", "E_DUPLICATE", "E_NOT_FOUND", "E_POLICY", "E_BAD_REQUEST",
    "E_UNKNOWN_OP", "E_TYPE", "E_VOCAB", "E_RANGE", "E_BUSY", "E_CONFIG", "E_KIND", "E_EXPIRED",
    "E_NOT_READY", "E_KEY_IN_USE",
]


class EntryError(Exception):
    """A protocol error; .name is the error name of PROTOCOL.md §11 (e.g. "E_SIGNATURE")."""

    def __init__(self, name: str, detail: str = ""):
        assert name in ERROR_NAMES, name
        super().__init__(f"{name}: {detail}" if detail else name)
        self.name = name
        self.detail = detail


# ---- primitives (§2) -------------------------------------------------------------------------


def h(data: bytes) -> bytes:
    """BLAKE2b-256, unkeyed."""
    return blake2b(bytes(data), digest_size=32, encoder=RawEncoder)


def curve_public(ed_pk: bytes) -> bytes:
    """X25519 public key of an Ed25519 public key (raises EntryError E_FIELD if not a point)."""
    try:
        return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(ed_pk))
    except (CryptoError, ValueError, TypeError) as e:
        raise EntryError("E_FIELD", f"not a valid Ed25519 public key: {e}")


@dataclass(frozen=True)
class Keypair:
    """An Ed25519 identity and the CurveZMQ (X25519) key pair derived from it."""
    seed: bytes
    public: bytes
    secret: bytes  # libsodium form: seed || public
    curve_public: bytes
    curve_secret: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> "Keypair":
        if len(seed) != 32:
            raise ValueError("seed must be 32 bytes")
        sk = SigningKey(bytes(seed))
        pk = bytes(sk.verify_key)
        secret = bytes(seed) + pk
        return cls(bytes(seed), pk, secret, curve_public(pk),
                   nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(secret))

    @classmethod
    def generate(cls) -> "Keypair":
        return cls.from_seed(os.urandom(32))

    def sign(self, message: bytes) -> bytes:
        return SigningKey(self.seed).sign(bytes(message)).signature

    @property
    def hex(self) -> str:
        return self.public.hex()


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification with libsodium's rules (PyNaCl is libsodium)."""
    try:
        VerifyKey(bytes(public)).verify(bytes(message), bytes(signature))
        return True
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False


# ---- protobuf modules, generated from proto/*.proto -------------------------------------------


@functools.lru_cache(maxsize=None)
def protos() -> tuple[Any, Any]:
    """(entry_pb2, sync_pb2), generated with protoc into a temporary directory (once per
    process: the descriptors go into protobuf's global pool)."""
    with tempfile.TemporaryDirectory(prefix="hubnet-ref-pb-") as out:
        cmd = ["protoc", f"--python_out={out}", f"-I{PROTO_DIR}",
               os.path.join(PROTO_DIR, "entry.proto"), os.path.join(PROTO_DIR, "sync.proto")]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except FileNotFoundError:
            raise RuntimeError("protoc not found: apt-get install protobuf-compiler")
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"protoc failed: {e.stderr}")
        sys.path.insert(0, out)
        try:
            entry_pb2 = importlib.import_module("entry_pb2")
            sync_pb2 = importlib.import_module("sync_pb2")
        finally:
            sys.path.remove(out)
    return entry_pb2, sync_pb2  # loaded: the generated files are no longer needed


def pb_entry() -> Any:
    return protos()[0]


def pb_sync() -> Any:
    return protos()[1]


# ---- wire primitives (§3) ---------------------------------------------------------------------


def put_varint(v: int) -> bytes:
    if v < 0:
        raise ValueError("negative varint")
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def read_varint(buf: bytes, i: int, max_bytes: int = 10) -> tuple[int, int, int]:
    """(value, next index, bytes used); EntryError E_DECODE if truncated or too long."""
    v = 0
    for n in range(max_bytes):
        if i + n >= len(buf):
            raise EntryError("E_DECODE", "truncated varint")
        b = buf[i + n]
        v |= (b & 0x7F) << (7 * n)
        if not b & 0x80:
            return v, i + n + 1, n + 1
    raise EntryError("E_DECODE", f"varint longer than {max_bytes} bytes")


def field_bytes(num: int, value: bytes) -> bytes:
    """A length-delimited field."""
    return put_varint(num << 3 | 2) + put_varint(len(value)) + bytes(value)


def field_varint(num: int, value: int) -> bytes:
    return put_varint(num << 3) + put_varint(value)


def read_tag(buf: bytes, i: int) -> tuple[int, int, int]:
    """(field number, wire type, next index) with the tag rules of §3.2."""
    tag, i, _ = read_varint(buf, i, max_bytes=5)
    num, wt = tag >> 3, tag & 7
    if num == 0 or num > (1 << 29) - 1:
        raise EntryError("E_DECODE", f"field number {num}")
    if wt not in (0, 1, 2, 5):
        raise EntryError("E_DECODE", f"wire type {wt}")
    return num, wt, i


def skip_value(buf: bytes, i: int, wt: int) -> tuple[bytes, int]:
    """(raw value bytes, next index) for a value of wire type wt."""
    if wt == 0:
        start = i
        _, i, _ = read_varint(buf, i)
        return buf[start:i], i
    if wt == 1 or wt == 5:
        n = 8 if wt == 1 else 4
        if i + n > len(buf):
            raise EntryError("E_DECODE", "truncated fixed-width field")
        return buf[i:i + n], i + n
    if wt == 2:
        n, i, _ = read_varint(buf, i)
        if n > len(buf) - i:
            raise EntryError("E_DECODE", "length runs past the end")
        return buf[i:i + n], i + n
    raise EntryError("E_DECODE", f"wire type {wt}")


def _expected_wire_type(fd: Any) -> int:
    from google.protobuf.descriptor import FieldDescriptor as F
    if fd.type in (F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_MESSAGE):
        return 2
    if fd.type in (F.TYPE_FIXED64, F.TYPE_SFIXED64, F.TYPE_DOUBLE):
        return 1
    if fd.type in (F.TYPE_FIXED32, F.TYPE_SFIXED32, F.TYPE_FLOAT):
        return 5
    return 0


def strict_check(descriptor: Any, buf: bytes, out: Optional[bytearray] = None,
                 bad_utf8: Optional[set] = None, _base: int = 0, _prefix: str = "") -> None:
    """The strict decoding rules of §3.2 for a message of this descriptor (recursively):
    raises EntryError E_DECODE. Google's parser then gives the values.

    UTF-8 is not a decoding rule (§3.2): a string field that is not valid UTF-8 is noted in
    bad_utf8 as (path, index) -- path "key", "title", "cost.currency"; index the item's position
    in a repeated field, else None; for a non-repeated field the last occurrence decides -- and
    its bytes are overwritten in `out` (a copy of buf) with as many "?", so that Google's parser,
    which refuses invalid UTF-8 in proto3 strings, can read the rest and the string keeps its
    byte length for the length checks. The caller refuses the noted strings with the error of
    the check they belong to (§5 step 6, §7.1)."""
    from google.protobuf.descriptor import FieldDescriptor as F
    i = 0
    buf = bytes(buf)
    counts: dict[int, int] = {}
    while i < len(buf):
        num, wt, i = read_tag(buf, i)
        raw, i = skip_value(buf, i, wt)
        fd = descriptor.fields_by_number.get(num)
        if fd is None:
            continue  # unknown field: allowed
        want = _expected_wire_type(fd)
        packed_ok = fd.label == F.LABEL_REPEATED and want != 2 and wt == 2
        if wt != want and not packed_ok:
            raise EntryError("E_DECODE", f"{descriptor.name}.{fd.name}: wire type {wt}, "
                                         f"expected {want}")
        index = None
        if fd.label == F.LABEL_REPEATED:
            index = counts.get(num, 0)
            counts[num] = index + 1
        elif fd.type == F.TYPE_MESSAGE:
            # Twice: Google's parsers merge the two, protobuf-c keeps the last (§3.2): refused.
            if counts.get(num):
                raise EntryError("E_DECODE", f"{descriptor.name}.{fd.name} twice")
            counts[num] = 1
        path = (_prefix + fd.name, index)
        if fd.type == F.TYPE_STRING:
            try:
                raw.decode("utf-8", "strict")  # RFC 3629: no overlong forms, no surrogates
                if bad_utf8 is not None:
                    bad_utf8.discard(path)
            except UnicodeDecodeError:
                if out is None or bad_utf8 is None:
                    raise EntryError("E_DECODE", f"{descriptor.name}.{fd.name}: invalid UTF-8")
                start = _base + i - len(raw)
                out[start:start + len(raw)] = b"?" * len(raw)
                bad_utf8.add(path)
        elif fd.type == F.TYPE_MESSAGE:
            sub = _prefix + fd.name + (f"[{index}]." if index is not None else ".")
            strict_check(fd.message_type, raw, out, bad_utf8, _base + i - len(raw), sub)


def strict_parse(cls: Any, buf: bytes, bad_utf8: Optional[set] = None) -> Any:
    """Parse buf as message class cls under the strict rules. With bad_utf8 (a set), strings
    that are not valid UTF-8 are noted there (see strict_check) and read as "?"s of the same
    length; without it they are refused with E_DECODE (for callers that have no check of
    their own for them)."""
    buf = bytes(buf)
    out = bytearray(buf) if bad_utf8 is not None else None
    strict_check(cls.DESCRIPTOR, buf, out, bad_utf8)
    m = cls()
    try:
        m.ParseFromString(bytes(out) if out is not None else buf)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        raise EntryError("E_DECODE", f"{cls.DESCRIPTOR.name}: {e}")
    return m


def canonical(msg: Any) -> bytes:
    """Canonical encoding (§3.1): Google's serializer writes known fields in field-number
    order and omits proto3 defaults."""
    return msg.SerializeToString(deterministic=True)


# ---- entries (§4) -----------------------------------------------------------------------------


def encode_signed_entry(header: bytes, signature: bytes, payload: bytes = b"") -> bytes:
    """Canonical SignedEntry (§4.3); no field 3 when the payload is empty (also the purged form,
    §4.6)."""
    out = field_bytes(1, header) + field_bytes(2, signature)
    if payload:
        out += field_bytes(3, payload)
    return out


@dataclass
class Entry:
    """A decoded (and possibly verified) signed entry. Byte fields are the exact bytes seen."""
    wire: bytes
    header: bytes
    signature: bytes
    payload: bytes          # b"" when absent
    payload_present: bool   # field 3 present with length > 0
    id: bytes = b""
    version: int = 0
    author: bytes = b""
    seq: int = 0
    prev: bytes = b""
    timestamp: int = 0
    kind: int = 0
    key: str = ""
    payload_hash: bytes = b""
    payload_size: int = 0
    expires: int = 0

    @property
    def has_payload(self) -> bool:
        """§4.3: the payload is available (present, or the header says it is empty)."""
        return self.payload_present or self.payload_size == 0

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind, str(self.kind))

    def purged_wire(self) -> bytes:
        return encode_signed_entry(self.header, self.signature)

    def payload_message(self) -> Any:
        return decode_payload(self.kind, self.payload)


def split_signed_entry(wire: bytes) -> tuple[bytes, bytes, bytes, bool]:
    """§4.3 receiver rules: (header, signature, payload, payload field present and non-empty).
    EntryError E_DECODE or E_FIELD (signature not 64 bytes)."""
    wire = bytes(wire)
    i = 0
    seen: dict[int, bytes] = {}
    while i < len(wire):
        num, wt, i = read_tag(wire, i)
        if num in (1, 2, 3):
            if wt != 2:
                raise EntryError("E_DECODE", f"SignedEntry field {num}: wire type {wt}")
            if num in seen:
                raise EntryError("E_DECODE", f"SignedEntry field {num} twice")
            value, i = skip_value(wire, i, 2)
            if num == 2 and len(value) != SIG_LEN:
                raise EntryError("E_FIELD", f"signature of {len(value)} bytes")
            seen[num] = value
        else:
            _, i = skip_value(wire, i, wt)
    if 1 not in seen or 2 not in seen:
        raise EntryError("E_DECODE", "SignedEntry without header or signature")
    payload = seen.get(3, b"")
    return seen[1], seen[2], payload, len(payload) > 0


def _key_valid(key: str) -> bool:
    b = key.encode("utf-8")
    return 1 <= len(b) <= MAX_RECORD_KEY and all(c >= 0x20 and c != 0x7F for c in b)


def decode_entry(wire: bytes) -> Entry:
    """§5 steps 1-9: structure and header fields (not the signature). EntryError on failure."""
    wire = bytes(wire)
    if len(wire) > MAX_ENTRY:                                                   # step 1
        raise EntryError("E_TOO_LARGE", f"entry of {len(wire)} bytes")
    header, sig, payload, present = split_signed_entry(wire)                     # step 2
    if len(header) > MAX_HEADER or len(payload) > MAX_PAYLOAD:                   # step 3
        raise EntryError("E_TOO_LARGE", "header or payload too large")
    bad_utf8: set = set()
    hdr = strict_parse(pb_entry().Entry, header, bad_utf8)                       # step 4
    if hdr.version != ENTRY_VERSION:                                             # step 5
        raise EntryError("E_VERSION", f"version {hdr.version}")
    prev_ok = len(hdr.prev) == 0 if hdr.seq == 1 else len(hdr.prev) == ID_LEN
    if (len(hdr.author) != KEY_LEN or hdr.seq == 0 or len(hdr.payload_hash) != 32 or  # step 6
            not prev_ok or ("key", None) in bad_utf8 or not _key_valid(hdr.key) or
            (hdr.expires != 0 and hdr.expires <= hdr.timestamp)):
        raise EntryError("E_FIELD", "header field missing or malformed")
    if hdr.kind not in KINDS:                                                    # step 7
        raise EntryError("E_KIND", f"kind {hdr.kind}")
    if hdr.payload_size > MAX_PAYLOAD:                                           # step 8
        raise EntryError("E_TOO_LARGE", f"payload_size {hdr.payload_size}")
    return Entry(wire=wire, header=header, signature=sig, payload=payload,     # step 9
                 payload_present=present, id=h(header), version=hdr.version,
                 author=bytes(hdr.author), seq=hdr.seq, prev=bytes(hdr.prev),
                 timestamp=hdr.timestamp, kind=hdr.kind, key=hdr.key,
                 payload_hash=bytes(hdr.payload_hash), payload_size=hdr.payload_size,
                 expires=hdr.expires)


def verify_entry(e: Entry, now_ms: int) -> None:
    """§5 steps 11-13: signature, payload hash and size, timestamp window."""
    if not verify(e.author, SIGN_PREFIX + e.header, e.signature):                # step 11
        raise EntryError("E_SIGNATURE")
    if e.has_payload:                                                            # step 12
        if len(e.payload) != e.payload_size or h(e.payload) != e.payload_hash:
            raise EntryError("E_PAYLOAD_HASH")
    if e.timestamp < MIN_TIMESTAMP_MS or e.timestamp > now_ms + MAX_FUTURE_MS:   # step 13
        raise EntryError("E_TIMESTAMP", f"timestamp {e.timestamp}")


def decode_payload(kind: int, payload: bytes, bad_utf8: Optional[set] = None) -> Any:
    cls = getattr(pb_entry(), KIND_MESSAGES[kind])
    return strict_parse(cls, payload, bad_utf8)


def _check_text(name: str, s: str, invalid_utf8: bool = False) -> None:
    """§7.1 for one string: its cap (bytes), then UTF-8, then control characters."""
    if len(s.encode("utf-8")) > STRING_CAPS.get(name, DEFAULT_STRING_CAP):
        raise EntryError("E_TOO_LARGE", f"{name}: too long")
    if invalid_utf8:
        raise EntryError("E_RANGE", f"{name}: not valid UTF-8")
    allowed = "\n\t" if name in MULTILINE else ""
    for ch in s:
        if (ord(ch) < 0x20 or ord(ch) == 0x7F) and ch not in allowed:
            raise EntryError("E_RANGE", f"{name}: control character")


def check_payload(kind: int, payload: bytes) -> Any:
    """§7.1 (step 14) and, for retractions, step 15. Returns the decoded message."""
    from google.protobuf.descriptor import FieldDescriptor as F
    bad_utf8: set = set()
    msg = decode_payload(kind, payload, bad_utf8)
    for fd in sorted(msg.DESCRIPTOR.fields, key=lambda f: f.number):
        value = getattr(msg, fd.name)
        if fd.label == F.LABEL_REPEATED:
            if len(value) > MAX_LIST:
                raise EntryError("E_TOO_LARGE", f"{fd.name}: {len(value)} items")
            items = list(enumerate(value))
        else:
            items = [(None, value)]
        for index, v in items:
            if fd.type == F.TYPE_STRING:
                _check_text(fd.name, v, (fd.name, index) in bad_utf8)
            elif fd.type == F.TYPE_BYTES:
                if len(v) not in (0, 32):
                    raise EntryError("E_RANGE", f"{fd.name}: {len(v)} bytes")
            elif fd.type == F.TYPE_MESSAGE and msg.HasField(fd.name):
                if v.amount_minor > MAX_AMOUNT_MINOR:
                    raise EntryError("E_RANGE", f"{fd.name}.amount_minor")
                if len(v.currency.encode()) > DEFAULT_STRING_CAP:
                    raise EntryError("E_TOO_LARGE", f"{fd.name}.currency")
                _check_text("currency", v.currency, (f"{fd.name}.currency", None) in bad_utf8)
    if kind == 5 and (msg.target_kind == 0 or msg.target_key == ""):             # step 15
        raise EntryError("E_DECODE", "retraction without target")
    return msg


def validate_entry(wire: bytes, now_ms: int,
                   admit: Optional[Callable[[bytes], bool]] = None) -> Entry:
    """§5 steps 1-15 in order. Returns the entry or raises EntryError."""
    e = decode_entry(wire)
    if admit is not None and not admit(e.author):                                # step 10
        raise EntryError("E_POLICY")
    verify_entry(e, now_ms)
    if e.payload_present:
        check_payload(e.kind, e.payload)                                         # 14, 15
    elif e.kind == 5 and not e.has_payload:                                      # step 15
        raise EntryError("E_PAYLOAD_HASH", "retraction without its payload")
    return e


def build_entry(kp: Keypair, *, seq: int, prev: Optional[bytes], timestamp: int, kind: int,
                key: str, payload: bytes, expires: int = 0, header_fields: Optional[dict] = None,
                sign: bool = True) -> Entry:
    """§4.5: build and sign an entry. header_fields overrides header fields (for tests that
    need malformed entries); sign=False leaves a zero signature."""
    E = pb_entry().Entry
    hdr = E(version=ENTRY_VERSION, author=kp.public, seq=seq, prev=prev or b"",
            timestamp=timestamp, kind=kind, key=key, payload_hash=h(payload),
            payload_size=len(payload), expires=expires)
    for k, v in (header_fields or {}).items():
        setattr(hdr, k, v)
    header = canonical(hdr)
    sig = kp.sign(SIGN_PREFIX + header) if sign else bytes(64)
    wire = encode_signed_entry(header, sig, payload)
    return Entry(wire=wire, header=header, signature=sig, payload=bytes(payload),
                 payload_present=len(payload) > 0, id=h(header), version=hdr.version,
                 author=bytes(hdr.author), seq=hdr.seq, prev=bytes(hdr.prev),
                 timestamp=hdr.timestamp, kind=hdr.kind, key=hdr.key,
                 payload_hash=bytes(hdr.payload_hash), payload_size=hdr.payload_size,
                 expires=hdr.expires)


def sign_header(kp: Keypair, header: bytes, payload: bytes = b"") -> bytes:
    """SignedEntry wire for arbitrary header bytes (for tests that craft headers by hand)."""
    return encode_signed_entry(header, kp.sign(SIGN_PREFIX + bytes(header)), payload)


class Feed:
    """Consecutive entries of one author: build the chain seq 1, 2, 3 ..."""

    def __init__(self, kp: Keypair, timestamp: int):
        self.kp = kp
        self.entries: list[Entry] = []
        self.timestamp = timestamp

    @property
    def head(self) -> Optional[Entry]:
        return self.entries[-1] if self.entries else None

    def next(self, kind: int, key: str, payload: bytes, expires: int = 0,
             timestamp: Optional[int] = None, append: bool = True, **kw: Any) -> Entry:
        head = self.head
        ts = self.timestamp if timestamp is None else timestamp
        e = build_entry(self.kp, seq=(head.seq + 1) if head else 1,
                        prev=head.id if head else None, timestamp=ts, kind=kind, key=key,
                        payload=payload, expires=expires, **kw)
        if append:
            self.entries.append(e)
        return e


# ---- the chain rule (§5 steps 16-21, §6) ------------------------------------------------------


@dataclass
class Head:
    seq: int
    id: bytes
    timestamp: int
    forked: bool = False


class MemoryStore:
    """Feeds in memory with the chain rule; enough to check the order of §5 and the Heads /
    digest of §9. Record semantics (§6.3-6.5) are not modelled."""

    def __init__(self, admit: Optional[Callable[[bytes], bool]] = None):
        self.admit = admit
        self.ids: dict[bytes, Entry] = {}
        self.heads: dict[bytes, Head] = {}
        self.forks: list[tuple[bytes, int, bytes, bytes]] = []  # author, seq, held id, other id
        self.chain: dict[tuple[bytes, int], bytes] = {}

    def _append(self, e: Entry) -> str:
        if e.id in self.ids:                                                     # step 16
            return "E_DUPLICATE"
        head = self.heads.get(e.author, Head(0, bytes(32), 0))
        if head.forked:                                                          # step 17
            return "E_FORKED_FEED"
        if e.seq <= head.seq:                                                    # step 18
            self.forks.append((e.author, e.seq, self.chain[(e.author, e.seq)], e.id))
            head.forked = True
            self.heads[e.author] = head
            return "E_FORK"
        if e.seq > head.seq + 1:                                                 # step 19
            return "E_GAP"
        if e.prev != (head.id if head.seq else b""):                             # step 20
            return "E_PREV"
        if e.timestamp < head.timestamp:                                         # step 21
            return "E_TIMESTAMP"
        self.ids[e.id] = e
        self.chain[(e.author, e.seq)] = e.id
        self.heads[e.author] = Head(e.seq, e.id, e.timestamp)
        return "OK"

    def ingest(self, wires: Sequence[bytes], now_ms: int) -> list[str]:
        """One batch: validate each entry, then apply the valid ones in (author, seq) order."""
        results: list[str] = [""] * len(wires)
        valid: list[tuple[int, Entry]] = []
        for i, w in enumerate(wires):
            try:
                valid.append((i, validate_entry(w, now_ms, self.admit)))
            except EntryError as err:
                results[i] = err.name
        for i, e in sorted(valid, key=lambda t: (t[1].author, t[1].seq)):
            results[i] = self._append(e)
        return results

    def head_list(self) -> list[tuple[bytes, int, bytes]]:
        """(author, seq, id) of every feed not frozen by a fork, in author order (§9.7)."""
        return sorted((a, hd.seq, hd.id) for a, hd in self.heads.items() if not hd.forked)


# ---- payload JSON (control-socket form, §7.2) -------------------------------------------------


def payload_from_json(kind: int, obj: dict) -> bytes:
    """The payload bytes of a record given in the control socket's JSON form: member names are
    the .proto field names; ids and hub keys 64 hex digits; kinds and response types by name;
    Cost {"amount": units, "currency": code} with amount_minor = round(amount * 100)."""
    from google.protobuf.descriptor import FieldDescriptor as F
    msg = getattr(pb_entry(), KIND_MESSAGES[kind])()
    for name, v in obj.items():
        fd = msg.DESCRIPTOR.fields_by_name.get(name)
        if fd is None:
            raise EntryError("E_FIELD", f"unknown field {name}")
        if fd.label == F.LABEL_REPEATED:
            getattr(msg, name).extend(v)
        elif fd.type == F.TYPE_BYTES:
            setattr(msg, name, bytes.fromhex(v))
        elif fd.type == F.TYPE_ENUM:
            if fd.enum_type.name == "Kind":
                setattr(msg, name, KIND_NUMBERS[v])
            else:
                setattr(msg, name, RESPONSE_TYPE_NUMBERS[v])
        elif fd.type == F.TYPE_MESSAGE:
            c = getattr(msg, name)
            c.amount_minor = int(round(v["amount"] * 100))
            c.currency = v["currency"]
        else:
            setattr(msg, name, v)
    return canonical(msg)


def payload_to_json(kind: int, payload: bytes) -> dict:
    from google.protobuf.descriptor import FieldDescriptor as F
    msg = decode_payload(kind, payload)
    out: dict[str, Any] = {}
    for fd in sorted(msg.DESCRIPTOR.fields, key=lambda f: f.number):
        v = getattr(msg, fd.name)
        if fd.label == F.LABEL_REPEATED:
            if v:
                out[fd.name] = list(v)
        elif fd.type == F.TYPE_MESSAGE:
            if msg.HasField(fd.name):
                a = v.amount_minor
                out[fd.name] = {"amount": a // 100 if a % 100 == 0 else a / 100,
                                "currency": v.currency}
        elif v:
            if fd.type == F.TYPE_BYTES:
                out[fd.name] = v.hex()
            elif fd.type == F.TYPE_ENUM:
                names = KINDS if fd.enum_type.name == "Kind" else RESPONSE_TYPES
                out[fd.name] = names.get(v, v)
            else:
                out[fd.name] = v
    return out


# ---- sync messages (§9) -----------------------------------------------------------------------

SYNC_ARMS = ("hello", "summary", "heads", "want", "entries")


def encode_sync(arm: str, **fields: Any) -> bytes:
    """One SyncMsg frame, e.g. encode_sync("want", author=k, from_seq=1, count=512)."""
    s = pb_sync()
    msg = s.SyncMsg()
    sub = getattr(msg, arm)
    if arm == "heads":
        for a, seq, hid in fields.pop("heads", ()):
            sub.heads.add(author=a, seq=seq, id=hid)
    if arm == "entries":
        sub.entries.extend(fields.pop("entries", ()))
    for k, v in fields.items():
        setattr(sub, k, v)
    sub.SetInParent()
    return canonical(msg)


def decode_sync(frame: bytes) -> tuple[Optional[str], Any]:
    """(arm name or None, the arm's message) of a SyncMsg frame; EntryError E_DECODE."""
    msg = strict_parse(pb_sync().SyncMsg, frame)
    arm = msg.WhichOneof("msg")
    return arm, (getattr(msg, arm) if arm else None)


def hello(hub: bytes, pub_port: int = 0, version: int = SYNC_VERSION) -> bytes:
    return encode_sync("hello", version=version, hub=hub, pub_port=pub_port)


def digest(heads: Iterable[tuple[bytes, int, bytes]]) -> bytes:
    """§9.6: BLAKE2b-256 over author || u64be(seq) || id of each feed, in author order."""
    data = b"".join(a + seq.to_bytes(8, "big") + hid for a, seq, hid in sorted(heads))
    return h(data)


def summary(heads: Sequence[tuple[bytes, int, bytes]]) -> bytes:
    return encode_sync("summary", digest=digest(heads), feeds=len(heads))


def heads_messages(heads: Sequence[tuple[bytes, int, bytes]], reply: bool) -> list[bytes]:
    """§9.7: a Heads list in chunks of at most 1024, `last` on the final (possibly empty) one."""
    heads = sorted(heads)
    out = []
    for i in range(0, len(heads), HEADS_CHUNK):
        out.append(encode_sync("heads", heads=heads[i:i + HEADS_CHUNK], reply=reply, last=False))
    if not heads or len(heads) % HEADS_CHUNK == 0:
        out.append(encode_sync("heads", heads=[], reply=reply, last=True))
    else:
        out[-1] = encode_sync("heads", heads=heads[-(len(heads) % HEADS_CHUNK):], reply=reply,
                              last=True)
    return out


def want(author: bytes, from_seq: int, count: int) -> bytes:
    return encode_sync("want", author=author, from_seq=from_seq, count=count)


def entries_msg(author: bytes, from_seq: int, wires: Sequence[bytes]) -> bytes:
    return encode_sync("entries", author=author, from_seq=from_seq, entries=list(wires))


# ---- test vectors (tests/vectors/entries.txt) -------------------------------------------------


def load_vectors(path: Optional[str] = None) -> list[dict]:
    """The vectors file: blocks "vector NAME" ... "end" of "FIELD VALUE" lines."""
    path = path or os.path.join(SRC_DIR, "tests", "vectors", "entries.txt")
    out: list[dict] = []
    cur: Optional[dict] = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, _, value = line.partition(" ")
            if name == "vector":
                cur = {"name": value}
            elif name == "end":
                if cur is not None:
                    out.append(cur)
                cur = None
            elif cur is not None:
                cur[name] = value
    return out


def _examples() -> None:
    """Print the example values quoted in PROTOCOL.md."""
    vs = load_vectors()
    a = bytes.fromhex(vs[0]["public_key"])
    store = MemoryStore()
    store.ingest([bytes.fromhex(v["wire"]) for v in vs], now_ms=1_800_000_000_000)
    heads = store.head_list()
    print("heads:")
    for au, seq, hid in heads:
        print(" ", au.hex(), seq, hid.hex())
    print("digest", digest(heads).hex())
    print("digest(empty)", digest([]).hex())
    print("hello(A, 7401)", hello(a, 7401).hex())
    print("summary", summary(heads).hex())
    for m in heads_messages(heads, reply=False):
        print("heads(reply=false)", m.hex())
    print("want(A, 2, 512)", want(a, 2, 512).hex())
    print("entries(A, 4, [])", entries_msg(a, 4, []).hex())


if __name__ == "__main__":
    _examples()
