#!/usr/bin/env bash
# make check: build with gcc, clang and gcc+ASan/UBSan (warnings are errors),
# run the unit tests (cmocka), the integration tests (pytest, real pcscd) and
# the browser tests (node --test, real Chromium) on the plain and the
# sanitizer builds, check what we ship, fuzz the parsers for a bounded time.
# The suites that mostly wait (on pcscd, readers, timers, a container) run
# side by side; each in namespaces of its own, so they share no port,
# socket or reader. Ends with "N passed, N failed" over every test and stage.
set -u
cd "$(dirname "$0")/.." || exit 1
LOG=build/check
rm -rf "$LOG"
mkdir -p "$LOG"
PY=/usr/bin/python3 # Debian's, with python3-pytest (not a pyenv or venv first in PATH)
passed=0
failed=0
failures=()
stage_times=()
bg_names=()

count_stage() { # count_stage NAME RC SECONDS — a build or tool step is one check
	local name=$1 rc=$2
	stage_times+=("$name ${3}s")
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "not ok - $name (log: $LOG/$name.log)"
		tail -n 30 "$LOG/$name.log"
	fi
}

count_tests() { # count_tests NAME RC SECONDS — a runner whose own counts are added up
	local name=$1 rc=$2 log="$LOG/$1.log" p f line
	stage_times+=("$name ${3}s")
	grep -E '^(ok|not ok) - |^# ' "$log" || true
	# cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s),"
	p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$NF} END {print s+0}')
	f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$(NF-1)} END {print s+0}')
	# our runners: "N passed, N failed"
	if grep -qE '^[0-9]+ passed, [0-9]+ failed' "$log"; then
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		p=$((p + $(awk '{print $1}' <<<"$line")))
		f=$((f + $(awk '{print $3}' <<<"$line")))
	fi
	# pytest: "==== 1 failed, 74 passed, 2 skipped in 130.14s ====" (errors count as failed)
	line=$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' "$log" | tail -1)
	if [ -n "$line" ]; then
		p=$((p + $(grep -oE '[0-9]+ passed' <<<"$line" | awk '{s+=$1} END {print s+0}')))
		f=$((f + $(grep -oE '[0-9]+ (failed|errors?)' <<<"$line" | awk '{s+=$1} END {print s+0}')))
		grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/not ok - /' || true
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

run_logged() { # run_logged NAME COMMAND… → its exit status and seconds in LOG/NAME.{rc,s}
	local name=$1 t0=$SECONDS
	shift
	"$@" >"$LOG/$name.log" 2>&1
	echo $? >"$LOG/$name.rc"
	echo $((SECONDS - t0)) >"$LOG/$name.s"
}

stage() { # stage NAME COMMAND… — now, in the foreground
	echo "== $1"
	run_logged "$@"
	count_stage "$1" "$(cat "$LOG/$1.rc")" "$(cat "$LOG/$1.s")"
}

tests() { # tests NAME COMMAND… — now, in the foreground
	echo "== $1"
	run_logged "$@"
	count_tests "$1" "$(cat "$LOG/$1.rc")" "$(cat "$LOG/$1.s")"
}

beside() { # beside KIND NAME COMMAND… — started now, counted by gather (KIND: stage|tests)
	local kind=$1 name=$2
	shift 2
	echo "== $name (beside the others)"
	run_logged "$name" "$@" &
	bg_names+=("$kind:$name:$!")
}

chain() { # chain KIND:NAME:COMMAND… — one after another, the chain beside the others
	local e kind name cmd pid
	echo "== $(for e in "$@"; do IFS=: read -r kind name cmd <<<"$e"; printf '%s ' "$name"; done)(one after another, beside the others)"
	(
		for e in "$@"; do
			IFS=: read -r kind name cmd <<<"$e"
			# shellcheck disable=SC2086 # the command's words
			run_logged "$name" $cmd
		done
	) &
	pid=$!
	for e in "$@"; do
		IFS=: read -r kind name cmd <<<"$e"
		bg_names+=("$kind:$name:$pid")
	done
}

gather() { # wait for what beside started, and count it in the order it was started
	local e kind name pid
	for e in "${bg_names[@]}"; do
		IFS=: read -r kind name pid <<<"$e"
		wait "$pid" 2>/dev/null # a chain's pid is waited for once
		echo "== $name"
		"count_$kind" "$name" "$(cat "$LOG/$name.rc" 2>/dev/null || echo 1)" "$(cat "$LOG/$name.s" 2>/dev/null || echo 0)"
	done
	bg_names=()
}

# SSCARD_CHECK_SUITES=1 (tests/system/under_load.sh): the gcc and ASan
# builds and the four suites side by side as below, nothing else.
SUITES_ONLY=${SSCARD_CHECK_SUITES:-}
JOBS=$(nproc 2>/dev/null || echo 2)
stage build-gcc make -j"$JOBS" BUILD=build all
[ -z "$SUITES_ONLY" ] && stage build-clang make -j"$JOBS" CC=clang BUILD=build/clang all
stage build-asan-ubsan make -j"$JOBS" SAN=1 BUILD=build/san all
[ -z "$SUITES_ONLY" ] && stage build-fuzz make BUILD=build build/fuzz-parsers build/fuzz-requests build/fuzz-lossfmt build/fuzz-outbox build/fuzz-api build/fuzz-nfcmsg

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ -z "$SUITES_ONLY" ]; then
	for t in build/tests/test-*; do
		[ -x "$t" ] && tests "unit-$(basename "$t")" "$t"
	done
	for t in build/clang/tests/test-*; do
		[ -x "$t" ] && tests "unit-clang-$(basename "$t")" "$t"
	done
	for t in build/san/tests/test-*; do
		[ -x "$t" ] && tests "unit-asan-$(basename "$t")" "$t"
	done
fi
# The kiosk in Debian's Chromium: playwright-core + axe-core from npm
# (pinned by tests/e2e/package-lock.json; no browser download).
e2e_deps() {
	[ -d tests/e2e/node_modules/playwright-core ] && [ -d tests/e2e/node_modules/@axe-core/playwright ] &&
		return 0
	(cd tests/e2e && npm ci --no-audit --no-fund </dev/null)
}
stage e2e-deps e2e_deps
systemd_units() { # install into a scratch prefix, verify, score the hardening
	rm -rf build/stage
	make -s install PREFIX="$PWD/build/stage" || return 1
	local unit=build/stage/lib/systemd/system/sscardd.service
	systemd-analyze verify "$unit" build/stage/lib/systemd/system/sscard-kiosk.service || return 1
	local score
	score=$(systemd-analyze security --offline=true "$unit" | tail -n 1)
	echo "$score"
	echo "# systemd-analyze security: ${score#*: }" >"$LOG/summary.units"
	# exposure is compared on systemd's 0-100 scale: 20 = 2.0
	systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null
}
if [ -z "$SUITES_ONLY" ]; then
	stage systemd-units systemd_units
	[ -f "$LOG/summary.units" ] && cat "$LOG/summary.units" >>"$LOG/summary"
fi

alert_rules() { # the fleet's alert rules: valid, and their unit tests pass
	promtool check rules config/alerts/sscard.rules.yml && promtool test rules tests/alerts/sscard.rules.test.yml
}
[ -z "$SUITES_ONLY" ] && stage alert-rules alert_rules

font_coverage() { # every character the kiosk page can show, in the kiosk package's fonts
	$PY tools/fontcheck.py || return 1
	# and the check sees a character no such font has (a speaker emoji, as the page once had)
	if $PY tools/fontcheck.py --also "再听一遍 🔊" >"$LOG/fontcheck-also.out"; then
		echo "fontcheck passed a character no kiosk font has:"
		cat "$LOG/fontcheck-also.out"
		return 1
	fi
	grep "missing: U+1F50A" "$LOG/fontcheck-also.out"
}
[ -z "$SUITES_ONLY" ] && beside stage font-coverage font_coverage

demo_once() { # make demo's script, reading the demo card once
	local out
	out=$(SSCARD_DEMO_ONCE=1 bash sim/demo.sh build 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	grep -q "张\*" <<<"$out" && grep -q "111111\*\*\*\*\*\*\*\*1110" <<<"$out" &&
		grep -q "NFC pn532_uart:.*(contactless)" <<<"$out" &&
		grep -q "0 639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|张三|00814E43238697159900BF7C7A|2.00|20101001|20201001|410100813475|Virtual PCD 00 00|" <<<"$out" &&
		grep -q "code 0, 639900D15600000500BF7C7A48FB4966, allowed for http://127.0.0.1:8471" <<<"$out" &&
		grep -q "110105D15600000500C0FFEE12345678" <<<"$out" && grep -q "王\*" <<<"$out" &&
		grep -q "110105\*\*\*\*\*\*\*\*0333" <<<"$out" && grep -q "demo: stopped." <<<"$out" &&
		grep -q "scanned: choose_card" <<<"$out" && grep -q "the phone pays: paid" <<<"$out" &&
		grep -q "    receipt: R" <<<"$out"
}

# Side by side from here. The test suites each run in namespaces of their
# own (private loopback, /run, pcscd), two pytest workers per build:
beside tests integration $PY -m pytest -n 2 --build=build -o cache_dir=build/pytest-cache \
	--junitxml="$LOG/integration.junit.xml"
beside tests integration-asan $PY -m pytest -n 2 --build=build/san -o cache_dir=build/san/pytest-cache \
	--junitxml="$LOG/integration-asan.junit.xml"
beside tests e2e python3 tests/e2e/run.py --build build
beside tests e2e-asan python3 tests/e2e/run.py --build build/san
# What uses the machine's own loopback (the interactive demo's ports, the
# container's network) runs one after another, beside the suites:
# - make demo's script once;
# - make demo without a terminal, stopped by SIGINT/SIGTERM: nothing left;
# - what we ship, as shipped: the Debian packages in a Debian 12 container
#   booted with systemd (make check-system; its checks are counted one by one).
[ -z "$SUITES_ONLY" ] && chain stage:demo:demo_once tests:demo-stop:"bash tests/system/demo_stop.sh" \
	tests:check-system:"python3 tests/system/container.py"
# The README's first command on a machine without our packages (mmdebstrap;
# its demo has a network of its own), and the fuzz targets for a bounded time.
[ -z "$SUITES_ONLY" ] && beside stage fresh-root bash tests/system/fresh_demo.sh
[ -z "$SUITES_ONLY" ] && beside stage fuzz-parsers make BUILD=build fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
gather

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
