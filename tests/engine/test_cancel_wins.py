"""A cancellation always wins. On Python 3.11 `asyncio.wait_for` returns the inner result when a cancel
arrives just as it completes (CPython gh-86296), swallowing the cancel: an executor that swallows one is
still ended by its timeout and by a cancel (it is cancelled again until it ends), a reading loop that never
suspends is ended by both (Pacer), and the waits that used `asyncio.wait_for` let the cancel through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from cronui.config import Settings
from cronui.engine import dispatcher as dispatcher_module
from cronui.engine.clock import SystemClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.engine.executors.pacing import DeadlinePassed, Pacer
from cronui.model import RunStatus, TargetKind
from cronui.store.sqlite import SQLiteStore
from cronui.ui.bridge import _next_batch
from tests.helpers import make_job


class Swallowing:
    """An executor that swallows the first `swallow` cancellations it gets (as a `wait_for` racing its
    inner result would), working on meanwhile; it stops at the next, or when `release` is set."""

    def __init__(self, swallow: int) -> None:
        self.swallow = swallow
        self.swallowed = 0
        self.running = asyncio.Event()
        self.release = asyncio.Event()
        self.ended = False

    async def __call__(self, ctx: RunContext) -> Outcome:
        self.running.set()
        try:
            while not self.release.is_set():
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    if self.swallowed >= self.swallow:
                        raise
                    self.swallowed += 1
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]  # as wait_for's swallow leaves it
            return Outcome(RunStatus.SUCCEEDED)
        finally:
            self.ended = True


@pytest.fixture
async def make_engine(store: SQLiteStore, settings: Settings) -> AsyncIterator[object]:
    made: list[tuple[Engine, Swallowing]] = []

    async def make(executor: Swallowing, kill_grace: float = 0.2) -> Engine:
        settings.kill_grace = kill_grace
        eng = Engine(store, settings, SystemClock(), executors={TargetKind.SHELL: executor})
        await eng.open()
        assert await eng.try_acquire()
        made.append((eng, executor))
        return eng

    yield make
    for eng, executor in made:
        executor.release.set()
        await eng.close(grace_s=1)


async def test_an_executor_that_swallows_its_cancellation_is_still_ended_by_its_timeout(make_engine):
    executor = Swallowing(swallow=3)
    eng = await make_engine(executor)
    await eng.control.add_job(make_job("stubborn", timeout_s=0.3))
    run = await eng.control.trigger("stubborn")
    await eng.step()
    async with asyncio.timeout(30):  # a failure, not a hang, if it is never stopped
        await eng.dispatcher.wait_idle()
    ended = await eng.store.get_run(run.id)
    assert (ended.status, ended.error) == (RunStatus.TIMED_OUT, "timed out after 0.3s")
    assert executor.swallowed == 3 and executor.ended


async def test_an_executor_that_swallows_its_cancellation_is_still_ended_by_a_cancel(make_engine):
    executor = Swallowing(swallow=1)
    eng = await make_engine(executor)
    await eng.control.add_job(make_job("stubborn"))
    run = await eng.control.trigger("stubborn")
    await eng.step()
    await executor.running.wait()
    await eng.control.cancel(run.id)
    await eng.step()
    async with asyncio.timeout(30):  # a failure, not a hang, if it is never stopped
        await eng.dispatcher.wait_idle()
    ended = await eng.store.get_run(run.id)
    assert (ended.status, ended.reason) == (RunStatus.CANCELLED, "cancelled by request")
    assert executor.swallowed == 1 and executor.ended


async def test_an_executor_that_never_stops_is_left_behind_and_its_run_recorded(make_engine, monkeypatch, caplog):
    monkeypatch.setattr(dispatcher_module, "STOP_RETRIES_S", 0.3)
    executor = Swallowing(swallow=10**9)
    eng = await make_engine(executor, kill_grace=0.1)
    await eng.control.add_job(make_job("deaf", timeout_s=0.2))
    run = await eng.control.trigger("deaf")
    await eng.step()
    with caplog.at_level(logging.ERROR):
        await eng.dispatcher.wait_idle()
    ended = await eng.store.get_run(run.id)
    assert ended.status is RunStatus.TIMED_OUT
    assert not executor.ended
    assert f"run #{run.id} of deaf: its executor does not stop" in caplog.text
    executor.release.set()
    for _ in range(100):
        if executor.ended:
            break
        await asyncio.sleep(0.01)
    assert executor.ended


# ---------------------------------------------------------------- a reading loop that never suspends


async def never_suspending() -> AsyncIterator[bytes]:
    """What a client's stream is when the server keeps its buffer full: data at once, without end (in
    truth ended after some seconds, so a test whose loop is never handed back fails rather than hangs)."""
    for _ in range(5_000_000):
        yield b"data"


async def read_all(pacer: Pacer) -> int:
    n = 0
    async for _ in never_suspending():
        n += 1
        await pacer.tick()
    return n


async def test_a_timeout_ends_a_reading_loop_that_never_suspends():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await read_all(Pacer())


async def test_a_cancel_from_outside_ends_a_reading_loop_that_never_suspends():
    task = asyncio.create_task(read_all(Pacer()))
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.wait({task}, timeout=30)
    assert task.cancelled()


async def test_a_cancellation_swallowed_on_its_way_still_ends_the_read():
    async def swallow_once_then_read() -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # swallowed without uncancel(): the task is still being cancelled
        return await read_all(Pacer())

    task = asyncio.create_task(swallow_once_then_read())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.wait({task}, timeout=30)
    assert task.cancelled()


async def test_a_reading_loop_ends_at_its_own_deadline():
    loop = asyncio.get_running_loop()
    with pytest.raises(DeadlinePassed):
        await read_all(Pacer(deadline=loop.time() + 0.1))


async def test_other_tasks_keep_running_beside_a_reading_loop_that_never_suspends():
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beside = asyncio.create_task(ticking())
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await read_all(Pacer())
    beside.cancel()
    assert ticks >= 10  # it had its turns (at least a fifth of its 50), not none


# ---------------------------------------------------------------- waits that used asyncio.wait_for


async def test_a_cancel_arriving_as_an_event_arrives_is_not_swallowed_by_the_viewers_wait():
    sub = SimpleNamespace(queue=asyncio.Queue())
    task = asyncio.create_task(_next_batch(sub, 10))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    sub.queue.put_nowait("event")  # the wait completes...
    task.cancel()  # ...and is cancelled in the same pass of the loop
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sub.queue.get_nowait() == "event"  # not taken: the next wait gets it
