"""Power cuts, not just kills: the stores run on a filesystem that loses every write not yet
fsynced (tests/helpers/powercut_fs.py), the power is cut at moments chosen by what the
writers have done, and what a disk would hold afterwards is checked.

- the terminal's vote store, with the capture path, ``kiosk vote`` and the sync agent all
  writing: every acknowledged vote is there with its seq, ``integrity_check`` is ok, no seq
  is used twice, and the district never holds a vote the terminal lost;
- the district's SQLite under ``district serve`` taking uploads: every vote an answer
  acknowledged (accepted or duplicate) is there, the file is intact;
- the proof of the harness: the same runs against a store committing with
  ``synchronous=OFF`` or ``NORMAL`` (which the SIGKILL tests cannot tell from FULL), and
  against the district's SQLite with ``synchronous=OFF``, lose acknowledged votes, and the
  harness says so.

Counts, never durations: how many cuts (200 in all), not how long they take;
POWERCUT_KIOSK_CUTS / POWERCUT_DISTRICT_CUTS give more."""

from __future__ import annotations

import os

import pytest

from tests.powercut.harness import run_district_cuts, run_kiosk_cuts

KIOSK_CUTS = int(os.environ.get("POWERCUT_KIOSK_CUTS", "160"))
DISTRICT_CUTS = int(os.environ.get("POWERCUT_DISTRICT_CUTS", "40"))


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a hang guard on a loaded machine; nothing is timed
def test_power_cuts_under_the_vote_store_lose_no_acknowledged_vote(tmp_path,
                                                                     district_server):
    terminal = "pc-kiosk"
    outcome = run_kiosk_cuts(tmp_path, district_server.url, district_server.db_path,
                             district_server.register(terminal), terminal, KIOSK_CUTS,
                             seed=20261202, real_every=40)
    assert not outcome.problems, "\n".join(outcome.problems[:10])
    assert outcome.cuts == KIOSK_CUTS
    # every cut came after at least one acknowledgement, and threw unsynced data away
    assert len(outcome.acknowledged) >= KIOSK_CUTS and outcome.dropped_bytes > 0
    assert outcome.uploaded > 0  # the agent uploaded (and settled) between the cuts
    assert outcome.cli_votes > 0  # `kiosk vote` was writing too
    assert outcome.real_commands >= 1  # `kiosk vote` as installed, not only forked


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_power_cuts_under_the_district_database_lose_no_acknowledged_vote(tmp_path):
    outcome = run_district_cuts(tmp_path, DISTRICT_CUTS, seed=20261203, real_every=20)
    assert not outcome.problems, "\n".join(outcome.problems[:10])
    assert outcome.cuts == DISTRICT_CUTS
    assert outcome.acknowledged and outcome.dropped_bytes > 0
    assert outcome.real_commands >= 1  # `district serve` as installed, not only forked


@pytest.mark.parametrize("synchronous", ["OFF", "NORMAL"])
@pytest.mark.timeout(600)
def test_the_harness_catches_a_store_that_does_not_sync(tmp_path, district_server,
                                                        synchronous):
    """The regression the suite must catch: the same harness, the store weakened."""
    terminal = f"pc-weak-{synchronous.lower()}"
    outcome = run_kiosk_cuts(tmp_path, district_server.url, district_server.db_path,
                             district_server.register(terminal), terminal, cuts=20,
                             seed=7, synchronous=synchronous, stop_at_problem=True)
    assert any("acknowledged vote(s) lost" in p for p in outcome.problems), (
        f"{outcome.cuts} cuts under synchronous={synchronous} lost nothing: the harness "
        "cannot tell a store that syncs from one that does not")


@pytest.mark.timeout(600)
def test_the_harness_catches_a_district_database_that_does_not_sync(tmp_path):
    outcome = run_district_cuts(tmp_path, 20, seed=11, synchronous="OFF", stop_at_problem=True)
    assert any("acknowledged vote(s) lost" in p for p in outcome.problems), (
        f"{outcome.cuts} cuts under synchronous=OFF lost nothing")
