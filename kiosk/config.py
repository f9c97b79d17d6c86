"""The terminal's configuration: TOML files, layered, validated once into a typed object.

Where it comes from (DESIGN.md): ``--config FILE``, else ``$KIOSK_CONFIG``, else the layers
package defaults → ``/etc/kiosk/kiosk.toml`` → ``/boot/firmware/kiosk.toml``; in every case
``KIOSK_<SECTION>__<KEY>`` environment variables come last (``KIOSK_STORAGE__PATH=/tmp/v.db``).

Every key is documented in ``config/kiosk.example.toml``. A bad file stops the program with a
:class:`ConfigError` that names the file, the key and the fix, in the technician's language.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ballot.settings import (  # the district decides these (docs/steering.md)
    DEFAULT_QUESTION,  # noqa: F401 - kiosk.config's names keep working
    SCALE_LABELS,  # noqa: F401
    FollowupSettings,
    RulesSettings,
    ScaleSection,
    Section,
    TerminalSettings,
    UiSettings,
    VoiceSettings,
)
from ballot.vote import Reason
from kiosk.i18n import DEFAULT_LANGUAGE, N_, Invalid, Message, translation, validation_detail

LAYER_FILES = (Path("/etc/kiosk/kiosk.toml"), Path("/boot/firmware/kiosk.toml"))
ENV_PREFIX = "KIOSK_"
ENV_NOT_KEYS = {"KIOSK_CONFIG", "KIOSK_LANG", "KIOSK_BIN"}

# Default wiring (BCM numbers), worst level first; docs/technician.md has the diagram.
DEFAULT_BUTTON_PINS = (17, 27, 22, 23, 24)
DEFAULT_LED_PINS = (5, 6, 13, 19, 26)

TERMINAL_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # also the hostname


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and how to fix it."""


MAX_BAUDRATE = 4_000_000  # B4000000, the highest rate Linux names
# Tables and lists inside one another: a kiosk.toml needs 3 (section, key, list). Deeper is
# a mistake, refused before Python's own recursion limit turns it into a traceback.
MAX_DEPTH = 10


def _no_nul(value):
    """A path (or device) with a NUL byte cannot be opened: refused here, not at run time."""
    if "\0" in str(value):
        raise Invalid(N_("contains a NUL character (\\0), which no file name can hold"))
    return value


def _depth(value: Any) -> int:
    """How deep tables and lists go inside ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if depth + 1 <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in
                             (item.values() if isinstance(item, dict) else item))
    return deepest


class TerminalSection(TerminalSettings):  # + language
    id: str = "dev-terminal"
    unit: str = "dev-unit"
    name: str = "Bộ phận một cửa"

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not TERMINAL_ID.match(value):
            raise Invalid(N_("use lowercase letters, digits and dashes, e.g. hbt-thanh-nhan"))
        return value


Pin = int


class GpioSection(Section):
    enabled: bool = True
    # auto: lgpio on a Raspberry Pi, gpiozero's mock factory elsewhere.
    pin_factory: Literal["auto", "mock", "lgpio", "rpigpio", "native"] = "auto"
    button_pins: list[Pin] | None = None
    led_pins: list[Pin] | None = None
    pull_up: bool = True

    @field_validator("button_pins", "led_pins")
    @classmethod
    def _valid_bcm(cls, pins: list[int] | None) -> list[int] | None:
        for pin in pins or ():
            if not 0 <= pin <= 27:
                raise Invalid(N_("GPIO {pin} does not exist: BCM numbers go from 0 to 27"), pin=pin)
        return pins


class SerialSection(Section):
    enabled: bool = False
    port: str = "/dev/ttyUSB0"  # a device path, or a pyserial URL such as loop://
    # up to Linux's highest standard rate: pyserial fails on more, and the reader with it
    baudrate: int = Field(9600, gt=0, le=MAX_BAUDRATE)

    @field_validator("port")
    @classmethod
    def _openable(cls, value: str) -> str:
        return _no_nul(value)


class KeyboardSection(Section):
    # Keys for levels worst first; the UI maps them in development and for technicians.
    keys: list[str] = ["1", "2", "3", "4", "5"]


class RulesSection(RulesSettings):  # + lockout_s, misuse_window_s, misuse_max_votes
    debounce_ms: float = Field(30, ge=0, le=1000)
    min_press_ms: float = Field(0, ge=0, le=2000)
    stuck_after_s: float = Field(8.0, gt=0, le=3600)


class StorageSection(Section):
    path: Path = Path("/var/lib/kiosk/votes.db")

    @field_validator("path")
    @classmethod
    def _openable(cls, value: Path) -> Path:
        return _no_nul(value)


class ServerSection(Section):
    url: str = ""
    token: str = ""
    ca_bundle: str = ""  # a PEM file of CAs to trust; empty (and no ca_cert): the system's
    # The district's CA itself, PEM text written into kiosk.toml by `district fleet provision`:
    # the terminal then trusts that CA alone, with no file for a technician to copy.
    ca_cert: str = ""
    timeout_s: float = Field(10, gt=0, le=300)
    # Plain http:// to anything but this machine sends the token and the votes in clear text:
    # refused unless this says the network is trusted (a closed LAN, a test bench).
    allow_plain_http: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise Invalid(N_("the server URL must start with https:// (or http:// on a LAN)"))
        return value.rstrip("/")

    @field_validator("ca_cert")
    @classmethod
    def _pem(cls, value: str) -> str:
        if value.strip() and "-----BEGIN CERTIFICATE-----" not in value:
            raise Invalid(N_("must be a PEM certificate (-----BEGIN CERTIFICATE----- …), as "
                             "written by district fleet provision"))
        return value

    def plain_http_refused(self) -> Message | None:
        """Why the agent will not talk to ``url``, or None: plain HTTP to another machine
        without ``allow_plain_http``."""
        from urllib.parse import urlsplit

        if not self.url.startswith("http://") or self.allow_plain_http:
            return None
        host = urlsplit(self.url).hostname or ""
        if host == "localhost" or _is_loopback(host):
            return None
        return Message(MSG_PLAIN_HTTP, url=self.url)


MSG_PLAIN_HTTP = N_("the server address {url} is plain http:// to another machine: the token "
                    "and the votes would cross the network unencrypted, so the terminal does "
                    "not send them. Fix: use the https:// address of the kiosk.toml the "
                    "district provisioned, or, on a closed test network only, set [server] "
                    "allow_plain_http = true")


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SyncSection(Section):
    batch_size: int = Field(500, ge=1, le=1000)
    interval_s: float = Field(10, gt=0, le=3600)
    heartbeat_interval_s: float = Field(120, gt=0, le=86400)
    max_backoff_s: float = Field(300, gt=0, le=86400)


class FollowupSection(FollowupSettings):  # + enabled, at_or_below
    timeout_s: float = Field(15, gt=0, le=300)
    # The reasons the buttons answer, most common first: the first (buttons - 1) are drawn
    # above buttons 1, 2, …; the last button is always "other" (kiosk.rules.button_reasons).
    reasons: list[Reason] = ["waiting_time", "too_many_trips", "unclear_guidance",
                             "officer_attitude"]
    # A press this soon after the vote is the same citizen's double press, not an answer.
    answer_after_ms: float = Field(700, ge=0, le=5000)


class TechnicianSection(Section):
    pin: str = ""  # digits; empty disables the technician screen

    @field_validator("pin")
    @classmethod
    def _digits(cls, value: str) -> str:
        if value and not (value.isdigit() and 4 <= len(value) <= 12):
            raise Invalid(N_("the technician PIN is 4 to 12 digits"))
        return value


class UiSection(UiSettings):  # + sound
    fullscreen: bool = True
    # The panel's diagonal in inches: the type scale is derived from it (kiosk.ui.typescale)
    diagonal_in: float = Field(7.0, ge=3, le=100)
    theme: Literal["standard", "high_contrast"] = "standard"
    large_text: bool = False
    counter: str = ""  # counter or officer on duty, shown and stored with each vote
    officer: str = ""


# The codes printed on one-stop receipts: agency code, yymmdd, number (000.00.00.H00-241201-0001)
DEFAULT_DOSSIER_PATTERN = (r"[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}"
                           r"-[0-9]{6}-[0-9]{4,6}")


class AttributionSection(Section):
    """Officers' badges and dossier codes scanned at the counter (docs/attribution.md)."""

    # The district's badge key, public half (base64 of 32 bytes): written by provisioning
    badge_public_key: str = ""
    dossier_pattern: str = DEFAULT_DOSSIER_PATTERN  # a regular expression, whole code
    scanner: Literal["none", "evdev", "serial"] = "none"
    scanner_device: str = ""  # /dev/input/by-id/…-event-kbd, or the serial port / pyserial URL
    scanner_baudrate: int = Field(9600, gt=0, le=MAX_BAUDRATE)
    # without a scanner configured: window keys this close together, ended by Enter, are a scan
    keystroke_gap_ms: float = Field(50, gt=0, le=1000)
    staff_pin: str = ""  # digits: the staff screen (sign in/out without a scanner); empty: off
    day_end: str = "17:30"  # local HH:MM: whoever is still on duty is signed out; empty: never
    dossier_s: float = Field(300, gt=0, le=86400)  # a dossier scan binds the next vote this long
    # the voting window (like iQMS): votes count only this long after a dossier scan or
    # "service finished"; 0 (the default): always open
    voting_window_s: float = Field(0, ge=0, le=3600)
    service_finished_key: str = "f12"  # the officer's key ("service finished"); empty: none

    @field_validator("staff_pin")
    @classmethod
    def _staff_digits(cls, value: str) -> str:
        if value and not (value.isdigit() and 4 <= len(value) <= 12):
            raise Invalid(N_("the staff PIN is 4 to 12 digits"))
        return value

    @field_validator("day_end")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if value and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            raise Invalid(N_("must be a time of day as HH:MM, e.g. 17:30, or empty"))
        return value

    @field_validator("badge_public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        import base64
        import binascii

        try:
            ok = not value or len(base64.b64decode(value, validate=True)) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise Invalid(N_("must be the badge key's public half as written by district "
                             "fleet provision (44 characters of base64)"))
        return value

    @field_validator("dossier_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise Invalid(N_("not a regular expression: {error}"), error=str(exc)) from None
        return value


class VoiceSection(VoiceSettings):  # + enabled, volume (the district decides them)
    """Spoken prompts (kiosk.voice): on by default wherever a speaker is configured."""

    device: str = ""  # the speaker's ALSA device ("default", "plughw:0,0"); empty: no voice
    folder: str = ""  # a district's own recordings (same file names); empty: the built ones
    #: BCM pin of a PIR motion sensor: the question is said when someone approaches
    presence_pin: int | None = Field(None, ge=0, le=27)


class UpdateSection(Section):
    """Software updates from the district's signed apt repository (docs/updates.md)."""

    # The district's release key, public half (armoured OpenPGP): written by provisioning
    release_key: str = ""
    repository: str = ""  # the apt repository's URL; empty: the server's own /apt
    health_s: float = Field(180, gt=0, le=3600)  # a new release proves healthy within this
    quiet_s: float = Field(30, ge=0, le=3600)  # no vote for this long: between two citizens


class KioskConfig(Section):
    terminal: TerminalSection = TerminalSection()
    scale: ScaleSection = ScaleSection()
    gpio: GpioSection = GpioSection()
    serial: SerialSection = SerialSection()
    keyboard: KeyboardSection = KeyboardSection()
    rules: RulesSection = RulesSection()
    storage: StorageSection = StorageSection()
    server: ServerSection = ServerSection()
    sync: SyncSection = SyncSection()
    followup: FollowupSection = FollowupSection()
    technician: TechnicianSection = TechnicianSection()
    ui: UiSection = UiSection()
    voice: VoiceSection = VoiceSection()
    attribution: AttributionSection = AttributionSection()
    update: UpdateSection = UpdateSection()

    @model_validator(mode="after")
    def _wiring(self) -> KioskConfig:
        """Fill default pins for the scale, then check every level has a button and no pin
        is used twice (a shared pin would make one press count as two levels)."""
        levels = self.scale.levels
        gpio = self.gpio
        buttons = gpio.button_pins if gpio.button_pins is not None else DEFAULT_BUTTON_PINS[:levels]
        leds = gpio.led_pins if gpio.led_pins is not None else DEFAULT_LED_PINS[:levels]
        # A copy: the default GpioSection instance is shared by every config.
        gpio = gpio.model_copy(update={"button_pins": list(buttons), "led_pins": list(leds)})
        object.__setattr__(self, "gpio", gpio)
        if gpio.enabled:
            if len(buttons) < levels:
                raise Invalid(N_("level {level} has no button: gpio.button_pins lists "
                                 "{count} pins for a {levels}-level scale"),
                              level=len(buttons) + 1, count=len(buttons), levels=levels)
            if len(buttons) > levels:
                raise Invalid(N_("gpio.button_pins lists {count} pins for a {levels}-level "
                                 "scale"), count=len(buttons), levels=levels)
            if leds and len(leds) != levels:
                raise Invalid(N_("gpio.led_pins lists {count} pins for {levels} levels "
                                 "(give one per level, or an empty list for no LEDs)"),
                              count=len(leds), levels=levels)
            seen: dict[int, Message] = {}
            for role, key, pins in ((N_("button of level {level}"), "button_pins", buttons),
                                    (N_("LED of level {level}"), "led_pins", leds)):
                for index, pin in enumerate(pins, start=1):
                    where = Message(role, level=index)
                    if pin in seen:
                        raise Invalid(N_("GPIO {pin} is used twice in gpio.{key}: {first} and "
                                         "{second}"), pin=pin, key=key, first=seen[pin],
                                      second=where)
                    seen[pin] = where
        if len(self.keyboard.keys) < levels:
            raise Invalid(N_("keyboard.keys lists {count} keys for {levels} levels"),
                          count=len(self.keyboard.keys), levels=levels)
        if self.followup.at_or_below >= levels:
            raise Invalid(N_("followup.at_or_below must be below the best level ({levels})"),
                          levels=levels)
        return self


# ---------------------------------------------------------------------------------------
# Loading


def load(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
         layers: tuple[Path, ...] = LAYER_FILES) -> KioskConfig:
    """Read, merge and validate the configuration; raise :class:`ConfigError` if it is bad."""
    environ = os.environ if environ is None else environ
    language = environ.get("KIOSK_LANG", DEFAULT_LANGUAGE)
    explicit = path or environ.get("KIOSK_CONFIG")
    files = [Path(explicit)] if explicit else [p for p in layers if p.exists()]
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for file in files:
        _merge(merged, origin, _read_toml(file, language), str(file))
    t = translation("kiosk", language).gettext
    _merge(merged, origin, _from_environment(environ, language), t("environment variable"))
    try:
        return KioskConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin, language)) from None


def _read_toml(file: Path, language: str) -> dict[str, Any]:
    t = translation("kiosk", language).gettext
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
        if _depth(data) > MAX_DEPTH:
            raise RecursionError
        return data
    except RecursionError:
        raise ConfigError(t(MSG_TOO_DEEP).format(file=file, depth=MAX_DEPTH)) from None
    except IsADirectoryError:
        raise ConfigError(t("Config file {file} is a folder, not a file. Fix: give the path "
                            "of the kiosk.toml inside it.").format(file=file)) from None
    except FileNotFoundError:
        raise ConfigError(t("Config file {file} does not exist. Fix: check the path, or "
                            "copy config/kiosk.example.toml there.").format(file=file)) from None
    except PermissionError:
        raise ConfigError(t("Config file {file} cannot be read (permission denied). Fix: "
                            "make it readable by the kiosk user.").format(file=file)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(t("Config file {file} is not valid TOML (the reader says: "
                            "\"{error}\"). Fix: correct the line named, compare with "
                            "config/kiosk.example.toml.")
                          .format(file=file, error=exc)) from None
    except OSError as exc:  # a symbolic link loop, a name too long, a failing card…
        reason = t("a symbolic link that leads back to itself") if exc.errno == errno.ELOOP \
            else exc.strerror or str(exc)
        raise ConfigError(t("Config file {file} cannot be opened ({reason}). Fix: give the "
                            "path of the real kiosk.toml.").format(file=file, reason=reason)) \
            from None


MSG_TOO_DEEP = N_("Config file {file} has tables or lists nested more than {depth} deep; a "
                  "kiosk.toml needs 3 at most. Fix: correct it, compare with "
                  "config/kiosk.example.toml.")


def _from_environment(environ: Mapping[str, str], language: str) -> dict[str, Any]:
    """``KIOSK_STORAGE__PATH=/x`` → ``{"storage": {"path": "/x"}}``; values parse as TOML
    when they can (``KIOSK_GPIO__BUTTON_PINS=[5,6,7]``), else stay strings."""
    t = translation("kiosk", language).gettext
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_KEYS:
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(t("Environment variable {name} is not of the form "
                                "KIOSK_SECTION__KEY (two underscores), e.g. KIOSK_STORAGE__PATH.")
                              .format(name=name))
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
            if _depth(value) > MAX_DEPTH:
                raise RecursionError
        except tomllib.TOMLDecodeError:
            value = raw
        except RecursionError:
            raise ConfigError(t("Environment variable {name} has lists or tables nested more "
                                "than {depth} deep. Fix: give a plain value, e.g. "
                                "KIOSK_GPIO__BUTTON_PINS=[17,27,22].")
                              .format(name=name, depth=MAX_DEPTH)) from None
        tree.setdefault(parts[0], {})[parts[1]] = value
    return tree


def _merge(into: dict[str, Any], origin: dict[str, str], layer: dict[str, Any], source: str,
           prefix: str = "") -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], origin, value, source, dotted + ".")
        else:
            into[key] = value
            origin[dotted] = source
            if isinstance(value, dict):
                for sub in value:
                    origin[f"{dotted}.{sub}"] = source


def _explain(exc: ValidationError, origin: dict[str, str], language: str) -> str:
    """One line per problem: which key, in which file, what is wrong, how to fix it."""
    t = translation("kiosk", language).gettext
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
        if not loc:  # a rule across keys: the message names the key it is about
            named = re.search(r"\b([a-z]+\.[a-z_]+)\b", str(error["msg"]))
            loc = named.group(1).split(".") if named else []
        key = ".".join(loc) or t("(whole file)")
        source = origin.get(key) or origin.get(loc[0] if loc else "", "") or t("defaults")
        if error["type"] == "extra_forbidden":
            lines.append(t("Unknown key '{key}' in {source}. Fix: remove it or correct the "
                           "spelling{hint}.").format(key=key, source=source,
                                                     hint=_spelling_hint(loc, t)))
        else:
            detail = validation_detail(error, t)
            lines.append(t("Wrong value for '{key}' in {source}: {detail}. Fix: see that key "
                           "in config/kiosk.example.toml.")
                         .format(key=key, source=source, detail=detail))
    return "\n".join(lines)


def _spelling_hint(loc: list[str], t) -> str:
    """Suggest the nearest known key, e.g. 'button_pin' → 'button_pins'."""
    model: type[BaseModel] = KioskConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type):
            return ""
        model = field.annotation
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    return t(" (did you mean '{key}'?)").format(key=close[0]) if close else ""
