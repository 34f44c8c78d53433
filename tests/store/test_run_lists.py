"""Runs listed by several statuses over every job (`:failed`, `runs list --status a,b`): the newest first, only
those statuses, within `since` and before `before_id`, at most `limit`, on both backends."""

from __future__ import annotations

import random

from cronui.model import RunStatus
from cronui.model.records import RunFilter
from cronui.store.base import Store
from tests.store.test_store import T0, new_job

STATUSES = ["succeeded", "failed", "timed_out", "interrupted", "skipped"]


async def test_several_statuses_are_listed_newest_first_as_one_list(backend: Store):
    a, b = await new_job(backend, "a"), await new_job(backend, "b")
    rng = random.Random(7)
    rows = [(rng.choice((a.id, b.id)), rng.choice(STATUSES), T0 + rng.randrange(0, 1000)) for _ in range(300)]
    async with backend.transaction() as db:
        for slot, (job_id, status, queued) in enumerate(rows):
            await db.execute(
                "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at) VALUES (?, 'manual', ?, ?, ?)",
                (job_id, T0 + slot, status, queued),
            )
    every = await backend.list_runs(RunFilter(limit=10_000))
    wanted = [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED]
    for since, before, limit in [
        (None, None, 100),
        (T0 + 500, None, 20),
        (T0 + 200, every[40].id, 15),
        (None, None, 1),
    ]:
        got = await backend.list_runs(RunFilter(statuses=wanted, since=since, before_id=before, limit=limit))
        expected = [
            r
            for r in every
            if r.status in wanted
            and (since is None or (r.queued_at or 0) >= since)
            and (before is None or (r.id or 0) < before)
        ][:limit]
        assert [r.id for r in got] == [r.id for r in expected]
        assert {r.job_name for r in got} <= {"a", "b"} and all(r.job_name for r in got)
    assert await backend.list_runs(RunFilter(statuses=wanted, since=T0 + 5000)) == []
