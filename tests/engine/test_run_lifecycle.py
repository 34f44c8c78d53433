"""A run's whole life on this node: whenever a cancel arrives — before its task begins, while an agent run
loads what it carries from earlier runs (a slow database), or during the executor — the run is recorded
with the cancel's status and its slot is freed (no run stays `running` for ever, renewed and never
recovered, holding a slot; `wait_idle` returns)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.model import Job, RunStatus, TargetKind
from cronui.store.sqlite import SQLiteStore


class Agent:
    """An agent executor that answers at once; it counts the runs that reached it."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def __call__(self, ctx: RunContext) -> Outcome:
        self.reached.append(ctx.job.name)
        return Outcome(RunStatus.SUCCEEDED)


def agent(name: str, **target: Any) -> Job:
    spec = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "message": "x", **target}
    return Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec)


@pytest.fixture
async def eng(store: SQLiteStore, settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Engine, Agent]]:
    settings.max_concurrent = 1
    executor = Agent()
    e = Engine(store, settings, clock, executors={TargetKind.AGENT: executor}, rng=random.Random(7))
    await e.open()
    assert await e.try_acquire()
    yield e, executor
    await e.close(grace_s=1.0)


class SlowReads:
    """A store read that blocks until released (a slow database), noting when it was entered."""

    def __init__(self, store: SQLiteStore, method: str) -> None:
        self.inner = getattr(store, method)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, *args: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        return await self.inner(*args)


@pytest.mark.parametrize(
    ("target", "method"),
    [
        ({"conversation": "persistent"}, "get_memory"),
        ({"conversation": "session:desk"}, "get_session"),
        ({"message": "again: {last_output}"}, "list_runs"),
    ],
)
async def test_a_cancel_while_an_agent_run_loads_its_history_is_recorded_and_frees_its_slot(
    eng, monkeypatch, target, method
):
    e, executor = eng
    await e.control.add_job(agent("slow", **target))
    await e.control.add_job(agent("next"))
    slow = SlowReads(e.store, method)
    run = await e.control.trigger("slow")
    monkeypatch.setattr(e.store, method, slow)
    await e.step()
    async with asyncio.timeout(30):
        await slow.entered.wait()
        await e.control.cancel(run.id)
        await e.step()  # applies the cancel request
        await e.dispatcher.wait_idle()  # returns: the run ended
    monkeypatch.undo()
    ended = await e.store.get_run(run.id)
    assert ended.status is RunStatus.CANCELLED
    assert ended.error == "cancelled by request"
    assert e.dispatcher.active == {} and executor.reached == []
    # its slot (max_concurrent = 1) is free: the next run starts and ends
    nxt = await e.control.trigger("next")
    await e.step()
    async with asyncio.timeout(30):
        await e.dispatcher.wait_idle()
    assert (await e.store.get_run(nxt.id)).status is RunStatus.SUCCEEDED
    slow.release.set()


async def test_a_lost_lease_while_an_agent_run_loads_its_history_records_it_interrupted(eng, monkeypatch):
    e, executor = eng
    await e.control.add_job(agent("slow", conversation="persistent"))
    slow = SlowReads(e.store, "get_memory")
    monkeypatch.setattr(e.store, "get_memory", slow)
    run = await e.control.trigger("slow")
    await e.step()
    async with asyncio.timeout(30):
        await slow.entered.wait()
        e._stop_own_runs("this scheduler lost its lease")
        await e.dispatcher.wait_idle()
    ended = await e.store.get_run(run.id)
    assert ended.status is RunStatus.INTERRUPTED
    assert ended.error == "this scheduler lost its lease"
    assert e.dispatcher.active == {} and executor.reached == []
    slow.release.set()


async def test_a_cancel_before_the_runs_task_begins_is_recorded(eng):
    """The cancel lands between the claim and the run task's first step (nothing awaited in between)."""
    e, executor = eng
    await e.control.add_job(agent("quick"))
    run = await e.control.trigger("quick")
    await e.dispatcher.dispatch(paused=False)
    assert e.dispatcher.cancel(run.id, "cancelled by request")  # its task has not run yet
    async with asyncio.timeout(30):
        await e.dispatcher.wait_idle()
    ended = await e.store.get_run(run.id)
    assert ended.status is RunStatus.CANCELLED
    assert e.dispatcher.active == {} and executor.reached == []
