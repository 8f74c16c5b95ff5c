"""Kiosk tests against the daemon over HTTP: PIN entry on a card gone mute,
PIN change on a contactless card."""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import wait_listening, READER0, wait_for  # noqa: E402
from common import EXPECT, Pn532, nfc_daemon, restore_daemon, CardStream, http_card, kiosk_step, kiosk_view  # noqa: E402


def test_kiosk_pin_on_a_card_gone_mute_ends_as_a_pin_failure(rig):
    """A card that stops answering during a kiosk PIN entry: the flow ends with
    an error, the reader is shown stuck, and the event says a PIN job failed
    (not a read: the screens must not say the card could not be read)."""
    wait_listening(8470, rig.daemon)
    ev = rig.events()
    st, _, j = http_card("/api/v1/session")
    assert st == 200 and j["token"], j
    token = j["token"]
    st, j = kiosk_step(rig, token, {"action": "start", "flow": "pin_change"})
    assert st == 200 and j["view"]["step"] == "insert_card", (st, j)
    card = rig.insert("zhangsan-2.00.card", 0x8C7B, "--mute-after", "15")
    try:
        assert ev.wait("card_read", 5, reader=READER0), "the card was not read"
        assert wait_for(lambda: kiosk_view(rig)["step"] == "pin", 5), kiosk_view(rig)
        st, j = kiosk_step(rig, token, {"action": "input", "step": "pin", "pin": "123456"})
        assert st == 200, (st, j)
        e = ev.wait("pin_failed", 5, reader=READER0)
        assert e and e["error"] == "card_timeout", e
        assert wait_for(lambda: kiosk_view(rig)["step"] == "error", 5), kiosk_view(rig)
        rc, j, _ = rig.ctl_json("readers")
        assert any(x["name"] == READER0 and x["state"] == "stuck" for x in j["readers"]), j
        log = open(rig.daemon_logs[-1]).read()
        assert "PIN entry in '%s' did not finish within 1500 ms" % READER0 in log, "log"
        assert "123456" not in log, "the PIN reached the log"
    finally:
        ev.close()
        rig.remove(card)
        kiosk_step(rig, token, {"action": "done"})


def test_kiosk_pin_change_on_a_contactless_card(rig):
    """The kiosk's PIN flow through the NFC helper (VERIFY and CHANGE PIN go
    to the helper process, not a PC/SC worker): a wrong PIN counts down, the
    right one and a new PIN change the chip, and the new PIN is what it wants."""
    dev = Pn532(rig, "zhangsan-2.00.card", "--no-card")
    try:
        name = nfc_daemon(rig, dev)
        wait_listening(8470, rig.daemon)
        ev = rig.events()
        token = http_card("/api/v1/session")[2]["token"]

        def flow_to_pin():
            st, j = kiosk_step(rig, token, {"action": "start", "flow": "pin_change"})
            assert st == 200 and j["view"]["step"] == "insert_card", (st, j)
            dev.proc.send_signal(signal.SIGUSR2)  # the card comes onto the field
            assert ev.wait("card_read", 5, reader=name), "no card_read over NFC"
            assert wait_for(lambda: kiosk_view(rig)["step"] == "pin", 5), kiosk_view(rig)

        def typed(step, pin, want):
            assert kiosk_step(rig, token, {"action": "input", "step": step, "pin": pin})[0] == 200, step
            assert wait_for(lambda: want(kiosk_view(rig)), 5), (step, kiosk_view(rig))

        def leave():
            dev.proc.send_signal(signal.SIGUSR1)  # the card leaves the field
            assert ev.wait("card_removed", 5, reader=name), "no card_removed"
            kiosk_step(rig, token, {"action": "done"})
            kiosk_step(rig, token, {"action": "cancel"})
            assert wait_for(lambda: kiosk_view(rig)["step"] == "home", 5), kiosk_view(rig)

        flow_to_pin()
        typed("pin", "000000", lambda v: v["step"] == "pin" and v["error"] and
              v["error"]["code"] == "pin_wrong" and v["error"]["tries_left"] == 5)  # the profile's 6
        typed("pin", "123456", lambda v: v["step"] == "new_pin")
        typed("new_pin", "385172", lambda v: v["step"] == "new_pin_again")
        typed("new_pin_again", "385172", lambda v: v["step"] in ("receipt", "take_card"))
        leave()
        # the chip took the new PIN: the old one is now wrong, the new one is right
        flow_to_pin()
        typed("pin", "123456", lambda v: v["step"] == "pin" and v["error"] and
              v["error"]["code"] == "pin_wrong" and v["error"]["tries_left"] == 5)  # reset by the right one
        typed("pin", "385172", lambda v: v["step"] == "new_pin")
        leave()
        log = open(rig.daemon_logs[-1]).read()
        assert not any(p in log for p in ("000000", "123456", "385172")), "a PIN reached the log"
        ev.close()
    finally:
        dev.stop()
        restore_daemon(rig)


def test_http_card_api_origins_events_and_errors(rig):
    HIS = "http://127.0.0.1:18601"
    # a kiosk (no allow_origins): the card API is off, for pages and programs alike
    wait_listening(8470, rig.daemon)
    for origin in (None, HIS, "http://127.0.0.1:8470"):
        st, h, j = http_card(origin=origin)
        assert st == 403 and j["error"] == "card_api_off" and "allow_origins" in j["message"], (origin, st, j)
    rig.stop_daemon()
    rig.start_daemon(extra_conf="[daemon]\nterminal_id = HIS-DESK-3\n[ui]\nallow_origins = %s https://his.example\n" % HIS)
    try:
        wait_listening(8470, rig.daemon)
        st, h, j = http_card(origin=HIS)
        assert st == 404 and j["code"] == -2 and j["error"] == "no_card", (st, j)
        assert h.get("access-control-allow-origin") == HIS, h
        stream = CardStream(HIS)
        assert stream.r.status == 200 and stream.headers.get("access-control-allow-origin") == HIS, stream.headers
        name, data = stream.next()
        assert name == "readers" and len(data["readers"]) == 2, (name, data)
        card = rig.insert("zhangsan-2.00.card", 0x8C7B)
        name, data = stream.next()
        assert name == "card_inserted" and data["reader"] == READER0 and data["atr"], (name, data)
        want = EXPECT["zhangsan-2.00.card"]
        for t in ("", "?type=1", "?type=3", "?reader=" + READER0.replace(" ", "%20")):
            st, h, j = http_card("/api/v1/card" + t, origin=HIS)
            assert (st == 200 and j["ok"] and j["code"] == 0 and j["name"] == "张三" and
                  j["ssn"] == want["ssn"] and j["terminal_id"] == "HIS-DESK-3"), (t, st, j)
        # no Origin (a native program, curl): served as on the socket
        st, h, j = http_card()
        assert st == 200 and j["card_id"] == want["card_id"] and "access-control-allow-origin" not in h, (st, h)
        # errors: a JSON body with a name, a code and a sentence
        for path, code, status in (("/api/v1/card?type=2", -11, 503), ("/api/v1/card?type=9", -1004, 400),
                                   ("/api/v1/card?reader=nobody", -1004, 400)):
            st, h, j = http_card(path, origin=HIS)
            assert st == status and j["code"] == code and j["message"], (path, st, j)
        st, h, j = http_card(origin=HIS, method="POST")
        assert st == 405 and j["code"] == -1004, (st, j)
        # a page not in allow_origins: refused, with the reason it may read
        st, h, j = http_card(origin="http://127.0.0.1:18602")
        assert (st == 403 and j["error"] == "bad_origin" and "allow_origins" in j["message"] and
              "name" not in j), (st, j)
        st, h, j = http_card(origin="http://127.0.0.1:18601.evil.example")
        assert st == 403, st
        # the kiosk's own API stays closed to counter pages
        st, h, j = http_card("/api/v1/state", origin=HIS)
        assert st == 403 and "access-control-allow-origin" not in h, (st, h)
        # Chromium's preflight for a page on the network calling loopback
        st, h, j = http_card(origin=HIS, method="OPTIONS",
                             headers={"Access-Control-Request-Method": "GET",
                                      "Access-Control-Request-Private-Network": "true"})
        assert (st == 204 and h.get("access-control-allow-origin") == HIS and
              h.get("access-control-allow-private-network") == "true"), (st, h)
        rig.remove(card)
        name, data = stream.next()
        assert name == "card_removed" and data == {"reader": READER0}, (name, data)
        # a bank card: -1 (not an SSC card)
        card = rig.insert("bankcard.card", 0x8C7B)
        assert wait_for(lambda: rig.card_present(READER0), 5), "bank card"
        st, h, j = http_card(origin=HIS)
        assert st == 422 and j["code"] == -1, (st, j)
        rig.remove(card)
        # nothing personal ever went down the stream (the reads above were full)
        events = []
        while True:
            e = stream.next(1)
            if not e[0]:
                break
            events.append(e)
        assert all(n in ("card_inserted", "card_removed", "readers") for n, _ in events), events
        assert "张三" not in json.dumps(events, ensure_ascii=False), events
        stream.close()
        # a card on the loss list: 409, code -1001, the loss, no holder data
        rig.stop_daemon()
        state = os.path.join(rig.tmp, "http-state")
        os.makedirs(state, exist_ok=True)
        rig.start_daemon(state_dir=state, extra_conf="[ui]\nallow_origins = %s\n" % HIS)
        card = rig.insert("zhangsan-2.00.card", 0x8C7B)
        assert wait_for(lambda: rig.card_present(READER0), 5), "card"
        rc, _, err = rig.ctl("request", "loss_report", want["card_id"], "loss=formal")
        assert rc == 0, err
        st, h, j = http_card(origin=HIS)
        assert (st == 409 and j["code"] == -1001 and j["error"] == "card_listed" and
              j["card_id"] == want["card_id"] and j["loss"]["listed"] and "name" not in j and
              "ssn" not in j and "挂失" in j["message"]), (st, j)
        rig.remove(card)
        # a wildcard is not an origin: the configuration is refused
        bad = os.path.join(rig.tmp, "bad-origins.conf")
        with open(bad, "w") as f:
            f.write("[ui]\nallow_origins = *\n")
        r = subprocess.run([os.path.join(rig.build, "sscardd"), "--check-config", "-c", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 78 and "allow_origins" in r.stderr and "no '*'" in r.stderr, r.stderr
    finally:
        restore_daemon(rig)


def test_a_kiosk_without_its_pages_says_so(rig):
    """[ui] root without index.html: a warning at start naming the file and
    line, and the screen says the kiosk is out of service (not a bare JSON
    error)."""
    import urllib.error
    import urllib.request
    try:
        rig.stop_daemon()
        rig.start_daemon(extra_conf="[ui]\nroot = %s\n" % rig.tmp)
        wait_listening(8470, rig.daemon)
        try:
            urllib.request.urlopen("http://127.0.0.1:8470/", timeout=5)
            assert False, "the home page answered 200"
        except urllib.error.HTTPError as e:
            body = e.read().decode()
            assert e.code == 503 and "Out of service" in body and "[ui] root" in body, (e.code, body)
        log = open(rig.daemon_logs[-1]).read()
        assert ("[ui] root must be the directory of the kiosk pages" in log and
              "sscard.conf:" in log), log[-800:]
        assert "no index.html in '%s'" % rig.tmp in log, log[-800:]
    finally:
        restore_daemon(rig)
