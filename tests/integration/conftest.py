"""pytest glue for the hubnet integration tests (harness: hubtest.py).

Fixtures:
  hubs   a HubFactory: hubs(name=..., **Hub kwargs) starts a hub and returns it;
         hubs.new(...) creates one without starting it; hubs.many(n, ...) starts n.
         Every hub is stopped at teardown (SIGTERM, then SIGKILL), also when the test failed.
         A hub that died during a passing test, or did not exit 0 on SIGTERM at teardown,
         turns the teardown into an error. When a test fails, the tail of each hub's log
         is added to the failure report, and the hubs' directories are kept for inspection.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest import HubFactory, hubctl_path, hubd_path  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_sessionstart(session):
    for what, path in (("HUBD", hubd_path()), ("HUBCTL", hubctl_path())):
        if not os.access(path, os.X_OK):
            raise pytest.UsageError(f"{what}: {path} is not an executable; build first or set {what}")


def hubs_of(item):
    """Every Hub a test item uses: from HubFactory fixtures, Hub fixtures, and fixture objects
    with a `hub` (Hub) or `hubs` (list of Hub) attribute."""
    from hubtest import Hub
    found = []
    for v in getattr(item, "funcargs", {}).values():
        if isinstance(v, HubFactory):
            found += v.hubs
        elif isinstance(v, Hub):
            found.append(v)
        else:
            h = getattr(v, "hub", None)
            if isinstance(h, Hub):
                found.append(h)
            hs = getattr(v, "hubs", None)
            if isinstance(hs, list):
                found += [h for h in hs if isinstance(h, Hub)]
    seen, out = set(), []
    for h in found:
        if id(h) not in seen:
            seen.add(id(h))
            out.append(h)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        for h in hubs_of(item):
            rep.sections.append((f"hubd log: {h.name}", h.log_tail()))


@pytest.fixture
def hubs(request):
    factory = HubFactory()
    yield factory
    call = getattr(request.node, "rep_call", None)
    xfailed = call is not None and hasattr(call, "wasxfail")
    failed = call is None or call.failed or xfailed
    problems = factory.cleanup(keep=True)
    if problems and not failed:
        tails = "\n".join(t for _, t in factory.log_tails())
        factory.remove_dirs()
        pytest.fail("hubd problem at teardown:\n  " + "\n  ".join(problems) + "\n" + tails,
                    pytrace=False)
    if not failed or xfailed:
        factory.remove_dirs()
    else:
        print("kept hub directories: " + " ".join(h.data_dir for h in factory.hubs))
