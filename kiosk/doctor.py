"""``kiosk doctor``: every check a technician needs, one line each, in plain words.

Checks, in order (the names are those of docs/technician.md, section 6): ``config``,
``storage``, ``buttons``, ``leds``, ``serial``, ``display``, ``server``, ``certificate`` (days
left on the server's HTTPS certificate: warn within 30, fail once ended), ``token``,
``clock``, ``disk``. Each ends ``ok``, ``warn``, ``skip`` (does not apply here: serial box
disabled, no server configured, or a check that needs what already failed) or ``fail``, with a
message and, for ``warn``/``fail``, the fix. The exit status is 1 when any check fails, else 0
(warnings and skips do not fail: a dev machine has no display and may have no NTP).

``kiosk doctor --json`` prints ``{"ok": bool, "terminal_id": …, "checks": [{"check", "status",
"ok", "code", "message", "fix"}, …]}``; ``code`` is a stable machine word for the outcome
(``dns``, ``refused``, ``tls``, ``unauthorized``, ``unsynced_far``…), the texts follow
``--lang``.

The outside world the checks look at (clock state, wall clock, display devices, disk usage,
GPIO pin factory) comes through :class:`System`; the tests pass their own instance to
:func:`main` (``system=``) to fake an unsynchronised clock or a stuck button. Everything else
(the vote file, the server, the serial port) is the real thing.
"""

from __future__ import annotations

import email.utils
import glob
import json
import os
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kiosk import __version__, clock
from kiosk.config import KioskConfig, StorageSection, TerminalSection
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, translation

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "fail"
CHECKS = ("config", "settings", "storage", "buttons", "leds", "serial", "display", "server",
          "certificate", "token", "clock", "disk")
DISK_FAIL_BYTES = 50 * 1024 * 1024    # below this, votes may soon not be stored
DISK_WARN_BYTES = 500 * 1024 * 1024
CLOCK_MAX_OFFSET_S = 60.0             # unsynchronised and further off than this: FAIL
CERT_WARN_DAYS = 30                   # the server's certificate ends within this: WARN
USER_AGENT = "hailong-kiosk-doctor"


@dataclass
class Result:
    check: str
    status: str
    message: str
    fix: str = ""
    code: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass
class System:
    """What the doctor reads from the machine; the tests replace parts of it."""

    clock_synced: Callable[[], bool] = clock.is_synchronised
    utc_now: Callable[[], datetime] = clock.utc_now
    pin_factory: Callable[[str], object] | None = None   # None: kiosk.hardware.gpio's
    display_devices: Callable[[], list[str]] = field(
        default=lambda: sorted(glob.glob("/dev/dri/card*")))
    environ: dict[str, str] | os._Environ = field(default_factory=lambda: os.environ)
    on_raspberry_pi: Callable[[], bool] | None = None     # None: kiosk.hardware.gpio's
    disk_usage: Callable[[str], object] = shutil.disk_usage


class Doctor:
    def __init__(self, config: KioskConfig | None, language: str, system: System,
                 config_error: str | None = None):
        self.config = config
        self.config_error = config_error
        self.system = system
        self._ = translation("kiosk_doctor", language).gettext
        self.store = None
        self.server_ok = False
        self.server_offset_s: float | None = None  # server clock minus ours

    # -- running -----------------------------------------------------------------------

    def run(self) -> list[Result]:
        results = []
        try:
            for name in CHECKS:
                needs_config = name not in ("config", "display", "clock", "disk")
                if self.config is None and needs_config:
                    results.append(Result(name, SKIP, self._(
                        "not checked: the configuration is not valid"), code="no_config"))
                    continue
                try:
                    results.append(getattr(self, f"check_{name}")())
                except Exception as exc:  # a doctor must never die on what it examines
                    results.append(Result(name, FAIL, self._(
                        "the check itself failed: {error}").format(error=_short(exc)),
                        self._("report this message to the district's IT support"),
                        code="crashed"))
        finally:
            if self.store is not None:
                self.store.close()
        return results

    # -- the checks --------------------------------------------------------------------

    def check_config(self) -> Result:
        _ = self._
        if self.config is None:
            return Result("config", FAIL, _("the configuration is not valid: {error}").format(
                error=self.config_error or "?"), _(
                "copy this terminal's kiosk.toml from the district onto the bootfs drive and "
                "restart (technician guide, section 3); check a file with: kiosk config check "
                "FILE"), code="invalid")
        c = self.config
        if c.terminal.id == TerminalSection().id:
            # the guide's table: without this terminal's kiosk.toml the check fails (votes
            # would be stored under a made-up terminal id and never reach the district)
            return Result("config", FAIL, _(
                "no terminal id: no kiosk.toml was found, the defaults are in use"), _(
                "copy this terminal's kiosk.toml from the district onto the bootfs drive and "
                "restart (technician guide, section 3)"), code="defaults")
        return Result("config", OK, _(
            "valid: terminal {id}, unit {unit}, {levels} levels").format(
            id=c.terminal.id, unit=c.terminal.unit, levels=c.scale.levels), code="valid")

    def check_settings(self) -> Result:
        """The settings the district decided (docs/steering.md). A damaged file never stops
        the terminal (it runs the last good copy, or kiosk.toml alone), so WARN, not FAIL."""
        from pydantic import ValidationError

        from kiosk import remote_settings

        _ = self._
        folder = remote_settings.folder_of(self.config)
        fix = _("nothing to do on site: the next heartbeat fetches them again; if this comes "
                "back, the memory card may be failing (technician guide, section 8)")
        stored, problem = remote_settings.read_stored(folder)
        if problem is not None:
            where = folder / remote_settings.SETTINGS_FILE
            if stored is None:
                return Result("settings", WARN, _(
                    "the district's settings file {file} is damaged and there is no good copy: "
                    "running kiosk.toml alone").format(file=where), fix, code="damaged")
            return Result("settings", WARN, _(
                "the district's settings file {file} is damaged: running version {version}, "
                "the last good copy").format(file=where, version=stored.version), fix,
                code="damaged")
        if stored is None:
            return Result("settings", OK, _(
                "none received from the district yet: kiosk.toml alone"), code="none")
        try:
            remote_settings.merged(self.config, stored.settings)
        except ValidationError:
            return Result("settings", WARN, _(
                "version {version} from the district no longer fits this kiosk.toml: running "
                "kiosk.toml alone").format(version=stored.version), _(
                "tell the district: its settings and this terminal's kiosk.toml disagree (for "
                "example the number of buttons)"), code="unfit")
        return Result("settings", OK, _("version {version} from the district").format(
            version=stored.version), code="applied")

    def check_storage(self) -> Result:
        from kiosk.store import StorageError, VoteStore

        _ = self._
        path = self.config.storage.path
        try:
            self.store = VoteStore(path, self.config.terminal.id)
            if not self.store.integrity_ok():
                return Result("storage", FAIL, _(
                    "the vote file {path} is damaged (integrity check failed)").format(
                    path=path), _(
                    "keep a copy of the file, do not delete it; call the district's IT "
                    "support and replace the memory card (guide, section 8)"), code="corrupt")
            self.store.set_meta(doctor_probe=self.system.utc_now().isoformat())
            counts = self.store.counts()
        except StorageError as error:
            if self.store is not None:
                self.store.close()
                self.store = None
            return Result("storage", FAIL, *self._storage_words(error), code=error.kind)
        return Result("storage", OK, _(
            "{path} opens, is intact and writable ({total} votes, {pending} waiting to be "
            "sent)").format(path=path, total=counts["total"],
                            pending=self.store.backlog(counts)),
            code="writable")

    def _storage_words(self, error) -> tuple[str, str]:
        _ = self._
        path, detail = error.path, error.detail
        return {
            "full": (_("the memory card is full: {path} cannot be written").format(path=path),
                     _("free space (df -h), send the votes (kiosk sync --once) or collect them "
                       "by USB (guide, section 7) and use a larger card")),
            "read_only": (_("the memory card is read-only: {path} cannot be written").format(
                path=path), _("restart the terminal; if it stays read-only the card is "
                              "failing: copy the votes off and replace it (guide, section 8)")),
            "corrupt": (_("the vote file {path} is damaged ({detail})").format(
                path=path, detail=detail), _(
                "keep a copy of the file, do not delete it; call the district's IT support "
                "and replace the memory card (guide, section 8)")),
        }.get(error.kind, (
            _("the vote file {path} cannot be opened or written ({detail})").format(
                path=path, detail=detail),
            _("check [storage] path in kiosk.toml and that its folder exists and belongs to "
              "the kiosk user; then sudo systemctl restart kiosk")))

    def _factory(self):
        from kiosk.hardware.gpio import make_pin_factory

        maker = self.system.pin_factory or make_pin_factory
        return maker(self.config.gpio.pin_factory)

    def _pins(self, check: str, kind: str) -> Result:
        _ = self._
        gpio = self.config.gpio
        pins = list(gpio.button_pins or ()) if kind == "button" else list(gpio.led_pins or ())
        if not gpio.enabled:
            return Result(check, SKIP, _("GPIO is disabled in [gpio] enabled"), code="disabled")
        if not pins:
            return Result(check, SKIP, _("no LED pins configured ([gpio] led_pins = [])"),
                          code="none")
        from gpiozero import LED, Button

        try:
            factory = self._factory()
        except Exception as exc:
            return Result(check, FAIL, _("the GPIO pin factory '{name}' cannot start: {error}")
                          .format(name=gpio.pin_factory, error=_short(exc)), _(
                "on a Raspberry Pi, install python3-lgpio and run the doctor as the kiosk user "
                "(member of the gpio group); elsewhere use pin_factory = \"mock\""),
                code="factory")
        busy, failed, stuck, devices = [], [], [], []
        try:
            for level, pin in enumerate(pins, start=1):
                try:
                    if kind == "button":
                        device = Button(pin, pull_up=gpio.pull_up, bounce_time=None,
                                        pin_factory=factory)
                    else:
                        device = LED(pin, pin_factory=factory)
                        device.off()
                except Exception as exc:
                    (busy if _is_busy(exc) else failed).append((level, pin, _short(exc)))
                    continue
                devices.append(device)
                if kind == "button" and device.is_pressed:
                    stuck.append((level, pin))
        finally:
            for device in devices:
                device.close()
            close = getattr(factory, "close", None)
            if close:
                close()
        what = _("button") if kind == "button" else _("LED")
        if failed:
            level, pin, error = failed[0]
            return Result(check, FAIL, _("the {what} of level {level} (BCM {pin}) cannot be "
                                         "used: {error}").format(
                what=what, level=level, pin=pin, error=error), _(
                "check the wiring of BCM {pin} and GND (guide, section 4) and [gpio] "
                "{key} in kiosk.toml").format(
                pin=pin, key="button_pins" if kind == "button" else "led_pins"),
                code="pin_error")
        if stuck:
            listed = ", ".join(_("level {level} (BCM {pin})").format(level=lv, pin=p)
                               for lv, p in stuck)
            return Result(check, FAIL, _("button held down now (stuck or shorted): {buttons}")
                          .format(buttons=listed), _(
                "release or replace the button; check that its wire does not touch GND "
                "(guide, section 4)"), code="stuck")
        if busy:
            listed = ", ".join(f"BCM {p}" for _lv, p, _e in busy)
            return Result(check, WARN, _("pins in use by another program ({pins}): the "
                                         "kiosk is running").format(pins=listed), _(
                "stop it (sudo systemctl stop kiosk) and run the doctor again, or trust the "
                "kiosk's own status (kiosk status)"), code="busy")
        listed = ", ".join(f"BCM {p}" for p in pins)
        if kind == "button":
            return Result(check, OK, _("{n} buttons answer, none held down ({pins})").format(
                n=len(pins), pins=listed), code="ready")
        return Result(check, OK, _("{n} LEDs can be driven ({pins})").format(
            n=len(pins), pins=listed), code="ready")

    def check_buttons(self) -> Result:
        return self._pins("buttons", "button")

    def check_leds(self) -> Result:
        return self._pins("leds", "led")

    def check_serial(self) -> Result:
        _ = self._
        section = self.config.serial
        if not section.enabled:
            return Result("serial", SKIP, _("no USB button box configured ([serial] enabled = "
                                            "false)"), code="disabled")
        import serial

        try:
            port = serial.serial_for_url(section.port, baudrate=section.baudrate, timeout=0)
            port.close()
        except (serial.SerialException, OSError, ValueError) as exc:
            missing = not section.port.count("://") and not Path(section.port).exists()
            message = (_("the button box {port} is not there (unplugged?)") if missing else
                       _("the button box {port} cannot be opened: {error}"))
            return Result("serial", FAIL, message.format(port=section.port, error=_short(exc)),
                          _("plug the box in again; find its name with ls /dev/ttyUSB* "
                            "/dev/ttyACM* /dev/serial/by-id/ and correct [serial] port"),
                          code="missing" if missing else "open_error")
        return Result("serial", OK, _("{port} opens at {baud} baud").format(
            port=section.port, baud=section.baudrate), code="open")

    def check_display(self) -> Result:
        _ = self._
        cards = self.system.display_devices()
        env = self.system.environ
        if cards:
            return Result("display", OK, _("display device {device}").format(device=cards[0]),
                          code="drm")
        if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
            return Result("display", OK, _("a graphical session is available ({name})").format(
                name=env.get("WAYLAND_DISPLAY") or env.get("DISPLAY")), code="session")
        on_pi = self.system.on_raspberry_pi
        if on_pi is None:
            from kiosk.hardware.gpio import on_raspberry_pi as on_pi
        fix = _("plug the HDMI cable into HDMI0 before powering on; try another cable or "
                "screen; check that the vc4-kms-v3d overlay is enabled in config.txt")
        if on_pi():
            return Result("display", FAIL, _("no display device (/dev/dri/card*)"), fix,
                          code="no_display")
        return Result("display", WARN, _("no display device (/dev/dri/card*) and no $DISPLAY: "
                                         "not a Raspberry Pi, fine for development"), fix,
                      code="no_display")

    # -- server, token, clock ----------------------------------------------------------

    def _session(self):
        import requests

        from kiosk.sync.client import trust

        server = self.config.server
        session = trust(requests.Session(), ca_bundle=server.ca_bundle, ca_cert=server.ca_cert)
        session.trust_env = False  # like the sync agent: no proxy from the environment
        session.headers["User-Agent"] = USER_AGENT
        return session

    def check_server(self) -> Result:
        import requests

        _ = self._
        server = self.config.server
        if not server.url:
            return Result("server", SKIP, _("no server configured ([server] url is empty): "
                                            "votes are collected by USB"), code="no_url")
        refusal = server.plain_http_refused()
        if refusal is not None:
            return Result("server", FAIL, refusal.translated(_), _(
                "install the kiosk.toml the district provisioned (its address is https://)"),
                code="plain_http")
        if server.ca_bundle and not Path(server.ca_bundle).is_file():
            return Result("server", FAIL, _("the CA file {file} ([server] ca_bundle) does not "
                                            "exist").format(file=server.ca_bundle), _(
                "put the district's CA file there, or empty [server] ca_bundle to use the "
                "system's certificates"), code="ca_missing")
        url = server.url + "/healthz"
        host = server.url.split("://", 1)[1].split("/", 1)[0]
        with self._session() as session:
            try:
                before = time.monotonic()
                response = session.get(url, timeout=server.timeout_s)
                elapsed = time.monotonic() - before
            except requests.exceptions.SSLError as exc:
                return Result("server", FAIL, _("TLS (HTTPS) error with {url}: {error}").format(
                    url=server.url, error=_tls_reason(exc)), _(
                    "check this terminal's clock (a wrong date makes every certificate "
                    "invalid); if the district uses its own certificate authority set [server] "
                    "ca_bundle to its CA file"), code="tls")
            except requests.exceptions.Timeout:
                return Result("server", FAIL, _("{url} did not answer within {timeout} s")
                              .format(url=server.url, timeout=server.timeout_s), _(
                    "check the network cable or Wi-Fi and that the server is running; a "
                    "firewall may drop the connection"), code="timeout")
            except requests.exceptions.ConnectionError as exc:
                return self._connection_failure(exc, server.url, host)
            except (requests.exceptions.RequestException, OSError) as exc:
                return Result("server", FAIL, _("{url} cannot be reached: {error}").format(
                    url=server.url, error=_short(exc)), _(
                    "check [server] url in kiosk.toml"), code="unreachable")
        self.server_offset_s = _date_offset(response.headers.get("Date"),
                                            self.system.utc_now(), elapsed)
        if response.status_code == 200:
            self.server_ok = True
            message = (_("{url} answers (HTTPS verified)") if server.url.startswith("https")
                       else _("{url} answers (plain HTTP, not encrypted)"))
            return Result("server", OK, message.format(url=server.url), code="reachable")
        if response.status_code == 503:
            return Result("server", FAIL, _("{url} answers but its database is down (503)")
                          .format(url=server.url), _(
                "tell the district's IT support: the server cannot reach its database; votes "
                "wait safely on this terminal"), code="server_unhealthy")
        return Result("server", FAIL, _("{url}/healthz answered HTTP {status}: not a Hài Lòng "
                                        "server, or a proxy in the way").format(
            url=server.url, status=response.status_code), _(
            "check [server] url (scheme, host, port, no extra path) in kiosk.toml"),
            code="http_status")

    def check_certificate(self) -> Result:
        """Days left on the certificate the terminal sees, verified as the agent verifies
        it: the district renews it (district setup --renew) before terminals stop."""
        from urllib.parse import urlsplit

        from kiosk.sync.client import tls_context

        _ = self._
        server = self.config.server
        if not server.url.startswith("https://"):
            return Result("certificate", SKIP, _("no HTTPS server configured"), code="no_https")
        parts = urlsplit(server.url)
        fix = _("tell the district's IT support: on the server run district setup --renew, "
                "then systemctl restart district (terminals need nothing)")
        context = tls_context(ca_bundle=server.ca_bundle, ca_cert=server.ca_cert)
        try:
            with socket.create_connection((parts.hostname, parts.port or 443),
                                          timeout=server.timeout_s) as raw, \
                    context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
                cert = tls.getpeercert()
        except ssl.SSLCertVerificationError as exc:
            if exc.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
                return Result("certificate", FAIL, _("the server's certificate has expired: "
                                                     "the terminal cannot send votes"), fix,
                              code="expired")
            return Result("certificate", SKIP, _("not checked: the certificate is not "
                                                 "trusted (see the server check)"),
                          code="untrusted")
        except (OSError, ValueError):
            return Result("certificate", SKIP, _("not checked: the server is not reachable"),
                          code="no_server")
        ends = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        days = (ends - self.system.utc_now()).days
        when = ends.strftime("%Y-%m-%d")
        if days < 0:
            return Result("certificate", FAIL, _("the server's certificate ended on {date}: "
                                                 "the terminal cannot send votes").format(
                date=when), fix, code="expired")
        if days <= CERT_WARN_DAYS:
            return Result("certificate", WARN, _("the server's certificate ends in {days} "
                                                 "days ({date})").format(days=days, date=when),
                          fix, code="expiring")
        return Result("certificate", OK, _("the server's certificate is valid for {days} more "
                                           "days (until {date})").format(days=days, date=when),
                      code="valid")

    def _connection_failure(self, exc, url: str, host: str) -> Result:
        _ = self._
        chain = _causes(exc)
        text = " ".join(str(c) for c in chain).lower()
        if any(isinstance(c, socket.gaierror) for c in chain) or "name resolution" in text \
                or "name or service not known" in text or "nodename nor servname" in text:
            return Result("server", FAIL, _("the server name {host} cannot be found (DNS)")
                          .format(host=host.rsplit(":", 1)[0]), _(
                "check the spelling of [server] url, the network cable or Wi-Fi, and the "
                "DNS server (cat /etc/resolv.conf)"), code="dns")
        if any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in text:
            return Result("server", FAIL, _("{host} refused the connection: nothing listens "
                                            "on that port").format(host=host), _(
                "the server is down or the port in [server] url is wrong: tell the "
                "district's IT support (systemctl status district)"), code="refused")
        return Result("server", FAIL, _("{url} cannot be reached: {error}").format(
            url=url, error=_short(chain[-1])), _(
            "check the network cable or Wi-Fi (ip addr), the gateway, and that the server "
            "is running"), code="unreachable")

    def check_token(self) -> Result:
        import requests

        _ = self._
        server = self.config.server
        if not server.url:
            return Result("token", SKIP, _("no server configured"), code="no_url")
        if not server.token:
            return Result("token", FAIL, _("no token in [server] token"), _(
                "ask the district for this terminal's kiosk.toml (district fleet provision, "
                "or district terminals rotate {id}) and install it").format(
                id=self.config.terminal.id), code="no_token")
        if not self.server_ok:
            return Result("token", SKIP, _("not checked: the server is not reachable"),
                          code="no_server")
        body = self._heartbeat()
        with self._session() as session:
            session.headers["Authorization"] = f"Bearer {server.token}"
            try:
                before = time.monotonic()
                response = session.post(server.url + "/api/v1/heartbeat", json=body,
                                        timeout=server.timeout_s)
                elapsed = time.monotonic() - before
            except requests.exceptions.RequestException as exc:
                return Result("token", FAIL, _("the authenticated call failed: {error}").format(
                    error=_short(exc)), _("run the doctor again; if it persists see the "
                                          "server check"), code="unreachable")
        tid = self.config.terminal.id
        rotate = _("on the server run: district terminals rotate {id}; put the new token in "
                   "[server] token of kiosk.toml (or install the new kiosk.toml from the "
                   "district)").format(id=tid)
        if response.status_code == 200:
            try:
                server_time = datetime.fromisoformat(
                    str(response.json()["server_time"]).replace("Z", "+00:00"))
                if server_time.tzinfo is None:
                    server_time = server_time.replace(tzinfo=UTC)
                local = self.system.utc_now()
                self.server_offset_s = (server_time - local).total_seconds() + elapsed / 2
            except (ValueError, KeyError, TypeError):
                pass
            return Result("token", OK, _("the server accepts this terminal's token ({id})")
                          .format(id=tid), code="accepted")
        if response.status_code == 401:
            return Result("token", FAIL, _("the server refuses the token: wrong or revoked "
                                           "(HTTP 401)"), rotate, code="unauthorized")
        if response.status_code == 403:
            return Result("token", FAIL, _("the token belongs to another terminal, not {id} "
                                           "(HTTP 403)").format(id=tid), _(
                "this kiosk.toml mixes two terminals: install the file made for {id}, or on "
                "the server run: district terminals rotate {id}").format(id=tid),
                code="wrong_terminal")
        return Result("token", FAIL, _("the heartbeat was refused: HTTP {status} {reason}")
                      .format(status=response.status_code, reason=_reason(response)), _(
            "the server and this terminal may run different versions: tell the district's "
            "IT support"), code="refused")

    def _heartbeat(self) -> dict:
        """A real heartbeat (what the sync agent sends), so the fleet page stays right."""
        beat = {"terminal_id": self.config.terminal.id,
                "sent_at": self.system.utc_now().astimezone(UTC).isoformat()
                .replace("+00:00", "Z"),
                "boot_id": clock.boot_id()[:64], "monotonic_ns": clock.since_boot_ns(),
                "software_version": __version__,
                "clock_synced": bool(self.system.clock_synced()),
                "uptime_s": round(clock.since_boot_ns() / 1e9, 3)}
        if self.store is not None:
            try:
                counts = self.store.counts()
                beat["backlog"] = self.store.backlog(counts)
                beat["rejected"] = counts["rejected"]
                error = self.store.meta("last_sync_error")
                if isinstance(error, str) and error:
                    beat["last_error"] = error[:2000]
            except Exception:  # storage already reported by its own check
                pass
        try:
            beat["disk_free_bytes"] = self.system.disk_usage(
                str(_existing(self.config.storage.path.parent))).free
        except OSError:
            pass
        return beat

    def check_clock(self) -> Result:
        _ = self._
        synced = bool(self.system.clock_synced())
        offset = self.server_offset_s
        fix = _("the Raspberry Pi has no clock battery: it needs the network to reach an NTP "
                "server (timedatectl timesync-status); wait a few minutes after the network is "
                "up. Votes taken meanwhile are kept and re-dated by the server")
        if offset is None:
            if synced:
                return Result("clock", OK, _("synchronised (NTP)"), code="synced")
            return Result("clock", WARN, _("not synchronised (NTP) yet; offset to the server "
                                           "unknown"), fix, code="unsynced")
        shown = _("{seconds:+.1f} s").format(seconds=offset)
        if synced and abs(offset) <= CLOCK_MAX_OFFSET_S:
            return Result("clock", OK, _("synchronised (NTP), {offset} from the server")
                          .format(offset=shown), code="synced")
        if synced:
            return Result("clock", WARN, _("synchronised (NTP) but {offset} from the server: "
                                           "the server's clock may be wrong").format(
                offset=shown), _("tell the district's IT support to check the server's time"),
                code="server_clock")
        if abs(offset) > CLOCK_MAX_OFFSET_S:
            return Result("clock", FAIL, _("not synchronised (NTP) and {offset} from the "
                                           "server").format(offset=shown), fix,
                          code="unsynced_far")
        return Result("clock", WARN, _("not synchronised (NTP), but within {offset} of the "
                                       "server").format(offset=shown), fix, code="unsynced")

    def check_disk(self) -> Result:
        _ = self._
        path = (self.config.storage.path if self.config else StorageSection().path)
        where = _existing(path.parent)
        try:
            usage = self.system.disk_usage(str(where))
        except OSError as exc:
            return Result("disk", FAIL, _("free space on {path} cannot be read: {error}")
                          .format(path=where, error=_short(exc)), _(
                "check that the memory card is mounted (df -h)"), code="unreadable")
        free = _("{free} free of {total} on {path}").format(
            free=_size(usage.free), total=_size(usage.total), path=where)
        fix = _("send the votes (kiosk sync --once) or collect them by USB (guide, section 7); "
                "sudo journalctl --vacuum-size=20M; use a larger card")
        if usage.free < DISK_FAIL_BYTES:
            return Result("disk", FAIL, _("almost full: {free}").format(free=free), fix,
                          code="full")
        if usage.free < DISK_WARN_BYTES:
            return Result("disk", WARN, _("getting full: {free}").format(free=free), fix,
                          code="low")
        return Result("disk", OK, free, code="enough")


# ---------------------------------------------------------------------------------------
# Helpers


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "…"


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        todo.extend([item.__cause__, item.__context__, *[a for a in getattr(item, "args", ())
                                                         if isinstance(a, BaseException)]])
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return chain


def _tls_reason(exc: BaseException) -> str:
    for item in _causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return item.verify_message or str(item)
    return _short(exc)


def _is_busy(exc: BaseException) -> bool:
    from gpiozero.exc import GPIOPinInUse

    return isinstance(exc, GPIOPinInUse) or "busy" in str(exc).lower()


def _reason(response) -> str:
    try:
        data = response.json()
        return str(data.get("message") or data.get("error") or "")[:200]
    except ValueError:
        return response.text[:200]


def _date_offset(header: str | None, now: datetime, elapsed: float) -> float | None:
    """Server clock minus ours, from an HTTP Date header (1 s resolution)."""
    if not header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    return (server - now).total_seconds() + elapsed / 2


def _existing(path: Path) -> Path:
    """The nearest folder that exists (the vote folder may not be created yet)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# ---------------------------------------------------------------------------------------
# Entry point (kiosk/cli.py dispatches `kiosk doctor [--json]` here)


def main(config: KioskConfig | None, as_json: bool = False, language: str = DEFAULT_LANGUAGE,
         *, config_error: str | None = None, system: System | None = None, out=None) -> int:
    """Run every check, print the verdicts; 0 when none failed, 1 otherwise. ``config`` is
    None when the configuration did not load (``config_error`` says why)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    out = out or sys.stdout
    doctor = Doctor(config, language, system or System(), config_error)
    results = doctor.run()
    failed = any(r.status == FAIL for r in results)
    if as_json:
        json.dump({"ok": not failed, "terminal_id": config.terminal.id if config else None,
                   "checks": [r.as_dict() for r in results]}, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 1 if failed else 0
    _ = doctor._
    verdicts = {OK: _("OK"), WARN: _("WARN"), SKIP: _("SKIP"), FAIL: _("FAIL")}
    width = max(len(v) for v in verdicts.values())
    name_width = max(len(n) for n in CHECKS)
    fix_label = _("Fix:")
    title = _("Hài Lòng terminal check")
    if config:
        title += f": {config.terminal.id} ({config.terminal.name})"
    print(title, file=out)
    for r in results:
        print(f"{verdicts[r.status]:<{width}}  {r.check:<{name_width}}  {r.message}", file=out)
        if r.fix and r.status in (FAIL, WARN):
            print(f"{'':<{width + name_width + 4}}{fix_label} {r.fix}", file=out)
    counts = {s: sum(r.status == s for r in results) for s in (OK, WARN, SKIP, FAIL)}
    print(_("Result: {ok} OK, {warn} warnings, {fail} failed, {skip} skipped").format(
        ok=counts[OK], warn=counts[WARN], fail=counts[FAIL], skip=counts[SKIP]), file=out)
    return 1 if failed else 0
