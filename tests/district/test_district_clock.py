"""Clock correction: votes taken with a kiosk clock years wrong get their true time back,
within the bound docs/sync.md states (0 <= error <= the request's transit time)."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import sqlalchemy as sa

from district import clock, db
from tests.helpers import iso, make_vote

WRONG_BOOT_CLOCK = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)  # what a Pi without RTC may believe


class SimulatedKiosk:
    """A kiosk booted ``uptime_s`` ago whose wall clock started at 2001-01-01 (no RTC, no NTP)."""

    def __init__(self, boot_id: str, uptime_s: float):
        self.boot_id = boot_id
        self.true_boot_ns = time.time_ns() - int(uptime_s * 1e9)

    def mono_ns(self) -> int:
        return time.time_ns() - self.true_boot_ns

    def wall(self, mono_ns: int) -> dt.datetime:
        return WRONG_BOOT_CLOCK + dt.timedelta(microseconds=mono_ns // 1000)

    def true_time(self, mono_ns: int) -> dt.datetime:
        return clock.from_us((self.true_boot_ns + mono_ns) // 1000)

    def vote(self, mono_ns: int, **fields) -> dict:
        return make_vote(recorded_at=iso(self.wall(mono_ns)), clock_synced=False,
                         boot_id=self.boot_id, monotonic_ns=mono_ns, **fields)

    def post(self, api, votes, with_mono=True, **extra) -> float:
        """Send like the sync agent does; returns the round-trip time in seconds."""
        mono = self.mono_ns()
        body = {"terminal_id": api.terminal_id, "sent_at": iso(self.wall(mono)),
                "boot_id": self.boot_id, "votes": votes, **extra}
        if with_mono:
            body["monotonic_ns"] = mono
        start = time.perf_counter()
        response = httpx.post(f"{api.url}/api/v1/votes", json=body,
                              headers={"Authorization": f"Bearer {api.token}"})
        rtt = time.perf_counter() - start
        assert response.status_code == 200, response.text
        assert not response.json()["rejected"]
        return rtt


def stored(api, vote_id: str):
    with api.engine.connect() as conn:
        return conn.execute(sa.select(db.votes).where(db.votes.c.vote_id == vote_id)).one()


def test_votes_from_a_clock_years_wrong_are_redated_within_the_bound(api):
    kiosk = SimulatedKiosk("boot-x", uptime_s=3 * 3600)
    monos = [600 * 10**9, 3600 * 10**9, kiosk.mono_ns() - 10**9]
    votes = [kiosk.vote(m, seq=i + 1) for i, m in enumerate(monos)]
    assert votes[0]["recorded_at"].startswith("2001-")
    rtt = kiosk.post(api, votes)
    for vote, mono in zip(votes, monos, strict=True):
        row = stored(api, vote["id"])
        error = (row.corrected_at - kiosk.true_time(mono)).total_seconds()
        assert -0.001 <= error <= rtt + 0.001, (error, rtt)
        assert row.time_method == clock.BOOT and not row.time_uncertain
        assert row.recorded_at.year == 2001  # the kiosk's raw time is kept


def test_the_smallest_transit_wins(api):
    kiosk = SimulatedKiosk("boot-s", uptime_s=7200)
    # First request "took" 5 s in transit (mono read 5 s before the send), then a fast one.
    late = {"terminal_id": api.terminal_id, "sent_at": iso(kiosk.wall(kiosk.mono_ns())),
            "boot_id": kiosk.boot_id, "monotonic_ns": kiosk.mono_ns() - 5 * 10**9, "votes": []}
    httpx.post(f"{api.url}/api/v1/votes", json=late,
               headers={"Authorization": f"Bearer {api.token}"}).raise_for_status()
    vote = kiosk.vote(1800 * 10**9)
    rtt = kiosk.post(api, [vote])
    error = (stored(api, vote["id"]).corrected_at - kiosk.true_time(1800 * 10**9)).total_seconds()
    assert -0.001 <= error <= rtt + 0.001
    with api.engine.connect() as conn:
        boot = conn.execute(sa.select(db.terminal_boots)).one()
    assert boot.samples == 2


def test_a_synchronised_vote_dates_its_whole_boot(api):
    old_boot = SimulatedKiosk("boot-old", uptime_s=86_400)
    before_ntp = old_boot.vote(100 * 10**9, seq=1)
    after_ntp_mono = 200 * 10**9
    after_ntp = make_vote(seq=2, boot_id="boot-old", monotonic_ns=after_ntp_mono,
                          clock_synced=True, recorded_at=iso(old_boot.true_time(after_ntp_mono)))
    SimulatedKiosk("boot-new", uptime_s=60).post(api, [before_ntp, after_ntp])
    row = stored(api, before_ntp["id"])
    assert row.time_method == clock.BOOT_NTP and not row.time_uncertain
    assert abs((row.corrected_at - old_boot.true_time(100 * 10**9)).total_seconds()) < 0.001


def test_unknown_boot_keeps_recorded_time_and_is_marked_uncertain(api):
    old_boot = SimulatedKiosk("boot-gone", uptime_s=86_400)
    vote = old_boot.vote(100 * 10**9)
    SimulatedKiosk("boot-now", uptime_s=60).post(api, [vote])
    row = stored(api, vote["id"])
    assert row.time_uncertain and row.time_method == clock.NONE
    assert row.corrected_at == row.recorded_at


def test_same_boot_without_monotonic_falls_back_to_the_clock_offset(api):
    kiosk = SimulatedKiosk("boot-o", uptime_s=3600)
    mono = 1200 * 10**9
    vote = kiosk.vote(mono)
    rtt = kiosk.post(api, [vote], with_mono=False)
    row = stored(api, vote["id"])
    assert row.time_method == clock.OFFSET and not row.time_uncertain
    error = (row.corrected_at - kiosk.true_time(mono)).total_seconds()
    assert -0.001 <= error <= rtt + 0.001


def test_correct_is_pure_and_total():
    when = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    synced = clock.correct(recorded_at=when, clock_synced=True, boot_id="b", monotonic_ns=1,
                           boots={})
    assert synced == clock.Correction(when, clock.KIOSK, False)
    boots = {"b": clock.BootClock(epoch_us=clock.to_us(when) + 5_000_000)}
    fixed = clock.correct(recorded_at=when, clock_synced=False, boot_id="b",
                          monotonic_ns=2 * 10**9, boots=boots)
    assert fixed.corrected_at == when + dt.timedelta(seconds=7) and fixed.method == clock.BOOT
    both = {"b": clock.BootClock(epoch_us=0, synced_epoch_us=clock.to_us(when))}
    assert clock.correct(recorded_at=when, clock_synced=False, boot_id="b", monotonic_ns=0,
                         boots=both).method == clock.BOOT_NTP
    absurd = {"b": clock.BootClock(epoch_us=2**62)}  # beyond datetime: no crash, uncertain
    assert clock.correct(recorded_at=when, clock_synced=False, boot_id="b", monotonic_ns=0,
                         boots=absurd).uncertain
    assert clock.from_us(clock.to_us(when)) == when
