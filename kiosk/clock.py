"""Time as a terminal without a real-time clock knows it.

A Raspberry Pi boots with whatever time it last saved (or 1970) until NTP answers, so every
vote carries, besides its wall-clock time, whether the clock was synchronised then, the boot
id and the time since boot. From those the server re-dates votes taken with a wrong clock
(docs/sync.md explains the method).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
# systemd-timesyncd creates this file once it has synchronised the clock (systemd ≥ 239).
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
STA_UNSYNC = 0x0040  # from <sys/timex.h>: the kernel's "clock not synchronised" bit
TIME_ERROR = 5


@dataclass(frozen=True)
class Instant:
    """One reading of every clock a vote records."""

    wall: datetime       # UTC
    clock_synced: bool
    boot_id: str
    monotonic_ns: int    # CLOCK_BOOTTIME: keeps counting through suspend, restarts at boot


def now() -> Instant:
    return Instant(wall=utc_now(), clock_synced=is_synchronised(), boot_id=boot_id(),
                   monotonic_ns=since_boot_ns())


def utc_now() -> datetime:
    return datetime.now(UTC)


def since_boot_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


@lru_cache(maxsize=1)
def boot_id() -> str:
    try:
        return BOOT_ID_FILE.read_text().strip()
    except OSError:  # not Linux: a per-process id still orders votes within one run
        import uuid
        return str(uuid.uuid4())


def is_synchronised() -> bool:
    """Is the system clock NTP-synchronised? timesyncd's flag file first (cheap, and what
    `timedatectl` reports on Raspberry Pi OS); else the kernel's own status via adjtimex."""
    if TIMESYNCD_FLAG.exists():
        return True
    return _kernel_says_synchronised()


def _kernel_says_synchronised() -> bool:
    """adjtimex(2) returns TIME_ERROR and sets STA_UNSYNC while no NTP daemon disciplines
    the clock. Read-only call (modes = 0)."""
    libc = _libc()
    if libc is None:
        return False
    buf = ctypes.create_string_buffer(512)  # larger than struct timex on every ABI
    state = libc.adjtimex(buf)
    status = int.from_bytes(buf.raw[_STATUS_OFFSET:_STATUS_OFFSET + 4], "little", signed=True)
    return state not in (-1, TIME_ERROR) and not status & STA_UNSYNC


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """Loaded once: find_library may run ldconfig, far too slow for every vote."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


# struct timex: unsigned modes; long offset, freq, maxerror, esterror; int status.
_LONG = ctypes.sizeof(ctypes.c_long)
_STATUS_OFFSET = _LONG * 5 if _LONG == 8 else 4 + _LONG * 4
