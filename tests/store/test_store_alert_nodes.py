"""Three nodes on one database (each its own store and watcher, as three processes would be) see the same
late slot at the same moment: the alert is recorded once and sent once, and so is its recovery. Run on both
backends; on PostgreSQL this is the cluster the issue describes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx

from cronui.engine.alerts import Watcher
from cronui.engine.clock import FakeClock
from cronui.model import Delivery, Run, Trigger
from cronui.model.alerts import SENT, AlertDefaults
from cronui.store.base import Store
from tests.alert_receivers import json_receiver
from tests.helpers import make_job
from tests.store.backends import same_database

T0 = 1_700_000_000_000


class Node:
    def __init__(self, store: Store, clock: FakeClock, name: str, client: httpx.AsyncClient) -> None:
        self.store = store
        self.tasks: list[asyncio.Future[None]] = []
        self.watcher = Watcher(store, AlertDefaults, clock, name, lambda: client, self.tasks_add, {})

    def tasks_add(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def pass_(self) -> None:
        await self.watcher.drain_now()
        await asyncio.gather(*self.tasks)
        self.tasks.clear()


async def test_three_nodes_send_a_late_alert_once_and_its_recovery_once(backend: Store) -> None:
    clock = FakeClock(T0)
    others = [same_database(backend), same_database(backend)]
    for s in others:
        await s.open()
    with json_receiver() as receiver:
        delivery = Delivery(alert_to=f"json://127.0.0.1:{receiver.port}/alerts")
        job = await backend.create_job(
            make_job("nightly", created_at=T0, updated_at=T0, alert_late_s=60.0, delivery=delivery)
        )
        run = await backend.insert_run(Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=T0, queued_at=T0))
        assert run is not None
        async with httpx.AsyncClient() as client:
            nodes = [Node(s, clock, f"node-{i}", client) for i, s in enumerate([backend, *others])]
            clock.advance(61)
            for _ in range(3):  # every node, at once, three times over
                await asyncio.gather(*(n.pass_() for n in nodes))
            assert len(receiver.bodies) == 1 and "late" in receiver.bodies[0]["message"]
            await backend.write_one(
                "UPDATE runs SET status = 'running', started_at = ? WHERE id = ?", (clock.now_ms(), run.id)
            )
            clock.advance(2)
            for _ in range(3):
                await asyncio.gather(*(n.pass_() for n in nodes))
    for s in others:
        await s.close()
    assert [b["message"].split(":")[0] for b in receiver.bodies] == ["⏰ nightly", "✅ nightly"]
    [(episode, sends)] = await backend.list_alert_episodes()
    assert episode.closed_at is not None
    assert [(s.notice, s.outcome, s.attempts) for s in sends] == [("late", SENT, 1), ("recovered", SENT, 1)]
