#!/bin/bash -e
# pi-gen, stage-hailong: the card that outlives power cuts (packaging/kiosk/kiosk-card).
# The image gets a third partition (image/add-data-partition.sh, after pi-gen exports it):
# label hailong-data, mounted here at /var/lib/hailong; hailong-kiosk binds the votes, the
# settings and the journal onto it. nofail: a card whose data partition is gone still boots
# and says so (kiosk-card check refuses to take votes into RAM), instead of an emergency shell.
install -d -m 0755 "${ROOTFS_DIR}/var/lib/hailong"
if ! grep -q '^LABEL=hailong-data' "${ROOTFS_DIR}/etc/fstab"; then
    printf 'LABEL=hailong-data  /var/lib/hailong  ext4  defaults,noatime,nofail,x-systemd.device-timeout=30s  0  2\n' \
        >>"${ROOTFS_DIR}/etc/fstab"
fi
# The first boot, once kiosk.toml is installed, turns the read-only root on (one reboot): the
# first boot itself needs a writable root (Raspberry Pi OS's own first boot, SSH host keys,
# the hostname).
install -d "${ROOTFS_DIR}/etc/default"
printf '# kiosk-card: protect the root after the first boot installed kiosk.toml\nPROTECT_AFTER_FIRST_BOOT=yes\n' \
    >"${ROOTFS_DIR}/etc/default/kiosk-card"

# Raspberry Pi OS's overlay (raspi-config nonint enable_overlayfs) needs the overlayroot
# package; a terminal has no internet at first boot, so it is installed now. Only the
# Raspberry Pi OS archive has it (the tests run this stage on plain Debian, which has not).
on_chroot <<'CHROOT'
if apt-cache show overlayroot >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends overlayroot
else
    echo "stage-hailong: no overlayroot in this archive (not Raspberry Pi OS): the card cannot be protected"
fi
CHROOT
