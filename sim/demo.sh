#!/usr/bin/env bash
# make demo: a private pcscd with the emulated reader, Zhang San's demo card
# in it, and sscardd — all inside private mount/net/PID namespaces, so the
# machine's own pcscd and network are never touched. The daemon's socket is
# /run/sscard/sscardd.sock (the default), so from a second terminal plain
#     build/sscardctl read
# reads the card. Enter swaps in the next emulated card; Ctrl-C stops all.
#
# SSCARD_DEMO_ONCE=1: read once, print it and stop (used by make check).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOCK_DIR=/run/sscard
SOCK=$SOCK_DIR/sscardd.sock

if [ "${SSCARD_IN_NS:-}" != 1 ]; then
	if [ -S "$SOCK" ] && "$BUILD/sscardctl" status >/dev/null 2>&1; then
		echo "demo: an sscardd already answers on $SOCK; stop it first." >&2
		exit 1
	fi
	mkdir -p "$SOCK_DIR"
	# The interactive demo keeps the machine's loopback so that a browser
	# here can open the kiosk page; the one-shot run (make check) gets a
	# private network as well.
	NET=
	if [ "${SSCARD_DEMO_ONCE:-}" = 1 ]; then
		NET=--net
	else
		for port in 8470 8480; do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				echo "demo: port $port on 127.0.0.1 is in use; stop what uses it first." >&2
				exit 1
			fi
		done
	fi
	# Stopping, with or without a terminal:
	# - a job started without job control (nohup, a CI job, a service
	#   manager's script) inherits SIGINT ignored, and bash cannot trap a
	#   signal ignored at its start: the demo's own bash is started with
	#   SIGINT and SIGTERM back at their defaults;
	# - unshare does not pass signals on to what it runs, and make passes
	#   on SIGTERM only to its child (this script): this script stays and
	#   hands INT and TERM to the demo's bash in the namespaces.
	env --default-signal=INT --default-signal=TERM SSCARD_IN_NS=1 \
		unshare --mount $NET --pid --fork --mount-proc --kill-child bash "$0" "$BUILD" <&0 &
	NS=$!
	forward() {
		local inner
		inner=$(pgrep -P "$NS" -x bash | head -1)
		kill -"$1" "${inner:-$NS}" 2>/dev/null || true
	}
	trap 'forward INT' INT
	trap 'forward TERM' TERM
	rc=0
	while kill -0 "$NS" 2>/dev/null; do
		wait "$NS" && rc=0 || rc=$?
	done
	exit "$rc"
fi

TMP=$(mktemp -d /tmp/sscard-demo.XXXXXX)
PIDS=()
stop() {
	trap '' INT TERM # a second Ctrl-C does not cut the cleanup short
	trap - EXIT
	echo
	echo "demo: stopping sscardd, the emulated card, the central and pcscd …"
	# (under set -e a failed kill of a sleeper already reaped — the group's
	# signal reached it too — would end this cleanup before it is done)
	if [ -n "${SLEEPER:-}" ]; then kill "$SLEEPER" 2>/dev/null || true; fi
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[$i]}" 2>/dev/null || true
		# a short wait each: the next one is stopped even if this one lingers
		for _ in $(seq 50); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
	done
	wait 2>/dev/null || true
	# under set -e: a process still leaving a file in TMP as it ends must
	# not cut the cleanup short (rm -rf then fails with "not empty")
	rm -f "$SOCK" || true
	rm -rf "$TMP" 2>/dev/null || rm -rf "$TMP" || true
	echo "demo: stopped."
}
trap 'stop; exit 0' INT # Ctrl-C is how a demo ends
trap 'stop; exit 143' TERM
trap stop EXIT

ip link set lo up 2>/dev/null || true
# Our own pcscd socket directory, hiding the machine's one in here only.
mkdir -p /run/pcscd
mount -t tmpfs tmpfs /run/pcscd
mkdir -p "$TMP/conf"
printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x8C7B\nLIBPATH %s\nCHANNELID 0x8C7B\n' \
	/usr/lib/pcsc/drivers/serial/libifdvpcd.so >"$TMP/conf/vpcd"
pcscd -f -c "$TMP/conf" >"$TMP/pcscd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.05; done
[ -S /run/pcscd/pcscd.comm ] || { echo "demo: pcscd did not start:" >&2; cat "$TMP/pcscd.log" >&2; exit 1; }

# The reference central: the demo holders, their cards, the signed loss list
# and the request API, on loopback inside the namespace.
CENTRAL=127.0.0.1:8480
C() { "$BUILD/sscard-central" -d "$TMP/central" "$@"; }
C keygen >"$TMP/central.pk"
# 张三: the card in the reader is new (sealed: try "activate", initial PIN
# 123456), and an older card of his can be reported lost without a chip.
# 李四: his card (the second in the reader, PIN 246810) is reported lost
# (temporary): try "cancel a loss".
C holder-add 111111198101011110 张三 13800138000
C card-add 639900D15600000500BF7C7A48FB4966 111111198101011110 sealed X00000019
C card-add 639900D15600000500000000000000A1 111111198101011110 normal X00000028
C holder-add 639900194503120024 李四 13900139000
C card-add 639900D156000005001122334455667A 639900194503120024 temporary A12345678
C generate 1000 >/dev/null # other regions' losses, so that the list is not empty
C publish "$TMP/pub" >/dev/null
SSCARD_CENTRAL_TOKEN=demo-token "$BUILD/sscard-central" -d "$TMP/central" serve "$TMP/pub" \
	"$CENTRAL" 2 >"$TMP/central.log" 2>&1 &
PIDS+=($!)

# The terminal's PSAM (card-spec §9) in the reader's second slot, "Virtual
# PCD 00 01": it opens third-generation cards' holder data (王五's below).
"$BUILD/sscard-vcard" -p "$ROOT/sim/profiles/psam-test.psam" -P 35964 &
PIDS+=($!)

# A PN532 NFC reader on a pseudo-terminal (libnfc's pn532_uart driver) with
# 王五's third-generation card near it, off the field until the demo taps it.
"$BUILD/sscard-pn532" -p "$ROOT/sim/profiles/wangwu-3.00.card" --link "$TMP/pn532" --no-card \
	>/dev/null &
NFC_PID=$!
PIDS+=("$NFC_PID")
NFC_READER="NFC pn532_uart:$TMP/pn532"

# A resident ID card reader on a pseudo-terminal with 张三's ID card lying on
# it: the kiosk's loss report and replacement identify him by it.
"$BUILD/sscard-idreader" -p "$ROOT/sim/profiles/zhangsan.idcard" --link "$TMP/idreader" >/dev/null &
IDREADER_PID=$!
PIDS+=($!)

# A QR code scanner in serial mode on a pseudo-terminal: what 张三's phone
# shows (his e-voucher code, issued by the central) is "scanned" through a
# FIFO held open here (fd 7). scan: one fresh code.
mkfifo "$TMP/scanner.in"
exec 7<>"$TMP/scanner.in"
"$BUILD/sscard-scanner" --link "$TMP/scanner" <"$TMP/scanner.in" >/dev/null &
PIDS+=($!)
scan() { echo "code $(C ecode-issue 111111198101011110)" >&7; }

cat >"$TMP/sscard.conf" <<EOF
[daemon]
socket = $SOCK
state_dir = $TMP
terminal_id = DEMO-KIOSK-01
[readers]
nfc = pn532_uart:$TMP/pn532
sam_reader = Virtual PCD 00 01
idcard = $TMP/idreader
scanner = $TMP/scanner
[upstream]
url = http://$CENTRAL
list_url = http://$CENTRAL
push_url = http://$CENTRAL/wait
public_key = $(cat "$TMP/central.pk")
token = demo-token
[ui]
root = $ROOT/ui
allow_origins = http://127.0.0.1:8471
# the kiosk answers its own browser only: root's Chromium here, or the
# browser of whoever ran the demo with sudo
kiosk_user = ${SUDO_USER:-root}
[policy]
outlets = 城东社保服务大厅 East service hall; 人民医院服务点 People's Hospital desk
[payment]
# the replacement's fee (10 yuan) by QR code; type p + Enter here to pay it
enabled = yes
EOF
"$BUILD/sscardd" -f -c "$TMP/sscard.conf" 2>"$TMP/sscardd.log" &
PIDS+=($!)
# a counter page (browser-based HIS) on its own origin, allowed above
python3 -m http.server -b 127.0.0.1 -d "$ROOT/examples" 8471 >"$TMP/his.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "demo: sscardd did not start:" >&2; cat "$TMP/sscardd.log" >&2; exit 1; }
chmod 0666 "$SOCK" # a demo: let any local user's sscardctl in

KIOSK=http://127.0.0.1:8470/
# One-time codes are "sent by SMS" by the emulated central: show them here
# (one plain loop: a single process that stops when told).
(
	seen=0
	while sleep 0.5; do
		n=$(grep -c "one-time code" "$TMP/central.log" 2>/dev/null) || n=0
		if [ "$n" -gt "$seen" ]; then
			grep "one-time code" "$TMP/central.log" | tail -n $((n - seen)) | sed 's/^/  [SMS] /'
			seen=$n
		fi
	done
) &
PIDS+=($!)
if [ "${SSCARD_DEMO_ONCE:-}" != 1 ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; } &&
	command -v chromium >/dev/null; then
	SANDBOX=
	[ "$(id -u)" = 0 ] && SANDBOX=--no-sandbox # root: Chromium refuses its sandbox
	chromium --kiosk $SANDBOX --user-data-dir="$TMP/chromium" --no-first-run --autoplay-policy=no-user-gesture-required "$KIOSK" \
		>"$TMP/chromium.log" 2>&1 &
	PIDS+=($!)
fi

# nfc:… is 王五's card tapped on the NFC reader (the contact slot empty).
CARDS=(zhangsan-2.00 lisi-1.00-t0 ayiguli-2.00-longname nfc:wangwu-3.00 bankcard)
card=0
CARD_PID=
NFC_ON=0
insert() {
	if [ -n "$CARD_PID" ]; then
		kill "$CARD_PID" 2>/dev/null || true
		wait "$CARD_PID" 2>/dev/null || true
		unset 'PIDS[${#PIDS[@]}-1]'
		CARD_PID=
	fi
	if [ "$NFC_ON" = 1 ]; then
		kill -USR1 "$NFC_PID" # off the field
		NFC_ON=0
	fi
	case ${CARDS[$card]} in
	nfc:*)
		for _ in $(seq 100); do # the contact card's removal seen first
			"$BUILD/sscardctl" readers 2>/dev/null | grep -q "Virtual PCD 00 00 *card" || break
			sleep 0.05
		done
		kill -USR2 "$NFC_PID"
		NFC_ON=1
		;;
	*)
		"$BUILD/sscard-vcard" -p "$ROOT/sim/profiles/${CARDS[$card]}.card" &
		CARD_PID=$!
		PIDS+=("$CARD_PID")
		;;
	esac
	for _ in $(seq 100); do
		"$BUILD/sscardctl" readers 2>/dev/null | grep -q " card " && break
		sleep 0.05
	done
}
insert

cat <<EOF

  sscard demo is running.

  The kiosk: open $KIOSK in a browser on this machine
  (started in kiosk mode when a display was found). Try every flow:
    - 新卡启用 / Activate: the card in the reader is new; initial PIN 123456.
    - 挂失 / Report a loss: 张三's ID card lies on the ID card reader, so the
      kiosk knows him at once (no code); pick card X000****8 (卡号, as printed on it). Typed
      instead (SSN 111111198101011110, name 张三), the one-time code
      appears below as [SMS].
    - 补卡 / Replacement: the same identity, after the loss; then "where is it".
      The fee (¥10) is paid by QR code: type p + Enter here to pay it as
      张三's phone would (sscard-central pay last).
    - 密码解锁 / Unlock PIN: the card in the reader, 张三's ID card, the code.
    - A phone instead of a card: on an identify screen type s + Enter here
      to scan 张三's e-voucher QR code (the emulated scanner, $TMP/scanner).
    - 解除挂失 / Cancel a loss: press Enter here to insert 李四's card (PIN 246810).
    - 修改密码 / Change PIN, 查询卡状态 / Card status: any card in the reader.
    reader : Virtual PCD 00 00 (emulated, through a private pcscd)
    PSAM   : Virtual PCD 00 01 (the terminal's security module: terminal
             number 410100813475, opens third-generation cards)
    NFC    : $NFC_READER
             (an emulated PN532 through the real libnfc; 王五's 3.00 card is
             tapped on it when Enter comes to nfc:wangwu-3.00, and read in
             full through the PSAM)
    ID card: $TMP/idreader (an emulated ID card reader, 张三's ID card on it:
             sim/profiles/zhangsan.idcard)
    card   : ${CARDS[$card]} (sim/profiles/${CARDS[$card]}.card)
    socket : $SOCK

  In a second terminal, read the card:

      build/sscardctl read

  More to try there:
      build/sscardctl --reveal read    full number and name (masked by default)
      build/sscardctl idcard           the ID card on the ID card reader
      build/sscardctl -j read          the JSON that counter software gets
      build/sscardctl status           what the daemon is doing
      build/sscardctl events           watch cards come and go
      build/sscardctl list info        the loss list from the emulated central
      build/example-readcard           what counter software gets (iReadCardBas)

  A hospital's counter page reading cards through the HTTP API:
      http://127.0.0.1:8471/readcard.html   (examples/readcard.html)

  Report the card lost, as a kiosk would (queued durably, listed here at once):
      build/sscardctl request loss_report 639900D15600000500BF7C7A48FB4966 loss=temporary
      build/sscardctl read             now "Reported lost on … — settlement refused"
      build/sscardctl outbox           what still waits for the central

  Here: press Enter to pull the card and insert the next one
  (${CARDS[*]}); s + Enter scans 张三's e-voucher code; p + Enter pays the
  fee on screen; Ctrl-C stops everything.

EOF
for _ in $(seq 100); do "$BUILD/sscardctl" -j list info 2>/dev/null | grep -q '"version":1' && break; sleep 0.05; done
echo "demo: the card as sscardctl read shows it:"
"$BUILD/sscardctl" read | sed 's/^/    /' || true
echo "demo: counter software's iReadCardBas (build/example-readcard, through libsscard):"
"$BUILD/example-readcard" 3 | head -1 | sed 's/^/    /' || true
echo "demo: a counter page's GET /api/v1/card (Origin http://127.0.0.1:8471):"
python3 - <<'PY' || true
import json, urllib.request
r = urllib.request.Request("http://127.0.0.1:8470/api/v1/card?type=3", headers={"Origin": "http://127.0.0.1:8471"})
with urllib.request.urlopen(r, timeout=15) as f:
    j = json.load(f)
    print("    code %s, %s, allowed for %s" % (j["code"], j.get("card_id"), f.headers["Access-Control-Allow-Origin"]))
PY
echo "demo: the ID card on the ID card reader (sscardctl idcard):"
for _ in $(seq 100); do "$BUILD/sscardctl" -j status 2>/dev/null | grep -q '"idcard":{[^}]*"ready"' && break; sleep 0.05; done
"$BUILD/sscardctl" idcard | sed 's/^/    /' || true
echo "demo: the loss list:"
"$BUILD/sscardctl" list info | sed 's/^/    /' || true
if [ "${SSCARD_DEMO_ONCE:-}" = 1 ]; then
	echo "demo: a loss report at the kiosk, identified by 张三's ID card (the kiosk's HTTP API):"
	python3 - "$TMP" "$BUILD" "$IDREADER_PID" <<'PY' || true
import json, os, signal, subprocess, sys, time, urllib.request
tmp, build, idreader = sys.argv[1], sys.argv[2], int(sys.argv[3])
B = "http://127.0.0.1:8470"
def call(path, body=None, token=""):
    r = urllib.request.Request(B + path, data=json.dumps(body).encode() if body is not None else None,
                               headers={"Content-Type": "application/json", "X-Session-Token": token, "Origin": B})
    with urllib.request.urlopen(r, timeout=15) as f:
        return json.load(f)
tok = call("/api/v1/session")["token"]
call("/api/v1/flow", {"action": "start", "flow": "loss_report"}, tok)
for _ in range(100):
    v = call("/api/v1/state")["view"]
    if v["step"] not in ("identify", "busy"):
        break
    time.sleep(0.1)
print("    %s: %d card(s) of %s to choose from, no one-time code asked"
      % (v["step"], len(v["data"].get("cards", [])), v["data"].get("name", "?")))
call("/api/v1/flow", {"action": "cancel"}, tok)
print("demo: 张三's ID card taken off the reader; his e-voucher QR code scanned instead, and a replacement's fee paid by QR code:")
os.kill(idreader, signal.SIGUSR1)
time.sleep(0.5)
def until(steps):
    for _ in range(100):
        v = call("/api/v1/state")["view"]
        if v["step"] in steps:
            return v
        time.sleep(0.1)
    return v
def central(*a):
    return subprocess.run([build + "/sscard-central", "-d", tmp + "/central"] + list(a), capture_output=True,
                          text=True).stdout.strip()
tok = call("/api/v1/session")["token"]
call("/api/v1/flow", {"action": "start", "flow": "replacement"}, tok)
call("/api/v1/flow", {"action": "input", "step": "replace_menu", "what": "apply"}, tok)
until(["identify"])
with open(tmp + "/scanner.in", "w") as f:  # the scanner reads what the phone shows
    f.write("code %s\n" % central("ecode-issue", "111111198101011110"))
v = until(["choose_card"])
print("    scanned: %s, %d card(s) to choose from" % (v["step"], len(v["data"].get("cards", []))))
cards = v["data"].get("cards", [])
ix = next((c["index"] for c in cards if c["selectable"]), None)
if ix is not None:
    call("/api/v1/flow", {"action": "input", "step": "choose_card", "index": ix}, tok)
    v = until(["reason", "outlet"])
    if v["step"] == "reason":
        call("/api/v1/flow", {"action": "input", "step": "reason", "reason": "damaged"}, tok)
        until(["outlet"])
    call("/api/v1/flow", {"action": "input", "step": "outlet", "outlet": 0, "delegated": False}, tok)
    until(["confirm"])
    call("/api/v1/flow", {"action": "input", "step": "confirm", "confirm": True}, tok)
    v = until(["pay"])
    print("    %s: ¥%.2f, order %s, a QR code of %d bytes of SVG" % (v["step"], v["data"].get("fee_fen", 0) / 100,
          v["data"].get("order"), len(v["data"].get("qr", ""))))
    print("    the phone pays: %s" % central("pay", "last"))
    v = until(["receipt"])
    print("    %s: %s" % (v["step"], v["data"].get("reference")))
    call("/api/v1/flow", {"action": "done"}, tok)
PY
	card=3 # nfc:wangwu-3.00: the contact card out, 王五's card on the NFC reader
	insert
	echo "demo: a contactless read (王五's 3.00 card on the NFC reader, opened by the PSAM):"
	"$BUILD/sscardctl" read | sed 's/^/    /' || true
	exit 0
fi
while :; do
	if ! read -r line; then
		sleep 3600 & # no terminal: just keep running until Ctrl-C / TERM
		SLEEPER=$!
		wait $SLEEPER || true
		continue
	fi
	if [ "$line" = s ]; then
		scan
		echo "demo: 张三's e-voucher QR code scanned"
		continue
	fi
	if [ "$line" = p ]; then
		echo "demo: 张三's phone pays the newest order: $(C pay last 2>&1)"
		continue
	fi
	card=$(((card + 1) % ${#CARDS[@]}))
	insert
	echo "demo: inserted ${CARDS[$card]}:"
	"$BUILD/sscardctl" read | sed 's/^/    /' || true
done
