"""The card that outlives power cuts (issue 14, item 8): hailong-kiosk in a booted Bookworm
root whose root file system is read-only under an overlay in RAM (systemd-nspawn
--volatile=overlay: what Raspberry Pi OS's overlayroot=tmpfs does on the card), with the
card's data partition (a folder bound at /var/lib/hailong) writable. The package binds the
votes, the settings and the journal onto it (kiosk-card); votes are taken, the power is cut
(the nspawn process SIGKILLed: the machine's RAM, overlay included, is gone), and on the next
boot the root is unchanged, file for file, and every acknowledged vote is there.

What this cannot show here: a kill keeps the host's page cache, so the data partition's own
durability is the store's (fsync per vote: tests/powercut drops every unsynced write); and the
card's real partitions (no device-mapper, loop devices not to be relied on in CI) are proven
on the image file itself (image/add-data-partition.sh), not booted."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.machines import REPO, Machine, cached_root, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
TERMINAL = "hbt-thanh-nhan"
DATA = "/var/lib/hailong"
PROTECTED = "--volatile=overlay"  # read-only root, every change in RAM: overlayroot=tmpfs
ON_DATA = {"/var/lib/kiosk": "kiosk", "/etc/kiosk": "etc", "/var/log/journal": "journal"}


def tree_digest(root: Path) -> str:
    """One checksum of a root's every path: names, types, modes, owners, file contents and
    link targets (times left out: reading a file changes none of the rest)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(folder, name)
            info = path.lstat()
            digest.update(f"{path.relative_to(root)}\0{info.st_mode}\0{info.st_uid}\0"
                          f"{info.st_gid}\0".encode(errors="surrogateescape"))
            if stat.S_ISLNK(info.st_mode):
                digest.update(os.readlink(path).encode(errors="surrogateescape"))
            elif stat.S_ISREG(info.st_mode):
                with path.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
    return digest.hexdigest()


def cut_power(m: Machine) -> None:
    """SIGKILL to systemd-nspawn and to its container's PID 1 at once (PID 1 would outlive
    nspawn): the kernel then kills every process of the machine, without a shutdown, and its
    mounts and the overlay's RAM go with its namespaces."""
    leader = m._leader()
    os.kill(leader, signal.SIGKILL)
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(30)
    m.proc = None
    wait_for(lambda: not Path(f"/proc/{leader}").exists(), 60, "the machine's processes to die")


def vote_ids(data: Path) -> set[str]:
    """The votes in the data partition's store, read from the host after the machine stopped."""
    with sqlite3.connect(data / "kiosk/votes.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM votes")}


@pytest.fixture(scope="module")
def card(debs, district_on_host, tmp_path_factory):
    """A Bookworm terminal with hailong-kiosk installed and provisioned, its data partition
    (a host folder) bound at /var/lib/hailong, booted writable once (the first boot)."""
    workdir = tmp_path_factory.mktemp("card")
    machine = Machine("hl-card", workdir, base=cached_root("bookworm"))
    machine.server = district_on_host
    machine.data = workdir / "data"
    machine.data.mkdir()
    machine.bind = f"--bind={machine.data}:{DATA}"
    machine.path(DATA).mkdir(parents=True, exist_ok=True)  # the image's mount point
    deb = machine.copy_in(debs("bookworm")["hailong-kiosk"], "/root/hailong-kiosk.deb")
    try:
        machine.boot(machine.bind)
        machine.run("apt-get", "install", "-y", "--no-install-recommends", deb, timeout=600)
        # As the golden image has it: protect after the first boot (there is no overlay to
        # switch on in a plain Debian root: kiosk-card says so and the first boot goes on).
        machine.write("/etc/default/kiosk-card", "PROTECT_AFTER_FIRST_BOOT=yes\n")
        machine.copy_in(district_on_host.provision() / TERMINAL / "kiosk.toml",
                        "/boot/firmware/kiosk.toml")
        machine.reboot(machine.bind)
        yield machine
    finally:
        machine.close()


def test_the_first_boot_moves_votes_settings_and_journal_to_the_data_partition(card):
    m = card
    assert m.unit_property("kiosk-card.service", "Result") == "success", \
        m.journal("kiosk-card.service")
    assert m.unit_property("kiosk-firstboot.service", "Result") == "success", \
        m.journal("kiosk-firstboot.service")
    for place, name in ON_DATA.items():
        assert m.unit_property(place[1:].replace("/", "-") + ".mount", "ActiveState") == \
            "active", place
        assert (m.data / name).is_dir(), name
    # The token went onto the data partition, not the root; the package's own file with it.
    assert (m.data / "etc/kiosk.toml").read_bytes() == (
        m.server.provision() / TERMINAL / "kiosk.toml").read_bytes()
    assert (m.data / "etc/environment").is_file()
    assert not m.path("/etc/kiosk/kiosk.toml").exists()  # the root's own folder, under the bind
    m.wait_active("kiosk-sync.service")  # a writable root: the guard lets it start
    status = m.run("kiosk-card", "status").stdout
    assert "root: writable" in status
    assert m.run("kiosk-card", "protected", check=False).returncode == 1  # updates install
    for place in ON_DATA:
        assert f"{place}: data" in status, status
    # No overlay to switch on here: the first boot said so and went on.
    assert "no root overlay" in m.journal("kiosk-firstboot.service")
    vote = m.run("kiosk", "vote", "2").stdout.strip().splitlines()[-1]
    assert any((m.data / "kiosk").glob("votes.db*")) and vote


def test_a_power_cut_on_a_protected_card_changes_no_file_of_the_root_and_loses_no_vote(card):
    m = card
    m.shutdown()
    before = tree_digest(m.root)
    kept = vote_ids(m.data)

    m.boot(PROTECTED, m.bind)
    status = m.run("kiosk-card", "status").stdout
    assert "root: protected" in status, status
    m.run("kiosk-card", "protected")  # kiosk update asks it: no install into RAM
    for place in ON_DATA:
        assert f"{place}: data" in status, status
    m.run("runuser", "-u", "kiosk", "--", "/usr/sbin/kiosk-card", "check")
    m.wait_active("kiosk-sync.service")  # its guard (ExecStartPre) lets it start
    acknowledged = [m.run("kiosk", "vote", str(1 + i % 3)).stdout.strip().splitlines()[-1]
                    for i in range(12)]
    # What a technician might leave on the root, and what the system writes there itself.
    m.sh("echo lost >/etc/written-on-a-protected-root && mkdir -p /opt/stray && "
         "echo lost >/opt/stray/file")
    m.run("logger", "-t", "hailong-test", "votes taken before the cut")
    cut_power(m)

    assert not m.path("/etc/written-on-a-protected-root").exists()
    assert tree_digest(m.root) == before, "the root changed"
    m.boot(PROTECTED, m.bind)
    after = m.run("kiosk", "status", "--json").stdout
    assert '"votes_total": ' in after
    assert "votes taken before the cut" in m.run(
        "journalctl", "-t", "hailong-test", "-o", "cat", "--no-pager").stdout  # the journal too
    assert not m.path("/etc/written-on-a-protected-root").exists()
    m.shutdown()
    stored = vote_ids(m.data)
    assert kept <= stored
    assert set(acknowledged) <= stored, set(acknowledged) - stored
    with sqlite3.connect(m.data / "kiosk/votes.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert tree_digest(m.root) == before


def test_a_protected_card_without_its_data_partition_takes_no_vote_into_ram(card):
    m = card
    m.shutdown()
    m.boot(PROTECTED)  # the data partition did not mount (nofail in the image's fstab)
    try:
        status = m.run("kiosk-card", "status").stdout
        assert "data partition: none" in status and "/var/lib/kiosk: ram" in status, status
        refused = m.run("runuser", "-u", "kiosk", "--", "/usr/sbin/kiosk-card", "check",
                        check=False)
        assert refused.returncode == 1 and "votes would be lost" in refused.stderr
        for unit in ("kiosk.service", "kiosk-sync.service"):
            assert "kiosk-card" in m.unit_property(unit, "ExecStartPre"), unit
        protect = m.run("kiosk-card", "protect", check=False)
        assert protect.returncode == 1 and "no data partition" in protect.stderr
    finally:
        m.shutdown()


# -- a release from afar on a protected card ---------------------------------------------------

# Raspberry Pi OS's raspi-config is not in Debian, and no Pi bootloader runs here: this
# stand-in makes its two overlay switches as the real one does, in cmdline.txt on the boot
# partition (a host folder), and the test boots the machine as the Pi's initramfs would:
# with the overlay when cmdline.txt asks for it.
RASPI_CONFIG = r"""#!/bin/sh
set -eu
file=/boot/firmware/cmdline.txt
case "$*" in
  "nonint enable_overlayfs")
    grep -q overlayroot=tmpfs "$file" || sed -i '1s/$/ overlayroot=tmpfs/' "$file" ;;
  "nonint disable_overlayfs") sed -i 's/ *overlayroot=tmpfs//' "$file" ;;
  *) echo "raspi-config (the test's): $*: not here" >&2; exit 1 ;;
esac
"""
CMDLINE = "console=tty1 root=PARTUUID=0b1c2d3e-02 rootfstype=ext4 fsck.repair=yes rootwait"
UPDATE_ENVIRONMENT = ("KIOSK_SYNC__HEARTBEAT_INTERVAL_S=3\nKIOSK_UPDATE__HEALTH_S=90\n"
                      "KIOSK_UPDATE__QUIET_S=2\n")


def asks_protection(m: Machine) -> bool:
    return "overlayroot=tmpfs" in (m.boot_folder / "cmdline.txt").read_text()


def boot_as_the_card_asks(m: Machine) -> None:
    m.boot(*([PROTECTED] if asks_protection(m) else []), m.bind,
           f"--bind={m.boot_folder}:/boot/firmware")


def wait_for_reboot(m: Machine, timeout: float, what: str) -> None:
    """The machine's own reboot ends systemd-nspawn (exit 133); the test boots it again."""
    wait_for(lambda: m.proc.poll() is not None, timeout, what, interval=2)
    assert m.proc.returncode == 133, (m.proc.returncode, m.console.read_text()[-3000:])
    m.proc = None


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, text=True,
                          capture_output=True).stdout.strip()


def test_a_protected_card_takes_a_release_from_afar_and_is_protected_again(card, debs):
    """kiosk-update on a read-only root: the checks, then maintenance and a reboot, the
    install and its trial on the writable root, then protected again and a reboot, with
    the updater's state and note on the data partition across the three boots."""
    m = card
    m.shutdown()
    built = debs("bookworm")
    old, new = deb_version(built["hailong-kiosk"]), deb_version(built["hailong-kiosk-2"])
    m.server.cli("releases", "add", str(built["hailong-kiosk"]), str(built["hailong-kiosk-2"]))
    m.write("/usr/local/sbin/raspi-config", RASPI_CONFIG, 0o755)
    m.boot_folder = m.workdir / "boot"
    m.boot_folder.mkdir(exist_ok=True)
    (m.boot_folder / "cmdline.txt").write_text(f"{CMDLINE} overlayroot=tmpfs\n")
    environment = m.data / "etc/environment"
    environment.write_text(environment.read_text() + UPDATE_ENVIRONMENT)
    boot_as_the_card_asks(m)
    m.run("kiosk-card", "protected")
    assert m.run("dpkg-query", "-W", "-f=${Version}", "hailong-kiosk").stdout == old
    acknowledged = {m.run("kiosk", "vote", "3").stdout.strip().splitlines()[-1]}

    m.server.cli("releases", "rollout", new, "--terminal", TERMINAL)
    target = m.data / "kiosk/release-target.json"
    wait_for(lambda: target.exists() and new in target.read_text(), 120,
             "the heartbeat's answer naming the release")
    m.run("systemctl", "start", "--no-block", "kiosk-update.service")
    wait_for_reboot(m, 900, "the updater to reboot the card into maintenance")
    assert not asks_protection(m)
    note = json.loads((m.data / "update/protect-after").read_text())
    assert note["stage"] == "opened" and note["version"] == new, note

    boot_as_the_card_asks(m)  # writable: the update runs (the timer would start it too)
    assert m.run("kiosk-card", "protected", check=False).returncode == 1
    acknowledged.add(m.run("kiosk", "vote", "1").stdout.strip().splitlines()[-1])
    m.run("systemctl", "start", "--no-block", "kiosk-update.service")
    wait_for_reboot(m, 1800, "the install, its trial and the reboot into protection")
    assert asks_protection(m)
    state = json.loads((m.data / "update/state.json").read_text())
    assert state["phase"] == "idle" and state["outcome"]["outcome"] == "kept", state
    assert state["outcome"]["version"] == new, state
    assert not (m.data / "update/protect-after").exists()

    boot_as_the_card_asks(m)
    m.run("kiosk-card", "protected")
    assert m.run("dpkg-query", "-W", "-f=${Version}\t${db:Status-Abbrev}",
                 "hailong-kiosk").stdout == f"{new}\tii "
    m.wait_active("kiosk-sync.service")
    wait_for(lambda: (json.loads(m.server.cli("releases", "list", "--json"))["terminals"]
                      .get(TERMINAL, {}).get("outcome_version") == new), 120,
             "the server told the release was kept")
    acknowledged.add(m.run("kiosk", "vote", "2").stdout.strip().splitlines()[-1])
    m.shutdown()
    assert acknowledged <= vote_ids(m.data), acknowledged - vote_ids(m.data)


# -- the image's third partition, on the image file (no loop device) -------------------------


def need(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        reason = f"{tool} is missing (apt-get install fdisk e2fsprogs)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def two_partition_image(path: Path) -> None:
    """pi-gen's layout in small: boot (FAT) and root (ext4) partitions, 4 MiB aligned."""
    subprocess.run(["truncate", "-s", "40M", str(path)], check=True)
    subprocess.run([need("sfdisk"), "-q", str(path)], check=True, text=True,
                   input="start=8192, size=16384, type=c\nstart=24576, size=57344, type=83\n")
    subprocess.run([need("mkfs.ext4"), "-q", "-F", "-L", "rootfs", "-E", f"offset={24576 * 512}",
                    str(path), "28M"], check=True)


def partitions(path: Path) -> list[tuple[int, int]]:
    dump = subprocess.run(["sfdisk", "--dump", str(path)], check=True, capture_output=True,
                          text=True).stdout
    found = []
    for line in dump.splitlines():
        if "start=" in line:
            fields = dict(part.split("=") for part in line.split(":", 1)[1].replace(" ", "")
                          .split(","))
            found.append((int(fields["start"]), int(fields["size"])))
    return found


def test_the_image_gets_its_data_partition_last_and_nothing_else_changes(tmp_path):
    image = tmp_path / "hailong.img"
    two_partition_image(image)
    head = image.read_bytes()[512:]  # all but the partition table
    script = REPO / "image/add-data-partition.sh"
    done = subprocess.run([str(script), str(image), "32"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    boot, root, data = partitions(image)
    assert boot == (8192, 16384) and root == (24576, 57344)
    assert data[0] % 8192 == 0 and data[0] >= sum(root) and data[1] == 32 * 2048
    assert image.read_bytes()[512:len(head) + 512] == head  # boot and root untouched
    part = tmp_path / "p3"
    part.write_bytes(image.read_bytes()[data[0] * 512:(data[0] + data[1]) * 512])
    header = subprocess.run(["dumpe2fs", "-h", str(part)], capture_output=True, text=True).stdout
    assert "Filesystem volume name:   hailong-data" in header
    assert "Block size:               4096" in header
    subprocess.run(["e2fsck", "-fn", str(part)], check=True, capture_output=True)
    again = subprocess.run([str(script), str(image)], capture_output=True, text=True)
    assert again.returncode == 1 and "not pi-gen's two" in again.stderr
    assert len(partitions(image)) == 3  # refused: nothing changed
