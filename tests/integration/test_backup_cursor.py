"""Backup, restore, verify, export/import of signed entries, and cursors (issue 12 items 5, 6;
CONTROL.md "backup", "verify", "query" with since, "watch" with since; README "Backup, restore,
verify").

- query/watch "since": every entry accepted after a cursor, in acceptance order, each once;
  the replay of a watch passes to live entries without a gap or a duplicate.
- hubctl watch --reconnect across a SIGTERM and restart of hubd, 1,000 entries published
  around it: none lost, none twice.
- hubctl backup while entries are written: the copy opens as a hub, verifies, and restored on
  a new machine with the same key takes its newer entries back from a peer before it publishes
  (no fork).
- hubctl verify finds a flipped payload byte and a flipped signature byte in a stored entry.
- export --entries / import --entries moves every feed to a fresh hub; a file exported by the
  store schema 3 hubd (tests/integration/fixtures/schema3.entries) imports into this one.

Real hubd processes; every wait polls with a deadline.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import hubctl_path, wait_until  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def offer(title, topic="digital-skills"):
    return {"title": title, "country": "AT", "topics": [topic], "languages": ["en"]}


def since_all(h, since=0, **filters):
    """Every entry after `since` through query pages: [(cursor, id, kind)], and the last next."""
    out = []
    while True:
        r = h.call("query", since=since, limit=7, **filters)
        out += [(e["cursor"], e["id"], e["kind"]) for e in r["entries"]]
        assert r["next"] >= since
        since = r["next"]
        if not r["more"]:
            return out, since


def import_records(h, n, prefix):
    recs = [{"kind": "offer", "key": f"{prefix}-{i}", "record": offer(f"{prefix} {i}")}
            for i in range(n)]
    r = h.request({"op": "import", "records": recs}, timeout=120)
    assert r.get("ok"), r
    return r


def own_head(h):
    for f in h.call("heads")["feeds"]:
        if f["author"] == h.key:
            return f
    return None


def test_query_since_lists_every_entry_once_in_acceptance_order(hubs):
    h = hubs("qs")
    ids = [h.publish("offer", offer(f"o{i}"), key=f"k{i}")["id"] for i in range(12)]
    r = h.request({"op": "retract", "key": "k3", "kind": "offer"})
    assert r["ok"], r
    ids.append(r["id"])
    got, last = since_all(h)
    assert [g[1] for g in got] == ids, "every entry, in the order accepted, each once"
    assert [g[0] for g in got] == sorted(g[0] for g in got)
    assert got[-1][2] == "retraction" and last == got[-1][0]
    # the purged version is listed too, without its record
    purged = [e for e in h.call("query", since=0, limit=100)["entries"] if e["key"] == "k3"]
    assert purged[0]["purged"] and "record" not in purged[0]
    # from the middle; "now" gives nothing; nothing new after the last
    assert [g[1] for g in since_all(h, got[4][0])[0]] == ids[5:]
    assert h.call("query", since="now")["entries"] == []
    r = h.call("query", since=last)
    assert r["entries"] == [] and r["next"] == last and r["more"] is False
    # filters of watch apply
    retr, _ = since_all(h, kind="retraction")
    assert [g[1] for g in retr] == [ids[-1]]
    # a cursor past the last entry (another hub's, or from before a restore) is refused
    r = h.request({"op": "query", "since": last + 1})
    assert r["error"]["code"] == "E_RANGE" and r["error"]["field"] == "since", r
    for bad, code in (("x", "E_RANGE"), (-1, "E_RANGE"), ([], "E_TYPE")):
        r = h.request({"op": "query", "since": bad})
        assert r["error"]["code"] == code, (bad, r)
    r = h.request({"op": "query", "since": 0, "text": "o1"})
    assert r["error"]["code"] == "E_BAD_REQUEST" and r["error"]["field"] == "text", r
    # hubctl: JSON pages carry the cursor to resume from
    out = h.ctl("query", "--since", str(got[9][0]))
    assert [e["id"] for e in out["entries"]] == ids[10:] and int(out["next"]) == last
    out = h.ctl("query", "--since", "0", "--limit", "5", "--all")
    assert [e["id"] for e in out["entries"]] == ids


def test_watch_since_replays_then_goes_live_without_gap_or_duplicate(hubs):
    h = hubs("ws")
    first = [h.publish("offer", offer(f"before {i}"), key=f"b{i}")["id"] for i in range(30)]
    start = h.call("query", since=0, limit=1)["entries"][0]["cursor"]
    with h.connect() as w, h.connect() as plain:
        r = w.request({"op": "watch", "since": start})
        assert r["ok"] and r["cursor"] == start, r
        r = plain.request({"op": "watch"})
        assert r["ok"] and r["cursor"] >= start + 29, r
        # entries published while the replay is being read
        later = [h.publish("offer", offer(f"after {i}"), key=f"a{i}")["id"] for i in range(30)]
        seen = []
        while len(seen) < 59:
            ev = w.recv(timeout=10)
            assert ev["event"] == "record", ev
            seen.append((ev["cursor"], ev["entry"]["id"]))
        assert [s[1] for s in seen] == first[1:] + later
        assert [s[0] for s in seen] == list(range(start + 1, start + 60))
        # a plain watch carries cursors too, the same numbers
        live = [plain.recv(timeout=10) for _ in range(30)]
        assert [(e["cursor"], e["entry"]["id"]) for e in live] == seen[29:]
        # another request on a watching connection is still refused
        w.send({"op": "status"})
        assert w.recv(timeout=10)["error"]["code"] == "E_BAD_REQUEST"


def test_watch_reconnect_across_restart_loses_and_repeats_nothing(hubs, tmp_path):
    h = hubs("wr")
    out_path = tmp_path / "events"
    err_path = tmp_path / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        w = subprocess.Popen([hubctl_path(), "--socket", h.control_socket, "--json", "watch",
                              "--reconnect"], stdout=out, stderr=err)
    try:
        def events():
            with open(out_path) as f:
                return [json.loads(line) for line in f if line.strip()]

        # the watch answers before anything is published (nothing printed for it)
        wait_until(lambda: h.status()["watchers"] == 1, timeout=10, msg="watch never started")
        def publish(n, tag):
            for i in range(n):
                h.publish("offer", offer(f"{tag} {i}"), key=f"{tag}-{i}")

        publish(300, "first")
        # a batch whose listeners are told while the watcher reads its replay on restart
        r = import_records(h, 200, "batch1")
        wait_until(lambda: len(events()) >= 250, timeout=30, msg="watch printed too little")
        h.stop()  # SIGTERM: hubctl sees its connection end and tries again
        # hubd stays down until hubctl waits 0.8 s between attempts: most of the next entries
        # are accepted while it is away, and come to it as the replay after its cursor
        wait_until(lambda: "connecting again in 800 ms" in err_path.read_text(), timeout=20,
                   msg="hubctl did not try to connect again")
        h.start()
        publish(250, "second")
        import_records(h, 250, "batch2")
        all_ids = [e["id"] for e in h.call("query", since=0, limit=1000)["entries"]]
        assert len(all_ids) == 1000 and r["accepted"] == 200
        wait_until(lambda: len(events()) >= 1000, timeout=60, msg="watch printed too little")
        # anything extra (a duplicate) would be printed by now too; make sure of it
        marker = h.publish("offer", offer("marker"), key="marker")["id"]
        wait_until(lambda: events()[-1]["entry"]["id"] == marker, timeout=30,
                   msg="the marker never arrived")
        evs = events()[:-1]
        ids = [e["entry"]["id"] for e in evs]
        assert len(ids) == len(set(ids)) == 1000, "an entry printed twice"
        assert ids == all_ids, "an entry lost, or out of order"
        assert [e["cursor"] for e in evs] == sorted(e["cursor"] for e in evs)
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=10) == 0
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()


def test_backup_while_writing_verifies_and_restores_without_fork(hubs, tmp_path):
    a = hubs.new("bk-a", own_recovery_wait=120)
    c = hubs.new("bk-c", own_recovery_wait=120)
    for x in (a, c):
        x.start(wait=False)
    for x in (a, c):
        x.wait_ready()
    a.stop()
    c.stop()
    a.peers.append(f"{c.endpoint} {c.key}")
    c.peers.append(f"{a.endpoint} {a.key}")
    a.start()
    c.start()
    # written to the index directly (postings to verify); more rows than one verify chunk
    import_records(a, 5000, "bulk")
    # writes go on during the backup
    stop = threading.Event()
    written = []

    def writer():
        i = 0
        while not stop.is_set():
            r = a.request({"op": "publish", "kind": "offer", "key": f"w{i}",
                           "record": offer(f"during {i}")})
            assert r.get("ok"), r
            written.append(r["seq"])
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: len(written) >= 5, timeout=30, msg="writer never wrote")
        backup = tmp_path / "backup"
        out = a.ctl("backup", str(backup))
        n_during = len(written)
        # verify in chunks of its own read transactions while entries are written: no
        # false problem at the chunks' seams
        v = a.ctl("verify")
        assert v["problems"] == 0 and v["entries"] >= 5000 + n_during, v
        wait_until(lambda: len(written) >= n_during + 5, timeout=30,
                   msg="writes stopped after the backup")
    finally:
        stop.set()
        t.join()
    assert out["ok"] and out["identity"] and out["bytes"] > 0
    assert sorted(os.listdir(backup)) == ["data.mdb", "identity.key"]
    assert os.stat(backup / "data.mdb").st_mode & 0o777 == 0o600
    with open(backup / "identity.key", "rb") as f1, open(os.path.join(a.data_dir, "identity.key"),
                                                         "rb") as f2:
        assert f1.read() == f2.read()
    v = a.ctl("verify")
    assert v["problems"] == 0 and v["entries"] == own_head(a)["seq"], v
    assert v["postings"] > 0 and v["records"] == 5000 + len(written), v
    # a second backup into the same directory is refused; nothing of the first is touched
    r = a.ctl("backup", str(backup), check=False)
    assert r.code == 4 and "data.mdb" in r.stderr, r
    # the request without a descriptor
    r = a.request({"op": "backup"})
    assert r["error"]["code"] == "E_BAD_REQUEST", r
    head_at_end = own_head(a)["seq"]
    wait_until(lambda: any(f["author"] == a.key and f["seq"] == head_at_end
                           for f in c.call("heads")["feeds"]), timeout=60,
               msg="c never caught up with a")

    # The machine is lost; the backup is restored on a new one with the same key.
    a.kill()
    b = hubs.new("bk-b", own_recovery_wait=120, peers=[f"{c.endpoint} {c.key}"])
    os.makedirs(b.data_dir, exist_ok=True)
    for f in ("data.mdb", "identity.key"):
        shutil.copy2(backup / f, os.path.join(b.data_dir, f))
    c.stop()
    b.start()
    assert b.key == a.key
    restored = own_head(b)["seq"]
    assert out["cursor"] <= restored < head_at_end, (out["cursor"], restored, head_at_end)
    v = b.ctl("verify")
    assert v["problems"] == 0 and v["entries"] == restored, v
    # behind its own feed: it must not publish yet (that would fork)
    r = b.request({"op": "publish", "kind": "offer", "record": offer("too early")})
    assert r["error"]["code"] == "E_NOT_READY", r
    c.peers = [f"{b.endpoint} {b.key}"]
    c.start()
    wait_until(lambda: own_head(b)["seq"] == head_at_end, timeout=60,
               msg="the restored hub never took its feed back")

    def publish_after():
        r = b.request({"op": "publish", "kind": "offer", "record": offer("after restore")})
        if r.get("ok"):
            return r
        assert r["error"]["code"] == "E_NOT_READY", r
        return None

    r = wait_until(publish_after, timeout=60, msg="restored hub never published")
    assert r["seq"] == head_at_end + 1
    wait_until(lambda: any(f["author"] == b.key and f["seq"] == head_at_end + 1
                           for f in c.call("heads")["feeds"]), timeout=30)
    assert c.status()["forks"] == [] and b.status()["forks"] == []
    assert b.ctl("verify")["problems"] == 0


def flip_in_copy(path, needle):
    """Flips one bit of the one place `needle` is stored in an LMDB file."""
    data = bytearray(open(path, "rb").read())
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) < 0, "needle must be stored exactly once"
    data[at + len(needle) // 2] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("part", ["payload", "signature"])
def test_verify_finds_a_corrupted_entry(hubs, tmp_path, part):
    h = hubs(f"vc-{part[:3]}")
    for i in range(20):
        h.publish("offer", offer(f"plain {i}"), key=f"p{i}")
    bad = h.publish("offer", offer("the one to damage: zqxjkvwy"), key="bad")
    for i in range(5):
        h.publish("offer", offer(f"after {i}"), key=f"q{i}")
    assert h.ctl("verify")["problems"] == 0
    backup = tmp_path / "b"
    h.ctl("backup", str(backup))
    if part == "payload":
        needle, code = b"the one to damage: zqxjkvwy", "E_PAYLOAD_HASH"
    else:
        # SignedEntry: field 1 the header (0x0a, varint length), field 2 the signature (0x12,
        # 64, the 64 bytes)
        wire, code = h.wire(bad["id"]), "E_SIGNATURE"
        hlen, shift, i = 0, 0, 1
        while True:
            hlen |= (wire[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not wire[i - 1] & 0x80:
                break
        at = i + hlen
        assert wire[0] == 0x0A and wire[at : at + 2] == b"\x12\x40"
        needle = wire[at + 2 : at + 66]
    flip_in_copy(backup / "data.mdb", needle)
    g = hubs.new(f"vd-{part[:3]}")
    os.makedirs(g.data_dir, exist_ok=True)
    for f in ("data.mdb", "identity.key"):
        shutil.copy2(backup / f, os.path.join(g.data_dir, f))
    g.start()
    r = g.ctl("verify", check=False)
    assert r.code == 1, r
    assert f"{code}:" in r.stderr and "seq 21" in r.stderr and "1 problem in all" in r.stderr, r
    v = g.ctl("verify", check=False).json()
    assert v["problems"] == 1 and v["first"]["code"] == code, v
    # hubd went on answering, and the original is fine
    assert g.status()["entries"] == 26
    assert h.ctl("verify")["problems"] == 0


def test_export_import_moves_every_feed(hubs, tmp_path):
    a, other = hubs("ex-a", policy="open"), hubs("ex-o")
    for i in range(10):
        a.publish("offer", offer(f"a {i}"), key=f"a{i}")
    assert a.request({"op": "retract", "key": "a2", "kind": "offer"})["ok"]
    for i in range(5):
        other.publish("request", {"title": f"o {i}", "country": "DE"}, key=f"o{i}")
    lines = other.ctl("export", "--entries", json=False)
    r = a.ctl("import", "--entries", "-", input=lines)
    assert r["accepted"] == 5, r
    path = tmp_path / "a.entries"
    r = a.ctl("export", "--entries", str(path), check=False)
    assert r.code == 0 and "exported 16 entries" in r.stderr, r
    exported = path.read_text().split()
    assert len(exported) == 16
    assert base64.b64decode(exported[0]) == a.wire(a.call("query", since=0, limit=1)
                                                     ["entries"][0]["id"])
    fresh = hubs("ex-f", policy="open")  # import applies the policy, as replication does
    r = fresh.ctl("import", "--entries", str(path))
    assert r["accepted"] == 16 and r["rejected"] == 0, r
    assert fresh.call("heads")["feeds"] == a.call("heads")["feeds"]
    assert sorted(x["id"] for x in fresh.query()) == sorted(x["id"] for x in a.query())
    assert fresh.ctl("verify")["problems"] == 0
    # --since exports only what came after
    last = a.call("query", since=0, limit=1000)["next"]
    a.publish("offer", offer("newer"), key="newer")
    r = a.ctl("export", "--entries", "--since", str(last), json=False)
    assert len(r.split()) == 1


def test_move_to_a_new_machine_with_the_same_key_by_export_and_import(hubs, tmp_path):
    """The key and an export are enough: the new hub takes its own feed from the import and
    publishes on top of it (no fork)."""
    old = hubs("mv-old")
    for i in range(5):
        old.publish("offer", offer(f"old {i}"), key=f"k{i}")
    path = tmp_path / "old.entries"
    old.ctl("export", "--entries", str(path), json=False)
    old.stop()
    new = hubs.new("mv-new")
    os.makedirs(new.data_dir, exist_ok=True)
    shutil.copy2(os.path.join(old.data_dir, "identity.key"),
                 os.path.join(new.data_dir, "identity.key"))
    new.start()
    assert new.key == old.key
    r = new.ctl("import", "--entries", str(path))
    assert r["accepted"] == 5, r
    assert new.status()["own_seq"] == 5
    assert new.publish("offer", offer("new"), key="new")["seq"] == 6
    assert new.ctl("verify")["problems"] == 0 and new.status()["forks"] == []


def test_schema3_export_imports_into_this_hubd(hubs):
    """The upgrade path between store schemas: export --entries with the old hubd, import
    --entries into the new one. The fixture was exported by the schema 3 hubd."""
    path = os.path.join(FIXTURES, "schema3.entries")
    meta = json.load(open(os.path.join(FIXTURES, "schema3.json")))
    h = hubs("up", policy="open")
    r = h.ctl("import", "--entries", path)
    assert r["accepted"] == meta["entries"] and r["rejected"] == 0, r
    assert h.call("heads")["feeds"] == meta["heads"]
    assert sorted(x["id"] for x in h.query()) == meta["records"]
    assert h.ctl("verify")["problems"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="runs hubctl as another user (setpriv)")
def test_backup_without_read_access_to_the_key_says_so(hubs):
    """As a packaged hub's operator without the hubnet user's rights: the store is copied
    (hubd writes it), the key is not; hubctl says how to back it up and exits 4 unless
    --no-identity."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    h = hubs("bk-user")
    h.publish("offer", offer("one"), key="one")
    os.chmod(h.run_dir, 0o711)  # the socket reachable; identity.key stays 0600, root's
    os.chmod(h.control_socket, 0o666)
    tmp = tempfile.mkdtemp(prefix="hubt-bk-user-", dir="/tmp")  # pytest's tmp_path is 0700
    os.chmod(tmp, 0o777)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", hubctl_path(),
                 "--socket", h.control_socket, "backup"]
    try:
        backup_as_nobody(as_nobody, tmp)
    finally:
        shutil.rmtree(tmp)


def backup_as_nobody(as_nobody, tmp):
    p = subprocess.run(as_nobody + [os.path.join(tmp, "b1")], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 4, p
    assert "identity.key" in p.stderr and "--no-identity" in p.stderr, p.stderr
    assert os.listdir(os.path.join(tmp, "b1")) == ["data.mdb"]
    assert os.path.getsize(os.path.join(tmp, "b1", "data.mdb")) > 0
    p = subprocess.run(as_nobody + ["--no-identity", os.path.join(tmp, "b2")], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and "identity.key" in p.stderr, p
    assert os.listdir(os.path.join(tmp, "b2")) == ["data.mdb"]
