#!/usr/bin/env python3
"""bench/fleet — FLEET_N (10 000) terminals' loss list sync against one
nginx mirror on loopback for FLEET_SECONDS (600), while the central
publishes a new version every FLEET_PUBLISH_S (60) s.

Each simulated terminal is shaped like sscardd's sync (daemon/losslist/
sync.c): every poll_interval (30 s) ± 20 %, a GET of `head` with
If-None-Match (the ETag of the head it verified last); on a new head, the
delta file it names. The terminals share FLEET_CONNECTIONS (64) keep-alive
connections (one process cannot hold 10 000 sockets; the mirror sees the
same requests per second, fewer connections).

Prints: requests per second the mirror served, the share answered 304,
bytes per terminal per day, and the time from a publish to the terminal
having the new version (p50 / p99 / max) — against a poll every 30 s the
expected p99 is ≈ 36 s.

usage: fleet.py BUILD TMP
"""
import asyncio
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from rig import Central, Mirror  # noqa: E402

BUILD, TMP = sys.argv[1], sys.argv[2]
N = int(os.environ.get("FLEET_N", "10000"))
SECONDS = float(os.environ.get("FLEET_SECONDS", "600"))
PUBLISH_S = float(os.environ.get("FLEET_PUBLISH_S", "60"))
CONNS = int(os.environ.get("FLEET_CONNECTIONS", "64"))
POLL = 30.0
PORT = 18497


class Stats:
    requests = 0
    heads = 0
    head_304 = 0
    by_status = {}
    bytes = 0
    delays = []          # publish → a terminal has the version (s)
    errors = 0


async def get(pool, path, etag=None):
    """One request on a pooled keep-alive connection: (status, headers, body).
    A connection the mirror closed is replaced (as curl would reconnect)."""
    r, w = await pool.get()
    ok = False
    try:
        req = "GET /%s HTTP/1.1\r\nHost: mirror\r\nCache-Control: no-cache\r\n" % path
        if etag:
            req += "If-None-Match: %s\r\n" % etag
        w.write((req + "\r\n").encode())
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdr = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdr[k.strip().lower()] = v.strip()
        n = int(hdr.get("content-length", "0"))
        body = await r.readexactly(n) if n else b""
        Stats.requests += 1
        Stats.by_status[status] = Stats.by_status.get(status, 0) + 1
        if path == "head":
            Stats.heads += 1
            Stats.head_304 += status == 304
        Stats.bytes += len(head) + n
        ok = hdr.get("connection", "").lower() != "close"
        return status, hdr, body
    finally:
        if not ok:
            w.close()
            try:
                r, w = await asyncio.open_connection("127.0.0.1", PORT)
            except OSError:
                Stats.errors += 1
        pool.put_nowait((r, w))


async def terminal(pool, publishes, end):
    etag, version = None, 0
    await asyncio.sleep(random.uniform(0, POLL))  # terminals start at any time
    while time.monotonic() < end:
        try:
            st, hdr, body = await get(pool, "head", etag)
            if st == 200:
                text = body.decode()
                v = int(re.search(r"(?m)^version (\d+)$", text).group(1))
                if v > version:
                    m = re.search(r"(?m)^delta %d (\S+) " % (v - 1), text)
                    if m and version:
                        await get(pool, m.group(1))
                    now = time.time()
                    for pv, pt in publishes:
                        if version < pv <= v:
                            Stats.delays.append(now - pt)
                    version = v
                etag = hdr.get("etag")
        except (OSError, asyncio.IncompleteReadError, ValueError, AttributeError):
            Stats.errors += 1
        await asyncio.sleep(POLL * random.uniform(0.8, 1.2))


async def publisher(central, publishes, end):
    i = 0
    while time.monotonic() < end - PUBLISH_S / 2:
        await asyncio.sleep(PUBLISH_S)
        i += 1
        card = "639900D156000005%016X" % (0xF00000 + i)
        await asyncio.to_thread(central.ok, "add", card, "formal", "2026-12-01")
        t = time.time()
        await asyncio.to_thread(central.publish)
        v = len(publishes) + 2
        publishes.append((v, t))


async def main():
    central = Central(BUILD, TMP, "fleet-central")
    central.ok("keygen")
    central.ok("generate", "100000")
    central.publish()
    mirror = Mirror(TMP, central.pub, PORT)
    # many connections at once: more than the rig's default 256
    conf = open(mirror.conf).read().replace("worker_connections 256", "worker_connections 4096").replace(
        "http {", "http { keepalive_requests 1000000; keepalive_timeout 3600s;")
    open(mirror.conf, "w").write(conf)
    mirror.stop()
    mirror.start()
    pool = asyncio.Queue()
    for _ in range(CONNS):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", PORT))
    publishes = []
    t0 = time.monotonic()
    end = t0 + SECONDS
    cpu0 = os.times()
    tasks = [asyncio.create_task(terminal(pool, publishes, end)) for _ in range(N)]
    tasks.append(asyncio.create_task(publisher(central, publishes, end)))
    await asyncio.sleep(SECONDS)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    took = time.monotonic() - t0
    nginx_cpu = 0.0
    master = str(mirror.proc.pid)
    pids = [master] + subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
    try:
        for pid in pids:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().split()
            nginx_cpu += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    mirror.stop()
    d = sorted(Stats.delays)
    q = lambda p: d[min(len(d) - 1, int(p / 100 * len(d)))] if d else float("nan")  # noqa: E731
    print("bench/fleet — %d simulated terminals, one nginx mirror, %.0f s, a new version every %.0f s"
          % (N, took, PUBLISH_S))
    print("  mirror served %.1f requests/s (%d in all; %s), %d client errors"
          % (Stats.requests / took, Stats.requests,
             ", ".join("%d: %d" % kv for kv in sorted(Stats.by_status.items())), Stats.errors))
    print("  answered 304: %.1f %% of %d head requests" % (100.0 * Stats.head_304 / max(1, Stats.heads), Stats.heads))
    print("  bytes per terminal per day: %.0f (%.1f KiB)" % (
        Stats.bytes / N / took * 86400, Stats.bytes / N / took * 86400 / 1024))
    print("  publish → the terminal has it: p50 %.1f s, p99 %.1f s, max %.1f s over %d (terminal, version) pairs"
          % (q(50), q(99), d[-1] if d else float("nan"), len(d)))
    print("  nginx CPU: %.1f s in %.0f s (%.1f %% of one core); the load generator %.1f s"
          % (nginx_cpu, took, 100 * nginx_cpu / took, (os.times().user - cpu0.user) + (os.times().system - cpu0.system)))


asyncio.run(main())
