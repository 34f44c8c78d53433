"""The alerts' pass with a fake clock: a late slot decided in the store, sent once through apprise's
json:// to a loopback receiver, `recovered` when the slot starts; a channel that refuses is retried with
backoff and holds nothing else up; a `${env:NAME}` channel is resolved only when sent."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cronui.engine.alerts import Watcher, close_alert, raise_alert
from cronui.engine.clock import FakeClock
from cronui.model import Delivery, Run, Trigger
from cronui.model.alerts import FAILED, PENDING, SENT, AlertDefaults
from cronui.store.sqlite import SQLiteStore
from tests.alert_receivers import JsonReceiver as Receiver
from tests.alert_receivers import json_receiver
from tests.helpers import make_job

T0 = 1_700_000_000_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with json_receiver() as r:
        yield r


class Harness:
    def __init__(self, store: SQLiteStore, clock: FakeClock, env: dict[str, str]) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.client = httpx.AsyncClient()
        self.watcher = Watcher(store, lambda: AlertDefaults(), clock, "node-a", lambda: self.client, self.spawn, env)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def pass_(self) -> None:
        await self.watcher.drain_now()
        await asyncio.gather(*self.tasks)
        self.tasks.clear()


async def _setup(
    tmp_path: Path, alert_to: str, env: dict[str, str] | None = None
) -> tuple[SQLiteStore, FakeClock, Harness, int]:
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    clock = FakeClock(T0)
    job = make_job("nightly", created_at=T0, updated_at=T0, alert_late_s=60.0, delivery=Delivery(alert_to=alert_to))
    job = await store.create_job(job)
    assert job.id is not None
    return store, clock, Harness(store, clock, env or {}), job.id


async def test_a_late_slot_is_sent_once_and_recovered_when_it_starts(tmp_path: Path, receiver: Receiver) -> None:
    store, clock, h, job_id = await _setup(tmp_path, f"json://127.0.0.1:{receiver.port}/hook")
    run = await store.insert_run(Run(job_id=job_id, trigger=Trigger.SCHEDULE, scheduled_for=T0, queued_at=T0))
    assert run is not None
    clock.advance(30)
    await h.pass_()
    assert receiver.bodies == []  # not late yet
    clock.advance(31)
    await h.pass_()
    clock.advance(5)
    await h.pass_()  # found once: not sent again
    assert [b["type"] for b in receiver.bodies] == ["info"]
    assert "nightly" in receiver.bodies[0]["message"] and "late" in receiver.bodies[0]["message"]
    await store.write_one("UPDATE runs SET status = 'running', started_at = ? WHERE id = ?", (clock.now_ms(), run.id))
    clock.advance(2)
    await h.pass_()
    assert len(receiver.bodies) == 2 and "recovered" in receiver.bodies[1]["message"]
    sends = await store.list_alert_sends()
    assert [(s.notice, s.outcome) for s in sends] == [("recovered", SENT), ("late", SENT)]
    await h.client.aclose()
    await store.close()


async def test_a_refusing_channel_is_retried_with_backoff_and_holds_up_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    store, clock, h, job_id = await _setup(tmp_path, f"json://127.0.0.1:1/x json://127.0.0.1:{receiver.port}/ok")
    assert await raise_alert(store, f"job:{job_id}", "infra", "gw", "🔌 gw down", {"endpoint": "gw"}, job_id, now=T0)
    assert not await raise_alert(store, f"job:{job_id}", "infra", "gw", "🔌 gw down", None, job_id, now=T0)
    await h.pass_()
    assert len(receiver.bodies) == 1  # the good channel got it
    by_channel = {s.channel: s for s in await store.list_alert_sends()}
    bad = by_channel["json://127.0.0.1:1/x"]
    assert (bad.outcome, bad.attempts) == (PENDING, 1) and bad.answer
    clock.advance(10)
    await h.pass_()
    assert (await store.list_alert_sends())[0].attempts in (0, 1)  # not due before its backoff
    for _ in range(5):
        clock.advance(3600)
        await h.pass_()
    bad = {s.channel: s for s in await store.list_alert_sends()}["json://127.0.0.1:1/x"]
    assert (bad.outcome, bad.attempts) == (FAILED, 5)
    assert await close_alert(store, f"job:{job_id}", "infra", now=clock.now_ms()) == 1
    await h.pass_()
    assert "recovered" in receiver.bodies[-1]["message"]
    await h.client.aclose()
    await store.close()


async def test_a_channel_secret_is_resolved_only_when_sent(tmp_path: Path, receiver: Receiver) -> None:
    channel = f"json://bot:${{env:HOOK_TOKEN}}@127.0.0.1:{receiver.port}/hook"
    store, _, h, job_id = await _setup(tmp_path, channel, {"HOOK_TOKEN": "s3cr3t-t0ken-value"})
    await raise_alert(store, f"job:{job_id}", "late", "1", "⏰ nightly late", None, job_id, now=T0)
    await h.pass_()
    assert len(receiver.bodies) == 1 and receiver.auth[0] is not None
    await store.close()
    assert b"s3cr3t-t0ken-value" not in (tmp_path / "a.db").read_bytes()
    await h.client.aclose()
