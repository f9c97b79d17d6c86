#!/bin/bash
# The few functions of pi-gen (github.com/RPi-Distro/pi-gen, scripts/common and build.sh) that
# a custom stage relies on, written to the same contract, because pi-gen is in no package
# registry: on_chroot mounts proc, sys, dev and a FRESH TMPFS ON /tmp, then runs its standard
# input (or arguments) in the chroot; run_sub_stage runs, for each NN of a sub-stage folder,
# NN-packages (apt-get install in the chroot), NN-run.sh (on the host, from the folder) and
# NN-run-chroot.sh (in the chroot); run_stage runs prerun.sh, then every sub-stage in order.
#
#   ROOTFS_DIR=/path/to/root bash pigen-functions.sh STAGE_DIR
set -euo pipefail

on_chroot() {
    local mounted=()
    for fs in proc sys dev dev/pts tmp; do
        mkdir -p "${ROOTFS_DIR}/$fs"
    done
    mount -t proc proc "${ROOTFS_DIR}/proc"; mounted+=(proc)
    mount --bind /sys "${ROOTFS_DIR}/sys"; mounted+=(sys)
    mount --bind /dev "${ROOTFS_DIR}/dev"; mounted+=(dev)
    mount --bind /dev/pts "${ROOTFS_DIR}/dev/pts"; mounted+=(dev/pts)
    # pi-gen (since 2023-03): whatever the stage put in the root's /tmp is hidden from here on.
    mount -t tmpfs tmpfs "${ROOTFS_DIR}/tmp"; mounted+=(tmp)
    local rc=0
    chroot "${ROOTFS_DIR}" /bin/bash -e "$@" || rc=$?
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -l "${ROOTFS_DIR}/${mounted[$i]}"
    done
    return "$rc"
}
export -f on_chroot

run_sub_stage() {
    local i
    pushd "${SUB_STAGE_DIR}" >/dev/null
    for i in 00 01 02 03 04 05 06 07 08 09; do
        if [ -f "${i}-packages" ]; then
            # shellcheck disable=SC2046  # one package name per word, as pi-gen does
            on_chroot -c "DEBIAN_FRONTEND=noninteractive apt-get -o APT::Acquire::Retries=3 install --no-install-recommends -y $(sed 's/#.*//' "${i}-packages" | tr '\n' ' ')"
        fi
        if [ -x "${i}-run.sh" ]; then
            ./"${i}-run.sh"
        fi
        if [ -f "${i}-run-chroot.sh" ]; then
            on_chroot <"${i}-run-chroot.sh"
        fi
    done
    popd >/dev/null
}

run_stage() {
    STAGE_DIR=$(cd -- "$1" && pwd)
    export STAGE_DIR ROOTFS_DIR
    pushd "${STAGE_DIR}" >/dev/null
    if [ -x prerun.sh ]; then
        ./prerun.sh
    fi
    for SUB_STAGE_DIR in "${STAGE_DIR}"/*; do
        if [ -d "${SUB_STAGE_DIR}" ]; then
            export SUB_STAGE_DIR
            run_sub_stage
        fi
    done
    popd >/dev/null
}

copy_previous() {
    echo "copy_previous: the test gives the stage its root (ROOTFS_DIR) ready" >&2
    return 1
}
export -f copy_previous

: "${ROOTFS_DIR:?ROOTFS_DIR must be the root file system the stage works on}"
run_stage "${1:?the stage folder}"
