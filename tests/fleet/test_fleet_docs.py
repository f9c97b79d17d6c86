"""The technician guide exists in Vietnamese and English and says what the tests prove:
the wiring pins match the default pins of the kiosk configuration, every doctor check and
first-boot error code is explained, and the commands it gives are the stable ones."""

from __future__ import annotations

import re

import pytest

from tests.fleet.fleet_helpers import REPO

VI = REPO / "docs/technician.md"
EN = REPO / "docs/technician.en.md"
# BCM -> physical header pin (Raspberry Pi 40-pin header).
BCM_TO_PIN = {17: 11, 27: 13, 22: 15, 23: 16, 24: 18, 5: 29, 6: 31, 13: 33, 19: 35, 26: 37}
BUTTONS = [17, 27, 22, 23, 24]
LEDS = [5, 6, 13, 19, 26]
DOCTOR_CHECKS = ["config", "storage", "buttons", "serial", "display", "server", "token",
                 "clock", "disk"]


@pytest.mark.parametrize("doc", [VI, EN], ids=["vi", "en"])
def test_wiring_table_matches_default_pins(doc):
    text = doc.read_text()
    word = "chân" if doc == VI else "pin"
    for level, (button, led) in enumerate(zip(BUTTONS, LEDS, strict=True), start=1):
        # The wiring table's rows (the exit-code table's rows also begin "| 2 |").
        row = [line for line in text.splitlines()
               if line.startswith(f"| {level} |") and "BCM" in line]
        assert row, f"no wiring row for level {level}"
        assert f"BCM {button} / {word} {BCM_TO_PIN[button]}" in row[0], row[0]
        assert f"BCM {led} / {word} {BCM_TO_PIN[led]}" in row[0], row[0]


def test_default_pins_agree_with_the_kiosk_config():
    """The guide's defaults are the lead's defaults (kiosk/config.py), when it is there."""
    config = REPO / "kiosk/config.py"
    if not config.exists():
        pytest.skip("kiosk/config.py not there yet")
    src = config.read_text()
    m_b = re.search(r"DEFAULT_BUTTON_PINS\s*=\s*\(([^)]*)\)", src)
    m_l = re.search(r"DEFAULT_LED_PINS\s*=\s*\(([^)]*)\)", src)
    if not (m_b and m_l):
        pytest.skip("default pins not declared as tuples in kiosk/config.py")
    assert [int(x) for x in m_b.group(1).split(",") if x.strip()] == BUTTONS
    assert [int(x) for x in m_l.group(1).split(",") if x.strip()] == LEDS


@pytest.mark.parametrize("doc", [VI, EN], ids=["vi", "en"])
def test_every_doctor_check_and_firstboot_code_is_explained(doc):
    text = doc.read_text()
    for check in DOCTOR_CHECKS:
        assert f"| `{check}`" in text, check
    for code in (2, 3, 4, 5, 6):
        assert re.search(rf"^\| {code} \|", text, re.M), f"first-boot code {code}"


@pytest.mark.parametrize("doc", [VI, EN], ids=["vi", "en"])
def test_stable_commands(doc):
    text = doc.read_text()
    for cmd in ("kiosk doctor", "kiosk export /media/usb/", "district import",
                "district terminals rotate", "district fleet provision config/fleet.toml",
                "/var/lib/kiosk/votes.db", "kiosk.toml", "/boot/firmware", "bootfs",
                ".kiosk.toml", "9600", "B1", "330 Ω"):
        assert cmd in text, cmd


def test_vietnamese_has_full_diacritics():
    text = VI.read_text()
    for word in ("Hướng dẫn", "kỹ thuật viên", "nút bấm", "thẻ nhớ", "Không hài lòng",
                 "Rất hài lòng", "mất phiếu", "cách sửa"):
        assert word.lower() in text.lower(), word
