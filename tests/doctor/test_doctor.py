"""`kiosk doctor` against real things: a `district serve` subprocess, the real vote file, a pty
as the serial button box, gpiozero's mock pins, tmpfs mounts for a read-only and a full card.

"Passes" on this machine means: every check is ok, except ``display`` (no /dev/dri here: WARN
off a Raspberry Pi) and ``clock`` (no NTP in the container: WARN while the offset to the server
is small), and the exit status is 0. The clock is faked through ``kiosk.doctor.System``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from datetime import timedelta

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from kiosk import clock, doctor
from kiosk.config import load
from tests.doctor.doctor_helpers import by_check, healthy_sections, run_doctor, write_config


@pytest.fixture
def pty_port():
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture
def healthy(tmp_path, district_fleet, pty_port):
    return write_config(tmp_path / "kiosk.toml",
                        **healthy_sections(tmp_path, district_fleet, pty_port))


def test_healthy_terminal_passes_every_check(healthy):
    code, report = run_doctor(healthy)
    checks = by_check(report)
    assert list(checks) == list(doctor.CHECKS)
    for name in ("config", "settings", "storage", "buttons", "leds", "serial", "server",
                 "token", "disk"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["display"]["status"] in ("ok", "warn")
    assert checks["clock"]["status"] in ("ok", "warn")
    assert checks["clock"]["code"] in ("synced", "unsynced")  # close to the server either way
    assert code == 0 and report["ok"] is True
    assert checks["token"]["code"] == "accepted"


def test_vietnamese_by_default(healthy):
    code, text = run_doctor(healthy, lang="vi", as_json=False)
    assert code == 0, text
    assert "Kiểm tra máy đánh giá Hài Lòng: t-doctor (Quầy thử)" in text
    assert "ĐẠT       config       hợp lệ: máy t-doctor, đơn vị u-doctor, 3 mức" in text
    assert "máy chủ chấp nhận mã truy cập của máy (t-doctor)" in text
    assert "Kết quả: " in text and " 0 lỗi" in text


def test_bad_config_is_the_first_check_and_the_rest_goes_on(tmp_path):
    config = write_config(tmp_path / "kiosk.toml", terminal={"id": "t-doctor"},
                          scale={"levels": 7}, storage={"path": str(tmp_path / "v.db")})
    code, report = run_doctor(config)
    checks = by_check(report)
    assert code == 1 and report["ok"] is False
    assert report["checks"][0]["check"] == "config"
    assert checks["config"]["status"] == "fail" and checks["config"]["code"] == "invalid"
    assert "scale.levels" in checks["config"]["message"]
    assert "kiosk config check" in checks["config"]["fix"]
    assert checks["storage"]["status"] == "skip"
    assert checks["disk"]["status"] in ("ok", "warn")  # what can run, runs


def test_storage_under_a_regular_file(tmp_path, district_fleet):
    (tmp_path / "afile").write_text("not a folder")
    sections = healthy_sections(tmp_path, district_fleet)
    sections["storage"] = {"path": str(tmp_path / "afile" / "votes.db")}
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    storage = by_check(report)["storage"]
    assert code == 1
    assert storage["status"] == "fail" and storage["code"] == "unavailable"
    assert "cannot be opened or written" in storage["message"]
    assert "[storage] path" in storage["fix"]
    assert by_check(report)["token"]["status"] == "ok"  # the heartbeat goes without it


def _mount_tmpfs(folder, size="1m") -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    folder = tmp_path / "card"
    folder.mkdir()
    _mount_tmpfs(folder)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_card(tmp_path, tmpfs, district_fleet):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    sections = healthy_sections(tmp_path, district_fleet)
    sections["storage"] = {"path": str(tmpfs / "votes.db")}
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    storage = by_check(report)["storage"]
    assert code == 1
    assert storage["status"] == "fail" and storage["code"] == "read_only"
    assert "read-only" in storage["message"]


def test_full_card(tmp_path, tmpfs, district_fleet):
    with open(tmpfs / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    sections = healthy_sections(tmp_path, district_fleet)
    sections["storage"] = {"path": str(tmpfs / "votes.db")}
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    disk = by_check(report)["disk"]
    assert code == 1
    assert disk["status"] == "fail" and disk["code"] == "full"
    assert disk["message"].startswith("almost full:") and "kiosk sync --once" in disk["fix"]
    assert by_check(report)["storage"]["status"] == "fail"  # no room for the probe either
    assert by_check(report)["storage"]["code"] in ("full", "unavailable")


def test_server_down(tmp_path, district_fleet):
    from tests.helpers import free_port

    sections = healthy_sections(tmp_path, district_fleet)
    sections["server"]["url"] = f"http://127.0.0.1:{free_port()}"
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    checks = by_check(report)
    assert code == 1
    assert checks["server"]["status"] == "fail" and checks["server"]["code"] == "refused"
    assert "refused the connection" in checks["server"]["message"]
    assert checks["token"]["status"] == "skip"


def test_unknown_server_name(tmp_path, district_fleet):
    sections = healthy_sections(tmp_path, district_fleet)
    sections["server"]["url"] = "https://hailong.invalid"
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    server = by_check(report)["server"]
    assert code == 1 and server["code"] == "dns"
    assert "hailong.invalid cannot be found (DNS)" in server["message"]


def test_wrong_token(tmp_path, district_fleet):
    sections = healthy_sections(tmp_path, district_fleet)
    sections["server"]["token"] = "not-the-token-of-anyone"
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    token = by_check(report)["token"]
    assert code == 1 and by_check(report)["server"]["status"] == "ok"
    assert token["status"] == "fail" and token["code"] == "unauthorized"
    assert "wrong or revoked (HTTP 401)" in token["message"]
    assert "district terminals rotate t-doctor" in token["fix"]


def test_token_of_another_terminal(tmp_path, district_fleet):
    sections = healthy_sections(tmp_path, district_fleet)
    sections["server"]["token"] = district_fleet.tokens["t-other"]
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    token = by_check(report)["token"]
    assert code == 1
    assert token["status"] == "fail" and token["code"] == "wrong_terminal"
    assert "another terminal, not t-doctor (HTTP 403)" in token["message"]


def test_serial_box_missing(tmp_path, district_fleet):
    sections = healthy_sections(tmp_path, district_fleet, str(tmp_path / "ttyUSB9"))
    code, report = run_doctor(write_config(tmp_path / "kiosk.toml", **sections))
    serial = by_check(report)["serial"]
    assert code == 1 and serial["status"] == "fail" and serial["code"] == "missing"
    assert "ttyUSB9 is not there" in serial["message"]


# -- in-process, through the System seam ----------------------------------------------


def _doctor(config, **system) -> tuple[int, dict]:
    out = io.StringIO()
    code = doctor.main(config, as_json=True, language="en", system=doctor.System(**system),
                       out=out)
    return code, json.loads(out.getvalue())


def test_unsynchronised_clock_far_from_the_server_fails(tmp_path, district_fleet):
    config = load(write_config(tmp_path / "kiosk.toml", **healthy_sections(tmp_path,
                                                                         district_fleet)))
    code, report = _doctor(config, clock_synced=lambda: False,
                           utc_now=lambda: clock.utc_now() - timedelta(hours=3))
    clock_check = by_check(report)["clock"]
    assert code == 1
    assert clock_check["status"] == "fail" and clock_check["code"] == "unsynced_far"
    assert "not synchronised (NTP) and +108" in clock_check["message"]  # +10800.x s
    assert "NTP" in clock_check["fix"]


def test_unsynchronised_clock_close_to_the_server_warns(tmp_path, district_fleet):
    config = load(write_config(tmp_path / "kiosk.toml", **healthy_sections(tmp_path,
                                                                         district_fleet)))
    code, report = _doctor(config, clock_synced=lambda: False)
    assert code == 0
    assert by_check(report)["clock"]["code"] == "unsynced"
    code, report = _doctor(config, clock_synced=lambda: True)
    assert code == 0 and by_check(report)["clock"]["status"] == "ok"


def test_stuck_button(tmp_path, district_fleet):
    class StuckPin(MockPin):  # BCM 27 (level 2) shorted to GND
        def _get_state(self):
            return False if self._number == 27 else super()._get_state()

    config = load(write_config(tmp_path / "kiosk.toml", **healthy_sections(tmp_path,
                                                                         district_fleet)))
    code, report = _doctor(config, pin_factory=lambda _name: MockFactory(pin_class=StuckPin))
    buttons = by_check(report)["buttons"]
    assert code == 1 and buttons["code"] == "stuck"
    assert "level 2 (BCM 27)" in buttons["message"]


def test_display_fails_on_a_pi_without_screen(tmp_path):
    config = load(write_config(tmp_path / "kiosk.toml", terminal={"id": "t-doctor"},
                               gpio={"pin_factory": "mock"},
                               storage={"path": str(tmp_path / "v.db")}))
    _, report = _doctor(config, display_devices=lambda: [], environ={},
                        on_raspberry_pi=lambda: True)
    assert by_check(report)["display"]["status"] == "fail"
    _, report = _doctor(config, display_devices=lambda: ["/dev/dri/card1"], environ={})
    assert by_check(report)["display"]["status"] == "ok"
    assert by_check(report)["server"]["status"] == "skip"  # no server configured


def _store_settings(folder, version, document):
    from ballot import settings as district_model
    from kiosk import remote_settings

    folder.mkdir(parents=True, exist_ok=True)
    remote_settings.store(folder, remote_settings.Stored(
        version, district_model.etag(document), document))


def test_settings_from_the_district(healthy, tmp_path):
    """None yet: ok; a good version: ok and named; a damaged file: a warning naming the
    last good copy (the terminal keeps running), never a failure."""
    assert by_check(run_doctor(healthy)[1])["settings"]["code"] == "none"
    folder = tmp_path / "data"
    _store_settings(folder, 4, {"scale": {"question_vi": "Ông/Bà có hài lòng không?"}})
    check = by_check(run_doctor(healthy)[1])["settings"]
    assert (check["status"], check["code"]) == ("ok", "applied") and "4" in check["message"]

    (folder / "settings.json").write_text('{"version": 5, "etag": "x", "sett')  # cut short
    code, report = run_doctor(healthy)
    check = by_check(report)["settings"]
    assert (check["status"], check["code"]) == ("warn", "damaged"), check
    assert "version 4" in check["message"] and code == 0
    code, text = run_doctor(healthy, lang="vi", as_json=False)
    assert "bị hỏng: máy đang chạy phiên bản 4, bản tốt gần nhất" in text

    (folder / "settings.good.json").unlink()
    check = by_check(run_doctor(healthy)[1])["settings"]
    assert check["code"] == "damaged" and "kiosk.toml" in check["message"]


def test_settings_that_no_longer_fit_the_terminal(tmp_path, district_fleet):
    """Five levels from the district, but the kiosk.toml wires three buttons by hand."""
    sections = healthy_sections(tmp_path, district_fleet)
    sections["gpio"] = {"pin_factory": "mock", "button_pins": [23, 24, 25],
                        "led_pins": [16, 20, 21]}
    config = write_config(tmp_path / "kiosk.toml", **sections)
    _store_settings(tmp_path / "data", 2, {"scale": {"levels": 5}})
    check = by_check(run_doctor(config)[1])["settings"]
    assert (check["status"], check["code"]) == ("warn", "unfit"), check


def test_every_message_is_in_the_catalog():
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    from kiosk.i18n import ROOT

    with open(ROOT / "kiosk/locale/vi/LC_MESSAGES/kiosk_doctor.po", "rb") as fh:
        catalog = {m.id for m in read_po(fh) if m.id and m.string}
    used = {m[1] for m in extract_from_file("python", ROOT / "kiosk/doctor.py")}
    assert used - catalog == set()


@pytest.fixture
def self_signed_https(tmp_path):
    """An HTTPS server whose certificate no CA vouches for (made with openssl)."""
    import http.server
    import shutil
    import ssl
    import threading

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tls_certificate_refused(tmp_path, district_fleet, self_signed_https):
    sections = healthy_sections(tmp_path, district_fleet)
    sections["server"]["url"] = self_signed_https
    config = load(write_config(tmp_path / "kiosk.toml", **sections))
    code, report = _doctor(config)
    server = by_check(report)["server"]
    assert code == 1 and server["code"] == "tls"
    assert "TLS (HTTPS) error" in server["message"] and "certificate" in server["message"]
    assert "ca_bundle" in server["fix"]
