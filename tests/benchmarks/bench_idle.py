"""Idle: cronui's daemon with J jobs whose next fire is hours away, left alone. How often does it wake, what does
it cost? Target: no engine wake-ups beyond the lease renewals (settings.lease.renew). Prints numbers.

    python tests/benchmarks/bench_idle.py                  # 20 jobs, two 30 s windows
    python tests/benchmarks/bench_idle.py --seconds 60 --json out.json
    python tests/benchmarks/bench_idle.py --no-strace      # the /proc window only

`cronui apply` of J jobs (`M H * * *` about 6 hours ahead, UTC, shell `true`) on a fresh SQLite file, then
`cronui --no-ui` (JSON log to a file), ready once it holds the scheduler lease, settled for 2 s. Then:
  window 1 (/proc, nothing attached): CPU time of all threads (schedstat, ns) and their context switches at the
    window's edges;
  window 2 (strace -f -ttt attached to every thread, if strace is installed and allowed): system calls per
    thread; wakes from sleep = a thread's first system call after >= 100 ms without one (the main thread's are
    the event loop's wake-ups at the OS level); the main thread's blocking epoll_wait returns (one wake-up from
    sleep is followed by a burst of them: each query's answer from the SQLite thread wakes the loop again);
  stop (SIGTERM): the daemon's `stopped` line gives the engine's own count of loop passes (`wakeups`) over its
    whole uptime, compared with one pass at start plus one per lease renewal.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from common import Daemon, cpu_ns_threads, ctx_switches, threads

from cronui.config import load_settings

SETTLE_S = 2.0
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\(")
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>")
WAKE_GAP_S = 0.1
EPOLL_END = re.compile(r",\s*(-?\d+)\)\s+=\s+(-?\d+)")  # ..., maxevents, timeout) = n


def jobs_toml(jobs: int) -> str:
    hour = (time.gmtime().tm_hour + 6) % 24
    return "".join(
        f'[[job]]\nname = "idle{i:03d}"\nschedule = "{i % 60} {hour} * * *"\ntimezone = "UTC"\nshell = "true"\n\n'
        for i in range(jobs)
    )


def proc_window(pid: int, seconds: float) -> dict[str, Any]:
    cpu0, cs0 = cpu_ns_threads(pid), ctx_switches(pid)
    time.sleep(seconds)
    cpu1, cs1 = cpu_ns_threads(pid), ctx_switches(pid)
    per_min = 60 / seconds
    return {
        "cpu_ms_per_min": (cpu1 - cpu0) / 1e6 * per_min,
        "ctx_switches_per_min": (cs1 - cs0) * per_min,
        "threads": threads(pid),
    }


def thread_names(pid: int) -> dict[int, str]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = (task / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def strace_window(pid: int, seconds: float, root: Path) -> dict[str, Any]:
    """Attach strace to every thread for the window (plus a margin at each end, not counted)."""
    names = thread_names(pid)
    out = root / "strace.txt"
    tracer = subprocess.Popen(
        ["strace", "-f", "-ttt", "-p", str(pid), "-o", str(out)], stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.0)  # attached by now
    t0 = time.time()
    time.sleep(seconds)
    t1 = time.time()
    time.sleep(0.2)
    tracer.send_signal(signal.SIGINT)  # detaches, the daemon goes on
    _, err = tracer.communicate(timeout=30)
    if not out.exists() or "attached" not in err:
        return {"error": err.strip()[-500:] or "strace wrote nothing"}
    calls: Counter[tuple[int, str]] = Counter()
    seen: dict[int, list[float]] = {}  # per thread: when it made or ended a system call
    epoll_returns = 0
    for line in out.read_text().splitlines():
        m = LINE.match(line)
        if not m or float(m[2]) >= t1:
            continue
        tid, at, rest = int(m[1]), float(m[2]), m[3]
        seen.setdefault(tid, []).append(at)
        if at < t0:
            continue
        if (r := RESUMED.match(rest)) is not None:
            name, started = r[1], False
        elif (c := CALL.match(rest)) is not None:
            name, started = c[1], True
        else:
            continue  # signals, exits
        if started:
            calls[(tid, name)] += 1
        ends = EPOLL_END.search(rest)
        if tid == pid and name.startswith("epoll") and ends and int(ends[1]) != 0 and "<unfinished" not in rest:
            epoll_returns += 1
    # a wake from sleep: a thread's first system call after at least WAKE_GAP_S without any
    wakes = {tid: sum(1 for a, b in pairwise(ts) if b >= t0 and b - a >= WAKE_GAP_S) for tid, ts in seen.items()}
    per_min = 60 / seconds
    by_thread: Counter[str] = Counter()
    for (tid, _), n in calls.items():
        by_thread[f"{names.get(tid, '?')}[{'main' if tid == pid else tid}]"] += n
    by_call: Counter[str] = Counter()
    for (_, name), n in calls.items():
        by_call[name] += n
    return {
        "loop_wakes_from_sleep_per_min": wakes.get(pid, 0) * per_min,
        "thread_wakes_from_sleep_per_min": sum(wakes.values()) * per_min,
        "loop_epoll_returns_per_min": epoll_returns * per_min,
        "syscalls_per_min": sum(calls.values()) * per_min,
        "syscalls_per_min_by_thread": {k: v * per_min for k, v in by_thread.most_common()},
        "syscalls_per_min_by_call": {k: v * per_min for k, v in by_call.most_common(8)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=20, help="jobs, all due hours from now (default 20)")
    ap.add_argument("--seconds", type=float, default=30, help="length of each window (default 30)")
    ap.add_argument("--no-strace", action="store_true", help="skip the strace window")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args()
    use_strace = not args.no_strace and shutil.which("strace") is not None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        d = Daemon(root)
        renew = load_settings(env=d.env).lease.renew
        print(
            f"idle · {args.jobs} jobs due hours from now · windows of {args.seconds:g} s · lease renewal every "
            f"{renew:g} s · {os.cpu_count()} cores · python {sys.version.split()[0]}"
        )
        d.apply(jobs_toml(args.jobs))
        d.start()
        time.sleep(SETTLE_S)
        proc = proc_window(d.pid, args.seconds)
        traced: dict[str, Any] = strace_window(d.pid, args.seconds, root) if use_strace else {"error": "not run"}
        stopped = d.stop()
    uptime, wakeups = stopped.get("uptime_s"), stopped.get("wakeups")
    engine: dict[str, Any] = {"uptime_s": uptime, "wakeups": wakeups}
    if isinstance(uptime, int | float) and isinstance(wakeups, int):
        allowed = int(uptime // renew) + 1  # the first pass, then one per renewal
        engine.update(
            wakeups_per_min=wakeups * 60 / uptime,
            lease_renewals_per_min=60 / renew,
            wakeups_allowed=allowed,
            wakeups_beyond_renewals=wakeups - allowed,
        )
    per = "per minute"
    if "wakeups_per_min" in engine:
        print(
            f"engine loop passes: {wakeups} in {uptime:.1f} s of uptime = {engine['wakeups_per_min']:.1f} {per} "
            f"(lease renewals: {engine['lease_renewals_per_min']:.1f} {per}; allowed {engine['wakeups_allowed']}, "
            f"beyond: {engine['wakeups_beyond_renewals']})"
        )
    else:
        print(f"engine loop passes: not reported (the daemon's last line: {stopped})")
    print(f"CPU, all threads: {proc['cpu_ms_per_min']:.1f} ms {per} ({proc['threads']} threads)")
    print(f"OS context switches, all threads: {proc['ctx_switches_per_min']:.1f} {per}")
    if "error" in traced:
        print(f"strace: {traced['error']}")
    else:
        print(
            f"event loop (main thread) wakes from sleep (>= {WAKE_GAP_S * 1000:.0f} ms without a system call): "
            f"{traced['loop_wakes_from_sleep_per_min']:.1f} {per}; all threads: "
            f"{traced['thread_wakes_from_sleep_per_min']:.1f} {per}"
        )
        print(f"event loop blocking epoll_wait returns: {traced['loop_epoll_returns_per_min']:.1f} {per}")
        print(f"system calls, all threads: {traced['syscalls_per_min']:.1f} {per}")
        for k, v in traced["syscalls_per_min_by_thread"].items():
            print(f"  thread {k}: {v:.1f} {per}")
        print("  by call: " + ", ".join(f"{k} {v:.1f}" for k, v in traced["syscalls_per_min_by_call"].items()))
    if args.json:
        out = {
            "jobs": args.jobs,
            "seconds": args.seconds,
            "lease_renew_s": renew,
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "engine": engine,
            "proc": proc,
            "strace": traced,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
