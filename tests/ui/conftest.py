"""UI tests: a real Kivy window on a private Xvfb display, one app process per scenario."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, clean_env, require

ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
SCREEN = "1920x1080x24"


def _free_display() -> int:
    for number in range(90, 400):
        if not Path(f"/tmp/.X{number}-lock").exists() and \
                not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number")


@pytest.fixture(scope="session")
def xvfb():
    """A private X server for the session; DISPLAY points at it while the tests run."""
    require(shutil.which("Xvfb") is not None, "Xvfb is not installed (Debian: xvfb)")
    require(shutil.which("xdotool") is not None, "xdotool is not installed")
    require(shutil.which("import") is not None, "ImageMagick's import is not installed")
    number = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", SCREEN, "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{number}")
    for _ in range(100):
        if socket.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail("Xvfb did not start")
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield f":{number}"
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def ui_config(tmp_path: Path, **sections) -> dict:
    """A kiosk.toml as a dict: mock GPIO, a store in tmp_path, short lock-out."""
    data = {
        "terminal": {"id": "hbt-thanh-nhan", "unit": "hbt/thanh-nhan",
                     "name": "Bộ phận một cửa phường Thanh Nhàn", "language": "vi"},
        "storage": {"path": str(tmp_path / "votes.db")},
        "gpio": {"pin_factory": "mock"},
        "rules": {"lockout_s": 3.0},  # long enough to look at the thank-you on a busy machine
        "technician": {"pin": "2468"},
        "followup": {"enabled": True, "at_or_below": 1, "timeout_s": 20},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def child_env(display: str) -> dict:
    env = clean_env("KIVY_")
    env.update(DISPLAY=display, PYTHONPATH=str(REPO), XDG_CACHE_HOME="/tmp/kiosk-ui-test-cache")
    env.pop("NOTIFY_SOCKET", None)
    return env


@pytest.fixture
def run_scenario(xvfb, tmp_path):
    """Run one driver scenario in a fresh process; returns its report (asserts no errors)."""

    def run(scenario: str, params: dict, *, timeout: float = 300, pass_fds=()) -> dict:
        params_path = tmp_path / f"{scenario}.params.json"
        report_path = tmp_path / f"{scenario}.report.json"
        log_path = tmp_path / f"{scenario}.log"
        params_path.write_text(json.dumps(params, ensure_ascii=False))
        with log_path.open("w") as log:
            proc = subprocess.run(
                [sys.executable, "-m", "tests.ui.driver", scenario, str(params_path),
                 str(report_path)], cwd=REPO, env=child_env(xvfb), stdout=log,
                stderr=subprocess.STDOUT, timeout=timeout, pass_fds=pass_fds)
        log_tail = log_path.read_text(errors="replace")[-4000:]
        assert report_path.exists(), f"driver wrote no report (exit {proc.returncode}):\n" \
            f"{log_tail}"
        report = json.loads(report_path.read_text())
        assert not report["errors"], "\n".join(report["errors"]) + "\n" + log_tail
        report["steps_by_name"] = {step["name"]: step for step in report["steps"]}
        return report

    return run
