"""What every integration test module shares: what each card profile must
read as, the central and PN532 emulator processes, and starting the daemon
on an NFC device and back. (The rig itself is conftest.py's fixture.)"""
import contextlib
import json
import socket
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import Central, Mirror, wait_listening, READER0, wait_for  # noqa: E402


# What each profile must read as, written from card-spec.md's rules (not from
# the emulator): BCD dates as YYYY-MM-DD, region = first 6 digits of the id.
COMMON = {"reader": READER0, "interface": "contact", "card_type": "1"}
EXPECT = {
    "zhangsan-2.00.card": dict(
        COMMON, atr="3B6D000000814E43238697159900BF7C7A",
        atr_historical="00814E43238697159900BF7C7A", spec_version="2.00",
        card_id="639900D15600000500BF7C7A48FB4966", region="639900", issuer="639900000001",
        issue_date="2010-10-01", expiry_date="2020-10-01", card_number="X00000019",
        ssn="111111198101011110", name="张三", sex="1", nation="01", birthplace="639900",
        birth_date="1981-01-01", apdus=15),
    "lisi-1.00-t0.card": dict(
        COMMON, atr_historical="00814E43238697159900A1B2C3", spec_version="1.00",
        card_id="639900D156000005001122334455667A", region="639900", issuer="639900000002",
        issue_date="2008-03-15", expiry_date="2018-03-15", card_number="A12345678",
        ssn="639900194503120024", name="李四", sex="2", nation="01", birthplace="6399",
        birth_date="1945-03-12"),
    "ayiguli-2.00-longname.card": dict(
        COMMON, atr_historical="00814E432386971599", spec_version="2.00",
        card_id="650102D15600000500A0B1C2D3E4F501", region="650102", issuer="650100000003",
        issue_date="2015-06-01", expiry_date="2025-06-01", card_number="W98765432",
        ssn="650102198008081243", name="阿依古丽·买买提艾力·阿不都热合曼", sex="2",
        nation="05", birthplace="650102", birth_date="1980-08-08", apdus=15),
    "chenqi-2.00-chunked.card": dict(
        COMMON, spec_version="2.00", card_id="440306D156000005000102030405060A",
        region="440306", issuer="440300000005", issue_date="2019-01-01",
        expiry_date="2029-01-01", card_number="C00000005", ssn="440306199202290059",
        name="陈七", sex="1", nation="01", birthplace="440306", birth_date="1992-02-29"),
    "zhouba-2.00-shortname.card": dict(
        COMMON, spec_version="2.00", card_id="320102D15600000500AABBCCDD000008",
        region="320102", issuer="320100000006", issue_date="2012-05-20",
        expiry_date="2022-05-20", card_number="D00000008", ssn="320102196611035676",
        name="周八", sex="1", nation="01", birthplace="320102", birth_date="1966-11-03",
        apdus=16),
    "wangwu-3.00.card": dict(
        COMMON, atr_historical="0064045A110031C073F7010000", spec_version="3.00",
        card_id="110105D15600000500C0FFEE12345678", region="110105", issuer="110100000004",
        issue_date="2021-09-01", expiry_date="2031-09-01", card_number="B00000007", apdus=9),
    "vector-2.00.card": dict(
        reader=READER0, interface="contact", spec_version="2.00",
        card_id="639900D15600000500BF7C7A48FB4966", region="639900",
        issue_date="2010-10-01", expiry_date="2020-10-01", card_number="X00000019",
        ssn="111111198101011110", name="张三", sex="1", birth_date="1981-01-01"),
}


PERSONAL = ["ssn", "name", "sex", "nation", "birthplace", "birth_date"]
ALL_FIELDS = ["spec_version", "card_id", "region", "card_type", "issuer", "issue_date",
              "expiry_date", "card_number"] + PERSONAL


ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_card(rig, profile, *card_args, reader=READER0, port=0x8C7B):
    card = rig.insert(profile, port, *card_args)
    assert wait_for(lambda: rig.card_present(reader), 5), "card never showed up in " + reader
    rc, j, err = rig.ctl_json("read", reader)
    return card, rc, j, err


ZHANGSAN_ID = "639900D15600000500BF7C7A48FB4966"
OUTBOX_CARDS = ["639900D1560000050000000000000%03X" % i for i in range(1, 6)]


HOLDER_SSN = "111111198101011110"


class CentralServer:
    """`sscard-central serve` on loopback with the request API, a token and
    an admin token, the demo holder and OUTBOX_CARDS."""

    def __init__(self, rig, name, port, faults="", tls=None):
        self.c = Central(rig.build, rig.tmp, name)
        self.port, self.faults, self.tls, self.proc = port, faults, tls, None
        if not os.path.exists(os.path.join(self.c.dir, "central.key")):
            self.c.ok("keygen")
            self.c.ok("holder-add", HOLDER_SSN, "张三", "13800138000")
            for card in OUTBOX_CARDS:
                self.c.ok("card-add", card, HOLDER_SSN, "normal")
        self.log = os.path.join(rig.tmp, name + ".log")

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self, env_extra=None):
        env = dict(os.environ, SSCARD_CENTRAL_TOKEN="tok-" + str(self.port),
                   SSCARD_CENTRAL_ADMIN_TOKEN="adm", SSCARD_CENTRAL_FAULTS=self.faults)
        if self.tls:
            env.update(SSCARD_CENTRAL_TLS_CERT=self.tls["cert"], SSCARD_CENTRAL_TLS_KEY=self.tls["key"])
        env.update(env_extra or {})
        self.proc = subprocess.Popen([self.c.bin, "-d", self.c.dir, "serve", self.c.pub,
                                      "127.0.0.1:%d" % self.port], env=env,
                                     stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc)
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def requests(self):
        import ssl
        r = urllib.request.Request(self.url + "/v1/admin/requests", headers={"X-Admin-Token": "adm"})
        ctx = ssl.create_default_context(cafile=self.tls["ca"]) if self.tls else None
        return json.loads(urllib.request.urlopen(r, timeout=10, context=ctx).read())["requests"]


class Pn532:
    """sim/sscard-pn532 on a pty, reachable as pn532_uart:LINK."""

    def __init__(self, rig, profile, *args, name="pn532"):
        self.link = os.path.join(rig.tmp, name)
        path = profile if os.path.isabs(profile) else os.path.join(ROOT_DIR, "sim", "profiles", profile)
        self.proc = subprocess.Popen([os.path.join(rig.build, "sscard-pn532"), "-p", path,
                                      "--link", self.link] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.proc.stdout.readline()  # the pty's name: it is ready
        self.conn = "pn532_uart:" + self.link

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)


def nfc_daemon(rig, dev, extra=""):
    """sscardd with the NFC helper on dev (and the rig's pcscd)."""
    rig.stop_daemon()
    rig.start_daemon(extra_conf="nfc = %s\n%s" % (dev.conn, extra))
    name = "NFC " + dev.conn
    assert wait_for(lambda: any(r["name"] == name for r in rig.ctl_json("readers")[1]["readers"]), 10), "the NFC reader never showed up"
    return name


def restore_daemon(rig):
    rig.stop_daemon()
    rig.start_daemon()


# ---- helpers the capability modules share ----

def submit(rig, line, timeout=3):
    """One request over the socket; None when the daemon did not answer."""
    try:
        r = rig.request(("request " + line + "\n").encode(), timeout=timeout)
        return r[0] if r else None
    except OSError:
        return None


def outbox_drained(rig, timeout):
    def done():
        rc, j, _ = rig.ctl_json("outbox", timeout=5)
        return rc == 0 and j["pending"] == 0 and j
    return wait_for(done, timeout, 0.2)


def make_ca(d, name):
    """A CA and a server certificate for 127.0.0.1 it signed (openssl)."""
    os.makedirs(d, exist_ok=True)
    p = lambda f: os.path.join(d, name + "-" + f)  # noqa: E731
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=" + name)
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", p("srv.key"), "-out", p("srv.csr"), "-subj", "/CN=127.0.0.1")
    with open(p("ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-out", p("srv.pem"), "-days", "2", "-extfile", p("ext"))
    return {"ca": p("ca.pem"), "cert": p("srv.pem"), "key": p("srv.key")}


def kiosk_step(rig, token, body):
    """One kiosk action, as the touch screen's page posts it: (status, JSON)."""
    st, _, j = http_card("/api/v1/flow", origin="http://127.0.0.1:8470", method="POST",
                         headers={"X-Session-Token": token}, body=body)
    return st, j


def kiosk_view(rig):
    return http_card("/api/v1/state")[2]["view"]


PLAIN_LIB = os.path.join(ROOT_DIR, "build", "libsscard.so.1")  # ctypes: never the ASan one


BAS_KEYS = ["region", "ssn", "card_number", "card_id", "name", "atr_historical", "spec_version",
            "issue_date", "expiry_date"]


def bas_line(want, terminal, reader):
    v = [want[k].replace("-", "") if k.endswith("_date") else want[k] for k in BAS_KEYS]
    return "|".join(v + [terminal, reader]) + "|"


def api_c(rig, *args, env=None):
    e = dict(os.environ, SSCARD_SOCKET=rig.sock)
    e.update(env or {})
    r = subprocess.run([os.path.join(rig.build, "example-readcard")] + [str(a) for a in args],
                       capture_output=True, timeout=60, env=e)
    lines = r.stdout.decode(e.get("SSCARD_ENCODING", "utf-8")).splitlines()
    calls = []
    for line in lines:
        if line.startswith("  "):
            continue
        rc, _, out = line.partition(" ")
        calls.append((int(rc), out))
    return calls


def http_card(path="/api/v1/card", origin=None, method="GET", headers=None, port=8470, body=None):
    """(status, headers, JSON body) of one request to the daemon's HTTP server."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if origin:
        h["Origin"] = origin
    if body is not None:
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    try:
        j = json.loads(body) if body else None
    except ValueError:
        j = body
    return r.status, {k.lower(): v for k, v in r.getheaders()}, j


class CardStream:
    """GET /api/v1/card/events as a browser's EventSource reads it."""
    def __init__(self, origin):
        import http.client
        self.c = http.client.HTTPConnection("127.0.0.1", 8470, timeout=10)
        self.c.request("GET", "/api/v1/card/events", headers={"Origin": origin})
        self.r = self.c.getresponse()
        self.headers = {k.lower(): v for k, v in self.r.getheaders()}

    def next(self, timeout=5):
        self.c.sock.settimeout(timeout)
        name, data = None, None
        try:
            while True:
                line = self.r.fp.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and name:
                    return name, data
        except (socket.timeout, TimeoutError):
            return None, None

    def close(self):
        self.c.close()


def outbox_daemon(rig, srv, state, extra=""):
    rig.stop_daemon()
    os.makedirs(state, exist_ok=True)
    rig.start_daemon("[upstream]\nurl = %s\ntoken = tok-%d\nretry_max_s = 1\ntimeout_ms = 2000\n%s"
                     % (srv.url, srv.port, extra), state_dir=state)


def sync_daemon(rig, central, mirror, extra="", poll=5, state_dir=None):
    """sscardd pulling the loss list from mirror, checking central's key."""
    pk = central.ok("pubkey").strip()
    rig.stop_daemon()
    rig.start_daemon("[upstream]\nlist_url = %s/\npublic_key = %s\npoll_interval = %d\n%s"
                     % (mirror.url, pk, poll, extra), state_dir=state_dir)


def list_info(rig):
    rc, j, _ = rig.ctl_json("list", "info")
    assert rc == 0, j
    return j


@contextlib.contextmanager
def central_and_mirror(rig, name, port):
    """A central (with its key) publishing into a directory a real nginx
    serves on port; the state dir for a daemon of the test's own. The
    default daemon comes back afterwards."""
    central = Central(rig.build, rig.tmp, name)
    central.ok("keygen")
    mirror = Mirror(rig.tmp, central.pub, port)
    try:
        yield central, mirror, os.path.join(rig.tmp, name + "-state")
    finally:
        mirror.stop()
        rig.stop_daemon()
        rig.start_daemon()
