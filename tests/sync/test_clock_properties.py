"""Properties of the clock correction, on generated boots through the real API (SQLite and
PostgreSQL): honest boots — clocks years off, reboots with older boots uploaded later, NTP
answering mid-boot, batches split anyhow, slow transits — never give an error beyond the
bound docs/sync.md states for their method (the retroactive case included), and hostile
values of one boot never change the corrected time of an honest vote of another boot."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from district import clock
from tests.sync.clock_sim import NS, Boot, error_s, new_terminal
from tests.sync.test_clock_truth import district  # noqa: F401 (the module's server)

MS = 0.001
REDATE_S = clock.REDATE_MIN_GAIN_US / 1e6

boot_plans = st.fixed_dictionaries({
    "uptime_h": st.floats(0.5, 72),
    # the wall clock at boot: None = right from the start, else that many days off
    "days_off": st.one_of(st.none(), st.floats(-3 * 365, 30)),
    "ntp_at": st.one_of(st.none(), st.floats(0.05, 0.95)),  # share of the votes before NTP
    "votes": st.integers(1, 8),
})
scenarios = st.fixed_dictionaries({
    "boots": st.lists(boot_plans, min_size=1, max_size=3),
    "batches": st.integers(1, 4),
    "transits": st.lists(st.floats(0, 4), min_size=4, max_size=4),
    "seed": st.randoms(use_true_random=False),
})
hostile_values = st.fixed_dictionaries({
    "request_mono": st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    "beat_mono": st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    "monos": st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=5),
    "recorded": st.lists(st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2199, 12, 31),
                                      timezones=st.just(dt.UTC)), min_size=5, max_size=5),
    "synced": st.lists(st.booleans(), min_size=5, max_size=5),
    "sent_at": st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2199, 12, 31),
                            timezones=st.just(dt.UTC)),
})


def play(terminal, plan) -> tuple[list[Boot], dict[str, dict], dict[str, float]]:
    """Send the scenario's votes; returns the boots, vote id → (vote, boot) and, per boot
    that sent requests, its smallest (simulated transit + round trip)."""
    rnd = plan["seed"]
    boots, owner, votes = [], {}, []
    for p in plan["boots"]:
        start = None if p["days_off"] is None else (
            dt.datetime.now(dt.UTC) - dt.timedelta(hours=p["uptime_h"], days=-p["days_off"]))
        boot = Boot(terminal, uptime_s=p["uptime_h"] * 3600, wall_start=start)
        span = boot.mono() - 5 * NS  # every vote before the BOOTTIME of any send
        monos = sorted(1 + int(rnd.random() * span) for _ in range(p["votes"]))
        ntp_from = len(monos) if p["ntp_at"] is None else int(p["ntp_at"] * len(monos))
        for k, m in enumerate(monos):
            vote = boot.vote(m, synced=start is None or k >= ntp_from)
            owner[vote["id"]] = (vote, boot)
            votes.append(vote)
        boots.append(boot)
    rnd.shuffle(votes)  # older boots' votes come with the current boot's (after reboots)
    cuts = sorted(rnd.sample(range(1, len(votes)), min(plan["batches"] - 1, len(votes) - 1)))
    sender = boots[-1]  # the boot alive now; the others are gone
    t_min: dict[str, float] = {}
    for k, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, len(votes)], strict=True)):
        transit = plan["transits"][k]
        _, rtt = sender.post(votes[lo:hi], transit_s=transit)
        t_min[sender.id] = min(t_min.get(sender.id, 1e9), transit + rtt)
    return boots, owner, t_min


def check_honest(terminal, owner, t_min) -> dict[str, tuple]:
    rows = terminal.rows()
    synced_boots = {boot.id for vote, boot in owner.values() if vote["clock_synced"]}
    for vote_id, (vote, boot) in owner.items():
        row = rows[vote_id]
        err = error_s(row, boot)
        assert row.reason in (None, clock.BOOT_UNKNOWN), (row.reason, vote)
        if vote["clock_synced"]:
            assert row.time_method == clock.KIOSK and abs(err) <= MS
        elif boot.id in synced_boots:
            assert row.time_method == clock.BOOT_NTP and abs(err) <= MS, err
        elif boot.id in t_min:
            assert row.time_method == clock.BOOT, row.time_method
            # docs/sync.md: 0 ≤ error ≤ t_min (+ the re-dating threshold, retroactively)
            assert -MS <= err <= t_min[boot.id] + REDATE_S + MS, (err, t_min[boot.id])
        else:
            assert row.time_uncertain and row.reason == clock.BOOT_UNKNOWN
    return {vote_id: (r.corrected_at, r.time_method, r.time_uncertain)
            for vote_id, r in rows.items()}


SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(plan=scenarios)
def test_honest_boots_stay_within_the_documented_bound(district, plan):  # noqa: F811
    terminal = new_terminal(*district)
    _boots, owner, t_min = play(terminal, plan)
    check_honest(terminal, owner, t_min)


@SETTINGS
@given(plan=scenarios, hostile=hostile_values)
def test_hostile_values_never_move_an_honest_vote_of_another_boot(district, plan,  # noqa: F811
                                                                   hostile):
    terminal = new_terminal(*district)
    boots, owner, t_min = play(terminal, plan)
    before = check_honest(terminal, owner, t_min)
    liar = Boot(terminal, uptime_s=3600)
    lies = []
    for i, mono in enumerate(hostile["monos"]):
        lies.append(liar.vote(mono, clock_synced=hostile["synced"][i],
                              recorded_at=hostile["recorded"][i].isoformat()
                              .replace("+00:00", "Z")))
    if hostile["beat_mono"] is not None:
        terminal.heartbeat(boot_id=liar.id, monotonic_ns=hostile["beat_mono"])
    envelope = {"sent_at": hostile["sent_at"].isoformat().replace("+00:00", "Z")}
    if hostile["request_mono"] is not None:
        envelope["monotonic_ns"] = hostile["request_mono"]
    liar.post(lies[::2], with_mono=False, **envelope)
    # the others in an honest boot's envelope (without BOOTTIME: an honest request with it
    # may rightly tighten its boot's bound and re-date its votes)
    boots[-1].post(lies[1::2], with_mono=False)
    after = {vote_id: (r.corrected_at, r.time_method, r.time_uncertain)
             for vote_id, r in terminal.rows().items() if vote_id in before}
    assert after == before
