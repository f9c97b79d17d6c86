"""Attribution at the size of a district's year: 60 officers, 300,000 dossiers.

    .venv/bin/python bench/attribution.py --db sqlite:///bench-attr.db [--dossiers 300000]
        [--votes 100000] [--runs 20]

1. **Dossier import**: the rows a one-stop export holds, checked and stored all-or-nothing
   (``district.dossiers.parse_rows`` + ``import_dossiers``); rows/s, and the same file again
   (nothing changes). Baseline in the same run: reading the CSV alone (``csv.reader``).
2. **Ingest A/B**: the same batches of 500 votes stored with and without dossier codes
   (the claim of ``dossier_ratings``, the repeat_dossier flag): votes/s of each, same run;
   and votes with dossier codes with and without the coverage and procedure rollups kept
   (``attribution_rollups.count_claims`` made a no-op: the ingest before d0010), alternated.
3. **Pages**: the officers page and its JSON (``/api/v1/dashboard/officers``,
   ``/procedures``, ``/coverage``) and one officer's page for a month and a year, through the
   real app in-process, signed in as a district official: p50 / p95 (ms).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DISTRICT_ALERT_INTERVAL_S", "0")

from district import db, dossiers  # noqa: E402
from district.fleet import load_units, register_terminal  # noqa: E402
from district.ingest import Delivery, ingest_batch  # noqa: E402
from district.officers import add_officer  # noqa: E402

PASSWORD = "bench-password-123"
ICT = dt.timezone(dt.timedelta(hours=7))
WARDS = [f"w{n:02d}" for n in range(10)]
HEADER = ["Mã hồ sơ", "Mã thủ tục", "Tên thủ tục", "Đơn vị", "Ngày tiếp nhận", "Ngày hẹn trả",
          "Ngày trả kết quả", "Cán bộ xử lý"]
PROCEDURES = [(f"1.{n:03d}", f"Thủ tục số {n}") for n in range(40)]


def timed(fn, runs: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)]


def make_csv(n: int, officers: dict[str, str], rnd: random.Random) -> tuple[str, list[str]]:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADER)
    codes = []
    for i in range(n):
        ward = WARDS[i % len(WARDS)]
        received = dt.date(2026, 1, 1) + dt.timedelta(days=rnd.randrange(330))
        finished = received + dt.timedelta(days=rnd.randrange(1, 15))
        code = f"000.00.{i % 100:02d}.H{i % 90 + 10:02d}-{received:%y%m%d}-{i:06d}"
        codes.append(code)
        proc = PROCEDURES[i % len(PROCEDURES)]
        who = [c for c, u in officers.items() if u == ward]
        w.writerow([code, proc[0], proc[1], ward, received.strftime("%d/%m/%Y"),
                    (received + dt.timedelta(days=15)).strftime("%d/%m/%Y"),
                    finished.strftime("%d/%m/%Y"), who[i % len(who)]])
    return out.getvalue(), codes


def votes_for(codes: list[str] | None, n: int, officers: list[str], rnd: random.Random):
    for _ in range(n):
        local = dt.datetime(2026, 1, 1, 8, tzinfo=ICT) + dt.timedelta(
            days=rnd.randrange(330), seconds=rnd.randrange(8 * 3600))
        yield {"id": str(uuid.uuid4()), "seq": 1, "level": rnd.randint(1, 3), "scale": 3,
               "source": "gpio", "recorded_at": local.astimezone(dt.UTC).isoformat(),
               "clock_synced": True, "boot_id": "bench", "monotonic_ns": 10**9, "flags": [],
               "reasons": [], "counter": "Quầy 1", "officer": rnd.choice(officers),
               "dossier_code": rnd.choice(codes) if codes else None}


def ingest(engine, terminal: str, unit: str, votes: list[dict]) -> float:
    start = time.perf_counter()
    for i in range(0, len(votes), 500):
        ingest_batch(engine, terminal, unit, votes[i:i + 500],
                     Delivery(dt.datetime.now(dt.UTC), "api"))
    return len(votes) / (time.perf_counter() - start)


@contextlib.contextmanager
def _rollups_kept(kept: bool):
    """The ingest as it was before the attribution rollups (``count_claims`` a no-op)."""
    from district import attribution_rollups

    real = attribution_rollups.count_claims
    if not kept:
        attribution_rollups.count_claims = lambda conn, ratings: None
    try:
        yield
    finally:
        attribution_rollups.count_claims = real


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--dossiers", type=int, default=300_000)
    ap.add_argument("--votes", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    rnd = random.Random(5)
    engine = db.create_db_engine(args.db)
    db.migrate(engine)
    load_units(engine, {"units": [{"id": "q", "name": "Quận"}] + [
        {"id": w, "name": f"Phường {w}", "parent": "q"} for w in WARDS]})
    for w in WARDS:
        register_terminal(engine, f"t-{w}", w, w)
    officers = {f"CB-{n:02d}": WARDS[n % len(WARDS)] for n in range(60)}
    for code, unit in officers.items():
        add_officer(engine, code, f"Cán bộ {code}", unit)

    text, codes = make_csv(args.dossiers, officers, rnd)
    path = Path(tempfile.mkdtemp()) / "hs.csv"
    path.write_text(text, encoding="utf-8")
    t = time.perf_counter()
    list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    read_only = args.dossiers / (time.perf_counter() - t)
    t = time.perf_counter()
    summary = dossiers.import_file(engine, path)
    first = args.dossiers / (time.perf_counter() - t)
    t = time.perf_counter()
    again = dossiers.import_file(engine, path)
    second = args.dossiers / (time.perf_counter() - t)
    assert summary.added == args.dossiers and again.unchanged == args.dossiers
    print(f"dossier import: {first:,.0f} rows/s (again, unchanged: {second:,.0f} rows/s; "
          f"baseline csv.reader alone: {read_only:,.0f} rows/s)")

    half = args.votes // 2
    by_ward = {w: [c for c, u in officers.items() if u == w] for w in WARDS}
    plain = {w: list(votes_for(None, half // len(WARDS), by_ward[w], rnd)) for w in WARDS}
    ward_codes = {w: codes[i::len(WARDS)] for i, w in enumerate(WARDS)}
    with_codes = {w: list(votes_for(ward_codes[w], half // len(WARDS), by_ward[w], rnd))
                  for w in WARDS}
    # C: with codes, but the coverage and procedure rollups not kept (their cost alone)
    unkept = {w: list(votes_for(ward_codes[w][1::2], half // len(WARDS) // 2, by_ward[w], rnd))
              for w in WARDS}
    kept = {w: list(votes_for(ward_codes[w][::2], half // len(WARDS) // 2, by_ward[w], rnd))
            for w in WARDS}
    rates: dict[str, list[float]] = {"a": [], "b": [], "kept": [], "unkept": []}
    for i, w in enumerate(WARDS):  # alternated, so neither side always meets the larger table
        order = (("a", plain), ("b", with_codes)) if i % 2 == 0 else (("b", with_codes),
                                                                       ("a", plain))
        for side, votes in order:
            rates[side].append(ingest(engine, f"t-{w}", w, votes[w]))
        for side, votes in ((("kept", kept), ("unkept", unkept)) if i % 2 else
                            (("unkept", unkept), ("kept", kept))):
            with _rollups_kept(side == "kept"):
                rates[side].append(ingest(engine, f"t-{w}", w, votes[w]))
    a, b = statistics.mean(rates["a"]), statistics.mean(rates["b"])
    print(f"ingest A/B (batches of 500): without dossier codes {a:,.0f} votes/s, with "
          f"{b:,.0f} votes/s ({(b / a - 1) * 100:+.1f} %)")
    k, u = statistics.mean(rates["kept"]), statistics.mean(rates["unkept"])
    print(f"ingest A/B, votes with dossier codes: coverage/procedure rollups kept {k:,.0f} "
          f"votes/s, not kept {u:,.0f} votes/s ({(k / u - 1) * 100:+.1f} %)")

    from fastapi.testclient import TestClient

    from district.app import create_app
    from district.dashboard.accounts import add_user

    add_user(engine, "bench", PASSWORD, "district")
    client = TestClient(create_app(engine=engine))
    assert client.post("/login", data={"username": "bench", "password": PASSWORD},
                       follow_redirects=False).status_code == 303
    for kind, q in (("month", "period=month&date=2026-06-15"),
                    ("year", "period=year&date=2026-06-15")):
        for name, url in (("officers page", f"/dashboard/officers?unit=q&{q}"),
                          ("officers JSON", f"/api/v1/dashboard/officers?unit=q&{q}"),
                          ("procedures JSON", f"/api/v1/dashboard/procedures?unit=q&{q}"),
                          ("coverage JSON", f"/api/v1/dashboard/coverage?unit=q&{q}"),
                          ("one officer page", f"/dashboard/officers/CB-07?{q}")):
            def get(url=url):
                assert client.get(url).status_code == 200
            p50, p95 = timed(get, args.runs)
            print(f"{name:18} {kind:5}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
