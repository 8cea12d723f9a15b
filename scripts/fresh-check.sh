#!/usr/bin/env bash
# Runs `make test` the way a new user would: in a throw-away Debian root made
# by debootstrap from this machine's apt sources, on a clean clone of HEAD,
# as root in a chroot. Nothing of this machine leaks in but Go itself (the
# README asks for Go on the machine) and the network.
#
# Usage: scripts/fresh-check.sh [--keep]   (as root; --keep leaves the root)
# Not part of CI: it downloads every Debian package and Go module afresh.
set -euo pipefail

keep=0
[[ ${1:-} == --keep ]] && keep=1
repo="$(cd "$(dirname "$0")/.." && pwd)"
say() { echo "fresh-check: $*" >&2; }

[[ $(id -u) -eq 0 ]] || { say "needs root (debootstrap, mount, chroot)"; exit 1; }
"$repo/scripts/deps.sh" fresh
goroot="$(go env GOROOT 2>/dev/null || /usr/local/go/bin/go env GOROOT)"
[[ -x $goroot/bin/go ]] || { say "Go not found (the README asks for Go 1.26 on the machine)"; exit 1; }

. /etc/os-release
suite="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
# The first Debian archive the apt sources name (deb822 or one-line form).
mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)"
[[ -n $mirror ]] || mirror="$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d /var/tmp/tether-fresh.XXXXXX)"
chmod 755 "$root" # its / : the postgres user must reach its files
mounts=()
cleanup() {
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
	if ((keep)); then say "root kept at $root"; else rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
mnt() { mount "$@"; mounts+=("${@: -1}"); }

start=$(date +%s)
say "debootstrap $suite from $mirror into $root"
# git and make are what the README's first line needs: clone, then make.
debootstrap --variant=minbase --include=ca-certificates,git,make "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
	{ tail -n 30 "$root.debootstrap.log" >&2; exit 1; }
rm -f "$root.debootstrap.log"
say "root made in $(($(date +%s) - start)) s"
# Its / a mount point of its own, as on a real machine: ip netns (the
# network lab's tests) makes / a slave mount, which needs one. Private, so
# what the tests mount under it stays out of this machine's mounts.
mnt --bind "$root" "$root"
mount --make-private "$root"

# The same apt sources as this machine (security updates included), and
# the same trusted certificates (a proxy on the way may sign with its own).
rm -f "$root/etc/apt/sources.list"
cp -a /etc/apt/sources.list.d/. "$root/etc/apt/sources.list.d/" 2>/dev/null || true
[[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$root/etc/apt/sources.list"
find "$root/etc/apt/sources.list.d" -name '*.disabled*' -delete
cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$root" update-ca-certificates >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Packages do not start their services inside the chroot: they would run on
# this machine's network (PostgreSQL on 5432, coturn on 3478).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"

git clone --quiet --no-local "$repo" "$root/src/tether"
say "clean clone of $(git -C "$repo" rev-parse --short HEAD)"

mkdir -p "$root/usr/local/go"
mnt --bind "$goroot" "$root/usr/local/go"
mount -o remount,bind,ro "$root/usr/local/go"
mnt -t proc proc "$root/proc"
mnt -t sysfs sys "$root/sys"
mnt --bind /dev "$root/dev"
# Private, so what is mounted under it stays out of this machine's /dev.
mount --make-private "$root/dev"
mnt -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666
mnt -t tmpfs -o mode=1777 shm "$root/dev/shm"

say "make test in the chroot"
t0=$(date +%s)
set +e
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
	PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	GOPROXY="$(go env GOPROXY)" GOSUMDB="$(go env GOSUMDB)" GOFLAGS="$(go env GOFLAGS)" \
	/bin/bash -c 'cd /src/tether && make test' 2>&1 | tee "/var/tmp/tether-fresh-check.log"
rc=${PIPESTATUS[0]}
set -e
say "make test exited $rc after $(($(date +%s) - t0)) s ($(($(date +%s) - start)) s in all); log in /var/tmp/tether-fresh-check.log"
exit "$rc"
