"""Backups and restore (issue 14, item 5): ``district backup`` while the server is serving
and a terminal keeps sending, on SQLite (online backup API) and PostgreSQL (pg_dump); the
rotation; ``district restore`` into a fresh database finds every vote, account and audit
entry; a restore that would overwrite votes, or the wrong kind of file, changes nothing;
the systemd service and timer verify."""

from __future__ import annotations

import shutil
import subprocess
import threading

import httpx
import pytest
import sqlalchemy as sa

from district import audit, db
from district.dashboard.accounts import add_user, authenticate
from district.dashboard.tables import users
from district.fleet import register_terminal
from tests.helpers import BIN, DistrictServer, clean_env, fresh_database, iso, make_vote, utcnow
from tests.trust.conftest import PASSWORD, SMALL


def district(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "district"), "--db", db_url, "--lang", "en", *args],
                          capture_output=True, text=True, timeout=300, env=clean_env(),
                          check=False)


def snapshot(url: str) -> dict:
    engine = db.create_db_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "votes": {tuple(r) for r in conn.execute(
                    sa.select(db.votes.c.terminal_id, db.votes.c.vote_id, db.votes.c.level))},
                "users": {tuple(r) for r in conn.execute(
                    sa.select(users.c.username, users.c.password_hash, users.c.role))},
                "terminals": {r.id for r in conn.execute(sa.select(db.terminals.c.id))},
                "audit": [tuple(r) for r in conn.execute(sa.select(
                    audit.audit_log.c.actor, audit.audit_log.c.action).order_by(
                    audit.audit_log.c.pk))],
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_backup_taken_while_serving_restores_every_vote_and_account(kind, tmp_path):
    with fresh_database(kind, tmp_path / "live") as url, \
            fresh_database(kind, tmp_path / "fresh") as fresh_url:
        (tmp_path / "live").mkdir(exist_ok=True)
        (tmp_path / "fresh").mkdir(exist_ok=True)
        engine = db.create_db_engine(url)
        db.migrate(engine)
        token = register_terminal(engine, "t-1", "unit-1", "Quầy 1")
        add_user(engine, "chief", PASSWORD, "district")
        engine.dispose()
        server = DistrictServer(url, env=clean_env(**SMALL), log=tmp_path / "serve.log")
        server.start(timeout=120)
        sent: list[int] = []
        stop = threading.Event()

        def terminal():  # keeps sending while the backup runs
            seq = 0
            while not stop.is_set():
                seq += 1
                body = {"terminal_id": "t-1", "sent_at": iso(utcnow()),
                        "votes": [make_vote(seq=seq)]}
                answer = httpx.post(server.url + "/api/v1/votes", json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200
                sent.append(seq)

        sender = threading.Thread(target=terminal)
        sender.start()
        try:
            while len(sent) < 20:
                stop.wait(0.05)
            done = district(url, "backup", "--to", str(tmp_path / "backups"))
            assert done.returncode == 0, done.stderr
        finally:
            stop.set()
            sender.join(60)
            server.stop()
        (backup_file,) = (tmp_path / "backups").iterdir()
        assert backup_file.suffix == (".pgdump" if kind == "postgres" else ".db")
        assert str(backup_file) in done.stdout
        live = snapshot(url)  # everything, including votes sent after the backup's moment

        restored = district(fresh_url, "restore", str(backup_file))
        assert restored.returncode == 0, restored.stderr
        copy = snapshot(fresh_url)
        assert copy["users"] == live["users"] and copy["terminals"] == live["terminals"]
        assert copy["audit"] == live["audit"][:len(copy["audit"])]
        # every vote of the copy is one of the live ones, and the copy is of one moment:
        # the first n votes the terminal sent, none missing in between
        assert copy["votes"] <= live["votes"] and len(copy["votes"]) >= 20
        seqs = sorted(_seq_of(fresh_url))
        assert seqs == list(range(1, len(seqs) + 1))
        engine = db.create_db_engine(fresh_url)
        try:
            assert authenticate(engine, "chief", PASSWORD) is not None  # the account works
            with engine.connect() as conn:  # and the dashboard's counts came along
                from district import rollups
                assert rollups.differences(conn) == []
        finally:
            engine.dispose()

        again = district(fresh_url, "restore", str(backup_file))  # it holds votes now
        assert again.returncode == 1 and "already holds votes" in again.stderr
        assert "Traceback" not in again.stderr
        assert district(fresh_url, "restore", "--replace", str(backup_file)).returncode == 0


def _seq_of(url: str) -> list[int]:
    engine = db.create_db_engine(url)
    try:
        with engine.connect() as conn:
            return [r.seq for r in conn.execute(sa.select(db.votes.c.seq))]
    finally:
        engine.dispose()


def test_the_rotation_keeps_the_newest(tmp_path):
    url = f"sqlite:///{tmp_path / 'district.db'}"
    assert district(url, "stats").returncode == 0  # (creates the database)
    made = []
    for _ in range(4):
        done = district(url, "backup", "--keep", "2")
        assert done.returncode == 0, done.stderr
        made.append(done.stdout.strip().rsplit(" ", 1)[1])
    kept = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert kept == sorted(p.rsplit("/", 1)[1] for p in made[-2:])


def test_bad_restores_change_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'district.db'}"
    missing = district(url, "backup")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert district(url, "stats").returncode == 0
    not_a_db = tmp_path / "district-20261202T000000Z.db"
    not_a_db.write_bytes(b"this is no database" * 100)
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'district.db'}"
    for args, words in ((["restore", str(not_a_db)], "not a SQLite database"),
                        (["restore", str(tmp_path / "missing.db")], "no backup file"),
                        (["restore", str(tmp_path / "x.pgdump")], "no backup file"),
                        (["backup", "--keep", "0"], "--keep must be at least 1")):
        done = district(fresh, *args)
        assert done.returncode == 1 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "fresh" / "district.db").exists()
    dump = tmp_path / "district-20261202T000000Z.pgdump"
    dump.write_bytes(b"PGDMP")
    done = district(fresh, "restore", str(dump))
    assert done.returncode == 1 and "backup of PostgreSQL" in done.stderr


def test_the_backup_units_verify(tmp_path):
    from tests.helpers.systemd_units import SYSTEMD, make_verify_root, verify

    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    root = make_verify_root(tmp_path / "root")
    units = ("district.service", "district-backup.service", "district-backup.timer")
    for unit in units:
        shutil.copy(SYSTEMD / unit, root / "etc/systemd/system" / unit)
    rc, complaints = verify(root, list(units))
    assert rc == 0 and not complaints, "\n".join(complaints)
    text = (SYSTEMD / "district.service").read_text()
    assert "LimitNOFILE=65536" in text
