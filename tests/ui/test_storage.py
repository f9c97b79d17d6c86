"""Storage failing mid-run (a full card, then a read-only one) shows the out-of-order screen
without a false thank-you; when it works again the rating screen is back and no
acknowledged vote is lost. Needs root for a small tmpfs."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import require
from tests.ui.conftest import ui_config

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.fixture
def small_disk(tmp_path):
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    folder = tmp_path / "card"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_storage_failure_and_recovery(run_scenario, tmp_path, small_disk):
    config = ui_config(tmp_path, storage={"path": str(small_disk / "votes.db")},
                       rules={"lockout_s": 1.0}, followup={"enabled": False})
    report = run_scenario("storage", {"config": config, "size": [800, 480],
                                      "mount": str(small_disk)})
    step = report["steps_by_name"]["storage"]
    assert step["first"] and step["second"], "a vote before and after the failure"
    assert step["screen_during"] == "out_of_order"  # no thank-you while storage fails
    if step["remounted_ro"]:
        assert step["screen_read_only"] == "out_of_order"
    assert step["acknowledged"] == [1, 1]  # every thank-you had its row
    levels = [v["level"] for v in step["votes"]]
    assert levels == [3, 3], f"acknowledged votes only, none lost: {step['votes']}"
