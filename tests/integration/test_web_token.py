"""The hubweb sign-in secret (issue 13 item 3, CONTROL.md "web_token"): hubd makes it on first
use, keeps it in the data dir (mode 0600) across restarts, and a rotation makes a new one with
the next generation (the number hubweb keeps in each session, so a rotation ends them). hubctl
web-token prints it. A damaged file or one others may read is refused, never replaced quietly."""

import os
import re
import stat

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_file(hub):
    return os.path.join(hub.data_dir, "web.token")


def test_made_on_first_use_kept_across_restart(hubs):
    hub = hubs("tok")
    assert not os.path.exists(token_file(hub))
    first = hub.call("web_token")
    assert TOKEN.match(first["token"]) and first["generation"] == 1
    mode = stat.S_IMODE(os.stat(token_file(hub)).st_mode)
    assert mode == 0o600, oct(mode)
    assert hub.call("web_token")["token"] == first["token"]
    hub.restart()
    again = hub.call("web_token")
    assert (again["token"], again["generation"]) == (first["token"], 1)
    # hubctl prints the token alone (to paste into /signin), --json the whole answer
    assert hub.ctl("web-token", json=False).strip() == first["token"]
    assert hub.ctl("web-token")["generation"] == 1
    # the secret never reaches the log
    assert first["token"] not in hub.log_text()


def test_rotate_changes_token_and_generation(hubs):
    hub = hubs("rot")
    first = hub.call("web_token")
    second = hub.call("web_token", rotate=True)
    assert second["token"] != first["token"] and second["generation"] == 2
    res = hub.ctl("web-token", "--rotate", json=False, check=False)
    assert res.code == 0, res
    third = res.stdout.strip()
    assert TOKEN.match(third) and third not in (first["token"], second["token"])
    assert "generation 3" in res.stderr
    hub.restart()
    kept = hub.call("web_token")
    assert (kept["token"], kept["generation"]) == (third, 3)
    assert stat.S_IMODE(os.stat(token_file(hub)).st_mode) == 0o600
    assert not os.path.exists(token_file(hub) + ".tmp")
    assert hub.call("web_token", rotate=False)["generation"] == 3
    bad = hub.request({"op": "web_token", "rotate": "yes"})
    assert bad["error"]["code"] == "E_TYPE" and bad["error"]["field"] == "rotate"
    usage = hub.ctl("web-token", "--help", json=False)
    assert "--rotate" in usage


def test_readable_or_damaged_file_refused(hubs):
    hub = hubs("bad")
    tok = hub.call("web_token")["token"]
    os.chmod(token_file(hub), 0o644)
    r = hub.request({"op": "web_token"})
    assert r["error"]["code"] == "E_CONFIG", r
    assert tok not in r["error"]["message"]
    hub.wait_log("chmod 600")
    # rotating does not paper over it either: the operator decides
    assert hub.request({"op": "web_token", "rotate": True})["error"]["code"] == "E_CONFIG"
    os.chmod(token_file(hub), 0o600)
    assert hub.call("web_token")["token"] == tok
    with open(token_file(hub), "w") as f:
        f.write("1 short\n")
    assert hub.request({"op": "web_token"})["error"]["code"] == "E_CONFIG"
    hub.wait_log("is damaged")
    os.unlink(token_file(hub))
    fresh = hub.call("web_token")
    assert fresh["generation"] == 1 and fresh["token"] != tok
