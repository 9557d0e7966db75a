"""Hostile record content on every page of hubweb (issue 13, "What it must show").

Record content comes from other hubs. Here hub B publishes records whose free-text fields hold
HTML, script, attribute-breaking, template and URL payloads, and a hostile third hub ("evil",
signed here with the reference implementation) adds a feed whose EVERY string field, list item,
record key, currency and URL holds one (receivers check only lengths and characters, PROTOCOL.md
§7.1, so vocabulary fields and URLs carry them too: `javascript:` links included), imported into
B as signed entries. Hub A replicates all of it, and A's hubweb shows it on the search page
(free text, facets, a facet value followed), every record page, the hubs' pages, the network
page and its SVG and JSON, and the staff pages (an enrolment with a hostile message in the inbox,
the reply form for a hostile record, match, replies sent).

On every page the test checks the DOM: each payload is there as text (record pages: every
field), no element or attribute of a payload was made (every payload element carries
`data-pwn`), no event-handler attribute, no `javascript:`/`data:`/`vbscript:` URL in any link,
source or form action, no script but the page's own; and that no dialog opened and no script
ran (`window.__pwned` undefined). The browser ignores the page's Content-Security-Policy here
(DevTools Page.setBypassCSP), so that these checks catch an escaping fault that the CSP would
otherwise hide; the CSP header itself is checked on every response.
"""

import json
import os
import sys
import time
import urllib.parse

import pytest

from hubtest import wait_until
from webtest import CSP, REPLICATION_TIMEOUT, _stale, http_get, json_ld, web_token

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import hubnet_ref as ref  # noqa: E402

RUN = "window.__pwned=1;alert(1)"
#: Each payload element carries data-pwn: any element or attribute a payload made is found by
#: [data-pwn]. At most 64 bytes each where a topic may hold them (the topic cap).
PAYLOADS = [
    '<script data-pwn>window.__pwned=1;alert(1)</script>',
    '"><img data-pwn src=x onerror="window.__pwned=1;alert(1)">',
    "'><svg data-pwn onload='window.__pwned=1;alert(1)'>",
    '</script><script data-pwn>window.__pwned=1</script>',
    'javascript:window.__pwned=1;alert(1)//',
    '{{7*7}} ${7*7} <%= 7*7 %> #{7*7}',
    '\u202egnp.exe\u202c <b data-pwn>bold</b>',
    '<a data-pwn href="javascript:window.__pwned=1">x</a>',
    '</textarea></title><iframe data-pwn srcdoc="x">',
    '&lt;i&gt; &amp;amp; &#60;i data-pwn&#62; &quot;',
    '" onmouseover="window.__pwned=1" data-pwn="',
    "' onfocus='window.__pwned=1' autofocus data-pwn='",
    '<style data-pwn>*{display:none}</style>',
    '<base data-pwn href="http://127.0.0.9/">',
    '<meta data-pwn http-equiv=refresh content="0;url=javascript:alert(1)">',
    '<form data-pwn action="javascript:alert(1)"><button>go',
    '<!-- <b data-pwn>',
    ']]><b data-pwn>CDATA</b><![CDATA[',
]
URLS = [
    "javascript:window.__pwned=1;alert(1)//",
    " JaVaScRiPt:window.__pwned=1",
    "data:text/html,<script data-pwn>window.__pwned=1</script>",
    "vbscript:msgbox(1)",
    'https://x.example/"><img/data-pwn/src=x/onerror=alert(1)>',
]
MULTILINE = ("line one\n<script data-pwn>window.__pwned=1</script>\n\t\"><img data-pwn src=x "
             "onerror=alert(1)>\n{{7*7}} \u202eevil\u202c javascript:alert(1)")

#: Dates: pages show and link parts of them (a month: the first 7 characters), so these
#: break out of an attribute in their first characters and make an element (<i>) that hubweb
#: never makes.
DATE_PAYLOADS = {"start_date": '"><i>-01-01', "end_date": "'><i>-01-01",
                 "needed_by": '2027"><i>x</i>'}

_n = 0


def pay(cap=128):
    """The next payload that fits in cap bytes, with a number that makes each value unique."""
    global _n
    while True:
        p = PAYLOADS[_n % len(PAYLOADS)]
        _n += 1
        v = f"{_n}{p}"
        if len(v.encode()) <= cap:
            return v


def url(i):
    return URLS[i % len(URLS)]


def hostile_record(kind):
    """A record of the kind (reference implementation's JSON form) with a payload in every
    string field, three in every list of strings, and hostile URLs."""
    from google.protobuf.descriptor import FieldDescriptor as F
    msg = getattr(ref.pb_entry(), ref.KIND_MESSAGES[ref.KIND_NUMBERS[kind]])
    rec = {}
    for fd in msg.DESCRIPTOR.fields:
        cap = ref.STRING_CAPS.get(fd.name, ref.DEFAULT_STRING_CAP)
        if fd.type == F.TYPE_STRING:
            if fd.label == F.LABEL_REPEATED:
                rec[fd.name] = [pay(cap) for _ in range(3)]
            elif fd.name in ("website", "registration_url", "material_url"):
                rec[fd.name] = url(fd.number)
            elif fd.name in ref.MULTILINE:
                rec[fd.name] = MULTILINE
            elif fd.name in DATE_PAYLOADS:
                rec[fd.name] = DATE_PAYLOADS[fd.name]
            else:
                rec[fd.name] = pay(cap)
    return rec


class Hostile:
    pass


def texts_of(rec):
    out = []
    for v in rec.values():
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out += [x for x in v if isinstance(x, str)]
    return out


@pytest.fixture(scope="module")
def hostile(pair, driver):
    a, b = pair.a, pair.b
    s = Hostile()
    s.pair = pair
    a.publish("profile", {"name": "EDIH Wien", "country": "AT", "languages": ["en"]})
    a.publish("offer", {"title": "AI ethics for advisers", "country": "AT", "languages": ["en"],
                        "topics": ["ai-ethics"], "capacity": 5, "mode": "online"}, key="ai-ethics")
    a.publish("request", {"title": "Wanted: robotics trainers", "country": "AT",
                          "languages": ["en"], "topics": ["robotics"]}, key="want-robotics")

    # B: a real hub; its records pass publish's rules, so the payloads are in free text.
    s.b_profile = {"name": pay(200), "description": MULTILINE, "region": pay(200),
                   "contact": pay(256), "edih_id": pay(), "country": "PT", "languages": ["pt"],
                   "website": 'https://x.example/"><img/data-pwn/src=x/onerror=alert(1)>'}
    b.publish("profile", s.b_profile)
    s.b_offer = {"title": pay(200), "description": MULTILINE, "location": pay(200),
                 "contact": pay(256), "facility": pay(256), "material_licence": pay(512),
                 "registration_url": "https://x.example/?a=\"><script/data-pwn>alert(1)</script>",
                 "country": "PT", "languages": ["en"], "topics": ["robotics"], "capacity": 4}
    b.publish("offer", s.b_offer, key="hostile-b")

    # evil: every string field, key and URL hostile; imported into B as signed entries.
    kp = ref.Keypair.generate()
    s.evil = kp.hex
    feed = ref.Feed(kp, int(time.time() * 1000) - 1000)
    s.evil_profile = hostile_record("profile")
    s.evil_offer = hostile_record("offer")
    s.evil_offer.update(capacity=3, based_on={"author": b.key, "key": pay(), "kind": "offer"})
    s.evil_request = hostile_record("request")
    s.offer_key = "evil/" + PAYLOADS[1] + "?x=1#y"
    s.request_key = "../../staff/" + PAYLOADS[0]
    a_offer = a.call("history", key="ai-ethics", kind="offer")["versions"][-1]["id"]
    s.evil_reply = {"target": a_offer, "target_author": a.key, "target_kind": "offer",
                    "target_key": "ai-ethics", "type": "enrolment", "seats": 1,
                    "message": MULTILINE, "contact": pay(256), "reason": pay()}
    s.evil_endorse = {"hub": b.key, "statement": MULTILINE, "topics": [pay(64), pay(64)]}
    entries = []
    for kind, key, rec in (("profile", "profile", s.evil_profile),
                           ("offer", s.offer_key, s.evil_offer),
                           ("request", s.request_key, s.evil_request),
                           ("response", pay(), s.evil_reply),
                           ("endorsement", pay(), s.evil_endorse)):
        k = ref.KIND_NUMBERS[kind]
        rec = dict(rec)
        if "based_on" in rec:
            bo = rec.pop("based_on")
        else:
            bo = None
        payload = ref.payload_from_json(k, rec)
        if bo is not None:  # a RecordRef: payload_from_json knows Cost only
            pb = ref.decode_payload(k, payload)
            pb.based_on.author = bytes.fromhex(bo["author"])
            pb.based_on.kind = ref.KIND_NUMBERS["offer"]
            pb.based_on.key = bo["key"]
            payload = ref.canonical(pb)
        entries.append(feed.next(k, key, payload))
    s.ids = [e.id.hex() for e in entries]
    import base64
    r = b.call("import", entries=[base64.b64encode(e.wire).decode() for e in entries])
    assert r["results"] == ["OK"] * len(entries), r
    wait_until(lambda: all(a.get(i).get("ok") for i in s.ids)
               and a.query(kind="offer", author=b.key),
               timeout=REPLICATION_TIMEOUT, msg="the hostile records never reached A")
    # Ignore the page's CSP for this module: the DOM checks then see an escaping fault that
    # the CSP would only hide.
    driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": True})
    yield s
    driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": False})


INERT_JS = r"""
const out = {pwn: [], handlers: [], urls: [], scripts: [], elements: []};
const own = el => el.outerHTML.slice(0, 160);
const walk = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.hasAttribute('data-pwn')) out.pwn.push(own(el));
    for (const a of el.attributes) {
      const n = a.name.toLowerCase();
      if (n.startsWith('on')) out.handlers.push(own(el));
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'srcdoc',
           'background', 'ping', 'cite', 'content'].includes(n)) {
        const v = a.value.replace(/[\u0000-\u0020\u007f-\u009f]/g, '').toLowerCase();
        if (/^(javascript|vbscript|data:text|data:application)/.test(v) ||
            v.includes('url=javascript') || n === 'srcdoc')
          out.urls.push(own(el));
      }
    }
    const t = el.tagName.toLowerCase();
    if (t === 'script' && el.type !== 'application/ld+json' &&
        !/^\/assets\/[a-z0-9._-]+\.js(\?v=[0-9a-f]+)?$/.test(el.getAttribute('src') || ''))
      out.scripts.push(own(el));
    // Elements hubweb never makes (a payload's, or the start of one cut short).
    if (['b', 'i', 'u', 's', 'marquee', 'video', 'audio', 'math', 'font', 'center'].includes(t) ||
        (t === 'img' && el.id !== 'graph') ||
        (t === 'svg' && el !== document.documentElement && el.id !== 'graph') ||
        ['iframe', 'object', 'embed', 'base', 'frame', 'frameset', 'applet'].includes(t) ||
        (t === 'meta' && el.hasAttribute('http-equiv') &&
         el.getAttribute('http-equiv').toLowerCase() === 'refresh') ||
        (t === 'link' && !/^\/assets\//.test(el.getAttribute('href') || '')) ||
        (t === 'style'))
      out.elements.push(own(el));
  }
};
walk(document);
for (const a of document.querySelectorAll('a[href], area[href], form[action]')) {
  const u = a.href || a.action;
  if (u && !/^(https?:|mailto:|tel:)/i.test(u)) out.urls.push(own(a) + ' -> ' + u);
}
return out;
"""


def strip_bidi(s):
    return "".join(c for c in s if c not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def norm(s):
    return " ".join(strip_bidi(s).split())


def inert(b, name, texts=()):
    """The page shows the payloads as text only (see the module's docstring)."""
    r = b.d.execute_script(INERT_JS)
    bad = {k: v for k, v in r.items() if v}
    assert not bad, f"{name} ({b.d.current_url}): payload made markup: " + json.dumps(bad, indent=1)
    json_ld(b)  # every JSON-LD block still parses: </script> did not end it
    if texts:
        page = norm(b.d.execute_script("return document.body.textContent"))
        missing = [t for t in texts if norm(t) not in page]
        assert not missing, f"{name}: not shown as text: {missing}"


def visit(b, web, path, name, texts=()):
    b.visit(web.url(path), name)
    inert(b, name, texts)


def rec_path(author, kind, key):
    return f"/record/{author}/{kind}/{urllib.parse.quote(key, safe='')}"


def test_hostile_public_pages(hostile, browser):
    s, b, wa = hostile, browser, hostile.pair.wa
    a, hb = s.pair.a, s.pair.b
    visit(b, wa, "/", "catalogue")
    visit(b, wa, "/?kind=offer", "offers", [s.b_offer["title"], s.evil_offer["title"]])
    visit(b, wa, "/?kind=request", "requests", [s.evil_request["title"]])
    visit(b, wa, "/?kind=profile", "profiles")
    # Full-text search for words of the payloads, and the payload itself as the query (shown
    # back in the search box and the page).
    visit(b, wa, "/?" + urllib.parse.urlencode({"q": "pwned"}), "search-pwned")
    visit(b, wa, "/?" + urllib.parse.urlencode({"q": PAYLOADS[1]}), "search-payload")
    box = b.find("#search [name='q']").get_attribute("value")
    assert box == PAYLOADS[1], box
    # Facets of closed vocabularies offer only values of the vocabulary: hubd refuses a query
    # by any other value (E_VOCAB), so the evil record's country, modes, technologies ... are
    # not links to a refusal. The vocabularies are hubd's own (the vocab call).
    vocab = {lst["name"]: {v.lower() for v in lst["values"]} for lst in a.call("vocab")["lists"]}
    closed = {"country": "country", "technology": "technology", "sector": "sector",
              "service": "service", "mode": "mode", "type": "opportunity_type"}
    b.visit(wa.url("/"), "facets")
    shown = {}
    for sec in b.find_all("#facets section.facet"):
        shown[sec.get_attribute("data-facet")] = [
            el.get_attribute("data-value") for el in sec.find_elements("css selector", "a.facet-value")]
    for facet, lst in closed.items():
        outside = [v for v in shown.get(facet, []) if v.lower() not in vocab[lst]]
        assert not outside, f"facet {facet} offers values outside the vocabulary: {outside}"
    assert s.evil_offer["country"] not in shown["country"], shown["country"]
    assert "PT" in shown["country"] and "AT" in shown["country"], shown["country"]
    # A closed facet's value followed: results, not a refusal.
    old = b.find("html")
    b.find("#facets section[data-facet='country'] a.facet-value[data-value='PT']").click()
    wait_until(lambda: _stale(old), timeout=10, msg="the facet link loaded no page")
    b.check("facet-country")
    inert(b, "facet-country")
    assert b.find_all("#results a.result-link"), b.text("#main")
    # An open facet (topics: any text) keeps the evil record's values; followed, the link
    # keeps the value intact and finds the evil offer.
    evil_topics = [t for t in shown.get("topic", []) if t in s.evil_offer["topics"]]
    assert evil_topics, ("the hostile topics are not among the facet values", shown.get("topic"))
    b.visit(wa.url("/"), "facets-again")
    facet = None
    for el in b.find_all("#facets section[data-facet='topic'] a.facet-value"):
        if el.get_attribute("data-value") == evil_topics[0]:
            facet = el
    old = b.find("html")
    facet.click()
    wait_until(lambda: _stale(old),
               timeout=10, msg="the facet link loaded no page")
    b.check("facet-hostile-topic")
    inert(b, "facet-hostile-topic")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(b.d.current_url).query)
    assert q.get("topic") == [evil_topics[0]], (b.d.current_url, q)
    titles = [e.text for e in b.find_all("#results a.result-link")]
    assert any(norm(t) == norm(s.evil_offer["title"]) for t in titles), titles

    # Record pages, reached by following the result links (a hostile key in the URL).
    for kind, rec in (("offer", s.evil_offer), ("request", s.evil_request)):
        b.visit(wa.url(f"/?kind={kind}&" + urllib.parse.urlencode({"author": s.evil})),
                f"evil-{kind}s")
        links = [e for e in b.find_all("#results a.result-link")
                 if norm(e.text) == norm(rec["title"])]
        if not links:  # no author filter in the form: search all of the kind
            b.visit(wa.url(f"/?kind={kind}"), f"evil-{kind}s-all")
            links = [e for e in b.find_all("#results a.result-link")
                     if norm(e.text) == norm(rec["title"])]
        assert links, f"no result link for the evil {kind}"
        links[0].click()
        wait_until(lambda: b.exists("#record-title"), timeout=10,
                   msg=f"the evil {kind}'s link led to no record page")
        b.check(f"record-evil-{kind}")
        assert norm(b.text("#record-title")) == norm(rec["title"])
        inert(b, f"record-evil-{kind}", texts_of(rec))
    visit(b, wa, rec_path(s.evil, "offer", s.offer_key), "record-evil-offer-direct",
          texts_of(s.evil_offer))
    visit(b, wa, rec_path(s.evil, "profile", "profile"), "record-evil-profile",
          texts_of(s.evil_profile))
    visit(b, wa, rec_path(hb.key, "offer", "hostile-b"), "record-b-offer",
          texts_of(s.b_offer))
    visit(b, wa, rec_path(a.key, "offer", "ai-ethics"), "record-a-offer")
    visit(b, wa, f"/hub/{s.evil}", "hub-evil", [s.evil_profile["name"]])
    visit(b, wa, f"/hub/{hb.key}", "hub-b", [s.b_profile["name"], s.b_offer["title"]])
    visit(b, wa, "/network", "network", [s.evil_profile["name"], s.b_profile["name"]])

    # The SVG drawing as a document of its own, and the JSON.
    b.visit(wa.url("/network.svg"), "network-svg")
    inert(b, "network-svg")
    status, headers, body = http_get(wa.url("/network.json"))
    assert status == 200 and headers.get("content-type", "").startswith("application/json")
    assert headers.get("x-content-type-options") == "nosniff"
    assert s.evil_profile["name"] in json.dumps(json.loads(body), ensure_ascii=False)
    for path in ("/", rec_path(s.evil, "offer", s.offer_key), "/network", "/network.svg",
                 "/network.json", "/signin", "/assets/app.css", "/no-such-page"):
        status, headers, _ = http_get(wa.url(path))
        assert headers.get("content-security-policy") == CSP, (path, headers)


def test_hostile_staff_pages(hostile, browser):
    s, b, wa, a = hostile, browser, hostile.pair.wa, hostile.pair.a
    b.visit(wa.url("/signin"), "signin")
    b.fill("#signin", {"token": web_token(a)})
    b.submit("#signin", "signed-in")
    assert not b.exists("#signin")
    visit(b, wa, "/staff", "staff")
    visit(b, wa, "/staff/inbox", "inbox")
    reply = b.find_all(f"#inbox li.reply[data-id='{s.ids[3]}']")
    assert reply, "the hostile enrolment is not in the inbox"
    inert(b, "inbox", [s.evil_reply["message"]])
    # A's request for robotics trainers matches B's hostile offer.
    visit(b, wa, "/staff/match", "match", [s.b_offer["title"]])
    # Answer the evil offer through the form: "replies sent" then shows its title.
    visit(b, wa, "/staff/reply?to=" + urllib.parse.quote(f"{s.evil}/offer/{s.offer_key}", safe="/"),
          "reply-to-evil", [s.evil_offer["title"], s.evil_profile["name"]])
    assert norm(b.text("#reply-target + .result-hub")) == norm(s.evil_profile["name"])
    form = "form#reply" if b.exists("form#reply") else "main form[method='post']"
    b.fill(form, {"message": "We would like to know more."})
    b.submit(form, "reply-to-evil-sent")
    inert(b, "reply-to-evil-sent")
    visit(b, wa, "/staff/replies", "replies-sent", [s.evil_offer["title"]])
    visit(b, wa, "/staff/edit/offer/ai-ethics", "edit-own-offer")
    visit(b, wa, "/staff/publish?kind=offer", "publish-form")
