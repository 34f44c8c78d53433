"""Burst: N shell jobs (`true`) all due in the same second, run once. cronui's daemon against the floor (a bare
asyncio loop spawning the same N processes the same way at the same instant) and APScheduler 3.11. Prints numbers.

    python tests/benchmarks/bench_burst.py                        # N=1000, at most 1000 at a time
    python tests/benchmarks/bench_burst.py --jobs 1000 --max-concurrent 256 --json out.json
    python tests/benchmarks/bench_burst.py --no-apscheduler        # cronui and the floor only

Each side runs alone as its own fresh process, one after the other; its slot is a whole second at least 2 s
after it is ready (the warm-up):
  cronui       `cronui apply` of N jobs `at <the slot>` (a one-shot, UTC, shell `true`) on a fresh SQLite file,
               then `cronui --no-ui --log-format text` (stdout to /dev/null), CRONUI_MAX_CONCURRENT=C;
               start = started_at (the claim of a batch of runs, before their spawns)
  floor        asyncio.run(): sleep until the slot, then N tasks, at most C at a time (a semaphore); each takes
               its start, then spawns `/bin/sh -c true` as cronui's shell executor does (own session, stdin from
               /dev/null, stdout and stderr piped and read to the end) and waits for it; on Python 3.11 the
               children are waited for with cronui's pidfd watcher, as in the daemon
  APScheduler  AsyncIOScheduler, N jobs with a DateTrigger at the slot, misfire_grace_time=3600, the same spawn;
               no concurrency limit, the stock child watcher; start = entry into the job coroutine
Measured: start - slot and process spawned - slot (ms) p50/p99/max; all finished = the last run's end - slot;
CPU seconds of the process and its children from 0.5 s before the slot until all have finished; peak RSS (VmHWM).
Every time is epoch milliseconds read as cronui's SystemClock reads them (time.time_ns() // 10**6).
cronui's start is a batch claim made before any of its spawns, the floor's is taken just before each spawn:
`process spawned` is the like-for-like row. The ratio cronui / floor is printed for both (target: p99 <= 1.5x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Daemon, Run, cpu_seconds, now, pct, peak_rss_mb, read_line, sleep_until, spawn_shell

WARMUP_S = 2.0
TARGET = 1.5  # cronui p99 / floor p99


def at_text(slot: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(slot))


def metrics(runs: list[Run], jobs: int, cpu_s: float, rss_mb: float) -> dict[str, Any]:
    late = [round((r.start - r.slot) * 1000, 3) for r in runs if r.start is not None]
    spawn = [round((r.spawned - r.slot) * 1000, 3) for r in runs if r.spawned is not None]
    ends = [r.finished - r.slot for r in runs if r.finished is not None]
    return {
        "runs": len(runs),
        "succeeded": sum(1 for r in runs if r.status == "succeeded"),
        "start_p50_ms": pct(late, 0.5),
        "start_p99_ms": pct(late, 0.99),
        "start_max_ms": max(late, default=math.nan),
        "spawn_p50_ms": pct(spawn, 0.5),
        "spawn_p99_ms": pct(spawn, 0.99),
        "spawn_max_ms": max(spawn, default=math.nan),
        "all_finished_s": max(ends) if len(ends) == jobs else math.nan,
        "cpu_s": cpu_s,
        "cpu_ms_per_run": 1000 * cpu_s / jobs,
        "peak_rss_mb": rss_mb,
    }


def bench_cronui(jobs: int, cap: int, lead: float, timeout: float) -> dict[str, Any]:
    slot = math.ceil(time.time() + lead)
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), CRONUI_MAX_CONCURRENT=str(cap))
        at = at_text(slot)
        d.apply(
            "".join(
                f'[[job]]\nname = "b{i:05d}"\nschedule = "at {at}"\ntimezone = "UTC"\nshell = "true"\n\n'
                for i in range(jobs)
            )
        )
        d.start(log=False)
        assert d.proc is not None
        left = slot - time.time()
        if left < WARMUP_S:
            d.stop()
            raise SystemExit(f"cronui was ready only {left:.1f} s before the slot: raise --lead (now {lead:g} s)")
        sleep_until(slot - 0.5)
        c0 = cpu_seconds(d.pid)
        con = sqlite3.connect(f"file:{d.db_path}?mode=ro", uri=True, timeout=30)
        try:
            while True:
                n = con.execute(
                    "SELECT count(*) FROM runs WHERE trigger = 'schedule' AND finished_at IS NOT NULL"
                ).fetchone()[0]
                if n >= jobs:
                    break
                if time.time() > slot + timeout or d.proc.poll() is not None:
                    raise SystemExit(f"cronui: {n} of {jobs} runs finished {time.time() - slot:.0f} s after the slot")
                time.sleep(0.25)
            c1, rss = cpu_seconds(d.pid), peak_rss_mb(d.pid)
            queued = [
                float(q)
                for (q,) in con.execute("SELECT queued_at - scheduled_for FROM runs WHERE trigger = 'schedule'")
            ]
        finally:
            con.close()
        d.stop()
        runs = d.schedule_runs()
    out = metrics(runs, jobs, c1 - c0, rss)
    out["queued_p50_ms"], out["queued_max_ms"] = pct(queued, 0.5), max(queued, default=math.nan)
    return out


def bench_peer(kind: str, jobs: int, cap: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        dump, log = Path(tmp) / "runs.json", Path(tmp) / "peer.err"
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--peer", kind, str(jobs), str(cap), str(dump)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            assert proc.stdin is not None
            if read_line(proc, 60) != "ready":
                raise SystemExit(f"{kind} did not start: {log.read_text()[-2000:]}")
            slot = math.ceil(time.time() + WARMUP_S)
            proc.stdin.write(f"{slot}\n")
            proc.stdin.flush()
            sleep_until(slot - 0.5)
            c0 = cpu_seconds(proc.pid)
            if read_line(proc, slot + timeout - time.time()) != "done":
                raise SystemExit(f"{kind} failed: {log.read_text()[-2000:]}")
            c1, rss = cpu_seconds(proc.pid), peak_rss_mb(proc.pid)
            proc.stdin.close()
            proc.wait(timeout=30)
        runs = [Run(*r) for r in json.loads(dump.read_text())["runs"]]
    return metrics(runs, jobs, c1 - c0, rss)


async def floor(jobs: int, cap: int, slot: float) -> list[Run]:
    """A bare loop: wake at the slot, spawn every run, at most `cap` at a time."""
    from cronui.engine.executors import children

    children.install()  # the daemon's way of waiting for children (the default on Python >= 3.12)
    sem = asyncio.Semaphore(cap)
    runs: list[Run] = []

    async def one() -> None:
        async with sem:
            start = now()
            spawned, rc = await spawn_shell("true")
            runs.append(Run(slot, start, "succeeded" if rc == 0 else "failed", spawned, now()))

    while (left := slot - now()) > 0:
        await asyncio.sleep(left)
    await asyncio.gather(*(one() for _ in range(jobs)))
    return runs


async def apscheduler_side(jobs: int, slot: float) -> list[Run]:
    from datetime import UTC, datetime

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.date import DateTrigger

    runs: list[Run] = []
    done = asyncio.Event()

    async def job() -> None:
        start = now()
        spawned, rc = await spawn_shell("true")
        runs.append(Run(slot, start, "succeeded" if rc == 0 else "failed", spawned, now()))
        if len(runs) == jobs:
            done.set()

    sched = AsyncIOScheduler(timezone="UTC")
    when = datetime.fromtimestamp(slot, UTC)
    for i in range(jobs):
        sched.add_job(job, DateTrigger(run_date=when, timezone="UTC"), id=f"b{i:05d}", misfire_grace_time=3600)
    sched.start()
    await done.wait()
    sched.shutdown(wait=False)
    return runs


def peer(kind: str, jobs: int, cap: int, dump: str) -> None:
    """A side in its own process: `ready`, read the slot (epoch s) from stdin, run, dump, `done`, wait for EOF."""
    if kind == "apscheduler":
        import apscheduler.schedulers.asyncio  # noqa: F401  (imported before `ready`, not during the warm-up)
    print("ready", flush=True)
    slot = float(sys.stdin.readline())
    runs = asyncio.run(floor(jobs, cap, slot) if kind == "floor" else apscheduler_side(jobs, slot))
    Path(dump).write_text(json.dumps({"runs": runs}))
    print("done", flush=True)
    sys.stdin.read()


ROWS = [
    ("runs", "runs", "{:.0f}"),
    ("succeeded", "succeeded", "{:.0f}"),
    ("start_p50_ms", "start - slot p50 (ms)", "{:.1f}"),
    ("start_p99_ms", "start - slot p99 (ms)", "{:.1f}"),
    ("start_max_ms", "start - slot max (ms)", "{:.1f}"),
    ("spawn_p50_ms", "process spawned - slot p50 (ms)", "{:.1f}"),
    ("spawn_p99_ms", "process spawned - slot p99 (ms)", "{:.1f}"),
    ("spawn_max_ms", "process spawned - slot max (ms)", "{:.1f}"),
    ("all_finished_s", "all finished after slot (s)", "{:.2f}"),
    ("cpu_s", "CPU s (+children)", "{:.2f}"),
    ("cpu_ms_per_run", "CPU ms per run", "{:.2f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.1f}"),
]


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def table(sides: dict[str, dict[str, Any]]) -> str:
    names = list(sides)
    head = f"{'metric':<32}" + "".join(f"{n:>12}" for n in names) + f"{'cronui/floor':>14}"
    lines = [head, "-" * len(head)]
    for key, label, fmt in ROWS:
        r = ratio(sides["cronui"][key], sides["floor"][key])
        cells = "".join(f"{fmt.format(sides[n][key]):>12}" for n in names)
        lines.append(f"{label:<32}{cells}{'-' if math.isnan(r) else f'{r:.2f}':>14}")
    c = sides["cronui"]
    q50, qmax = c["queued_p50_ms"], c["queued_max_ms"]
    lines.append(f"cronui materialized (queued_at - slot): p50 {q50:.0f} ms, max {qmax:.0f} ms")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--peer":
        peer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000, help="N jobs due in the same second (default 1000)")
    ap.add_argument("--max-concurrent", type=int, help="runs at a time, cronui and the floor alike (default N)")
    ap.add_argument("--lead", type=float, default=12, help="s from writing cronui's jobs to their slot (default 12)")
    ap.add_argument("--timeout", type=float, default=120, help="s after the slot to give up waiting (default 120)")
    ap.add_argument("--no-apscheduler", action="store_true", help="skip the APScheduler side")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args()
    jobs = args.jobs
    cap = args.max_concurrent or jobs
    aps_version = None
    if not args.no_apscheduler:
        try:
            import apscheduler
        except ImportError:
            raise SystemExit("the APScheduler side needs APScheduler 3: pip install -e '.[bench]'") from None
        aps_version = apscheduler.__version__
    print(
        f"burst · {jobs} jobs (`true`) due in the same second, once · max_concurrent {cap} (cronui and floor) · "
        f"{os.cpu_count()} cores · python {sys.version.split()[0]}"
        + (f" · APScheduler {aps_version}" if aps_version else "")
    )
    sides = {"cronui": bench_cronui(jobs, cap, args.lead, args.timeout)}
    sides["floor"] = bench_peer("floor", jobs, cap, args.timeout)
    if aps_version:
        sides["APScheduler"] = bench_peer("apscheduler", jobs, cap, args.timeout)
    print(table(sides))
    ratios = {k: ratio(sides["cronui"][k], sides["floor"][k]) for k in ("start_p99_ms", "spawn_p99_ms")}
    for key, what in (("spawn_p99_ms", "process spawned (like for like)"), ("start_p99_ms", "start")):
        verdict = "met" if ratios[key] <= TARGET else "NOT met"
        print(f"cronui p99 / floor p99, {what}: {ratios[key]:.2f}x (target <= {TARGET}x: {verdict})")
    if args.json:
        out = {
            "jobs": jobs,
            "max_concurrent": cap,
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "apscheduler_version": aps_version,
            **{k.lower(): v for k, v in sides.items()},
            "ratio_cronui_over_floor": {key: ratio(sides["cronui"][key], sides["floor"][key]) for key, _, _ in ROWS},
            "target_p99_ratio": TARGET,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
