"""The field's standard fields (issue 11 item 4) through real hubds: ISCED-F, EQF, DigComp,
learning outcomes, prerequisites, application deadline, titles and descriptions by language,
sessions and NUTS on offers, hub type and customer types on profiles.

- every new field round-trips through publish, replication to a second hub, hubctl export
  (jsonl, csv, jsonld) and import into an empty hub;
- publish refuses a bad value with E_VOCAB and the nearest values (ISCED, NUTS, hub type),
  E_RANGE (EQF 9, a malformed ESCO URI); old records stay valid;
- the filters --isced, --eqf, --digcomp, --nuts, --hub-type, --customer-type, --deadline-open;
  sessions' dates for --upcoming, --from and --to; --text finds the titles, descriptions and
  learning outcomes in every language; --lang picks the language in query and export;
- `hubctl vocab` lists ISCED-F, EQF, DigComp, NUTS, hub and customer types with labels.
"""

import csv
import datetime
import io
import json

import pytest

from hubtest import first_run, link, start_all, wait_until

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
SKILL = "http://data.europa.eu/esco/skill/c8fa4313-80b0-4f37-8b1b-1739707bc362"


def day(delta):
    return (TODAY + datetime.timedelta(days=delta)).isoformat()


FULL = {
    "title": "KI in der öffentlichen Verwaltung",
    "description": "Drei Module für Gemeinden.",
    "languages": ["de", "en", "fr"],
    "country": "AT",
    "isced": ["0613", "0413"],
    "eqf_level": 5,
    "digcomp": ["1.1", "5"],
    "learning_outcomes": [{"text": "Evaluate procurement bids for AI systems", "skill": SKILL},
                          {"text": "Expliquer les classes de risque de l’AI Act"}],
    "prerequisites": "Basic office software.\nA laptop.",
    "application_deadline": day(20),
    "titles": {"en": "AI in public administration", "fr": "L’IA dans l’administration"},
    "descriptions": {"en": "Three modules for municipalities.", "fr": "Trois modules."},
    "sessions": [{"start": day(30), "end": day(32), "location": "Graz, Steiermark",
                  "mode": "onsite", "seats": 20},
                 {"start": day(90), "mode": "online"}],
    "nuts": ["AT22", "AT221"],
}

PROFILE = {"name": "EDIH Steiermark", "country": "AT", "hub_type": "edih",
           "customer_types": ["smes", "public_sector"], "nuts": ["AT22"]}


def records_of(hub, kind="offer"):
    return {v["key"]: v["record"] for v in hub.query(kind=kind, limit=1000)}


@pytest.fixture
def pair(hubs):
    """Two linked hubs, a and b."""
    a, b = hubs.new(name="a"), hubs.new(name="b")
    first_run(a, b)
    link(a, b)
    a.allow = [b.key]
    b.allow = [a.key]
    start_all(a, b)
    return a, b


def test_publish_replicate_export_import(pair, hubs, tmp_path):
    a, b = pair
    a.publish("profile", PROFILE, key="profile")
    old = {"title": "Old style", "country": "DE", "start_date": day(5)}  # item 4's fields absent
    a.publish("offer", FULL, key="full")
    a.publish("offer", old, key="old")
    want = records_of(a)
    assert want["full"] == FULL and want["old"] == old
    # replication: b holds the same records, every field as published
    wait_until(lambda: len(b.query(kind="offer", author=a.key)) == 2, timeout=20,
               msg="b never received a's offers")
    assert {v["key"]: v["record"] for v in b.query(kind="offer", author=a.key)} == want
    wait_until(lambda: b.query(kind="profile", author=a.key), timeout=20)
    assert b.query(kind="profile", author=a.key)[0]["record"] == PROFILE
    # b finds them by the new fields
    assert [v["key"] for v in b.query(isced="06", author=a.key)] == ["full"]
    assert [v["key"] for v in b.query(kind="profile", hub_type="edih")] == ["profile"]

    # export from b (a's records) and import into an empty hub: the same records, twice
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"x.{fmt}"
        b.ctl("export", "--format", fmt, "--author", a.key, str(path), json=False)
        c = hubs(name=f"empty-{fmt}")
        r = c.ctl("import", str(path))
        assert (r["new"], r["refused"]) == (2, 0), r
        assert records_of(c) == want
        r = c.ctl("import", str(path))
        assert (r["new"], r["updated"], r["unchanged"]) == (0, 0, 2), r
    # profiles go through JSON Lines
    path = tmp_path / "p.jsonl"
    b.ctl("export", "--format", "jsonl", "--kind", "profile", "--author", a.key, str(path),
          json=False)
    c = hubs(name="empty-profile")
    assert c.ctl("import", str(path))["new"] == 1
    assert records_of(c, "profile") == {"profile": PROFILE}

    # JSON-LD: EQF, outcomes, prerequisites, deadline, a CourseInstance per session
    path = tmp_path / "x.jsonld"
    b.ctl("export", "--format", "jsonld", "--author", a.key, str(path), json=False)
    graph = json.loads(path.read_text(encoding="utf-8"))["@graph"]
    course = next(n for n in graph if n.get("courseCode") == "full")
    assert course["@type"] == ["Course", "EducationalOccupationalProgram"]
    assert course["educationalLevel"]["termCode"] == "5"
    assert course["coursePrerequisites"] == FULL["prerequisites"]
    assert course["applicationDeadline"] == FULL["application_deadline"]
    taught = [t for t in course["teaches"] if isinstance(t, dict)]
    assert [t["name"] for t in taught] == [o["text"] for o in FULL["learning_outcomes"]]
    assert taught[0]["@id"] == SKILL
    about = {t["termCode"]: t.get("name") for t in course["about"]}
    assert about["0613"] == "Software and applications development and analysis"
    assert about["5"] == "Problem solving"
    inst = course["hasCourseInstance"]
    assert [(i["startDate"], i["courseMode"]) for i in inst] == [(day(30), "onsite"),
                                                                (day(90), "online")]
    assert inst[0]["maximumAttendeeCapacity"] == 20 and inst[0]["endDate"] == day(32)
    assert inst[0]["location"]["name"] == "Graz, Steiermark"
    assert [p["identifier"] for p in course["spatialCoverage"]] == ["AT22", "AT221"]
    old_course = next(n for n in graph if n.get("courseCode") == "old")
    assert old_course["@type"] == "Course"


def test_csv_columns_of_the_new_fields(hubs, tmp_path):
    a = hubs(name="a")
    a.publish("offer", FULL, key="full")
    path = tmp_path / "x.csv"
    a.ctl("export", "--format", "csv", str(path), json=False)
    rows = list(csv.DictReader(io.StringIO(path.read_bytes()[3:].decode("utf-8"), newline="")))
    assert len(rows) == 1  # one row per offer: its sessions in one cell
    row = rows[0]
    assert row["isced"] == "0613|0413" and row["eqf_level"] == "5"
    assert row["digcomp"] == "1.1|5" and row["nuts"] == "AT22|AT221"
    assert row["application_deadline"] == FULL["application_deadline"]
    assert json.loads(row["sessions"]) == FULL["sessions"]
    assert json.loads(row["titles"]) == FULL["titles"]
    assert json.loads(row["learning_outcomes"]) == FULL["learning_outcomes"]
    # a bad cell of the new columns is named with its line and column
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,key,title,eqf_level,sessions,nuts\r\n"
                   "offer,o1,One,9,,AT13\r\n"
                   "offer,o2,Two,3,not json,AT13\r\n"
                   "offer,o3,Three,3,,GR30\r\n", encoding="utf-8")
    r = a.ctl("import", "--dry-run", str(bad), check=False, json=False)
    assert r.code == 1
    out = r.stdout + r.stderr
    assert "bad.csv:2: eqf_level" in out
    assert "bad.csv:3: sessions: not JSON" in out
    assert "bad.csv:4: nuts" in out and "EL30" in out


@pytest.mark.parametrize("record,code,field,says", [
    ({"isced": ["0614"]}, "E_VOCAB", "isced[0]", "did you mean"),
    ({"nuts": ["GR30"]}, "E_VOCAB", "nuts[0]", "'EL30'"),
    ({"nuts": ["XY1"]}, "E_VOCAB", "nuts[0]", "not a NUTS country"),
    ({"eqf_level": 9}, "E_RANGE", "eqf_level", "1 .. 8"),
    ({"learning_outcomes": [{"text": "t", "skill": "http://data.europa.eu/esco/skill/1"}]},
     "E_RANGE", "learning_outcomes[0].skill", "ESCO"),
    ({"sessions": [{"start": "2027-01-02", "end": "2027-01-01"}]}, "E_RANGE", "sessions[0].end",
     "before start"),
    ({"titles": {"deutsch": "x"}}, "E_RANGE", "titles.deutsch", "BCP 47"),
])
def test_publish_refuses(hubs, record, code, field, says):
    a = hubs(name="a")
    r = a.request({"op": "publish", "kind": "offer", "record": {"title": "x", **record}})
    assert not r["ok"] and r["error"]["code"] == code and r["error"]["field"] == field, r
    assert says in r["error"]["message"], r


def test_publish_refuses_hub_type(hubs, tmp_path):
    a = hubs(name="a")
    r = a.request({"op": "publish", "kind": "profile",
                   "record": {"name": "x", "hub_type": "seal of excellence"}})
    assert r["error"]["code"] == "E_VOCAB" and r["error"]["field"] == "hub_type", r
    assert "seal_of_excellence" in r["error"]["message"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"name": "x", "customer_types": ["sme"]}))
    r = a.ctl("publish", "profile", str(path), check=False)
    assert r.code != 0 and "E_VOCAB" in r.stderr and "smes" in r.stderr


class Names:
    def __init__(self, hub):
        self.hub = hub

    def __call__(self, *args):
        recs = self.hub.ctl("query", "--limit", "100", *args)["records"]
        return {r["key"] for r in recs}


@pytest.fixture
def catalogue(hubs):
    a = hubs(name="a")
    a.publish("offer", FULL, key="full")
    a.publish("offer", {"title": "Statistik", "isced": ["0542"], "eqf_level": 3,
                        "digcomp": ["3.4"], "nuts": ["DE300"], "languages": ["de"],
                        "application_deadline": day(-1),
                        "sessions": [{"start": day(-40), "end": day(-39)}]}, key="stats")
    a.publish("offer", {"title": "Plain", "start_date": day(3)}, key="plain")
    a.publish("profile", PROFILE, key="profile")
    return a


def test_query_filters(catalogue):
    q = Names(catalogue)
    assert q("--isced", "0613") == {"full"}
    assert q("--isced", "06") == {"full"}            # a broad field finds its detailed ones
    assert q("--isced", "054,041") == {"full", "stats"}
    assert q("--eqf", "3") == {"stats"}
    assert q("--eqf", "3", "--eqf", "5") == {"full", "stats"}
    assert q("--digcomp", "5") == {"full"}
    assert q("--digcomp", "3") == {"stats"}          # an area finds its competences
    assert q("--nuts", "AT2") == {"full", "profile"}
    assert q("--nuts", "de30") == {"stats"}
    assert q("--kind", "profile", "--hub-type", "edih") == {"profile"}
    assert q("--customer-type", "public_sector") == {"profile"}
    # application deadline not passed (none: open)
    assert q("--kind", "offer", "--deadline-open") == {"full", "plain"}
    # sessions' dates: the offer spans its sessions
    assert q("--kind", "offer", "--upcoming") == {"full", "plain"}
    assert q("--kind", "offer", "--from", day(80), "--to", day(95)) == {"full"}
    assert q("--kind", "offer", "--from", day(-41), "--to", day(-39)) == {"stats"}
    # full text: other languages' titles and descriptions, learning outcomes, session places
    assert q("--text", "administration") == {"full"}
    assert q("--text", "trois modules") == {"full"}
    assert q("--text", "procurement bids") == {"full"}
    assert q("--text", "graz") == {"full"}
    assert q("--region", "steiermark") == {"full"}  # a session's place


def test_query_refuses(catalogue):
    for args, code, says in [
        (("--isced", "0614"), "E_VOCAB", "did you mean"),
        (("--eqf", "9"), "E_VOCAB", "eqf"),
        (("--nuts", "GR3"), "E_VOCAB", "EL"),
        (("--nuts", "AT-1"), "E_RANGE", "NUTS"),
        (("--hub-type", "edhi"), "E_VOCAB", "'edih'"),
    ]:
        r = catalogue.ctl("query", *args, check=False)
        assert r.code != 0 and code in r.stderr and says in r.stderr, (args, r)


def test_lang_in_query_and_export(catalogue, tmp_path):
    a = catalogue

    def titles(*args):
        return {r["key"]: r["record"]["title"]
                for r in a.ctl("query", "--kind", "offer", *args)["records"]}

    assert titles("--lang", "fr")["full"] == "L’IA dans l’administration"
    assert titles("--lang", "en")["full"] == "AI in public administration"
    assert titles("--lang", "de")["full"] == FULL["title"]  # the record's own language
    assert titles("--lang", "pl")["full"] == "AI in public administration"  # then English
    assert titles("--lang", "pl")["stats"] == "Statistik"  # then what it has
    assert titles()["full"] == FULL["title"]
    # hubd's query picks the same (for clients such as hubweb)
    views = {v["key"]: v for v in a.call("query", kind="offer", lang="fr")["records"]}
    assert views["full"]["record"]["title"] == "L’IA dans l’administration"
    assert views["full"]["record"]["description"] == "Trois modules."
    assert views["full"]["lang"] == "fr"
    assert views["full"]["record"]["titles"] == FULL["titles"]  # the versions stay
    assert views["stats"]["record"]["title"] == "Statistik"
    assert a.request({"op": "query", "lang": "fr fr"})["error"]["code"] == "E_RANGE"
    text = a.ctl("query", "--kind", "offer", "--lang", "fr", json=False)
    assert "L’IA dans l’administration" in text
    # export: CSV and JSON-LD in the language asked
    path = tmp_path / "fr.csv"
    a.ctl("export", "--format", "csv", "--lang", "fr", str(path), json=False)
    rows = {r["key"]: r for r in
            csv.DictReader(io.StringIO(path.read_bytes()[3:].decode("utf-8"), newline=""))}
    assert rows["full"]["title"] == "L’IA dans l’administration"
    assert rows["full"]["description"] == "Trois modules."
    path = tmp_path / "fr.jsonld"
    a.ctl("export", "--format", "jsonld", "--lang", "fr", str(path), json=False)
    graph = json.loads(path.read_text(encoding="utf-8"))["@graph"]
    course = next(n for n in graph if n.get("courseCode") == "full")
    assert course["name"] == "L’IA dans l’administration" and course["inLanguage"] == "fr"


def test_vocab_lists_codes_with_labels(hubs):
    a = hubs(name="a")
    lists = {l["name"]: l for l in a.ctl("vocab")["lists"]}
    for name in ("isced", "eqf", "digcomp", "nuts", "hub_type", "customer_type"):
        assert lists[name]["values"] and set(lists[name]["labels"]) == set(lists[name]["values"])
    assert lists["isced"]["labels"]["0613"] == \
        "Software and applications development and analysis"
    assert lists["eqf"]["values"] == [str(n) for n in range(1, 9)]
    assert len(lists["digcomp"]["values"]) == 26
    assert lists["nuts"]["labels"]["EL"] == "Greece"
    assert lists["hub_type"]["values"] == ["edih", "seal_of_excellence", "other_dih"]
    text = a.ctl("vocab", "digcomp", json=False)
    assert "3.4  Programming" in text
    assert "isced" in a.ctl("vocab", "ISCED", json=False)
    assert "seal_of_excellence" in a.ctl("vocab", "hub-types", json=False)
