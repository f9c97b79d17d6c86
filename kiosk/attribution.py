"""What a scan at the counter is (docs/attribution.md): an officer's badge (valid, revoked,
forged), a dossier code, or unreadable. No Kivy, no network: the scanner readers
(``kiosk.hardware.scanner``) and the window's fast keystrokes hand every scanned line here,
and the screens show the ``message`` of the answer. A scan is never a vote.

- **Badge**: ``HLB1.<code>.<issue>.<signature>`` (``ballot.wire``). The signature is checked
  with the district's badge key (``[attribution] badge_public_key``, written by
  provisioning). A good signature on a code the terminal knows as disabled, or an issue
  older than the officer's current one (a lost badge replaced), is *revoked*; a bad
  signature is *forged*; a badge-looking text that is cut short or damaged is *unreadable*
  (scan again), and so is any badge when the terminal has no key to check it with.
- **Dossier code**: the whole text matches ``[attribution] dossier_pattern`` (the default
  fits the codes printed on one-stop receipts, ``000.00.00.H00-241201-0001``).
- **Unreadable**: anything else — empty, control characters, too long, other barcodes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ballot.i18n import N_
from ballot.wire import BADGE_PREFIX, badge_message, parse_badge

MAX_SCAN_CHARS = 200


class ScanKind(StrEnum):
    BADGE = "badge"                  # a valid badge: sign this officer in (or out)
    BADGE_REVOKED = "badge_revoked"  # the district's, but no longer valid
    BADGE_FORGED = "badge_forged"    # not signed by the district
    DOSSIER = "dossier"              # a dossier code: the next vote rates that dossier
    UNREADABLE = "unreadable"


MESSAGES = {
    ScanKind.BADGE: N_("Officer {name} ({code})"),
    ScanKind.BADGE_REVOKED: N_("This badge is no longer valid. Please ask the office for a "
                               "new one."),
    ScanKind.BADGE_FORGED: N_("This badge was not issued by the district and is refused."),
    ScanKind.DOSSIER: N_("Dossier {code} is ready to be rated."),
    ScanKind.UNREADABLE: N_("The code could not be read. Please scan it again."),
}
MSG_NO_KEY = N_("Badges cannot be checked: this terminal has no badge key. Please call the "
                "technician.")


@dataclass(frozen=True)
class RosterEntry:
    """What the terminal knows of an officer (from the server): name, current badge issue,
    whether they may serve."""

    full_name: str
    badge_issue: int = 1
    active: bool = True


@dataclass(frozen=True)
class Scan:
    kind: ScanKind
    officer: str | None = None      # the badge's officer code
    issue: int | None = None
    dossier_code: str | None = None
    name: str | None = None         # the officer's full name, when the roster has it
    message: str = ""               # msgid, formatted with ``params`` after translation

    @property
    def params(self) -> dict:
        return {"name": self.name or self.officer or "", "code": self.officer
                or self.dossier_code or ""}

    def text(self, gettext) -> str:
        """The short on-screen line, in the reader's language."""
        return gettext(self.message).format(**self.params)


def public_key(text: str):
    """The badge key's public half from kiosk.toml (base64 of 32 bytes); None when empty."""
    if not text:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None


class Classifier:
    """Classifies scans for one terminal: its badge key, its dossier pattern, its roster."""

    def __init__(self, badge_public_key: str, dossier_pattern: str,
                 roster: Mapping[str, RosterEntry] | None = None):
        self.key = public_key(badge_public_key)
        self.pattern = re.compile(dossier_pattern)
        self.roster: Mapping[str, RosterEntry] = roster or {}

    def classify(self, raw: str) -> Scan:
        text = (raw or "").strip()
        if not text or len(text) > MAX_SCAN_CHARS or not text.isprintable():
            return _unreadable()
        if text.startswith(BADGE_PREFIX) or text.upper().startswith(BADGE_PREFIX):
            return self._badge(text)
        for candidate in (text, text.upper()):
            if self.pattern.fullmatch(candidate):
                return Scan(ScanKind.DOSSIER, dossier_code=candidate,
                            message=MESSAGES[ScanKind.DOSSIER])
        return _unreadable()

    def _badge(self, text: str) -> Scan:
        parsed = parse_badge(text)
        if parsed is None:
            return _unreadable()  # cut short or damaged: scan again
        code, issue, signature = parsed
        if self.key is None:
            return Scan(ScanKind.UNREADABLE, officer=code, issue=issue, message=MSG_NO_KEY)
        from cryptography.exceptions import InvalidSignature

        try:
            self.key.verify(signature, badge_message(code, issue))
        except InvalidSignature:
            return Scan(ScanKind.BADGE_FORGED, officer=code, issue=issue,
                        message=MESSAGES[ScanKind.BADGE_FORGED])
        known = self.roster.get(code)
        if known is not None and (not known.active or issue < known.badge_issue):
            return Scan(ScanKind.BADGE_REVOKED, officer=code, issue=issue,
                        name=known.full_name, message=MESSAGES[ScanKind.BADGE_REVOKED])
        return Scan(ScanKind.BADGE, officer=code, issue=issue,
                    name=known.full_name if known else None, message=MESSAGES[ScanKind.BADGE])


def _unreadable() -> Scan:
    return Scan(ScanKind.UNREADABLE, message=MESSAGES[ScanKind.UNREADABLE])
