"""Shell jobs, with real processes (second-level timings, kept short)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cronui.engine.clock import SystemClock
from cronui.engine.engine import Engine
from cronui.engine.executors import children
from cronui.engine.executors.shell import parse_milestone
from cronui.model import Job, Run, RunStatus, TargetKind
from tests.helpers import make_job, settle


@pytest.fixture
async def real(store, settings):
    eng = Engine(store, settings, SystemClock())
    await eng.open()
    assert await eng.try_acquire()
    yield eng
    await eng.close(grace_s=2)


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (this machine's init may not reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


async def run_now(eng: Engine, name: str) -> Run:
    """Trigger a job and return its run once it has ended."""
    run = await eng.control.trigger(name)
    await settle(eng)
    return await eng.store.get_run(run.id)


async def run_once(eng: Engine, name: str, command: str, **kw) -> Run:
    await eng.control.add_job(make_job(name, "@yearly", command, **kw))
    return await run_now(eng, name)


def test_milestone_lines():
    assert parse_milestone("::milestone uploaded size=1.2G files=3::") == ("uploaded", {"size": "1.2G", "files": "3"})
    assert parse_milestone("::milestone done::") == ("done", {})
    assert parse_milestone("milestone done") is None
    assert parse_milestone("::milestone ::") is None


async def test_output_exit_code_milestones_and_environment(real: Engine):
    cmd = (
        'echo "job=$CRONUI_JOB run=$CRONUI_RUN_ID slot=$CRONUI_SCHEDULED_FOR"; '
        "echo '::milestone halfway pct=50::'; echo oops >&2; exit 3"
    )
    run = await run_once(real, "envy", cmd)
    assert run.status is RunStatus.FAILED
    assert run.exit_code == 3 and run.error == "exited with code 3"
    assert f"job=envy run={run.id} slot=20" in run.output
    assert run.stderr == "oops\n"
    names = [m.name for m in run.milestones]
    assert names == ["process-started", "halfway", "process-exited"]
    assert run.milestones[1].data == {"pct": "50"}
    assert run.milestones[2].data == {"exit_code": 3}


async def test_timeout_kills_the_whole_process_group(real: Engine, tmp_path):
    pidfile = tmp_path / "child.pid"
    cmd = f"sleep 30 & echo $! > {pidfile}; wait"
    t0 = time.monotonic()
    run = await run_once(real, "hang", cmd, timeout_s=0.5)
    elapsed = time.monotonic() - t0
    assert run.status is RunStatus.TIMED_OUT
    assert run.error == "timed out after 0.5s"
    assert elapsed < 5  # TERM was enough; no waiting for the sleep
    assert not alive(int(pidfile.read_text()))


async def test_term_ignoring_process_is_killed_after_the_grace(real: Engine, settings):
    settings.kill_grace = 0.3
    run = await run_once(real, "stubborn", "trap '' TERM; sleep 30", timeout_s=0.3)
    assert run.status is RunStatus.TIMED_OUT
    assert run.duration_ms < 4000


async def test_leftover_background_processes_are_stopped_when_the_shell_exits(real: Engine, tmp_path):
    pidfile = tmp_path / "bg.pid"
    run = await run_once(real, "bg", f"sleep 30 & echo $! > {pidfile}; echo started")
    assert run.status is RunStatus.SUCCEEDED
    assert not alive(int(pidfile.read_text()))


async def test_output_is_capped_head_and_tail_kept(real: Engine, settings):
    settings.output_cap = 1000
    run = await run_once(real, "flood", "echo FIRST; yes 0123456789 | head -c 2000000; echo; echo LAST")
    assert run.status is RunStatus.SUCCEEDED
    assert run.output.startswith("FIRST")
    assert run.output.rstrip().endswith("LAST")
    assert "bytes omitted" in run.output
    assert len(run.output.encode()) < 1200
    assert run.output_bytes > 2_000_000


async def test_secrets_resolve_at_run_time_and_are_masked(real: Engine, monkeypatch):
    monkeypatch.setenv("CRONUI_TEST_TOKEN", "s3cr3t-value")
    run = await run_once(real, "sec", 'echo "token is $TOKEN"', timeout_s=5)
    job = await real.store.get_job(run.job_id)
    job.target.env = {"TOKEN": "${env:CRONUI_TEST_TOKEN}"}
    await real.control.update_job(job)
    done = await run_now(real, "sec")
    assert done.status is RunStatus.SUCCEEDED
    assert "s3cr3t-value" not in done.output and "token is ••••••••" in done.output
    stored = await real.store.get_job(run.job_id)
    assert stored.target.env == {"TOKEN": "${env:CRONUI_TEST_TOKEN}"}


async def test_missing_secret_fails_naming_the_variable(real: Engine):
    job = make_job("nosec", "@yearly", "echo hi")
    job.target.env = {"TOKEN": "${env:CRONUI_SURELY_UNSET_VAR}"}
    await real.control.add_job(job)
    done = await run_now(real, "nosec")
    assert done.status is RunStatus.FAILED
    assert (
        done.error
        == "environment variable CRONUI_SURELY_UNSET_VAR is not set (referenced as ${env:CRONUI_SURELY_UNSET_VAR})"
    )


async def test_missing_working_directory_is_a_clear_failure(real: Engine):
    job = make_job("nocwd", "@yearly", "pwd")
    job.target.cwd = "/surely/not/here"
    await real.control.add_job(job)
    run = await real.control.trigger("nocwd")
    await settle(real)
    done = await real.store.get_run(run.id)
    assert done.status is RunStatus.FAILED and done.error == "working directory /surely/not/here does not exist"


async def test_killed_by_a_signal_is_reported(real: Engine):
    run = await run_once(real, "sig", "kill -9 $$")
    assert run.status is RunStatus.FAILED
    assert run.signal == 9 and run.error == "killed by signal SIGKILL"


@pytest.mark.skipif(not children.pidfd_works(), reason="this kernel or sandbox has no pidfd_open")
async def test_many_shell_runs_at_once_start_no_thread_per_child(real) -> None:
    """Waiting for a child costs no thread: the loop watches each child's pidfd."""
    for i in range(12):
        await real.control.add_job(make_job(f"s{i}", schedule="@yearly", command="sleep 0.6"))
    before = threading.active_count()
    for i in range(12):
        await real.control.trigger(f"s{i}")
    await real.step()
    peak = before
    while real.dispatcher.active:
        peak = max(peak, threading.active_count())
        await asyncio.sleep(0.02)
    await settle(real)
    assert peak - before < 6, f"{peak - before} threads started for 12 children"
    assert isinstance(asyncio.get_child_watcher(), children.PidfdWatcher)


@pytest.mark.skipif(not children.pidfd_works(), reason="this kernel or sandbox has no pidfd_open")
def test_children_of_other_loops_are_still_reaped_after_install() -> None:
    """The watcher is process-wide; each child is watched by the loop that started it."""
    assert children.install()

    async def spawn() -> int:
        proc = await asyncio.create_subprocess_exec("sh", "-c", "exit 3")
        return await proc.wait()

    assert [asyncio.run(spawn()) for _ in range(3)] == [3, 3, 3]


async def test_the_command_as_run_is_recorded_without_the_values_of_its_variables(real: Engine, tmp_path, monkeypatch):
    """What run detail's `v` shows of a shell run: the command as written, where it ran and the names of
    the variables the job set; a secret's value reaches the process, never the record."""
    monkeypatch.setenv("DEPLOY_TOKEN", "s3cret-value-123")
    cmd = 'test "${#TOKEN}" = 16 && echo "mode=$MODE" && echo "$TOKEN" >&2'
    target = {"command": cmd, "cwd": str(tmp_path), "env": {"TOKEN": "${env:DEPLOY_TOKEN}", "MODE": "fast"}}
    await real.control.add_job(
        Job(name="deploy", schedule="@yearly", timezone="UTC", kind=TargetKind.SHELL, target=target)
    )
    run = await run_now(real, "deploy")
    assert run.status is RunStatus.SUCCEEDED and run.output == "mode=fast\n"
    assert run.stderr == "••••••••\n"  # the process had the value; what cronui keeps is masked
    started = run.milestones[0]
    assert started.name == "process-started"
    assert started.data["request"] == {"command": cmd, "cwd": str(tmp_path), "env": ["MODE", "TOKEN"]}
    assert "s3cret-value-123" not in repr(run.milestones)
