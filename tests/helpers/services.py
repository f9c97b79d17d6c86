"""Where the repository and its commands are, and what to do when a service is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's console scripts: kiosk, district
PG_ADMIN_URL = os.environ.get("HL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def require(condition: bool, reason: str) -> None:
    """Skip on a developer's machine when a service is missing; fail in CI, where .ci/run
    installs and starts everything (a skipped check must never pass as green there)."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must have this: {reason}")
    pytest.skip(reason)
