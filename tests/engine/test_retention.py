"""The scheduler's retention pruning runs beside the loop, never inside it (engine/retention.py)."""

from __future__ import annotations

import asyncio

from cronui.config import Settings
from cronui.engine import retention
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.retention import Pruner
from cronui.model import RunStatus, TargetKind
from cronui.model.records import PruneResult, RunFilter
from cronui.store import pruning
from cronui.store.sqlite import SQLiteStore
from tests.helpers import FakeExecutor, make_job
from tests.store.test_pruning import finished_runs
from tests.store.test_store import new_job

DAY = 86_400_000


async def test_runs_start_while_pruning_is_under_way_and_stopping_cancels_it(
    store: SQLiteStore, settings: Settings, clock: FakeClock, fake: FakeExecutor, monkeypatch
):
    began, cancelled = asyncio.Event(), asyncio.Event()

    async def endless_prune(*args: object, **kw: object) -> PruneResult:  # a prune of a huge history
        began.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    monkeypatch.setattr(store, "prune", endless_prune)
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    await eng.open()
    await eng.control.add_job(make_job("now", "@yearly"))
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    try:
        async with asyncio.timeout(30):
            await began.wait()
            run = await eng.control.trigger("now")
            eng.poke_local()
            while (await store.get_run(run.id)).status is not RunStatus.SUCCEEDED:
                await asyncio.sleep(0.02)
        assert eng.pruner.busy  # the run started and finished while pruning went on
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task
        await eng.close()
    assert cancelled.is_set() and not eng.pruner.busy


async def test_a_pass_out_of_budget_carries_on_after_the_next_renewal(
    store: SQLiteStore, settings: Settings, clock: FakeClock, fake: FakeExecutor, monkeypatch
):
    monkeypatch.setattr(retention, "PRUNE_BUDGET_S", 0.0)  # each pass: one batch
    settings.lease.renew, settings.lease.ttl = 0.05, 5.0
    settings.retention.days = 1
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    await eng.open()
    job = await eng.control.add_job(make_job("old", "@yearly"))
    await finished_runs(store, job.id, 2 * pruning.RUN_BATCH + 1, at=clock.now_ms() - 5 * DAY)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    try:
        async with asyncio.timeout(30):
            while await store.list_runs(RunFilter(job_id=job.id, limit=1)):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
        await eng.close()
    assert eng.pruner.passes >= 3  # one batch per pass, each pass one renewal after the last


async def test_stopping_mid_batch_leaves_whole_batches_and_a_usable_store(
    store: SQLiteStore, settings: Settings, clock: FakeClock
):
    job_id = (await new_job(store, "old")).id
    await finished_runs(store, job_id, 4 * pruning.RUN_BATCH, at=clock.now_ms() - 5 * DAY, output="x" * 2048)
    settings.retention.days = 1
    pruner = Pruner(store, settings, clock)
    pruner.maybe_start()
    await asyncio.sleep(0)  # the first batch is on its way
    await pruner.stop()
    assert not pruner.busy
    left = len(await store.list_runs(RunFilter(job_id=job_id, limit=10_000)))
    assert left % pruning.RUN_BATCH == 0 and left > 0  # the batch in flight committed whole or not at all
    await store.set_state("after", "1")  # no transaction left open behind the cancelled one
    assert await store.get_state("after") == "1"
