"""The house rules of the imports, checked from the code: the contracts of ``.importlinter``
(no circles; ``ballot`` imports neither ``kiosk`` nor ``district``; ``district`` without
``kiosk`` but for provisioning; the terminal's core without Kivy and requests; storage and
the ingest API without the dashboard; the layers), run by import-linter's own
``lint-imports``, and any import circle at all found with grimp. A violation fails here,
so CI fails; each contract is also shown to fail on a package made to break it."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # the venv's console script


def read_config(path: Path = CONFIG) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    return parser


def listed(section, key: str) -> list[str]:
    return [line.strip() for line in section.get(key, "").splitlines() if line.strip()]


def contract_sections(parser: configparser.ConfigParser) -> dict[str, configparser.SectionProxy]:
    prefix = "importlinter:contract:"
    return {name[len(prefix):]: parser[name] for name in parser.sections()
            if name.startswith(prefix)}


def root_packages(parser: configparser.ConfigParser) -> list[str]:
    return listed(parser["importlinter"], "root_packages")


def lint_imports(cwd: Path, config: Path, env: dict | None = None
                 ) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def import_cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every import circle between modules of the graph, each once, as (a, b, …, a) from
    its smallest module: for each import a → b, the shortest way from b back to a."""
    found = set()
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                loop = [importer, *back[:-1]]
                start = loop.index(min(loop))
                loop = loop[start:] + loop[:start]
                found.add((*loop, loop[0]))
    return sorted(found)


def describe(cycles: list[tuple[str, ...]]) -> str:
    return "import circles:\n" + "\n".join("  " + " → ".join(c) for c in cycles)


def test_the_contracts_hold():
    result = lint_imports(ROOT, CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [" ".join(s["name"].split()) for s in contract_sections(read_config()).values()]
    report = " ".join(result.stdout.split())
    for name in names:  # every contract was loaded and checked
        assert f"{name} KEPT" in report, (name, result.stdout)
    assert f"Contracts: {len(names)} kept, 0 broken." in report
    # every exception still listed is one the code really has (no stale ignore_imports)
    assert "No matches for ignored import" not in result.stdout + result.stderr, result.stdout


def test_the_contracts_say_something():
    contracts = contract_sections(read_config())
    assert set(contracts) >= {"no-circles", "ballot-alone", "district-without-kiosk",
                              "core-without-kivy-requests", "storage-without-dashboard",
                              "ingest-api-without-dashboard", "kiosk-layers",
                              "district-layers"}
    for section in contracts.values():
        modules = [m for key in ("ancestors", "source_modules", "forbidden_modules", "layers")
                   for m in listed(section, key)]
        assert modules, section.name
    allowed = listed(contracts["district-without-kiosk"], "ignore_imports")
    assert "district.provision -> kiosk.config" in allowed  # the documented exception


def test_no_import_circle_anywhere():
    graph = grimp.build_graph(*root_packages(read_config()), cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, describe(cycles)


# --- each contract can fail ---------------------------------------------------------------

# A small copy of the tree with one violation of each contract (module: its imports)
VIOLATIONS = {
    "kiosk.store": "import kiosk.rules\n",           # a circle: rules ↔ store (same layer)
    "kiosk.rules": "import kiosk.store\n",
    "kiosk.vote": "import requests\n",               # the core imports requests
    "district.ingest": "import kiosk.vote\nimport district.dashboard\n",  # kiosk; dashboard
    "district.errors": "import district.cli\n",      # a low layer imports the top one
    "district.api": "import district.dashboard\n",   # the ingest API imports the dashboard
    "ballot": "import kiosk\n",                      # the shared vocabulary imports kiosk
}


def _module_names(parser: configparser.ConfigParser) -> set[str]:
    roots = set(root_packages(parser))
    names = set()
    for section in contract_sections(parser).values():
        for key in ("ancestors", "source_modules", "forbidden_modules", "layers",
                    "ignore_imports"):
            for line in listed(section, key):
                for part in line.replace("->", "|").split("|"):
                    name = part.strip()
                    if name.split(".")[0] in roots:
                        names.add(name)
    return names | set(VIOLATIONS)


def _broken_tree(folder: Path, parser: configparser.ConfigParser) -> None:
    """Every module the contracts name, each a package (imports work alike)."""
    for name in sorted(_module_names(parser)):
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            init = folder.joinpath(*parts[:depth], "__init__.py")
            init.parent.mkdir(parents=True, exist_ok=True)
            init.touch()
        folder.joinpath(*parts, "__init__.py").write_text(VIOLATIONS.get(name, ""),
                                                          encoding="utf-8")


def test_each_contract_fails_on_a_tree_that_breaks_it(tmp_path):
    parser = read_config()
    tree = tmp_path / "tree"
    _broken_tree(tree, parser)
    config = tmp_path / ".importlinter"
    config.write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tree)}  # before the installed kiosk and district
    result = lint_imports(tree, config, env)
    assert result.returncode != 0, result.stdout
    report = " ".join(result.stdout.split())
    for section in contract_sections(parser).values():
        name = " ".join(section["name"].split())
        assert f"{name} BROKEN" in report, (name, result.stdout + result.stderr)

    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tree)!r})
        import grimp
        from tests.test_architecture import import_cycles
        print(import_cycles(grimp.build_graph(*{root_packages(parser)!r}, cache_dir=None)))
    """)
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, env={**env, "PYTHONPATH": str(ROOT)})
    assert found.returncode == 0, found.stderr
    assert "('kiosk.rules', 'kiosk.store', 'kiosk.rules')" in found.stdout, found.stdout
