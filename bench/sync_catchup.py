"""Catch-up benchmark: a terminal that was offline comes back with 100,000 votes.

Measures, in the same run and against the same local ``district serve`` (SQLite):

- ``kiosk sync --once`` uploading the whole backlog (batches of ``sync.batch_size``, 500),
  wall clock of the whole command (process start, claims, uploads, settles, final heartbeat);
- the naive baseline, one POST per vote, through the same client and store (claim 1, POST,
  settle 1). It is too slow to run 100,000 times, so a sample of ``--sample`` votes is timed
  and extrapolated linearly to the backlog (the report says so).

Writes bench/RESULTS-sync.md. Usage: ``.venv/bin/python bench/sync_catchup.py [--votes N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from kiosk import clock
from kiosk.store import VoteStore
from kiosk.sync.client import ServerClient
from kiosk.vote import Source, iso, new_vote

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "RESULTS-sync.md"
TARGET_SPEEDUP, TARGET_SECONDS = 20, 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(store: VoteStore, count: int) -> None:
    """``count`` real votes (own UUID, clock readings, seq), 10,000 per transaction."""
    instant = clock.now()
    for start in range(0, count, 10_000):
        size = min(10_000, count - start)
        rows = []
        for i in range(size):
            vote = new_vote(1 + (start + i) % 3, 3, Source.GPIO, instant)
            rows.append((vote.id, store.terminal_id, vote.level, 3, "gpio",
                         iso(vote.recorded_at), int(vote.clock_synced), vote.boot_id,
                         vote.monotonic_ns + start + i))
        with store.write() as conn:
            conn.executemany("INSERT INTO votes (id, terminal_id, level, scale, source,"
                             " recorded_at, clock_synced, boot_id, monotonic_ns)"
                             " VALUES (?,?,?,?,?,?,?,?,?)", rows)


def district(env: dict, *args: str) -> str:
    out = subprocess.run([str(BIN / "district"), *args], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout


def naive_baseline(store: VoteStore, url: str, token: str, terminal_id: str) -> float:
    """Seconds for one POST per vote over the whole sample, same session and store path."""
    with ServerClient(url, token, terminal_id, timeout_s=10) as client:
        started = time.perf_counter()
        while True:
            votes = store.claim(1)
            if not votes:
                break
            answer = client.upload(votes)
            store.settle(answer.synced, answer.rejected)
        return time.perf_counter() - started


def machine() -> dict:
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                      if line.startswith("Model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor(),
            "loadavg_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "kernel": platform.release(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000, help="naive POSTs actually timed")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS-sync.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sync-catchup-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "DISTRICT_DB": f"sqlite:///{tmp / 'district.db'}",
               "DISTRICT_LANG": "en"}
        tokens = {}
        for terminal in ("bench-batched", "bench-naive"):
            out = district(env, "terminals", "add", terminal, "--unit", "bench-unit")
            tokens[terminal] = out.strip().splitlines()[-1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(BIN / "district"), "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=(tmp / "serve.log").open("wb"))
        try:
            for _ in range(300):
                try:
                    if requests.get(url + "/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            batched_db = tmp / "batched.db"
            naive_db = tmp / "naive.db"
            with VoteStore(batched_db, "bench-batched") as store:
                fill(store, args.votes)
            with VoteStore(naive_db, "bench-naive") as store:
                fill(store, args.sample)

            config = tmp / "kiosk.toml"
            config.write_text("")
            kenv = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
            kenv.update({"KIOSK_CONFIG": str(config), "KIOSK_LANG": "en",
                         "KIOSK_TERMINAL__ID": "bench-batched",
                         "KIOSK_STORAGE__PATH": str(batched_db),
                         "KIOSK_GPIO__PIN_FACTORY": "mock", "KIOSK_SERVER__URL": url,
                         "KIOSK_SERVER__TOKEN": tokens["bench-batched"]})
            print(f"kiosk sync --once: {args.votes} votes …", file=sys.stderr)
            started = time.perf_counter()
            run = subprocess.run([str(BIN / "kiosk"), "sync", "--once"], env=kenv,
                                 capture_output=True, text=True)
            batched_s = time.perf_counter() - started
            if run.returncode != 0:
                print(run.stdout, run.stderr, file=sys.stderr)
                return 1

            print(f"naive baseline: {args.sample} one-vote POSTs …", file=sys.stderr)
            with VoteStore(naive_db, "bench-naive") as store:
                naive_sample_s = naive_baseline(store, url, tokens["bench-naive"], "bench-naive")
            stats = json.loads(district(env, "stats", "--json"))
        finally:
            server.terminate()
            server.wait(30)

    assert stats["by_terminal"]["bench-batched"] == args.votes, stats
    assert stats["by_terminal"]["bench-naive"] == args.sample, stats
    naive_s = naive_sample_s / args.sample * args.votes
    speedup = naive_s / batched_s
    result = {
        "votes": args.votes, "batched_s": round(batched_s, 2),
        "batched_votes_per_s": round(args.votes / batched_s),
        "naive_sample": args.sample, "naive_sample_s": round(naive_sample_s, 2),
        "naive_extrapolated_s": round(naive_s, 1),
        "naive_votes_per_s": round(args.sample / naive_sample_s),
        "speedup": round(speedup, 1),
        "ok": speedup >= TARGET_SPEEDUP and batched_s < TARGET_SECONDS,
        **machine(),
    }
    print(json.dumps(result, indent=2))
    if not args.no_write:
        RESULTS.write_text(report(result))
        print(f"written {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0 if result["ok"] else 1


def report(r: dict) -> str:
    verdict = "met" if r["ok"] else "NOT met"
    naive = f"{r['naive_extrapolated_s']} s (extrapolated)"
    return f"""# Sync catch-up benchmark

`bench/sync_catchup.py`: a terminal comes back with a backlog of {r['votes']:,} votes and
`kiosk sync --once` uploads it to a local `district serve` (SQLite, one process), beside the
naive baseline of one POST per vote, measured in the same run against the same server.

| | time for {r['votes']:,} votes | votes/s |
| --- | ---: | ---: |
| `kiosk sync --once` (batches of 500) | **{r['batched_s']} s** | {r['batched_votes_per_s']:,} |
| naive: one POST per vote | {naive} | {r['naive_votes_per_s']:,} |

**Speed-up: {r['speedup']}×** (target ≥ {TARGET_SPEEDUP}× and under {TARGET_SECONDS} s:
{verdict}).

- The batched time is the wall clock of the whole `kiosk sync --once` command: process start,
  `return_inflight`, 200 × (claim, POST, settle in the kiosk's SQLite), the progress bar and
  the final heartbeat. Afterwards `district stats --json` counts exactly {r['votes']:,} votes.
- The baseline runs the same client (`kiosk.sync.client.ServerClient`, one keep-alive
  `requests` session) and the same store path (claim 1, POST, settle 1). One POST per vote
  for 100,000 votes would take many minutes, so **{r['naive_sample']:,} one-vote POSTs were
  timed ({r['naive_sample_s']} s) and extrapolated linearly** to {r['votes']:,}.
- Server and agent share the machine (and its cores with whatever else ran at the time), so
  both numbers include the other's CPU use.

Machine: {r['nproc']} CPUs, {r['cpu']}; Python {r['python']}, Linux {r['kernel']};
run {r['date']}; load average (1 min) at the end of the run: {r['loadavg_1min']}
(other work on the same cores slows both sides).

Reproduce: `.venv/bin/python bench/sync_catchup.py` (about a minute).
"""


if __name__ == "__main__":
    sys.exit(main())
