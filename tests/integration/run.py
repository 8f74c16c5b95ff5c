#!/usr/bin/env python3
"""Integration tests: real pcscd + vpcd + sscard-vcard + sscardd + sscardctl.

Runs itself inside private mount, network and PID namespaces (unshare), so
the machine's own pcscd, /run and network are never touched. Prints one
"ok - NAME" / "not ok - NAME" line per test and "N passed, N failed"."""
import argparse
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, READER1, Rig, wait_for  # noqa: E402
from explain import load  # noqa: E402
# The test modules, in the order their tests run (each registers on import),
# loaded so that every check() prints what it got (explain.py).
TESTS = load("common").TESTS
for _m in ("t_readers", "t_losslist", "t_outbox", "t_nfc", "t_idcard", "t_counter", "t_auth", "t_kiosk", "t_metrics", "t_identity",
           "t_service"):
    load(_m)


def in_namespace(args):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    os.makedirs("/run/pcscd", exist_ok=True)
    rig = Rig(args.build)
    passed = failed = 0
    try:
        rig.start_pcscd()
        rig.start_daemon()
        wait_for(lambda: len(rig.ctl_json("readers")[1]["readers"]) == 2, 5)
        for t in TESTS:
            if args.only and not any(o in t.__name__ for o in args.only.split(",")):
                continue
            t0 = time.monotonic()
            try:
                if rig.daemon is None or rig.daemon.poll() is not None:
                    raise AssertionError("sscardd is not running")
                if rig.pcscd is None:
                    rig.start_pcscd()
                t(rig)
                passed += 1
                print("ok - %s (%.1f s)" % (t.__name__, time.monotonic() - t0), flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print("not ok - %s: %s" % (t.__name__, e), flush=True)
                traceback.print_exc(file=sys.stdout)
            for c in list(rig.cards):
                rig.remove(c)
            if not wait_for(lambda: rig.card_gone(READER0) and rig.card_gone(READER1), 5):
                print("# a card is still in a reader after %s" % t.__name__, flush=True)
    finally:
        rig.cleanup()
        if failed:
            for p in rig.daemon_logs:
                print("# --- %s (last 30 lines)" % p)
                for line in open(p, errors="replace").read().splitlines()[-30:]:
                    print("# " + line)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    if os.environ.get("SSCARD_IN_NS") != "1":
        env = dict(os.environ, SSCARD_IN_NS="1")
        cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
               sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            print("# SKIP integration: unshare refused (%s); these tests need private "
                  "namespaces so they never touch this machine's pcscd" % probe.stderr.strip())
            print("0 passed, 0 failed, %d skipped" % len(TESTS))
            return 0
        return subprocess.run(cmd, env=env).returncode
    return in_namespace(args)


if __name__ == "__main__":
    sys.exit(main())
