"""The report mailed: the PDF and the workbook of a unit and period in one e-mail, through
the SMTP server the alerts use (``DISTRICT_SMTP_HOST``, ``DISTRICT_SMTP_PORT``,
``DISTRICT_ALERT_MAIL_FROM``). ``district report --mail-to …`` sends it; a cron line or a
systemd timer makes it a schedule (monthly on the 1st: ``--period`` left out on the 1st is
this month, so give last month, docs/dashboard.md). Three tries, 2 s then 4 s apart; every
sending is logged, a failure is the command's error."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from district.dashboard.alerts import AlertSettings
from district.errors import N_, DistrictError

log = logging.getLogger(__name__)
ATTEMPTS = 3


def send_report(cfg: AlertSettings, to: list[str], subject: str, body: str,
                files: list[tuple[str, str, bytes]]) -> None:
    """Mail ``files`` ((name, media type, bytes)) to ``to``; a DistrictError after the
    last try."""
    if not cfg.smtp_host:
        raise DistrictError(N_("no SMTP server: set DISTRICT_SMTP_HOST (and "
                               "DISTRICT_SMTP_PORT) to mail reports"))
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, cfg.mail_from, ", ".join(to)
    msg.set_content(body)
    for name, media, data in files:
        main, _slash, sub = media.partition("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)

    @retry(stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=2, max=8),
           retry=retry_if_exception_type((OSError, smtplib.SMTPException)), reraise=True)
    def deliver():
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=20) as smtp:
            smtp.send_message(msg)

    try:
        deliver()
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("report %r not delivered to %s: %s", subject, ", ".join(to), exc)
        raise DistrictError(N_("the report could not be mailed through {host}:{port}: "
                               "{error}"), host=cfg.smtp_host, port=cfg.smtp_port,
                            error=str(exc)[:200]) from exc
    log.info("report %r mailed to %s (%d files)", subject, ", ".join(to), len(files))
