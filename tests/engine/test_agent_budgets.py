"""Daily budgets on an engine with an injected clock, asking a real chat server on loopback: a catch-up
after downtime stops at the budget, the runs it turns away say so, and one alert a day says it too."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import pytest

from cronui.config import Price, Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model import REASON_BUDGET, Job, MisfirePolicy, OverlapPolicy, RunStatus, TargetKind, Trigger
from cronui.model.records import DAY_MS, RunFilter, day_start
from cronui.store.sqlite import SQLiteStore
from cronui.targets import Delivery
from tests.engine.servers import Sink
from tests.engine.test_agent_unattended import Answer, ScriptedChat
from tests.helpers import ms, settle

# 1000 prompt + 500 completion tokens (the scripted usage) at these prices: $0.10 + $0.10 a run
PRICE = Price(input=100.0, output=200.0)
RUN_COST = 0.2


@pytest.fixture
async def chat() -> AsyncIterator[ScriptedChat]:
    s = ScriptedChat(script={"m": [Answer("Digest ready.")]})
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def eng(store: SQLiteStore, settings: Settings, clock: FakeClock) -> AsyncIterator[Engine]:
    settings.prices["m"] = PRICE
    e = Engine(store, settings, clock, rng=random.Random(7))
    await e.open()
    assert await e.try_acquire()
    e.dispatcher.finisher.delivery_backoff_s = 0.01
    yield e
    await e.close(grace_s=2)


def minutely(name: str, chat: ScriptedChat, sink: Sink, budget: float | None) -> Job:
    """An agent job every minute that catches up every missed slot, one at a time, alerting to `sink`."""
    target = {"base_url": f"{chat.url}/v1", "model": "m", "message": "digest", "daily_budget_usd": budget}
    job = Job(name=name, schedule="* * * * *", timezone="UTC", kind=TargetKind.AGENT, target=target)
    job.misfire, job.misfire_grace_s = MisfirePolicy.RUN_ALL, 30
    job.overlap, job.queue_limit = OverlapPolicy.QUEUE, 500
    job.delivery = Delivery(alert_to=f"{sink.url}/alerts", format="json")
    return job


async def settle_all(eng: Engine) -> None:
    """Step until no run is waiting to start (a queued job hands the claim one run at a time)."""
    for _ in range(1000):
        await settle(eng)
        if not await eng.store.list_runs(RunFilter(statuses=[RunStatus.PENDING], limit=1)):
            break
    await eng.dispatcher.wait_deliveries()


def alerts(sink: Sink) -> list[str]:
    return [json.loads(r.body)["alert"] for r in sink.requests if r.path == "/alerts"]


async def test_a_catch_up_after_downtime_stops_at_the_daily_budget_and_alerts_once(eng, clock, chat, sink, store):
    job = await eng.control.add_job(minutely("digest", chat, sink, budget=0.5))
    clock.set(ms("2026-03-02T11:00:30Z") + 31_000)  # down for two hours: 100 catch-up runs are queued
    await settle_all(eng)
    runs = await store.list_runs(RunFilter(job_id=job.id, limit=1000))
    ran = [r for r in runs if r.status is RunStatus.SUCCEEDED]
    held = [r for r in runs if r.status is RunStatus.SKIPPED and (r.reason or "").startswith(REASON_BUDGET)]
    # $0.20 a run: two runs make $0.40; a third would make $0.60, past $0.50
    assert len(ran) == 2 and len(chat.requests) == 2
    assert sum(r.cost_usd or 0 for r in ran) == pytest.approx(0.4)
    assert len(held) >= 99 and all(r.trigger in (Trigger.CATCHUP, Trigger.SCHEDULE) for r in held)
    assert all(r.started_at is None for r in held)  # never started, no model asked
    assert await store.spent_since(day_start(clock.now_ms()), job.id) <= 0.5
    [alert] = alerts(sink)
    assert alert.startswith("💸 digest: run #") and "the job's daily budget is $0.5" in alert
    # later the same day: still held, no second alert
    clock.advance(3600)
    await settle_all(eng)
    assert len(chat.requests) == 2 and len(alerts(sink)) == 1
    # the next UTC day the budget is whole again: the day's catch-up runs two more, then one new alert
    clock.set(day_start(clock.now_ms()) + DAY_MS + 5_000)
    await settle_all(eng)
    assert len(chat.requests) == 4 and len(alerts(sink)) == 2


async def test_the_budget_for_all_agent_jobs_holds_every_agent_job(eng, clock, chat, sink, store, settings):
    settings.budget.daily_usd = 0.3
    a = await eng.control.add_job(minutely("a", chat, sink, budget=None))
    b = await eng.control.add_job(minutely("b", chat, sink, budget=None))
    await eng.control.trigger("a")
    await settle_all(eng)  # $0.20 spent by a
    await eng.control.trigger("b")  # b has no cost yet: $0.20 spent, it may start
    await settle_all(eng)
    await eng.control.trigger("a")  # $0.40 spent: past $0.30
    await settle_all(eng)
    assert len(chat.requests) == 2
    [held] = await store.list_runs(RunFilter(job_id=a.id, statuses=[RunStatus.SKIPPED]))
    assert held.reason is not None and "[budget] daily_usd is $0.3" in held.reason
    assert [r.status for r in await store.list_runs(RunFilter(job_id=b.id))] == [RunStatus.SUCCEEDED]
    [alert] = alerts(sink)
    assert alert.startswith("💸 a: ")
