"""The daemon as systemd runs it: notify, watchdog, stopping, the journal."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import READER0, wait_for  # noqa: E402
from common import ZHANGSAN_ID, read_card  # noqa: E402


def journal_fields(datagram):
    """systemd's native journal protocol: KEY=value lines, or KEY, a 64-bit
    little-endian length and the raw value for values with newlines."""
    out, d = {}, datagram
    while d:
        nl = d.index(b"\n")
        line, d = d[:nl], d[nl + 1:]
        if b"=" in line:
            k, v = line.split(b"=", 1)
        else:
            n = int.from_bytes(d[:8], "little")
            k, v, d = line, d[8:8 + n], d[9 + n:]
        out[k.decode()] = v.decode(errors="replace")
    return out


def test_journal_gets_structured_fields_and_no_personal_data(rig):
    rig.stop_daemon()
    os.makedirs("/run/systemd/journal", exist_ok=True)
    path = "/run/systemd/journal/socket"  # private /run: this is our own "journald"
    j = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    j.bind(path)
    j.settimeout(0.3)
    entries, done = [], threading.Event()

    def drain():  # like journald: read as it comes (a sender blocks on a full queue)
        while not done.is_set():
            try:
                entries.append(journal_fields(j.recv(65536)))
            except socket.timeout:
                pass
    reader = threading.Thread(target=drain)
    reader.start()
    rig.start_daemon(env={"JOURNAL_STREAM": "stderr"})
    card = rig.insert("bankcard.card")
    wait_for(lambda: rig.card_present(), 5)
    rig.remove(card)
    wait_for(lambda: not rig.card_present(), 5)  # else the next read may meet the old card's end
    card, rc, _, err = read_card(rig, "zhangsan-2.00.card")
    if rc != 0:  # the automatic read on insertion may hold the card a moment: once more
        rc, _, err = rig.ctl_json("read", READER0)
    assert rc == 0, err
    rig.remove(card)
    # journald-like: the entries arrive as they are written (slower under ASan)
    wait_for(lambda: any("6399**" in e.get("MESSAGE", "") for e in list(entries)), 5)
    time.sleep(0.3)
    done.set()
    reader.join()
    j.close()
    os.unlink(path)
    assert (entries and all(e.get("SYSLOG_IDENTIFIER") == "sscardd" and "PRIORITY" in e
                          for e in entries)), entries[:3]
    bad = [e for e in entries if e.get("SSCARD_ERROR") == "not_ssc"]
    assert bad and bad[0]["SSCARD_READER"] == READER0 and bad[0]["PRIORITY"] == "5", entries
    text = json.dumps(entries, ensure_ascii=False)
    assert "111111198101011110" not in text and "张三" not in text and ZHANGSAN_ID not in text, "personal data in the journal"
    assert any("6399**" in e.get("MESSAGE", "") for e in entries), "masked card id logged"
    rig.stop_daemon()
    rig.start_daemon()
