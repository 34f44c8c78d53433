"""Another job's lateness while the scheduler meets work derived from a job's data or history, on real
daemons (`cronui --no-ui`) with an every-second job `tick` beside:

* regex: a chain condition `regex:(a+)+$` is checked against an output of forty `a` and a `b` (Python's
  re backtracks 2^40 ways on it), three times;
* outage: after a restart, three `* * * * * *` jobs catch up an outage of --days days.

For each tick slot due in the window, its lateness is how long after the slot the tick job next started
(a slot never started counts until the window's end). Printed: slots, max and p99 lateness (ms), slots
recorded missed, and how long SIGTERM took (a daemon still running 15 s after it is killed).

`--python` runs the daemons and the CLI with another interpreter, e.g. another checkout's virtualenv:

    python tests/benchmarks/bench_loop_bounds.py [--days 58] [--window 20] [--python PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TICK = ("--schedule", "every 1s", "--shell", "true", "--misfire", "skip", "--misfire-grace", "1h")


class Env:
    def __init__(self, python: str, folder: Path) -> None:
        self.python = python
        self.folder = folder
        self.db = str(folder / "bench.db")
        self.started: list[subprocess.Popen[bytes]] = []
        (folder / "none.toml").write_text("")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRONUI_")}
        self.env.update(
            CRONUI_DB=self.db,
            CRONUI_TIMEZONE="UTC",
            CRONUI_LEASE_TTL="3",
            CRONUI_LEASE_RENEW="1",
            CRONUI_CONFIG=str(folder / "none.toml"),
            PYTHONUNBUFFERED="1",
        )

    def cli(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(
            [self.python, "-m", "cronui", *argv],
            env=self.env,
            cwd=self.folder,
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        for _ in range(100):
            try:
                with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as con, con:
                    return con.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("database busy")

    def daemon(self) -> subprocess.Popen[bytes]:
        log = open(self.folder / "daemon.log", "ab")
        p = subprocess.Popen(
            [self.python, "-m", "cronui", "--no-ui", "--grace", "1"],
            env=self.env,
            cwd=self.folder,  # not the checkout this script is in: -m imports from the working folder first
            stdout=log,
            stderr=log,
        )
        self.started.append(p)
        deadline = time.monotonic() + 60
        while self.query("SELECT pid FROM scheduler_lease") != [(p.pid,)]:
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not take the lease")
            time.sleep(0.05)
        return p


def stop(p: subprocess.Popen[bytes]) -> float | None:
    """SIGTERM; seconds until it exited, or None when it was still running 15 s later (then killed)."""
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
        return round(time.monotonic() - t, 2)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def figures(e: Env, window: tuple[int, int]) -> dict[str, Any]:
    rows = e.query(
        "SELECT r.scheduled_for, r.status, r.started_at FROM runs r JOIN jobs j ON j.id = r.job_id"
        " WHERE j.name = 'tick'"
    )
    starts = sorted(started for _, _, started in rows if started is not None)
    slots = range((window[0] + 999) // 1000 * 1000, window[1] + 1, 1000)
    late = []
    for slot in slots:
        i = bisect.bisect_left(starts, slot)
        late.append((starts[i] if i < len(starts) else window[1]) - slot)
    late.sort()
    missed = sum(1 for s, status, _ in rows if window[0] <= s <= window[1] and status == "skipped")
    return {
        "tick slots": len(late),
        "lateness max ms": late[-1],
        "lateness p99 ms": late[min(len(late) - 1, int(len(late) * 0.99))],
        "tick slots missed": missed,
    }


def regex(e: Env, window_s: float) -> dict[str, Any]:
    e.cli("jobs", "add", "tick", *TICK)
    e.cli("jobs", "add", "publish", "--schedule", "@yearly", "--shell", "true")
    when = ("--on-success", "publish", "--when", "regex:(a+)+$")
    e.cli("jobs", "add", "check", "--schedule", "@yearly", "--shell", "echo " + "a" * 40 + "b", *when)
    d = e.daemon()
    time.sleep(2)
    t0 = int(time.time() * 1000)
    try:
        for _ in range(3):  # a CLI call meeting a frozen daemon may wait: the window goes on regardless
            if time.time() - t0 / 1000 < window_s:
                e.cli("jobs", "run", "check", timeout=window_s)
                time.sleep(window_s / 3)
    except subprocess.TimeoutExpired:
        pass
    time.sleep(max(0.0, window_s - (time.time() - t0 / 1000)))
    window = (t0, int(time.time() * 1000) - 1000)
    out = figures(e, window)
    out["SIGTERM to exit s"] = stop(d)
    out["check runs recorded"] = e.query(
        "SELECT COUNT(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'check' AND finished_at IS NOT NULL"
    )[0][0]
    return out


def outage(e: Env, days: float, window_s: float) -> dict[str, Any]:
    e.cli("jobs", "add", "tick", *TICK)
    d = e.daemon()
    time.sleep(2)
    stop(d)
    for n in range(3):
        e.cli("jobs", "add", f"sec{n}", "--schedule", "* * * * * *", "--shell", "true", "--misfire", "skip")
    e.query("UPDATE jobs SET next_run_at = next_run_at - ? WHERE name LIKE 'sec%'", (int(days * 86_400_000),))
    d = e.daemon()
    t0 = int(time.time() * 1000)
    deadline = time.monotonic() + window_s
    planned = None
    while time.monotonic() < deadline or planned is None:  # until the catch-up is planned, at least
        if planned is None and e.query("SELECT COUNT(*) FROM runs WHERE reason LIKE 'missed (%'")[0][0] == 3:
            planned = round(time.time() - t0 / 1000, 1)
        if time.monotonic() > deadline + 600:
            break
        time.sleep(0.2)
    window = (t0 + 1000, int(time.time() * 1000) - 1000)
    out = figures(e, window)
    out["catch-up planned after s"] = planned
    out["SIGTERM to exit s"] = stop(d)
    out["missed recorded per job"] = [
        c
        for (c,) in e.query(
            "SELECT SUM(missed_count) FROM runs r JOIN jobs j ON j.id = r.job_id"
            " WHERE j.name LIKE 'sec%' AND r.status = 'skipped' GROUP BY j.name"
        )
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs cronui")
    ap.add_argument("--days", type=float, default=58.0, help="the outage, in days")
    ap.add_argument("--window", type=float, default=20.0, help="seconds watched in each scenario")
    ap.add_argument("--only", choices=["regex", "outage"])
    ap.add_argument("--json", metavar="PATH")
    a = ap.parse_args()
    results: dict[str, Any] = {"python": a.python}
    for name in ("regex", "outage"):
        if a.only and a.only != name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            e = Env(a.python, Path(tmp))
            try:
                results[name] = regex(e, a.window) if name == "regex" else outage(e, a.days, a.window)
            finally:
                for p in e.started:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            results[name + " (days)" if name == "outage" else name + " (pattern)"] = (
                a.days if name == "outage" else "(a+)+$ on 40 a and a b"
            )
        print(name, json.dumps(results[name]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
