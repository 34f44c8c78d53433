"""Backfill on the fake clock, on each backend: a week of hourly slots after an outage, each slot run once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cronui.application.backfill import backfill
from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.engine.engine import Engine
from cronui.model import MisfirePolicy, OverlapPolicy, RunStatus, TargetKind, Trigger
from cronui.model.records import RunFilter
from cronui.store.base import Store
from tests.helpers import FakeExecutor, make_job, ms, run_until, settle
from tests.store.backends import BACKENDS, fresh_store, same_database

HOUR = 3_600_000
WEEK_START = ms("2026-03-02T09:00:00Z")
WEEK_END = WEEK_START + 167 * HOUR  # 2026-03-09T08:00Z, the week's 168th slot


@asynccontextmanager
async def running(kind: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Engine, Cronui]]:
    settings = Settings(db=str(tmp_path / "cronui.db"), timezone="UTC", timezone_source="test")
    async with fresh_store(kind, tmp_path / "cronui.db") as store:
        eng = Engine(store, settings, clock, executors={TargetKind.SHELL: FakeExecutor()}, rng=random.Random(7))
        await eng.open()
        assert await eng.try_acquire()
        try:
            yield eng, Cronui(settings, store, eng.control, clock)
        finally:
            await eng.close(grace_s=1.0)


async def week_runs(store: Store, job_id: int) -> list:
    runs = await store.list_runs(RunFilter(job_id=job_id, limit=100_000))
    return sorted((r for r in runs if WEEK_START <= r.scheduled_for <= WEEK_END), key=lambda r: r.id)


async def drain(eng: Engine, job_id: int) -> None:
    """Step as the loop does after each run's end (which wakes it), until none of the job's runs waits."""
    for _ in range(1000):
        await settle(eng)
        if not [r for r in await week_runs(eng.store, job_id) if r.status is RunStatus.PENDING]:
            return
    raise AssertionError("runs still waiting after 1000 steps")


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_week_of_hourly_slots_after_an_outage_runs_each_slot_exactly_once(kind: str, tmp_path: Path) -> None:
    clock = FakeClock(ms("2026-03-02T08:59:30Z"))
    async with running(kind, tmp_path, clock) as (eng, app):
        job = await eng.control.add_job(
            make_job("hourly", misfire=MisfirePolicy.SKIP, overlap=OverlapPolicy.SKIP, created_at=clock.now_ms())
        )
        assert job.id is not None
        await run_until(eng, clock, ms("2026-03-03T08:30:00Z"))  # the first day's 24 slots ran
        clock.set(ms("2026-03-09T08:00:30Z"))  # down for six days: back for the 08:00 slot, on time
        await settle(eng)
        before = await week_runs(app.store, job.id)
        ran = {r.scheduled_for for r in before if r.status is RunStatus.SUCCEEDED}
        assert len(ran) == 25
        assert sum(1 for r in before if r.status is RunStatus.SKIPPED and r.reason == "missed") == 143

        preview = await backfill(app, "hourly", "2026-03-02T09:00", "2026-03-09T08:00", dry_run=True)
        assert (len(preview.slots), preview.slots[0], preview.slots[-1]) == (168, WEEK_START, WEEK_END)
        assert preview.queued == [] and await week_runs(app.store, job.id) == before  # a preview queues nothing

        done = await backfill(app, "hourly", "2026-03-02T09:00", "2026-03-09T08:00", dry_run=False)
        assert len(done.queued) == 143 and done.skipped == 25  # the slots that ran are not queued again
        assert {r.scheduled_for for r in done.queued}.isdisjoint(ran)
        await drain(eng, job.id)

        after = await week_runs(app.store, job.id)
        succeeded = [r for r in after if r.status is RunStatus.SUCCEEDED]
        # one run per slot, none turned away by the job's overlap `skip`: they ran one after another
        assert sorted(r.scheduled_for for r in succeeded) == [WEEK_START + i * HOUR for i in range(168)]
        assert sum(1 for r in succeeded if r.trigger is Trigger.BACKFILL) == 143
        assert not [r for r in after if r.trigger is Trigger.BACKFILL and r.status is not RunStatus.SUCCEEDED]

        again = await backfill(app, "hourly", "2026-03-02T09:00", "2026-03-09T08:00", dry_run=False)
        assert again.queued == [] and again.skipped == 168
        assert len(await week_runs(app.store, job.id)) == len(after)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_two_backfills_of_one_window_at_once_queue_each_slot_once(kind: str, tmp_path: Path) -> None:
    clock = FakeClock(ms("2026-03-09T09:00:00Z"))
    async with running(kind, tmp_path, clock) as (eng, app):
        await eng.control.add_job(make_job("hourly", created_at=clock.now_ms()))
        other = same_database(app.store)  # another process on the same database
        await other.open()
        try:
            settings = app.settings
            there = Cronui(settings, other, Control(other, settings, clock), clock)
            both = await asyncio.gather(
                *(
                    backfill(a, "hourly", "2026-03-02T09:00", "2026-03-09T08:00", dry_run=False)
                    for a in (app, there, app, there)
                )
            )
        finally:
            await other.close()
        queued = sorted(r.scheduled_for for b in both for r in b.queued)
        assert queued == [WEEK_START + i * HOUR for i in range(168)]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_window_over_max_or_reaching_the_future_is_refused_and_queues_nothing(
    kind: str, tmp_path: Path
) -> None:
    clock = FakeClock(ms("2026-03-09T09:00:00Z"))
    async with running(kind, tmp_path, clock) as (eng, app):
        job = await eng.control.add_job(make_job("hourly", created_at=clock.now_ms()))
        assert job.id is not None
        with pytest.raises(Invalid, match="168 slots, more than --max 100"):
            await backfill(app, "hourly", "2026-03-02T09:00", "2026-03-09T08:00", dry_run=False, most=100)
        with pytest.raises(Invalid, match="in the future"):
            await backfill(app, "hourly", "2026-03-09T08:00", "2026-03-09T10:00", dry_run=False)
        with pytest.raises(Invalid, match="before --from"):
            await backfill(app, "hourly", "2026-03-09T08:00", "2026-03-08T10:00", dry_run=False)
        assert await app.store.list_runs(RunFilter(job_id=job.id)) == []
