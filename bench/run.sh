#!/usr/bin/env bash
# make bench — everything measured side by side in one run, inside private
# mount/net/PID namespaces with our own pcscd (the machine's is untouched).
#
#   bench/read   card read through sscardd vs a bare SCardTransmit program
#                on the same pcscd and emulated card: an instant card (worst
#                case for our overhead) and one spending a 9600 bit/s card's
#                wire time (what a kiosk really sees)
#   bench/psam   a 3.00 card read in full through sscardd and the PSAM vs a
#                bare SCardTransmit program sending the same card + PSAM
#                APDUs through the same pcscd (instant, and 9600 bit/s wire
#                time at card and PSAM); then 8 readers sharing the one PSAM
#                against one reader alone, reads per second
#   bench/nfc    contactless read through sscardd's NFC helper vs a bare
#                libnfc program sending the same minimal APDUs to an identical
#                PN532 emulator: an instant link and a 115200 bit/s UART (what
#                a PN532 board on ttyUSB is); then removal-detection latency
#   bench/idle   CPU time of sscardd over IDLE_SECONDS (60) with one reader
#                and no card; target < 0.1 s
#   bench/soak   SOAK_CYCLES (10000) insert/read/remove cycles over 16 readers
#                at once: RSS growth (target < 1 MB), open fds, every read ok;
#                then SAN_SOAK_CYCLES (1600) on the ASan+UBSan build: clean
#
#   bench/lossfmt  the loss list snapshot at 10^7 entries: bytes per entry of
#                the identifiers against their entropy, encode/decode time
#   bench/losslist the terminal's store at LIST_N (10^7) entries against a
#                plain rowid+index SQLite baseline: import, size, 10^4 delta,
#                lookup p50/p99
#   bench/sync   (bench/sync.py) through a real nginx mirror: sscardd taking a
#                LIST_N snapshot (time, RSS) and a 10^4 delta; propagation of
#                a new loss to PROP_DAEMONS (20) instances polling every 30 s
#
#   bench/outbox the integration tests' crash and outage runs at full size:
#                CRASH_N (1000) requests with CRASH_KILLS (>= 200) kill -9s,
#                and the central down for OUTAGE_S (600) seconds
#
#   bench/latency (tests/e2e/latency.bench.mjs) in Chromium over the e2e rig:
#                pcscd reporting a card, and the ID card reader sending an ID
#                card, to the kiosk page showing the next screen, LATENCY_N
#                (100) of each; the daemon's part and the page's side by side;
#                target p99 ≤ 100 ms
#
#   bench/fleet  (bench/fleet.py) FLEET_N (10 000) simulated terminals polling
#                one nginx mirror with conditional GETs of the head every
#                30 s ± 20 % for FLEET_SECONDS (600) while the central
#                publishes every FLEET_PUBLISH_S (60) s: requests/s, the
#                share of 304, bytes per terminal per day, publish → listed
#
# BENCH=read,psam,nfc,idle,soak,lossfmt,losslist,sync,propagation,outbox,latency,fleet picks parts.
set -eu
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${SSCARD_IN_NS:-}" != 1 ]; then
	exec env SSCARD_IN_NS=1 unshare --mount --net --pid --fork --mount-proc --kill-child \
		bash "$0" "$BUILD"
fi
BENCH=${BENCH:-read,psam,nfc,idle,soak,lossfmt,losslist,sync,propagation,outbox,latency,fleet}
IDLE_SECONDS=${IDLE_SECONDS:-60}
SOAK_CYCLES=${SOAK_CYCLES:-10000}
SAN_SOAK_CYCLES=${SAN_SOAK_CYCLES:-1600}
TMP=$(mktemp -d)
ip link set lo up
# vpcd's ports never a client's own (tests/integration/rig.py VPCD_PORTS)
echo 35963-36099 > /proc/sys/net/ipv4/ip_local_reserved_ports
mount -t tmpfs tmpfs /run
mkdir -p /run/pcscd
PROFILE=$ROOT/sim/profiles/zhangsan-2.00.card
PCSCD=
DAEMON=

# start_pcscd SLOTS — each vpcd slot gives two readers; vpcd keeps its state
# in statics, so every slot loads its own copy of the driver.
start_pcscd() {
	local slots=$1 conf=$TMP/conf i port name
	rm -rf "$conf"
	mkdir -p "$conf"
	for ((i = 0; i < slots; i++)); do
		port=$((0x8C7B + 2 * i))
		cp /usr/lib/pcsc/drivers/serial/libifdvpcd.so "$TMP/vpcd$i.so"
		name="Virtual PCD"
		[ "$i" -gt 0 ] && name="Virtual PCD $(printf "\\x$(printf %x $((65 + i - 1)))")"
		printf 'FRIENDLYNAME "%s"\nDEVICENAME /dev/null:0x%04X\nLIBPATH %s\nCHANNELID 0x%04X\n' \
			"$name" "$port" "$TMP/vpcd$i.so" "$port" >"$conf/vpcd$i"
	done
	rm -f /run/pcscd/pcscd.comm
	pcscd -f -c "$conf" >>"$TMP/pcscd.log" 2>&1 &
	PCSCD=$!
	for _ in $(seq 100); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.05; done
}

stop_pcscd() {
	kill "$PCSCD" 2>/dev/null || true
	wait "$PCSCD" 2>/dev/null || true
}

# start_daemon BINARY — sscardd on $TMP/s.sock
start_daemon() {
	printf '[daemon]\nsocket = %s/s.sock\nlog_level = notice\n' "$TMP" >"$TMP/sscard.conf"
	"$1" -f -c "$TMP/sscard.conf" 2>"$TMP/sscardd.log" &
	DAEMON=$!
	for _ in $(seq 100); do [ -S "$TMP/s.sock" ] && break; sleep 0.05; done
}

stop_daemon() {
	kill "$DAEMON" 2>/dev/null || true
	wait "$DAEMON" 2>/dev/null || true
}

export SSCARD_SOCKET=$TMP/s.sock
ctl() { "$BUILD/sscardctl" "$@"; }
cpu_s() { # user+system CPU seconds of a pid
	awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
reads_ok() { ctl -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["reads_ok"])'; }

bench_read() {
	start_pcscd 1
	start_daemon "$BUILD/sscardd"
	local reader="Virtual PCD 00 00"
	run() { # run LABEL ROUNDS vcard-args…
		local label=$1 rounds=$2
		shift 2
		"$BUILD/sscard-vcard" -p "$PROFILE" "$@" &
		local v=$!
		for _ in $(seq 100); do
			ctl readers | grep -q "00 00 *card" && break
			sleep 0.05
		done
		echo "bench/read — $label"
		"$BUILD/bench-read" "$TMP/s.sock" "$reader" "$rounds"
		kill $v
		wait $v 2>/dev/null || true
		sleep 0.6
	}
	run "instant card (no wire time)" 1000
	run "9600 bit/s card (wire time simulated by the emulator)" 40 --baud 9600
	stop_daemon
	stop_pcscd
}

bench_psam() {
	start_pcscd 5 # 10 readers: 8 for cards, one for the PSAM
	local sam="Virtual PCD D 00 01" reader="Virtual PCD 00 00" i v
	printf '[daemon]\nsocket = %s/s.sock\nlog_level = notice\n[readers]\nsam_reader = %s\n' \
		"$TMP" "$sam" >"$TMP/sscard.conf"
	"$BUILD/sscardd" -f -c "$TMP/sscard.conf" 2>"$TMP/sscardd.log" &
	DAEMON=$!
	for _ in $(seq 100); do [ -S "$TMP/s.sock" ] && break; sleep 0.05; done
	local readers=("Virtual PCD 00 00" "Virtual PCD 00 01" "Virtual PCD A 00 00" "Virtual PCD A 00 01"
		"Virtual PCD B 00 00" "Virtual PCD B 00 01" "Virtual PCD C 00 00" "Virtual PCD C 00 01")
	run() { # run MODE CARD LABEL ROUNDS vcard-args… — bench-psam MODE with CARD in the reader
		local mode=$1 card=$2 label=$3 rounds=$4
		shift 4
		"$BUILD/sscard-vcard" -p "$ROOT/sim/profiles/psam-test.psam" -P $((0x8C7B + 9)) "$@" &
		local p=$!
		"$BUILD/sscard-vcard" -p "$card" "$@" &
		local v=$!
		for _ in $(seq 100); do
			ctl readers | grep -q "00 00 *card" && ctl -j status | grep -q '"terminal":"410100813475"' &&
				break
			sleep 0.05
		done
		echo "bench/psam — $label"
		"$BUILD/bench-psam" "$mode" "$TMP/s.sock" "$reader" "$sam" "$rounds"
		kill $v $p
		wait $v $p 2>/dev/null || true
		sleep 0.6
	}
	local wangwu=$ROOT/sim/profiles/wangwu-3.00.card
	run ab "$wangwu" "instant card and PSAM" 500
	run ab "$wangwu" "9600 bit/s card and PSAM (wire time simulated by the emulators)" 30 --baud 9600
	# card-spec §10: a PIN unblock through sscardd and the PSAM against the
	# bare APDUs; Zhang San's card allowing as many unblocks as the run
	# takes (2 x ROUNDS + 6: at most 255)
	{ cat "$ROOT/sim/profiles/zhangsan-2.00.card"; echo; echo "pin_ops_left 255"; } >"$TMP/unblock.card"
	run unblock "$TMP/unblock.card" "PIN unblock, instant card and PSAM" 100
	run unblock "$TMP/unblock.card" "PIN unblock, 9600 bit/s card and PSAM (wire time simulated by the emulators)" 20 --baud 9600
	echo "bench/psam — 8 readers, one PSAM (instant emulators)"
	"$BUILD/sscard-vcard" -p "$ROOT/sim/profiles/psam-test.psam" -P $((0x8C7B + 9)) &
	local pids=($!)
	for i in 0 1 2 3 4 5 6 7; do
		"$BUILD/sscard-vcard" -p "$ROOT/sim/profiles/wangwu-3.00.card" -P $((0x8C7B + i)) &
		pids+=($!)
	done
	for _ in $(seq 200); do
		[ "$(ctl readers | grep -c ' card ')" = 8 ] && ctl -j status | grep -q '"terminal":"410100813475"' &&
			break
		sleep 0.05
	done
	"$BUILD/bench-psam" rate "$TMP/s.sock" "${PSAM_SECONDS:-10}" "$reader"
	"$BUILD/bench-psam" rate "$TMP/s.sock" "${PSAM_SECONDS:-10}" "${readers[@]}"
	kill "${pids[@]}"
	wait "${pids[@]}" 2>/dev/null || true
	stop_daemon
	stop_pcscd
}

bench_nfc() {
	start_pcscd 1
	run() { # run LABEL ROUNDS pn532-args…
		local label=$1 rounds=$2 a b reader
		shift 2
		"$BUILD/sscard-pn532" -p "$PROFILE" --link "$TMP/pn-daemon" "$@" >/dev/null &
		a=$!
		"$BUILD/sscard-pn532" -p "$PROFILE" --link "$TMP/pn-bare" "$@" >/dev/null &
		b=$!
		sleep 0.3
		reader="NFC pn532_uart:$TMP/pn-daemon"
		printf '[daemon]\nsocket = %s/s.sock\nlog_level = notice\n[readers]\nnfc = pn532_uart:%s/pn-daemon\n[ui]\nlisten = off\n' \
			"$TMP" "$TMP" >"$TMP/sscard.conf"
		"$BUILD/sscardd" -f -c "$TMP/sscard.conf" 2>"$TMP/sscardd.log" &
		DAEMON=$!
		for _ in $(seq 100); do
			ctl readers 2>/dev/null | grep -q "pn-daemon *card" && break
			sleep 0.05
		done
		echo "bench/nfc — $label"
		LIBNFC_LOG_LEVEL=0 "$BUILD/bench-nfc" read "$TMP/s.sock" "$reader" "pn532_uart:$TMP/pn-bare" "$rounds"
		[ -n "${REMOVALS:-}" ] && "$BUILD/bench-nfc" removal "$TMP/s.sock" "$reader" "$a" "$REMOVALS"
		stop_daemon
		kill $a $b
		wait $a $b 2>/dev/null || true
	}
	REMOVALS=40 run "instant link (no wire time)" 1000
	REMOVALS= run "115200 bit/s UART (wire time simulated by the emulator)" 100 --baud 115200
	stop_pcscd
}

bench_idle() {
	start_pcscd 1
	start_daemon "$BUILD/sscardd"
	sleep 1 # past start-up
	local c0 c1 p0 p1
	c0=$(cpu_s "$DAEMON")
	p0=$(cpu_s "$PCSCD")
	sleep "$IDLE_SECONDS"
	c1=$(cpu_s "$DAEMON")
	p1=$(cpu_s "$PCSCD")
	echo "bench/idle — ${IDLE_SECONDS} s, two empty readers"
	awk -v a="$c0" -v b="$c1" -v p="$p0" -v q="$p1" -v s="$IDLE_SECONDS" 'BEGIN {
		printf "  sscardd CPU time %.3f s (target < 0.1 s); pcscd itself, polling the same readers: %.3f s\n", b - a, q - p }'
	stop_daemon
	stop_pcscd
}

# soak BINARY CYCLES LABEL
soak() {
	local bin=$1 cycles=$2 label=$3 readers=16 per warm=8 i pids=()
	per=$(((cycles + readers - 1) / readers))
	start_pcscd $((readers / 2))
	start_daemon "$bin"
	for _ in $(seq 100); do
		[ "$(ctl -j readers | grep -o '"name"' | wc -l)" -ge $readers ] && break
		sleep 0.1
	done
	# warm up: every reader's worker, context and session have been used
	for ((i = 0; i < readers; i++)); do
		"$BUILD/sscard-vcard" -p "$PROFILE" -P $((0x8C7B + i)) --cycles $warm --cycle-apdus 15 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	sleep 1
	local r0 f0 c0 n0 t0 r1 f1 c1 n1 t1
	r0=$(rss_kb "$DAEMON") f0=$(fds "$DAEMON") c0=$(cpu_s "$DAEMON") n0=$(reads_ok) t0=$(date +%s)
	pids=()
	for ((i = 0; i < readers; i++)); do
		"$BUILD/sscard-vcard" -p "$PROFILE" -P $((0x8C7B + i)) --cycles $per --cycle-apdus 15 &
		pids+=($!)
	done
	wait "${pids[@]}" || true # a stalled insertion is reported below
	sleep 1.5 # the last removals and session releases
	r1=$(rss_kb "$DAEMON") f1=$(fds "$DAEMON") c1=$(cpu_s "$DAEMON") n1=$(reads_ok) t1=$(date +%s)
	local failed
	failed=$(ctl -j status | python3 -c 'import json,sys; e=json.load(sys.stdin)["errors"]; print(sum(e.values()) if e else 0)')
	stop_daemon
	stop_pcscd
	echo "bench/soak — $label: $((per * readers)) insert/read/remove cycles over $readers readers in $((t1 - t0)) s"
	echo "  reads ok $((n1 - n0)), read errors $failed"
	grep -E "not read|did not answer" "$TMP/sscardd.log" | sed 's/^/    /' | sort | uniq -c | head -5
	if [ "$bin" = "$BUILD/sscardd" ]; then
		echo "  RSS $r0 kB → $r1 kB: growth $((r1 - r0)) kB (target < 1024 kB)"
	else
		echo "  RSS $r0 kB → $r1 kB (ASan's quarantine grows by design; leaks are LeakSanitizer's job)"
	fi
	echo "  open fds $f0 → $f1; CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}') s"
	if grep -qE "Sanitizer|runtime error:" "$TMP/sscardd.log"; then
		echo "  SANITIZER REPORTS:"
		grep -E "ERROR|runtime error:|SUMMARY" "$TMP/sscardd.log" | head -20
	elif [ "$bin" != "$BUILD/sscardd" ]; then
		echo "  ASan + UBSan + LeakSanitizer: no reports"
	fi
}

case ",$BENCH," in *,read,*) bench_read ;; esac
case ",$BENCH," in *,psam,*) bench_psam ;; esac
case ",$BENCH," in *,nfc,*) bench_nfc ;; esac
case ",$BENCH," in *,idle,*) bench_idle ;; esac
case ",$BENCH," in *,soak,*)
	soak "$BUILD/sscardd" "$SOAK_CYCLES" "gcc -O2 build"
	if [ -x "$BUILD/san/sscardd" ]; then
		soak "$BUILD/san/sscardd" "$SAN_SOAK_CYCLES" "ASan+UBSan build"
	else
		echo "bench/soak — ASan+UBSan build: not built (make SAN=1 BUILD=$BUILD/san)"
	fi
	;;
esac
case ",$BENCH," in *,lossfmt,*)
	"$BUILD/bench-lossfmt" 10000000 16
	"$BUILD/bench-lossfmt" 10000000 1
	;;
esac
case ",$BENCH," in *,losslist,*)
	"$BUILD/bench-losslist" "$TMP" "${LIST_N:-10000000}"
	;;
esac
case ",$BENCH," in *,sync,*) python3 "$ROOT/bench/sync.py" "$BUILD" "$TMP" scale ;; esac
case ",$BENCH," in *,propagation,*) python3 "$ROOT/bench/sync.py" "$BUILD" "$TMP" propagation ;; esac
case ",$BENCH," in *,outbox,*)
	echo "bench/outbox — kill -9 while requests are submitted; the central down for ${OUTAGE_S:-600} s"
	umount /run 2>/dev/null || true # run.py makes its own namespaces and /run
	SSCARD_CRASH_N=${CRASH_N:-1000} SSCARD_CRASH_KILLS=${CRASH_KILLS:-200} \
		SSCARD_OUTAGE_S=${OUTAGE_S:-600} python3 "$ROOT/tests/integration/run.py" \
		--build "$BUILD" --only outbox_ 2>&1 | grep -E "^ok|^not ok|^# outbox|passed"
	;;
esac
case ",$BENCH," in *,fleet,*)
	python3 "$ROOT/bench/fleet.py" "$BUILD" "$TMP"
	;;
esac
case ",$BENCH," in *,latency,*)
	# its own namespaces, pcscd, central, ID card reader and Chromium (tests/e2e/run.py)
	umount /run 2>/dev/null || true
	env -u SSCARD_IN_NS LATENCY_N="${LATENCY_N:-100}" python3 "$ROOT/tests/e2e/run.py" --build "$BUILD" --bench
	;;
esac
rm -rf "$TMP"
