"""``district setup``: the files it makes, idempotency by bytes, renewal with the same CA."""

from __future__ import annotations

import datetime as dt
import stat
import tomllib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from district import pki
from tests.setup.conftest import HOST


def snapshot(folder):
    """Every file's bytes and modification time (ns): a rewrite with the same bytes shows."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_setup_makes_the_configuration_the_ca_the_certificate_and_the_release_key(installed):
    etc = installed.etc
    assert sorted(p.name for p in etc.iterdir()) == [
        "badge.key", "badge.pub", "ca.key", "ca.pem", "district.toml", "release.key",
        "release.pub", "server.key", "server.pem"]
    for secret in ("ca.key", "server.key", "release.key", "badge.key"):
        assert stat.S_IMODE((etc / secret).stat().st_mode) == 0o600, secret
    settings = tomllib.loads(installed.config.read_text(encoding="utf-8"))
    assert settings["database"]["url"] == f"sqlite:///{installed.root / 'var' / 'district.db'}"
    assert settings["listen"] == {"host": "127.0.0.1", "port": installed.port}
    assert settings["tls"]["cert"] == str(etc / "server.pem")

    ca = pki.load_cert(etc / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=3650)
    cert = pki.load_cert(etc / "server.pem")
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {HOST, "localhost"}
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=824) < lifetime <= dt.timedelta(days=826)
    assert isinstance(pki.load_key(etc / "server.key"), ec.EllipticCurvePrivateKey)
    assert pki.load_key(etc / "server.key").public_key() == cert.public_key()
    assert isinstance(pki.load_key(etc / "release.key"), ed25519.Ed25519PrivateKey)
    assert (installed.root / "var" / "district.db").exists()
    assert len(installed.password) >= 10


def test_a_second_run_changes_no_byte(installed):
    before = snapshot(installed.etc)
    again = installed.setup("--official", "chief")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing to change:"), again.stdout
    assert "official chief exists: unchanged" in again.stderr
    assert snapshot(installed.etc) == before


def test_a_new_host_name_issues_a_new_certificate_from_the_same_ca(installed):
    ca_before = (installed.etc / "ca.pem").read_bytes()
    done = installed.setup("--host", "192.168.50.7")
    assert done.returncode == 0, done.stderr
    assert "issued the server certificate for district.test, 192.168.50.7" in done.stdout
    cert = pki.load_cert(installed.etc / "server.pem")
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "192.168.50.7" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert (installed.etc / "ca.pem").read_bytes() == ca_before


def test_renew_issues_a_new_certificate_and_keeps_the_ca(installed):
    old = pki.load_cert(installed.etc / "server.pem")
    keep = {name: (installed.etc / name).read_bytes()
            for name in ("ca.pem", "ca.key", "release.key", "district.toml")}
    done = installed.setup("--renew")
    assert done.returncode == 0, done.stderr
    assert "renewed the server certificate (same CA" in done.stdout
    new = pki.load_cert(installed.etc / "server.pem")
    assert new.serial_number != old.serial_number
    new.verify_directly_issued_by(pki.load_cert(installed.etc / "ca.pem"))
    assert {name: (installed.etc / name).read_bytes() for name in keep} == keep


def test_a_certificate_within_30_days_of_its_end_is_renewed_by_a_plain_run(installed):
    etc = installed.etc
    ca_key, ca = pki.load_key(etc / "ca.key"), pki.load_cert(etc / "ca.pem")
    names = tomllib.loads(installed.config.read_text(encoding="utf-8"))["tls"]["names"]
    key, short = pki.make_server_cert(ca_key, ca, names, days=20)
    pki.write_file(etc / "server.key", pki.key_pem(key), 0o600)
    pki.write_file(etc / "server.pem", pki.cert_pem(short), 0o644)

    done = installed.setup()
    assert done.returncode == 0, done.stderr
    assert "renewed the server certificate" in done.stdout
    renewed = pki.load_cert(etc / "server.pem")
    assert renewed.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=800)
    assert installed.setup().stdout.startswith("nothing to change:")


def test_bad_options_change_nothing(installed):
    before = snapshot(installed.etc)
    for args in (["--listen", "0.0.0.0"], ["--listen", "0.0.0.0:99999"],
                 ["--host", "not a name!"]):
        done = installed.run("setup", *args)
        assert done.returncode == 1, (args, done.stdout)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert snapshot(installed.etc) == before


def test_setup_messages_are_vietnamese_by_default(district_root):
    done = district_root.run("--lang", "vi", "setup", "--host", HOST)
    assert done.returncode == 0, done.stderr
    assert "đã tạo CA (cơ quan cấp chứng chỉ) riêng của quận/huyện" in done.stdout
    again = district_root.run("--lang", "vi", "setup")
    assert again.stdout.startswith("không có gì phải đổi:"), again.stdout
