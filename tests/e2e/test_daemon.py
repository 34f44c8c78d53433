"""Real processes, real time: the daemon end to end with second-level schedules. Kept short."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, cronui, lease_pid, query, wait_for


@pytest.fixture
def daemons(env: dict[str, str], procs: Processes) -> Callable[..., subprocess.Popen[str]]:
    return lambda *extra: procs.spawn("daemon", *extra, env=env, name="daemon")


def test_daemon_runs_a_one_second_job_and_stops_cleanly_on_sigterm(env, daemons):
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "echo tick")
    d = daemons()
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status='succeeded'")[0][0] >= 3, what="3 runs")
    status = json.loads(cronui(env, "status", "--json").stdout)
    assert status["scheduler"]["pid"] == d.pid
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0
    assert query(env, "SELECT COUNT(*) FROM scheduler_lease")[0][0] == 0
    assert cronui(env, "status", check=False).returncode == 1
    lines = [json.loads(line) for line in Path(d.log_path).read_text().splitlines() if line.startswith("{")]
    kinds = {line["event"] for line in lines}
    assert {"scheduler", "queued", "started", "milestone", "finished"} <= kinds
    slots = [r[0] for r in query(env, "SELECT scheduled_for FROM runs WHERE trigger IN ('schedule','catchup')")]
    assert len(slots) == len(set(slots))


def run_under_a_daemon(env, daemons, command: str, grace: str) -> subprocess.Popen[str]:
    """A daemon with --grace GRACE, running a job of COMMAND started by `jobs run`."""
    cronui(env, "jobs", "add", "job", "--schedule", "@yearly", "--shell", command)
    d = daemons("--grace", grace)
    wait_for(lambda: lease_pid(env) == d.pid, what="lease")
    cronui(env, "jobs", "run", "job")
    wait_for(lambda: query(env, "SELECT status FROM runs")[0][0] == "running", what="running")
    return d


def test_sigterm_lets_a_running_run_finish_within_the_grace(env, daemons):
    d = run_under_a_daemon(env, daemons, "sleep 1; echo finished", grace="10")
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0
    assert query(env, "SELECT status, output FROM runs") == [("succeeded", "finished\n")]


def test_sigterm_interrupts_what_outlives_the_grace(env, daemons):
    d = run_under_a_daemon(env, daemons, "sleep 30", grace="0.3")
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    assert query(env, "SELECT status FROM runs") == [("interrupted",)]


def test_kill_9_mid_run_then_restart(env, daemons):
    cronui(env, "jobs", "add", "work", "--schedule", "every 1s", "--shell", "sleep 2", "--misfire", "skip")
    first = daemons()
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status='running'")[0][0] == 1, what="a running run")
    first.kill()  # SIGKILL: no cleanup at all
    first.wait()
    time.sleep(2.5)  # slots go by while nothing schedules
    second = daemons()
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status='interrupted'")[0][0] == 1, what="interrupted")
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status='succeeded'")[0][0] >= 1, what="a new success")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=15) == 0
    rows = query(
        env,
        "SELECT scheduled_for, status, reason, missed_count FROM runs "
        "WHERE trigger IN ('schedule','catchup') ORDER BY scheduled_for",
    )
    slots = [r[0] for r in rows]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    # no silent hole: every second from the first slot to the last is a row (run, skip or missed)
    covered = sum(r[3] for r in rows)
    assert covered == (slots[-1] - slots[0]) // 1000 + 1
    reasons = {r[2] for r in rows if r[1] == "skipped"}
    assert "missed" in reasons


def test_two_daemons_one_schedules_the_other_takes_over(env, daemons):
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "true")
    a = daemons()
    wait_for(lambda: lease_pid(env) == a.pid, what="first holder")
    b = daemons()
    time.sleep(1.5)
    assert lease_pid(env) == a.pid
    nodes = {r[0] for r in query(env, "SELECT DISTINCT node FROM runs WHERE node IS NOT NULL")}
    assert all(n.split(":")[1] == str(a.pid) for n in nodes)
    a.kill()
    a.wait()
    wait_for(lambda: lease_pid(env) == b.pid, timeout=10, what="takeover")
    before = query(env, "SELECT COUNT(*) FROM runs WHERE node LIKE ?", (f"%:{b.pid}:%",))[0][0]
    wait_for(
        lambda: query(env, "SELECT COUNT(*) FROM runs WHERE node LIKE ?", (f"%:{b.pid}:%",))[0][0] > before + 1,
        what="runs by the new holder",
    )
    b.send_signal(signal.SIGTERM)
    assert b.wait(timeout=15) == 0


def test_jobs_run_wait_against_a_running_daemon_starts_at_once(env, daemons):
    env = {**env, "CRONUI_LEASE_RENEW": "10", "CRONUI_LEASE_TTL": "30"}
    cronui(env, "jobs", "add", "now", "--schedule", "@yearly", "--shell", "echo now")
    d = daemons()
    wait_for(lambda: lease_pid(env) == d.pid, what="lease")
    time.sleep(0.3)  # let the daemon go idle: its next own wake-up is the renewal, 10 s away
    res = cronui(env, "jobs", "run", "now", "--wait", "--json")
    run = json.loads(res.stdout)
    assert run["status"] == "succeeded" and run["node"].split(":")[1] == str(d.pid)
    queued, started = query(env, "SELECT queued_at, started_at FROM runs WHERE id = ?", (run["id"],))[0]
    # woken by the poke, not by its next renewal (the exact latency is measured in tests/benchmarks)
    assert started - queued < 5_000
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0


def test_runs_tail_follows_another_process(env, daemons, tmp_path):
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "echo '::milestone hello n=1::'")
    out = open(tmp_path / "tail.log", "w")
    tail = subprocess.Popen([sys.executable, "-m", "cronui", "runs", "tail", "--json"], env=env, stdout=out, text=True)
    try:
        time.sleep(1.0)
        d = daemons()
        wait_for(
            lambda: sum('"name": "hello"' in ln for ln in (tmp_path / "tail.log").read_text().splitlines()) >= 2,
            what="milestones in tail",
        )
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=15)
    finally:
        tail.send_signal(signal.SIGINT)
        tail.wait(timeout=10)
    events = [json.loads(ln) for ln in (tmp_path / "tail.log").read_text().splitlines()]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert all(e.get("job") == "tick" for e in events if "run" in e)


def test_cancel_and_follow_logs_of_a_run_in_another_process(env, daemons):
    cronui(
        env,
        "jobs",
        "add",
        "chatty",
        "--schedule",
        "@yearly",
        "--shell",
        # long enough that the cancel, a fresh process, arrives before the end even on a busy machine
        "for i in $(seq 1 40); do echo line$i; sleep 0.3; done",
    )
    d = daemons()
    wait_for(lambda: lease_pid(env) == d.pid, what="lease")
    run = json.loads(cronui(env, "jobs", "run", "chatty", "--json").stdout)
    wait_for(
        lambda: query(env, "SELECT status FROM runs WHERE id = ?", (run["id"],))[0][0] == "running", what="running"
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "cronui", "runs", "logs", str(run["id"]), "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: any("line3" in r[0] for r in query(env, "SELECT data FROM run_events WHERE kind = 'output'")),
        what="some output",
    )
    res = cronui(env, "runs", "cancel", str(run["id"]))
    assert f"cancelling run #{run['id']}" in res.stdout
    out, _ = follower.communicate(timeout=20)
    assert follower.returncode == 0
    assert "line1" in out and "line40" not in out
    status, reason = query(env, "SELECT status, reason FROM runs WHERE id = ?", (run["id"],))[0]
    assert (status, reason) == ("cancelled", "cancelled by request")
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0


def test_no_ui_with_text_log_format(env, tmp_path):
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "echo '::milestone step n=1::'")
    with open(tmp_path / "text.log", "w") as log:
        d = subprocess.Popen([sys.executable, "-m", "cronui", "--no-ui", "--log-format", "text"], env=env, stdout=log)
        try:
            wait_for(
                lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 1, what="a run"
            )
        finally:
            d.send_signal(signal.SIGTERM)
            assert d.wait(timeout=15) == 0
    lines = (tmp_path / "text.log").read_text().splitlines()
    assert not any(line.startswith("{") for line in lines)
    assert any(" milestone " in line and "tick #" in line and "step n=1" in line for line in lines)
    assert any(" finished " in line and "succeeded" in line for line in lines)
