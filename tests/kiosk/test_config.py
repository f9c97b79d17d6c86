"""Configuration: layering, and one clear message per kind of bad file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiosk.config import ConfigError, load


def write(tmp_path, text, name="kiosk.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path, environ={"KIOSK_LANG": "en"}, **kwargs)
    return str(caught.value)


def test_defaults_are_a_three_level_scale_with_vietnamese_labels():
    config = load(environ={}, layers=())
    assert config.scale.levels == 3
    assert config.scale.labels("vi") == ("Không hài lòng", "Hài lòng", "Rất hài lòng")
    assert config.gpio.button_pins == [17, 27, 22]
    assert config.gpio.led_pins == [5, 6, 13]


def test_five_level_preset_takes_five_default_pins():
    config = load(environ={"KIOSK_SCALE__LEVELS": "5"}, layers=())
    assert config.scale.labels("vi")[0] == "Rất không hài lòng"
    assert config.gpio.button_pins == [17, 27, 22, 23, 24]


def test_layers_merge_in_order_and_environment_comes_last(tmp_path):
    etc = write(tmp_path, '[terminal]\nid = "hbt-quan"\nunit = "hbt"\n[rules]\nlockout_s = 4\n',
                "etc.toml")
    boot = write(tmp_path, '[terminal]\nid = "hbt-bach-mai"\n', "boot.toml")
    config = load(environ={"KIOSK_RULES__LOCKOUT_S": "2.5"}, layers=(etc, boot))
    assert config.terminal.id == "hbt-bach-mai"   # boot partition wins over /etc
    assert config.terminal.unit == "hbt"          # kept from /etc
    assert config.rules.lockout_s == 2.5          # the environment wins over both


def test_explicit_file_replaces_the_layers(tmp_path):
    other = write(tmp_path, '[terminal]\nid = "from-layer"\n', "layer.toml")
    chosen = write(tmp_path, '[terminal]\nid = "chosen"\n')
    assert load(chosen, environ={}, layers=(other,)).terminal.id == "chosen"
    assert load(environ={"KIOSK_CONFIG": str(chosen)}, layers=(other,)).terminal.id == "chosen"


def test_not_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "[terminal]\nid = hbt\n")
    message = error_of(path)
    assert str(path) in message and "line 2" in message and "not valid TOML" in message


def test_missing_file(tmp_path):
    message = error_of(tmp_path / "nope.toml")
    assert "does not exist" in message and "nope.toml" in message


def test_unknown_key_names_the_key_and_suggests_the_right_one(tmp_path):
    path = write(tmp_path, "[gpio]\nbuton_pins = [17, 27, 22]\n")
    message = error_of(path)
    assert "Unknown key 'gpio.buton_pins'" in message
    assert str(path) in message
    assert "did you mean 'button_pins'" in message


def test_messages_are_vietnamese_by_default(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, "[gpio]\nbuton_pins = [1]\n"), environ={})
    assert "Khóa không hợp lệ 'gpio.buton_pins'" in str(caught.value)
    assert "có phải ý bạn là 'button_pins'" in str(caught.value)


def test_unknown_section(tmp_path):
    message = error_of(write(tmp_path, "[screen]\nsize = 7\n"))
    assert "Unknown key 'screen'" in message


def test_pin_used_twice(tmp_path):
    path = write(tmp_path, "[gpio]\nbutton_pins = [17, 27, 22]\nled_pins = [5, 6, 17]\n")
    message = error_of(path)
    assert "GPIO 17 is used twice in gpio.led_pins: button of level 1 and LED of level 3" in message
    assert str(path) in message


def test_level_without_a_button(tmp_path):
    path = write(tmp_path, "[scale]\nlevels = 4\n[gpio]\nbutton_pins = [17, 27, 22]\n"
                           "led_pins = []\n")
    message = error_of(path)
    assert "level 4 has no button" in message and "'gpio.button_pins'" in message


def test_wrong_type_and_out_of_range(tmp_path):
    assert "'rules.lockout_s'" in error_of(write(tmp_path, '[rules]\nlockout_s = "long"\n'))
    assert "'scale.levels'" in error_of(write(tmp_path, "[scale]\nlevels = 7\n"))
    assert "BCM numbers go from 0 to 27" in error_of(
        write(tmp_path, "[gpio]\nbutton_pins = [17, 27, 99]\n"))
    assert "'terminal.id'" in error_of(write(tmp_path, '[terminal]\nid = "Phường 1"\n'))
    assert "https://" in error_of(write(tmp_path, '[server]\nurl = "ftp://x"\n'))


def test_bad_environment_variable_name():
    with pytest.raises(ConfigError, match="KIOSK_SECTION__KEY"):
        load(environ={"KIOSK_STORAGEPATH": "/x", "KIOSK_LANG": "en"}, layers=())


def test_the_shipped_example_is_valid():
    from pathlib import Path
    example = Path(__file__).resolve().parents[2] / "config" / "kiosk.example.toml"
    config = load(example, environ={})
    assert config.terminal.id == "hbt-thanh-nhan"


def test_bad_file_stops_the_cli_with_a_vietnamese_message_and_exit_2(tmp_path, kiosk_env):
    path = write(tmp_path, "[gpio]\nbutton_pins = [17, 17, 22]\n")
    result = subprocess.run([sys.executable, "-m", "kiosk.cli", "--config", str(path), "status"],
                            capture_output=True, text=True, env=kiosk_env)
    assert result.returncode == 2
    assert "Lỗi cấu hình" in result.stderr
    assert "GPIO 17" in result.stderr and str(path) in result.stderr
    english = subprocess.run([sys.executable, "-m", "kiosk.cli", "--lang", "en", "--config",
                              str(path), "status"], capture_output=True, text=True, env=kiosk_env)
    assert "Configuration error" in english.stderr
