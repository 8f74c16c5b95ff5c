#!/usr/bin/env bash
# make demo stops cleanly without a terminal: started as a CI job or nohup
# would start it (no terminal, stdin /dev/null, SIGINT ignored on entry —
# what a background job without job control inherits), then stopped with
# SIGINT or SIGTERM sent to its process group, or SIGTERM to make alone.
# Nothing of it may be left: not the script, not the counter page's
# http.server, not a sleep. Prints ok/not ok per case, then N passed, N failed.
set -u
cd "$(dirname "$0")/../.."
passed=0
failed=0
LOG=build/check/demo-stop
mkdir -p "$LOG"

one() { # one SIGNAL TARGET(group|make)
	local sig=$1 target=$2 log="$LOG/$1-$2.log" sid i left
	# setsid: a session and process group of its own; "&" in this
	# non-interactive script: SIGINT ignored on entry, stdin /dev/null
	setsid make --no-print-directory demo </dev/null >"$log" 2>&1 &
	sid=$!
	for i in $(seq 240); do
		grep -q "sscard demo is running" "$log" && break
		kill -0 "$sid" 2>/dev/null || break
		sleep 0.5
	done
	if ! grep -q "sscard demo is running" "$log"; then
		echo "not ok - make demo, $sig to $target: the demo did not start; got: $(tail -n 5 "$log")"
		failed=$((failed + 1))
		kill -KILL -- -"$sid" 2>/dev/null
		return
	fi
	local before
	before=$(ps -o pid= -s "$sid" | wc -l)
	if [ "$target" = group ]; then kill -"$sig" -- -"$sid"; else kill -"$sig" "$sid"; fi
	# the demo's cleanup gives each of its processes up to 5 s: on a busy
	# machine the whole stop may take a while, but it must end by itself
	for i in $(seq 240); do
		[ -z "$(ps -o pid= -s "$sid")" ] && break
		sleep 0.25
	done
	left=$(ps -o pid=,args= -s "$sid")
	if [ -z "$left" ] && grep -q "demo: stopped." "$log"; then
		echo "ok - make demo without a terminal stops on SIG$sig to its $target ($before processes gone in $((i / 4)) s)"
		passed=$((passed + 1))
	else
		echo "not ok - make demo without a terminal, SIG$sig to its $target: got left behind: ${left:-nothing}; log: $(tail -n 3 "$log")"
		failed=$((failed + 1))
		[ -n "$left" ] && kill -KILL $(ps -o pid= -s "$sid") 2>/dev/null
	fi
	wait "$sid" 2>/dev/null
}

one INT group
one TERM group
one TERM make
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
