"""A terminal whose clock is wrong (issue 27): a kiosk board without an RTC
battery boots months behind, or years ahead, or its clock jumps while the
daemon runs. The daemon runs under libfaketime (Debian's faketime); the
central, the mirror and the tests keep the real time. The list's age must
come from the signed time and the time since a good sync, not from the
wall clock alone, and a clock that is wrong must be said so."""
import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import wait_for  # noqa: E402
from common import (PLAIN_LIB, ZHANGSAN_ID, CentralServer, OUTBOX_CARDS, central_and_mirror,  # noqa: E402
                    list_info, make_ca, outbox_daemon, read_card, restore_daemon, submit, sync_daemon)

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DAY = 86400


def faked(rig, spec=None, spec_file=None):
    """The daemon's environment with its wall clock moved by spec ("-60d",
    "+3y"), or by what spec_file says at each call (a jump while running).
    CLOCK_MONOTONIC and CLOCK_BOOTTIME stay real: no one sets them; so do
    its timers (realtimers.c)."""
    env = {"LD_PRELOAD": "%s %s" % (os.path.join(rig.build, "librealtimers.so"), FAKETIME_LIB),
           "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           # an ASan daemon: its runtime is not first in a preloaded process
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    if spec_file:
        env.update(FAKETIME_TIMESTAMP_FILE=spec_file, FAKETIME_NO_CACHE="1")
    else:
        env["FAKETIME"] = spec
    return env


def list_status(rig):
    """iGetListStatus through the real library: (rc, 'version|age|stale|message|')."""
    os.environ["SSCARD_SOCKET"] = rig.sock
    lib = ctypes.CDLL(PLAIN_LIB)
    out = ctypes.create_string_buffer(1024)
    rc = lib.iGetListStatus(out)
    return rc, out.value.decode()


def test_clock_60_days_behind_a_month_old_list_is_not_fresh(rig):
    """The issue's case: a list signed 30 days ago on a terminal 60 days
    behind read "age_s: -2591969, stale: false". Now: the Date of the
    mirror's answer sets the reference, the age is 30 days and the list is
    stale; without a sync (the mirror down at the next start) the negative
    age is "clock wrong", stale, said plainly — to sscardctl, a read,
    iGetListStatus and /metrics alike."""
    with central_and_mirror(rig, "c-behind", 18475) as (central, mirror, state):
        central.ok("add", ZHANGSAN_ID, "formal", "2026-11-20")
        central.publish(env={"SSCARD_CENTRAL_CLOCK_OFFSET": str(-30 * DAY)})
        rig.stop_daemon()
        pk = central.ok("pubkey").strip()
        rig.start_daemon("[upstream]\nlist_url = %s/\npublic_key = %s\npoll_interval = 5\nstale_after = 3600\n"
                         "[metrics]\nlisten = 127.0.0.1:19471\n" % (mirror.url, pk),
                         state_dir=state, env=faked(rig, "-60d"))
        assert wait_for(lambda: list_info(rig)["version"] == 1, 10), list_info(rig)
        info = list_info(rig)
        assert info["stale"] is True and info["age_s"] is not None and 30 * DAY - 60 <= info["age_s"] <= 30 * DAY + 60, info
        assert info["clock_wrong"] is True and info["age_basis"] == "sync", info
        assert 60 * DAY - 60 <= info["clock"]["offset_s"] <= 60 * DAY + 60, info
        card, rc, j, _ = read_card(rig, "lisi-1.00-t0.card")
        assert rc == 0 and j["loss"]["listed"] is False and j["loss"]["stale"] is True, j["loss"]
        assert j["loss"]["list_age_s"] >= 30 * DAY - 60 and j["loss"]["clock_wrong"] is True, j["loss"]
        rig.remove(card)
        import urllib.request
        m = urllib.request.urlopen("http://127.0.0.1:19471/metrics", timeout=5).read().decode()
        assert "sscard_clock_wrong 1" in m and "sscard_losslist_stale 1" in m, m
        off = [l for l in m.splitlines() if l.startswith("sscard_clock_offset_seconds ")]
        assert off and float(off[0].split()[1]) > 59 * DAY, off
        # restarted with the mirror down: no sync to go by, the wall clock
        # alone says the list was signed 30 days in the future
        mirror.stop()
        rig.stop_daemon()
        rig.start_daemon("[upstream]\nlist_url = %s/\npublic_key = %s\npoll_interval = 5\nstale_after = 3600\n"
                         % (mirror.url, pk), state_dir=state, env=faked(rig, "-60d"))
        info = list_info(rig)
        assert info["version"] == 1 and info["age_s"] is None and info["stale"] is True, info
        assert info["clock_wrong"] is True and "clock is wrong" in info["message"], info
        rc, out, _ = rig.ctl("list", "info")
        assert "clock" in out.lower(), out
        rc, line = list_status(rig)
        assert rc == 0 and line.startswith("1||1|") and "clock is wrong" in line, line
        card, rc, j, _ = read_card(rig, "lisi-1.00-t0.card")
        assert j["loss"]["stale"] is True and "clock is wrong" in j["loss"]["message"], j["loss"]
        rig.remove(card)


def test_clock_years_ahead_the_list_is_stale_and_says_why(rig):
    with central_and_mirror(rig, "c-ahead", 18476) as (central, mirror, state):
        central.publish()
        sync_daemon(rig, central, mirror, "stale_after = 3600\n", state_dir=state)
        rig.stop_daemon()
        pk = central.ok("pubkey").strip()
        rig.start_daemon("[upstream]\nlist_url = %s/\npublic_key = %s\npoll_interval = 5\nstale_after = 3600\n"
                         % (mirror.url, pk), state_dir=state, env=faked(rig, "+3y"))
        # the Date of the mirror's answer comes before its list is checked and
        # stored (and the first daemon may have been stopped before it had
        # one): wait for the state the two settle in, not for the first
        def settled():
            info = list_info(rig)
            return ((info.get("clock") or {}).get("offset_s", 0) < -2 * 365 * DAY and info["stale"] is True and
                    info["clock_wrong"] is True and "clock is wrong" in info["message"])
        assert wait_for(settled, 10), list_info(rig)
        rc, line = list_status(rig)
        assert rc == 0 and "|1|" in line and "clock is wrong" in line, line


def test_clock_jumps_back_while_running(rig):
    """Fresh, then the clock jumps 60 days back: the list stays fresh (its
    age runs on CLOCK_BOOTTIME since the good sync), polls go on at their
    interval (they wait on CLOCK_MONOTONIC), and the jump is said."""
    spec = os.path.join(rig.tmp, "faketime-spec")
    with open(spec, "w") as f:
        f.write("+0\n")
    with central_and_mirror(rig, "c-jump", 18477) as (central, mirror, state):
        central.publish()
        pk = central.ok("pubkey").strip()
        rig.stop_daemon()
        rig.start_daemon("[upstream]\nlist_url = %s/\npublic_key = %s\npoll_interval = 5\nstale_after = 3600\n"
                         % (mirror.url, pk), state_dir=state, env=faked(rig, spec_file=spec))
        assert wait_for(lambda: list_info(rig)["version"] == 1, 10), list_info(rig)
        info = list_info(rig)
        assert info["stale"] is False and info["clock_wrong"] is False, info
        with open(spec, "w") as f:
            f.write("-60d\n")
        polled = list_info(rig)["last_sync"]["at"]
        # the next poll comes within its interval (± 20 %) and measures the jump
        assert wait_for(lambda: list_info(rig)["last_sync"]["at"] != polled, 12), list_info(rig)
        assert wait_for(lambda: list_info(rig)["clock_wrong"] is True, 12), list_info(rig)
        info = list_info(rig)
        assert info["stale"] is False and info["age_basis"] == "sync" and 0 <= info["age_s"] < 120, info
        assert info["last_sync"]["ok"] is True and 0 <= info["last_sync"]["ago_s"] < 12, info
        card, rc, j, _ = read_card(rig, "lisi-1.00-t0.card")
        assert j["loss"]["stale"] is False, j["loss"]
        rig.remove(card)


def test_tls_refused_for_the_clock_is_named_so(rig):
    """Two months behind, the central's certificate (valid from yesterday)
    is "not yet valid": the outbox says the clock is wrong, not merely
    that the central is unreachable; the request waits, nothing is lost."""
    d = os.path.join(rig.tmp, "tls-clock")
    ca = make_ca(d, "central-clock")
    srv = CentralServer(rig, "c-clock", 18488, tls=ca).start()
    state = os.path.join(rig.tmp, "c-clock-state")
    try:
        rig.stop_daemon()
        os.makedirs(state, exist_ok=True)
        rig.start_daemon("[upstream]\nurl = %s\ntoken = tok-%d\nretry_max_s = 1\ntimeout_ms = 2000\nca = %s\n"
                         % (srv.url, srv.port, ca["ca"]), state_dir=state, env=faked(rig, "-60d"))
        assert submit(rig, "pin_changed %s" % OUTBOX_CARDS[2])["ok"], "not queued"
        assert wait_for(lambda: "clock is probably wrong" in rig.ctl_json("outbox")[1].get("last_error", ""), 10), \
            rig.ctl_json("outbox")[1]
        assert rig.ctl_json("outbox")[1]["pending"] == 1 and srv.requests() == [], "kept, not sent"
        # the clock set right: delivered
        outbox_daemon(rig, srv, state, "ca = %s\n" % ca["ca"])
        assert wait_for(lambda: rig.ctl_json("outbox")[1]["pending"] == 0, 15), rig.ctl_json("outbox")[1]
    finally:
        srv.stop()
        restore_daemon(rig)


def test_outbox_keeps_trying_after_the_clock_jumps_back(rig):
    """A request waiting for a central that is down when the clock jumps
    60 days back: it is tried again within its back-off, not in 60 days,
    and delivered once the central is back."""
    spec = os.path.join(rig.tmp, "faketime-outbox")
    with open(spec, "w") as f:
        f.write("+0\n")
    srv = CentralServer(rig, "c-jump-ob", 18478)
    state = os.path.join(rig.tmp, "c-jump-ob-state")
    os.makedirs(state, exist_ok=True)
    try:
        rig.stop_daemon()
        rig.start_daemon("[upstream]\nurl = %s\ntoken = tok-%d\nretry_max_s = 2\ntimeout_ms = 1000\n"
                         % (srv.url, srv.port), state_dir=state, env=faked(rig, spec_file=spec))
        assert submit(rig, "pin_changed %s" % OUTBOX_CARDS[3])["ok"], "not queued"
        assert wait_for(lambda: rig.ctl_json("outbox")[1]["items"][0]["attempts"] >= 2, 10), rig.ctl_json("outbox")[1]
        with open(spec, "w") as f:
            f.write("-60d\n")
        srv.start()
        assert wait_for(lambda: rig.ctl_json("outbox")[1]["pending"] == 0, 15), rig.ctl_json("outbox")[1]
        assert len(srv.requests()) == 1, srv.requests()
    finally:
        srv.stop()
        restore_daemon(rig)
