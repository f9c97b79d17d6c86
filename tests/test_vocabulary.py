"""One vocabulary, both sides: what the kiosk's own code writes is what the district's own
code reads, because both take it from ``ballot`` (the vote's codes, its JSON form, the
heartbeat body, the USB export's columns, the words officials read)."""

from __future__ import annotations

import io
import subprocess
import sys

import sqlalchemy as sa

import district  # noqa: F401 (registers the district's catalogs)
import kiosk  # noqa: F401 (registers the kiosk's catalogs)
from ballot import usb, vote, wire
from ballot.i18n import translation
from kiosk import clock
from kiosk.store import VoteStore
from kiosk.sync.agent import SyncAgent
from kiosk.sync.client import ServerClient
from kiosk.vote import Flag, Reason, Source, new_vote
from tests.helpers import DistrictServer, fresh_engine

TERMINAL = "t-vocab"


def _kiosk_votes(store: VoteStore) -> list:
    """Votes made and stored by the kiosk's own code: every source, flag and reason."""
    for i, source in enumerate(Source):
        store.record(new_vote(i % 3 + 1, 3, source, clock.now(), flags=(Flag.TEST,)))
    store.record(new_vote(5, 5, Source.SERIAL, clock.now(), counter="Quầy 2",
                          officer="Nguyễn Văn A", dossier_code="H12.34-250101-0001",
                          flags=(Flag.SUSPECTED_MISUSE, Flag.STUCK_BUTTON)))
    held = store.record(new_vote(1, 4, Source.TOUCH, clock.now()), held=True)
    store.add_reasons(held.id, list(Reason))
    return store.claim(100)


def test_the_codes_are_defined_once(tmp_path):
    from district import models
    from district.dashboard import tables
    from kiosk import vote as kiosk_vote

    assert kiosk_vote.Flag is vote.Flag and kiosk_vote.Reason is vote.Reason
    assert kiosk_vote.Source is vote.Source
    assert models.Vote is wire.Vote and models.Heartbeat is wire.Heartbeat
    assert (models.FLAGS, models.REASONS, models.SOURCES) == (vote.FLAGS, vote.REASONS,
                                                               vote.SOURCES)
    assert tuple(tables.REASON_CODES) == vote.REASONS
    reason_columns = [c.name for c in tables.unit_day.columns if c.name.startswith("r_")]
    assert reason_columns == [f"r_{code}" for code in vote.REASONS]


def test_a_kiosk_vote_is_what_the_server_validates(tmp_path):
    with VoteStore(tmp_path / "votes.db", TERMINAL) as store:
        votes = _kiosk_votes(store)
    assert len(votes) == len(Source) + 2
    for made in votes:
        sent = made.to_wire()
        assert set(sent) == set(wire.VOTE_FIELDS)
        checked = wire.Vote.model_validate(sent)
        assert checked.model_dump(mode="json") | {"recorded_at": sent["recorded_at"]} == sent
        assert checked.recorded_at == made.recorded_at


def test_a_vote_from_the_kiosk_round_trips_through_the_server(tmp_path):
    """The kiosk's real client uploads the kiosk's votes and heartbeat to a real server; the
    server stores exactly the fields the kiosk recorded."""
    from district import db
    from district.fleet import register_terminal

    with fresh_engine("sqlite", tmp_path) as engine:
        token = register_terminal(engine, TERMINAL, "unit-vocab", "vocabulary")
        server = DistrictServer(str(engine.url)).start()
        try:
            with VoteStore(tmp_path / "votes.db", TERMINAL) as store, \
                    ServerClient(server.url, token, TERMINAL, timeout_s=30) as client:
                votes = _kiosk_votes(store)
                answer = client.upload(votes)
                assert (answer.accepted, answer.rejected) == (len(votes), []), answer
                assert sorted(answer.synced) == sorted(v.id for v in votes)
                store.set_meta(stuck_buttons=[2])
                agent = SyncAgent(_config(tmp_path, server.url, token), store=store,
                                  client=client, notify=lambda _: None)
                assert agent.heartbeat(), store.meta("last_sync_error")
        finally:
            server.stop()
        with engine.connect() as conn:
            stored = {r.vote_id: r for r in conn.execute(sa.select(db.votes))}
            beat = conn.execute(sa.select(db.heartbeats)).one()
    for made in votes:
        row = stored[made.id]
        assert (row.level, row.scale, row.source) == (made.level, made.scale, made.source)
        assert (row.flags.split(";") if row.flags else []) == [str(f) for f in made.flags]
        assert (row.reasons.split(";") if row.reasons else []) == [str(r) for r in made.reasons]
        assert (row.counter, row.officer, row.dossier_code) == (made.counter, made.officer,
                                                                made.dossier_code)
    assert (beat.terminal_id, beat.stuck_buttons) == (TERMINAL, "2")


def _config(tmp_path, url: str, token: str):
    from kiosk.config import KioskConfig

    return KioskConfig.model_validate({
        "storage": {"path": str(tmp_path / "votes.db")}, "gpio": {"pin_factory": "mock"},
        "terminal": {"id": TERMINAL},
        "server": {"url": url, "token": token, "allow_plain_http": True}})


def test_the_kiosks_export_is_what_district_import_reads(tmp_path):
    from district.ingest import CSV_COLUMNS, CSV_REQUIRED, read_export_csv

    with VoteStore(tmp_path / "votes.db", TERMINAL) as store:
        votes = _kiosk_votes(store)
        out = io.StringIO()
        assert store.export_csv(out) == len(votes)
    header = out.getvalue().splitlines()[0].split(",")
    assert tuple(header) == usb.EXPORT_COLUMNS == CSV_COLUMNS
    assert set(CSV_REQUIRED) <= set(header)
    # every field of the vote's JSON form, and the terminal it was made on
    assert set(header) == {*wire.VOTE_FIELDS, "terminal_id"}
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    read = read_export_csv(path)
    assert list(read) == [TERMINAL]
    assert {c.vote.id for c in read[TERMINAL]} == {v.id for v in votes}
    by_id = {c.vote.id: c.vote for c in read[TERMINAL]}
    for made in votes:
        assert by_id[made.id].model_dump(mode="json", exclude={"recorded_at"}) == {
            k: v for k, v in made.to_wire().items() if k != "recorded_at"}


def test_every_flag_and_reason_has_its_vietnamese_and_english_name():
    vi, en = translation("ballot", "vi").gettext, translation("ballot", "en").gettext
    for names, codes in ((vote.FLAG_NAMES, vote.FLAGS), (vote.REASON_NAMES, vote.REASONS)):
        assert tuple(names) == codes
        for code, name in names.items():
            assert en(name) == name and name
            assert vi(name) and vi(name) != name, f"{code}: no Vietnamese name"
            # the district's pages say it the same way (its catalogs fall back to ballot's)
            assert translation("district_web", "vi").gettext(name) == vi(name)


def test_the_heartbeat_fields_are_the_models():
    assert wire.HEARTBEAT_FIELDS[:4] == wire.ENVELOPE_FIELDS
    assert set(wire.HEALTH_FIELDS) == {"backlog", "rejected", "software_version",
                                       "clock_synced", "disk_free_bytes", "uptime_s",
                                       "last_error", "stuck_buttons"}


def test_ballot_imports_neither_package_nor_their_frameworks():
    """Loaded alone, ballot brings in only the standard library and pydantic."""
    code = ("import sys, pkgutil, importlib, ballot\n"
            "for m in pkgutil.iter_modules(ballot.__path__):\n"
            "    importlib.import_module('ballot.' + m.name)\n"
            "bad = ('kiosk', 'district', 'kivy', 'requests', 'fastapi', 'sqlalchemy',"
            " 'starlette', 'uvicorn')\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & set(bad)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
