"""Nothing derived from a job's data or history holds up the scheduler: a real daemon (`cronui --no-ui`)
runs an every-second job while (a) a chain condition whose pattern backtracks catastrophically in
Python's re is checked, and (b) after a restart, three every-second jobs catch up a 58-day outage.
The every-second job keeps every slot, and the daemon ends on SIGTERM within its grace.

Each test prints the every-second job's lateness (max, p99); tests/benchmarks/bench_loop_bounds.py
measures the same on any checkout."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping

from tests.e2e.processes import Processes, cronui, query, wait_for

GRACE_S = 1.0  # the daemon's --grace
TICK = ("--schedule", "every 1s", "--shell", "true", "--misfire", "skip", "--misfire-grace", "5s")
OUTAGE_MS = 58 * 86_400_000


def daemon(procs: Processes, env: Mapping[str, str]) -> subprocess.Popen[str]:
    p = procs.spawn("--no-ui", "--grace", str(GRACE_S), env=env, name="daemon")
    wait_for(lambda: query(env, "SELECT pid FROM scheduler_lease") == [(p.pid,)], what="the lease", timeout=60)
    return p


def stop(p: subprocess.Popen[str]) -> tuple[int, float]:
    """SIGTERM; the exit code and how long it took."""
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=60)
    return code, time.monotonic() - t


def tick_slots(env: Mapping[str, str], window: tuple[int, int]) -> list[tuple[int, str, int | None]]:
    return query(
        env,
        "SELECT r.scheduled_for, r.status, r.started_at FROM runs r JOIN jobs j ON j.id = r.job_id"
        " WHERE j.name = 'tick' AND r.scheduled_for BETWEEN ? AND ? ORDER BY r.scheduled_for",
        window,
    )


def lateness(rows: list[tuple[int, str, int | None]]) -> dict[str, int | None]:
    late = sorted(started - slot for slot, _, started in rows if started is not None)
    if not late:
        return {"runs": 0, "max_ms": None, "p99_ms": None}
    return {"runs": len(late), "max_ms": late[-1], "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))]}


def slots_in(window: tuple[int, int]) -> int:
    return window[1] // 1000 - (window[0] + 999) // 1000 + 1


def test_a_catastrophic_condition_leaves_the_other_jobs_on_time(env: dict[str, str], procs: Processes):
    cronui(env, "jobs", "add", "tick", *TICK)
    cronui(env, "jobs", "add", "publish", "--schedule", "@yearly", "--shell", "true")
    output = "a" * 40 + "b"  # `(a+)+$` backtracks 2^40 ways on it in Python's re
    when = ("--on-success", "publish", "--when", "regex:(a+)+$")
    cronui(env, "jobs", "add", "check", "--schedule", "@yearly", "--shell", f"echo {output}", *when)
    d = daemon(procs, env)
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 2, what="ticks")
    t0 = int(time.time() * 1000)
    for _ in range(3):  # checked three times, one after the other
        cronui(env, "jobs", "run", "check", "--wait")
    time.sleep(3)  # and the schedule watched for a while after
    window = (t0 + 1000, int(time.time() * 1000) - 1500)
    code, term_s = stop(d)

    rows = tick_slots(env, window)
    checks = query(
        env, "SELECT r.status, r.milestones FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'check'"
    )
    figures = {"tick slots": slots_in(window), **lateness(rows), "SIGTERM to exit s": round(term_s, 2)}
    print("catastrophic condition:", json.dumps(figures))
    assert [s for s, _ in checks] == ["succeeded"] * 3
    for _, milestones in checks:
        [held] = [m["data"] for m in json.loads(milestones) if m["name"] == "chain-not-fired"]
        assert held["reason"] == "the output has no match for /(a+)+$/"
    assert query(env, "SELECT COUNT(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'publish'") == [(0,)]
    assert [s for _, s, _ in rows] == ["succeeded"] * slots_in(window)  # every slot ran, none missed
    assert code == 0 and term_s < GRACE_S + 10


def test_a_restart_after_a_58_day_outage_leaves_the_other_jobs_on_time(env: dict[str, str], procs: Processes):
    cronui(env, "jobs", "add", "tick", *TICK)
    d = daemon(procs, env)
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 2, what="ticks")
    assert stop(d)[0] == 0
    for n in range(3):
        cronui(env, "jobs", "add", f"sec{n}", "--schedule", "* * * * * *", "--shell", "true", "--misfire", "skip")
    # and the scheduler was down for 58 days: the every-second jobs' next fire is 58 days old
    with contextlib.closing(sqlite3.connect(env["CRONUI_DB"])) as con, con:
        con.execute("UPDATE jobs SET next_run_at = next_run_at - ? WHERE name LIKE 'sec%'", (OUTAGE_MS,))
    firsts = dict(query(env, "SELECT name, next_run_at FROM jobs WHERE name LIKE 'sec%'"))
    d = daemon(procs, env)
    t0 = int(time.time() * 1000)
    time.sleep(6)
    window = (t0 + 1000, int(time.time() * 1000) - 1500)
    code, term_s = stop(d)

    rows = tick_slots(env, window)
    figures = {"tick slots": slots_in(window), **lateness(rows), "SIGTERM to exit s": round(term_s, 2)}
    print("58-day outage:", json.dumps(figures))
    assert [s for _, s, _ in rows] == ["succeeded"] * slots_in(window)  # every slot ran, none missed
    for name, first in firsts.items():
        # every slot of the outage is accounted for, once: a summary row, a row each for the newest 1,000
        [(last,)] = query(
            env,
            "SELECT MAX(r.scheduled_for) FROM runs r JOIN jobs j ON j.id = r.job_id"
            " WHERE j.name = ? AND r.reason = 'missed'",
            (name,),
        )
        [(rows_n, slots, summary)] = query(
            env,
            "SELECT COUNT(*), SUM(r.missed_count), MAX(r.missed_count) FROM runs r JOIN jobs j ON j.id = r.job_id"
            " WHERE j.name = ? AND r.scheduled_for BETWEEN ? AND ?",
            (name, first, last),
        )
        assert slots == (last - first) // 1000 + 1
        assert rows_n == 1001 and summary == slots - 1000
    assert code == 0 and term_s < GRACE_S + 10
