#!/bin/bash
# The golden image's third partition: the card's data partition (ext4, label hailong-data),
# where the votes, the settings and the journal live while the root is read-only
# (packaging/kiosk/kiosk-card). Appended after pi-gen's boot and root partitions, last on the
# card, so that on first boot it grows into the rest of the card (kiosk-card grow).
#
#   image/add-data-partition.sh IMAGE.img [SIZE_MIB]      (default 256: it grows on the card)
#
# Works on the image file itself: sfdisk appends the partition, mkfs.ext4 makes the file
# system at the partition's offset (-E offset). No loop device, no device-mapper, no root
# needed beyond writing the file. The first two partitions are not touched. Needs fdisk
# (sfdisk) and e2fsprogs.
set -euo pipefail
IMAGE=${1:?usage: add-data-partition.sh IMAGE.img [SIZE_MIB]}
SIZE_MIB=${2:-256}
LABEL=hailong-data
SECTOR=512
ALIGN=8192 # 4 MiB, as pi-gen aligns its partitions

die() { echo "add-data-partition.sh: $*" >&2; exit 1; }
[ -f "$IMAGE" ] || die "$IMAGE is not a file"
case $SIZE_MIB in '' | *[!0-9]*) die "SIZE_MIB must be a number of MiB" ;; esac
command -v sfdisk >/dev/null || die "sfdisk is missing (apt-get install fdisk)"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is missing (apt-get install e2fsprogs)"

dump=$(sfdisk --dump "$IMAGE")
count=$(grep -c 'start=' <<<"$dump" || true)
[ "$count" = 2 ] || die "$IMAGE has $count partitions, not pi-gen's two (boot, root): nothing changed"
# The end of the last partition, from "IMG2 : start= 1056768, size= 5373952, type=83".
end=$(grep 'start=' <<<"$dump" | sed -E 's/.*start= *([0-9]+), *size= *([0-9]+).*/\1 \2/' |
    awk '{ e = $1 + $2; if (e > max) max = e } END { print max }')
start=$(((end + ALIGN - 1) / ALIGN * ALIGN))
sectors=$((SIZE_MIB * 1024 * 1024 / SECTOR))
truncate -s ">$(((start + sectors) * SECTOR))" "$IMAGE"
echo "start=$start, size=$sectors, type=83" | sfdisk --quiet --append --no-reread --no-tell-kernel "$IMAGE"
mkfs.ext4 -q -F -b 4096 -L "$LABEL" -E "offset=$((start * SECTOR))" "$IMAGE" "${SIZE_MIB}M"
echo "$IMAGE: partition 3 ($LABEL, ${SIZE_MIB} MiB, from sector $start)"
