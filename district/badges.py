"""Officers' badges: the district's badge key and a printable sheet of badge cards.

The **badge key** (Ed25519) is made by ``district setup`` beside the configuration file
(``badge.key``, root's alone; ``badge.pub`` beside it), or, on a machine with no
configuration file (development, ``make run``), in the data folder on first use. Its public
half goes into every provisioned ``kiosk.toml`` (``[attribution] badge_public_key``), so a
terminal can tell a real badge from one made by hand.

A badge's QR code carries ``HLB1.<code>.<issue>.<signature>`` (``ballot.wire``): the
officer's code and badge issue signed by the key. ``district officers badges --unit U --out
FILE.pdf`` prints a sheet of cards (85.6 × 54 mm, ten to an A4 page: cut along the lines):
the unit, the officer's full name and code, and the QR code (segno; fpdf2 writes the PDF with
the Noto Sans font shipped in ``district/fonts``, so every Vietnamese diacritic prints).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ballot.wire import badge_message, badge_text
from district import config, pki
from district.errors import N_, DistrictError

KEY_FILE, PUB_FILE = "badge.key", "badge.pub"
FONTS = Path(__file__).parent / "fonts"


def key_path(settings: config.Settings | None) -> Path:
    """Beside the configuration file when there is one, else in the data folder."""
    if settings is not None:
        return settings.path(KEY_FILE)
    return config.data_dir() / KEY_FILE


def ensure_key(folder: Path) -> tuple[ed25519.Ed25519PrivateKey, bool]:
    """The badge key in ``folder``, made (0600, public half 0644) when missing; and whether
    it was made now."""
    path, pub = folder / KEY_FILE, folder / PUB_FILE
    if path.exists():
        key = pki.load_key(path)
        if not pub.exists():
            pki.write_file(pub, pki.public_pem(key), 0o644)
        return key, False
    key = ed25519.Ed25519PrivateKey.generate()
    pki.write_file(path, pki.key_pem(key), 0o600)
    pki.write_file(pub, pki.public_pem(key), 0o644)
    return key, True


def load_key(settings: config.Settings | None) -> ed25519.Ed25519PrivateKey:
    """The badge key of this server. With a configuration file it must exist (made by
    ``district setup``); without one (development) it is made on first use."""
    path = key_path(settings)
    if settings is None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return ensure_key(path.parent)[0]
    try:
        key = pki.load_key(path)
    except FileNotFoundError:
        raise DistrictError(N_("the badge key {path} is missing. Fix: run `district setup` "
                               "(it makes the key), or put the key back from the backup"),
                            path=path) from None
    except (OSError, ValueError) as exc:
        raise DistrictError(N_("the badge key {path} cannot be read: {error}"), path=path,
                            error=getattr(exc, "strerror", None) or str(exc)) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise DistrictError(N_("{path} is not an Ed25519 key"), path=path)
    return key


def public_key_text(key: ed25519.Ed25519PrivateKey) -> str:
    """The raw public key in base64 (44 characters): what kiosk.toml carries."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def sign(key: ed25519.Ed25519PrivateKey, code: str, issue: int) -> str:
    """The QR text of the officer's badge."""
    return badge_text(code, issue, key.sign(badge_message(code, issue)))


# --- the sheet ---------------------------------------------------------------------------

CARD_W, CARD_H = 85.6, 54.0     # ISO/IEC 7810 ID-1, the size of a badge holder
MARGIN_X, MARGIN_Y = 15.0, 13.5  # A4 210 × 297: two columns, five rows
QR_MM = 36.0


def unit_sheet(engine, key: ed25519.Ed25519PrivateKey, unit_id: str, codes, _
               ) -> tuple[bytes, int]:
    """The badge sheet of a unit's active officers (only ``codes`` when given: each must be
    one of them) in the language of ``_``, and how many cards it has."""
    import sqlalchemy as sa

    from district import officers
    from district.db import units

    listed = [o for o in officers.list_officers(engine, {unit_id}, include_disabled=False)
              if not codes or o.code in codes]
    missing = sorted(set(codes or ()) - {o.code for o in listed})
    if missing:
        raise DistrictError(N_("no active officer {codes} in unit {unit}"),
                            codes=", ".join(missing), unit=unit_id)
    if not listed:
        raise DistrictError(N_("unit {unit} has no active officer: nothing to print"),
                            unit=unit_id)
    with engine.connect() as conn:
        unit_name = conn.execute(sa.select(units.c.name).where(units.c.id == unit_id)
                                 ).scalar() or unit_id
    cards = []
    for o in listed:
        photo = officers.photo_of(engine, o.code)
        cards.append({"unit": unit_name, "full_name": o.full_name, "code": o.code,
                      "qr": sign(key, o.code, o.badge_issue),
                      "photo": photo[0] if photo else None})
    pdf = badge_sheet(cards, _("Badges of {unit}").format(unit=unit_name),
                      {"code": _("Officer code"),
                       "scan": _("Scan at the counter to start serving")})
    return pdf, len(cards)


def badge_sheet(cards: list[dict], title: str, labels: dict[str, str]) -> bytes:
    """A PDF of badge cards; each card {"unit", "full_name", "code", "qr", "photo"?}."""
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.add_font("Noto", "", str(FONTS / "NotoSans-Regular.ttf"))
    pdf.add_font("Noto", "B", str(FONTS / "NotoSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.set_creator("Hài Lòng")
    for i, card in enumerate(cards):
        slot = i % 10
        if slot == 0:
            pdf.add_page()
        x = MARGIN_X + (slot % 2) * CARD_W
        y = MARGIN_Y + (slot // 2) * CARD_H
        _card(pdf, x, y, card, labels)
    return bytes(pdf.output())


def _card(pdf, x: float, y: float, card: dict, labels: dict[str, str]) -> None:
    import segno

    pdf.set_draw_color(160, 160, 160)
    pdf.set_line_width(0.2)
    pdf.rect(x, y, CARD_W, CARD_H)  # the cutting line
    pdf.set_fill_color(200, 16, 46)
    pdf.rect(x, y, CARD_W, 9, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Noto", "B", 8.5)
    pdf.set_xy(x + 3, y + 1.5)
    pdf.cell(CARD_W - 6, 6, card["unit"][:60])
    pdf.set_text_color(0, 0, 0)
    text_w = CARD_W - QR_MM - 7
    text_x = x + 3
    if card.get("photo"):
        pdf.image(io.BytesIO(card["photo"]), x=text_x, y=y + 11, h=20)
        top = y + 32
    else:
        top = y + 13
    pdf.set_font("Noto", "B", 11)
    pdf.set_xy(text_x, top)
    pdf.multi_cell(text_w, 5.2, card["full_name"], align="L")
    pdf.set_font("Noto", "", 8)
    pdf.set_xy(text_x, y + CARD_H - 10)
    pdf.cell(text_w, 4, f"{labels['code']}: {card['code']}")
    pdf.set_xy(text_x, y + CARD_H - 6)
    pdf.set_text_color(90, 90, 90)
    pdf.set_font("Noto", "", 6.5)
    pdf.cell(text_w, 4, labels["scan"])
    pdf.set_text_color(0, 0, 0)
    qr = segno.make(card["qr"], error="m", micro=False)
    png = io.BytesIO()
    qr.save(png, kind="png", scale=8, border=2)
    png.seek(0)
    pdf.image(png, x=x + CARD_W - QR_MM - 2, y=y + 12, w=QR_MM, h=QR_MM)
