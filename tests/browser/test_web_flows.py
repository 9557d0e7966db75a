"""hubweb in a real browser (issue 13, "What it must show"): headless chromium against real hubd
and hubweb processes on two federated hubs, A (EDIH Wien, AT) and B (EDIH Porto, PT).

- a visitor on A's catalogue searches, filters by a facet, pages, and opens a record replicated
  from B (every field, versions, the hub's profile, reply count, schema.org JSON-LD);
- A's staff sign in with the secret `hubctl web-token` prints, publish an offer through the
  form (first with a refused value, shown next to its field), and the offer appears on B's
  catalogue page once replicated;
- A's staff answer B's request through the reply form, and see the reply in "replies sent";
- B enrols in A's offer, A's staff accept the enrolment in the inbox, and B's hub sees it
  accepted; the match and network pages show;
- signing out ends the session;
- a visitor whose browser asks for German (Accept-Language: de) reads a record's German title,
  marked lang="de", where an English one reads the English title;
- a visitor whose browser runs no script searches, filters by a facet and opens a record.

Every page visited is screenshotted (build/browser-artifacts/flows-NAME.png), checked by
axe-core (no serious or critical violation) and for its security headers (webtest.py).
"""

import datetime
import json
import re
import urllib.parse

import pytest

from hubtest import wait_until
from webtest import REPLICATION_TIMEOUT, http_get, json_ld, web_token

TODAY = datetime.date.today()


def day(delta):
    return (TODAY + datetime.timedelta(days=delta)).isoformat()


WIEN = {"name": "EDIH Wien", "country": "AT", "region": "Wien", "languages": ["de", "en"],
        "website": "https://edih.example.at", "description": "Digital innovation hub in Vienna."}
PORTO = {"name": "EDIH Porto", "country": "PT", "region": "Norte", "languages": ["pt", "en"],
         "website": "https://edih.example.pt", "description": "Digital innovation hub in Porto."}

#: B's catalogue: enough offers for a second page of results, in two countries, and a request.
B_OFFERS = [
    {"title": f"Robotics clinic {i}", "description": "Hands-on robotics for SMEs.",
     "country": "PT" if i % 3 else "ES", "languages": ["pt", "en"] if i % 2 else ["es"],
     "topics": ["robotics"], "technologies": ["Internet of Things"], "sectors": ["Smart City"],
     "mode": "onsite", "start_date": day(20 + i), "capacity": 10}
    for i in range(1, 31)
]
B_TTT = {"title": "Train-the-trainer: Cybersecurity for public services",
         "description": "Five days for trainers of public administrations.",
         "country": "PT", "languages": ["en"], "topics": ["cybersecurity", "train-the-trainer"],
         "technologies": ["Cybersecurity"], "sectors": ["Public administration"],
         "mode": "blended", "start_date": day(40), "end_date": day(44), "capacity": 12,
         "train_the_trainer": True, "location": "Porto", "contact": "academy@edih.example.pt"}
B_REQUEST = {"title": "Looking for an AI ethics trainer",
             "description": "Two days in May for our advisers.", "country": "PT",
             "languages": ["en"], "topics": ["ai-ethics"],
             "technologies": ["Artificial Intelligence & Decision support"]}
A_OFFER_CAP = {"title": "AI ethics for advisers", "description": "A day on AI ethics.",
               "country": "AT", "languages": ["en"], "topics": ["ai-ethics"],
               "technologies": ["Artificial Intelligence & Decision support"],
               "mode": "online", "start_date": day(30), "capacity": 3}


@pytest.fixture(scope="module")
def fed(pair):
    a, b = pair.a, pair.b
    a.publish("profile", WIEN)
    b.publish("profile", PORTO)
    r = b.request({"op": "import", "records": [
        {"kind": "offer", "key": f"robotics-{i}", "record": rec}
        for i, rec in enumerate(B_OFFERS, 1)]})
    assert r["ok"], r
    b.publish("offer", B_TTT, key="ttt-cyber")
    # A second version, so that the record page has versions to show.
    b.publish("offer", dict(B_TTT, capacity=14), key="ttt-cyber")
    b.publish("request", B_REQUEST, key="ai-ethics-trainer")
    a.publish("offer", A_OFFER_CAP, key="ai-ethics")
    wait_until(lambda: len(a.query(kind="offer", author=b.key)) == len(B_OFFERS) + 1
               and a.query(kind="request", author=b.key)
               and len(b.query(kind="profile")) == 2 and len(a.query(kind="profile")) == 2,
               timeout=REPLICATION_TIMEOUT, msg="B's catalogue never reached A")
    return pair


def query_of(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


def result_titles(b):
    return [e.text for e in b.find_all("#results li.result a.result-link")]


def signin(b, web, hub, name):
    b.visit(web.url("/signin"), name)
    b.fill("#signin", {"token": web_token(hub)})
    b.submit("#signin", name + "-done")
    assert "/signin" not in b.d.current_url, b.find("#main").text
    assert not b.exists("#signin"), "still on the sign-in form"


def test_search_filter_page_and_open_record(fed, browser):
    b, wa, hb = browser, fed.wa, fed.b
    b.visit(wa.url("/"), "catalogue")
    assert b.find("html").get_attribute("lang")
    assert b.exists("main#main") and b.exists("nav#nav") and b.exists("h1")
    assert b.exists("form#search") and b.exists("aside#facets")
    assert len(b.find_all("#results li.result")) > 0

    # Search: the query goes into the URL (shareable), the results match it.
    b.fill("#search", {"q": "robotics"})
    b.submit("#search", "search-robotics")
    assert query_of(b.d.current_url).get("q") == ["robotics"], b.d.current_url
    titles = result_titles(b)
    assert titles and all("Robotics" in t for t in titles), titles
    assert "30" in b.text("#result-count"), b.text("#result-count")
    for hub in b.find_all("#results li.result .result-hub"):
        assert hub.text == "EDIH Porto", hub.text

    # A facet: countries with counts; following ES keeps the query and filters.
    es = b.find("#facets section.facet[data-facet='country'] a.facet-value[data-value='ES']")
    # The count is next to the link (in the same list item).
    assert es.find_element("xpath", "..").find_element("css selector", "span.count").text == "10"
    b.click("#facets section.facet[data-facet='country'] a.facet-value[data-value='ES']",
            "search-robotics-es")
    q = query_of(b.d.current_url)
    assert q.get("country") == ["ES"] and q.get("q") == ["robotics"], b.d.current_url
    assert len(result_titles(b)) == 10, result_titles(b)
    assert "10" in b.text("#result-count")

    # Paging: 30 results are more than one page holds; the next page has other records.
    b.visit(wa.url("/?q=robotics"), "search-robotics")
    first = result_titles(b)
    if len(first) < 30:
        b.click("#paging a[rel='next']", "search-robotics-page2")
        assert query_of(b.d.current_url).get("page") == ["2"], b.d.current_url
        second = result_titles(b)
        assert second and not set(second) & set(first), (first, second)
        assert b.exists("#paging a[rel='prev']")

    # A shareable URL with filters of several kinds, as a visitor would bookmark it.
    b.visit(wa.url("/?kind=offer&country=PT&language=en&topic=cybersecurity"), "search-filters")
    assert result_titles(b) == [B_TTT["title"]], result_titles(b)
    assert b.exists("#search [name='q']")

    # The record: every field, versions, the hub's profile, reply count, JSON-LD.
    b.click("#results li.result a.result-link", "record-ttt")
    assert b.d.current_url.endswith(f"/record/{hb.key}/offer/ttt-cyber"), b.d.current_url
    assert b.find("article#record").get_attribute("data-kind") == "offer"
    assert b.text("#record-title") == B_TTT["title"]
    fields = b.text("#fields")
    for v in (B_TTT["description"], B_TTT["location"], "Cybersecurity", "Public administration",
              B_TTT["start_date"], B_TTT["end_date"], "14"):
        assert v in fields, (v, fields)
    assert len(b.find_all("#versions li")) >= 2 or "2" in b.text("#versions"), b.text("#versions")
    assert "EDIH Porto" in b.text("#hub-profile")
    assert b.exists("#lineage")
    assert b.exists("#reply-count")
    ld = json_ld(b)
    assert ld and any("schema.org" in json.dumps(x) for x in ld), ld
    assert not b.exists("#reply-link"), "a visitor who is not signed in is offered a reply"

    # The hub's page (linked from the record) and the network page.
    b.visit(wa.url(f"/hub/{hb.key}"), "hub-porto")
    assert "EDIH Porto" in b.text("#main")
    assert B_TTT["title"] in b.text("#main")
    b.visit(wa.url("/network"), "network")
    hubs = b.text("table#hubs")
    assert "EDIH Porto" in hubs and "EDIH Wien" in hubs, hubs
    assert hb.key[:8] in b.find("table#peers").get_attribute("textContent") or \
        "EDIH Porto" in b.text("table#peers"), b.text("table#peers")
    assert b.exists("section#forks") and b.exists("#graph")
    status, headers, body = http_get(wa.url("/network.json"))
    assert status == 200 and "json" in headers.get("content-type", ""), headers
    net = json.loads(body)
    assert "EDIH Porto" in json.dumps(net)

    # Unknown records are a 404 page, not an error of the server.
    b.visit(wa.url(f"/record/{hb.key}/offer/no-such-offer"), "record-unknown")
    status, _, _ = http_get(wa.url(f"/record/{hb.key}/offer/no-such-offer"))
    assert status == 404


def test_sign_in_publish_offer_refused_value_and_replication(fed, browser):
    b, wa, wb, a = browser, fed.wa, fed.wb, fed.a
    # A wrong secret is refused.
    b.visit(wa.url("/signin"), "signin")
    assert b.find("#signin input[name='token']").get_attribute("type") == "password"
    b.fill("#signin", {"token": "not-the-token"})
    b.submit("#signin", "signin-wrong")
    assert b.exists("#signin"), "a wrong secret signed in"
    signin(b, wa, a, "signin")
    b.visit(wa.url("/staff"), "staff")

    b.visit(wa.url("/staff/publish?kind=offer"), "publish-offer")
    assert b.exists("form#publish input[type='hidden'][name='csrf']")
    title = "Quantum computing for trainers"
    # 101 euro signs: 101 characters (the input's maxlength, if any, lets them through) but
    # 303 bytes, over the title's 200-byte cap: hubd refuses it and the form says so at the
    # title.
    b.fill("#publish", {"title": "€" * 101, "description": "Three days, hands-on.",
                        "country": "AT", "start_date": day(50), "capacity": "8"})
    b.submit("#publish", "publish-offer-refused", "#submit")
    err = b.find("#error-title")
    assert err.text.strip(), "the refusal is not shown next to the title"
    assert b.find("form#publish [name='description']").get_attribute("value") == \
        "Three days, hands-on.", "the form lost what was typed"
    assert not a.query(kind="offer", author=a.key, text="quantum")
    b.fill("#publish", {"title": title})
    b.submit("#publish", "publish-offer-done", "#submit")
    assert not b.exists("#error-title")
    mine = wait_until(lambda: [r for r in a.query(kind="offer", author=a.key)
                               if r["record"]["title"] == title], timeout=10,
                      msg="the offer published through the form is not in hubd")
    rec = mine[0]["record"]
    assert rec.get("country") == "AT" and rec.get("capacity") == 8, rec
    assert rec.get("start_date") == day(50), rec

    # B's public page shows it once replicated (no sign-in on B).
    url = wb.url("/?" + urllib.parse.urlencode({"q": "quantum"}))
    b.poll(url, lambda b: title in result_titles(b), "replicated-on-b",
           msg="the offer never appeared on the other hub's page")
    b.click("#results li.result a.result-link", "replicated-on-b-record")
    assert b.text("#record-title") == title
    assert "EDIH Wien" in b.text("#hub-profile")


def test_answer_request(fed, browser):
    b, wa, a, hb = browser, fed.wa, fed.a, fed.b
    signin(b, wa, a, "signin-answer")
    b.visit(wa.url(f"/record/{hb.key}/request/ai-ethics-trainer"), "request-record")
    assert b.find("article#record").get_attribute("data-kind") == "request"
    b.click("#reply-link", "reply-form")
    assert "/staff/reply" in b.d.current_url
    # The hub answered is named as on the record page (its profile's name), not by its key.
    assert b.text("#reply-target + .result-hub") == PORTO["name"], b.text("#main")
    form = "form#reply" if b.exists("form#reply") else "main form[method='post']"
    values = {"message": "Our adviser can come on 12 May."}
    if b.exists(f"{form} select[name='type']"):
        values["type"] = "proposal"
    b.fill(form, values)
    b.submit(form, "reply-sent")
    wait_until(lambda: [r for r in hb.call("inbox")["replies"]
                        if r["target_record"].endswith("/request/ai-ethics-trainer")],
               timeout=REPLICATION_TIMEOUT, msg="B never received A's answer")
    b.visit(wa.url("/staff/replies"), "replies-sent")
    items = b.find_all("#replies-sent li.reply")
    assert items and any(B_REQUEST["title"] in i.text for i in items), \
        [i.text for i in items]
    b.visit(wa.url("/staff/match"), "match")
    assert b.exists("#main")


def test_accept_enrolment(fed, browser):
    b, wa, a, hb = browser, fed.wa, fed.a, fed.b
    wait_until(lambda: hb.request({"op": "history", "author": a.key, "key": "ai-ethics",
                                   "kind": "offer"})["ok"],
               timeout=REPLICATION_TIMEOUT, msg="A's offer never reached B")
    r = hb.call("publish", kind="response", target=f"{a.key}/offer/ai-ethics",
                record={"type": "enrolment", "seats": 2, "message": "Two of our advisers",
                        "contact": "training@edih.example.pt"})
    enrol = r["id"]
    signin(b, wa, a, "signin-inbox")
    b.poll(wa.url("/staff/inbox"), lambda b: b.exists(f"#inbox li.reply[data-id='{enrol}']"),
           "inbox", msg="the enrolment never reached A's inbox")
    item = b.find(f"#inbox li.reply[data-id='{enrol}']")
    assert "EDIH Porto" in item.text, item.text
    b.click(f"#inbox li.reply[data-id='{enrol}'] form.accept button", "inbox-accepted")
    wait_until(lambda: [x for x in hb.call("replies")["replies"]
                        if x["id"] == enrol and x["state"] == "accepted"],
               timeout=REPLICATION_TIMEOUT, msg="B never saw its enrolment accepted")
    b.visit(wa.url("/staff/inbox"), "inbox-after")
    st = b.find(f"#inbox li.reply[data-id='{enrol}']").get_attribute("data-state")
    assert st == "accepted", st
    b.visit(wa.url(f"/record/{a.key}/offer/ai-ethics"), "record-seats")
    # 3 seats, 2 accepted: 1 left.
    assert re.search(r"\b1 seats? left", b.text("#main")), b.text("#main")

    # A POST without the CSRF token is refused (403), signed in or not.
    b.visit(wa.url("/staff"), "staff-before-signout")
    b.d.execute_script("for (const f of document.querySelectorAll('form')) "
                       "for (const i of f.querySelectorAll(\"input[name='csrf']\")) i.value='x'")
    forms = b.find_all("form[action='/signout'] button")
    assert forms, "no sign-out form on the staff page"
    forms[0].click()
    seen = []

    def signout_answer():
        seen.extend(b.documents())
        return [(st, h) for url, st, h in seen if url.endswith("/signout")]
    answers = wait_until(signout_answer, timeout=10, msg="the sign-out POST got no answer")
    assert answers[0][0] == 403, f"a sign-out with a wrong CSRF token answered {answers[0][0]}"
    assert {k.lower() for k in answers[0][1]} >= {"content-security-policy",
                                                  "x-content-type-options"}, answers[0][1]
    wait_until(lambda: b.d.execute_script("return document.readyState") == "complete",
               timeout=10, msg="the 403 page did not load")
    b.check("signout-refused")
    # Still signed in: the staff page shows.
    b.visit(wa.url("/staff"), "staff-still")
    assert not b.exists("#signin")

    # Signing out ends the session: the staff pages ask for sign-in again.
    b.visit(wa.url("/staff"), "staff-again")
    b.click("form[action='/signout'] button", "signed-out")
    b.visit(wa.url("/staff/inbox"), "inbox-signed-out")
    assert b.exists("#signin") or "/signin" in b.d.current_url, b.d.current_url


#: An offer in three languages: `title`/`description` in its first language (pt), `titles` and
#: `descriptions` in de and en. No word of it is in the other tests' searches.
LANG_OFFER = {"title": "Clínica de automação de soldadura",
              "description": "Dois dias de prática com células de soldadura.",
              "titles": {"de": "Sprechstunde Schweißautomatisierung",
                         "en": "Welding automation clinic"},
              "descriptions": {"de": "Zwei Tage Praxis an Schweißzellen.",
                               "en": "Two days of practice with welding cells."},
              "country": "AT", "languages": ["pt", "de", "en"], "topics": ["welding"],
              "mode": "onsite", "start_date": day(60), "capacity": 6}


def lang_of(b, el):
    """The language the page declares for the element's text (its nearest lang attribute)."""
    return b.d.execute_script("return arguments[0].closest('[lang]').getAttribute('lang')", el)


def test_visitor_language(fed, browser, other_browser):
    """The record's title in the visitor's language (Accept-Language), marked with its lang."""
    wa, a = fed.wa, fed.a
    a.publish("offer", LANG_OFFER, key="welding-clinic")
    path = f"/record/{a.key}/offer/welding-clinic"
    search = "/?topic=welding"

    de = other_browser("de", langs="de")
    de.visit(wa.url(path), "record-de")
    h1 = de.find("#record-title")
    assert h1.text == LANG_OFFER["titles"]["de"], h1.text
    marked = h1.find_elements("css selector", "[lang]")
    assert marked and marked[0].text == LANG_OFFER["titles"]["de"], h1.get_attribute("innerHTML")
    assert lang_of(de, marked[0]) == "de"
    assert de.find("html").get_attribute("lang") == "en"  # hubweb's own text stays English
    de.visit(wa.url(search), "search-de")
    link = de.find("#results a.result-link")
    assert link.text == LANG_OFFER["titles"]["de"], link.text
    assert lang_of(de, link.find_element("css selector", "[lang]")) == "de"

    browser.visit(wa.url(path), "record-en")
    h1 = browser.find("#record-title")
    assert h1.text == LANG_OFFER["titles"]["en"], h1.text
    assert lang_of(browser, h1) == "en"
    for el in h1.find_elements("css selector", "[lang]"):
        assert lang_of(browser, el) == "en", h1.get_attribute("innerHTML")
    browser.visit(wa.url(search), "search-en")
    assert browser.text("#results a.result-link") == LANG_OFFER["titles"]["en"]


def test_reading_without_javascript(fed, other_browser):
    """A visitor whose browser runs no script searches, filters by a facet and opens a record:
    the pages are plain HTML links and GET forms (app.js only saves a click)."""
    wa, hb = fed.wa, fed.b
    b = other_browser("nojs", javascript=False)
    # Scripts are off for every page: a page's script that would set its title does not run.
    b.d.get("data:text/html,<title>before</title><script>document.title='ran'</script>")
    assert b.d.title == "before", b.d.title
    b.visit(wa.url("/"), "catalogue")
    b.fill("#search", {"q": "robotics"})
    b.submit("#search", "search-robotics")
    assert query_of(b.d.current_url).get("q") == ["robotics"], b.d.current_url
    titles = result_titles(b)
    assert titles and all("Robotics" in t for t in titles), titles
    b.click("#facets section.facet[data-facet='country'] a.facet-value[data-value='ES']",
            "search-robotics-es")
    q = query_of(b.d.current_url)
    assert q.get("country") == ["ES"] and q.get("q") == ["robotics"], b.d.current_url
    assert len(result_titles(b)) == 10, result_titles(b)
    b.click("#results li.result a.result-link", "record")
    assert f"/record/{hb.key}/offer/robotics-" in b.d.current_url, b.d.current_url
    assert b.text("#record-title").startswith("Robotics clinic"), b.text("#record-title")
    assert "EDIH Porto" in b.text("#hub-profile")
