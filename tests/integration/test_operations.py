"""Operating a hub under systemd: the notify protocol (READY=1 once the sockets answer,
WATCHDOG=1 fed by the event loop, STOPPING=1 on shutdown), read from a real datagram socket
standing in for systemd's $NOTIFY_SOCKET."""
import os
import signal
import socket
import tempfile
import time

from hubtest import Hub, wait_until


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
