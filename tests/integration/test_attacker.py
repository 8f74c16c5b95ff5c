"""Seen from an attacker's side (issue 27): a local account on the kiosk
(uid 65534 here, or a member of group sscard), and someone between the
terminal and the central with a certificate from a CA the system trusts.
Each test failed on the code before the fix."""
import json
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, wait_for, wait_listening  # noqa: E402
from common import (CentralServer, OUTBOX_CARDS, ZHANGSAN_ID, http_card, make_ca, outbox_daemon,  # noqa: E402
                    read_card, restore_daemon, submit)

NOBODY = 65534
SECRET = "s3cr3t-Token-0042"

# What uid 65534 tries: every route of the kiosk's server (the counter API
# is off on a kiosk), with and without an Origin, as a page or curl would.
ROUTES = [("GET", "/", None), ("GET", "/api/v1/session", None), ("GET", "/api/v1/state", None),
          ("GET", "/api/v1/events", None), ("GET", "/api/v1/card", None),
          ("POST", "/api/v1/flow", {"action": "start", "flow": "pin_change"}),
          ("POST", "/api/v1/print", {}), ("POST", "/api/v1/help", {})]
PROBE = r"""
import http.client, json, sys
out = []
for method, path, body, token in json.loads(sys.argv[1]):
    try:
        c = http.client.HTTPConnection("127.0.0.1", 8470, timeout=5)
        h = {"Origin": "http://127.0.0.1:8470", "X-Session-Token": token or ""}
        if body is not None:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read(300) if path.endswith("events") else r.read()
        out.append([path, r.status, data.decode(errors="replace")[:300]])
    except Exception as e:
        out.append([path, None, type(e).__name__])
print(json.dumps(out))
"""


def as_user(uid, *cmd, groups=None, timeout=30):
    pre = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid]
    pre += ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return subprocess.run(pre + list(cmd), capture_output=True, text=True, timeout=timeout)


def probe(uid, token=None):
    """Every route as uid: [[path, status or None, what came back]]."""
    routes = [[m, p, b, token] for m, p, b in ROUTES]
    r = as_user(uid, "/usr/bin/python3", "-c", PROBE, json.dumps(routes))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_local_user_gets_nothing_of_the_kiosk(rig):
    """uid 65534 (any local account) tries every route of the kiosk: a
    kiosk refuses its connections outright, so it can neither take a
    session, read the screen, post a step nor use up the page's streams."""
    wait_listening(8470, rig.daemon)
    st, _, j = http_card("/api/v1/session")  # root: the kiosk's own browser here
    assert st == 200 and len(j["token"]) == 32, (st, j)
    token = j["token"]
    got = probe(NOBODY, token)
    for path, status, what in got:
        assert status is None, "uid 65534 got %s from %s: %s" % (status, path, what)
    # the page's session is still valid, and still the only one
    st, _, j = http_card("/api/v1/state", headers={"X-Session-Token": token})
    assert st == 200 and j["view"]["step"] == "home", (st, j)
    log = open(rig.daemon_logs[-1]).read()
    assert "a connection of uid 65534 refused" in log, "the refusal is logged"


def test_on_a_counter_pc_others_may_read_cards_but_not_drive_the_kiosk(rig):
    """A counter PC (allow_origins set): any local program may use the card
    API, as documented; the kiosk's routes still answer its own browser
    only, and counter streams never take the kiosk page's."""
    rig.stop_daemon()
    rig.start_daemon("[ui]\nallow_origins = http://his.example:8080\n")
    try:
        wait_listening(8470, rig.daemon)
        got = {p: (s, w) for p, s, w in probe(NOBODY)}
        for path in ("/api/v1/session", "/api/v1/state", "/api/v1/events", "/api/v1/flow",
                     "/api/v1/print", "/api/v1/help"):
            status, what = got[path]
            assert status == 403 and "not_kiosk" in what, "%s as uid 65534: %s %s" % (path, status, what)
        assert got["/api/v1/card"][0] == 404 and '"code":-2' in got["/api/v1/card"][1], got["/api/v1/card"]  # the card API: no card
        # 16 counter streams (the most there may be) and a 17th refused ...
        import http.client
        streams = []
        try:
            for i in range(17):
                c = http.client.HTTPConnection("127.0.0.1", 8470, timeout=5)
                c.request("GET", "/api/v1/card/events")
                r = c.getresponse()
                streams.append((c, r.status))
            assert [s for _, s in streams].count(200) == 16 and streams[-1][1] == 503, \
                [s for _, s in streams]
            # ... and the kiosk page's own stream still opens
            c = http.client.HTTPConnection("127.0.0.1", 8470, timeout=5)
            c.request("GET", "/api/v1/events")
            r = c.getresponse()
            assert r.status == 200, "the kiosk's stream was refused: %s" % r.status
            assert r.read(6) == b"retry:", "no stream"
            c.close()
        finally:
            for c, _ in streams:
                c.close()
    finally:
        restore_daemon(rig)


def test_card_events_and_idcard_are_masked_for_the_group(rig):
    """A member of group sscard (not an administrator) subscribing to events
    learns that a card was read, not whose it is; root sees it all."""
    os.chmod(rig.tmp, 0o755)
    os.chmod(rig.sock, 0o666)  # the daemon's check, not the file mode, is tested
    sub = subprocess.Popen(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                            os.path.join(rig.build, "sscardctl"), "-j", "events"],
                           env=dict(os.environ, SSCARD_SOCKET=rig.sock), stdout=subprocess.PIPE, text=True)
    ev = rig.events()
    card = None
    try:
        assert json.loads(sub.stdout.readline()).get("ok") is True, "not subscribed"
        card, rc, j, _ = read_card(rig, "zhangsan-2.00.card")
        assert rc == 0 and j["ssn"] == "111111198101011110", j
        full = ev.wait("card_read", 5, reader=READER0)
        assert full and full["card"]["ssn"] == "111111198101011110", full  # root: in full
        masked = None
        end = time.monotonic() + 5
        while time.monotonic() < end and not masked:
            e = json.loads(sub.stdout.readline() or "{}")
            masked = e if e.get("event") == "card_read" else None
        assert masked, "no card_read for the group member"
        text = json.dumps(masked, ensure_ascii=False)
        for secret in ("111111198101011110", "张三", "1981-01-01", ZHANGSAN_ID):
            assert secret not in text, "%s reached a non-admin subscriber: %s" % (secret, text)
        assert masked["card"]["ssn"] == "111111********1110" and masked["card"]["name"] == "张*", masked
        assert masked["card"]["birth_date"] == "1981-**-**", masked
    finally:
        sub.kill()
        sub.wait()
        ev.close()
        if card:
            rig.remove(card)
        os.chmod(rig.tmp, 0o700)


def test_idcard_verb_is_masked_for_the_group(rig):
    from rig import IdReader
    idr = IdReader(rig.build, rig.tmp, "idreader-mask")
    idr.start("zhangsan.idcard")
    try:
        rig.stop_daemon()
        rig.start_daemon("idcard = %s\n" % idr.link)
        os.chmod(rig.tmp, 0o755)
        os.chmod(rig.sock, 0o666)
        rc, j, err = rig.ctl_as(NOBODY, [], "idcard")
        assert rc == 0 and j["ok"], (j, err)
        text = json.dumps(j, ensure_ascii=False)
        assert j.get("masked") is True and "111111198101011110" not in text and "张三" not in text, text
        assert j["id_number"] == "111111********1110" and "1981-01-01" not in text, j
        rc, j, _ = rig.ctl_json("idcard")  # root: in full
        assert j["id_number"] == "111111198101011110" and "masked" not in j, j
    finally:
        os.chmod(rig.tmp, 0o700)
        idr.stop()
        restore_daemon(rig)


def test_state_files_are_the_daemons_alone_whatever_the_umask(rig):
    """Started by hand from a shell with umask 022: the outbox, the loss
    list and their WAL files still come out 0600."""
    state = os.path.join(rig.tmp, "umask-state")
    os.makedirs(state)
    old = os.umask(0o022)
    try:
        rig.stop_daemon()
        rig.start_daemon(state_dir=state)
    finally:
        os.umask(old)
    try:
        assert submit(rig, "pin_changed %s" % OUTBOX_CARDS[0])["ok"], "not queued"
        files = [f for f in os.listdir(state) if f.endswith((".db", "-wal", "-shm"))]
        assert any(f.startswith("outbox.db") for f in files) and any(f.startswith("losslist") for f in files), files
        modes = {f: stat.S_IMODE(os.stat(os.path.join(state, f)).st_mode) for f in files}
        assert all(m & 0o077 == 0 for m in modes.values()), {f: oct(m) for f, m in modes.items()}
    finally:
        restore_daemon(rig)


def test_the_token_is_never_shown_and_its_file_is_checked(rig):
    """A bad line after the token (a control byte in it, a continuation):
    neither --check-config, the start nor a reload shows the token; a
    config holding it that every user can read is warned about."""
    conf = os.path.join(rig.tmp, "secret.conf")
    daemon = os.path.join(rig.build, "sscardd")
    for bad in ("token = %s\x01\n" % SECRET, "token = %s extra\n" % SECRET):
        with open(conf, "w") as f:
            f.write("[daemon]\nsocket = %s/s2.sock\nstate_dir = %s\n[ui]\nlisten = off\n[upstream]\n%s"
                    % (rig.tmp, rig.tmp, bad))
        r = subprocess.run([daemon, "--check-config", "-c", conf], capture_output=True, text=True)
        assert r.returncode == 78 and "token must be" in r.stderr, r.stderr
        assert SECRET not in r.stderr + r.stdout, "the token came back: %r" % r.stderr
        r = subprocess.run([daemon, "-f", "-c", conf], capture_output=True, text=True, timeout=10)
        assert r.returncode == 78 and SECRET not in r.stderr + r.stdout, r.stderr
    # a reload with such a line: refused, and the journal line does not show it
    with open(conf, "w") as f:
        f.write("[ui]\nlisten = off\n[upstream]\nurl = http://127.0.0.1:9/\ntoken = %s\n" % SECRET)
    os.chmod(conf, 0o644)
    r = subprocess.run([daemon, "--check-config", "-c", conf], capture_output=True, text=True)
    assert r.returncode == 0 and "every local user can read it" in r.stderr, r.stderr
    assert SECRET not in r.stderr + r.stdout, r.stderr
    rig.stop_daemon()
    rig.start_daemon("[upstream]\nurl = http://127.0.0.1:9/\ntoken = %s\n" % SECRET)
    try:
        with open(os.path.join(rig.tmp, "sscard.conf"), "a") as f:
            f.write("retry_max_s = 5\ntoken_file = /nonexistent\n")
        rc, j, _ = rig.ctl_json("reload")
        assert rc != 0 and j["error"] == "config_error", j
        log = open(rig.daemon_logs[-1]).read()
        assert "reload:" in log and SECRET not in log and SECRET not in json.dumps(j), "token in the log"
    finally:
        restore_daemon(rig)
    # http:// to another machine with a token: refused before anything is sent
    with open(conf, "w") as f:
        f.write("[ui]\nlisten = off\n[upstream]\nurl = http://central.example/v1\ntoken = %s\n" % SECRET)
    r = subprocess.run([daemon, "--check-config", "-c", conf], capture_output=True, text=True)
    assert r.returncode == 78 and "cross the network in clear" in r.stderr, r.stderr


def _system_trusts(ca_pem, where):
    """A private /etc/ssl/certs for this worker's mount namespace holding
    ca_pem (as if a public CA): libcurl's default CA directory."""
    os.makedirs(where, exist_ok=True)
    shutil.copy(ca_pem, os.path.join(where, "public-ca.pem"))
    subprocess.run(["openssl", "rehash", where], check=True, capture_output=True)
    shutil.copy(ca_pem, os.path.join(where, "ca-certificates.crt"))
    subprocess.run(["mount", "--bind", where, "/etc/ssl/certs"], check=True)


def test_ca_is_the_only_trust_and_pins_hold(rig):
    """A certificate for 127.0.0.1 from a CA the system trusts (a public CA,
    or one an attacker got in) is refused when [upstream] ca names the
    central's own CA; ca = system accepts it (the public CAs, on purpose);
    a pin that does not match refuses even the right CA's certificate."""
    d = os.path.join(rig.tmp, "tls-trust")
    good, public = make_ca(d, "central-own"), make_ca(d, "public")
    srv = CentralServer(rig, "c-trust", 18487, tls=public).start()  # the impostor, with a public CA's certificate
    state = os.path.join(rig.tmp, "c-trust-state")
    _system_trusts(public["ca"], os.path.join(d, "system-certs"))
    try:
        outbox_daemon(rig, srv, state, "ca = %s\n" % good["ca"])
        r = submit(rig, "pin_changed %s" % OUTBOX_CARDS[1])
        assert r and r["ok"], r
        assert wait_for(lambda: "certificate" in rig.ctl_json("outbox")[1].get("last_error", ""), 10), \
            rig.ctl_json("outbox")[1]
        assert srv.requests() == [], "delivered to a central a public CA vouched for"
        # the right CA but a pin of another key: still refused
        srv.stop()
        srv = CentralServer(rig, "c-trust", 18487, tls=good).start()
        outbox_daemon(rig, srv, state, "ca = %s\npin = sha256//%s=\n" % (good["ca"], "A" * 43))
        assert wait_for(lambda: "pin" in rig.ctl_json("outbox")[1].get("last_error", "").lower(), 10), \
            rig.ctl_json("outbox")[1]
        assert srv.requests() == [], "delivered past a pin that did not match"
        # the right pin: delivered
        pin = subprocess.run("openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
                             "openssl dgst -sha256 -binary | base64" % good["cert"], shell=True,
                             capture_output=True, text=True, check=True).stdout.strip()
        outbox_daemon(rig, srv, state, "ca = %s\npin = sha256//%s\n" % (good["ca"], pin))
        assert wait_for(lambda: rig.ctl_json("outbox")[1]["pending"] == 0, 15), rig.ctl_json("outbox")[1]
        assert len(srv.requests()) == 1, srv.requests()
    finally:
        subprocess.run(["umount", "/etc/ssl/certs"], capture_output=True)
        srv.stop()
        restore_daemon(rig)


def _sign_head(central, body):
    """body signed with the central's own Ed25519 key (as the central or a
    thief of its key would), through openssl: the head's text format."""
    import base64
    import binascii
    seed = open(os.path.join(central.dir, "central.key"), "rb").read()[:32]
    der = binascii.unhexlify("302e020100300506032b657004220420") + seed
    pem = os.path.join(central.dir, "seed.pem")
    with open(pem, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % base64.b64encode(der).decode())
    msg = os.path.join(central.dir, "head.body")
    with open(msg, "w") as f:
        f.write(body)
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", pem, "-in", msg],
                         capture_output=True, check=True).stdout
    return body + "sig %s\n" % sig.hex()


def test_a_head_naming_another_versions_snapshot_is_refused(rig):
    """A signed head of version 2 that names the snapshot of version 1 (a
    central's slip, or its key in other hands): the list would say
    version 2 and hold version 1's cards. Refused, nothing changes."""
    from common import central_and_mirror, list_info, sync_daemon
    with central_and_mirror(rig, "c-snapver", 18479) as (central, mirror, state):
        central.ok("add", OUTBOX_CARDS[0], "formal", "2026-11-20")
        central.publish()
        snap1 = open(os.path.join(central.pub, "head")).read().split("\n")[3]  # "snapshot NAME HASH SIZE"
        assert snap1.startswith("snapshot "), snap1
        name1 = snap1.split()[1]
        kept = open(os.path.join(central.pub, name1), "rb").read()
        central.ok("add", ZHANGSAN_ID, "formal", "2026-11-21")
        central.publish()
        with open(os.path.join(central.pub, name1), "wb") as f:  # still served
            f.write(kept)
        body = "sscard-loss-head 1\nversion 2\npublished %d\n%s\n" % (int(time.time()), snap1)
        with open(os.path.join(central.pub, "head"), "w") as f:
            f.write(_sign_head(central, body))
        sync_daemon(rig, central, mirror, state_dir=state)
        assert wait_for(lambda: (list_info(rig).get("last_sync") or {}).get("result") == "bad_file", 10), \
            list_info(rig)
        info = list_info(rig)
        assert info["version"] == 0 and "version 1" in info["last_sync"]["message"], info


def test_metrics_answer_only_to_an_address(rig):
    """/metrics behind a name a web page could rebind to 127.0.0.1 is
    refused; by address or localhost it answers."""
    import http.client
    rig.stop_daemon()
    rig.start_daemon("[metrics]\nlisten = 127.0.0.1:19472\n")
    try:
        wait_listening(19472, rig.daemon)
        got = {}
        for host in ("127.0.0.1:19472", "localhost:19472", "[::1]:19472", "evil.example:19472",
                     "evil.example", "127.0.0.1.nip.example:19472"):
            c = http.client.HTTPConnection("127.0.0.1", 19472, timeout=5)
            c.putrequest("GET", "/metrics", skip_host=True)
            c.putheader("Host", host)
            c.endheaders()
            got[host] = c.getresponse().status
            c.close()
        assert got == {"127.0.0.1:19472": 200, "localhost:19472": 200, "[::1]:19472": 200,
                       "evil.example:19472": 403, "evil.example": 403, "127.0.0.1.nip.example:19472": 403}, got
    finally:
        restore_daemon(rig)
