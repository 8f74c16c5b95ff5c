"""Loss list tests: the verdict in every read, sync through a real nginx
mirror, push, lying mirrors, a down central, a full disk, the publisher."""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import Central, wait_for  # noqa: E402
from common import ZHANGSAN_ID, central_and_mirror, list_info, read_card, sync_daemon  # noqa: E402


def test_every_read_carries_the_loss_list_verdict(rig):
    card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
    loss = j["loss"]
    assert (loss["listed"] is False and loss["list_version"] == 0 and loss["stale"] is True
          and loss["list_age_s"] is None), loss
    assert loss["message"] == "No loss list has been received yet.", loss
    rig.remove(card)
    info = list_info(rig)
    assert info["source"] is None and info["last_sync"]["result"] == "not_configured", info


def test_a_loss_at_the_central_reaches_the_read_within_the_poll(rig):
    with central_and_mirror(rig, "c-prop", 18471) as (central, mirror, state):
        central.ok("generate", "2000")
        central.publish()
        sync_daemon(rig, central, mirror, state_dir=state)
        ev = rig.events()
        assert wait_for(lambda: list_info(rig)["version"] == 1, 10), list_info(rig)
        info = list_info(rig)
        assert (info["entries"] == 2000 and info["stale"] is False and
              info["last_sync"]["how"] == "snapshot" and info["source"] == mirror.url), info
        card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
        assert rc == 0 and j["loss"]["listed"] is False and j["loss"]["list_version"] == 1, j
        # the central takes the loss; the next poll (5 s ± 20 %) brings it
        central.ok("add", ZHANGSAN_ID, "formal", "2026-11-20")
        central.publish()
        t0 = time.monotonic()
        assert wait_for(lambda: rig.ctl_json("read")[1]["loss"]["listed"], 10, 0.2), "the loss never arrived"
        took = time.monotonic() - t0
        assert took <= 6.5, "took %.1f s with a 5 s poll" % took
        e = ev.wait("list_updated", 5, version=2)
        assert e["version"] == 2 and e["from"] == 1 and e["how"] == "delta", e
        rc, j, _ = rig.ctl_json("read")
        loss = j["loss"]
        assert (loss["state"] == "formal" and loss["since"] == "2026-11-20" and
              loss["list_version"] == 2 and not loss["stale"]), loss
        assert loss["message"] == "Reported lost on 2026-11-20 — settlement refused.", loss
        rc, out, _ = rig.ctl("read")
        assert "*** Reported lost on 2026-11-20 — settlement refused. ***" in out, out
        rc, j, _ = rig.ctl_json("list", "lookup", ZHANGSAN_ID.lower())
        assert rc == 0 and j["listed"] is True and j["state"] == "formal", j
        rc, j, _ = rig.ctl_json("list", "lookup", "not-an-id")
        assert rc == 1 and j["error"] == "invalid_argument" and "32 hexadecimal" in j["message"], j
        st = rig.ctl_json("status")[1]["loss_list"]
        assert st["version"] == 2 and st["entries"] == 2001, st
        logs = open(rig.daemon_logs[-1]).read()
        assert "on the loss list (formal) [card_listed]" in logs and ZHANGSAN_ID not in logs, "listed card logged, id masked"
        # found again: cancelled at the central → clear on the next poll; list sync at once
        central.ok("remove", ZHANGSAN_ID)
        central.publish()
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 0 and j["how"] == "delta" and j["version"] == 3, j
        rc, j, _ = rig.ctl_json("read")
        assert j["loss"]["listed"] is False and j["loss"]["list_version"] == 3, j
        # several versions behind: the head's delta chain, one transaction
        for i in range(4):
            central.ok("add", "639900D1560000050000000000%06X" % i, "temporary")
            central.publish()
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 0 and j["how"] == "delta" and j["version"] == 7, j
        assert list_info(rig)["entries"] == 2004, "entries"
        # behind by more than the head's chain (32): the snapshot, and an alarm
        # (polls stopped first: a reload takes a new interval at once)
        conf = os.path.join(rig.tmp, "sscard.conf")
        text = open(conf).read().replace("poll_interval = 5", "poll_interval = 3600")
        open(conf, "w").write(text)
        assert rig.ctl_json("reload")[0] == 0, "reload"
        assert wait_for(lambda: list_info(rig).get("next_sync_in_s", 0) > 1000, 10), list_info(rig)
        for i in range(34):
            central.ok("add", "639900D1560000050000000001%06X" % i, "formal")
            central.publish()
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 0 and j["how"] == "snapshot" and j["version"] == 41, j
        e = ev.wait("list_alarm", 5)
        assert e["error"] == "gap" and e["kept_version"] == 7, e
        info = list_info(rig)
        assert (info["entries"] == 2038 and info["snapshot_version"] == 41 and
              info["changes_since_snapshot"] == 0), info
        rig.remove(card)
        ev.close()


def test_push_brings_a_loss_in_seconds(rig):
    with central_and_mirror(rig, "c-push", 18476) as (central, mirror, state):
        central.publish()
        srv = subprocess.Popen([central.bin, "-d", central.dir, "serve", central.pub,
                                "127.0.0.1:18475", "0.2"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            def serving():
                try:
                    return urllib.request.urlopen("http://127.0.0.1:18475/head", timeout=1).status == 200
                except OSError:
                    return False
            assert wait_for(serving, 10, 0.1), "central serving"
            sync_daemon(rig, central, mirror, "push_url = http://127.0.0.1:18475/wait\n", poll=3600,
                        state_dir=state)
            assert wait_for(lambda: list_info(rig)["version"] >= 1, 10), list_info(rig)
            card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
            assert j["loss"]["listed"] is False, j
            time.sleep(1)  # the push thread is waiting on the central
            central.ok("add", ZHANGSAN_ID, "temporary")
            t0 = time.monotonic()
            assert wait_for(lambda: rig.ctl_json("read")[1]["loss"]["listed"], 10, 0.1), "push"
            took = time.monotonic() - t0
            assert took < 3, "push took %.1f s (central publishes every 0.2 s)" % took
            assert list_info(rig)["next_sync_in_s"] > 1000, "no poll did it"
            rig.remove(card)
        finally:
            srv.terminate()
            srv.wait(10)


def serve_broken(rig, central, mirror, name, data):
    path = os.path.join(central.pub, name)
    keep = open(path, "rb").read()
    open(path, "wb").write(data(keep) if callable(data) else data)
    return lambda: open(path, "wb").write(keep)


def test_a_mirror_that_lies_changes_nothing(rig):
    with central_and_mirror(rig, "c-lies", 18472) as (central, mirror, state):
        central.ok("add", ZHANGSAN_ID, "formal", "2026-11-20")
        central.publish()
        sync_daemon(rig, central, mirror, poll=3600, state_dir=state)
        assert wait_for(lambda: list_info(rig)["version"] == 1, 10), list_info(rig)
        card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
        assert j["loss"]["listed"] is True, j
        old_head = open(os.path.join(central.pub, "head"), "rb").read()
        ev = rig.events()

        def refused(code, words):
            rc, j, _ = rig.ctl_json("list", "sync")
            assert rc == 1 and j["error"] == code and words in j["message"], j
            e = ev.wait("list_alarm", 5)
            assert e["error"] == code and e["kept_version"] == 1, e
            rc, j, _ = rig.ctl_json("read")
            assert j["loss"]["listed"] is True and j["loss"]["list_version"] == 1, j

        # a head signed by someone else
        other = Central(rig.build, rig.tmp, "c-forger")
        other.ok("keygen")
        other.ok("remove", ZHANGSAN_ID)
        other.ok("publish", central.pub + "-forged")
        forged = open(os.path.join(central.pub + "-forged", "head"), "rb").read()
        undo = serve_broken(rig, central, mirror, "head", forged)
        refused("bad_signature", "not the central's")
        undo()
        # a damaged byte in a genuine head
        undo = serve_broken(rig, central, mirror, "head", lambda b: b.replace(b"version 1", b"version 2"))
        refused("bad_signature", "forged or damaged")
        undo()
        # the central moves on: v2 takes the card off; the mirror truncates the delta
        central.ok("remove", ZHANGSAN_ID)
        central.publish()
        undo_d = serve_broken(rig, central, mirror, "delta-1-2.bin", lambda b: b[:-4])
        undo_s = serve_broken(rig, central, mirror, "snapshot-2.bin", lambda b: b[:-4])
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 1 and j["error"] == "hash_mismatch" and "snapshot-2.bin" in j["message"], j
        e1, e2 = ev.wait("list_alarm", 5), ev.wait("list_alarm", 5)
        assert e1["error"] == "hash_mismatch" and "delta-1-2.bin" in e1["message"], e1
        assert e2["error"] == "hash_mismatch" and "snapshot-2.bin" in e2["message"], e2
        rc, j, _ = rig.ctl_json("read")
        assert j["loss"]["listed"] is True and j["loss"]["list_version"] == 1, j
        # only the delta damaged: the snapshot saves the day, with an alarm
        undo_s()
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 0 and j["how"] == "snapshot" and j["version"] == 2, j
        assert ev.wait("list_alarm", 5)["error"] == "hash_mismatch", "alarm for the delta"
        undo_d()
        rc, j, _ = rig.ctl_json("read")
        assert j["loss"]["listed"] is False and j["loss"]["list_version"] == 2, j
        # a replay of the old head (genuine signature, version 1 < 2): rollback
        undo = serve_broken(rig, central, mirror, "head", old_head)
        refused_words = "older than the 2 in force"
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 1 and j["error"] == "rollback" and refused_words in j["message"], j
        e = ev.wait("list_alarm", 5)
        assert e["error"] == "rollback" and e["kept_version"] == 2, e
        undo()
        # a file that is not there (404) and a dead mirror: kept, no alarm, not ok
        central.ok("add", ZHANGSAN_ID, "temporary")
        central.publish()
        os.rename(os.path.join(central.pub, "delta-2-3.bin"), os.path.join(rig.tmp, "d23"))
        os.rename(os.path.join(central.pub, "snapshot-3.bin"), os.path.join(rig.tmp, "s3"))
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 1 and j["error"] == "unreachable" and "404" in j["message"], j
        os.rename(os.path.join(rig.tmp, "d23"), os.path.join(central.pub, "delta-2-3.bin"))
        os.rename(os.path.join(rig.tmp, "s3"), os.path.join(central.pub, "snapshot-3.bin"))
        mirror.stop()
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 1 and j["error"] == "unreachable", j
        assert list_info(rig)["version"] == 2, "kept"
        mirror.start()
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 0 and j["version"] == 3 and j["how"] == "delta", j
        rc, j, _ = rig.ctl_json("read")
        assert j["loss"]["listed"] is True and j["loss"]["state"] == "temporary", j
        ev.close()
        rig.remove(card)


def test_central_down_the_list_goes_stale_but_stays(rig):
    with central_and_mirror(rig, "c-down", 18473) as (central, mirror, state):
        central.ok("add", ZHANGSAN_ID, "formal", "2026-11-20")
        # signed 3590 s ago: with stale_after = 3600 it turns stale in ~10 s
        central.publish(env={"SSCARD_CENTRAL_CLOCK_OFFSET": "-3590"})
        sync_daemon(rig, central, mirror, "stale_after = 3600\n", state_dir=state)
        assert wait_for(lambda: list_info(rig)["version"] == 1, 10), list_info(rig)
        assert list_info(rig)["stale"] is False, "fresh at first"
        ev = rig.events()
        mirror.stop()
        e = ev.wait("list_freshness", 25)
        assert e["stale"] is True and e["version"] == 1 and e["age_s"] >= 3600, e
        info = list_info(rig)
        assert (info["stale"] is True and info["last_sync"]["result"] == "unreachable" and
              info["version"] == 1), info
        card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
        assert j["loss"]["listed"] is True and j["loss"]["stale"] is True, j  # still refused
        rig.remove(card)
        wait_for(lambda: not rig.card_present(), 5)
        card, rc, j, _ = read_card(rig, "lisi-1.00-t0.card")
        assert (rc == 0 and j["loss"]["listed"] is False and j["loss"]["stale"] is True and
              "out of date" in j["loss"]["message"]), j
        rc, out, _ = rig.ctl("status")
        assert "STALE" in out, out
        # back: the head signed again now makes it fresh
        central.ok("resign", central.pub)
        mirror.start()
        e = ev.wait("list_freshness", 15)
        assert e["stale"] is False, e
        ev.close()
        rig.remove(card)


def test_a_full_disk_keeps_the_old_list(rig):
    with central_and_mirror(rig, "c-full", 18474) as (central, mirror, state):
        os.makedirs(state, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", state], check=True)
        central.ok("add", ZHANGSAN_ID, "formal", "2026-11-20")
        central.publish()
        try:
            sync_daemon(rig, central, mirror, poll=3600, state_dir=state)
            assert wait_for(lambda: list_info(rig)["version"] == 1, 10), list_info(rig)
            ev = rig.events()
            central.ok("generate", "60000")   # ~0.5 MB snapshot, 1.1 MB index: cannot fit
            for _ in range(33):               # and too far for the delta chain
                central.publish()
            rc, j, _ = rig.ctl_json("list", "sync")
            assert rc == 1 and j["error"] == "disk_full" and "kept" in j["message"], j
            e = ev.wait("list_alarm", 5)
            assert e["error"] == "gap", e
            e = ev.wait("list_alarm", 5)
            assert e["error"] == "disk_full" and e["kept_version"] == 1, e
            card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
            assert rc == 0 and j["loss"]["listed"] is True and j["loss"]["list_version"] == 1, j
            left = sorted(os.listdir(state))
            assert not [f for f in left if f.endswith(".tmp") or f == "snapshot.part"], left
            ev.close()
            rig.remove(card)
        finally:
            rig.stop_daemon()  # its files on the tmpfs first
            subprocess.run(["umount", state])


def central(rig, *args):
    r = subprocess.run([os.path.join(rig.build, "sscard-central"), "-d",
                        os.path.join(rig.tmp, "central")] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_central_publishes_signed_versions_a_mirror_can_check(rig):
    pub = os.path.join(rig.tmp, "pub")
    rc, pk, _ = central(rig, "keygen")
    assert rc == 0 and len(pk.strip()) == 64, pk
    rc, _, err = central(rig, "keygen")
    assert rc == 1 and "not replacing a signing key" in err, err
    assert central(rig, "add", ZHANGSAN_ID, "formal", "2026-11-20")[0] == 0, "add"
    rc, out, err = central(rig, "add", "XYZ", "formal")
    assert rc == 1 and "CARD_ID(32 hex)" in err, err
    rc, out, _ = central(rig, "publish", pub)
    assert rc == 0 and "version 1: 1 losses" in out, out
    assert central(rig, "generate", "500")[0] == 0, "generate"
    assert central(rig, "remove", ZHANGSAN_ID)[0] == 0, "remove"
    rc, out, _ = central(rig, "publish", pub)
    assert rc == 0 and "version 2: 500 losses, 501 changes" in out, out
    rc, out, err = central(rig, "check", pub)
    assert (rc == 0 and "snapshot-2.bin: 500 records, ok" in out and
          "delta-1-2.bin: 501 records, ok" in out), out + err
    head = open(os.path.join(pub, "head")).read()
    assert head.startswith("sscard-loss-head 1\nversion 2\n") and "\nsig " in head, head
    # what a mirror might break: a truncated snapshot, a re-signed-looking head
    snap = os.path.join(pub, "snapshot-2.bin")
    data = open(snap, "rb").read()
    open(snap, "wb").write(data[:-3])
    rc, _, err = central(rig, "check", pub)
    assert rc == 1 and "does not match the head" in err, err
    open(snap, "wb").write(data)
    open(os.path.join(pub, "head"), "w").write(head.replace("version 2", "version 3"))
    rc, _, err = central(rig, "check", pub)
    assert rc == 1 and "forged or damaged" in err, err
    open(os.path.join(pub, "head"), "w").write(head)
    assert central(rig, "check", pub)[0] == 0, "restored"


def test_systemd_notify_ready_status_watchdog_stopping(rig):
    """sscardd as systemd runs it: Type=notify with a watchdog."""
    rig.stop_daemon()
    path = os.path.join(rig.tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(0.2)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"}
    rig.start_daemon(env=env)
    got = []
    end = time.monotonic() + 2.5
    card = None
    while time.monotonic() < end:
        try:
            got.append(ns.recv(4096).decode())
        except socket.timeout:
            pass
        if card is None and any("READY=1" in g for g in got):
            card = rig.insert("zhangsan-2.00.card")
    text = "\n".join(got)
    assert "READY=1" in text, text
    assert text.count("WATCHDOG=1") >= 3, "watchdog pings in 2.5 s at 0.6 s: %r" % text
    assert "STATUS=pcscd up; 2 reader(s), 1 card(s); 1 card(s) read" in text, text
    rc, j, _ = rig.ctl_json("status")
    assert j["watchdog"]["enabled"] and j["watchdog"]["healthy"], j["watchdog"]
    assert j["watchdog"]["last_ping_s_ago"] < 1.2, j["watchdog"]  # pings every 0.6 s; load may delay one
    rig.remove(card)
    rig.stop_daemon()
    try:
        while True:
            got.append(ns.recv(4096).decode())
    except socket.timeout:
        pass
    assert "STOPPING=1" in "\n".join(got), got[-3:]
    ns.close()
    rig.start_daemon()


def test_an_unchanged_head_is_a_304(rig):
    """The head is asked for with If-None-Match: an unchanged one costs the
    mirror a 304, a new one comes in full (10 000 terminals on one mirror:
    bench/fleet.py)."""
    with central_and_mirror(rig, "c-304", 18496) as (central, mirror, state):
        central.publish()
        sync_daemon(rig, central, mirror, poll=5, state_dir=state)
        assert wait_for(lambda: list_info(rig)["version"] >= 1, 15), list_info(rig)
        # the scheduled polls after it: 304s
        assert wait_for(lambda: (list_info(rig).get("last_sync") or {}).get("how") == "304", 20), "an unchanged head: %r" % list_info(rig)
        log = open(os.path.join(mirror.dir, "access.log")).read()
        assert ' 304 ' in log and 'GET /head' in log, "nginx answered 304: %s" % log[-600:]
        # a technician's list sync asks in full (and checks the signature again)
        rc, j, _ = rig.ctl_json("list", "sync")
        assert rc == 0 and j["how"] == "unchanged", "list sync: %r" % j
        central.ok("add", "639900D15600000500000000000003AA", "formal", "2026-11-20")
        central.publish()
        assert wait_for(lambda: list_info(rig)["version"] >= 2, 20), "a new head by the poll: %r" % list_info(rig)
        assert (list_info(rig).get("last_sync") or {}).get("how") == "delta", list_info(rig)
