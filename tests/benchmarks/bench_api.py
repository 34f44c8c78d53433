"""The HTTP API of `cronui serve` at 10,000 jobs: requests/s for `GET /api/v1/jobs`, and Server-Sent Events/s
to 10 clients of `GET /api/v1/events`. Prints numbers.

    python tests/benchmarks/bench_api.py [--jobs 10000] [--seconds 10] [--concurrency 4] [--clients 10]
                                         [--events 5000] [--json out.json]

The server is the real `cronui serve` in its own process, on a fresh SQLite file seeded with the jobs;
requests come from httpx in this process over loopback. The events are written to the store's event log
by this process (as another scheduler's would be) in batches of 100; each client counts what it gets
from the first event written to the last one received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cronui.model import EventKind, RunEvent
from cronui.store.sqlite import SQLiteStore

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = 1_780_000_000_000


async def seed(path: Path, jobs: int) -> None:
    store = SQLiteStore(str(path))  # creates the schema
    await store.open()
    await store.close()
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO jobs (name, schedule, timezone, kind, target, created_at, updated_at, next_run_at, enabled) "
        "VALUES (?, '*/5 * * * *', 'UTC', 'shell', '{\"command\": \"true\"}', ?, ?, ?, 0)",
        [(f"job{i:05d}", T0, T0, None) for i in range(jobs)],
    )
    con.commit()
    con.close()


def start_server(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`cronui serve` with its request log in a file (a pipe nobody reads would block it once full)."""
    env = {**os.environ, "CRONUI_API_TOKEN": TOKEN, "CRONUI_TIMEZONE": "UTC"}
    log = db.with_suffix(".log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronui", "--db", str(db), "serve", "--listen", "127.0.0.1:0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    for _ in range(600):
        m = re.search(r"serving http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            return proc, f"http://127.0.0.1:{m.group(1)}"
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the server did not start: {log.read_text()[-500:]!r}")


async def bench_jobs(url: str, seconds: float, concurrency: int, expected: int) -> dict[str, Any]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        first = await client.get("/api/v1/jobs")
        assert first.status_code == 200 and len(first.json()) == expected, first.status_code
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await client.get("/api/v1/jobs")
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "bytes": len(first.content),
    }


async def bench_events(url: str, db: Path, clients: int, events: int) -> dict[str, Any]:
    received = [0] * clients
    last_at = [0.0] * clients
    connected = asyncio.Event()
    open_count = 0

    async def client(i: int) -> None:
        nonlocal open_count
        async with (
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=None) as http,
            http.stream("GET", "/api/v1/events") as response,
        ):
            open_count += 1
            if open_count == clients:
                connected.set()
            async for line in response.aiter_lines():
                if line.startswith("data:") and '"event": "milestone"' in line:
                    received[i] += 1
                    last_at[i] = time.perf_counter()
                    if received[i] == events:
                        return

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.wait_for(connected.wait(), 30)
    await asyncio.sleep(0.5)  # every stream has primed its cursor
    store = SQLiteStore(str(db))
    await store.open()
    start = time.perf_counter()
    try:
        for base in range(0, events, 100):
            batch = [
                RunEvent(EventKind.MILESTONE, T0 + n, None, None, "", "bench", {"n": n})
                for n in range(base, min(events, base + 100))
            ]
            await store.append_events(batch)
            await asyncio.sleep(0)
        written = time.perf_counter() - start
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    finally:
        await store.close()
    elapsed = max(last_at) - start
    return {
        "clients": clients,
        "events": events,
        "written_in_s": round(written, 3),
        "all_delivered_in_s": round(elapsed, 3),
        "events_per_s_per_client": round(events / elapsed, 1),
        "events_per_s_total": round(events * clients / elapsed, 1),
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cronui.db"
        await seed(db, args.jobs)
        proc, url = start_server(db)
        try:
            jobs = await bench_jobs(url, args.seconds, args.concurrency, args.jobs)
            print(
                f"GET /api/v1/jobs at {args.jobs:,} jobs ({jobs['bytes']:,} bytes), {args.concurrency} at a time: "
                f"{jobs['requests_per_s']} requests/s (p50 {jobs['p50_ms']} ms, p99 {jobs['p99_ms']} ms)"
            )
            events = await bench_events(url, db, args.clients, args.events)
            print(
                f"GET /api/v1/events, {args.clients} clients, {args.events:,} events: all delivered in "
                f"{events['all_delivered_in_s']} s: {events['events_per_s_per_client']} events/s per client, "
                f"{events['events_per_s_total']} events/s in all"
            )
        finally:
            proc.terminate()
            proc.wait(30)
    if args.json:
        Path(args.json).write_text(json.dumps({"jobs": jobs, "events": events}, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
