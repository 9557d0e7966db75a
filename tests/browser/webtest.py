"""webtest: the harness of the browser tests (issue 13): real hubd and hubweb processes, and a
headless Debian chromium driven through python3-selenium and /usr/bin/chromedriver.

Every page a test opens goes through ``Browser.visit`` (or ``Browser.check`` after a click or a
form post), which
  - keeps a screenshot as <build>/browser-artifacts/NAME.png (HUB_BROWSER_ARTIFACTS; CI keeps
    the build directory),
  - runs axe-core (the npm package scripts/deps installs into build/axe) in the page and keeps
    every violation of impact serious or critical (``Browser.assert_accessible`` fails on them,
    the ``browser`` fixture fails the test at teardown if any is left),
  - checks that no JavaScript dialog is open and that no payload set ``window.__pwned``,
  - checks the headers of every HTML document the browser received (chromium's performance
    log): Content-Security-Policy, X-Content-Type-Options, Referrer-Policy, as WEB_CONTRACT.md
    says every response has them.

Binaries: HUBD, HUBCTL (tests/integration/hubtest.py) and HUBWEB (default build/hubweb).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from hubtest import SRC_DIR, Hub, Web, WebResponse, hubweb_path, wait_until  # noqa: E402,F401

CHROMIUM = os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HUB_CHROMEDRIVER", "/usr/bin/chromedriver")
#: Seconds a page load or an async script (axe.run) may take.
PAGE_TIMEOUT = 30.0
#: Replication between two hubs ([sync] interval 1 s in hubtest): the deadline for a record to
#: show on the other hub's pages.
REPLICATION_TIMEOUT = 30.0
#: The axe impacts that fail a test (axe's four are minor, moderate, serious, critical).
AXE_FAILING = ("serious", "critical")
#: The CSP every hubweb response carries (WEB_CONTRACT.md, "URLs").
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def artifacts_dir() -> str:
    d = os.environ.get("HUB_BROWSER_ARTIFACTS") or os.path.join(SRC_DIR, "build",
                                                                 "browser-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


def axe_path() -> str:
    return os.environ.get("HUB_AXE_JS") or os.path.join(
        SRC_DIR, "build", "axe", "node_modules", "axe-core", "axe.min.js")


def free_port(host: str) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# hubweb


class HubWeb(Web):
    """hubtest's Web (one hubweb process serving one hub, its own config file and log), on a
    loopback address of its own: tests give each hub's hubweb another one (127.0.0.1,
    127.0.0.2, ...) so that the browser keeps their cookies apart (cookies ignore ports)."""

    def __init__(self, hub: Hub, host: str = "127.0.0.1", **kw: Any):
        super().__init__(hub, **kw)
        self.host = host
        self.port = free_port(host)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:  # type: ignore[override]
        return self.base + path

    def config(self) -> str:
        return super().config().replace(f"listen = 127.0.0.1:{self.port}",
                                        f"listen = {self.host}:{self.port}")

    def request(self, method: str, path: str, data: Any = None, headers: Optional[dict] = None,
                timeout: float = 30.0) -> Any:
        import http.client
        body = None
        hdrs = dict(headers or {})
        if data is not None:
            body = data if isinstance(data, bytes) else \
                urllib.parse.urlencode(data, doseq=True).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return WebResponse(r.status, r.msg, r.read())
        finally:
            conn.close()


def http_get(url: str, headers: Optional[dict] = None, timeout: float = 10
             ) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of a GET, errors (4xx, 5xx) included."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def web_token(hub: Hub) -> str:
    """The hub's web sign-in secret, as `hubctl web-token` prints it."""
    out = hub.ctl("web-token", json=False).strip()
    m = re.search(r"[A-Za-z0-9_-]{43}", out)
    assert m, f"hubctl web-token printed no 43-character token: {out!r}"
    return m.group(0)


# ---------------------------------------------------------------------------------------------
# The browser


def chromium_missing() -> Optional[str]:
    """Why the browser tests cannot run here, or None."""
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (Debian package {pkg}; scripts/deps installs it)"
    try:
        import selenium  # noqa: F401  (only: is it there)
    except ImportError:
        return "python3-selenium is not installed (scripts/deps installs it)"
    return None


def new_driver(langs: str = "en-GB,en", javascript: bool = True) -> Any:
    """A headless chromium whose requests carry Accept-Language for langs (comma-separated
    tags, most wanted first) and, with javascript False, that runs no script of any page
    (the content setting a site's visitor may choose; the driver's own commands still work)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--lang=" + langs.split(",")[0], "--no-first-run",
              "--disable-extensions", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"):
        o.add_argument(a)
    prefs: dict = {"intl.accept_languages": langs}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    o.add_experimental_option("prefs", prefs)
    # Response headers of every document, read from the DevTools network events.
    o.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # A dialog a payload opened stays open, so that check() sees it (the default dismisses it).
    o.set_capability("unhandledPromptBehavior", "ignore")
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(PAGE_TIMEOUT)
    d.set_script_timeout(PAGE_TIMEOUT)
    return d


AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map(n => ({target: n.target, html: n.html.slice(0, 200),
                                              summary: n.failureSummary}))}))),
  e => done({error: String(e)}));
"""


class Browser:
    """The session's chromium, with the per-page checks of this module."""

    def __init__(self, driver: Any, axe_js: str):
        self.d = driver
        self.axe_js = axe_js
        self.violations: list[tuple[str, str, dict]] = []  # (page name, url, violation)
        self.header_problems: list[str] = []
        self.pages: list[str] = []  # names of the screenshots taken, in order
        self._names: dict[str, int] = {}
        self.prefix = ""
        # axe runs in the page (asynchronously): not where the page's scripts are off. The same
        # pages are checked by the session's browser.
        self.run_axe = True

    # -- navigation -----------------------------------------------------------------------

    def visit(self, url: str, name: str) -> None:
        self.d.get(url)
        self.check(name)

    def check(self, name: str) -> None:
        """The checks of every page, on the page the browser shows now."""
        from selenium.common.exceptions import NoAlertPresentException
        try:
            alert = self.d.switch_to.alert
            text = alert.text
            alert.dismiss()
            raise AssertionError(f"{name}: a JavaScript dialog is open: {text!r} "
                                 f"({self.d.current_url})")
        except NoAlertPresentException:
            pass
        pwned = self.d.execute_script("return typeof window.__pwned === 'undefined' ? null : "
                                      "String(window.__pwned)")
        assert pwned is None, f"{name}: a payload ran: window.__pwned = {pwned!r}"
        self.screenshot(name)
        self.check_headers(name)
        if self.run_axe:
            self.axe(name)

    def screenshot(self, name: str) -> str:
        n = self._names.get(name, 0) + 1
        self._names[name] = n
        fname = f"{self.prefix}{name}" + (f"-{n}" if n > 1 else "") + ".png"
        path = os.path.join(artifacts_dir(), re.sub(r"[^A-Za-z0-9._-]", "_", fname))
        # The whole page, not only the window: captureBeyondViewport with the content's size.
        import base64
        try:
            m = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = m.get("cssContentSize") or m["contentSize"]
            shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"],
                         "height": min(size["height"], 10000), "scale": 1}})
            with open(path, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        except Exception:  # an SVG document has no layout metrics of that form
            self.d.save_screenshot(path)
        self.pages.append(path)
        return path

    def check_headers(self, name: str) -> None:
        for url, status, headers in self.documents():
            h = {k.lower(): v for k, v in headers.items()}
            csp = h.get("content-security-policy")
            if csp is None:
                self.header_problems.append(f"{name}: {url} ({status}): no Content-Security-Policy")
            elif _csp_directives(csp) != _csp_directives(CSP):
                self.header_problems.append(f"{name}: {url}: CSP {csp!r}, expected {CSP!r}")
            if h.get("x-content-type-options", "").lower() != "nosniff":
                self.header_problems.append(f"{name}: {url}: no X-Content-Type-Options: nosniff")
            if h.get("referrer-policy", "").lower() != "same-origin":
                self.header_problems.append(f"{name}: {url}: no Referrer-Policy: same-origin")

    def documents(self) -> list[tuple[str, int, dict]]:
        """(url, status, headers) of every document response since the last call."""
        out = []
        for entry in self.d.get_log("performance"):
            try:
                msg = json.loads(entry["message"])["message"]
            except (KeyError, ValueError):
                continue
            if msg.get("method") != "Network.responseReceived":
                continue
            p = msg["params"]
            if p.get("type") != "Document":
                continue
            r = p["response"]
            if not r["url"].startswith("http"):
                continue
            out.append((r["url"], r["status"], r.get("headers", {})))
        return out

    def axe(self, name: str) -> list[dict]:
        """Inject axe-core (DevTools evaluation: not subject to the page's CSP) and run it;
        keep and return the serious and critical violations."""
        if not self.d.execute_script("return typeof window.axe === 'object'"):
            self.d.execute_script(self.axe_js)
        r = self.d.execute_async_script(AXE_RUN)
        if isinstance(r, dict) and "error" in r:
            raise AssertionError(f"{name}: axe.run failed: {r['error']}")
        bad = [v for v in r if v.get("impact") in AXE_FAILING]
        for v in bad:
            self.violations.append((name, self.d.current_url, v))
        # Every violation, failing or not, into axe.txt next to the screenshots.
        with open(os.path.join(artifacts_dir(), "axe.txt"), "a", encoding="utf-8") as f:
            f.write(f"{self.prefix}{name} {self.d.current_url}: " +
                    (", ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in r)
                     or "no violation") + "\n")
        return bad

    # -- assertions -----------------------------------------------------------------------

    def violation_report(self) -> str:
        out = []
        for name, url, v in self.violations:
            out.append(f"{name} {url}: [{v['impact']}] {v['id']}: {v['help']}")
            for n in v["nodes"]:
                out.append(f"    {n['target']}: {n['html']}")
                if n.get("summary"):
                    out.append("      " + n["summary"].replace("\n", "\n      "))
        return "\n".join(out)

    def assert_accessible(self) -> None:
        report = self.violation_report()
        self.violations.clear()
        assert not report, "axe-core: serious or critical violations:\n" + report

    def assert_headers(self) -> None:
        problems = list(self.header_problems)
        self.header_problems.clear()
        assert not problems, "security headers:\n  " + "\n  ".join(problems)

    # -- helpers for forms and pages ------------------------------------------------------

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def exists(self, css: str) -> bool:
        return bool(self.find_all(css))

    def text(self, css: str) -> str:
        return self.find(css).text

    def fill(self, form: str, values: dict) -> None:
        """Set the form's controls by name: text inputs and textareas (cleared first), selects
        (single: the option with that value; multiple: every value of a list), checkboxes (a
        list of values to tick, or a bool for a single one)."""
        from selenium.webdriver.support.select import Select
        for name, value in values.items():
            els = self.find_all(f"{form} [name='{name}']")
            assert els, f"{form}: no control named {name!r} on {self.d.current_url}"
            el = els[0]
            tag = el.tag_name.lower()
            typ = (el.get_attribute("type") or "").lower()
            if tag == "select":
                s = Select(el)
                if s.is_multiple:
                    s.deselect_all()
                    for v in (value if isinstance(value, (list, tuple)) else [value]):
                        s.select_by_value(v)
                else:
                    s.select_by_value(value)
            elif typ in ("checkbox", "radio"):
                wanted = value if isinstance(value, (list, tuple)) else None
                for e in els:
                    v = e.get_attribute("value")
                    on = (v in wanted) if wanted is not None else bool(value) if typ == "checkbox" \
                        else v == value
                    if e.is_selected() != on:
                        self.d.execute_script("arguments[0].click()", e)
            elif typ in ("date", "number"):
                # Typing into a date input depends on the locale's order of day and month.
                self.d.execute_script("arguments[0].value = arguments[1]", el, str(value))
            else:
                el.clear()
                if value != "":
                    el.send_keys(str(value))

    def submit(self, form: str, name: str, button: str = "button[type=submit]") -> None:
        """Click the form's submit button, wait for the next page and check it."""
        old = self.find("html")
        self.find(f"{form} {button}").click()
        wait_until(lambda: _stale(old), timeout=PAGE_TIMEOUT,
                   msg=f"{form}: submitting it loaded no new page")
        self.check(name)

    def click(self, css: str, name: str) -> None:
        """Follow a link (or press a button) and check the page it leads to."""
        old = self.find("html")
        self.find(css).click()
        wait_until(lambda: _stale(old), timeout=PAGE_TIMEOUT,
                   msg=f"{css}: clicking it loaded no new page")
        self.check(name)

    def poll(self, url: str, pred: Any, name: str, timeout: float = REPLICATION_TIMEOUT,
             msg: str = "the page never showed what was expected") -> Any:
        """Load url again until pred(self) is truthy (replication takes a moment), then check
        the page once."""
        def again() -> Any:
            self.d.get(url)
            return pred(self)
        got = wait_until(again, timeout=timeout, interval=0.5, msg=f"{url}: {msg}")
        self.check(name)
        return got


def _stale(el: Any) -> bool:
    """Whether el is gone from the page (a new page was loaded). During the navigation
    chromedriver may also answer "Node with given id does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    try:
        el.tag_name
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if "does not belong to the document" in str(e):
            return True
        raise


def _csp_directives(csp: str) -> set:
    return {" ".join(d.split()) for d in csp.split(";") if d.strip()}


def json_ld(b: Browser) -> list:
    """Every schema.org JSON-LD block of the page, parsed (a block that is not JSON fails)."""
    out = []
    for s in b.find_all("script[type='application/ld+json']"):
        text = b.d.execute_script("return arguments[0].textContent", s)
        try:
            out.append(json.loads(text))
        except ValueError as e:
            raise AssertionError(f"JSON-LD that is not JSON ({e}): {text[:300]!r}")
    return out


def copy_logs(webs: list, hubs: list) -> None:
    """Keep the hubweb and hubd logs next to the screenshots (CI keeps the build directory)."""
    d = artifacts_dir()
    for w in webs:
        if os.path.exists(w.log_path):
            shutil.copy(w.log_path, os.path.join(d, f"{w.hub.name}-hubweb.log"))
    for h in hubs:
        if os.path.exists(h.log_path):
            shutil.copy(h.log_path, os.path.join(d, f"{h.name}-hubd.log"))
