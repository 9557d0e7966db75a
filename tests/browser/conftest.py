"""pytest glue for the browser tests (harness: webtest.py, hubs: ../integration/hubtest.py).

Chromium (Debian chromium + chromium-driver) and python3-selenium: without them the tests are
skipped with the reason, except in CI (env CI set), where that is a failure. axe-core
(build/axe, installed by scripts/deps) likewise. hubweb, hubd and hubctl must be built.

Fixtures:
  driver    the session's headless chromium (one for all tests: starting it takes seconds)
  browser   a webtest.Browser on that driver for one test: cookies cleared before, and at
            teardown the test fails if a page had a serious or critical axe violation or a
            response lacked a security header that the test did not assert itself
  other_browser  make(name, langs=..., javascript=False): more webtest.Browsers, each on a
            chromium of its own, for one test
  pair      (module) two federated hubs A and B, each with its hubweb: a Pair
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import webtest  # noqa: E402
from hubtest import HubFactory, first_run, hubctl_path, hubd_path, link, start_all  # noqa: E402

IN_CI = bool(os.environ.get("CI"))


def _why_not() -> str:
    why = webtest.chromium_missing()
    if why is None and not os.path.exists(webtest.axe_path()):
        why = (f"axe-core is not installed: {webtest.axe_path()} is missing "
               f"(scripts/deps installs it with npm)")
    return why


def pytest_sessionstart(session):
    for what, path in (("HUBD", hubd_path()), ("HUBCTL", hubctl_path()),
                       ("HUBWEB", webtest.hubweb_path())):
        if not os.access(path, os.X_OK):
            raise pytest.UsageError(f"{what}: {path} is not an executable; build first or set {what}")
    why = _why_not()
    if why and IN_CI:
        raise pytest.UsageError(f"browser tests cannot run in CI: {why}")


def pytest_collection_modifyitems(config, items):
    why = _why_not()
    if why:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {why}"))


@pytest.fixture(scope="session")
def driver():
    try:
        os.remove(os.path.join(webtest.artifacts_dir(), "axe.txt"))  # this run's findings only
    except FileNotFoundError:
        pass
    d = webtest.new_driver()
    yield d
    d.quit()


@pytest.fixture
def browser(driver, request):
    with open(webtest.axe_path(), encoding="utf-8") as f:
        axe_js = f.read()
    driver.delete_all_cookies()
    try:
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    except Exception:
        pass
    driver.get_log("performance")  # drop what earlier tests left
    b = webtest.Browser(driver, axe_js)
    b.prefix = request.module.__name__.replace("test_", "") + "-"
    yield b
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.passed:
        b.assert_accessible()
        b.assert_headers()


@pytest.fixture
def other_browser(request):
    """make(name, **new_driver options): a webtest.Browser on a chromium of its own (another
    visitor's language, scripts off), quit at the end of the test; the checks of `browser`
    (axe, security headers) at teardown when the test passed."""
    with open(webtest.axe_path(), encoding="utf-8") as f:
        axe_js = f.read()
    made = []

    def make(name, **options):
        d = webtest.new_driver(**options)
        b = webtest.Browser(d, axe_js)
        made.append(b)
        b.prefix = request.module.__name__.replace("test_", "") + "-" + name + "-"
        b.run_axe = options.get("javascript", True)
        b.d.get_log("performance")
        return b

    yield make
    try:
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.passed:
            for b in made:
                b.assert_accessible()
                b.assert_headers()
    finally:
        for b in made:
            b.d.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        p = item.funcargs.get("pair") if hasattr(item, "funcargs") else None
        if p is not None:
            for w in p.webs:
                rep.sections.append((f"hubweb log: {w.hub.name}", w.log_tail()))
            for h in p.hubs:
                rep.sections.append((f"hubd log: {h.name}", h.log_tail()))


class Pair:
    """Two hubs peered with each other (policy as given), each with a hubweb on its own
    loopback address: a (hub A, web wa on 127.0.0.1), b (hub B, web wb on 127.0.0.2)."""

    def __init__(self, factory, policy="open", web_args=()):
        self.factory = factory
        self.a = factory.new("web-a", policy=policy)
        self.b = factory.new("web-b", policy=policy)
        first_run(self.a, self.b)
        link(self.a, self.b)
        start_all(self.a, self.b)
        self.hubs = [self.a, self.b]
        self.webs = []
        for hub, host in ((self.a, "127.0.0.1"), (self.b, "127.0.0.2")):
            w = webtest.HubWeb(hub, host, args=web_args)
            self.webs.append(w)
            w.start()
        self.wa, self.wb = self.webs

    def close(self):
        problems = []
        for w in self.webs:
            rc = w.stop(check=False)
            if rc != 0:
                problems.append(f"{w.hub.name}: hubweb exited with {rc} on SIGTERM")
        webtest.copy_logs(self.webs, self.hubs)
        problems += self.factory.cleanup(keep=bool(problems))
        return problems


@pytest.fixture(scope="module")
def pair():
    if _why_not():
        pytest.skip(_why_not())
    factory = HubFactory()
    p = None
    try:
        p = Pair(factory)
        yield p
    finally:
        problems = p.close() if p is not None else factory.cleanup()
        if problems:
            pytest.fail("at teardown:\n  " + "\n  ".join(problems), pytrace=False)
