"""Ingest throughput of the district server, batches of 500, SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py --db sqlite|postgres|both [--votes 60000] [--write]

Starts a real ``district serve`` on loopback on a fresh database, uploads ``--votes`` votes
in batches of 500 from ``--clients`` concurrent terminals, and measures votes/s. Baselines
measured in the same run, on the same database:

- raw insert: the same rows written with one SQLAlchemy ``executemany`` (no HTTP, no
  validation, no dedup): the storage ceiling;
- one POST per vote: what a naive agent would get;
- ``--baselines``: the whole run again with the previous rollup design (the d0001 per-row
  trigger) and with no rollups at all.

With the rollups on, the run checks that the grouped upserts counted every API vote once.

``--write`` appends a Markdown table to bench/RESULTS-ingest.md. Only loopback addresses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from district import db  # noqa: E402
from district.fleet import register_terminal  # noqa: E402

PG_ADMIN = os.environ.get("HL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 500


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# The simulated kiosks booted 30 days ago and their clocks are honest: BOOTTIME, recorded_at
# and the requests' BOOTTIME agree, as a real terminal's do (the server checks them).
BOOT_EPOCH_NS = time.time_ns() - 30 * 86_400 * 10**9


def make_votes(n: int, seq0: int = 1) -> list[dict]:
    now_ns = time.time_ns()
    return [{"id": str(uuid.uuid4()), "seq": seq0 + i, "level": 1 + i % 3, "scale": 3,
             "source": "gpio",
             "recorded_at": iso(dt.datetime.fromtimestamp((now_ns - (n - i) * 10**9) / 1e9,
                                                          dt.UTC)),
             "clock_synced": i % 10 != 0, "boot_id": "bench-boot",
             "monotonic_ns": now_ns - (n - i) * 10**9 - BOOT_EPOCH_NS, "flags": [],
             "reasons": [], "counter": "Quầy 1", "officer": None, "dossier_code": None}
            for i in range(n)]


# Baselines measured in the same run (``--baselines``):
# - "d0001 trigger": the previous design, the per-row trigger ``dash_rollup_vote`` (two
#   upserts per vote into dash_hourly / dash_daily), with the ingest's grouped upserts off;
# - "no rollups": the ingest path alone (grouped upserts off, no trigger).
# The upserts are switched off in the server processes (uvicorn workers too) by a
# sitecustomize module on PYTHONPATH: a bench-only patch, no switch in the server itself.
_SITECUSTOMIZE = """
import os
if os.environ.get("HL_BENCH_NO_ROLLUP_UPSERTS") == "1":
    import district.rollups as _rollups
    _rollups.add_votes = lambda conn, rows, chains=None: 0
"""


def revision_module(rev: str):
    """A migration's file, loaded by Alembic (its SQL as that revision wrote it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import district.db

    cfg = Config()
    cfg.set_main_option("script_location",
                        str(Path(district.db.__file__).parent / "migrations"))
    return ScriptDirectory.from_config(cfg).get_revision(rev).module


def install_legacy_trigger(engine) -> None:
    """The d0001 rollups: dash_hourly / dash_daily and the per-row trigger, with revision
    d0001's own SQL."""
    d0001 = revision_module("d0001")
    md = sa.MetaData()
    for name, bucket in (("dash_hourly", "hour"), ("dash_daily", "day")):
        sa.Table(name, md, sa.Column("terminal_id", sa.String(64), primary_key=True),
                 sa.Column("unit_id", sa.String(64), primary_key=True),
                 sa.Column(bucket, sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("scale", sa.SmallInteger, primary_key=True, autoincrement=False),
                 *[sa.Column(c, sa.Integer, nullable=False, server_default="0")
                   for c in d0001.COUNT_COLUMNS])
    with engine.begin() as conn:
        md.create_all(conn)
        for ddl in d0001.trigger_ddl(conn.dialect.name):
            conn.execute(sa.text(ddl))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Database:
    """A fresh database for one backend, dropped at the end."""

    def __init__(self, kind: str, mode: str = "rollups"):
        self.kind = kind
        if kind == "sqlite":
            self.tmp = tempfile.TemporaryDirectory()
            self.url = f"sqlite:///{self.tmp.name}/bench.db"
        else:
            import psycopg

            self.name = f"hl_bench_{secrets.token_hex(4)}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name
        self.engine = db.create_db_engine(self.url)
        try:
            db.migrate(self.engine)
            if mode == "d0001 trigger":
                install_legacy_trigger(self.engine)
        except BaseException:
            self.drop()
            raise

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(db.votes)).scalar_one()

    def drop(self) -> None:
        self.engine.dispose()
        if self.kind == "sqlite":
            self.tmp.cleanup()
        else:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def start_server(url: str, workers: int, rollups: bool = True
                 ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ)
    if not rollups:
        site = Path(tempfile.mkdtemp(prefix="hl_bench_site_"))
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), env.get("PYTHONPATH", "")])
        env["HL_BENCH_NO_ROLLUP_UPSERTS"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "district.cli", "--db", url, "serve",
                             "--port", str(port), "--workers", str(workers)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def upload(base: str, terminals: dict[str, str], votes_by_terminal: dict[str, list[dict]],
           batch: int, new: bool = True) -> float:
    """Every terminal uploads its votes in batches, concurrently; returns seconds."""
    def one_terminal(terminal_id: str) -> int:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {terminals[terminal_id]}"
        session.headers["Content-Type"] = "application/json"
        own = votes_by_terminal[terminal_id]
        stored = 0
        for start in range(0, len(own), batch):
            body = json.dumps({"terminal_id": terminal_id, "sent_at": iso(dt.datetime.now(dt.UTC)),
                               "boot_id": "bench-boot",
                               "monotonic_ns": time.time_ns() - BOOT_EPOCH_NS,
                               "votes": own[start:start + batch]})
            response = session.post(base + "/api/v1/votes", data=body, timeout=60)
            response.raise_for_status()
            stored += len(response.json()["accepted"])
        return stored

    begin = time.perf_counter()
    with ThreadPoolExecutor(len(terminals)) as pool:
        stored = sum(pool.map(one_terminal, terminals))
    elapsed = time.perf_counter() - begin
    expected = sum(len(v) for v in votes_by_terminal.values())
    assert stored == (expected if new else 0), f"stored {stored}, expected {expected} new={new}"
    return elapsed


def raw_insert(database: Database, terminal_id: str, votes: list[dict]) -> float:
    """Baseline: the same rows, one executemany, no HTTP/validation/dedup."""
    now = dt.datetime.now(dt.UTC)
    rows = [{"terminal_id": terminal_id, "vote_id": v["id"], "unit_id": "bench", "seq": v["seq"],
             "level": v["level"], "scale": v["scale"], "source": v["source"],
             "recorded_at": now, "recorded_at_raw": v["recorded_at"],
             "clock_synced": v["clock_synced"], "boot_id": v["boot_id"],
             "monotonic_ns": v["monotonic_ns"], "flags": "", "reasons": "",
             "counter": v["counter"], "officer": None, "dossier_code": None,
             "received_at": now, "corrected_at": now, "time_method": "kiosk",
             "time_uncertain": False, "via": "import"} for v in votes]
    begin = time.perf_counter()
    with db.write_transaction(database.engine) as conn:
        for start in range(0, len(rows), BATCH):
            conn.execute(db.votes.insert(), rows[start:start + BATCH])
    return time.perf_counter() - begin


def bench_backend(kind: str, n_votes: int, clients: int, workers: int, naive: int,
                  mode: str = "rollups") -> dict:
    database = Database(kind, mode)
    try:
        terminals = {f"bench-{i}": register_terminal(database.engine, f"bench-{i}", "bench")
                     for i in range(clients)}
        per, each = n_votes // clients, naive // clients
        # One boot's votes per terminal, sent in their order (warm-up, run, one per POST):
        # the server checks a boot's seq against its BOOTTIME, and votes sent out of that
        # order would be marked uncertain, which an honest terminal's never are.
        made = {t: make_votes(BATCH + per + each) for t in terminals}
        warm_up = {t: v[:BATCH] for t, v in made.items()}
        votes = {t: v[BATCH:BATCH + per] for t, v in made.items()}
        naive_votes = {t: v[BATCH + per:] for t, v in made.items()}
        proc, base = start_server(database.url, workers, rollups=mode == "rollups")
        try:
            upload(base, terminals, warm_up, BATCH)
            batched = upload(base, terminals, votes, BATCH)
            repeat = upload(base, terminals, votes, BATCH, new=False)  # all duplicates
            one_by_one = upload(base, terminals, naive_votes, 1)
        finally:
            proc.terminate()
            proc.wait(10)
        total = per * clients
        register_terminal(database.engine, "bench-raw", "bench")
        raw_terminal = "bench-raw"
        raw = raw_insert(database, raw_terminal, make_votes(total))
        naive_total = each * clients
        expected = BATCH * clients + total + naive_total + total  # warm-up, run, naive, raw
        assert database.count() == expected, (database.count(), expected)
        if mode == "rollups":  # every vote that came through the API is counted once
            with database.engine.connect() as conn:
                counted = conn.execute(sa.text(
                    "SELECT SUM(n1 + n2 + n3 + n4 + n5 + n_test + n_misuse) "
                    "FROM dash_terminal_day WHERE terminal_id <> 'bench-raw'")).scalar()
                marked = conn.execute(sa.text("SELECT count(*) FROM vote_time_marks")).scalar()
            assert counted == expected - total, (counted, expected - total)
            assert marked == 0, f"{marked} honest votes were marked uncertain: the bench's data"
        return {"backend": kind + ("" if mode == "rollups" else f", baseline: {mode}"),
                "votes": total, "workers": workers, "clients": clients,
                "batched_vps": total / batched, "duplicate_vps": total / repeat,
                "naive_vps": naive_total / one_by_one, "raw_vps": total / raw}
    finally:
        database.drop()


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                  if line.startswith("Model name")), platform.processor())
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def markdown(results: list[dict]) -> str:
    lines = [f"### Ingest throughput ({dt.date.today().isoformat()}, {machine()})", "",
             "`.venv/bin/python bench/ingest.py --db both --write`: `district serve` on "
             "loopback, batches of 500 (target ≥ 10,000 votes/s), baselines in the same run.",
             "", "| backend | votes | server processes | clients | batched POST (votes/s) | "
             "same batches again, all duplicates | baseline: one POST per vote | "
             "baseline: raw executemany, no HTTP |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['votes']:,} | {r['workers']} | {r['clients']} | "
                     f"**{r['batched_vps']:,.0f}** | {r['duplicate_vps']:,.0f} | "
                     f"{r['naive_vps']:,.0f} | {r['raw_vps']:,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--votes", type=int, default=60_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent terminals")
    parser.add_argument("--workers", type=int, default=0,
                        help="server processes (default: 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--naive", type=int, default=2_000, help="votes for the 1-per-POST run")
    parser.add_argument("--baselines", action="store_true",
                        help="run each backend again with the d0001 per-row trigger instead "
                             "of the grouped upserts, and with no rollups at all")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS-ingest.md")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    modes = ["rollups"] + (["d0001 trigger", "no rollups"] if args.baselines else [])
    runs = [(k, m) for m in modes for k in kinds]
    for kind, mode in runs:
        workers = args.workers or (1 if kind == "sqlite" else 2)
        result = bench_backend(kind, args.votes, args.clients, workers, args.naive, mode)
        print(f"{result['backend']}: batched {result['batched_vps']:,.0f} votes/s, duplicates "
              f"{result['duplicate_vps']:,.0f}/s, one-per-POST {result['naive_vps']:,.0f}/s, "
              f"raw executemany {result['raw_vps']:,.0f}/s", flush=True)
        results.append(result)
    text = markdown(results)
    print(text)
    if args.write:
        with (REPO / "bench" / "RESULTS-ingest.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
