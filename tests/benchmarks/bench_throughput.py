"""Throughput: N one-second shell jobs, cronui's daemon vs APScheduler 3.11, side by side, each running the same
body. Prints numbers.

    python tests/benchmarks/bench_throughput.py                      # N=200 jobs, a 10 s window
    python tests/benchmarks/bench_throughput.py --jobs 1000 --window 10 --json out.json
    python tests/benchmarks/bench_throughput.py --quick              # N=50, 5 s: does it work?

The body (common.body): `/bin/sh -c 'date "+$CRONUI_SCHEDULED_FOR %s%N" >> "OUT/$CRONUI_JOB"'`, stdin from
/dev/null, stdout and stderr on pipes read to the end, in a session of its own: each execution appends its slot
and its own start (read by the child itself) to its job's file. Both sides run one after the other (never at
once) as their own process, on the same clock, measured alike:
  - start, wait until ready (cronui: holds the scheduler lease; APScheduler: started), warm up 2 s;
  - the window is W whole seconds from a second boundary s0: slots s0 .. s0+W-1, N x W slots due;
  - CPU (utime+stime+cutime+cstime of the scheduler process from /proc: itself and its reaped children) and
    peak RSS (VmHWM) are read at the window's edges; the scheduler is stopped with SIGTERM 1.5 s after the
    window (in-flight runs may finish);
  - executed = window slots with a line in their job's file (counted by the jobs; a slot twice is reported
    as a duplicate); on time = executed by a child that started less than 1 s after its slot;
  - lateness, child start = the child's own start - slot; lateness, scheduler = cronui's started_at (the
    claim, just before the spawn) or APScheduler's entry into the job coroutine - slot (ms, epoch clock);
  - persisted (cronui) = runs rows of window slots that succeeded: equal to executed when every run is kept;
  - CPU per run = CPU seconds in the window / executions whose child started inside it.
cronui: `cronui apply` of a generated job file (`*/1 * * * * *`, the body, UTC), CRONUI_MAX_CONCURRENT=N (>= 16),
`cronui --no-ui --log-format text` as a subprocess, stdout to /dev/null. It persists every run to SQLite.
APScheduler (persists nothing): AsyncIOScheduler, CronTrigger(second="*"), max_instances=1, coalesce=False,
misfire_grace_time=3600; each job spawns the body with asyncio.create_subprocess_exec (what its users write),
CRONUI_JOB and CRONUI_SCHEDULED_FOR set as cronui sets them.
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

from common import (
    ChildStarts,
    Daemon,
    Run,
    body,
    cpu_seconds,
    now,
    pct,
    peak_rss_mb,
    read_child_starts,
    sleep_until,
    slot_text,
    spawn_shell,
    stop_process,
)

WARMUP_S = 2.0
TAIL_S = 1.5  # stop mid-second, away from a slot boundary
SKIPPED = {"skipped", "missed"}  # cronui: overlap policy skip; APScheduler: max_instances, misfire


def load_average() -> float:
    return os.getloadavg()[0]


def measure(proc: subprocess.Popen[Any], window: int) -> dict[str, float]:
    """Warm up, then read CPU at the window's edges; send SIGTERM after the tail. Returns times and readings."""
    time.sleep(WARMUP_S)
    s0 = math.ceil(time.time())
    sleep_until(s0)
    c0, load0 = cpu_seconds(proc.pid), load_average()
    sleep_until(s0 + window)
    c1, rss = cpu_seconds(proc.pid), peak_rss_mb(proc.pid)
    sleep_until(s0 + window + TAIL_S)
    stop = time.time()
    stop_process(proc)
    return {"s0": s0, "cpu_s": c1 - c0, "rss_mb": rss, "stop": stop, "load": load0}


def metrics(records: list[Run], kids: ChildStarts, jobs: int, window: int, m: dict[str, float]) -> dict[str, Any]:
    s0, s1 = m["s0"], m["s0"] + window
    in_window = [r for r in records if s0 <= r.slot < s1]
    claim = [round((r.start - r.slot) * 1000, 3) for r in in_window if r.start is not None]
    child = kids.lateness_ms(s0, s1)
    executed = kids.executed(s0, s1)
    started_in_cpu_window = kids.started_between(s0, s1)
    return {
        "due": jobs * window,
        "executed": executed,
        "executed_pct": 100 * executed / (jobs * window),
        "duplicates": kids.duplicates(s0, s1),
        "on_time": sum(1 for late in child if late < 1000),
        "child_p50_ms": pct(child, 0.5),
        "child_p99_ms": pct(child, 0.99),
        "child_max_ms": max(child, default=math.nan),
        "claim_p50_ms": pct(claim, 0.5),
        "claim_p99_ms": pct(claim, 0.99),
        "skipped": sum(1 for r in in_window if r.status in SKIPPED),
        "runs_started_in_window": started_in_cpu_window,
        "cpu_s": m["cpu_s"],
        "cpu_pct_of_core": 100 * m["cpu_s"] / window,
        "cpu_ms_per_run": 1000 * m["cpu_s"] / max(started_in_cpu_window, 1),
        "peak_rss_mb": m["rss_mb"],
        "load_average": m["load"],
        "window_statuses": dict(Counter(r.status for r in in_window)),
    }


def job_file(jobs: int, out: Path) -> str:
    cmd = body(out)  # a TOML literal string: the body has no single quote
    return "".join(
        f'[[job]]\nname = "j{i:05d}"\nschedule = "*/1 * * * * *"\ntimezone = "UTC"\nshell = \'{cmd}\'\n\n'
        for i in range(jobs)
    )


def bench_cronui(jobs: int, window: int, max_concurrent: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        d = Daemon(Path(tmp), CRONUI_MAX_CONCURRENT=str(max_concurrent))
        d.apply(job_file(jobs, out))
        d.start(log=False)
        assert d.proc is not None
        m = measure(d.proc, window)
        records = d.schedule_runs()
        with d.db() as con:
            pending = con.execute("SELECT count(*) FROM runs WHERE status = 'pending'").fetchone()[0]
        result = metrics(records, read_child_starts(out), jobs, window, m)
    s0, s1 = m["s0"], m["s0"] + window
    result["persisted"] = sum(1 for r in records if s0 <= r.slot < s1 and r.status == "succeeded")
    result["pending_rows_at_stop"] = pending
    return result


def bench_apscheduler(jobs: int, window: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        dump, log = Path(tmp) / "runs.json", Path(tmp) / "peer.err"
        with open(log, "w") as err:  # APScheduler's own warnings (e.g. max_instances), like cronui's log
            proc = subprocess.Popen(
                [sys.executable, __file__, "--peer", str(jobs), str(dump), str(out)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"APScheduler peer did not start: {log.read_text()[-2000:]}")
            m = measure(proc, window)
        data = json.loads(dump.read_text())
        result = metrics([Run(*r) for r in data["runs"]], read_child_starts(out), jobs, window, m)
    result["persisted"] = math.nan  # APScheduler keeps nothing
    result["pending_rows_at_stop"] = math.nan
    return result


def peer(jobs: int, dump: str, out: str) -> None:
    """The APScheduler side: run until SIGTERM, let in-flight runs finish, dump (slot, start, status) per run."""
    import asyncio
    from collections import deque

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    runs: list[Run] = []
    slots: dict[str, deque[float]] = {}
    command = body(Path(out))
    base = dict(os.environ)

    async def job(job_id: str) -> None:
        start, slot = now(), slots[job_id].popleft()
        env = {**base, "CRONUI_JOB": job_id, "CRONUI_SCHEDULED_FOR": slot_text(slot)}
        spawned, rc = await spawn_shell(command, env)
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
    ("due", "slots due in window (N x W)", "{:.0f}"),
    ("executed", "slots executed (counted by jobs)", "{:.0f}"),
    ("executed_pct", "executed, % of due", "{:.1f}"),
    ("duplicates", "executions beyond one per slot", "{:.0f}"),
    ("persisted", "runs persisted (succeeded rows)", "{:.0f}"),
    ("on_time", "child started < 1 s after slot", "{:.0f}"),
    ("child_p50_ms", "lateness p50, child start (ms)", "{:.1f}"),
    ("child_p99_ms", "lateness p99, child start (ms)", "{:.1f}"),
    ("child_max_ms", "lateness max, child start (ms)", "{:.1f}"),
    ("claim_p50_ms", "lateness p50, claim/entry (ms)", "{:.1f}"),
    ("claim_p99_ms", "lateness p99, claim/entry (ms)", "{:.1f}"),
    ("skipped", "skipped (overlap/max_instances)", "{:.0f}"),
    ("runs_started_in_window", "executions started in window", "{:.0f}"),
    ("cpu_s", "CPU s in window (+children)", "{:.2f}"),
    ("cpu_pct_of_core", "CPU % of one core", "{:.1f}"),
    ("cpu_ms_per_run", "CPU ms per run (+children)", "{:.2f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.1f}"),
    ("load_average", "load average (1 min) at s0", "{:.2f}"),
]


def table(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    lines = [f"{'metric':<32} {'cronui':>10} {'APScheduler':>12} {'ratio':>7}", "-" * 64]
    for key, label, fmt in ROWS:
        a, b = ours[key], theirs[key]
        ratio = f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"
        if key == "persisted":
            b = math.nan
        lines.append(f"{label:<32} {fmt.format(a):>10} {fmt.format(b):>12} {ratio:>7}")
    lines.append(f"window slots by status: cronui {ours['window_statuses']}; APScheduler {theirs['window_statuses']}")
    lines.append(f"cronui runs rows still pending at stop: {ours['pending_rows_at_stop']}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--peer":
        peer(int(sys.argv[2]), sys.argv[3], sys.argv[4])
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
        f"throughput · {jobs} one-second jobs (common.body) · window {window} s after {WARMUP_S:.0f} s warm-up · "
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
