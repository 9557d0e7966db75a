"""Operating a hub under systemd: the notify protocol (READY=1 once the sockets answer,
WATCHDOG=1 fed by the event loop, STOPPING=1 on shutdown), read from a real datagram socket
standing in for systemd's $NOTIFY_SOCKET."""
import os
import re
import signal
import socket
import tempfile
import time

from hubtest import Hub, first_run, link, start_all, wait_until


class NotifySocket:
    """A Unix datagram socket, as systemd's, collecting what hubd sends."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hubt-notify-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def has(self, line):
        return any(line in m.split("\n") for m in self.drain())

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def test_notify_ready_watchdog_stopping(hubs, monkeypatch):
    ns = NotifySocket()
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
        monkeypatch.setenv("WATCHDOG_USEC", "2000000")  # fed every second
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        h = hubs.new(name="notify")
        h.start(wait=False)
        wait_until(lambda: ns.has("READY=1"), timeout=20, msg="hubd never said READY=1")
        # READY=1 comes only once the control socket is bound: it answers at once.
        with h.connect() as c:
            assert c.request({"op": "status"})["ok"]
        ready = next(m for m in ns.messages if "READY=1" in m.split("\n"))
        assert "STATUS=hub " in ready, ready
        wait_until(lambda: sum("WATCHDOG=1" in m.split("\n") for m in ns.drain()) >= 2,
                   timeout=20, msg="the event loop did not feed the watchdog")
        assert not ns.has("STOPPING=1")
        h.stop()
        assert ns.has("STOPPING=1"), ns.messages
    finally:
        ns.close()


def test_no_notify_socket_no_messages(hubs, monkeypatch):
    """Without $NOTIFY_SOCKET (started by hand, not by systemd) hubd runs as before and logs no
    notify failure."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    h = hubs(name="plain")
    assert h.status()["hub"] == h.key
    h.stop()
    assert "cannot notify systemd" not in h.log_text()


def _journal_hub(hubs, monkeypatch, match):
    h = hubs.new(name="journal" if match else "notjournal")
    open(h.log_path, "ab").close()  # hubtest appends hubd's stderr to this file
    st = os.stat(h.log_path)
    ino = st.st_ino if match else st.st_ino + 1
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{ino}")
    h.start()
    return h


def test_journal_stream_priorities(hubs, monkeypatch):
    """stderr is the journal: each line starts with its syslog priority, no own timestamp."""
    h = _journal_hub(hubs, monkeypatch, match=True)
    h.stop()
    lines = [l for l in h.log_lines() if l.strip()]
    assert lines, "no log lines"
    for l in lines:
        assert l[:3] in ("<3>", "<4>", "<6>", "<7>"), l
        assert not l[3:4].isdigit(), f"a timestamp after the priority: {l}"
    assert any(l.startswith("<6>INFO  hubd: ") for l in lines), lines


def test_journal_stream_of_another_file(hubs, monkeypatch):
    """JOURNAL_STREAM naming another stream (inherited, not ours): plain timestamped lines."""
    h = _journal_hub(hubs, monkeypatch, match=False)
    h.stop()
    lines = [l for l in h.log_lines() if l.strip()]
    assert lines and all(l[:4].isdigit() and not l.startswith("<") for l in lines), lines[:3]


def _promtool_check(text):
    import subprocess
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    # promtool prints lint findings (and exits 1) for malformed exposition; 0 when clean
    assert p.returncode == 0, f"promtool: {p.stdout}{p.stderr}\n{text}"


def _samples(text, name, labels=None):
    """Every sample of a metric whose labels contain the given ones."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if labels and not all(f'{k}="{v}"' in head for k, v in labels.items()):
            continue
        out.append(float(value))
    return out


def _metric(text, name, labels=None):
    """The value of one sample (name with labels containing every given label)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if labels and not all(f'{k}="{v}"' in head for k, v in labels.items()):
            continue
        return float(value)
    return None


def test_metrics_promtool_and_exporter(hubs):
    import subprocess
    import urllib.error
    import urllib.request
    from hubtest import free_port_pair

    a, b = hubs.new("ma"), hubs.new("mb")
    first_run(a, b)
    link(a, b)
    start_all(a, b)
    for i in range(3):
        a.publish("offer", {"title": f"Offer {i}", "country": "AT"}, key=f"o{i}")
    wait_until(lambda: b.status()["entries"] >= 3, timeout=20, msg="b never got a's offers")
    # the entries may come in on a's session to b before b's own session to a is up
    wait_until(lambda: any(p["key"] == a.key and p["direction"] == "out" and p["state"] == "up"
                           for p in b.call("peers")["peers"]),
               timeout=20, msg="b's session to a never came up")

    text = b.ctl("metrics", json=False)
    _promtool_check(text)
    assert _metric(text, "hubnet_up") == 1
    assert _metric(text, "hubnet_entries") == b.status()["entries"]
    assert _metric(text, "hubnet_peer_up", {"peer": a.key, "direction": "out"}) == 1
    # a's entries came in on either session with a (b dials a and a dials b): summed
    assert sum(_samples(text, "hubnet_peer_entries_received_total", {"peer": a.key})) >= 3
    assert _metric(text, "hubnet_store_map_bytes") > 0
    assert _metric(text, "hubnet_addressed_replies_kept_total") == 0
    # replication traffic (status sync.traffic): a's 3 offers were new here, messages went out
    assert _metric(text, "hubnet_sync_entries_new_total") >= 3
    assert _metric(text, "hubnet_sync_messages_sent_total") >= 1
    assert _metric(text, "hubnet_addressed_replies_refused_total", {"reason": "quota"}) == 0
    assert _metric(text, "hubnet_peer_requests_refused_total", {"peer": a.key}) == 0
    assert _metric(text, "hubnet_store_map_max_bytes") >= _metric(text, "hubnet_store_map_bytes")
    # a's offers reached b in committed write transactions: counted in b's histograms
    assert _metric(text, "hubnet_commit_seconds_count") >= 1
    assert _metric(text, "hubnet_batch_entries_count") >= 1
    assert _metric(text, "hubnet_batch_entries_bucket", {"le": "+Inf"}) == \
        _metric(text, "hubnet_batch_entries_count")
    assert "map grows up to 64.0 GiB" in b.ctl("--table", "status", json=False)

    port = free_port_pair()
    exp = subprocess.Popen([b.hubctl, "--socket", b.control_socket, "metrics", "--listen",
                            f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def scrape():
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    return r.read().decode()
            except urllib.error.URLError:
                return None
        served = wait_until(scrape, timeout=10, msg="the exporter never answered")
        _promtool_check(served)
        assert _metric(served, "hubnet_entries") == b.status()["entries"]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            raise AssertionError("/ should be 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        b.stop()
        down = scrape()
        _promtool_check(down)
        assert _metric(down, "hubnet_up") == 0
    finally:
        exp.terminate()
        assert exp.wait(timeout=10) == 0


def test_raw_output_for_pipes(hubs):
    """Piped list output is raw (tab-separated, full ids, whole titles, no header); --table
    forces the aligned table; --raw forces raw."""
    h = hubs(name="raw")
    title = "A very long title that an aligned table would certainly cut off at some width " * 2
    r = h.publish("offer", {"title": title.strip(), "country": "AT"}, key="long")
    raw = h.ctl("query", "--kind", "offer", json=False).splitlines()
    assert len(raw) == 1, raw
    cells = raw[0].split("\t")
    assert cells[0] == r["id"] and cells[1] == h.key and cells[-1] == title.strip(), cells
    table = h.ctl("--table", "query", "--kind", "offer", json=False).splitlines()
    assert table[0].startswith("ID") and r["id"][:8] in table[1] and r["id"] not in table[1]
    assert h.ctl("--raw", "heads", json=False).split("\t")[0] == h.key
    empty = h.ctl("query", "--kind", "request", json=False, check=False)
    assert empty.code == 0 and empty.stdout == "" and "no records" in empty.stderr


def test_peers_one_row_per_hub_and_a_stopped_peer_reads_down(hubs):
    """Two hubs that dial each other have two sessions each (out and in); `hubctl peers` shows
    one row per hub with both directions. When the peer stops, its inbound session reads down
    too (it used to read up for the minute an inbound session is kept), and the flap counts."""
    a, b = hubs.new("pa"), hubs.new("pb")
    first_run(a, b)
    link(a, b)
    start_all(a, b)

    def sessions():
        return {p["direction"]: p for p in a.call("peers")["peers"] if p["key"] == b.key}
    wait_until(lambda: {d: p["state"] for d, p in sessions().items()} == {"out": "up", "in": "up"},
               timeout=20, msg="a never had both sessions with b up")
    assert all(p["up_since"] > 0 and p["flaps"] == 0 for p in sessions().values())
    rows = [ln for ln in a.ctl("--table", "peers", json=False).splitlines()
            if ln.startswith(b.key[:8])]
    assert len(rows) == 1, rows
    assert re.search(r"\bup\s+up\s", rows[0]), rows[0]
    raw = [ln.split("\t") for ln in a.ctl("peers", json=False).splitlines()]
    assert [r[0] for r in raw] == [b.key], raw

    b.stop()
    wait_until(lambda: all(p["state"] == "down" for p in sessions().values())
               and len(sessions()) >= 1, timeout=30,
               msg="a stopped peer still reads up on a")
    assert sessions()["out"]["flaps"] == 1 and sessions()["out"]["up_since"] == 0
    rows = [ln for ln in a.ctl("--table", "peers", json=False).splitlines()
            if ln.startswith(b.key[:8])]
    assert re.search(r"\bdown\s+(down|-)\s", rows[0]), rows[0]


def test_terminal_output_neutralises_layout_controls(hubs):
    """Text from another hub may carry characters that reorder a terminal line (U+202E
    RIGHT-TO-LEFT OVERRIDE, isolates, direction marks) or break it (U+2028): hubctl's tables
    and field listings print '?' for each, in table and raw output alike."""
    h = hubs(name="bidi")
    hostile = ("Safe title \u202egnp.exe\u202c \u2066x\u2069 \u200f\u061c line\u2028two "
               "\u2029end")
    r = h.publish("offer", {"title": hostile, "country": "AT"}, key="bidi")
    bad = ["\u202e", "\u202c", "\u2066", "\u2069", "\u200f", "\u061c", "\u2028", "\u2029"]
    for args in (("--table", "query", "--kind", "offer"), ("query", "--kind", "offer"),
                 ("get", r["id"])):
        out = h.ctl(*args, json=False)
        assert "Safe title" in out, out
        assert not [c for c in bad if c in out], (args, out)
        assert "?gnp.exe?" in out, out
    # JSON output keeps the text as it is (escaped JSON, for scripts to judge)
    got = h.ctl("query", "--kind", "offer")
    assert got["records"][0]["record"]["title"] == hostile
