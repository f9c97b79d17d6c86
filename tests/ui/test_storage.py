"""Storage failing mid-run shows the out-of-order screen without a false thank-you; when it
works again the rating screen is back by itself and no acknowledged vote is lost.

Two real failures, both need root:

- a full card: a 4 MiB tmpfs filled with ``dd``;
- a card the kernel turns read-only while SQLite holds its files open: an ext4 image on a
  loop device with ``errors=remount-ro`` whose journal is aborted through
  ``/sys/fs/ext4/<dev>/trigger_fs_error`` (``mount -o remount,ro`` would be refused with
  EBUSY). Recovery as on a terminal after a card problem: ``umount -l``, ``e2fsck -fy``,
  ``mount`` again; the capture worker's probe reopens the store on the fresh mount.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from kiosk.i18n import translation
from kiosk.ui.words import storage_problem
from tests.helpers import require
from tests.ui.conftest import ui_config

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def _umount_under(folder: Path) -> None:
    """Lazily unmount everything mounted at or below ``folder``, deepest first."""
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == str(folder) or target.startswith(f"{folder}/"):
            mounts.append(target)
    for target in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def _detach_loops(image: Path) -> None:
    found = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True)
    for line in found.stdout.splitlines():
        subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=False,
                       capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    folder = tmp_path / "card"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        _umount_under(folder)


@pytest.fixture
def ext4_card(tmp_path):
    """An ext4 image mounted from a loop device with ``errors=remount-ro``.

    The mount point lies on a small read-only tmpfs (the "card slot"): while the card is
    unmounted, the store cannot be recreated in the empty directory below it, as on a
    terminal whose card is gone."""
    require(os.geteuid() == 0, "loop devices and mounts need root")
    for tool in ("mkfs.ext4", "e2fsck", "losetup", "findmnt"):
        require(shutil.which(tool) is not None, f"{tool} is not installed (Debian: e2fsprogs, "
                "mount, util-linux)")
    slot = tmp_path / "slot"
    slot.mkdir()
    card = slot / "card"
    image = tmp_path / "card.img"
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(slot)],
                       check=True)
        card.mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(slot)], check=True)
        subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(card)],
                       check=True)
        yield card, image
    finally:
        _umount_under(slot)
        _detach_loops(image)


def test_disk_full_and_recovery(run_scenario, tmp_path, small_disk):
    config = ui_config(tmp_path, storage={"path": str(small_disk / "votes.db")},
                       rules={"lockout_s": 1.0}, followup={"enabled": False})
    report = run_scenario("storage", {"config": config, "size": [800, 480],
                                      "mount": str(small_disk), "shots": str(tmp_path)})
    step = report["steps_by_name"]["storage"]
    assert step["first"] and step["second"], "a vote before and after the failure"
    assert step["screen_during"] == "out_of_order"  # no thank-you while storage fails
    assert step["acknowledged"] == [1, 1]  # every thank-you had its row
    levels = [v["level"] for v in step["votes"]]
    assert levels == [3, 3], f"acknowledged votes only, none lost: {step['votes']}"


def test_card_read_only_mid_run_and_recovery(run_scenario, tmp_path, ext4_card):
    card, image = ext4_card
    db = card / "votes.db"
    config = ui_config(tmp_path, storage={"path": str(db)}, rules={"lockout_s": 1.0},
                       followup={"enabled": False})
    report = run_scenario("storage_read_only", {"config": config, "size": [800, 480],
                                                "mount": str(card), "image": str(image),
                                                "shots": str(tmp_path)},
                          timeout=300)
    step = report["steps_by_name"]["storage"]
    assert step["before_fault"] == [True, True]
    assert len(step["acknowledged_before"]) == 2
    options = step["mount_options"].split(",")
    assert "emergency_ro" in options or "ro" in options, options  # the kernel's doing
    # The first press on the broken card: the out-of-order screen (the scenario waited for
    # it, however long it took), never a thank-you.
    # it names the problem in words, not its code (kiosk/ui/words.py)
    said = {storage_problem(translation("kiosk_ui", "vi").gettext, kind)
            for kind in ("read_only", "unavailable")}
    assert step["code"] in said, step["code"]
    assert step["screen_during"] == "out_of_order"
    assert step["old_card_released"], "the worker's probe let go of the broken card"
    assert step["screen_unmounted"] == "out_of_order"  # the empty slot is no storage
    assert step["fsck_rc"] in (0, 1), step["fsck_out"]
    screens = step["screens_during_fault"]
    assert "thanks" not in screens, screens
    assert screens[0] == "out_of_order" and screens[-1] == "rating", screens
    # Recovery returns to the rating screen by itself (a probe every 2 s; the scenario
    # waited for it), and voting works.
    assert step["recovery_screens"] == ["rating"], step["recovery_screens"]
    assert step["after_recovery"] is True
    assert len(step["acknowledged"]) == 3

    # The card as the sync agent will find it: every acknowledged vote, nothing else.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, level FROM votes ORDER BY seq").fetchall()
    finally:
        conn.close()
    assert [vote_id for vote_id, _ in rows] == step["acknowledged"], rows
    assert [level for _, level in rows] == [3, 2, 3], "no vote from a press while failing"
