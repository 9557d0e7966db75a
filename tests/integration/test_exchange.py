"""Exports and imports (issue 11 items 5 and 6): hubctl export --format jsonl|csv|jsonld and
hubctl import of JSON Lines and CSV, with real hubds.

- A catalogue of 1,000 varied records (every offer and request field, item 4's standard fields
  included: ISCED-F, EQF, DigComp, learning outcomes, prerequisites, deadline, titles and
  descriptions in several languages, sessions, NUTS; several scripts, text with commas, quotes
  and line breaks) exported to JSON Lines and to CSV and imported into empty hubs: the same
  records; a second import: all unchanged, no new entry.
- import --dry-run of a CSV with bad rows: each reported with its line, column and reason,
  nothing stored, exit 1; a real import stores the good rows and refuses the bad ones.
- hubd's import: a record equal to its current version makes no new version.
- The JSON-LD export uses only schema.org types and properties (of each type), as the npm
  package schema-dts ships them (its .d.ts); skipped when npm cannot install it.
"""

import csv
import io
import json
import os
import random
import re
import shutil
import subprocess

import pytest

from hubtest import SRC_DIR

# The catalogue test of issue 11: 1,000 records, every field (item 4's too), several languages.
CATALOGUE_OFFERS = 920
CATALOGUE_REQUESTS = 80


def vocab_codes(name):
    """The codes of one of vocab_fields.c's code/label lists (vocab_NAME_pairs)."""
    with open(os.path.join(SRC_DIR, "node", "core", "vocab_fields.c"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"vocab_%s_pairs\[\]\s*=\s*\{(.*?)NULL" % name, text, re.S)
    assert m, name
    return re.findall(r'^\s*"([0-9.]+)",', m.group(1), re.M)


def vocab(name):
    """The values of one of vocab.c's lists (static const char *const vocab_NAME[])."""
    with open(os.path.join(SRC_DIR, "node", "core", "vocab.c"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"vocab_%s\[\]\s*=\s*\{(.*?)NULL" % name, text, re.S)
    assert m, name
    return re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))


TITLES = [
    ("de", "Öffentliche Verwaltung: KI-Schulung für Ärzte"),
    ("fr", "Formation « eIDAS » pour l’administration"),
    ("es", "Formación en ciberseguridad, Andalucía"),
    ("pt", "Formar formadores: IA na administração pública"),
    ("el", "Εκπαίδευση εκπαιδευτών στην τεχνητή νοημοσύνη"),
    ("pl", "Szkolenie z cyberbezpieczeństwa dla MŚP"),
    ("en", 'Train-the-trainer: "data spaces", hands-on'),
    ("it", "Formazione sull'intelligenza artificiale; pratica"),
]


def catalogue(rng, key_of_hub):
    """Import items {"kind","key","record"[,"expires"]}: offers and requests using every field."""
    tech, sectors, services = vocab("technologies"), vocab("sectors"), vocab("services")
    audiences, modes = vocab("audiences"), vocab("modes")
    schedules, opps = vocab("schedules"), vocab("opportunities")
    countries, currencies = vocab("countries"), vocab("currencies")
    skills_types = vocab("types_skills")
    items = []
    for i in range(CATALOGUE_OFFERS):
        lang, title = TITLES[i % len(TITLES)]
        rec = {
            "title": f"{title} #{i}",
            "description": f"Zeile 1, \"quoted\"\nline 2 — {i}\nend",
            "topics": rng.sample(["ai", "train-the-trainer", "gdpr", "public-sector", "hpc"],
                                 1 + i % 3),
            "technologies": rng.sample(tech, 1 + i % 2),
            "sectors": rng.sample(sectors, 1 + i % 2),
            "services": rng.sample(services, 1),
            "audience": rng.sample(audiences, 1 + i % 2),
            "languages": [lang] + (["en"] if lang != "en" and i % 2 else []),
            "mode": rng.choice(modes),
            "opportunity_type": rng.choice(opps),
            "schedule": rng.choice(schedules),
            "country": rng.choice(countries),
            "location": f"Wien, Halle {i % 7}",
            "start_date": f"2027-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "end_date": f"2028-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "duration_hours": 1 + i % 40,
            "capacity": i % 30,
            "cost": {"amount": [0, 120, 99.5, 1234.25][i % 4], "currency": rng.choice(currencies)},
            "skills": ["http://data.europa.eu/esco/skill/%08x-1111-2222-3333-444455556666" % i],
            "registration_url": f"https://hub.example/register?c={i}&l={lang}",
            "contact": f"academy+{i}@hub.example",
            "train_the_trainer": i % 3 == 0,
            "ects_credits": i % 6,
            "material_licence": "CC-BY-4.0",
            "material_url": f"https://hub.example/material/{i}",
            "service_group": "skills-training",
            "service_type": rng.choice(skills_types),
        }
        # issue 11 item 4: the field's standard fields
        isced, digcomp = vocab_codes("isced"), vocab_codes("digcomp")
        others = [t for t in TITLES if t[0] != lang]
        rec.update({
            "isced": rng.sample(isced, 1 + i % 3),
            "eqf_level": 1 + i % 8,
            "digcomp": rng.sample(digcomp, 1 + i % 2),
            "learning_outcomes": [
                {"text": f"Apply {title[:30]}, outcome {k}"} | (
                    {"skill": "http://data.europa.eu/esco/skill/%08x-aaaa-bbbb-cccc-%012x"
                     % (i, k)} if (i + k) % 2 else {})
                for k in range(1 + i % 3)],
            "prerequisites": f"Grundkenntnisse; \"basics\", {i}\nline two",
            "application_deadline": f"2027-{1 + i % 12:02d}-{1 + i % 27:02d}",
            "titles": dict((l, f"{t} ({l}) #{i}") for l, t in others[:1 + i % 3]),
            "descriptions": dict((l, f"{t}, description\n{i}") for l, t in others[:i % 3]),
            "sessions": [dict({"start": f"2027-{1 + (i + k) % 12:02d}-{1 + k:02d}",
                               "mode": rng.choice(modes)},
                              **({"end": f"2027-{1 + (i + k) % 12:02d}-{2 + k:02d}",
                                  "location": f"Sala {k}, Sevilla", "seats": 10 + k}
                                 if k % 2 == 0 else {}))
                         for k in range(i % 4)],
            "nuts": rng.sample(["AT13", "AT221", "DE300", "EL30", "ES618", "FR1", "PT17"],
                               1 + i % 2),
        })
        rec = {k: v for k, v in rec.items() if v not in ([], {})}
        if i % 5 == 4:
            rec["based_on"] = {"author": key_of_hub, "kind": "offer", "key": f"offer-{i - 1}"}
        if i % 11 == 0:
            rec = {k: v for k, v in rec.items() if k in ("title", "country", "languages")}
        item = {"kind": "offer", "key": f"offer-{i}", "record": rec}
        if i % 13 == 0:
            item["expires"] = 4102444800000 + i  # 2100
        items.append(item)
    for i in range(CATALOGUE_REQUESTS):
        lang, title = TITLES[i % len(TITLES)]
        items.append({"kind": "request", "key": f"request-{i}", "record": {
            "title": f"Gesucht: {title}",
            "description": "Need, with \"quotes\"",
            "languages": [lang],
            "country": rng.choice(countries),
            "needed_by": "2027-06-30",
            "budget": {"amount": 5000, "currency": "EUR"},
            "technologies": rng.sample(tech, 1),
        }})
    return items


def records_of(hub):
    """{(kind, key): (record, expires)} of a hub's current offers and requests."""
    out = {}
    for kind in ("offer", "request"):
        for v in hub.query(kind=kind, limit=1000):
            out[(kind, v["key"])] = (v["record"], v["expires"])
    return out


def own_seq(hub):
    heads = hub.call("heads")["feeds"]
    return next((h["seq"] for h in heads if h["author"] == hub.key), 0)


@pytest.fixture
def source(hubs, tmp_path):
    a = hubs(name="source")
    a.publish("profile", {"name": "EDIH Wien", "description": "Die Drehscheibe", "country": "AT",
                          "region": "Wien", "website": "https://edih.example.at",
                          "contact": "office@edih.example.at", "languages": ["de", "en"],
                          "technologies": vocab("technologies")[:2], "topics": ["ai"],
                          "edih_id": "EDIH-AT-1"})
    items = catalogue(random.Random(11), a.key)
    path = tmp_path / "catalogue.jsonl"
    path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items),
                    encoding="utf-8")
    r = a.ctl("import", str(path))
    assert r["new"] == len(items) and r["refused"] == 0
    return a, items


def export(hub, tmp_path, fmt, *args):
    path = tmp_path / f"export.{fmt}"
    hub.ctl("export", "--format", fmt, *args, str(path), json=False)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_round_trip_into_empty_hub(hubs, source, tmp_path, fmt):
    a, items = source
    want = records_of(a)
    assert len(want) == len(items)
    path = tmp_path / f"all.{fmt}"
    with open(path, "w", encoding="utf-8", newline="") as out:
        for kind in ("offer", "request"):
            part = export(a, tmp_path, fmt, "--kind", kind).read_bytes().decode("utf-8")
            if fmt == "csv" and kind == "request":  # one header row for both
                part = part.split("\r\n", 1)[1]
            out.write(part)
    b = hubs(name="empty")
    r = b.ctl("import", str(path))
    assert (r["new"], r["updated"], r["unchanged"], r["refused"]) == (len(items), 0, 0, 0)
    assert records_of(b) == want
    seq = own_seq(b)
    # a second import: every record unchanged, no new entry
    r = b.ctl("import", str(path))
    assert (r["new"], r["updated"], r["unchanged"], r["refused"]) == (0, 0, len(items), 0)
    assert r["accepted"] == 0
    assert own_seq(b) == seq
    assert records_of(b) == want


def test_csv_is_rfc4180_utf8_one_row_per_offer(source, tmp_path):
    a, items = source
    raw = export(a, tmp_path, "csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark: spreadsheets read UTF-8
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    offers = [it for it in items if it["kind"] == "offer"]
    assert len(body) == len(offers)
    assert all(len(row) == len(header) for row in body)
    by_key = {row[header.index("key")]: row for row in body}
    first = by_key["offer-1"]
    assert first[header.index("description")] == offers[1]["record"]["description"]
    assert first[header.index("title")] == offers[1]["record"]["title"]
    assert first[header.index("languages")] == "|".join(offers[1]["record"]["languages"])
    assert b"\r\n" in raw


def test_import_updated_and_changed_only(hubs, tmp_path):
    a = hubs(name="a")
    path = tmp_path / "x.csv"
    path.write_text("kind,key,title,country\r\noffer,o1,One,AT\r\noffer,o2,Two,DE\r\n",
                    encoding="utf-8")
    assert a.ctl("import", str(path))["new"] == 2
    seq = own_seq(a)
    path.write_text("kind,key,title,country\r\noffer,o1,One,AT\r\noffer,o2,Two changed,DE\r\n"
                    "offer,o3,Three,FR\r\n", encoding="utf-8")
    r = a.ctl("import", str(path))
    assert (r["new"], r["updated"], r["unchanged"], r["refused"]) == (1, 1, 1, 0)
    assert own_seq(a) == seq + 2
    text = a.ctl("import", str(path), json=False)
    assert "0 new, 0 updated, 3 unchanged, 0 refused" in text


def test_hubd_import_unchanged_makes_no_version(hubs):
    a = hubs(name="a")
    recs = [{"kind": "offer", "key": "k", "record": {"title": "T", "country": "AT"}},
            {"kind": "offer", "key": "e", "record": {"title": "E"}, "expires": 4102444800000}]
    r = a.call("import", records=recs)
    assert r["results"] == ["new", "new"] and r["accepted"] == 2
    r = a.call("import", records=recs)
    assert r["results"] == ["unchanged", "unchanged"] and r["accepted"] == 0
    assert "first_seq" not in r
    assert len(a.call("history", key="k")["versions"]) == 1
    # the same payload with another expiry is a change
    recs[1]["expires"] = 4102444800001
    r = a.call("import", records=recs)
    assert r["results"] == ["unchanged", "updated"]
    # a retracted record imported again is new
    a.call("retract", key="k", kind="offer")
    assert a.call("import", records=recs[:1])["results"] == ["new"]


def test_hubd_import_partial_and_dry_run(hubs):
    a = hubs(name="a")
    recs = [{"kind": "offer", "key": "good", "record": {"title": "ok"}},
            {"kind": "offer", "key": "bad", "record": {"title": "x", "country": "XX"}},
            {"kind": "offer", "record": {"title": 7}}]
    r = a.call("import", records=recs, dry_run=True)
    assert r["dry_run"] and r["results"] == ["new", "refused", "refused"]
    assert [(e["index"], e["field"], e["code"]) for e in r["errors"]] == [
        (1, "records[1].country", "E_VOCAB"), (2, "records[2].title", "E_TYPE")]
    assert a.query(kind="offer") == []
    r = a.call("import", records=recs, partial=True)
    assert (r["new"], r["refused"], r["accepted"]) == (1, 2, 1)
    assert [v["key"] for v in a.query(kind="offer")] == ["good"]
    # without partial, still all or nothing
    r = a.request({"op": "import", "records": recs})
    assert not r["ok"] and r["error"]["index"] == 1
    assert a.request({"op": "import", "entries": [], "dry_run": True})["error"]["code"] == \
        "E_BAD_REQUEST"


BAD_CSV = (
    "kind,key,title,country,capacity,start_date,languages,description\r\n"
    "offer,ok-1,Good one,AT,3,2027-01-01,de|en,\"two\r\nlines\"\r\n"   # lines 2-3
    "offer,bad-country,Bad,XX,3,,de,\r\n"                      # line 4: hubd, E_VOCAB
    "offer,bad-cap,Bad,AT,many,,de,\r\n"                       # line 5: hubctl, not a number
    "offer,bad-date,\"Title, \"\"quoted\"\"\",AT,,2027-13-01,de,\"a\nb\"\r\n"  # 6-7: start_date
    "offer,short,Bad\r\n"                                     # line 8: cells
    "thing,bad-kind,Bad,AT,,,de,\r\n"                          # line 9: kind
    "offer,ok-2,\"Good, \"\"two\"\"\",DE,,,fr| en ,\r\n"      # line 10
)


def test_csv_dry_run_reports_every_bad_row(hubs, tmp_path):
    a = hubs(name="a")
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSV.encode("utf-8"))
    res = a.ctl("import", "--dry-run", str(path), json=False, check=False)
    assert res.code == 1, res
    err = res.stderr
    assert re.search(r"bad\.csv:4: country: .*ISO 3166.*\(E_VOCAB\)", err), err
    assert re.search(r"bad\.csv:5: capacity: 'many' is not a whole number", err), err
    assert re.search(r"bad\.csv:6: start_date: .*\(E_", err), err
    assert re.search(r"bad\.csv:8: 3 cells, the header has 8", err), err
    assert re.search(r"bad\.csv:9: kind: 'thing' is not offer or request", err), err
    assert "dry run, nothing stored: 2 new, 0 updated, 0 unchanged, 5 refused" in res.stdout
    assert a.query(kind="offer") == []
    js = a.ctl("import", "--dry-run", str(path), check=False)
    rep = json.loads(js.stdout)
    assert rep["dry_run"] and rep["refused"] == 5 and rep["new"] == 2
    assert sorted((x["line"], x["field"]) for x in rep["refusals"]) == [
        (4, "country"), (5, "capacity"), (6, "start_date"), (8, ""), (9, "kind")]
    assert a.query(kind="offer") == []


def test_csv_file_with_bad_rows_sends_nothing(hubs, tmp_path):
    """A file with rows hubctl itself refuses is not sent at all; rows only hubd refuses are
    refused one by one, the others stored."""
    a = hubs(name="a")
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSV.encode("utf-8"))
    res = a.ctl("import", str(path), json=False, check=False)
    assert res.code == 1 and a.query(kind="offer") == []
    rows = BAD_CSV.split("\r\n")  # rows[1:3]: ok-1 (a cell with a line break)
    good = "\r\n".join(rows[:4] + rows[8:])  # header, ok-1, bad-country, ok-2
    path.write_bytes(good.encode("utf-8"))
    res = a.ctl("import", str(path), check=False)
    rep = json.loads(res.stdout)
    assert res.code == 1 and (rep["new"], rep["refused"]) == (2, 1)
    assert rep["refusals"][0]["line"] == 4 and rep["refusals"][0]["field"] == "country"
    got = {v["key"]: v["record"] for v in a.query(kind="offer")}
    assert got == {"ok-1": {"title": "Good one", "country": "AT", "capacity": 3,
                            "start_date": "2027-01-01", "languages": ["de", "en"],
                            "description": "two\nlines"},
                   "ok-2": {"title": 'Good, "two"', "country": "DE", "languages": ["fr", "en"]}}


def test_export_filters_and_usage(source, tmp_path):
    a, items = source
    n_at = sum(1 for it in items if it["kind"] == "offer" and it["record"].get("country") == "AT")
    lines = export(a, tmp_path, "jsonl", "--country", "AT").read_text().splitlines()
    assert len(lines) == n_at
    for fmt, args in (("xml", []), ("jsonld", ["--kind", "request"]),
                      ("csv", ["--kind", "profile"]), ("csv", ["--lang", "e n"])):
        res = a.ctl("export", "--format", fmt, *args, json=False, check=False)
        assert res.code == 2, (fmt, args, res)


# ---- JSON-LD against schema.org, as schema-dts ships it --------------------------------------

def schema_dts():
    """The path of schema-dts' schema.d.ts, installed with npm into the build tree (scripts/deps
    does it; here again if needed); pytest.skip when npm or the registry is not there."""
    where = os.path.join(SRC_DIR, "build", "jsonld")
    dts = os.path.join(where, "node_modules", "schema-dts", "dist", "schema.d.ts")
    if not os.path.exists(dts):
        if not shutil.which("npm"):
            pytest.skip("npm is not installed: cannot get schema-dts")
        os.makedirs(where, exist_ok=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", where,
                            "schema-dts@1"], capture_output=True, text=True, timeout=180)
        if p.returncode != 0 or not os.path.exists(dts):
            pytest.skip("npm could not install schema-dts (no registry?): "
                        + (p.stderr.strip().splitlines() or ["?"])[-1])
    return dts


def schema_vocabulary(dts):
    """{type: set of its properties, inherited ones included} from schema-dts' declarations:
    `interface XBase extends A, B { "prop"?: ... }` and `type XLeaf = {"@type": "X"} & XBase`."""
    text = open(dts, encoding="utf-8").read()
    bases, own = {}, {}
    for m in re.finditer(r"interface (\w+?)Base(?: extends ([^{]+))? \{(.*?)\n\}", text, re.S):
        name = m.group(1)
        bases[name] = [b.strip()[:-4] for b in (m.group(2) or "").split(",")
                       if b.strip().endswith("Base")]
        own[name] = set(re.findall(r'^\s+"([A-Za-z]+)"\?:', m.group(3), re.M))
    leaf = dict(re.findall(r'interface (\w+)Leaf extends (\w+)Base \{', text))
    leaf.update(re.findall(r'type (\w+)Leaf = \{\s*"@type": "\w+";\s*\} & (\w+)Base', text))

    def props(t, seen=()):
        out = set(own.get(t, ()))
        for b in bases.get(t, ()):
            if b not in seen:
                out |= props(b, seen + (t,))
        return out

    types = {}
    for name, base in leaf.items():
        types[name] = props(base)
    for name in own:  # types whose Leaf is declared differently
        types.setdefault(name, props(name))
    return types


def check_node(node, types, where, problems):
    if isinstance(node, list):
        for i, x in enumerate(node):
            check_node(x, types, f"{where}[{i}]", problems)
        return
    if not isinstance(node, dict):
        return
    t = node.get("@type")
    ts = t if isinstance(t, list) else [t] if t else []
    allowed = set()
    for name in ts:
        if name not in types:
            problems.append(f"{where}: type {name} is not in schema.org")
        allowed |= types.get(name, set())
    for k, v in node.items():
        if k.startswith("@"):
            continue
        if ts and k not in allowed:
            problems.append(f"{where}: {'/'.join(ts)} has no property {k}")
        check_node(v, types, f"{where}.{k}", problems)


def test_jsonld_uses_schema_org_vocabulary(source, tmp_path):
    dts = schema_dts()
    types = schema_vocabulary(dts)
    assert {"Course", "CourseInstance", "EducationalOccupationalProgram", "Organization",
            "Offer"} <= set(types)
    assert "teaches" in types["Course"] and "addressCountry" in types["PostalAddress"]
    a, items = source
    doc = json.loads(export(a, tmp_path, "jsonld").read_text(encoding="utf-8"))
    assert doc["@context"] == "https://schema.org"
    graph = doc["@graph"]
    offers = [it for it in items if it["kind"] == "offer"]
    assert len(graph) == 1 + len(offers)
    seen_types, seen_props = set(), set()
    for node in graph:
        t = node["@type"]
        seen_types |= set(t if isinstance(t, list) else [t])
        seen_props |= set(node)
    assert {"Organization", "Course", "EducationalOccupationalProgram"} <= seen_types
    assert {"isBasedOn", "teaches", "availableLanguage", "offers", "hasCourseInstance",
            "provider"} <= seen_props
    problems = []
    check_node(graph, types, "@graph", problems)
    assert problems == [], "\n".join(problems[:20])
    org = graph[0]
    assert org["@type"] == "Organization" and org["name"] == "EDIH Wien"


def test_big_import_refuses_alone_and_dry_run(hubs, tmp_path):
    """Requests over 64 KiB take hubd's parallel import path: the same answers there."""
    a = hubs(name="a")
    n = 3000
    items = [{"kind": "offer", "key": f"k{i}", "record": {"title": f"Offer {i} " + "x" * 60,
                                                            "country": "XX" if i == 1234 else "AT"}}
             for i in range(n)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    res = a.ctl("import", "--dry-run", str(path), check=False)
    rep = json.loads(res.stdout)
    assert res.code == 1 and (rep["new"], rep["refused"]) == (n - 1, 1)
    (ref,) = rep["refusals"]
    assert (ref["line"], ref["field"], ref["code"]) == (1235, "country", "E_VOCAB"), ref
    # the message names the rule and, since query values are checked too, the nearest codes
    assert ref["message"].startswith("not an ISO 3166-1 alpha-2 code"), ref
    assert a.query(kind="offer", limit=1) == []
    res = a.ctl("import", str(path), check=False)
    rep = json.loads(res.stdout)
    assert res.code == 1 and (rep["new"], rep["refused"], rep["accepted"]) == (n - 1, 1, n - 1)
    rep = json.loads(a.ctl("import", str(path), check=False).stdout)
    assert (rep["new"], rep["unchanged"], rep["refused"]) == (0, n - 1, 1)
