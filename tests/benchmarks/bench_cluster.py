"""Cluster: N one-second shell jobs on PostgreSQL with 1 and 3 nodes, next to SQLite with its one node. Prints numbers.

    python tests/benchmarks/bench_cluster.py                       # N=100 jobs, a 10 s window
    python tests/benchmarks/bench_cluster.py --jobs 200 --window 20 --json out.json
    python tests/benchmarks/bench_cluster.py --quick                # N=20, 5 s: does it work?

The server's URL comes from CRONUI_BENCH_POSTGRES_URL or CRONUI_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test); each setup gets a schema of its own, dropped afterwards. The three
setups run one after the other, never at once, measured as bench_throughput.py measures cronui:
  - `cronui apply` of a generated job file (`*/1 * * * * *`, UTC, the shell appends its slot to a file), then K
    daemons (`cronui --no-ui`, CRONUI_MAX_CONCURRENT=N per node) started together; ready = K live nodes (PostgreSQL) or
    the scheduler lease held (SQLite); 2 s warm-up;
  - the window is W whole seconds from a second boundary s0: N x W runs due; the daemons get SIGTERM 1.5 s after;
  - slots/s = runs of window slots that succeeded / W; on time = started less than 1 s after the slot;
    lateness = started_at (the claim) - slot; executions are counted by the jobs themselves: each appends
    "<job> <slot>" to a file, so a slot run twice, or never, shows whatever the rows say;
  - CPU = utime+stime+cutime+cstime of all the node processes over the window, per run started in it;
  - runs per node: how evenly the claims spread.
On this machine all nodes share its cores with the database server, so 3 nodes measure coordination cost,
not added capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from common import Daemon, Run, cpu_seconds, pct, sleep_until, stop_process

WARMUP_S = 2.0
TAIL_S = 1.5


def pg_base() -> str:
    return os.environ.get(
        "CRONUI_BENCH_POSTGRES_URL",
        os.environ.get("CRONUI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )


async def pg_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    from cronui.store.postgres import split_url

    dsn, schema = split_url(url)
    con = await asyncpg.connect(dsn)
    try:
        if schema:
            await con.execute(f'SET search_path TO "{schema}"')
        return [tuple(r) for r in await con.fetch(sql)]
    finally:
        await con.close()


async def pg_drop(url: str) -> None:
    import asyncpg

    from cronui.store.postgres import split_url

    dsn, schema = split_url(url)
    con = await asyncpg.connect(dsn)
    try:
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await con.close()


RUNS_SQL = (
    "SELECT r.scheduled_for, r.started_at, r.status, r.finished_at, r.node FROM runs r WHERE r.trigger = 'schedule'"
)


def job_file(jobs: int, log: Path) -> str:
    """Each execution appends "<job> <slot>" to `log` (a shell builtin and one O_APPEND write: atomic)."""
    shell = f'echo \\"$CRONUI_JOB $CRONUI_SCHEDULED_FOR\\" >> {log}'
    return "".join(
        f'[[job]]\nname = "j{i:05d}"\nschedule = "*/1 * * * * *"\ntimezone = "UTC"\nshell = "{shell}"\n\n'
        for i in range(jobs)
    )


def start_nodes(d: Daemon, count: int) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "cronui", "--no-ui", "--log-format", "text"]
    procs = []
    for i in range(count):
        with open(os.devnull, "w") as out, open(d.root / f"node{i}.err", "w") as err:
            procs.append(subprocess.Popen(argv, env=d.env, stdout=out, stderr=err))
    return procs


def wait_ready(d: Daemon, procs: list[subprocess.Popen[bytes]], url: str | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pids = {p.pid for p in procs}
    while True:
        if url is not None:
            now_ms = int(time.time() * 1000)
            rows = asyncio.run(pg_query(url, "SELECT pid, expires_at FROM nodes"))
            if pids <= {pid for pid, expires in rows if expires > now_ms}:
                return
        else:
            with d.db() as con:
                try:
                    row = con.execute("SELECT pid FROM scheduler_lease").fetchone()
                except Exception:  # the schema is not there yet
                    row = None
            if row and row[0] in pids:
                return
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            errs = "".join((d.root / f"node{i}.err").read_text()[-1000:] for i in range(len(procs)))
            raise SystemExit(f"cronui nodes did not start: {errs}")
        time.sleep(0.1)


def bench(jobs: int, window: int, nodes: int, url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CRONUI_MAX_CONCURRENT": str(max(jobs, 16))}
        if url is not None:
            env["CRONUI_DB"] = url
        d = Daemon(Path(tmp), **env)
        try:
            log = Path(tmp) / "executions"
            d.apply(job_file(jobs, log))
            procs = start_nodes(d, nodes)
            wait_ready(d, procs, url)
            time.sleep(WARMUP_S)
            s0 = math.ceil(time.time())
            sleep_until(s0)
            c0 = sum(cpu_seconds(p.pid) for p in procs)
            sleep_until(s0 + window)
            c1 = sum(cpu_seconds(p.pid) for p in procs)
            sleep_until(s0 + window + TAIL_S)
            for p in procs:
                stop_process(p)
            if url is not None:
                raw = asyncio.run(pg_query(url, RUNS_SQL))
            else:
                with d.db() as con:
                    raw = [tuple(r) for r in con.execute(RUNS_SQL).fetchall()]
            executions = Counter(
                (job, datetime.fromisoformat(at).timestamp())
                for job, at in (line.split() for line in log.read_text().splitlines() if line.strip())
            )
        finally:
            if url is not None:
                asyncio.run(pg_drop(url))
    s = lambda v: None if v is None else v / 1000  # noqa: E731
    records = [(Run(slot / 1000, s(st), status, None, s(fin)), node) for slot, st, status, fin, node in raw]
    in_window = [(r, node) for r, node in records if s0 <= r.slot < s0 + window]
    late = [round((r.start - r.slot) * 1000, 3) for r, _ in in_window if r.start is not None]
    ran = sum(1 for r, _ in in_window if r.status == "succeeded")
    on_time = sum(1 for r, _ in in_window if r.status == "succeeded" and r.start is not None and r.start - r.slot < 1)
    started = sum(1 for r, _ in records if r.start is not None and s0 <= r.start < s0 + window)
    per_node = Counter(node for r, node in in_window if r.start is not None)
    return {
        "due": jobs * window,
        "ran": ran,
        "slots_per_s": ran / window,
        "on_time_pct": 100 * on_time / (jobs * window),
        "late_p50_ms": pct(late, 0.5),
        "late_p99_ms": pct(late, 0.99),
        "late_max_ms": max(late, default=math.nan),
        "duplicates": sum(n - 1 for (_, slot), n in executions.items() if s0 <= slot < s0 + window and n > 1),
        "holes": jobs * window - sum(1 for (_, slot) in executions if s0 <= slot < s0 + window),
        "cpu_ms_per_run": 1000 * (c1 - c0) / max(started, 1),
        "runs_per_node": sorted(per_node.values(), reverse=True),
        "statuses": dict(Counter(r.status for r, _ in in_window)),
    }


ROWS = [
    ("due", "runs due in window (N x W)", "{:.0f}"),
    ("ran", "ran (succeeded)", "{:.0f}"),
    ("slots_per_s", "slots/s sustained", "{:.1f}"),
    ("on_time_pct", "on time (< 1 s late), % of due", "{:.1f}"),
    ("late_p50_ms", "lateness p50 (ms)", "{:.1f}"),
    ("late_p99_ms", "lateness p99 (ms)", "{:.1f}"),
    ("late_max_ms", "lateness max (ms)", "{:.1f}"),
    ("duplicates", "executions beyond one per slot", "{:.0f}"),
    ("holes", "window slots never executed", "{:.0f}"),
    ("cpu_ms_per_run", "CPU ms per run (all nodes)", "{:.2f}"),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    base = results[names[0]]
    lines = [f"{'metric':<32} " + " ".join(f"{n:>14}" for n in names), "-" * (33 + 15 * len(names))]
    for key, label, fmt in ROWS:
        lines.append(f"{label:<32} " + " ".join(f"{fmt.format(results[n][key]):>14}" for n in names))
    for n in names[1:]:
        b, r = base["late_p99_ms"], results[n]["late_p99_ms"]
        lines.append(f"lateness p99 {n} / {names[0]}: {r / b:.2f}" if b else f"lateness p99 {n}: -")
    for n in names:
        lines.append(f"{n}: runs per node {results[n]['runs_per_node']}, statuses {results[n]['statuses']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100, help="N one-second jobs (default 100)")
    ap.add_argument("--window", type=int, default=10, help="measured window, whole seconds (default 10)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    ap.add_argument("--quick", action="store_true", help="N=20, W=5")
    args = ap.parse_args()
    jobs, window = (20, 5) if args.quick else (args.jobs, args.window)
    base = pg_base()
    sep = "&" if "?" in base else "?"
    print(
        f"cluster · {jobs} one-second jobs (each appends its slot to a file) · window {window} s · "
        f"{os.cpu_count()} cores · {base}"
    )
    results: dict[str, dict[str, Any]] = {}
    results["sqlite 1 node"] = bench(jobs, window, 1, None)
    for n in (1, 3):
        url = f"{base}{sep}schema=cronui_bench_{uuid.uuid4().hex[:10]}"
        results[f"pg {n} node{'s' if n > 1 else ''}"] = bench(jobs, window, n, url)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"jobs": jobs, "window": window, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
