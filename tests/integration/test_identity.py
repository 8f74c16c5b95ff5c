"""Terminal identity by client certificate: each terminal has its own key
and certificate from the terminals' CA ([upstream] client_cert/client_key);
the reference central (SSCARD_CENTRAL_CLIENT_CA, SSCARD_CENTRAL_REVOKED)
and a real nginx mirror (ssl_verify_client, ssl_crl) check it. A revoked,
expired, missing or someone else's certificate is refused; the outbox
keeps the request and delivers it once the terminal has a good one.
sscardctl status shows the certificate's expiry, 30 days before it is a
warning event and a metric."""
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import Central, Mirror, wait_for, wait_listening  # noqa: E402
from common import CentralServer, OUTBOX_CARDS, make_ca, outbox_drained, submit  # noqa: E402

METRICS = 19471


class TerminalCA:
    """The issuer of terminals' certificates: an `openssl ca` with its
    database, so that it can revoke and publish a CRL."""

    def __init__(self, d):
        self.d = d
        os.makedirs(os.path.join(d, "new"), exist_ok=True)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(d, "crlnumber"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(d, "ca.conf")
        with open(self.conf, "w") as f:
            f.write("[ca]\ndefault_ca = t\n[t]\ndir = {d}\ndatabase = {d}/index.txt\nnew_certs_dir = {d}/new\n"
                    "serial = {d}/serial\ncrlnumber = {d}/crlnumber\ndefault_md = sha256\n"
                    "default_crl_days = 2\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n"
                    .format(d=d))
        self.ca, self.key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        self.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.key, "-out", self.ca, "-days", "800", "-subj", "/CN=sscard terminals CA")

    def run(self, *a):
        r = subprocess.run(a, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("%s: %s" % (" ".join(a[:3]), r.stderr))
        return r.stdout

    def issue(self, name, cn, start=None, end=None, days=2):
        key, csr, pem = (os.path.join(self.d, name + x) for x in (".key", ".csr", ".pem"))
        self.run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", str(days)]
        self.run("openssl", "ca", "-batch", "-config", self.conf, "-cert", self.ca, "-keyfile", self.key,
                 "-in", csr, "-out", pem, "-notext", *dates)
        serial = self.run("openssl", "x509", "-in", pem, "-noout", "-serial").strip().split("=")[1]
        return {"cert": pem, "key": key, "serial": serial}

    def revoke(self, c):
        self.run("openssl", "ca", "-config", self.conf, "-cert", self.ca, "-keyfile", self.key, "-revoke", c["cert"])
        crl = os.path.join(self.d, "crl.pem")
        self.run("openssl", "ca", "-config", self.conf, "-cert", self.ca, "-keyfile", self.key, "-gencrl", "-out", crl)
        return crl


def identity_daemon(rig, srv, state, server_ca, cert, terminal="T-0001", extra=""):
    rig.stop_daemon()
    os.makedirs(state, exist_ok=True)
    conf = "[upstream]\nurl = %s\ntoken = tok-%d\nretry_max_s = 1\ntimeout_ms = 2000\nca = %s\n" % (
        srv.url, srv.port, server_ca)
    if cert:
        conf += "client_cert = %s\nclient_key = %s\n" % (cert["cert"], cert["key"])
    rig.start_daemon(conf + "[daemon]\nterminal_id = %s\n%s" % (terminal, extra), state_dir=state)


def last_error(rig):
    return rig.ctl_json("outbox")[1].get("last_error", "")


def test_terminal_identity_by_client_certificate(rig):
    d = os.path.join(rig.tmp, "ident")
    server = make_ca(d, "central-ident")
    tca = TerminalCA(os.path.join(d, "terminals"))
    good = tca.issue("t1", "T-0001", days=400)
    other = tca.issue("t2", "T-0002")
    revoked = tca.issue("t1-old", "T-0001")
    expired = tca.issue("t1-expired", "T-0001", "20200101000000Z", "20200201000000Z")
    soon = tca.issue("t1-soon", "T-0001", days=10)
    tca.revoke(revoked)
    revoked_list = os.path.join(d, "revoked.txt")
    with open(revoked_list, "w") as f:
        f.write(revoked["serial"] + "\n")
    srv = CentralServer(rig, "c-ident", 18487, tls=server)
    srv.start({"SSCARD_CENTRAL_CLIENT_CA": tca.ca, "SSCARD_CENTRAL_REVOKED": revoked_list})
    state = os.path.join(rig.tmp, "c-ident-state")
    try:
        # no certificate, someone else's, a revoked one, an expired one: refused, kept
        for cert, terminal, why in ((None, "T-0001", "certificate_required"),
                                    (other, "T-0001", "terminal_mismatch"),
                                    (revoked, "T-0001", "certificate_revoked"),
                                    (expired, "T-0001", "certificate_expired")):
            identity_daemon(rig, srv, state, server["ca"], cert, terminal)
            if why == "certificate_required":
                r = submit(rig, "pin_changed %s" % OUTBOX_CARDS[0])
                assert r and r["ok"], r
            assert wait_for(lambda: why in last_error(rig), 15), "%s: %s" % (why, rig.ctl_json("outbox")[1])
            assert rig.ctl_json("outbox")[1]["pending"] == 1, "kept after %s" % why
        assert srv.requests() == [], "nothing taken from a terminal without a good certificate"
        st = rig.ctl_json("status")[1]["client_certificate"]
        assert st["ok"] and st["days_left"] < 0 and st["renew"] and st["subject"] == "T-0001", st
        # the terminal's own, good certificate: delivered, nothing lost
        identity_daemon(rig, srv, state, server["ca"], good)
        assert outbox_drained(rig, 15), rig.ctl_json("outbox")[1]
        assert len(srv.requests()) == 1, srv.requests()
        st = rig.ctl_json("status")[1]["client_certificate"]
        assert st["ok"] and st["days_left"] >= 398 and not st["renew"], st
        # one within 30 days of expiry: a warning event, status, metric, sscardctl
        identity_daemon(rig, srv, state, server["ca"], soon,
                        extra="[metrics]\nlisten = 127.0.0.1:%d\n" % METRICS)
        log = "".join(open(p, errors="replace").read() for p in rig.daemon_logs[-1:])
        assert wait_for(lambda: "certificate_expiring" in open(rig.daemon_logs[-1]).read(), 5), "a warning in the log: %s" % log[-500:]
        st = rig.ctl_json("status")[1]["client_certificate"]
        assert st["renew"] and 8 <= st["days_left"] <= 10, st
        ev = rig.events()  # said again on every reload (and daily)
        rig.ctl("reload")
        e = ev.wait("certificate_expiring", 5)
        ev.close()
        assert e and e["subject"] == "T-0001" and 8 <= e["days_left"] <= 10, "the event: %r" % e
        rc, out, _ = rig.ctl("status")
        assert "client certificate: T-0001" in out and "RENEW" in out, out
        wait_listening(METRICS, rig.daemon)
        m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS, timeout=5).read().decode()
        line = [x for x in m.splitlines() if x.startswith("sscard_client_certificate_expiry_timestamp_seconds ")]
        assert line and float(line[0].split()[1]) > 0, "metric: %r" % line
    finally:
        srv.stop()
        rig.stop_daemon()
        rig.start_daemon()


def test_the_mirror_wants_a_terminal_certificate_too(rig):
    d = os.path.join(rig.tmp, "ident-mirror")
    server = make_ca(d, "mirror")
    tca = TerminalCA(os.path.join(d, "terminals"))
    good = tca.issue("t1", "T-0001")
    revoked = tca.issue("t1-old", "T-0001")
    crl = tca.revoke(revoked)
    central = Central(rig.build, rig.tmp, "ident-list")
    central.ok("keygen")
    central.publish()
    pk = central.ok("pubkey").strip()
    mirror = Mirror(rig.tmp, central.pub, 18495,
                    tls={"cert": server["cert"], "key": server["key"], "client_ca": tca.ca, "crl": crl})
    state = os.path.join(rig.tmp, "ident-list-state")

    def daemon(cert):
        rig.stop_daemon()
        os.makedirs(state, exist_ok=True)
        conf = "[upstream]\nlist_url = %s/\npublic_key = %s\npoll_interval = 5\nca = %s\n" % (
            mirror.url, pk, server["ca"])
        if cert:
            conf += "client_cert = %s\nclient_key = %s\n" % (cert["cert"], cert["key"])
        rig.start_daemon(conf, state_dir=state)

    def info():
        return rig.ctl_json("list", "info")[1]
    try:
        for cert, what in ((None, "no certificate"), (revoked, "a revoked certificate")):
            daemon(cert)
            assert wait_for(lambda: (info().get("last_sync") or {}).get("ok") is False, 15), "%s: %r" % (what, info())
            assert info()["version"] == 0, "%s: no list taken: %r" % (what, info())
        daemon(good)
        assert wait_for(lambda: info()["version"] >= 1, 15), "the terminal's own certificate: %r" % info()
    finally:
        mirror.stop()
        rig.stop_daemon()
        rig.start_daemon()
