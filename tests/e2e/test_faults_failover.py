"""Fault injection with real processes: schedulers killed -9, frozen past their lease, a CLI run racing a
daemon, and processes that leave their run's group. The jobs count overlapping executions themselves:
each holds an flock on a file for as long as any of its processes lives, and writes to `overlaps` when it
finds the lock taken — so an execution that outlived its scheduler shows up, whatever the rows say."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cronui.store import lockholder
from tests.e2e.processes import Processes, cronui, lease_pid, query, stop_at, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")


@pytest.fixture
def start(env: dict[str, str], procs: Processes) -> Callable[..., subprocess.Popen[str]]:
    return lambda *argv: procs.spawn(*(argv or ("daemon",)), env=env)


def guarded(tmp_path: Path, body: str) -> str:
    """A shell command that runs `body` holding an exclusive lock, or records an overlap."""
    lock, overlaps = tmp_path / "exec.lock", tmp_path / "overlaps"
    return f"flock -n {lock} sh -c '{body}' || echo overlap >> {overlaps}"


def overlaps(tmp_path: Path) -> int:
    f = tmp_path / "overlaps"
    return len(f.read_text().splitlines()) if f.exists() else 0


def running(env: dict[str, str]) -> int:
    return query(env, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0]


def test_kill_9_cycles_with_retries_never_run_a_job_twice_at_once(env, start, tmp_path):
    cronui(
        env, "jobs", "add", "work", "--schedule", "every 1s", "--shell", guarded(tmp_path, "sleep 2"),
        "--retries", "3", "--retry-delay", "0s", "--misfire", "skip",
    )  # fmt: skip
    holder = start()
    standby = start()
    cycles = int(os.environ.get("FAULT_CYCLES", "3"))  # more for a closing note's figures
    for _ in range(cycles):
        wait_for(lambda: running(env) == 1, timeout=20, what="a running run")
        time.sleep(0.5)  # well inside the run: its processes are up
        victim = holder if lease_pid(env) == holder.pid else standby
        victim.kill()
        victim.wait()
        replacement = start()
        holder, standby = (standby, replacement) if victim is holder else (holder, replacement)
        wait_for(lambda gone=victim.pid: lease_pid(env) not in (None, gone), timeout=15, what="a takeover")
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 1, timeout=20)
    for p in (holder, standby):
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    assert overlaps(tmp_path) == 0
    interrupted = query(env, "SELECT COUNT(*) FROM runs WHERE status = 'interrupted'")[0][0]
    assert interrupted >= cycles
    rows = query(env, "SELECT scheduled_for, missed_count FROM runs WHERE trigger IN ('schedule', 'catchup')")
    slots = sorted(r[0] for r in rows)
    assert len(slots) == len(set(slots)), "a slot ran twice"
    # no lost slot: every second from the first slot to the last is a row (run, skipped or missed)
    assert sum(r[1] for r in rows) == (slots[-1] - slots[0]) // 1000 + 1


def test_a_holder_frozen_past_its_lease_is_stopped_before_the_job_runs_again(env, start, tmp_path):
    cronui(
        env, "jobs", "add", "long", "--schedule", "every 1s", "--shell", guarded(tmp_path, "sleep 6"),
        "--retries", "2", "--retry-delay", "0s", "--misfire", "skip",
    )  # fmt: skip
    frozen = start()
    wait_for(lambda: lease_pid(env) == frozen.pid, what="the first holder")
    standby = start()
    wait_for(lambda: running(env) == 1, timeout=15, what="a running run")
    [(first_id,)] = query(env, "SELECT id FROM runs WHERE status = 'running'")
    # past the 3 s lease, between two of its writes (inside one, see the next test): the standby takes over
    stop_at(frozen, env["CRONUI_DB"], inside_write=False)
    wait_for(lambda: lease_pid(env) == standby.pid, timeout=15, what="the standby's takeover")
    wait_for(
        lambda: query(env, "SELECT status FROM runs WHERE id = ?", (first_id,))[0][0] == "interrupted",
        timeout=15,
        what="the frozen holder's run recorded interrupted",
    )
    wait_for(lambda: running(env) == 1, timeout=15, what="the job running again under the new holder")
    frozen.send_signal(signal.SIGCONT)  # it finds its lease gone and stops what it still thinks it runs
    time.sleep(2.5)
    cpu_before = _cpu_s(frozen.pid)
    time.sleep(2.0)
    frozen_cpu = _cpu_s(frozen.pid) - cpu_before
    for p in (standby, frozen):
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    assert overlaps(tmp_path) == 0
    assert frozen_cpu < 1.0, f"a standby that lost its lease used {frozen_cpu:.2f} s of CPU in 2 s"


CHATTY = "for i in $(seq 1 300); do echo line $i; sleep 0.01; done"  # output written every few ms


def test_a_holder_stopped_inside_a_write_is_ended_so_the_standby_can_take_over(env, start, tmp_path):
    """A holder stopped holding SQLite's write lock keeps everyone from writing: once its lease has expired
    the standby on the same host ends it (SIGKILL), takes over, recovers its run and runs the job again."""
    cronui(env, "jobs", "add", "chatty", "--schedule", "every 1s", "--shell", guarded(tmp_path, CHATTY),
           "--misfire", "skip")  # fmt: skip
    frozen = start()
    wait_for(lambda: lease_pid(env) == frozen.pid, what="the first holder")
    standby = start()
    wait_for(lambda: running(env) == 1, timeout=15, what="a running run")
    [(first_id,)] = query(env, "SELECT id FROM runs WHERE status = 'running'")
    stop_at(frozen, env["CRONUI_DB"], inside_write=True)
    assert frozen.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: lease_pid(env) == standby.pid, timeout=15, what="the standby's takeover")
    wait_for(
        lambda: query(env, "SELECT status FROM runs WHERE id = ?", (first_id,))[0][0] == "interrupted",
        timeout=15,
        what="the stopped holder's run recorded interrupted",
    )
    wait_for(
        lambda: query(env, "SELECT COUNT(*) FROM runs WHERE id > ? AND status = 'succeeded'", (first_id,))[0][0] >= 1,
        timeout=20,
        what="the job run to its end under the new holder",
    )
    standby.send_signal(signal.SIGTERM)
    assert standby.wait(timeout=20) == 0
    assert overlaps(tmp_path) == 0
    log = Path(standby.log_path).read_text()  # type: ignore[attr-defined]
    assert f"pid {frozen.pid} (" in log and "scheduler lease expired" in log, log[-3000:]
    assert "ending it (SIGKILL)" in log, log[-3000:]


def test_ctrl_z_stops_the_daemon_between_writes_only(env, start, tmp_path):
    """SIGTSTP (ctrl-Z in a terminal) stops the daemon, never inside a write: stopped there, it would keep
    every other process out of the database. `fg` (SIGCONT) and it carries on."""
    cronui(env, "jobs", "add", "chatty", "--schedule", "every 1s", "--shell", CHATTY, "--misfire", "skip")
    daemon = start()
    wait_for(lambda: running(env) == 1, timeout=15, what="a running run")
    for _ in range(20):
        wait_for(lambda: lockholder.write_lock_holder(env["CRONUI_DB"]) == daemon.pid, poll=0, what="a write")
        daemon.send_signal(signal.SIGTSTP)  # while it writes: it stops once that write is over
        wait_for(lambda: lockholder.process_state(daemon.pid) == "T", timeout=10, what="the daemon stopped")
        assert lockholder.write_lock_holder(env["CRONUI_DB"]) != daemon.pid
        daemon.send_signal(signal.SIGCONT)
        time.sleep(0.03)
    done = query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0]
    wait_for(
        lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] > done,
        timeout=20,
        what="the job running on after fg",
    )
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


def test_a_cronui_apply_stopped_inside_its_write_does_not_stop_the_scheduler(env, start, tmp_path):
    """`cronui apply` stopped (SIGSTOP) in the middle of its one transaction keeps SQLite's write lock: the
    scheduler, its own writes refused past the busy timeout, ends it instead of giving up; the half-applied
    file is rolled back with it, and the jobs run on."""
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "true", "--misfire", "skip")
    daemon = start()
    wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 1, what="a run")
    jobs = tmp_path / "many.toml"
    jobs.write_text("".join(f'[[job]]\nname = "j{i}"\nschedule = "@yearly"\nshell = "true"\n' for i in range(4000)))
    apply = start("apply", str(jobs))
    stop_at(apply, env["CRONUI_DB"], inside_write=True)
    assert apply.wait(timeout=40) == -signal.SIGKILL
    done = query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0]
    wait_for(
        lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] > done + 1,
        timeout=20,
        what="the job running on",
    )
    assert query(env, "SELECT COUNT(*) FROM jobs")[0][0] == 1  # nothing of the stopped apply was kept
    assert daemon.poll() is None
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    log = Path(daemon.log_path).read_text()  # type: ignore[attr-defined]
    assert f"pid {apply.pid} (" in log and "waited out the busy timeout" in log, log[-3000:]


def test_jobs_run_wait_without_a_daemon_keeps_its_lease_while_a_daemon_starts(env, start, tmp_path):
    cronui(env, "jobs", "add", "once", "--schedule", "@yearly", "--shell", guarded(tmp_path, "sleep 5; echo done"))
    cli = start("jobs", "run", "once", "--wait")
    wait_for(lambda: running(env) == 1, timeout=15, what="the CLI's run")
    daemon = start()
    assert cli.wait(timeout=30) == 0
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    assert overlaps(tmp_path) == 0
    statuses = [r[0] for r in query(env, "SELECT status FROM runs")]
    assert statuses == ["succeeded"]
    log = Path(cli.log_path).read_text()  # type: ignore[attr-defined]
    assert log.count("lease") <= 1, log[-2000:]


def test_a_process_that_leaves_its_runs_group_is_stopped_after_the_run(env, start, tmp_path):
    pidfile = tmp_path / "escapee.pid"
    body = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' & sleep 0.3"
    cronui(env, "jobs", "add", "escape", "--schedule", "@yearly", "--shell", body)
    daemon = start()
    wait_for(lambda: lease_pid(env) == daemon.pid, what="the daemon")
    cronui(env, "jobs", "run", "escape")
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", timeout=15, what="the escapee")
    escapee = int(pidfile.read_text())
    wait_for(lambda: query(env, "SELECT status FROM runs")[0][0] == "succeeded", timeout=15, what="the run's end")
    wait_for(lambda: not _alive(escapee), timeout=15, what="the escapee stopped")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
