"""``kiosk export`` onto a stick whose power goes right after: the file was fsynced before
its rename, and the folder after it, so the new name is on the stick too (a rename alone
can stay in the page cache, and the stick then holds no file, or the old one)."""

from __future__ import annotations

import csv
import subprocess

from kiosk import clock
from kiosk.store import VoteStore
from kiosk.vote import Source, new_vote
from tests.helpers import BIN, clean_env
from tests.helpers.powercut_fs import Mount


def test_export_syncs_the_file_then_the_folder_after_the_rename(tmp_path):
    store = tmp_path / "votes.db"
    with VoteStore(store, "pc-export") as votes:
        ids = [votes.record(new_vote(level, 3, Source.GPIO, clock.now())).id
               for level in (1, 2, 3)]
    env = clean_env(KIOSK_STORAGE__PATH=str(store), KIOSK_TERMINAL__ID="pc-export",
                    KIOSK_TERMINAL__UNIT="pc-unit", KIOSK_GPIO__PIN_FACTORY="mock")
    with Mount(tmp_path / "stick", tmp_path / "media") as stick:
        stick.command("log-clear")
        done = subprocess.run([str(BIN / "kiosk"), "--lang", "en", "export",
                               str(stick.path / "votes.csv")], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        log = stick.state()["log"]
        stick.cut()  # the stick pulled, or the power gone, the moment the command returned
        renamed = log.index(["rename", "/votes.csv.part", "/votes.csv"])
        assert ["fsyncdir", "/"] in log[renamed + 1:], log
        with (stick.path / "votes.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    assert [row["id"] for row in rows] == ids
