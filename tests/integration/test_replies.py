"""Replies, inbox, enrolment and seats, sealed contact, lineage and services (issue 10, items
3-6, 8-10) on two real hubds peered with each other (default policy: direct peers).

A offers a train-the-trainer programme with capacity 2; B enrols (a sealed contact that only A
opens); A's inbox shows the reply with B's hub name, and marks it seen; A accepts and every hub
counts the seats from A's accepts only; an enrolment beyond capacity is answered "full"; a new
version of the offer keeps its replies (--target by the new id, an id prefix, AUTHOR/KIND/KEY);
B publishes a derived offer and lineage on both hubs shows it with hub names; retracting the
offer closes its replies and refuses new ones. Every refusal of a bad target is checked on the
control socket.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import wait_until  # noqa: E402

ZERO = "0" * 64
# A name that JSON must escape (record strings cannot hold control characters: E_RANGE).
WIEN = 'EDIH "Wien" \\ AI'



def first_run(*hs):
    for h in hs:
        h.start(wait=False)
    for h in hs:
        h.wait_ready()
        assert re.fullmatch(r"[0-9a-f]{64}", h.key)
    for h in hs:
        h.stop()


def pair(hubs, na, nb):
    a, b = hubs.new(na), hubs.new(nb)
    first_run(a, b)
    a.peers.append(f"{b.endpoint} {b.key}")
    b.peers.append(f"{a.endpoint} {a.key}")
    for h in (a, b):
        h.start(wait=False)
    for h in (a, b):
        h.wait_ready()
    return a, b


def holds(h, entry_id):
    return h.request({"op": "get", "id": entry_id}).get("ok")


def err(r):
    assert not r["ok"], r
    return r["error"]["code"], r["error"].get("field")


def inbox(h, **kw):
    return h.call("inbox", **kw)["replies"]


def offer_view(h, author, key):
    recs = [r for r in h.query(kind="offer", author=author) if r["key"] == key]
    return recs[0] if recs else None


def test_enrolment_seats_inbox_sealed_lineage_and_retraction(hubs):
    a, b = pair(hubs, "rep-a", "rep-b")
    a.publish("profile", {"name": WIEN, "country": "AT"})
    pb = b.publish("profile", {"name": "EDIH Porto", "country": "PT"})
    o1 = a.publish("offer", {"title": "Train-the-trainer: AI for public services",
                             "capacity": 2, "train_the_trainer": True,
                             "start_date": "2027-04-01", "end_date": "2027-06-30",
                             "material_licence": "CC-BY-4.0",
                             "material_url": "https://edih.example.at/ttt"}, key="ttt")
    wait_until(lambda: holds(b, o1["id"]) and holds(a, pb["id"]), timeout=15,
               msg="the offer and the profile did not cross")

    # Views carry the author's hub name and country, and the seats.
    v = offer_view(b, a.key, "ttt")
    assert v["author_name"] == WIEN and v["author_country"] == "AT", v
    assert v["seats_left"] == 2 and v["full"] is False and v["past"] is False, v
    # ... and hubctl escapes the hostile name in the terminal.
    text = b.ctl("--table", "query", "--kind", "offer", json=False)
    assert WIEN in text, text

    # B enrols through hubctl, naming the record by AUTHOR/KIND/KEY; the contact is sealed.
    enrol = b.ctl("publish", "response", "-", "--target", f"{a.key}/offer/ttt",
                  input=json.dumps({"type": "enrolment", "seats": 1,
                                    "message": "Two trainers from Porto",
                                    "contact": "academy@porto.example.pt"}))
    e1 = b.get(enrol["id"])["entry"]
    rec = e1["record"]
    assert rec["target_author"] == a.key and rec["target_kind"] == "offer"
    assert rec["target_key"] == "ttt" and rec["target"] == o1["id"], rec
    assert "contact" not in rec and rec["sealed"], rec
    assert e1["sealed"] == "(sealed)", e1  # B cannot open what it sealed to A
    assert e1["state"] == "pending" and e1["target_name"] == WIEN, e1

    # A's inbox: B's name, the record answered, the opened contact; new, then seen.
    got = wait_until(lambda: inbox(a, new=True), timeout=15, msg="A's inbox stayed empty")
    assert len(got) == 1 and got[0]["id"] == enrol["id"], got
    r0 = got[0]
    assert r0["author_name"] == "EDIH Porto" and r0["author_country"] == "PT", r0
    assert r0["state"] == "new" and r0["target_title"].startswith("Train-the-trainer"), r0
    assert r0["sealed"] == {"contact": "academy@porto.example.pt"}, r0
    assert inbox(a, new=True) == []
    assert [x["state"] for x in inbox(a)] == ["seen"]
    # get on A opens it too; the text view says it was sealed to this hub.
    assert a.get(enrol["id"])["entry"]["sealed"]["contact"] == "academy@porto.example.pt"
    assert "academy@porto.example.pt (sealed to this hub)" in a.ctl("get", enrol["id"][:10],
                                                                    json=False)
    assert "(sealed)" in b.ctl("get", enrol["id"], json=False)
    # The seen state is local and survives a restart.
    a.restart()
    assert inbox(a, new=True) == []

    # A accepts: seats counted from A's accepts, on both hubs.
    ans = a.ctl("accept", enrol["id"][:12])
    assert ans["type"] == "accept" and ans["seats_left"] == 1, ans
    wait_until(lambda: offer_view(b, a.key, "ttt")["seats_left"] == 1, timeout=15,
               msg="B never counted A's accept")
    mine = b.call("replies")["replies"]
    assert [(x["id"], x["state"]) for x in mine] == [(enrol["id"], "accepted")], mine
    # B's inbox holds A's accept of its enrolment.
    wait_until(lambda: [x for x in inbox(b) if x["record"]["type"] == "accept"], timeout=15,
               msg="A's accept did not reach B's inbox")

    # A new version of the offer keeps its replies: --target by the new id, by a prefix of the
    # old id, by AUTHOR/KIND/KEY.
    o2 = a.publish("offer", {"title": "Train-the-trainer: AI for public services (v2)",
                             "capacity": 2, "train_the_trainer": True,
                             "end_date": "2027-06-30"}, key="ttt")
    wait_until(lambda: holds(b, o2["id"]), timeout=15, msg="v2 did not reach B")
    for spec in (o2["id"], o1["id"][:8], f"{a.key}/offer/ttt"):
        found = [r["id"] for r in b.query(kind="response", target=spec)]
        assert enrol["id"] in found, (spec, found)
    assert offer_view(b, a.key, "ttt")["seats_left"] == 1

    # A second enrolment for 2 seats: accepting it is answered "full"; a third of 1 fills it.
    big = b.request({"op": "publish", "kind": "response", "target": f"{a.key}/offer/ttt",
                     "record": {"type": "enrolment", "seats": 2}})
    assert big["seats_left"] == 1 and big["offer_full"] is False, big
    small = b.request({"op": "publish", "kind": "response", "target": o2["id"],
                       "record": {"type": "enrolment", "seats": 1}})
    assert big["ok"] and small["ok"], (big, small)
    wait_until(lambda: holds(a, big["id"]) and holds(a, small["id"]), timeout=15,
               msg="the enrolments did not reach A")
    full = a.call("accept", reply=big["id"])
    assert full["type"] == "decline" and full["reason"] == "full", full
    ok = a.call("accept", reply=small["id"])
    assert ok["type"] == "accept" and ok["seats_left"] == 0, ok
    wait_until(lambda: offer_view(b, a.key, "ttt")["full"] is True, timeout=15,
               msg="B never saw the offer full")
    assert [r["key"] for r in b.query(kind="offer", has_seats=True)] == []
    late = b.request({"op": "publish", "kind": "response", "target": f"{a.key}/offer/ttt",
                      "record": {"type": "enrolment", "seats": 1}})
    assert late["ok"] and late["offer_full"] is True and late["seats_left"] == 0, late
    note = b.ctl("publish", "response", "-", "--target", f"{a.key}/offer/ttt",
                 input='{"type": "enrolment"}', json=False)
    assert "the offer is full" in note, note
    states = {x["id"]: (x["state"], x.get("answer_reason")) for x in b.call("replies")["replies"]}
    assert states[big["id"]] == ("declined", "full"), states

    # Refusals of bad targets (each leaves B's feed unchanged).
    head = b.status()
    bad = [
        ({"target": f"{a.key}/offer/nope"}, {"type": "interest"}, "E_NOT_FOUND", "target"),
        ({"target": "deadbeef"}, {"type": "interest"}, "E_NOT_FOUND", "target"),
        ({"target": ZERO}, {"type": "interest"}, "E_RANGE", "target"),
        ({"target": f"{ZERO}/offer/ttt"}, {"type": "interest"}, "E_RANGE", "target_author"),
        ({}, {"target_author": ZERO, "target_kind": "offer", "target_key": "ttt",
              "type": "interest"}, "E_RANGE", "target_author"),
        ({"target": enrol["id"]}, {"type": "interest"}, "E_KIND", "target_kind"),
        ({"target": enrol["id"]}, {"type": "accept"}, "E_KIND", "target"),
        ({"target": f"{a.key}/request/ttt"}, {"type": "enrolment"}, "E_KIND", "target_kind"),
    ]
    for extra, record, code, field in bad:
        r = b.request({"op": "publish", "kind": "response", "record": record, **extra})
        assert err(r) == (code, field), (extra, record, r)
    assert b.status()["entries"] == head["entries"]
    # The documented override: a record this hub does not hold (yet).
    unheld = b.request({"op": "publish", "kind": "response", "unheld_target": True,
                        "target": f"{a.key}/offer/not-yet", "record": {"type": "interest"}})
    assert unheld["ok"], unheld
    # Only the offer's author answers an enrolment.
    assert err(b.request({"op": "accept", "reply": enrol["id"]})) == ("E_KIND", "reply")

    # Lineage: B's programme is based on A's.
    d = b.publish("offer", {"title": "Formar formadores: IA na administração pública",
                            "country": "PT", "based_on": {"author": a.key, "key": "ttt"},
                            "material_licence": "CC-BY-4.0"}, key="ttt-pt")
    assert err(b.request({"op": "publish", "kind": "offer", "record": {
        "title": "x", "based_on": {"author": a.key, "key": "missing"}}})) == ("E_NOT_FOUND",
                                                                           "based_on")
    wait_until(lambda: holds(a, d["id"]), timeout=15, msg="the derived offer did not reach A")
    for h in (a, b):
        nodes = h.call("lineage", root=f"{a.key}/ttt")["nodes"]
        assert [(n["depth"], n["key"], n["author_name"]) for n in nodes] == [
            (0, "ttt", WIEN), (1, "ttt-pt", "EDIH Porto")], nodes
        assert [r["id"] for r in h.query(based_on=f"{a.key}/ttt")] == [d["id"]]
    tree = a.ctl("--table", "lineage", f"{a.key}/ttt", json=False).splitlines()
    assert len(tree) == 2 and "Formar formadores" in tree[1] and "EDIH Porto (PT)" in tree[1]
    assert tree[1].startswith("└─ "), tree
    raw = [ln.split("\t") for ln in a.ctl("lineage", f"{a.key}/ttt", json=False).splitlines()]
    assert [(c[0], c[1], c[2], c[4]) for c in raw] == [("0", a.key, "ttt", "AT"),
                                                        ("1", b.key, "ttt-pt", "PT")], raw

    # Retracting the offer closes its replies on every hub; new replies are refused.
    a.call("retract", key="ttt", kind="offer")
    wait_until(lambda: {x["id"]: x["state"] for x in b.call("replies")["replies"]}.get(
        small["id"]) == "accepted" and all(
        x["closed"] for x in b.call("replies")["replies"]
        if x["record"].get("target_key") == "ttt"), timeout=15,
        msg="B never saw the replies closed")
    r = b.request({"op": "publish", "kind": "response", "target": f"{a.key}/offer/ttt",
                   "record": {"type": "interest"}})
    assert err(r) == ("E_NOT_FOUND", "target") and "closed" in r["error"]["message"], r
    r = b.request({"op": "publish", "kind": "response", "target": f"{a.key}/offer/ttt",
                   "unheld_target": True, "record": {"type": "interest"}})
    assert err(r) == ("E_NOT_FOUND", "target"), r


def test_services_and_watch_inbox(hubs):
    a, b = pair(hubs, "svc-a", "svc-b")
    tbi = a.publish("offer", {"title": "Robot cell for a week", "service_group":
                              "test-before-invest", "service_type": "testbed-access",
                              "facility": "Pilot factory, hall 3"}, key="cell")
    a.publish("offer", {"title": "Course"}, key="course")
    assert err(a.request({"op": "publish", "kind": "offer", "record": {
        "title": "x", "service_group": "test-before-invest", "service_type": "course"}})) == (
        "E_VOCAB", "service_type")
    assert err(a.request({"op": "publish", "kind": "offer", "record": {
        "title": "x", "service_group": "labs"}})) == ("E_VOCAB", "service_group")
    req = a.publish("request", {"title": "Need a testbed", "service_group": "test-before-invest"})
    assert [r["id"] for r in a.query(kind="offer", service_group="test-before-invest")] == [
        tbi["id"]]
    assert {r["key"] for r in a.query(kind="offer", service_group="skills-training")} == {
        "course"}
    wait_until(lambda: holds(b, req["id"]), timeout=15, msg="the request did not reach B")

    # watch --inbox streams replies to A's records, not other records.
    with a.connect() as w:
        assert w.request({"op": "watch", "inbox": True})["ok"]
        b.publish("offer", {"title": "not a reply"})
        p = b.request({"op": "publish", "kind": "response", "target": req["id"][:10],
                       "seal_message": True,
                       "record": {"type": "proposal", "message": "Our lab, 3 days, EUR 900",
                                  "contact": "lab@b.example"}})
        assert p["ok"], p
        ev = w.recv(timeout=15)
        assert ev["event"] == "record" and ev["entry"]["id"] == p["id"], ev
        assert ev["entry"]["sealed"] == {"contact": "lab@b.example",
                                         "message": "Our lab, 3 days, EUR 900"}, ev
        assert "message" not in ev["entry"]["record"], ev
