"""The alerts' evaluation pass at 10,000 jobs and 1,000,000 runs: milliseconds per pass (goal <= 10 ms).
Prints numbers.

    python tests/benchmarks/bench_alerts.py [--jobs 10000] [--runs 1000000] [--postgres URL]

Every job is watched (`[alerts]` late 5m, overrun 1h, no_success 1d: the widest a pass can be), has about
100 finished runs over the last 8 hours (most succeeded) and one pending slot ahead; 50 slots are late and
100 runs overrun, so the first pass opens 150 episodes. Then, in the steady state (nothing new), timed over
repeated calls: the one evaluation query (`store.alert_candidates`) of a pass every second, and with
no_success (looked for once a minute: engine/alerts.py, LAPSES_EVERY_MS), and a whole pass of the watcher
(evaluate, route what is new, claim the sends that are due) of each sort, beside a `SELECT 1` through the
same store (the floor). SQLite always; PostgreSQL too with `--postgres` or CRONUI_TEST_POSTGRES_URL set (a
schema of its own, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg

sys.path.append(str(Path(__file__).resolve().parents[2]))  # tests.benchmarks

from cronui.engine.alerts import PASS_EVERY_MS, Watcher
from cronui.engine.clock import FakeClock
from cronui.model.alerts import AlertDefaults
from cronui.store.base import Store
from cronui.store.postgres import PostgresStore, split_url
from tests.benchmarks.bench_store import seeded_sqlite

NOW = 1_780_000_000_000
MIN = 60_000
DEFAULTS = AlertDefaults(late_s=300, overrun_s=3600, no_success_s=86_400)
JOB_COLUMNS = ["name", "schedule", "timezone", "kind", "target", "created_at", "updated_at", "next_run_at"]
RUN_COLUMNS = ["job_id", "trigger", "scheduled_for", "status", "queued_at", "started_at", "finished_at", "duration_ms"]
LATE, OVERRUN = 50, 100


def jobs(n: int) -> list[tuple[Any, ...]]:
    at = NOW - 86_400_000
    return [
        (f"job{i:05d}", "*/5 * * * *", "UTC", "shell", '{"command": "true"}', at, at, NOW + 10 * MIN + i)
        for i in range(n)
    ]


def runs(n_jobs: int, n_runs: int) -> Iterator[tuple[Any, ...]]:
    """Finished runs (about n_runs / n_jobs per job, 5 minutes apart, ending now), then each job's pending
    slot ahead, the late slots and the overrunning runs."""
    rng = random.Random(1)
    statuses = ["succeeded"] * 17 + ["failed", "timed_out", "skipped"]
    per_job = max(1, n_runs // n_jobs)
    for i in range(n_runs):
        job, k = 1 + i % n_jobs, i // n_jobs
        slot = NOW - (per_job - k) * 5 * MIN + job
        yield (job, "schedule", slot, rng.choice(statuses), slot, slot + 5, slot + 1005, 1000)
    for job in range(1, n_jobs + 1):
        late = job <= LATE
        slot = NOW - 10 * MIN + job + 1 if late else NOW + 5 * MIN + job
        yield (job, "schedule", slot, "pending", slot, None, None, None)
    for job in range(1, OVERRUN + 1):
        start = NOW - 2 * 3_600_000 + job + 2
        yield (job, "manual", start, "running", start, start, None, None)


def seed_sqlite(path: Path, n_jobs: int, n_runs: int) -> None:
    con = sqlite3.connect(path)
    con.executemany(
        f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join('?' * len(JOB_COLUMNS))})", jobs(n_jobs)
    )
    con.executemany(
        f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
        runs(n_jobs, n_runs),
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def seed_postgres(url: str, n_jobs: int, n_runs: int) -> None:
    dsn, schema = split_url(url)
    con = await asyncpg.connect(dsn)
    try:
        await con.copy_records_to_table("jobs", records=jobs(n_jobs), columns=JOB_COLUMNS, schema_name=schema)
        await con.copy_records_to_table("runs", records=runs(n_jobs, n_runs), columns=RUN_COLUMNS, schema_name=schema)
        # as autovacuum leaves a live database: statistics, and the visibility map index-only scans read
        await con.execute(f'VACUUM ANALYZE "{schema}".jobs')
        await con.execute(f'VACUUM ANALYZE "{schema}".runs')
    finally:
        await con.close()


async def timed(name: str, fn: Callable[[], Awaitable[Any]], repeat: int = 30) -> float:
    await fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    med = statistics.median(samples)
    print(f"  {name:<56} median {med:8.2f} ms   p95 {sorted(samples)[int(0.95 * len(samples))]:8.2f} ms")
    return med


async def measure(store: Store, label: str) -> None:
    clock = FakeClock(NOW)
    watcher = Watcher(store, lambda: DEFAULTS, clock, "bench", lambda: None, lambda coro: coro.close())  # type: ignore[arg-type,return-value]
    t = time.perf_counter()
    opened, _closed = await watcher.evaluate(NOW)
    routed = await watcher.route(NOW)
    took = (time.perf_counter() - t) * 1000
    print(f"{label}: first pass opened {opened} episodes (routed {routed} sends) in {took:.1f} ms")
    await timed("SELECT 1 (the floor: one round trip through the store)", lambda: store.select_rows("SELECT 1", ()))
    soon = await timed(
        "the query of a pass (every second)", lambda: store.alert_candidates(NOW, DEFAULTS, lapses=False)
    )
    lapses = await timed("the query with no_success (once a minute)", lambda: store.alert_candidates(NOW, DEFAULTS))

    async def every_second() -> None:
        clock.advance(PASS_EVERY_MS / 1000)
        watcher._last_lapses = clock.now_ms()  # as between two looks for no_success
        await watcher.tick()

    whole = await timed("a whole pass: evaluate, route, claim sends", every_second)
    full = await timed("a whole pass with no_success", watcher.drain_now)
    verdict = "met" if whole <= 10 else "MISSED"
    print(f"  goal <= 10 ms per pass: {verdict} (query {soon:.2f} ms, pass {whole:.2f} ms; once a minute with")
    print(f"  no_success: query {lapses:.2f} ms, pass {full:.2f} ms)")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--postgres", default=os.environ.get("CRONUI_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = await seeded_sqlite(path, args.jobs, args.runs, seed_sqlite, "SQLite: ")
        await store.open()
        try:
            await measure(store, "SQLite")
        finally:
            await store.close()
    if not args.postgres:
        print("PostgreSQL: skipped (set --postgres URL or CRONUI_TEST_POSTGRES_URL)")
        return
    sep = "&" if "?" in args.postgres else "?"
    url = f"{args.postgres}{sep}schema=cronui_bench_{uuid.uuid4().hex[:12]}"
    pg = PostgresStore(url)
    await pg.open()
    try:
        t = time.perf_counter()
        await seed_postgres(url, args.jobs, args.runs)
        print(f"PostgreSQL: seeded {args.jobs:,} jobs and {args.runs:,} runs in {time.perf_counter() - t:.1f} s")
        await measure(pg, "PostgreSQL")
    finally:
        await pg.close()
        dsn, schema = split_url(url)
        con = await asyncpg.connect(dsn)
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await con.close()


if __name__ == "__main__":
    asyncio.run(main())
