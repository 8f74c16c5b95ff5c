#!/usr/bin/env bash
# make check: build with gcc, clang and gcc+ASan/UBSan (warnings are errors),
# run the unit tests (cmocka) and the integration tests (real pcscd) on the
# plain and the sanitizer builds, fuzz the parsers for a bounded time.
# Ends with "N passed, N failed" over every test and stage.
set -u
cd "$(dirname "$0")/.."
LOG=build/check
rm -rf "$LOG"
mkdir -p "$LOG"
passed=0
failed=0
failures=()
stage_times=()

stage() { # stage NAME COMMAND… — a build or tool step that counts as one check
	local name=$1 t0=$SECONDS
	shift
	echo "== $name"
	if "$@" >"$LOG/$name.log" 2>&1; then
		stage_times+=("$name $((SECONDS - t0))s")
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		failures+=("$name")
		stage_times+=("$name $((SECONDS - t0))s")
		echo "not ok - $name (log: $LOG/$name.log)"
		tail -n 30 "$LOG/$name.log"
	fi
}

tests() { # tests NAME COMMAND… — a runner whose own counts are added up
	local name=$1 log p f t0=$SECONDS
	shift
	log="$LOG/$name.log"
	echo "== $name"
	"$@" >"$log" 2>&1
	local rc=$?
	stage_times+=("$name $((SECONDS - t0))s")
	grep -E '^(ok|not ok) - |^# ' "$log" || true
	# cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s),"
	p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$NF} END {print s+0}')
	f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$(NF-1)} END {print s+0}')
	# our runners: "N passed, N failed"
	if grep -qE '^[0-9]+ passed, [0-9]+ failed' "$log"; then
		p=$((p + $(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $1}')))
		f=$((f + $(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $3}')))
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # the runner failed without saying which test: count it
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures+=("$name")
		echo "not ok - $name ($p passed, $f failed; log: $log)"
		tail -n 60 "$log"
	else
		echo "ok - $name ($p passed)"
	fi
}

JOBS=$(nproc 2>/dev/null || echo 2)
stage build-gcc make -j"$JOBS" BUILD=build all
stage build-clang make -j"$JOBS" CC=clang BUILD=build/clang all
stage build-asan-ubsan make -j"$JOBS" SAN=1 BUILD=build/san all
stage build-fuzz make BUILD=build build/fuzz-parsers build/fuzz-requests build/fuzz-lossfmt build/fuzz-outbox build/fuzz-api

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/tests/test-*; do
	[ -x "$t" ] && tests "unit-$(basename "$t")" "$t"
done
for t in build/clang/tests/test-*; do
	[ -x "$t" ] && tests "unit-clang-$(basename "$t")" "$t"
done
for t in build/san/tests/test-*; do
	[ -x "$t" ] && tests "unit-asan-$(basename "$t")" "$t"
done
tests integration python3 tests/integration/run.py --build build
tests integration-asan python3 tests/integration/run.py --build build/san
# The kiosk in Debian's Chromium: playwright-core + axe-core from npm
# (pinned by tests/e2e/package-lock.json; no browser download).
e2e_deps() {
	[ -d tests/e2e/node_modules/playwright-core ] && [ -d tests/e2e/node_modules/@axe-core/playwright ] &&
		return 0
	(cd tests/e2e && npm ci --no-audit --no-fund </dev/null)
}
stage e2e-deps e2e_deps
tests e2e python3 tests/e2e/run.py --build build
tests e2e-asan python3 tests/e2e/run.py --build build/san
systemd_units() { # install into a scratch prefix, verify, score the hardening
	rm -rf build/stage
	make -s install PREFIX="$PWD/build/stage" || return 1
	local unit=build/stage/lib/systemd/system/sscardd.service
	systemd-analyze verify "$unit" build/stage/lib/systemd/system/sscard-kiosk.service || return 1
	local score
	score=$(systemd-analyze security --offline=true "$unit" | tail -n 1)
	echo "$score"
	echo "# systemd-analyze security: ${score#*: }" >>"$LOG/summary"
	# exposure is compared on systemd's 0-100 scale: 20 = 2.0
	systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null
}
stage systemd-units systemd_units

alert_rules() { # the fleet's alert rules: valid, and their unit tests pass
	promtool check rules config/alerts/sscard.rules.yml && promtool test rules tests/alerts/sscard.rules.test.yml
}
stage alert-rules alert_rules

demo_once() { # make demo's script, reading the demo card once
	local out
	out=$(SSCARD_DEMO_ONCE=1 bash sim/demo.sh build 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	grep -q "张\*" <<<"$out" && grep -q "111111\*\*\*\*\*\*\*\*1110" <<<"$out" &&
		grep -q "NFC pn532_uart:.*(contactless)" <<<"$out" &&
		grep -q "0 639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|张三|00814E43238697159900BF7C7A|2.00|20101001|20201001|410100813475|Virtual PCD 00 00|" <<<"$out" &&
		grep -q "code 0, 639900D15600000500BF7C7A48FB4966, allowed for http://127.0.0.1:8471" <<<"$out" &&
		grep -q "110105D15600000500C0FFEE12345678" <<<"$out" && grep -q "王\*" <<<"$out" &&
		grep -q "110105\*\*\*\*\*\*\*\*0333" <<<"$out" && grep -q "demo: stopped." <<<"$out"
}
stage demo demo_once
# make demo without a terminal, stopped by SIGINT/SIGTERM: nothing left
tests demo-stop bash tests/system/demo_stop.sh
# The README's first command on a machine without our packages (mmdebstrap).
stage fresh-root bash tests/system/fresh_demo.sh
# What we ship, as shipped: the Debian packages in a Debian 12 container
# booted with systemd (make check-system; its checks are counted one by one).
tests check-system python3 tests/system/container.py
stage fuzz-parsers make BUILD=build fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}"

echo
[ -f "$LOG/summary" ] && cat "$LOG/summary"
# stage times, the unit suites (one stage per binary and build) as one
unit_s=0
unit_n=0
shown=()
for st in "${stage_times[@]}"; do
	case $st in
	unit-*)
		v=${st##* }
		unit_s=$((unit_s + ${v%s}))
		unit_n=$((unit_n + 1))
		;;
	*) shown+=("$st") ;;
	esac
done
echo "# stage times, ${SECONDS} s in all: unit ($unit_n suites) ${unit_s}s, $(IFS=,; echo "${shown[*]}" | sed 's/,/, /g')"
if [ ${#failures[@]} -ne 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
