"""`district fleet provision config/fleet.toml`: 21 kiosk.toml files that pass `kiosk config
check`, whose tokens each work for their own terminal only, on a real `district serve`; the
checklist; re-running without and with --rotate."""

from __future__ import annotations

import csv
import io
import stat
import subprocess
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.helpers import BIN, REPO, DistrictServer, clean_env, district

FLEET = REPO / "config" / "fleet.toml"


def provision(db_url: str, url: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return district(db_url, "fleet", "provision", str(FLEET), "--server-url", url,
                    "--out", str(out), *extra)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("provision")
    db_url = f"sqlite:///{folder / 'district.db'}"
    server = DistrictServer(db_url).start()
    out = folder / "out"
    done = provision(db_url, server.url, out)
    assert done.returncode == 0, done.stderr
    yield server, out, done
    server.stop()


def configs(out: Path) -> dict[str, dict]:
    return {p.parent.name: tomllib.loads(p.read_text(encoding="utf-8"))
            for p in sorted(out.glob("*/kiosk.toml"))}


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def heartbeat(url: str, token: str, terminal_id: str) -> int:
    return requests.post(url + "/api/v1/heartbeat", timeout=10,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"terminal_id": terminal_id, "sent_at": iso_now()}).status_code


def one_vote(url: str, token: str, terminal_id: str) -> requests.Response:
    vote = {"id": str(uuid.uuid4()), "seq": 1, "level": 3, "scale": 3, "source": "cli",
            "recorded_at": iso_now(), "clock_synced": True, "boot_id": "boot-test",
            "monotonic_ns": 1_000_000_000, "flags": ["test"]}
    return requests.post(url + "/api/v1/votes", timeout=10,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"terminal_id": terminal_id, "sent_at": iso_now(),
                               "votes": [vote]})


def test_21_configs_that_kiosk_config_check_accepts(provisioned):
    server, out, done = provisioned
    fleet = tomllib.loads(FLEET.read_text(encoding="utf-8"))
    expected = {t["id"]: t for t in fleet["terminals"]}
    found = configs(out)
    assert set(found) == set(expected) and len(found) == 21
    for tid, config in found.items():
        path = out / tid / "kiosk.toml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        head = path.read_text(encoding="utf-8").split("\n\n")[0].splitlines()
        assert head[0] == f"# kiosk.toml của máy {tid}: do `district fleet provision` tạo ra."
        assert head[1].startswith("# BÍ MẬT: tệp chứa mã truy cập của máy này.")
        assert f"# kiosk.toml of terminal {tid}: written by `district fleet provision`." in head
        assert all(line.startswith("# ") and len(line) <= 88 for line in head)
        assert config["terminal"] == {"id": tid, "unit": expected[tid]["unit"],
                                      "name": expected[tid]["name"], "language": "vi"}
        assert config["scale"]["levels"] == 3
        assert config["server"]["url"] == server.url and len(config["server"]["token"]) > 20
        pin = config["technician"]["pin"]
        assert len(pin) == 6 and pin.isdigit()
    assert len({c["server"]["token"] for c in found.values()}) == 21
    env = clean_env()

    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "kiosk"), "--lang", "en", "config", "check",
                               str(path)], capture_output=True, text=True, env=env,
                              timeout=60, check=False)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(check, sorted(out.glob("*/kiosk.toml"))))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Configuration is valid: terminal hbt-" in result.stdout


def test_no_token_on_stdout(provisioned):
    _, out, done = provisioned
    for config in configs(out).values():
        assert config["server"]["token"] not in done.stdout + done.stderr
    assert "21 terminals provisioned (21 registered, 0 with a new token)" in done.stdout


def test_each_token_works_for_its_terminal_only(provisioned):
    server, out, _ = provisioned
    found = configs(out)
    ids = sorted(found)
    for index, tid in enumerate(ids):
        token = found[tid]["server"]["token"]
        assert heartbeat(server.url, token, tid) == 200, tid
        answer = one_vote(server.url, token, tid)
        assert answer.status_code == 200 and len(answer.json()["accepted"]) == 1, answer.text
        other = ids[(index + 1) % len(ids)]
        assert heartbeat(server.url, token, other) == 403, (tid, other)
        assert one_vote(server.url, token, other).status_code == 403
    assert heartbeat(server.url, "x" * 43, ids[0]) == 401


def test_checklist(provisioned):
    _, out, _ = provisioned
    found = configs(out)
    html = (out / "checklist.html").read_text(encoding="utf-8")
    assert stat.S_IMODE((out / "checklist.html").stat().st_mode) == 0o600
    assert '<html lang="vi">' in html and "size: A4" in html and "@media print" in html
    assert "Danh sách lắp đặt máy đánh giá sự hài lòng: Quận Hai Bà Trưng (2017)" in html
    for word in ("Mã máy", "Đơn vị", "Quầy", "Mã PIN kỹ thuật", "Đã chép thẻ", "bootfs"):
        assert word in html
    assert html.count('class="box"') == 2 * 21  # two tick boxes a row
    for tid, config in found.items():
        assert f"<code>{tid}/kiosk.toml</code>" in html
        assert config["technician"]["pin"] in html
        assert config["server"]["token"] not in html
    assert "Phường Thanh Nhàn" in html and "Bộ phận một cửa quận Hai Bà Trưng" in html
    with (out / "checklist.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["ma_may"] for r in rows] == [t["id"] for t in tomllib.loads(
        FLEET.read_text(encoding="utf-8"))["terminals"]]
    assert all(r["ma_pin_ky_thuat"] == found[r["ma_may"]]["technician"]["pin"] for r in rows)


def test_rerun_refuses_then_rotate_issues_new_tokens(provisioned, tmp_path):
    server, out, _ = provisioned
    before = configs(out)
    again = provision(server.db_url, server.url, out)
    assert again.returncode == 1
    assert "21 terminal(s) of this fleet are already registered" in again.stderr
    assert "--rotate" in again.stderr
    assert configs(out) == before  # nothing rewritten

    rotated_out = tmp_path / "rotated"
    done = provision(server.db_url, server.url, rotated_out, "--rotate")
    assert done.returncode == 0, done.stderr
    assert "21 terminals provisioned (0 registered, 21 with a new token)" in done.stdout
    after = configs(rotated_out)
    tid = "hbt-thanh-nhan"
    old, new = before[tid]["server"]["token"], after[tid]["server"]["token"]
    assert old != new
    assert heartbeat(server.url, old, tid) == 401
    assert heartbeat(server.url, new, tid) == 200


def test_bad_terminal_id_changes_nothing(tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[fleet]\nname = "x"\n[[units]]\nid = "u"\nname = "U"\n'
                     '[[terminals]]\nid = "ok-one"\nunit = "u"\n'
                     '[[terminals]]\nid = "Not_A_Hostname"\nunit = "u"\n', encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    done = district(db_url, "fleet", "provision", str(fleet), "--server-url",
                    "https://hailong.example.vn", "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "'Not_A_Hostname' cannot be a kiosk's id" in done.stderr
    assert district(db_url, "terminals", "list").stdout.strip() == ""
    assert not (tmp_path / "out").exists()


def test_a_kiosk_rule_broken_by_the_fleet_file_is_said_in_words_and_changes_nothing(tmp_path):
    """[fleet] language = "fr" would give kiosks a language they do not have: the kiosk's
    own rule says so, in Vietnamese by default (not pydantic's English), before any write."""
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[fleet]\nname = "x"\nlanguage = "fr"\n[[units]]\nid = "u"\nname = "U"\n'
                     '[[terminals]]\nid = "u-1"\nunit = "u"\n', encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    args = [str(fleet), "--server-url", "https://hailong.example.vn", "--out",
            str(tmp_path / "out")]
    env = clean_env()
    vietnamese = subprocess.run([str(BIN / "district"), "--db", db_url, "fleet", "provision",
                                 *args], capture_output=True, text=True, env=env, timeout=60,
                                check=False)
    assert vietnamese.returncode == 1
    assert vietnamese.stderr == ("lỗi: tệp kiosk.toml của máy u-1 sẽ không hợp lệ: "
                                 "terminal.language: phải là 'vi' hoặc 'en'\n")
    english = district(db_url, "fleet", "provision", *args)
    assert english.returncode == 1
    assert english.stderr == ("error: the kiosk.toml of terminal u-1 would be invalid: "
                              "terminal.language: must be 'vi' or 'en'\n")
    assert district(db_url, "terminals", "list").stdout.strip() == ""
    assert not (tmp_path / "out").exists()


def test_ca_bundle_and_vietnamese_summary(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    env = clean_env()
    done = subprocess.run([str(BIN / "district"), "--db", db_url, "fleet", "provision",
                           str(FLEET), "--server-url", "https://hailong.example.vn",
                           "--ca-bundle", "/etc/kiosk/district-ca.pem", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Đã cấp cấu hình cho 21 máy" in done.stdout
    config = tomllib.loads((tmp_path / "out/hbt-quan/kiosk.toml").read_text(encoding="utf-8"))
    assert config["server"]["ca_bundle"] == "/etc/kiosk/district-ca.pem"


def test_every_message_is_in_the_catalog():
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    with open(REPO / "district/locale/vi/LC_MESSAGES/district_provision.po", "rb") as fh:
        catalog = {m.id for m in read_po(fh) if m.id and m.string}
    used = {m[1] for m in extract_from_file("python", REPO / "district/provision.py",
                                            keywords={"_": None, "t": None, "N_": None})}
    assert used - catalog == {"error: {message}"}  # that one is the district CLI's


def test_checklist_csv_lets_no_spreadsheet_compute_a_name():
    """Names come from the fleet file: one starting with = + - @, a tab or CR is written as
    text (a leading apostrophe), the rest unchanged."""
    from district.provision import Provisioned, checklist_csv

    names = ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tTab", "\rCR", "Phường Bạch Mai"]
    rows = [Provisioned(f"t{i}", "u", name, name, Path("x"), "123456", False)
            for i, name in enumerate(names)]
    read = list(csv.reader(io.StringIO(checklist_csv(rows))))[1:]
    for name, row in zip(names, read, strict=True):
        expected = name if name == "Phường Bạch Mai" else "'" + name
        assert row[2] == row[3] == expected, row
