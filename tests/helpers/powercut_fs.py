"""A filesystem that loses what was not fsynced when the power is cut, for the power-cut tests.

Passthrough to a backing folder (the "disk"), on FUSE through ``mfusepy`` and Debian's
libfuse3. What a program writes stays in this process's memory (the "page cache") until it
calls ``fsync``/``fdatasync`` on that file; only then does it reach the backing file, which
stands for the disk (it is never fsynced itself: the machine under it keeps its power, and
the tests stay fast). Reads see the latest writes, as a real page cache would. A **cut** throws
the unsynced data away (all of it, or, for torn writes, all but a random subset of pages),
so the backing folder is exactly what a disk would hold after the power came back.

Names (create, rename, unlink, mkdir) go straight to the backing folder, as on a
journalling filesystem that commits metadata at once; which directories were fsynced, and
when, is in the operation log, so a test can check that a program makes its new names
durable (``kiosk export``: rename, then fsync of the folder).

The mount is controlled through a file at its root that no listing shows,
``/.powercut``: writing ``cut``, ``cut keep=0.3 seed=7`` or ``log-clear`` does that before
the write returns; reading it gives the state as JSON (cuts, fsyncs, dropped bytes, the
operation log). A cut is only meaningful with every writer already dead (a power cut
stops them too): the kernel's cached pages are dropped when a file is next opened, since
the mount never lets the kernel keep them (no ``kernel_cache``) and attributes are not
cached (``attr_timeout=0``).

    python -m tests.helpers.powercut_fs BACKING MOUNTPOINT      # until unmounted
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 4096
CONTROL = "/.powercut"
LOG_LIMIT = 10_000  # operations kept in the log (renames, fsyncs of folders, cuts)


@dataclass
class Unsynced:
    """One file's writes since its last fsync: its size as programs see it, how much of the
    backing file still counts (a truncation cuts it), and the pages written."""

    size: int
    base_limit: int
    pages: dict[int, bytearray] = field(default_factory=dict)


class PowerCutFS:
    """The FUSE operations (mfusepy's path-based API). One lock: every operation sees a
    consistent state and a cut never interleaves with a write."""

    use_ns = True

    def __init__(self, backing: str):
        self.backing = os.path.realpath(backing)
        self._mutex = threading.RLock()
        self.unsynced: dict[str, Unsynced] = {}
        self.stats = {"cuts": 0, "fsyncs": 0, "fsyncdirs": 0, "dropped_bytes": 0,
                      "kept_pages": 0}
        self.oplog: list[list] = []
        self.control_reply = b""

    # -- helpers ------------------------------------------------------------------------

    def _real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _log(self, *entry: object) -> None:
        if len(self.oplog) < LOG_LIMIT:
            self.oplog.append(list(entry))

    def _base_page(self, fd: int, state: Unsynced, index: int) -> bytearray:
        """A page as the backing file has it, cut at what still counts, padded with zeros."""
        start = index * PAGE
        valid = max(0, min(PAGE, state.base_limit - start))
        data = os.pread(fd, valid, start) if valid else b""
        return bytearray(data.ljust(PAGE, b"\0"))

    def _state(self, path: str, fd: int) -> Unsynced:
        state = self.unsynced.get(path)
        if state is None:
            size = os.fstat(fd).st_size
            state = self.unsynced[path] = Unsynced(size=size, base_limit=size)
        return state

    # -- the power cut ------------------------------------------------------------------

    def cut(self, keep: float = 0.0, seed: int = 0) -> None:
        """Drop unsynced data; with ``keep`` > 0 a random share of the pages reaches the disk
        anyway (the kernel writes back pages in any order, so a cut tears writes)."""
        rng = random.Random(seed)
        for path, state in self.unsynced.items():
            kept = [i for i in sorted(state.pages) if keep and rng.random() < keep]
            dropped = len(state.pages) - len(kept)
            self.stats["dropped_bytes"] += dropped * PAGE
            if kept:
                self.stats["kept_pages"] += len(kept)
                with contextlib.suppress(FileNotFoundError):
                    fd = os.open(self._real(path), os.O_WRONLY)
                    try:
                        for index in kept:
                            end = min(PAGE, state.size - index * PAGE)
                            if end > 0:
                                os.pwrite(fd, bytes(state.pages[index][:end]), index * PAGE)
                    finally:
                        os.close(fd)
        self.unsynced.clear()
        self.stats["cuts"] += 1
        self._log("cut", keep, seed)

    def _control(self, text: str) -> None:
        words = text.split()
        if not words:
            return
        if words[0] == "cut":
            options = dict(word.split("=", 1) for word in words[1:])
            self.cut(float(options.get("keep", 0)), int(options.get("seed", 0)))
        elif words[0] == "log-clear":
            self.oplog.clear()
        else:
            raise OSError(errno.EINVAL, "unknown command")

    def _control_state(self) -> bytes:
        unsynced = sum(len(s.pages) for s in self.unsynced.values()) * PAGE
        return json.dumps({**self.stats, "unsynced_bytes": unsynced,
                           "log": self.oplog}).encode()

    # -- FUSE operations ----------------------------------------------------------------

    def getattr(self, path, fh=None):
        with self._mutex:
            if path is None:  # an open file already unlinked
                st = os.fstat(fh)
                return {key: getattr(st, key) for key in ("st_mode", "st_nlink", "st_size")}
            if path == CONTROL:
                return {"st_mode": 0o100600, "st_nlink": 1, "st_size": 1 << 20,
                        "st_uid": os.getuid(), "st_gid": os.getgid()}
            st = os.lstat(self._real(path))
            attrs = {key: getattr(st, key) for key in (
                "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino")}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = getattr(st, key + "_ns")
            state = self.unsynced.get(path)
            if state is not None:
                attrs["st_size"] = state.size
            return attrs

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._real(path))]

    def access(self, path, amode):
        if path != CONTROL and not os.access(self._real(path), amode):
            raise OSError(errno.EACCES, "")
        return 0

    def statfs(self, path):
        st = os.statvfs(self.backing)
        return {key: getattr(st, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax")}

    def open(self, path, flags):
        if path == CONTROL:
            self.control_reply = self._control_state()
            return 0
        # O_TRUNC is a write like any other (lost if not fsynced); O_APPEND would make
        # pwrite ignore the offsets the kernel gives.
        # A write-only file is opened read-write too: partly written pages are read first.
        flags &= ~(os.O_APPEND | os.O_CREAT)
        if flags & os.O_ACCMODE:
            flags = (flags & ~(os.O_ACCMODE | os.O_TRUNC)) | os.O_RDWR
        fd = os.open(self._real(path), flags)
        if flags & os.O_TRUNC:
            self.truncate(path, 0, fd)
        return fd

    def create(self, path, mode, flags=0):
        with self._mutex:
            fd = os.open(self._real(path), os.O_RDWR | os.O_CREAT, mode)
            self._log("create", path)
            if flags & os.O_TRUNC and os.fstat(fd).st_size:  # (raced with another creator)
                self.truncate(path, 0, fd)
            return fd

    def read(self, path, size, offset, fh):
        with self._mutex:
            if path == CONTROL:
                return self.control_reply[offset:offset + size]
            state = self.unsynced.get(path) if path is not None else None
            if state is None:
                return os.pread(fh, size, offset)
            end = min(offset + size, state.size)
            if offset >= end:
                return b""
            out = bytearray()
            for index in range(offset // PAGE, (end - 1) // PAGE + 1):
                page = state.pages.get(index)
                if page is None:
                    page = self._base_page(fh, state, index)
                out += page
            start = offset - (offset // PAGE) * PAGE
            return bytes(out[start:start + end - offset])

    def write(self, path, data, offset, fh):
        with self._mutex:
            if path == CONTROL:
                self._control(data.decode())
                return len(data)
            if path is None:  # an unlinked file: nobody can find it after a cut anyway
                return os.pwrite(fh, data, offset)
            state = self._state(path, fh)
            pos = 0
            while pos < len(data):
                index, within = divmod(offset + pos, PAGE)
                page = state.pages.get(index)
                if page is None:
                    page = state.pages[index] = self._base_page(fh, state, index)
                piece = data[pos:pos + PAGE - within]
                page[within:within + len(piece)] = piece
                pos += len(piece)
            state.size = max(state.size, offset + len(data))
            return len(data)

    def truncate(self, path, length, fh=None):
        with self._mutex:
            if path == CONTROL:
                return 0
            if path is None:
                os.ftruncate(fh, length)
                return 0
            fd = fh if fh is not None else os.open(self._real(path), os.O_RDWR)
            try:
                state = self._state(path, fd)
            finally:
                if fh is None:
                    os.close(fd)
            state.size = length
            state.base_limit = min(state.base_limit, length)
            for index in [i for i in state.pages if i * PAGE >= length]:
                del state.pages[index]
            last = state.pages.get(length // PAGE)
            if last is not None:
                last[length % PAGE:] = bytes(PAGE - length % PAGE)
            return 0

    def fsync(self, path, datasync, fh):
        with self._mutex:
            self.stats["fsyncs"] += 1
            if path is None:
                return 0
            state = self.unsynced.pop(path, None)
            fd = os.open(self._real(path), os.O_WRONLY)  # fh may be read-only
            try:
                if state is not None:
                    os.ftruncate(fd, state.base_limit)
                    os.ftruncate(fd, state.size)
                    for index, page in sorted(state.pages.items()):
                        end = min(PAGE, state.size - index * PAGE)
                        if end > 0:
                            os.pwrite(fd, bytes(page[:end]), index * PAGE)
            finally:
                os.close(fd)
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self._mutex:
            self.stats["fsyncdirs"] += 1
            self._log("fsyncdir", path)
            return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        if path != CONTROL:
            os.close(fh)  # the unsynced data stays: closing a file does not sync it
        return 0

    def unlink(self, path):
        with self._mutex:
            os.unlink(self._real(path))
            self.unsynced.pop(path, None)
            self._log("unlink", path)
            return 0

    def rename(self, old, new):
        with self._mutex:
            os.rename(self._real(old), self._real(new))
            self.unsynced.pop(new, None)
            if old in self.unsynced:
                self.unsynced[new] = self.unsynced.pop(old)
            self._log("rename", old, new)
            return 0

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)
        self._log("mkdir", path)
        return 0

    def rmdir(self, path):
        os.rmdir(self._real(path))
        return 0

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path, uid, gid):
        os.chown(self._real(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        os.utime(self._real(path), ns=times)
        return 0


def serve(backing: str, mountpoint: str) -> None:
    """Mount and serve until unmounted (foreground, several threads)."""
    from mfusepy import FUSE

    FUSE(PowerCutFS(backing), mountpoint, foreground=True, nothreads=False,
         attr_timeout=0, entry_timeout=0, negative_timeout=0, hard_remove=True,
         default_permissions=True)


class Mount:
    """A mounted power-cut filesystem, served by a child process (``python -m`` this module)."""

    def __init__(self, backing: Path, mountpoint: Path, log: Path | None = None):
        self.backing, self.path = Path(backing), Path(mountpoint)
        self.log = Path(log) if log else self.backing.with_name(self.backing.name + ".log")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Mount:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:  # (a pipe nobody reads would stall the server)
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.powercut_fs",
                                          str(self.backing), str(self.path)],
                                         cwd=Path(__file__).resolve().parents[2],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 30  # a hang guard only
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError("the power-cut filesystem did not mount: "
                                   + self.log.read_text(errors="replace"))
            if time.monotonic() > deadline:
                raise RuntimeError("the power-cut filesystem did not mount within 30 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["fusermount3", "-u", "-z", str(self.path)], check=False,
                       capture_output=True)
        if self.proc:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def command(self, text: str) -> None:
        with open(self.path / CONTROL.lstrip("/"), "w") as control:
            control.write(text)

    def cut(self, keep: float = 0.0, seed: int = 0) -> None:
        """The power cut: unsynced data is gone (every writer must already be dead)."""
        self.command(f"cut keep={keep} seed={seed}")

    def state(self) -> dict:
        with open(self.path / CONTROL.lstrip("/")) as control:
            return json.loads(control.read())


def fuse_available() -> str | None:
    """Why this machine cannot mount the filesystem, or None when it can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        import mfusepy  # noqa: F401  (loads libfuse3 through ctypes)
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse3 missing: {exc}"
    return None


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
