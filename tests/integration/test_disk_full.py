"""A full filesystem (PROTOCOL.md §11 E_DISK_FULL): the data dir on a 4 MiB tmpfs, filled by
importing records 7 at a time. LMDB reports the short write of a multi-page commit as EIO, so
hubd 0.1.0 answered E_IO "file or socket I/O failed" and logged "Input/output error"; now the
client and the log get E_DISK_FULL with the free bytes and what the write needed, and every
record acknowledged before is still there once space is freed, before and after a restart.

Needs root (mount -t tmpfs); skipped with the reason otherwise."""

import os
import subprocess
import tempfile

import pytest

BATCH = 7  # records per import: a commit of several pages, which the full disk cuts short


def _offer(i: int, j: int) -> dict:
    # about 7 KB each, of varying size so that commits end anywhere in a page
    return {"kind": "offer", "key": f"k{i}-{j}",
            "record": {"title": f"offer {i}.{j}", "description": "d" * (7000 + 37 * j)}}


@pytest.fixture
def small_fs():
    """A fresh 4 MiB tmpfs (its mount point), or skip with the reason."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting a small tmpfs needs root (this runs as uid {os.geteuid()})")
    mnt = tempfile.mkdtemp(prefix="hubt-diskfull-", dir="/tmp")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"mount -t tmpfs -o size=4m is not permitted here: {p.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", mnt], capture_output=True)
    os.rmdir(mnt)


def _keys(hub) -> set:
    return {r["key"] for r in hub.query(kind="offer", limit=1000)}


def test_full_disk_reports_e_disk_full_and_keeps_acknowledged_records(hubs, small_fs):
    data = os.path.join(small_fs, "hub")
    os.mkdir(data, 0o700)
    hub = hubs("diskfull", data_dir=data, log_level="info")
    acked = set()
    failure = None
    for i in range(1000):  # 4 MiB / 50 KB per import: full long before this
        recs = [_offer(i, j) for j in range(BATCH)]
        r = hub.request({"op": "import", "records": recs})
        if not r["ok"]:
            failure = r
            break
        acked |= {x["key"] for x in recs}
    assert failure is not None, "the 4 MiB filesystem never filled"
    assert len(acked) > 10 * BATCH, failure
    err = failure["error"]
    assert err["code"] == "E_DISK_FULL", failure
    # the numbers: free bytes on the data dir's filesystem and what the write needed
    assert "bytes free" in err["message"] and "needs at least" in err["message"], err
    assert small_fs in err["message"], err
    log = hub.log_text()
    assert "disk full" in log
    assert "Input/output error" not in log

    # Still full: a single publish may fit in pages LMDB has free inside its file, or is refused
    # the same way; the hub keeps answering, and nothing acknowledged is lost.
    r = hub.request({"op": "publish", **_offer(9999, 0)})
    if r["ok"]:
        acked.add("k9999-0")
    else:
        assert r["error"]["code"] == "E_DISK_FULL", r
    assert _keys(hub) == acked

    # Space freed: the hub publishes again at once, and after a restart everything acknowledged
    # is there.
    subprocess.run(["mount", "-o", "remount,size=64m", small_fs], check=True)
    r = hub.request({"op": "publish", **_offer(10000, 0)})
    assert r["ok"], r
    acked.add("k10000-0")
    hub.restart()
    assert _keys(hub) == acked
    r = hub.request({"op": "publish", **_offer(10001, 0)})
    assert r["ok"], r
    assert r["seq"] == len(acked) + 1
