"""The packages are reproducible: built a second time from the same sources and
SOURCE_DATE_EPOCH by the same one command, hailong-kiosk is the same file, byte for byte (the
epoch from the commit, file times clamped, no bytecode shipped, pip's wheels from the same
index). Where it is not, the test names the files inside that differ."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.machines import PACKAGING

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def differing_members(a: Path, b: Path, work: Path) -> list[str]:
    """What differs inside two .debs: control fields and every file (dpkg-deb -R)."""
    for deb, folder in ((a, work / "a"), (b, work / "b")):
        subprocess.run(["dpkg-deb", "-R", str(deb), str(folder)], check=True)
    proc = subprocess.run(["diff", "-rq", "--no-dereference", str(work / "a"), str(work / "b")],
                          capture_output=True, text=True)
    listing = [subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                              check=True).stdout for deb in (a, b)]
    differs = proc.stdout.splitlines()[:20]
    if listing[0] != listing[1] and not differs:
        differs = ["the data archives differ in metadata only (owners, modes or times)"]
    return differs


def test_a_second_build_is_the_same_file(debs, tmp_path):
    first = debs("bookworm")["hailong-kiosk"]
    version = subprocess.run(["dpkg-deb", "-f", str(first), "Version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    build = version.split("-")[-1].split("+")[0]
    out = tmp_path / "again"
    # The first build's epoch (its files' time): a commit made since, while developing, must
    # not count as a difference; on CI the two are the same commit anyway.
    listing = subprocess.run(f"dpkg-deb --fsys-tarfile '{first}' | tar -t --full-time -v "
                             "| head -n 1", shell=True, capture_output=True, text=True,
                             check=True, env={**os.environ, "TZ": "UTC"}).stdout.split()
    epoch = int(dt.datetime.fromisoformat(f"{listing[3]}T{listing[4]}+00:00").timestamp())
    proc = subprocess.run([str(PACKAGING / "build-debs.sh"), "--release", "bookworm",
                           "--arch", "amd64", "--package", "kiosk", "--build", build,
                           "--out", str(out)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    second = out / first.name
    assert second.is_file(), sorted(p.name for p in out.iterdir())
    if sha256(first) != sha256(second):
        pytest.fail("hailong-kiosk is not reproducible; differing: "
                    + "\n".join(differing_members(first, second, tmp_path)))
