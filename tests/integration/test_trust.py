"""Trust that federates by default, and replies that reach the hub they address (issue 10,
items 1 and 2; PROTOCOL.md 9.10 and 9.15). Real hubd processes on 127.0.0.1.

- Three hubs in a line A-B-C with hubd's DEFAULT policy (trust; no key listed by hand): C
  holds A's offers through B, because B endorses its configured peers; `hubctl trust` on C
  says why A is trusted (endorsed by B at hop 1).
- A fourth hub D, added by C with `peer add --no-endorse`, is outside A's trust: its offers
  stay off A, but its enrolment in A's offer reaches A (kept as an addressed reply, relayed by
  B, listed in A's inbox). After `hubctl block D` on A, D's next reply is refused and counted.
- `peer add` publishes a signed endorsement of the new peer; `--no-endorse` does not.
- A responder over its quota ([policy] reply_quota) is refused and counted.

Keys exist only once a hub has run, so the hubs are started once without peers (first_run),
then configured with each other's keys and started again.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import wait_until  # noqa: E402

WAIT = 30


def first_run(*hs):
    for h in hs:
        h.start(wait=False)
    for h in hs:
        h.wait_ready()
        assert re.fullmatch(r"[0-9a-f]{64}", h.key)
    for h in hs:
        h.stop()


def start_all(*hs):
    for h in hs:
        h.start(wait=False)
    for h in hs:
        h.wait_ready()


def peer_line(h):
    return f"{h.endpoint} {h.key}"


def holds(h, author, kind="offer"):
    return [r for r in h.query(kind=kind, author=author.key)]


def inbox_ids(h):
    return {r["id"] for r in h.call("inbox")["replies"]}


def addressed(h):
    return h.status()["addressed_replies"]


def enrol(responder, target_hub, key, seats=1):
    return responder.call("publish", kind="response", unheld_target=True,
                          record={"target_author": target_hub.key, "target_kind": "offer",
                                  "target_key": key, "type": "enrolment", "seats": seats,
                                  "message": f"{responder.name} enrols"})


OFFER = {"title": "Train-the-trainer: AI for public services", "country": "AT",
         "languages": ["en"], "train_the_trainer": True, "capacity": 2}


def test_default_web_of_trust_and_addressed_replies(hubs):
    # policy=None: no policy line at all, hubd's default (trust), as a new user's hub runs.
    a, b, c, d = (hubs.new(n, policy=None) for n in ("a", "b", "c", "d"))
    first_run(a, b, c, d)
    a.peers = [peer_line(b)]
    b.peers = [peer_line(a), peer_line(c)]
    c.peers = [peer_line(b)]
    d.peers = [peer_line(c)]  # C does not list D: it adds D at run time, without endorsing it
    start_all(a, b, c, d)
    assert a.status()["sync"]["policy"] == "trust"

    offer = a.publish("offer", OFFER, key="ttt-ai")
    # C holds A's offer through B: B endorsed its configured peers A and C on start.
    wait_until(lambda: holds(c, a), WAIT, msg="C never held A's offer (web of trust)")
    trust_c = c.call("trust")
    via = {h["key"]: h for h in trust_c["hubs"]}
    assert via[b.key]["via"] == "peer"
    assert via[a.key]["via"] == "endorsed" and via[a.key]["by"] == b.key
    assert via[a.key]["hop"] == 1
    assert trust_c["hops"] == 2

    # C peers with D without vouching for it.
    r = c.ctl("peer", "add", d.endpoint, d.key, "--no-endorse")
    assert r["endorsed"] == "no"
    assert not [e for e in c.query(kind="endorsement", author=c.key)
                if e["record"]["hub"] == d.key]
    d_offer = d.publish("offer", {"title": "D's own course", "country": "FR"}, key="d-course")
    wait_until(lambda: holds(c, d), WAIT, msg="C never held D's offer")

    # D enrols in A's offer: the reply reaches A through C and B (neither A nor B trusts D).
    reply = enrol(d, a, "ttt-ai")
    wait_until(lambda: reply["id"] in inbox_ids(a), WAIT, msg="D's enrolment never reached A")
    assert addressed(b)["relayed"] >= 1
    assert addressed(a)["kept"] >= 1
    # ... while D's own records stay off A (and off B): D is not in their web of trust.
    assert not holds(a, d) and not holds(b, d)
    assert a.get(d_offer["id"])["ok"] is False
    assert d.key not in {h["key"] for h in a.call("trust")["hubs"]}
    view = [x for x in a.call("inbox")["replies"] if x["id"] == reply["id"]][0]
    assert view["author"] == d.key

    # A blocks D: D's next reply is refused and counted, and not in A's inbox.
    out = a.ctl("block", d.key)
    assert out["blocked"] is True
    before = addressed(a)["refused"]["blocked"]
    second = enrol(d, a, "ttt-ai", seats=2)
    wait_until(lambda: addressed(a)["refused"]["blocked"] > before, WAIT,
               msg="A never refused D's reply after block")
    assert second["id"] not in inbox_ids(a)
    assert addressed(a)["blocked"] == 1
    # counted on the session whose live push brought it (A has one each way with B)
    assert sum(p["replies_refused"] for p in a.call("peers")["peers"] if p["key"] == b.key) >= 1
    # The block is kept across a restart.
    a.restart()
    assert addressed(a)["blocked"] == 1
    assert a.ctl("unblock", d.key)["blocked"] is False
    assert offer["id"]


def test_peer_add_endorses_the_new_peer(hubs):
    x, y, z = (hubs.new(n, policy=None) for n in ("x", "y", "z"))
    first_run(x, y, z)
    start_all(x, y, z)
    r = x.ctl("peer", "add", y.endpoint, y.key)
    assert r["endorsed"] == "yes"
    ends = x.query(kind="endorsement", author=x.key)
    assert [e["record"]["hub"] for e in ends] == [y.key]
    # Adding it again after a remove does not endorse twice.
    x.ctl("peer", "remove", y.key)
    assert x.ctl("peer", "add", y.endpoint, y.key)["endorsed"] == "already"
    assert x.ctl("peer", "add", z.endpoint, z.key, "--no-endorse")["endorsed"] == "no"
    assert [e["record"]["hub"] for e in x.query(kind="endorsement", author=x.key)] == [y.key]
    text = x.ctl("trust", json=False)
    assert "peer" in text and y.key[:8] in text


def test_reply_quota_refuses_and_counts(hubs):
    # A (target) peers with C; C adds D without endorsing it. A keeps at most one addressed
    # reply per responder per hour.
    a = hubs.new("qa", policy=None, extra={"policy": {"reply_quota": 1}})
    c = hubs.new("qc", policy=None)
    d = hubs.new("qd", policy=None)
    first_run(a, c, d)
    a.peers = [peer_line(c)]
    c.peers = [peer_line(a)]
    d.peers = [peer_line(c)]
    start_all(a, c, d)
    a.publish("offer", OFFER, key="ttt-q")
    c.ctl("peer", "add", d.endpoint, d.key, "--no-endorse")
    wait_until(lambda: any(p["key"] == d.key and p["state"] == "up"
                           for p in c.call("peers")["peers"]), WAIT, msg="C never reached D")
    first = enrol(d, a, "ttt-q")
    wait_until(lambda: first["id"] in inbox_ids(a), WAIT, msg="the first reply never reached A")
    second = enrol(d, a, "ttt-q", seats=2)
    wait_until(lambda: addressed(a)["refused"]["quota"] >= 1, WAIT,
               msg="the reply over quota was not refused")
    assert second["id"] not in inbox_ids(a)
    assert a.wait_log("refused 1 addressed reply", timeout=WAIT + 60)


def test_reply_made_while_the_relay_is_down_arrives_by_anti_entropy(hubs):
    # A-B-C in a line (defaults), D added by C without endorsement. B is down while D replies
    # to A, so no live push can carry the reply past B: B asks C for the replies addressing its
    # peer A once it is back (WantReplies), and A asks B for its own.
    a, b, c, d = (hubs.new(n, policy=None) for n in ("ra", "rb", "rc", "rd"))
    first_run(a, b, c, d)
    a.peers = [peer_line(b)]
    b.peers = [peer_line(a), peer_line(c)]
    c.peers = [peer_line(b)]
    d.peers = [peer_line(c)]
    start_all(a, b, c, d)
    a.publish("offer", OFFER, key="ttt-ae")
    wait_until(lambda: holds(c, a), WAIT, msg="C never held A's offer")
    c.ctl("peer", "add", d.endpoint, d.key, "--no-endorse")
    wait_until(lambda: any(p["key"] == d.key and p["state"] == "up"
                           for p in c.call("peers")["peers"]), WAIT, msg="C never reached D")
    b.stop()
    reply = enrol(d, a, "ttt-ae")
    wait_until(lambda: [r for r in c.query(kind="response", author=d.key)
                        if r["id"] == reply["id"]], WAIT, msg="C never held D's reply")
    b.start()
    wait_until(lambda: reply["id"] in inbox_ids(a), WAIT,
               msg="D's reply never reached A after B came back")
    assert addressed(b)["kept"] >= 1


def test_anchor_added_by_sighup_brings_the_hubs_it_endorses(hubs):
    # P holds the feeds of N (a network coordinator) and Y, and endorses nobody (policy
    # endorsed). X peers with P only: it trusts P, not Y. N endorses Y. Once X names N as an
    # anchor (SIGHUP), X takes N's feed from P, follows its endorsement and holds Y's offer,
    # though X never talks to N or Y.
    import signal
    n, y, p, x = hubs.new("an", policy=None), hubs.new("ay", policy=None), \
        hubs.new("ap", policy="endorsed"), hubs.new("ax", policy=None)
    first_run(n, y, p, x)
    n.peers = [peer_line(p)]
    y.peers = [peer_line(p)]
    p.peers = [peer_line(n), peer_line(y), peer_line(x)]
    x.peers = [peer_line(p)]
    start_all(n, y, p, x)
    offer = y.publish("offer", {"title": "Y's testbed", "country": "IT"}, key="y-testbed")
    n.publish("endorsement", {"hub": y.key, "statement": "designated EDIH"}, key=y.key)
    wait_until(lambda: p.get(offer["id"]).get("ok"), WAIT, msg="P never held Y's offer")
    assert y.key not in {h["key"] for h in x.call("trust")["hubs"]}
    assert not x.get(offer["id"]).get("ok")

    x.extra = {"policy": {"anchor": n.key}}
    x.write_config()
    x.signal(signal.SIGHUP)
    x.wait_log(f"reload: policy.anchor added: {n.key}")
    wait_until(lambda: x.get(offer["id"]).get("ok"), WAIT,
               msg="X never held Y's offer after naming N an anchor")
    via = {h["key"]: h for h in x.call("trust")["hubs"]}
    assert via[n.key]["via"] == "anchor"
    assert via[y.key]["via"] == "endorsed" and via[y.key]["by"] == n.key
    assert via[y.key]["hop"] == 1
