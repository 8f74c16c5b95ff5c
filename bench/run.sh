#!/usr/bin/env bash
# make bench: card read through sscardd vs a bare SCardTransmit program,
# side by side on the same private pcscd + emulated card. Two card speeds:
# an instant card (worst case for our overhead) and a card that spends the
# wire time of a 9600 bit/s T=0 contact card (what a kiosk really sees).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${SSCARD_IN_NS:-}" != 1 ]; then
	exec env SSCARD_IN_NS=1 unshare --mount --net --pid --fork --mount-proc --kill-child \
		bash "$0" "$BUILD"
fi
TMP=$(mktemp -d)
ip link set lo up
mount -t tmpfs tmpfs /run
mkdir -p /run/pcscd "$TMP/conf"
cp /etc/reader.conf.d/vpcd "$TMP/conf/"
pcscd -f -c "$TMP/conf" >"$TMP/pcscd.log" 2>&1 &
for _ in $(seq 100); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.05; done
printf '[daemon]\nsocket = %s/s.sock\nlog_level = warning\n' "$TMP" >"$TMP/sscard.conf"
"$BUILD/sscardd" -f -c "$TMP/sscard.conf" 2>"$TMP/sscardd.log" &
for _ in $(seq 100); do [ -S "$TMP/s.sock" ] && break; sleep 0.05; done
export SSCARD_SOCKET=$TMP/s.sock
READER="Virtual PCD 00 00"

run() { # run LABEL ROUNDS vcard-args…
	local label=$1 rounds=$2
	shift 2
	"$BUILD/sscard-vcard" -p "$ROOT/sim/profiles/zhangsan-2.00.card" "$@" &
	local v=$!
	for _ in $(seq 100); do
		"$BUILD/sscardctl" readers | grep -q "00 00 *card" && break
		sleep 0.05
	done
	echo "bench/read — $label"
	"$BUILD/bench-read" "$TMP/s.sock" "$READER" "$rounds"
	kill $v
	wait $v 2>/dev/null || true
	sleep 0.6
}
run "instant card (no wire time)" 1000
run "9600 bit/s card (wire time simulated by the emulator)" 40 --baud 9600
