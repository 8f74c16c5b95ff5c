"""/metrics ([metrics] listen) scraped by a real Prometheus (Debian's
prometheus, started here on loopback with its own storage), after real
reads and kiosk flows; promtool check metrics on what the daemon serves."""
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, Cups, wait_for, wait_listening  # noqa: E402
from common import restore_daemon, http_card, kiosk_step, kiosk_view  # noqa: E402

METRICS = 19470
PROM = 19090


def scrape():
    return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS, timeout=5).read().decode()


def query(q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (PROM, urllib.parse.quote(q))
    try:
        j = json.loads(urllib.request.urlopen(url, timeout=5).read())
    except Exception:
        return None
    r = j.get("data", {}).get("result", [])
    return float(r[0]["value"][1]) if r else None


def start_prometheus(rig):
    d = os.path.join(rig.tmp, "prometheus")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    conf = os.path.join(d, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: sscard\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % METRICS)
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen(["prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + d + "/data",
                          "--web.listen-address=127.0.0.1:%d" % PROM], stdout=log, stderr=log)
    wait_listening(PROM, p, 30)
    return p


def test_metrics_scraped_by_prometheus_after_reads_and_flows(rig):
    cups = Cups(rig.tmp)
    cups.start()
    rig.stop_daemon()
    rig.start_daemon(extra_conf="[ui]\nprinter = %s\nprinter_poll_s = 1\n[metrics]\nlisten = 127.0.0.1:%d\n"
                     % (cups.queue, METRICS), env=cups.env())
    wait_listening(METRICS, rig.daemon)
    wait_listening(8470, rig.daemon)
    prom = start_prometheus(rig)
    ev = rig.events()
    card = None
    try:
        # a good read, and a card that is not a social security card
        card = rig.insert("zhangsan-2.00.card")
        assert wait_for(lambda: rig.card_present(READER0), 10), "card in"
        rc, _, err = rig.ctl("read")
        assert rc == 0, "read: %s" % err
        rig.remove(card)
        # the daemon must have seen this card go before the next comes, or
        # "a card is present" may still be about this one (seen under load)
        assert wait_for(lambda: rig.card_gone(READER0), 10), "card out"
        card = rig.insert("bankcard.card")
        assert wait_for(lambda: rig.card_present(READER0), 10), "bank card in"
        rc, j, _ = rig.ctl_json("read")
        assert rc != 0 and j and j.get("error") == "not_ssc", "a bank card is not read: %r" % j
        rig.remove(card)
        card = None
        assert wait_for(lambda: rig.card_gone(READER0), 10), "card out"
        assert wait_for(lambda: not kiosk_view(rig)["card_present"], 10), "the kiosk saw it go"
        # kiosk flows: one cancelled, one help call
        st, _, j = http_card("/api/v1/session")
        token = j["token"]
        st, j = kiosk_step(rig, token, {"action": "start", "flow": "status"})
        assert st == 200 and j["view"]["step"] == "insert_card", (st, j)
        st, j = kiosk_step(rig, token, {"action": "cancel"})
        assert kiosk_view(rig)["step"] == "home", kiosk_view(rig)
        http_card("/api/v1/help", origin="http://127.0.0.1:8470", method="POST",
                  headers={"X-Session-Token": token}, body={})
        # what the daemon serves passes promtool's lint, and has nothing personal
        text = scrape()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, "promtool check metrics: %s%s" % (r.stdout, r.stderr)
        for secret in ("111111198101011110", "639900D15600000500BF7C7A48FB4966", "张三", "123456"):
            assert secret not in text, "%s in /metrics" % secret
        # Prometheus scraped it: the values through its query API (the
        # daemon may read a card once more on its own as it comes in)
        want = {
            'up{job="sscard"}': 1,
            'sscard_card_reads_total{interface="contact",result="ok"} >= bool 1': 1,
            # the bank card: read on its arrival and when asked, once or twice
            # (the second read comes after the first ended, or joins it)
            'sscard_card_reads_total{interface="contact",result="error"} >= bool 1': 1,
            'sscard_card_errors_total{code="not_ssc"} >= bool 1': 1,
            'sscard_card_errors_total{code="not_ssc"} <= bool 2': 1,
            'sscard_card_read_duration_seconds_count >= bool 1': 1,
            'sscard_kiosk_flows_started_total{flow="status"}': 1,
            'sscard_kiosk_flows_finished_total{flow="status",outcome="cancelled"}': 1,
            'sscard_kiosk_help_calls_total': 1,
            'sscard_reader_state{reader="%s",state="empty"}' % READER0: 1,
            'sscard_pcscd_up': 1,
            'sscard_outbox_requests{state="pending"} >= bool 0': 1,  # earlier tests may leave some
            'sscard_build_info{version="0.1.0"}': 1,
            'sscard_printer_state{state="ready"}': 1,
        }
        got = {}

        def all_there():
            for q, v in want.items():
                got[q] = query(q)
            return all(got[q] == v for q, v in want.items())
        assert wait_for(all_there, 20, 0.5), "Prometheus's values: %r" % {q: got[q] for q in want if got[q] != want[q]}
        # a sum over the histogram's buckets is a duration Prometheus can compute
        q = query("histogram_quantile(0.99, sscard_card_read_duration_seconds_bucket)")
        assert q is not None and 0 < q <= 10, "p99 read duration from the histogram: %r" % q
        # the printer runs out of paper on a job: an event, the metric, status
        cups.paper_out(True)
        cups.run("lp", "-d", cups.queue, "/etc/hostname")
        e = ev.wait("printer", 15, state="out_of_paper")
        assert e is not None, "a printer event: CUPS says %s" % cups.run("lpstat", "-p", cups.queue, "-l")
        assert wait_for(lambda: query('sscard_printer_state{state="out_of_paper"}') == 1, 20, 0.5), "Prometheus sees the printer out of paper"
        st = rig.ctl_json("status")[1]["printer"]
        assert st["state"] == "out_of_paper" and st["queue"] == cups.queue, "status: %r" % st
        rc, out, _ = rig.ctl("status")
        assert "receipt printer: kiosk-receipts out_of_paper" in out, out
        cups.paper_out(False)
        assert ev.wait("printer", 15, state="ready") is not None, "ready again after paper and a new queue"
    finally:
        ev.close()
        cups.stop()
        if card:
            rig.remove(card)
        prom.terminate()
        prom.wait(10)
        restore_daemon(rig)


def test_metrics_config_errors(rig):
    conf = os.path.join(rig.tmp, "bad-metrics.conf")
    for value in ("9470", "localhost:9470", "127.0.0.1:99999"):
        with open(conf, "w") as f:
            f.write("[metrics]\nlisten = %s\n" % value)
        r = subprocess.run([os.path.join(rig.build, "sscardd"), "-c", conf, "--check-config"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 78 and "address and port" in r.stderr and ":2:" in r.stderr, "listen = %s: %d %s" % (value, r.returncode, r.stderr)
