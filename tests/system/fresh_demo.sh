#!/usr/bin/env bash
# The README's first command on a machine that has none of our packages: a
# fresh Debian 12 root (mmdebstrap, minbase + make), a clone of this
# repository in it, `SSCARD_DEMO_ONCE=1 make demo` from nothing, as root, in
# a chroot. Passes when make demo installs what it needs, builds and reads
# the demo cards. Uses the Debian archive this machine's apt already uses.
set -eu
cd "$(dirname "$0")/../.."
SRC=$PWD
R=$SRC/build/fresh-root
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
	true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

cleanup() {
	umount -R "$R/dev" "$R/sys" 2>/dev/null || true
	umount "$R/proc" 2>/dev/null || true
	umount "$R" 2>/dev/null || true
	rm -rf "$R"
}
trap cleanup EXIT
cleanup
mkdir -p "$R"
t0=$(date +%s)
mmdebstrap --quiet --variant=minbase --include=make,ca-certificates bookworm "$R" "$MIRROR"
git clone --quiet "$SRC" "$R/root/sscard"
echo "# fresh root made in $(($(date +%s) - t0)) s; the clone is at $(git -C "$R/root/sscard" log --oneline -1)"
mount --bind "$R" "$R" # "/" of the chroot a mount point, as the demo's unshare --mount wants
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
t1=$(date +%s)
out=$(chroot "$R" /bin/bash -c 'cd /root/sscard && SSCARD_DEMO_ONCE=1 make demo </dev/null' 2>&1) || {
	echo "$out" | tail -n 40
	echo "not ok - make demo in a fresh Debian 12 root failed"
	exit 1
}
echo "$out" | grep -E '^deps: installing' | cut -c1-200
echo "# make demo from nothing: $(($(date +%s) - t1)) s"
grep -q "0 639900|111111198101011110|X00000019|" <<<"$out" && grep -q "demo: stopped." <<<"$out" || {
	echo "$out" | tail -n 40
	echo "not ok - make demo ran but did not read the demo card"
	exit 1
}
grep -q "choose_card: [1-9][0-9]* card(s) of 张\* to choose from" <<<"$out" || {
	echo "$out" | tail -n 40
	echo "not ok - make demo ran but its loss report by ID card did not reach the card choice"
	exit 1
}
grep -q "scanned: choose_card" <<<"$out" && grep -q "the phone pays: paid" <<<"$out" || {
	echo "$out" | tail -n 40
	echo "not ok - make demo ran but its scanned e-voucher code or its fee paid by QR code did not work"
	exit 1
}
echo "ok - make demo in a fresh Debian 12 root"
