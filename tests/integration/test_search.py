"""Full-text search for European languages (issue 11 item 1), through hubctl and the control
socket of one real hubd: folding of case and accents, Unicode word boundaries, stems in the
record's language, prefix of the last word, the fields searched, ranking by field weight then
newest first, paging of ranked results, and short words refused with E_RANGE."""

import json
import os

import pytest

from hubtest import HubFactory

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config",
                        "examples")

RECORDS = {
    # name -> (kind, record)
    "es": ("offer", {
        "title": "Formación en ciberseguridad para pymes",
        "description": "Curso práctico de tres días sobre la gestión de incidentes.",
        "languages": ["es"], "country": "ES", "location": "Sevilla, Andalucía",
        "topics": ["digital-skills"]}),
    "de": ("offer", {
        "title": "Digitalisierung der öffentlichen Verwaltung",
        "description": "Ein Workshop für Ärzte und Pflegekräfte in Gemeinden.",
        "languages": ["de"], "country": "AT", "location": "Graz"}),
    "fr": ("offer", {
        # typographic apostrophe, guillemets, a no-break space (U+00A0) and a narrow one (U+202F)
        "title": "Formation «eIDAS» pour l\u2019administration",
        "description": "Le portefeuille\u00a0numérique européen\u202fexpliqué aux communes.",
        "languages": ["fr"], "country": "FR", "location": "Lyon"}),
    "title_trainer": ("offer", {
        "title": "Coaching for trainers", "description": "Two days.",
        "languages": ["en"], "country": "IE", "location": "Cork"}),
    "desc_trainer": ("offer", {
        "title": "Cloud migration clinic", "description": "Led by an experienced trainer.",
        "languages": ["en"], "country": "IE", "location": "Dublin"}),
    "tag_trainer": ("offer", {
        "title": "Peer learning day", "description": "Exchange of practice.",
        "topics": ["train-the-trainer"], "languages": ["en"], "country": "IE"}),
    "profile": ("profile", {
        "name": "EDIH Sur", "description": "Digital innovation hub.", "country": "ES",
        "region": "Andalucía", "languages": ["es", "en"]}),
}


class Search:
    def __init__(self, hub):
        self.hub = hub
        self.ids = {}

    def names(self, *args):
        """Names of the records hubctl query --text ... finds, in the order given."""
        by_id = {v: k for k, v in self.ids.items()}
        recs = self.hub.ctl("query", "--limit", "100", *args)["records"]
        return [by_id.get(r["id"], r["id"]) for r in recs]

    def text(self, text, *args):
        return self.names("--text", text, *args)


@pytest.fixture(scope="module")
def search():
    factory = HubFactory()
    try:
        hub = factory("search")
        s = Search(hub)
        for name, (kind, rec) in RECORDS.items():
            key = None if kind == "profile" else name
            s.ids[name] = hub.publish(kind, rec, key=key)["id"]
        for kind in ("offer", "request"):
            with open(os.path.join(EXAMPLES, f"{kind}.json"), encoding="utf-8") as f:
                s.ids[f"example_{kind}"] = hub.publish(kind, json.load(f), key=kind)["id"]
        yield s
    finally:
        factory.cleanup()


@pytest.mark.parametrize("text,expected", [
    ("formacion", ["es"]),                 # accents folded
    ("FORMACIÓN", ["es"]),
    ("offentlichen", ["de"]),
    ("ÖFFENTLICHEN", ["de"]),
    ("öffentliche", ["de"]),               # German stem
    ("ärzte", ["de"]),
    ("ARZTE", ["de"]),
    ("eidas", ["fr", "example_request"]),  # «eIDAS»: guillemets separate; title first
    ("administration", ["fr", "example_offer"]),  # l’administration: U+2019 separates
    ("numerique", ["fr"]),                 # no-break space separates
    ("europeen", ["fr"]),                  # narrow no-break space separates
    ("portefeuille numérique", ["fr"]),
    ("formac", ["es"]),                    # prefix of the last word
    ("ciberseg", ["es"]),
    ("sevilla", ["es"]),                   # location
    ("gestion incidentes", ["es"]),        # description, every word must match
    ("gestion incidentes graz", []),
    ("formacion xyzzy", []),
    ("formasion", []),                     # no typo tolerance
])
def test_search_cases(search, text, expected):
    assert search.text(text) == expected


def test_region_and_location_searched(search):
    # the profile's region and the offer's location, each once
    assert sorted(search.text("andalucia")) == ["es", "profile"]


def test_ranked_by_field_then_newest(search):
    # "trainer": a title word outranks a tag, which outranks a description word; "trainers"
    # (English stem "trainer") and the prefix both count for the title record.
    mine = ["title_trainer", "tag_trainer", "desc_trainer"]
    for q in ("trainer", "trainers", "Trainer", "TRAINERS"):
        got = search.text(q)
        assert [n for n in got if n in mine] == mine, (q, got)
    # the example offer is about trainers in its title, tags and description: first
    assert search.text("trainers")[0] == "example_offer"
    # equal scores: newest first (the Spanish and German offers both carry their country...)
    both = search.text("workshop")
    assert "de" in both and "example_request" in both
    assert both.index("example_request") < both.index("de")  # same field, published later


def test_readme_tour_query(search):
    # README's tour: the example offer says "procurement workshops" in its description
    assert search.text("procurement workshop", "--from", "2027-01-01", "--to",
                       "2027-06-30") == ["example_offer"]
    assert search.text("procurement workshops") == ["example_offer"]
    assert search.text("Procurement") == ["example_offer"]
    assert search.text("EIDAS walle") == ["example_request"]  # the README's second text query


def test_text_with_filters(search):
    assert search.text("trainer", "--country", "IE", "--kind", "offer")[0] == "title_trainer"
    assert search.text("trainer", "--country", "ES") == []
    assert search.text("andalucia", "--kind", "profile") == ["profile"]


def test_ranked_paging(search):
    hub = search.hub
    full = hub.request({"op": "query", "text": "trainer", "limit": 100})["records"]
    assert len(full) >= 3
    seen, cursor = [], None
    while True:
        req = {"op": "query", "text": "trainer", "limit": 1}
        if cursor:
            req["cursor"] = cursor
        r = hub.request(req)
        assert r["ok"] is True, r
        seen += [x["id"] for x in r["records"]]
        cursor = r.get("next")
        if not cursor:
            break
    assert seen == [x["id"] for x in full]


@pytest.mark.parametrize("text", ["d", "D", "é", "ai d", "d ai", "ai  . ,", "x y"])
def test_short_words_refused(search, text):
    r = search.hub.request({"op": "query", "text": text})
    if text == "ai  . ,":  # punctuation is not a word: "ai" alone is fine
        assert r["ok"] is True, r
        return
    assert r["ok"] is False and r["error"]["code"] == "E_RANGE", r
    res = search.hub.ctl("query", "--text", text, check=False)
    assert res.code != 0
    assert "E_RANGE" in res.stdout + res.stderr


def test_empty_and_too_many_words_refused(search):
    for text in ("", "  ", "«»’ ."):
        r = search.hub.request({"op": "query", "text": text})
        assert r["ok"] is False and r["error"]["code"] == "E_RANGE", (text, r)
    r = search.hub.request({"op": "query", "text": "aa bb cc dd ee ff gg hh ii"})
    assert r["ok"] is False and r["error"]["code"] == "E_TOO_LARGE", r
    r = search.hub.request({"op": "query", "text": "aa bb cc dd ee ff gg hh"})
    assert r["ok"] is True, r


def test_index_and_dictionary_survive_restart(search):
    hub = search.hub
    before = search.text("formac")
    hub.stop()
    hub.start()
    assert search.text("formac") == before == ["es"]
    assert search.text("ärzte") == ["de"]



def test_ranked_with_dates_and_paging(hubs):
    """Records outside the dates are dropped after ranking: pages still fill, each record once."""
    hub = hubs("search-dates")
    inside, outside = set(), set()
    for i in range(30):
        dated = i % 2 == 0
        rec = {"title": f"Bootcamp number {i}", "languages": ["en"], "country": "IE",
               "start_date": "2027-03-10" if dated else "2028-09-01"}
        if i % 3 == 0:
            rec["description"] = "A bootcamp for bootcamp fans."  # scores higher
        rid = hub.publish("offer", rec, key=f"b{i}")["id"]
        (inside if dated else outside).add(rid)
    seen, cursor, pages = [], None, 0
    while True:
        req = {"op": "query", "text": "bootcamp", "from": "2027-03-01", "to": "2027-03-31",
               "limit": 4}
        if cursor:
            req["cursor"] = cursor
        r = hub.request(req)
        assert r["ok"] is True, r
        seen += [x["id"] for x in r["records"]]
        pages += 1
        cursor = r.get("next")
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == len(inside) and set(seen) == inside
    assert pages == 4
    # title and description first (i % 6 == 0: dated and described), then newest first
    first = hub.request({"op": "query", "text": "bootcamp", "from": "2027-03-01",
                         "to": "2027-03-31", "limit": 20})["records"]
    titles = [x["record"]["title"] for x in first]
    assert titles[:5] == [f"Bootcamp number {i}" for i in (24, 18, 12, 6, 0)]
    assert titles[5:] == [f"Bootcamp number {i}" for i in (28, 26, 22, 20, 16, 14, 10, 8, 4, 2)]
