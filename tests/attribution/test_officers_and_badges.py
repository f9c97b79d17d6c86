"""Officers through the real CLI, the badge key made at set-up, badge sheets read back
(pdftoppm renders the PDF, zbarimg decodes every QR code), the public key in every
provisioned kiosk.toml, and the terminal's roster over the API."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tomllib

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ballot.wire import badge_message, parse_badge
from tests.helpers import REPO, DistrictServer, clean_env, district, require


def _png() -> bytes:
    """A real PNG (the server decodes every photo it is given)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (3, 4), (200, 16, 46)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture
def env(tmp_path):
    """A machine with a configuration file made by `district setup`, and the example units."""
    env = clean_env()
    env["DISTRICT_CONFIG"] = str(tmp_path / "etc" / "district.toml")
    env["DISTRICT_DB"] = f"sqlite:///{tmp_path / 'district.db'}"
    done = district(None, "setup", "--host", "hailong.test", "--listen", "127.0.0.1:8443",
                    env=env)
    assert done.returncode == 0, done.stderr
    assert "badge-signing key" in done.stdout
    assert district(None, "units", "load", str(REPO / "config/fleet.toml"), env=env
                    ).returncode == 0
    return env


def test_officers_add_list_import_disable_through_the_cli(env, tmp_path):
    (tmp_path / "nhung.png").write_bytes(PNG)
    ok = district(None, "officers", "add", "CB-001", "--name", "Nguyễn Thị Hồng Nhung",
                  "--unit", "hbt-bach-mai", "--photo", str(tmp_path / "nhung.png"), env=env)
    assert ok.returncode == 0, ok.stderr
    again = district(None, "officers", "add", "CB-001", "--name", "X", "--unit",
                     "hbt-bach-mai", env=env)
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = district(None, "officers", "add", "CB 1", "--name", "X", "--unit", "hbt-bach-mai",
                   env=env, lang="vi")
    assert bad.returncode == 1 and "mã cán bộ" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "o.csv").write_text(
        "code,full_name,unit\nCB-002,Trần Văn Đức,hbt-bach-mai\nCB-003,Phạm Thu Hà,"
        "hbt-dong-nhan\nCB-001,Nguyễn Thị Hồng Nhung,hbt-bach-mai\n", encoding="utf-8")
    imported = district(None, "officers", "import", str(tmp_path / "o.csv"), env=env)
    assert "2 added, 0 updated, 1 unchanged" in imported.stdout, imported.stderr
    (tmp_path / "bad.csv").write_text("code,full_name,unit\nCB-004,Ok,hbt-bach-mai\n"
                                      "CB 5,Bad,hbt-bach-mai\nCB-006,,hbt-bach-mai\n")
    refused = district(None, "officers", "import", str(tmp_path / "bad.csv"), env=env)
    assert refused.returncode == 1 and "line 3" in refused.stderr and "line 4" in refused.stderr
    assert district(None, "officers", "disable", "CB-002", env=env).returncode == 0
    listed = json.loads(district(None, "officers", "list", "--json", env=env).stdout)
    assert [(o["code"], o["active"], o["has_photo"]) for o in listed] == [
        ("CB-001", True, True), ("CB-002", False, False), ("CB-003", True, False)]
    assert "CB-004" not in json.dumps(listed)  # the bad file imported nothing


def test_the_badge_sheet_carries_signed_codes_that_the_provisioned_key_verifies(env, tmp_path):
    require(shutil.which("pdftoppm") and shutil.which("zbarimg"),
            "pdftoppm and zbarimg (poppler-utils, zbar-tools)")
    rows = [f"CB-{i:03d},Cán bộ Số {i},hbt-bach-mai" for i in range(12)]  # two pages
    (tmp_path / "o.csv").write_text("\n".join(["code,full_name,unit", *rows,
                                               "CB-X,Elsewhere,hbt-dong-nhan"]) + "\n")
    assert district(None, "officers", "import", str(tmp_path / "o.csv"), env=env
                    ).returncode == 0
    district(None, "officers", "disable", "CB-011", env=env)
    district(None, "officers", "reissue", "CB-003", env=env)
    done = district(None, "officers", "badges", "--unit", "hbt-bach-mai", "--out",
                    str(tmp_path / "badges.pdf"), env=env)
    assert done.returncode == 0 and "11 badge(s)" in done.stdout, done.stderr
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(tmp_path / "badges.pdf"),
                    str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2
    decoded = subprocess.run(["zbarimg", "-q", "--raw", *map(str, pages)],
                             capture_output=True, text=True, check=False).stdout.split()
    badges = {parse_badge(t)[0]: parse_badge(t) for t in decoded}
    assert sorted(badges) == [f"CB-{i:03d}" for i in range(11)]
    assert badges["CB-003"][1] == 2

    prov = district(None, "fleet", "provision", str(REPO / "config/fleet.toml"),
                    "--server-url", "https://hailong.test:8443", "--out",
                    str(tmp_path / "out"), env=env)
    assert prov.returncode == 0, prov.stderr
    kiosk_toml = tomllib.loads((tmp_path / "out/hbt-bach-mai/kiosk.toml").read_text())
    key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(kiosk_toml["attribution"]["badge_public_key"]))
    for code, issue, signature in badges.values():
        key.verify(signature, badge_message(code, issue))  # raises if forged


def test_badges_of_a_unit_without_officers_is_a_clear_error(env, tmp_path):
    done = district(None, "officers", "badges", "--unit", "hbt-bach-mai", "--out",
                    str(tmp_path / "b.pdf"), env=env)
    assert done.returncode == 1 and "no active officer" in done.stderr
    assert not (tmp_path / "b.pdf").exists()


def test_a_terminal_reads_its_units_roster_and_photos_only(tmp_path):
    env = clean_env()
    url = f"sqlite:///{tmp_path / 'd.db'}"
    district(url, "units", "load", str(REPO / "config/fleet.toml"), env=env)
    token = district(url, "terminals", "add", "k-1", "--unit", "hbt-bach-mai",
                     env=env).stdout.strip().splitlines()[-1]
    (tmp_path / "p.png").write_bytes(PNG)
    district(url, "officers", "add", "CB-1", "--name", "Hoa", "--unit", "hbt-bach-mai",
             "--photo", str(tmp_path / "p.png"), env=env)
    district(url, "officers", "add", "CB-2", "--name", "Nam", "--unit", "hbt-dong-nhan",
             "--photo", str(tmp_path / "p.png"), env=env)
    server = DistrictServer(url, env=env).start()
    try:
        auth = {"Authorization": f"Bearer {token}"}
        roster = httpx.get(server.url + "/api/v1/officers", headers=auth).json()
        assert [o["code"] for o in roster["officers"]] == ["CB-1"]
        photo = httpx.get(server.url + "/api/v1/officers/CB-1/photo", headers=auth)
        assert photo.status_code == 200 and photo.content == PNG
        assert photo.headers["content-type"] == "image/png"
        other = httpx.get(server.url + "/api/v1/officers/CB-2/photo", headers=auth)
        assert other.status_code == 404
        assert httpx.get(server.url + "/api/v1/officers").status_code == 401
    finally:
        server.stop()
