"""``district fleet provision FLEET.toml --server-url URL --out DIR``: one ready kiosk.toml per
terminal, and the technician's printable checklist.

What it does, in this order (nothing is written to the database before every check passed):

1. reads the fleet file (``district.fleet.read_fleet``) and checks that every terminal id is
   also a valid kiosk terminal id (lowercase, digits, dashes: it becomes the hostname) and that
   every config it would write validates (``kiosk.config.KioskConfig``);
2. refuses when any terminal of the fleet is already registered, unless ``--rotate``: then the
   registered ones get a new token (the old one stops working at once) and the others are
   registered. Re-running without ``--rotate`` never silently invalidates a working terminal;
3. loads the units (``load_units``), registers the terminals (``register_terminal``) or
   rotates their tokens (``rotate_token``);
4. writes ``DIR/<terminal-id>/kiosk.toml`` (mode 0600, folders 0700): ``[terminal]`` id, unit,
   name, language; ``[scale] levels`` from ``[fleet] scale``; ``[server]`` url, token,
   ``ca_cert`` (the district's CA certificate itself, PEM text: read from ``--ca-cert FILE``,
   else the ``[tls] ca_cert`` of the server's configuration written by ``district setup``, for
   an ``https://`` server) and ``ca_bundle`` (``--ca-bundle``: a CA file's path *on the
   terminal*, written as given). The CA travels inside kiosk.toml, the one file the
   technician copies: terminals verify the server with no step of their own, and a renewed
   server certificate (same CA) changes nothing for them;
   ``[technician] pin``, 6 random digits from ``secrets``;
5. writes ``DIR/checklist.html`` (Vietnamese, A4, to print) and ``DIR/checklist.csv`` (the
   same rows for a spreadsheet), both 0600 since they hold the technician PINs.

Tokens are never printed: they exist only in the kiosk.toml files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import secrets
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ballot.spreadsheet import text_cell
from district.errors import N_, DistrictError
from district.fleet import Fleet, load_units, read_fleet, register_terminal, rotate_token

PIN_DIGITS = 6


@dataclass
class Provisioned:
    terminal_id: str
    unit_id: str
    unit_name: str
    counter: str           # the terminal's name in the fleet file, e.g. "Bộ phận một cửa …"
    config_path: Path
    pin: str
    rotated: bool


def _translator(_):
    """This module's catalog (``district_provision``), else the district CLI's ``_``. The
    language is the CLI's: its catalog translates its own "error: {message}" or not."""
    import kiosk.config  # noqa: F401  (the documented use; it registers the kiosk's catalog)
    from ballot.i18n import translation

    lang = "en" if _("error: {message}") == "error: {message}" else "vi"
    own = translation("district_provision", lang).gettext
    kiosk = translation("kiosk", lang).gettext  # the kiosk.toml rules' own messages

    def t(message: str) -> str:
        translated = own(message)
        if translated == message:
            translated = _(message)
        return translated if translated != message else kiosk(message)
    return t


def add_cli(sub, _) -> dict:
    """The ``fleet provision`` verb on the district parser; returns its COMMANDS entry."""
    _ = _translator(_)
    fleet_cmd = sub.add_parser("fleet", help=_("provision a whole fleet of terminals"))
    fleet_sub = fleet_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    prov = fleet_sub.add_parser("provision", help=_(
        "register every terminal of a fleet file and write one kiosk.toml per terminal"))
    prov.add_argument("fleet_file", metavar="FLEET.toml")
    prov.add_argument("--server-url", required=True, metavar="URL",
                      help=_("the server address the terminals use (https://…)"))
    prov.add_argument("--out", required=True, metavar="DIR",
                      help=_("folder for DIR/<terminal-id>/kiosk.toml and the checklist"))
    prov.add_argument("--ca-bundle", default="", metavar="FILE", help=_(
        "path, on the terminals, of the district's CA file (written into [server] ca_bundle)"))
    prov.add_argument("--ca-cert", metavar="FILE", help=_(
        "the district's CA certificate to put into every kiosk.toml (default: the one "
        "`district setup` made, named in the configuration file)"))
    prov.add_argument("--rotate", action="store_true", help=_(
        "terminals already registered get a new token (their old one stops working)"))
    return {"fleet": cmd_fleet}


def cmd_fleet(args, db_url: str, _) -> int:
    from district.db import open_engine

    t = _translator(_)

    try:
        ca_cert = district_ca(args)
        results = provision(open_engine(db_url), args.fleet_file, server_url=args.server_url,
                            out_dir=Path(args.out), ca_bundle=args.ca_bundle,
                            rotate=args.rotate, ca_cert=ca_cert,
                            badge_public_key=district_badge_key(args),
                            release_key=district_release_key(args))
    except DistrictError as exc:
        print(_("error: {message}").format(message=exc.translated(t)), file=sys.stderr)
        return 1
    if args.server_url.startswith("https://") and not ca_cert and not args.ca_bundle:
        print(t("note: no district CA (run `district setup`, or give --ca-cert): terminals "
                "will trust only the certificate authorities of their system"),
              file=sys.stderr)
    if args.server_url.startswith("http://"):
        print(t("warning: {url} is plain HTTP: tokens and votes travel unencrypted; use "
                "https:// outside a closed LAN").format(url=args.server_url), file=sys.stderr)
    rotated = sum(r.rotated for r in results)
    print(t("{n} terminals provisioned ({new} registered, {rotated} with a new token).").format(
        n=len(results), new=len(results) - rotated, rotated=rotated))
    print(t("Configurations: {dir}/<terminal-id>/kiosk.toml (secret: they hold the tokens)")
          .format(dir=args.out))
    print(t("Checklist to print: {path}").format(path=Path(args.out) / "checklist.html"))
    return 0


def district_ca(args) -> str:
    """The CA certificate (PEM text) for an https:// server: ``--ca-cert``, else the one the
    configuration file names; "" for plain HTTP or when there is none."""
    if not args.server_url.startswith("https://"):
        return ""
    settings = getattr(args, "settings", None)
    path = Path(args.ca_cert) if args.ca_cert else (
        settings.path(settings.tls.ca_cert) if settings is not None else None)
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DistrictError(N_("the CA certificate {path} cannot be read: {error}"),
                            path=path, error=getattr(exc, "strerror", None) or str(exc)
                            ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise DistrictError(N_("{path} is not a PEM certificate (-----BEGIN CERTIFICATE-----)"),
                            path=path)
    return text


def district_release_key(args) -> str:
    """The release key's public half as an armoured OpenPGP key, for kiosk.toml ("" when
    there is none: no updates from afar then)."""
    from district.releases.cli import public_key_text

    return public_key_text(getattr(args, "settings", None))


def district_badge_key(args) -> str:
    """The public half of the district's badge key (district/badges.py), for kiosk.toml."""
    from district.badges import load_key, public_key_text

    return public_key_text(load_key(getattr(args, "settings", None)))


# ---------------------------------------------------------------------------------------


def provision(engine: sa.Engine, fleet_file: str | Path, *, server_url: str, out_dir: Path,
              ca_bundle: str = "", rotate: bool = False, ca_cert: str = "",
              today: dt.date | None = None, badge_public_key: str = "",
              release_key: str = "") -> list[Provisioned]:
    from kiosk.config import TERMINAL_ID

    fleet = read_fleet(fleet_file)
    if not fleet.terminals:
        raise DistrictError(N_("{path}: the fleet file lists no terminals"), path=fleet_file)
    for term in fleet.terminals:
        if not TERMINAL_ID.match(term.id):
            raise DistrictError(N_(
                "terminal id {terminal_id!r} cannot be a kiosk's id (it is also its hostname): "
                "use lowercase letters, digits and dashes"), terminal_id=term.id)
    units_by_id = {u.id: u for u in fleet.units}
    # Every file must validate before the database is touched (placeholders for secrets).
    for term in fleet.terminals:
        _validated(_kiosk_toml(fleet, term, units_by_id, server_url, "x" * 43, ca_bundle,
                               "0" * PIN_DIGITS, ca_cert, badge_public_key, release_key),
                   term.id)

    from district.db import terminals

    ids = [t.id for t in fleet.terminals]
    with engine.connect() as conn:
        registered = {r.id for r in conn.execute(
            sa.select(terminals.c.id).where(terminals.c.id.in_(ids)))}
    if registered and not rotate:
        listed = ", ".join(sorted(registered))
        raise DistrictError(N_(
            "{n} terminal(s) of this fleet are already registered ({ids}); nothing was "
            "changed. Add --rotate to give them new tokens (their current kiosk.toml stops "
            "working) and write new files"), n=len(registered), ids=listed)

    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    load_units(engine, fleet)
    results: list[Provisioned] = []
    for term in fleet.terminals:
        if term.id in registered:
            token = rotate_token(engine, term.id)
            _update_terminal(engine, term)
        else:
            token = register_terminal(engine, term.id, term.unit, term.name)
        pin = "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))
        text = _kiosk_toml(fleet, term, units_by_id, server_url, token, ca_bundle, pin, ca_cert,
                           badge_public_key, release_key)
        folder = out_dir / term.id
        folder.mkdir(exist_ok=True, mode=0o700)
        path = folder / "kiosk.toml"
        _write_private(path, text)
        _validated(text, term.id)
        unit = units_by_id.get(term.unit)
        results.append(Provisioned(term.id, term.unit, unit.name if unit else term.unit,
                                   term.name or (unit.name if unit else term.id), path, pin,
                                   term.id in registered))
    _write_private(out_dir / "checklist.html",
                   checklist_html(fleet, results, server_url, today or dt.date.today()))
    _write_private(out_dir / "checklist.csv", checklist_csv(results))
    return results


def _update_terminal(engine: sa.Engine, term) -> None:
    """With --rotate the fleet file is the truth: its unit and name for the terminal too."""
    from district.db import terminals

    with engine.begin() as conn:
        conn.execute(terminals.update().where(terminals.c.id == term.id).values(
            unit_id=term.unit, name=term.name or ""))


def _toml_str(value: str) -> str:
    # A JSON string (non-ASCII kept) is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


# The head of each kiosk.toml, Vietnamese then English (a technician may read either).
TOML_HEAD = (N_("kiosk.toml of terminal {id}: written by `district fleet provision`."),
             N_("SECRET: it holds this terminal's token. Copy it onto the SD card's bootfs "
                "drive as kiosk.toml (docs/technician.md, section 3); do not send it by chat or "
                "e-mail."))


def _toml_head(terminal_id: str) -> list[str]:
    from ballot.i18n import translation

    vietnamese = translation("district_provision", "vi").gettext
    return [f"# {part}" for say in (vietnamese, str) for line in TOML_HEAD
            for part in textwrap.wrap(say(line).format(id=terminal_id), 86)]


def _kiosk_toml(fleet: Fleet, term, units_by_id, server_url: str, token: str, ca_bundle: str,
                pin: str, ca_cert: str = "", badge_public_key: str = "",
                release_key: str = "") -> str:
    unit = units_by_id.get(term.unit)
    # the officers' badges are checked with the district's key (docs/attribution.md)
    badge_lines = (["", "[attribution]", f"badge_public_key = {_toml_str(badge_public_key)}"]
                   if badge_public_key else [])
    # A TOML multi-line literal string: PEM has neither quotes nor backslashes.
    ca_lines = [f"ca_cert = '''\n{ca_cert.strip()}\n'''"] if ca_cert.strip() else []
    name = term.name or (unit.name if unit else term.id)
    return "\n".join([
        *_toml_head(term.id),
        "",
        "[terminal]",
        f"id = {_toml_str(term.id)}",
        f"unit = {_toml_str(term.unit)}",
        f"name = {_toml_str(name)}",
        f"language = {_toml_str(fleet.fleet.language)}",
        "",
        "[scale]",
        f"levels = {int(fleet.fleet.scale)}",
        "",
        "[server]",
        f"url = {_toml_str(server_url.rstrip('/'))}",
        f"token = {_toml_str(token)}",
        f"ca_bundle = {_toml_str(ca_bundle)}",
        *ca_lines,
        "",
        "[technician]",
        f"pin = {_toml_str(pin)}",
        *badge_lines,
        # the district's release key: apt checks its repository with it (docs/updates.md)
        *(["", "[update]", f"release_key = '''\n{release_key.strip()}\n'''"]
          if release_key.strip() else []),
        "",
    ])


def _validated(text: str, terminal_id: str) -> None:
    import tomllib

    from pydantic import ValidationError

    from district.fleet import InvalidContent
    from kiosk.config import KioskConfig

    try:
        KioskConfig.model_validate(tomllib.loads(text))
    except (ValidationError, tomllib.TOMLDecodeError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc),
                                                                         "loc": ()}
        raise InvalidContent(N_("the kiosk.toml of terminal {terminal_id} would be invalid: "
                                "{error}"), [first], terminal_id=terminal_id) from exc


def _write_private(path: Path, text: str) -> None:
    """Written whole or not at all, readable by its owner only."""
    partial = path.with_name(path.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(partial, 0o600)
    partial.replace(path)


# ---------------------------------------------------------------------------------------
# The checklist

CSV_COLUMNS = ("stt", "ma_may", "don_vi", "quay", "tep_cau_hinh", "chep_vao_the_nho",
               "ma_pin_ky_thuat", "da_lap")


def checklist_csv(results: list[Provisioned]) -> str:
    out = io.StringIO()
    # CRLF (RFC 4180): a name holding a CR is then quoted, not split over two rows
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for number, r in enumerate(results, start=1):
        # names come from the fleet file: written so that no spreadsheet computes them
        writer.writerow([number, *map(text_cell, (r.terminal_id, r.unit_name, r.counter)),
                         f"{r.terminal_id}/kiosk.toml", "bootfs/kiosk.toml", r.pin, ""])
    return out.getvalue()


CHECKLIST_TEMPLATE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>Danh sách lắp đặt máy đánh giá: {{ fleet_name }}</title>
<style>
  @page { size: A4 landscape; margin: 12mm; }
  body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt;
         color: #000; margin: 0; }
  h1 { font-size: 15pt; margin: 0 0 2mm; }
  p, li { margin: 0 0 1.5mm; }
  .meta { color: #333; }
  .secret { border: 1.5pt solid #000; padding: 2mm 3mm; margin: 3mm 0; font-weight: bold; }
  ol.steps { margin: 2mm 0 3mm 5mm; padding-left: 4mm; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border: 0.75pt solid #000; padding: 1.6mm 2mm; text-align: left;
           vertical-align: middle; }
  th { background: #e6e6e6; font-size: 9.5pt; }
  thead { display: table-header-group; }   /* the header repeats on every printed page */
  tr { page-break-inside: avoid; break-inside: avoid; }
  td.num, td.pin { text-align: center; white-space: nowrap; }
  td.pin { font-family: "DejaVu Sans Mono", monospace; font-size: 12pt; letter-spacing: 1pt; }
  code { font-family: "DejaVu Sans Mono", monospace; font-size: 9.5pt; }
  .box { display: inline-block; width: 5mm; height: 5mm; border: 1pt solid #000; }
  td.tick { text-align: center; }
  .sign { margin-top: 6mm; display: flex; gap: 30mm; }
  @media screen { body { margin: 10mm; max-width: 280mm; } }
  @media print { .noprint { display: none; } }
</style>
</head>
<body>
<h1>Danh sách lắp đặt máy đánh giá sự hài lòng: {{ fleet_name }}</h1>
<p class="meta">{{ count }} máy · máy chủ: <code>{{ server_url }}</code> · lập ngày
{{ today }} bằng lệnh <code>district fleet provision</code></p>
<p class="secret">Tờ này ghi mã PIN kỹ thuật của từng máy: cất giữ cẩn thận, huỷ sau khi lắp
xong. Các tệp <code>kiosk.toml</code> chứa mã bí mật (token) của máy: không gửi qua mạng xã
hội hay thư điện tử.</p>
<ol class="steps">
  <li>Ghi ảnh hệ thống vào thẻ nhớ (hướng dẫn kỹ thuật viên, mục 2).</li>
  <li>Chép tệp ở cột "Tệp cấu hình" vào ổ <b>bootfs</b> của thẻ, tên đúng là
      <code>kiosk.toml</code> (mục 3). Dán nhãn mã máy lên thẻ và lên vỏ máy.</li>
  <li>Lắp thẻ vào máy ở đúng quầy, bật máy, bấm thử một nút; đăng nhập và chạy
      <code>kiosk doctor</code>: mọi mục phải ĐẠT (mục 6).</li>
</ol>
<table>
<thead>
<tr><th>STT</th><th>Mã máy (nhãn thẻ nhớ)</th><th>Đơn vị</th><th>Quầy</th>
<th>Tệp cấu hình → chép vào thẻ nhớ</th><th>Mã PIN kỹ thuật</th>
<th>Đã chép thẻ</th><th>Doctor ĐẠT</th><th>Ghi chú</th></tr>
</thead>
<tbody>
{% for r in rows %}
<tr>
<td class="num">{{ loop.index }}</td>
<td><b>{{ r.terminal_id }}</b></td>
<td>{{ r.unit_name }}</td>
<td>{{ r.counter }}</td>
<td><code>{{ r.terminal_id }}/kiosk.toml</code> → <code>bootfs/kiosk.toml</code></td>
<td class="pin">{{ r.pin }}</td>
<td class="tick"><span class="box"></span></td>
<td class="tick"><span class="box"></span></td>
<td style="width: 30mm"></td>
</tr>
{% endfor %}
</tbody>
</table>
<div class="sign"><p>Người lắp đặt (ký, ghi rõ họ tên):</p><p>Ngày hoàn thành:</p></div>
</body>
</html>
"""


def checklist_html(fleet: Fleet, results: list[Provisioned], server_url: str,
                   today: dt.date) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(CHECKLIST_TEMPLATE).render(
        fleet_name=fleet.fleet.name, count=len(results),
        server_url=server_url, today=today.strftime("%d/%m/%Y"), rows=results)
