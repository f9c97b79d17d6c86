"""The power-cut filesystem itself: what was fsynced survives a cut, what was not is gone
(writes, growth, truncation alike), programs see their own writes until then, and a torn
cut keeps some pages and not others."""

from __future__ import annotations

import os

import pytest

from tests.helpers.powercut_fs import PAGE, Mount


@pytest.fixture
def mount(tmp_path):
    with Mount(tmp_path / "disk", tmp_path / "mnt") as mounted:
        yield mounted


def write(path, data: bytes, offset: int = 0, *, sync: bool = False) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_synced_data_survives_and_the_rest_is_lost(mount):
    path = mount.path / "f"
    write(path, b"A" * PAGE, sync=True)
    write(path, b"B" * 10, 5)  # unsynced: overwrites part of a synced page
    write(path, b"C" * PAGE, PAGE)  # unsynced: grows the file
    assert path.read_bytes() == b"A" * 5 + b"B" * 10 + b"A" * (PAGE - 15) + b"C" * PAGE
    assert (mount.backing / "f").read_bytes() == b"A" * PAGE  # the disk: synced data only
    mount.cut()
    assert path.read_bytes() == b"A" * PAGE
    assert mount.state()["dropped_bytes"] >= 2 * PAGE


def test_fdatasync_and_truncation(mount):
    path = mount.path / "g"
    write(path, b"x" * (3 * PAGE), sync=True)
    fd = os.open(path, os.O_RDWR)
    os.ftruncate(fd, PAGE + 1)  # unsynced truncation, then growth: the gap reads as zeros
    os.pwrite(fd, b"y", 2 * PAGE)
    assert os.pread(fd, 3 * PAGE, 0) == b"x" * (PAGE + 1) + b"\0" * (PAGE - 1) + b"y"
    os.close(fd)
    mount.cut()
    assert path.read_bytes() == b"x" * (3 * PAGE)  # the truncation was lost too
    fd = os.open(path, os.O_RDWR)
    os.ftruncate(fd, 10)
    os.fdatasync(fd)
    os.close(fd)
    mount.cut()
    assert path.read_bytes() == b"x" * 10


def test_a_torn_cut_keeps_some_pages_only(mount):
    path = mount.path / "h"
    write(path, b"".join(bytes([65 + i % 26]) * PAGE for i in range(64)))
    mount.cut(keep=0.5, seed=3)
    on_disk = path.read_bytes()
    kept = [i for i in range(64) if on_disk[i * PAGE:(i + 1) * PAGE] ==
            bytes([65 + i % 26]) * PAGE]
    assert 0 < len(kept) < 64, "a torn cut keeps some pages and loses others"
