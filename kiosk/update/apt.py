"""apt-get and dpkg with the district's repository alone: its key (``signed-by=``), its CA,
its own lists folder, so the terminal's other sources are neither read nor disturbed.
Downloads, hashes, signatures and installs are apt's; a refusal is apt's own words."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "hailong-kiosk"
APT_TIMEOUT_S = 1800
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
       "DEBIAN_FRONTEND": "noninteractive"}


class AptFailed(Exception):
    """apt or dpkg said no; ``str()`` is what it said (its E: and W: lines)."""


@dataclass
class Repository:
    folder: Path        # the updater's own folder: keyring, CA, sources, lists
    url: str            # https://server:8443/apt
    suite: str          # bookworm, trixie
    keyring: bytes      # binary OpenPGP public key
    ca_pem: str = ""

    def prepare(self) -> None:
        (self.folder / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.folder / "sources.list.d").mkdir(exist_ok=True)
        _write(self.folder / "district-release.gpg", self.keyring)
        if self.ca_pem.strip():
            _write(self.folder / "ca.pem", self.ca_pem.encode())
        line = (f"deb [signed-by={self.folder / 'district-release.gpg'}] {self.url} "
                f"{self.suite} main\n")
        _write(self.folder / "sources.list", line.encode())

    def options(self) -> list[str]:
        opts = {"Dir::Etc::SourceList": self.folder / "sources.list",
                "Dir::Etc::SourceParts": self.folder / "sources.list.d",
                "Dir::State::Lists": self.folder / "lists",
                # a terminal's clock may be wrong: the signature, not the date, is the proof
                "Acquire::Check-Date": "false", "Acquire::Check-Valid-Until": "false",
                "APT::Keep-Downloaded-Packages": "true", "DPkg::Lock::Timeout": "300",
                "Dpkg::Options::": "--force-confold", "Acquire::Retries": "3"}
        if (self.folder / "ca.pem").exists():
            opts["Acquire::https::CaInfo"] = self.folder / "ca.pem"
        return [arg for k, v in opts.items() for arg in ("-o", f"{k}={v}")]

    def apt_get(self, *args: str) -> str:
        return run(["apt-get", "-q", "-y", *self.options(), *args])

    def update(self) -> None:
        """The signed index; a wrong or missing signature is apt's error (``AptFailed``)."""
        out = run(["apt-get", "-q", *self.options(), "update"])
        # apt-get update exits 0 for some failures (a source it could not read): its W:/E:
        # lines about our one source are refusals too
        problems = [line for line in out.splitlines() if line.startswith(("E:", "W:"))
                    and "Download is performed unsandboxed" not in line]
        if problems:
            raise AptFailed("\n".join(problems))

    def versions(self) -> list[str]:
        """The versions of hailong-kiosk the repository has for this terminal's architecture."""
        out = run(["apt-cache", *self.options(), "madison", PACKAGE])
        return [parts[1].strip() for parts in (line.split("|") for line in out.splitlines())
                if len(parts) >= 3 and "Packages" in parts[2]]

    def download(self, version: str) -> None:
        """Into apt's cache (/var/cache/apt/archives), hashes checked against the index."""
        self.apt_get("install", "--download-only", "--reinstall", "--allow-downgrades",
                     f"{PACKAGE}={version}")

    def install(self, version: str) -> None:
        self.apt_get("install", "--no-install-recommends", "--allow-downgrades",
                     f"{PACKAGE}={version}")


def run(cmd: list[str], timeout: float = APT_TIMEOUT_S) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AptFailed(f"{cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + "\n" + proc.stdout).splitlines()
                 if line.startswith(("E:", "W:", "dpkg:", "Err:"))] or \
            (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise AptFailed("\n".join(lines) or f"{cmd[0]} exited {proc.returncode}")
    return proc.stdout + proc.stderr


def installed() -> tuple[str | None, str]:
    """(version, dpkg's status abbreviation: "ii " when installed and configured)."""
    try:
        out = run(["dpkg-query", "-W", "-f=${Version}\t${db:Status-Abbrev}", PACKAGE], 60)
    except AptFailed:
        return None, ""
    version, _, status = out.partition("\t")
    return version or None, status


def configure_pending() -> None:
    """Finish what an interrupted dpkg left (its own journal, /var/lib/dpkg/updates)."""
    run(["dpkg", "--force-confold", "--configure", "-a"])


def architecture() -> str:
    return run(["dpkg", "--print-architecture"], 60).strip()


def os_suite() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    found = re.search(r'^VERSION_CODENAME="?([a-z]+)', text, re.M)
    return found.group(1) if found else ""


def _write(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
