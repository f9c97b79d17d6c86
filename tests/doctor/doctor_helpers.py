"""Helpers of the doctor tests: the fleet a real district server (``tests.helpers``) holds,
kiosk.toml files, and the real ``kiosk doctor`` to run."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import BIN, DistrictServer, clean_env


@dataclass
class Fleet:
    server: DistrictServer
    tokens: dict[str, str]


def write_config(path: Path, **sections: dict) -> Path:
    """A kiosk.toml from sections ({"server": {"url": …}}); strings quoted as TOML."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def healthy_sections(tmp_path: Path, fleet: Fleet, serial_port: str | None = None) -> dict:
    sections = {
        "terminal": {"id": "t-doctor", "unit": "u-doctor", "name": "Quầy thử"},
        "gpio": {"pin_factory": "mock"},
        "storage": {"path": str(tmp_path / "data" / "votes.db")},
        "server": {"url": fleet.server.url, "token": fleet.tokens["t-doctor"],
                   "timeout_s": 5},
    }
    if serial_port:
        sections["serial"] = {"enabled": True, "port": serial_port}
    return sections


def run_doctor(config: Path, *, lang: str = "en", as_json: bool = True
               ) -> tuple[int, dict | str]:
    env = clean_env()
    args = [str(BIN / "kiosk"), "--config", str(config), "--lang", lang, "doctor"]
    if as_json:
        args.append("--json")
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    if not as_json:
        return done.returncode, done.stdout
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def by_check(report: dict) -> dict[str, dict]:
    return {item["check"]: item for item in report["checks"]}
