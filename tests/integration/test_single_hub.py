"""Integration tests of one hubd: records, queries, errors, identity, hubctl, watch, logs, expiry.

Every test runs real hubd processes (harness: hubtest.py, fixture `hubs` in conftest.py) and
talks to them only through the control socket (CONTROL.md), hubctl, config files and logs.
Records use the field names of proto/entry.proto and exact labels from shared/vocab/.
"""

import base64
import datetime
import json
import os
import re
import select
import signal
import socket
import stat
import subprocess
import time

import pytest
from nacl.encoding import RawEncoder
from nacl.hash import blake2b
from nacl.signing import SigningKey

from hubtest import HubFactory, SignedEntry, wait_until

# ---------------------------------------------------------------------------------------------
# Test data: one hub's catalogue, one record of each kind

ESCO = "http://data.europa.eu/esco/skill/"
SKILL_ONLINE_TRAINING = ESCO + "0d7f2cce-245a-4d02-9b8d-2e9946cc4c5d"
SKILL_DIGITAL_LITERACY = ESCO + "c8fa4313-80b0-4f37-8b1b-1739707bc362"

PROFILE = {
    "name": "EDIH Tirol - Digital Innovation Hub for the public sector",
    "description": "Test before invest, skills and training for municipalities, hospitals "
                   "and SMEs in Tyrol.",
    "country": "AT",
    "region": "Tyrol",
    "website": "https://edih-tirol.example.at",
    "contact": "hub@edih-tirol.example.at",
    "technologies": ["Artificial Intelligence & Decision support", "Cybersecurity",
                     "Cloud Services"],
    "sectors": ["Public administration", "Health care"],
    "services": ["test-before-invest", "skills-and-training", "Public sector innovation"],
    "languages": ["de", "en"],
    "topics": ["govtech", "digital-skills"],
    "edih_id": "EDIH-AT-0042",
}

TTT_OFFER = {
    "title": "Train-the-trainer: AI for public services",
    "description": "A blended programme that prepares hub staff and trainers to teach AI "
                   "literacy to civil servants.",
    "topics": ["train-the-trainer", "ai-public-services", "digital-skills"],
    "technologies": ["Artificial Intelligence & Decision support"],
    "sectors": ["Public administration"],
    "services": ["skills-and-training"],
    "audience": ["trainers", "hub-staff"],
    "languages": ["de", "en"],
    "mode": "blended",
    "opportunity_type": "Short learning programme",
    "schedule": "part-time-light",
    "country": "AT",
    "location": "Innsbruck",
    "start_date": "2027-03-01",
    "end_date": "2027-05-31",
    "duration_hours": 40,
    "capacity": 24,
    "cost": {"amount": 450, "currency": "EUR"},
    "skills": [SKILL_ONLINE_TRAINING, SKILL_DIGITAL_LITERACY],
    "registration_url": "https://edih-tirol.example.at/ttt-ai-2027",
    "contact": "training@edih-tirol.example.at",
    "train_the_trainer": True,
    "ects_credits": 2,
}

CYBER_OFFER = {
    "title": "Cybersecurity test-before-invest for manufacturing SMEs",
    "description": "Penetration testing of production networks in our lab, with a report "
                   "and an investment plan.",
    "topics": ["cybersecurity"],
    "technologies": ["Cybersecurity", "Internet of Things"],
    "sectors": ["Manufacturing and processing"],
    "services": ["test-before-invest"],
    "audience": ["sme", "small-midcap"],
    "languages": ["de"],
    "mode": "onsite",
    "opportunity_type": "Course",
    "country": "DE",
    "location": "Stuttgart",
    "start_date": "2027-09-06",
    "end_date": "2027-09-10",
    "cost": {"amount": 1200.5, "currency": "EUR"},
}

PUBLIC_REQUEST = {
    "title": "Expertise wanted: EUDI wallet integration for municipal e-services",
    "description": "Our city administration wants to accept the EU Digital Identity Wallet "
                   "for online permits and needs a partner hub with eIDAS experience.",
    "topics": ["eudi-wallet", "digital-identity", "interoperability"],
    "technologies": ["Cybersecurity", "Internet Services & Applications"],
    "sectors": ["Public administration", "Smart City"],
    "services": ["Public sector innovation"],
    "audience": ["public-administration", "municipality"],
    "languages": ["fr", "en"],
    "mode": "online",
    "country": "BE",
    "location": "Liège",
    "start_date": "2027-04-01",
    "end_date": "2027-06-30",
    "needed_by": "2027-03-15",
    "budget": {"amount": 15000, "currency": "EUR"},
    "contact": "smart-city@liege.example.be",
}

# Another hub's key, for the endorsement: a real Ed25519 public key.
OTHER_HUB = SigningKey(b"\x07" * 32).verify_key.encode().hex()


def response_to(offer_id, author):
    return {"target": offer_id, "target_author": author, "target_kind": "offer",
            "target_key": "ttt-ai-2027", "type": "enrolment", "seats": 3,
            "message": "We would like to enrol three trainers from our hub.",
            "contact": "academy@edih-wallonia.example.be"}


ENDORSEMENT = {"hub": OTHER_HUB,
               "statement": "Reliable partner for AI training of public administrations.",
               "topics": ["ai-public-services"]}


def ctl_publish(hub, kind, record, *args):
    """hubctl --json publish KIND - [ARGS], the record on stdin; returns hubd's answer."""
    r = hub.ctl("publish", kind, "-", *args, input=json.dumps(record))
    assert r["ok"] is True and r["kind"] == kind, r
    assert re.fullmatch(r"[0-9a-f]{64}", r["id"]), r
    return r


def offer(i, **fields):
    rec = {"title": f"Workshop {i}: digital maturity assessment for municipalities",
           "country": "AT", "languages": ["de"], "topics": ["digital-maturity-assessment"]}
    rec.update(fields)
    return rec


def now_iso(seconds_ahead):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_ahead)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# A hub holding one record of each kind, shared (read-only) by the publish and query tests


class Catalogue:
    def __init__(self, hub):
        self.hub = hub
        self.published = {}  # name -> publish answer
        self.records = {}  # name -> record JSON as published

    def publish(self, name, kind, record, *args):
        self.published[name] = ctl_publish(self.hub, kind, record, *args)
        self.records[name] = record

    def id(self, name):
        return self.published[name]["id"]

    def names(self, records):
        by_id = {v["id"]: k for k, v in self.published.items()}
        return [by_id.get(r["id"], r["id"]) for r in records]


@pytest.fixture(scope="module")
def shared_catalogue():
    factory = HubFactory()
    try:
        hub = factory("catalogue")
        c = Catalogue(hub)
        c.publish("profile", "profile", PROFILE)
        c.publish("ttt", "offer", TTT_OFFER, "--key", "ttt-ai-2027")
        c.publish("cyber", "offer", CYBER_OFFER, "--key", "cyber-tbi-2027")
        c.publish("req", "request", PUBLIC_REQUEST, "--key", "eudi-wallet-2027")
        c.publish("resp", "response", response_to(c.id("ttt"), hub.key))
        c.publish("endorse", "endorsement", ENDORSEMENT)
        yield c
    finally:
        factory.cleanup()  # a crash shows in the teardown of the test it happened in


@pytest.fixture
def catalogue(shared_catalogue):
    """The shared catalogue hub; the test's teardown fails if hubd died during the test."""
    yield shared_catalogue
    hub = shared_catalogue.hub
    if not hub.running():
        pytest.fail(f"catalogue hubd died (exit {hub.proc.returncode})\n{hub.log_tail()}",
                    pytrace=False)


def test_publish_each_kind_via_hubctl(catalogue):
    c = catalogue
    seqs = [c.published[n]["seq"] for n in ("profile", "ttt", "cyber", "req", "resp", "endorse")]
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert len({p["id"] for p in c.published.values()}) == 6
    assert c.published["profile"]["key"] == "profile"
    assert c.published["ttt"]["key"] == "ttt-ai-2027"
    assert c.published["resp"]["key"] != c.published["endorse"]["key"]  # generated keys
    st = c.hub.status()
    assert (st["own_seq"], st["entries"], st["records"], st["feeds"]) == (6, 6, 6, 1)
    # Each record reads back exactly as published, under this hub's key.
    for name, rec in c.records.items():
        r = c.hub.ctl("get", c.id(name))
        e = r["entry"]
        if name == "resp":
            # A reply's contact is sealed to the target's hub (here this hub, which opens it).
            rec = {k: v for k, v in rec.items() if k != "contact"}
            assert e["sealed"] == {"contact": c.records[name]["contact"]}, e
            assert e["record"].pop("sealed")
        assert e["record"] == rec, name
        assert e["author"] == c.hub.key and e["purged"] is False
        assert e["kind"] == c.published[name]["kind"]


def test_entries_form_a_hash_chain(catalogue):
    c = catalogue
    prev = ""
    for name in ("profile", "ttt", "cyber", "req", "resp", "endorse"):
        e = c.hub.get(c.id(name))["entry"]
        assert e["prev"] == prev, name
        prev = e["id"]


# (hubctl query arguments) -> names of the records expected, in any order
QUERY_CASES = [
    (["--kind", "offer"], {"ttt", "cyber"}),
    (["--kind", "request"], {"req"}),
    (["--kind", "profile"], {"profile"}),
    (["--kind", "response"], {"resp"}),
    (["--kind", "endorsement"], {"endorse"}),
    (["--topic", "train-the-trainer"], {"ttt"}),
    (["--topic", "ai-public-services"], {"ttt", "endorse"}),
    (["--topic", "eudi-wallet"], {"req"}),
    (["--country", "AT"], {"profile", "ttt"}),
    (["--country", "de"], {"cyber"}),  # case-insensitive
    (["--country", "BE"], {"req"}),
    (["--country", "FR"], set()),
    (["--language", "en"], {"profile", "ttt", "req"}),
    (["--language", "fr"], {"req"}),
    # values of one filter: any of them matches (issue 11; before, all had to)
    (["--language", "de", "--language", "en"], {"profile", "ttt", "cyber", "req"}),
    (["--language", "en", "--language", "fr"], {"profile", "ttt", "req"}),
    (["--language", "fr,de"], {"profile", "ttt", "cyber", "req"}),
    # different filters: all must match
    (["--language", "de,en", "--country", "AT"], {"profile", "ttt"}),
    (["--language", "fr", "--country", "AT"], set()),
    (["--technology", "Cybersecurity"], {"profile", "cyber", "req"}),
    (["--technology", "Artificial Intelligence & Decision support"], {"profile", "ttt"}),
    (["--sector", "Public administration"], {"profile", "ttt", "req"}),
    (["--sector", "Manufacturing and processing"], {"cyber"}),
    (["--service", "test-before-invest"], {"profile", "cyber"}),
    (["--audience", "public-administration"], {"req"}),
    (["--audience", "trainers"], {"ttt"}),
    (["--audience", "sme"], {"cyber"}),
    (["--mode", "blended"], {"ttt"}),
    (["--skill", SKILL_DIGITAL_LITERACY], {"ttt"}),
    (["--text", "wallet municipal"], {"req"}),
    (["--text", "Penetration"], {"cyber"}),
    (["--text", "SMEs"], {"profile", "cyber"}),
    (["--text", "trainer public"], {"ttt"}),
    (["--text", "zebra"], set()),
    (["--from", "2027-04-15", "--to", "2027-04-20"], {"ttt", "req"}),
    (["--from", "2027-05-31", "--to", "2027-05-31"], {"ttt", "req"}),  # inclusive bounds
    (["--from", "2027-09-01", "--to", "2027-12-31"], {"cyber"}),
    (["--from", "2027-01-01", "--to", "2027-02-15"], set()),
    (["--from", "2027-06-30"], {"req", "cyber"}),
    (["--to", "2027-03-31"], {"ttt"}),
    (["--topic", "train-the-trainer", "--country", "AT", "--language", "de"], {"ttt"}),
    (["--kind", "offer", "--country", "DE"], {"cyber"}),
    (["--kind", "request", "--audience", "public-administration", "--sector", "Smart City"],
     {"req"}),
    (["--kind", "offer", "--audience", "public-administration"], set()),
]


@pytest.mark.parametrize("args,expected", QUERY_CASES, ids=[" ".join(a) for a, _ in QUERY_CASES])
def test_query_filters(catalogue, args, expected):
    r = catalogue.hub.ctl("query", *args)
    names = catalogue.names(r["records"])
    assert sorted(names) == sorted(expected)
    assert len(names) == len(set(names)) and r["count"] == len(names)
    assert "next" not in r


def test_query_by_author_and_target(catalogue):
    c = catalogue
    mine = c.names(c.hub.ctl("query", "--author", c.hub.key)["records"])
    assert sorted(mine) == sorted(c.published)
    assert c.hub.ctl("query", "--author", OTHER_HUB)["records"] == []
    assert c.names(c.hub.ctl("query", "--target", c.id("ttt"))["records"]) == ["resp"]
    assert c.names(c.hub.ctl("query", "--target", OTHER_HUB)["records"]) == ["endorse"]
    assert c.hub.ctl("query", "--target", c.id("cyber"))["records"] == []


def test_query_newest_first_and_raw_socket_lists(catalogue):
    c = catalogue
    r = c.hub.request({"op": "query"})
    assert r["ok"] and c.names(r["records"]) == ["endorse", "resp", "req", "cyber", "ttt",
                                                 "profile"]
    # A list filter over the socket behaves like repeated hubctl options: any of the values.
    r = c.hub.request({"op": "query", "language": ["de", "en"], "kind": "offer", "tag": 42})
    assert c.names(r["records"]) == ["cyber", "ttt"] and r["tag"] == 42


def test_get_returns_record_and_signed_wire(catalogue):
    c = catalogue
    for name in c.published:
        r = c.hub.ctl("get", c.id(name))
        e = r["entry"]
        se = SignedEntry.decode(base64.b64decode(r["wire"]))
        # Checked independently of hubd: id = BLAKE2b-256(header), Ed25519 over the prefix.
        assert se.entry_id() == e["id"] == c.id(name)
        assert se.verify(), name
        h = se.fields()
        assert h["author"] == c.hub.key == e["author"]
        assert (h["seq"], h["kind"], h["key"], h["prev"]) == (e["seq"], e["kind"], e["key"],
                                                              e["prev"])
        assert h["payload_size"] == len(se.payload) == e["payload_size"]
        assert blake2b(se.payload, digest_size=32, encoder=RawEncoder).hex() == \
            h["payload_hash"] == e["payload_hash"]
        # hubctl get --wire prints exactly the same bytes.
        assert c.hub.ctl("get", "--wire", c.id(name), json=False).strip() == r["wire"]


def test_get_unknown_id(catalogue):
    r = catalogue.hub.get("ab" * 32)
    assert r["ok"] is False and r["error"]["code"] == "E_NOT_FOUND"
    res = catalogue.hub.ctl("get", "ab" * 32, json=False, check=False)
    assert res.code == 1 and "E_NOT_FOUND" in res.stderr


def test_get_by_id_prefix(hubs):
    """Like git: a unique prefix (4+ hex digits, any case) names an entry; the 8 digits that
    tables show always do here. An ambiguous prefix asks for more digits."""
    hub = hubs("prefix")
    r = hub.call("import", records=[{"kind": "offer", "record": offer(i)} for i in range(300)])
    assert r["accepted"] == 300
    ids = [x["id"] for x in hub.query(limit=1000)]
    assert len(ids) == 300
    for full in ids[:20]:
        for n in (8, 11, 63):
            got = hub.get(full[:n].upper() if n == 11 else full[:n])
            assert got["ok"] and got["entry"]["id"] == full, (full, n)
    assert hub.ctl("get", ids[0][:8])["entry"]["id"] == ids[0]
    # 300 ids over 65536 four-digit prefixes: find one shared by two, and one used by none
    by4 = {}
    for full in ids:
        by4.setdefault(full[:4], []).append(full)
    shared = [p for p, v in by4.items() if len(v) > 1]
    if shared:
        r = hub.get(shared[0])
        assert r["ok"] is False and r["error"]["code"] == "E_RANGE"
        assert "several" in r["error"]["message"]
        # one more digit than the ids share tells them apart
        a, b = by4[shared[0]][:2]
        n = next(i for i in range(64) if a[i] != b[i]) + 1
        assert hub.get(a[:n])["entry"]["id"] == a
    unused = next(f"{i:04x}" for i in range(65536) if f"{i:04x}" not in by4)
    r = hub.get(unused)
    assert r["ok"] is False and r["error"]["code"] == "E_NOT_FOUND"
    for bad in ("abc", "zzzz", ids[0] + "0", ""):
        r = hub.get(bad)
        assert r["ok"] is False and r["error"]["code"] in ("E_RANGE", "E_BAD_REQUEST"), bad


# ---------------------------------------------------------------------------------------------
# Paging, update, history, retraction


def test_paging_returns_every_record_once(hubs):
    hub = hubs("paging")
    r = hub.call("import", records=[{"kind": "offer", "record": offer(i)} for i in range(137)])
    assert r["accepted"] == 137 and (r["first_seq"], r["last_seq"]) == (1, 137)
    ids, cursor, pages = [], None, 0
    while True:
        args = ["query", "--kind", "offer", "--limit", "10"] + (["--cursor", cursor] if cursor else [])
        page = hub.ctl(*args)
        pages += 1
        assert len(page["records"]) == page["count"] <= 10
        ids += [x["id"] for x in page["records"]]
        cursor = page.get("next")
        if cursor is None:
            break
        assert pages < 50, "cursor never ends"
    assert len(ids) == 137 and len(set(ids)) == 137
    assert pages == 14
    seqs = [hub.get(i)["entry"]["seq"] for i in ids[:12]]
    assert seqs == list(range(137, 125, -1))  # newest first across the page boundary
    # --all follows the cursors itself.
    everything = hub.ctl("query", "--kind", "offer", "--all", "--limit", "25")
    got = [x["id"] for page in (everything if isinstance(everything, list) else [everything])
           for x in page["records"]]
    assert sorted(got) == sorted(ids)


def test_update_shows_new_version_history_shows_both(hubs):
    hub = hubs("update")
    v1 = ctl_publish(hub, "offer", TTT_OFFER, "--key", "ttt-ai-2027")
    v2_rec = dict(TTT_OFFER, title="Train-the-trainer: AI for public services (2nd run)",
                  start_date="2027-10-04", end_date="2027-12-17")
    v2 = ctl_publish(hub, "offer", v2_rec, "--key", "ttt-ai-2027")
    assert v2["seq"] == v1["seq"] + 1 and v2["key"] == v1["key"] == "ttt-ai-2027"
    recs = hub.ctl("query", "--kind", "offer")["records"]
    assert [(x["id"], x["record"]["title"]) for x in recs] == [(v2["id"], v2_rec["title"])]
    # The old version's dates and words no longer match.
    assert hub.ctl("query", "--from", "2027-03-01", "--to", "2027-03-31")["records"] == []
    assert [x["id"] for x in hub.ctl("query", "--text", "2nd run")["records"]] == [v2["id"]]
    st = hub.status()
    assert (st["entries"], st["records"]) == (2, 1)
    h = hub.ctl("history", "ttt-ai-2027", "--kind", "offer")
    assert [v["id"] for v in h["versions"]] == [v1["id"], v2["id"]]  # oldest first
    assert h["versions"][0]["record"] == TTT_OFFER
    assert h["versions"][1]["record"] == v2_rec


def test_retract_hides_record_and_purges_every_version(hubs):
    hub = hubs("retract")
    keep = ctl_publish(hub, "offer", CYBER_OFFER, "--key", "cyber-tbi-2027")
    v1 = ctl_publish(hub, "offer", TTT_OFFER, "--key", "ttt-ai-2027")
    v2 = ctl_publish(hub, "offer", dict(TTT_OFFER, capacity=30), "--key", "ttt-ai-2027")
    r = hub.ctl("retract", "ttt-ai-2027", "--kind", "offer", "--reason", "cancelled: trainer unavailable")
    assert r["ok"] and r["seq"] == v2["seq"] + 1
    for args in (["--kind", "offer"], ["--topic", "train-the-trainer"], ["--text", "trainer"],
                 ["--country", "AT"], []):
        ids = [x["id"] for x in hub.ctl("query", *args)["records"]
               if x["kind"] != "retraction"]
        assert v1["id"] not in ids and v2["id"] not in ids, args
    assert [x["id"] for x in hub.ctl("query", "--kind", "offer")["records"]] == [keep["id"]]
    h = hub.ctl("history", "ttt-ai-2027", "--kind", "offer")
    vs = [v for v in h["versions"] if v["kind"] == "offer"]
    assert [v["id"] for v in vs] == [v1["id"], v2["id"]]
    for v in vs:
        assert v["purged"] is True and "record" not in v
    for i in (v1["id"], v2["id"]):
        e = hub.get(i)["entry"]
        assert e["purged"] is True and "record" not in e
        # the header stays, and the wire carries no payload any more
        assert SignedEntry.decode(hub.wire(i)).payload == b""
    assert hub.ctl("get", keep["id"])["entry"]["record"] == CYBER_OFFER
    # Nothing left to retract under that key.
    again = hub.request({"op": "retract", "key": "ttt-ai-2027", "kind": "offer"})
    assert again["ok"] is False and again["error"]["code"] == "E_NOT_FOUND"


def test_hubd_survives_retract_and_empty_import(hubs):
    # Regression: store batches that add no index keys once made UBSan builds abort
    # (qsort(NULL, 0) in store.c ix_flush).
    hub = hubs("ubsan")
    pub = hub.publish("offer", offer(1), key="w1")
    wire = base64.b64encode(hub.wire(pub["id"])).decode()
    r = hub.call("import", entries=[wire])  # its own entry again: nothing to store
    assert r["results"] == ["E_DUPLICATE"]
    assert hub.running() and hub.status()["entries"] == 1
    assert hub.call("retract", key="w1", kind="offer")["seq"] == 2
    assert hub.running() and hub.status()["own_seq"] == 2


# ---------------------------------------------------------------------------------------------
# Restarts


def snapshot(hub):
    st = hub.status()
    return ({k: st[k] for k in ("hub", "own_seq", "entries", "records", "feeds")},
            hub.query(limit=1000),
            hub.query(topic="train-the-trainer"),
            hub.query(**{"from": "2027-04-01", "to": "2027-04-30"}))


def test_restart_keeps_everything_and_continues_chain(hubs):
    hub = hubs("restart")
    ctl_publish(hub, "profile", PROFILE)
    ctl_publish(hub, "offer", TTT_OFFER, "--key", "ttt-ai-2027")
    ctl_publish(hub, "offer", CYBER_OFFER, "--key", "cyber")
    ctl_publish(hub, "offer", dict(CYBER_OFFER, capacity=8), "--key", "cyber")
    ctl_publish(hub, "request", PUBLIC_REQUEST)
    last = ctl_publish(hub, "offer", offer(1), "--key", "gone")
    retraction = hub.ctl("retract", "gone")
    before = snapshot(hub)
    assert before[0]["own_seq"] == 7
    hub.stop()
    assert hub.exit_codes == [0]
    hub.start()
    assert snapshot(hub) == before
    assert hub.ctl("history", "cyber", "--kind", "offer")["versions"][0]["record"] == CYBER_OFFER
    assert hub.get(last["id"])["entry"]["purged"] is True
    nxt = ctl_publish(hub, "offer", offer(2))
    assert nxt["seq"] == 8
    assert hub.get(nxt["id"])["entry"]["prev"] == retraction["id"]
    assert hub.status()["own_seq"] == 8


def test_kill_9_loses_nothing_accepted(hubs):
    hub = hubs("kill9")
    ids = [hub.publish("offer", offer(i))["id"] for i in range(30)]
    r = hub.call("import", records=[{"kind": "request", "record": dict(PUBLIC_REQUEST, title=f"Request {i}")}
                                    for i in range(300)])
    assert r["accepted"] == 300
    ids.append(hub.publish("endorsement", ENDORSEMENT)["id"])
    before = snapshot(hub)
    assert before[0]["own_seq"] == 331
    hub.kill()
    assert hub.exit_codes == [-signal.SIGKILL]
    hub.start()
    assert snapshot(hub) == before
    for i in ids:
        assert hub.get(i)["ok"], i
    assert len(hub.query(kind="request")) == 300
    assert hub.publish("offer", offer(99))["seq"] == 332


def test_index_tail_survives_restart_and_merges_when_idle(hubs):
    """Small batches are indexed in memory (and in the store's "recent" table) and merged into
    the LMDB index when the hub is idle: queries find the records before and after the merge,
    and after a kill -9 the tail is rebuilt from the store."""
    hub = hubs("tail")
    recs = [{"kind": "offer", "key": f"tail-{i}",
             "record": dict(TTT_OFFER, title=f"Tail offer {i}")} for i in range(400)]
    for i in range(0, 400, 100):  # batches far below the direct-write size
        assert hub.call("import", records=recs[i:i + 100])["accepted"] == 100
    ids = [hub.publish("offer", offer(i))["id"] for i in range(5)]
    st = hub.status()
    assert isinstance(st["index_tail"], int) and 0 <= st["index_tail"] <= st["records"]
    before = snapshot(hub)
    assert len(hub.query(topic="train-the-trainer", limit=1000)) == 400
    hub.kill()
    hub.start()
    assert snapshot(hub) == before
    # idle for a second: the tail is merged (down to at most 256 records) and nothing is lost
    deadline = time.monotonic() + 20
    while hub.status()["index_tail"] > 256:
        assert time.monotonic() < deadline, "index tail never merged"
        time.sleep(0.2)
    assert snapshot(hub) == before
    assert len(hub.query(topic="train-the-trainer", limit=1000)) == 400
    for i in ids:
        assert hub.get(i)["ok"], i
    # an update and a retraction of merged records are seen by queries
    hub.call("import", records=[dict(recs[0], record=dict(TTT_OFFER, title="Tail offer renamed"))])
    hub.ctl("retract", "tail-1", "--kind", "offer")
    titles = {r["record"]["title"] for r in hub.query(topic="train-the-trainer", limit=1000)}
    assert "Tail offer renamed" in titles and "Tail offer 0" not in titles
    assert "Tail offer 1" not in titles and len(titles) == 399


# ---------------------------------------------------------------------------------------------
# Errors: each bad request is refused with its code and changes nothing

BAD_REQUESTS = [
    ("malformed JSON", b'{"op":"publish","kind":"offer",', "E_BAD_REQUEST", None),
    ("not an object", b'["status"]', "E_BAD_REQUEST", None),
    ("missing op", {"kind": "offer"}, "E_BAD_REQUEST", None),
    ("unknown op", {"op": "publsh"}, "E_UNKNOWN_OP", "op"),
    ("version 2", {"op": "status", "v": 2}, "E_VERSION", None),
    ("version 2 publish", {"op": "publish", "v": 2, "kind": "offer", "record": {"title": "x"}},
     "E_VERSION", None),
    ("title not a string", {"op": "publish", "kind": "offer", "record": {"title": 7}},
     "E_TYPE", "title"),
    ("topics not a list", {"op": "publish", "kind": "offer",
                           "record": {"title": "x", "topics": "govtech"}}, "E_TYPE", "topics"),
    ("country not ISO 3166", {"op": "publish", "kind": "offer",
                              "record": {"title": "x", "country": "XX"}}, "E_VOCAB", "country"),
    ("country lower case", {"op": "publish", "kind": "request",
                            "record": {"title": "x", "country": "at"}}, "E_VOCAB", "country"),
    ("technology not a label", {"op": "publish", "kind": "offer",
                                "record": {"title": "x", "technologies": ["Cybersecurity", "AI"]}},
     "E_VOCAB", "technologies"),
    ("sector wrong case", {"op": "publish", "kind": "request",
                           "record": {"title": "x", "sectors": ["public administration"]}},
     "E_VOCAB", "sectors"),
    ("audience unknown", {"op": "publish", "kind": "offer",
                          "record": {"title": "x", "audience": ["everyone"]}}, "E_VOCAB", "audience"),
    ("title 201 bytes", {"op": "publish", "kind": "offer", "record": {"title": "T" * 201}},
     "E_TOO_LARGE", "title"),
    ("title 202 bytes of UTF-8", {"op": "publish", "kind": "offer", "record": {"title": "ä" * 101}},
     "E_TOO_LARGE", "title"),
    ("date 30 February", {"op": "publish", "kind": "offer",
                          "record": {"title": "x", "start_date": "2027-02-30"}}, "E_RANGE",
     "start_date"),
    ("date not ISO", {"op": "publish", "kind": "request",
                      "record": {"title": "x", "end_date": "31/12/2027"}}, "E_RANGE", "end_date"),
    ("end before start", {"op": "publish", "kind": "offer",
                          "record": {"title": "x", "start_date": "2027-05-02",
                                     "end_date": "2027-05-01"}}, "E_RANGE", "end_date"),
    ("unknown kind", {"op": "publish", "kind": "advert", "record": {"title": "x"}}, "E_KIND", None),
    ("retraction via publish", {"op": "publish", "kind": "retraction",
                                "record": {"target_kind": "offer", "target_key": "k"}}, "E_KIND",
     None),
    ("expires in the past", {"op": "publish", "kind": "offer", "record": {"title": "x"},
                             "expires": "2020-01-01T00:00:00Z"}, "E_RANGE", "expires"),
    # -1 was stored as 0, "never expires"; past year 9999 is a mistake, not a date.
    ("expires -1", {"op": "publish", "kind": "offer", "record": {"title": "x"}, "expires": -1},
     "E_RANGE", "expires"),
    ("expires past 9999", {"op": "publish", "kind": "offer", "record": {"title": "x"},
                           "expires": 253402300800000}, "E_RANGE", "expires"),
    ("expires 2^63-1", {"op": "publish", "kind": "offer", "record": {"title": "x"},
                        "expires": 9223372036854775807}, "E_RANGE", "expires"),
    ("expires digits past 9999", {"op": "publish", "kind": "offer", "record": {"title": "x"},
                                  "expires": "4611686018427387903"}, "E_RANGE", "expires"),
    ("query bad date", {"op": "query", "from": "2027-13-01"}, "E_RANGE", "from"),
    ("query limit 0", {"op": "query", "limit": 0}, "E_RANGE", "limit"),
    ("query limit 1001", {"op": "query", "limit": 1001}, "E_RANGE", "limit"),
    ("get bad id", {"op": "get", "id": "xyz"}, "E_RANGE", "id"),
    ("response bad target", {"op": "publish", "kind": "response",
                             "record": {"target": "00", "type": "interest"}}, "E_RANGE", "target"),
]


def test_bad_requests_are_refused_and_change_nothing(hubs):
    hub = hubs("errors")
    hub.publish("offer", TTT_OFFER, key="ttt-ai-2027")
    before = hub.status()
    with hub.connect() as conn:  # one connection: a bad line does not end it
        for what, req, code, field in BAD_REQUESTS:
            r = conn.request(req)
            assert r["ok"] is False, what
            assert r["error"]["code"] == code, (what, r)
            assert r["error"]["message"], what
            if field is not None:
                assert r["error"].get("field", "").startswith(field), (what, r)
        assert conn.request({"op": "status"})["ok"] is True
    after = hub.status()
    for k in ("own_seq", "entries", "records"):
        assert after[k] == before[k], k
    assert hub.query() == hub.query(kind="offer") and len(hub.query()) == 1


def test_control_socket_limits(hubs):
    hub = hubs("ctllimits", extra={"hub": {"control_max_clients": 2}})
    assert stat.S_IMODE(os.stat(hub.control_socket).st_mode) == 0o660  # documented default

    def only_client(conn):
        # A closed connection frees its slot once hubd has seen its EOF: wait for that.
        wait_until(lambda: conn.request({"op": "status"})["clients"] == 1, 5,
                   msg="closed clients not released")

    with hub.connect() as c1:
        only_client(c1)
        # A full hub closes its longest-idle client for a new one, but never a watch: with
        # both slots watching, a third client is refused.
        assert c1.request({"op": "watch"})["watching"]
        with hub.connect() as c2:
            assert c2.request({"op": "watch"})["watching"]
            with hub.connect() as c3:
                r = c3.recv(timeout=5)
                assert r["ok"] is False and r["error"]["code"] == "E_BUSY"
    # The watches' slots are free once hubd has seen them close (until then a new client may
    # still be refused): ask on fresh connections.
    wait_until(lambda: hub.request({"op": "status"}).get("clients") == 1, 5,
               msg="closed watches not released")
    with hub.connect() as c:
        try:
            c.sock.sendall(b'{"op":"status","pad":"' + b"x" * (17 << 20) + b'"}\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # hubd may close before reading it all; its answer is still there
        r = c.recv(timeout=10)
        assert r["ok"] is False and r["error"]["code"] == "E_TOO_LARGE"
    with hub.connect() as c:
        only_client(c)
        # just under the limit is fine
        assert c.request(b'{"op":"id","pad":"' + b"x" * (15 << 20) + b'"}')["ok"] is True
        r = c.request({"op": "publish", "kind": "offer", "key": "k" * 129,
                       "record": {"title": "x"}})
        assert r["error"]["code"] == "E_RANGE" and r["error"]["field"] == "key"
        assert c.request({"op": "status"})["entries"] == 0


def test_retract_needs_kind_when_key_is_ambiguous(hubs):
    hub = hubs("ambiguous")
    o = hub.publish("offer", offer(1), key="shared-key")
    hub.publish("request", dict(PUBLIC_REQUEST), key="shared-key")
    r = hub.request({"op": "retract", "key": "shared-key"})
    assert r["ok"] is False and r["error"].get("field") == "kind"
    assert hub.status()["records"] == 2
    hub.call("retract", key="shared-key", kind="request")
    assert [x["id"] for x in hub.query(kind="offer")] == [o["id"]]
    assert hub.query(kind="request") == []


def test_status_fields(hubs):
    hub = hubs("status")
    st = hub.ctl("status")
    for k in ("hub", "version", "protocol", "uptime_s", "data_dir", "control_socket", "own_seq",
              "entries", "records", "feeds", "forks", "map_size", "used_bytes", "clients",
              "peers", "rejected", "index_tail"):
        assert k in st, k
    assert st["protocol"] == 1 and st["forks"] == [] and st["clients"] >= 1
    assert st["data_dir"] == hub.data_dir and st["control_socket"] == hub.control_socket
    assert 0 < st["used_bytes"] <= st["map_size"]


def test_status_peers_as_documented(hubs):
    st = hubs("statuspeers").status()
    assert st["peers"] == {"configured": 0, "inbound": 0, "connected": 0}


def test_limits_accept_exactly_the_maximum(hubs):
    hub = hubs("limits")
    assert hub.publish("offer", {"title": "T" * 200})["seq"] == 1
    assert hub.publish("offer", {"title": "ä" * 100})["seq"] == 2


def test_error_echoes_tag(hubs):
    hub = hubs("tag")
    r = hub.request({"op": "publish", "kind": "offer", "record": {"title": 7}, "tag": {"n": 1}})
    assert r["ok"] is False and r["tag"] == {"n": 1}
    assert hub.request({"op": "id", "tag": "x"})["tag"] == "x"


def test_hubctl_reports_hubd_errors(hubs, tmp_path):
    hub = hubs("ctlerr")
    res = hub.ctl("publish", "offer", "-", json=False, check=False,
                  input=json.dumps({"title": "x", "country": "XX"}))
    assert res.code == 1
    assert "E_VOCAB" in res.stderr and "country" in res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = hub.ctl("publish", "offer", str(bad), json=False, check=False)
    assert res.code == 4, res
    res = hub.ctl("publish", "offer", str(tmp_path / "missing.json"), json=False, check=False)
    assert res.code == 4, res
    res = hub.ctl("frobnicate", json=False, check=False)
    assert res.code == 2 and "frobnicate" in res.stderr
    assert hub.status()["entries"] == 0


def test_import_records_is_all_or_nothing(hubs):
    hub = hubs("import")
    hub.publish("profile", PROFILE)
    good = [{"kind": "offer", "key": f"o{i}", "record": offer(i)} for i in range(5)]
    bad = {"kind": "offer", "record": offer(99, technologies=["Quantum computing"])}
    r = hub.request({"op": "import", "records": good[:3] + [bad] + good[3:]})
    assert r["ok"] is False
    assert r["error"]["code"] == "E_VOCAB" and r["error"]["index"] == 3
    assert r["error"]["field"].startswith("records[3].technologies")
    r = hub.request({"op": "import", "records": good + [{"kind": "offer", "record": {"title": 7}}]})
    assert r["error"]["code"] == "E_TYPE" and r["error"]["index"] == 5
    st = hub.status()
    assert (st["own_seq"], st["entries"], st["records"]) == (1, 1, 1)
    assert hub.query(kind="offer") == []
    # The same records without the bad one go in, in order, in one call.
    r = hub.call("import", records=good)
    assert (r["accepted"], r["first_seq"], r["last_seq"]) == (5, 2, 6)


def test_big_import_answers_like_a_small_one(hubs):
    """Requests of 64 KiB and more have their records parsed on every core (control.c,
    import_fast); their answers must be exactly those of the ordinary path: the same error for
    the same bad record, nothing stored, malformed JSON refused, duplicate keys refused."""
    hub = hubs("bigimport")
    good = [{"kind": "offer", "key": f"big{i}", "record": offer(i)} for i in range(400)]
    assert len(json.dumps({"op": "import", "records": good})) > 64 * 1024
    bad = {"kind": "offer", "record": offer(999, technologies=["Quantum computing"])}
    for records, code, index, field in (
            (good[:250] + [bad] + good[250:], "E_VOCAB", 250, "records[250].technologies"),
            (good + [{"kind": "offer", "record": {"title": 7}}], "E_TYPE", 400,
             "records[400].title"),
            (good[:9] + [{"kind": "advert", "record": {"title": "x"}}] + good[9:], "E_KIND", None,
             "records[9].kind"),
            (good[:3] + [{"kind": "offer", "record": offer(3), "expires": "2020-01-01T00:00:00Z"}]
             + good[3:], "E_RANGE", None, "records[3].expires")):
        r = hub.request({"op": "import", "tag": "t", "records": records})
        assert r["ok"] is False and r["error"]["code"] == code, r
        assert r["error"].get("field", "").startswith(field), r
        assert r["tag"] == "t"
        if index is not None:
            assert r["error"]["index"] == index
    st = hub.status()
    assert (st["own_seq"], st["entries"]) == (0, 0)
    # Malformed JSON deep inside, a duplicate key in a record, two "records" lists, trailing
    # garbage: refused as a small request would be, and nothing stored.
    line = json.dumps({"op": "import", "records": good})
    at = line.index('"key": "big300"')
    for broken in (line[:at] + line[at + 1:],                       # a quote missing
                   line.replace('"key": "big7",', '"key": "big7", "key": "again",', 1),
                   line[:-1] + ', "records": []}',                     # "records" twice
                   line[:-1] + r', "rec\u006frds": []}',              # ... once escaped
                   line + " x"):
        r = hub.request(broken.encode())
        assert r["ok"] is False and r["error"]["code"] == "E_BAD_REQUEST", (r, broken[-80:])
    assert hub.status()["entries"] == 0
    # and the good ones go in, in order, with every field intact
    r = hub.call("import", tag="t", records=good)
    assert (r["accepted"], r["first_seq"], r["last_seq"]) == (400, 1, 400)
    got = {x["key"]: x["record"] for x in hub.query(kind="offer", limit=1000)}
    assert len(got) == 400 and got["big123"]["title"] == offer(123)["title"]


def test_big_import_parsed_while_signed_stops_at_the_first_bad_record(hubs):
    """From 512 records, a big import's records are parsed on every core while the first ones
    are already signed and stored in the open transaction (node_publish_stream). A bad record
    anywhere, even after hundreds were stored, must give the answer of the ordinary path for the
    lowest bad index and leave nothing behind; the next import starts the feed where it was."""
    hub = hubs("streamimport")
    n = 1500
    good = [{"kind": "offer", "key": f"s{i}", "record": offer(i)} for i in range(n)]
    bad_vocab = {"kind": "offer", "record": offer(9999, technologies=["Quantum computing"])}
    bad_type = {"kind": "offer", "record": {"title": 7}}
    hub.call("import", records=good[:10])  # the feed has a head: seq 1..10
    cases = (
        (good[:1200] + [bad_vocab] + good[1200:], "E_VOCAB", 1200, "records[1200].technologies"),
        ([bad_type] + good, "E_TYPE", 0, "records[0].title"),
        (good + [bad_vocab], "E_VOCAB", n, f"records[{n}].technologies"),
        # two bad ones: the first is reported, wherever the threads found them first
        (good[:700] + [bad_type] + good[700:1400] + [bad_vocab] + good[1400:], "E_TYPE", 700,
         "records[700].title"),
        (good[:600] + [{"kind": "offer", "key": "", "record": offer(1)}] + good[600:], "E_RANGE",
         None, "records[600].key"),
    )
    for records, code, index, field in cases:
        r = hub.request({"op": "import", "tag": "s", "records": records})
        assert r["ok"] is False and r["error"]["code"] == code, r
        assert r["error"].get("field", "").startswith(field), r
        assert r["tag"] == "s"
        if index is not None:
            assert r["error"]["index"] == index, r
        st = hub.status()
        assert (st["own_seq"], st["entries"], st["records"]) == (10, 10, 10), st
    # a record that is not JSON, late in the line: the ordinary path says where
    line = json.dumps({"op": "import", "records": good[10:]})
    at = line.index('"key": "s1300"')
    r = hub.request((line[:at] + line[at + 1:]).encode())
    assert r["ok"] is False and r["error"]["code"] == "E_BAD_REQUEST", r
    assert hub.status()["entries"] == 10
    r = hub.call("import", records=good[10:])
    assert (r["accepted"], r["first_seq"], r["last_seq"]) == (n - 10, 11, n)
    got = {x["key"]: x for x in hub.query(kind="offer", limit=1000)}  # all pages
    assert len(got) == n and got["s1234"]["record"]["title"] == offer(1234)["title"]
    assert got["s1234"]["seq"] == 1235
    hub.restart()
    st = hub.status()
    assert (st["own_seq"], st["entries"], st["records"]) == (n, n, n)


def test_import_records_via_hubctl(hubs, tmp_path):
    hub = hubs("ctlimport")
    f = tmp_path / "offers.jsonl"
    f.write_text("".join(json.dumps({"kind": "offer", "key": f"w{i}", "record": offer(i)}) + "\n"
                         for i in range(20)))
    hub.ctl("import", str(f))
    assert len(hub.query(kind="offer")) == 20
    f.write_text(json.dumps({"kind": "offer", "record": offer(1)}) + "\n{broken\n")
    res = hub.ctl("import", str(f), json=False, check=False)
    assert res.code == 4 and hub.status()["entries"] == 20  # checked before anything is sent


def test_hubctl_import_sends_the_checked_lines_in_requests_of_10000(hubs, tmp_path):
    """hubctl import checks every line of a file first, then sends the lines as they are
    (not re-encoded), 10,000 to a request: 12,345 records are two requests, stored in file
    order, every field intact, found by index queries (hubd writes an import's postings in
    chunks of 2,048 while it signs), an update within one request replacing the first
    version's postings. A duplicate key in a line is refused before anything is sent (hubd
    would refuse the whole request); stdin is checked line by line as it is sent."""
    hub = hubs("ctlbatch")
    n = 12345
    countries, topics = ("AT", "DE", "FR", "IT"), ("govtech", "open-data", "cybersecurity")

    def rec(i):  # varied, so that the index (written in chunks of 2,048 by hubd) is checked
        return offer(i, country=countries[i % 4], topics=[topics[i % 3]])
    f = tmp_path / "many.jsonl"
    f.write_text("".join(json.dumps({"kind": "offer", "key": f"m{i}", "record": rec(i)},
                                    ensure_ascii=(i % 2 == 0)) + "\r\n" for i in range(n)))
    r = hub.ctl("import", str(f))
    assert (r["accepted"], r["requests"], r["first_seq"], r["last_seq"]) == (n, 2, 1, n), r
    got = {x["key"]: x for x in hub.query(kind="offer", limit=1000)}
    assert len(got) == n
    assert got["m10000"]["seq"] == 10001
    for i in (0, 777, 9999, 10000, n - 1):  # both sides of the request boundary, both encodings
        want = rec(i)
        assert {k: got[f"m{i}"]["record"][k] for k in want} == want, i
    for c, t in (("AT", "govtech"), ("FR", "cybersecurity"), ("IT", "open-data")):
        want = {f"m{i}" for i in range(n) if rec(i)["country"] == c and rec(i)["topics"] == [t]}
        assert {x["key"] for x in hub.query(country=c, topic=t, limit=1000)} == want, (c, t)
    assert [x["key"] for x in hub.query(text="Workshop 4097", limit=5)][:1] == ["m4097"]
    # A big file is checked on every core, in parts that end at a line's end: the first bad
    # line is reported with its number, whichever part it is in, and nothing is sent.
    text = f.read_text().splitlines(keepends=True)
    for bad in ((9000,), (2, 9000), (n,)):
        broken = list(text)
        for b in bad:
            broken[b - 1] = '{"kind": "offer", "record": [1, 2]}\n'
        g = tmp_path / "broken.jsonl"
        g.write_text("".join(broken))
        res = hub.ctl("import", str(g), json=False, check=False)
        assert res.code == 4 and f":{bad[0]}: " in res.stderr and '"record"' in res.stderr, res
        assert res.stderr.count("hubctl:") == 1, res.stderr
    assert hub.status()["entries"] == n
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps({"kind": "offer", "record": offer(1)}) + "\n" +
                   '{"kind": "offer", "key": "d1", "key": "d2", "record": {"title": "x"}}\n')
    res = hub.ctl("import", str(dup), json=False, check=False)
    assert res.code == 4 and ":2:" in res.stderr and "duplicate" in res.stderr, res
    assert hub.status()["entries"] == n
    lines = "".join(json.dumps({"kind": "offer", "key": f"in{i}", "record": offer(i)}) + "\n"
                    for i in range(3))
    r = hub.ctl("import", "-", input=lines)
    assert (r["accepted"], r["first_seq"], r["last_seq"]) == (3, n + 1, n + 3), r
    # A record updated within one request, its first version's postings already written (an
    # earlier chunk): only the second is found.
    upd = tmp_path / "upd.jsonl"
    lines = [{"kind": "offer", "key": f"u{i}", "record": offer(i, country="SE")}
             for i in range(4100)]
    lines[0]["record"]["topics"] = ["govtech"]
    lines[4099] = {"kind": "offer", "key": "u0", "record": offer(0, country="SE",
                                                                topics=["cybersecurity"])}
    upd.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert hub.ctl("import", str(upd))["requests"] == 1
    assert "u0" not in {x["key"] for x in hub.query(country="SE", topic="govtech", limit=1000)}
    assert [x["key"] for x in hub.query(country="SE", topic="cybersecurity")] == ["u0"]


def test_import_entries_signature_duplicate(hubs, tmp_path):
    src = hubs("source")
    ids = [src.publish("offer", TTT_OFFER, key="ttt-ai-2027")["id"],
           src.publish("request", PUBLIC_REQUEST)["id"]]
    wires = [src.wire(i) for i in ids]
    dst = hubs("dest", allow=[src.key])

    def tampered_sig(w):
        se = SignedEntry.decode(w)
        sig = bytearray(se.signature)
        sig[17] ^= 0x01
        return se._replace(signature=bytes(sig)).b64()

    def tampered_payload(w):
        se = SignedEntry.decode(w)
        return se._replace(payload=se.payload.replace(b"AI", b"XX")).b64()

    r = dst.call("import", entries=[tampered_sig(wires[0])])
    assert r["results"] == ["E_SIGNATURE"] and r["accepted"] == 0
    r = dst.call("import", entries=[tampered_payload(wires[0])])
    assert r["results"] == ["E_PAYLOAD_HASH"] and r["accepted"] == 0
    assert dst.status()["entries"] == 0 and dst.query() == []
    # A tampered entry among valid ones: the valid ones are stored, each result on its own.
    r = dst.call("import", entries=[base64.b64encode(wires[0]).decode(), tampered_sig(wires[1])])
    assert r["results"] == ["OK", "E_SIGNATURE"] and r["accepted"] == 1
    r = dst.call("import", entries=[base64.b64encode(w).decode() for w in wires])
    assert r["results"] == ["E_DUPLICATE", "OK"] and r["accepted"] == 1 and r["duplicate"] == 1
    st = dst.status()
    assert st["entries"] == 2 and st["rejected"].get("E_SIGNATURE", 0) >= 2
    got = dst.get(ids[0])["entry"]
    assert got["author"] == src.key and got["record"] == TTT_OFFER
    # A tampered copy of an entry already held is just a duplicate: its header (and so its id)
    # is one this hub verified before, and nothing is stored (PROTOCOL.md, validation order).
    r = dst.call("import", entries=[tampered_sig(wires[0])])
    assert r["results"] == ["E_DUPLICATE"] and r["accepted"] == 0
    # hubctl import --entries: a rejected line makes the exit status 1.
    w3 = src.wire(src.publish("offer", dict(TTT_OFFER, title="Third offer"))["id"])
    f = tmp_path / "entries.b64"
    f.write_text(base64.b64encode(wires[1]).decode() + "\n" + tampered_sig(w3) + "\n")
    res = dst.ctl("import", "--entries", str(f), json=False, check=False)
    assert res.code == 1, res
    assert dst.status()["entries"] == 2


# ---------------------------------------------------------------------------------------------
# Identity and the one-daemon-per-data-dir rule


def test_identity_key_mode_and_stability(hubs):
    hub = hubs("identity")
    path = os.path.join(hub.data_dir, "identity.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = hub.key
    hub.stop()
    os.chmod(path, 0o644)
    code, out = hub.run_to_exit()
    assert code != 0
    assert "identity.key" in out and re.search(r"chmod|mode|permission", out), out
    os.chmod(path, 0o600)
    hub.start()
    assert hub.call("id")["hub"] == key  # the same identity after a restart


def test_second_hubd_on_same_data_dir_refuses(hubs):
    first = hubs("first")
    first.publish("offer", offer(1))
    second = hubs.new("second", data_dir=first.data_dir)  # own socket and ports
    code, out = second.run_to_exit()
    assert code != 0
    assert "already" in out and first.data_dir in out, out
    assert first.status()["entries"] == 1  # the first one is unharmed
    # Same control socket as well: still refused, and the first keeps its socket.
    third = hubs.new("third", data_dir=first.data_dir, control_socket=first.control_socket)
    code, out = third.run_to_exit()
    assert code != 0 and "already" in out, out
    assert first.status()["entries"] == 1


# ---------------------------------------------------------------------------------------------
# hubctl

SUBCOMMANDS = [["status"], ["id"], ["publish"], ["get"], ["query"], ["history"], ["retract"],
               ["watch"], ["import"], ["peers"], ["peer"], ["peer", "add"], ["peer", "remove"]]


def test_hubctl_without_hubd(hubs):
    hub = hubs.new("absent")  # never started
    for args in (["status"], ["id"], ["query", "--kind", "offer"]):
        res = hub.ctl(*args, json=False, check=False)
        assert res.code == 3, (args, res)
        assert hub.control_socket in res.stderr and "hubd" in res.stderr, res.stderr
        assert res.stdout == ""
    res = hub.ctl("status", json=True, check=False)
    assert res.code == 3


@pytest.mark.parametrize("cmd", SUBCOMMANDS, ids=" ".join)
def test_hubctl_subcommand_help(hubs, cmd):
    hub = hubs.new("help")  # --help needs no hubd
    res = hub.ctl(*cmd, "--help", json=False, check=False)
    assert res.code == 0, res
    assert res.stdout.startswith("usage: hubctl " + cmd[0]), res.stdout
    assert "Example" in res.stdout
    res2 = hub.ctl("help", *cmd[:1], json=False, check=False)
    assert res2.code == 0 and res2.stdout.startswith("usage: hubctl " + cmd[0])


def test_hubctl_global_help_lists_every_command(hubs):
    hub = hubs.new("help")
    out = hub.ctl("--help", json=False)
    for cmd in SUBCOMMANDS:
        assert re.search(r"^\s+" + " ".join(cmd) + r"\b", out, re.M), cmd
    assert hub.ctl("--version", json=False).startswith("hubctl")
    assert hub.ctl("help", json=False) == out
    res = hub.ctl("status", "--bogus", json=False, check=False)
    assert res.code == 2 and "--bogus" in res.stderr  # usage error


def test_hubctl_help_help(hubs):
    res = hubs.new("help").ctl("help", "--help", json=False, check=False)
    assert res.code == 0, res


def test_hubctl_json_output_parses(hubs):
    hub = hubs("json")
    pub = ctl_publish(hub, "offer", TTT_OFFER, "--key", "ttt-ai-2027")
    outputs = {
        "status": hub.ctl("status"),
        "id": hub.ctl("id"),
        "query": hub.ctl("query", "--kind", "offer"),
        "get": hub.ctl("get", pub["id"]),
        "history": hub.ctl("history", "ttt-ai-2027", "--kind", "offer"),
        "peers": hub.ctl("peers"),
    }
    for name, o in outputs.items():
        assert isinstance(o, dict) and o["ok"] is True, name
    assert outputs["id"]["hub"] == hub.key == outputs["status"]["hub"]
    assert outputs["status"]["own_seq"] == 1
    assert outputs["query"]["records"][0]["id"] == pub["id"]
    assert outputs["peers"]["peers"] == []
    # Human output is not JSON, and names the same facts.
    text = hub.ctl("status", json=False)
    assert hub.key in text
    with pytest.raises(ValueError):
        json.loads(text)


# ---------------------------------------------------------------------------------------------
# watch


def read_line(proc, timeout):
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if r else None


def wait_watchers(hub, n):
    # "watchers" counts connections whose watch request hubd has accepted: only then can a
    # test stop the client and rely on it being subscribed
    wait_until(lambda: hub.status()["watchers"] >= n, 5, msg=f"{n} watcher(s) not watching")


def test_hubctl_watch_receives_new_offer(hubs):
    hub = hubs("watch")
    hub.publish("offer", offer(0))  # before the watch: not shown
    p = subprocess.Popen([hub.hubctl, "--socket", hub.control_socket, "--json", "watch",
                          "--kind", "offer"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        wait_watchers(hub, 1)
        hub.publish("request", PUBLIC_REQUEST)  # filtered out
        pub = hub.publish("offer", TTT_OFFER, key="ttt-ai-2027")
        line = read_line(p, 5)
        assert line, "hubctl watch printed nothing"
        ev = json.loads(line)
        assert ev["event"] == "record" and ev["entry"]["id"] == pub["id"]
        assert ev["entry"]["record"] == TTT_OFFER
        p.send_signal(signal.SIGINT)
        assert p.wait(5) == 0  # Ctrl-C ends a watch with status 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_socket_watch_filters_and_retraction(hubs):
    hub = hubs("watch2")
    with hub.connect(timeout=5) as at, hub.connect(timeout=5) as every:
        assert at.request({"op": "watch", "country": "AT", "tag": 1}) == \
            {"ok": True, "watching": True, "cursor": 0, "tag": 1}
        assert every.request({"op": "watch"})["watching"] is True
        wait_watchers(hub, 2)
        de = hub.publish("offer", CYBER_OFFER, key="cyber")  # DE
        at_offer = hub.publish("offer", TTT_OFFER, key="ttt-ai-2027")  # AT
        ret = hub.call("retract", key="cyber", kind="offer")
        ev = at.recv()
        assert ev["event"] == "record" and ev["entry"]["id"] == at_offer["id"]
        got = [every.recv()["entry"] for _ in range(3)]
        assert [e["id"] for e in got] == [de["id"], at_offer["id"], ret["id"]]
        assert got[2]["kind"] == "retraction"
        # A watching connection takes no other requests.
        r = every.request({"op": "status"})
        assert r["ok"] is False


def test_stuck_watcher_does_not_block_publishing(hubs):
    hub = hubs("stuck", extra={"hub": {"watch_backlog": "1M"}})
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(hub.control_socket)
    try:
        stuck.sendall(b'{"op":"watch"}\n')
        wait_watchers(hub, 1)
        big = "Hands-on sessions on digital maturity assessment. " * 20
        for batch in range(4):  # 2000 records, about 1.5 KB of watch output each
            t0 = time.monotonic()
            r = hub.call("import", records=[
                {"kind": "offer", "record": offer(batch * 500 + i, description=big)}
                for i in range(500)])
            assert r["accepted"] == 500
            assert time.monotonic() - t0 < 5, "import stalled behind a stuck watcher"
        t0 = time.monotonic()
        st = hub.status()
        assert time.monotonic() - t0 < 1.0
        assert st["own_seq"] == 2000
        # The stuck watcher is cut off; the hub goes on serving.
        wait_until(lambda: hub.status()["clients"] == 1, 10, msg="stuck watcher never dropped")
        assert hub.wait_log("behind")
        assert hub.call("query", kind="offer", limit=10)["count"] == 10
    finally:
        stuck.close()


def drain(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return data
        data += chunk


def test_overflowing_watcher_is_told_overflow(hubs):
    # A watcher that stops reading falls behind; when it reads again it gets complete lines,
    # then {"event":"overflow"}, then end of stream (hubd gives it a grace time to read them).
    hub = hubs("overflow", extra={"hub": {"watch_backlog": "1M"}})
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(hub.control_socket)
    try:
        stuck.sendall(b'{"op":"watch"}\n')
        wait_watchers(hub, 1)
        big = "Hands-on sessions on digital maturity assessment. " * 20
        for batch in range(4):
            hub.call("import", records=[{"kind": "offer", "record": offer(i, description=big)}
                                        for i in range(500)])
        data = drain(stuck)
    finally:
        stuck.close()
    wait_until(lambda: hub.status()["clients"] == 1, 10, msg="overflowed watcher never dropped")
    assert data.endswith(b"\n"), f"stream ends mid-line: ...{data[-80:]!r}"
    lines = data.split(b"\n")[:-1]
    assert json.loads(lines[0]) == {"ok": True, "watching": True, "cursor": 0}
    for line in lines[1:-1]:
        assert json.loads(line)["event"] == "record"
    assert json.loads(lines[-1]) == {"event": "overflow"}


def test_hubctl_watch_overflow_exit_status(hubs):
    hub = hubs("ctloverflow", extra={"hub": {"watch_backlog": "1M"}})
    p = subprocess.Popen([hub.hubctl, "--socket", hub.control_socket, "--json", "watch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_watchers(hub, 1)
        p.send_signal(signal.SIGSTOP)
        big = "Hands-on sessions on digital maturity assessment. " * 20
        for batch in range(4):
            hub.call("import", records=[{"kind": "offer", "record": offer(i, description=big)}
                                        for i in range(500)])
        p.send_signal(signal.SIGCONT)
        out, err = p.communicate(timeout=20)
        assert p.returncode == 1, (p.returncode, err)
        assert b"overflow" in err or b"overflow" in out, (out[-200:], err)
        wait_until(lambda: hub.status()["clients"] == 1, 10, msg="overflowed watcher never dropped")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.communicate()


# ---------------------------------------------------------------------------------------------
# Shutdown and logs

TEXT_LOG = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (DEBUG|INFO|WARN|ERROR) +"
                      r"[a-z]+: \S")


def test_sigterm_exits_cleanly_and_logs_are_structured(hubs):
    hub = hubs("logs")
    hub.publish("offer", TTT_OFFER)
    assert hub.stop() == 0
    lines = hub.log_lines()
    assert lines and "stopped cleanly" in lines[-1]
    for line in lines:
        assert TEXT_LOG.match(line), line
    subsystems = {re.match(r"\S+ \S+ +([a-z]+):", l).group(1) for l in lines}
    assert "hubd" in subsystems and len(subsystems) >= 2
    # The timestamps are UTC "now" (within a minute).
    ts = datetime.datetime.strptime(lines[-1][:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - ts).total_seconds()) < 60


def test_json_log_format(hubs):
    hub = hubs("jsonlog", log_format="json")
    hub.publish("offer", TTT_OFFER)
    hub.request(b"{broken")
    hub.stop()
    lines = hub.log_lines()
    assert len(lines) >= 4
    objs = [json.loads(line) for line in lines]  # every line is one JSON object
    for o in objs:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", o["ts"]), o
        assert o["level"] in ("debug", "info", "warn", "error"), o
        assert re.fullmatch(r"[a-z]+", o["subsys"]) and o["msg"], o
    assert objs[-1]["msg"] == "stopped cleanly"


def test_info_log_never_shows_record_content(hubs):
    hub = hubs("privacy", log_level="info")
    secret_title = "Confidential pilot Zanzibar-Quokka for the ministry"
    hub.publish("offer", dict(TTT_OFFER, title=secret_title, contact="quokka@ministry.example"))
    r = hub.request({"op": "publish", "kind": "offer",
                     "record": {"title": "Rejected Wombat-Oryx", "country": "XX"}})
    assert r["ok"] is False
    hub.stop()
    text = hub.log_text()
    for needle in ("Zanzibar", "Quokka", "quokka@", "Wombat"):
        assert needle not in text, needle
    assert " DEBUG " not in text


# ---------------------------------------------------------------------------------------------
# Expiry


def test_expired_record_disappears_and_is_purged(hubs):
    hub = hubs("expiry", sweep_interval=1)
    stays = hub.publish("offer", CYBER_OFFER, key="cyber")
    exp = hub.ctl("publish", "offer", "-", "--key", "short", "--expires", now_iso(3),
                  input=json.dumps(TTT_OFFER))
    e = hub.get(exp["id"])["entry"]
    assert e["expires"] > e["timestamp"] and e["record"] == TTT_OFFER
    assert {x["id"] for x in hub.query(kind="offer")} == {stays["id"], exp["id"]}
    wait_until(lambda: [x["id"] for x in hub.query(kind="offer")] == [stays["id"]], 10,
               msg="expired offer still listed")
    assert hub.query(topic="train-the-trainer") == []
    wait_until(lambda: hub.get(exp["id"])["entry"]["purged"], 10, msg="payload never purged")
    e = hub.get(exp["id"])["entry"]
    assert "record" not in e
    assert SignedEntry.decode(hub.wire(exp["id"])).payload == b""
    v = hub.ctl("history", "short", "--kind", "offer")["versions"]
    assert [x["purged"] for x in v] == [True]
    assert hub.get(stays["id"])["entry"]["record"] == CYBER_OFFER
    # The expiry survives a restart.
    hub.restart()
    assert [x["id"] for x in hub.query(kind="offer")] == [stays["id"]]
    assert hub.get(exp["id"])["entry"]["purged"] is True


def test_expires_out_of_range_refused_by_hubctl_publish(hubs):
    hub = hubs("expiry-range")
    for bad in ("-1", "9223372036854775807", "253402300800000"):
        res = hub.ctl("publish", "offer", "-", "--expires", bad, input=json.dumps(offer(1)),
                      check=False)
        assert res.code != 0, (bad, res)
        assert "E_RANGE" in res.stdout + res.stderr, (bad, res)
    assert hub.query(kind="offer") == []
    # The last millisecond of 9999 is the latest accepted.
    res = hub.ctl("publish", "offer", "-", "--expires", "253402300799999",
                  input=json.dumps(offer(2)), check=False)
    assert res.code == 0, res


def test_expires_in_milliseconds(hubs):
    hub = hubs("expiry-ms")
    ms = int(time.time() * 1000) + 3_600_000
    r = hub.request({"op": "publish", "kind": "offer", "record": offer(1), "expires": ms})
    assert r["ok"] is True, r
    assert hub.get(r["id"])["entry"]["expires"] == ms
    res = hub.ctl("publish", "offer", "-", "--expires", str(ms), input=json.dumps(offer(2)),
                  check=False)
    assert res.code == 0, res
