"""Query semantics and vocabularies (issue 11 items 2 and 3), through hubctl and the control
socket of one real hubd: any-of within a field (repeated values or commas), all-of across
fields, the filters on opportunity type, schedule, region, cost and start date, the sort orders,
E_VOCAB with the nearest values in query and publish, and `hubctl vocab`."""

import datetime

import pytest

from hubtest import HubFactory

TODAY = datetime.datetime.now(datetime.timezone.utc).date()


def day(delta):
    return (TODAY + datetime.timedelta(days=delta)).isoformat()


def offer(title, **kw):
    rec = {"title": title, "description": "A test offer.", "country": "AT",
           "languages": ["en"]}
    rec.update(kw)
    return rec


# name -> record (all offers, published in this order: the last is the newest)
RECORDS = {
    "es_course": offer("Curso", languages=["es"], sectors=["Smart City"],
                       opportunity_type="Course", schedule="full-time", location="Sevilla, Andalucía",
                       country="ES", start_date=day(30), cost={"amount": 0, "currency": "EUR"}),
    "en_mooc": offer("MOOC", languages=["en"], sectors=["Health care"], opportunity_type="MOOC",
                     schedule="part-time-light", location="Dublin, Leinster", country="IE",
                     start_date=day(10), cost={"amount": 400, "currency": "EUR"}),
    "de_course": offer("Kurs", languages=["de"], sectors=["Smart City", "Energy"],
                       opportunity_type="Course", schedule="part-time-light", location="Graz (Steiermark)",
                       start_date=day(-20), end_date=day(-10),
                       cost={"amount": 900, "currency": "EUR"}),
    "fr_mentoring": offer("Mentorat", languages=["fr", "en"], sectors=["Energy"],
                          opportunity_type="Mentoring", country="FR", start_date=day(60),
                          cost={"amount": 300, "currency": "USD"}),
    "undated": offer("Undated", languages=["es", "de"], sectors=["Retail, wholesale or distribution"]),
}


class Q:
    def __init__(self, hub):
        self.hub = hub
        self.ids = {}

    def names(self, *args):
        """Names of the records `hubctl query ARGS` finds, in the order printed."""
        by_id = {v: k for k, v in self.ids.items()}
        recs = self.hub.ctl("query", "--limit", "100", *args)["records"]
        return [by_id.get(r["id"], r["id"]) for r in recs]

    def set(self, *args):
        return set(self.names(*args))

    def error(self, *args):
        """A query hubctl refuses: (exit code, stderr)."""
        r = self.hub.ctl("query", *args, check=False)
        assert r.code != 0, r.stdout
        return r.code, r.stderr


@pytest.fixture(scope="module")
def q():
    factory = HubFactory()
    try:
        hub = factory("query")
        s = Q(hub)
        for name, rec in RECORDS.items():
            s.ids[name] = hub.publish("offer", rec, key=name)["id"]
        yield s
    finally:
        factory.cleanup()


def test_any_of_within_a_field_repeated_or_commas(q):
    # the issue's own case: two languages, two flags; before, every value had to match
    assert q.set("--language", "es", "--language", "en") == {
        "es_course", "en_mooc", "fr_mentoring", "undated"}
    assert q.set("--language", "es,en") == {"es_course", "en_mooc", "fr_mentoring", "undated"}
    assert q.set("--language", "es, de", "--language", "fr") == {
        "es_course", "de_course", "fr_mentoring", "undated"}
    # over the control socket: a list is any-of too
    got = {r["id"] for r in q.hub.query(kind="offer", language=["de", "fr"])}
    assert got == {q.ids[n] for n in ("de_course", "fr_mentoring", "undated")}


def test_text_with_any_of_and_payload_filters(q):
    # ranked queries: the filters' values are any-of there too, the payload filters apply
    assert q.set("--text", "test offer", "--language", "es,fr") == {
        "es_course", "fr_mentoring", "undated"}
    assert q.set("--text", "offer", "--language", "es,fr", "--upcoming") == {
        "es_course", "fr_mentoring"}
    assert q.set("--text", "offer", "--free", "--sector", "smart city,energy") == {"es_course"}


def test_all_of_across_fields(q):
    assert q.set("--language", "es,en", "--sector", "Smart City") == {"es_course"}
    assert q.set("--language", "de,fr", "--sector", "Energy,Smart City",
                 "--country", "AT") == {"de_course"}
    assert q.set("--language", "es", "--sector", "Energy") == set()


def test_a_label_with_commas_is_one_value(q):
    assert q.set("--sector", "Retail, wholesale or distribution") == {"undated"}
    assert q.set("--sector", "retail, WHOLESALE or distribution") == {"undated"}


def test_labels_match_in_any_case(q):
    assert q.set("--sector", "smart city") == {"es_course", "de_course"}
    assert q.set("--country", "es") == {"es_course"}


def test_opportunity_type_schedule_region(q):
    assert q.set("--opportunity-type", "Course") == {"es_course", "de_course"}
    assert q.set("--opportunity-type", "mooc,mentoring") == {"en_mooc", "fr_mentoring"}
    assert q.set("--schedule", "part-time-light") == {"en_mooc", "de_course"}
    assert q.set("--schedule", "full-time", "--schedule", "part-time-light",
                 "--language", "de") == {"de_course"}
    assert q.set("--region", "andalucía") == {"es_course"}
    assert q.set("--region", "ANDALUCIA") == {"es_course"}  # case and accents folded
    assert q.set("--region", "andalucia sevilla") == set()  # words one after the other
    assert q.set("--region", "Leinster,Steiermark") == {"en_mooc", "de_course"}


def test_free_and_max_cost(q):
    # no cost at all is free too
    assert q.set("--free") == {"es_course", "undated"}
    assert q.set("--max-cost", "500EUR") == {"es_course", "en_mooc", "undated"}
    assert q.set("--max-cost", "400.00 eur") == {"es_course", "en_mooc", "undated"}
    assert q.set("--max-cost", "399.99EUR") == {"es_course", "undated"}
    assert q.set("--max-cost", "1000USD") == {"es_course", "fr_mentoring", "undated"}
    code, err = q.error("--max-cost", "500")
    assert "E_RANGE" in err and "max_cost" in err
    code, err = q.error("--max-cost", "500XYZ")
    assert "E_VOCAB" in err


def test_upcoming(q):
    assert q.set("--upcoming") == {"es_course", "en_mooc", "fr_mentoring"}
    assert q.set("--upcoming", "--language", "en") == {"en_mooc", "fr_mentoring"}


def test_sort_orders(q):
    newest = ["undated", "fr_mentoring", "de_course", "en_mooc", "es_course"]
    assert q.names("--kind", "offer") == newest
    assert q.names("--kind", "offer", "--sort", "published") == newest
    # start date ascending, undated last
    assert q.names("--kind", "offer", "--sort", "start") == [
        "de_course", "en_mooc", "es_course", "fr_mentoring", "undated"]
    assert q.names("--upcoming", "--sort", "start") == ["en_mooc", "es_course", "fr_mentoring"]
    # pages of a sorted query follow on
    r1 = q.hub.call("query", kind="offer", sort="start", limit=2)
    r2 = q.hub.call("query", kind="offer", sort="start", limit=2, cursor=r1["next"])
    r3 = q.hub.call("query", kind="offer", sort="start", limit=2, cursor=r2["next"])
    by_id = {v: k for k, v in q.ids.items()}
    pages = [by_id[r["id"]] for r in r1["records"] + r2["records"] + r3["records"]]
    assert pages == ["de_course", "en_mooc", "es_course", "fr_mentoring", "undated"]
    assert "next" not in r3
    # relevance needs a text; a text query can be sorted by relevance or published, not start
    code, err = q.error("--kind", "offer", "--sort", "relevance")
    assert "E_BAD_REQUEST" in err
    code, err = q.error("--text", "curso", "--sort", "start")
    assert "E_BAD_REQUEST" in err
    code, err = q.error("--sort", "oldest")
    assert "E_RANGE" in err
    assert q.names("--text", "test offer", "--sort", "published") == newest


def test_unknown_values_are_e_vocab_with_suggestions(q):
    code, err = q.error("--sector", "Smart Cities")
    assert "E_VOCAB" in err and "'Smart City'" in err, err
    code, err = q.error("--country", "XX")
    assert "E_VOCAB" in err and "did you mean" in err, err
    code, err = q.error("--technology", "cybersec")
    assert "E_VOCAB" in err and "'Cybersecurity'" in err, err
    code, err = q.error("--opportunity-type", "Cours")
    assert "E_VOCAB" in err and "'Course'" in err, err
    r = q.hub.request({"op": "query", "mode": ["online", "onlin"]})
    assert r["ok"] is False and r["error"]["code"] == "E_VOCAB", r
    assert "'online'" in r["error"]["message"], r


def test_publish_e_vocab_suggests(q):
    r = q.hub.request({"op": "publish", "kind": "offer",
                       "record": offer("Bad", sectors=["Smart Cities"])})
    assert r["ok"] is False and r["error"]["code"] == "E_VOCAB", r
    assert "did you mean 'Smart City'" in r["error"]["message"], r
    r = q.hub.request({"op": "publish", "kind": "offer", "record": offer("Bad", country="DEU")})
    assert r["error"]["code"] == "E_VOCAB" and "'DE'" in r["error"]["message"], r


def test_vocab_lists(q):
    r = q.hub.call("vocab")
    names = [l["name"] for l in r["lists"]]
    for n in ("technology", "sector", "service", "mode", "schedule", "opportunity_type",
              "audience", "country", "currency", "service_group", "service_type", "topic"):
        assert n in names
    lists = {l["name"]: l["values"] for l in r["lists"]}
    assert "Smart City" in lists["sector"] and "DE" in lists["country"]
    assert "eprocurement" in lists["topic"]
    one = q.hub.ctl("vocab", "SECTOR")
    assert [l["name"] for l in one["lists"]] == ["sector"]
    for name, want in (("sectors", "sector"), ("Technologies", "technology"),
                       ("countries", "country"), ("service-groups", "service_group"),
                       ("opportunity_types", "opportunity_type")):
        assert [l["name"] for l in q.hub.call("vocab", name=name)["lists"]] == [want]
    text = q.hub.ctl("vocab", "schedule", json=False)
    assert text.splitlines()[0] == "schedule (3 values)" and "  full-time" in text
    bad = q.hub.ctl("vocab", "sectorz", check=False)
    assert bad.code != 0 and "E_VOCAB" in bad.stderr and "sector" in bad.stderr
