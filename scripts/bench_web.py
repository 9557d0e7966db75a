"""The `web` step of scripts/bench (issue 13): hubweb's page latency and page weight at 100,000
records. Imported by scripts/bench, which passes its Bench object (records from the import
step's generator, Hub, Conn, log, fail, pct).

A fresh hub gets the same 100,000 offer records as the import step (each with a key, so that
record pages can be named), hubweb serves it, and one HTTP/1.1 keep-alive connection asks
  - the catalogue search page for varied queries: the text queries of the query step, facet
    filters (country, topic, language, mode, technology, seats left) alone and combined with
    text, sort orders and pages 1-3;
  - record pages of records drawn at random from the 100,000;
timed in Python from sending the request to the last byte of the answer (what a browser behind
the reverse proxy waits for, less the network). Page weight: the bytes of the search page as
served (before compression: hubweb does not compress), with and without the assets it links.
"""

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse

#: Targets (issue 13): p99 page latency through hubweb, and the search page's weight.
TARGET_P99_MS = 20.0
TARGET_WEIGHT_BYTES = 100 * 1024
#: Requests per page type (after WARMUP requests of each that are not counted).
REQUESTS = 2000
WARMUP = 50


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def search_urls(rng, topics, countries, text_queries, n):
    langs = ["en", "de", "fr", "es", "it", "pl", "pt", "nl", "sv", "cs"]
    modes = ["online", "onsite", "blended"]
    techs = ["Artificial Intelligence & Decision support", "Cybersecurity", "Internet of Things",
             "Big data"]
    out = []
    for i in range(n):
        p = []
        k = i % 8
        if k in (0, 1, 2):
            p.append(("q", text_queries[rng.randrange(len(text_queries))]["text"]))
        if k in (1, 3, 7):
            p.append(("country", rng.choice(countries)))
        if k in (2, 4):
            p.append(("topic", rng.choice(topics)))
        if k == 5:
            p += [("language", rng.choice(langs)), ("mode", rng.choice(modes))]
        if k == 6:
            p += [("technology", rng.choice(techs)), ("seats", "1")]
        if k == 7:
            p.append(("sort", rng.choice(["start", "published"])))
        if rng.random() < 0.25:
            p.append(("page", str(rng.randint(2, 3))))
        out.append("/?" + urllib.parse.urlencode(p) if p else "/")
    return out


def fetch(conn, path):
    t = time.perf_counter()
    conn.request("GET", path, headers={"Accept-Language": "en"})
    r = conn.getresponse()
    body = r.read()
    return (time.perf_counter() - t) * 1000, r.status, body, r


#: The kinds of search_urls' queries, by i % 8, for the per-kind figures of the log.
SEARCH_KINDS = ["text", "text+country", "text+topic", "country", "topic", "language+mode",
                "technology+seats", "country+sort"]


def measure(conn, paths, what, fail, by=None):
    """Latencies (sorted), latencies of each path's first request only (sorted: hubweb keeps
    a query's facet counts for a while, so a repeated query is cheaper) and body sizes; with
    `by` (a dict), also the latencies per kind of query (i % 8, SEARCH_KINDS)."""
    lat, cold, sizes = [], [], []
    seen = set()
    for i, p in enumerate(paths):
        ms, status, body, _ = fetch(conn, p)
        if status != 200:
            fail(f"web: {what} {p} answered {status}: {body[:300]!r}")
        first = p not in seen
        seen.add(p)
        if i >= WARMUP:
            lat.append(ms)
            sizes.append(len(body))
            if first:
                cold.append(ms)
            if by is not None:
                by.setdefault(SEARCH_KINDS[i % 8], []).append(ms)
    lat.sort()
    cold.sort()
    return lat, cold, sizes


def run(bench, Hub, Conn, log, fail, pct, hubweb):
    """The step; figures go to bench.res["web"]."""
    if not os.access(hubweb, os.X_OK):
        fail(f"web: {hubweb} missing: run scripts/build")
    bench.gen()
    n = len(bench.records)
    h = Hub(bench.root, "web", policy="allowlist").start()
    prefix = '{"kind":"offer",'
    keyed = []
    for i, line in enumerate(bench.records):
        if not line.startswith(prefix):
            fail("web: unexpected record line from the generator")
        keyed.append(f'{prefix}"key":"o{i}",' + line[len(prefix):])
    batch = bench.o["import_batch"]
    c = Conn(h.sock_path, timeout=600)
    t0 = time.monotonic()
    for i in range(0, n, batch):
        c.send_raw(b'{"op":"import","records":[' + ",".join(keyed[i:i + batch]).encode() + b"]}\n")
        a = c.recv()
        if not a.get("ok"):
            fail(f"web: import failed: {json.dumps(a)[:400]}")
    c.close()
    h.call({"op": "publish", "kind": "profile",
            "record": {"name": "EDIH Benchmark", "country": "AT", "languages": ["en"]}})
    log(f"web: {n:,} records imported in {time.monotonic() - t0:.1f} s; waiting for the index "
        f"tail to merge")
    deadline = time.monotonic() + 180
    while h.call({"op": "status"}).get("index_tail", 0) > 256:
        if time.monotonic() > deadline:
            fail("web: the hub's index tail was not merged in 180 s")
        time.sleep(0.2)

    port = free_port()
    logpath = os.path.join(bench.root, "hubweb.log")
    logf = open(logpath, "ab")
    web = subprocess.Popen([hubweb, "--config", h.conf, "--listen", f"127.0.0.1:{port}",
                            "--control", h.sock_path], stdout=logf, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if web.poll() is not None:
                fail(f"web: hubweb exited with {web.returncode}: {open(logpath).read()[-800:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                fetch(conn, "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    fail("web: hubweb did not answer within 15 s")
                time.sleep(0.05)
        rng = random.Random(20261203)
        spaths = search_urls(rng, bench.topics, bench.countries, bench.text_queries,
                             REQUESTS + WARMUP)
        rpaths = [f"/record/{h.key}/offer/o{rng.randrange(n)}" for _ in range(REQUESTS + WARMUP)]
        log(f"web: {REQUESTS} search pages (varied queries), then {REQUESTS} record pages, on "
            f"one keep-alive connection to hubweb")
        kinds = {}
        s_lat, s_cold, s_sizes = measure(conn, spaths, "search page", fail, kinds)
        r_lat, _, r_sizes = measure(conn, rpaths, "record page", fail)
        # Page weight: the default search page (no query: the first page of everything) and
        # the assets it loads.
        _, _, home, _ = fetch(conn, "/")
        assets = 0
        for a in sorted(set(re.findall(rb'(?:href|src)="(/assets/[^"]+)"', home))):
            _, st, body, _ = fetch(conn, a.decode())
            if st != 200:
                fail(f"web: {a.decode()} answered {st}")
            assets += len(body)
        conn.close()
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(10)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()
        logf.close()
        h.stop()
        if not bench.o["keep"]:
            shutil.rmtree(h.dir, ignore_errors=True)
    x = {"records": n, "n": REQUESTS,
         "s50": pct(s_lat, 0.5), "s99": pct(s_lat, 0.99), "smax": s_lat[-1],
         "c50": pct(s_cold, 0.5), "c99": pct(s_cold, 0.99), "cn": len(s_cold),
         "r50": pct(r_lat, 0.5), "r99": pct(r_lat, 0.99), "rmax": r_lat[-1],
         "home": len(home), "assets": assets, "s_mean": sum(s_sizes) / len(s_sizes),
         "s_max": max(s_sizes), "r_mean": sum(r_sizes) / len(r_sizes)}
    bench.res["web"] = x
    log("web: search page by kind of query (p50 / p99 ms): " + "; ".join(
        f"{k} {pct(sorted(v), 0.5):.1f} / {pct(sorted(v), 0.99):.1f}" for k, v in kinds.items()))
    log(f"web: search page p50 {x['s50']:.2f} ms, p99 {x['s99']:.2f} ms (the {x['cn']} first "
        f"requests of a query: p50 {x['c50']:.2f} ms, p99 {x['c99']:.2f} ms); record page p50 "
        f"{x['r50']:.2f} ms, p99 {x['r99']:.2f} ms; search page {x['home'] / 1024:.1f} KiB "
        f"(+ assets {assets / 1024:.1f} KiB; varied queries: mean {x['s_mean'] / 1024:.1f}, "
        f"max {x['s_max'] / 1024:.1f} KiB)")


def summary_rows(r, row, yes):
    x = r.get("web")
    if not x:
        return
    row(f"hubweb search page, {x['records']:,} records: p50", f"{x['s50']:.2f} ms",
        f"{x['n']} varied queries ({x['cn']} distinct), keep-alive", "")
    row("  p99", f"{x['s99']:.2f} ms", f"target < {TARGET_P99_MS:.0f} ms",
        yes(x["s99"] < TARGET_P99_MS))
    row("  first request of each query: p50 / p99", f"{x['c50']:.2f} / {x['c99']:.2f} ms",
        "no facet counts kept by hubweb", yes(x["c99"] < TARGET_P99_MS))
    row("hubweb record page: p50", f"{x['r50']:.2f} ms", f"{x['n']} random records", "")
    row("  p99", f"{x['r99']:.2f} ms", f"target < {TARGET_P99_MS:.0f} ms",
        yes(x["r99"] < TARGET_P99_MS))
    total = x["home"] + x["assets"]
    row("hubweb search page weight (+ its assets)", f"{total / 1024:.1f} KiB",
        f"HTML {x['home'] / 1024:.1f} KiB; target < {TARGET_WEIGHT_BYTES // 1024} KB",
        yes(total < TARGET_WEIGHT_BYTES) + f"; varied queries max {x['s_max'] / 1024:.1f} KiB")
