"""Fixtures every area uses. Shared helpers are a package, ``tests.helpers``; each area has
its own conftest beside its tests (tests/ui, tests/sync…) for its own fixtures only."""

from __future__ import annotations

import os

import pytest

from tests.helpers import clean_env


@pytest.fixture
def kiosk_env(tmp_path, monkeypatch):
    """Environment for running `kiosk` commands against a fresh store in tmp_path; this
    process's own KIOSK_* settings are removed too (in-process CLI calls read them)."""
    env = clean_env(KIOSK_STORAGE__PATH=str(tmp_path / "votes.db"),
                    KIOSK_TERMINAL__ID="test-terminal", KIOSK_GPIO__PIN_FACTORY="mock")
    for key in [k for k in os.environ if k.startswith("KIOSK_")]:
        monkeypatch.delenv(key)
    return env
