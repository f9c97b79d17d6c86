"""Fleet tests: systemd units, image/install.sh, first boot, shell scripts, technician guide.

fleet_helpers beside this file is imported as a module (pytest runs with
--import-mode=importlib, so this folder is put on sys.path here). Tools (systemd-analyze,
shellcheck) are found on PATH; when one is missing the test is skipped on a developer's
machine and fails in CI (CI set), where the Makefile's system-packages target installs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
