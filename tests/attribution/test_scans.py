"""The counter's scanner core: every scan classified (badge valid / revoked / forged,
dossier code, unreadable), the evdev reader fed python-evdev's own InputEvents (this machine
has no uinput), the serial scanner over a real pty pair, fast keystrokes in the window."""

from __future__ import annotations

import os
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from evdev import InputEvent, ecodes

from district.badges import public_key_text, sign
from kiosk.attribution import Classifier, RosterEntry, ScanKind
from kiosk.config import DEFAULT_DOSSIER_PATTERN
from kiosk.hardware.scanner import EvdevScanner, KeyDecoder, KeystrokeScans, SerialScanner

KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()
RECEIPT = "000.00.00.H00-241201-0001"


def classifier(roster=None) -> Classifier:
    return Classifier(public_key_text(KEY), DEFAULT_DOSSIER_PATTERN, roster)


def test_a_badge_of_the_district_signs_in_its_officer_with_the_name_known():
    scan = classifier({"CB-7": RosterEntry("Lê Thị Hoa", 1)}).classify(sign(KEY, "CB-7", 1))
    assert (scan.kind, scan.officer, scan.name) == (ScanKind.BADGE, "CB-7", "Lê Thị Hoa")
    assert scan.text(str) == "Officer Lê Thị Hoa (CB-7)"


def test_revoked_badges_a_disabled_officer_and_a_replaced_badge():
    roster = {"CB-7": RosterEntry("Lê Thị Hoa", 2), "CB-8": RosterEntry("Ngô Văn Nam", 1,
                                                                         active=False)}
    assert classifier(roster).classify(sign(KEY, "CB-7", 1)).kind == ScanKind.BADGE_REVOKED
    assert classifier(roster).classify(sign(KEY, "CB-7", 2)).kind == ScanKind.BADGE
    assert classifier(roster).classify(sign(KEY, "CB-8", 1)).kind == ScanKind.BADGE_REVOKED


def test_forged_badges_another_key_or_an_edited_code_are_refused():
    c = classifier()
    assert c.classify(sign(OTHER_KEY, "CB-7", 1)).kind == ScanKind.BADGE_FORGED
    genuine = sign(KEY, "CB-7", 1)
    edited = genuine.replace("CB-7", "CB-9")  # someone's own badge with another's code
    assert c.classify(edited).kind == ScanKind.BADGE_FORGED
    reissued = genuine.replace(".1.", ".5.")
    assert c.classify(reissued).kind == ScanKind.BADGE_FORGED


@pytest.mark.parametrize("cut", [1, 10, 40, 85])
def test_a_truncated_badge_is_unreadable_never_a_badge(cut):
    genuine = sign(KEY, "CB-7", 1)
    scan = classifier().classify(genuine[:-cut])
    assert scan.kind == ScanKind.UNREADABLE and scan.officer is None


@pytest.mark.parametrize("garbage", ["", "   ", "\x00\x01HLB1.", "é" * 300, "HLB1.",
                                     "hello world", "12345", "000.00.00.H00-241201",
                                     "000.00.00.H00-241201-0001-9", "https://example.vn/x",
                                     "HLB1.CB 7.1." + "A" * 86, "\ufffd\ufffd"])
def test_garbage_is_unreadable(garbage):
    assert classifier().classify(garbage).kind == ScanKind.UNREADABLE


def test_receipt_codes_are_dossiers_and_a_unit_may_configure_its_own_pattern():
    scan = classifier().classify(RECEIPT + "\r\n")
    assert (scan.kind, scan.dossier_code) == (ScanKind.DOSSIER, RECEIPT)
    assert classifier().classify(RECEIPT.lower()).dossier_code == RECEIPT
    own = Classifier(public_key_text(KEY), r"HS-[0-9]{8}")
    assert own.classify("HS-20241201").kind == ScanKind.DOSSIER
    assert own.classify(RECEIPT).kind == ScanKind.UNREADABLE


def test_without_a_badge_key_no_badge_is_ever_valid():
    scan = Classifier("", DEFAULT_DOSSIER_PATTERN).classify(sign(KEY, "CB-7", 1))
    assert scan.kind == ScanKind.UNREADABLE and "no badge key" in scan.text(str)


# --- evdev: InputEvent streams as the kernel sends them -----------------------------------

def typed(text: str, *, t: float = 1000.0) -> list[InputEvent]:
    """The events a keyboard-mode scanner sends for ``text`` + Enter: EV_MSC scan code,
    key down, SYN, key up, SYN; shift held around capitals and symbols."""
    shifted = {"_": "KEY_MINUS", ":": "KEY_SEMICOLON", "!": "KEY_1"}
    plain = {".": "KEY_DOT", "-": "KEY_MINUS", "/": "KEY_SLASH", " ": "KEY_SPACE"}
    events: list[InputEvent] = []

    def key(code: int, value: int):
        nonlocal t
        t += 0.002
        sec, usec = int(t), int((t % 1) * 1e6)
        events.append(InputEvent(sec, usec, ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 + code))
        events.append(InputEvent(sec, usec, ecodes.EV_KEY, code, value))
        events.append(InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))

    for ch in [*text, "\n"]:
        if ch == "\n":
            name, shift = "KEY_ENTER", False
        elif ch.isalpha():
            name, shift = f"KEY_{ch.upper()}", ch.isupper()
        elif ch.isdigit():
            name, shift = f"KEY_{ch}", False
        elif ch in shifted:
            name, shift = shifted[ch], True
        else:
            name, shift = plain[ch], False
        if shift:
            key(ecodes.KEY_LEFTSHIFT, 1)
        key(ecodes.ecodes[name], 1)
        key(ecodes.ecodes[name], 0)
        if shift:
            key(ecodes.KEY_LEFTSHIFT, 0)
    return events


def test_the_evdev_reader_turns_replayed_events_into_the_scanned_lines():
    lines: list[str] = []
    reader = EvdevScanner("/dev/input/by-id/usb-scanner-event-kbd", lines.append)
    badge = sign(KEY, "Cb_7", 3)
    reader.replay([*typed(badge), *typed(RECEIPT)])
    assert lines == [badge, RECEIPT]
    assert classifier().classify(lines[0]).officer == "Cb_7"


def test_evdev_caps_lock_key_repeat_and_unknown_keys():
    lines: list[str] = []
    decoder = KeyDecoder(lines.append)
    caps = [InputEvent(1, 0, ecodes.EV_KEY, ecodes.KEY_CAPSLOCK, 1),
            InputEvent(1, 0, ecodes.EV_KEY, ecodes.KEY_CAPSLOCK, 0)]
    for event in [*caps, *typed("ab1"), *caps]:
        decoder.feed(event)
    assert lines == ["AB1"]
    decoder.feed(InputEvent(2, 0, ecodes.EV_KEY, ecodes.KEY_Z, 1))
    decoder.feed(InputEvent(2, 0, ecodes.EV_KEY, ecodes.KEY_Z, 2))  # held: auto-repeat
    decoder.feed(InputEvent(2, 0, ecodes.EV_KEY, ecodes.KEY_F5, 1))  # not a character
    decoder.feed(InputEvent(2, 0, ecodes.EV_KEY, ecodes.KEY_KPENTER, 1))
    assert lines == ["AB1", "zz"]


def test_an_overlong_evdev_line_is_dropped_whole_not_cut_into_a_code():
    lines: list[str] = []
    reader = EvdevScanner("unused", lines.append)
    reader.replay([*typed("9" * 300), *typed(RECEIPT)])
    assert lines == [RECEIPT]


def test_the_evdev_reader_reports_a_missing_device_and_keeps_trying(tmp_path):
    reader = EvdevScanner(str(tmp_path / "no-such-event"), lambda _line: None).start()
    try:
        assert not reader.connected.wait(0.3)
    finally:
        reader.close()


# --- serial, over a real pty pair --------------------------------------------------------

def test_the_serial_scanner_over_a_pty_pair_reads_whole_lines_only():
    controller, device = os.openpty()
    lines: list[str] = []
    got = threading.Event()

    def on_scan(line: str):
        lines.append(line)
        if len(lines) == 4:
            got.set()

    badge = sign(KEY, "CB-7", 1)
    with SerialScanner(os.ttyname(device), 9600, on_scan) as scanner:
        assert scanner.connected.wait(5)
        for chunk in (badge[:30].encode(), badge[30:].encode() + b"\r\n", RECEIPT.encode(),
                      b"\r", b"\xff\xfe\x00garbage\n", b"x" * 400 + b"\n",
                      b"000.00.00.H00-241201-0002\n"):
            os.write(controller, chunk)
        assert got.wait(5), lines
    os.close(controller)
    os.close(device)
    assert lines[:2] == [badge, RECEIPT]
    kinds = [classifier().classify(line).kind for line in lines]
    assert kinds == [ScanKind.BADGE, ScanKind.DOSSIER, ScanKind.UNREADABLE, ScanKind.DOSSIER]


# --- keystrokes in the window ------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_scanner_speed_keystrokes_ending_in_enter_are_one_scan_a_person_typing_is_not():
    clock, lines = Clock(), []
    keys = KeystrokeScans(lines.append, max_gap_s=0.05, clock=clock)
    for ch in RECEIPT:
        clock.now += 0.005
        keys.key(ch)
    clock.now += 0.005
    assert keys.key(None, enter=True)
    assert lines == [RECEIPT]
    for ch in "1234":  # a person: a key every half second
        clock.now += 0.5
        keys.key(ch)
    clock.now += 0.5
    assert not keys.key(None, enter=True)
    assert lines == [RECEIPT]
