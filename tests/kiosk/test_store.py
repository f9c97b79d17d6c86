"""The vote store: outbox life cycle, follow-up holds, and storage that fails for real."""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess

import pytest

from kiosk import clock
from kiosk.store import StorageError, VoteStore
from kiosk.vote import Flag, Reason, Source, new_vote


def vote(level=3, **kw):
    return new_vote(level, 3, Source.GPIO, clock.now(), **kw)


def test_pragmas_make_every_commit_durable(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_vote_round_trips_with_every_field(store):
    original = vote(1, flags=(Flag.TEST,), counter="Quầy 2", officer="Nguyễn Văn A")
    stored = store.record(original)
    assert stored.seq == 1
    again = store.get(original.id)
    assert again == stored
    assert again.to_wire()["recorded_at"].endswith("Z")


def test_outbox_claim_settle_unclaim_and_crash_return(store):
    ids = [store.record(vote()).id for _ in range(5)]
    first = store.claim(2)
    assert [v.id for v in first] == ids[:2]
    assert store.counts()["inflight"] == 2
    store.settle([first[0].id], [(first[1].id, "level outside scale")])
    assert store.counts() | {} == {"held": 0, "pending": 3, "inflight": 0, "synced": 1,
                                   "rejected": 1, "total": 5}
    assert store.rejected() == [(first[1].id, "level outside scale")]
    second = store.claim(10)
    store.unclaim([v.id for v in second[:1]])
    assert store.counts()["pending"] == 1 and store.counts()["inflight"] == 2
    assert store.return_inflight() == 2  # the agent died: in-flight back to pending
    assert store.counts()["pending"] == 3


def test_an_unreadable_row_is_rejected_and_does_not_block_the_queue(store):
    bad, good = store.record(vote()), store.record(vote())
    store.conn.execute("UPDATE votes SET source = 'telepathy' WHERE id = ?", (bad.id,))
    assert [v.id for v in store.claim(10)] == [good.id]
    [(rejected_id, error)] = store.rejected()
    assert rejected_id == bad.id and "unreadable" in error


def test_held_vote_waits_for_its_followup_answer(store):
    held = store.record(vote(1), held=True)
    assert store.claim(10) == []
    store.add_reasons(held.id, [Reason.WAITING_TIME, Reason.OFFICER_ATTITUDE])
    [claimed] = store.claim(10)
    assert claimed.reasons == (Reason.WAITING_TIME, Reason.OFFICER_ATTITUDE)


def test_held_vote_of_a_dead_ui_is_sent_after_the_followup_surely_ended(store):
    held = store.record(vote(1), held=True)
    now_ns = clock.since_boot_ns()
    assert store.claim(10, held_older_than_s=60, boot_id=clock.boot_id(),
                       monotonic_ns=now_ns) == []
    [late] = store.claim(10, held_older_than_s=60, boot_id=clock.boot_id(),
                         monotonic_ns=now_ns + 61 * 10**9)
    assert late.id == held.id
    other = store.record(vote(1), held=True)
    [rebooted] = store.claim(10, held_older_than_s=60, boot_id="another-boot", monotonic_ns=0)
    assert rebooted.id == other.id


def test_flags_are_added_only_before_upload(store):
    a, b = store.record(vote()), store.record(vote())
    store.settle([b.id], [])
    assert store.flag_unsynced(a.id, Flag.STUCK_BUTTON)
    assert not store.flag_unsynced(b.id, Flag.STUCK_BUTTON)
    assert store.get(a.id).flags == (Flag.STUCK_BUTTON,)
    assert store.get(b.id).flags == ()


def test_export_is_csv_with_every_vote(store):
    store.record(vote(2, counter="Quầy 1"))
    store.record(vote(1, flags=(Flag.TEST, Flag.SUSPECTED_MISUSE)))
    out = io.StringIO()
    assert store.export_csv(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["level"] for r in rows] == ["2", "1"]
    assert rows[0]["counter"] == "Quầy 1"
    assert rows[1]["flags"] == "test;suspected_misuse"
    assert rows[0]["terminal_id"] == "t-test"


@contextlib.contextmanager
def small_filesystem(path, size="300k"):
    """A real, tiny tmpfs (as root): filled up or remounted read-only like a failing card."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_storage_is_a_clear_error_and_recovers(tmp_path):
    with small_filesystem(tmp_path / "card", "4m") as card:
        with VoteStore(card / "votes.db", "t") as store:
            kept = store.record(vote())
        # Linux refuses a read-only remount while files are open for writing, so the card
        # "goes read-only" between two opens, as after the kernel's errors=remount-ro.
        subprocess.run(["mount", "-o", "remount,ro", str(card)], check=True)
        with pytest.raises(StorageError) as caught:
            VoteStore(card / "votes.db", "t").record(vote())
        assert caught.value.kind == "read_only"
        assert "read" in str(caught.value).lower()
        subprocess.run(["mount", "-o", "remount,rw", str(card)], check=True)
        with VoteStore(card / "votes.db", "t") as again:
            again.record(vote())
            assert again.get(kept.id) is not None
            assert again.counts()["total"] == 2


def test_full_disk_is_a_clear_error_and_drops_nothing_already_stored(tmp_path):
    with small_filesystem(tmp_path / "card", "300k") as card:
        store = VoteStore(card / "votes.db", "t")
        stored = []
        with pytest.raises(StorageError) as caught:
            for _ in range(100_000):
                stored.append(store.record(vote(counter="x" * 500)).id)
        assert caught.value.kind == "full"
        store.close()
        with VoteStore(card / "votes.db", "t") as again:
            assert again.integrity_ok()
            assert stored and again.all_ids() >= set(stored)
