#!/usr/bin/env bash
# The integration and e2e suites under load: RUNS fresh clones of this
# repository in a row (default 3), each built and tested while stress-ng
# keeps both cores busy (stress-ng --cpu 2, a Debian package). A test that
# passes only on an idle machine fails here. Bounded: stress-ng stops by
# itself after RUNS x 40 minutes, and is stopped when this script ends.
# Prints one line per run and "N passed, N failed" over all runs.
set -u
RUNS=${1:-3}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v stress-ng >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
sh "$SRC/tools/deps.sh" || exit 1
W=$(mktemp -d /tmp/sscard-load.XXXXXX)
stress-ng --cpu 2 --timeout $((RUNS * 40))m --quiet &
HOG=$!
trap 'kill $HOG 2>/dev/null; wait $HOG 2>/dev/null; rm -rf "$W"' EXIT
total_p=0
total_f=0
for i in $(seq "$RUNS"); do
	t0=$SECONDS
	d=$W/run$i
	git clone -q "$SRC" "$d"
	(cd "$d" && make -s -j2 all >build.log 2>&1) || { echo "not ok - run $i: the build failed"; total_f=$((total_f + 1)); continue; }
	if [ -d "$SRC/tests/e2e/node_modules" ]; then
		cp -a "$SRC/tests/e2e/node_modules" "$d/tests/e2e/"
	else
		(cd "$d/tests/e2e" && npm ci --no-audit --no-fund </dev/null >/dev/null 2>&1)
	fi
	for suite in integration e2e; do
		log=$W/run$i-$suite.log
		python3 "$d/tests/$suite/run.py" --build "$d/build" >"$log" 2>&1
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		p=$(echo "${line:-0 passed, 1 failed}" | awk '{print $1}')
		f=$(echo "${line:-0 passed, 1 failed}" | awk '{print $3}')
		total_p=$((total_p + p))
		total_f=$((total_f + f))
		echo "# run $i $suite: ${line:-no count (runner died)}"
		grep -E '^not ok' -A12 "$log" | head -n 60
		mkdir -p "$SRC/build/under-load"
		cp "$log" "$SRC/build/under-load/"
	done
	echo "# run $i took $((SECONDS - t0)) s with stress-ng --cpu 2 beside it"
done
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
