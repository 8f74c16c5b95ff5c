"""The resident ID card reader through the daemon: sscard-idreader on a pty
(sim/card/idreader.c), the daemon's polling thread (daemon/readers/
idreader.c), `sscardctl idcard` and the idcard_* events."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import IdReader, wait_for  # noqa: E402
from common import restore_daemon  # noqa: E402

ZHANG = {"ok": True, "kind": "resident", "id_number": "111111198101011110", "name": "张三",
         "sex": "1", "nation": "01", "birth_date": "1981-01-01",
         "address": "河南省郑州市金水区文化路1号", "authority": "郑州市公安局金水分局",
         "valid_from": "2015-01-01", "valid_until": "2035-01-01", "expired": False}


def idcard_daemon(rig, profile=None):
    dev = IdReader(rig.build, rig.tmp)
    dev.start(profile)
    rig.stop_daemon()
    rig.start_daemon(extra_conf="idcard = %s\nidcard_poll_ms = 100\n" % dev.link)
    assert wait_for(lambda: rig.ctl_json("status")[1]["idcard"]["state"] == "ready", 10), "the ID card reader never became ready"
    return dev


def test_idcard_read_field_by_field(rig):
    dev = idcard_daemon(rig, "zhangsan.idcard")
    try:
        rc, j, err = rig.ctl_json("idcard")
        assert rc == 0 and j == ZHANG, "sscardctl -j idcard: %r %s" % (j, err)
        # the human output masks the number, the name, birth date and address
        rc, out, _ = rig.ctl("idcard")
        assert rc == 0 and "111111********1110" in out and "张*" in out, "masked: %s" % out
        assert "111111198101011110" not in out and "文化路" not in out and "张三" not in out, "nothing in full without --reveal: %s" % out
        rc, out, _ = rig.ctl("--reveal", "idcard")
        assert "111111198101011110" in out and "文化路1号" in out, "--reveal: %s" % out
        # 长期, a 15-character name, an expired card, another kind
        dev.put("lisi-longterm.idcard")
        j = rig.ctl_json("idcard")[1]
        assert j["valid_until"] == "long-term" and not j["expired"] and j["name"] == "李四", "长期: %r" % j
        dev.put("ayiguli-longname.idcard")
        j = rig.ctl_json("idcard")[1]
        assert j["name"] == "阿依古丽·买买提艾力·阿不都热" and len(j["name"]) == 15, "15 characters: %r" % j
        dev.put("zhaoliu-expired.idcard")
        j = rig.ctl_json("idcard")[1]
        assert j["ok"] and j["expired"] is True and j["valid_until"] == "2020-01-01", "expired: %r" % j
        dev.put("foreigner-permanent.idcard")
        j = rig.ctl_json("idcard")[1]
        assert j == {"ok": True, "kind": "foreign_permanent"}, "another kind, nothing decoded: %r" % j
        # nothing on it
        dev.remove()
        rc, j, err = rig.ctl_json("idcard")
        assert rc == 1 and j["error"] == "no_card" and j["ok"] is False, "no card: %r" % j
        # garbage before the preamble is skipped; a checksum error is an error, then it recovers
        dev.put("zhangsan.idcard")
        dev.send("garbage 3")
        j = rig.ctl_json("idcard")[1]
        assert j == ZHANG, "after garbage: %r" % j
        dev.send("checksum 1")
        j = rig.ctl_json("idcard")[1]
        assert j["ok"] or j["error"] == "bad_answer", "a checksum error: %r" % j
        assert wait_for(lambda: rig.ctl_json("idcard")[1] == ZHANG, 5), "recovered after a checksum error"
        dev.send("junk 2")
        assert wait_for(lambda: rig.ctl_json("idcard")[1] == ZHANG, 5), "recovered after junk"
        # nothing personal in the daemon's log
        log = "".join(open(p, errors="replace").read() for p in rig.daemon_logs)
        for secret in ("111111198101011110", "张三", "文化路", "李四", "650102198008081243"):
            assert secret not in log, "%s in the daemon's log" % secret
    finally:
        dev.stop()
        restore_daemon(rig)


def test_idcard_events_one_per_card_taken_away_mid_read(rig):
    dev = idcard_daemon(rig)
    ev = rig.events()
    try:
        dev.put("zhangsan.idcard")
        e = ev.wait("idcard_present", 5)
        assert e == {"event": "idcard_present"}, "the event carries nothing personal: %r" % e
        # left lying there: read again and again, never a new event
        n = len(dev.reads())
        assert wait_for(lambda: len(dev.reads()) >= n + 5, 10), "the reader is polled"
        e = ev.wait("idcard_present", 1.0)
        assert e is None, "the same card lying there is one event, got %r" % e
        # another card: a new event; taken away: removed
        dev.put("lisi-longterm.idcard")
        assert ev.wait("idcard_present", 5) is not None, "a different card is a new event"
        dev.remove()
        assert ev.wait("idcard_removed", 5) is not None, "removed"
        # put back: a new event (the same card after it was gone)
        dev.put("lisi-longterm.idcard")
        assert ev.wait("idcard_present", 5) is not None, "put back"
        # taken away while the reader reads it
        dev.send("moved")
        e = ev.wait("idcard_error", 5)
        assert e == {"event": "idcard_error", "code": "card_removed"}, "mid-read: %r" % e
        st = rig.ctl_json("status")[1]["idcard"]
        assert st["state"] == "ready" and st["failures"] >= 1 and "41" in st.get("last_error", ""), "status after mid-read: %r" % st
    finally:
        ev.close()
        dev.stop()
        restore_daemon(rig)


def test_idcard_mute_reader_and_unplugged(rig):
    dev = idcard_daemon(rig, "zhangsan.idcard")
    ev = rig.events()
    try:
        dev.send("mute on")
        e = ev.wait("idcard_reader", 10, state="not_answering")
        assert e is not None, "a mute reader is said to be not answering"
        t0 = time.monotonic()
        rc, j, _ = rig.ctl_json("idcard", timeout=20)
        took = time.monotonic() - t0
        assert rc == 1 and j["error"] == "reader_timeout", "mute: %r" % j
        assert took < 5, "a mute reader is answered within its time-outs, took %.1f s" % took
        dev.send("mute off")
        assert ev.wait("idcard_reader", 10, state="ready") is not None, "answering again"
        # unplugged: the device is gone, then back at the same path
        dev.stop()
        assert ev.wait("idcard_reader", 10, state="absent") is not None, "unplugged"
        rc, j, _ = rig.ctl_json("idcard")
        assert rc == 1 and j["error"] == "no_reader", "unplugged: %r" % j
        assert rig.ctl_json("status")[1]["idcard"]["state"] == "absent", "status says absent"
        dev.start("zhangsan.idcard")
        assert ev.wait("idcard_reader", 10, state="ready") is not None, "plugged back"
        assert ev.wait("idcard_present", 5) is not None, "its card is seen again"
        assert rig.ctl_json("idcard")[1] == ZHANG, "reads after coming back"
    finally:
        ev.close()
        dev.stop()
        restore_daemon(rig)


def test_idcard_bad_config_and_no_reader(rig):
    rc, j, _ = rig.ctl_json("idcard")
    assert rc == 1 and j["error"] == "no_reader" and "[readers] idcard" in j["message"], "none: %r" % j
    assert rig.ctl_json("status")[1]["idcard"] == {"state": "off"}, "status: off"
    conf = os.path.join(rig.tmp, "bad-idcard.conf")
    import subprocess
    for value, want in (("ttyUSB0", "serial device path"), ("/dev/ttyUSB0:12345", "9600, 19200")):
        with open(conf, "w") as f:
            f.write("[readers]\nidcard = %s\n" % value)
        r = subprocess.run([os.path.join(rig.build, "sscardd"), "-c", conf, "--check-config"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 78 and want in r.stderr and ":2:" in r.stderr, "idcard = %s: %d %s" % (value, r.returncode, r.stderr)
