"""Counter software tests: libsscard (C and Python) field by field, listed
cards, PIN pads, the HTTP card API and its origins."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import PROFILES, READER0, wait_for  # noqa: E402
from common import EXPECT, Pn532, ROOT_DIR, nfc_daemon, restore_daemon, BAS_KEYS, PLAIN_LIB, api_c, bas_line  # noqa: E402


def api_py(rig, itype=3, env=None):
    e = dict(os.environ, SSCARD_SOCKET=rig.sock, SSCARD_LIB=PLAIN_LIB)
    e.update(env or {})
    r = subprocess.run([sys.executable, os.path.join(ROOT_DIR, "examples", "readcard.py"), str(itype)],
                       capture_output=True, text=True, timeout=60, env=e)
    rc, _, out = r.stdout.splitlines()[0].partition(" ")
    return int(rc), out


def test_reader_api_every_profile_field_by_field(rig):
    rig.stop_daemon()
    rig.start_daemon(extra_conf="[daemon]\nterminal_id = HOSP-07-K2\n")
    try:
        assert api_c(rig, 1) == [(-2, "There is no card in the reader. (no_card)")], api_c(rig, 1)
        for profile, want in EXPECT.items():
            card = rig.insert(profile, 0x8C7B)
            assert wait_for(lambda: rig.card_present(READER0), 5), profile
            for itype in (1, 3, 4):
                calls = api_c(rig, itype)
                if "ssn" in want:
                    assert len(calls) == 1 and calls[0][0] == 0, "%s iType %d: %r" % (profile, itype, calls)
                    got = calls[0][1].split("|")
                    assert len(got) == 12 and got[11] == "" and got[9:11] == ["HOSP-07-K2", READER0], got
                    for i, k in enumerate(BAS_KEYS):
                        if k in want:
                            v = want[k].replace("-", "") if k.endswith("_date") else want[k]
                            assert got[i] == v, "%s: %s = %r, want %r" % (profile, k, got[i], v)
                    assert api_py(rig, itype) == calls[0], "%s python: %r" % (profile, api_py(rig, itype))
                else:  # a 3.00 card without a security module: the status word says why
                    assert calls[0][0] == -6982 and "security module" in calls[0][1], "%s: %r" % (profile, calls)
            # contactless asked for, there is no NFC reader: a reader error, not "no card"
            assert api_c(rig, 2)[0][0] == -11, api_c(rig, 2)
            rig.remove(card)
            assert wait_for(lambda: not rig.card_present(), 5), "removal"
        card = rig.insert("bankcard.card", 0x8C7B)
        assert wait_for(lambda: rig.card_present(READER0), 5), "bank card"
        assert api_c(rig, 3)[0][0] == -1, api_c(rig, 3)
        assert api_c(rig, 9)[0][0] == -1004, api_c(rig, 9)
        rig.remove(card)
        assert wait_for(lambda: not rig.card_present(), 5), "removal"
    finally:
        restore_daemon(rig)


def test_reader_api_listed_card_gbk_concurrency_and_buffer(rig):
    want = EXPECT["zhangsan-2.00.card"]
    card = rig.insert("zhangsan-2.00.card", 0x8C7B)
    assert wait_for(lambda: rig.card_present(READER0), 5), "card"
    # GBK on request: the name's bytes are GBK, everything else ASCII
    e = dict(os.environ, SSCARD_SOCKET=rig.sock, SSCARD_ENCODING="GBK")
    r = subprocess.run([os.path.join(rig.build, "example-readcard"), "1"], capture_output=True, timeout=30, env=e)
    first = r.stdout.split(b"\n")[0]
    assert first.split(b"|")[4] == "张三".encode("gbk") and first.startswith(b"0 "), first
    # two threads and two processes at once, each gets the whole line
    line = bas_line(want, "", READER0)
    calls = api_c(rig, "-t", 8, 3)
    assert calls == [(0, line)] * 8, calls
    procs = [subprocess.Popen([os.path.join(rig.build, "example-readcard"), "-t", "4", "3"], stdout=subprocess.PIPE,
                              env=dict(os.environ, SSCARD_SOCKET=rig.sock)) for _ in range(2)]
    for p in procs:
        out = p.communicate(timeout=60)[0].decode().splitlines()
        assert out == ["0 " + line] * 4, out
    # the buffer contract: never a byte past SSCARD_OUT_MAX, always terminated
    import ctypes
    os.environ["SSCARD_SOCKET"] = rig.sock
    try:
        lib = ctypes.CDLL(PLAIN_LIB)
        buf = ctypes.create_string_buffer(b"Z" * 1200, 1200)
        rc = lib.iReadCardBas(1, buf)
        raw = buf.raw
        assert rc == 0 and raw[1024:] == b"Z" * 176 and b"\0" in raw[:1024], raw[:80]
        # the daemon down: -11 at once, same contract
        os.environ["SSCARD_SOCKET"] = rig.tmp + "/nobody.sock"
        buf = ctypes.create_string_buffer(b"Z" * 1200, 1200)
        assert lib.iReadCardBas(1, buf) == -11 and buf.raw[1024:] == b"Z" * 176, buf.raw[:80]
        out = ctypes.create_string_buffer(1024)
        os.environ["SSCARD_SOCKET"] = rig.sock
        assert lib.iGetListStatus(out) == 0 and out.value.startswith(b"0||1|No loss list"), out.value
    finally:
        os.environ.pop("SSCARD_SOCKET", None)
    # a card on the loss list: refused with its own code and the reason (in
    # a state directory of its own: the loss stays there)
    rig.stop_daemon()
    state = os.path.join(rig.tmp, "api-state")
    os.makedirs(state, exist_ok=True)
    rig.start_daemon(state_dir=state)
    assert wait_for(lambda: rig.card_present(READER0), 5), "card"
    rc, _, err = rig.ctl("request", "loss_report", want["card_id"], "loss=temporary")
    assert rc == 0, err
    rc, out = api_c(rig, 1)[0]
    assert rc == -1001 and "挂失" in out and want["card_id"] in out and "temporary" in out, (rc, out)
    assert api_py(rig, 3)[0] == -1001, "python"
    rig.remove(card)
    # the old card seen gone first: else "present" below may still be it
    # (seen under ASan: the read then found the reader empty)
    assert wait_for(lambda: rig.card_gone(READER0), 5), "card out"
    # a stale list is refused only when asked for
    card = rig.insert("lisi-1.00-t0.card", 0x8C7B)
    assert wait_for(lambda: rig.card_present(READER0), 5), "card"
    assert api_c(rig, 1)[0][0] == 0, "stale accepted by default"
    rc, out = api_c(rig, 1, env={"SSCARD_STALE_LIST": "refuse"})[0]
    assert rc == -1005 and "No loss list" in out, (rc, out)
    rig.remove(card)
    restore_daemon(rig)


def test_reader_api_contactless_and_timeouts(rig):
    dev = Pn532(rig, "wangwu-3.00.card")
    try:
        name = nfc_daemon(rig, dev)
        assert wait_for(lambda: rig.ctl_json("read", name)[0] == 0, 5), "NFC card"
        calls = api_c(rig, 2)
        assert calls[0][0] == -6982, calls  # a 3.00 card over NFC: EF06 needs the PSAM
        dev.stop()
        dev = Pn532(rig, "zhangsan-2.00.card")
        assert wait_for(lambda: rig.ctl_json("read", name)[0] == 0, 10), "NFC card"
        line = bas_line(EXPECT["zhangsan-2.00.card"], "", name)
        assert api_c(rig, 2) == [(0, line)], api_c(rig, 2)
        assert api_c(rig, 4) == [(0, line)], api_c(rig, 4)
        assert api_c(rig, 3) == [(0, line)], "contact first, none there: the NFC card"
        # a daemon that accepts and never answers: bounded by SSCARD_TIMEOUT_MS
        mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mute.bind(rig.tmp + "/mute.sock")
        mute.listen(4)
        t0 = time.monotonic()
        rc, out = api_c(rig, 1, env={"SSCARD_SOCKET": rig.tmp + "/mute.sock", "SSCARD_TIMEOUT_MS": "500"})[0]
        assert rc == -1003 and time.monotonic() - t0 < 5, (rc, out)
        mute.close()
    finally:
        dev.stop()
        restore_daemon(rig)


def pin_c(rig, op, itype=3, env=None):
    e = dict(os.environ, SSCARD_SOCKET=rig.sock)
    e.update(env or {})
    r = subprocess.run([os.path.join(rig.build, "example-readcard"), "-p", op, str(itype)],
                       capture_output=True, text=True, timeout=120, env=e)
    rc, _, out = r.stdout.splitlines()[0].partition(" ")
    return int(rc), out


def pin_py(rig, op, itype=3):
    e = dict(os.environ, SSCARD_SOCKET=rig.sock, SSCARD_LIB=PLAIN_LIB)
    r = subprocess.run([sys.executable, os.path.join(ROOT_DIR, "examples", "readcard.py"), str(itype), op],
                       capture_output=True, text=True, timeout=120, env=e)
    rc, _, out = r.stdout.splitlines()[0].partition(" ")
    return int(rc), out


def test_reader_api_pin_pad_verify_change_and_no_pad(rig):
    """iVerifyPIN/iChangePIN through the real pcscd: an emulated CCID PIN
    pad (sim/card/ifd_pinpad.c) takes the PIN; vpcd and NFC readers have none."""
    pad = os.path.join(rig.tmp, "pinpad")
    os.makedirs(pad, exist_ok=True)
    keys = os.path.join(pad, "keys")
    def typed(s):
        with open(keys + ".tmp", "w") as f:
            f.write(s)
        os.rename(keys + ".tmp", keys)
    def insert(profile):
        with open(os.path.join(PROFILES, profile)) as src, open(os.path.join(pad, "card.tmp"), "w") as dst:
            dst.write(src.read())
        os.rename(os.path.join(pad, "card.tmp"), os.path.join(pad, "card"))
    def pull():
        if os.path.exists(os.path.join(pad, "card")):
            os.unlink(os.path.join(pad, "card"))
    PAD = "sscard PIN pad 00 00"
    with open(os.path.join(pad, "serial"), "w") as f:  # SCARD_ATTR_VENDOR_IFD_SERIAL_NO
        f.write("SSCPAD-0042")
    rig.stop_daemon()
    rig.kill_pcscd()
    rig.start_pcscd(pinpad=pad)
    rig.start_daemon()
    try:
        assert wait_for(lambda: any(r["name"] == PAD for r in rig.ctl_json("readers")[1]["readers"]), 10), rig.ctl_json("readers")
        # no card anywhere: -2
        assert pin_c(rig, "verify")[0] == -2, pin_c(rig, "verify")
        # vpcd has no PIN pad: -1002, and no PIN is asked for on the PC
        card = rig.insert("zhangsan-2.00.card", 0x8C7B)
        assert wait_for(lambda: rig.card_present(READER0), 5), "vpcd card"
        rc, out = pin_c(rig, "verify", 1)
        assert rc == -1002 and "no PIN pad" in out, (rc, out)
        assert pin_py(rig, "change", 1)[0] == -1002, "python"
        rig.remove(card)
        assert wait_for(lambda: not rig.card_present(READER0), 5), "removal"
        # a bank card in the pad: not an SSC card (-1) before any PIN is asked
        insert("bankcard.card")
        assert wait_for(lambda: rig.card_present(PAD), 5), "bank card in the pad"
        assert pin_c(rig, "verify", 1)[0] == -1, pin_c(rig, "verify", 1)
        pull()
        assert wait_for(lambda: not rig.card_present(PAD), 5), "pulled"
        # Li Si's card (3 tries) in the PIN-pad reader
        insert("lisi-1.00-t0.card")
        assert wait_for(lambda: rig.card_present(PAD), 5), "card in the pad"
        # 终端设备号 is the pad's serial number as PC/SC reports it (vpcd has none: its name)
        calls = api_c(rig, 3)
        assert calls and calls[0][0] == 0 and calls[0][1].endswith("|SSCPAD-0042|"), calls
        rc, j, _ = rig.ctl_json("read", PAD)
        assert rc == 0 and j["reader_serial"] == "SSCPAD-0042", j
        typed("246810")
        rc, out = pin_c(rig, "verify", 1)
        assert rc == 0 and out == PAD, (rc, out)
        # what the computer sent the pad held no PIN: the template is all F
        block = open(os.path.join(pad, "last-block")).read().strip()
        assert block.endswith("0020000003FFFFFF") and "246810" not in block, block
        # the pad waits for the holder: the call returns when they type
        t0 = time.monotonic()
        p = subprocess.Popen([os.path.join(rig.build, "example-readcard"), "-p", "verify", "3"],
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ, SSCARD_SOCKET=rig.sock))
        time.sleep(1.0)
        assert p.poll() is None, "returned before the holder typed"
        typed("246810")
        out = p.communicate(timeout=30)[0]
        assert out.startswith("0 ") and time.monotonic() - t0 >= 1.0, out
        # cancel, timeout, wrong length: the card is not asked, no try is lost
        for k, code in (("cancel", -1006), ("timeout", -1003), ("12345", -1007)):
            typed(k)
            rc, out = pin_c(rig, "verify", 1)
            assert rc == code, (k, rc, out)
        # a wrong PIN: -51 with the tries left, in the C and Python examples
        typed("111111")
        rc, out = pin_c(rig, "verify", 1)
        assert rc == -51 and out.startswith("2|") and "2 tries left" in out, (rc, out)
        # change: the current PIN, then the new one twice
        typed("246810 135790 135791")
        assert pin_c(rig, "change", 1)[0] == -1007, "confirmation differs"
        typed("246810 135790 135790")
        rc, out = pin_py(rig, "change", 3)
        assert rc == 0, (rc, out)
        typed("135790")
        assert pin_c(rig, "verify", 1)[0] == 0, "the new PIN works"
        # three wrong: blocked (-52); even the right PIN then gives -52
        for left in (2, 1):
            typed("000000")
            assert pin_c(rig, "verify", 1) [0] == -51, left
        typed("000000")
        assert pin_c(rig, "verify", 1)[0] == -52, "blocked"
        typed("135790")
        rc, out = pin_py(rig, "verify", 1)
        assert rc == -52 and "blocked" in out, (rc, out)
        # the daemon's log has no PIN
        log = open(rig.daemon_logs[-1], errors="replace").read()
        assert not any(x in log for x in ("246810", "135790", "111111")), "a PIN in the log"
        pull()
        assert wait_for(lambda: not rig.card_present(PAD), 5), "pulled"
        # contactless readers have no keypad
        dev = Pn532(rig, "zhangsan-2.00.card")
        try:
            name = nfc_daemon(rig, dev)
            assert wait_for(lambda: rig.ctl_json("read", name)[0] == 0, 5), "NFC card"
            rc, out = pin_c(rig, "verify", 2)
            assert rc == -1002, (rc, out)
        finally:
            dev.stop()
        # the daemon down: -11
        assert pin_c(rig, "verify", 1, env={"SSCARD_SOCKET": rig.tmp + "/nobody.sock"})[0] == -11, "down"
    finally:
        pull()
        rig.stop_daemon()
        rig.kill_pcscd()
        rig.start_pcscd()
        rig.start_daemon()


