"""Bytes of storage per vote on the terminal after N votes.

    .venv/bin/python bench/storage_size.py [--votes 100000]

Votes are written through VoteStore.record (one transaction each, as in service), with
realistic content: a counter name, a quarter of them flagged or with reasons. Reported: the
database file after a WAL checkpoint, per vote; beside it, the JSON size of one vote on the
wire, for scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk import clock  # noqa: E402
from kiosk.store import VoteStore  # noqa: E402
from kiosk.vote import Flag, Reason, Source, new_vote  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "votes.db"
        store = VoteStore(path, "hbt-thanh-nhan")
        store.conn.execute("PRAGMA synchronous = OFF")  # size, not speed, is measured here
        started = time.perf_counter()
        wire = 0
        for i in range(args.votes):
            flags = (Flag.SUSPECTED_MISUSE,) if i % 4 == 0 else ()
            vote = new_vote(i % 3 + 1, 3, Source.GPIO, clock.now(), flags=flags,
                            counter="Quầy 1")
            stored = store.record(vote, held=i % 4 == 1)
            if i % 4 == 1:
                store.add_reasons(stored.id, [Reason.WAITING_TIME])
            wire += len(json.dumps(stored.to_wire()))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        size = path.stat().st_size
    print(f"votes: {args.votes} in {time.perf_counter() - started:.1f} s")
    print(f"database file: {size:,} bytes = {size / args.votes:.1f} bytes per vote")
    print(f"one vote as JSON on the wire: {wire / args.votes:.1f} bytes (for scale)")


if __name__ == "__main__":
    main()
