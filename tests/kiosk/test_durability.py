"""Power-cut stand-in: a writer SIGKILLed at random moments, 200 times, loses nothing it
acknowledged, never corrupts the file and never reuses a seq."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kiosk.store import VoteStore

CHILD = Path(__file__).with_name("durability_child.py")
KILLS = int(os.environ.get("DURABILITY_KILLS", "200"))


def run_and_kill(db: Path, delay: float) -> list[tuple[str, int]]:
    """Start the child, SIGKILL it after `delay` seconds, return what it acknowledged."""
    child = subprocess.Popen([sys.executable, str(CHILD), str(db)], stdout=subprocess.PIPE,
                             text=True, bufsize=1)
    acknowledged: list[tuple[str, int]] = []

    def read() -> None:
        for line in child.stdout:
            if line.endswith("\n"):  # a half-written line was never an acknowledgement
                vote_id, seq = line.split()
                acknowledged.append((vote_id, int(seq)))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join()
    return acknowledged


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_vote(tmp_path):
    db = tmp_path / "votes.db"
    rng = random.Random(20261128)
    acknowledged: dict[str, int] = {}
    for kill in range(KILLS):
        # mostly early kills (during start-up and migration), some after many commits
        delay = rng.choice([rng.uniform(0.0, 0.15), rng.uniform(0.15, 0.6)])
        acked = run_and_kill(db, delay)
        acknowledged.update(acked)
        with VoteStore(db, "check") as store:
            assert store.integrity_ok(), f"corrupt after kill {kill}"
            rows = dict(store.conn.execute("SELECT id, seq FROM votes").fetchall())
        missing = [vid for vid in acknowledged if vid not in rows]
        assert not missing, f"kill {kill}: acknowledged votes lost: {missing[:3]}"
        assert all(rows[vid] == seq for vid, seq in acknowledged.items())
        seqs = list(rows.values())
        assert len(seqs) == len(set(seqs)), "a seq was used twice"
    assert len(acknowledged) > KILLS  # the test really recorded votes between kills
    in_order = sorted(acknowledged.values())
    assert in_order == sorted(set(in_order))  # seq only ever went forward, across 200 crashes
