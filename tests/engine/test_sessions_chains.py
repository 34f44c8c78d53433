"""Shared conversations against a real chat server on loopback (jobs naming one `session:NAME` see each
other's turns), and conditional chains on the engine's fake clock (`--when contains:X | regex:X`)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.agent import CONVERSATION_KEY
from cronui.engine.executors.base import Outcome, RunContext
from cronui.engine.finishing import CHAIN_NOT_FIRED
from cronui.jobs import JobError
from cronui.model import ChainEdge, EventKind, Job, RunStatus, TargetKind, Trigger
from cronui.model.records import RunFilter
from cronui.store.faults import StoreFault
from cronui.store.sqlite import SQLiteStore
from tests.engine.test_agent_http import agent_job, run_to_end
from tests.helpers import make_job, ms, settle

# ---------------------------------------------------------------- shared conversations


async def test_jobs_in_one_session_share_one_history(eng, llm):
    await eng.control.add_job(agent_job("writer", llm, model="memory", conversation="session:desk"))
    await eng.control.add_job(agent_job("editor", llm, model="memory", conversation="session:desk"))
    await eng.control.add_job(agent_job("own", llm, model="memory", conversation="persistent"))
    [w1] = await run_to_end(eng, "writer")
    assert w1.output == "messages=1 previous=none"
    [e1] = await run_to_end(eng, "editor")
    sent = llm.requests[-1].json()["messages"]
    # the editor's request carries the writer's turn, then its own message
    assert sent == [
        {"role": "user", "content": "Summarise writer"},
        {"role": "assistant", "content": "messages=1 previous=none"},
        {"role": "user", "content": "Summarise editor"},
    ]
    assert e1.output == "messages=3 previous=messages=1 previous=none"
    [w2] = await run_to_end(eng, "writer")
    assert w2.output == "messages=5 previous=messages=3 previous=messages=1 previous=none"
    setup = w2.milestone_data("setup-completed")
    assert setup["conversation"] == "session:desk" and setup["messages"] == 5
    [o1] = await run_to_end(eng, "own")  # a job's own conversation never mixes with a session's
    assert o1.output == "messages=1 previous=none"
    assert len(await eng.store.get_session("desk")) == 6


async def test_a_session_history_is_bounded_by_keep_turns(eng, llm):
    await eng.control.add_job(agent_job("a", llm, model="memory", conversation="session:short", keep_turns=1))
    for _ in range(3):
        await run_to_end(eng, "a")
    history = await eng.store.get_session("short")
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"] == "messages=3 previous=messages=3 previous=messages=1 previous=none"


async def test_a_failed_run_leaves_the_session_as_it_was(eng, llm):
    await eng.control.add_job(agent_job("ok", llm, model="memory", conversation="session:s"))
    await eng.control.add_job(agent_job("bad", llm, model="gave-up", conversation="session:s"))
    await run_to_end(eng, "ok")
    [bad] = await run_to_end(eng, "bad")
    assert bad.status is RunStatus.FAILED
    assert len(await eng.store.get_session("s")) == 2


class GatedAgent:
    """An agent executor that holds each run until the test lets it end, and answers with a turn that
    names the job: what a session's next run must see."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.seen: dict[str, list[dict[str, str]]] = {}
        self.arrivals: dict[str, asyncio.Event] = {}

    def arrived(self, name: str) -> asyncio.Event:
        return self.arrivals.setdefault(name, asyncio.Event())

    async def __call__(self, ctx: RunContext) -> Outcome:
        assert ctx.run.id is not None
        history = list(ctx.memory.get(CONVERSATION_KEY) or [])
        self.seen[ctx.job.name] = history
        gate = self.gates.setdefault(ctx.run.id, asyncio.Event())
        self.arrived(ctx.job.name).set()
        await gate.wait()
        turn = [{"role": "user", "content": ctx.job.name}, {"role": "assistant", "content": f"{ctx.job.name} done"}]
        return Outcome(RunStatus.SUCCEEDED, memory={CONVERSATION_KEY: history + turn})


@pytest.fixture
async def gated(store: SQLiteStore, settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Engine, GatedAgent]]:
    agent = GatedAgent()
    eng = Engine(store, settings, clock, executors={TargetKind.AGENT: agent}, rng=random.Random(7))
    await eng.open()
    assert await eng.try_acquire()
    yield eng, agent
    for gate in agent.gates.values():
        gate.set()
    await eng.close(grace_s=1.0)


async def test_runs_of_jobs_sharing_a_session_wait_their_turn(gated, clock):
    """Three jobs due at the same minute, two in one session: the session's second run starts only once
    the first has ended, and carries its turn; the job outside the session runs alongside."""
    eng, agent = gated
    for name, conversation in (("alpha", "session:desk"), ("beta", "session:desk"), ("gamma", "session:other")):
        target = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "message": "x", "conversation": conversation}
        await eng.control.add_job(
            Job(name=name, schedule="0 9 * * *", timezone="UTC", kind=TargetKind.AGENT, target=target)
        )
    clock.set(ms("2026-03-02T09:00:00Z"))

    async def running() -> list[str]:
        await eng.step()
        names = sorted(a.job.name for a in eng.dispatcher.active.values())
        for name in names:  # each started run reaches its executor
            await agent.arrived(name).wait()
        return names

    assert await running() == ["alpha", "gamma"]
    assert await running() == ["alpha", "gamma"]  # beta waits, pending
    [beta] = [r for r in await eng.store.list_runs(RunFilter(limit=10)) if r.job_name == "beta"]
    assert beta.status is RunStatus.PENDING
    [alpha_id] = [rid for rid, a in eng.dispatcher.active.items() if a.job.name == "alpha"]
    agent.gates[alpha_id].set()
    await asyncio.wait([eng.dispatcher.active[alpha_id].task])
    assert await running() == ["beta", "gamma"]
    assert agent.seen["beta"] == [{"role": "user", "content": "alpha"}, {"role": "assistant", "content": "alpha done"}]
    assert agent.seen["gamma"] == []


async def test_a_run_that_could_not_read_its_session_leaves_it_as_it_was(gated, clock, monkeypatch):
    """The database refused the read: the run goes on without the history, and its reply does not
    replace the history it never saw."""
    eng, agent = gated
    for name in ("alpha", "beta"):
        target = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "message": "x", "conversation": "session:desk"}
        await eng.control.add_job(
            Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=target)
        )
    for name, fail in (("alpha", False), ("beta", True)):
        if fail:

            async def refused(name: str) -> list[dict[str, str]]:
                raise StoreFault("database is locked", "locked")

            monkeypatch.setattr(eng.store, "get_session", refused)
        run = await eng.control.trigger(name)
        await eng.step()
        await agent.arrived(name).wait()
        agent.gates[run.id].set()
        await eng.dispatcher.wait_idle()
    monkeypatch.undo()
    assert agent.seen["beta"] == []
    assert (await eng.store.get_run(run.id)).status is RunStatus.SUCCEEDED
    assert await eng.store.get_session("desk") == [
        {"role": "user", "content": "alpha"},
        {"role": "assistant", "content": "alpha done"},
    ]


# ---------------------------------------------------------------- conditional chains


async def chained_runs(store):
    return [r for r in await store.list_runs(RunFilter(limit=1000)) if r.trigger is Trigger.CHAIN]


@pytest.mark.parametrize(
    ("when", "fires"),
    [
        ("contains:READY", True),
        ("contains:ready", False),  # case-sensitive
        ("regex:^status: (READY|DONE)$", False),  # the output holds more than the line
        ("regex:(?m)^status: (READY|DONE)$", True),
        ("regex:NOT HERE", False),
    ],
)
async def test_an_on_success_chain_fires_only_when_the_output_matches(engine, clock, store, when, fires):
    await engine.control.add_job(make_job("publish", "@yearly"))
    await engine.control.add_job(make_job("cleanup", "@yearly"))
    job = make_job("build", "0 9 * * *", "print:checks passed\nstatus: READY\n", on_success=["publish", "cleanup"])
    job.set_edge("on_success", "publish", ChainEdge(when=when))
    await engine.control.add_job(job)
    sub = engine.bus.subscribe()
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await settle(engine)
    chained = sorted(r.job_name for r in await chained_runs(store))
    assert chained == (["cleanup", "publish"] if fires else ["cleanup"])  # the plain edge always fires
    [build] = [r for r in await store.list_runs(RunFilter(limit=100)) if r.job_name == "build"]
    held = [m.data for m in build.milestones if m.name == CHAIN_NOT_FIRED]
    if fires:
        assert held == []
    else:
        [data] = held
        assert data["job"] == "publish" and data["when"] == when and data["chain"] == "on-success"
        assert data["reason"].startswith("the output does not contain" if "contains" in when else "the output has no")
        seen = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        events = [e for e in seen if e.kind is EventKind.MILESTONE and e.name == CHAIN_NOT_FIRED]
        assert [e.data["job"] for e in events] == ["publish"]


async def test_a_condition_is_checked_on_the_last_attempt_only(engine, clock, store):
    """A failed attempt that is retried fires no chain and records no held edge; the failure chain's
    condition is checked against the last attempt's output."""
    await engine.control.add_job(make_job("page", "@yearly"))
    job = make_job("flaky", "0 9 * * *", "fail", on_failure=["page"], max_retries=1, retry_delay_s=0)
    job.set_edge("on_failure", "page", ChainEdge(when="contains:disk full"))
    await engine.control.add_job(job)
    clock.set(ms("2026-03-02T09:00:00Z"))
    for _ in range(3):
        await settle(engine)
    assert await chained_runs(store) == []
    runs = [r for r in await store.list_runs(RunFilter(limit=100)) if r.job_name == "flaky"]
    assert [len([m for m in r.milestones if m.name == CHAIN_NOT_FIRED]) for r in runs] == [1, 0]  # newest first


async def test_a_bad_condition_is_refused_when_saved(engine):
    await engine.control.add_job(make_job("publish", "@yearly"))
    job = make_job("build", "@daily", on_success=["publish"])
    job.set_edge("on_success", "publish", ChainEdge(when="regex:(unclosed"))
    with pytest.raises(JobError, match=r"^when: '\(unclosed' is not a valid regular expression"):
        await engine.control.add_job(job)
    job.set_edge("on_success", "publish", ChainEdge(when="startswith:x"))
    with pytest.raises(JobError, match="when: expected contains:TEXT or regex:PATTERN"):
        await engine.control.add_job(job)
