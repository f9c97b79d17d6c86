"""ruff over the whole tree, so CI fails on what `make lint` would report (the rules are in
pyproject.toml's [tool.ruff])."""

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

RUFF = Path(sys.executable).with_name("ruff")  # the venv's, installed by the [dev] extra


def test_ruff_finds_nothing():
    result = subprocess.run([str(RUFF), "check", "--no-cache", "."], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
