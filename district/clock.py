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

Nothing a kiosk sends is trusted before it is checked against what cannot be true
(``date_batch``): a request's BOOTTIME that puts its boot before 2020 or outside the interval
its boot's earlier requests allow teaches nothing; a vote whose time is impossible (after its
own request, against its boot's order of ``seq``, a synchronised time the server's bound
contradicts, a clock step visible in the batch…) is kept but marked ``time_uncertain`` with
its reason code (``REASONS``). A check only ever marks the vote or the request it is about:
never another vote of the boot.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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


# --- what cannot be true ----------------------------------------------------------------
#
# The tolerances are generous on purpose: they separate the impossible from the honest, they
# are not the error bound (docs/sync.md, "Error bound").

EARLIEST_BOOT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # no terminal of this system booted before
EARLIEST_BOOT_US = to_us(EARLIEST_BOOT)
TRANSIT_MAX_US = 600 * 1_000_000   # a request longer in transit than 10 min is not believed
DRIFT_MAX_PPM = 100                # twice the worst crystal (20–50 ppm): BOOTTIME's own error
NTP_TOLERANCE_US = 2 * 1_000_000   # a synchronised kiosk clock is within ms; 2 s to spare
STEP_TOLERANCE_US = 2 * 1_000_000  # wall clock minus BOOTTIME moving more than this: a step
REDATE_MIN_GAIN_US = 100_000       # stored votes are re-dated when their boot's epoch moves more

# Reason codes of a vote kept with ``time_uncertain`` (stored with it, district.redating)
MONOTONIC_AFTER_SEND = "monotonic_after_send"  # BOOTTIME beyond its own request's
SEQ_ORDER = "seq_order"                        # BOOTTIME going back while seq goes up
SYNCED_AFTER_RECEIPT = "synced_after_receipt"  # a "synchronised" time after the server got it
SYNCED_CONTRADICTS_BOUND = "synced_contradicts_bound"  # its epoch against the boot's requests
OFFSET_AFTER_SEND = "offset_after_send"        # offset path: recorded after the request's sent_at
CLOCK_STEP = "clock_step"                      # offset path: the batch shows the clock stepped
AFTER_RECEIPT = "after_receipt"                # the corrected time is after the server got it
BEFORE_EARLIEST = "before_earliest"            # the corrected time is before 2020
BOOT_UNKNOWN = "boot_unknown"                  # nothing known of its boot (yet): re-datable
VOTE_REASONS = (MONOTONIC_AFTER_SEND, SEQ_ORDER, SYNCED_AFTER_RECEIPT, SYNCED_CONTRADICTS_BOUND,
                OFFSET_AFTER_SEND, CLOCK_STEP, AFTER_RECEIPT, BEFORE_EARLIEST, BOOT_UNKNOWN)
# Reason codes of a request whose BOOTTIME teaches nothing (logged; its votes are dated
# from what else is known, and checked like any other)
BOOT_EPOCH_IMPOSSIBLE = "boot_epoch_impossible"        # R - M before 2020
BOOT_EPOCH_CONTRADICTION = "boot_epoch_contradiction"  # outside its boot's interval


def drift_us(monotonic_ns: int) -> int:
    """The most BOOTTIME can have drifted over ``monotonic_ns`` (DRIFT_MAX_PPM)."""
    return abs(monotonic_ns) // 1000 * DRIFT_MAX_PPM // 1_000_000


@dataclass(frozen=True)
class BootClock:
    """What the server knows of one boot of one terminal."""

    epoch_us: int | None = None          # min(R - M) over requests
    synced_epoch_us: int | None = None   # from a synchronised vote
    epoch_max_us: int | None = None      # max(R - M) over the requests believed
    # the boot's stored order: the highest seq of its votes that passed every check, and
    # that vote's BOOTTIME (a later batch's votes must keep to it, ``SEQ_ORDER``)
    seq_max: int | None = None
    seq_max_mono_ns: int | None = None

    def best_epoch_us(self) -> tuple[int, str] | None:
        if self.synced_epoch_us is not None:
            return self.synced_epoch_us, BOOT_NTP
        if self.epoch_us is not None:
            return self.epoch_us, BOOT
        return None

    def refuses_request(self, bound_us: int, monotonic_ns: int) -> str | None:
        """Why a request's R - M (``bound_us``) cannot be true of this boot, or None.

        Every honest request of a boot gives E + its transit time (less the drift), so all
        lie within TRANSIT_MAX + drift of each other; one outside is a BOOTTIME that lies."""
        if bound_us < EARLIEST_BOOT_US:
            return BOOT_EPOCH_IMPOSSIBLE
        slack = TRANSIT_MAX_US + drift_us(monotonic_ns)
        if self.epoch_us is not None:
            lowest = self.epoch_max_us if self.epoch_max_us is not None else self.epoch_us
            if bound_us < lowest - slack or bound_us > self.epoch_us + slack:
                return BOOT_EPOCH_CONTRADICTION
        if self.synced_epoch_us is not None and \
                bound_us < self.synced_epoch_us - NTP_TOLERANCE_US - drift_us(monotonic_ns):
            return BOOT_EPOCH_CONTRADICTION  # an upper bound of E below E itself
        return None

    def allows_synced(self, epoch_us: int, monotonic_ns: int) -> bool:
        """Whether a synchronised vote's recorded_at - monotonic_ns fits this boot."""
        if epoch_us < EARLIEST_BOOT_US:
            return False
        if self.epoch_us is None:
            return True
        slack = NTP_TOLERANCE_US + drift_us(monotonic_ns)
        lowest = self.epoch_max_us if self.epoch_max_us is not None else self.epoch_us
        return lowest - TRANSIT_MAX_US - slack <= epoch_us <= self.epoch_us + slack

    def with_request(self, bound_us: int) -> BootClock:
        low = bound_us if self.epoch_us is None else min(self.epoch_us, bound_us)
        high = bound_us if self.epoch_max_us is None else max(self.epoch_max_us, bound_us)
        return replace(self, epoch_us=low, epoch_max_us=high)


@dataclass(frozen=True)
class Correction:
    corrected_at: dt.datetime
    method: str
    uncertain: bool
    reason: str | None = None  # why uncertain (VOTE_REASONS)


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


# --- a whole delivery, checked ------------------------------------------------------------

@dataclass(frozen=True)
class VoteTime:
    """What dating needs of one vote."""

    seq: int
    recorded_at: dt.datetime
    clock_synced: bool
    boot_id: str
    monotonic_ns: int


@dataclass(frozen=True)
class Request:
    """How the votes came: received at server time ``received_at``; ``sent_at``,
    ``boot_id`` and ``monotonic_ns`` as the kiosk put them in the envelope (if it did)."""

    received_at: dt.datetime
    sent_at: dt.datetime | None = None
    boot_id: str | None = None
    monotonic_ns: int | None = None


@dataclass
class BatchDating:
    corrections: list[Correction]
    boots: dict[str, BootClock]                    # what is known after this delivery
    learned: dict[str, tuple[int | None, int | None]]  # boot → (R - M, synced epoch) believed
    refused: list[tuple[str, str]]                 # (boot, reason) of a request not believed
    ordered: set[str] = field(default_factory=set)  # boots whose stored order moved on


def date_batch(votes: Sequence[VoteTime], request: Request,
               boots: dict[str, BootClock]) -> BatchDating:
    """The checked correction of every vote of one delivery (same order as ``votes``).

    ``boots``: what was known of the votes' boots (and the sending boot) before it. The
    request's R - M is believed only if it fits its boot; each vote is checked on its own
    (and against the order of its boot's ``seq``, in the batch and against the boot's stored
    votes), and a failed check marks that vote only."""
    boots = dict(boots)
    learned: dict[str, list] = {}
    refused: list[tuple[str, str]] = []
    received_us = to_us(request.received_at)
    trusted_mono = None  # the request's BOOTTIME, once believed
    if request.boot_id is not None and request.monotonic_ns is not None:
        bound = epoch_upper_bound_us(request.received_at, request.monotonic_ns)
        state = boots.get(request.boot_id, BootClock())
        why = state.refuses_request(bound, request.monotonic_ns)
        if why:
            refused.append((request.boot_id, why))
        else:
            boots[request.boot_id] = state.with_request(bound)
            learned[request.boot_id] = [bound, None]
            trusted_mono = request.monotonic_ns
    marks: dict[int, str] = {}
    if trusted_mono is not None:
        for i, v in enumerate(votes):
            if v.boot_id == request.boot_id and v.monotonic_ns > trusted_mono:
                marks[i] = MONOTONIC_AFTER_SEND
    for i in _against_stored_order(votes, boots, marks):
        marks[i] = SEQ_ORDER
    for i in _out_of_order(votes, marks):
        marks[i] = SEQ_ORDER
    for i, v in enumerate(votes):  # synchronised votes first: they teach their boot
        if v.clock_synced and i not in marks:
            why = _synced_check(v, received_us, boots)
            if why:
                marks[i] = why
            elif boots.get(v.boot_id, BootClock()).synced_epoch_us is None:
                epoch = synced_epoch_us(v.recorded_at, v.monotonic_ns)
                boots[v.boot_id] = replace(boots.get(v.boot_id, BootClock()),
                                           synced_epoch_us=epoch)
                learned.setdefault(v.boot_id, [None, None])[1] = epoch
    offset = _offset_path(votes, request, boots, marks)
    out = []
    for i, v in enumerate(votes):
        if i in marks:
            out.append(Correction(v.recorded_at, NONE, True, marks[i]))
        elif v.clock_synced:
            out.append(Correction(v.recorded_at, KIOSK, False))
        elif offset is not None and i in offset.stepped:
            out.append(Correction(v.recorded_at, NONE, True, CLOCK_STEP))
        else:
            out.append(_unsynced(v, boots, offset, received_us))
    ordered = _order_moved_on(votes, out, boots)
    return BatchDating(out, boots, {b: tuple(x) for b, x in learned.items()}, refused, ordered)


def _against_stored_order(votes: Sequence[VoteTime], boots: dict[str, BootClock],
                          marks: dict[int, str]) -> list[int]:
    """Votes that break their boot's stored order: a higher ``seq`` than the boot's highest
    stored one with a smaller BOOTTIME, or a lower one with a larger BOOTTIME (one stored
    pair per boot: the check costs nothing to read)."""
    out = []
    for i, v in enumerate(votes):
        state = boots.get(v.boot_id)
        if i in marks or state is None or state.seq_max is None:
            continue
        if (v.seq > state.seq_max and v.monotonic_ns < state.seq_max_mono_ns) or \
                (v.seq < state.seq_max and v.monotonic_ns > state.seq_max_mono_ns):
            out.append(i)
    return out


def _order_moved_on(votes: Sequence[VoteTime], fixes: list[Correction],
                    boots: dict[str, BootClock]) -> set[str]:
    """Moves each boot's stored order (in ``boots``) to the highest ``seq`` of the votes no
    check marked; returns the boots it moved."""
    moved = set()
    for v, fix in zip(votes, fixes, strict=True):
        state = boots.get(v.boot_id)
        if fix.reason is not None or state is None:
            continue  # a value found impossible never becomes the reference
        if state.seq_max is None or v.seq > state.seq_max:
            boots[v.boot_id] = replace(state, seq_max=v.seq, seq_max_mono_ns=v.monotonic_ns)
            moved.add(v.boot_id)
    return moved


def _out_of_order(votes: Sequence[VoteTime], marks: dict[int, str]) -> list[int]:
    """Votes whose BOOTTIME goes back while ``seq`` goes up, per boot: those outside the
    longest run in which both rise (so one wild value marks itself, not its neighbours)."""
    by_boot: dict[str, list[int]] = {}
    for i, v in enumerate(votes):
        if i not in marks:
            by_boot.setdefault(v.boot_id, []).append(i)
    out: list[int] = []
    for indexes in by_boot.values():
        if len(indexes) < 2:
            continue
        indexes.sort(key=lambda i: votes[i].seq)
        monos = [votes[i].monotonic_ns for i in indexes]
        if all(a <= b for a, b in zip(monos, monos[1:], strict=False)):
            continue  # the usual case, in one pass
        keep = _longest_rising(monos)
        out.extend(i for k, i in enumerate(indexes) if k not in keep)
    return out


def _longest_rising(values: list[int]) -> set[int]:
    """Positions of one longest non-decreasing subsequence (patience sorting, n log n)."""
    tails: list[int] = []       # smallest tail value of a run of each length
    tail_at: list[int] = []     # its position
    before = [-1] * len(values)
    for k, x in enumerate(values):
        j = bisect.bisect_right(tails, x)
        before[k] = tail_at[j - 1] if j else -1
        if j == len(tails):
            tails.append(x)
            tail_at.append(k)
        else:
            tails[j], tail_at[j] = x, k
    keep, k = set(), tail_at[-1] if tail_at else -1
    while k >= 0:
        keep.add(k)
        k = before[k]
    return keep


def _synced_check(v: VoteTime, received_us: int, boots: dict[str, BootClock]) -> str | None:
    recorded = to_us(v.recorded_at)
    if recorded > received_us + NTP_TOLERANCE_US:
        return SYNCED_AFTER_RECEIPT
    if recorded < EARLIEST_BOOT_US:
        return BEFORE_EARLIEST
    epoch = recorded - v.monotonic_ns // 1000
    if not boots.get(v.boot_id, BootClock()).allows_synced(epoch, v.monotonic_ns):
        return SYNCED_CONTRADICTS_BOUND
    return None


@dataclass(frozen=True)
class _Offset:
    """The offset path of one request: its boot, the clock offset, the votes a step marks."""

    boot_id: str
    offset_us: int
    sent_us: int
    stepped: frozenset[int]


def _offset_path(votes: Sequence[VoteTime], request: Request, boots: dict[str, BootClock],
                 marks: dict[int, str]) -> _Offset | None:
    """For unsynchronised votes of the sending boot with no epoch known: the offset
    sent_at - R, and which of them a clock step separates from the send (their wall clock
    minus BOOTTIME differs from the latest vote's by more than STEP_TOLERANCE)."""
    if request.sent_at is None or request.boot_id is None \
            or boots.get(request.boot_id, BootClock()).best_epoch_us() is not None:
        return None
    mine = [i for i, v in enumerate(votes)
            if v.boot_id == request.boot_id and not v.clock_synced and i not in marks]
    stepped: set[int] = set()
    if mine:
        last = max(mine, key=lambda i: votes[i].monotonic_ns)
        ref_mono = votes[last].monotonic_ns
        ref = to_us(votes[last].recorded_at) - ref_mono // 1000
        for i in mine:
            v = votes[i]
            gap = abs(to_us(v.recorded_at) - v.monotonic_ns // 1000 - ref)
            if gap > STEP_TOLERANCE_US + drift_us(ref_mono - v.monotonic_ns):
                stepped.add(i)
    sent_us = to_us(request.sent_at)
    return _Offset(request.boot_id, sent_us - to_us(request.received_at), sent_us,
                   frozenset(stepped))


def _unsynced(v: VoteTime, boots: dict[str, BootClock], offset: _Offset | None,
              received_us: int) -> Correction:
    known = boots.get(v.boot_id, BootClock()).best_epoch_us()
    recorded = to_us(v.recorded_at)
    if known is not None:
        at_us, method = known[0] + v.monotonic_ns // 1000, known[1]
    elif offset is not None and v.boot_id == offset.boot_id:
        if recorded > offset.sent_us + STEP_TOLERANCE_US:
            return Correction(v.recorded_at, NONE, True, OFFSET_AFTER_SEND)
        at_us, method = recorded - offset.offset_us, OFFSET
    else:
        return Correction(v.recorded_at, NONE, True, BOOT_UNKNOWN)
    if at_us > received_us + NTP_TOLERANCE_US:
        return Correction(v.recorded_at, NONE, True, AFTER_RECEIPT)
    if at_us < EARLIEST_BOOT_US:
        return Correction(v.recorded_at, NONE, True, BEFORE_EARLIEST)
    return Correction(from_us(at_us), method, False)
