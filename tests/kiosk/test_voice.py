"""The voice: prompts built with Debian's espeak-ng for every thing the terminal says, in
both languages; played through a real ALSA device (the ``null`` PCM of alsa-lib); a
district's own recordings replace them by name; saying never waits for the speaker."""

from __future__ import annotations

import array
import shutil
import time
import wave

import pytest

from kiosk.config import SCALE_LABELS
from kiosk.voice.build import build
from kiosk.voice.player import Voice, scaled
from kiosk.voice.prompts import LANGUAGES, confirm_name, followup_name, prompts, question_name
from tests.helpers import require


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require(shutil.which("espeak-ng") is not None, "espeak-ng is not installed (Debian)")
    folder = tmp_path_factory.mktemp("voice")
    build(folder)
    return folder


def spoken_names() -> set[str]:
    """Every name the app can say (kiosk/ui/kioskapp.py: after a vote, on the follow-up,
    after an answer), the question, and the question with the buttons (on an approach)."""
    names = {"question", "answered"}
    for levels in SCALE_LABELS:
        names |= {followup_name(levels), question_name(levels)}
        names |= {confirm_name(level, levels) for level in range(1, levels + 1)}
    return names


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_prompt_is_built_in_both_languages(built, language):
    assert set(prompts(language)) == spoken_names()
    for name in spoken_names():
        with wave.open(str(built / language / f"{name}.wav"), "rb") as wav:
            assert wav.getnframes() > wav.getframerate() // 2, name  # more than half a second


def test_the_vietnamese_words_are_those_of_the_screens():
    said = prompts("vi")
    assert said["confirm-3-2"] == "Ông/Bà đã chọn: Hài lòng. Cảm ơn Ông/Bà."
    assert "Nút 1: Phải chờ quá lâu." in said["followup-3"]
    assert "Nút 3: Lý do khác." in said["followup-3"]
    assert said["question-5"].startswith("Ông/Bà có hài lòng với sự phục vụ hôm nay không? "
                                         "Nút 1: Rất không hài lòng.")


def test_played_through_the_alsa_null_device(built):
    require(shutil.which("aplay") is not None, "aplay is not installed (Debian: alsa-utils)")
    voice = Voice(device="null", language="vi", folder=built)
    try:
        voice.say("confirm-3-2")
        assert voice.idle()
        assert voice.played == [("confirm-3-2", 0)]  # aplay opened the device and played
    finally:
        voice.close()


def tone(path, seconds=0.6, amplitude=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(array.array("h", [amplitude] * int(16000 * seconds)).tobytes())


def test_a_districts_recording_replaces_the_built_prompt(built, tmp_path):
    tone(tmp_path / "district" / "vi" / "answered.wav")
    voice = Voice(device="null", language="vi", folder=tmp_path / "district")
    try:
        assert voice.file_of("answered") == tmp_path / "district" / "vi" / "answered.wav"
    finally:
        voice.close()


def test_volume_scales_the_samples(tmp_path):
    tone(tmp_path / "t.wav")
    _, loud = scaled(tmp_path / "t.wav", 100)
    _, quiet = scaled(tmp_path / "t.wav", 25)
    assert set(array.array("h", loud)) == {8000} and set(array.array("h", quiet)) == {2000}


def test_saying_never_waits_for_the_speaker(tmp_path):
    """A speaker that never finishes (a player stuck for an hour): say() still returns,
    and the newest prompt cuts the one playing."""
    tone(tmp_path / "vi" / "a.wav")
    tone(tmp_path / "vi" / "b.wav")
    stuck = tmp_path / "stuck-player"
    stuck.write_text("#!/bin/sh\ncat >/dev/null\nexec sleep 3600\n")
    stuck.chmod(0o755)
    voice = Voice(device="null", language="vi", folder=tmp_path, aplay=str(stuck))
    try:
        voice.say("a")
        deadline = time.monotonic() + 60
        while voice._current is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert voice._current is not None and voice._current.poll() is None  # stuck
        voice.say("b")  # returns although "a" never ends; cuts it
        deadline = time.monotonic() + 60
        while not voice.played and time.monotonic() < deadline:
            time.sleep(0.01)
        assert voice.played[0][0] == "a" and voice.played[0][1] != 0  # cut
    finally:
        voice.close()
