#!/usr/bin/env python3
"""bench/sync — the loss list sync end to end, through a real nginx mirror on
loopback, run inside bench/run.sh's private namespaces.

  scale        sscardd (readers off) takes a LIST_N (10^7) snapshot from the
               mirror: download + import time, the daemon's RSS after it and
               its peak; then a 10^4-entry delta: time to apply; a lookup
               through the daemon
  propagation  PROP_DAEMONS (20) sscardd instances, readers off, polling the
               mirror every PROP_POLL (30) s; a loss added at the central;
               time until every instance reports the card listed, over
               PROP_ROUNDS (5) rounds: p50 / p99 / max against the 60 s target

usage: sync.py BUILD TMP scale|propagation
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from rig import Central, Mirror, wait_for  # noqa: E402

BUILD, TMP, WHAT = sys.argv[1], sys.argv[2], sys.argv[3]


class Daemon:
    def __init__(self, n, mirror, pk, poll, stale=3600, push=""):
        self.dir = os.path.join(TMP, "d%d" % n)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "s.sock")
        conf = os.path.join(self.dir, "sscard.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nsocket = %s\nstate_dir = %s\nlog_level = notice\n"
                    "[readers]\npcsc = no\n[upstream]\nlist_url = %s\npublic_key = %s\n"
                    "poll_interval = %d\nstale_after = %d\n%s"
                    % (self.sock, self.dir, mirror.url, pk, poll, stale,
                       "push_url = %s\n" % push if push else ""))
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([os.path.join(BUILD, "sscardd"), "-f", "-c", conf],
                                     stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.sock), 10)

    def ctl(self, *args):
        r = subprocess.run([os.path.join(BUILD, "sscardctl"), "-j", "-s", self.sock] +
                           list(args), capture_output=True, text=True, timeout=600)
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def status(self, key):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def scale():
    n = int(os.environ.get("LIST_N", "10000000"))
    central = Central(BUILD, TMP, "central")
    central.ok("keygen")
    t0 = time.monotonic()
    central.ok("generate", str(n), "16")
    out = central.publish()
    t_pub = time.monotonic() - t0
    snap = os.path.getsize(os.path.join(central.pub, "snapshot-1.bin"))
    mirror = Mirror(TMP, central.pub, 18490)
    pk = central.ok("pubkey").strip()
    d = Daemon(0, mirror, pk, 3600)
    t0 = time.monotonic()
    ok = wait_for(lambda: d.ctl("list", "info").get("version") == 1, 1800, 0.2)
    t_first = time.monotonic() - t0
    info = d.ctl("list", "info")
    if not ok:
        print("bench/sync scale: the snapshot never arrived: %s" % info)
        return 1
    time.sleep(1)
    rss, hwm = d.status("VmRSS"), d.status("VmHWM")
    # a 10^4-entry delta
    central.ok("generate", "10000", "16")
    central.publish()
    r = d.ctl("list", "sync")
    info2 = d.ctl("list", "info")
    rss2 = d.status("VmRSS")
    # one lookup through the daemon's socket (the verb a counter would use)
    t0 = time.monotonic()
    for _ in range(100):
        d.ctl("list", "lookup", "639900D15600000500BF7C7A48FB4966")
    t_lookup = (time.monotonic() - t0) / 100
    print("bench/sync scale — %d entries published by sscard-central in %.0f s (%s)"
          % (n, t_pub, out.strip()))
    print("  snapshot %.1f MB = %.2f B/entry; sscardd took it from nginx and imported it in "
          "%.1f s (last sync %.1f s)" % (snap / 1e6, snap / n, t_first,
                                          info["last_sync"]["seconds"]))
    print("  sscardd RSS after the import %.1f MB (target <= 20), peak during it %.1f MB; "
          "after a delta %.1f MB" % (rss / 1024, hwm / 1024, rss2 / 1024))
    print("  10^4-entry delta: fetched + applied in %.0f ms (target <= 100 for the apply; "
          "bench/losslist times the apply alone), %s → entries %d"
          % (r.get("seconds", -1) * 1000, r.get("how"), info2.get("entries", -1)))
    print("  `sscardctl list lookup` round trip (process start included): %.1f ms"
          % (t_lookup * 1000))
    d.stop()
    mirror.stop()
    return 0


def measure(central, ds, rounds, limit, tag):
    samples = []
    k = len(ds)
    for rnd in range(rounds):
        card = "639900D15600000500000000%s%06X" % (tag, rnd)
        central.ok("add", card, "formal")
        central.publish()
        t0 = time.monotonic()
        pending = set(range(k))
        while pending and time.monotonic() - t0 < limit:
            for i in list(pending):
                if ds[i].ctl("list", "lookup", card).get("listed"):
                    samples.append(time.monotonic() - t0)
                    pending.discard(i)
            time.sleep(0.05)
        if pending:
            print("  round %d: %d instance(s) never saw the loss" % (rnd, len(pending)))
            samples += [float("inf")] * len(pending)
    return samples


def propagation():
    k = int(os.environ.get("PROP_DAEMONS", "20"))
    rounds = int(os.environ.get("PROP_ROUNDS", "5"))
    poll = int(os.environ.get("PROP_POLL", "30"))
    central = Central(BUILD, TMP, "pcentral")
    central.ok("keygen")
    central.ok("generate", "100000", "16")
    central.publish()
    mirror = Mirror(TMP, central.pub, 18491)
    pk = central.ok("pubkey").strip()
    # polling only
    ds = [Daemon(100 + i, mirror, pk, poll) for i in range(k)]
    if not wait_for(lambda: all(d.ctl("list", "info").get("version") == 1 for d in ds), 120, 0.5):
        print("bench/sync propagation: not every instance took the first list")
        return 1
    polled = measure(central, ds, rounds, 3 * poll, "AB")
    heads = sum(1 for line in open(os.path.join(mirror.dir, "access.log")) if "GET /head" in line)
    for d in ds:
        d.stop()
    # push: the same, with the central's long-poll (files still from nginx);
    # (`sscard-central serve` without an interval only serves; we publish)
    srv = subprocess.Popen([central.bin, "-d", central.dir, "serve", central.pub,
                            "127.0.0.1:18492"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    ds = [Daemon(200 + i, mirror, pk, poll, push="http://127.0.0.1:18492/wait")
          for i in range(k)]
    wait_for(lambda: all(d.ctl("list", "info").get("version", 0) >= 1 + rounds for d in ds), 120,
             0.5)
    time.sleep(1)
    pushed = measure(central, ds, rounds, 3 * poll, "AC")
    srv.terminate()
    srv.wait(10)
    for d in ds:
        d.stop()
    mirror.stop()
    print("bench/sync propagation — %d sscardd instances (readers off) behind nginx, "
          "%d rounds each" % (k, rounds))
    print("  polling every %d s (± 20 %%): loss added → listed everywhere p50 %.1f s, p99 %.1f s, "
          "max %.1f s (target p99 <= 60 s: ratio %.2f); %d head requests"
          % (poll, pct(polled, 50), pct(polled, 99), max(polled), pct(polled, 99) / 60, heads))
    print("  with push (long-poll to the central): p50 %.2f s, p99 %.2f s, max %.2f s "
          "(target p99 <= 5 s: ratio %.2f)"
          % (pct(pushed, 50), pct(pushed, 99), max(pushed), pct(pushed, 99) / 5))
    return 0


sys.exit(scale() if WHAT == "scale" else propagation())
