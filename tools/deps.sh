#!/bin/sh
# Install the Debian packages sscard needs to build, test and demo.
# Idempotent: does nothing when everything is there already.
set -e
PKGS="gcc clang make pkg-config libclang-rt-14-dev python3 iproute2 util-linux
      pcscd libpcsclite-dev vsmartcard-vpcd libcmocka-dev libsystemd-dev
      libjansson-dev libinih-dev libsqlite3-dev libsodium-dev systemd
      libcurl4-openssl-dev nginx-light libmicrohttpd-dev openssl libssl-dev mmdebstrap
      chromium fonts-noto-cjk cups-client libnfc-dev libnfc-bin
      systemd-container debhelper lintian fakeroot espeak-ng sox libsox-fmt-base prometheus libcups2-dev cups-daemon libgnutls28-dev
      python3-pytest python3-pytest-xdist python3-pytest-timeout faketime libqrencode-dev zbar-tools python3-fonttools"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node + npm run the browser tests (playwright-core from npm); a machine
# that has them from elsewhere (NodeSource) keeps its own
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing (run: sudo make deps)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
# nginx, prometheus and cups-daemon are for the tests' own instances: the
# packages must not start the machine's services
prc=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	prc=1
fi
apt-get install -y -qq --no-install-recommends $missing </dev/null >/dev/null || rc=$?
[ -n "$prc" ] && rm -f /usr/sbin/policy-rc.d
exit ${rc:-0}
