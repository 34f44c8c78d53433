"""`GET /metrics` at 10,000 jobs and 1,000,000 runs on a real `cronui serve`, and what its scheduler feels
meanwhile. Prints numbers.

    python tests/benchmarks/bench_metrics.py [--runs 1000000] [--jobs 10000] [--max-jobs 1000]

A SQLite file is seeded (runs of the last four days, so the server's retention keeps them; jobs due in a
year, so nothing runs), then `cronui serve` runs in this process on a loopback port. First 2 s without a
scrape, for comparison, then two scrapes (the first reads the file cold), each timed. Meanwhile a `SELECT 1`
is sent through the server's store connection every 10 ms (as the scheduler's statements are) and a 1 ms
sleeper measures the event loop: the longest either waited is what a scrape costs the scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[2]))  # tests.api

DAY = 86_400_000


def seed(path: Path, jobs: int, runs: int) -> None:
    now = int(time.time() * 1000)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.executemany(
        "INSERT INTO jobs (name, schedule, timezone, kind, target, created_at, updated_at, next_run_at) "
        "VALUES (?, '@yearly', 'UTC', 'shell', '{\"command\": \"true\"}', ?, ?, ?)",
        [(f"job{i:05d}", now, now, now + 300 * DAY) for i in range(jobs)],
    )
    rng = random.Random(1)
    statuses = ["succeeded"] * 17 + ["failed", "timed_out", "skipped"]
    start, step = now - 4 * DAY, (4 * DAY) // max(runs, 1)
    sql = (
        "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, duration_ms, "
        "total_tokens, cost_usd, failure_kind) VALUES (?, 'schedule', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[Any, ...]] = []
    for i in range(runs):
        slot, status = start + i * step, rng.choice(statuses)
        kind = ("infra" if i % 3 == 0 else "job") if status == "failed" else None
        late, took = rng.randrange(0, 5000), rng.randrange(10, 600_000)
        tokens, cost = (1200, 0.01) if i % 4 == 0 else (None, None)
        batch.append(
            (rng.randrange(1, jobs + 1), slot, status, slot, slot + late, slot + late + took, took, tokens, cost, kind)
        )
        if len(batch) == 50_000:
            con.executemany(sql, batch)
            batch.clear()
    con.executemany(sql, batch)
    con.commit()
    con.execute("ANALYZE")
    con.close()


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


async def main() -> None:
    from cronui.config import Settings
    from tests.api.conftest import running_api
    from tests.benchmarks.bench_store import seeded_sqlite

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--max-jobs", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        await seeded_sqlite(path, args.jobs, args.runs, seed)
        settings = Settings(db=str(path), timezone="UTC", timezone_source="bench")
        settings.metrics.max_jobs = args.max_jobs
        async with running_api(settings) as api:
            state = api.state[0]
            state.metrics_reuse_s = 0
            done = asyncio.Event()
            watcher = asyncio.create_task(meanwhile(state.store, done))
            await asyncio.sleep(2)
            done.set()
            query_ms, stall_ms = await watcher
            print(f"no scrape, 2 s: the longest SELECT 1 {query_ms:.1f} ms, the longest loop stall {stall_ms:.1f} ms")
            for attempt in (1, 2):
                done = asyncio.Event()
                watcher = asyncio.create_task(meanwhile(state.store, done))
                t = time.perf_counter()
                r = await api.client.get("/metrics", timeout=600)
                took = time.perf_counter() - t
                done.set()
                query_ms, stall_ms = await watcher
                lines = r.text.count("\n")
                print(
                    f"GET /metrics {attempt}: {r.status_code} in {took:.2f} s ({lines:,} lines, "
                    f"{len(r.content) / 1024:.0f} KiB); meanwhile the longest SELECT 1 on the server's store "
                    f"connection {query_ms:.1f} ms, the longest loop stall {stall_ms:.1f} ms"
                )


if __name__ == "__main__":
    asyncio.run(main())
