"""`GET /metrics` at 10,000 jobs and 1,000,000 runs on a real `cronui serve`, and what its scheduler feels
meanwhile; and what the metrics' rollup costs the run write path. Prints numbers.

    python tests/benchmarks/bench_metrics.py [--runs 1000000] [--jobs 10000] [--max-jobs 1000] [--postgres URL]

SQLite always; PostgreSQL too with `--postgres` or CRONUI_TEST_POSTGRES_URL set (a schema of its own, dropped
afterwards). The database is seeded (runs of the last four days, so the server's retention keeps them; jobs due
in a year, so nothing runs) as an older cronui left it, and the rollup is seeded from it by the migration's
statements (timed: what an upgrade does once). Then `cronui serve` runs in this process on a
loopback port. First 2 s without a scrape, for comparison, and until the server's first retention pass has
ended (it reads every run, on its own connection), then scrapes, each timed: the first, the second,
and the median of 10 more after 100 runs ended between each (the fold a scrape does in steady state).
Meanwhile a `SELECT 1` is sent through the server's store every 10 ms (as the scheduler's statements are) and a
1 ms sleeper measures the event loop: the longest either waited is what a scrape costs the scheduler.

The write path: runs inserted, claimed and finished in batches of 20 (`finish_runs`, as the group commit writes
them), ms per run, on two fresh databases of a kind, one with the run-end trigger and one without, in turns (6
rounds of 500 runs on each; the median round).
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

sys.path.append(str(Path(__file__).resolve().parents[2]))  # tests.api

DAY = 86_400_000


JOB_COLUMNS = ["name", "schedule", "timezone", "kind", "target", "created_at", "updated_at", "next_run_at"]
RUN_COLUMNS = [
    *"job_id trigger scheduled_for status queued_at started_at finished_at duration_ms".split(),
    *"total_tokens cost_usd failure_kind".split(),
]


def job_rows(jobs: int, now: int) -> list[tuple[Any, ...]]:
    """Jobs due in a year: nothing runs while the benchmark does."""
    return [
        (f"job{i:05d}", "@yearly", "UTC", "shell", '{"command": "true"}', now, now, now + 300 * DAY)
        for i in range(jobs)
    ]


def run_rows(jobs: int, runs: int, now: int) -> Iterator[tuple[Any, ...]]:
    """Runs that ended over the last four days (the server's retention keeps them)."""
    rng = random.Random(1)
    statuses = ["succeeded"] * 17 + ["failed", "timed_out", "skipped"]
    start, step = now - 4 * DAY, (4 * DAY) // max(runs, 1)
    for i in range(runs):
        slot, status = start + i * step, rng.choice(statuses)
        kind = ("infra" if i % 3 == 0 else "job") if status == "failed" else None
        late, took = rng.randrange(0, 5000), rng.randrange(10, 600_000)
        tokens, cost = (1200, 0.01) if i % 4 == 0 else (None, None)
        job = rng.randrange(1, jobs + 1)
        yield (job, "schedule", slot, status, slot, slot + late, slot + late + took, took, tokens, cost, kind)


def seed(path: Path, jobs: int, runs: int) -> None:
    """The history as an older cronui left it (the run-end triggers off while it is written), then the rollup
    seeded from it as the migration does, timed."""
    from cronui.store import ddl, tallies_ddl

    now = int(time.time() * 1000)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("DROP TRIGGER runs_ended")
    marks = ", ".join("?" for _ in JOB_COLUMNS)
    con.executemany(f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({marks})", job_rows(jobs, now))
    marks = ", ".join("?" for _ in RUN_COLUMNS)
    con.executemany(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({marks})", run_rows(jobs, runs, now))
    con.commit()
    t = time.perf_counter()
    for statement in ddl.typed([tallies_ddl.TALLY_SEED, tallies_ddl.TALLY_TOTALS], ddl.SQLITE_TYPES):
        con.execute(statement)
    con.commit()
    print(f"SQLite: the migration's seed of the rollup from {runs:,} runs took {time.perf_counter() - t:.1f} s")
    for statement in ddl.split_sql(tallies_ddl.SQLITE_TRIGGERS):
        con.execute(statement)
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def seed_postgres(url: str, jobs: int, runs: int) -> None:
    """As `seed`, on PostgreSQL (COPY, the triggers disabled meanwhile)."""
    from cronui.store import ddl, tallies_ddl
    from cronui.store.postgres import split_url

    now = int(time.time() * 1000)
    dsn, schema = split_url(url)
    con = await asyncpg.connect(dsn, server_settings={"search_path": f'"{schema}"'})
    try:
        await con.execute("ALTER TABLE runs DISABLE TRIGGER USER")
        await con.copy_records_to_table("jobs", records=job_rows(jobs, now), columns=JOB_COLUMNS, schema_name=schema)
        records = run_rows(jobs, runs, now)
        await con.copy_records_to_table("runs", records=records, columns=RUN_COLUMNS, schema_name=schema)
        await con.execute("ALTER TABLE runs ENABLE TRIGGER USER")
        t = time.perf_counter()
        async with con.transaction():
            for statement in ddl.typed([tallies_ddl.TALLY_SEED, tallies_ddl.TALLY_TOTALS], ddl.PG_TYPES):
                await con.execute(statement)
        took = time.perf_counter() - t
        print(f"PostgreSQL: the migration's seed of the rollup from {runs:,} runs took {took:.1f} s")
        for table in ("jobs", "runs", "run_tallies"):  # as autovacuum leaves a live database
            await con.execute(f"VACUUM ANALYZE {table}")
    finally:
        await con.close()


async def meanwhile(store: Any, done: asyncio.Event) -> tuple[float, float]:
    """The longest `SELECT 1` on the store's connection and the longest loop stall (ms), until `done`."""
    longest_query = longest_stall = 0.0
    while not done.is_set():
        t = time.perf_counter()
        await store.fetch_one("SELECT 1")
        longest_query = max(longest_query, (time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await asyncio.sleep(0.001)
        longest_stall = max(longest_stall, (time.perf_counter() - t) * 1000 - 1)
        await asyncio.sleep(0.009)
    return longest_query, longest_stall


def running_rows(jobs: int, n: int, start: int) -> list[tuple[Any, ...]]:
    """Runs running, for the steady state between scrapes: they end by an update, as runs do."""
    now = int(time.time() * 1000)
    return [
        ((start + i) % jobs + 1, "manual", now + start + i, "running", now, now + 5, None, None, None, None, None)
        for i in range(n)
    ]


_INSERT = f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
_END = (
    "UPDATE runs SET status = 'succeeded', finished_at = started_at + 1000, duration_ms = 1000 WHERE status = 'running'"
)


async def scrapes(settings: Any, jobs: int, label: str) -> None:
    from tests.api.conftest import running_api

    async with running_api(settings) as api:
        state = api.state[0]
        state.metrics_reuse_s = 0
        done = asyncio.Event()
        watcher = asyncio.create_task(meanwhile(state.store, done))
        await asyncio.sleep(2)
        done.set()
        query_ms, stall_ms = await watcher
        print(
            f"{label}no scrape, 2 s: the longest SELECT 1 {query_ms:.1f} ms, the longest loop stall {stall_ms:.1f} ms"
        )
        t = time.perf_counter()  # the server's first retention pass reads every run: not a scrape's cost
        await asyncio.gather(*(t for t in asyncio.all_tasks() if t.get_name() == "cronui-retention"))
        print(f"{label}waited {time.perf_counter() - t:.1f} s more for the server's first retention pass to end")
        took_steady: list[float] = []
        for attempt in range(12):
            if attempt >= 2:
                async with state.store.transaction() as db:
                    for row in running_rows(jobs, 100, attempt * 100):
                        await db.execute(_INSERT, row)
                    await db.execute(_END)
            done = asyncio.Event()
            watcher = asyncio.create_task(meanwhile(state.store, done))
            t = time.perf_counter()
            r = await api.client.get("/metrics", timeout=600)
            took = time.perf_counter() - t
            done.set()
            query_ms, stall_ms = await watcher
            assert r.status_code == 200, r.text
            if attempt >= 2:
                took_steady.append(took)
                continue
            lines = r.text.count("\n")
            print(
                f"{label}GET /metrics {attempt + 1}: {took * 1000:.0f} ms ({lines:,} lines, "
                f"{len(r.content) / 1024:.0f} KiB); meanwhile the longest SELECT 1 on the server's store "
                f"{query_ms:.1f} ms, the longest loop stall {stall_ms:.1f} ms"
            )
        print(f"{label}GET /metrics after 100 runs ended, median of 10: {statistics.median(took_steady) * 1000:.0f} ms")


async def write_path(make: Any, label: str, drop: list[str]) -> None:
    """ms per run of insert, claim and finish (batches of 20), on two fresh databases of a kind, one with the
    run-end triggers and one without, in turns: 6 rounds of 500 runs each, the median round."""
    from cronui.model import Run, RunStatus, Trigger
    from cronui.model.records import ClaimLimits, RunEnd
    from tests.helpers import make_job

    stores = {"with the triggers": make("with"), "without": make("without")}
    for name, store in stores.items():
        await store.open()
        if name == "without":
            async with store.transaction() as db:
                for statement in drop:
                    await db.execute(statement)
    try:
        jobs = {name: await store.create_job(make_job("w")) for name, store in stores.items()}
        per_run: dict[str, list[float]] = {name: [] for name in stores}
        for rnd in range(12):
            name = list(stores)[rnd % 2]
            store, job = stores[name], jobs[name]
            t = time.perf_counter()
            for b in range(25):
                base = (rnd * 25 + b) * 20
                for i in range(20):
                    await store.insert_run(
                        Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=base + i, queued_at=base + i)
                    )
                claim = await store.claim("bench", base + 100, 30_000, ClaimLimits(20))
                ends = []
                for run, _ in claim.started:
                    run.status, run.finished_at, run.duration_ms = RunStatus.SUCCEEDED, base + 200, 100
                    ends.append(RunEnd(run))
                await store.finish_runs(ends)
            per_run[name].append((time.perf_counter() - t) * 1000 / 500)
        for name, ms in per_run.items():
            print(f"{label}write path {name}: {statistics.median(ms):.3f} ms per run (insert, claim, finish)")
    finally:
        for store in stores.values():
            await store.close()


async def main() -> None:
    from cronui.config import Settings
    from cronui.store.postgres import PostgresStore, split_url
    from cronui.store.sqlite import SQLiteStore
    from tests.benchmarks.bench_store import seeded_sqlite

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--max-jobs", type=int, default=1000)
    ap.add_argument("--postgres", default=os.environ.get("CRONUI_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        await seeded_sqlite(path, args.jobs, args.runs, seed, "SQLite: ")
        settings = Settings(db=str(path), timezone="UTC", timezone_source="bench")
        settings.metrics.max_jobs = args.max_jobs
        await scrapes(settings, args.jobs, "SQLite: ")
        sqlite_drop = ["DROP TRIGGER runs_ended"]
        await write_path(lambda name: SQLiteStore(Path(tmp) / f"{name}.db"), "SQLite: ", sqlite_drop)
    if not args.postgres:
        print("PostgreSQL: skipped (set --postgres URL or CRONUI_TEST_POSTGRES_URL)")
        return
    pg_drop = ["DROP TRIGGER runs_ended ON runs"]
    sep = "&" if "?" in args.postgres else "?"
    urls = {
        part: f"{args.postgres}{sep}schema=cronui_bench_{uuid.uuid4().hex[:12]}"
        for part in ("scrape", "with", "without")
    }
    try:
        pg = PostgresStore(urls["scrape"])
        await pg.open()  # the schema
        await pg.close()
        t = time.perf_counter()
        await seed_postgres(urls["scrape"], args.jobs, args.runs)
        print(f"PostgreSQL: seeded {args.jobs:,} jobs and {args.runs:,} runs in {time.perf_counter() - t:.1f} s")
        settings = Settings(db=urls["scrape"], timezone="UTC", timezone_source="bench")
        settings.metrics.max_jobs = args.max_jobs
        await scrapes(settings, args.jobs, "PostgreSQL: ")
        await write_path(lambda name: PostgresStore(urls[name]), "PostgreSQL: ", pg_drop)
    finally:
        for url in urls.values():
            dsn, schema = split_url(url)
            con = await asyncpg.connect(dsn)
            await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await con.close()


if __name__ == "__main__":
    asyncio.run(main())
