#!/bin/bash
# Build the Hài Lòng golden image (one image for every terminal) with pi-gen.
#
#   image/build-image.sh [--release bookworm|trixie] [--pi-gen DIR] [--config FILE] [--native]
#
# The image: PI_GEN_DIR/deploy/image_DATE-hailong-RELEASE-hailong.img.xz (IMG_NAME and the
# stage's suffix), e.g. image_2026-12-01-hailong-bookworm-hailong.img.xz.
# Needs a Linux PC (Debian or Ubuntu) with git, root (the package build), internet access and either
# Docker (default: pi-gen's build-docker.sh) or, with --native, pi-gen's own dependencies
# (sudo apt-get install coreutils quilt parted qemu-user-static debootstrap zerofree zip
#  dosfstools libarchive-tools libcap2-bin grep rsync xz-utils file git curl bc gpg
#  pigz arch-test) and root; and fdisk, e2fsprogs, xz-utils for the data partition
# (add-data-partition.sh). The image lands in PI_GEN_DIR/deploy/.
set -euo pipefail
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$SCRIPT_DIR/.." && pwd)
RELEASE=bookworm
PIGEN=$SRC/build/pi-gen
CONFIG=$SCRIPT_DIR/pi-gen/config.example
NATIVE=0
PIGEN_URL=${PIGEN_URL:-https://github.com/RPi-Distro/pi-gen.git}
while [ $# -gt 0 ]; do
    case $1 in
        --release) RELEASE=${2:?}; shift 2 ;;
        --pi-gen) PIGEN=${2:?}; shift 2 ;;
        --config) CONFIG=${2:?}; shift 2 ;;
        --native) NATIVE=1; shift ;;
        -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image.sh: unknown argument '$1'" >&2; exit 1 ;;
    esac
done
# pi-gen's 64-bit branches: `bookworm-arm64` for Bookworm, `arm64` for Trixie (pi-gen's
# README); PIGEN_BRANCH overrides.
case $RELEASE in
    bookworm) BRANCH=${PIGEN_BRANCH:-bookworm-arm64} ;;
    trixie) BRANCH=${PIGEN_BRANCH:-arm64} ;;
    *) echo "build-image.sh: --release must be bookworm or trixie" >&2; exit 1 ;;
esac

# 1. pi-gen, the Raspberry Pi OS build tool (the 64-bit branch of the release).
if [ ! -d "$PIGEN/.git" ]; then
    git clone --depth 1 --branch "$BRANCH" "$PIGEN_URL" "$PIGEN"
fi

# 2. The terminal's package, arm64, built in a root of the release (packaging/build-debs.sh).
"$SRC/packaging/build-debs.sh" --release "$RELEASE" --arch arm64 --package kiosk --out "$SRC/build/debs"
deb=$(find "$SRC/build/debs" -maxdepth 1 -name "hailong-kiosk_*+${RELEASE}_arm64.deb" | sort -V | tail -n 1)

# 3. Our stage inside the pi-gen folder (build-docker.sh only sees that folder), the package
#    in its files/ (pi-gen's convention).
stage=$PIGEN/stage-hailong
rm -rf "$stage"
cp -a "$SCRIPT_DIR/pi-gen/stage-hailong" "$stage"
mkdir -p "$stage/00-install/files"
cp -a "$deb" "$stage/00-install/files/"
cp -a "$SCRIPT_DIR/files/kiosk.toml.example" "$stage/00-install/files/"
# Only the kiosk image is exported, not the plain Lite one.
touch "$PIGEN/stage2/SKIP_IMAGES"
# The image is exported uncompressed: the data partition is added to it below, then xz.
sed -e "s/^RELEASE=.*/RELEASE=$RELEASE/" -e "s/^IMG_NAME=.*/IMG_NAME=hailong-$RELEASE/" \
    -e "/^DEPLOY_COMPRESSION=/d" "$CONFIG" >"$PIGEN/config"
echo "DEPLOY_COMPRESSION=none" >>"$PIGEN/config"

# 4. Build.
cd "$PIGEN"
if [ "$NATIVE" = 1 ]; then
    sudo ./build.sh -c config
else
    ./build-docker.sh -c config
fi

# 5. The card's data partition (votes, settings, journal while the root is read-only), then
#    the compressed image.
find "$PIGEN/deploy" -maxdepth 1 -name "*hailong*.img" -newer "$PIGEN/config" -print0 |
    while IFS= read -r -d '' img; do
        "$SCRIPT_DIR/add-data-partition.sh" "$img"
        xz -T0 -f "$img"
    done
find "$PIGEN/deploy" -maxdepth 1 -name "*hailong*" -newer "$PIGEN/config" -print
