"""The QR code scanner (issue 29): an emulated scanner in serial mode on a
pty (sim/card/scanner.c) sends the e-voucher code a holder's phone shows;
the kiosk's identify screen takes it, the central resolves it. Garbage,
overlong and half codes are dropped and counted; an unplugged scanner is
opened again; a code never reaches the log, an event or the status."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import Scanner, wait_for  # noqa: E402
from common import (CentralServer, HOLDER_SSN, http_card, kiosk_step, kiosk_view,  # noqa: E402
                    restore_daemon, wait_listening)


def scanner_status(rig):
    return rig.ctl_json("status")[1].get("scanner") or {}


def test_scanned_codes_identify_garbage_is_dropped_and_a_replugged_scanner_works(rig):
    srv = CentralServer(rig, "c-scanner", 18485)
    sc = Scanner(rig.build, rig.tmp)
    ev = None
    try:
        srv.start()
        sc.plug()
        rig.stop_daemon()
        rig.start_daemon("scanner = %s\n[upstream]\nurl = %s\ntoken = tok-%d\n" % (sc.link, srv.url, srv.port))
        wait_listening(8470, rig.daemon)
        assert wait_for(lambda: scanner_status(rig).get("state") == "ready", 5), scanner_status(rig)
        ev = rig.events()
        token = http_card("/api/v1/session")[2]["token"]

        def identify_screen():
            kiosk_step(rig, token, {"action": "cancel"})
            st, j = kiosk_step(rig, token, {"action": "start", "flow": "loss_report"})
            assert st == 200 and j["view"]["step"] == "identify", (st, j)
            assert j["view"]["data"]["scanner"] == "ready", j["view"]["data"]

        def code():
            return srv.c.ok("ecode-issue", HOLDER_SSN).strip()

        def until(pred, what):
            assert wait_for(lambda: pred(kiosk_view(rig)), 5), "%s: %r" % (what, kiosk_view(rig))

        # a code scanned on the home screen means nothing
        first = code()
        sc.send("code " + first)
        time.sleep(0.3)
        assert kiosk_view(rig)["step"] == "home", kiosk_view(rig)
        # on the identify screen: the holder, no one-time code ([policy] ecode_identifies)
        identify_screen()
        sc.send("crlf " + code())
        until(lambda v: v["step"] == "choose_card" and v["data"].get("by_ecode") is True, "identified by the code")
        cards = kiosk_view(rig)["data"]["cards"]
        assert len(cards) >= 1 and all("*" in c["card"] for c in cards), cards
        # the same code again: used; an unknown one; an expired one
        identify_screen()
        sc.send("code " + first)  # resolved? no: the home screen dropped it, so it is still fresh
        until(lambda v: v["step"] == "choose_card", "the first code, unused until now")
        identify_screen()
        sc.send("code " + first)
        until(lambda v: v["step"] == "identify" and (v["error"] or {}).get("code") == "ecode_used", "used")
        sc.send("code SSCARD-EV1:00")
        until(lambda v: (v["error"] or {}).get("code") == "ecode_unknown", "unknown")
        old = srv.c.ok("ecode-issue", HOLDER_SSN, "0").strip()
        time.sleep(1.1)
        identify_screen()
        sc.send("code " + old)
        until(lambda v: (v["error"] or {}).get("code") == "ecode_expired", "expired")
        # garbage: control bytes, overlong, half a code; nothing reaches the screen
        identify_screen()
        before = dict(scanner_status(rig)["dropped"])
        sc.send("raw 4142430743440D")       # ABC BEL CD CR
        sc.send("overlong 600")
        sc.send("raw 41424344")             # and then nothing
        assert wait_for(lambda: scanner_status(rig)["dropped"]["partial"] == before["partial"] + 1, 3), \
            scanner_status(rig)
        d = scanner_status(rig)["dropped"]
        assert d["not_text"] == before["not_text"] + 1 and d["overlong"] == before["overlong"] + 1, d
        assert kiosk_view(rig)["step"] == "identify" and not kiosk_view(rig)["error"], kiosk_view(rig)
        # a code whose bytes come slowly (a 9600 bit/s line, a slow scanner) is whole
        sc.send("slow %s 5" % code())
        until(lambda v: v["step"] == "choose_card", "a slow code")
        # unplugged: absent; plugged in again: ready, and it scans
        sc.unplug()
        assert wait_for(lambda: scanner_status(rig).get("state") == "absent", 5), scanner_status(rig)
        sc.plug()
        assert wait_for(lambda: scanner_status(rig).get("state") == "ready", 5), scanner_status(rig)
        identify_screen()
        sc.send("code " + code())
        until(lambda v: v["step"] == "choose_card", "after the replug")
        assert scanner_status(rig)["codes"] >= 6, scanner_status(rig)
        # a code is a bearer token: nowhere to be read afterwards
        events = []
        while True:
            e = ev.next(0.2)
            if not e:
                break
            events.append(e)
        assert any(e["event"] == "scanner" and e["state"] == "absent" for e in events), events
        log = open(rig.daemon_logs[-1]).read()
        status = json.dumps(rig.ctl_json("status")[1])
        for where, text in (("log", log), ("events", json.dumps(events)), ("status", status)):
            assert not re.search(r"SSCARD-EV1:[0-9A-F]{8}", text), "a code in the %s" % where
            assert HOLDER_SSN not in text, "the SSN in the %s" % where
        kiosk_step(rig, token, {"action": "cancel"})
    finally:
        if ev:
            ev.close()
        sc.unplug()
        srv.stop()
        restore_daemon(rig)


def test_a_scanner_code_needs_the_one_time_code_where_the_policy_says(rig):
    """[policy] ecode_identifies = no: after the code, the one-time code to
    the phone, as after a typed number; the page may bring a keyboard-mode
    scanner's code too."""
    srv = CentralServer(rig, "c-scanner2", 18486)
    try:
        srv.start()
        rig.stop_daemon()
        rig.start_daemon("[upstream]\nurl = %s\ntoken = tok-%d\n[policy]\necode_identifies = no\n"
                         % (srv.url, srv.port))
        wait_listening(8470, rig.daemon)
        token = http_card("/api/v1/session")[2]["token"]
        st, j = kiosk_step(rig, token, {"action": "start", "flow": "loss_report"})
        assert j["view"]["data"]["scanner"] == "off", j["view"]["data"]
        code = srv.c.ok("ecode-issue", HOLDER_SSN).strip()
        st, j = kiosk_step(rig, token, {"action": "input", "step": "identify", "ecode": code})
        assert st == 200, (st, j)
        assert wait_for(lambda: kiosk_view(rig)["step"] == "otp", 5), kiosk_view(rig)
        assert kiosk_view(rig)["data"]["sent_to"].startswith("138"), kiosk_view(rig)
        kiosk_step(rig, token, {"action": "cancel"})
    finally:
        srv.stop()
        restore_daemon(rig)


def test_a_payment_is_filed_once_after_a_kill_between_paid_and_filed(rig):
    """[payment] enabled: a replacement's fee ordered, its QR code on the
    screen; sscardd killed with SIGKILL; the holder pays; the restarted
    daemon finds the order it kept on disk, sees it paid and files the
    replacement — once, however often it is asked; an order left unpaid is
    cancelled, and a payment after that is refunded."""
    import signal
    from common import OUTBOX_CARDS
    srv = CentralServer(rig, "c-pay-kill", 18487)
    card = OUTBOX_CARDS[0]
    conf = ("[upstream]\nurl = %s\ntoken = tok-%d\nretry_max_s = 1\n[payment]\nenabled = yes\n"
            % (srv.url, srv.port))
    state = os.path.join(rig.tmp, "pay-kill-state")
    os.makedirs(state, exist_ok=True)

    def to_pay():
        token = http_card("/api/v1/session")[2]["token"]
        steps = [{"action": "start", "flow": "replacement"},
                 {"action": "input", "step": "replace_menu", "what": "apply"},
                 {"action": "input", "step": "identify", "ssn": HOLDER_SSN, "name": "张三"}]
        for b in steps:
            st, j = kiosk_step(rig, token, b)
            assert st == 200, (b, st, j)
        assert wait_for(lambda: kiosk_view(rig)["step"] == "otp", 5), kiosk_view(rig)
        otp = re.findall(r"one-time code for \S+: (\d{6})", open(srv.log).read())[-1]
        kiosk_step(rig, token, {"action": "input", "step": "otp", "code": otp})
        assert wait_for(lambda: kiosk_view(rig)["step"] == "choose_card", 5), kiosk_view(rig)
        cards = kiosk_view(rig)["data"]["cards"]
        no = srv_card(card)["card_number"]  # 卡号: the kiosk shows the printed number, masked
        ix = [c["index"] for c in cards if c["card"] == no[:4] + "*" * (len(no) - 5) + no[-1]][0]
        for b in ({"step": "choose_card", "index": ix}, {"step": "reason", "reason": "damaged"},
                  {"step": "outlet", "outlet": 0, "delegated": False}, {"step": "confirm", "confirm": True}):
            kiosk_step(rig, token, dict(b, action="input"))
        assert wait_for(lambda: kiosk_view(rig)["step"] == "pay", 5), kiosk_view(rig)

    def srv_card(card_id):
        import urllib.request
        r = urllib.request.Request(srv.url + "/v1/cards/" + card_id, headers={"Authorization": "Bearer tok-%d" % srv.port})
        return json.loads(urllib.request.urlopen(r, timeout=10).read())

    def orders():  # read-only, as a technician would look
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "outbox.db"), uri=True, timeout=5)
        try:
            return [r[0] for r in db.execute("SELECT order_id FROM orders")]
        finally:
            db.close()
    try:
        srv.start()
        rig.stop_daemon()
        rig.start_daemon(conf, state_dir=state)
        wait_listening(8470, rig.daemon)
        to_pay()
        kept = orders()
        assert len(kept) == 1, kept  # on disk before the code was shown
        rig.daemon.send_signal(signal.SIGKILL)
        rig.daemon.wait()
        rig.daemon = None
        assert srv.c.ok("pay", kept[0]).strip() == "paid"
        rig.start_daemon(conf, state_dir=state)
        assert wait_for(lambda: not orders(), 10, 0.2), "the paid order was not settled: %r" % orders()
        assert wait_for(lambda: any(r["type"] == "replacement" and r["status"] == 200 for r in srv.requests()), 10), \
            srv.requests()
        time.sleep(2.5)  # another round of settling: nothing twice
        filed = [r for r in srv.requests() if r["type"] == "replacement"]
        assert len(filed) == 1 and filed[0]["reply"]["state"] == "cancelled", filed
        # an order left unpaid by a kill is cancelled at the central; paying it then is refunded
        srv.c.ok("card-add", OUTBOX_CARDS[1], HOLDER_SSN, "formal")
        card = OUTBOX_CARDS[1]
        wait_listening(8470, rig.daemon)
        to_pay()
        kept = orders()
        rig.daemon.send_signal(signal.SIGKILL)
        rig.daemon.wait()
        rig.daemon = None
        rig.start_daemon(conf, state_dir=state)
        assert wait_for(lambda: not orders(), 10, 0.2), orders()
        assert srv.c.ok("pay", kept[0]).strip() == "refunded"
        assert len([r for r in srv.requests() if r["type"] == "replacement"]) == 1, srv.requests()
    finally:
        srv.stop()
        restore_daemon(rig)
