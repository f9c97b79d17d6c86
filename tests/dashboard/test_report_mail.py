"""The report mailed (issue 16): ``district report --mail-to`` delivers one e-mail with the
PDF and the workbook to a real local SMTP receiver (aiosmtpd); with no receiver listening it
tries three times, then fails with a clear error and a log line, and mails nothing."""

from __future__ import annotations

import logging
import socket

import pytest

from tests.helpers.smtp import smtp_receiver


@pytest.fixture
def smtp_server():
    with smtp_receiver() as (controller, received):
        yield controller.port, received


def test_the_report_arrives_with_both_files(dataset, db_url, smtp_server, monkeypatch,
                                            capsys):
    from district.cli import main

    port, received = smtp_server
    monkeypatch.setenv("DISTRICT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DISTRICT_SMTP_PORT", str(port))
    assert main(["--db", db_url, "report", "--unit", "q", "--period", "2025-10",
                 "--mail-to", "noivu@example.vn, vanphong@example.vn"]) == 0
    assert "noivu@example.vn" in capsys.readouterr().out
    assert len(received) == 1
    msg = received[0]
    assert msg["To"] == "noivu@example.vn, vanphong@example.vn"
    from email.header import decode_header, make_header

    subject = str(make_header(decode_header(msg["Subject"])))
    assert subject == "Báo cáo Hài Lòng: Quận Hai Bà Trưng, tháng 10/2025"
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.walk()
             if p.get_filename()}
    assert set(files) == {"hailong-q-20251001-20251031-report.pdf",
                          "hailong-q-20251001-20251031-report.xlsx"}
    assert files["hailong-q-20251001-20251031-report.pdf"].startswith(b"%PDF")
    assert files["hailong-q-20251001-20251031-report.xlsx"].startswith(b"PK")


def test_no_receiver_is_a_clear_error_after_three_tries(dataset, db_url, monkeypatch,
                                                       capsys, caplog):
    from district.cli import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens there
    monkeypatch.setenv("DISTRICT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DISTRICT_SMTP_PORT", str(port))
    tries = []
    import smtplib

    real = smtplib.SMTP.__init__

    def counted(self, *a, **kw):
        tries.append(a)
        return real(self, *a, **kw)
    monkeypatch.setattr(smtplib.SMTP, "__init__", counted)
    with caplog.at_level(logging.WARNING, logger="district.dashboard.report_mail"):
        assert main(["--db", db_url, "report", "--unit", "q", "--period", "2025-10",
                     "--mail-to", "noivu@example.vn"]) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err
    assert len(tries) == 3
    assert any("not delivered" in r.message for r in caplog.records)
    assert main(["--db", db_url, "report", "--unit", "q", "--mail-to", "not-an-address"]) == 1
    assert "not-an-address" in capsys.readouterr().err
