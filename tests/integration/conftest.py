"""The integration rig as pytest fixtures (the namespaces every test runs
in are the root conftest.py's).

Fixtures:
- `rig` (a test's view, function scope) on `_rig` (per worker, session
  scope): a pcscd with two vpcd readers and sscardd on them. A test may
  restart either with another configuration; before each test a pcscd a
  test killed is started again, after each test its cards are taken out,
  and a daemon that died during the test fails it (and is restarted).
- `central` (function scope): a factory for sscard-central servers that
  are stopped when the test ends, whatever happened.

On a failure the report carries the last 30 lines of the daemon's log."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
pytest.register_assert_rewrite("common", "rig")
from rig import READER0, READER1, Rig, wait_for  # noqa: E402

@pytest.fixture(scope="session")
def _rig(request):
    rig = Rig(request.config.getoption("--build"))
    try:
        rig.start_pcscd()
        rig.start_daemon()
        assert wait_for(lambda: len(rig.ctl_json("readers")[1]["readers"]) == 2, 5), \
            "sscardd never saw the rig's two readers"
        yield rig
    finally:
        rig.cleanup()


@pytest.fixture
def rig(_rig, request):
    request.node._sscard_first_log = len(_rig.daemon_logs)
    if _rig.daemon is None or _rig.daemon.poll() is not None:
        # the test before this one failed with the daemon down: start afresh
        _rig.stop_daemon()
        if _rig.pcscd is None:
            _rig.start_pcscd()
        _rig.start_daemon()
    if _rig.pcscd is None:
        _rig.start_pcscd()
    yield _rig
    for c in list(_rig.cards):
        _rig.remove(c)
    died = _rig.daemon is None or _rig.daemon.poll() is not None
    if not died:
        gone = wait_for(lambda: _rig.card_gone(READER0) and _rig.card_gone(READER1), 5)
        assert gone, "a card is still in a reader after the test: %r" % (_rig.ctl_json("readers")[1],)
    assert not died, "sscardd is not running after the test (exit %r)" % (
        _rig.daemon.returncode if _rig.daemon else "stopped by the test")


@pytest.fixture
def central(rig):
    """central(name, port, faults="", tls=None) → a started CentralServer,
    stopped when the test ends."""
    from common import CentralServer
    made = []

    def make(name, port, faults="", tls=None, env_extra=None):
        c = CentralServer(rig, name, port, faults, tls)
        made.append(c)
        return c.start(env_extra)
    yield make
    for c in made:
        c.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed or "rig" not in item.fixturenames:
        return
    rig = item.funcargs.get("rig") if hasattr(item, "funcargs") else None
    if rig is None or not rig.daemon_logs:
        return
    # every daemon the test ran (it may have restarted it with another
    # configuration, and restored the rig's own in its finally:), newest last
    first = getattr(item, "_sscard_first_log", len(rig.daemon_logs) - 1)
    for p in rig.daemon_logs[max(first - 1, 0):][-3:]:
        try:
            tail = open(p, errors="replace").read().splitlines()[-30:]
        except OSError:
            continue
        rep.sections.append(("sscardd log %s (last 30 lines)" % os.path.basename(p), "\n".join(tail)))
