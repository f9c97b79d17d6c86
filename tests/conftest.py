"""Shared test helpers. Each area has its own conftest beside its tests (tests/ui, tests/sync…)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def require(condition: bool, reason: str) -> None:
    """Skip on a developer's machine when a service is missing; fail in CI, where .ci/run
    installs and starts everything (a skipped check must never pass as green there)."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must have this: {reason}")
    pytest.skip(reason)


@pytest.fixture
def kiosk_env(tmp_path, monkeypatch):
    """Environment for running `kiosk` commands against a fresh store in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env.update({
        "KIOSK_STORAGE__PATH": str(tmp_path / "votes.db"),
        "KIOSK_TERMINAL__ID": "test-terminal",
        "KIOSK_GPIO__PIN_FACTORY": "mock",
    })
    for key in [k for k in os.environ if k.startswith("KIOSK_")]:
        monkeypatch.delenv(key)
    return env
