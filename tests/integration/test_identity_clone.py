"""A copied key, a restored backup and a fork below the head (PROTOCOL.md §6.2, §9.7, §9.8;
README "Backups and the hub's identity").

- A hub restarted on an older copy of its data dir (a restored backup) is behind its own feed:
  it must take the feed back from a peer before it publishes (E_NOT_READY until then), log what it
  recovered, and then publish on top of it, without a fork anywhere.
- Two hubds sharing one key (a cloned data dir), each in its own half of a partitioned network,
  both publish; once the halves are joined every hub records the fork (the hubs in the middle
  see it as E_PREV or as another head at the same seq and fetch back to where the histories
  part), and the original reports that another hub publishes with its key and stops publishing.
- The copy appends to the feed while the original is idle (no fork): the original reports it.

Real hubd processes; every wait polls with a deadline.
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import first_run, link, start_all, wait_until  # noqa: E402

# Files of a data dir that hold the hub's state (the rest is the harness's: socket, log, conf).
STATE_FILES = ("identity.key", "data.mdb", "lock.mdb")


def copy_state(src_dir, dst_dir):
    os.makedirs(dst_dir, exist_ok=True)
    for f in STATE_FILES:
        p = os.path.join(src_dir, f)
        if os.path.exists(p):
            shutil.copy2(p, os.path.join(dst_dir, f))


def offer(title):
    return {"title": title, "country": "AT", "topics": ["digital-skills"], "languages": ["en"]}


def try_publish(h, title):
    return h.request({"op": "publish", "kind": "offer", "record": offer(title)})


def publish_when_ready(h, title, timeout=30):
    """Publish, retrying while the hub says E_NOT_READY (start-up recovery)."""
    out = {}

    def attempt():
        r = try_publish(h, title)
        if r.get("ok"):
            out["r"] = r
            return True
        assert r["error"]["code"] == "E_NOT_READY", r
        return False

    wait_until(attempt, timeout=timeout, msg=f"{h.name}: publish never accepted")
    return out["r"]


def own_head(h):
    for f in h.call("heads")["feeds"]:
        if f["author"] == h.key:
            return f
    return None


def feed_seq(h, author):
    for f in h.call("heads")["feeds"]:
        if f["author"] == author:
            return f["seq"]
    return 0


def forks_of(h, author):
    return [f for f in h.status()["forks"] if f["author"] == author]


def test_restored_backup_takes_its_feed_back_before_publishing(hubs, tmp_path):
    a = hubs.new("rb-a", own_recovery_wait=120)
    b = hubs.new("rb-b", own_recovery_wait=120)
    first_run(a, b)
    link(a, b)
    start_all(a, b)
    r1 = publish_when_ready(a, "before the backup")
    assert r1["seq"] == 1
    wait_until(lambda: feed_seq(b, a.key) == 1, timeout=15, msg="b never got seq 1")

    # The backup: a's data dir as it is now (hubd stopped, as a backup tool would copy it).
    a.stop()
    backup = str(tmp_path / "backup")
    copy_state(a.data_dir, backup)
    a.start()
    for i in (2, 3):
        assert publish_when_ready(a, f"after the backup {i}")["seq"] == i
    wait_until(lambda: feed_seq(b, a.key) == 3, timeout=15, msg="b never got seq 3")

    # The disk is lost; the backup is restored while the only peer is down.
    a.stop()
    b.stop()
    for f in STATE_FILES:
        p = os.path.join(a.data_dir, f)
        if os.path.exists(p):
            os.remove(p)
    copy_state(backup, a.data_dir)
    a.start()
    assert own_head(a)["seq"] == 1
    # Publishing now would sign a second seq 2 (the peer holds seq 2 and 3): a fork.
    r = try_publish(a, "too early")
    assert not r["ok"] and r["error"]["code"] == "E_NOT_READY", r
    st = a.status()
    assert st.get("own_feed", {}).get("state") == "recovering", st.get("own_feed")
    assert "waiting for a peer" in a.ctl("status", json=False)

    b.start()
    wait_until(lambda: own_head(a)["seq"] == 3, timeout=20, msg="a never took its feed back")
    a.wait_log("recovered own feed seq 2..3 from peer " + b.key[:8], timeout=20)
    r4 = publish_when_ready(a, "after the restore")
    assert r4["seq"] == 4, r4
    wait_until(lambda: feed_seq(b, a.key) == 4, timeout=15, msg="b never got seq 4")
    rec = a.status()["own_feed"]
    assert rec["state"] == "ready" and rec["recovered"]["from"] == 2 and rec["recovered"]["to"] == 3
    assert rec["recovered"]["peer"] == b.key
    assert "recovered seq 2..3" in a.ctl("status", json=False)
    for h in (a, b):
        assert h.status()["forks"] == [], h.name
    assert "another hub is publishing" not in a.log_text()
    assert a.call("heads") == b.call("heads")


@pytest.mark.parametrize("clone_entries", [3, 2, 1], ids=["clone-longer", "same-length",
                                                         "clone-shorter"])
def test_two_hubs_with_one_key_are_reported_by_every_hub(hubs, clone_entries):
    """The clone publishes more (the hub holding the original's branch gets E_PREV when it asks
    for the rest), as much (the heads differ at the same seq) or less (the other side gets
    E_PREV) than the original."""
    # O (original) - H1 | H2 - C (clone of O): the two halves are joined later by H1 dialling H2.
    o = hubs.new("cl-orig", policy="open")
    h1 = hubs.new("cl-h1", policy="open")
    h2 = hubs.new("cl-h2", policy="open")
    first_run(o, h1, h2)
    # A shared start: seq 1 exists before the copy.
    o.start()
    shared = o.publish("offer", offer("shared seq 1"))
    assert shared["seq"] == 1
    o.stop()
    c = hubs.new("cl-clone", policy="open")
    copy_state(o.data_dir, c.data_dir)
    c._key = o.key  # the same identity file: known before c first runs
    link(o, h1)
    link(c, h2)
    start_all(o, h1, c, h2)
    assert c.key == o.key
    key = o.key

    # Partitioned: each copy publishes in its own half.
    for i in range(2):
        o.publish("offer", offer(f"original {i}"))
    for i in range(clone_entries):
        c.publish("offer", offer(f"clone {i}"))
    wait_until(lambda: feed_seq(h1, key) == 3 and feed_seq(h2, key) == 1 + clone_entries,
               timeout=15,
               msg="the halves did not replicate their copy's feed")
    for h in (o, h1, c, h2):
        assert forks_of(h, key) == [], h.name

    # Healed: H1 dials H2. Every hub must see the fork within a bounded time.
    assert h1.ctl("peer", "add", h2.endpoint, h2.key)["ok"] is True
    for h in (h1, h2, o, c):
        wait_until(lambda h=h: forks_of(h, key), timeout=30,
                   msg=f"{h.name} never recorded the fork of the shared key")
    for h in (h1, h2, o, c):
        (f,) = forks_of(h, key)
        assert f["seq"] == 2, (h.name, f)  # where the histories part: fetched back to it
        assert f["held"] != f["other"]

    # The original reports the live clone, and stops publishing.
    line = o.wait_log("another hub is publishing with this hub's key", timeout=10)
    assert h1.key[:8] in line, line
    st = o.status()["own_feed"]
    assert st["state"] == "key_in_use", st
    assert st["key_in_use"]["peer"] == h1.key
    assert st["key_in_use"]["from"] <= 2 <= st["key_in_use"]["to"]
    r = try_publish(o, "after the clone was noticed")
    assert not r["ok"] and r["error"]["code"] == "E_KEY_IN_USE", r
    text = o.ctl("status", json=False)
    assert "another hub is publishing with this hub's key" in text, text
    # The clone sees the original the same way.
    assert c.status()["own_feed"]["state"] == "key_in_use"


def test_idle_original_reports_a_clone_that_appends_to_its_feed(hubs):
    """No fork: the original is idle and the copy publishes on top of the shared head. The
    original receives entries of its own feed that it did not write, reports them and stops
    publishing (it would otherwise publish on top of them, silently)."""
    o = hubs.new("ap-orig", policy="open")
    h1 = hubs.new("ap-h1", policy="open")
    h2 = hubs.new("ap-h2", policy="open")
    first_run(o, h1, h2)
    o.start()
    assert o.publish("offer", offer("shared seq 1"))["seq"] == 1
    o.stop()
    c = hubs.new("ap-clone", policy="open")
    copy_state(o.data_dir, c.data_dir)
    c._key = o.key
    link(o, h1)
    link(h1, h2)
    link(c, h2)
    start_all(o, h1, h2, c)
    key = o.key
    wait_until(lambda: all(feed_seq(h, key) == 1 for h in (h1, h2)), timeout=15,
               msg="seq 1 did not replicate")

    r = c.publish("offer", offer("the copy's seq 2"))
    assert r["seq"] == 2
    line = o.wait_log("another hub is publishing with this hub's key", timeout=20)
    assert h1.key[:8] in line and "seq 2..2" in line, line
    st = o.status()["own_feed"]
    assert st["state"] == "key_in_use" and st["key_in_use"]["peer"] == h1.key, st
    assert (st["key_in_use"]["from"], st["key_in_use"]["to"]) == (2, 2)
    r = try_publish(o, "on top of the copy's entry")
    assert not r["ok"] and r["error"]["code"] == "E_KEY_IN_USE", r
    assert "KEY IN USE" in o.ctl("status", json=False)
    for h in (o, h1, h2, c):
        assert h.status()["forks"] == [], h.name
