"""The pieces without a server: the district's settings are the kiosk's own models; the
terminal's settings file is written whole and a damaged one is left aside; what the
terminal's wiring cannot run is refused with the reason."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ballot import settings as model
from kiosk import config as kiosk_config
from kiosk import remote_settings as remote


def test_the_district_settings_are_the_kiosks_own_sections():
    whole = kiosk_config.KioskConfig.model_fields
    for section, keys in model.KEYS.items():
        kiosk_section = whole[section].annotation
        district_section = model.DistrictSettings.model_fields[section].annotation
        assert issubclass(kiosk_section, district_section) or kiosk_section is district_section
        assert set(keys) <= set(kiosk_section.model_fields)
    # nothing that identifies or secures a terminal is a district setting
    assert not {"server", "storage", "gpio", "serial", "technician"} & set(model.KEYS)
    assert "id" not in model.KEYS["terminal"]


def test_a_bad_value_is_refused_by_the_same_rules_on_both_sides():
    with pytest.raises(ValidationError) as district_side:
        model.validate({"rules": {"lockout_s": 90}})
    with pytest.raises(ValidationError) as kiosk_side:
        kiosk_config.KioskConfig.model_validate({"rules": {"lockout_s": 90}})
    assert district_side.value.errors()[0]["type"] == kiosk_side.value.errors()[0]["type"]
    with pytest.raises(ValidationError):
        model.validate({"server": {"token": "x"}})


def config(tmp_path, **gpio):
    return kiosk_config.KioskConfig.model_validate(
        {"storage": {"path": str(tmp_path / "votes.db")},
         "gpio": {"pin_factory": "mock", **gpio}})


def stored(version: int, settings: dict) -> remote.Stored:
    return remote.Stored(version, model.etag(settings), settings)


def test_a_damaged_file_falls_back_to_the_last_good_version(tmp_path):
    local = config(tmp_path)
    remote.store(tmp_path, stored(4, {"scale": {"question_vi": "Câu bốn?"}}))
    # edited by hand: its content no longer matches its tag
    data = json.loads((tmp_path / "settings.json").read_text())
    data["settings"]["scale"]["question_vi"] = "Câu sửa tay?"
    (tmp_path / "settings.json").write_text(json.dumps(data))
    effective, good, problem = remote.effective(local)
    assert effective.scale.question_vi == "Câu bốn?" and good.version == 4
    assert "damaged" in problem and "version 4" in problem
    # no good copy either: kiosk.toml alone, and it says so
    (tmp_path / "settings.good.json").write_text("{")
    effective, good, problem = remote.effective(local)
    assert good is None and effective.scale.question_vi == local.scale.question_vi
    assert "no good copy" in problem


def test_the_file_is_replaced_whole(tmp_path):
    remote.store(tmp_path, stored(1, {"ui": {"sound": True}}))
    remote.store(tmp_path, stored(2, {"ui": {"sound": False}}))
    assert remote.read_stored(tmp_path) == (stored(2, {"ui": {"sound": False}}), None)
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_pins_follow_a_new_scale_but_pins_set_by_hand_do_not(tmp_path):
    five = {"scale": {"levels": 5}}
    assert remote.merged(config(tmp_path), five).gpio.button_pins == [17, 27, 22, 23, 24]
    with pytest.raises(remote.Refused, match="button"):
        remote.accept(config(tmp_path, button_pins=[4, 12, 16]),
                      {"version": 3, "etag": model.etag(five), "settings": five}, "en")


def test_an_answer_whose_tag_does_not_match_is_refused(tmp_path):
    settings = {"ui": {"sound": True}}
    with pytest.raises(remote.Refused, match="tag"):
        remote.accept(config(tmp_path), {"version": 1, "etag": "0" * 32,
                                         "settings": settings}, "en")
    with pytest.raises(remote.Refused):
        remote.accept(config(tmp_path), {"version": 1, "etag": model.etag({}),
                                         "settings": {"server": {"url": "http://x"}}}, "en")


def test_what_needs_a_new_screen(tmp_path):
    local = config(tmp_path)
    assert not remote.needs_new_screen(local, remote.merged(local, {"scale": {
        "question_vi": "Câu mới?"}, "rules": {"lockout_s": 5}}))
    assert remote.needs_new_screen(local, remote.merged(local, {"scale": {"levels": 5}}))
    assert remote.needs_new_screen(local, remote.merged(local, {"terminal": {
        "language": "en"}}))
    # the voice's volume: a new screen only where a speaker is set up
    assert not remote.needs_new_screen(local, remote.merged(local, {"voice": {"volume": 30}}))
    speaker = kiosk_config.KioskConfig.model_validate(
        {"storage": {"path": str(tmp_path / "votes.db")}, "gpio": {"pin_factory": "mock"},
         "voice": {"device": "default"}})
    assert remote.needs_new_screen(speaker, remote.merged(speaker, {"voice": {"volume": 30}}))
