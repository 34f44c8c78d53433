"""A check's failed pings and `--alert-after N`, on the fake clock and on both backends: pings are written by
other processes (`cronui ping`, `cronui exec`, `/ping/NAME/fail` on `cronui serve`), so the failures in a row
open the check's `failure` episode in the store's ping transaction, and the process holding the scheduler
routes and sends it through the outbox; a success closes it (`recovered`); pings racing from two processes
open it once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.engine.engine import Engine
from cronui.engine.pings import Ping, PingKind
from cronui.model import Delivery, TargetKind
from cronui.model.alerts import SENT, AlertKind
from cronui.store.base import Store
from tests.alert_receivers import json_receiver
from tests.helpers import FakeExecutor, make_job, ms
from tests.store.backends import BACKENDS, fresh_store, same_database


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with fresh_store(request.param, tmp_path / "checks.db") as s:
        yield s


@pytest.fixture
async def holder(backend: Store, settings: Settings, clock: FakeClock) -> AsyncIterator[Engine]:
    """The process holding the scheduler (a daemon): it routes and sends what the pings opened."""
    eng = Engine(backend, settings, clock, executors={TargetKind.SHELL: FakeExecutor()}, rng=random.Random(7))
    await eng.open()
    assert await eng.try_acquire()
    yield eng
    await eng.close(grace_s=1.0)


@pytest.fixture
async def pinger(backend: Store, settings: Settings, clock: FakeClock) -> AsyncIterator[Control]:
    """Another process on the same database that reports pings (`cronui ping`, `cronui serve`)."""
    other = same_database(backend)
    await other.open()
    yield Control(other, settings, clock)
    await other.close()


async def sent(holder: Engine) -> None:
    """The holder's pass of the alerts, and the sends it started, finished."""
    await holder.watcher.drain_now()
    await holder.dispatcher.wait_deliveries()


async def failure_episodes(store: Store) -> list[tuple[bool, list[tuple[str, str]]]]:
    """(open, [(notice, outcome)]) of each `failure` episode, oldest first."""
    found = [(e, sends) for e, sends in reversed(await store.list_alert_episodes(100)) if e.kind is AlertKind.FAILURE]
    return [(e.closed_at is None, [(s.notice, s.outcome) for s in sends]) for e, sends in found]


async def test_failed_pings_in_a_row_alert_once_and_a_success_recovers(
    holder: Engine, pinger: Control, clock: FakeClock
) -> None:
    with json_receiver() as hook:
        delivery = Delivery(alert_to=f"http://127.0.0.1:{hook.port}/hook", format="json", alert_after=2)
        await pinger.add_job(make_job("backup", "0 * * * *", command="", is_check=True, delivery=delivery))
        clock.set(ms("2026-03-02T09:00:10Z"))
        await pinger.ping("backup", Ping(PingKind.FAIL, exit_code=3, message="tar: disk full"))
        await sent(holder)
        assert hook.bodies == [] and await failure_episodes(holder.store) == [], "one failure is not two in a row"

        clock.set(ms("2026-03-02T10:00:05Z"))
        second = await pinger.ping("backup", Ping(PingKind.FAIL, exit_code=3, message="tar: disk full"))
        await sent(holder)
        assert [b["alert"] for b in hook.bodies] == [
            f"🚨 backup failed 2 times in a row; last: tar: disk full (run #{second.id})"
        ]
        assert hook.bodies[0]["kind"] == "failure"
        assert await failure_episodes(holder.store) == [(True, [("failure", SENT)])]

        clock.set(ms("2026-03-02T10:30:05Z"))  # within the cooldown (an hour): no second alert
        await pinger.ping("backup", Ping(PingKind.FAIL, exit_code=1))
        await sent(holder)
        assert len(hook.bodies) == 1

        clock.set(ms("2026-03-02T12:00:02Z"))
        ok = await pinger.ping("backup", Ping(PingKind.SUCCESS))
        await sent(holder)
        assert [b["alert"] for b in hook.bodies[1:]] == [f"✅ backup recovered: run #{ok.id} succeeded"]
        assert hook.bodies[1]["kind"] == "recovered"
        assert await failure_episodes(holder.store) == [(False, [("failure", SENT), ("recovered", SENT)])]
        job = await pinger.job("backup")
        assert (await holder.store.job_health())[job.id or 0] == "ok"


async def test_a_check_without_an_alert_target_opens_nothing(holder: Engine, pinger: Control) -> None:
    await pinger.add_job(make_job("backup", "0 * * * *", command="", is_check=True))
    for _ in range(3):
        await pinger.ping("backup", Ping(PingKind.FAIL))
    assert await failure_episodes(holder.store) == []
    job = await pinger.job("backup")
    assert (await holder.store.job_health())[job.id or 0] == "failing", "still counted as failures"


async def test_failed_pings_racing_from_two_processes_open_one_episode(
    holder: Engine, pinger: Control, backend: Store, settings: Settings, clock: FakeClock
) -> None:
    with json_receiver() as hook:
        delivery = Delivery(alert_to=f"http://127.0.0.1:{hook.port}/hook", format="json", alert_after=2)
        await pinger.add_job(make_job("backup", "0 * * * *", command="", is_check=True, delivery=delivery))
        third = same_database(backend)
        await third.open()
        try:
            other = Control(third, settings, clock)
            fail = Ping(PingKind.FAIL, exit_code=1)
            await asyncio.gather(*(c.ping("backup", fail) for _ in range(4) for c in (pinger, other)))
        finally:
            await third.close()
        await sent(holder)
        assert await failure_episodes(holder.store) == [(True, [("failure", SENT)])]
        [body] = hook.bodies
        assert body["alert"].startswith("🚨 backup failed 2 times in a row")
