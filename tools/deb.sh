#!/bin/sh
# make deb: the Debian packages (debian/, debhelper) built from a copy of
# this tree (what git tracks, with uncommitted changes), so that the build
# leaves the tree as it was. Output: OUT/*.deb, the .buildinfo and .changes,
# and lintian's report in OUT/lintian.txt.
# SSCARD_DEB_VERSION=V: the same tree as version V (the newest changelog
# entry renumbered), e.g. an "older build" for the upgrade test of make check-system.
set -eu
OUT=${1:-build/deb}
cd "$(dirname "$0")/.."
need=""
for p in debhelper dpkg-dev lintian fakeroot; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
	echo "deb: installing$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need </dev/null >/dev/null
fi
# the build dependencies are the ones make deps installs
sh tools/deps.sh
rm -rf "$OUT"
mkdir -p "$OUT/src/sscard"
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c \
	'[ -e "{}" ] || [ -L "{}" ] && cp -P --parents "{}" "$0"' "$OUT/src/sscard"
if [ -n "${SSCARD_DEB_VERSION:-}" ]; then
	sed -i "1s/(.*)/($SSCARD_DEB_VERSION)/" "$OUT/src/sscard/debian/changelog"
fi
(cd "$OUT/src/sscard" && dpkg-buildpackage -us -uc -b >../build.log 2>&1) || {
	tail -n 40 "$OUT/src/build.log"
	echo "deb: dpkg-buildpackage failed (log: $OUT/src/build.log)" >&2
	exit 1
}
mv "$OUT"/src/*.deb "$OUT"/src/*.buildinfo "$OUT"/src/*.changes "$OUT"/
ls -l "$OUT"/*.deb
lintian --info "$OUT"/*.changes >"$OUT/lintian.txt" 2>&1 || true
echo "lintian: $(grep -c '^E: ' "$OUT/lintian.txt") errors, $(grep -c '^W: ' "$OUT/lintian.txt") warnings ($OUT/lintian.txt)"
grep -E '^[EW]: ' "$OUT/lintian.txt" | sed 's/^/  /' || true
! grep -q '^E: ' "$OUT/lintian.txt"
