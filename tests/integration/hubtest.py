"""hubtest: a harness for integration tests that run real hubd processes.

The harness talks to hubd only through its public interfaces: the control socket
(CONTROL.md), hubctl, the config file and the log. It is meant for single-hub tests and for
multi-hub (federation) tests alike.

Binaries: ``HUBD`` and ``HUBCTL`` from the environment (ctest sets them to the build's
targets); otherwise ``build/hubd`` and ``build/hubctl`` in the source tree.

Typical use, with the ``hubs`` fixture of conftest.py (which stops every hub at teardown and
adds the tail of each hub's log to the report of a failed test)::

    def test_replicates(hubs):
        a = hubs(name="a")                       # started, control socket answers
        b = hubs(name="b", peers=[(a.endpoint, a.key)], allow=[a.key])
        r = a.request({"op": "publish", "kind": "offer", "record": {"title": "AI for SMEs"}})
        assert r["ok"], r
        wait_until(lambda: b.request({"op": "get", "id": r["id"]})["ok"], timeout=10,
                   msg="b never received a's offer")

Without pytest, use ``Hub`` directly (``with Hub() as h: ...`` starts and stops it).

Conventions:
- ``Hub.request()`` returns the parsed response whether ``ok`` is true or false: tests assert
  on it. ``Hub.call()`` asserts ``ok`` and returns the response.
- Nothing sleeps a fixed time: wait for a condition with ``wait_until``.
- Each hub gets its own data directory under /tmp (short, so that the control socket path
  stays under the 107-byte limit of Unix sockets). It is removed when the hub is cleaned up,
  unless the test failed or HUBTEST_KEEP=1 is set.
"""

from __future__ import annotations

import base64
import itertools
import json as jsonlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Callable, Iterable, NamedTuple, Optional, Sequence

SRC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Seconds a started hubd gets to answer "status" on its control socket.
START_TIMEOUT = 10.0
#: Seconds a hubd gets to exit after SIGTERM.
STOP_TIMEOUT = 10.0
#: Seconds a control request may take before the harness gives up.
REQUEST_TIMEOUT = 30.0
#: Longest control socket path the harness creates (the kernel limit is 107 bytes).
MAX_SOCKET_PATH = 100


def hubd_path() -> str:
    """Path of the hubd binary under test (env HUBD, else build/hubd)."""
    return os.environ.get("HUBD") or os.path.join(SRC_DIR, "build", "hubd")


def hubctl_path() -> str:
    """Path of the hubctl binary under test (env HUBCTL, else build/hubctl)."""
    return os.environ.get("HUBCTL") or os.path.join(SRC_DIR, "build", "hubctl")


def hubweb_path() -> str:
    """Path of the hubweb binary under test (env HUBWEB, else hubweb next to HUBD)."""
    return os.environ.get("HUBWEB") or os.path.join(os.path.dirname(hubd_path()), "hubweb")


# ---------------------------------------------------------------------------------------------
# Polling


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
               msg: str = "condition not met") -> Any:
    """Call pred() every `interval` seconds until it returns a truthy value, and return that
    value. After `timeout` seconds raise AssertionError(msg), naming the last value pred
    returned (or the exception it raised), so a failure says what was seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = pred()
        except (OSError, ValueError) as e:  # e.g. socket not there yet, half a JSON line
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{msg} (after {timeout:.1f} s; last: {_short(last)})")
        time.sleep(interval)


def _short(v: Any, n: int = 300) -> str:
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------------------------------------
# Ports

_ports_handed_out: set[int] = set()


def _port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_pair() -> int:
    """A port P on 127.0.0.1 such that P and P+1 are both free (hubd binds its ROUTER socket
    on P and its PUB socket on P+1). Found by binding port 0; ports already handed out by
    this process are skipped, so hubs of one test never collide with each other."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port >= 65535 or port in _ports_handed_out or port + 1 in _ports_handed_out:
            continue
        if _port_free(port) and _port_free(port + 1):
            _ports_handed_out.update((port, port + 1))
            return port
    raise RuntimeError("no two consecutive free TCP ports on 127.0.0.1")


# ---------------------------------------------------------------------------------------------
# Control socket


class ControlConnection:
    """One connection to a hub's control socket: newline-delimited JSON both ways.

    Use it for several requests on one connection, for raw (possibly malformed) lines, and
    for ``watch`` streams::

        with hub.connect() as c:
            assert c.request({"op": "watch", "kind": "offer"})["watching"]
            event = c.recv(timeout=5)
    """

    def __init__(self, path: str, timeout: float = REQUEST_TIMEOUT):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self._buf = b""

    def send(self, obj: Any) -> None:
        """Send one request: a dict (encoded as one JSON line) or bytes/str sent as they are
        (a newline is added if missing)."""
        if isinstance(obj, (bytes, bytearray)):
            line = bytes(obj)
        elif isinstance(obj, str):
            line = obj.encode()
        else:
            line = jsonlib.dumps(obj, separators=(",", ":")).encode()
        if not line.endswith(b"\n"):
            line += b"\n"
        self.sock.sendall(line)

    def recv_line(self, timeout: Optional[float] = None) -> bytes:
        """The next line from hubd, without its newline. Raises TimeoutError (socket.timeout)
        if none arrives in time and EOFError if hubd closed the connection."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        while b"\n" not in self._buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError(f"hubd closed the control connection ({len(self._buf)} bytes pending)")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def recv(self, timeout: Optional[float] = None) -> Any:
        """The next JSON object from hubd."""
        return jsonlib.loads(self.recv_line(timeout))

    def request(self, obj: Any, timeout: Optional[float] = None) -> Any:
        """Send one request and return hubd's parsed response."""
        self.send(obj)
        return self.recv(timeout)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "ControlConnection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class CtlResult(NamedTuple):
    """What a hubctl run gave: exit code, stdout and stderr (text)."""
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON: one object, or a list if there are several lines."""
        return parse_json_lines(self.stdout)


def parse_json_lines(text: str) -> Any:
    """Parse hubctl --json output: one JSON object per line. One line gives the object,
    several give a list of objects. Lines end at "\n" only: str.splitlines would also cut at
    U+2028 and U+2029, which JSON strings may hold unescaped."""
    objs = [jsonlib.loads(line) for line in text.split("\n") if line.strip()]
    if len(objs) == 1:
        return objs[0]
    return objs


class HubError(AssertionError):
    """A hub did not do what the harness needed (start, answer, stop cleanly)."""


# ---------------------------------------------------------------------------------------------
# The hub


class Hub:
    """One hubd process with its own data dir, config file, control socket and ports.

    Constructor arguments (all optional; every one ends up in the generated config file):
      name            label used in file names and reports
      data_dir        reuse an existing data dir (e.g. another Hub's) instead of a new one
      control_socket  socket path (default <data_dir>/hubd.sock, kept < 100 bytes; with a
                      shared data_dir, hubd.sock in this Hub's own run dir)
      port            sync ROUTER port; PUB is port+1 (default: a free pair)
      interval        [sync] interval, seconds between anti-entropy rounds (default 1)
      policy          [sync] policy: trust, allowlist, endorsed or open (default here:
                      allowlist, the default hubd had before policy trust, so that a test that
                      counts what replicates says so when it wants the web of trust; None:
                      hubd's default, trust, as a new user's hub runs)
      hops            [sync] hops for policy = endorsed or trust
      peers           [peers] peer lines: (endpoint, key) pairs or "endpoint key" strings
      allow           [policy] allow lines: hub keys
      sweep_interval  [hub] sweep_interval, seconds between expiry sweeps
      own_recovery_wait  [hub] own_recovery_wait (default 0 here, not hubd's 30: most tests
                      restart hubs with peers and publish at once; None: hubd's default)
      log_level       [log] level (default debug)
      log_format      [log] format: text or json (default: hubd's)
      extra           more keys: {"section": {"key": value or [values]}}
      config_text     replace the whole generated config with this text
      args            extra command-line arguments for hubd

    After start(): `key` (hub key, 64 hex), `endpoint` (tcp://127.0.0.1:PORT), `pid`.
    The attributes of the same names (peers, allow, policy, ...) may be changed between runs:
    start() and restart() write the config file again.
    """

    _counter = itertools.count(1)

    def __init__(self, name: Optional[str] = None, *, data_dir: Optional[str] = None,
                 control_socket: Optional[str] = None, port: Optional[int] = None,
                 interval: Optional[int] = 1, policy: Optional[str] = "allowlist",
                 hops: Optional[int] = None, peers: Iterable[Any] = (),
                 allow: Iterable[str] = (), sweep_interval: Optional[int] = None,
                 own_recovery_wait: Optional[int] = 0,
                 log_level: Optional[str] = "debug", log_format: Optional[str] = None,
                 extra: Optional[dict] = None, config_text: Optional[str] = None,
                 args: Sequence[str] = (), hubd: Optional[str] = None,
                 hubctl: Optional[str] = None):
        self.name = name or f"hub{next(Hub._counter)}"
        self.hubd = hubd or hubd_path()
        self.hubctl = hubctl or hubctl_path()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix=f"hubt-{self.name[:12]}-", dir="/tmp")
        # Files of this Hub object (config, log) live in their own directory so that two Hub
        # objects may share a data dir (the "second hubd on one data dir" case).
        self.run_dir = self.data_dir if self._own_dir else tempfile.mkdtemp(
            prefix=f"hubt-{self.name[:12]}-run-", dir="/tmp")
        self._own_run_dir = not self._own_dir
        if control_socket is None:
            control_socket = os.path.join(self.run_dir, "hubd.sock")
        if len(control_socket.encode()) >= MAX_SOCKET_PATH:
            raise ValueError(f"control socket path too long: {control_socket}")
        self.control_socket = control_socket
        self.port = port if port is not None else free_port_pair()
        self.interval = interval
        self.policy = policy
        self.hops = hops
        self.peers = [p if isinstance(p, str) else f"{p[0]} {p[1]}" for p in peers]
        self.allow = list(allow)
        self.sweep_interval = sweep_interval
        self.own_recovery_wait = own_recovery_wait
        self.log_level = log_level
        self.log_format = log_format
        self.extra = extra or {}
        self.config_text = config_text
        self.args = list(args)
        self.config_path = os.path.join(self.run_dir, "hubd.conf")
        self.log_path = os.path.join(self.run_dir, "hubd.log")
        self.proc: Optional[subprocess.Popen] = None
        self.sigterms_sent = 0  # SIGTERMs the harness sent, to spot foreign ones
        self.exit_codes: list[int] = []  # every exit code seen, in order
        self.unexpected_exit: Optional[str] = None
        self._key: Optional[str] = None
        self._log_file = None
        self._exit_noted = False

    # -- config ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """This hub's sync (ROUTER) endpoint, for other hubs' [peers] and peer_add."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def pub_endpoint(self) -> str:
        """This hub's PUB endpoint (listen port + 1)."""
        return f"tcp://127.0.0.1:{self.port + 1}"

    def config(self) -> str:
        """The config file text this hub runs with."""
        if self.config_text is not None:
            return self.config_text
        sections: dict[str, list[tuple[str, Any]]] = {
            "hub": [("data_dir", self.data_dir), ("control_socket", self.control_socket)],
            "log": [],
            "sync": [("listen", self.endpoint)],
            "peers": [("peer", p) for p in self.peers],
            "policy": [("allow", k) for k in self.allow],
        }
        if self.sweep_interval is not None:
            sections["hub"].append(("sweep_interval", self.sweep_interval))
        if self.own_recovery_wait is not None:
            sections["hub"].append(("own_recovery_wait", self.own_recovery_wait))
        if self.log_level is not None:
            sections["log"].append(("level", self.log_level))
        if self.log_format is not None:
            sections["log"].append(("format", self.log_format))
        if self.interval is not None:
            sections["sync"].append(("interval", self.interval))
        if self.policy is not None:
            sections["sync"].append(("policy", self.policy))
        if self.hops is not None:
            sections["sync"].append(("hops", self.hops))
        for sec, kv in self.extra.items():
            for k, v in kv.items():
                for item in (v if isinstance(v, (list, tuple)) else [v]):
                    sections.setdefault(sec, []).append((k, item))
        out = [f"# generated by hubtest for hub {self.name}"]
        for sec, kv in sections.items():
            if not kv:
                continue
            out.append(f"[{sec}]")
            out += [f"{k} = {v}" for k, v in kv]
        return "\n".join(out) + "\n"

    def write_config(self) -> None:
        with open(self.config_path, "w") as f:
            f.write(self.config())

    def command(self) -> list[str]:
        return [self.hubd, "--config", self.config_path] + self.args

    # -- process --------------------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait: bool = True, timeout: float = START_TIMEOUT) -> "Hub":
        """Write the config and start hubd, its stdout and stderr appended to the log file.
        With wait, return once the control socket answers "status"; raise HubError (with the
        log's tail) if hubd exits or does not answer within `timeout` seconds."""
        if self.running():
            raise HubError(f"{self.name}: already running (pid {self.pid})")
        self.write_config()
        self._log_file = open(self.log_path, "ab")
        self.unexpected_exit = None
        self._exit_noted = False
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     cwd=self.run_dir)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll the control socket until "status" answers ok."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                self._note_exit()
                raise HubError(f"{self.name}: hubd exited with {self.proc.returncode} during "
                               f"start-up\n{self.log_tail()}")
            try:
                r = self.request({"op": "status"}, timeout=max(0.5, deadline - time.monotonic()))
                if r.get("ok"):
                    self._key = r.get("hub") or self._key
                    return
                last = r
            except (OSError, ValueError, EOFError) as e:
                last = e
            time.sleep(0.05)
        raise HubError(f"{self.name}: control socket {self.control_socket} did not answer status "
                       f"within {timeout} s (last: {_short(last)})\n{self.log_tail()}")

    def _note_exit(self) -> None:
        """Record the exit of the current process (once) and close the log file."""
        if self.proc is not None and self.proc.returncode is not None and not self._exit_noted:
            self.exit_codes.append(self.proc.returncode)
            self._exit_noted = True
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def signal(self, sig: int) -> None:
        """Send a signal to the running hubd (e.g. SIGSTOP / SIGCONT for fault tests)."""
        if not self.running():
            raise HubError(f"{self.name}: not running")
        self.proc.send_signal(sig)

    def stop(self, timeout: float = STOP_TIMEOUT, check: bool = True) -> int:
        """SIGTERM and wait. With check, assert exit code 0. Returns the exit code."""
        if self.proc is None:
            raise HubError(f"{self.name}: never started")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
            self.proc.terminate()
            self.sigterms_sent += 1
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._note_exit()
                raise HubError(f"{self.name}: hubd did not exit within {timeout} s of SIGTERM "
                               f"(killed)\n{self.log_tail()}")
        elif not self._exit_noted:
            self.unexpected_exit = self.unexpected_exit or (
                f"hubd had already exited with {self.proc.returncode} before stop()")
        self._note_exit()
        rc = self.proc.returncode
        if check and rc != 0:
            raise HubError(f"{self.name}: hubd exited with {rc} after SIGTERM, expected 0\n"
                           f"{self.log_tail()}")
        return rc

    def kill(self) -> int:
        """SIGKILL and wait; returns the exit code (-9)."""
        if self.proc is None:
            raise HubError(f"{self.name}: never started")
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._note_exit()
        return self.proc.returncode

    def restart(self, kill: bool = False, timeout: float = START_TIMEOUT) -> "Hub":
        """Stop (SIGTERM, exit 0 asserted; or SIGKILL with kill=True) and start again."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start(timeout=timeout)

    def run_to_exit(self, timeout: float = START_TIMEOUT, args: Sequence[str] = ()) -> tuple[int, str]:
        """Run hubd with this hub's config in the foreground until it exits, for start-up
        failures (bad key file, locked data dir). Returns (exit code, its output). Fails if
        hubd is still running after `timeout` seconds."""
        self.write_config()
        try:
            p = subprocess.run(self.command() + list(args), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout,
                               cwd=self.run_dir)
        except subprocess.TimeoutExpired as e:
            raise HubError(f"{self.name}: hubd still running after {timeout} s, expected it to "
                           f"exit; output: {e.output!r} {e.stderr!r}")
        return p.returncode, p.stdout + p.stderr

    def cleanup(self, keep: bool = False) -> Optional[str]:
        """Stop hubd if it runs (SIGTERM, then SIGKILL), remove the hub's directories unless
        keep or HUBTEST_KEEP=1. Returns a problem description if hubd did not exit cleanly
        or had died before, else None."""
        problem = self.unexpected_exit
        for w in getattr(self, "webs", []):  # hubweb (start_web) first: it talks to hubd
            rc = w.stop(check=False)
            if rc != 0 and problem is None:
                problem = f"hubweb exited with {rc} on SIGTERM at teardown"
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.stop(check=False)
                except HubError as e:
                    problem = problem or str(e).splitlines()[0]
                if self.proc.returncode != 0 and problem is None:
                    problem = f"hubd exited with {self.proc.returncode} on SIGTERM at teardown"
                problem = problem or self.unexpected_exit
            else:
                if not self._exit_noted and problem is None:
                    problem = (f"hubd died unexpectedly (exit code {self.proc.returncode}) "
                               f"before teardown")
                self._note_exit()
        if not keep:
            self.remove_dirs()
        return problem

    def remove_dirs(self) -> None:
        """Remove the directories this Hub created (not a data dir it was given), unless
        HUBTEST_KEEP=1. Only once hubd has exited."""
        if self.running() or os.environ.get("HUBTEST_KEEP") == "1":
            return
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> "Hub":
        if not self.running():
            self.start()
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        problem = self.cleanup(keep=exc_type is not None)
        if problem and exc_type is None:
            raise HubError(f"{self.name}: {problem}")

    # -- control socket -------------------------------------------------------------------

    def connect(self, timeout: float = REQUEST_TIMEOUT) -> ControlConnection:
        """A new connection to the control socket (close it, or use `with`)."""
        return ControlConnection(self.control_socket, timeout)

    def request(self, obj: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Send one request (dict, or a raw bytes/str line) on a fresh connection and return
        the parsed response, successful or not."""
        with self.connect(timeout) as c:
            return c.request(obj, timeout)

    def call(self, op: str, **fields: Any) -> Any:
        """request({"op": op, **fields}), asserting that hubd answered ok."""
        r = self.request({"op": op, **fields})
        if not r.get("ok"):
            raise AssertionError(f"{self.name}: {op} failed: {r}")
        return r

    def status(self) -> dict:
        return self.call("status")

    @property
    def key(self) -> str:
        """This hub's key (64 hex digits), from the "id" call (cached)."""
        if self._key is None:
            self._key = self.call("id")["hub"]
        return self._key

    # Record helpers (control socket), for brevity in tests.

    def publish(self, kind: str, record: dict, key: Optional[str] = None,
                expires: Any = None) -> dict:
        """Publish one record over the control socket, asserting success."""
        req: dict[str, Any] = {"op": "publish", "kind": kind, "record": record}
        if key is not None:
            req["key"] = key
        if expires is not None:
            req["expires"] = expires
        r = self.request(req)
        if not r.get("ok"):
            raise AssertionError(f"{self.name}: publish {kind} failed: {r}")
        return r

    def query(self, **filters: Any) -> list[dict]:
        """Every current record matching the filters (follows cursors), newest first."""
        out: list[dict] = []
        req: dict[str, Any] = {"op": "query", **filters}
        while True:
            r = self.request(req)
            if not r.get("ok"):
                raise AssertionError(f"{self.name}: query {filters} failed: {r}")
            out += r["records"]
            if "next" not in r:
                return out
            req["cursor"] = r["next"]

    def get(self, entry_id: str) -> dict:
        return self.request({"op": "get", "id": entry_id})

    def wire(self, entry_id: str) -> bytes:
        """The signed entry's exact bytes (decoded from get's base64 `wire`)."""
        r = self.call("get", id=entry_id)
        return base64.b64decode(r["wire"])

    # -- hubctl ---------------------------------------------------------------------------

    def ctl(self, *args: str, json: bool = True, check: bool = True, input: Optional[str] = None,
            timeout: float = REQUEST_TIMEOUT, socket_path: Optional[str] = None) -> Any:
        """Run hubctl --socket <this hub's socket> [--json] ARGS.

        check=True: assert exit code 0 and return the parsed JSON output (json=True; one
        object, or a list for several lines) or stdout text (json=False).
        check=False: return CtlResult(code, stdout, stderr) whatever the exit code."""
        cmd = [self.hubctl, "--socket", socket_path or self.control_socket]
        if json:
            cmd.append("--json")
        cmd += list(args)
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        res = CtlResult(p.returncode, p.stdout, p.stderr)
        if not check:
            return res
        if p.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(cmd[1:])} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return res.json() if json else p.stdout

    # -- log ------------------------------------------------------------------------------

    def log_text(self) -> str:
        """Everything this hub's hubd processes wrote (all runs), as text."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self) -> list[str]:
        return self.log_text().splitlines()

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_lines()
        head = (f"--- last {min(n, len(lines))} of {len(lines)} log lines of {self.name} "
                f"({self.log_path}) ---\n")
        got = sum("received SIGTERM" in line for line in lines)
        if got > self.sigterms_sent:
            head += (f"NOTE: hubd logged {got} SIGTERM(s), the harness sent {self.sigterms_sent}: "
                     f"another process signalled it (pkill/killall hubd?)\n")
        return head + "\n".join(lines[-n:])

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the log contains `text`; return the first line containing it."""
        def find() -> Optional[str]:
            for line in self.log_lines():
                if text in line:
                    return line
            return None
        return wait_until(find, timeout, msg=f"{self.name}: log never showed {text!r}")

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running() else "stopped"
        return f"<Hub {self.name} {self.endpoint} {state} {self.data_dir}>"


# ---------------------------------------------------------------------------------------------
# Factory (the pytest fixture wraps it; usable on its own too)


def first_run(*hs: "Hub") -> None:
    """Start the hubs once without peers, so that each generates its identity (hub.key is then
    known), and stop them again (exit 0 asserted). The caller then sets peers/allow and starts
    them with start_all."""
    for h in hs:
        h.start(wait=False)
    for h in hs:
        h.wait_ready()
        assert h.key and len(h.key) == 64, h.key
    for h in hs:
        h.stop()


def start_all(*hs: "Hub") -> None:
    for h in hs:
        h.start(wait=False)
    for h in hs:
        h.wait_ready()


def link(a: "Hub", b: "Hub") -> None:
    """Configure a and b as peers of each other (config of the next start)."""
    a.peers.append(f"{b.endpoint} {b.key}")
    b.peers.append(f"{a.endpoint} {a.key}")


class HubFactory:
    """Creates hubs and cleans all of them up. `factory(**kw)` makes a Hub and starts it;
    `factory.new(**kw)` makes one without starting it; `factory.many(n, **kw)` starts n."""

    def __init__(self) -> None:
        self.hubs: list[Hub] = []

    def new(self, name: Optional[str] = None, **kw: Any) -> Hub:
        h = Hub(name, **kw)
        self.hubs.append(h)
        return h

    def __call__(self, name: Optional[str] = None, **kw: Any) -> Hub:
        return self.new(name, **kw).start()

    def many(self, n: int, prefix: str = "hub", **kw: Any) -> list[Hub]:
        made = [self.new(f"{prefix}{i}", **kw) for i in range(n)]
        for h in made:
            h.start(wait=False)
        for h in made:
            h.wait_ready()
        return made

    def log_tails(self, n: int = 40) -> list[tuple[str, str]]:
        return [(h.name, h.log_tail(n)) for h in self.hubs]

    def cleanup(self, keep: bool = False) -> list[str]:
        """Stop every hub (in reverse order of creation); returns the problems seen."""
        problems = []
        for h in reversed(self.hubs):
            try:
                p = h.cleanup(keep=keep)
            except Exception as e:  # never let one hub stop the cleanup of the others
                p = f"cleanup failed: {e}"
                if h.proc is not None and h.proc.poll() is None:
                    h.proc.kill()
                    h.proc.wait()
            if p:
                problems.append(f"{h.name}: {p}")
        return problems

    def remove_dirs(self) -> None:
        for h in self.hubs:
            h.remove_dirs()


# ---------------------------------------------------------------------------------------------
# Wire format (PROTOCOL.md; proto/entry.proto): a minimal, independent protobuf codec, enough
# to take signed entries apart, tamper with them and check them with PyNaCl.

SIGN_PREFIX = b"hubnet/entry/v1\x00"
KINDS = {1: "profile", 2: "offer", 3: "request", 4: "response", 5: "retraction", 6: "endorsement"}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _put_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Decode one protobuf message into (field number, wire type, value) triples, in order:
    varints as int, length-delimited fields as bytes, fixed64/fixed32 as bytes."""
    out = []
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append((num, wt, v))
    return out


def pb_bytes_field(num: int, value: bytes) -> bytes:
    return _put_varint(num << 3 | 2) + _put_varint(len(value)) + value


class SignedEntry(NamedTuple):
    header: bytes
    signature: bytes
    payload: bytes

    @classmethod
    def decode(cls, wire: bytes) -> "SignedEntry":
        f = {num: v for num, wt, v in pb_fields(wire) if wt == 2}
        return cls(f.get(1, b""), f.get(2, b""), f.get(3, b""))

    def encode(self) -> bytes:
        out = pb_bytes_field(1, self.header) + pb_bytes_field(2, self.signature)
        if self.payload:
            out += pb_bytes_field(3, self.payload)
        return out

    def b64(self) -> str:
        return base64.b64encode(self.encode()).decode()

    def fields(self) -> dict:
        """The Entry header's fields by name (bytes as hex, kind as its name)."""
        names = {1: "version", 2: "author", 3: "seq", 4: "prev", 5: "timestamp", 6: "kind",
                 7: "key", 8: "payload_hash", 9: "payload_size", 10: "expires"}
        out: dict[str, Any] = {"version": 0, "seq": 0, "prev": "", "timestamp": 0, "kind": None,
                               "key": "", "payload_size": 0, "expires": 0}
        for num, wt, v in pb_fields(self.header):
            name = names.get(num, str(num))
            if num == 7:
                v = v.decode()
            elif num == 6:
                v = KINDS.get(v, v)
            elif isinstance(v, bytes):
                v = v.hex()
            out[name] = v
        return out

    def entry_id(self) -> str:
        """BLAKE2b-256 of the header bytes, hex (needs PyNaCl)."""
        from nacl.encoding import RawEncoder
        from nacl.hash import blake2b
        return blake2b(self.header, digest_size=32, encoder=RawEncoder).hex()

    def verify(self) -> bool:
        """Whether the signature is the author's over SIGN_PREFIX || header (needs PyNaCl)."""
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey
        author = bytes.fromhex(self.fields()["author"])
        try:
            VerifyKey(author).verify(SIGN_PREFIX + self.header, self.signature)
            return True
        except BadSignatureError:
            return False


def is_sanitized(path: Optional[str] = None) -> bool:
    """Whether a binary (default: hubd under test) was built with AddressSanitizer or
    UndefinedBehaviorSanitizer (scripts/build --asan), e.g. for xfail(condition=...)."""
    try:
        with open(path or hubd_path(), "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__ubsan_handle" in data


# ---------------------------------------------------------------------------------------------
# hubweb: the hub's web pages (issue 13), a separate process on the hub's control socket


class WebResponse(NamedTuple):
    status: int
    headers: Any  # email.message.Message: case-insensitive .get(name), .get_all(name)
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Web:
    """One hubweb process serving `hub` (a Hub; its config file and control socket) on a free
    port of 127.0.0.1. `web` holds [web] keys for hubweb's own config file (catalogue,
    session_ttl, signin_attempts, threads, listen), `args` extra command-line arguments.

        w = Web(hub).start()           # returns once GET / answers
        r = w.get("/?q=ai")            # WebResponse(status, headers, body); no exception on 4xx
        r = w.post("/signin", {"token": t}, cookies=...)
        w.stop()                       # SIGTERM; asserts exit 0 (check=False: no assert)

    Plain HTTP with urllib: no redirect is followed (a 303 comes back as it is), so a test sees
    every status and header hubweb sends. Use start_web() with the `hubs` fixture: the Web is
    registered on the hub and stopped when the fixture stops the hubs."""

    def __init__(self, hub: "Hub", *, web: Optional[dict] = None, args: Sequence[str] = (),
                 hubweb: Optional[str] = None, log_level: str = "debug"):
        self.hub = hub
        self.hubweb = hubweb or hubweb_path()
        self.port = free_port_pair()
        self.web = dict(web or {})
        self.args = list(args)
        self.log_level = log_level
        self.config_path = os.path.join(hub.run_dir, f"hubweb-{self.port}.conf")
        self.log_path = os.path.join(hub.run_dir, f"hubweb-{self.port}.log")
        self.proc: Optional[subprocess.Popen] = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """hubweb's config: the hub's [hub] paths and this Web's [web] keys (a config file of
        its own, so a test can change [web] without restarting hubd)."""
        lines = ["# generated by hubtest for hubweb", "[hub]", f"data_dir = {self.hub.data_dir}",
                 f"control_socket = {self.hub.control_socket}", "[log]",
                 f"level = {self.log_level}", "[web]", f"listen = 127.0.0.1:{self.port}"]
        lines += [f"{k} = {v}" for k, v in self.web.items() if k != "listen"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = START_TIMEOUT) -> "Web":
        with open(self.config_path, "w") as f:
            f.write(self.config())
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.hubweb, "--config", self.config_path] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, cwd=self.hub.run_dir)
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError(f"hubweb exited with {self.proc.returncode} during start-up\n"
                               f"{self.log_tail()}")
            try:
                self.get("/assets/app.css", timeout=1.0)
                return self
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise HubError(f"hubweb did not answer on {self.url} within {timeout} s ({last})\n"
                       f"{self.log_tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT, check: bool = True) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if check and rc != 0:
            raise HubError(f"hubweb exited with {rc}\n{self.log_tail()}")
        return rc

    def log_text(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def request(self, method: str, path: str, data: Optional[Any] = None,
                headers: Optional[dict] = None, timeout: float = REQUEST_TIMEOUT) -> WebResponse:
        """One HTTP request. data: a dict or list of pairs (sent urlencoded) or bytes."""
        import http.client
        import urllib.parse
        body = None
        hdrs = dict(headers or {})
        if data is not None:
            body = data if isinstance(data, bytes) else urllib.parse.urlencode(data, doseq=True).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return WebResponse(r.status, r.msg, r.read())
        finally:
            conn.close()

    def get(self, path: str, headers: Optional[dict] = None, **kw: Any) -> WebResponse:
        return self.request("GET", path, headers=headers, **kw)

    def post(self, path: str, data: Any, headers: Optional[dict] = None, **kw: Any) -> WebResponse:
        return self.request("POST", path, data=data, headers=headers, **kw)


def start_web(hub: "Hub", **kw: Any) -> Web:
    """Start hubweb for hub; it is stopped with the hub by the `hubs` fixture's cleanup
    (Hub.cleanup stops the Webs in hub.webs first)."""
    w = Web(hub, **kw)
    if not hasattr(hub, "webs"):
        hub.webs = []
    hub.webs.append(w)
    return w.start()
