"""Burst: N shell jobs all due in the same second, run once. cronui's daemon against the floor (the same N processes
started with os.posix_spawn in a bare loop at the same instant) and APScheduler 3.11. Prints numbers.

    python tests/benchmarks/bench_burst.py                        # N=1000, at most 1000 at a time
    python tests/benchmarks/bench_burst.py --jobs 1000 --max-concurrent 256 --json out.json
    python tests/benchmarks/bench_burst.py --no-apscheduler        # cronui and the floor only

Every side runs the same body (common.body: `/bin/sh -c`, stdin from /dev/null, stdout and stderr on pipes
read to the end, a session of its own), which appends its slot and its own start to its job's file. Each side
runs alone as its own fresh process, one after the other; its slot is a whole second at least 2 s after it is
ready (the warm-up):
  cronui       `cronui apply` of N jobs `at <the slot>` (a one-shot, UTC, the body) on a fresh SQLite file,
               then `cronui --no-ui --log-format text` (stdout to /dev/null), CRONUI_MAX_CONCURRENT=C;
               start = started_at (the claim of a batch of runs, before their spawns)
  floor        no scheduler and no asyncio: sleep until the slot, then os.posix_spawn the N bodies (at most C
               at a time), each with its two pipes, setsid, CRONUI_JOB / CRONUI_SCHEDULED_FOR in its
               environment; pipes and pidfds watched with one selector; start = just before each spawn
  APScheduler  AsyncIOScheduler, N jobs with a DateTrigger at the slot, misfire_grace_time=3600, the body spawned
               with asyncio.create_subprocess_exec; no concurrency limit, the stock child watcher;
               start = entry into the job coroutine
Measured: child start - slot (the start each child wrote itself: the like-for-like row), start - slot, process
spawned - slot (ms) p50/p99/max; all finished = the last run's end - slot; CPU seconds of the process and its
children from 0.5 s before the slot until all have finished; peak RSS (VmHWM). Every time is epoch time read
as cronui's SystemClock reads it. The ratio cronui / floor of the child start p99 is the target (<= 1.2x).
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
    read_line,
    sleep_until,
    slot_text,
    spawn_shell,
)

WARMUP_S = 2.0
TARGET = 1.2  # cronui p99 / floor p99, child start


def at_text(slot: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(slot))


def metrics(runs: list[Run], kids: ChildStarts, jobs: int, cpu_s: float, rss_mb: float) -> dict[str, Any]:
    child = kids.lateness_ms(-math.inf, math.inf)
    late = [round((r.start - r.slot) * 1000, 3) for r in runs if r.start is not None]
    spawn = [round((r.spawned - r.slot) * 1000, 3) for r in runs if r.spawned is not None]
    ends = [r.finished - r.slot for r in runs if r.finished is not None]
    return {
        "runs": len(runs),
        "succeeded": sum(1 for r in runs if r.status == "succeeded"),
        "executed": kids.executed(-math.inf, math.inf),
        "child_p50_ms": pct(child, 0.5),
        "child_p99_ms": pct(child, 0.99),
        "child_max_ms": max(child, default=math.nan),
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
        "load_average": os.getloadavg()[0],
    }


def bench_cronui(jobs: int, cap: int, lead: float, timeout: float) -> dict[str, Any]:
    slot = math.ceil(time.time() + lead)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        d = Daemon(Path(tmp), CRONUI_MAX_CONCURRENT=str(cap))
        at, cmd = at_text(slot), body(out_dir)  # a TOML literal string: the body has no single quote
        d.apply(
            "".join(
                f'[[job]]\nname = "b{i:05d}"\nschedule = "at {at}"\ntimezone = "UTC"\nshell = \'{cmd}\'\n\n'
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
        kids = read_child_starts(out_dir)
    out = metrics(runs, kids, jobs, c1 - c0, rss)
    out["queued_p50_ms"], out["queued_max_ms"] = pct(queued, 0.5), max(queued, default=math.nan)
    return out


def bench_peer(kind: str, jobs: int, cap: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        dump, log = Path(tmp) / "runs.json", Path(tmp) / "peer.err"
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--peer", kind, str(jobs), str(cap), str(dump), str(out_dir)],
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
        kids = read_child_starts(out_dir)
    return metrics(runs, kids, jobs, c1 - c0, rss)


def floor(jobs: int, cap: int, slot: float, out_dir: Path) -> list[Run]:
    """The machine's floor: at the slot, os.posix_spawn every body (at most `cap` at a time), each with its pipes
    read to the end and its exit seen through a pidfd, all in one selector loop; no scheduler, no asyncio."""
    import selectors

    command, base, when = body(out_dir), dict(os.environ), slot_text(slot)
    sel = selectors.DefaultSelector()
    runs: list[Run] = []
    todo = list(range(jobs))
    live: dict[int, list[Any]] = {}  # index -> [start, spawned, pid, open fds, exit code]

    def spawn(i: int) -> None:
        start = now()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        env = {**base, "CRONUI_JOB": f"b{i:05d}", "CRONUI_SCHEDULED_FOR": when}
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ]
        pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", command], env, file_actions=actions, setsid=True)
        spawned = now()
        os.close(out_w)
        os.close(err_w)
        pidfd = os.pidfd_open(pid)
        live[i] = [start, spawned, pid, {out_r, err_r, pidfd}, None]
        for fd in (out_r, err_r, pidfd):
            sel.register(fd, selectors.EVENT_READ, (i, fd == pidfd))

    while (left := slot - now()) > 0:
        time.sleep(left)
    while todo or live:
        while todo and len(live) < cap:
            spawn(todo.pop(0))
        for key, _ in sel.select():
            i, is_exit = key.data
            run = live[i]
            if is_exit:
                run[4] = os.waitstatus_to_exitcode(os.waitpid(run[2], 0)[1])
            elif os.read(key.fd, 65536):
                continue
            sel.unregister(key.fd)
            os.close(key.fd)
            run[3].discard(key.fd)
            if not run[3]:
                del live[i]
                runs.append(Run(slot, run[0], "succeeded" if run[4] == 0 else "failed", run[1], now()))
    return runs


async def apscheduler_side(jobs: int, slot: float, out_dir: Path) -> list[Run]:
    from datetime import UTC, datetime

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.date import DateTrigger

    runs: list[Run] = []
    done = asyncio.Event()

    command, base, when = body(out_dir), dict(os.environ), slot_text(slot)

    async def job(name: str) -> None:
        start = now()
        spawned, rc = await spawn_shell(command, {**base, "CRONUI_JOB": name, "CRONUI_SCHEDULED_FOR": when})
        runs.append(Run(slot, start, "succeeded" if rc == 0 else "failed", spawned, now()))
        if len(runs) == jobs:
            done.set()

    sched = AsyncIOScheduler(timezone="UTC")
    at = datetime.fromtimestamp(slot, UTC)
    for i in range(jobs):
        sched.add_job(
            job, DateTrigger(run_date=at, timezone="UTC"), args=[f"b{i:05d}"], id=f"b{i:05d}", misfire_grace_time=3600
        )
    sched.start()
    await done.wait()
    sched.shutdown(wait=False)
    return runs


def peer(kind: str, jobs: int, cap: int, dump: str, out: str) -> None:
    """A side in its own process: `ready`, read the slot (epoch s) from stdin, run, dump, `done`, wait for EOF."""
    if kind == "apscheduler":
        import apscheduler.schedulers.asyncio  # noqa: F401  (imported before `ready`, not during the warm-up)
    print("ready", flush=True)
    slot = float(sys.stdin.readline())
    out_dir = Path(out)
    runs = floor(jobs, cap, slot, out_dir) if kind == "floor" else asyncio.run(apscheduler_side(jobs, slot, out_dir))
    Path(dump).write_text(json.dumps({"runs": runs}))
    print("done", flush=True)
    sys.stdin.read()


ROWS = [
    ("runs", "runs", "{:.0f}"),
    ("succeeded", "succeeded", "{:.0f}"),
    ("executed", "executed (counted by jobs)", "{:.0f}"),
    ("child_p50_ms", "child start - slot p50 (ms)", "{:.1f}"),
    ("child_p99_ms", "child start - slot p99 (ms)", "{:.1f}"),
    ("child_max_ms", "child start - slot max (ms)", "{:.1f}"),
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
    ("load_average", "load average (1 min) after", "{:.2f}"),
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
    if len(sys.argv) == 7 and sys.argv[1] == "--peer":
        peer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
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
        f"burst · {jobs} jobs (common.body) due in the same second, once · max_concurrent {cap} (cronui, floor) · "
        f"{os.cpu_count()} cores · python {sys.version.split()[0]}"
        + (f" · APScheduler {aps_version}" if aps_version else "")
    )
    sides = {"cronui": bench_cronui(jobs, cap, args.lead, args.timeout)}
    sides["floor"] = bench_peer("floor", jobs, cap, args.timeout)
    if aps_version:
        sides["APScheduler"] = bench_peer("apscheduler", jobs, cap, args.timeout)
    print(table(sides))
    ratios = {k: ratio(sides["cronui"][k], sides["floor"][k]) for k in ("child_p99_ms", "spawn_p99_ms")}
    for key, what in (("child_p99_ms", "child start (like for like)"), ("spawn_p99_ms", "process spawned")):
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
