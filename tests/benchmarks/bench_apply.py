"""Applying a job file of 10,000 jobs: how long each step takes. Prints numbers.

    python tests/benchmarks/bench_apply.py [--jobs 10000] [--profile]

Steps, on a fresh SQLite file: read + validate the file; plan against the store; Control.apply (one
transaction) for the first apply; the second apply of the same file (must find nothing to do); an
apply that changes a tenth of the jobs; export; and the whole `cronui apply FILE` command in a fresh
process, as a user runs it. --profile prints where the first apply spends its time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.jobfile import dump_toml, plan_apply, read_jobfile
from cronui.store.sqlite import SQLiteStore

SCHEDULES = ["*/5 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5", "@daily", "every 15m", "15 */4 * * *"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def job_file(n: int, variant: int = 0) -> str:
    """n jobs: mostly shell, some HTTP and agent ones, every tenth chaining to the one before."""
    out = []
    for i in range(n):
        sched = SCHEDULES[(i + (variant if i % 10 == 0 else 0)) % len(SCHEDULES)]
        lines = [
            "[[job]]",
            f'name = "job{i:05d}"',
            f'schedule = "{sched}"',
            f'timezone = "{ZONES[i % len(ZONES)]}"',
        ]
        if i % 20 == 1:
            lines.append(f'http = {{ url = "https://example.com/health/{i}", expect_status = 200 }}')
        elif i % 20 == 2:
            lines.append(
                'agent = { base_url = "http://127.0.0.1:11434/v1", model = "llama3", '
                f'message = "digest {i}", api_key_env = "OPENAI_API_KEY" }}'
            )
        else:
            lines.append(f'shell = "/usr/local/bin/task.sh --n {i}"')
            lines.append('env = { TOKEN = "${env:TOKEN}" }')
        lines += ['timeout = "5m"', "retries = 1", 'tags = ["bench"]']
        if i % 10 == 5:
            lines.append(f'on_failure = ["job{i - 1:05d}"]')
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def timed(label: str, seconds: float, n: int) -> None:
    print(f"  {label:<52} {seconds * 1000:9.1f} ms   ({seconds / n * 1e6:7.1f} µs/job)")


async def step(label: str, n: int, fn: Callable[[], Awaitable[Any]]) -> Any:
    t = time.perf_counter()
    result = await fn()
    timed(label, time.perf_counter() - t, n)
    return result


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--profile", action="store_true", help="profile the first Control.apply")
    args = ap.parse_args()
    n = args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        path = Path(tmp) / "jobs.toml"
        path.write_text(job_file(n))
        settings = Settings(db=str(db), timezone="UTC")
        store = SQLiteStore(db)
        await store.open()
        control = Control(store, settings, SystemClock())
        print(f"{n:,} jobs, file of {path.stat().st_size / 1e6:.1f} MB")

        async def read() -> Any:
            return read_jobfile(str(path), settings, SystemClock().now_ms())

        async def plan(jf: Any) -> Any:
            return plan_apply(jf, await store.list_jobs(), prune=True)

        total = time.perf_counter()
        jf = await step("read + validate the file", n, read)
        p = await step("plan (list jobs, diff)", n, lambda: plan(jf))
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        await step("Control.apply: create all (one transaction)", n, lambda: control.apply(p.creates, [], []))
        if prof:
            prof.disable()
        timed("first apply, total", time.perf_counter() - total, n)

        total = time.perf_counter()
        jf = await step("second apply: read + validate", n, read)
        p = await step("second apply: plan", n, lambda: plan(jf))
        assert p.empty, "the second apply of the same file must change nothing"
        timed("second apply, total (no changes, nothing written)", time.perf_counter() - total, n)

        path.write_text(job_file(n, variant=1))
        total = time.perf_counter()
        jf = await step("changed file: read + validate", n, read)
        p = await step("changed file: plan", n, lambda: plan(jf))
        await step(
            f"Control.apply: {len(p.updates):,} updates",
            n,
            lambda: control.apply(p.creates, [u.job for u in p.updates], p.removes),
        )
        timed("apply with a tenth changed, total", time.perf_counter() - total, n)

        async def export() -> str:
            return dump_toml(await store.list_jobs())[0]

        await step("export (list + TOML)", n, export)
        await store.close()

        env = {**os.environ, "CRONUI_DB": str(Path(tmp) / "cli.db"), "CRONUI_TIMEZONE": "UTC"}
        for label in ("`cronui apply FILE` in a new process: first", "`cronui apply FILE` in a new process: again"):
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "cronui", "apply", str(path)], env=env, capture_output=True, text=True
            )
            timed(label, time.perf_counter() - t, n)
            assert done.returncode == 0, done.stderr
        print("  last line:", done.stdout.strip().splitlines()[-1])
        if prof:
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
            print(s.getvalue())


if __name__ == "__main__":
    asyncio.run(main())
