"""When alerts are looked for, with a fake clock: the holder wakes for the moment a waiting slot turns late
or a running run overruns (not only at its next lease renewal), never sooner than the next pass may run;
no_success is looked for once a minute, so a lapse is alerted at most a minute after it began."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from cronui.config import Settings
from cronui.engine.alerts import LAPSES_EVERY_MS, PASS_EVERY_MS, Watcher
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model import Run, RunStatus, Trigger
from cronui.model.alerts import AlertDefaults
from cronui.store.sqlite import SQLiteStore
from tests.helpers import make_job

T0 = 1_700_000_000_000


def _watcher(store: SQLiteStore, clock: FakeClock, defaults: AlertDefaults | None = None) -> Watcher:
    d = defaults or AlertDefaults()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        coro.close()  # nothing is routed anywhere here

    return Watcher(store, lambda: d, clock, "node-a", lambda: None, spawn, {})  # type: ignore[arg-type,return-value]


async def test_the_holder_wakes_when_a_waiting_slot_turns_late_or_a_run_overruns(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    clock = FakeClock(T0)
    watcher = _watcher(store, clock, AlertDefaults(overrun_s=600))
    assert await watcher.next_deadline(T0) is None  # nothing waits, nothing runs: nothing to wake for
    job = await store.create_job(make_job("nightly", created_at=T0, updated_at=T0, alert_late_s=60.0))
    run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=T0, queued_at=T0))
    assert run is not None
    assert await watcher.next_deadline(T0) == T0 + 60_000
    clock.advance(61)
    await watcher.tick()  # the slot's late alert is recorded: nothing more to wake for
    assert [e.kind for e in await store.open_alert_episodes()] == ["late"]
    assert await watcher.next_deadline(clock.now_ms()) is None
    started = clock.now_ms()
    await store.write_one("UPDATE runs SET status = 'running', started_at = ? WHERE id = ?", (started, run.id))
    assert await watcher.next_deadline(started) == started + 600_000  # the `[alerts]` overrun
    # a deadline already past waits for the next pass, never a busy loop
    assert await watcher.next_deadline(started + 700_000) == started + 700_000 + PASS_EVERY_MS // 4
    await store.close()


async def test_the_engine_sleeps_until_the_next_alert_when_that_comes_first(tmp_path: Path, settings: Settings) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    await store.open()
    clock = FakeClock(T0)
    eng = Engine(store, settings, clock)
    await eng.open()
    try:
        assert await eng.try_acquire()
        job = await eng.control.add_job(make_job("report", schedule="0 0 1 1 *", alert_overrun_s=90.0))
        wake_before = await eng.step()
        assert wake_before is not None and wake_before > T0 + 86_400_000  # next year's slot
        run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=T0, queued_at=T0))
        assert run is not None
        await store.write_one(
            "UPDATE runs SET status = ?, started_at = ? WHERE id = ?", (str(RunStatus.RUNNING), T0, run.id)
        )
        await eng.step()  # its alerts' pass, in a task of its own, finds the overrun due before the planned wake-up
        assert eng._watching is not None
        await eng._watching
        assert eng._wake.is_set()  # so the loop plans again at once
        assert await eng.step() == T0 + 90_000  # and sleeps until the overrun, not a year
    finally:
        await eng.close(grace_s=0.1)
        await store.close()


async def test_no_success_is_looked_for_once_a_minute(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    clock = FakeClock(T0)
    watcher = _watcher(store, clock)
    await store.create_job(make_job("sync", created_at=T0, updated_at=T0, alert_no_success_s=60.0))
    clock.advance(30)
    await watcher.tick()  # looked for: not lapsed yet
    clock.advance(31)
    await watcher.tick()  # lapsed, but not looked for again before a minute has passed
    assert await store.open_alert_episodes() == []
    clock.advance(LAPSES_EVERY_MS / 1000 - 31)
    await watcher.tick()
    assert [e.kind for e in await store.open_alert_episodes()] == ["no_success"]
    await asyncio.sleep(0)
    await store.close()
