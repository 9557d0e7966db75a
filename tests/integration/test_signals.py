"""Signals (issue 9, item 6; README, "Signals"): SIGHUP reloads the config file, a bad file is
reported as FILE:LINE and the hub keeps running on the old config, SIGUSR1 logs a summary,
SIGUSR2 is ignored with a log line, and every signal that ends hubd is logged, exits 0 and
removes the control socket. Real hubd processes, real signals, the log and the control socket.
"""

import os
import signal

import pytest

from hubtest import wait_until


def peer_keys(h) -> set[str]:
    return {p["key"] for p in h.call("peers")["peers"] if p["direction"] == "out"}


def test_sighup_adds_peer_changes_level_and_removes_peer(hubs):
    a = hubs(name="a", policy="open")
    b = hubs(name="b", log_level="info")
    assert peer_keys(b) == set()
    b.peers = [f"{a.endpoint} {a.key}"]
    b.log_level = "debug"
    b.extra = {"hub": {"control_idle_timeout": 7}}
    b.write_config()
    b.signal(signal.SIGHUP)
    b.wait_log("reload done")
    b.wait_log(f"reload: peers.peer added: {a.endpoint} {a.key}")
    b.wait_log("reload: log.level info -> debug")
    b.wait_log("reload: hub.control_idle_timeout 30 -> 7")
    wait_until(lambda: a.key in peer_keys(b), timeout=20, msg="b never dialed a after SIGHUP")
    wait_until(lambda: any(p["key"] == a.key and p["state"] == "up"
                           for p in b.call("peers")["peers"]),
               timeout=30, msg="the peer added by SIGHUP never came up")
    assert b.status()["control"]["idle_timeout_s"] == 7
    # The new level is in force: a publish now logs its debug line.
    n = len(b.log_lines())
    b.publish("offer", {"title": "debug now"})
    wait_until(lambda: any(" DEBUG " in l for l in b.log_lines()[n:]), timeout=30,
               msg="no debug line after log.level became debug")
    # Replicates: a's record reaches b through the peer added at run time.
    r = a.publish("offer", {"title": "after reload"})
    wait_until(lambda: b.get(r["id"]).get("ok"), timeout=30, msg="b never got a's record")

    # Removing the peer from the file drops it.
    b.peers = []
    b.write_config()
    b.signal(signal.SIGHUP)
    b.wait_log(f"reload: peers.peer removed: {a.endpoint} {a.key}")
    wait_until(lambda: a.key not in peer_keys(b), timeout=20,
               msg="the peer removed from the file is still there")


def test_sighup_restart_only_key_is_reported(hubs):
    h = hubs(name="rs", log_level="info")
    h.extra = {"hub": {"control_max_clients": 9}}
    h.write_config()
    h.signal(signal.SIGHUP)
    h.wait_log("reload done: 0 change(s) applied")
    h.wait_log("reload: hub.control_max_clients changed in the file; it takes effect at the next "
               "start")
    assert h.status()["control"]["max_clients"] == 64


def test_sighup_bad_config_keeps_running(hubs):
    a = hubs(name="a2", policy="open")
    h = hubs(name="bad", log_level="info", peers=[f"{a.endpoint} {a.key}"])
    wait_until(lambda: a.key in peer_keys(h), timeout=20, msg="peer not dialed")
    good = h.config()
    lines = good.splitlines()
    bad = "\n".join(lines + ["[hub]", "no_such_key = 1"]) + "\n"
    with open(h.config_path, "w") as f:
        f.write(bad)
    h.signal(signal.SIGHUP)
    line = h.wait_log("unknown key 'no_such_key'")
    assert f"{h.config_path}:{len(lines) + 2}: unknown key 'no_such_key' in [hub]" in line, line
    h.wait_log("reload failed; still running on the previous configuration")
    # Still running on the old config: answers, keeps its peer, level unchanged.
    assert h.running()
    assert h.status()["ok"]
    assert a.key in peer_keys(h)
    # A bad value and an unreadable file are reported the same way.
    with open(h.config_path, "w") as f:
        f.write(good.replace("level = info", "level = loud"))
    n = good.splitlines().index("level = info") + 1
    h.signal(signal.SIGHUP)
    h.wait_log(f"{h.config_path}:{n}: log.level: expected one of error, warn, info, debug")
    os.unlink(h.config_path)
    h.signal(signal.SIGHUP)
    h.wait_log(f"{h.config_path}: No such file or directory")
    assert h.status()["ok"]
    # Fixed again: the reload goes through.
    h.write_config()
    h.signal(signal.SIGHUP)
    h.wait_log("reload done")
    assert h.running()


def test_sigusr1_logs_summary_sigusr2_ignored(hubs):
    h = hubs(name="usr", log_level="info")
    h.publish("offer", {"title": "one"})
    h.signal(signal.SIGUSR1)
    line = h.wait_log("SIGUSR1:")
    assert "1 entries" in line, line
    h.signal(signal.SIGUSR2)
    h.wait_log("SIGUSR2 received: ignored")
    assert h.running()
    assert h.status()["ok"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGALRM])
def test_ending_signal_is_logged_and_socket_removed(hubs, sig):
    h = hubs(name="end", log_level="info")
    assert os.path.exists(h.control_socket)
    if sig == signal.SIGTERM:
        h.sigterms_sent += 1
    h.signal(sig)
    rc = h.proc.wait(timeout=20)
    h._note_exit()  # an exit the test asked for: not "died before teardown"
    assert rc == 0, h.log_tail()
    h.wait_log(f"received {signal.Signals(sig).name}, shutting down")
    h.wait_log(f"control socket {h.control_socket} removed")
    h.wait_log("stopped cleanly")
    assert not os.path.exists(h.control_socket)


def test_sighup_allow_admits_a_peer(hubs):
    """[policy] allow reloaded: a hub that refused a peer's connection admits it after SIGHUP
    adds the peer's key, and replicates its feed."""
    a = hubs(name="gate", log_level="info")  # allowlist: trusts nobody but itself
    b = hubs(name="dialer", peers=[(a.endpoint, a.key)], allow=[a.key])
    r = b.publish("offer", {"title": "let me in"})
    # a does not know b: its feed is not stored there.
    assert not a.get(r["id"]).get("ok")
    a.allow = [b.key]
    a.write_config()
    a.signal(signal.SIGHUP)
    a.wait_log(f"reload: policy.allow added: {b.key}")
    wait_until(lambda: a.get(r["id"]).get("ok"), timeout=30,
               msg="a never admitted b's feed after allowing it")
