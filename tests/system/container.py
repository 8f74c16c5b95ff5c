#!/usr/bin/env python3
"""make check-system: what we ship, tested as shipped.

The Debian packages (make deb) are installed in a Debian 12 container
booted with a real systemd (systemd-nspawn on an mmdebstrap root), and
checked from outside through nsenter into the container's PID 1:

  - install an older build, upgrade to this one, with a site's config kept;
  - sscardd active as user sscard, READY and STATUS reached systemd;
  - a card on vpcd read through the installed sscardctl by a member of the
    sscard group, refused to a user outside it;
  - the loss list sync and the outbox reach a central outside the container
    with the unit's hardening in force, and an IPAddressDeny= drop-in stops
    them as the unit's comment documents;
  - the NFC helper (libnfc, a PN532 on a pty) and the PSAM, under the
    unit's SystemCallFilter=, read a third-generation card in full;
  - systemctl reload with a bad config keeps the old one and logs FILE:LINE;
  - kill -STOP ends in a watchdog restart within WatchdogSec + RestartSec;
  - a bad config at start: failed with status 78, no restart loop;
  - systemd-analyze security on the live unit <= 1.5;
  - after a reboot the kiosk screen (sscard-kiosk, on Xvfb) shows the page
    within 20 s of boot (screenshot in build/system/), and comes back after
    the browser is killed;
  - remove and purge: what goes, what stays.

The container shares a network namespace this script makes (loopback
only), so the central, the emulated cards and the container's pcscd talk
over 127.0.0.1 without touching the machine's network. Prints "ok - …" /
"not ok - …: got …" lines and "N passed, N failed".
"""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(SRC, "build", "system")
BUILD = os.path.join(SRC, "build")
MACHINE = "sscard-test"
CENTRAL = "127.0.0.1:18480"
TOKEN = "system-test-token"
NFC_LINK = "/run/sscard-test/pn532"
NFC_READER = "NFC pn532_uart:" + NFC_LINK
BOOT_BUDGET_S = 20.0
WATCHDOG_BUDGET_S = 30 + 2   # WatchdogSec + RestartSec of the unit

passed = 0
failed = 0
failures = []
summary = []


def log(msg):
    print(msg, flush=True)


def check(name, ok, got=""):
    global passed, failed
    if ok:
        passed += 1
        log("ok - %s" % name)
    else:
        failed += 1
        failures.append(name)
        log("not ok - %s: got %s" % (name, str(got)[-1500:]))
    return ok


def run(cmd, timeout=600, check_rc=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stdout[-3000:]))
    return r


# ---- on the host: packages, the root --------------------------------------

def deb_depends(path):
    """The package names a .deb depends on (first of alternatives)."""
    d = run(["dpkg-deb", "-f", path, "Depends"]).stdout.strip()
    names = []
    for part in d.split(","):
        alts = [a.strip().split(" ")[0] for a in part.split("|")]
        # the kiosk's X server: Xvfb here (no screen in a container)
        pick = "xvfb" if "xvfb" in alts else alts[0]
        if pick and not pick.startswith("${"):
            names.append(pick)
    return names


def host_phase():
    t0 = time.time()
    os.makedirs(OUT, exist_ok=True)
    run(["make", "-s", "-C", SRC, "all"], timeout=900)
    run(["sh", os.path.join(SRC, "tools/deb.sh"), os.path.join(BUILD, "deb")], timeout=900)
    env = dict(os.environ, SSCARD_DEB_VERSION="0.1.0~old1")
    run(["sh", os.path.join(SRC, "tools/deb.sh"), os.path.join(BUILD, "deb-old")], timeout=900,
        env=env)
    summary.append("# packages built (this one and an older build) in %.0f s" % (time.time() - t0))
    debs = sorted(f for f in os.listdir(os.path.join(BUILD, "deb"))
                  if f.endswith(".deb") and "dbgsym" not in f)
    deps = set()
    ours = {re.sub(r"_.*", "", f) for f in debs}
    for f in debs:
        deps.update(deb_depends(os.path.join(BUILD, "deb", f)))
    deps -= ours
    base_pkgs = sorted(deps | {"systemd", "systemd-sysv", "dbus", "pcscd", "vsmartcard-vpcd",
                               "libssl3", "iproute2", "procps", "passwd", "cups",
                               "cups-client"})
    key = hashlib.sha256(" ".join(base_pkgs).encode()).hexdigest()[:12]
    base = os.path.join(OUT, "base-" + key)
    if not os.path.exists(os.path.join(base, ".complete")):
        for old in os.listdir(OUT):
            if old.startswith("base-"):
                shutil.rmtree(os.path.join(OUT, old), ignore_errors=True)
        mirror = "http://deb.debian.org/debian"
        try:
            for line in open("/etc/apt/sources.list.d/debian.sources"):
                if line.startswith("URIs:"):
                    mirror = line.split()[1]
                    break
        except OSError:
            pass
        t1 = time.time()
        run(["mmdebstrap", "--quiet", "--variant=minbase", "--include=" + ",".join(base_pkgs),
             "bookworm", base, mirror], timeout=1800)
        open(os.path.join(base, ".complete"), "w").close()
        summary.append("# container root made in %.0f s (%d packages asked for)"
                       % (time.time() - t1, len(base_pkgs)))
    else:
        summary.append("# container root reused (%s)" % base)
    return base


# ---- inside our own namespaces: the container -----------------------------

class Container:
    def __init__(self, base):
        self.base = base
        self.run_dir = os.path.join(OUT, "run")
        self.root = os.path.join(self.run_dir, "root")
        self.nspawn = None
        self.leader = None
        self.boot_log = os.path.join(OUT, "boot.log")

    def mount(self):
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.run_dir, d))
        run(["mount", "-t", "overlay", "overlay", "-o",
             "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (self.base, self.run_dir,
                                                                 self.run_dir), self.root])

    def unmount(self):
        subprocess.run(["umount", "-l", self.root], stderr=subprocess.DEVNULL)

    def boot(self):
        """Boot; returns the time from nspawn's start to 'running'."""
        t0 = time.time()
        logf = open(self.boot_log, "a")
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--boot", "--register=no", "--keep-unit",
             "--machine=" + MACHINE, "--console=passive"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        self.t_boot = t0
        deadline = t0 + 60
        self.leader = None
        while time.time() < deadline and not self.leader:
            r = subprocess.run(["pgrep", "-P", str(self.nspawn.pid), "-x", "systemd"],
                               stdout=subprocess.PIPE, text=True)
            if r.stdout.strip():
                self.leader = r.stdout.split()[0]
            else:
                time.sleep(0.1)
        if not self.leader:
            raise RuntimeError("the container did not boot: " + open(self.boot_log).read()[-2000:])
        state = ""
        while time.time() < deadline:
            state = self.sh("systemctl is-system-running", check_rc=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        return state, time.time() - t0

    def poweroff(self):
        if not self.nspawn:
            return
        self.sh("systemctl poweroff", check_rc=False)
        try:
            self.nspawn.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # the container's PID 1 first: killing it ends its PID namespace
            if self.leader:
                subprocess.run(["kill", "-KILL", self.leader], stderr=subprocess.DEVNULL)
            self.nspawn.kill()
            self.nspawn.wait()
        self.nspawn = None

    def sh(self, script, timeout=120, check_rc=True, user=None):
        cmd = ["nsenter", "-t", self.leader, "-a"]
        if user:
            cmd += ["runuser", "-u", user, "--"]
        return run(cmd + ["/bin/bash", "-c", script], timeout=timeout, check_rc=check_rc)

    def popen(self, script):
        return subprocess.Popen(["nsenter", "-t", self.leader, "-a", "/bin/bash", "-c", script],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def put(self, path, text, mode=None):
        """Write a file in the container; a file that exists keeps its owner
        and mode (as a site's edit would), a new one is mode (0644)."""
        full = self.root + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        new = not os.path.exists(full)
        with open(full, "w") as f:
            f.write(text)
        if new or mode is not None:
            os.chmod(full, mode if mode is not None else 0o644)

    def ctl_json(self, *args, user=None):
        r = self.sh("sscardctl -j " + " ".join("'%s'" % a for a in args), check_rc=False, user=user)
        try:
            return r.returncode, json.loads(r.stdout.strip().splitlines()[-1]), r.stdout
        except (ValueError, IndexError):
            return r.returncode, None, r.stdout

    def show(self, unit, *props):
        r = self.sh("systemctl show %s -p %s" % (unit, ",".join(props)), check_rc=False)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def active(self, unit="sscardd"):
        return self.show(unit, "ActiveState").get("ActiveState") == "active"

    def wait_active(self, timeout=20):
        return self.wait("active", self.active, timeout)

    def card_in_reader0(self):
        out = self.sh("sscardctl readers", check_rc=False).stdout
        return "card" in out.split("Virtual PCD 00 00", 1)[-1][:40]

    def wait(self, what, fn, timeout):
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            got = fn()
            if got:
                return got
            time.sleep(0.25)
        return got


def xwd_to_png(xwd, png):
    """Xvfb's -fbdir frame buffer (an XWD file) as a PNG; returns (w, h, distinct colours,
    share of the most common colour, share of black: the screen no window covers)."""
    data = open(xwd, "rb").read()
    hdr = struct.unpack(">25I", data[:100])
    header_size, width, height = hdr[0], hdr[4], hdr[5]
    byte_order, bpp, bpl, ncolors = hdr[7], hdr[11], hdr[12], hdr[19]
    off = header_size + ncolors * 12
    if bpp != 32:
        raise RuntimeError("frame buffer of %d bits per pixel" % bpp)
    rows = []
    counts = {}
    for y in range(height):
        line = data[off + y * bpl: off + y * bpl + width * 4]
        row = bytearray(b"\0")
        for x in range(0, width * 4, 4):
            b, g, r = (line[x], line[x + 1], line[x + 2]) if byte_order == 0 else \
                (line[x + 3], line[x + 2], line[x + 1])
            row += bytes((r, g, b))
            if y % 4 == 0 and x % 16 == 0:
                counts[(r, g, b)] = counts.get((r, g, b), 0) + 1
        rows.append(bytes(row))

    def chunk(kind, body):
        c = struct.pack(">I", len(body)) + kind + body
        return c + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    with open(png, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(b"".join(rows), 6)))
        f.write(chunk(b"IEND", b""))
    total = sum(counts.values()) or 1
    return (width, height, len(counts), max(counts.values()) / total,
            counts.get((0, 0, 0), 0) / total)


SITE_CONF = """# /etc/sscard/sscard.conf of the test site (a conffile the site edited)
[daemon]
terminal_id = SYSTEST-01
[readers]
sam_reader = Virtual PCD 00 01
nfc = pn532_uart:%(nfc)s
[upstream]
url = http://%(central)s
list_url = http://%(central)s
public_key = %(pk)s
token = %(token)s
poll_interval = 5
retry_max_s = 2
[ui]
root = /usr/share/sscard/ui
printer = kiosk-receipts
"""


class Rig:
    def __init__(self, base):
        self.c = Container(base)
        self.procs = []
        self.zhang = None
        self.tmp = os.path.join(OUT, "host")

    def start_central(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp)
        b = os.path.join(BUILD, "sscard-central")
        cdir = os.path.join(self.tmp, "central")

        def C(*a):
            return run([b, "-d", cdir] + list(a)).stdout
        self.pk = C("keygen").strip()
        C("holder-add", "111111198101011110", "张三", "13800138000")
        C("card-add", "639900D15600000500BF7C7A48FB4966", "111111198101011110", "normal")
        C("holder-add", "639900194503120024", "李四", "13900139000")
        C("card-add", "639900D156000005001122334455667A", "639900194503120024", "normal")
        C("generate", "100")
        C("publish", os.path.join(self.tmp, "pub"))
        env = dict(os.environ, SSCARD_CENTRAL_TOKEN=TOKEN, SSCARD_CENTRAL_ADMIN_TOKEN=TOKEN)
        self.central_log = open(os.path.join(self.tmp, "central.log"), "w")
        self.central = subprocess.Popen([b, "-d", cdir, "serve", os.path.join(self.tmp, "pub"),
                                         CENTRAL, "2"], env=env, stdout=self.central_log,
                                        stderr=subprocess.STDOUT)
        self.procs.append(self.central)

    def central_get(self, path):
        import urllib.request
        req = urllib.request.Request("http://%s%s" % (CENTRAL, path),
                                     headers={"X-Admin-Token": TOKEN})
        with urllib.request.urlopen(req, timeout=10) as f:
            return json.load(f)

    def card(self, profile, port=35963):
        p = subprocess.Popen([os.path.join(BUILD, "sscard-vcard"), "-p",
                              os.path.join(SRC, "sim/profiles", profile), "-P", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.procs = []


def install_phase(rig):
    c = rig.c
    state, t = c.boot()
    check("the container boots to running (%s in %.1f s)" % (state, t), state == "running",
          state + " " + c.sh("systemctl --failed --no-legend", check_rc=False).stdout)
    summary.append("# container boot to '%s': %.1f s" % (state, t))
    # an older build first, then this one over it: an upgrade
    os.makedirs(c.root + "/root/debs", exist_ok=True)
    for d in ("deb", "deb-old"):
        shutil.copytree(os.path.join(BUILD, d), c.root + "/root/debs/" + d,
                        ignore=shutil.ignore_patterns("src", "*dbgsym*"), dirs_exist_ok=True)
    r = c.sh("cd /root/debs/deb-old && dpkg -i sscardd_*.deb sscardctl_*.deb libsscard1_*.deb "
             "libsscard-dev_*.deb 2>&1", check_rc=False, timeout=300)
    check("the older build installs (dpkg -i)", r.returncode == 0, r.stdout)
    active = c.wait_active()
    check("postinst made user sscard and started sscardd (older build)", active and
          c.sh("id -u sscard", check_rc=False).returncode == 0,
          c.sh("systemctl status sscardd --no-pager; id sscard", check_rc=False).stdout)
    # the site's config: a conffile edit, kept by the upgrade
    c.put("/etc/sscard/sscard.conf", SITE_CONF % {"nfc": NFC_LINK, "central": CENTRAL,
                                                 "pk": rig.pk, "token": TOKEN})
    old_pid = c.show("sscardd", "MainPID").get("MainPID")
    r = c.sh("cd /root/debs/deb && dpkg -i --force-confold sscardd_*.deb sscardctl_*.deb "
             "libsscard1_*.deb libsscard-dev_*.deb 2>&1", check_rc=False, timeout=300)
    check("the upgrade to this build installs", r.returncode == 0, r.stdout)
    v = c.sh("dpkg-query -W -f '${Version}' sscardd", check_rc=False).stdout
    conf = open(c.root + "/etc/sscard/sscard.conf").read()
    check("upgraded to 0.1.0, the site's sscard.conf kept", v == "0.1.0" and "SYSTEST-01" in conf,
          v + " / " + conf[:200])
    pid = c.show("sscardd", "MainPID").get("MainPID")
    check("the upgrade restarted sscardd", pid not in (old_pid, "0"), (old_pid, pid))
    mode = c.sh("stat -c %a:%U:%G /etc/sscard/sscard.conf", check_rc=False).stdout.strip()
    check("the config holding the token is 0640 root:sscard after the upgrade (it was 0644)",
          mode == "640:root:sscard", mode)


def access_phase(rig):
    c = rig.c
    # what systemd knows: Type=notify's READY, the STATUS line, the user
    def ready():
        p = c.show("sscardd", "ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
        return p if p.get("ActiveState") == "active" and p.get("StatusText") else None
    p = c.wait("ready", ready, 20) or c.show("sscardd", "ActiveState", "StatusText")
    check("sscardd active (READY reached systemd), STATUS: %r" % p.get("StatusText"),
          p.get("ActiveState") == "active" and p.get("StatusText", "") != "", p)
    user = c.sh("ps -o user= -p %s" % p.get("MainPID", "0"), check_rc=False).stdout.strip()
    check("sscardd runs as user sscard", user == "sscard", user)
    c.sh("useradd -m -G sscard clerk; useradd -m visitor")

    # a card on vpcd inside the container (the emulator outside, over loopback)
    rig.zhang = rig.card("zhangsan-2.00.card")
    c.wait("card", c.card_in_reader0, 20)
    rc, j, out = c.ctl_json("read", user="clerk")
    check("a member of group sscard reads the card with the installed sscardctl",
          rc == 0 and j and j.get("card_id") == "639900D15600000500BF7C7A48FB4966", out)
    rc, j, out = c.ctl_json("read", user="visitor")
    check("a user outside group sscard is refused", rc != 0 and "denied" in out.lower(), out)
    r = c.sh("cat /etc/sscard/sscard.conf", check_rc=False, user="visitor")
    check("a user outside group sscard cannot read the config and its token",
          r.returncode != 0 and TOKEN not in r.stdout, r.stdout[-200:])
    r = c.sh("sscardctl read", check_rc=False, user="clerk")
    check("the holder's name and SSN are masked in the human output",
          "张*" in r.stdout and "111111198101011110" not in r.stdout, r.stdout)



def central_phase(rig):
    c = rig.c
    # the loss list from the central outside, with the hardening in force
    def listed():
        rc, j, _ = c.ctl_json("list", "info", user="clerk")
        return j if j and (j.get("version") or 0) >= 1 else None
    j = c.wait("list", listed, 30)
    check("the loss list synced from the central outside the container", j, j)
    # (request is an admin command: root here)
    rc, j, out = c.ctl_json("request", "loss_report", "639900D15600000500BF7C7A48FB4966",
                            "loss=temporary")
    check("a loss report enters the outbox", rc == 0, out)

    def delivered():
        try:
            reqs = rig.central_get("/v1/admin/requests")
        except OSError:
            return None
        items = reqs if isinstance(reqs, list) else reqs.get("requests", [])
        return items or None
    got = c.wait("delivered", delivered, 30)
    check("the outbox delivered it to the central", got, got)

    # IPAddressDeny= as the unit's comment documents: nothing leaves. It
    # needs systemd's BPF firewall (cgroup v2): first ask whether this
    # container's systemd enforces it at all
    probe = c.sh("systemd-run -q -p IPAddressDeny=any --wait -P /bin/bash -c "
                 "'(exec 3<>/dev/tcp/%s) 2>/dev/null && echo reached || echo blocked'"
                 % CENTRAL.replace(":", "/"), check_rc=False).stdout.strip()
    if probe != "blocked":
        cg = c.sh("stat -fc %T /sys/fs/cgroup", check_rc=False).stdout.strip()
        log("# skip - IPAddressDeny= drop-in: this machine's systemd does not enforce "
            "IPAddressDeny= (a transient unit with IPAddressDeny=any %s the central; "
            "/sys/fs/cgroup is %s: no cgroup-v2 BPF firewall)" % (probe, cg))
        summary.append("# IPAddressDeny= not enforceable here: %s, /sys/fs/cgroup %s" % (probe, cg))
    else:
        c.put("/etc/systemd/system/sscardd.service.d/ip.conf",
              "[Service]\nIPAddressDeny=any\nIPAddressAllow=192.0.2.1\n")
        c.sh("systemctl daemon-reload && systemctl restart sscardd")
        c.wait_active()
        rc, j, out = c.ctl_json("request", "loss_report", "639900D15600000500BF7C7A48FB4966",
                                "loss=formal")
        time.sleep(6)
        rc, ob, out = c.ctl_json("outbox", user="clerk")
        pend = [i for i in (ob or {}).get("items", []) if i.get("state") == "pending"]
        check("with IPAddressDeny=any the request waits in the outbox", rc == 0 and pend, out)
        c.sh("rm /etc/systemd/system/sscardd.service.d/ip.conf && systemctl daemon-reload && "
             "systemctl restart sscardd")

        def drained():
            rc, ob, _ = c.ctl_json("outbox", user="clerk")
            return ob if ob is not None and ob.get("pending") == 0 and \
                ob.get("delivered", 0) >= 1 else None
        got = c.wait("drained", drained, 30)
        check("without the drop-in the waiting request is delivered", got, got)



def devices_phase(rig):
    c = rig.c
    # the NFC helper and the PSAM under SystemCallFilter=: a 3.00 card in full
    rig.card("psam-test.psam", 35964)
    c.sh("mkdir -p /run/sscard-test")
    rig.procs.append(c.popen("exec /usr/local/bin/sscard-pn532 -p /root/profiles/wangwu-3.00.card "
                             "--link %s" % NFC_LINK))
    c.wait("pty", lambda: c.sh("test -e %s" % NFC_LINK, check_rc=False).returncode == 0, 10)
    # a pty is not a USB serial port: this drop-in lets the unit open it,
    # and changes nothing else (the system call filter stays)
    c.sh("chmod 0666 $(readlink -f %s)" % NFC_LINK)
    c.put("/etc/systemd/system/sscardd.service.d/pty.conf", "[Service]\nDeviceAllow=char-pts rw\n")
    c.sh("systemctl daemon-reload && systemctl restart sscardd")

    def nfc_read():
        rc, j, out = c.ctl_json("read", NFC_READER, user="clerk")
        return (j, out) if j and j.get("ssn") else None
    got = c.wait("nfc", nfc_read, 30)
    rc, st, _ = c.ctl_json("status", user="clerk")
    check("the NFC helper and the PSAM read 王五's 3.00 card under the unit's SystemCallFilter=",
          got and got[0].get("card_id"), (got, st and st.get("readers")))
    filt = c.sh("systemctl show sscardd -p SystemCallFilter", check_rc=False).stdout
    check("the system call filter was in force", "SystemCallFilter=" in filt and len(filt) > 100,
          filt[:200])
    c.sh("rm /etc/systemd/system/sscardd.service.d/pty.conf && systemctl daemon-reload")
    sys_calls = c.sh("journalctl -b --no-pager | grep -i 'SECCOMP\\|SIGSYS' | tail -3",
                     check_rc=False).stdout.strip()
    check("no process died of a forbidden system call", sys_calls == "", sys_calls)

    # lp under SystemCallFilter=: a PIN change at the kiosk (over its HTTP
    # API, as the page does it), then its receipt sent with lp to a real
    # CUPS queue whose jobs are held (job-hold-until) so that the job's data
    # stays to be read; the queue itself is ready, as the daemon must see it
    c.sh("lpadmin -p kiosk-receipts -E -v file:///dev/null -m raw -o job-hold-until-default=indefinite",
         check_rc=False)
    c.wait("the daemon sees the receipt printer ready",
           lambda: '"state":"ready"' in c.sh("sscardctl -j status", check_rc=False).stdout.split('"printer"', 1)[-1][:80],
           30)
    # (Li Si's card: Zhang San's is on the loss list by now)
    rig.zhang.terminate()
    rig.zhang.wait()
    c.wait("no card", lambda: not c.card_in_reader0(), 10)
    rig.card("lisi-1.00-t0.card")
    c.wait("card", c.card_in_reader0, 20)
    ref = kiosk_pin_change(c, "246810")
    printed = c.wait("printed", lambda: c.sh("cat /var/spool/cups/d*-001 2>/dev/null",
                                             check_rc=False).stdout, 20)
    jobs = c.sh("lpstat -W all -o kiosk-receipts", check_rc=False).stdout
    check("the receipt reached CUPS through lp, run by the unit under its SystemCallFilter= "
          "(%s)" % ref, ref and printed and ref in printed and " sscard " in jobs,
          (ref, printed, c.sh("journalctl -u sscardd -b --no-pager | tail -n 3; lpstat -W all -o -p; "
                              "grep -v ' D ' /var/log/cups/error_log | tail -n 8",
                              check_rc=False).stdout))



def unit_phase(rig):
    c = rig.c
    # reload with a bad config: the old one stays, the journal says FILE:LINE
    good = open(c.root + "/etc/sscard/sscard.conf").read()
    pid = c.show("sscardd", "MainPID").get("MainPID")
    c.put("/etc/sscard/sscard.conf", good + "[daemon]\nlog_levle = debug\n")
    r = c.sh("systemctl reload sscardd", check_rc=False)
    time.sleep(1)
    j = c.sh("journalctl -u sscardd -b --no-pager -n 20", check_rc=False).stdout
    p = c.show("sscardd", "ActiveState", "MainPID")
    nline = len((good + "[daemon]\n").splitlines()) + 1
    check("systemctl reload with a bad config keeps the old one and logs FILE:LINE",
          r.returncode == 0 and p.get("MainPID") == pid and p.get("ActiveState") == "active" and
          ("/etc/sscard/sscard.conf:%d" % nline) in j, (r.stdout, p, j[-800:]))
    c.put("/etc/sscard/sscard.conf", good)
    c.sh("systemctl reload sscardd")

    # the live exposure score
    r = c.sh("systemd-analyze security sscardd.service --no-pager 2>&1 | tail -n 1",
             check_rc=False)
    m = re.search(r"([0-9.]+) ", r.stdout.split(":")[-1])
    score = float(m.group(1)) if m else 99
    summary.append("# systemd-analyze security sscardd (live, in the container): %s" % score)
    check("systemd-analyze security on the live unit <= 1.5 (%s)" % score, score <= 1.5,
          r.stdout)

    # the watchdog: a stopped daemon is restarted
    pid = c.show("sscardd", "MainPID").get("MainPID")
    t0 = time.time()
    c.sh("kill -STOP %s" % pid)

    def restarted():
        p = c.show("sscardd", "MainPID", "ActiveState", "SubState")
        return p if p.get("MainPID") not in (pid, "0") and p.get("SubState") == "running" else None
    p = c.wait("restart", restarted, WATCHDOG_BUDGET_S + 15)
    took = time.time() - t0
    summary.append("# watchdog restart after kill -STOP: %.1f s (WatchdogSec 30 + RestartSec 2)"
                   % took)
    why = c.sh("journalctl -u sscardd -b --no-pager | grep -i watchdog | tail -2",
               check_rc=False).stdout
    check("kill -STOP ends in a watchdog restart within %d s (%.1f s)" % (WATCHDOG_BUDGET_S, took),
          p and took <= WATCHDOG_BUDGET_S + 1 and "watchdog" in why.lower(), (p, took, why))

    # a bad config at start: failed, 78, no restart loop
    c.sh("systemctl stop sscardd")
    c.put("/etc/sscard/sscard.conf", good.replace("poll_interval = 5", "poll_interval = often"))
    c.sh("systemctl reset-failed sscardd; systemctl start sscardd", check_rc=False)
    time.sleep(8)
    p = c.show("sscardd", "ActiveState", "Result", "ExecMainStatus", "NRestarts")
    j = c.sh("journalctl -u sscardd -b --no-pager -n 8", check_rc=False).stdout
    check("a bad config at start: failed with status 78, not restarted",
          p.get("ActiveState") == "failed" and p.get("NRestarts") == "0" and
          "78" in (p.get("ExecMainStatus", ""), ) + tuple(re.findall(r"status=(\d+)", j)) and
          "sscard.conf:" in j, (p, j[-600:]))
    c.put("/etc/sscard/sscard.conf", good)
    c.sh("systemctl reset-failed sscardd; systemctl start sscardd")


def kiosk_pin_change(c, old_pin):
    """A PIN change on the card in the reader, driven over the kiosk's HTTP API
    as its page drives it; then POST /api/v1/print. Returns the receipt's
    reference, or what went wrong."""
    import urllib.error
    import urllib.request
    base = "http://127.0.0.1:8470"

    def call(path, body=None, token=None):
        req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Origin": base, "X-Session-Token": token or ""})
        with urllib.request.urlopen(req, timeout=30) as f:
            return json.load(f)
    try:
        token = call("/api/v1/session")["token"]
        v = call("/api/v1/flow", {"action": "start", "flow": "pin_change"}, token)
        for step, pin in (("pin", old_pin), ("new_pin", "285714"), ("new_pin_again", "285714")):
            for _ in range(100):
                if v.get("view", {}).get("step") == step:
                    break
                time.sleep(0.1)
                v = call("/api/v1/state", token=token)
                v = {"view": v.get("view", v)}
            v = call("/api/v1/flow", {"action": "input", "step": step, "pin": pin}, token)
        for _ in range(100):
            view = v.get("view", {})
            if view.get("step") == "receipt":
                break
            time.sleep(0.1)
            st = call("/api/v1/state", token=token)
            v = {"view": st.get("view", st)}
        ref = (view.get("data") or {}).get("reference")
        p = call("/api/v1/print", {}, token)
        return ref if p.get("ok") else "print: %s" % p
    except urllib.error.HTTPError as e:
        return "error: HTTP %d %s" % (e.code, e.read()[:300])
    except (OSError, ValueError, KeyError) as e:
        return "error: %r" % e


def kiosk_phase(rig):
    c = rig.c
    r = c.sh("cd /root/debs/deb && dpkg -i sscard-kiosk_*.deb 2>&1", check_rc=False, timeout=300)
    check("sscard-kiosk installs", r.returncode == 0, r.stdout)
    time.sleep(1)
    p = c.show("sscard-kiosk", "ActiveState", "Result", "ExecMainStatus")
    check("without an X server the kiosk unit stops with 78 and says why (no loop)",
          p.get("ExecMainStatus") == "78" and "not installed" in
          c.sh("journalctl -u sscard-kiosk -b --no-pager", check_rc=False).stdout, p)
    # the site's screen: Xvfb here, its frame buffer in a file for the screenshot
    c.put("/etc/default/sscard-kiosk",
          "SSCARD_KIOSK_URL=http://127.0.0.1:8470/\nSSCARD_KIOSK_XSERVER=/usr/bin/Xvfb\n"
          "SSCARD_KIOSK_XSERVER_ARGS=\"-screen 0 1280x1024x24 -nolisten tcp -nocursor -fbdir "
          "/run/sscard-kiosk\"\nSSCARD_KIOSK_DISPLAY=:0\n")
    rig.stop()
    c.poweroff()
    rig.start_central()
    state, t = c.boot()
    t0 = c.t_boot

    def screen_up():
        rc, st, _ = c.ctl_json("status")
        return st if st and (st.get("ui") or {}).get("screens", 0) >= 1 else None
    st = c.wait("screen", screen_up, 60)
    took = time.time() - t0
    summary.append("# kiosk page on screen after boot: %.1f s" % took)
    shot = os.path.join(OUT, "kiosk-screen.png")
    info = screenshot(c, shot)
    check("after boot the kiosk screen shows the page within %d s (%.1f s; %s)"
          % (BOOT_BUDGET_S, took, shot),
          st and took <= BOOT_BUDGET_S and info and info[2] > 8 and info[3] < 0.97 and
          info[4] < 0.01,
          (st and st.get("ui"), info, c.sh("journalctl -u sscard-kiosk -b --no-pager -n 20",
                                             check_rc=False).stdout))
    summary.append("# kiosk screenshot: %s (%s)" % (shot, info and "%dx%d" % info[:2]))
    # the X server takes only the session's cookie: another local account
    # cannot read the screen or type into it; the kiosk user with it can
    r = c.sh("DISPLAY=:0 xrandr --current", check_rc=False, user="visitor")
    check("another local user is refused by the kiosk's X server", r.returncode != 0, r.stdout)
    r = c.sh("DISPLAY=:0 XAUTHORITY=/run/sscard-kiosk/Xauthority xrandr --current", check_rc=False,
             user="sscard-kiosk")
    check("the kiosk's own session (its cookie) is admitted by its X server", r.returncode == 0,
          r.stdout)
    r = c.sh("systemd-analyze security sscard-kiosk.service --no-pager 2>&1 | tail -n 1", check_rc=False)
    summary.append("# systemd-analyze security sscard-kiosk (live, in the container): %s"
                   % r.stdout.strip().split(":")[-1].strip())
    # the browser killed: the screen comes back
    pid = c.sh("pgrep -u sscard-kiosk -o -x chromium", check_rc=False).stdout.strip()
    t1 = time.time()
    c.sh("kill -KILL %s" % pid, check_rc=False)

    # (the page's event stream of the killed browser is counted until the
    # daemon's next ping finds it closed: the new browser is told by its pid
    # and by what the screen shows)
    shot2 = os.path.join(OUT, "kiosk-screen-after-kill.png")

    def back():
        new = c.sh("pgrep -u sscard-kiosk -o -x chromium", check_rc=False).stdout.strip()
        if not new or new == pid:
            return None
        i = screenshot(c, shot2)
        return (new, i) if i and i[2] > 8 and i[3] < 0.97 else None
    got = c.wait("back", back, 30)
    took = time.time() - t1
    check("the browser killed, the page is back (%.1f s)" % took, got, (pid, got))


def screenshot(c, png):
    fb = c.sh("cat /run/sscard-kiosk/Xvfb_screen0 | base64 -w0", check_rc=False, timeout=60)
    if fb.returncode != 0:
        return None
    import base64
    raw = os.path.join(OUT, "screen.xwd")
    with open(raw, "wb") as f:
        f.write(base64.b64decode(fb.stdout))
    try:
        return xwd_to_png(raw, png)
    except (RuntimeError, struct.error, IndexError) as e:
        log("# screenshot: %s" % e)
        return None


def removal_phase(rig):
    c = rig.c
    # a request the central will not take now (it is stopped): it must survive a purge
    rig.central.terminate()
    rig.central.wait()
    rc, j, out = c.ctl_json("request", "loss_report", "639900D15600000500BF7C7A48FB4966",
                            "loss=temporary")
    r = c.sh("apt-get remove -y sscard-kiosk sscardd sscardctl 2>&1", check_rc=False, timeout=300)
    units = c.sh("systemctl is-active sscardd sscard-kiosk", check_rc=False).stdout.split()
    check("remove stops the units, keeps config and state",
          r.returncode == 0 and "active" not in units and
          os.path.exists(c.root + "/etc/sscard/sscard.conf") and
          os.path.exists(c.root + "/var/lib/sscard"), (r.stdout[-600:], units))
    r = c.sh("apt-get purge -y sscardd sscard-kiosk 2>&1", check_rc=False, timeout=300)
    left = sorted(os.listdir(c.root + "/var/lib/sscard")) if os.path.isdir(
        c.root + "/var/lib/sscard") else []
    check("purge removes the config and the loss list, keeps only the undelivered outbox",
          r.returncode == 0 and not os.path.exists(c.root + "/etc/sscard/sscard.conf") and
          "outbox.db" in left and not [f for f in left if f.startswith("loss")] and
          "not taken" in r.stdout, (r.stdout[-800:], left))
    # a purge with nothing undelivered leaves nothing
    c.sh("rm -rf /var/lib/sscard && cd /root/debs/deb && dpkg -i sscardd_*.deb sscardctl_*.deb",
         timeout=300)
    c.wait_active()
    r = c.sh("apt-get purge -y sscardd sscardctl libsscard-dev libsscard1 2>&1", check_rc=False,
             timeout=300)
    check("purge with an empty outbox leaves no /var/lib/sscard and no /etc/sscard",
          r.returncode == 0 and not os.path.exists(c.root + "/var/lib/sscard") and
          not os.path.exists(c.root + "/etc/sscard"), r.stdout[-600:])


def inside(base):
    t_start = time.time()
    run(["ip", "link", "set", "lo", "up"])
    with open("/proc/sys/net/ipv4/ip_local_reserved_ports", "w") as f:  # as rig.private_loopback
        f.write("35963-36099")
    rig = Rig(base)
    c = rig.c
    try:
        c.mount()
        os.makedirs(c.root + "/usr/local/bin", exist_ok=True)
        shutil.copy(os.path.join(BUILD, "sscard-pn532"), c.root + "/usr/local/bin/")
        shutil.copytree(os.path.join(SRC, "sim/profiles"), c.root + "/root/profiles")
        rig.start_central()
        for phase in (install_phase, access_phase, central_phase, devices_phase, unit_phase,
                      kiosk_phase, removal_phase):
            t = time.time()
            try:
                phase(rig)
            except Exception as e:  # the phase could not go on: say where, go on
                check("%s ran to its end" % phase.__name__, False, repr(e))
            summary.append("# %s: %.0f s" % (phase.__name__, time.time() - t))
    finally:
        try:
            if c.leader:
                jr = c.sh("journalctl -b --no-pager", check_rc=False, timeout=60).stdout
                open(os.path.join(OUT, "journal.txt"), "w").write(jr)
        except Exception:
            pass
        rig.stop()
        c.poweroff()
        c.unmount()
    summary.append("# check-system in all: %.0f s" % (time.time() - t_start))


def main():
    if os.geteuid() != 0:
        print("check-system needs root (mmdebstrap, systemd-nspawn, namespaces)")
        return 1
    if len(sys.argv) > 2 and sys.argv[1] == "--inside":
        inside(sys.argv[2])
    else:
        base = host_phase()
        for line in summary:
            print(line, flush=True)
        # a network namespace of our own (loopback only) and a mount
        # namespace for the overlay: nothing reaches the machine's network
        r = subprocess.run(["unshare", "--net", "--mount", "--fork", "--kill-child",
                            sys.executable, os.path.abspath(__file__), "--inside", base])
        return r.returncode
    for s in summary:
        print(s)
    if failures:
        print("failed: " + "; ".join(failures))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
