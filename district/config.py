"""Where the district server's settings come from (DESIGN.md, "Command lines").

The database: ``--db URL``, else ``$DISTRICT_DB``, else ``[database] url`` of the server's
configuration file, else ``district.db`` in the user's data folder (``/var/lib/district`` for
root, ``~/.local/share/district`` otherwise): never the working folder, so a verb run from any
folder talks to the same database as the service.

The configuration file: ``--config FILE``, else ``$DISTRICT_CONFIG``, else
``/etc/district/district.toml``. ``district setup`` writes it (district/install.py); the
service and every CLI verb read it through :func:`load_settings`. Every key is explained in
``config/district.toml``. A bad file is a :class:`~district.errors.DistrictError` naming the
file, the key and what is wrong (the CLI prints it in one line, Vietnamese or English).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from district.errors import N_, DistrictError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LANG = "vi"
DEFAULT_CONFIG = Path("/etc/district/district.toml")
DB_FILE_NAME = "district.db"
# What `district setup` listens on when not told: every address of the LAN, HTTPS port.
SETUP_LISTEN = ("0.0.0.0", 8443)


class Section(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSection(Section):
    url: str = ""  # empty: the data folder's district.db


class ListenSection(Section):
    host: str = DEFAULT_HOST
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)


class TlsSection(Section):
    # Paths; relative ones are relative to the configuration file's folder.
    ca_cert: str = ""
    ca_key: str = ""
    cert: str = ""
    key: str = ""
    names: list[str] = []  # host names and IP addresses the server certificate is for


class ReleaseSection(Section):
    key: str = ""          # Ed25519 private key that will sign software releases


class MessagesSection(Section):
    language: Literal["vi", "en"] = DEFAULT_LANG


class Settings(Section):
    database: DatabaseSection = DatabaseSection()
    listen: ListenSection = ListenSection()
    tls: TlsSection = TlsSection()
    release: ReleaseSection = ReleaseSection()
    messages: MessagesSection = MessagesSection()
    # Where the file was read from (not a key of the file): relative paths start there.
    _folder: Path = PrivateAttr(default=Path("."))

    def path(self, value: str) -> Path | None:
        """A path key of the file, absolute; None when the key is empty."""
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else self._folder / path

    @property
    def https(self) -> bool:
        """The service speaks HTTPS when the file names a certificate and its key."""
        return bool(self.tls.cert and self.tls.key)


def config_path(flag: str | None = None) -> tuple[Path, bool]:
    """The configuration file's path, and whether it was asked for (flag or environment):
    an asked-for file must exist, the default one may be absent (a development machine)."""
    explicit = flag or os.environ.get("DISTRICT_CONFIG")
    return (Path(explicit), True) if explicit else (DEFAULT_CONFIG, False)


def load_settings(flag: str | None = None) -> Settings | None:
    """The server's configuration, or None when there is none (the default path absent)."""
    path, explicit = config_path(flag)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not explicit:
            return None
        raise DistrictError(N_("the configuration file {path} does not exist. Fix: run "
                               "`district setup`, or check --config / DISTRICT_CONFIG"),
                            path=path) from None
    except PermissionError:
        raise DistrictError(N_("the configuration file {path} cannot be read (permission "
                               "denied). Fix: run the command as root or as the service's "
                               "user (sudo -u district district …)"), path=path) from None
    except IsADirectoryError:
        raise DistrictError(N_("{path} is a folder, not a configuration file. Fix: check "
                               "--config / DISTRICT_CONFIG"), path=path) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DistrictError(N_("the configuration file {path} is not valid TOML: {error}. "
                               "Fix: correct the line named (compare with "
                               "config/district.toml)"), path=path, error=str(exc)) from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise InvalidSettings(path, exc) from None
    settings._folder = path.parent.resolve()
    return settings


class InvalidSettings(DistrictError):
    """A key of the file has a wrong value or is unknown; names the first one (in the CLI's
    language: the detail goes through the district catalog like the API's)."""

    def __init__(self, path: Path, exc: ValidationError):
        error = exc.errors()[0]
        self.error = error
        key = ".".join(str(p) for p in error["loc"])
        super().__init__(N_("the configuration file {path}: key {key}: {detail}. Fix: see "
                            "that key in config/district.toml"), path=path, key=key,
                         detail=str(error["msg"]).removeprefix("Value error, "))

    def translated(self, gettext) -> str:
        from ballot.validation import validation_detail

        params = {**self.params, "detail": validation_detail(self.error, gettext)}
        return gettext(self.message).format(**params)


def data_dir() -> Path:
    """The user's data folder: /var/lib/district for root, else $XDG_DATA_HOME/district
    (~/.local/share/district): never the working folder."""
    if os.geteuid() == 0:
        return Path("/var/lib/district")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "district"


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / DB_FILE_NAME}"


def resolve_db_url(flag: str | None = None, settings: Settings | None = None, *,
                   config: str | None = None) -> str:
    """``--db URL``, else ``$DISTRICT_DB``, else the configuration file's ``[database] url``,
    else the data folder's ``district.db``."""
    if flag or os.environ.get("DISTRICT_DB"):
        return flag or os.environ["DISTRICT_DB"]
    if settings is None:
        settings = load_settings(config)
    if settings is not None and settings.database.url:
        return settings.database.url
    return default_db_url()


def resolve_lang(flag: str | None = None) -> str:
    """``--lang``, else ``$DISTRICT_LANG``, else Vietnamese."""
    return flag or os.environ.get("DISTRICT_LANG") or DEFAULT_LANG


def parse_listen(value: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[::]:8443`` for IPv6) → (address, port); DistrictError if not."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        number = int(port)
        if not sep or not host or not 1 <= number <= 65535:
            raise ValueError(value)
        if not is_ip(host) and not host.replace("-", "").replace(".", "").isalnum():
            raise ValueError(value)
    except ValueError:
        raise DistrictError(N_("--listen {value}: give ADDRESS:PORT, e.g. 0.0.0.0:8443"),
                            value=value) from None
    return host, number


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
