#!/usr/bin/env python3
"""Browser tests of the kiosk: real Chromium (Debian's) driven by
playwright-core against the real sscardd, pcscd with emulated cards and the
reference central — all inside private mount/net/PID namespaces.

This script sets the rig up, serves a small control API on loopback for
the tests (insert/remove cards, stop/start the central, read one-time
codes), runs `node --test tests/e2e/kiosk.test.mjs` and ends with
"N passed, N failed" from node's own counts."""
import argparse
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from rig import (ROOT, READER0, Central, Cups, IdReader, Rig, Scanner, private_loopback, wait_for,  # noqa: E402
                 wait_listening)

KIOSK_PORT = 8470
CENTRAL_PORT = 18480
CONTROL_PORT = 18499
HIS_PORT = 18490      # a counter page's origin, in [ui] allow_origins
OTHER_PORT = 18491    # a page that is not
TOKEN = "e2e-token"
ADMIN = "e2e-admin"

# Who is at the central: the holders and their cards (ids as on the
# emulated cards in sim/profiles, where a profile exists).
ZHANG = ("111111198101011110", "张三", "13800138000")
LI = ("639900194503120024", "李四", "13900139000")
ZHANG_CARD = "639900D15600000500BF7C7A48FB4966"   # zhangsan-2.00.card, PIN 123456
LI_CARD = "639900D156000005001122334455667A"      # lisi-1.00-t0.card, PIN 246810, 3 tries
ZHANG_OLD = "639900D15600000500000000000000A1"    # no chip here: a lost card of Zhang's
ZHANG_OLD_NO = "X00000028"                         # … and the number printed on it
WANG = ("110105193707150333", "王五", "13700137000")
WANG_CARD = "110105D15600000500C0FFEE12345678"    # wangwu-3.00.card: EF06 needs the PSAM
SAM_READER = "Virtual PCD 00 01"                   # the terminal's PSAM slot
SAM_PORT = 0x8C7C


class Ctl:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.rig = Rig(self.build)
        self.card = None
        self.central = Central(self.build, self.rig.tmp)
        self.cproc = None
        self.psam = None
        self.cups = Cups(self.rig.tmp)
        self.idreader = IdReader(self.build, self.rig.tmp)
        self.scanner = Scanner(self.build, self.rig.tmp)

    # ---- the central ------------------------------------------------------
    def central_start(self):
        if self.cproc:
            return
        env = dict(os.environ, SSCARD_CENTRAL_TOKEN=TOKEN, SSCARD_CENTRAL_ADMIN_TOKEN=ADMIN)
        log = open(os.path.join(self.rig.tmp, "central.log"), "a")
        self.cproc = subprocess.Popen([self.central.bin, "-d", self.central.dir, "serve",
                                       self.central.pub, "127.0.0.1:%d" % CENTRAL_PORT, "1"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_listening(CENTRAL_PORT, self.cproc)

    def central_stop(self):
        if self.cproc:
            self.cproc.terminate()
            self.cproc.wait(10)
            self.cproc = None

    def central_get(self, path):
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (CENTRAL_PORT, path),
                                   headers={"X-Admin-Token": ADMIN, "Authorization": "Bearer " + TOKEN})
        try:
            return json.loads(urllib.request.urlopen(r, timeout=10).read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}")

    def central_post(self, path, body, key):
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (CENTRAL_PORT, path),
                                   data=json.dumps(body).encode(), method="POST",
                                   headers={"Authorization": "Bearer " + TOKEN,
                                            "Content-Type": "application/json",
                                            "Idempotency-Key": key})
        try:
            return json.loads(urllib.request.urlopen(r, timeout=10).read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}")

    def reset_central(self):
        """The holders and cards every test starts from."""
        for ssn, name, phone in (ZHANG, LI, WANG):
            self.central.ok("holder-add", ssn, name, phone)
        # with the numbers printed on them (卡号), as the chips have them
        self.central.ok("card-add", WANG_CARD, WANG[0], "normal", "B00000007")
        self.central.ok("card-add", ZHANG_CARD, ZHANG[0], "normal", "X00000019")
        self.central.ok("card-add", ZHANG_OLD, ZHANG[0], "normal", ZHANG_OLD_NO)
        self.central.ok("card-add", LI_CARD, LI[0], "temporary", "A12345678")

    # ---- cards ------------------------------------------------------------
    def insert(self, profile, extra=None):
        self.remove()
        path = os.path.join(self.rig.tmp, "card.profile")
        with open(os.path.join(ROOT, "sim", "profiles", profile)) as f:
            text = f.read()
        for k, v in (extra or {}).items():  # override keys (pin_left …)
            text = re.sub(r"(?m)^%s .*\n" % k, "", text) + "%s %s\n" % (k, v)
        with open(path, "w") as f:
            f.write(text)
        self.card = self.rig.insert(path)
        if not wait_for(lambda: self.rig.card_present(READER0), 10, 0.05):
            raise RuntimeError("the emulated card did not appear")

    def remove(self):
        if self.card:
            self.rig.remove(self.card)
            self.card = None
            wait_for(lambda: not self.rig.card_present(READER0), 10, 0.05)

    def psam_insert(self):
        """The terminal's PSAM into its slot; the daemon opens a session."""
        if not self.psam:
            self.psam = self.rig.insert("psam-test.psam", SAM_PORT)
        if not wait_for(lambda: (self.rig.ctl_json("status")[1].get("psam") or {}).get("terminal"), 10, 0.05):
            raise RuntimeError("the PSAM did not open a session")

    def psam_remove(self):
        if self.psam:
            self.rig.remove(self.psam)
            self.psam = None
        if not wait_for(lambda: not self.rig.ctl_json("status")[1]["psam"]["present"], 10, 0.05):
            raise RuntimeError("the PSAM is still seen")

    # ---- the daemon -------------------------------------------------------
    def start_daemon(self):
        self.rig.start_daemon(
            "sam_reader = %s\nsam_timeout_ms = 1000\nidcard = %s\nidcard_poll_ms = 100\nscanner = %s\n"
            "[ui]\nlisten = 127.0.0.1:%d\nroot = %s\nstep_timeout_s = 20\npin_timeout_s = 10\npayment_timeout_s = 12\n"
            "printer = kiosk-receipts\nprinter_poll_s = 1\nallow_origins = http://127.0.0.1:%d\n"
            "[upstream]\nurl = http://127.0.0.1:%d\ntoken = %s\nretry_max_s = 1\ntimeout_ms = 1500\n"
            "[policy]\noutlets = 城东社保服务大厅 East Hall; 人民医院服务点 People's Hospital\n"
            "[payment]\nenabled = yes\n"
            % (SAM_READER, self.idreader.link, self.scanner.link, KIOSK_PORT, os.path.join(ROOT, "ui"), HIS_PORT, CENTRAL_PORT, TOKEN),
            env=self.cups.env())
        wait_listening(KIOSK_PORT, self.rig.daemon)

    def daemon_log(self):
        return "".join(open(p, errors="replace").read() for p in self.rig.daemon_logs)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def handler_for(ctl):
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, obj, status=200):
            b = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            with lock:
                try:
                    if self.path.startswith("/otp?ssn="):
                        return self.reply(ctl.central_get("/v1/admin/otp?ssn=" + self.path[9:]))
                    if self.path.startswith("/ecode?ssn="):  # what the holder's phone shows
                        return self.reply({"code": ctl.central.ok("ecode-issue", self.path[11:]).strip()})
                    if self.path.startswith("/card?id="):
                        return self.reply(ctl.central_get("/v1/cards/" + self.path[9:]))
                    if self.path == "/requests":
                        return self.reply(ctl.central_get("/v1/admin/requests"))
                    if self.path == "/outbox":
                        rc, j, _ = ctl.rig.ctl_json("outbox")
                        return self.reply(j)
                    if self.path == "/log":
                        return self.reply({"log": ctl.daemon_log()})
                    if self.path == "/printed":
                        t = ctl.cups.printed()
                        return self.reply({"printed": t})
                    if self.path == "/idcard/reads":
                        return self.reply({"reads": ctl.idreader.reads()})
                    if self.path.startswith("/lookup?id="):
                        rc, j, _ = ctl.rig.ctl_json("list", "lookup", self.path[11:])
                        return self.reply(j)
                    self.reply({"error": "no such call"}, 404)
                except Exception as e:  # the test sees it
                    self.reply({"error": repr(e)}, 500)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            with lock:
                try:
                    if self.path == "/insert":
                        ctl.insert(body["profile"], body.get("set"))
                    elif self.path == "/remove":
                        ctl.remove()
                    elif self.path == "/printer/paper":
                        ctl.cups.paper_out(not body["in"])
                    elif self.path == "/idcard/put":
                        ctl.idreader.put(body["profile"])
                    elif self.path == "/idcard/remove":
                        ctl.idreader.remove()
                    elif self.path == "/idcard/send":
                        ctl.idreader.send(body["line"])
                    elif self.path == "/central/pay":  # the holder's phone pays the order
                        return self.reply({"state": ctl.central.ok("pay", body["order"]).strip()})
                    elif self.path == "/zbar":  # what a phone's camera reads from the screen
                        r = subprocess.run(["zbarimg", "--raw", "-q", body["file"]], capture_output=True, text=True)
                        return self.reply({"text": r.stdout.strip(), "rc": r.returncode})
                    elif self.path == "/scanner/send":
                        ctl.scanner.send(body["line"])
                    elif self.path == "/psam/insert":
                        ctl.psam_insert()
                    elif self.path == "/psam/remove":
                        ctl.psam_remove()
                    elif self.path == "/central/stop":
                        ctl.central_stop()
                    elif self.path == "/central/start":
                        ctl.central_start()
                    elif self.path == "/central/reset":
                        ctl.reset_central()
                    elif self.path == "/central/card":
                        ctl.central.ok("card-add", body["id"], body["ssn"], body["state"])
                    elif self.path == "/block":  # a loss taken at this terminal: the local list has it
                        rc, _, err = ctl.rig.ctl("request", "loss_report", body["id"], "loss=formal")
                        if rc:
                            raise RuntimeError(err)
                    elif self.path == "/central/request":
                        return self.reply(ctl.central_post("/v1/requests", body["body"], body["key"]))
                    else:
                        return self.reply({"error": "no such call"}, 404)
                    self.reply({"ok": True})
                except Exception as e:
                    self.reply({"error": repr(e)}, 500)
    return H


def in_namespace(args):
    private_loopback()
    os.makedirs("/run/pcscd", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run/pcscd"], check=True)
    ctl = Ctl(args)
    shots = os.path.abspath(os.path.join(args.build, "e2e"))
    shutil.rmtree(shots, ignore_errors=True)
    os.makedirs(shots)
    try:
        ctl.rig.start_pcscd()
        ctl.idreader.start()
        ctl.scanner.plug()
        ctl.cups.start()
        ctl.central.ok("keygen")
        ctl.reset_central()
        ctl.central.publish()
        ctl.central_start()
        ctl.start_daemon()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", CONTROL_PORT), handler_for(ctl))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        # examples/ served as a HIS would serve its page, from two origins
        for port in (HIS_PORT, OTHER_PORT):
            his = http.server.ThreadingHTTPServer(
                ("127.0.0.1", port),
                lambda *a: Quiet(*a, directory=os.path.join(ROOT, "examples")))
            threading.Thread(target=his.serve_forever, daemon=True).start()
        env = dict(os.environ, KIOSK_URL="http://127.0.0.1:%d/" % KIOSK_PORT,
                   RIG_URL="http://127.0.0.1:%d" % CONTROL_PORT, SHOTS=shots,
                   ZHANG_SSN=ZHANG[0], LI_SSN=LI[0], ZHANG_CARD=ZHANG_CARD, LI_CARD=LI_CARD,
                   ZHANG_OLD=ZHANG_OLD, ZHANG_OLD_NO=ZHANG_OLD_NO, WANG_CARD=WANG_CARD, WANG_SSN=WANG[0], HIS_URL="http://127.0.0.1:%d" % HIS_PORT,
                   OTHER_URL="http://127.0.0.1:%d" % OTHER_PORT, SSCARD_URL="http://127.0.0.1:%d" % KIOSK_PORT,
                   VOICE_DIR=os.path.join(ROOT, "ui", "voice"), BUILD_DIR=ctl.build,
                   SSCARD_SOCKET=ctl.rig.sock)
        if args.bench:  # make bench: the screen latency, not the tests
            p = subprocess.run(["node", os.path.join(HERE, "latency.bench.mjs")], env=env, cwd=HERE,
                               timeout=1800)
            return p.returncode
        cmd = ["node", "--test", "--test-reporter=tap", "--test-concurrency=1"]
        if args.only:
            cmd += ["--test-name-pattern", args.only]
        cmd += [os.path.join(HERE, "counter.test.mjs"), os.path.join(HERE, "kiosk.test.mjs")]
        p = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=1200)
        out = p.stdout + p.stderr
        sys.stdout.write(out)
        passed = int((re.findall(r"(?m)^# pass (\d+)", out) or ["0"])[-1])
        failed = int((re.findall(r"(?m)^# fail (\d+)", out) or ["0"])[-1])
        rc, _ = ctl.rig.stop_daemon()
        san = ctl.rig.sanitizer_reports() if hasattr(ctl.rig, "sanitizer_reports") else ""
        if san:
            print("not ok - sanitizer reports in sscardd logs: " + ", ".join(san))
            failed += 1
        if p.returncode and not failed:
            failed = 1
        if passed + failed == 0:
            failed = 1
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    finally:
        ctl.remove()
        if ctl.psam:
            ctl.rig.remove(ctl.psam)
        ctl.central_stop()
        ctl.rig.stop_daemon()
        ctl.idreader.stop()
        ctl.scanner.unplug()
        ctl.cups.stop()
        ctl.rig.kill_pcscd()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", default="")
    ap.add_argument("--bench", action="store_true", help="run the screen latency bench instead")
    args = ap.parse_args()
    if not shutil.which("chromium") or not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        print("not ok - e2e: chromium or tests/e2e/node_modules missing (make check installs them)")
        print("0 passed, 1 failed")
        return 1
    if os.environ.get("SSCARD_IN_NS") != "1":
        env = dict(os.environ, SSCARD_IN_NS="1")
        cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
               sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        return subprocess.run(cmd, env=env).returncode
    return in_namespace(args)


if __name__ == "__main__":
    sys.exit(main())
