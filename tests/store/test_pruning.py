"""Retention pruning in batches: each batch its own transaction, a time budget per pass (store/pruning.py)."""

from __future__ import annotations

import asyncio

from cronui.model import EventKind, Lease, RunEvent
from cronui.model.records import RunFilter
from cronui.store import pruning
from cronui.store.base import Store
from tests.store.test_store import T0, new_job

DAY = 86_400_000


async def finished_runs(store: Store, job_id: int, n: int, *, at: int = T0, output: str = "") -> None:
    """`n` succeeded runs of a job, queued at `at`, written in one go."""
    async with store.transaction() as db:
        for i in range(n):
            await db.execute(
                "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, finished_at, duration_ms,"
                " output) VALUES (?, 'schedule', ?, 'succeeded', ?, ?, 10, ?)",
                (job_id, at + i, at + i, at + i + 10, output),
            )


async def test_a_budget_leaves_the_rest_for_the_next_pass(backend: Store):
    job = await new_job(backend)
    await finished_runs(backend, job.id, 2 * pruning.RUN_BATCH + 10)
    await backend.append_events([RunEvent(EventKind.STARTED, T0, None, job.id)])
    now = T0 + 100 * DAY
    first = await backend.prune(now, keep_days=30, runs_per_job=1000, event_hours=1, budget_s=0)
    assert (first.runs, first.events, first.done) == (pruning.RUN_BATCH, 0, False)  # one batch, then out of time
    passes, total = 1, first.runs
    for _ in range(10):
        res = await backend.prune(now, keep_days=30, runs_per_job=1000, event_hours=1, budget_s=0)
        passes, total = passes + 1, total + res.runs
        if res.done:
            break
    # 500, 500, the last 10 (then out of time before the events), the event
    assert total == 2 * pruning.RUN_BATCH + 10 and res.events == 1 and passes == 4
    assert await backend.list_runs(RunFilter(job_id=job.id)) == []


async def test_runs_per_job_is_applied_in_batches_and_keeps_the_latest(backend: Store):
    a, b = await new_job(backend, "a"), await new_job(backend, "b")
    await finished_runs(backend, a.id, pruning.RUN_BATCH + 3)
    await finished_runs(backend, b.id, 5)
    res = await backend.prune(T0 + DAY, keep_days=365, runs_per_job=2, event_hours=24)
    assert res.done and res.runs == pruning.RUN_BATCH + 1 + 3
    for job in (a, b):
        left = await backend.list_runs(RunFilter(job_id=job.id))
        assert len(left) == 2 and left[0].id > left[1].id
    newest_a = max(r.id for r in await backend.list_runs(RunFilter(job_id=a.id)))
    assert newest_a == (await backend.list_runs(RunFilter(job_id=a.id, limit=1)))[0].id


async def test_a_lease_renewal_goes_through_between_batches(backend: Store):
    """The renewal is not held up until the whole prune is over (SQLite: one writer at a time)."""
    job = await new_job(backend)
    await finished_runs(backend, job.id, 3 * pruning.RUN_BATCH, output="x" * 4096)
    lease = Lease("me", "host", 1, "", T0, T0 + 30_000)
    assert (await backend.acquire_lease(lease, T0, lambda _: True)).holder == "me"
    prune = asyncio.create_task(backend.prune(T0 + 100 * DAY, keep_days=30, runs_per_job=10, event_hours=1))
    await asyncio.sleep(0)  # the prune has begun its first batch
    assert await backend.renew_lease("me", T0 + 10_000, T0 + 40_000)
    assert not prune.done()  # renewed while batches were left
    res = await prune
    assert res.done and res.runs == 3 * pruning.RUN_BATCH
