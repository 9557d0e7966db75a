"""hubweb serves requests on a bounded pool of threads ([web] threads, README "The web pages"):
a page whose control call waits on a slow hubd holds one worker, not the whole server, and a
slow visitor holds none.

hubd is made slow for real: SIGSTOP. Its control socket still takes connections and bytes
(the kernel queues them) and answers nothing, so every page that asks hubd waits in its
handler for WEB_CTL_TIMEOUT_MS (10 s). The calls waiting there are counted in those kernel
queues with ss(8) (iproute2), so the test knows that a request holds a worker before it sends
the next one: no sleeps, no timing assertions."""

import select
import signal
import socket
import subprocess

from hubtest import hubweb_path, start_web, wait_until

DEFAULT_THREADS = 4  # [web] threads when the config does not set it (config/hubd.conf)
HELD_WAIT_S = 5.0    # well under hubweb's 10 s control timeout, which would free the worker


def pending_calls(path):
    """Control calls waiting at hubd's socket `path`: connections it has not accepted (the
    listening socket's Recv-Q is its accept queue) plus accepted ones with unread bytes."""
    out = subprocess.run(["ss", "-x", "-a", "-n"], capture_output=True, text=True,
                         check=True).stdout
    n = 0
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) < 5 or f[4] != path:
            continue
        if f[1] == "LISTEN":
            n += int(f[2])
        elif f[1] == "ESTAB" and int(f[2]) > 0:
            n += 1
    return n


def send_request(port, path):
    """A whole GET on a connection of its own; the answer is left unread."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    return s


def answered(s):
    """Some byte of an answer has arrived on s (never blocks)."""
    return bool(select.select([s], [], [], 0)[0])


def read_status(s):
    """The status code of the answer on s (blocks up to the socket's timeout)."""
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\r\n", 1)[0].split()
    assert len(line) >= 2 and line[0].startswith(b"HTTP/"), data[:200]
    return int(line[1])


def hold_workers(hub, web, n):
    """n catalogue pages, each waiting for the stopped hubd in a worker of its own: each is
    sent once the one before is seen waiting at hubd's socket."""
    held = []
    for i in range(n):
        held.append(send_request(web.port, f"/?q=held{i}"))
        wait_until(lambda: pending_calls(hub.control_socket) >= i + 1, timeout=HELD_WAIT_S,
                   msg=f"held page {i + 1} of {n} never reached hubd: hubweb took no new request "
                       f"while {i} page(s) waited for hubd")
    return held


def test_slow_hubd_holds_one_worker_not_all(hubs):
    a = hubs(name="webthr")
    a.publish("offer", {"title": "Workshop on data spaces", "country": "AT",
                        "languages": ["de"]}, key="ws")
    w = start_web(a)  # [web] threads not set: the default pool
    assert w.get("/").status == 200  # the control connection is open and idle

    held = []
    a.signal(signal.SIGSTOP)
    try:
        held = hold_workers(a, w, DEFAULT_THREADS - 1)
        # The last free worker answers other visitors at once: an asset and a page of the
        # layout (a 404) need nothing from hubd.
        r = w.get("/assets/app.css")
        assert r.status == 200
        r = w.get("/no-such-page")
        assert r.status == 404 and '<main id="main">' in r.text
        # ... while every held page still waits (a single HTTP thread would have answered
        # these only after the held pages gave up on hubd)
        assert not [i for i, s in enumerate(held) if answered(s)]
        assert pending_calls(a.control_socket) >= DEFAULT_THREADS - 1
    finally:
        a.signal(signal.SIGCONT)
    # hubd answers again: each held page ends (200, or 502 if its wait ran out first), and the
    # workers and their control connections serve pages as before.
    for s in held:
        with s:
            assert read_status(s) in (200, 502)
    r = w.get("/?q=workshop")
    assert r.status == 200 and "Workshop on data spaces" in r.text
    assert w.get("/network").status == 200
    wait_until(lambda: f"{DEFAULT_THREADS} threads" in w.log_text(), timeout=10,
               msg="hubweb did not log its threads")


def test_threads_config(hubs):
    a = hubs(name="webthrcfg")
    w = start_web(a, web={"threads": 2})
    # the workers may answer before the main thread has written its start-up line
    wait_until(lambda: "2 threads" in w.log_text(), timeout=10,
               msg="hubweb did not log its threads")
    a.signal(signal.SIGSTOP)
    held = []
    try:
        held = hold_workers(a, w, 1)
        assert w.get("/assets/app.js").status == 200
        assert not answered(held[0])
    finally:
        a.signal(signal.SIGCONT)
    with held[0] as s:
        assert read_status(s) in (200, 502)
    assert w.get("/").status == 200

    # out of bounds or not a number: hubweb does not start, and says which key and why
    for bad in ("0", "33", "four"):
        conf = f"{a.run_dir}/hubweb-bad-threads.conf"
        with open(conf, "w") as f:
            f.write(f"[hub]\ndata_dir = {a.data_dir}\n[web]\nlisten = 127.0.0.1:1\n"
                    f"threads = {bad}\n")
        p = subprocess.run([hubweb_path(), "--config", conf], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 1, (bad, p.stdout, p.stderr)
        assert "web.threads: expected a whole number from 1 to 32" in p.stderr, p.stderr


def test_slow_visitors_hold_no_worker(hubs):
    """Visitors that send half a request, or a body that never ends, wait in libmicrohttpd's
    event loop, not in a worker: more of them than there are workers leave pages answering."""
    a = hubs(name="webslow")
    w = start_web(a, web={"threads": 2})
    slow = []
    try:
        for i in range(4):
            s = socket.create_connection(("127.0.0.1", w.port), timeout=30)
            if i % 2:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: te")  # no end of headers
            else:
                s.sendall(b"POST /signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                          b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
                          b"csrf=abc&tok")  # 12 of 1000 body bytes
            slow.append(s)
        r = w.get("/")
        assert r.status == 200
        assert not [i for i, s in enumerate(slow) if answered(s)]
    finally:
        for s in slow:
            s.close()


def test_concurrent_staff_and_signin_limit(hubs):
    """Workers share the session table, the sign-in limiter and the caches: pages of several
    signed-in sessions at once each see their own session, a flash goes to its own session
    only, and parallel wrong sign-ins from one address are limited to exactly
    signin_attempts (the count is not lost between workers)."""
    from concurrent.futures import ThreadPoolExecutor
    from test_web_staff import Browser, flash, signed_in

    a = hubs(name="webconc")
    a.publish("offer", {"title": "Workshop on data spaces", "country": "AT",
                        "languages": ["de"]}, key="ws")
    w = start_web(a, web={"threads": 4, "signin_attempts": 3})
    staff = [signed_in(w, a, {"X-Forwarded-For": f"192.0.2.{i}"}) for i in range(4)]
    for b in staff:
        assert flash(b.get("/staff").text) == "Signed in."  # each its own, once

    def visit(i):
        b = staff[i % len(staff)]
        pages = [b.get("/staff"), b.get(f"/?q=workshop&n={i}"), b.get("/network"),
                 w.get(f"/?country=AT&n={i}")]
        return [(r.status, 'action="/signout"' in r.text) for r in pages]

    with ThreadPoolExecutor(8) as ex:
        for res in ex.map(visit, range(32)):
            assert res[0] == (200, True), res  # the dashboard: signed in
            assert [s for s, _ in res] == [200] * 4, res

    # one session signs out while the others go on; its cookie no longer signs in
    gone = staff.pop()
    csrf = gone.csrf("/staff")
    assert gone.post("/signout", {"csrf": csrf}).status == 303
    assert gone.get("/staff").status == 303
    with ThreadPoolExecutor(4) as ex:
        assert list(ex.map(lambda b: b.get("/staff").status, staff * 4)) == [200] * 12

    # parallel wrong tokens from one forwarded address: exactly 3 are weighed, the rest 429
    def wrong(i):
        b = Browser(w, {"X-Forwarded-For": "198.51.100.7"})
        pre = b.csrf("/signin")
        return b.post("/signin", {"csrf": pre, "token": f"wrong-{i}"}).status

    with ThreadPoolExecutor(8) as ex:
        statuses = sorted(ex.map(wrong, range(10)))
    assert statuses == [403] * 3 + [429] * 7, statuses
