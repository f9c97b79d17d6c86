#!/bin/bash
# Build the wheelhouse the terminals install from (no internet needed at the terminal):
# the hailong wheel of this repository and every dependency, for Raspberry Pi OS 64-bit.
#
#   image/build-wheelhouse.sh [--python 3.11|3.13] [--out DIR]
#
# --python is the terminals' Python: 3.11 on Bookworm (default), 3.13 on Trixie.
# Runs on any Linux PC with Python >= 3.11 and internet access. Pure-Python packages
# published only as source are built into wheels here; everything else is downloaded as
# linux aarch64 wheels. (lgpio is not downloaded: pip evaluates the [pi] marker on this PC;
# the terminals get it from the python3-lgpio Debian package through --system-site-packages.)
set -euo pipefail
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$SCRIPT_DIR/.." && pwd)
PYVER=3.11
OUT=$SCRIPT_DIR/wheelhouse
EXTRAS=pi,ui
while [ $# -gt 0 ]; do
    case $1 in
        --python) PYVER=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --extras) EXTRAS=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-wheelhouse.sh: unknown argument '$1'" >&2; exit 1 ;;
    esac
done
PY=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd -- "$OUT" && pwd)
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# 1. Everything for this PC: the hailong wheel and source-only pure-Python dependencies.
"$PY" -m venv "$work/venv"
"$work/venv/bin/pip" install -q -U pip wheel
"$work/venv/bin/pip" wheel -q --wheel-dir "$work/host" "${SRC}[${EXTRAS}]"
# Keep only the wheels any platform can use (py3-none-any).
find "$work/host" -name '*-none-any.whl' -exec cp -f {} "$OUT/" \;

# 2. The binary ones for the terminals: linux aarch64, CPython $PYVER.
hailong_whl=$(find "$OUT" -maxdepth 1 -name 'hailong-*.whl' | sort | tail -n 1)
[ -n "$hailong_whl" ] || { echo "build-wheelhouse.sh: no hailong wheel was built" >&2; exit 1; }
"$work/venv/bin/pip" download -q --dest "$OUT" --find-links "$OUT" \
    --only-binary=:all: --implementation cp --python-version "$PYVER" \
    --platform manylinux_2_36_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux2014_aarch64 --platform linux_aarch64 \
    "hailong[$EXTRAS] @ file://$hailong_whl"
echo "wheelhouse ready: $OUT ($(find "$OUT" -name '*.whl' | wc -l) wheels, CPython $PYVER aarch64)"
