#!/bin/bash
# A Debian root made with debootstrap, cached: the build root of build-debs.sh and the roots
# the deployment tests boot with systemd-nspawn.
#
#   packaging/make-root.sh --release bookworm|trixie [--arch amd64|arm64] [--include PKG,...]
#
# Prints the path of the cached root. The cache (HAILONG_ROOTS, default /var/tmp/hailong-roots)
# is keyed by release, architecture and package list, so a root is debootstrapped once per
# machine and every caller copies it (cp -a) or lays an overlay on it; nobody changes it.
# A half-made root (debootstrap interrupted) is never used: only a root with .complete is.
set -euo pipefail
RELEASE=
ARCH=$(dpkg --print-architecture)
INCLUDE=
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${HAILONG_ROOTS:-/var/tmp/hailong-roots}
while [ $# -gt 0 ]; do
    case $1 in
        --release) RELEASE=${2:?}; shift 2 ;;
        --arch) ARCH=${2:?}; shift 2 ;;
        --include) INCLUDE=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "make-root.sh: unknown argument '$1'" >&2; exit 1 ;;
    esac
done
case $RELEASE in
    bookworm | trixie) ;;
    *) echo "make-root.sh: --release must be bookworm or trixie" >&2; exit 1 ;;
esac
[ "$(id -u)" = 0 ] || { echo "make-root.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || {
    echo "make-root.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

# The base every root has: systemd as PID 1 for systemd-nspawn -b, and the release's Python.
packages="systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates${INCLUDE:+,$INCLUDE}"
packages=$(tr ',' '\n' <<<"$packages" | sed '/^$/d' | sort -u | paste -sd, -)
key=$(printf '%s %s %s' "$RELEASE" "$ARCH" "$packages" | sha256sum | cut -c1-12)
root=$CACHE/$RELEASE-$ARCH-$key
if [ -e "$root/.complete" ]; then
    printf '%s\n' "$root"
    exit 0
fi
mkdir -p "$CACHE"
# One maker at a time per root (tests and builds may ask in parallel).
exec 9>"$root.lock"
flock 9
if [ ! -e "$root/.complete" ]; then
    rm -rf "$root"
    echo "make-root.sh: debootstrap $RELEASE $ARCH into $root" >&2
    if ! debootstrap --variant=minbase --arch="$ARCH" --include="$packages" \
        "$RELEASE" "$root" "$MIRROR" >"$root.log" 2>&1; then
        echo "make-root.sh: debootstrap failed, see $root.log:" >&2
        tail -n 5 "$root.log" >&2
        exit 1
    fi
    # Clean, small and the same for everyone: no downloaded .debs, no machine id.
    rm -rf "$root"/var/cache/apt/archives/*.deb
    : >"$root/etc/machine-id"
    printf '%s\n' "$packages" >"$root/.packages"
    touch "$root/.complete"
fi
printf '%s\n' "$root"
