"""Clock correction: re-dating votes taken while the kiosk's clock was wrong.

A Raspberry Pi has no real-time clock: until NTP answers, its wall clock may be years off.
Its ``CLOCK_BOOTTIME`` (``monotonic_ns``) is right, though: it counts from the boot and never
jumps. So each boot of each terminal has one unknown, its *boot epoch* E (the true wall-clock
time at which BOOTTIME was 0), and a vote taken at BOOTTIME m happened at E + m.

The server learns E two ways (see docs/sync.md for the error bound):

- **transit** -- a request sent at BOOTTIME M and received at server time R: the send
  happened before the receipt, so E + M <= R, i.e. R - M is an upper bound of E, too late by
  exactly the transit time (network + queueing). The minimum over all requests of the boot
  is the best estimate: E <= min(R - M) <= E + (smallest transit time seen).
- **ntp** -- a vote of that boot recorded once the kiosk clock *was* synchronised:
  recorded_at - monotonic_ns is E within the kiosk's NTP error.

Then a vote with ``clock_synced=false`` gets ``corrected_at = E + monotonic_ns``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# time_method values stored with each vote
KIOSK = "kiosk"        # the kiosk clock was synchronised: recorded_at as is
BOOT_NTP = "boot_ntp"  # E from a synchronised vote of the same boot
BOOT = "boot"          # E from request transit (upper bound, min over requests)
OFFSET = "offset"      # recorded_at shifted by the sending clock's offset (same boot, no mono)
NONE = "none"          # nothing known: recorded_at kept, time_uncertain = true


def to_us(moment: dt.datetime) -> int:
    """Microseconds since 1970 (integer arithmetic: no float rounding over decades)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def epoch_upper_bound_us(received_at: dt.datetime, monotonic_ns: int) -> int:
    """R - M: an upper bound of the boot epoch, late by the request's transit time."""
    return to_us(received_at) - monotonic_ns // 1000


def synced_epoch_us(recorded_at: dt.datetime, monotonic_ns: int) -> int:
    """E from a vote recorded with a synchronised clock."""
    return to_us(recorded_at) - monotonic_ns // 1000


@dataclass(frozen=True)
class BootClock:
    """What the server knows of one boot of one terminal."""

    epoch_us: int | None = None          # min(R - M) over requests
    synced_epoch_us: int | None = None   # from a synchronised vote

    def best_epoch_us(self) -> tuple[int, str] | None:
        if self.synced_epoch_us is not None:
            return self.synced_epoch_us, BOOT_NTP
        if self.epoch_us is not None:
            return self.epoch_us, BOOT
        return None


@dataclass(frozen=True)
class Correction:
    corrected_at: dt.datetime
    method: str
    uncertain: bool


def correct(
    *,
    recorded_at: dt.datetime,
    clock_synced: bool,
    boot_id: str,
    monotonic_ns: int,
    boots: dict[str, BootClock],
    sending_boot_id: str | None = None,
    clock_offset: dt.timedelta | None = None,
) -> Correction:
    """The best known true time of one vote.

    ``boots`` maps the terminal's boot ids to what is known of them; ``sending_boot_id`` and
    ``clock_offset`` (kiosk clock minus server clock at send, i.e. sent_at - received_at)
    describe the request that carried the vote, when there is one.
    """
    if clock_synced:
        return Correction(recorded_at, KIOSK, False)
    known = boots.get(boot_id, BootClock()).best_epoch_us()
    try:
        if known is not None:
            epoch_us, method = known
            return Correction(from_us(epoch_us + monotonic_ns // 1000), method, False)
        if clock_offset is not None and sending_boot_id is not None and boot_id == sending_boot_id:
            # Same boot, so the clock was not reset since the vote (an NTP step in between would
            # have set clock_synced on later votes; this is the best we have without BOOTTIME).
            return Correction(recorded_at - clock_offset, OFFSET, False)
    except OverflowError:
        pass  # an absurd monotonic_ns or offset: fall through to "unknown"
    return Correction(recorded_at, NONE, True)
