"""hubweb (issue 13), over plain HTTP (urllib's http.client), against real hubd and hubweb
processes: status codes, the security headers, the search page with its facet counts and
paging, a record page, a hub page, the network page and its JSON, 404s, the request limits,
catalogue = off, a hubd that goes away and comes back, and a hostile record replicated from
another hub rendered as inert text on every page. Browser tests (DOM, scripts, axe) are
WEB-TEST's (tests/browser)."""

import html.parser
import json
import re
import urllib.parse

from hubtest import first_run, link, start_all, start_web, wait_until

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

OFFER = {
    "title": "Train-the-trainer: AI for public services",
    "description": "Three days for trainers of public administrations.",
    "topics": ["train-the-trainer", "ai"],
    "languages": ["de", "en"],
    "mode": "blended",
    "country": "AT",
    "start_date": "2027-03-01",
    "capacity": 12,
    "registration_url": "https://academy.example.at/ttt?a=1&b=2",
}

# Every string field of the offer holds a payload: element-breaking, attribute-breaking, a
# script URL (where a URL field accepts text), entity-encoded schemes, U+2028.
XSS = '"><script>alert(1)</script>'
HOSTILE_OFFER = {
    "title": XSS + " <img src=x onerror=alert(2)>",
    "description": "</textarea><svg onload=alert(3)>\u2028' onmouseover='alert(4)",
    "topics": ["x-script"],
    "location": "<iframe src=javascript:alert(5)>",
    "contact": "javascript:alert(6)",
    "material_licence": "JaVaScRiPt:alert(7)",
    "material_url": "https://evil.example/\"><script>alert(8)</script>",
    "country": "PT",
    "languages": ["pt"],
}
HOSTILE_PROFILE = {"name": "EDIH <script>alert(9)</script>", "country": "PT",
                   "website": "https://evil.example/'onmouseover='alert(10)",
                   "contact": "&#106;avascript:alert(11)"}


def check_headers(r):
    assert r.headers.get("Content-Security-Policy") == CSP, r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Referrer-Policy") == "same-origin"


def jsonld_blocks(html):
    return re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)


class _Tags(html.parser.HTMLParser):
    """Every element and attribute as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def assert_inert(page):
    """No payload came through as markup: the only scripts are ours (JSON-LD data, app.js),
    no element a payload names, no event-handler attribute, every link http(s), mailto or
    local; the JSON-LD blocks hold no '<' and parse."""
    p = _Tags()
    p.feed(page)
    p.close()
    for tag, attrs in p.tags:
        assert tag not in ("img", "iframe", "textarea", "object", "embed", "base"), tag
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "script":
            assert attrs == {"type": "application/ld+json"} or (
                attrs.get("src", "").startswith("/assets/app.js")), attrs
        for a in ("href", "src", "action"):
            if a in attrs:
                v = attrs[a]
                assert v.startswith(("/", "#", "https://", "http://", "mailto:")), (tag, v)
                assert not v.startswith("//"), v
    for block in jsonld_blocks(page):
        assert "<" not in block and "\u2028" not in block
        json.loads(block)


def test_pages_headers_search_record(hubs):
    a = hubs(name="weba")
    a.publish("profile", {"name": "EDIH Wien", "country": "AT",
                          "website": "https://edih.example.at"}, key="profile")
    offer = a.publish("offer", OFFER, key="ttt-ai")
    a.publish("request", {"title": "E-procurement expertise", "country": "DE",
                          "languages": ["en"]}, key="eproc")
    w = start_web(a)

    r = w.get("/")
    assert r.status == 200
    check_headers(r)
    assert r.headers.get("Content-Type") == "text/html; charset=utf-8"
    page = r.text
    assert '<main id="main">' in page and '<nav id="nav"' in page
    assert '<form id="search" method="get" action="/"' in page
    # the three catalogue kinds and their counts; no retraction or response in it
    assert re.search(r'data-facet="kind".*?data-value="offer".*?<span class="count">1</span>',
                     page, re.S)
    assert '<p id="result-count" role="status">3 results</p>' in page
    assert len(re.findall(r'<li class="result"', page)) == 3
    assert len(page.encode()) < 100 * 1024

    # a search: the text and a filter, in the URL
    r = w.get("/?q=trainer&country=AT")
    assert r.status == 200
    assert '<p id="result-count" role="status">1 result</p>' in r.text
    links = re.findall(r'<a class="result-link" href="([^"]+)">(.*?)</a>', r.text)
    # the title is in the record's first language (languages[0]), so marked as such
    assert links == [(f"/record/{a.key}/offer/ttt-ai", f'<span lang="de">{OFFER["title"]}</span>')]
    assert '<span class="result-hub">EDIH Wien</span>' in r.text
    # facet values link to the same query with the value toggled
    m = re.search(r'data-facet="country".*?<a class="facet-value selected"[^>]*data-value="AT" '
                  r'href="([^"]+)"', r.text, re.S)
    assert m and m.group(1) == "/?q=trainer", m and m.group(1)
    ld = [json.loads(b) for b in jsonld_blocks(r.text)]
    assert ld[0]["@type"] == "ItemList"
    item = ld[0]["itemListElement"][0]["item"]
    assert item["@type"] == "Course" and item["name"] == OFFER["title"]
    assert item["@id"] == f"urn:hubnet:offer:{a.key}:ttt-ai" and item["url"] == links[0][0]

    # the record page: every field, versions, hub profile, lineage, reply count, JSON-LD
    r = w.get(f"/record/{a.key}/offer/ttt-ai", headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
    assert r.status == 200
    check_headers(r)
    p = r.text
    assert '<html lang="en">' in p  # hubweb's own text; a record's versions carry theirs
    assert '<article id="record" data-kind="offer">' in p
    assert f'<h1 id="record-title"><span lang="de">{OFFER["title"]}</span></h1>' in p
    for field in ("title", "description", "topics", "languages", "mode", "country", "start_date",
                  "capacity", "registration_url"):
        assert f'data-field="{field}"' in p, field
    assert ('<a href="https://academy.example.at/ttt?a=1&amp;b=2" '
            'rel="nofollow noopener noreferrer">') in p
    assert '<section id="versions">' in p and offer["id"][:16] in p
    assert '<section id="hub-profile">' in p and "EDIH Wien" in p
    assert '<section id="lineage">' in p
    assert '<p id="reply-count">0 replies held by this hub.</p>' in p
    assert "12 seats left" in p
    ld = json.loads(jsonld_blocks(p)[0])
    assert ld["@type"] == "Course" and ld["name"] == OFFER["title"]
    assert ld["@context"] == "https://schema.org"

    # a hub page and the network
    r = w.get(f"/hub/{a.key}")
    assert r.status == 200 and "<h1>EDIH Wien</h1>" in r.text
    assert r.text.count('<li class="result"') == 2
    r = w.get("/network")
    assert r.status == 200 and '<table id="hubs">' in r.text and '<svg id="graph"' in r.text
    net = json.loads(w.get("/network.json").body)
    assert net["hub"] == a.key and net["hubs"][0]["name"] == "EDIH Wien"
    r = w.get("/network.svg")
    assert r.status == 200 and r.headers.get("Content-Type") == "image/svg+xml"

    # 404s
    for path in ("/nope", f"/record/{a.key}/offer/nope", "/record/zz/offer/x",
                 f"/record/{a.key}/retraction/x", "/hub/" + "0" * 64):
        r = w.get(path)
        assert r.status == 404, path
        check_headers(r)
        assert "<h1>Not found</h1>" in r.text

    # assets: built in, cached by ETag
    r = w.get("/assets/app.css")
    assert r.status == 200 and r.headers.get("Content-Type").startswith("text/css")
    etag = r.headers.get("ETag")
    assert etag and "immutable" in r.headers.get("Cache-Control")
    assert w.get("/assets/app.css", headers={"If-None-Match": etag}).status == 304
    assert w.get("/assets/app.js").status == 200


def test_paging_and_filters(hubs):
    a = hubs(name="webp")
    for i in range(45):
        a.publish("offer", {"title": f"Course {i:02d}", "country": "AT" if i % 3 else "DE",
                            "topics": ["ai"]}, key=f"c{i:02d}")
    w = start_web(a)
    seen = []
    path = "/?kind=offer"
    for page in (1, 2, 3):
        r = w.get(path)
        assert r.status == 200, r.text
        titles = re.findall(r'class="result-link" href="[^"]+">([^<]+)</a>', r.text)  # no lang
        assert len(titles) == (20 if page < 3 else 5), (page, titles)
        seen += titles
        nxt = re.search(r'<a rel="next" href="([^"]+)"', r.text)
        if page < 3:
            assert nxt, page
            path = nxt.group(1).replace("&amp;", "&")
        else:
            assert nxt is None
    assert sorted(seen) == sorted(f"Course {i:02d}" for i in range(45))
    assert seen[0] == "Course 44"  # newest first
    # a page by number (no cursor) gives the same as the link did
    r = w.get("/?kind=offer&page=3")
    assert re.findall(r'class="result-link" href="[^"]+">([^<]+)</a>', r.text) == seen[40:]
    assert '<a rel="prev" href="/?kind=offer&amp;page=2"' in r.text
    # repeated filter values are any-of; counts follow the filters
    r = w.get("/?kind=offer&country=DE")
    assert '<p id="result-count" role="status">15 results</p>' in r.text
    r = w.get("/?kind=offer&country=DE&country=AT")
    assert '<p id="result-count" role="status">45 results</p>' in r.text
    # sorted by start, and a bad filter value: hubd's message, escaped, with 400
    assert w.get("/?sort=start").status == 200
    r = w.get("/?country=" + urllib.parse.quote("<b>XX"))
    assert r.status == 400 and "&lt;b&gt;XX" in r.text and "<b>XX" not in r.text
    assert w.get("/?from=2027-13").status == 400


def test_hostile_record_from_another_hub_is_inert(hubs):
    a, b = hubs.new(name="webh-a"), hubs.new(name="webh-b")
    first_run(a, b)
    link(a, b)
    a.allow.append(b.key)
    b.allow.append(a.key)
    start_all(a, b)
    b.publish("profile", HOSTILE_PROFILE, key="profile")
    b.publish("offer", HOSTILE_OFFER, key='k"><script>alert(12)</script>')
    wait_until(lambda: len(a.query(author=b.key)) == 2, timeout=20,
               msg="a never received b's records")
    w = start_web(a)
    r = w.get("/?q=script")
    assert r.status == 200
    assert_inert(r.text)
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    link_ = re.search(r'<a class="result-link" href="([^"]+)"', r.text).group(1)
    assert "<" not in link_ and '"' not in link_
    for path in (link_, "/", f"/hub/{b.key}", "/network"):
        r = w.get(path.replace("&amp;", "&"))
        assert r.status == 200, (path, r.status)
        assert_inert(r.text)
    r = w.get(link_.replace("&amp;", "&"))
    assert "EDIH &lt;script&gt;alert(9)&lt;/script&gt;" in r.text
    # the URL payloads are text, not links; the one https link keeps its quote escaped
    assert "JaVaScRiPt:alert(7)" in r.text and "javascript:alert(6)" in r.text
    assert 'href="https://evil.example/&quot;&gt;&lt;script&gt;alert(8)&lt;/script&gt;"' in r.text
    assert "&amp;#106;avascript:alert(11)" in w.get(f"/hub/{b.key}").text
    svg = w.get("/network.svg").text
    assert "<script" not in svg and "EDIH &lt;script&gt;" in svg
    net = json.loads(w.get("/network.json").body)
    assert any(h.get("name") == HOSTILE_PROFILE["name"] for h in net["hubs"])


def test_catalogue_off_limits_and_hubd_restart(hubs):
    a = hubs(name="webo")
    a.publish("offer", OFFER, key="ttt-ai")
    w = start_web(a, web={"catalogue": "off"})
    for path in ("/", f"/record/{a.key}/offer/ttt-ai", "/network", "/network.json"):
        r = w.get(path)
        assert r.status == 303 and r.headers.get("Location") == "/signin", path
        check_headers(r)
    assert w.get("/assets/app.js").status == 200

    w2 = start_web(a)
    assert w2.request("PUT", "/").status == 405
    assert w2.request("DELETE", "/").status == 405
    r = w2.post("/", b"x=" + b"a" * (70 * 1024))
    assert r.status == 413
    r = w2.post("/network", {"a": "b"})
    assert r.status == 405
    # more filter values than a query takes: hubd's refusal, shown (not a failure of hubweb)
    r = w2.get("/?" + "&".join(f"topic=t{i}" for i in range(80)))
    assert r.status == 400 and "at most 16" in r.text
    # hubd goes away: 502, and the page works again once it is back (a new connection)
    assert w2.get("/").status == 200
    a.stop()
    r = w2.get("/")
    assert r.status == 502 and "does not answer" in r.text
    a.start()
    wait_until(lambda: w2.get("/").status == 200, timeout=10, msg="hubweb did not reconnect")
    assert "ttt-ai" in w2.get("/").text


def test_facets_call(hubs):
    a = hubs(name="webf")
    for i in range(5):
        a.publish("offer", {"title": f"O{i}", "country": "AT" if i < 3 else "DE",
                            "languages": ["de", "en"] if i % 2 else ["de"],
                            "start_date": f"2027-0{1 + i % 2}-15",
                            "capacity": 0 if i else 1}, key=f"o{i}")
    a.publish("request", {"title": "R", "country": "DE"}, key="r")
    r = a.call("facets", kind=["offer", "request"], top=5)
    assert r["total"] == 6 and r["complete"] is True
    f = r["facets"]
    assert f["kind"] == [["offer", 5], ["request", 1]]
    assert f["country"] == [["AT", 3], ["DE", 3]]
    assert f["language"] == [["de", 5], ["en", 2]]
    assert f["start"] == [["2027-01", 3], ["2027-02", 2]]
    assert f["seats"] == [["left", 5]]
    r = a.call("facets", kind="offer", country="DE", top=1)
    assert r["total"] == 2 and r["facets"]["language"] == [["de", 2]]
    bad = a.request({"op": "facets", "cursor": "2"})
    assert bad["ok"] is False and bad["error"]["code"] == "E_BAD_REQUEST"
    bad = a.request({"op": "facets", "top": 0})
    assert bad["error"]["code"] == "E_RANGE"
    # scan: how many matches are counted (newest first)
    r = a.call("facets", kind="offer", scan=2)
    assert r["total"] == 2 and r["complete"] is False
    assert r["facets"]["kind"] == [["offer", 2]]
    for scan, code in ((0, "E_RANGE"), (1001, "E_RANGE"), ("5", "E_TYPE")):
        assert a.request({"op": "facets", "scan": scan})["error"]["code"] == code
    # query: kind takes several values now
    assert len(a.query(kind=["offer", "request"])) == 6
    bad = a.request({"op": "query", "kind": ["offer", "nope"]})
    assert bad["error"]["code"] == "E_KIND"


def test_hostile_requests_are_answered(hubs):
    """Malformed requests get an answer (or a closed connection), never a crash: hubweb still
    serves afterwards (under ASan this also checks the parsers' memory use)."""
    import socket as socketlib
    a = hubs(name="webr")
    a.publish("offer", OFFER, key="ttt-ai")
    w = start_web(a)
    for lang in ("", ";;;", "q=abc", "de;q=", "de;q=2,en;q=-1", "*", "x" * 5000,
                 ",".join(f"l{i};q=0.{i % 10}" for i in range(500)), "de-\u00e4t".encode("utf-8").decode("latin-1")):
        r = w.get("/", headers={"Accept-Language": lang})
        assert r.status in (200, 400, 431), (lang[:40], r.status)
    for path in ("/record/%00/offer/x", f"/record/{a.key}/offer/%FF%FE%00",
                 f"/record/{a.key}/offer/" + "k" * 200, "/hub/%2e%2e%2f", "/?q=%", "/?q=%zz&kind=%",
                 "/?page=-1", "/?page=99999999999999999999", "/?from=2027-02-30",
                 "/?kind=retraction", "/?kind=" + "x" * 300, "/assets/../../etc/passwd",
                 "/network.json?x=" + "y" * 4000):
        r = w.get(path)
        assert r.status in (200, 400, 404), (path, r.status)
        check_headers(r)
    # a value decoded to bytes that are not UTF-8 is no text to search for: 400, said so
    # (it used to be dropped from the query silently, and a record key of such bytes gave 502)
    for path in ("/?q=%FF", "/?country=%C0%BC", "/?q=ai&topic=%ED%A0%80"):
        r = w.get(path)
        assert r.status == 400 and "not text" in r.text, (path, r.status)
    assert w.get(f"/record/{a.key}/offer/%FF%FE").status == 404
    for body in (b"%", b"a=%zz&=&&b", b"=" * 1000, b"&" * 5000, b"x=" + b"%00" * 1000):
        r = w.post("/", body)
        assert r.status == 405
    # raw bytes on the socket: a broken request line, then a request that never ends
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + b"X: " + b"b" * 200000 + b"\r\n\r\n"):
        s = socketlib.create_connection(("127.0.0.1", w.port), timeout=10)
        try:
            s.sendall(raw)
            s.shutdown(socketlib.SHUT_WR)
            head = s.recv(64)
            assert head == b"" or head.startswith(b"HTTP/1."), head
        except OSError as e:
            # hubweb may close the connection on such a request before the client has sent it
            # all or shut down its side: reset, broken pipe, or not connected any more
            import errno
            assert e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN), e
        finally:
            s.close()
    assert w.running()
    r = w.get(f"/record/{a.key}/offer/ttt-ai")
    assert r.status == 200 and OFFER["title"] in r.text


def test_command_line(hubs):
    """--help, a bad [web] key or --listen (exit 1 with the reason), and --listen/--control
    overriding the config file."""
    import subprocess
    from hubtest import Web, free_port_pair, hubweb_path
    p = subprocess.run([hubweb_path(), "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "--listen HOST:PORT" in p.stdout
    a = hubs(name="webc")
    w = Web(a, web={"catalogue": "maybe"})
    with open(w.config_path, "w") as f:
        f.write(w.config())
    p = subprocess.run([hubweb_path(), "--config", w.config_path], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1 and "web.catalogue: expected one of off, on" in p.stderr, p.stderr
    p = subprocess.run([hubweb_path(), "--listen", "127.0.0.1:0"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1 and "--listen: expected HOST:PORT" in p.stderr, p.stderr
    # no config file at all: --listen and --control are enough
    port = free_port_pair()
    w = Web(a, args=["--listen", f"127.0.0.1:{port}", "--control", a.control_socket])
    w.port = port
    w.config = lambda: "[web]\nlisten = 127.0.0.1:1\n"  # overridden by --listen
    a.webs = [w]
    w.start()
    r = w.get("/network.json")
    assert r.status == 200 and json.loads(r.body)["hub"] == a.key
    # the workers may answer before the main thread has written its start-up line
    wait_until(lambda: "serving http://127.0.0.1:%d/" % port in w.log_text(), timeout=10,
               msg="hubweb did not log the address it serves")


def test_foreign_entry_with_values_publish_refuses_is_inert(hubs):
    """A receiver checks a foreign record's caps and characters only (PROTOCOL.md 7.1), not
    the publish rules: a hub may hold a registration_url of javascript:, a start_date that is
    no date, a country or mode outside the vocabulary. Signed here with the reference
    implementation and imported as a trusted hub's entries, they render as text, and the
    'start' facet counts no such month (its link would carry the bytes into an href)."""
    import base64
    import time
    import hubnet_ref as ref
    kp = ref.Keypair.generate()
    a = hubs.new(name="webx")
    first_run(a)
    a.allow = [kp.hex]
    a.start()
    feed = ref.Feed(kp, int(time.time() * 1000) - 60_000)
    feed.next(1, "profile", ref.payload_from_json(1, {"name": "Foreign \"><b>hub</b>"}))
    rec = {"title": "Foreign offer", "registration_url": "javascript:alert(1)",
           "material_url": " JAVASCRIPT:alert(2)", "contact": "x",
           "start_date": '2027"><x>', "end_date": "&#106;avas", "country": '"><i>',
           "mode": "<script>", "languages": ['"><u'], "topics": ["<t>"]}
    feed.next(2, "o1", ref.payload_from_json(2, rec))
    wires = [base64.b64encode(e.wire).decode() for e in feed.entries]
    r = a.call("import", entries=wires)
    assert r["accepted"] == 2, r
    w = start_web(a)
    page = w.get("/").text
    assert_inert(page)
    assert 'data-facet="dates"' in page and "2027&quot;" not in page.split('data-facet="dates"')[1].split("</section>")[0]
    assert "&lt;script&gt;" in page  # the mode facet value, as text
    r = w.get(f"/record/{kp.hex}/offer/o1")
    assert r.status == 200
    assert_inert(r.text)
    assert "javascript:alert(1)" in r.text and 'href="javascript' not in r.text.lower()
    assert "JAVASCRIPT:alert(2)" in r.text
    assert '<span lang="' not in r.text  # '"><u' is no language tag
    assert_inert(w.get(f"/hub/{kp.hex}").text)
    assert_inert(w.get("/network").text)
    facets = a.call("facets", kind="offer")["facets"]
    assert facets["start"] == [] and facets["mode"] == [["<script>", 1]]
