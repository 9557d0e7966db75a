"""Matching with reasons (CONTROL.md "match"), on real hubds: hub A publishes offers, hub B an
expertise request (Spanish OR English, a window in Q2 2027, a budget); on both hubs `match`
ranks the fitting offers first with their reasons and leaves out a past offer and an offer in
the wrong language; --hubs ranks A by its profile and offers; the reverse (--requests) finds
B's request from A's offer."""

import re

from hubtest import wait_until


def link_and_start(a, b):
    for h in (a, b):
        h.start(wait=False)
    for h in (a, b):
        h.wait_ready()
        assert re.fullmatch(r"[0-9a-f]{64}", h.key)
    for h in (a, b):
        h.stop()
    a.peers.append(f"{b.endpoint} {b.key}")
    b.peers.append(f"{a.endpoint} {a.key}")
    for h in (a, b):
        h.start(wait=False)
    for h in (a, b):
        h.wait_ready()


REQUEST = {
    "title": "E-procurement with AI for a regional government",
    "topics": ["e-procurement", "ai"],
    "languages": ["es", "en"],
    "mode": "online",
    "country": "ES",
    "start_date": "2027-04-01",
    "end_date": "2027-06-30",
    "budget": {"amount": 5000, "currency": "EUR"},
}

OFFERS = {
    # every criterion agrees
    "best": {"title": "E-procurement and AI, online course", "topics": ["ai", "e-procurement"],
             "languages": ["es"], "mode": "online", "country": "ES",
             "start_date": "2027-04-10", "end_date": "2027-04-12",
             "cost": {"amount": 400, "currency": "EUR"}},
    # half the topics, English, onsite in another country, over budget
    "partial": {"title": "AI literacy for civil servants", "topics": ["ai"],
                "languages": ["en"], "mode": "onsite", "country": "AT",
                "start_date": "2027-05-02", "end_date": "2027-05-03",
                "cost": {"amount": 6000, "currency": "EUR"}},
    # as good on paper, but over
    "past": {"title": "E-procurement and AI, 2021 edition", "topics": ["ai", "e-procurement"],
             "languages": ["es"], "mode": "online", "country": "ES",
             "start_date": "2021-03-01", "end_date": "2021-03-02"},
    # as good, but in German only
    "german": {"title": "KI in der Beschaffung", "topics": ["ai", "e-procurement"],
               "languages": ["de"], "mode": "online", "country": "ES",
               "start_date": "2027-04-10"},
    # nothing the request asks about
    "offtopic": {"title": "Cyber hygiene for schools", "topics": ["cybersecurity"],
                 "languages": ["en"]},
}


def test_match_ranks_fitting_offers_with_reasons(hubs):
    a, b = hubs.new("match-a"), hubs.new("match-b")
    link_and_start(a, b)
    a.publish("profile", {"name": "Hub Alpha", "country": "AT", "topics": ["ai"],
                          "languages": ["de", "en"]}, key="profile")
    ids = {k: a.publish("offer", rec, key=k)["id"] for k, rec in OFFERS.items()}
    req = b.publish("request", REQUEST, key="eproc-2027")
    wait_until(lambda: all(b.get(i).get("ok") for i in ids.values()), timeout=20,
               msg="b never received a's offers")
    wait_until(lambda: a.get(req["id"]).get("ok"), timeout=20,
               msg="a never received b's request")

    refs = {b: req["id"], a: f"{b.key}/request/eproc-2027"}
    for h in (a, b):
        m = h.call("match", record=refs[h])
        got = [r["id"] for r in m["results"]]
        assert got == [ids["best"], ids["partial"]], (h.name, m)
        assert m["want"] == "offers" and m["count"] == 2
        assert m["left_out"]["past"] == 1 and m["left_out"]["language"] == 1
        assert ids["offtopic"] not in got  # not even a candidate: no subject value shared
        best, partial = m["results"]
        assert best["score"] == 100 and best["score"] > partial["score"]
        assert best["author"] == a.key and best["author_name"] == "Hub Alpha"
        assert best["author_country"] == "AT"
        assert best["entry"]["record"]["title"] == OFFERS["best"]["title"]
        agreed = {x["field"]: x for x in best["agreed"]}
        assert set(agreed) == {"topics", "languages", "country", "mode", "dates", "budget"}
        assert best["differed"] == []
        assert agreed["languages"]["detail"] == "es"
        assert agreed["budget"]["detail"] == "400.00 EUR within 5000.00"
        pa = {x["field"]: x for x in partial["agreed"]}
        pd = {x["field"]: x for x in partial["differed"]}
        assert pa["topics"]["detail"] == "ai; not e-procurement" and pa["topics"]["points"] == 10
        assert set(pd) == {"country", "mode", "budget"}
        assert pd["mode"]["detail"] == "onsite; asked online"
        assert pd["budget"]["detail"] == "6000.00 EUR over 5000.00"
        # the same ranking through hubctl, by an id prefix, as JSON and as a table
        j = h.ctl("match", refs[h] if h is a else req["id"][:12])
        assert [r["id"] for r in j["results"]] == got
        text = h.ctl("--table", "match", refs[h], json=False)
        lines = text.splitlines()
        first = next(i for i, l in enumerate(lines) if OFFERS["best"]["title"][:20] in l)
        second = next(i for i, l in enumerate(lines) if OFFERS["partial"]["title"][:20] in l)
        assert first < second and "Hub Alpha" in lines[first]
        assert "KI in der" not in text and "2021 edition" not in text

    # hubs: A ranks by the better of its profile and its offers
    hm = b.call("match", record=req["id"], hubs=True)
    assert hm["want"] == "hubs" and [x["author"] for x in hm["results"]] == [a.key]
    hub = hm["results"][0]
    assert hub["author_name"] == "Hub Alpha" and hub["score"] == 100
    assert [o["id"] for o in hub["offers"]] == [ids["best"], ids["partial"]]
    assert {x["field"] for x in hub["profile"]["agreed"]} >= {"topics", "languages"}

    # the reverse: the open requests A's offer could serve
    rm = a.call("match", record=ids["best"], requests=True)
    assert rm["want"] == "requests" and [r["id"] for r in rm["results"]] == [req["id"]]
    assert rm["results"][0]["author"] == b.key
    # and the wrong-language offer serves none
    assert a.call("match", record=ids["german"])["results"] == []

    # a full offer is left out on every hub: capacity 1, B enrols, A accepts
    full = a.publish("offer", dict(OFFERS["best"], title="Tiny workshop", capacity=1),
                     key="tiny")["id"]
    wait_until(lambda: b.get(full).get("ok"), timeout=20, msg="b never received the offer")
    m = b.call("match", record=req["id"])
    assert m["results"][0]["id"] in (ids["best"], full)  # same points: earlier start, lower id
    assert full in [r["id"] for r in m["results"]]
    assert [r["seats_left"] for r in m["results"] if r["id"] == full] == [1]
    enrol = b.request({"op": "publish", "kind": "response", "target": f"{a.key}/offer/tiny",
                       "record": {"type": "enrolment", "seats": 1}})
    assert enrol["ok"], enrol
    wait_until(lambda: a.get(enrol["id"]).get("ok"), timeout=20, msg="a never got the enrolment")
    acc = a.call("accept", reply=enrol["id"])
    assert acc["type"] == "accept" and acc["seats_left"] == 0
    wait_until(lambda: b.get(acc["id"]).get("ok"), timeout=20, msg="b never got the accept")
    for h in (a, b):
        m = h.call("match", record=refs[h])
        assert full not in [r["id"] for r in m["results"]], h.name
        assert [r["id"] for r in m["results"]] == [ids["best"], ids["partial"]]
        assert m["left_out"]["full"] == 1

    # bad calls are refused with a reason, and hubd carries on
    for bad, code in ((dict(record="zz"), "E_RANGE"), (dict(record=ids["best"], hubs=True), "E_KIND"),
                      (dict(record=req["id"], requests=True), "E_KIND"),
                      (dict(record="00" * 32), "E_NOT_FOUND"), (dict(), "E_BAD_REQUEST"),
                      (dict(record=req["id"], limit=0), "E_RANGE")):
        r = b.request({"op": "match", **bad})
        assert not r["ok"] and r["error"]["code"] == code, (bad, r)
    assert b.call("status")["ok"]


def test_match_pruned_search_equals_full_ranking(hubs):
    """The search stops once no remaining candidate's bound reaches the limit-th best score
    (CONTROL.md "Candidates"): the first N of a call with limit N must be exactly the first N of
    the full ranking (limit 100 scores every fitting offer here), in the documented order."""
    import random
    rng = random.Random(1203)
    h = hubs("match-prune")
    topics = ["ai", "e-procurement", "gdpr", "cloud", "open-data"]
    langs = [["es"], ["en"], ["es", "en"], ["de"], ["fr", "en"], []]
    offers = []
    for i in range(400):
        rec = {"title": f"Offer {i}", "topics": rng.sample(topics, rng.randint(1, 3)),
               "languages": rng.choice(langs), "mode": rng.choice(["online", "onsite", "blended"]),
               "country": rng.choice(["ES", "AT", "PT"])}
        if rng.random() < 0.8:
            start = rng.randint(0, 500)
            rec["start_date"] = f"{2027 + start // 360}-{start % 360 // 30 + 1:02d}-{start % 28 + 1:02d}"
        if rng.random() < 0.6:
            rec["cost"] = {"amount": rng.choice([0, 100, 400, 900]), "currency": rng.choice(["EUR", "EUR", "USD"])}
        if rng.random() < 0.3:
            rec["capacity"] = rng.randint(1, 30)
        offers.append({"kind": "offer", "key": f"o{i}", "record": rec})
    r = h.request({"op": "import", "records": offers})
    assert r["ok"] and r["accepted"] == len(offers), r
    reqs = [dict(REQUEST), dict(REQUEST, languages=["de"], mode="onsite", country="AT"),
            {"title": "Cloud and GDPR", "topics": ["cloud", "gdpr", "open-data"],
             "languages": ["en"], "start_date": "2027-03-01", "end_date": "2027-09-30"}]
    pruned = 0
    for i, rq in enumerate(reqs):
        rid = h.publish("request", rq, key=f"r{i}")["id"]
        full = h.call("match", record=rid, limit=100)
        assert full["truncated"] is False and full["count"] > 30, full["count"]
        res = full["results"]
        for a, b in zip(res, res[1:]):  # points descending, then earlier start, then lower id
            ka = (-a["points"], a["entry"]["record"].get("start_date", "9999"), a["id"])
            kb = (-b["points"], b["entry"]["record"].get("start_date", "9999"), b["id"])
            assert ka < kb, (a["id"], b["id"])
        for n in (1, 3, 7, 20):
            part = h.call("match", record=rid, limit=n)
            assert [r["id"] for r in part["results"]] == [r["id"] for r in res[:n]], (i, n)
            assert [r["points"] for r in part["results"]] == [r["points"] for r in res[:n]]
            assert part["examined"] <= full["examined"]
            pruned += part["examined"] < full["examined"]
    assert pruned > 0  # the bound did cut the search short, and the answers still agree
