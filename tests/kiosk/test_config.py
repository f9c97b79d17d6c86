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


# The detail of each problem is in the technician's language too, not pydantic's English.
DETAILS = [
    ("[gpio]\nbutton_pins = [17, 27, 22]\nled_pins = [5, 6, 17]\n", "gpio.led_pins",
     "chân GPIO 17 bị dùng hai lần trong gpio.led_pins: nút của mức 1 và đèn LED của mức 3",
     "GPIO 17 is used twice in gpio.led_pins: button of level 1 and LED of level 3"),
    ("[scale]\nlevels = 4\n[gpio]\nbutton_pins = [17, 27, 22]\nled_pins = []\n",
     "gpio.button_pins",
     "mức 4 chưa có nút bấm: gpio.button_pins chỉ liệt kê 3 chân cho thang 4 mức",
     "level 4 has no button: gpio.button_pins lists 3 pins for a 4-level scale"),
    ("[serial]\nbaudrate = -9600\n", "serial.baudrate",
     "phải lớn hơn 0", "must be greater than 0"),
    ('[terminal]\nlanguage = "fr"\n', "terminal.language",
     "phải là 'vi' hoặc 'en'", "must be 'vi' or 'en'"),
    ("[scale]\nlevels = 7\n", "scale.levels", "phải là 3, 4 hoặc 5", "must be 3, 4 or 5"),
    ("[sync]\nbatch_size = 5000\n", "sync.batch_size",
     "phải từ 1000 trở xuống", "must be at most 1000"),
    ('[rules]\nlockout_s = "long"\n', "rules.lockout_s", "phải là một số", "must be a number"),
    ("[gpio]\nbutton_pins = [17, 27, 99]\n", "gpio.button_pins",
     "không có chân GPIO 99: số BCM chỉ từ 0 đến 27",
     "GPIO 99 does not exist: BCM numbers go from 0 to 27"),
    ('[technician]\npin = "12"\n', "technician.pin",
     "mã PIN kỹ thuật phải gồm từ 4 đến 12 chữ số", "the technician PIN is 4 to 12 digits"),
    ('[terminal]\nid = "Phường 1"\n', "terminal.id",
     "chỉ dùng chữ thường không dấu, chữ số và dấu gạch ngang, ví dụ hbt-thanh-nhan",
     "use lowercase letters, digits and dashes, e.g. hbt-thanh-nhan"),
    ('[server]\nurl = "ftp://x"\n', "server.url",
     "địa chỉ máy chủ phải bắt đầu bằng https:// (hoặc http:// trong mạng nội bộ)",
     "the server URL must start with https:// (or http:// on a LAN)"),
]


@pytest.mark.parametrize(("text", "key", "vi", "en"), DETAILS, ids=[d[1] for d in DETAILS])
def test_the_detail_is_in_the_technicians_language(tmp_path, text, key, vi, en):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert str(caught.value) == (f"Giá trị sai ở khóa '{key}' trong {path}: {vi}. Cách sửa: xem "
                                 "khóa này trong config/kiosk.example.toml.")
    assert error_of(path) == (f"Wrong value for '{key}' in {path}: {en}. Fix: see that key in "
                              "config/kiosk.example.toml.")


def test_config_check_says_the_detail_in_vietnamese_then_english(tmp_path, kiosk_env):
    """A rule across keys (checked once every key is right) and a number out of range."""
    files = {write(tmp_path, "[gpio]\nbutton_pins = [17, 17, 22]\n", "twice.toml"): (
                 "chân GPIO 17 bị dùng hai lần trong gpio.button_pins: nút của mức 1 và nút "
                 "của mức 2",
                 "GPIO 17 is used twice in gpio.button_pins: button of level 1 and button of "
                 "level 2"),
             write(tmp_path, "[serial]\nbaudrate = -1\n", "negative.toml"): (
                 "Giá trị sai ở khóa 'serial.baudrate'", "must be greater than 0")}
    before = {path: path.read_bytes() for path in files}

    def check(path, *args, **env):
        return subprocess.run([sys.executable, "-m", "kiosk.cli", *args, "--config", str(path),
                               "config", "check"], capture_output=True, text=True,
                              env={**kiosk_env, **env}, timeout=60)

    for path, (vi, en) in files.items():
        vietnamese = check(path)
        assert vietnamese.returncode == 2 and vi in vietnamese.stderr, vietnamese.stderr
        assert "Input should" not in vietnamese.stderr and "used twice" not in vietnamese.stderr
        for english in (check(path, "--lang", "en"), check(path, KIOSK_LANG="en")):
            assert english.returncode == 2 and en in english.stderr, english.stderr
    assert "phải lớn hơn 0" in check(next(iter(reversed(files)))).stderr
    assert {path: path.read_bytes() for path in files} == before  # nothing changed
    assert not (tmp_path / "votes.db").exists()


def test_validation_detail_falls_back_to_pydantics_words():
    from pydantic import BaseModel, ValidationError

    from kiosk.config import KioskConfig
    from kiosk.i18n import Invalid, translation, validation_detail

    class Odd(BaseModel):
        when: __import__("datetime").date

    vi = translation("kiosk", "vi").gettext
    with pytest.raises(ValidationError) as caught:
        Odd.model_validate({"when": "soon"})
    error = caught.value.errors()[0]
    assert validation_detail(error, vi) == error["msg"]  # a type we do not map
    # Our validators' English stays what a plain ValueError said (logs, the API).
    with pytest.raises(ValidationError) as caught:
        KioskConfig.model_validate({"technician": {"pin": "1"}})
    error = caught.value.errors()[0]
    assert isinstance(error["ctx"]["error"], Invalid)
    assert error["msg"] == "Value error, the technician PIN is 4 to 12 digits"
