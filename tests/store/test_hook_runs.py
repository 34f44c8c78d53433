"""The store's part in hooks: a retry carries its first attempt's request (the payload), and the per-job cap on
hook runs is counted from the runs table as each run is inserted, so stores racing on one database share it."""

from __future__ import annotations

import asyncio

import pytest

from cronui.model import Run, RunStatus, Trigger
from cronui.model.records import CapReached, ClaimLimits, RunCap, RunEnd, RunFilter
from cronui.store.base import Store
from tests.store.backends import same_database
from tests.store.test_store import T0, new_job, pending

HOOK = {"method": "POST", "url": "/hooks/j", "payload": '{"ref": "main"}'}


def hook_run(job_id: int, at: int, request: dict[str, str] | None = HOOK) -> Run:
    return pending(job_id, at, Trigger.MANUAL, request=request, not_before=at)


async def test_every_attempt_of_a_hook_run_carries_its_request(backend: Store):
    job = await new_job(backend)
    first = await backend.insert_run(hook_run(job.id, T0))
    for attempt in (1, 2):
        [(run, _)] = (await backend.claim("n", T0 + attempt, 30_000, ClaimLimits(10))).started
        assert run.attempt == attempt and run.request == HOOK
        run.status, run.finished_at = RunStatus.FAILED, T0 + attempt
        retry = pending(job.id, T0, Trigger.RETRY, attempt=attempt + 1, retry_of=first.id, not_before=T0)
        [recorded] = await backend.finish_runs([RunEnd(run, retry=retry)])
        assert [r.request for r in recorded.inserted] == [HOOK]
    assert [(r.attempt, r.request) for r in await backend.attempts(first.id)] == [(1, HOOK), (2, HOOK), (3, HOOK)]


async def test_a_retry_of_a_run_with_no_request_has_none_and_a_chained_run_none(backend: Store):
    job = await new_job(backend)
    await new_job(backend, "next")
    first = await backend.insert_run(pending(job.id, T0))
    [(run, _)] = (await backend.claim("n", T0, 30_000, ClaimLimits(10))).started
    run.status, run.finished_at = RunStatus.FAILED, T0 + 1
    retry = pending(job.id, T0, Trigger.RETRY, attempt=2, retry_of=first.id, not_before=T0)
    await backend.finish_runs([RunEnd(run, retry=retry)])
    assert [r.request for r in await backend.attempts(first.id)] == [None, None]

    hooked = await backend.insert_run(hook_run(job.id, T0 + 5))
    [(run, _)] = (await backend.claim("n", T0 + 5, 30_000, ClaimLimits(10, only_roots=[hooked.id]))).started
    run.status, run.finished_at = RunStatus.SUCCEEDED, T0 + 6
    [recorded] = await backend.finish_runs([RunEnd(run, chain_to=["next"])])
    [chained] = recorded.inserted
    assert (await backend.get_run(chained.id)).request is None, "a chained run is another job's: no payload"


async def test_the_cap_counts_the_jobs_hook_runs_in_a_sliding_window(backend: Store):
    job = await new_job(backend)
    other = await new_job(backend, "other")
    cap = RunCap(3, 10_000)
    for at in (T0, T0 + 1000, T0 + 2000):
        assert await backend.insert_run(hook_run(job.id, at), cap) is not None
    # what is not a hook call of this job does not count: another job's, a manual run with no request
    # (`jobs run`), a retry (the same call's run again)
    assert await backend.insert_run(hook_run(other.id, T0 + 2500), cap) is not None
    assert await backend.insert_run(hook_run(job.id, T0 + 2500, request=None)) is not None
    retry = pending(job.id, T0, Trigger.RETRY, attempt=2, retry_of=1, request=HOOK)
    assert await backend.insert_run(retry) is not None

    with pytest.raises(CapReached) as refused:
        await backend.insert_run(hook_run(job.id, T0 + 3000), cap)
    assert refused.value.wait_ms == 7000, "until the oldest of the three leaves the window"
    with pytest.raises(CapReached) as refused:
        await backend.insert_run(hook_run(job.id, T0 + 9999), cap)
    assert refused.value.wait_ms == 1
    assert await backend.insert_run(hook_run(job.id, T0 + 10_000), cap) is not None, "the first one left"
    with pytest.raises(CapReached) as refused:
        await backend.insert_run(hook_run(job.id, T0 + 10_000), cap)
    assert refused.value.wait_ms == 1000, "a refused call never counted: the second one is the oldest now"
    hooked = [r for r in await backend.list_runs(RunFilter(job_id=job.id)) if r.trigger is Trigger.MANUAL and r.request]
    assert len(hooked) == 4


async def test_two_stores_on_one_database_racing_cannot_pass_the_cap_together(backend: Store):
    job = await new_job(backend)
    cap = RunCap(5, 60_000)
    twin = same_database(backend)
    await twin.open()
    try:

        async def call(store: Store, at: int) -> bool:
            try:
                return await store.insert_run(hook_run(job.id, at), cap) is not None
            except CapReached:
                return False

        calls = [call(backend if i % 2 else twin, T0 + i) for i in range(24)]
        passed = await asyncio.gather(*calls)
    finally:
        await twin.close()
    assert sum(passed) == 5
    assert len(await backend.list_runs(RunFilter(job_id=job.id))) == 5, "a refused call inserted nothing"
