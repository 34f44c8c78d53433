"""When the holder looks up the next alert deadline, and what it wakes for, on the fake clock.

The lookup (`Store.next_alert_at`) runs after an alerts' pass that ran, or when a slot was planned, a run
started or an outside write poked the loop since the last lookup — not after every step. A slot planned
between passes still wakes the loop when it turns late, and a check's slot with no ping is recorded missed
and alerted `late` about one pass after its grace, by a wake-up the engine asks for itself (not a lease
renewal's)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cronui.config import Settings
from cronui.engine.alerts import PASS_EVERY_MS, raise_alert
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model import Job, Run, RunStatus, Trigger
from cronui.model.alerts import AlertDefaults, AlertEpisode, AlertKind
from cronui.model.records import RunFilter
from tests.alert_receivers import json_receiver
from tests.helpers import make_job, ms
from tests.store.backends import BACKENDS, fresh_store

SLACK_MS = PASS_EVERY_MS + PASS_EVERY_MS // 4  # "about one pass": the next pass may be a second away


class Loop:
    """The engine's loop on the fake clock, with no lease renewals: a step now, then at each wake-up the
    engine asks for (the moment `step` returns, or at once when its alerts' pass set the wake-up). What
    happens here happens because the engine woke for it; a lease renewal would come on its own."""

    def __init__(self, engine: Engine, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.steps: list[int] = []

    async def step(self) -> int | None:
        eng = self.engine
        eng._wake.clear()
        wake = await eng.step()
        self.steps.append(self.clock.now_ms())
        if eng._watching is not None:
            await eng._watching
        await eng.dispatcher.wait_idle()
        return wake

    async def until(self, until: int) -> None:
        """Step from wake-up to wake-up up to `until`; the clock is left at `until`."""
        while len(self.steps) < 1000:
            wake = await self.step()
            if self.engine._wake.is_set():
                continue  # the loop plans again at once
            if wake is None or wake > until:
                self.clock.set(until)
                return
            self.clock.set(max(wake, self.clock.now_ms()))
        raise AssertionError("the loop did not come to rest")


def count_calls(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[int]:
    """Count the calls of obj.name from now on."""
    calls: list[int] = []
    real: Callable[..., Awaitable[Any]] = getattr(obj, name)

    async def counted(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return await real(*args, **kw)

    monkeypatch.setattr(obj, name, counted)
    return calls


async def lates(engine: Engine, job: Job) -> list[AlertEpisode]:
    found = [e for e, _ in await engine.store.list_alert_episodes(job_id=job.id) if e.kind is AlertKind.LATE]
    return sorted(found, key=lambda e: e.id or 0)


# ------------------------------------------------------------ how often the deadline is looked up


async def test_idle_steps_look_up_the_alert_deadline_once_per_pass_not_once_per_step(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.control.add_job(make_job("nightly", "0 3 * * *", alert_late_s=60.0))
    lookups = count_calls(monkeypatch, engine.store, "next_alert_at")
    passes = count_calls(monkeypatch, engine.store, "alert_candidates")
    loop = Loop(engine, clock)
    for _ in range(100):  # woken every 50 ms (runs of other processes, pokes...) for 5 s: nothing planned
        clock.advance(0.05)
        await loop.step()
    assert 4 <= len(passes) <= 6
    assert len(lookups) == len(passes), "looked up after each pass that ran, and only then"


async def test_busy_steps_look_up_the_alert_deadline_when_slots_are_planned_not_on_every_run_end(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):  # every second; their runs end at once, each end waking the loop
        await engine.control.add_job(make_job(f"tick-{i}", "* * * * * *", alert_overrun_s=30.0))
    lookups = count_calls(monkeypatch, engine.store, "next_alert_at")
    loop = Loop(engine, clock)
    clock.set(ms("2026-03-02T09:00:00Z"))
    for _ in range(50):  # 5 s, a step every 100 ms
        await loop.step()
        clock.advance(0.1)
    done = [r for r in await engine.store.list_runs(RunFilter(limit=500)) if r.status is RunStatus.SUCCEEDED]
    assert len(done) >= 15  # 3 jobs x 5 slots ran
    assert len(lookups) <= 6, f"{len(lookups)} lookups in 50 steps: about one a second (planning, its pass)"


# ------------------------------------------------------------ what the loop wakes for


async def test_a_slot_planned_between_passes_still_wakes_the_loop_when_it_turns_late(
    engine: Engine, clock: FakeClock
) -> None:
    # no node carries the label: its slot is planned and waits
    job = await engine.control.add_job(make_job("gpu-report", "0 9 * * *", node_label="gpu", alert_late_s=5.0))
    loop = Loop(engine, clock)
    await loop.until(ms("2026-03-02T08:59:59.600Z"))
    engine.poke_local()  # an edit elsewhere wakes the loop: a pass runs 0.4 s before the slot is planned
    await loop.until(ms("2026-03-02T09:00:30Z"))
    [late] = await lates(engine, job)
    slot_late = ms("2026-03-02T09:00:05Z")
    assert slot_late <= late.opened_at <= slot_late + SLACK_MS
    assert len(loop.steps) <= 8, loop.steps  # no busy loop on the way


@pytest.mark.parametrize("poked", [False, True], ids=["alone", "a-pass-just-before"])
async def test_a_checks_missed_slot_is_recorded_and_alerted_within_a_pass_of_its_grace(
    engine: Engine, clock: FakeClock, settings: Settings, poked: bool
) -> None:
    with json_receiver() as receiver:
        settings.alerts = AlertDefaults(to=[f"json://127.0.0.1:{receiver.port}/alerts"])
        job = await engine.control.add_job(make_job("backup", "0 * * * *", command="", is_check=True, grace_s=1))
        loop = Loop(engine, clock)
        if poked:  # a write from elsewhere wakes the loop half a second before the grace ends: a pass runs
            await loop.until(ms("2026-03-02T09:00:00.500Z"))
            engine.poke_local()
        await loop.until(ms("2026-03-02T09:00:30Z"))
        slot, due = ms("2026-03-02T09:00:00Z"), ms("2026-03-02T09:00:01Z")
        [missed] = [r for r in await engine.store.list_runs(RunFilter(limit=500)) if r.scheduled_for == slot]
        assert (missed.status, missed.reason) == (RunStatus.SKIPPED, "missed")
        assert due <= (missed.finished_at or 0) <= due + SLACK_MS
        [late] = await lates(engine, job)
        assert late.since == slot and due <= late.opened_at <= due + SLACK_MS
        await engine.dispatcher.wait_deliveries()
        for _ in range(200):  # the send is an HTTP post to the receiver's thread
            if receiver.bodies:
                break
            await asyncio.sleep(0.01)
        assert len(receiver.bodies) == 1 and "backup" in receiver.bodies[0]["message"]


async def test_a_slot_planned_while_a_lookup_is_under_way_still_wakes_the_loop(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await engine.control.add_job(make_job("gpu-report", "0 9 * * *", node_label="gpu", alert_late_s=5.0))
    loop = Loop(engine, clock)
    await loop.until(ms("2026-03-02T08:59:59.600Z"))
    gate = asyncio.Event()
    real = engine.store.next_alert_at

    async def slow(defaults: AlertDefaults) -> int | None:
        found = await real(defaults)  # read before the slot is planned, answered after
        await gate.wait()
        return found

    monkeypatch.setattr(engine.store, "next_alert_at", slow)
    engine._wake.clear()
    await engine.step()  # its pass runs, then the lookup, held
    clock.set(ms("2026-03-02T09:00:00Z"))
    await engine.step()  # plans the slot meanwhile (and starts no second lookup)
    monkeypatch.setattr(engine.store, "next_alert_at", real)
    gate.set()
    assert engine._watching is not None
    await engine._watching
    assert engine._wake.is_set(), "the loop plans again for the slot planned during the lookup"
    await loop.until(ms("2026-03-02T09:00:30Z"))
    [late] = await lates(engine, job)
    due = ms("2026-03-02T09:00:05Z")
    assert due <= late.opened_at <= due + SLACK_MS


async def test_an_edit_that_sets_alert_late_on_a_waiting_slot_wakes_the_loop_for_it(
    engine: Engine, clock: FakeClock
) -> None:
    job = await engine.control.add_job(make_job("gpu-report", "0 9 * * *", node_label="gpu"))
    loop = Loop(engine, clock)
    await loop.until(ms("2026-03-02T09:00:00.500Z"))  # the slot waits; its pass ran at 09:00:00
    job = await engine.control.job("gpu-report")
    job.alert_late_s = 30.0
    await engine.control.update_job(job)  # this process's edit pokes its own loop
    await loop.until(ms("2026-03-02T09:01:00Z"))
    [late] = await lates(engine, job)
    due = ms("2026-03-02T09:00:30Z")
    assert due <= late.opened_at <= due + SLACK_MS


@pytest.mark.parametrize(
    ("grace_s", "late_s", "poke_s"),
    [(1, 20, 10.0), (20, 1, 0.5)],
    ids=["late-after-the-missed-record", "late-within-the-grace"],
)
async def test_a_checks_own_late_span_wakes_the_loop_for_it(
    engine: Engine, clock: FakeClock, grace_s: int, late_s: int, poke_s: float
) -> None:
    slot = ms("2026-03-02T09:00:00Z")
    job = await engine.control.add_job(
        make_job("backup", "0 * * * *", command="", is_check=True, grace_s=grace_s, alert_late_s=late_s)
    )
    loop = Loop(engine, clock)
    await loop.until(slot + int(poke_s * 1000))
    engine.poke_local()  # a write from elsewhere between the slot and its late moment: the loop plans again
    await loop.until(ms("2026-03-02T09:01:00Z"))  # nothing else wakes it
    [late] = await lates(engine, job)
    due = slot + late_s * 1000
    assert late.since == slot and due <= late.opened_at <= due + SLACK_MS
    assert len(loop.steps) <= 8, loop.steps


# ------------------------------------------------------------ the lookup itself, on each backend


@pytest.mark.parametrize("kind", BACKENDS)
async def test_the_next_alert_deadline_includes_a_checks_next_slot_and_its_latest_missed_slot(
    kind: str, tmp_path: Path
) -> None:
    t0 = ms("2026-03-02T09:00:00Z")
    async with fresh_store(kind, tmp_path / "a.db") as store:
        defaults = AlertDefaults()
        check = await store.create_job(
            make_job("backup", command="", is_check=True, grace_s=60.0, next_run_at=t0, created_at=t0)
        )
        assert await store.next_alert_at(defaults) == t0 + 60_000  # its slot, late by its grace
        await store.create_job(make_job("own-span", command="", is_check=True, alert_late_s=5.0, next_run_at=t0))
        assert await store.next_alert_at(defaults) == t0 + 5_000  # its own span wins over the grace
        await store.write_one("UPDATE jobs SET enabled = 0 WHERE name = 'own-span'")
        # the slot recorded missed, the next one an hour on: the missed one is what falls due first
        await store.write_one("UPDATE jobs SET next_run_at = ? WHERE id = ?", (t0 + 3_600_000, check.id))
        missed = Run(
            job_id=check.id,
            trigger=Trigger.SCHEDULE,
            scheduled_for=t0,
            queued_at=t0 + 60_000,
            status=RunStatus.SKIPPED,
            reason="missed",
            finished_at=t0 + 60_000,
        )
        assert await store.insert_run(missed) is not None
        assert await store.next_alert_at(defaults) == t0 + 60_000
        await raise_alert(store, f"job:{check.id}", "late", str(t0), "late", None, check.id, now=t0 + 60_000)
        assert await store.next_alert_at(defaults) == t0 + 3_660_000, "alerted: the next slot's moment"
        await raise_alert(store, f"job:{check.id}", "late", str(t0 + 3_600_000), "late", None, check.id, now=t0)
        assert await store.next_alert_at(defaults) is None


async def test_a_wall_clock_set_back_does_not_hold_the_alerts_passes_off(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = count_calls(monkeypatch, engine.store, "alert_candidates")
    loop = Loop(engine, clock)
    await loop.step()
    clock.advance(-3600)  # an hour back (NTP, a hand-set clock): the next wake-up still has its pass
    await loop.step()
    assert len(passes) == 2
