#!/bin/bash -e
# pi-gen, stage-hailong: bake the Hài Lòng kiosk into Raspberry Pi OS Lite.
# Runs on the build host (pi-gen's build.sh, from this folder); image/build-image.sh has put
# the payload in files/hailong/: image/, systemd/, docs/ and the aarch64 wheelhouse/.
# The same image/install.sh a technician would run on a Pi runs here inside the chroot, so
# the golden image and a hand-installed terminal are the same.
PAYLOAD=files/hailong
if [ ! -f "${PAYLOAD}/image/install.sh" ] || [ ! -d "${PAYLOAD}/wheelhouse" ]; then
    echo "stage-hailong: ${PAYLOAD} is incomplete: run image/build-image.sh, not pi-gen directly" >&2
    exit 1
fi
rm -rf "${ROOTFS_DIR}/tmp/hailong"
install -d "${ROOTFS_DIR}/tmp/hailong"
cp -a "${PAYLOAD}/." "${ROOTFS_DIR}/tmp/hailong/"

on_chroot <<'CHROOT'
bash /tmp/hailong/image/install.sh --wheelhouse /tmp/hailong/wheelhouse
# A second run must change nothing: catches a non-idempotent installer at build time.
bash /tmp/hailong/image/install.sh --wheelhouse /tmp/hailong/wheelhouse | tee /tmp/hailong/second-run.log
grep -q 'nothing to change' /tmp/hailong/second-run.log
CHROOT

rm -rf "${ROOTFS_DIR}/tmp/hailong"
# An example first-boot file next to where the real one goes (the real one holds a token and
# comes from `district fleet provision`).
install -m 644 "${PAYLOAD}/image/files/kiosk.toml.example" "${ROOTFS_DIR}/boot/firmware/kiosk.toml.example"
