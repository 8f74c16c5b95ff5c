"""Contactless tests: libnfc and the PN532 emulator, the NFC helper in the
daemon, a libnfc abort, one card on both interfaces."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, wait_for  # noqa: E402
from common import ALL_FIELDS, EXPECT, Pn532, nfc_daemon, read_card, restore_daemon  # noqa: E402


def nfc_read(rig, conn, rounds=1, timeout=30):
    r = subprocess.run([os.path.join(rig.build, "nfc-read"), conn, str(rounds)],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, LIBNFC_LOG_LEVEL="0"))
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "{}"
    return r.returncode, json.loads(line)


def test_contactless_read_equals_contact_read_for_every_profile(rig):
    for profile in EXPECT:
        _, rc, contact, err = read_card(rig, profile)
        assert rc == 0, "%s contact: %s" % (profile, err)
        for c in list(rig.cards):
            rig.remove(c)
        dev = Pn532(rig, profile)
        try:
            rc, nfc = nfc_read(rig, dev.conn)
        finally:
            dev.stop()
        assert rc == 0 and nfc.get("ok"), "%s contactless: %r" % (profile, nfc)
        assert nfc["interface"] == "contactless", "interface %r" % nfc["interface"]
        for k in ALL_FIELDS + ["atr_historical", "apdus"]:
            assert nfc.get(k) == contact.get(k), "%s: %s contactless %r != contact %r" % (profile, k, nfc.get(k), contact.get(k))
        assert nfc.get("errors") == contact.get("errors"), "%s: errors differ" % profile
        wait_for(lambda: not rig.card_present(), 5)


def test_contactless_chained_long_answers_and_faults(rig):
    # every answer longer than 16 bytes comes in MI-chained pieces
    dev = Pn532(rig, "ayiguli-2.00-longname.card", "--chain-at", "16")
    try:
        rc, j = nfc_read(rig, dev.conn)
        assert rc == 0 and j["name"] == EXPECT["ayiguli-2.00-longname.card"]["name"], "chained: %r" % j
    finally:
        dev.stop()
    # the longest short answer, 256 bytes + SW (GET CHALLENGE, Le 00), in MI-chained pieces
    for chain in ("16", "250"):
        dev = Pn532(rig, "zhangsan-2.00.card", "--chain-at", chain)
        try:
            rc, j = nfc_read(rig, dev.conn, "challenge")
            assert rc == 0 and j == {"ok": True, "len": 256, "sw": "9000"}, "258-byte answer, chain %s: %r" % (chain, j)
        finally:
            dev.stop()
    # no card on the field: a plain no_card, quickly
    dev = Pn532(rig, "zhangsan-2.00.card", "--no-card")
    try:
        t0 = time.monotonic()
        rc, j = nfc_read(rig, dev.conn)
        assert rc == 1 and j.get("error") == "no_card", "no card: %r" % j
        assert time.monotonic() - t0 < 5, "no card took %.1f s" % (time.monotonic() - t0)
    finally:
        dev.stop()
    # the card leaves the field mid-read: card_removed, not a hang
    dev = Pn532(rig, "zhangsan-2.00.card", "--remove-after", "5")
    try:
        rc, j = nfc_read(rig, dev.conn)
        assert rc == 1 and j.get("error") == "card_removed", "removed: %r" % j
    finally:
        dev.stop()
    # a garbage frame instead of an answer: an error with a code, no crash, no hang
    dev = Pn532(rig, "zhangsan-2.00.card", "--garbage-after", "3")
    try:
        rc, j = nfc_read(rig, dev.conn)
        assert rc == 1 and j.get("error") in ("reader_error", "card_timeout", "bad_response", "card_removed"), "garbage: %r" % j
    finally:
        dev.stop()
    # no device at that path
    rc, j = nfc_read(rig, "pn532_uart:" + os.path.join(rig.tmp, "nothing-here"))
    assert rc == 1 and j.get("error") == "no_reader", "no device: %r" % j


def test_daemon_reads_contactless_sees_removal_and_a_device_that_returns(rig):
    want = EXPECT["zhangsan-2.00.card"]
    dev = Pn532(rig, "zhangsan-2.00.card", "--no-card")
    try:
        name = nfc_daemon(rig, dev)
        ev = rig.events()
        dev.proc.send_signal(signal.SIGUSR2)  # the card comes onto the field
        assert ev.wait("card_inserted", 5, reader=name), "no card_inserted"
        e = ev.wait("card_read", 5, reader=name)
        assert e, "no card_read"
        card = e["card"]
        assert card["interface"] == "contactless" and card["atr"].startswith("3B8D8001"), card
        for k in ALL_FIELDS + ["atr_historical", "apdus"]:
            assert card.get(k) == want.get(k), "%s: %r != %r" % (k, card.get(k), want.get(k))
        rc, j, _ = rig.ctl_json("read")  # no reader named: the only card is on NFC
        assert rc == 0 and j["reader"] == name and j["card_id"] == want["card_id"], j
        # removal: the helper's presence check notices within ~100 ms
        lat = []
        for _ in range(5):
            t0 = time.monotonic()
            dev.proc.send_signal(signal.SIGUSR1)
            assert ev.wait("card_removed", 3, reader=name), "removal not seen"
            lat.append(time.monotonic() - t0)
            dev.proc.send_signal(signal.SIGUSR2)
            assert ev.wait("card_read", 5, reader=name), "card not read again"
        print("# contactless removal seen in %s ms" % ", ".join("%.0f" % (x * 1e3) for x in lat))
        assert max(lat) < 1.0, "removal took %.2f s" % max(lat)
        # the device vanishes (unplugged) and comes back at the same path
        dev.stop()
        assert ev.wait("reader_removed", 10, reader=name), "no reader_removed"
        rc, j, _ = rig.ctl_json("read", name)
        assert rc == 1 and j["error"] == "unknown_reader", j
        dev = Pn532(rig, "lisi-1.00-t0.card")
        assert ev.wait("reader_added", 10, reader=name), "the device was not opened again"
        e = ev.wait("card_read", 5, reader=name)
        assert e and e["card"]["card_id"] == EXPECT["lisi-1.00-t0.card"]["card_id"], e
        ev.close()
        assert rig.daemon.poll() is None, "sscardd died"
    finally:
        dev.stop()
        restore_daemon(rig)


def test_every_profile_over_nfc_through_the_daemon(rig):
    dev = Pn532(rig, "zhangsan-2.00.card", "--no-card")
    try:
        name = nfc_daemon(rig, dev)
        ev = rig.events()
        for profile, want in EXPECT.items():
            dev.stop()
            assert ev.wait("reader_removed", 10, reader=name), "%s: no reader_removed" % profile
            dev = Pn532(rig, profile)
            e = ev.wait("card_read", 10, reader=name)
            assert e, "%s: not read" % profile
            card = e["card"]
            for k in ALL_FIELDS + [k for k in ("atr_historical", "apdus") if k in want]:
                assert card.get(k) == want.get(k), "%s: %s %r != %r" % (profile, k, card.get(k), want.get(k))
            assert (sorted(x["field"] for x in card.get("errors", [])) ==
                  sorted(k for k in ALL_FIELDS if k not in want)), "%s: errors %r" % (profile, card.get("errors"))
        # a reload without [readers] nfc lets the device go, one with it takes it again
        conf = os.path.join(rig.tmp, "sscard.conf")
        text = open(conf).read()
        open(conf, "w").write(text.replace("nfc = %s\n" % dev.conn, ""))
        rc, j, _ = rig.ctl_json("reload")
        assert rc == 0 and "nfc" not in j["needs_restart"], j
        assert ev.wait("reader_removed", 5, reader=name), "nfc off: the reader stayed"
        open(conf, "w").write(text)
        rc, j, _ = rig.ctl_json("reload")
        assert ev.wait("card_read", 10, reader=name), "nfc on again: no read"
        ev.close()
    finally:
        dev.stop()
        restore_daemon(rig)


def test_libnfc_abort_takes_down_the_helper_not_the_daemon(rig):
    # libnfc 1.8.0 calls abort() on a status byte with the NAD bit
    dev = Pn532(rig, "zhangsan-2.00.card", "--nad-after", "3")
    try:
        name = nfc_daemon(rig, dev)
        ev = rig.events()
        assert ev.wait("reader_removed", 10, reader=name), "the helper did not die?"
        assert rig.daemon.poll() is None, "sscardd died with libnfc"
        rc, j, _ = rig.ctl_json("status")
        assert rc == 0 and j["errors"].get("reader_error", 0) >= 1, j
        log = open(rig.daemon_logs[-1]).read()
        assert "NFC helper killed by signal 6" in log, log[-2000:]
        dev.stop()
        dev = Pn532(rig, "zhangsan-2.00.card")  # a sound device at the same path
        e = ev.wait("card_read", 20, reader=name)
        assert e and e["card"]["name"] == "张三", "not read after the helper came back: %r" % e
        nfc = rig.ctl_json("status")[1]["nfc"]
        assert nfc["helper"] == "running" and nfc["restarts"] >= 1 and nfc["device"] == dev.conn, nfc
        # garbage frames: an error with a code, then reads again
        dev.stop()
        dev = Pn532(rig, "zhangsan-2.00.card", "--garbage-after", "3")
        e = ev.wait("read_failed", 20, reader=name)
        assert e and e["error"] in ("reader_error", "card_timeout", "bad_response", "card_removed"), e
        ev.close()
        assert rig.daemon.poll() is None, "sscardd died"
    finally:
        dev.stop()
        restore_daemon(rig)


def events_for(ev, seconds):
    out, end = [], time.monotonic() + seconds
    while True:
        e = ev.next(max(0.0, end - time.monotonic()))
        if e is None:
            return out
        out.append(e)


def test_one_card_on_both_interfaces_gives_one_read(rig):
    dev = Pn532(rig, "zhangsan-2.00.card", "--no-card")
    try:
        for prefer, nfc_first in (("contact", True), ("contact", False), ("contactless", True),
                                  ("contactless", False), ("both", False)):
            name = nfc_daemon(rig, dev, "prefer = %s\nsettle_ms = 2000\n" % prefer)
            ev = rig.events()
            if nfc_first:
                dev.proc.send_signal(signal.SIGUSR2)
                time.sleep(0.3)
                card = rig.insert("zhangsan-2.00.card", 0x8C7B)
            else:
                card = rig.insert("zhangsan-2.00.card", 0x8C7B)
                assert wait_for(lambda: rig.card_present(READER0), 5), "contact card"
                dev.proc.send_signal(signal.SIGUSR2)
            seen = events_for(ev, 3.0)
            ins = [e["reader"] for e in seen if e["event"] == "card_inserted"]
            reads = [e["reader"] for e in seen if e["event"] == "card_read"]
            what = "prefer %s, %s first: %r" % (prefer, "NFC" if nfc_first else "contact", seen)
            winner = name if prefer == "contactless" else READER0
            assert ins == [winner] and reads == [winner], what
            states = {r["name"]: r["state"] for r in rig.ctl_json("readers")[1]["readers"]}
            loser = READER0 if winner == name else name
            assert states[loser] == "shadowed", "%s: %r" % (what, states)
            rc, j, _ = rig.ctl_json("read")
            assert rc == 0 and j["reader"] == winner, j
            # both leave: one card_removed, from the reader that was announced
            dev.proc.send_signal(signal.SIGUSR1)
            rig.remove(card)
            seen = events_for(ev, 1.5)
            assert [e["reader"] for e in seen if e["event"] == "card_removed"] == [winner], seen
            ev.close()
    finally:
        dev.stop()
        restore_daemon(rig)
