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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when in ("setup", "call"):
        factory = item.funcargs.get("hubs") if hasattr(item, "funcargs") else None
        if isinstance(factory, HubFactory):
            for name, tail in factory.log_tails():
                rep.sections.append((f"hubd log: {name}", tail))


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
