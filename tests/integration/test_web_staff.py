"""hubweb's staff pages (issue 13 item 3) against real hubd and hubweb processes, with plain
HTTP (http.client through hubtest.Web; no browser): sign-in with the web token (wrong token
refused with a flash, attempts limited per client address, the limit counted per forwarded
address behind a proxy on loopback), publishing through the form (the record as typed, list
fields from repeated names, a refused value shown next to its field with the form keeping what
was typed), every POST refused without its CSRF token, edit and retract, an enrolment made on a
second federated hub (through its own hubweb) accepted in the first hub's inbox, and the
rotation of the web token ending the session."""

import html
import re
import urllib.parse

from hubtest import start_web, wait_until

COOKIE = re.compile(r"^([A-Za-z_]+)=([^;]*)")


class Browser:
    """A cookie jar over hubtest.Web (which follows no redirect: every status is seen)."""

    def __init__(self, web, headers=None):
        self.web = web
        self.cookies = {}
        self.headers = dict(headers or {})

    def _send(self, method, path, data=None):
        hdrs = dict(self.headers)
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = self.web.request(method, path, data=data, headers=hdrs)
        for c in r.headers.get_all("Set-Cookie") or []:
            m = COOKIE.match(c)
            if m and ("Max-Age=0" in c or not m.group(2)):
                self.cookies.pop(m.group(1), None)
            elif m:
                self.cookies[m.group(1)] = m.group(2)
        return r

    def get(self, path):
        return self._send("GET", path)

    def post(self, path, data):
        return self._send("POST", path, data)

    def csrf(self, path):
        """The hidden csrf of the page's forms."""
        r = self.get(path)
        assert r.status == 200, (path, r.status, r.text[:500])
        m = re.search(r'name="csrf" value="([^"]*)"', r.text)
        assert m, r.text[:2000]
        return m.group(1)

    def signin(self, token):
        pre = self.csrf("/signin")
        return self.post("/signin", {"csrf": pre, "token": token})


def signed_in(web, hub, headers=None):
    b = Browser(web, headers)
    r = b.signin(hub.call("web_token")["token"])
    assert r.status == 303 and r.headers["Location"] == "/staff", (r.status, r.text[:500])
    assert "hubweb_session" in b.cookies
    return b


def flash(text):
    m = re.search(r'<p id="flash" role="status">(.*?)</p>', text, re.S)
    return html.unescape(m.group(1)) if m else None


def field_error(text, field):
    m = re.search(r'<p class="field-error" id="error-%s">(.*?)</p>' % re.escape(field), text, re.S)
    return html.unescape(m.group(1)) if m else None


def pair(hubs):
    a, b = hubs.new("web-a"), hubs.new("web-b")
    for h in (a, b):
        h.start(wait=False)
    for h in (a, b):
        h.wait_ready()
        assert h.key
    for h in (a, b):
        h.stop()
    a.peers.append(f"{b.endpoint} {b.key}")
    b.peers.append(f"{a.endpoint} {a.key}")
    for h in (a, b):
        h.start(wait=False)
    for h in (a, b):
        h.wait_ready()
    return a, b


def test_signin_refused_limited_and_cookie(hubs):
    hub = hubs("web-signin")
    web = start_web(hub, web={"signin_attempts": 3})
    token = hub.call("web_token")["token"]
    b = Browser(web)
    r = b.get("/signin")
    assert r.status == 200 and '<form id="signin"' in r.text
    assert re.search(r'<input[^>]*name="token"[^>]*type="password"', r.text)
    pre = b.cookies["hubweb_pre"]
    # no CSRF, or another one: 403, and not counted as an attempt
    assert b.post("/signin", {"token": token}).status == 403
    assert b.post("/signin", {"token": token, "csrf": "x" * 43}).status == 403
    # a staff page without a session: to the sign-in page
    r = b.get("/staff")
    assert r.status == 303 and r.headers["Location"] == "/signin"
    # wrong tokens: refused with a flash, then limited (3 a minute) even for the right one
    for i in range(3):
        r = b.post("/signin", {"csrf": pre, "token": "not-the-token"})
        assert r.status == 403, r.status
        assert "not the hub's web token" in flash(r.text)
        assert "hubweb_session" not in b.cookies
    r = b.post("/signin", {"csrf": pre, "token": token})
    assert r.status == 429, r.status
    assert int(r.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts" in flash(r.text)
    assert "hubweb_session" not in b.cookies
    # another client behind the proxy (loopback forwards X-Forwarded-For) has its own count
    other = Browser(web, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                                  "X-Forwarded-Proto": "https"})
    r = other.signin(token)
    assert r.status == 303 and r.headers["Location"] == "/staff"
    cookie = [c for c in r.headers.get_all("Set-Cookie") if c.startswith("hubweb_session=")][0]
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Secure"):
        assert attr in cookie, cookie
    assert re.match(r"hubweb_session=[A-Za-z0-9_-]{43};", cookie)
    r = other.get("/staff")
    assert r.status == 200 and "<h1>Staff</h1>" in r.text and flash(r.text) == "Signed in."
    # plain http (no X-Forwarded-Proto): no Secure (the browser would drop the cookie)
    plain = Browser(web, headers={"X-Forwarded-For": "192.0.2.50"})
    r = plain.signin(token)
    assert r.status == 303
    cookie = [c for c in r.headers.get_all("Set-Cookie") if c.startswith("hubweb_session=")][0]
    assert "Secure" not in cookie and "HttpOnly" in cookie, cookie
    assert plain.get("/staff").status == 200
    # sign-out needs the CSRF token too, then ends the session
    assert plain.post("/signout", {}).status == 403
    assert plain.get("/staff").status == 200
    r = plain.post("/signout", {"csrf": plain.csrf("/staff")})
    assert r.status == 303
    assert plain.get("/staff").status == 303
    # the token never reaches hubweb's log
    assert token not in web.log_text()
    # refusals are summarised (the first at once), not logged one line each
    assert "staff sign-in refused: 1 not the web token, 0 over the limit (the last from " \
        "127.0.0.1)" in web.log_text()
    assert web.log_text().count("staff sign-in refused") == 1


def test_publish_edit_retract_through_the_form(hubs):
    hub = hubs("web-pub")
    web = start_web(hub)
    b = signed_in(web, hub)
    r = b.get("/staff/publish?kind=offer")
    assert r.status == 200 and '<form id="publish"' in r.text
    # selects and checkboxes from the vocabularies, with labels
    assert re.search(r'<select id="f-country" name="country"', r.text)
    assert '<option value="AT">AT</option>' in r.text
    assert re.search(r'<input type="checkbox" id="f-sectors-\d+" name="sectors" value="Smart City">'
                     r'<label for="f-sectors-\d+">Smart City</label>', r.text)
    assert '<button type="submit" id="submit">' in r.text
    csrf = re.search(r'name="csrf" value="([^"]*)"', r.text).group(1)
    form = [("csrf", csrf), ("key", "ttt-ai"), ("title", "Train-the-trainer: AI <b>&</b>"),
            ("description", "Line one\r\nLine two"), ("topics", "train-the-trainer, ai"),
            ("sectors", "Smart City"), ("sectors", "Public administration"),
            ("languages", "de en"), ("mode", "blended"), ("country", "AT"),
            ("start_date", "2030-03-01"), ("end_date", ""), ("capacity", "2"),
            ("cost", "49.90"), ("cost_currency", "EUR"), ("train_the_trainer", "1"),
            ("registration_url", "")]
    # without the CSRF token, with another one, without a session
    assert b.post("/staff/publish?kind=offer", [p for p in form if p[0] != "csrf"]).status == 403
    assert b.post("/staff/publish?kind=offer",
                  [("csrf", "A" * 43)] + [p for p in form if p[0] != "csrf"]).status == 403
    anon = Browser(web)
    r = anon.post("/staff/publish?kind=offer", form)
    assert r.status == 303 and r.headers["Location"] == "/signin"
    assert not hub.query(kind="offer")
    r = b.post("/staff/publish?kind=offer", form)
    assert r.status == 303 and r.headers["Location"] == "/staff", (r.status, r.text[:3000])
    recs = hub.query(kind="offer")
    assert len(recs) == 1 and recs[0]["key"] == "ttt-ai"
    assert recs[0]["record"] == {
        "title": "Train-the-trainer: AI <b>&</b>", "description": "Line one\nLine two",
        "topics": ["train-the-trainer", "ai"], "sectors": ["Smart City", "Public administration"],
        "languages": ["de", "en"], "mode": "blended", "country": "AT", "start_date": "2030-03-01",
        "capacity": 2, "cost": {"amount": 49.9, "currency": "EUR"}, "train_the_trainer": True}
    r = b.get("/staff")
    assert flash(r.text) == "Published offer ttt-ai."
    assert "Train-the-trainer: AI &lt;b&gt;&amp;&lt;/b&gt;" in r.text  # escaped
    assert "<b>&</b>" not in r.text

    # a refused value (a country not in the vocabulary, sent as a crafted form would) is shown
    # next to its field, and the form keeps what was typed
    bad = [p if p[0] != "country" else ("country", "XX") for p in form]
    bad = [p if p[0] != "key" else ("key", "second") for p in bad]
    r = b.post("/staff/publish?kind=offer", bad)
    assert r.status == 400
    msg = field_error(r.text, "country")
    assert msg and "country" in msg and "ISO 3166" in msg, r.text[:3000]
    assert 'aria-describedby="error-country"' in r.text
    assert '<option selected value="XX">XX</option>' in r.text
    assert 'value="Train-the-trainer: AI &lt;b&gt;&amp;&lt;/b&gt;"' in r.text
    assert re.search(r'name="sectors" value="Public administration" checked>', r.text)
    assert 'value="second"' in r.text
    assert len(hub.query(kind="offer")) == 1
    # an open-list value hubd refuses (a language tag), and one the form itself refuses
    r = b.post("/staff/publish?kind=offer",
               [p if p[0] != "languages" else ("languages", "de not_a_tag!") for p in bad
                if p[0] != "country"])
    assert r.status == 400 and field_error(r.text, "languages"), r.text[:2000]
    r = b.post("/staff/publish?kind=offer",
               [p if p[0] != "capacity" else ("capacity", "two") for p in bad])
    assert r.status == 400 and "whole number" in field_error(r.text, "capacity")

    # a browser sends every control, empty ones too, and each checked box: far more than 64
    # fields (the request's field table once held 64 and dropped the rest without a word)
    r = b.get("/staff/publish?kind=offer")
    names = re.findall(r'<(?:input|select|textarea)[^>]* name="([a-z_]+)"', r.text)
    techs = [html.unescape(t) for t in re.findall(r'name="technologies" value="([^"]+)"', r.text)][:30]
    sectors = [html.unescape(x) for x in re.findall(r'name="sectors" value="([^"]+)"', r.text)][:30]
    full = [("csrf", csrf), ("key", "many"), ("title", "Many values")]
    full += [(n, "") for n in dict.fromkeys(names) if n not in ("csrf", "key", "title", "technologies",
                                                                 "sectors", "train_the_trainer")]
    full += [("technologies", t) for t in techs] + [("sectors", x) for x in sectors]
    assert len(full) > 80
    r = b.post("/staff/publish?kind=offer", full)
    assert r.status == 303, r.text[:3000]
    many = [x for x in hub.query(kind="offer") if x["key"] == "many"][0]["record"]
    assert many == {"title": "Many values", "technologies": techs, "sectors": sectors}
    assert b.post("/staff/retract", {"csrf": csrf, "kind": "offer", "key": "many"}).status == 303

    # bytes that are not text, in a key or in the URL: refused at the field, or 404/400
    r = b.post("/staff/publish?kind=offer", [p if p[0] != "key" else ("key", b"\xff") for p in form])
    assert r.status == 400 and "UTF-8" in field_error(r.text, "key")
    assert b.get("/staff/edit/offer/%FF").status == 404
    assert b.get("/staff/reply?to=" + "a" * 64 + "/offer/%FF").status == 404
    assert b.post("/staff/retract", {"csrf": csrf, "kind": "offer", "key": b"\xfe"}).status == 400
    assert b.post("/staff/accept", {"csrf": csrf, "id": b"\xfe"}).status == 400
    assert len(hub.query(kind="offer")) == 1

    # more fields than hubweb keeps: refused whole, not published in part
    r = b.post("/staff/publish?kind=offer", form + [("sectors", "Energy")] * 600)
    assert r.status == 413
    assert len(hub.query(kind="offer")) == 1

    # edit: the form comes prefilled; the new version keeps the key
    r = b.get("/staff/edit/offer/ttt-ai")
    assert r.status == 200 and 'value="train-the-trainer, ai"' in r.text
    assert re.search(r'name="sectors" value="Smart City" checked>', r.text)
    assert '<option value="blended" selected>' in r.text
    assert 'value="49.90"' in r.text
    edit_form = [p if p[0] != "capacity" else ("capacity", "5") for p in form if p[0] != "key"]
    r = b.post("/staff/edit/offer/ttt-ai", edit_form)
    assert r.status == 303, r.text[:2000]
    recs = hub.query(kind="offer")
    assert len(recs) == 1 and recs[0]["record"]["capacity"] == 5
    assert len(hub.call("history", key="ttt-ai", kind="offer")["versions"]) == 2
    assert b.get("/staff/edit/offer/nothing-here").status == 404
    # the profile
    r = b.post("/staff/edit/profile/profile", [("csrf", csrf), ("name", "EDIH Wien"),
                                               ("country", "AT")])
    assert r.status == 303
    assert hub.query(kind="profile")[0]["record"] == {"name": "EDIH Wien", "country": "AT"}
    # retract: CSRF checked, then gone
    assert b.post("/staff/retract", {"kind": "offer", "key": "ttt-ai"}).status == 403
    assert len(hub.query(kind="offer")) == 1
    r = b.post("/staff/retract", {"csrf": csrf, "kind": "offer", "key": "ttt-ai"})
    assert r.status == 303
    assert not hub.query(kind="offer")
    assert flash(b.get("/staff").text) == "Retracted offer ttt-ai."


def test_enrolment_from_second_hub_accepted_in_inbox(hubs):
    a, b = pair(hubs)
    wa, wb = start_web(a), start_web(b)
    sa, sb = signed_in(wa, a), signed_in(wb, b)
    csrf_a, csrf_b = sa.csrf("/staff"), sb.csrf("/staff")
    for s, c, name, country in ((sa, csrf_a, "EDIH Wien", "AT"),
                                (sb, csrf_b, 'EDIH Porto "><img src=x>', "PT")):
        assert s.post("/staff/edit/profile/profile",
                      {"csrf": c, "name": name, "country": country}).status == 303
    r = sa.post("/staff/publish?kind=offer",
                {"csrf": csrf_a, "key": "ttt", "title": "AI for trainers", "capacity": "2",
                 "topics": "ai"})
    assert r.status == 303
    # b holds it (replication), and b's staff answer it through b's hubweb
    wait_until(lambda: [x for x in b.query(kind="offer", author=a.key) if x["key"] == "ttt"],
               timeout=30, msg="b never received a's offer")
    # match (before the offer is full): a request on b, a's offer ranked for it with reasons
    assert sb.post("/staff/publish?kind=request",
                   {"csrf": csrf_b, "key": "need-ai", "title": "Need AI trainers",
                    "topics": "ai"}).status == 303
    r = sb.get("/staff/match")
    m = re.search(r'<section class="match" data-request="need-ai">(.*?)</section>', r.text, re.S)
    assert m, r.text[:3000]
    assert '<li class="match-result">' in m.group(1) and "AI for trainers" in m.group(1)
    assert re.search(r'<span class="reasons"><span class="agreed">topics: ', m.group(1))
    to = f"{a.key}/offer/ttt"
    r = sb.get("/staff/reply?to=" + urllib.parse.quote(to, safe=""))
    assert r.status == 200 and '<form id="reply"' in r.text and "AI for trainers" in r.text
    assert sb.post("/staff/reply?to=" + to, {"type": "enrolment", "seats": "2"}).status == 403
    r = sb.post("/staff/reply?to=" + to, {"csrf": csrf_b, "type": "enrolment", "seats": "2",
                                          "contact": "academy@porto.example",
                                          "message": "Two trainers\r\nfrom Porto "
                                                     "<script>alert(1)</script>"})
    assert r.status == 303 and r.headers["Location"] == "/staff/replies", r.text[:2000]
    r = sb.get("/staff/replies")
    assert re.search(r'<ul id="replies-sent">\s*<li class="reply" data-id="[0-9a-f]{64}" '
                     r'data-state="pending">', r.text), r.text[:3000]
    # a's dashboard counts it, its inbox shows it new with accept and decline forms
    wait_until(lambda: a.call("inbox", peek=True)["count"] == 1, timeout=30,
               msg="a never received b's enrolment")
    r = sa.get("/staff")
    assert '<span id="count-new">1</span>' in r.text
    r = sa.get("/staff/inbox")
    m = re.search(r'<li class="reply" data-id="([0-9a-f]{64})" data-state="new">(.*?)</li>',
                  r.text, re.S)
    assert m, r.text[:3000]
    rid, item = m.group(1), m.group(2)
    assert "EDIH Porto" in item and "academy@porto.example" in item and "2 seats" in item
    assert '<form class="accept"' in item and '<form class="decline"' in item
    assert "Two trainers\nfrom Porto <script>alert(1)</script>" in html.unescape(item)
    # foreign text is inert: escaped in text and attributes
    assert 'EDIH Porto &quot;&gt;&lt;img src=x&gt;' in item
    assert "<script>alert" not in r.text and "<img" not in r.text
    # listed once: seen now
    assert 'data-state="seen"' in sa.get("/staff/inbox").text
    # accept needs the CSRF token
    assert sa.post("/staff/accept", {"id": rid}).status == 403
    r = sa.post("/staff/accept", {"csrf": csrf_a, "id": rid})
    assert r.status == 303 and r.headers["Location"] == "/staff/inbox"
    assert flash(sa.get("/staff/inbox").text) == "Accepted; seats left: 0."
    # the enrolling hub sees the answer
    wait_until(lambda: 'data-state="accepted"' in sb.get("/staff/replies").text, timeout=30,
               msg="b never saw the accept")


def test_rotating_the_token_ends_the_session(hubs):
    hub = hubs("web-rot")
    web = start_web(hub)
    b = signed_in(web, hub)
    csrf = b.csrf("/staff")
    assert b.get("/staff").status == 200
    hub.ctl("web-token", "--rotate", json=False)
    r = b.get("/staff")
    assert r.status == 303 and r.headers["Location"] == "/signin"
    assert "hubweb_session" not in b.cookies  # cleared by hubweb
    # the old session id and CSRF token are worth nothing now
    r = b.post("/staff/publish?kind=offer", {"csrf": csrf, "title": "x"})
    assert r.status == 303 and not hub.query(kind="offer")
    # the new token signs in again
    signed_in(web, hub)
    assert "web token changed" in web.log_text()
