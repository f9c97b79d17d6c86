#!/bin/bash -e
# pi-gen, stage-hailong: bake the Hài Lòng kiosk into Raspberry Pi OS Lite.
# Runs on the build host (pi-gen's run_sub_stage, from this folder). image/build-image.sh has
# put the package in files/ (pi-gen's convention); it goes into the image under /var/tmp,
# NOT /tmp: on_chroot mounts a fresh tmpfs on the chroot's /tmp, which would hide it.
deb=$(find files -maxdepth 1 -name 'hailong-kiosk_*.deb' | sort -V | tail -n 1)
if [ -z "$deb" ]; then
    echo "stage-hailong: no files/hailong-kiosk_*.deb: run image/build-image.sh, not pi-gen directly" >&2
    exit 1
fi
install -d "${ROOTFS_DIR}/var/tmp/hailong"
install -m 644 "$deb" "${ROOTFS_DIR}/var/tmp/hailong/hailong-kiosk.deb"

on_chroot <<'CHROOT'
export DEBIAN_FRONTEND=noninteractive
apt-get install -y /var/tmp/hailong/hailong-kiosk.deb
# A second run must change nothing: catches a package that is not idempotent at build time.
apt-get install -y /var/tmp/hailong/hailong-kiosk.deb | tee /var/tmp/hailong/second-run.log
grep -q '0 upgraded, 0 newly installed' /var/tmp/hailong/second-run.log
CHROOT

rm -rf "${ROOTFS_DIR}/var/tmp/hailong"
# An example first-boot file next to where the real one goes (the real one holds a token and
# comes from `district fleet provision`: DIR/<terminal-id>/kiosk.toml).
install -d "${ROOTFS_DIR}/boot/firmware"
install -m 644 files/kiosk.toml.example "${ROOTFS_DIR}/boot/firmware/kiosk.toml.example"
