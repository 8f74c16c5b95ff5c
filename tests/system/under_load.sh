#!/usr/bin/env bash
# The integration and e2e suites under load: RUNS fresh clones of this
# repository in a row (default 3), each built (gcc and ASan) and its four
# suites run side by side as make check runs them, while stress-ng keeps
# both cores busy (stress-ng --cpu 2, a Debian package). A test that
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
	if [ -d "$SRC/tests/e2e/node_modules" ]; then
		cp -a "$SRC/tests/e2e/node_modules" "$d/tests/e2e/"
	fi
	# the builds and the four suites side by side, exactly as make check runs them
	log=$W/run$i.log
	(cd "$d" && SSCARD_CHECK_SUITES=1 bash tests/check.sh) >"$log" 2>&1
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	p=$(echo "${line:-0 passed, 1 failed}" | awk '{print $1}')
	f=$(echo "${line:-0 passed, 1 failed}" | awk '{print $3}')
	total_p=$((total_p + p))
	total_f=$((total_f + f))
	echo "# run $i: ${line:-no count (check.sh died)}"
	grep -E '^# stage times' "$log"
	grep -E '^not ok' -A12 "$log" | head -n 80
	mkdir -p "$SRC/build/under-load"
	cp "$log" "$SRC/build/under-load/"
	cp -r "$d/build/check" "$SRC/build/under-load/run$i-check" 2>/dev/null
	rm -rf "$d"
	echo "# run $i took $((SECONDS - t0)) s with stress-ng --cpu 2 beside it"
done
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
