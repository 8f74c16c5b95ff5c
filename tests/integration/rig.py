"""The test rig: a private pcscd with the vpcd driver, emulated cards
(sscard-vcard), sscardd and sscardctl, all inside namespaces made by
run.py. Nothing here touches the machine's own pcscd or network."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILES = os.path.join(ROOT, "sim", "profiles")
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
READER0 = "Virtual PCD 00 00"
READER1 = "Virtual PCD 00 01"


# vpcd listens on 0x8C7B + 2i and the next port for each of its slots; a
# client's ephemeral port is drawn from 32768-60999, which holds them. A
# card emulator that connected from, say, port 35965 and has just closed
# leaves a TIME_WAIT there (without SO_REUSEADDR), and a pcscd started in
# the next minute cannot bind that port: its reader never appears (seen:
# 'Virtual PCD A' and 'F' missing in test_sixteen_readers). Each private
# network namespace therefore keeps these ports out of the ephemeral range.
VPCD_PORTS = "35963-36099"


def private_loopback():
    """Inside a network namespace of our own: loopback up, vpcd's ports
    reserved (no client is ever given one as its own port)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_reserved_ports", "w") as f:
        f.write(VPCD_PORTS)


def wait_for(pred, timeout, step=0.01):
    """Poll pred until it returns a true value or timeout seconds pass."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def read_all(s):
    """Everything a socket sends until the peer closes it."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


class Rig:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.tmp = tempfile.mkdtemp(prefix="sscard-it-")
        self.sock = os.path.join(self.tmp, "sscardd.sock")
        self.pcscd = None
        self.daemon = None
        self.cards = []
        self.daemon_logs = []
        self.vpcd_slots = 1

    # ---- pcscd -------------------------------------------------------------
    def start_pcscd(self, slots=1, pinpad=None):
        """slots vpcd driver instances; each gives two readers (00 and 01);
        pinpad: a directory for the emulated PIN-pad reader (sim/card/ifd_pinpad.c)."""
        self.vpcd_slots = slots
        conf = os.path.join(self.tmp, "reader.conf.d")
        os.makedirs(conf, exist_ok=True)
        for f in os.listdir(conf):
            os.unlink(os.path.join(conf, f))
        for i in range(slots):
            port = 0x8C7B + 2 * i
            with open(os.path.join(conf, "vpcd%d" % i), "w") as f:
                # distinct names: pcscd numbers same-named readers unreliably
                name = "Virtual PCD" if i == 0 else "Virtual PCD %c" % (ord("A") + i - 1)
                # vpcd keeps its two slots in static variables, shared by
                # every reader that loads the same file: one copy per slot
                # pair gives each its own (pcscd dlopens each path apart).
                lib = VPCD_DRIVER
                if i:
                    lib = os.path.join(self.tmp, "libifdvpcd-%d.so" % i)
                    if not os.path.exists(lib):
                        shutil.copy(VPCD_DRIVER, lib)
                f.write('FRIENDLYNAME "%s"\nDEVICENAME /dev/null:0x%04X\n'
                        "LIBPATH %s\nCHANNELID 0x%04X\n" % (name, port, lib, port))
        if pinpad:
            with open(os.path.join(conf, "pinpad"), "w") as f:
                f.write('FRIENDLYNAME "sscard PIN pad"\nDEVICENAME %s\nLIBPATH %s\nCHANNELID 0\n'
                        % (pinpad, os.path.join(self.build, "libifd-sscard-pinpad.so")))
        comm = "/run/pcscd/pcscd.comm"
        if os.path.exists(comm):
            os.unlink(comm)
        log = open(os.path.join(self.tmp, "pcscd.log"), "a")
        self.pcscd = subprocess.Popen(["pcscd", "-f", "-c", conf], stdout=log, stderr=log)
        if not wait_for(lambda: os.path.exists(comm), 5):
            raise RuntimeError("pcscd did not create its socket")
        return time.monotonic()

    def kill_pcscd(self):
        if self.pcscd:
            self.pcscd.send_signal(signal.SIGKILL)
            self.pcscd.wait()
            self.pcscd = None

    # ---- cards -------------------------------------------------------------
    def insert(self, profile, port=0x8C7B, *args):
        path = profile if os.path.isabs(profile) else os.path.join(PROFILES, profile)
        p = subprocess.Popen([os.path.join(self.build, "sscard-vcard"), "-p", path,
                              "-P", str(port)] + list(args))
        self.cards.append(p)
        return p

    def remove(self, card):
        if card.poll() is None:
            card.terminate()
        card.wait()
        if card in self.cards:
            self.cards.remove(card)

    # ---- daemon ------------------------------------------------------------
    def start_daemon(self, extra_conf="", read_timeout_ms=1500, env=None, state_dir=None):
        conf = os.path.join(self.tmp, "sscard.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nsocket = %s\nstate_dir = %s\nlog_level = debug\n"
                    "[readers]\nread_timeout_ms = %d\n%s"
                    % (self.sock, state_dir or self.tmp, read_timeout_ms, extra_conf))
        logpath = os.path.join(self.tmp, "sscardd-%d.log" % len(self.daemon_logs))
        self.daemon_logs.append(logpath)
        log = open(logpath, "w")
        env = dict(env or {})
        if env.get("JOURNAL_STREAM") == "stderr":  # make our log file "the journal stream"
            st = os.fstat(log.fileno())
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        self.daemon = subprocess.Popen([os.path.join(self.build, "sscardd"), "-f", "-c", conf],
                                       stdout=log, stderr=log,
                                       env=dict(os.environ, **(env or {})))
        if not wait_for(lambda: os.path.exists(self.sock) or self.daemon.poll() is not None, 5):
            raise RuntimeError("sscardd did not create its socket")
        if self.daemon.poll() is not None:
            raise RuntimeError("sscardd exited: " + open(logpath).read())

    def stop_daemon(self):
        """SIGTERM; returns (exit status, seconds it took)."""
        if not self.daemon:
            return 0, 0.0
        t0 = time.monotonic()
        self.daemon.terminate()
        try:
            rc = self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            rc = self.daemon.wait()
        self.daemon = None
        return rc, time.monotonic() - t0

    def sanitizer_reports(self):
        bad = []
        for p in self.daemon_logs:
            text = open(p, errors="replace").read()
            if "Sanitizer" in text or "runtime error:" in text:
                bad.append(p)
        return bad

    # ---- clients -----------------------------------------------------------
    def ctl(self, *args, timeout=30, env=None):
        e = dict(os.environ, SSCARD_SOCKET=self.sock)
        if env:
            e.update(env)
        r = subprocess.run([os.path.join(self.build, "sscardctl")] + list(args),
                           capture_output=True, text=True, timeout=timeout, env=e)
        return r.returncode, r.stdout, r.stderr

    def ctl_json(self, *args, timeout=30):
        rc, out, err = self.ctl("-j", *args, timeout=timeout)
        return rc, json.loads(out) if out.strip() else None, err

    def request(self, line, timeout=5):
        """Raw socket: send bytes, return the decoded reply lines."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        s.sendall(line)
        s.shutdown(socket.SHUT_WR)
        data = read_all(s)
        s.close()
        return [json.loads(x) for x in data.decode().splitlines() if x.strip()]

    def card_present(self, reader=READER0):
        rc, j, _ = self.ctl_json("readers", timeout=5)
        if rc != 0 or not j:
            return False
        return any(r["name"] == reader and r["card_present"] and r["state"] == "card"
                   for r in j["readers"])

    def card_gone(self, reader=READER0):
        """The daemon knows of no card in reader (not even one it is still
        reading: a test that restarts the daemon right after pulling a card
        leaves pcscd's last word to arrive)."""
        rc, j, _ = self.ctl_json("readers", timeout=5)
        return rc == 0 and j and not any(r["name"] == reader and r["card_present"]
                                         for r in j["readers"])

    def events(self, verb="events"):
        return Events(self.sock, verb)

    def ctl_as(self, uid, groups, *args):
        """sscardctl -j as another user (setpriv), for permission tests."""
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid]
        cmd += ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
        r = subprocess.run(cmd + [os.path.join(self.build, "sscardctl"), "-j"] + list(args),
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, SSCARD_SOCKET=self.sock))
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr

    def cleanup(self):
        for c in list(self.cards):
            self.remove(c)
        self.stop_daemon()
        self.kill_pcscd()


def wait_listening(port, proc, timeout=10):
    """Until something accepts on 127.0.0.1:port, or proc has exited."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return proc.poll() is not None
    return wait_for(up, timeout)


class Mirror:
    """A real nginx on loopback serving a directory, standing in for the
    mirror or CDN in front of the central (nginx-light from Debian)."""

    def __init__(self, tmp, root, port, tls=None):
        """tls: {"cert", "key", "client_ca", "crl"}: HTTPS, and only clients
        with a certificate client_ca signed and crl does not revoke."""
        self.root, self.port, self.tls = root, port, tls
        self.dir = os.path.join(tmp, "nginx-%d" % port)
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(root, exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        temps = " ".join("%s_temp_path %s/%s;" % (k, self.dir, k)
                         for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(self.conf, "w") as f:
            f.write("daemon off; worker_processes 1; user root root; pid %s/nginx.pid;\n"
                    "error_log %s/error.log;\nevents { worker_connections 256; }\n"
                    "http { access_log %s/access.log; %s\n"
                    "  server { listen 127.0.0.1:%d%s; root %s; %s location / { } } }\n"
                    % (self.dir, self.dir, self.dir, temps, port, " ssl" if tls else "", root,
                       ("ssl_certificate %s; ssl_certificate_key %s; ssl_client_certificate %s; "
                        "ssl_verify_client on; ssl_crl %s;" % (tls["cert"], tls["key"], tls["client_ca"], tls["crl"]))
                       if tls else ""))
        self.proc = None
        self.start()

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port, self.proc)
        if self.proc.poll() is not None:
            raise RuntimeError("nginx did not start: " +
                               open(os.path.join(self.dir, "error.log")).read())

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Central:
    """sim/sscard-central with its own directory, publishing into pub."""

    def __init__(self, build, tmp, name="central"):
        self.bin = os.path.join(build, "sscard-central")
        self.dir = os.path.join(tmp, name)
        self.pub = os.path.join(tmp, name + "-pub")

    def __call__(self, *args, env=None):
        r = subprocess.run([self.bin, "-d", self.dir] + list(args), capture_output=True,
                           text=True, timeout=1800, env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout, r.stderr

    def ok(self, *args, env=None):
        rc, out, err = self(*args, env=env)
        if rc:
            raise RuntimeError("sscard-central %s: %s" % (" ".join(args), err))
        return out

    def publish(self, env=None):
        return self.ok("publish", self.pub, env=env)


class Events:
    """A subscriber on the control socket."""

    def __init__(self, path, verb="events"):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.sendall(verb.encode() + b"\n")
        self.buf = b""
        first = self.next(5)
        assert first and first.get("ok") is True, first

    def next(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def wait(self, event, timeout, **match):
        end = time.monotonic() + timeout
        while True:
            e = self.next(max(0.0, end - time.monotonic()))
            if e is None:
                return None
            if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                return e

    def close(self):
        self.s.close()


class Scanner:
    """sscard-scanner: an emulated QR code scanner in serial mode on a pty,
    at a stable symlink (link): unplug() + plug() is "unplugged and plugged
    back". send() steers it (see sim/card/scanner.c) and waits for its ok."""

    def __init__(self, build, tmp, name="scanner"):
        self.bin = os.path.join(build, "sscard-scanner")
        self.link = os.path.join(tmp, name)
        self.proc = None

    def plug(self):
        self.proc = subprocess.Popen([self.bin, "--link", self.link],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()  # the pty's name: it exists now

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        got = self.proc.stdout.readline().strip()
        if got != "ok":
            raise RuntimeError("sscard-scanner %r: %r" % (line, got))

    def unplug(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait(10)
            self.proc = None


class IdReader:
    """sscard-idreader: an emulated resident ID card reader on a pty, at a
    stable symlink (link) so that stop() + start() is "unplugged and
    plugged back". send() steers it (see sim/card/idreader.c) and waits
    for its "ok"."""

    def __init__(self, build, tmp, name="idreader"):
        self.bin = os.path.join(build, "sscard-idreader")
        self.link = os.path.join(tmp, name)
        self.log = os.path.join(tmp, name + ".reads")
        self.proc = None

    def start(self, profile=None):
        args = [self.bin, "--commands", "--link", self.link, "--log", self.log]
        if profile:
            args += ["-p", os.path.join(PROFILES, profile)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        pty = self.proc.stdout.readline().strip()
        if not pty.startswith("/dev/"):
            raise RuntimeError("sscard-idreader did not start: %r" % pty)
        return pty

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        got = self.proc.stdout.readline().strip()
        if not got.startswith("ok"):
            raise RuntimeError("sscard-idreader %r: %r" % (line, got))

    def put(self, profile):
        self.send("put " + os.path.join(PROFILES, profile))

    def remove(self):
        self.send("remove")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def reads(self):
        """The times (CLOCK_REALTIME, s) the reader sent a card's text."""
        if not os.path.exists(self.log):
            return []
        return [float(l.split()[1]) for l in open(self.log) if l.startswith("read ")]


class Cups:
    """A private cupsd (Debian's cups-daemon) on a socket in tmp, with one
    raw queue whose backend writes each job to printed.txt, or runs out of
    paper while paper_out() says so. The daemon and lp reach it through
    CUPS_SERVER=self.sock. Runs inside the test's namespaces."""

    def __init__(self, tmp, queue="kiosk-receipts"):
        self.dir = os.path.join(tmp, "cups")
        self.sock = os.path.join(self.dir, "cups.sock")
        self.queue = queue
        self.out = os.path.join(self.dir, "out", "printed.txt")
        self.flag = os.path.join(self.dir, "out", "paper-out")
        self.proc = None

    def start(self):
        d = self.dir
        shutil.rmtree(d, ignore_errors=True)
        for sub in ("etc", "spool", "state", "cache", "log", "bin/backend", "bin/daemon", "out"):
            os.makedirs(os.path.join(d, sub))
        os.chmod(os.path.join(d, "out"), 0o777)
        for p in (d, os.path.join(d, "bin"), os.path.join(d, "bin", "backend")):
            os.chmod(p, 0o755)
        os.symlink("/usr/lib/cups/daemon/cups-exec", os.path.join(d, "bin/daemon/cups-exec"))
        be = os.path.join(d, "bin/backend/receipt")
        with open(be, "w") as f:  # the job on stdin (a raw queue)
            f.write('#!/bin/sh\n'
                    '[ $# -eq 0 ] && { echo \'direct receipt "Unknown" "sscard test receipt printer"\'; exit 0; }\n'
                    'if [ -e "%s" ]; then echo "STATE: +media-empty-error" >&2; '
                    'echo "ERROR: out of paper" >&2; exit 1; fi\n'
                    '{ echo "queue=$PRINTER"; if [ -n "$6" ]; then cat "$6"; else cat; fi; } >> "%s"\n'
                    % (self.flag, self.out))
        os.chmod(be, 0o700)  # 0700: CUPS runs it as root (lp could not reach into tmp)
        with open(os.path.join(d, "etc/cups-files.conf"), "w") as f:
            f.write("ServerRoot {d}/etc\nRequestRoot {d}/spool\nStateDir {d}/state\nCacheDir {d}/cache\n"
                    "ServerBin {d}/bin\nDataDir /usr/share/cups\nDocumentRoot /usr/share/cups/doc-root\n"
                    "ErrorLog {d}/log/error_log\nAccessLog {d}/log/access_log\nPageLog {d}/log/page_log\n"
                    "Printcap {d}/printcap\nUser lp\nGroup lp\nSystemGroup root\n".format(d=d))
        with open(os.path.join(d, "etc/cupsd.conf"), "w") as f:
            f.write("Listen %s\nLogLevel info\nErrorPolicy stop-printer\nBrowsing No\n"
                    "DefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
                    "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n" % self.sock)
        self.proc = subprocess.Popen(["cupsd", "-f", "-c", os.path.join(d, "etc/cupsd.conf"),
                                      "-s", os.path.join(d, "etc/cups-files.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 10, 0.05) \
                or self.proc.poll() is not None:
            raise RuntimeError("cupsd did not start: " + self.log())
        self.add_queue()

    def env(self):
        return {"CUPS_SERVER": self.sock}

    def run(self, *args):
        r = subprocess.run(list(args), capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, CUPS_SERVER=self.sock))
        if r.returncode:
            raise RuntimeError("%s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def add_queue(self):
        """The queue, new: ready, whatever happened to it before."""
        subprocess.run(["lpadmin", "-x", self.queue], capture_output=True,
                       env=dict(os.environ, CUPS_SERVER=self.sock))
        self.run("lpadmin", "-p", self.queue, "-E", "-v", "receipt:/", "-m", "raw")

    def paper_out(self, out):
        if out:
            open(self.flag, "w").close()
        else:
            if os.path.exists(self.flag):
                os.unlink(self.flag)
            self.add_queue()

    def printed(self):
        return open(self.out, errors="replace").read() if os.path.exists(self.out) else ""

    def log(self):
        p = os.path.join(self.dir, "log", "error_log")
        return open(p, errors="replace").read()[-2000:] if os.path.exists(p) else ""

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
