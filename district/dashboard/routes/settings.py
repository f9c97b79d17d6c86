"""The settings page (``/dashboard/settings``) and the requests to a terminal from afar
(``/dashboard/terminals/{id}/ask``): docs/steering.md.

District officials edit the settings of the fleet, of any unit or terminal: a form with each
setting's meaning, validated on the server by the kiosk's own models (the reason shown beside
the field, nothing stored), a preview of the rating screen's words, the history of the scope
(who changed what, when) and a button to return to any earlier version. A unit official sees
the settings of their unit and the units and terminals below it, without changing them.

Both district and unit officials may ask a terminal they can see for its doctor report and
journal, a restart of its screen, or the button test; a terminal of another unit answers 404
like one that does not exist. Every change and request goes to the audit log.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ballot.settings import ALL_KEYS, KEYS, DistrictSettings
from ballot.wire import REQUEST_ACTIONS
from district.dashboard.accounts import csrf_ok
from district.dashboard.deps import (
    DashboardDep,
    Page,
    SignedIn,
    VisibleScope,
    actor_of,
    text_query,
)
from district.dashboard.periods import parse_period
from district.dashboard.render import frame
from district.dashboard.scope import NotVisible, Scope
from district.db import terminals
from district.errors import N_, DistrictError
from district.steering import store
from district.steering import terminal as steering

router = APIRouter(include_in_schema=False)

# What each setting means, for the form (district_web catalog)
MEANINGS = {
    "terminal.language": (N_("Language of the screen"), N_(
        "Vietnamese or English: the question, the buttons' labels and every message.")),
    "scale.levels": (N_("Levels of the scale"), N_(
        "3, 4 or 5 buttons, worst first. A terminal wired with fewer buttons refuses more "
        "levels and says so on the terminal health page.")),
    "scale.labels_vi": (N_("Labels (Vietnamese)"), N_(
        "One per line, worst first, as many as the levels; empty: the standard labels.")),
    "scale.labels_en": (N_("Labels (English)"), N_(
        "One per line, worst first, as many as the levels; empty: the standard labels.")),
    "scale.question_vi": (N_("Question (Vietnamese)"), N_(
        "The question above the buttons, for a screen in Vietnamese.")),
    "scale.question_en": (N_("Question (English)"), N_(
        "The question above the buttons, for a screen in English.")),
    "followup.enabled": (N_("Follow-up question"), N_(
        "After an unhappy vote, ask what went wrong (the reasons on the buttons).")),
    "followup.at_or_below": (N_("Follow-up at or below level"), N_(
        "Votes at this level or lower get the follow-up; below the best level.")),
    "rules.lockout_s": (N_("Lock-out and thank-you (seconds)"), N_(
        "After a vote the thank-you shows this long and presses are not counted: one "
        "citizen, one vote. 0 to 60.")),
    "rules.misuse_window_s": (N_("Misuse window (seconds)"), N_(
        "More votes than the limit below within this time are flagged as suspected misuse "
        "(kept, not counted).")),
    "rules.misuse_max_votes": (N_("Votes allowed in the window"), N_(
        "How many votes within the misuse window are still normal.")),
    "ui.sound": (N_("Thank-you sound"), N_("A soft chime with the thank-you.")),
    "voice.enabled": (N_("Spoken prompts"), N_(
        "The terminal speaks the question and the thanks, where a speaker is connected.")),
    "voice.volume": (N_("Volume of the voice (%)"), N_(
        "0 to 100. A change restarts the screen between two citizens.")),
}
ACTION_NAMES = {"doctor": N_("doctor report and journal"), "restart_ui": N_("restart the screen"),
                "button_test": N_("button test")}
INHERIT = ""


def kind_of(key: str) -> str:
    """How the form asks for a key: a choice, lines, or one line of text."""
    section, name = key.split(".")
    annotation = str(DistrictSettings.model_fields[section].annotation.model_fields[name]
                     .annotation)
    if "bool" in annotation:
        return "bool"
    if "Literal" in annotation:
        return "choice"
    return "lines" if "list" in annotation else "text"


CHOICES = {"terminal.language": ("vi", "en"), "scale.levels": ("3", "4", "5")}
FIELDS = [(key, kind_of(key)) for key in ALL_KEYS]


def shown(value) -> str:
    """A stored value as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def from_form(key: str, text: str):
    """The form's text as the value to store (None: inherit); the model types it."""
    text = text.replace("\r\n", "\n").strip()
    if text == INHERIT:
        return None
    if kind_of(key) == "lines":
        return [line.strip() for line in text.split("\n") if line.strip()]
    return text


# --- which scope --------------------------------------------------------------------------------

def terminal_unit(engine, terminal_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(terminals.c.unit_id)
                            .where(terminals.c.id == terminal_id)).scalar()


def scope_asked(engine, who, scope: Scope, unit: str | None, terminal: str | None
                ) -> tuple[store.Scope, str]:
    """(the settings' scope, the unit the page's selector shows). What the official may not
    see is a 404 (NotVisible)."""
    if terminal:
        unit_id = terminal_unit(engine, terminal[:64])
        if unit_id is None:
            raise NotVisible()
        return store.Scope(store.TERMINAL, terminal), scope.resolve(unit_id)
    if unit:
        return store.Scope(store.UNIT, scope.resolve(unit)), scope.resolve(unit)
    if who.role == "district":
        return store.FLEET_SCOPE, scope.resolve(None)
    top = scope.resolve(None)
    return store.Scope(store.UNIT, top), top


def unit_terminals(engine, unit_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(terminals.c.id).where(terminals.c.unit_id == unit_id)
                                 .order_by(terminals.c.id)).scalars())


def page_data(engine, target: store.Scope, unit: str) -> dict:
    eff = store.effective(engine, target)
    own = store.own_document(engine, target)
    with engine.connect() as conn:
        chain = store.chain(conn, target)
    return {"eff": eff, "own": own, "whole": eff.whole(),
            "history": store.history(engine, chain, limit=50),
            "terminals": unit_terminals(engine, unit)}


# --- pages ----------------------------------------------------------------------------------------

@router.get("/dashboard/settings")
async def settings_page(dash: DashboardDep, who: SignedIn, scope: VisibleScope, html: Page,
                        unit: Annotated[str, text_query("a unit's settings")] = None,
                        terminal: Annotated[str, text_query("a terminal's settings")] = None,
                        saved: Annotated[str, text_query("the version just stored")] = None):
    target, shown_unit = await run_in_threadpool(scope_asked, dash.engine, who, scope, unit,
                                                 terminal)
    data = await run_in_threadpool(page_data, dash.engine, target, shown_unit)
    return render(html, who, scope, target, shown_unit, data, errors={}, values=None,
                  saved=saved if saved and saved.isdigit() else None)


def render(html, who, scope, target, unit, data, *, errors, values, saved=None, status=200):
    own = data["own"]
    values = values if values is not None else {
        key: shown(own.get(key.split(".")[0], {}).get(key.split(".")[1])) for key in ALL_KEYS}
    return html.page("settings.html", status=status,
                     **frame(who, scope, unit, parse_period("month", None)),
                     target=target, data=data, fields=FIELDS, meanings=MEANINGS,
                     choices=CHOICES, values=values, errors=errors, saved=saved,
                     can_edit=who.role == "district", shown=shown, keys=KEYS,
                     page="settings")


@router.post("/dashboard/settings")
async def save_settings(request: Request, dash: DashboardDep, who: SignedIn,
                        scope: VisibleScope, html: Page):
    form = await request.form()
    if not csrf_ok(who, str(form.get("csrf_token", ""))):
        return html.error(403, html.gettext(FOREIGN_FORM))
    target, unit = await run_in_threadpool(
        scope_asked, dash.engine, who, scope, str(form.get("unit", "")) or None,
        str(form.get("terminal", "")) or None)
    if who.role != "district":
        return html.error(403, html.gettext(ONLY_DISTRICT))
    values = {key: str(form.get(key, ""))[:4000] for key in ALL_KEYS}
    changes = {key: from_form(key, text) for key, text in values.items()}
    actor = actor_of(request, who)
    try:
        number = await run_in_threadpool(
            lambda: store.change(dash.engine, target, changes, actor,
                                 str(form.get("note", ""))[:store.MAX_NOTE],
                                 replace=_replace(changes)))
    except store.SettingsRefused as refused:
        data = await run_in_threadpool(page_data, dash.engine, target, unit)
        return render(html, who, scope, target, unit, data, status=422, values=values,
                      errors=refused.by_key(html.gettext))
    return RedirectResponse(_back(target, number), status_code=303)


def _replace(changes: dict) -> dict:
    """The form holds the whole document of its scope: what it leaves empty is inherited."""
    out: dict = {}
    for key, value in changes.items():
        if value is not None:
            section, name = key.split(".")
            out.setdefault(section, {})[name] = value
    return out


def _back(target: store.Scope, number: int | None) -> str:
    from urllib.parse import urlencode

    query = {target.kind: target.id} if target.kind != store.FLEET else {}
    if number:
        query["saved"] = str(number)
    return "/dashboard/settings" + (f"?{urlencode(query)}" if query else "")


@router.post("/dashboard/settings/restore")
async def restore_version(request: Request, dash: DashboardDep, who: SignedIn,
                          scope: VisibleScope, html: Page,
                          version: Annotated[str, Form()] = "",
                          csrf_token: Annotated[str, Form()] = ""):
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext(FOREIGN_FORM))
    if who.role != "district":
        return html.error(403, html.gettext(ONLY_DISTRICT))
    old = await run_in_threadpool(store.version, dash.engine, int(version)) \
        if version.isdigit() and len(version) < 19 else None
    if old is None:
        raise NotVisible()
    actor = actor_of(request, who)
    try:
        number = await run_in_threadpool(store.restore, dash.engine, old.version, actor)
    except store.SettingsRefused as refused:
        return html.error(422, refused.translated(html.gettext))
    return RedirectResponse(_back(old.scope, number), status_code=303)


@router.post("/dashboard/terminals/{terminal_id}/ask")
async def ask_terminal(request: Request, terminal_id: str, dash: DashboardDep, who: SignedIn,
                       scope: VisibleScope, html: Page, action: Annotated[str, Form()] = "",
                       csrf_token: Annotated[str, Form()] = ""):
    if not csrf_ok(who, csrf_token):
        return html.error(403, html.gettext(FOREIGN_FORM))
    unit_id = await run_in_threadpool(terminal_unit, dash.engine, terminal_id[:64])
    if unit_id is None:
        raise NotVisible()
    scope.resolve(unit_id)  # another unit's terminal: 404, like one that does not exist
    if action not in REQUEST_ACTIONS:
        return html.error(400, html.gettext(UNKNOWN_ACTION))
    actor = actor_of(request, who)
    try:
        await run_in_threadpool(steering.ask, dash.engine, terminal_id, action, actor)
    except DistrictError as exc:
        return html.error(400, exc.translated(html.gettext))
    return RedirectResponse(f"/dashboard/fleet?unit={unit_id}#steer-{terminal_id}",
                            status_code=303)


FOREIGN_FORM = N_("The form expired or did not come from this site. Go back, reload the page "
                  "and try again.")
ONLY_DISTRICT = N_("Only district officials change the settings.")
UNKNOWN_ACTION = N_("Unknown request.")
