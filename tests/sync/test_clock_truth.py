"""Truth in time under every input (issue 17), through a real ``district serve`` on loopback,
on SQLite and PostgreSQL: impossible clock values rejected or marked with their reason,
honest votes of the same boot unharmed, earlier votes re-dated and moved in the rollups when
better evidence arrives, votes of unknown time out of the time-of-day figures and counted
apart. The bounds compared with are docs/sync.md's ("Error bound")."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import httpx
import pytest
import sqlalchemy as sa

from district import clock, db, redating, rollups
from tests.helpers import DistrictServer, fresh_database
from tests.sync.clock_sim import HOUR_NS, ICT, NS, Boot, error_s, new_terminal, weekday_hour

PASSWORD = "a long password for the clock tests"
MS = 0.001


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def district(request, tmp_path_factory):
    """A migrated database, an official, and a real server on it (shared by the module:
    each test has its own terminal and unit)."""
    from district.dashboard.accounts import add_user

    with fresh_database(request.param, tmp_path_factory.mktemp("truth"), "hl_truth") as url:
        engine = db.create_db_engine(url)
        db.migrate(engine)
        add_user(engine, "truth", PASSWORD, "district")
        server = DistrictServer(url).start()
        try:
            yield server.url, engine
        finally:
            server.stop()
            engine.dispose()


@pytest.fixture
def terminal(district):
    return new_terminal(*district)


def within_boot_bound(error: float, rtt: float, extra: float = 0.0) -> bool:
    """docs/sync.md, method boot: 0 ≤ error ≤ t_min (+ the re-dating threshold when it
    was re-dated); t_min ≤ the round trip; the server's clock is this machine's (ε = 0)."""
    return -MS <= error <= rtt + extra + MS


def boot_row(terminal, boot_id):
    with terminal.engine.connect() as conn:
        return conn.execute(sa.select(db.terminal_boots).where(
            db.terminal_boots.c.terminal_id == terminal.id,
            db.terminal_boots.c.boot_id == boot_id)).one_or_none()


def test_an_impossible_request_boottime_teaches_nothing(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    boot.post([], monotonic_ns=2**63 - 1)           # R − M = 1734
    terminal.heartbeat(boot_id=boot.id, monotonic_ns=10**18)  # R − M = 1995
    assert boot_row(terminal, boot.id) is None      # neither was believed
    honest = boot.vote(boot.mono() - 1800 * NS)
    _, rtt = boot.post([honest])
    row = terminal.rows()[honest["id"]]
    assert row.time_method == clock.BOOT and not row.time_uncertain and row.reason is None
    assert within_boot_bound(error_s(row, boot), rtt)


def test_a_lying_request_within_the_plausible_range_does_not_move_its_boot(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    first = boot.vote(boot.mono() - 600 * NS)
    _, rtt = boot.post([first])
    boot.post([], monotonic_ns=boot.mono() + 400 * 86_400 * NS)  # "booted" a year earlier
    terminal.heartbeat(boot_id=boot.id, monotonic_ns=boot.mono() + 2 * HOUR_NS)
    late = boot.vote(boot.mono() - 60 * NS)
    _, rtt2 = boot.post([late])
    rows = terminal.rows()
    for vote, t in ((first, rtt), (late, min(rtt, rtt2))):
        assert rows[vote["id"]].time_method == clock.BOOT
        assert within_boot_bound(error_s(rows[vote["id"]], boot), max(rtt, t))


def test_boottime_beyond_its_own_request_is_marked_and_its_neighbours_unharmed(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    honest = boot.vote(boot.mono() - 60 * NS)
    future = boot.vote(boot.mono() + 2 * HOUR_NS)
    answer, rtt = boot.post([honest, future])
    assert sorted(answer["accepted"]) == sorted([honest["id"], future["id"]])
    rows = terminal.rows()
    assert rows[future["id"]].time_uncertain
    assert rows[future["id"]].reason == clock.MONOTONIC_AFTER_SEND
    assert rows[honest["id"]].reason is None
    assert within_boot_bound(error_s(rows[honest["id"]], boot), rtt)


def test_synchronised_times_the_server_bound_contradicts_are_marked(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    _, rtt = boot.post([])
    in_2100 = boot.vote(boot.mono() - 60 * NS, clock_synced=True,
                        recorded_at="2100-01-01T00:00:00Z")
    day_early = boot.vote(boot.mono() - 60 * NS, clock_synced=True,
                          recorded_at=(boot.true_time(boot.mono()) - dt.timedelta(days=1))
                          .isoformat().replace("+00:00", "Z"))
    honest = boot.vote(boot.mono() - 30 * NS)
    boot.post([in_2100, day_early, honest])
    rows = terminal.rows()
    assert rows[in_2100["id"]].reason == clock.SYNCED_AFTER_RECEIPT
    assert rows[day_early["id"]].reason == clock.SYNCED_CONTRADICTS_BOUND
    assert boot_row(terminal, boot.id).synced_epoch_us is None  # nothing learned from them
    assert rows[honest["id"]].time_method == clock.BOOT
    assert within_boot_bound(error_s(rows[honest["id"]], boot), rtt)


def test_the_offset_path_refuses_impossible_sent_at(terminal):
    for sent_at, reason in (("1970-01-01T00:00:00Z", clock.OFFSET_AFTER_SEND),
                            ("2199-06-01T00:00:00Z", clock.BEFORE_EARLIEST)):
        boot = Boot(terminal, uptime_s=3600)
        vote = boot.vote(boot.mono() - 60 * NS)
        boot.post([vote], with_mono=False, sent_at=sent_at)
        row = terminal.rows()[vote["id"]]
        assert row.time_uncertain and row.reason == reason, sent_at


def test_boottime_going_back_while_seq_rises_is_marked(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    base = boot.mono() - 1000 * NS
    reversed_votes = [boot.vote(base - i * 60 * NS) for i in range(5)]  # seq up, mono down
    boot.post(reversed_votes)
    reasons = Counter(terminal.rows()[v["id"]].reason for v in reversed_votes)
    assert reasons == {clock.SEQ_ORDER: 4, None: 1}  # one order only can be true

    wild_boot = Boot(terminal, uptime_s=3 * 3600)
    base = wild_boot.mono() - 1000 * NS
    votes = [wild_boot.vote(base + i * 60 * NS) for i in range(6)]
    votes[2]["monotonic_ns"] = 10 * NS  # one wild value amid honest ones
    _, rtt = wild_boot.post(votes)
    rows = terminal.rows()
    assert [rows[v["id"]].reason for v in votes] == [None, None, clock.SEQ_ORDER, None, None,
                                                     None]
    assert all(within_boot_bound(error_s(rows[v["id"]], wild_boot), rtt)
               for i, v in enumerate(votes) if i != 2)


def test_a_clock_step_inside_a_batch_marks_the_votes_before_it(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    before = [boot.vote(boot.mono() - (900 - i) * NS) for i in range(2)]
    boot.step_ns = -29 * HOUR_NS  # the wall clock set back 29 h
    after = [boot.vote(boot.mono() - (300 - i) * NS) for i in range(2)]
    _, rtt = boot.post(before + after, with_mono=False)
    rows = terminal.rows()
    assert [rows[v["id"]].reason for v in before] == [clock.CLOCK_STEP] * 2
    for v in after:
        assert rows[v["id"]].time_method == clock.OFFSET
        assert -MS <= error_s(rows[v["id"]], boot) <= rtt + MS


# --- later evidence -------------------------------------------------------------------------

def signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    r = client.post("/login", data={"username": "truth", "password": PASSWORD})
    assert r.status_code == 303, r.text
    return client


def unit_figures(url: str, unit: str, first: dt.date, last: dt.date) -> dict:
    client = signed_in(url)
    try:
        r = client.get(f"/api/v1/dashboard/units/{unit}", params={
            "period": "custom", "from": first.isoformat(), "to": last.isoformat(),
            "step": "day"})
    finally:
        client.close()
    assert r.status_code == 200, r.text
    return r.json()


def true_figures(times: list[dt.datetime]) -> tuple[list[list[int]], dict[str, int]]:
    """The heat map (weekday × local hour) and the daily trend of votes at ``times``."""
    grid = [[0] * 24 for _ in range(7)]
    days: Counter = Counter()
    for t in times:
        wd, hour = weekday_hour(t)
        grid[wd][hour] += 1
        days[t.astimezone(ICT).date().isoformat()] += 1
    return grid, dict(days)


def assert_figures_are_the_truth(terminal, times: list[dt.datetime], unknown: int = 0) -> None:
    today = dt.datetime.now(dt.UTC).date()
    fig = unit_figures(terminal.url, terminal.unit, today - dt.timedelta(days=3),
                       today + dt.timedelta(days=1))
    grid, days = true_figures(times)
    assert fig["heatmap"]["votes"] == grid
    assert {p["bucket"]: p["votes"] for p in fig["trend"]["points"] if p["votes"]} == days
    assert fig["votes"] == len(times)
    assert fig["time_unknown"]["votes"] == unknown
    with terminal.engine.connect() as conn:
        assert rollups.differences(conn) == []


def test_a_tighter_bound_redates_earlier_votes_across_an_hour(terminal):
    boot = Boot(terminal, uptime_s=5 * 3600)
    # a vote 1.5 s before a local hour: dated 3 s late, it would fall into the next hour
    now_ns = boot.epoch_ns + boot.mono()
    edge_ns = (now_ns // (3600 * NS)) * 3600 * NS - 1500 * 10**6
    other = boot.vote(boot.mono() - 7200 * NS)
    at_edge = boot.vote(edge_ns - boot.epoch_ns)
    _, slow_rtt = boot.post([other, at_edge], transit_s=3.0)
    rows = terminal.rows()
    assert within_boot_bound(error_s(rows[at_edge["id"]], boot) - 3.0, slow_rtt)  # 3 s late
    assert weekday_hour(rows[at_edge["id"]].corrected_at) != weekday_hour(
        boot.true_time(at_edge["monotonic_ns"]))

    _, rtt = boot.post([])  # a fast request: the bound tightens
    rows = terminal.rows()
    for v in (at_edge, other):
        assert within_boot_bound(error_s(rows[v["id"]], boot), rtt)
    assert [h.cause for h in terminal.history()] == [redating.TIGHTER_BOUND] * 2
    assert_figures_are_the_truth(terminal, [boot.true_time(v["monotonic_ns"])
                                            for v in (at_edge, other)])


def test_synchronised_votes_that_follow_redate_the_earlier_ones(terminal):
    boot = Boot(terminal, uptime_s=5 * 3600)
    early = [boot.vote(boot.mono() - (4000 - 100 * i) * NS) for i in range(3)]
    boot.post(early, transit_s=0.8)
    synced = boot.vote(boot.mono() - 10 * NS, synced=True)
    boot.post([synced])
    rows = terminal.rows()
    for v in early:
        assert rows[v["id"]].time_method == clock.BOOT_NTP
        assert abs(error_s(rows[v["id"]], boot)) <= MS  # the simulated NTP error is 0
    assert {h.cause for h in terminal.history()} == {redating.SYNCED_VOTE}
    assert_figures_are_the_truth(terminal, [boot.true_time(v["monotonic_ns"])
                                            for v in [*early, synced]])


def test_an_older_boot_split_over_two_batches_is_dated_when_its_synced_vote_comes(terminal):
    old = Boot(terminal, uptime_s=30 * 3600)  # gone: rebooted a day ago, clock years off
    now = Boot(terminal, uptime_s=600)
    unsynced = [old.vote((3600 + 60 * i) * NS) for i in range(4)]
    now.post(unsynced[:2])
    rows = terminal.rows()
    assert all(rows[v["id"]].reason == clock.BOOT_UNKNOWN for v in unsynced[:2])
    assert_figures_are_the_truth(terminal, [], unknown=2)

    synced = old.vote(5 * 3600 * NS, synced=True)
    now.post([*unsynced[2:], synced])
    rows = terminal.rows()
    for v in unsynced:
        assert rows[v["id"]].time_method == clock.BOOT_NTP and rows[v["id"]].reason is None
        assert abs(error_s(rows[v["id"]], old)) <= MS
    history = terminal.history()
    assert sorted(h.vote_id for h in history) == sorted(v["id"] for v in unsynced[:2])
    assert all(h.time_uncertain and not h.new_time_uncertain for h in history)
    assert_figures_are_the_truth(terminal, [old.true_time(v["monotonic_ns"])
                                            for v in [*unsynced, synced]])


def test_votes_of_unknown_time_stay_out_of_the_time_of_day_figures(terminal):
    three_years_behind = dt.datetime.now(dt.UTC) - dt.timedelta(days=3 * 365)
    gone = Boot(terminal, uptime_s=20 * 3600, wall_start=three_years_behind)
    current = Boot(terminal, uptime_s=60)
    lost = [gone.vote((3600 + i) * NS) for i in range(5)]
    honest = current.vote(current.mono() - 5 * NS)
    current.post([*lost, honest])
    assert_figures_are_the_truth(terminal, [current.true_time(honest["monotonic_ns"])],
                                 unknown=5)
    client = signed_in(terminal.url)  # the unit page says how many, in Vietnamese
    try:
        page = client.get(f"/dashboard/units/{terminal.unit}").text
    finally:
        client.close()
    assert 'id="time-unknown" data-votes="5"' in page and "Không rõ thời điểm: 5" in page
    then = three_years_behind.date()
    fig = unit_figures(terminal.url, terminal.unit, then - dt.timedelta(days=2),
                       then + dt.timedelta(days=2))
    assert fig["votes"] == 0 and not any(map(any, fig["heatmap"]["votes"]))
    with terminal.engine.connect() as conn:  # still in the terminal's lifetime total
        lifetime = conn.execute(sa.select(sa.func.sum(rollups.terminal_month.c.n1
                                                      + rollups.terminal_month.c.n2
                                                      + rollups.terminal_month.c.n3))
                                .where(rollups.terminal_month.c.terminal_id == terminal.id)
                                ).scalar()
    assert lifetime == 6


# --- across batches, at the heartbeat, in the dossier's rating --------------------------------

def test_seq_rising_while_boottime_falls_is_marked_across_batches(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    base = boot.mono() - 3000 * NS
    first = [boot.vote(base + i * 60 * NS) for i in range(3)]
    _, rtt = boot.post(first)
    # a later batch: seq goes on rising, BOOTTIME goes back before the stored votes'
    behind = [boot.vote(base - (2 - i) * 60 * NS) for i in range(2)]
    # a lower seq than the stored votes' but taken after them
    older_seq = boot.vote(base + 600 * NS, seq=1)
    honest = boot.vote(base + 900 * NS)
    _, rtt2 = boot.post([*behind, older_seq, honest])
    rows = terminal.rows()
    assert [rows[v["id"]].reason for v in behind] == [clock.SEQ_ORDER] * 2
    assert rows[older_seq["id"]].reason == clock.SEQ_ORDER
    assert all(rows[v["id"]].time_uncertain for v in [*behind, older_seq])
    for v in [*first, honest]:
        assert rows[v["id"]].reason is None
        assert within_boot_bound(error_s(rows[v["id"]], boot), max(rtt, rtt2))

    # a wild value alone in its batch is marked and does not become the boot's order: the
    # honest votes after it are unharmed
    wild = boot.vote(10 * NS)
    boot.post([wild])
    after = [boot.vote(base + (1000 + i) * NS) for i in range(2)]
    boot.post(after)
    rows = terminal.rows()
    assert rows[wild["id"]].reason == clock.SEQ_ORDER
    assert [rows[v["id"]].reason for v in after] == [None, None]


def test_a_heartbeat_that_tightens_the_bound_redates_the_stored_votes_at_once(terminal):
    boot = Boot(terminal, uptime_s=5 * 3600)
    now_ns = boot.epoch_ns + boot.mono()
    edge_ns = (now_ns // (3600 * NS)) * 3600 * NS - 1500 * 10**6  # 1.5 s before an hour
    votes = [boot.vote(boot.mono() - 5000 * NS), boot.vote(edge_ns - boot.epoch_ns)]
    boot.post(votes, transit_s=3.0)  # dated 3 s late: the second one in the next hour
    start = dt.datetime.now(dt.UTC)
    terminal.heartbeat(boot_id=boot.id, monotonic_ns=boot.mono())  # no batch follows it
    rtt = (dt.datetime.now(dt.UTC) - start).total_seconds()
    rows = terminal.rows()
    for v in votes:
        assert rows[v["id"]].time_method == clock.BOOT
        assert within_boot_bound(error_s(rows[v["id"]], boot), rtt)
    assert [h.cause for h in terminal.history()] == [redating.TIGHTER_BOUND] * 2
    assert_figures_are_the_truth(terminal, [boot.true_time(v["monotonic_ns"]) for v in votes])


def test_a_heartbeat_is_checked_like_a_batch_before_it_moves_a_boot(terminal):
    boot = Boot(terminal, uptime_s=3 * 3600)
    vote = boot.vote(boot.mono() - 600 * NS)
    _, rtt = boot.post([vote])
    # 30 minutes "earlier": within the hour every writer guards, beyond the boot's interval
    terminal.heartbeat(boot_id=boot.id, monotonic_ns=boot.mono() + 1800 * NS)
    row = terminal.rows()[vote["id"]]
    assert within_boot_bound(error_s(row, boot), rtt) and terminal.history() == []


def test_a_redated_vote_gives_its_new_time_to_its_dossier_rating(terminal):
    from district.attribution import dossier_ratings

    boot = Boot(terminal, uptime_s=5 * 3600)
    code = f"HS-{terminal.id}"
    rated = boot.vote(boot.mono() - 4000 * NS, dossier_code=code)
    boot.post([rated], transit_s=2.0)
    _, rtt = boot.post([])  # a fast request: the bound tightens by ~2 s
    row = terminal.rows()[rated["id"]]
    assert within_boot_bound(error_s(row, boot), rtt)
    with terminal.engine.connect() as conn:
        rating = conn.execute(sa.select(dossier_ratings)
                              .where(dossier_ratings.c.dossier_code == code)).one()
    assert (rating.vote_id, rating.corrected_at) == (rated["id"], row.corrected_at)
