"""card-spec §10 (issue 28, started): a blocked PIN unblocked and a
forgotten one reloaded through the terminal's PSAM, by a technician's
sscardctl; the card's own answers prove it (VERIFY on the emulated PIN
pad's keypad); a wrong PIN key, a spent count, no PSAM, a non-admin; no
PIN in the log or the trace."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, READER1, wait_for  # noqa: E402
from common import restore_daemon  # noqa: E402

SAM_PORT = 0x8C7C


def psam(rig, profile="psam-test.psam"):
    rig.stop_daemon()
    rig.start_daemon(extra_conf="sam_reader = %s\n" % READER1)
    sam = rig.insert(profile, SAM_PORT) if profile else None
    if sam:
        assert wait_for(lambda: (rig.ctl_json("status")[1].get("psam") or {}).get("terminal"), 5), \
            rig.ctl_json("status")[1].get("psam")
    return sam


def ctl_pin(rig, *args, stdin=None, reader=READER0):
    r = subprocess.run([os.path.join(rig.build, "sscardctl"), "-j", "pin"] + list(args) + [reader],
                       input=stdin, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, SSCARD_SOCKET=rig.sock))
    lines = r.stdout.strip().splitlines()
    import json
    return r.returncode, json.loads(lines[-1]) if lines else None, r.stderr


PAD = "sscard PIN pad 00 00"


class PinPad:
    """The emulated CCID PIN-pad reader (sim/card/ifd_pinpad.c) in the rig's
    pcscd: the card in it keeps its state while the test works on it, and
    VERIFY through its keypad is the chip's own answer."""

    def __init__(self, rig):
        self.dir = os.path.join(rig.tmp, "pinpad-%d" % os.getpid())
        os.makedirs(self.dir, exist_ok=True)
        for f in ("card", "keys"):  # an earlier test's card is not lying in the pad
            if os.path.exists(os.path.join(self.dir, f)):
                os.unlink(os.path.join(self.dir, f))
        rig.stop_daemon()
        rig.kill_pcscd()
        rig.start_pcscd(pinpad=self.dir)

    def insert(self, profile):
        from rig import PROFILES
        with open(os.path.join(PROFILES, profile)) as src, open(os.path.join(self.dir, "card.tmp"), "w") as dst:
            dst.write(src.read())
        os.rename(os.path.join(self.dir, "card.tmp"), os.path.join(self.dir, "card"))

    def done(self, rig):
        """Back to the rig's usual pcscd (vpcd only) and daemon."""
        rig.stop_daemon()
        rig.kill_pcscd()
        rig.start_pcscd()
        rig.start_daemon()

    def verify(self, rig, pin):
        with open(os.path.join(self.dir, "keys.tmp"), "w") as f:
            f.write(pin)
        os.rename(os.path.join(self.dir, "keys.tmp"), os.path.join(self.dir, "keys"))
        return rig.ctl_json("pinpad", "verify", PAD)[1]


def test_unblock_then_the_old_pin_works_reload_then_the_new_one(rig):
    pad = PinPad(rig)
    try:
        rig.start_daemon(extra_conf="sam_reader = %s\n" % READER1)
        sam = rig.insert("psam-test.psam", SAM_PORT)
        assert wait_for(lambda: (rig.ctl_json("status")[1].get("psam") or {}).get("terminal"), 5), "no PSAM session"
        trace = subprocess.Popen([os.path.join(rig.build, "sscardctl"), "trace", "on"], stdout=subprocess.PIPE,
                                 text=True, env=dict(os.environ, SSCARD_SOCKET=rig.sock))
        pad.insert("zhangsan-2.00-blocked.card")
        assert wait_for(lambda: rig.card_present(PAD), 10), "no card in the pad"
        j = pad.verify(rig, "123456")
        assert j["error"] == "pin_blocked", j
        rc, j, err = ctl_pin(rig, "unblock", reader=PAD)
        assert rc == 0 and j["ok"] is True, (rc, j, err)
        j = pad.verify(rig, "123456")
        assert j.get("ok") is True, "the old PIN after the unblock: %r" % j
        # forgotten: a new PIN, typed on sscardctl's standard input
        rc, j, err = ctl_pin(rig, "reload", reader=PAD, stdin="864209\n")
        assert rc == 0 and j["ok"] is True, (rc, j, err)
        j = pad.verify(rig, "123456")
        assert j["error"] == "pin_wrong", "the old PIN after the reload: %r" % j
        j = pad.verify(rig, "864209")
        assert j.get("ok") is True, "the new PIN after the reload: %r" % j
        # a PIN that is not one: refused before anything is sent
        rc, j, err = ctl_pin(rig, "reload", reader=PAD, stdin="12ab\n")
        assert rc == 2 and "4 to 8 digits" in err, (rc, err)
        trace.terminate()
        out = trace.communicate(timeout=10)[0]
        log = open(rig.daemon_logs[-1]).read()
        assert "864209" not in log and "864209" not in out.replace(" ", ""), "the new PIN in the log or the trace"
        assert "845E" not in out.replace(" ", "").upper() or "redacted" in out, "RELOAD PIN's data in the trace"
        rig.remove(sam)
    finally:
        pad.done(rig)


def test_wrong_pin_key_spent_count_and_no_psam(rig):
    card = None
    try:
        # a PSAM with another PIN master key: three wrong MACs, then the
        # card's PIN key is blocked for good (a counter's job)
        sam = psam(rig, "psam-wrongkey.psam")
        card = rig.insert("zhangsan-2.00-blocked.card")
        assert wait_for(lambda: rig.card_present(READER0), 5), "no card"
        got = [ctl_pin(rig, "unblock")[1]["error"] for _ in range(4)]
        assert got == ["pinkey_refused", "pinkey_refused", "pinkey_blocked", "pinkey_blocked"], got
        rig.remove(card)
        assert wait_for(lambda: rig.card_gone(READER0), 5), "card out"
        rig.remove(sam)
        assert wait_for(lambda: not rig.ctl_json("status")[1]["psam"]["present"], 5), "the PSAM is still in"
        # the count spent: the card must be replaced
        sam = psam(rig)
        card = rig.insert("zhangsan-2.00-spent.card")
        assert wait_for(lambda: rig.card_present(READER0), 5), "no card"
        rc, j, _ = ctl_pin(rig, "unblock")
        assert rc == 1 and j["error"] == "pinkey_spent" and "replaced" in j["message"], j
        rig.remove(sam)
        # no PSAM: this terminal cannot do it, and says so
        assert wait_for(lambda: not rig.ctl_json("status")[1]["psam"]["present"], 5), "the PSAM is still in"
        rc, j, _ = ctl_pin(rig, "unblock")
        assert rc == 1 and j["error"] == "sam_unavailable", j
        # only administrators may
        os.chmod(rig.tmp, 0o755)
        os.chmod(rig.sock, 0o666)
        rc, j, _ = rig.ctl_as(65534, [], "pin", "unblock", READER0)
        assert rc == 1 and j["error"] == "not_allowed", j
        os.chmod(rig.tmp, 0o700)
    finally:
        if card:
            rig.remove(card)
        restore_daemon(rig)


MK_PIN = "53534341524420544553542D504B2D31"  # psam-test.psam's PIN master key, held by the HSM
ZHANGSAN_ID = "639900D15600000500BF7C7A48FB4966"


def central_post(srv, path, body):
    import json
    import urllib.error
    import urllib.request
    r = urllib.request.Request(srv.url + path, data=json.dumps(body).encode(), method="POST",
                               headers={"Content-Type": "application/json",
                                        "Authorization": "Bearer tok-%d" % srv.port})
    try:
        return json.loads(urllib.request.urlopen(r, timeout=10).read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def proof_of_holder(srv):
    """The holder verified by the one-time code (the demo's SMS is in the
    central's log): the verification id the HSM asks for."""
    import re
    from common import HOLDER_SSN
    central_post(srv, "/v1/holders/lookup", {"ssn": HOLDER_SSN, "name": "张三"})
    assert wait_for(lambda: re.findall(r"one-time code for \S+: (\d{6})", open(srv.log).read()), 5), "no code"
    code = re.findall(r"one-time code for \S+: (\d{6})", open(srv.log).read())[-1]
    j = central_post(srv, "/v1/holders/verify", {"ssn": HOLDER_SSN, "code": code})
    assert j.get("verification"), j
    return j["verification"]


def test_through_the_central_hsm_with_the_holders_proof(rig):
    """No PSAM: the central's HSM makes the MAC, only with a fresh proof
    that this card's holder was verified, and within the card's count."""
    from common import CentralServer, HOLDER_SSN
    pad = PinPad(rig)
    srv = CentralServer(rig, "c-pinkey", 18483)
    srv.c.ok("card-add", ZHANGSAN_ID, HOLDER_SSN, "normal")
    srv.start({"SSCARD_CENTRAL_HSM_PIN_KEY": MK_PIN, "SSCARD_CENTRAL_PIN_LIMIT": "2"})
    try:
        rig.start_daemon("[upstream]\nurl = %s\ntoken = tok-%d\n" % (srv.url, srv.port))
        pad.insert("zhangsan-2.00-blocked.card")
        assert wait_for(lambda: rig.card_present(PAD), 10), "no card in the pad"
        rc, j, _ = ctl_pin(rig, "unblock", reader=PAD)
        assert rc == 1 and j["error"] == "holder_not_verified", j  # no proof: the central refuses
        rc, j, _ = ctl_pin(rig, "unblock", reader=PAD + " proof=00112233445566778899aabbccddeeff")
        assert rc == 1 and j["error"] == "holder_not_verified", j  # a proof that is none
        proof = proof_of_holder(srv)
        rc, j, err = ctl_pin(rig, "unblock", reader=PAD + " proof=" + proof)
        assert rc == 0 and j["ok"] is True, (rc, j, err)
        assert pad.verify(rig, "123456").get("ok") is True, "the old PIN after the HSM's unblock"
        rc, j, err = ctl_pin(rig, "reload", reader=PAD + " proof=" + proof, stdin="531975\n")
        assert rc == 0 and j["ok"] is True, (rc, j, err)
        assert pad.verify(rig, "531975").get("ok") is True, "the new PIN after the HSM's reload"
        # the central's count for this card (2 here) is spent: replace it
        rc, j, _ = ctl_pin(rig, "unblock", reader=PAD + " proof=" + proof)
        assert rc == 1 and j["error"] == "pinkey_spent", j
        log = open(rig.daemon_logs[-1]).read()
        assert "531975" not in log and "531975" not in open(srv.log).read(), "the new PIN in a log"
    finally:
        srv.stop()
        pad.done(rig)


def test_counter_software_through_libsscard_psam_and_its_own_encryptor(rig):
    """iUnblockPIN / iReloadPIN (the terminal's PSAM) and their _HSM_Step1/
    Step2 forms with openssl as the hospital's encryptor, from the C and the
    Python examples; the card's own VERIFY proves each; the new-PIN rules,
    a wrong MAC, step 2 alone and a card reset between the steps."""
    import ctypes
    from common import PLAIN_LIB, ROOT_DIR
    pad = PinPad(rig)
    env = dict(os.environ, SSCARD_SOCKET=rig.sock, SSCARD_LIB=PLAIN_LIB, LD_LIBRARY_PATH=rig.build)
    example_c = [os.path.join(rig.build, "example-readcard")]
    example_py = [sys.executable, os.path.join(ROOT_DIR, "examples", "readcard.py"), "1"]

    def run(cmd, stdin="", extra=None):
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30,
                           env=dict(env, **(extra or {})))
        return [(int(x.partition(" ")[0]), x.partition(" ")[2]) for x in r.stdout.splitlines()
                if x[:1] in "-0123456789"]
    try:
        rig.start_daemon(extra_conf="sam_reader = %s\n" % READER1)
        sam = rig.insert("psam-test.psam", SAM_PORT)
        assert wait_for(lambda: (rig.ctl_json("status")[1].get("psam") or {}).get("terminal"), 5), "no PSAM session"
        pad.insert("zhangsan-2.00-blocked.card")
        assert wait_for(lambda: rig.card_present(PAD), 10), "no card in the pad"
        assert pad.verify(rig, "123456")["error"] == "pin_blocked"
        # iUnblockPIN through the PSAM: the old PIN works again
        assert run(example_c + ["-U", "1"]) == [(0, PAD)]
        assert pad.verify(rig, "123456").get("ok") is True, "the old PIN after iUnblockPIN"
        # iReloadPIN from Python: the new PIN, typed twice
        assert run(example_py + ["reload"], "386421\n386421\n") == [(0, PAD)]
        assert pad.verify(rig, "386421").get("ok") is True, "the new PIN after iReloadPIN"
        # §4's rules and the entry, before anything reaches the card
        assert run(example_c + ["-R", "1"], "123456\n123456\n")[0][0] == -35
        assert run(example_c + ["-R", "1"], "111111\n111111\n")[0][0] == -36
        assert run(example_c + ["-R", "1"], "386421\n386422\n")[0][0] == -1007
        lib = ctypes.CDLL(PLAIN_LIB)
        buf = ctypes.create_string_buffer(1024)
        os.environ["SSCARD_SOCKET"] = rig.sock
        try:
            assert lib.iReloadPIN(1, buf) == -1002, buf.value  # no PIN brought in pOutInfo
            assert lib.iUnblockPIN_HSM_Step2(b"00000000", buf) == -2203, buf.value  # no step 1
            assert lib.iUnblockPIN_HSM_Step2(b"xyz", buf) == -1004, buf.value
        finally:
            del os.environ["SSCARD_SOCKET"]
        # the hospital's own encryptor (openssl with the PIN master key)
        calls = run(example_py + ["unblock", "hsm"], extra={"SSCARD_PIN_MK": MK_PIN})
        assert [c[0] for c in calls] == [0, 0], calls
        card_id, r, command = calls[0][1].split("|")[:3]
        assert card_id == ZHANGSAN_ID and len(r) == 16 and command == "8424000004", calls[0]
        calls = run(example_py + ["reload", "hsm"], "529173\n529173\n", {"SSCARD_PIN_MK": MK_PIN})
        assert [c[0] for c in calls] == [0, 0], calls
        assert calls[0][1].split("|")[2].upper() == "845E000007529173", calls[0]  # the PIN, as the header says
        assert pad.verify(rig, "529173").get("ok") is True, "the new PIN after the two steps"
        # the C example, a wrong MAC: the card refuses it (-55), nothing changed
        p = subprocess.Popen(example_c + ["-U", "-H", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env)
        first = p.stdout.readline()
        assert first.startswith("0 " + ZHANGSAN_ID + "|"), first
        out, _ = p.communicate("00000000\n", timeout=30)
        assert out.startswith("-55 "), out
        # a card reset between the steps: refused before the card sees it
        p = subprocess.Popen(example_c + ["-U", "-H", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env)
        first = p.stdout.readline()
        card_id, r, command = first.partition(" ")[2].split("|")[:3]
        assert rig.ctl("reader", "reset", PAD)[0] == 0
        sys.path.insert(0, os.path.join(ROOT_DIR, "examples"))
        import readcard
        out, _ = p.communicate(readcard.openssl_pin_mac(MK_PIN, card_id, r, command) + "\n", timeout=30)
        assert out.startswith("-2203 "), out
        assert pad.verify(rig, "529173").get("ok") is True, "the PIN as it was"
        log = open(rig.daemon_logs[-1]).read()
        assert "PIN unblock asked by uid" in log, "who asked is logged"
        for pin in ("386421", "529173"):
            assert pin not in log, "a new PIN in the log"
        rig.remove(sam)
    finally:
        pad.done(rig)


def test_kiosk_unlocks_through_the_central_hsm_with_both_proofs(rig):
    """The kiosk's 'unlock / reset PIN' on a terminal with no PSAM: the
    holder typed (the card's own SSN) and the one-time code; the central's
    HSM makes the MAC with the verification the code gave; the card's own
    VERIFY then takes the old PIN; pin_reset reaches the central."""
    import re
    from common import CentralServer, HOLDER_SSN, http_card, kiosk_step, kiosk_view, wait_listening
    pad = PinPad(rig)
    srv = CentralServer(rig, "c-kiosk-pinkey", 18484)
    srv.c.ok("card-add", ZHANGSAN_ID, HOLDER_SSN, "normal")
    srv.start({"SSCARD_CENTRAL_HSM_PIN_KEY": MK_PIN})
    try:
        rig.start_daemon("[upstream]\nurl = %s\ntoken = tok-%d\n" % (srv.url, srv.port))
        wait_listening(8470, rig.daemon)
        token = http_card("/api/v1/session")[2]["token"]
        assert kiosk_view(rig)["data"].get("pin_reset") is True, kiosk_view(rig)  # the HSM is there
        st, j = kiosk_step(rig, token, {"action": "start", "flow": "pin_reset"})
        assert st == 200 and j["view"]["step"] == "insert_card", (st, j)
        pad.insert("zhangsan-2.00-blocked.card")
        assert wait_for(lambda: kiosk_view(rig)["step"] == "identify", 10), kiosk_view(rig)

        def step(body, want):
            st, j = kiosk_step(rig, token, dict(body, action="input"))
            assert st == 200, (st, j)
            assert wait_for(lambda: kiosk_view(rig)["step"] == want, 10), (body.get("step"), kiosk_view(rig))
        # the card is read, and no card operation can be reached yet
        st, _ = kiosk_step(rig, token, {"action": "input", "step": "pin_op", "op": "unblock"})
        assert st == 409, st
        step({"step": "identify", "ssn": HOLDER_SSN, "name": "张三"}, "otp")
        assert wait_for(lambda: re.findall(r"one-time code for \S+: (\d{6})", open(srv.log).read()), 5), "no code"
        code = re.findall(r"one-time code for \S+: (\d{6})", open(srv.log).read())[-1]
        step({"step": "otp", "code": code}, "pin_op")
        assert kiosk_view(rig)["data"]["blocked"] is True, kiosk_view(rig)
        step({"step": "pin_op", "op": "unblock"}, "receipt")
        assert pad.verify(rig, "123456").get("ok") is True, "the old PIN after the kiosk's unlock"
        assert wait_for(lambda: any(r["type"] == "pin_reset" for r in srv.requests()), 15), srv.requests()
        log = open(rig.daemon_logs[-1]).read()
        assert HOLDER_SSN not in log and code not in log, "the SSN or the code in the log"
    finally:
        srv.stop()
        pad.done(rig)
