"""Retry rules on the fake clock: a shell job retried only on the exit codes worth it, an HTTP job only on
the statuses worth it; and the rules refused where they do not belong."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.engine.executors.http import status_failure
from cronui.jobs import JobError
from cronui.model import Job, RunStatus, TargetKind
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from tests.helpers import make_job, ms, run_until


async def shell_exit(ctx: RunContext) -> Outcome:
    """A shell job whose command is `exit N`, ended as the shell executor ends it."""
    code = int(ctx.job.target.command.split()[1])  # type: ignore[union-attr]
    if code == 0:
        return Outcome(RunStatus.SUCCEEDED, exit_code=0)
    return Outcome(RunStatus.FAILED, error=f"exited with code {code}", exit_code=code)


async def http_status(ctx: RunContext) -> Outcome:
    """An HTTP job whose URL ends in the status the server answers, judged as the HTTP executor judges it."""
    import httpx

    status = int(ctx.job.target.url.rsplit("/", 1)[1])  # type: ignore[union-attr]
    return status_failure(httpx.Response(status), {})


@pytest.fixture
async def engine(store: SQLiteStore, settings: Settings, clock: FakeClock) -> AsyncIterator[Engine]:
    eng = Engine(
        store,
        settings,
        clock,
        executors={TargetKind.SHELL: shell_exit, TargetKind.HTTP: http_status},
        rng=random.Random(7),
    )
    await eng.open()
    assert await eng.try_acquire()
    yield eng
    await eng.close(grace_s=1.0)


def http_job(name: str, status: int, **kw: object) -> Job:
    job = Job(
        name=name, schedule="0 9 * * *", timezone="UTC", kind=TargetKind.HTTP, target={"url": f"https://x/{status}"}
    )
    for key, value in kw.items():
        setattr(job, key, value)
    return job


async def attempts(engine: Engine, clock: FakeClock, *jobs: Job) -> list[list[tuple[int, RunStatus]]]:
    """Each job's attempts (number, status) at its 09:00 slot, followed half an hour on the fake clock."""
    clock.set(ms("2026-03-02T09:00:00Z"))
    await run_until(engine, clock, ms("2026-03-02T09:30:00Z"))
    out = []
    for job in jobs:
        runs = sorted(await engine.store.list_runs(RunFilter(job_id=job.id, limit=100)), key=lambda r: r.id)
        out.append([(r.attempt, r.status) for r in runs])
    return out


F = RunStatus.FAILED


async def test_a_shell_job_is_retried_on_a_listed_exit_code_only(engine, clock):
    retried = await engine.control.add_job(
        make_job("tempfail", "0 9 * * *", "exit 75", max_retries=2, retry_delay_s=5, retry_on_exit=[75, 111])
    )
    usage = await engine.control.add_job(
        make_job("usage", "0 9 * * *", "exit 2", max_retries=2, retry_delay_s=5, retry_on_exit=[75, 111])
    )
    assert await attempts(engine, clock, retried, usage) == [[(1, F), (2, F), (3, F)], [(1, F)]]


async def test_a_shell_job_is_never_retried_on_an_excluded_exit_code(engine, clock):
    usage = await engine.control.add_job(
        make_job("usage", "0 9 * * *", "exit 2", max_retries=3, retry_delay_s=5, no_retry_on_exit=[2])
    )
    other = await engine.control.add_job(
        make_job("other", "0 9 * * *", "exit 75", max_retries=1, retry_delay_s=5, no_retry_on_exit=[2])
    )
    assert await attempts(engine, clock, usage, other) == [[(1, F)], [(1, F), (2, F)]]


async def test_without_rules_every_failed_exit_is_retried(engine, clock):
    job = await engine.control.add_job(make_job("plain", "0 9 * * *", "exit 2", max_retries=1, retry_delay_s=5))
    assert await attempts(engine, clock, job) == [[(1, F), (2, F)]]


async def test_an_http_job_is_retried_on_a_listed_status_only(engine, clock):
    busy = await engine.control.add_job(http_job("busy", 503, max_retries=2, retry_delay_s=5, retry_on_status=[503]))
    broken = await engine.control.add_job(
        http_job("broken", 500, max_retries=2, retry_delay_s=5, retry_on_status=[503])
    )
    # a listed 4xx, permanent without rules, is retried
    gone = await engine.control.add_job(http_job("gone", 409, max_retries=1, retry_delay_s=5, retry_on_status=[409]))
    assert await attempts(engine, clock, busy, broken, gone) == [[(1, F), (2, F), (3, F)], [(1, F)], [(1, F), (2, F)]]


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            make_job("a", retry_on_status=[503]),
            "retry-on-status: only http jobs have it, not shell jobs",
        ),
        (
            http_job("b", 500, retry_on_exit=[75]),
            "retry-on-exit: only shell jobs have it, not http jobs",
        ),
        (
            make_job("c", retry_on_exit=[75], no_retry_on_exit=[2]),
            "no-retry-on-exit: a job retries only on some exit codes",
        ),
        (make_job("d", retry_on_exit=[0]), "retry-on-exit: 0 is not a code from 1 to 255"),
        (http_job("e", 500, retry_on_status=[700]), "retry-on-status: 700 is not a code from 100 to 599"),
    ],
)
async def test_rules_on_the_wrong_kind_both_lists_or_bad_codes_are_refused(engine, job, message):
    with pytest.raises(JobError) as refused:
        await engine.control.add_job(job)
    assert str(refused.value).startswith(message)
    assert await engine.store.list_job_heads() == []
