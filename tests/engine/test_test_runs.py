"""Test runs (the editor's ctrl+t): a job run once as it stands, through the real executor, that leaves
no run, no job change and no delivery behind — only a `test_run` event — and stops when it is cancelled.
And the checks a form asks for before saving: every problem at once, with the CLI's own messages."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from cronui.engine.dispatcher import default_executors
from cronui.engine.engine import Engine
from cronui.jobs import JobError, job_errors, validate
from cronui.model import EventKind, Milestone, RunStatus
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from tests.helpers import make_job, ms

NOW = ms("2026-03-02T08:59:30Z")


async def flushed_test_events(store: SQLiteStore, engine: Engine) -> list[dict[str, object]]:
    await engine.bus.flush()
    return [e.data for e in await store.events_since(0) if e.kind is EventKind.TEST_RUN]


async def test_a_test_run_runs_the_real_command_and_records_only_an_event(engine: Engine, store: SQLiteStore) -> None:
    engine.dispatcher.executors.update(default_executors())
    saved = await engine.control.add_job(make_job("report", command="ok", on_failure=[], max_retries=3))
    job = make_job("report", command="echo '::milestone half pct=50::'; echo done; exit 4", max_retries=3)
    job.id = saved.id
    seen: list[Milestone] = []
    output: list[str] = []
    run = await engine.dispatcher.test_run(job, seen.append, lambda _stream, text: output.append(text))
    assert (run.id, run.status, run.exit_code) == (None, RunStatus.FAILED, 4)
    assert "done" in run.output and "done" in "".join(output)
    assert "half" in [m.name for m in seen] and {"pct": "50"} in [m.data for m in seen]
    assert await store.list_runs(RunFilter(limit=100)) == [], "no run row, no retry"
    assert await store.get_job_by_name("report") == saved, "the job is untouched"
    assert await flushed_test_events(store, engine) == [
        {
            "job": "report",
            "status": "failed",
            "duration_ms": run.duration_ms,
            "kind": "shell",
            "exit_code": 4,
            "error": "exited with code 4",
        }
    ]


async def test_a_test_run_tells_the_command_it_is_a_test(engine: Engine) -> None:
    engine.dispatcher.executors.update(default_executors())
    job = make_job("report", command='echo "run=$CRONUI_RUN_ID job=$CRONUI_JOB"')
    run = await engine.dispatcher.test_run(job, lambda _m: None, lambda _s, _t: None)
    assert run.output.strip() == "run=test job=report"


async def test_cancelling_a_test_run_stops_its_processes(engine: Engine, store: SQLiteStore, tmp_path) -> None:
    engine.dispatcher.executors.update(default_executors())
    pid_file = tmp_path / "pid"
    job = make_job("slow", command=f"echo $$ > {pid_file}; exec sleep 30")
    task = asyncio.ensure_future(engine.dispatcher.test_run(job, lambda _m: None, lambda _s, _t: None))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.02)
    pid = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the test run's process outlived it")
    events = await flushed_test_events(store, engine)
    assert [(e["job"], e["status"]) for e in events] == [("slow", "cancelled")]


def test_job_errors_lists_every_problem_with_the_message_validate_gives_the_first() -> None:
    job = make_job("bad name", schedule="0 61 * * *", command=" ", max_retries=101, tags=["a b"])
    errors = job_errors(job, NOW)
    assert [str(e) for e in errors] == [
        "name: 'bad name' is not a valid job name (letters, digits, '.', '_', '-'; up to 80; starting with a "
        "letter or digit)",
        "schedule: hour field: 61 is out of range 0-23",
        "shell: the command is empty",
        "retries: expected 0 to 100, got 101",
        "tag: 'a b' must be a non-empty word (no spaces or control characters)",
    ]
    with pytest.raises(JobError) as first:
        validate(make_job("bad name", schedule="0 61 * * *", command=" ", max_retries=101), NOW)
    assert str(first.value) == str(errors[0])
    assert job_errors(make_job("fine"), NOW) == []


async def test_control_problems_adds_what_only_the_store_knows(engine: Engine, store: SQLiteStore) -> None:
    await engine.control.add_job(make_job("taken"))
    job = make_job("taken", on_success=["nowhere"], timeout_s=0)
    assert [str(e) for e in await engine.control.problems(job)] == [
        "timeout: must be more than 0 seconds",
        "name: a job named 'taken' already exists",
        "on-success: no job named 'nowhere'",
    ]
    assert job.timeout_s == 0 and await store.get_job_by_name("taken") is not None
