"""The suite stays a package: no test edits ``sys.path``, and no test folder borrows another
folder's conftest or helpers; what folders share is in ``tests/helpers/``."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

TESTS = REPO / "tests"
SHARED = {"helpers"}  # the one package every folder may import


def suite_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "artifacts" not in p.parts)


def sys_path_edits(tree: ast.AST) -> list[int]:
    """Lines calling ``sys.path.insert/append/extend`` (code in strings is not code here)."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"insert", "append", "extend"}
            and ast.unparse(node.func.value) == "sys.path"]


def borrowed(path: Path, tree: ast.AST) -> list[str]:
    """Imports of another test folder's modules (``tests.<other>.…``), or of a helper module
    found only through a ``sys.path`` edit (``from doctor_helpers import …``)."""
    folder = path.relative_to(TESTS).parts[0] if path.parent != TESTS else None
    found = []
    for node in ast.walk(tree):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "tests" and len(parts) > 2 and parts[1] not in SHARED | {folder}:
                found.append(name)
            if parts[0].endswith("_helpers") or parts[0] in {"proxy", "xwin", "scenarios"}:
                found.append(name)
    return found


def test_no_test_edits_sys_path_or_borrows_another_folder():
    problems = []
    for path in suite_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO)
        problems += [f"{where}:{line}: edits sys.path" for line in sys_path_edits(tree)]
        problems += [f"{where}: imports {name} (move it to tests/helpers/)"
                     for name in borrowed(path, tree)]
    assert not problems, "\n".join(problems)


def test_the_check_sees_what_it_forbids():
    edit = ast.parse("import sys\nsys.path.insert(0, 'x')\n")
    assert sys_path_edits(edit) == [2]
    borrow = ast.parse("from tests.doctor.doctor_helpers import x\nfrom sync_helpers import y\n")
    assert borrowed(TESTS / "provision" / "test_x.py", borrow) == [
        "tests.doctor.doctor_helpers", "sync_helpers"]
    own = ast.parse("from tests.doctor.doctor_helpers import x\nfrom tests.helpers import y\n")
    assert borrowed(TESTS / "doctor" / "test_x.py", own) == []
