"""Riding out database faults in the engine: the backoff, the write paths (run ends, events) and the loop."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from cronui.config import Lease, Settings
from cronui.engine.engine import Engine
from cronui.engine.events import EventBus
from cronui.engine.faults import LAST_FAULT_KEY, Backoff, FaultPersisted, FaultState
from cronui.engine.writes import EndsNotWritten, GroupCommit
from cronui.model import EventKind, Run, RunEvent, RunStatus, TargetKind, Trigger
from cronui.model.records import Recorded, RunEnd
from cronui.store.faults import StoreFault


def locked() -> StoreFault:
    return StoreFault("db: database is locked (another process holds its write lock)", "locked")


# ---------------------------------------------------------------- backoff and the fault's clock


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_reset():
    b = Backoff(first=0.25, cap=5.0)
    assert [b.next() for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next() == 0.25


def test_backoff_never_waits_longer_than_its_cap_even_from_the_first_try():
    b = Backoff(first=3.0, cap=1.0)
    assert [b.next() for _ in range(3)] == [1.0, 1.0, 1.0]


def test_a_fault_is_exhausted_at_its_give_up_moment_and_counts_its_failures():
    f = FaultState("locked", "locked", since_ms=1_000, since=10.0, give_up_at=13.0)
    f.failed_again("disk full", "full")
    assert (f.failures, f.error, f.kind) == (2, "disk full", "full")
    assert not f.exhausted(12.9)
    assert f.exhausted(13.0)
    assert f.lasted(12.5) == 2.5


# ---------------------------------------------------------------- run ends (group commit)


class FlakyEnds:
    """finish_runs refuses `failures` times with a passing fault, then records."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def finish_runs(self, ends: list[RunEnd]) -> list[Recorded]:
        self.calls += 1
        if self.calls <= self.failures:
            raise locked()
        return [Recorded() for _ in ends]


def an_end(run_id: int = 1) -> RunEnd:
    run = Run(job_id=1, trigger=Trigger.MANUAL, scheduled_for=0, queued_at=0, id=run_id, status=RunStatus.SUCCEEDED)
    return RunEnd(run)


async def test_a_run_end_refused_by_a_passing_fault_is_retried_until_written():
    store = FlakyEnds(failures=3)
    gc = GroupCommit(store)  # type: ignore[arg-type]
    assert await gc.record(an_end()) == Recorded()
    assert store.calls == 4
    await gc.close()


async def test_a_run_end_refused_for_longer_than_retry_for_fails_with_the_fault():
    gc = GroupCommit(FlakyEnds(failures=10**9), retry_for=0.3)  # type: ignore[arg-type]
    with pytest.raises(StoreFault, match="database is locked"):
        await gc.record(an_end())
    await gc.close()


async def test_abort_fails_ends_being_retried_at_once_and_refuses_new_ones():
    gc = GroupCommit(FlakyEnds(failures=10**9), retry_for=3600)  # type: ignore[arg-type]
    waiting = asyncio.ensure_future(gc.record(an_end()))
    await asyncio.sleep(0.05)
    gc.abort(RuntimeError("the lease ran out"))
    with pytest.raises(EndsNotWritten, match="the lease ran out"):
        await waiting
    with pytest.raises(EndsNotWritten):
        await gc.record(an_end(2))
    await gc.close()


class Hanging:
    """finish_runs never returns (a store stuck in a busy wait)."""

    async def finish_runs(self, ends: list[RunEnd]) -> list[Recorded]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_close_gives_up_on_a_store_that_never_answers():
    gc = GroupCommit(Hanging())  # type: ignore[arg-type]
    waiting = asyncio.ensure_future(gc.record(an_end()))
    await asyncio.sleep(0.01)
    await gc.close(timeout=0.1)
    with pytest.raises(EndsNotWritten):
        await waiting


# ---------------------------------------------------------------- live events


class RefusingEvents:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[RunEvent] = []

    async def append_events(self, events: list[RunEvent]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise locked()
        self.written.extend(events)


def an_event(i: int) -> RunEvent:
    return RunEvent(EventKind.MILESTONE, i, run_id=1, job_id=1, job_name="j", name=f"m{i}")


async def test_events_refused_for_a_while_are_written_once_the_store_takes_them_in_order():
    store = RefusingEvents(failures=2)
    bus = EventBus(store, flush_interval=0.0)  # type: ignore[arg-type]
    bus.start()
    for i in range(3):
        bus.publish(an_event(i))
    for _ in range(200):
        if len(store.written) == 3:
            break
        await asyncio.sleep(0.05)
    await bus.stop()
    assert [e.name for e in store.written] == ["m0", "m1", "m2"]
    assert bus.dropped == 0


async def test_stop_drops_what_the_store_keeps_refusing_after_its_timeout():
    store = RefusingEvents(failures=10**9)
    bus = EventBus(store)  # type: ignore[arg-type]
    for i in range(5):
        bus.publish(an_event(i))
    await bus.stop(timeout=0.3)
    assert bus.dropped == 5 and store.written == []


async def test_events_waiting_on_a_refusing_store_are_capped():
    bus = EventBus(RefusingEvents(failures=10**9), max_pending=10)  # type: ignore[arg-type]
    for i in range(25):
        bus.publish(an_event(i))
    assert bus.dropped == 15
    await bus.stop(timeout=0.0)


# ---------------------------------------------------------------- the loop


def quick_lease(settings: Settings, ttl: float, renew: float) -> Settings:
    return replace(settings, lease=Lease(ttl=ttl, renew=renew))


def refuse_renewals(store: Any, times: int) -> list[int]:
    """Make the store's lease renewals fail `times` times with a passing fault; counts the calls."""
    calls: list[int] = []
    real = store.renew_lease

    async def renew_lease(holder: str, now: int, expires_at: int) -> bool:
        calls.append(now)
        if len(calls) <= times:
            raise locked()
        return await real(holder, now, expires_at)

    store.renew_lease = renew_lease
    return calls


async def test_the_loop_rides_out_a_fault_that_clears_and_notes_it_for_status(store, settings, clock, fake):
    eng = Engine(store, quick_lease(settings, ttl=30, renew=0.05), clock, executors={TargetKind.SHELL: fake})
    await eng.open()
    sub = eng.bus.subscribe()
    assert await eng.try_acquire()
    calls = refuse_renewals(store, times=3)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    try:
        for _ in range(400):
            if len(calls) > 4 and eng.fault is None:
                break
            await asyncio.sleep(0.01)
        assert eng.fault is None and eng.holding and not task.done()
    finally:
        stop.set()
        await task
        await eng.close()
    seen = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    states = [ev.data.get("state") for ev in seen if ev.kind is EventKind.SCHEDULER]
    assert states.count("db-fault") == 1 and "db-recovered" in states
    note = json.loads(await store.get_state(LAST_FAULT_KEY) or "{}")
    assert note["failures"] == 3 and "database is locked" in note["error"]


async def test_the_loop_gives_up_once_the_lease_it_holds_has_run_out(store, settings, clock, fake):
    eng = Engine(store, quick_lease(settings, ttl=0.3, renew=0.05), clock, executors={TargetKind.SHELL: fake})
    await eng.open()
    assert await eng.try_acquire()
    refuse_renewals(store, times=10**9)
    with pytest.raises(FaultPersisted, match="the scheduler lease has run out"):
        await eng.run(asyncio.Event())
    with pytest.raises(EndsNotWritten):  # nothing waits on run ends the database will not take
        await eng.dispatcher.finisher.writes.record(an_end())
    await eng.close()
