"""Reader tests: every profile over PC/SC, faults (mute, slow, pulled
cards), pcscd restarts, events, the control socket, filters, reload, reset."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, READER1, read_all, wait_for  # noqa: E402
from common import ROOT_DIR, ALL_FIELDS, EXPECT, PERSONAL, Pn532, read_card, restore_daemon  # noqa: E402


def test_every_profile_reads_field_by_field(rig):
    for profile, want in EXPECT.items():
        card, rc, j, err = read_card(rig, profile)
        assert rc == 0, "%s: exit %d %s" % (profile, rc, err)
        for k, v in want.items():
            assert j.get(k) == v, "%s: %s = %r, want %r" % (profile, k, j.get(k), v)
        for k in ALL_FIELDS:
            if k not in want:
                assert k not in j, "%s: %s present but the card did not give it" % (profile, k)
                assert any(e["field"] == k for e in j.get("errors", [])), "%s: no error says why %s is missing" % (profile, k)
        if profile not in ("wangwu-3.00.card", "vector-2.00.card"):
            assert "errors" not in j, "%s: unexpected errors %r" % (profile, j.get("errors"))
        assert j["elapsed_ms"] > 0, "elapsed_ms"
        rig.remove(card)
        assert wait_for(lambda: not rig.card_present(), 5), "card removal not seen"


def test_spec_300_card_gives_ef05_and_says_why_not_ef06(rig):
    card, rc, j, _ = read_card(rig, "wangwu-3.00.card")
    assert rc == 0, "exit %d" % rc
    errs = {e["field"]: e for e in j["errors"]}
    for f in PERSONAL:
        assert errs[f]["code"] == "security_not_satisfied" and errs[f]["sw"] == "6982", "%s: %r" % (f, errs.get(f))
    rc, out, _ = rig.ctl("read")
    assert "security_not_satisfied" in out and "6982" in out, out
    rig.remove(card)


def test_missing_records_reported_as_record_not_found(rig):
    card, rc, j, _ = read_card(rig, "vector-2.00.card")
    errs = {e["field"]: e for e in j["errors"]}
    for f in ("card_type", "issuer", "nation", "birthplace"):
        assert errs[f]["code"] == "record_not_found" and errs[f]["sw"] == "6A83", repr(errs)
    rig.remove(card)


def test_human_output_masks_unless_reveal(rig):
    card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
    rc, out, _ = rig.ctl("read")
    assert rc == 0, "exit"
    assert "111111********1110" in out and "张*" in out, out
    assert "111111198101011110" not in out and "张三" not in out, "unmasked: " + out
    rc, out, _ = rig.ctl("--reveal", "read")
    assert "111111198101011110" in out and "张三" in out, out
    logs = "".join(open(p).read() for p in rig.daemon_logs)
    assert "111111198101011110" not in logs and "张三" not in logs, "personal data in the log"
    rig.remove(card)


def test_not_an_ssc_card(rig):
    card, rc, j, err = read_card(rig, "bankcard.card")
    assert rc == 1, "exit %d" % rc
    assert j["error"] == "not_ssc" and j["message"] == "This is not a social security card.", j
    assert "This is not a social security card" in err, err
    rig.remove(card)


def test_no_card_unknown_reader_usage_and_unreachable(rig):
    rc, j, err = rig.ctl_json("read")
    assert rc == 1 and j["error"] == "no_card", (rc, j)
    rc, j, err = rig.ctl_json("read", "No Such Reader 99")
    assert rc == 1 and j["error"] == "unknown_reader", (rc, j)
    rc, _, err = rig.ctl("frobnicate")
    assert rc == 2, "usage exit %d" % rc
    rc, _, err = rig.ctl("status", env={"SSCARD_SOCKET": rig.tmp + "/nope.sock"})
    assert rc == 69 and "cannot reach sscardd" in err, (rc, err)


def test_card_pulled_mid_read(rig):
    ev = rig.events()
    card = rig.insert("zhangsan-2.00.card", 0x8C7B, "--remove-after", "6")
    seen = {}
    while len(seen) < 2:
        e = ev.next(10)
        assert e, "events so far: %r" % seen
        if e["event"] in ("read_failed", "card_removed"):
            seen[e["event"]] = e
    assert seen["read_failed"]["error"] == "card_removed", "read_failed: %r" % seen
    ev.close()
    rig.remove(card)
    rc, j, _ = rig.ctl_json("read")
    assert rc == 1 and j["error"] == "no_card", j


def test_card_pulled_and_pushed_back_within_a_poll_is_read(rig):
    ev = rig.events()
    card = rig.insert("zhangsan-2.00.card", 0x8C7B, "--bounce-after", "5")
    seen = []
    while True:
        e = ev.next(10)
        assert e, "events so far: %r" % seen
        seen.append(e["event"])
        if e["event"] in ("card_read", "read_failed"):
            break
    assert e["event"] == "card_read" and e["card"]["name"] == "张三", "a quick re-insertion must be read, not reported as a reader error: %r" % e
    ev.close()
    rig.remove(card)


def test_mute_card_never_hangs_the_daemon(rig):
    ev = rig.events()
    card = rig.insert("zhangsan-2.00.card", 0x8C7B, "--mute-after", "3")
    assert ev.wait("card_inserted", 5), "no card_inserted"
    time.sleep(0.2)  # the automatic read is now stuck on the mute card
    worst = 0.0
    for _ in range(10):
        t0 = time.monotonic()
        j = rig.request(b"status\n")[0]
        worst = max(worst, time.monotonic() - t0)
        assert j.get("ok") is not False and j["readers"], "status failed while the card is mute"
    print("# status while a card is mute: slowest of 10 answers %.1f ms" % (worst * 1000))
    # a status that waited for the stuck read would take the read's whole
    # timeout (1.5 s here); under load (the suites side by side, ASan) an
    # answer may take a few hundred ms without waiting for anything. The
    # 100 ms target is measured where it belongs: docs/measured.md.
    assert worst < 1.0, "status took %.3f s: it waited for the mute card" % worst
    e = ev.wait("read_failed", 5, reader=READER0)
    assert e and e["error"] == "card_timeout", "no timeout event: %r" % e
    t0 = time.monotonic()
    rc, j, _ = rig.ctl_json("read")
    assert rc == 1 and j["error"] == "card_timeout", j
    assert time.monotonic() - t0 < 1.0, "a read on a stuck reader must answer at once"
    rig.remove(card)  # pulling the card frees the reader
    assert ev.wait("card_removed", 5), "no card_removed"
    card, rc, j, _ = read_card(rig, "lisi-1.00-t0.card")
    assert rc == 0 and j["name"] == "李四", "reader did not recover: %r" % j
    ev.close()
    rig.remove(card)


def test_slow_card_still_reads(rig):
    card, rc, j, _ = read_card(rig, "zhangsan-2.00.card", "--delay-ms", "20")
    assert rc == 0 and j["ssn"] == "111111198101011110", j
    assert j["elapsed_ms"] >= 15 * 20, "delay not applied: %s" % j["elapsed_ms"]
    rig.remove(card)


def test_pcscd_restart_readers_back_within_2s(rig):
    card = rig.insert("zhangsan-2.00.card")
    assert wait_for(lambda: rig.card_present(), 5), "card"
    ev = rig.events()
    rig.kill_pcscd()
    assert ev.wait("pcsc_down", 5), "no pcsc_down event"
    rc, j, _ = rig.ctl_json("read")
    assert rc == 1 and j["error"] in ("no_service", "no_reader"), j
    time.sleep(0.5)
    up = rig.start_pcscd()
    back = wait_for(lambda: rig.card_present(), 5)
    t_back = time.monotonic() - up
    assert back, "reader and card not back"
    rc, j, _ = rig.ctl_json("read")
    t_read = time.monotonic() - up
    assert rc == 0 and j["card_id"] == "639900D15600000500BF7C7A48FB4966", j
    print("# pcscd restart: reader with card back %.2f s, first read done %.2f s after pcscd"
          % (t_back, t_read))
    assert t_read <= 2.0, "took %.2f s" % t_read
    ev.close()
    rig.remove(card)


def test_requests_right_after_start_wait_for_the_reader_scan(rig):
    """A counter program that asks the moment sscardd is up gets the card, not
    "no reader" for a reader the daemon has not listed yet."""
    want = EXPECT["zhangsan-2.00.card"]
    card = rig.insert("zhangsan-2.00.card", 0x8C7B)
    assert wait_for(lambda: rig.card_present(READER0), 5), "card"
    try:
        for i in range(8):
            rig.stop_daemon()
            rig.start_daemon()
            got = rig.request(b"read\nread %s\nread %s\n" % (READER0.encode(), READER1.encode()))
            assert len(got) == 3 and got[0].get("card_id") == want["card_id"], (i, got)
            assert got[1].get("card_id") == want["card_id"], (i, got[1])
            assert got[2].get("error") == "no_card", (i, got[2])
        # pcscd not running at start: told at once, in words that say so
        rig.stop_daemon()
        rig.kill_pcscd()
        rig.start_daemon()
        t0 = time.monotonic()
        got = rig.request(b"read\n")
        assert got[0].get("error") == "no_service" and time.monotonic() - t0 < 1.5, got
        assert wait_for(lambda: "pcscd is not running" in open(rig.daemon_logs[-1]).read(), 5), "log says why"
        rig.start_pcscd()
        assert wait_for(lambda: rig.card_present(READER0), 5), "card after pcscd started"
        rig.remove(card)
        card = None
        assert wait_for(lambda: not rig.card_present(READER0), 5), "removal"
        # the same for an NFC reader: the helper opens the device and looks first
        dev = Pn532(rig, "zhangsan-2.00.card")
        try:
            for i in range(3):
                rig.stop_daemon()
                rig.start_daemon(extra_conf="nfc = %s\n" % dev.conn)
                got = rig.request(b"read @contactless\nread\n")
                assert len(got) == 2 and all(g.get("card_id") == want["card_id"] for g in got), (i, got)
        finally:
            dev.stop()
    finally:
        if card:
            rig.remove(card)
        restore_daemon(rig)


def test_two_readers_at_once(rig):
    a = rig.insert("zhangsan-2.00.card", 0x8C7B)
    b = rig.insert("ayiguli-2.00-longname.card", 0x8C7C)
    assert wait_for(lambda: rig.card_present(READER0) and rig.card_present(READER1), 5), "both cards"
    out = {}

    def one(reader):
        out[reader] = rig.ctl_json("read", reader)

    for _ in range(5):
        ts = [threading.Thread(target=one, args=(r,)) for r in (READER0, READER1)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert out[READER0][0] == 0 and out[READER0][1]["name"] == "张三", out[READER0]
        assert out[READER1][0] == 0 and out[READER1][1]["name"].startswith("阿依古丽"), out[READER1]
        assert out[READER1][1]["reader"] == READER1, "reader key"
    rig.remove(a)
    rig.remove(b)


def test_events_stream(rig):
    ev = rig.events()
    card = rig.insert("lisi-1.00-t0.card")
    e = ev.wait("card_inserted", 5, reader=READER0)
    assert e and e["atr"].startswith("3B6D"), e
    e = ev.wait("card_read", 5, reader=READER0)
    assert e and e["card"]["card_id"] == "639900D156000005001122334455667A", e
    rig.remove(card)
    assert ev.wait("card_removed", 5, reader=READER0), "card_removed"
    rc, j, _ = rig.ctl_json("status")
    assert j["last_event"]["event"] == "card_removed", j["last_event"]
    assert j["reads_ok"] >= 1 and j["pcsc"] == "up", j
    ev.close()


def test_control_socket_refuses_garbage(rig):
    r = rig.request(b"\x00\x01\xff\xfe garbage\n")
    assert r[0]["ok"] is False and r[0]["error"] == "invalid_argument", r
    r = rig.request(b"x" * 5000)
    assert r and r[0]["ok"] is False and "too long" in r[0]["message"], r
    r = rig.request(b"bogus verb\nstatus\nreaders")  # last line without newline
    assert len(r) == 3 and r[0]["ok"] is False and r[1]["ok"] and "readers" in r[2], r
    r = rig.request(b"read")
    assert r[0]["error"] == "no_card", r
    rc, j, _ = rig.ctl_json("status")
    assert rc == 0, "daemon died"


def test_slow_subscriber_is_dropped_not_waited_for(rig):
    import socket
    card = rig.insert("ayiguli-2.00-longname.card")
    assert wait_for(lambda: rig.card_present(), 5), "card"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(rig.sock)
    s.sendall(b"events\n")  # ... and never read
    # Each read makes a card_read event of about 1 KiB for the subscriber.
    for rounds in range(1, 21):
        r = rig.request(b"read\n" * 25, timeout=30)
        assert len(r) == 25 and all(x["ok"] for x in r), "reads failed"
        rc, j, _ = rig.ctl_json("status")
        if j["clients"] == 1:
            break
    assert j["clients"] == 1, "the slow subscriber was never dropped (%d clients)" % j["clients"]
    print("# slow subscriber dropped after %d card reads" % (rounds * 25))
    s.close()
    rig.remove(card)


def test_config_errors_exit_78_with_file_and_line(rig):
    bad = os.path.join(rig.tmp, "bad.conf")
    sscardd = os.path.join(rig.build, "sscardd")
    cases = [("[daemon]\nsocket = /tmp/x.sock\nbogus = 1\n", ":3: unknown key 'bogus'"),
             ("[readers]\npcsc = maybe\n", ":2: pcsc must be yes or no"),
             ("[readers]\nread_timeout_ms = 5\n", ":2: read_timeout_ms"),
             ("[daemon]\nlog_level = info\nlog_level = debug\n", ":3: duplicate key"),
             ("[nope]\nx = 1\n", ":2: unknown section"),
             ("[daemon]\njust some words\n", ":2: not a 'key = value'")]
    for text, want in cases:
        open(bad, "w").write(text)
        r = subprocess.run([sscardd, "--check-config", "-c", bad], capture_output=True, text=True)
        assert r.returncode == 78 and (bad + want) in r.stderr, (text, r.returncode, r.stderr)
    r = subprocess.run([sscardd, "--check-config", "-c", os.path.join(rig.tmp, "missing.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 78, "missing explicit file must fail"
    example = os.path.join(os.path.dirname(rig.build.rstrip("/")), "config", "sscard.conf")
    if not os.path.exists(example):
        example = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "..", "config", "sscard.conf")
    # the example as installed: its [ui] root has the kiosk pages
    text = open(example).read()
    root_line = text[:text.index("\nroot = ")].count("\n") + 2
    here = os.path.join(rig.tmp, "example.conf")
    open(here, "w").write(text.replace("\nroot = /usr/local/share/sscard/ui\n",
                                       "\nroot = %s/ui\n" % ROOT_DIR))
    r = subprocess.run([sscardd, "--check-config", "-c", here], capture_output=True, text=True)
    assert r.returncode == 0, "example config: " + r.stderr
    # … and where the pages are not: FILE:LINE, before the kiosk shows an error
    open(here, "w").write(text.replace("\nroot = /usr/local/share/sscard/ui\n",
                                       "\nroot = %s\n" % rig.tmp))
    r = subprocess.run([sscardd, "--check-config", "-c", here], capture_output=True, text=True)
    assert (r.returncode == 78 and "%s:%d: [ui] root" % (here, root_line) in r.stderr and
          "index.html" in r.stderr), (r.returncode, r.stderr)


def test_reader_filters(rig):
    rc, _ = rig.stop_daemon()
    rig.start_daemon(extra_conf="exclude = *00 01\n")
    assert wait_for(lambda: rig.ctl_json("readers")[1]["readers"], 5), "no readers"
    names = [r["name"] for r in rig.ctl_json("readers")[1]["readers"]]
    assert names == [READER0], names
    rig.stop_daemon()
    rig.start_daemon()
    assert wait_for(lambda: len(rig.ctl_json("readers")[1]["readers"]) == 2, 5), "readers back"


def test_clean_exit_on_sigterm_and_no_sanitizer_reports(rig):
    card = rig.insert("zhangsan-2.00.card")
    wait_for(lambda: rig.card_present(), 5)
    rc, took = rig.stop_daemon()
    assert rc == 0 and took < 3, "exit %d after %.2f s" % (rc, took)
    assert not os.path.exists(rig.sock), "socket left behind"
    rig.remove(card)
    bad = rig.sanitizer_reports()
    assert not bad, "sanitizer reports in " + ", ".join(bad)
    rig.start_daemon()


def poke(rig, *args):
    r = subprocess.run([os.path.join(rig.build, "pcsc-poke"), READER0] + list(args),
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip()


def test_held_card_is_let_go_for_other_programs(rig):
    rig.stop_daemon()
    rig.start_daemon(extra_conf="card_hold_ms = 300\n")
    assert wait_for(lambda: len(rig.ctl_json("readers")[1]["readers"]) == 2, 5), "readers"
    card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
    assert rc == 0, "read"
    # within card_hold_ms the daemon still holds its shared connection …
    rc, j, _ = rig.ctl_json("read")
    out = poke(rig, "exclusive", "0")
    assert "Sharing violation" in out, "exclusive connect during the hold: " + out
    # … after it, another program may take the card exclusively
    assert wait_for(lambda: poke(rig, "exclusive", "0") == "ok", 3), "card never let go"
    # and while that program holds it, a read waits, then says so plainly
    p = subprocess.Popen([os.path.join(rig.build, "pcsc-poke"), READER0, "exclusive", "3000"],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    rc, j, _ = rig.ctl_json("read")
    assert rc == 1 and j["error"] == "reader_busy", j
    assert p.wait(10) == 0, "poke"
    rc, j, _ = rig.ctl_json("read")
    assert rc == 0 and j["name"] == "张三", j
    rig.remove(card)
    rig.stop_daemon()
    rig.start_daemon()
    assert wait_for(lambda: len(rig.ctl_json("readers")[1]["readers"]) == 2, 5), "readers back"


def test_card_reset_by_another_program_is_read_again(rig):
    card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
    assert rc == 0, "read"
    assert poke(rig, "reset") == "ok", "reset"
    rc, j, _ = rig.ctl_json("read")
    assert rc == 0 and j["name"] == "张三" and j["apdus"] == 15, j
    rig.remove(card)


def test_card_swapped_quickly_reads_the_new_card(rig):
    card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
    assert rc == 0 and j["name"] == "张三", "first card"
    rig.remove(card)
    card = rig.insert("lisi-1.00-t0.card")
    for _ in range(3):  # whether or not the daemon saw the removal yet
        rc, j, _ = rig.ctl_json("read")
        if rc == 0:
            break
        time.sleep(0.3)
    assert rc == 0 and j["name"] == "李四", "stale card data: %r" % j
    rig.remove(card)


NOBODY = 65534
USERS_GID = 100  # Debian's "users" group


def test_admin_verbs_need_root_or_the_admin_group(rig):
    os.chmod(rig.tmp, 0o755)
    os.chmod(rig.sock, 0o666)  # this test is about the daemon's check, not file modes
    rc, j, err = rig.ctl_as(NOBODY, [], "status")
    assert rc == 0 and j["readers"], "status as nobody: %r %s" % (j, err)
    for verb in (["trace", "on"], ["trace", "off"], ["reload"], ["reader", "reset", READER0],
                 ["log", "level", "debug"], ["list", "sync"]):
        rc, j, err = rig.ctl_as(NOBODY, [], *verb)
        assert rc == 1 and j["error"] == "not_allowed", "%s as nobody: %r" % (verb, j)
        assert "Not allowed" in err, err
    rc, j, _ = rig.ctl_json("log", "level", "info")  # root may
    assert rc == 0 and j["log_level"] == "info", j
    # members of admin_group may, whether it is their primary group or not
    rig.stop_daemon()
    rig.start_daemon(extra_conf="[daemon]\nadmin_group = users\n")
    os.chmod(rig.sock, 0o666)
    rc, j, err = rig.ctl_as(NOBODY, [USERS_GID], "log", "level", "info")
    assert rc == 0 and j["log_level"] == "info", "nobody in users: %r %s" % (j, err)
    rc, j, _ = rig.ctl_as(NOBODY, [], "log", "level", "info")
    assert rc == 1 and j["error"] == "not_allowed", j
    logs = open(rig.daemon_logs[-1]).read()
    assert "refused to uid 65534" in logs, "refusals are logged"
    rig.stop_daemon()
    rig.start_daemon()
    os.chmod(rig.tmp, 0o700)


def test_trace_shows_apdus_with_personal_data_redacted(rig):
    tr = rig.events("trace on")
    card = rig.insert("zhangsan-2.00.card")
    lines = []
    while True:
        e = tr.next(5)
        assert e, "trace ended early: %r" % lines[-3:]
        lines.append(e)
        if e["event"] in ("card_read", "read_failed"):
            break
    apdus = [e for e in lines if e["event"] == "apdu"]
    assert len(apdus) == 15, "%d apdu lines" % len(apdus)
    assert apdus[0]["cmd"].startswith("00A40400") and apdus[0]["sw"] == "9000", apdus[0]
    assert all(isinstance(e["us"], int) and e["reader"] == READER0 for e in apdus), "fields"
    text = json.dumps(apdus)
    ssn_hex = "111111198101011110".encode().hex().upper()
    name_hex = "张三".encode("gbk").hex().upper()
    assert ssn_hex not in text and name_hex not in text, "personal data in the trace"
    assert any(e.get("redacted") for e in apdus), "no line says it was redacted"
    # the card_read event itself goes to subscribers as before; trace off ends the stream
    rc, j, _ = rig.ctl_json("trace", "off")
    assert rc == 0 and j["stopped"] == 1, j
    e = tr.next(5)
    assert e and e["event"] == "trace_off", e
    assert tr.next(2) is None, "stream not closed after trace off"
    tr.close()
    rc, j, _ = rig.ctl_json("status")
    assert j["trace"] is False, "status still says trace on"
    # no trace subscriber: no apdu lines for plain subscribers either
    ev = rig.events()
    rc, j, _ = rig.ctl_json("read")
    e = ev.next(2)
    assert e is None or e["event"] != "apdu", e
    ev.close()
    rig.remove(card)


def test_reload_applies_good_config_and_keeps_the_old_on_bad(rig):
    conf = os.path.join(rig.tmp, "sscard.conf")
    orig = open(conf).read()
    rc, j, _ = rig.ctl_json("status")
    assert j["log_level"] == "debug", j["log_level"]
    open(conf, "w").write(orig.replace("log_level = debug", "log_level = notice")
                          + "exclude = *00 01\n")
    rc, j, _ = rig.ctl_json("reload")
    assert rc == 0 and j["needs_restart"] == [], j
    rc, j, _ = rig.ctl_json("status")
    assert j["log_level"] == "notice", j["log_level"]
    assert [r["name"] for r in rig.ctl_json("readers")[1]["readers"]] == [READER0], "exclude"
    # a bad file: reload says where and why, nothing changes
    open(conf, "w").write(orig + "card_hold_ms = lots\n")
    rc, j, err = rig.ctl_json("reload")
    assert rc == 1 and j["error"] == "config_error", j
    assert "sscard.conf:%d: card_hold_ms" % (orig.count("\n") + 1) in j["message"], j["message"]
    assert j["kept"] == "the running configuration", j
    rc, j, _ = rig.ctl_json("status")
    assert j["log_level"] == "notice" and j["reloads"] == {"ok": 1, "failed": 1}, j
    # SIGHUP does the same
    rig.daemon.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert rig.daemon.poll() is None, "SIGHUP with a bad file killed the daemon"
    j = rig.ctl_json("status")[1]
    assert j.get("reloads", {}).get("failed") == 2, "SIGHUP not counted: %r" % j
    open(conf, "w").write(orig.replace("socket = ", "socket = /tmp/elsewhere.sock\n;"))
    rc, j, _ = rig.ctl_json("reload")
    assert rc == 0 and j["needs_restart"] == ["socket"], j
    open(conf, "w").write(orig)
    rc, j, _ = rig.ctl_json("reload")
    assert rc == 0, j
    assert wait_for(lambda: len(rig.ctl_json("readers")[1]["readers"]) == 2, 3), "reader back"
    assert rig.ctl_json("status")[1]["log_level"] == "debug", "log level back"


def test_idle_clients_are_closed_streams_are_not(rig):
    rig.stop_daemon()
    rig.start_daemon(extra_conf="[daemon]\nclient_idle_s = 1\n")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(rig.sock)
    s.sendall(b"stat")  # half a request, then nothing
    s.settimeout(5)
    t0 = time.monotonic()
    data = read_all(s)
    took = time.monotonic() - t0
    s.close()
    j = json.loads(data.decode().splitlines()[0])
    assert j["error"] == "idle" and 0.9 < took < 3.5, (j, took)
    ev = rig.events()
    time.sleep(2.5)
    card = rig.insert("zhangsan-2.00.card")
    assert ev.wait("card_read", 5), "an events stream was closed as idle"
    ev.close()
    rig.remove(card)
    rig.stop_daemon()
    rig.start_daemon()


def test_reader_reset_gives_a_stuck_reader_a_fresh_start(rig):
    rig.stop_daemon()
    rig.start_daemon(read_timeout_ms=400)  # well before vpcd gives up on the mute card
    ev = rig.events()
    card = rig.insert("zhangsan-2.00.card", 0x8C7B, "--mute-after", "3")
    e = ev.wait("read_failed", 5, reader=READER0)
    assert e and e["error"] == "card_timeout", e
    st = [r for r in rig.ctl_json("readers")[1]["readers"] if r["name"] == READER0][0]
    assert st["state"] == "stuck", st
    rc, j, _ = rig.ctl_json("reader", "reset", READER0)
    assert rc == 0 and j["was_stuck"] is True, j
    assert ev.wait("reader_reset", 2, reader=READER0), "no reader_reset event"
    rc, j, _ = rig.ctl_json("reader", "reset", "No Such Reader")
    assert rc == 1 and j["error"] == "unknown_reader", j
    rig.remove(card)
    assert ev.wait("card_removed", 5), "removal"
    card = rig.insert("lisi-1.00-t0.card")
    e = ev.wait("card_read", 5, reader=READER0)
    assert e and e["card"]["name"] == "李四", e
    ev.close()
    rig.remove(card)
    rig.stop_daemon()
    rig.start_daemon()


def test_sixteen_readers_then_unplugged_and_replugged(rig):
    # 16 = PCSCLITE_MAX_READERS_CONTEXTS, the most one pcscd serves
    N = int(os.environ.get("SSCARD_N", "16"))
    rig.stop_daemon()
    rig.kill_pcscd()
    rig.start_pcscd(slots=N // 2)
    rig.start_daemon()
    def names():
        rc, j, err = rig.ctl_json("readers")
        return [r["name"] for r in j["readers"]] if j and "readers" in j else [j, err]
    assert wait_for(lambda: len(names()) == N, 10), "%d readers: %r" % (N, names())
    ev = rig.events()
    cards = [rig.insert("zhangsan-2.00.card", 0x8C7B + i) for i in range(N)]
    seen = set()
    kinds = []
    end = time.monotonic() + 20
    while len(seen) < N and time.monotonic() < end:
        e = ev.next(max(0.1, end - time.monotonic()))
        kinds.append(e and e["event"])
        if e and e["event"] == "card_read":
            assert e["card"]["name"] == "张三", e
            seen.add(e["reader"])
        assert not (e and e["event"] == "read_failed"), "read failed: %r" % e
    assert len(seen) == N, "read in %d of %d readers: %r" % (len(seen), N, kinds[:40])
    t0 = time.monotonic()
    j = rig.request(b"status\n")[0]
    took = time.monotonic() - t0  # status never waits for a reader: far below a read's time
    assert len(j["readers"]) == N and took < 1.0, "status with %d readers: %.3f s" % (N, took)
    for c in cards:
        rig.remove(c)
    # unplug 14 of them: pcscd comes back with one vpcd slot (a config change)
    rig.kill_pcscd()
    rig.start_pcscd(slots=1)
    assert wait_for(lambda: len(names()) == 2, 5), "readers after unplug: %r" % names()
    removed = 0
    while True:
        e = ev.next(0.5)
        if not e:
            break
        removed += e["event"] == "reader_removed"
    assert removed >= N - 2, "reader_removed events: %d" % removed
    ev.close()
    rc, j, _ = rig.ctl_json("read", "Virtual PCD E 00 00")
    assert rc == 1 and j["error"] == "unknown_reader", j
    card, rc, j, _ = read_card(rig, "lisi-1.00-t0.card")
    assert rc == 0 and j["name"] == "李四", j
    rig.remove(card)


def test_read_without_a_reader_name_prefers_the_configured_interface(rig):
    def states():
        return {r["name"]: r["state"] for r in rig.ctl_json("readers")[1]["readers"] if r["card_present"]}

    a = rig.insert("zhangsan-2.00.card", 0x8C7B)
    b = rig.insert("zhangsan-2.00-contactless.card", 0x8C7C)
    # contact preferred: the card on the contactless reader is taken for the
    # same card seen twice, and left alone
    assert wait_for(lambda: states() == {READER0: "card", READER1: "shadowed"}, 5), states()
    rc, j, _ = rig.ctl_json("read")
    assert rc == 0 and j["reader"] == READER0 and j["interface"] == "contact", j
    rig.stop_daemon()
    rig.start_daemon(extra_conf="prefer = contactless\n")
    assert wait_for(lambda: READER1 in states() and READER0 in states(), 5), "cards"
    rc, j, _ = rig.ctl_json("read")
    assert rc == 0 and j["reader"] == READER1 and j["interface"] == "contactless", j
    readers = {r["name"]: r["interface"] for r in rig.ctl_json("readers")[1]["readers"]}
    assert readers[READER1] == "contactless", readers
    rig.remove(b)  # only the contact card left: that one, whatever is preferred
    assert wait_for(lambda: not rig.card_present(READER1), 5), "removal"
    rc, j, _ = rig.ctl_json("read")
    assert rc == 0 and j["reader"] == READER0, j
    rig.remove(a)
    rig.stop_daemon()
    rig.start_daemon()
