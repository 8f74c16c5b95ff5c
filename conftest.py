"""How every integration test gets private namespaces (loaded before any
test is collected, so that pytest-xdist's workers can be started inside
them): mount, network and PID namespaces of its own, so the machine's own
pcscd, /run and network are never touched.

- `pytest tests/integration` (no -n): this process re-executes itself under
  unshare(1) before it collects anything;
- `pytest -n N`: the controller stays outside and each xdist worker is
  started by tests/integration/nspython, a python inside namespaces of its
  own: each worker has its own loopback, /run and pcscd, so workers never
  share a port, a socket or a reader.

Where unshare is refused (not root, a container without user namespaces)
every test is skipped with the reason."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
NS = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
NSPYTHON = os.path.join(HERE, "tests", "integration", "nspython")
_refused = None  # why the namespaces cannot be had, when they cannot


def pytest_addoption(parser):
    parser.addoption("--build", default=os.environ.get("SSCARD_BUILD", "build"),
                     help="the build directory whose programs are tested (build, build/san)")


def _probe():
    r = subprocess.run(NS + ["true"], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or "exit %d" % r.returncode)


def _inside():
    """This process is the namespaces' own: bring loopback up, a private /run."""
    sys.path.insert(0, os.path.join(HERE, "tests", "integration"))
    from rig import private_loopback
    private_loopback()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    os.makedirs("/run/pcscd", exist_ok=True)


def pytest_configure(config):
    global _refused
    if os.environ.get("SSCARD_IN_NS") == "1":
        _inside()
        return
    if config.getoption("collectonly"):
        return
    tx = getattr(config.option, "tx", None) or []
    if getattr(config.option, "dist", "no") != "no" and tx:
        # xdist: each worker is a python in namespaces of its own
        _refused = _probe()
        if _refused is None:
            config.option.tx = ["popen//python=" + NSPYTHON if x == "popen" else x for x in tx]
        return
    _refused = _probe()
    if _refused is not None:
        return
    # re-execute this very command inside the namespaces; pytest's capture
    # holds our stdout and stderr, hand them back first
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman:
        capman.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ["SSCARD_IN_NS"] = "1"
    os.execvp(NS[0], NS + [sys.executable] + sys.orig_argv[1:])


def pytest_collection_modifyitems(config, items):
    if _refused is not None:
        skip = pytest.mark.skip(reason="unshare refused (%s): these tests need private namespaces "
                                       "so they never touch this machine's pcscd" % _refused)
        for item in items:
            item.add_marker(skip)
