"""Compressed entry rows (store schema 6, node/core/store_pack.c; issue 14 item 2).

A hub that has imported more than PACK_TRAIN_MIN (1,024) records trains a dictionary and
stores the entries after it compressed. Every way the stored bytes leave the hub must give
back the signed wire bytes bit-exact: a peer's catch-up (the peer checks every signature and
id), an export imported into a fresh hub, hubctl verify on both.

Real hubd processes; every wait polls with a deadline.
"""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import first_run, link, start_all, wait_until  # noqa: E402

FIRST = 1200  # one import request: the dictionary is trained after it (> 1,024 entries)
SECOND = 300  # stored compressed


def import_records(h, n, prefix):
    recs = [{"kind": "offer", "key": f"{prefix}-{i}",
             "record": {"title": f"{prefix} {i}: digital skills for small companies",
                        "country": "AT", "topics": ["digital-skills"], "languages": ["en"],
                        "description": f"Training number {i} in cloud, data and security for "
                                       "the region's companies, with a lab open to members."}}
            for i in range(n)]
    r = h.request({"op": "import", "records": recs}, timeout=120)
    assert r.get("ok"), r
    return r


def own_head(h, key):
    for f in h.call("heads")["feeds"]:
        if f["author"] == key:
            return f
    return None


def test_compressed_entries_replicate_export_and_verify(hubs, tmp_path):
    a = hubs.new("pk-a", policy="open", interval=1)
    b = hubs.new("pk-b", policy="open", interval=1)
    first_run(a, b)
    import_records(a.start(), FIRST, "first")
    wait_until(lambda: "entries compressed from now on" in a.log_text(), timeout=30)
    import_records(a, SECOND, "second")
    a.stop()
    link(a, b)
    start_all(a, b)
    n = FIRST + SECOND
    # the peer catches up: every entry it gets was read back from a compressed row
    wait_until(lambda: (own_head(b, a.key) or {}).get("seq") == n, timeout=120)
    assert own_head(b, a.key) == own_head(a, a.key)
    for h in (a, b):
        r = h.ctl("verify")
        assert r["problems"] == 0 and r["entries"] == n, r
    # an entry of each kind of row, by id, is the exported line's bytes
    path = tmp_path / "a.entries"
    r = a.ctl("export", "--entries", str(path), check=False)
    assert r.code == 0 and f"exported {n} entries" in r.stderr, r
    lines = path.read_text().split()
    assert len(lines) == n
    first = a.call("query", since=0, limit=1)["entries"][0]["id"]
    assert base64.b64decode(lines[0]) == a.wire(first)
    last = a.call("query", since=n - 1, limit=1)["entries"][0]["id"]
    assert base64.b64decode(lines[-1]) == a.wire(last)
    assert b.wire(last) == a.wire(last)
    fresh = hubs("pk-f", policy="open")
    r = fresh.ctl("import", "--entries", str(path))
    assert r["accepted"] == n and r["rejected"] == 0, r
    assert fresh.ctl("verify")["problems"] == 0
