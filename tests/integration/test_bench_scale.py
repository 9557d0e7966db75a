"""scripts/bench's scale points (issue 14): a run of N records reports the import, a query burst
and the catch-up at every scale point below N and at N, in a growth table with the issue's
targets checked at N; a run that cannot fit on the disk is refused before it starts. Run at a
size a test can afford (3,000 records, points 1,000 and 2,000) with the real hubd and the bench's
C helpers, so that the code a long run ends in (its summary) cannot rot. No figure is asserted,
only that each one is there."""

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from hubtest import SRC_DIR, hubctl_path, hubd_path

BENCH = os.path.join(SRC_DIR, "scripts", "bench")
_loader = importlib.machinery.SourceFileLoader("hub_bench", BENCH)
_spec = importlib.util.spec_from_loader("hub_bench", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)


def test_scale_points_option():
    o = bench.parse_args(["--records", "60000", "--scale-points", "40000,20000,60000,90000",
                          "import"])
    assert o["scale_points"] == [20000, 40000, 60000, 90000]
    b = bench.Bench.__new__(bench.Bench)  # no temp dir: points() reads the options only
    b.o = o
    assert b.points(60000) == [20000, 40000]  # points >= N are ignored
    assert b.points(20000) == []
    assert bench.parse_args([])["scale_points"] == [100000, 1000000]
    for bad in ("x", "0,100", ""):
        with pytest.raises(SystemExit):
            bench.parse_args(["--scale-points", bad])


def test_disk_check_refuses_a_run_that_does_not_fit():
    st = os.statvfs(bench.TMP)
    avail = st.f_bavail * st.f_frsize
    o = bench.parse_args(["--records", "5000000", "import", "query", "catchup"])
    need, parts = bench.disk_needed(o, ["crypto", "import", "query", "catchup"])
    # the records' JSON and the catch-up's two stores; the import store is dropped before it
    assert need >= (5000000 * bench.DISK_JSON_B + 2 * 5000000 * bench.DISK_STORE_B)
    assert "catch-up stores" in parts
    records = avail // bench.DISK_JSON_B + 1  # its JSON alone does not fit
    p = subprocess.run([sys.executable, BENCH, "--no-build", "--records", str(records), "import"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "not enough disk" in p.stderr and "df says" in p.stderr


def test_scale_points_reported(tmp_path):
    if not os.path.isdir(bench.VOCAB_DIR):
        pytest.skip(f"no vocabulary at {bench.VOCAB_DIR} (set HUB_VOCAB_DIR)")
    build = os.path.dirname(hubd_path())
    bench.HUBD, bench.HUBCTL = hubd_path(), hubctl_path()
    bench.BENCH_BIN = os.path.join(build, "scripts", "bench_src")
    bench.RESULTS = str(tmp_path / "bench-results.txt")
    if not os.access(os.path.join(bench.BENCH_BIN, "bench_feedgen"), os.X_OK):
        pytest.skip(f"bench helpers not built in {bench.BENCH_BIN}")
    steps = ["crypto", "import", "query", "catchup"]
    o = bench.parse_args(["--records", "3000", "--scale-points", "1000,2000", "--import-batch",
                          "400", "--queries", "300", "--authors", "10", "--per-author", "300",
                          *steps[1:]])
    b = bench.Bench(o)
    b.want = set(steps)
    try:
        b.crypto()
        b.import_()
        b.query()
        b.catchup()
    finally:
        bench.stop_all()
        shutil.rmtree(b.root, ignore_errors=True)
    r = b.res
    # import: requests end at 1,000 and 2,000 (not multiples of the batch of 400)
    assert [x["n"] for x in r["import_points"]] == [1000, 2000]
    for x in r["import_points"]:
        for k in ("import_rate", "seg_rate", "written", "seg_written", "bytes_per_entry", "raw",
                  "rss_anon", "query_p50", "query_p99"):
            assert x[k] is not None and x[k] > 0, (x["n"], k)
    assert r["import_points"][1]["seg_from"] == 1000
    assert r["import_end_seg"]["seg_from"] == 2000 and r["import_end_seg"]["seg_rate"] > 0
    assert r["import_last"]["n"] == 1000
    assert r["scale"] is r["import_points"][0]
    # catch-up: 10 x 300 entries, measured as the entries held pass 1,000 and 2,000
    assert [x["point"] for x in r["catchup_points"]] == [1000, 2000]
    assert all(x["n"] >= x["point"] for x in r["catchup_points"])
    assert r["catchup_end_seg"]["seg_from"] == r["catchup_points"][-1]["n"]
    b.summary(steps, "-", 0.0)
    with open(bench.RESULTS) as f:
        text = f.read()
    lines = text.splitlines()
    head = next(l for l in lines if l.startswith("import: records"))
    assert head.split()[-3:] == ["1,000", "2,000", "3,000"]
    assert next(l for l in lines if l.startswith("catch-up (10 feeds): scale point")).split()[
        -3:] == ["1,000", "2,000", "end"]
    assert next(l for l in lines if l.startswith("  entries held")).split()[-1] == "3,000"
    assert any(l.startswith("  query topic+country p50 / p99") and l.count("ms") == 3
               for l in lines)
    t = next(i for i, l in enumerate(lines) if l.startswith("targets at 3,000 (issue 14): "))
    checks = lines[t + 1:t + 6]
    assert [c.split(":")[0].strip() for c in checks] == [
        "import rate at 3,000 / at 1,000", "written per record at 3,000", "store at 3,000",
        "catch-up of 3,000", "query p99 at 3,000"]
    assert all(c.endswith(("MET", "MISSED")) for c in checks)
