#!/bin/bash
# Build the Hài Lòng golden image (one image for every terminal) with pi-gen.
#
#   image/build-image.sh [--release bookworm|trixie] [--pi-gen DIR] [--config FILE] [--native]
#
# Needs a Linux PC (Debian or Ubuntu) with git, Python >= 3.11, internet access and either
# Docker (default: pi-gen's build-docker.sh) or, with --native, pi-gen's own dependencies
# (sudo apt-get install coreutils quilt parted qemu-user-static debootstrap zerofree zip
#  dosfstools libarchive-tools libcap2-bin grep rsync xz-utils file git curl bc gpg
#  pigz arch-test) and root. The image lands in PI_GEN_DIR/deploy/.
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
        -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image.sh: unknown argument '$1'" >&2; exit 1 ;;
    esac
done
# pi-gen's 64-bit branch is `arm64`; if pi-gen's README names another branch for your
# release, set PIGEN_BRANCH.
case $RELEASE in
    bookworm) PYVER=3.11; BRANCH=${PIGEN_BRANCH:-arm64} ;;
    trixie) PYVER=3.13; BRANCH=${PIGEN_BRANCH:-arm64} ;;
    *) echo "build-image.sh: --release must be bookworm or trixie" >&2; exit 1 ;;
esac

# 1. pi-gen, the Raspberry Pi OS build tool (the 64-bit branch of the release).
if [ ! -d "$PIGEN/.git" ]; then
    git clone --depth 1 --branch "$BRANCH" "$PIGEN_URL" "$PIGEN"
fi

# 2. The wheelhouse for the terminals' Python.
"$SCRIPT_DIR/build-wheelhouse.sh" --python "$PYVER" --out "$SRC/build/wheelhouse-$RELEASE"

# 3. Our stage and its payload inside the pi-gen folder (build-docker.sh only sees that folder).
stage=$PIGEN/stage-hailong
rm -rf "$stage"
cp -a "$SCRIPT_DIR/pi-gen/stage-hailong" "$stage"
payload=$stage/00-install/files/hailong
mkdir -p "$payload"
cp -a "$SCRIPT_DIR" "$payload/image"
rm -rf "$payload/image/wheelhouse"
cp -a "$SRC/systemd" "$payload/systemd"
mkdir -p "$payload/docs"
cp -a "$SRC"/docs/technician*.md "$payload/docs/"
cp -a "$SRC/build/wheelhouse-$RELEASE" "$payload/wheelhouse"
# Only the kiosk image is exported, not the plain Lite one.
touch "$PIGEN/stage2/SKIP_IMAGES"
sed "s/^RELEASE=.*/RELEASE=$RELEASE/" "$CONFIG" >"$PIGEN/config"

# 4. Build.
cd "$PIGEN"
if [ "$NATIVE" = 1 ]; then
    sudo ./build.sh -c config
else
    ./build-docker.sh -c config
fi
find "$PIGEN/deploy" -maxdepth 1 -name "*hailong*" -newer "$PIGEN/config" -print
