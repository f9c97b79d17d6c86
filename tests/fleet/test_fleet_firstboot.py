"""First boot (image/firstboot/kiosk-firstboot) against a stand-in boot folder and root:
a valid kiosk.toml is installed with mode 0600 and its owner, atomically, and sets the
hostname; a missing or broken one gives a clear Vietnamese + English message on the console,
a distinct exit code, and changes nothing (the previous configuration stays as it was).

The root prefix (FIRSTBOOT_ROOT), the boot file (FIRSTBOOT_BOOT_CONFIG), the console
(FIRSTBOOT_CONSOLE), the owner (FIRSTBOOT_OWNER) and the kiosk command (KIOSK_BIN) are set
per test; the real `kiosk config check` of .venv is used where noted."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.fleet.fleet_helpers import FIRSTBOOT, VENV_KIOSK
from tests.helpers import clean_env

VALID = """\
[terminal]
id = "hbt-thanh-nhan"
unit = "hbt-thanh-nhan"
name = "Bộ phận một cửa phường Thanh Nhàn"
language = "vi"

[server]
url = "https://danhgia.example.gov.vn"
token = "tok-thanh-nhan-0123456789"
"""
PREVIOUS = '[terminal]\nid = "hbt-cu"\n\n[server]\nurl = "https://old.example"\ntoken = "old"\n'


class Box:
    """A stand-in machine: root/ (with etc/), boot/ (the FAT partition) and a console file."""

    def __init__(self, tmp: Path):
        self.root = tmp / "root"
        self.boot = tmp / "boot"
        self.console = tmp / "tty1"
        (self.root / "etc").mkdir(parents=True)
        self.boot.mkdir()
        (self.root / "etc/hostname").write_text("hailong-new\n")
        (self.root / "etc/hosts").write_text(
            "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost\n127.0.1.1\thailong-new\n")
        self.calls = tmp / "kiosk-calls.log"
        self.kiosk_bin = tmp / "kiosk"
        self.fake_kiosk(0, "")

    def fake_kiosk(self, rc: int, message: str):
        """A stand-in `kiosk` that supports `config check` and answers rc."""
        self.kiosk_bin.write_text(
            "#!/bin/sh\n"
            f'echo "$*" >> "{self.calls}"\n'
            'case "$*" in *--help*) exit 0 ;; esac\n'
            f"echo '{message}' >&2\nexit {rc}\n")
        self.kiosk_bin.chmod(0o755)

    @property
    def target(self) -> Path:
        return self.root / "etc/kiosk/kiosk.toml"

    def put_boot(self, content: str | bytes):
        data = content.encode() if isinstance(content, str) else content
        (self.boot / "kiosk.toml").write_bytes(data)

    def install_previous(self):
        (self.root / "etc/kiosk").mkdir(mode=0o750)
        self.target.write_text(PREVIOUS)
        self.target.chmod(0o600)

    def run(self, kiosk_bin: Path | None = None, **extra) -> subprocess.CompletedProcess:
        env = clean_env("FIRSTBOOT_")
        env.update({
            "FIRSTBOOT_ROOT": str(self.root),
            "FIRSTBOOT_BOOT_CONFIG": str(self.boot / "kiosk.toml"),
            "FIRSTBOOT_CONSOLE": str(self.console),
            "FIRSTBOOT_OWNER": f"{os.getuid()}:{os.getgid()}",
            "KIOSK_BIN": str(kiosk_bin or self.kiosk_bin),
            **extra,
        })
        return subprocess.run(["bash", str(FIRSTBOOT)], capture_output=True, text=True, env=env,
                              timeout=60)

    def snapshot(self) -> dict[str, tuple[int, bytes]]:
        out = {}
        for p in sorted(self.root.rglob("*")):
            if p.is_file():
                out[str(p.relative_to(self.root))] = (stat.S_IMODE(p.stat().st_mode),
                                                      p.read_bytes())
        return out

    def screen(self) -> str:
        return self.console.read_text() if self.console.exists() else ""


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path)


def test_valid_file_is_installed_and_sets_the_hostname(box):
    box.put_boot(VALID)
    proc = box.run()
    assert proc.returncode == 0, proc.stderr
    assert box.target.read_text() == VALID
    st = box.target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert stat.S_IMODE((box.root / "etc/kiosk").stat().st_mode) == 0o750
    assert (box.root / "etc/hostname").read_text() == "hbt-thanh-nhan\n"
    hosts = (box.root / "etc/hosts").read_text()
    assert "127.0.1.1\thbt-thanh-nhan\n" in hosts and "hailong-new" not in hosts
    assert "127.0.0.1\tlocalhost" in hosts
    # The token leaves the FAT partition; a receipt says what happened.
    assert not (box.boot / "kiosk.toml").exists()
    receipt = (box.boot / "kiosk-installed.txt").read_text()
    assert "hbt-thanh-nhan" in receipt and "đã cài" in receipt
    assert "hbt-thanh-nhan" in box.screen()
    # The full check was delegated to `kiosk config check FILE`.
    assert f"config check {box.boot / 'kiosk.toml'}" in box.calls.read_text()
    # No temporary file left next to it.
    assert sorted(p.name for p in (box.root / "etc/kiosk").iterdir()) == ["kiosk.toml"]


def test_replacing_keeps_the_previous_one(box):
    box.install_previous()
    box.put_boot(VALID)
    assert box.run().returncode == 0
    assert box.target.read_text() == VALID
    assert (box.root / "etc/kiosk/kiosk.toml.prev").read_text() == PREVIOUS


def test_running_again_changes_nothing(box):
    box.put_boot(VALID)
    assert box.run().returncode == 0
    before = box.snapshot()
    assert box.run().returncode == 0  # no boot file any more, config installed: nothing to do
    box.put_boot(VALID)  # the same file copied again
    assert box.run().returncode == 0
    assert box.snapshot() == before


def test_keep_boot_file_when_asked(box):
    box.put_boot(VALID)
    assert box.run(FIRSTBOOT_KEEP_BOOT="1").returncode == 0
    assert (box.boot / "kiosk.toml").read_text() == VALID


def test_windows_bom_is_accepted(box):
    box.put_boot("\ufeff" + VALID)
    assert box.run().returncode == 0
    assert (box.root / "etc/hostname").read_text() == "hbt-thanh-nhan\n"


BROKEN = {
    # name: (content or None for missing, exit code, Vietnamese words, English words)
    "missing": (None, 2, "Không tìm thấy tệp cấu hình kiosk.toml", "was not found"),
    "empty": ("", 3, "rỗng", "empty"),
    "not utf-8": ('[terminal]\nid = "hbt-x"\nname = "Ph\xb0\xf6ng"\n'.encode("latin-1"), 3,
                  "không phải văn bản UTF-8", "not UTF-8"),
    "toml syntax": ('[terminal\nid = "hbt-thanh-nhan"\n', 4, "sai cú pháp TOML",
                    "syntax error"),
    "toml syntax later": (VALID + 'extra = "unterminated\n', 4, "sai cú pháp TOML", "line 10"),
    "no terminal section": ('[server]\nurl = "https://x"\n', 5, "thiếu hoặc sai mã máy",
                            "missing section [terminal]"),
    "no id": ('[terminal]\nname = "x"\n', 5, "thiếu hoặc sai mã máy", "id is missing"),
    "id not a hostname": ('[terminal]\nid = "Thanh Nhàn"\n', 5, "thiếu hoặc sai mã máy",
                          "lowercase ascii"),
    "id with trailing dash": ('[terminal]\nid = "hbt-"\n', 5, "thiếu hoặc sai mã máy",
                              "not starting or ending with a dash"),
    "too large": ("# " + "x" * 70000 + "\n" + VALID, 3, "quá lớn", "too large"),
}


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("previous", [False, True], ids=["fresh", "previous-config"])
def test_broken_or_missing_file_changes_nothing(box, case, previous):
    content, code, vi, en = BROKEN[case]
    if previous:
        box.install_previous()
    if content is not None:
        box.put_boot(content)
    before = box.snapshot()
    proc = box.run()
    if case == "missing" and previous:
        # Nothing on the boot partition and a configuration installed: a normal boot.
        assert proc.returncode == 0, proc.stderr
        assert box.snapshot() == before
        return
    assert proc.returncode == code, proc.stdout + proc.stderr
    screen = box.screen()
    assert "LỖI CÀI ĐẶT" in screen and "SETUP ERROR" in screen
    assert vi in screen and en in screen, screen
    assert "Cách sửa" in screen and "How to fix" in screen
    assert vi in proc.stderr  # the journal gets the same message
    assert box.snapshot() == before, "something was changed"
    if content is not None:  # the file stays on the card for the technician to fix
        assert (box.boot / "kiosk.toml").exists()
    assert not (box.boot / "kiosk-installed.txt").exists()


def test_kiosk_config_check_rejects(box):
    """Beyond syntax: the kiosk's own rules (here a stand-in saying the URL is wrong)."""
    box.install_previous()
    box.put_boot(VALID)
    box.fake_kiosk(2, "Wrong value for 'server.url': must start with https://")
    before = box.snapshot()
    proc = box.run()
    assert proc.returncode == 5
    assert "server.url" in box.screen() and "không hợp lệ" in box.screen()
    assert box.snapshot() == before


def test_install_failure_leaves_nothing_half_installed(box):
    """An owner that cannot be set (like a failing card) aborts before the rename."""
    box.install_previous()
    box.put_boot(VALID)
    before = box.snapshot()
    proc = box.run(FIRSTBOOT_OWNER="no-such-user-hl:no-such-group-hl")
    assert proc.returncode == 6, proc.stderr
    assert "Không cài được" in box.screen()
    assert box.snapshot() == before
    assert sorted(p.name for p in (box.root / "etc/kiosk").iterdir()) == ["kiosk.toml"]


def test_without_kiosk_command_checks_syntax_only(box):
    box.put_boot(VALID)
    proc = box.run(kiosk_bin=Path("/nonexistent/kiosk"))
    assert proc.returncode == 0
    assert "checked only" in proc.stderr


def real_kiosk() -> Path:
    ok = VENV_KIOSK.exists() and subprocess.run(
        [str(VENV_KIOSK), "config", "check", "--help"], capture_output=True, timeout=60
    ).returncode == 0
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{VENV_KIOSK} config check is missing (pip install -e .)")
        pytest.skip(f"{VENV_KIOSK} with `config check` is not installed yet")
    return VENV_KIOSK


def test_with_the_real_kiosk_config_check(box):
    kiosk = real_kiosk()
    box.put_boot(VALID)
    proc = box.run(kiosk_bin=kiosk)
    assert proc.returncode == 0, proc.stderr
    assert box.target.read_text() == VALID


def test_real_kiosk_config_check_rejects_a_wrong_type(box):
    kiosk = real_kiosk()
    box.install_previous()
    box.put_boot(VALID.replace('url = "https://danhgia.example.gov.vn"', "url = 5"))
    before = box.snapshot()
    proc = box.run(kiosk_bin=kiosk)
    assert proc.returncode == 5, proc.stderr
    assert "server.url" in box.screen()
    assert box.snapshot() == before


def test_example_file_of_the_image_is_valid(box):
    kiosk = real_kiosk()
    example = Path(__file__).resolve().parents[2] / "image/files/kiosk.toml.example"
    box.put_boot(example.read_text())
    assert box.run(kiosk_bin=kiosk).returncode == 0


def test_kiosk_toml_txt_from_windows_is_recognised(box):
    (box.boot / "kiosk.toml.txt").write_text(VALID)
    proc = box.run()
    assert proc.returncode == 0, proc.stderr
    assert box.target.read_text() == VALID
    assert not (box.boot / "kiosk.toml.txt").exists()


def test_hostname_failure_says_the_configuration_was_installed(box):
    """Code 6 about the hostname does not blame the card, and says truthfully that the new
    configuration replaced the previous one."""
    box.install_previous()
    box.put_boot(VALID)
    (box.root / "etc/hosts").unlink()
    (box.root / "etc/hosts").mkdir()  # cannot be written as a file
    proc = box.run()
    assert proc.returncode == 6, proc.stderr
    screen = box.screen()
    assert "WAS installed" in screen and "Đã cài cấu hình" in screen
    assert "unchanged" not in screen and "SD card" not in screen
    assert box.target.read_text() == VALID
    assert (box.root / "etc/kiosk/kiosk.toml.prev").read_text() == PREVIOUS
