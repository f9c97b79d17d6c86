"""The capture process and the sync agent share one SQLite file: a writer and a process
claiming and settling rows, concurrently, for thousands of votes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from kiosk.store import VoteStore

VOTES = 3000

WRITER = textwrap.dedent("""
    import sys, time
    from kiosk import clock
    from kiosk.store import VoteStore
    from kiosk.vote import Source, new_vote
    with VoteStore(sys.argv[1], "t") as store:
        for i in range(int(sys.argv[2])):
            store.record(new_vote(i % 3 + 1, 3, Source.GPIO, clock.now()))
""")

SYNCER = textwrap.dedent("""
    import sys, time
    from kiosk.store import VoteStore
    settled = attempts = 0
    deadline = time.monotonic() + 120
    with VoteStore(sys.argv[1], "t") as store:
        store.return_inflight()
        while settled < int(sys.argv[2]) and time.monotonic() < deadline:
            batch = store.claim(97)
            if not batch:
                time.sleep(0.005)
                continue
            attempts += 1
            # every 7th upload "fails" and its votes go back, as after a network error
            if attempts % 7 == 0:
                store.unclaim([v.id for v in batch])
                continue
            store.settle([v.id for v in batch[1:]], [(batch[0].id, "test rejection")])
            settled += len(batch)
    print(settled)
""")


def test_writer_and_syncer_at_once_lose_nothing_and_never_see_locked(tmp_path):
    db = tmp_path / "votes.db"
    VoteStore(db, "t").close()  # migrate once so both start from the same schema
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(VOTES)],
                              stderr=subprocess.PIPE, text=True)
    syncer = subprocess.Popen([sys.executable, "-c", SYNCER, str(db), str(VOTES)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    writer_err = writer.communicate(timeout=180)[1]
    syncer_out, syncer_err = syncer.communicate(timeout=180)
    assert writer.returncode == 0, writer_err
    assert syncer.returncode == 0, syncer_err
    assert "locked" not in writer_err + syncer_err
    assert int(syncer_out) == VOTES, f"only {syncer_out} settled in {time.monotonic() - started}"
    with VoteStore(db, "t") as store:
        counts = store.counts()
        assert counts["total"] == VOTES
        assert counts["pending"] == counts["inflight"] == 0
        assert counts["synced"] + counts["rejected"] == VOTES
        assert counts["rejected"] > 0
        seqs = [r[0] for r in store.conn.execute("SELECT seq FROM votes ORDER BY seq")]
        assert seqs == list(range(1, VOTES + 1))
        assert store.integrity_ok()
