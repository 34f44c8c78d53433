"""Heavy histories through the store: retention pruning beside lease renewals, and the overviews the API
and `cronui status` compute. Prints numbers.

    python tests/benchmarks/bench_store_heavy.py prune [--runs 8000] [--output-kib 64]
    python tests/benchmarks/bench_store_heavy.py stats [--runs 3000] [--output-kib 256]
    python tests/benchmarks/bench_store_heavy.py status [--runs 20000] [--output-kib 16]

prune: N finished runs older than the retention window, each with that much output, pruned with
`store.prune` while a lease renewal is issued every 100 ms: the prune's duration and the longest a
renewal waited. stats / status: N finished (stats) or pending (status) runs with that much output, and
one GET of /api/v1/stats or /api/v1/status on a real `cronui serve`: its time and peak memory growth.
Run it against another checkout with PYTHONPATH=/path/to/checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from cronui.model import Lease
from cronui.store.sqlite import SQLiteStore

sys.path.append(str(Path(__file__).resolve().parents[2]))  # tests.api (after PYTHONPATH: another checkout's cronui)
T0 = 1_780_000_000_000
DAY = 86_400_000


def seed(path: Path, runs: int, output_kib: int, jobs: int = 10, status: str = "succeeded", at: int = T0) -> None:
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO jobs (name, schedule, timezone, kind, target, created_at, updated_at, next_run_at) "
        "VALUES (?, '@yearly', 'UTC', 'shell', '{\"command\": \"true\"}', ?, ?, ?)",
        [(f"job{i}", T0, T0, T0 + DAY * 400) for i in range(jobs)],
    )
    out = "x" * (output_kib * 1024)
    con.executemany(
        "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, duration_ms,"
        " output) VALUES (?, 'manual', ?, ?, ?, ?, ?, ?, ?)",
        ((1 + i % jobs, at + i, status, at + i, at + i, at + i + 1000, 1000 + i % 97, out) for i in range(runs)),
    )
    if status == "pending":  # paused: the server's scheduler holds them (nothing starts meanwhile)
        con.execute("INSERT INTO state (key, value) VALUES ('paused', '1')")
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


async def bench_endpoint(path: Path, endpoint: str) -> None:
    """One GET on a real `cronui serve` (in this process, on a loopback port): its time and how much the
    process's peak memory grew."""
    from cronui.config import Settings
    from tests.api.conftest import running_api

    settings = Settings(db=str(path), timezone="UTC", timezone_source="bench")
    async with running_api(settings) as api:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.monotonic()
        r = await api.client.get(endpoint, timeout=600)
        took = time.monotonic() - t
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"GET {endpoint}: {r.status_code} in {took:.2f}s, peak RSS +{grew:.0f} MiB")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["prune", "stats", "status"])
    ap.add_argument("--runs", type=int)
    ap.add_argument("--output-kib", type=int)
    args = ap.parse_args()
    runs = args.runs or {"prune": 8000, "stats": 3000, "status": 20000}[args.what]
    kib = args.output_kib or {"prune": 64, "stats": 256, "status": 16}[args.what]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = SQLiteStore(path)
        await store.open()
        await store.close()
        if args.what == "prune":
            seed(path, runs, kib)
        else:  # runs of today (the server's retention leaves them be); status: runs waiting to start
            status = "pending" if args.what == "status" else "succeeded"
            seed(path, runs, kib, status=status, at=int(time.time() * 1000) - runs)
        print(f"{runs} {'pending' if args.what == 'status' else 'finished'} runs of {kib} KiB output")
        if args.what == "prune":
            store = SQLiteStore(path)
            await store.open()
            try:
                await bench_prune(store)
            finally:
                await store.close()
        else:
            await bench_endpoint(path, f"/api/v1/{args.what}")


if __name__ == "__main__":
    asyncio.run(main())
