#!/bin/bash
# The Debian packages a Hài Lòng package depends on, per release and architecture: one
# place for build-debs.sh (the control file) and for the tests' roots (so that installing the
# .deb needs no download).
#
#   packaging/depends.sh kiosk|district|build bookworm|trixie amd64|arm64 [--control|--list]
#
# --control (default): the Depends: value; --list: every name, comma-separated, alternatives
# resolved for this release (what debootstrap --include takes).
set -euo pipefail
pkg=${1:?kiosk, district or build}
release=${2:?bookworm or trixie}
arch=${3:?amd64 or arm64}
mode=${4:---control}
case $release in
    # Trixie renamed the 64-bit-time libraries (t64); Bookworm has the old names.
    bookworm) mtdev=libmtdev1 ;;
    trixie) mtdev=libmtdev1t64 ;;
    *) echo "depends.sh: unknown release $release" >&2; exit 1 ;;
esac
case $pkg in
    kiosk)
        # The Python the venv was built with (ABI), Kivy's SDL2/GL/input runtime, systemd.
        deps=(systemd libsdl2-2.0-0 libsdl2-image-2.0-0 libsdl2-mixer-2.0-0
            libsdl2-ttf-2.0-0 libgl1-mesa-dri libegl1 libgles2 libgbm1 libdrm2 "$mtdev"
            sqlite3
            # evdev (the USB scanner) has no wheel on PyPI: Debian's build, seen by the venv
            # (--system-site-packages), so pip builds nothing and needs no kernel headers.
            python3-evdev)
        ;;
    build)
        # Not a package: what the build root needs beyond both packages' dependencies
        # (espeak-ng speaks the terminal's voice prompts into the package at build time).
        deps=(espeak-ng)
        ;;
    district)
        # WeasyPrint (the printed reports) lays pages out with Pango, through cffi.
        deps=(systemd ca-certificates sqlite3 libpango-1.0-0 libpangoft2-1.0-0)
        ;;
    *) echo "depends.sh: unknown package $pkg" >&2; exit 1 ;;
esac
: "$arch"
(IFS=,; printf '%s\n' "${deps[*]}") | if [ "$mode" = --control ]; then sed 's/,/, /g'; else cat; fi
