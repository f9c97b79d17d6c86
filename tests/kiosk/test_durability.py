"""Power-cut stand-in: a writer SIGKILLed 200 times loses nothing it acknowledged, never
corrupts the file and never reuses a seq.

The kill moments come from what the child has done, never from a clock: most kills wait
until the child has acknowledged its N-th vote (N random) and cut it in the middle of the
next ones; the others come a random few milliseconds after the start, during start-up and
migration, whether or not it acknowledged anything. However slow the machine, the test
checks the same thing."""

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
ACK_TIMEOUT_S = 120  # for the N-th acknowledgement: a hang guard, not a speed limit


class Child:
    """The writer process and the votes it acknowledged (``id seq`` lines on its stdout)."""

    def __init__(self, db: Path):
        self.proc = subprocess.Popen([sys.executable, str(CHILD), str(db)],
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.acknowledged: list[tuple[str, int]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.endswith("\n"):  # a half-written line was never an acknowledgement
                vote_id, seq = line.split()
                with self._changed:
                    self.acknowledged.append((vote_id, int(seq)))
                    self._changed.notify_all()
        with self._changed:  # end of output: the child is gone
            self._changed.notify_all()

    def wait_for_acks(self, count: int) -> None:
        """Until the child has acknowledged ``count`` votes (it fails if the child died)."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: len(self.acknowledged) >= count or not self._reader.is_alive()
                or self.proc.poll() is not None, timeout=ACK_TIMEOUT_S)
        assert done and len(self.acknowledged) >= count, (
            f"the child acknowledged {len(self.acknowledged)} of {count} votes "
            f"(exit code {self.proc.poll()})")

    def kill(self) -> list[tuple[str, int]]:
        """SIGKILL, then everything it acknowledged before dying."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._reader.join()
        return self.acknowledged


def kill_plan(rng: random.Random) -> tuple[str, float]:
    """("acks", N): kill right after the N-th acknowledgement (a few ms later, so the cut
    falls anywhere in the next commit); ("early", s): kill s seconds after the start."""
    if rng.random() < 0.3:
        return "early", rng.uniform(0.0, 0.15)
    return "acks", rng.randint(1, 40)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 200 process starts on a loaded machine; nothing is timed
def test_sigkill_at_random_moments_loses_no_acknowledged_vote(tmp_path):
    db = tmp_path / "votes.db"
    rng = random.Random(20261128)
    acknowledged: dict[str, int] = {}
    waited_for = 0
    for kill in range(KILLS):
        kind, amount = kill_plan(rng)
        child = Child(db)
        if kind == "acks":
            child.wait_for_acks(int(amount))
            waited_for += int(amount)
            time.sleep(rng.uniform(0, 0.005))
        else:
            time.sleep(amount)
        acked = child.kill()
        acknowledged.update(acked)
        with VoteStore(db, "check") as store:
            assert store.integrity_ok(), f"corrupt after kill {kill}"
            rows = dict(store.conn.execute("SELECT id, seq FROM votes").fetchall())
        missing = [vid for vid in acknowledged if vid not in rows]
        assert not missing, f"kill {kill} ({kind} {amount}): acknowledged votes lost: " \
            f"{missing[:3]}"
        assert all(rows[vid] == seq for vid, seq in acknowledged.items())
        seqs = list(rows.values())
        assert len(seqs) == len(set(seqs)), "a seq was used twice"
    # the kills that waited for acknowledgements really had them (counted, not timed)
    assert waited_for > 0 and len(acknowledged) >= waited_for
    in_order = sorted(acknowledged.values())
    assert in_order == sorted(set(in_order))  # seq only ever went forward, across the crashes
