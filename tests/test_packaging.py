"""setup.py builds a wheel without a setuptools warning, its package data all exists, and the
wheel holds every file the code opens beside itself (catalogs, screens, fonts, templates,
static files, the migration template): built for real with pip, as an installer would."""

from __future__ import annotations

import ast
import glob
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO, require

# Files in the packages' folders that no code opens (docs beside the code, compiled caches).
NOT_DATA = re.compile(r"(\.py[co]?$|/__pycache__/|README\.md$)")


def setup_constant(name: str):
    """A literal constant of setup.py (read, not run: running it would run setup())."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            # literals and the constants above them (``[*CATALOGS, …]``), nothing callable
            source = ast.unparse(node.value)
            values[node.targets[0].id] = eval(source, {"__builtins__": {}}, dict(values))
    return values[name]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """(the wheel, pip's verbose output of the build)."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v",
                           "--wheel-dir", str(out), str(REPO)], capture_output=True,
                          text=True, timeout=600, check=False)
    log = done.stdout + done.stderr
    if done.returncode != 0 and "No matching distribution found for" in log:
        require(False, "pip reaches an index for the build requirements (setuptools, wheel)")
    assert done.returncode == 0, log[-3000:]
    wheels = list(out.glob("hailong-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], log


def test_the_build_prints_no_setuptools_warning(built):
    _wheel, log = built
    warnings = [line.strip() for line in log.splitlines()
                if re.search(r"\w*Warning:|^\s*warning: (?!build_py: byte-compiling|"
                             r"install_lib: byte-compiling)", line)
                and "Location 'file://" not in line]  # pip's note on a local index folder
    assert not warnings, "\n".join(warnings)


def test_every_package_data_pattern_matches_files():
    for package, patterns in setup_constant("PACKAGE_DATA").items():
        folder = REPO / package.replace(".", "/")
        for pattern in patterns:
            assert glob.glob(str(folder / pattern)), \
                f"setup.py: package data {package}:{pattern} matches no file"


def tracked_data_files() -> set[str]:
    """The files of the packages' folders in git that are not code: what the code opens."""
    packages = setup_constant("PACKAGES")
    listed = subprocess.run(["git", "ls-files", "--", *packages], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return {name for name in listed if not NOT_DATA.search(name)}


def test_the_wheel_holds_every_file_the_code_opens(built):
    wheel, _log = built
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    expected = tracked_data_files()
    assert any(name.endswith(".mo") for name in expected)  # the walk found the catalogs
    assert any(name.endswith(".kv") for name in expected)  # and the screens
    missing = sorted(expected - inside)
    assert not missing, f"not in the wheel: {missing}"
    # and the migrations, modules of a folder without __init__.py
    assert any(re.match(r"district/migrations/versions/.+\.py$", n) for n in inside)
