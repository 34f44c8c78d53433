"""Throughput: N one-second shell jobs (`true`), cronui's daemon vs APScheduler 3.11, side by side. Prints numbers.

    python tests/benchmarks/bench_throughput.py                      # N=200 jobs, a 10 s window
    python tests/benchmarks/bench_throughput.py --jobs 1000 --window 10 --json out.json
    python tests/benchmarks/bench_throughput.py --quick              # N=50, 5 s: does it work?

Both sides run one after the other (never at once) as their own process, on the same clock, measured alike:
  - start, wait until ready (cronui: holds the scheduler lease; APScheduler: started), warm up 2 s;
  - the window is W whole seconds from a second boundary s0: slots s0 .. s0+W-1, N x W runs due;
  - CPU (utime+stime+cutime+cstime of the scheduler process, from /proc) and peak RSS (VmHWM) are read at the
    window's edges; the scheduler is stopped with SIGTERM 1.5 s after the window (in-flight runs may finish);
  - ran = runs of window slots that succeeded (exit 0) by then; on time = of those, the ones that started less
    than 1 s after their slot (before the job's next slot); lateness = start - slot, in ms, where start is
    cronui's started_at (the claim, just before the spawn) and APScheduler's entry into the job coroutine,
    both read as epoch milliseconds (time.time_ns() // 10**6, cronui's SystemClock);
  - backlog at stop = slots from s0 up to the SIGTERM that had not started; CPU per run = CPU seconds in the
    window / runs that started inside it.
cronui: `cronui apply` of a generated job file (`*/1 * * * * *`, shell `true`, UTC), CRONUI_MAX_CONCURRENT=N (>= 16),
`--no-ui --log-format text`, stdout to /dev/null. It persists every run to SQLite; APScheduler keeps nothing.
APScheduler: AsyncIOScheduler, CronTrigger(second="*"), max_instances=1, coalesce=False, misfire_grace_time=3600;
each job spawns `/bin/sh -c true` like cronui's shell executor (own session, stdout/stderr piped and read).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import Daemon, Run, cpu_seconds, now, pct, peak_rss_mb, sleep_until, spawn_shell, stop_process

WARMUP_S = 2.0
TAIL_S = 1.5  # stop mid-second, away from a slot boundary
SKIPPED = {"skipped", "missed"}  # cronui: overlap policy skip; APScheduler: max_instances, misfire


def measure(proc: subprocess.Popen[Any], window: int) -> dict[str, float]:
    """Warm up, then read CPU at the window's edges; send SIGTERM after the tail. Returns times and readings."""
    time.sleep(WARMUP_S)
    s0 = math.ceil(time.time())
    sleep_until(s0)
    c0 = cpu_seconds(proc.pid)
    sleep_until(s0 + window)
    c1, rss = cpu_seconds(proc.pid), peak_rss_mb(proc.pid)
    sleep_until(s0 + window + TAIL_S)
    stop = time.time()
    stop_process(proc)
    return {"s0": s0, "cpu_s": c1 - c0, "rss_mb": rss, "stop": stop}


def metrics(records: list[Run], jobs: int, window: int, m: dict[str, float]) -> dict[str, Any]:
    s0, s1, stop = m["s0"], m["s0"] + window, m["stop"]
    in_window = [r for r in records if s0 <= r.slot < s1]
    late = [round((r.start - r.slot) * 1000, 3) for r in in_window if r.start is not None]
    spawn = [round((r.spawned - r.slot) * 1000, 3) for r in in_window if r.spawned is not None]
    started_in_cpu_window = sum(1 for r in records if r.start is not None and s0 <= r.start < s1)
    due_by_stop = jobs * (math.floor(stop) - int(s0) + 1)
    by_stop = [r for r in records if s0 <= r.slot <= stop]
    started_by_stop = sum(1 for r in by_stop if r.start is not None and r.start <= stop)
    skipped_by_stop = sum(1 for r in by_stop if r.status in SKIPPED)
    ran = sum(1 for r in in_window if r.status == "succeeded")
    # on time: succeeded, and started before the job's next slot was due (less than 1 s late)
    on_time = sum(1 for r in in_window if r.status == "succeeded" and r.start is not None and r.start - r.slot < 1)
    return {
        "due": jobs * window,
        "ran": ran,
        "ran_pct": 100 * ran / (jobs * window),
        "on_time": on_time,
        "on_time_pct": 100 * on_time / (jobs * window),
        "skipped": sum(1 for r in in_window if r.status in SKIPPED),
        "late_p50_ms": pct(late, 0.5),
        "late_p99_ms": pct(late, 0.99),
        "late_max_ms": max(late, default=math.nan),
        "spawn_p50_ms": pct(spawn, 0.5),
        "spawn_p99_ms": pct(spawn, 0.99),
        "backlog_at_stop": due_by_stop - started_by_stop - skipped_by_stop,
        "runs_started_in_window": started_in_cpu_window,
        "cpu_s": m["cpu_s"],
        "cpu_pct_of_core": 100 * m["cpu_s"] / window,
        "cpu_ms_per_run": 1000 * m["cpu_s"] / max(started_in_cpu_window, 1),
        "peak_rss_mb": m["rss_mb"],
        "window_statuses": dict(Counter(r.status for r in in_window)),
    }


def bench_cronui(jobs: int, window: int, max_concurrent: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), CRONUI_MAX_CONCURRENT=str(max_concurrent))
        d.apply(
            "".join(
                f'[[job]]\nname = "j{i:05d}"\nschedule = "*/1 * * * * *"\ntimezone = "UTC"\nshell = "true"\n\n'
                for i in range(jobs)
            )
        )
        d.start(log=False)
        assert d.proc is not None
        m = measure(d.proc, window)
        records = d.schedule_runs()
        with d.db() as con:
            pending = con.execute("SELECT count(*) FROM runs WHERE status = 'pending'").fetchone()[0]
    out = metrics(records, jobs, window, m)
    out["pending_rows_at_stop"] = pending
    return out


def bench_apscheduler(jobs: int, window: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        dump, log = Path(tmp) / "runs.json", Path(tmp) / "peer.err"
        with open(log, "w") as err:  # APScheduler's own warnings (e.g. max_instances), like cronui's log
            proc = subprocess.Popen(
                [sys.executable, __file__, "--peer", str(jobs), str(dump)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"APScheduler peer did not start: {log.read_text()[-2000:]}")
            m = measure(proc, window)
        data = json.loads(dump.read_text())
    return metrics([Run(*r) for r in data["runs"]], jobs, window, m)


def peer(jobs: int, dump: str) -> None:
    """The APScheduler side: run until SIGTERM, let in-flight runs finish, dump (slot, start, status) per run."""
    import asyncio
    from collections import deque

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    runs: list[Run] = []
    slots: dict[str, deque[float]] = {}

    async def job(job_id: str) -> None:
        start, slot = now(), slots[job_id].popleft()
        spawned, rc = await spawn_shell("true")
        runs.append(Run(slot, start, "succeeded" if rc == 0 else "failed", spawned, now()))

    def on_event(ev: JobEvent) -> None:
        if ev.code == EVENT_JOB_SUBMITTED:  # runs before the job's task starts: a FIFO of its slots
            slots[ev.job_id].extend(t.timestamp() for t in ev.scheduled_run_times)  # type: ignore[attr-defined]
        elif ev.code == EVENT_JOB_MAX_INSTANCES:  # the slot is dropped (the previous run is still going)
            runs.extend(Run(t.timestamp(), None, "skipped", None, None) for t in ev.scheduled_run_times)  # type: ignore[attr-defined]
        else:
            runs.append(Run(ev.scheduled_run_time.timestamp(), None, "missed", None, None))  # type: ignore[attr-defined]

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # not loop.add_signal_handler: an overloaded loop's full wake-up pipe drops the signal (seen at N=1000)
        signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(stop.set))
        sched = AsyncIOScheduler(timezone="UTC")
        sched.add_listener(on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        for i in range(jobs):
            jid = f"j{i:05d}"
            slots[jid] = deque()
            sched.add_job(
                job,
                CronTrigger(second="*", timezone="UTC"),
                args=[jid],
                id=jid,
                max_instances=1,
                coalesce=False,
                misfire_grace_time=3600,
            )
        sched.start()
        print("ready", flush=True)
        await stop.wait()
        sched.pause()  # submit nothing new; shutdown() would cancel the runs in flight
        others = asyncio.all_tasks() - {asyncio.current_task()}  # in flight, started or not: let them finish
        if others:
            await asyncio.wait(others, timeout=30)
        sched.shutdown(wait=False)
        unstarted = [Run(s, None, "pending", None, None) for q in slots.values() for s in q]
        Path(dump).write_text(json.dumps({"runs": runs + unstarted}))

    asyncio.run(main())


ROWS = [
    ("due", "runs due in window (N x W)", "{:.0f}"),
    ("ran", "ran (succeeded)", "{:.0f}"),
    ("ran_pct", "ran, % of due", "{:.1f}"),
    ("on_time", "ran on time (< 1 s late)", "{:.0f}"),
    ("on_time_pct", "on time, % of due", "{:.1f}"),
    ("late_p50_ms", "lateness p50 (ms)", "{:.1f}"),
    ("late_p99_ms", "lateness p99 (ms)", "{:.1f}"),
    ("late_max_ms", "lateness max (ms)", "{:.1f}"),
    ("spawn_p50_ms", "process spawned - slot p50 (ms)", "{:.1f}"),
    ("spawn_p99_ms", "process spawned - slot p99 (ms)", "{:.1f}"),
    ("skipped", "skipped (overlap/max_instances)", "{:.0f}"),
    ("backlog_at_stop", "backlog at stop (due, not begun)", "{:.0f}"),
    ("runs_started_in_window", "runs started in window", "{:.0f}"),
    ("cpu_s", "CPU s in window (+children)", "{:.2f}"),
    ("cpu_pct_of_core", "CPU % of one core", "{:.1f}"),
    ("cpu_ms_per_run", "CPU ms per run", "{:.2f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.1f}"),
]


def table(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    lines = [f"{'metric':<32} {'cronui':>10} {'APScheduler':>12} {'ratio':>7}", "-" * 64]
    for key, label, fmt in ROWS:
        a, b = ours[key], theirs[key]
        ratio = f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"
        lines.append(f"{label:<32} {fmt.format(a):>10} {fmt.format(b):>12} {ratio:>7}")
    lines.append(f"window slots by status: cronui {ours['window_statuses']}; APScheduler {theirs['window_statuses']}")
    lines.append(f"cronui runs rows still pending at stop: {ours['pending_rows_at_stop']}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--peer":
        peer(int(sys.argv[2]), sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=200, help="N one-second jobs (default 200)")
    ap.add_argument("--window", type=int, default=10, help="measured window, whole seconds (default 10)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    ap.add_argument("--quick", action="store_true", help="N=50, W=5")
    args = ap.parse_args()
    jobs, window = (50, 5) if args.quick else (args.jobs, args.window)
    try:
        import apscheduler
    except ImportError:
        raise SystemExit("needs APScheduler 3: pip install -e '.[bench]'") from None

    max_concurrent = max(jobs, 16)
    meta = {
        "jobs": jobs,
        "window": window,
        "max_concurrent": max_concurrent,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "apscheduler_version": apscheduler.__version__,
    }
    print(
        f"throughput · {jobs} one-second jobs (`true`) · window {window} s after {WARMUP_S:.0f} s warm-up · "
        f"cronui max_concurrent {max_concurrent} · {meta['cores']} cores · python {meta['python']} · "
        f"APScheduler {meta['apscheduler_version']}"
    )
    ours = bench_cronui(jobs, window, max_concurrent)
    theirs = bench_apscheduler(jobs, window)
    print(table(ours, theirs))
    if args.json:
        ratios = {
            key: ours[key] / theirs[key]
            for key, _, _ in ROWS
            if theirs[key] and not math.isnan(ours[key]) and not math.isnan(theirs[key])
        }
        out = {**meta, "cronui": ours, "apscheduler": theirs, "ratio_cronui_over_apscheduler": ratios}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
