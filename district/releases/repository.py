"""The district's apt repository: the Debian packages it publishes for its terminals, in
Debian's layout, its ``Release`` file signed with the district's release key.

```
REPO/pool/main/h/hailong-kiosk/hailong-kiosk_0.1.0-2+bookworm_arm64.deb   every version kept
REPO/dists/bookworm/main/binary-arm64/Packages                           all of them listed
REPO/dists/bookworm/Release, Release.gpg                                  hashes, signature
```

Every version stays in the pool and in ``Packages`` (not only the newest, as reprepro would
keep), so a terminal can always go back to the release it ran: ``apt-get install
hailong-kiosk=VERSION``. The indexes are made here from the packages' own control fields
(``dpkg-deb -f``), in the format of apt-ftparchive's output; apt does the rest: download,
hashes, signature (gpgv/sqv), install. The suite is the Debian release the package was built
for (the ``+bookworm`` of its version): terminals read the suite of their own release.

The server serves REPO read-only at ``/apt/`` on its own HTTPS (``district.app``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import os
import re
import subprocess
from pathlib import Path

from district.errors import N_, DistrictError
from district.releases import openpgp

SUITES = ("bookworm", "trixie")
ARCHES = ("amd64", "arm64")
COMPONENT = "main"
PACKAGE_NAME = re.compile(r"^hailong-[a-z0-9-]+$")
WEB_PATH = "/apt"


@dataclasses.dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str
    suite: str
    path: Path          # in the pool
    size: int
    sha256: str

    @property
    def filename(self) -> str:  # relative to the repository's root, as apt asks for it
        return f"pool/{COMPONENT}/{self.name[0]}/{self.name}/{self.path.name}"


def repository_dir(db_url: str) -> Path:
    """``$DISTRICT_RELEASES``, else ``releases/`` beside the SQLite database, else in the
    server's data folder (/var/lib/district/releases for the packaged server)."""
    given = os.environ.get("DISTRICT_RELEASES")
    if given:
        return Path(given)
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return Path(db_url.removeprefix("sqlite:///")).parent / "releases"
    from district.config import data_dir

    return data_dir() / "releases"


def control_fields(deb: Path) -> dict[str, str]:
    """The control fields of a .deb (``dpkg-deb -f``); a file that is not one is refused."""
    try:
        proc = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                              timeout=120)
    except FileNotFoundError as exc:
        raise DistrictError(N_("dpkg-deb is missing (apt-get install dpkg)")) from exc
    if proc.returncode != 0:
        raise DistrictError(N_("{path} is not a Debian package: {error}"), path=deb,
                            error=(proc.stderr.strip().splitlines() or ["?"])[-1])
    return parse_stanza(proc.stdout)


def parse_stanza(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def suite_of(version: str) -> str:
    match = re.search(r"\+(bookworm|trixie)\b", version)
    if not match:
        raise DistrictError(N_("version {version}: no +bookworm or +trixie in it, so no "
                               "Debian release to publish it for (build it with "
                               "packaging/build-debs.sh)"), version=version)
    return match.group(1)


def add(repo: Path, deb: Path, key) -> Package:
    """Check ``deb``, copy it into the pool, make the indexes again and sign them. A package
    already published with other bytes under the same name and version is refused (apt
    would take it for a tampered one)."""
    if not deb.is_file():
        raise DistrictError(N_("{path}: no such file"), path=deb)
    fields = control_fields(deb)
    name, version, arch = (fields.get(k, "") for k in ("Package", "Version", "Architecture"))
    if not PACKAGE_NAME.match(name):
        raise DistrictError(N_("{path}: package {name!r} is not one of Hài Lòng's"),
                            path=deb, name=name)
    if arch not in ARCHES:
        raise DistrictError(N_("{path}: architecture {arch!r}: terminals are amd64 or arm64"),
                            path=deb, arch=arch)
    suite = suite_of(version)
    data = deb.read_bytes()
    target = repo / "pool" / COMPONENT / name[0] / name / f"{name}_{version}_{arch}.deb"
    if target.exists() and target.read_bytes() != data:
        raise DistrictError(N_("{name} {version} ({arch}) is published already, with other "
                               "contents: give the new build another version (--build N)"),
                            name=name, version=version, arch=arch)
    write_atomic(target, data)
    publish(repo, key)
    return Package(name, version, arch, suite, target, len(data),
                   hashlib.sha256(data).hexdigest())


def packages(repo: Path) -> list[Package]:
    """What the pool holds, oldest version first (dpkg's order)."""
    found = []
    for path in sorted((repo / "pool").glob(f"{COMPONENT}/*/*/*.deb")):
        name, version, arch = path.stem.split("_")
        data = path.read_bytes()
        found.append(Package(name, version, arch, suite_of(version), path, len(data),
                             hashlib.sha256(data).hexdigest()))
    return sorted(found, key=lambda p: (p.name, _VersionKey(p.version), p.arch))


def publish(repo: Path, key, now: dt.datetime | None = None) -> None:
    """``Packages`` of every suite and architecture, then each suite's signed ``Release``."""
    pool = packages(repo)
    for suite in SUITES:
        files = {}
        for arch in ARCHES:
            stanzas = [_stanza(p) for p in pool if p.suite == suite and p.arch == arch]
            index = "\n".join(stanzas).encode()
            rel = f"{COMPONENT}/binary-{arch}/Packages"
            write_atomic(repo / "dists" / suite / rel, index)
            files[rel] = index
        release = _release(suite, files, now or dt.datetime.now(dt.UTC))
        # InRelease (the text and its signature in one file, replaced at once) is what apt
        # reads first; Release + Release.gpg for older readers
        write_atomic(repo / "dists" / suite / "InRelease",
                      openpgp.clearsign(key, release).encode())
        write_atomic(repo / "dists" / suite / "Release.gpg",
                      openpgp.sign_detached(key, release.encode()))
        write_atomic(repo / "dists" / suite / "Release", release.encode())


def public_keyring(key) -> bytes:
    return openpgp.public_key(key)


def _stanza(p: Package) -> str:
    fields = control_fields(p.path)
    lines = [f"{k}: {v}" for k, v in fields.items()]
    data = p.path.read_bytes()
    lines += [f"Filename: {p.filename}", f"Size: {p.size}",
              f"MD5sum: {hashlib.md5(data).hexdigest()}",  # noqa: S324 - apt's format
              f"SHA256: {p.sha256}"]
    return "\n".join(lines) + "\n"


def _release(suite: str, files: dict[str, bytes], now: dt.datetime) -> str:
    head = ["Origin: Hai Long", "Label: Hai Long district", f"Suite: {suite}",
            f"Codename: {suite}", f"Date: {email.utils.format_datetime(now, usegmt=True)}",
            f"Architectures: {' '.join(ARCHES)}", f"Components: {COMPONENT}",
            "Description: Hai Long releases for this district's terminals"]
    sha = ["SHA256:"] + [f" {hashlib.sha256(d).hexdigest()} {len(d):>10} {name}"
                         for name, d in sorted(files.items())]
    return "\n".join(head + sha) + "\n"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class _VersionKey:
    """Debian's version order (dpkg's verrevcmp), for listing and for "older"."""

    def __init__(self, version: str):
        self.version = version

    def __lt__(self, other: _VersionKey) -> bool:
        return compare_versions(self.version, other.version) < 0

    def __eq__(self, other) -> bool:
        return compare_versions(self.version, other.version) == 0


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """<0, 0, >0 as Debian orders the versions ``a`` and ``b`` (epoch, upstream, revision)."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)
