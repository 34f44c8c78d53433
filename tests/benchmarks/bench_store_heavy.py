"""Heavy histories through the store: retention pruning beside lease renewals, and the overviews the API
and `cronui status` compute. Prints numbers.

    python tests/benchmarks/bench_store_heavy.py prune [--runs 8000] [--output-kib 64]
    python tests/benchmarks/bench_store_heavy.py stats [--runs 3000] [--output-kib 256]

prune: N finished runs older than the retention window, each with that much output, pruned with
`store.prune` while a lease renewal is issued every 100 ms: the prune's duration and the longest a
renewal waited. stats: the time and peak memory of `/api/v1/stats`' and `/api/v1/status`' store work.
Run it against another checkout with PYTHONPATH=/path/to/checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from cronui.model import Lease
from cronui.store.sqlite import SQLiteStore

T0 = 1_780_000_000_000
DAY = 86_400_000


def seed(path: Path, runs: int, output_kib: int, jobs: int = 10) -> None:
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO jobs (name, schedule, timezone, kind, target, created_at, updated_at, next_run_at) "
        "VALUES (?, '@yearly', 'UTC', 'shell', '{\"command\": \"true\"}', ?, ?, ?)",
        [(f"job{i}", T0, T0, T0 + DAY * 400) for i in range(jobs)],
    )
    out = "x" * (output_kib * 1024)
    con.executemany(
        "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, duration_ms,"
        " output) VALUES (?, 'schedule', ?, 'succeeded', ?, ?, ?, ?, ?)",
        ((1 + i % jobs, T0 + i, T0 + i, T0 + i, T0 + i + 1000, 1000 + i % 97, out) for i in range(runs)),
    )
    con.commit()
    con.close()


async def bench_prune(store: SQLiteStore) -> None:
    lease = Lease("bench", "host", 1, "", T0, T0 + 30_000)
    await store.acquire_lease(lease, T0, lambda _: True)
    waits: list[float] = []
    done = asyncio.Event()

    async def renewals() -> None:
        while not done.is_set():
            t = time.monotonic()
            await store.renew_lease("bench", T0, T0 + 30_000)
            waits.append(time.monotonic() - t)
            await asyncio.sleep(0.1)

    renewer = asyncio.create_task(renewals())
    await asyncio.sleep(0.2)
    t = time.monotonic()
    res = await store.prune(T0 + 100 * DAY, 30, 1000, 24)
    took = time.monotonic() - t
    done.set()
    await renewer
    print(f"pruned {res.runs} runs in {took:.2f}s; renewals: {len(waits)}, longest wait {max(waits):.3f}s")


async def bench_stats(path: Path) -> None:
    from cronui.api.app import create_app
    from cronui.config import Settings
    from cronui.engine.clock import SystemClock
    from cronui.engine.control import Control
    from cronui.reports import status_report

    settings = Settings(db=str(path), timezone="UTC", timezone_source="bench")
    store = SQLiteStore(path)
    await store.open()
    try:
        from httpx import ASGITransport, AsyncClient

        app = create_app(settings, store)  # type: ignore[call-arg]
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            for url in ("/api/v1/stats", "/api/v1/status"):
                before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                t = time.monotonic()
                r = await client.get(url)
                took = time.monotonic() - t
                grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
                print(f"GET {url}: {r.status_code} in {took:.2f}s, peak RSS +{grew:.0f} MiB")
        _ = (Control, SystemClock, status_report)
    finally:
        await store.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["prune", "stats"])
    ap.add_argument("--runs", type=int)
    ap.add_argument("--output-kib", type=int)
    args = ap.parse_args()
    runs = args.runs or (8000 if args.what == "prune" else 3000)
    kib = args.output_kib or (64 if args.what == "prune" else 256)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = SQLiteStore(path)
        await store.open()
        await store.close()
        seed(path, runs, kib)
        print(f"{runs} finished runs of {kib} KiB output")
        if args.what == "prune":
            store = SQLiteStore(path)
            await store.open()
            try:
                await bench_prune(store)
            finally:
                await store.close()
        else:
            await bench_stats(path)


if __name__ == "__main__":
    asyncio.run(main())
