"""Outbox tests: kill -9, outages, a flaky central, final refusals, the
central's card rules, TLS with a test CA, a full disk."""
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import wait_for  # noqa: E402
from common import CentralServer, outbox_daemon, HOLDER_SSN, OUTBOX_CARDS, ZHANGSAN_ID, make_ca, outbox_drained, submit  # noqa: E402


@contextlib.contextmanager
def outbox_setup(rig, name, port, faults="", start=True):
    srv = CentralServer(rig, name, port, faults)
    if start:
        srv.start()
    try:
        yield srv, os.path.join(rig.tmp, name + "-state")
    finally:
        srv.stop()
        rig.stop_daemon()
        rig.start_daemon()


def test_outbox_survives_kill_9_exactly_once(rig):
    n = int(os.environ.get("SSCARD_CRASH_N", "200"))
    want_kills = int(os.environ.get("SSCARD_CRASH_KILLS", "40"))
    with outbox_setup(rig, "c-crash", 18481) as (srv, state):
        outbox_daemon(rig, srv, state)
        accepted, done = {}, threading.Event()

        def driver():
            for i in range(n):
                key = os.urandom(16).hex()
                card = OUTBOX_CARDS[i % len(OUTBOX_CARDS)]
                kind = "pin_changed" if i % 3 else "loss_report loss=temporary"
                kind, _, extra = kind.partition(" ")
                line = "%s %s %s key=%s" % (kind, card, extra, key)
                while True:  # the same key until the daemon says yes
                    r = submit(rig, line, timeout=2)
                    if r and r.get("ok"):
                        accepted[key] = r["reference"]
                        break
                    time.sleep(0.02)
            done.set()
        t = threading.Thread(target=driver)
        t.start()
        kills = 0
        conf = ("[upstream]\nurl = %s\ntoken = tok-%d\nretry_max_s = 1\ntimeout_ms = 2000\n"
                % (srv.url, srv.port))
        # kill -9 at random points of the run (spread over the accepted
        # count), each at a random instant: mid-commit, mid-answer,
        # mid-delivery, mid-start
        points = sorted(random.sample(range(1, n), min(n - 1, want_kills * 5 // 4)))
        for p in points:
            wait_for(lambda: done.is_set() or len(accepted) >= p, 60, 0.001)
            time.sleep(random.uniform(0, 0.004))
            if rig.daemon and rig.daemon.poll() is None:
                rig.daemon.kill()
                rig.daemon.wait()
                kills += 1
            rig.daemon = None
            rig.start_daemon(conf, state_dir=state)
        t.join()
        assert kills >= want_kills, "only %d kills" % kills
        j = outbox_drained(rig, 60)
        assert j and j["failed"] == 0, j
        got = [r["key"] for r in srv.requests()]
        lost = set(accepted) - set(got)
        extra = set(got) - set(accepted)
        assert not lost and not extra and len(got) == len(set(got)) == n, ("accepted %d, at the central %d (lost %d, unknown %d, duplicated %d), kills %d"
              % (len(accepted), len(got), len(lost), len(extra), len(got) - len(set(got)), kills))
        print("# outbox crash: %d accepted, %d delivered, 0 lost, 0 duplicated, %d kill -9"
              % (len(accepted), len(got), kills))


def test_outbox_outage_keeps_accepting_and_delivers_in_order(rig):
    outage = float(os.environ.get("SSCARD_OUTAGE_S", "5"))
    with outbox_setup(rig, "c-outage", 18482, start=False) as (srv, state):
        outbox_daemon(rig, srv, state)
        order = {c: [] for c in OUTBOX_CARDS[:3]}
        steps = ["loss_report loss=temporary", "loss_report loss=formal", "loss_cancel",
                 "pin_changed"]
        t0 = time.monotonic()
        rounds = steps * 3
        for i, step in enumerate(rounds):  # spread over the whole outage
            for card in order:
                kind, _, extra = step.partition(" ")
                r = submit(rig, "%s %s %s" % (kind, card, extra))
                assert r and r["ok"], r
                order[card].append(r["key"])
            time.sleep(max(0, t0 + outage * (i + 1) / len(rounds) - time.monotonic()))
        rc, j, _ = rig.ctl_json("outbox")
        assert j["pending"] == 36 and "unreachable" in j.get("last_error", ""), j
        rc, out, _ = rig.ctl("outbox")
        assert "36 pending" in out and "R" in out, out
        srv.start()
        assert outbox_drained(rig, 30), "not delivered after the central came back"
        reqs = srv.requests()
        for card, keys in order.items():
            seen = [r["key"] for r in reqs if r["card_id"] == card]
            assert seen == keys, "per-card order broken for %s" % card
        assert all(r["status"] == 200 for r in reqs), [r for r in reqs if r["status"] != 200]
        keys = [k for ks in order.values() for k in ks]
        print("# outbox outage: central down %.0f s; %d accepted, %d delivered in per-card order, "
              "%d lost, %d duplicated" % (outage, len(keys), len(reqs),
                                          len(set(keys) - {r["key"] for r in reqs}),
                                          len(reqs) - len({r["key"] for r in reqs})))


def test_outbox_flaky_central_still_exactly_once(rig):
    with outbox_setup(rig, "c-flaky", 18483,
                      faults="drop=0.2,err500=0.2,lose_reply=0.25,delay_ms=20") as (srv, state):
        outbox_daemon(rig, srv, state)
        keys = []
        for i in range(60):
            r = submit(rig, "pin_changed %s" % OUTBOX_CARDS[i % 5])
            assert r and r["ok"], r
            keys.append(r["key"])
        assert outbox_drained(rig, 90), "not all delivered"
        got = [r["key"] for r in srv.requests()]
        assert sorted(got) == sorted(keys), "central %d vs accepted %d" % (len(got), len(keys))
        log = open(srv.log).read()
        assert log.count("request C") == 60, "the central applied %d times" % log.count("request C")
        print("# outbox flaky central: 60 accepted, %d delivered, each applied once" % len(got))


def test_outbox_refusal_is_final_and_can_be_retried(rig):
    with outbox_setup(rig, "c-refuse", 18484) as (srv, state):
        outbox_daemon(rig, srv, state)
        ev = rig.events()
        r = submit(rig, "activation %s" % OUTBOX_CARDS[0])  # a normal card: not sealed
        e = ev.wait("outbox_failed", 10)
        assert (e["error"] == "not_sealed" and e["reference"] == r["reference"] and
              "6399**" in e["card"]), e
        rc, j, _ = rig.ctl_json("outbox")
        item = j["items"][0]
        assert j["failed"] == 1 and item["state"] == "failed" and "not_sealed" in item["last_error"], j
        rc, j, _ = rig.ctl_json("outbox", "retry", str(item["id"]))
        assert rc == 0 and j["state"] == "pending", j
        e = ev.wait("outbox_failed", 10)   # the central's word is the same
        assert e["error"] == "not_sealed", e
        rc, j, _ = rig.ctl_json("outbox", "retry", "999")
        assert rc == 1 and "No failed request" in j["message"], j
        # a loss taken here is listed here at once, before any list says so
        r = submit(rig, "loss_report %s loss=formal" % ZHANGSAN_ID)
        assert r["ok"] and r["listed_here"] is True, r
        rc, j, _ = rig.ctl_json("list", "lookup", ZHANGSAN_ID)
        assert rc == 0 and j["listed"] is True and j["state"] == "formal", j
        # the same key again: the same receipt, nothing new
        r1 = submit(rig, "pin_changed %s key=%s" % (OUTBOX_CARDS[1], "ab" * 16))
        r2 = submit(rig, "pin_changed %s key=%s" % (OUTBOX_CARDS[1], "AB" * 16))
        assert r1["reference"] == r2["reference"] and r2["duplicate"] is True, (r1, r2)
        r3 = submit(rig, "loss_cancel %s key=%s" % (OUTBOX_CARDS[1], "ab" * 16))
        assert r3["ok"] is False and "another request" in r3["message"], r3
        for bad, words in (("", "needs an argument"), ("pin_changed", "request TYPE CARD_ID"),
                           ("pin_changed XYZ", "32 hexadecimal"), ("burn %s" % OUTBOX_CARDS[0], "not 'burn'")):
            r = rig.request(("request %s\n" % bad).encode())[0]
            assert r["ok"] is False and words in r["message"], (bad, r)
        logs = open(rig.daemon_logs[-1]).read()
        assert OUTBOX_CARDS[0] not in logs and "'request activation' by uid" in logs, "card ids stay out of the log"
        ev.close()


def api(srv, method, path, body=None, key=None, token=True, admin=False):
    """One call to the central's API: (status, json, headers)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer tok-%d" % srv.port
    if key:
        headers["Idempotency-Key"] = key
    if admin:
        headers["X-Admin-Token"] = "adm"
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(srv.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(r, timeout=10) as f:
            return f.status, json.loads(f.read()), dict(f.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


def test_central_api_follows_the_card_rules(rig):
    srv = CentralServer(rig, "c-rules", 18487).start()
    card = OUTBOX_CARDS[0]
    try:
        # who may ask
        st, j, _ = api(srv, "GET", "/v1/cards/" + card, token=False)
        assert st == 401 and j["error"] == "unauthorized", j
        # holder without the card: SSN + name → masked cards, a code, then the ids
        st, j, _ = api(srv, "POST", "/v1/holders/lookup", {"ssn": "111111198101011111", "name": "张三"})
        assert st == 400 and j["error"] == "check_digit", j
        st, j, _ = api(srv, "POST", "/v1/holders/lookup", {"ssn": HOLDER_SSN, "name": "李四"})
        assert st == 404 and j["error"] == "holder_not_found", j
        st, j, _ = api(srv, "POST", "/v1/holders/lookup", {"ssn": HOLDER_SSN, "name": "张三"})
        assert (st == 200 and j["otp_sent_to"] == "138****8000" and
              all("*" in c["masked"] and "card_id" not in c for c in j["cards"])), j
        code = api(srv, "GET", "/v1/admin/otp?ssn=" + HOLDER_SSN, admin=True)[1]["code"]
        st, j, _ = api(srv, "POST", "/v1/holders/verify", {"ssn": HOLDER_SSN, "code": "000000" if code != "000000" else "111111"})
        assert st == 403 and j["error"] == "otp_wrong" and j["tries_left"] == 2, j
        st, j, _ = api(srv, "POST", "/v1/holders/verify", {"ssn": HOLDER_SSN, "code": code})
        assert st == 200 and card in [c["card_id"] for c in j["cards"]], j
        # report, replay, replace, then cancel is refused
        k1 = os.urandom(16).hex()
        st, j, h = api(srv, "POST", "/v1/requests", {"type": "loss_report", "card_id": card, "loss": "formal"}, k1)
        assert st == 200 and j["state"] == "formal", j
        st2, j2, h2 = api(srv, "POST", "/v1/requests", {"type": "loss_cancel", "card_id": card}, k1)
        assert st2 == 200 and j2 == j and h2.get("Idempotent-Replayed") == "true", (j2, h2)
        st, j, _ = api(srv, "POST", "/v1/requests", {"type": "loss_report", "card_id": card, "loss": "temporary"},
                       os.urandom(16).hex())
        assert st == 200 and j["state"] == "formal", j  # not downgraded
        st, j, _ = api(srv, "POST", "/v1/requests", {"type": "replacement", "card_id": card, "outlet": "Hall 1",
                                                     "delegated": False, "fee_fen": 1000}, os.urandom(16).hex())
        assert st == 200 and j["state"] == "cancelled" and "*" in j["new_card"] and j["ready_date"], j
        st, j, _ = api(srv, "POST", "/v1/requests", {"type": "loss_cancel", "card_id": card}, os.urandom(16).hex())
        assert st == 409 and j["error"] == "replacement_applied", j
        st, j, _ = api(srv, "GET", "/v1/cards/" + card)
        assert (st == 200 and j["state"] == "cancelled" and j["holder"] == "张*" and
              j["replacement"]["progress"] == "being made" and j["replacement"]["outlet"] == "Hall 1"), j
        # the new card is sealed: activation works once
        st, j, _ = api(srv, "POST", "/v1/holders/lookup", {"ssn": HOLDER_SSN, "name": "张三"})
        code = api(srv, "GET", "/v1/admin/otp?ssn=" + HOLDER_SSN, admin=True)[1]["code"]
        cards = api(srv, "POST", "/v1/holders/verify", {"ssn": HOLDER_SSN, "code": code})[1]["cards"]
        new = [c["card_id"] for c in cards if c["state"] == "sealed"]
        assert len(new) == 1, cards
        st, j, _ = api(srv, "POST", "/v1/requests", {"type": "activation", "card_id": new[0]}, os.urandom(16).hex())
        assert st == 200 and j["state"] == "normal", j
        st, j, _ = api(srv, "POST", "/v1/requests", {"type": "activation", "card_id": new[0]}, os.urandom(16).hex())
        assert st == 409 and j["error"] == "not_sealed", j
        # bad requests get plain errors
        for body, key, code_ in (({"type": "loss_report", "card_id": card}, "short", "bad_request"),
                                 ({"type": "fly", "card_id": OUTBOX_CARDS[1]}, os.urandom(16).hex(), "unknown_type"),
                                 ({"type": "loss_report", "card_id": "00" * 16, "loss": "formal"}, os.urandom(16).hex(), "card_not_found")):
            st, j, _ = api(srv, "POST", "/v1/requests", body, key)
            assert 400 <= st < 500 and j["error"] == code_, (body, j)
        # a temporary loss lapses after its days (the central's clock moved on)
        st, j, _ = api(srv, "POST", "/v1/requests", {"type": "loss_report", "card_id": OUTBOX_CARDS[1],
                                                     "loss": "temporary"}, os.urandom(16).hex())
        assert st == 200 and j["state"] == "temporary", j
        srv.stop()
        srv.start({"SSCARD_CENTRAL_CLOCK_OFFSET": str(16 * 86400)})
        st, j, _ = api(srv, "GET", "/v1/cards/" + OUTBOX_CARDS[1])
        assert st == 200 and j["state"] == "normal", j
    finally:
        srv.stop()


def test_outbox_over_tls_with_a_test_ca(rig):
    d = os.path.join(rig.tmp, "tls")
    good, other = make_ca(d, "central"), make_ca(d, "impostor")
    srv = CentralServer(rig, "c-tls", 18486, tls=good).start()
    state = os.path.join(rig.tmp, "c-tls-state")
    try:
        # a CA that did not sign the central: nothing goes, the reason is plain
        outbox_daemon(rig, srv, state, "ca = %s\n" % other["ca"])
        r = submit(rig, "pin_changed %s" % OUTBOX_CARDS[0])
        assert r and r["ok"], r
        assert wait_for(lambda: "certificate" in rig.ctl_json("outbox")[1].get("last_error", ""), 10), rig.ctl_json("outbox")[1]
        assert srv.requests() == [], "delivered to an unverified central"
        # a wrong token: kept and retried (a technician's fix), not thrown away
        rig.stop_daemon()
        rig.start_daemon("[upstream]\nurl = %s\ntoken = wrong\nretry_max_s = 1\nca = %s\n"
                         % (srv.url, good["ca"]), state_dir=state)
        assert wait_for(lambda: "unauthorized" in rig.ctl_json("outbox")[1].get("last_error", ""), 10), rig.ctl_json("outbox")[1]
        assert rig.ctl_json("outbox")[1]["pending"] == 1, "still pending"
        # the right CA and token: delivered over TLS
        outbox_daemon(rig, srv, state, "ca = %s\n" % good["ca"])
        assert outbox_drained(rig, 15), rig.ctl_json("outbox")[1]
        assert len(srv.requests()) == 1, srv.requests()
    finally:
        srv.stop()
        rig.stop_daemon()
        rig.start_daemon()


def test_outbox_full_disk_refuses_and_keeps_what_it_took(rig):
    with outbox_setup(rig, "c-full-ob", 18485, start=False) as (srv, state):
        os.makedirs(state, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", state], check=True)
        try:
            outbox_daemon(rig, srv, state)
            taken = [submit(rig, "pin_changed %s" % OUTBOX_CARDS[i % 5]) for i in range(5)]
            assert all(r and r["ok"] for r in taken), taken
            filler = os.path.join(state, "filler")
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            os.close(fd)
            refused = None
            for i in range(200):  # until SQLite needs a page it cannot have
                r = submit(rig, "pin_changed %s" % OUTBOX_CARDS[0])
                if not r["ok"]:
                    refused = r
                    break
                taken.append(r)
            assert (refused and refused["error"] == "outbox_unavailable" and
                  "please use the counter or call 12333" in refused["message"]), refused
            os.unlink(filler)
            r = submit(rig, "pin_changed %s" % OUTBOX_CARDS[0])
            assert r and r["ok"], r
            taken.append(r)
            srv.start()
            assert outbox_drained(rig, 30), "not delivered"
            got = sorted(x["key"] for x in srv.requests())
            assert got == sorted(t["key"] for t in taken), "%d at central, %d taken" % (len(got), len(taken))
        finally:
            rig.stop_daemon()
            subprocess.run(["umount", state])
