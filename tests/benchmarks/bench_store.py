"""The queries the CLI and the TUI make, at 10,000 jobs and 1,000,000 runs. Prints numbers.

    python tests/benchmarks/bench_store.py [--runs 1000000] [--jobs 10000]

Each query is timed over repeated calls through the real SQLiteStore (aiosqlite), and compared with a
trivial `SELECT 1` through the same connection as the floor in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cronui.model import RunStatus
from cronui.model.records import ClaimLimits, RunFilter
from cronui.store.sqlite import SQLiteStore

T0 = 1_780_000_000_000


def seed(path: Path, jobs: int, runs: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.executemany(
        "INSERT INTO jobs (name, schedule, timezone, kind, target, created_at, updated_at, next_run_at) "
        "VALUES (?, '*/5 * * * *', 'UTC', 'shell', '{\"command\": \"true\"}', ?, ?, ?)",
        [(f"job{i:05d}", T0, T0, T0 + i) for i in range(jobs)],
    )
    rng = random.Random(1)
    statuses = ["succeeded"] * 17 + ["failed", "timed_out", "skipped"]
    batch = []
    for i in range(runs):
        slot = T0 + i * 300
        status = rng.choice(statuses)
        batch.append((rng.randrange(1, jobs + 1), slot, status, slot, slot + 5, slot + 1005, 1000))
        if len(batch) == 50_000:
            con.executemany(
                "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, "
                "duration_ms) VALUES (?, 'schedule', ?, ?, ?, ?, ?, ?)",
                batch,
            )
            batch.clear()
    if batch:
        con.executemany(
            "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, "
            "duration_ms) VALUES (?, 'schedule', ?, ?, ?, ?, ?, ?)",
            batch,
        )
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def timed(name: str, fn, repeat: int = 50) -> float:
    await fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    med = statistics.median(samples)
    print(f"  {name:<58} median {med:8.3f} ms   p95 {sorted(samples)[int(0.95 * len(samples))]:8.3f} ms")
    return med


async def seeded_sqlite(
    path: Path, jobs: int, runs: int, seed: Callable[[Path, int, int], None], label: str = ""
) -> SQLiteStore:
    """A SQLite file with cronui's schema, filled by `seed` (timed and said), and its store, not open."""
    store = SQLiteStore(path)
    await store.open()  # the schema, as cronui writes it
    await store.close()
    t = time.perf_counter()
    seed(path, jobs, runs)
    print(f"{label}seeded {jobs:,} jobs and {runs:,} runs in {time.perf_counter() - t:.1f} s")
    return store


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = await seeded_sqlite(path, args.jobs, args.runs, seed)
        await store.open()
        job_id = args.jobs // 2
        floor = await timed("SELECT 1 (the floor: one aiosqlite round trip)", lambda: store.fetch_one("SELECT 1"))
        q = await timed("a job's latest 50 runs (run history pane)", lambda: store.list_runs(RunFilter(job_id=job_id)))
        await timed("latest 50 runs across all jobs (runs view)", lambda: store.list_runs(RunFilter()))
        await timed(
            "latest 50 failed runs (:failed, runs list --status failed)",
            lambda: store.list_runs(RunFilter(statuses=[RunStatus.FAILED])),
        )
        await timed(
            "runs of the last 24 h (runs list --since 24h)",
            lambda: store.list_runs(RunFilter(since=T0 + args.runs * 300 - 86_400_000, limit=50)),
        )
        await timed("a job's last 20 outcomes (sparkline)", lambda: store.recent_statuses([job_id], 20))
        await timed("due jobs (scheduler)", lambda: store.due_jobs(T0 - 1))
        await timed("next wake-up (scheduler)", lambda: store.next_wakeup(T0))
        await timed(
            "claim with nothing due (dispatcher, a write transaction)",
            lambda: store.claim("bench", T0, 30_000, ClaimLimits(16)),
        )
        # 1,000 jobs in a full pool of one, each with a run waiting: the claim weighs them all, starts none
        with sqlite3.connect(path) as con:
            con.execute("UPDATE jobs SET pool = 'p', overlap = 'queue' WHERE id <= 1000")
            con.executemany(
                "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, not_before) "
                "VALUES (?, 'manual', ?, ?, ?, 0)",
                [(j, T0 + j, "running" if j == 1 else "pending", T0) for j in range(1, 1001)],
            )
        await timed(
            "claim with 1,000 runs waiting on a full pool (starts none)",
            lambda: store.claim("bench", T0, 30_000, ClaimLimits(16, pools={"p": 1})),
        )
        await timed("a job's stats (all time)", lambda: store.job_stats(job_id), repeat=10)
        await timed("list all jobs", lambda: store.list_jobs(), repeat=5)
        print(f"a job's latest runs: {q:.3f} ms = {q / floor:.1f}x the floor")
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
