"""Issue 10's whole story on real hubds with DEFAULT configs (no key listed by hand):

A, B, C in a line (A peers only with B, C only with B). C holds A's offers through B by the
default web of trust. B asks for expertise (Spanish OR English, Q2 2027, a budget); `match` on
A and on C ranks the fitting offer first with its reasons and leaves out a past offer and one in
the wrong language. A answers with a sealed proposal only B can read. A runs a
train-the-trainer programme with 2 seats; B and C enrol; A's inbox shows both (C's came through
B); A accepts both; a third enrolment finds it full on every hub. C publishes a programme based
on A's and `lineage` on every hub shows it. B's request gets a version 2 and keeps its replies;
B retracts it and every hub shows the reply closed. A fourth hub D, peered with C only and
added by C with --no-endorse (outside A's trust), enrols in A's programme: the reply reaches A's
inbox while D's own offers stay off A; after `hubctl block D` on A, D's next reply is refused and
counted.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import first_run, start_all, wait_until  # noqa: E402

WAIT = 30
NAMES = {"a": ("EDIH Andalucía", "ES"), "b": ("EDIH Wien", "AT"), "c": ("EDIH Porto", "PT"),
         "d": ("DIH Lyon", "FR")}
REQUEST = {"title": "e-Procurement for municipalities", "topics": ["e-procurement"],
           "languages": ["es", "en"], "start_date": "2027-04-01", "end_date": "2027-06-30",
           "budget": {"amount": 500000, "currency": "EUR"}, "country": "AT"}
OFFERS = {
    "fit": {"title": "Contratación pública electrónica: taller", "topics": ["e-procurement"],
            "languages": ["es"], "mode": "online", "start_date": "2027-05-10",
            "end_date": "2027-05-12", "cost": {"amount": 40000, "currency": "EUR"},
            "country": "ES"},
    "past": {"title": "e-Procurement basics (2024 edition)", "topics": ["e-procurement"],
             "languages": ["es"], "mode": "online", "start_date": "2024-03-01",
             "end_date": "2024-03-02", "country": "ES"},
    "german": {"title": "E-Vergabe für Gemeinden", "topics": ["e-procurement"],
               "languages": ["de"], "mode": "online", "start_date": "2027-05-01",
               "end_date": "2027-05-02", "country": "ES"},
}
TTT = {"title": "Train-the-trainer: AI for public services", "topics": ["train-the-trainer"],
       "languages": ["en"], "train_the_trainer": True, "capacity": 2, "country": "ES",
       "start_date": "2027-09-01", "end_date": "2027-09-30", "service_group": "skills-training"}


def line(h, other):
    return f"{other.endpoint} {other.key}"


def holds(h, entry_id):
    return h.get(entry_id).get("ok") is True


def offer_view(h, author, key):
    got = [r for r in h.query(kind="offer", author=author.key) if r["key"] == key]
    return got[0] if got else None


def inbox(h):
    return h.call("inbox")["replies"]


def enrol(h, a, seats=1, **kw):
    return h.call("publish", kind="response", target=f"{a.key}/offer/ttt",
                  record={"type": "enrolment", "seats": seats, **kw})


def test_the_story(hubs):
    a, b, c, d = (hubs.new(n, policy=None) for n in ("a", "b", "c", "d"))
    first_run(a, b, c, d)
    a.peers, b.peers, c.peers = [line(a, b)], [line(b, a), line(b, c)], [line(c, b)]
    d.peers = [line(d, c)]  # C does not list D: it adds D at run time, without endorsing it
    start_all(a, b, c, d)
    for h in (a, b, c, d):
        assert h.status()["sync"]["policy"] == "trust"
        name, cc = NAMES[h.name]
        h.publish("profile", {"name": name, "country": cc})

    # C holds A's offers through B (B endorses its configured peers; hops 2).
    ids = {k: a.publish("offer", rec, key=k)["id"] for k, rec in OFFERS.items()}
    wait_until(lambda: all(holds(c, i) for i in ids.values()), WAIT,
               msg="C never held A's offers through B")

    # B's expertise request; match on A and on C.
    req = b.publish("request", REQUEST, key="eproc")
    wait_until(lambda: holds(a, req["id"]) and holds(c, req["id"]), WAIT,
               msg="B's request did not reach A and C")
    for h in (a, c):
        m = h.call("match", record=f"{b.key}/request/eproc")
        got = [r["id"] for r in m["results"]]
        assert got and got[0] == ids["fit"], (h.name, m)
        assert ids["past"] not in got and ids["german"] not in got, (h.name, got)
        assert m["left_out"]["past"] >= 1 and m["left_out"]["language"] >= 1, m["left_out"]
        best = m["results"][0]
        assert best["author_name"] == NAMES["a"][0] and best["author_country"] == "ES"
        agreed = {x["field"] for x in best["agreed"]}
        assert {"topics", "languages", "dates", "budget"} <= agreed, best["agreed"]

    # A answers with a sealed proposal only B can read.
    prop = a.call("publish", kind="response", target=f"{b.key}/request/eproc", seal_message=True,
                  record={"type": "proposal", "message": "Our workshop fits: 3 days in May",
                          "contact": "formacion@edih-andalucia.example.es"})
    wait_until(lambda: [x for x in inbox(b) if x["id"] == prop["id"]], WAIT,
               msg="A's proposal never reached B's inbox")
    mine = [x for x in inbox(b) if x["id"] == prop["id"]][0]
    assert mine["sealed"]["contact"] == "formacion@edih-andalucia.example.es", mine
    assert mine["sealed"]["message"] == "Our workshop fits: 3 days in May", mine
    assert mine["author_name"] == NAMES["a"][0]
    wait_until(lambda: holds(c, prop["id"]), WAIT, msg="C never relayed A's proposal")
    on_c = c.get(prop["id"])["entry"]
    assert on_c["sealed"] == "(sealed)", on_c
    assert "formacion@" not in str(on_c) and "3 days in May" not in str(on_c)

    # A's train-the-trainer programme, 2 seats; B and C enrol; A's inbox shows both.
    ttt = a.publish("offer", TTT, key="ttt")
    wait_until(lambda: holds(b, ttt["id"]) and holds(c, ttt["id"]), WAIT,
               msg="the programme did not reach B and C")
    eb, ec = enrol(b, a), enrol(c, a)
    wait_until(lambda: {eb["id"], ec["id"]} <= {x["id"] for x in inbox(a)}, WAIT,
               msg="A's inbox never showed both enrolments (C's through B)")
    names = {x["id"]: x["author_name"] for x in inbox(a)}
    assert names[eb["id"]] == NAMES["b"][0] and names[ec["id"]] == NAMES["c"][0], names
    for e in (eb, ec):
        assert a.call("accept", reply=e["id"])["type"] == "accept"
    # A third enrolment: the programme is full, on every hub.
    third = enrol(b, a, message="one more trainer")
    wait_until(lambda: holds(a, third["id"]), WAIT, msg="the third enrolment did not reach A")
    ans = a.call("accept", reply=third["id"])
    assert ans["type"] == "decline" and ans["reason"] == "full", ans
    for h in (a, b, c):
        wait_until(lambda h=h: (offer_view(h, a, "ttt") or {}).get("seats_left") == 0, WAIT,
                   msg=f"{h.name} never saw the programme full")
        assert offer_view(h, a, "ttt")["full"] is True
        assert ttt["id"] not in [r["id"] for r in h.query(kind="offer", has_seats=True)]

    # C runs a programme based on A's: lineage on every hub, A included.
    derived = c.publish("offer", {"title": "Formar formadores: IA nos serviços públicos",
                                  "country": "PT", "languages": ["pt"],
                                  "based_on": {"author": a.key, "key": "ttt"},
                                  "material_licence": "CC-BY-4.0"}, key="ttt-pt")
    for h in (a, b, c):
        wait_until(lambda h=h: holds(h, derived["id"]), WAIT, msg=f"{h.name} lacks C's programme")
        nodes = h.call("lineage", root=f"{a.key}/ttt")["nodes"]
        assert [(n["depth"], n["key"], n["author_name"], n["author_country"]) for n in nodes] == [
            (0, "ttt", NAMES["a"][0], "ES"), (1, "ttt-pt", NAMES["c"][0], "PT")], (h.name, nodes)

    # B's request, version 2: the replies stay attached.
    v2 = b.publish("request", dict(REQUEST, title="e-Procurement for municipalities (v2)"),
                   key="eproc")
    for h in (a, c):
        wait_until(lambda h=h: holds(h, v2["id"]), WAIT, msg=f"{h.name} lacks version 2")
        found = [r["id"] for r in h.query(kind="response", target=v2["id"])]
        assert prop["id"] in found, (h.name, found)
    assert prop["id"] in [x["id"] for x in inbox(b)]

    # B retracts it: every hub shows the reply closed.
    b.call("retract", key="eproc", kind="request")
    wait_until(lambda: {x["id"]: x["state"] for x in a.call("replies")["replies"]}.get(
        prop["id"]) == "closed", WAIT, msg="A never saw its proposal closed")
    for h in (b, c):
        wait_until(lambda h=h: h.get(prop["id"])["entry"].get("state") == "closed", WAIT,
                   msg=f"{h.name} never showed the proposal closed")

    # D, outside A's trust: its reply reaches A, its offers do not; then A blocks it.
    r = c.ctl("peer", "add", d.endpoint, d.key, "--no-endorse")
    assert r["endorsed"] == "no", r
    d_offer = d.publish("offer", {"title": "D's own course", "country": "FR"}, key="d-course")
    wait_until(lambda: holds(c, d_offer["id"]), WAIT, msg="C never held D's offer")
    wait_until(lambda: holds(d, ttt["id"]), WAIT, msg="D never held A's programme")
    ed = enrol(d, a)
    wait_until(lambda: ed["id"] in {x["id"] for x in inbox(a)}, WAIT,
               msg="D's enrolment never reached A's inbox")
    assert not holds(a, d_offer["id"]), "D's own offer reached A"
    assert a.status()["addressed_replies"]["kept"] >= 1
    assert a.ctl("block", d.key)["blocked"] is True
    before = a.status()["addressed_replies"]["refused"]["blocked"]
    again = enrol(d, a, seats=2)
    wait_until(lambda: a.status()["addressed_replies"]["refused"]["blocked"] > before, WAIT,
               msg="A never refused D's reply after the block")
    assert again["id"] not in {x["id"] for x in inbox(a)}
