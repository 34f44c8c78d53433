"""Scheduler latency and idleness, measured on real processes. Prints numbers; asserts nothing.

    python tests/benchmarks/bench_daemon.py            # all scenarios (about 2.5 minutes)
    python tests/benchmarks/bench_daemon.py --quick    # shorter runs

Scenarios:
  one     one `every 1s` shell job under `cronui --no-ui`: start lateness (started_at - slot)
  many    1,000 shell jobs due in the same second (`*/10 * * * * *`): lateness of materialization and start
          (bench_burst.py measures one such burst against a bare-asyncio floor)
  poke    `cronui jobs run NAME --wait` against an idle daemon: queued -> started
  idle    an idle daemon for 60 s: loop wake-ups and OS context switches per minute (more in bench_idle.py)
  peer    APScheduler 3 (AsyncIOScheduler, a cron job every second running the same shell command), same
          measure as `one`, in the same run, for a ratio
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Daemon, ctx_switches, pct


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(values)} p50={pct(values, 0.5):.1f} ms p99={pct(values, 0.99):.1f} ms "
        f"max={max(values):.1f} ms mean={statistics.fmean(values):.1f} ms"
    )


def bench_one(seconds: float) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp))
        d.cli("jobs", "add", "tick", "--schedule", "every 1s", "--shell", "true")
        d.start()
        time.sleep(seconds)
        d.stop()
        with d.db() as con:
            rows = con.execute(
                "SELECT started_at - scheduled_for FROM runs WHERE trigger = 'schedule' AND started_at IS NOT NULL"
            ).fetchall()
        return [float(r[0]) for r in rows[1:]]  # the first slot may fall inside start-up


def bench_many(jobs: int, slots: int, cap: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), CRONUI_MAX_CONCURRENT=str(cap))
        d.cli("jobs", "add", "seed", "--schedule", "@yearly", "--shell", "true")
        # add the jobs straight through the store API: 1,000 CLI processes would take minutes
        code = (
            "import asyncio,sys\n"
            "from cronui.config import load_settings\n"
            "from cronui.engine.clock import SystemClock\n"
            "from cronui.engine.control import Control\n"
            "from cronui.model import Job, TargetKind\n"
            "from cronui.store import make_store\n"
            "async def main():\n"
            "    s = load_settings(); st = make_store(s.db); await st.open(); c = Control(st, s, SystemClock())\n"
            f"    for i in range({jobs}):\n"
            "        await c.add_job(Job(name=f'job{i:04d}', schedule='*/10 * * * * *', timezone='UTC',"
            " kind=TargetKind.SHELL, target={'command': 'true'}))\n"
            "    await st.close()\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", code], env=d.env, check=True)
        d.start()
        time.sleep(10 * slots + 5)
        d.stop()
        with d.db() as con:
            rows = con.execute(
                "SELECT scheduled_for, queued_at - scheduled_for, started_at - scheduled_for, finished_at "
                "FROM runs WHERE trigger = 'schedule' AND started_at IS NOT NULL"
            ).fetchall()
        by_slot: dict[int, list[tuple]] = {}
        for r in rows:
            by_slot.setdefault(r[0], []).append(r)
        full = [s for s, rs in sorted(by_slot.items()) if len(rs) >= jobs][1:]  # skip a start-up slot
        queued = [float(r[1]) for s in full for r in by_slot[s]]
        started = [float(r[2]) for s in full for r in by_slot[s]]
        drained = [max(r[3] for r in by_slot[s]) - s for s in full]
        print(f"  max_concurrent {cap}: slots measured: {len(full)} x {jobs} jobs")
        print("  " + summary("materialized (queued_at - slot)", queued))
        print("  " + summary("started (started_at - slot)", started))
        print(f"  all {jobs} runs of a slot finished after: " + ", ".join(f"{x / 1000:.2f} s" for x in drained))


def bench_poke(times: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp))
        d.cli("jobs", "add", "now", "--schedule", "@yearly", "--shell", "true")
        d.start()
        out = []
        for _ in range(times):
            time.sleep(0.3)
            run = json.loads(d.cli("jobs", "run", "now", "--wait", "--json"))
            with d.db() as con:
                q, s = con.execute("SELECT queued_at, started_at FROM runs WHERE id = ?", (run["id"],)).fetchone()
            out.append(float(s - q))
        d.stop()
        return out


def bench_idle(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp))
        d.cli("jobs", "add", "yearly", "--schedule", "@yearly", "--shell", "true")
        d.start()
        assert d.proc is not None
        time.sleep(2)
        c0 = ctx_switches(d.proc.pid)
        time.sleep(seconds)
        c1 = ctx_switches(d.proc.pid)
        last = d.stop()
        per_min = 60 / seconds
        print(
            f"  loop wake-ups: {last.get('wakeups')} in {last.get('uptime_s')} s of uptime (lease renewal every 10 s)"
        )
        print(f"  OS context switches (all threads): {(c1 - c0) * per_min:.0f} per minute")


async def _peer(seconds: float) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    lateness: list[float] = []
    sched = AsyncIOScheduler(timezone="UTC")

    async def job() -> None:
        job_obj = sched.get_job("tick")
        del job_obj
        p = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true")
        await p.wait()

    from apscheduler.events import EVENT_JOB_SUBMITTED

    def on_submit(ev) -> None:  # type: ignore[no-untyped-def]
        now = time.time()
        for t in ev.scheduled_run_times:
            lateness.append((now - t.timestamp()) * 1000)

    sched.add_listener(on_submit, EVENT_JOB_SUBMITTED)
    sched.add_job(job, "cron", second="*", id="tick", max_instances=1)
    sched.start()
    await asyncio.sleep(seconds)
    sched.shutdown(wait=False)
    return lateness[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["one", "many", "poke", "idle", "peer"])
    args = ap.parse_args()
    secs = 10 if args.quick else 30
    print(f"cronui benchmark · {os.cpu_count()} cores · python {sys.version.split()[0]}")
    if args.only in (None, "one", "peer"):
        ours = bench_one(secs)
        print(summary("one 1-second job, start lateness (cronui daemon)", ours))
        try:
            theirs = asyncio.run(_peer(secs))
        except ImportError:
            print("peer: APScheduler not installed (pip install 'apscheduler<4')")
        else:
            print(summary("one 1-second job, start lateness (APScheduler 3 AsyncIOScheduler)", theirs))
            if ours and theirs:
                print(f"ratio cronui/APScheduler p50: {pct(ours, 0.5) / max(pct(theirs, 0.5), 1e-9):.2f}")
    if args.only in (None, "many"):
        print("1,000 jobs due in the same second:")
        for cap in (16, 256):
            bench_many(1000, 2 if args.quick else 3, cap)
    if args.only in (None, "poke"):
        print(
            summary("jobs run --wait against an idle daemon (queued -> started)", bench_poke(10 if args.quick else 20))
        )
    if args.only in (None, "idle"):
        print("idle daemon:")
        bench_idle(20 if args.quick else 60)


if __name__ == "__main__":
    main()
