#!/bin/bash
# Build the Debian packages hailong-kiosk and hailong-district from this repository.
#
#   packaging/build-debs.sh [--release bookworm|trixie] [--arch amd64|arm64] [--out DIR]
#                           [--package kiosk|district|all] [--build N]
#
# Each package is a virtualenv laid out at its final path (/opt/hailong/venv for the
# terminal, /opt/hailong/district-venv for the server), built INSIDE a debootstrapped root of
# the target release and architecture with that release's python3 (Bookworm 3.11, Trixie 3.13:
# the compiled wheels match the terminal's ABI), then packed with dpkg-deb beside the units,
# sysusers, tmpfiles, journald drop-in and maintainer scripts of packaging/kiosk and
# packaging/district. See packaging/README.md for why.
#
# Version: the project's (setup.py) then -N+RELEASE, N from --build (default 1).
# Reproducible: SOURCE_DATE_EPOCH (given, else the last commit's time); every file gets it, the
# bytecode is made by postinst instead of shipped. Pip's downloads are cached in
# PIP_CACHE_DIR (default /var/cache/hailong-pip), roots in HAILONG_ROOTS (make-root.sh).
# Needs root, debootstrap, systemd-container (systemd-nspawn), dpkg-dev; for arm64 on a PC
# also qemu-user-static and binfmt-support. Output: DIR/hailong-{kiosk,district}_VERSION_ARCH.deb
set -euo pipefail
umask 022
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$SCRIPT_DIR/.." && pwd)
RELEASE=bookworm
ARCH=$(dpkg --print-architecture)
OUT=$SRC/build/debs
PACKAGES=all
BUILD=1
PIP_CACHE=${PIP_CACHE_DIR:-/var/cache/hailong-pip}
die() { printf 'build-debs.sh: error: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
        --release) RELEASE=${2:?}; shift 2 ;;
        --arch) ARCH=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --package) PACKAGES=${2:?}; shift 2 ;;
        --build) BUILD=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case $RELEASE in bookworm | trixie) ;; *) die "--release must be bookworm or trixie" ;; esac
case $ARCH in amd64 | arm64) ;; *) die "--arch must be amd64 or arm64" ;; esac
case $PACKAGES in all) PACKAGES="kiosk district" ;; kiosk | district) ;; *) die "--package must be kiosk, district or all" ;; esac
case $BUILD in '' | *[!0-9]*) die "--build must be a number" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (debootstrap and systemd-nspawn need it)"
for tool in debootstrap systemd-nspawn dpkg-deb; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap systemd-container dpkg-dev)"
done

UPSTREAM=$(sed -n 's/^ *version="\([^"]*\)".*/\1/p' "$SRC/setup.py" | head -n 1)
[ -n "$UPSTREAM" ] || die "no version=\"...\" in setup.py"
VERSION=$UPSTREAM-$BUILD+$RELEASE
# A SOURCE_DATE_EPOCH given by the caller wins (the reproducible-builds convention).
case ${SOURCE_DATE_EPOCH:-} in '' | *[!0-9]*) SOURCE_DATE_EPOCH= ;; esac
if [ -n "$SOURCE_DATE_EPOCH" ]; then
    :
elif SOURCE_DATE_EPOCH=$(git -C "$SRC" log -1 --format=%ct 2>/dev/null) && [ -n "$SOURCE_DATE_EPOCH" ]; then
    :
else
    SOURCE_DATE_EPOCH=$(stat -c %Y "$SRC/setup.py")
    echo "build-debs.sh: not a git checkout: SOURCE_DATE_EPOCH from setup.py's time" >&2
fi
export SOURCE_DATE_EPOCH

# The build root has what the tests' roots have (same cache key): the release's python3 and
# both packages' Debian dependencies.
include=$(for part in kiosk district build; do "$SCRIPT_DIR/depends.sh" "$part" "$RELEASE" "$ARCH" --list; done | paste -sd, -)
BASE=$("$SCRIPT_DIR/make-root.sh" --release "$RELEASE" --arch "$ARCH" --include "$include")

mkdir -p "$OUT" "$PIP_CACHE"
OUT=$(cd -- "$OUT" && pwd)
WORK=$(mktemp -d /var/tmp/hailong-debs.XXXXXX)
MERGED=$WORK/root
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    mountpoint -q "$MERGED" && umount "$MERGED"
    rm -rf -- "$WORK"
}
trap cleanup EXIT

# An overlay on the cached root: the build changes nothing the tests boot.
mkdir -p "$WORK/upper" "$WORK/ovl" "$MERGED"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$WORK/upper,workdir=$WORK/ovl" "$MERGED"

# The source: what git tracks (plus new files not yet ignored), never build/ or *.egg-info.
mkdir -p "$MERGED/build/src"
list_sources() {
    cd "$SRC"
    if ! git ls-files -z --cached --others --exclude-standard 2>/dev/null; then
        find . -path ./build -prune -o -path ./.git -prune -o -type f -print0
    fi
}
# A file deleted in the working tree but still in git's index is skipped, not an error.
list_sources | (cd "$SRC"; xargs -0 -r cp --parents -t "$MERGED/build/src" 2>/dev/null) || true

# The host's way to PyPI goes into the root too: its CA bundle (a proxy's own CA), pip's
# configuration file and the local folders it names, PIP_* variables.
HOST_PIP=()
ca=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
    HOST_PIP+=(--bind-ro="$ca:/run/hailong-host-ca.pem" --setenv=PIP_CERT=/run/hailong-host-ca.pem)
fi
if [ -f /etc/pip.conf ]; then
    HOST_PIP+=(--bind-ro=/etc/pip.conf)
    while read -r dir; do
        if [ -d "$dir" ]; then HOST_PIP+=(--bind-ro="$dir"); fi
    done < <(grep -oE '(file://)?/[^ ]+' /etc/pip.conf | sed 's|^file://||')
fi
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_DEFAULT_TIMEOUT; do
    if [ -n "${!var:-}" ]; then
        HOST_PIP+=(--setenv="$var=${!var}")
        for dir in ${!var}; do [ -d "${dir#file://}" ] && HOST_PIP+=(--bind-ro="${dir#file://}"); done
    fi
done

in_root() {
    systemd-nspawn -q --register=no --keep-unit --as-pid2 -D "$MERGED" -M "hl-build-$$" \
        "${HOST_PIP[@]}" --bind="$PIP_CACHE:/var/cache/hailong-pip" \
        --setenv=SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
        --setenv=PIP_CACHE_DIR=/var/cache/hailong-pip \
        --setenv=PIP_DISABLE_PIP_VERSION_CHECK=1 --setenv=LANG=C.UTF-8 "$@"
}

PY_VERSION=$(in_root /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' | tr -d '\r')
PY_NEXT=$(echo "$PY_VERSION" | awk -F. '{ printf "%d.%d", $1, $2 + 1 }')

# build_venv PATH EXTRAS [--system-site-packages]: the venv at its final path, inside the root.
build_venv() {
    local venv=$1 extras=$2 site=${3:-}
    # shellcheck disable=SC2016  # expanded inside the root
    in_root /bin/sh -euc '
        rm -rf "$1"
        python3 -m venv $3 "$1"
        "$1/bin/pip" install -q --no-compile --use-pep517 "/build/src[$2]"
        "$1/bin/pip" freeze --all >"$1/requirements.lock"
        find "$1" -name __pycache__ -type d -prune -exec rm -rf {} +
    ' sh "$venv" "$extras" "$site"
}

# stage_common PKGDIR NAME VENV: the venv, docs, DEBIAN/ scripts, shared by both packages.
stage_common() {
    local pkg=$1 name=$2 venv=$3
    mkdir -p "$pkg$(dirname "$venv")" "$pkg/DEBIAN" "$pkg/usr/share/doc/$name"
    cp -a "$MERGED$venv" "$pkg$venv"
    mv "$pkg$venv/requirements.lock" "$pkg/usr/share/doc/$name/requirements.lock"
    for script in postinst prerm postrm; do
        install -m 755 "$SCRIPT_DIR/${name#hailong-}/$script" "$pkg/DEBIAN/$script"
    done
    install -D -m 644 "$SCRIPT_DIR/${name#hailong-}/sysusers.conf" "$pkg/usr/lib/sysusers.d/$name.conf"
    install -D -m 644 "$SCRIPT_DIR/${name#hailong-}/tmpfiles.conf" "$pkg/usr/lib/tmpfiles.d/$name.conf"
}

# finish PKGDIR NAME DEPENDS DESCRIPTION [RECOMMENDS [SUGGESTS]]: control file, times, dpkg-deb.
finish() {
    local pkg=$1 name=$2 depends=$3 description=$4 recommends=${5:-} suggests=${6:-} size
    size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
    {
        printf 'Package: %s\nVersion: %s\nArchitecture: %s\n' "$name" "$VERSION" "$ARCH"
        printf 'Maintainer: Hai Long project <hailong@localhost>\nSection: misc\nPriority: optional\n'
        printf 'Installed-Size: %s\n' "$size"
        printf 'Depends: %s, python3 (>= %s), python3 (<< %s)\n' "$depends" "$PY_VERSION" "$PY_NEXT"
        [ -n "$recommends" ] && printf 'Recommends: %s\n' "$recommends"
        [ -n "$suggests" ] && printf 'Suggests: %s\n' "$suggests"
        printf 'Homepage: https://example.invalid/hailong\n'
        printf 'Description: %s\n' "$description"
        printf ' Hai Long: citizen-satisfaction terminals for one-stop government counters,\n'
        printf ' and their district server. Built for Debian/Raspberry Pi OS %s.\n' "$RELEASE"
    } >"$pkg/DEBIAN/control"
    (cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -path './etc/*' -printf '/%P\n' | sed 's|^/\./|/|' | sort) >"$pkg/DEBIAN/conffiles"
    [ -s "$pkg/DEBIAN/conffiles" ] || rm -f "$pkg/DEBIAN/conffiles"
    find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$pkg" "$OUT/${name}_${VERSION}_${ARCH}.deb" >/dev/null
    echo "$OUT/${name}_${VERSION}_${ARCH}.deb"
}

build_kiosk() {
    local pkg=$WORK/pkg-kiosk name=hailong-kiosk
    # --system-site-packages: python3-lgpio (Raspberry Pi OS) and python3-evdev are Debian
    # packages (lgpio talks to the Pi's GPIO chip; evdev has no wheel on PyPI).
    build_venv /opt/hailong/venv ui --system-site-packages
    # The voice prompts, spoken now by espeak-ng (the terminal needs no TTS when it runs);
    # -B: no bytecode left behind (marshal output is not byte-stable; postinst compiles).
    in_root /opt/hailong/venv/bin/python3 -B -m kiosk.voice.build \
        "/opt/hailong/venv/lib/python$PY_VERSION/site-packages/kiosk/voice/prompts" >/dev/null
    stage_common "$pkg" "$name" /opt/hailong/venv
    local units=$pkg/usr/lib/systemd/system doc=$pkg/usr/share/doc/$name
    install -D -m 644 "$SRC/systemd/kiosk.service" "$units/kiosk.service"
    install -D -m 644 "$SRC/systemd/kiosk-sync.service" "$units/kiosk-sync.service"
    install -D -m 644 "$SRC/image/firstboot/kiosk-firstboot.service" "$units/kiosk-firstboot.service"
    # Software updates from the district's signed apt repository (docs/updates.md).
    for unit in kiosk-update.service kiosk-update.timer kiosk-update-repair.service; do
        install -m 644 "$SCRIPT_DIR/kiosk/$unit" "$units/$unit"
    done
    if [ "$RELEASE" != bookworm ]; then
        # RestartSteps=/RestartMaxDelaySec= exist from systemd 254 (Trixie 257, Bookworm 252).
        install -D -m 644 "$SCRIPT_DIR/kiosk/restart-delay.conf" "$units/kiosk.service.d/restart-delay.conf"
    fi
    install -D -m 755 "$SRC/image/firstboot/kiosk-firstboot" "$pkg/usr/sbin/kiosk-firstboot"
    install -D -m 755 "$SCRIPT_DIR/kiosk/kiosk-wrapper.sh" "$pkg/usr/bin/kiosk"
    # The card that outlives power cuts (kiosk-card): the data partition's units, the guard.
    install -D -m 755 "$SCRIPT_DIR/kiosk/kiosk-card" "$pkg/usr/sbin/kiosk-card"
    for unit in kiosk-card.service var-lib-kiosk.mount etc-kiosk.mount var-log-journal.mount; do
        install -m 644 "$SCRIPT_DIR/kiosk/$unit" "$units/$unit"
    done
    install -D -m 644 "$SCRIPT_DIR/kiosk/card.conf" "$units/kiosk.service.d/card.conf"
    install -D -m 644 "$SCRIPT_DIR/kiosk/card.conf" "$units/kiosk-sync.service.d/card.conf"
    install -D -m 644 "$SCRIPT_DIR/kiosk/journald.conf" "$pkg/usr/lib/systemd/journald.conf.d/zz-hailong.conf"
    install -D -m 640 "$SCRIPT_DIR/kiosk/environment" "$pkg/etc/kiosk/environment"
    install -m 644 "$SRC/config/kiosk.example.toml" "$doc/kiosk.example.toml"
    install -m 644 "$SRC/image/files/kiosk.toml.example" "$doc/kiosk.toml.example"
    install -m 644 "$SRC"/docs/technician.md "$SRC"/docs/technician.en.md "$doc/"
    local recommends="fonts-noto-core, console-setup"
    [ "$ARCH" = arm64 ] && recommends="python3-lgpio, $recommends"
    finish "$pkg" "$name" "$("$SCRIPT_DIR/depends.sh" kiosk "$RELEASE" "$ARCH")" \
        "rating terminal (kiosk UI, sync agent, first boot)" "$recommends"
}

build_district() {
    local pkg=$WORK/pkg-district name=hailong-district
    build_venv /opt/hailong/district-venv server
    stage_common "$pkg" "$name" /opt/hailong/district-venv
    local doc=$pkg/usr/share/doc/$name
    local unit
    for unit in district.service district-backup.service district-backup.timer; do
        install -D -m 644 "$SRC/systemd/$unit" "$pkg/usr/lib/systemd/system/$unit"
    done
    mkdir -p "$pkg/usr/bin"
    ln -s /opt/hailong/district-venv/bin/district "$pkg/usr/bin/district"
    for f in "$SRC"/docs/district-server*.md "$SRC/config/fleet.toml"; do
        [ -f "$f" ] && install -m 644 "$f" "$doc/"
    done
    # pg_dump (district backup) only where the database is PostgreSQL.
    finish "$pkg" "$name" "$("$SCRIPT_DIR/depends.sh" district "$RELEASE" "$ARCH")" \
        "district server (API, dashboard, reports) on HTTPS" "" "postgresql-client"
}

for p in $PACKAGES; do
    "build_$p"
done
