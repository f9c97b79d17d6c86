#!/bin/bash
# Hài Lòng: install (or update) the rating terminal on Raspberry Pi OS 64-bit Lite (Bookworm
# or Trixie) from its Debian package. A thin wrapper: the package does the work (units, the
# kiosk user, /etc/kiosk, journald and SD-card settings; see packaging/README.md).
#
#   sudo image/install.sh [hailong-kiosk_VERSION_arm64.deb]
#
# Without an argument it takes the newest build/debs/hailong-kiosk_*.deb of this repository
# (make packages). apt installs the package's Debian dependencies; when they are not on the
# terminal yet and there is no network, it says so in one line instead of apt's errors.
# Exit: 0 installed (or already this version); 1 error (the message says what and where).
set -euo pipefail
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
case ${1:-} in
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown argument '$1' (see --help)" ;;
esac
deb=${1:-}
if [ -z "$deb" ]; then
    deb=$(find "$SCRIPT_DIR/../build/debs" -maxdepth 1 -name 'hailong-kiosk_*.deb' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$deb" ] || die "no hailong-kiosk_*.deb given and none in build/debs (build it: make packages, see packaging/README.md)"
fi
[ -f "$deb" ] || die "no such package file: $deb"
[ "$(id -u)" = 0 ] || die "run as root: sudo $0 $deb"
deb=$(cd -- "$(dirname -- "$deb")" && pwd)/$(basename -- "$deb")
if ! log=$(DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" 2>&1); then
    if grep -qE 'Unable to fetch|Temporary failure resolving|Could not resolve|Failed to fetch' <<<"$log"; then
        die "the Debian packages hailong-kiosk needs are not on this terminal and the archive cannot be reached (no network?): connect it once, or use the golden image, which has them all"
    fi
    printf '%s\n' "$log" | tail -n 5 >&2
    die "apt-get install $deb failed (its last lines are above)"
fi
printf '%s\n' "$log" | grep -E '^(Setting up|Unpacking|hailong-kiosk:)' || true
echo "install.sh: installed $(basename -- "$deb"); put the terminal's kiosk.toml on /boot/firmware and reboot"
