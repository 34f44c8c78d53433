"""The `[policy]` over an agent's tool calls and in the scheduler, on each backend with a fake clock: a
`schedule_followup` call, made as the job's owner, is refused with the rule's line (which the model reads)
for each rule a follow-up can break, and lifted by the owner's token's own policy; and once an owner's agent
runs have cost its daily budget, the scheduler skips its agent runs (reason `budget`), not the host user's."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator

import pytest

from cronui.application import tokens
from cronui.application.agent_tools import AgentTools
from cronui.application.context import Cronui
from cronui.config import Price, Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.engine.engine import Engine
from cronui.model import REASON_BUDGET, Job, Run, RunStatus, TargetKind, Trigger
from cronui.model.records import RunFilter
from cronui.store.base import Store
from tests.engine.test_agent_unattended import Answer, ScriptedChat
from tests.helpers import run_until
from tests.policy_cases import AGENT, POLICY, spend
from tests.store.conftest import backend  # noqa: F401  (each backend)

HOUR_MS = 3_600_000


def owned(name: str, owner: str, schedule: str = "@yearly", base_url: str = AGENT["base_url"]) -> Job:
    target = {**AGENT, "base_url": base_url}
    job = Job(name=name, schedule=schedule, timezone="UTC", kind=TargetKind.AGENT, target=target)
    job.owner = owner
    return job


async def test_a_followup_call_is_refused_with_the_rules_line_and_a_tokens_policy_lifts_it(
    backend: Store,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
) -> None:
    settings.policy = dataclasses.replace(POLICY, kinds=("http",))
    control = Control(backend, settings, clock)
    app = Cronui(settings, backend, control, clock)
    job = await control.add_job(owned("watch", "api:ci-bot"))
    run = Run(job.id, Trigger.SCHEDULE, clock.now_ms())  # type: ignore[arg-type]
    toolbox = AgentTools(app)

    async def followup(when: str = "2h") -> tuple[bool, str]:
        clock.advance(1)  # a follow-up's name is made of its time
        return await toolbox.call(job, run, "schedule_followup", {"message": "Check again.", "in": when})

    assert await followup() == (False, "policy: kinds: agent jobs are not allowed for api:ci-bot (allowed: http)")
    settings.policy.kinds = ("agent", "http")
    ok, text = await followup("10s")  # a one-shot, however soon: no min_interval to break
    assert ok, text
    assert await followup() == (False, "policy: max_jobs_per_owner: api:ci-bot has 2 jobs (at most 2)")
    [first] = [j for j in await backend.list_jobs() if j.name != "watch"]
    assert first.owner == "api:ci-bot" and first.delete_after_run
    await control.remove_job(first.name)  # as after its run; its creation still counts
    ok, text = await followup()
    assert ok, text
    await control.remove_job(next(j.name for j in await backend.list_jobs() if j.name != "watch"))
    assert await followup() == (
        False,
        "policy: max_creations_per_day: api:ci-bot created 3 jobs in the last 24 h (at most 3)",
    )

    settings.policy.max_jobs_per_owner = settings.policy.max_creations_per_day = 10
    await spend(backend, "api:ci-bot", 0.5, clock.now_ms())
    budget = "policy: daily_budget_usd: api:ci-bot's agent jobs cost $0.5000 today (UTC) (at most $0.3)"
    assert await followup() == (False, budget)
    # the owner's token's own policy holds its agent too: here, no budget
    await tokens.add_token(app, "ci-bot", "write", policy=["daily_budget_usd=none"])
    ok, text = await followup()
    assert ok, text
    assert len([j for j in await backend.list_jobs() if j.name.startswith("followup-")]) == 1


@pytest.fixture
async def chat() -> AsyncIterator[ScriptedChat]:
    s = ScriptedChat(script={"m": [Answer("Digest ready.")]})
    await s.start()
    yield s
    await s.stop()


async def test_the_scheduler_skips_an_owners_agent_runs_once_its_budget_is_spent(
    backend: Store,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    chat: ScriptedChat,
) -> None:
    settings.prices["m"] = Price(input=100.0, output=200.0)  # the scripted usage: $0.20 a run
    settings.policy = dataclasses.replace(POLICY)  # daily_budget_usd = 0.3
    engine = Engine(backend, settings, clock, rng=random.Random(7))
    await engine.open()
    assert await engine.try_acquire()
    try:
        bot = await engine.control.add_job(owned("bot", "api:ci-bot", "@hourly", f"{chat.url}/v1"))
        mine = await engine.control.add_job(owned("mine", "cli:me@host", "@hourly", f"{chat.url}/v1"))
        await run_until(engine, clock, clock.now_ms() + 3 * HOUR_MS)
        await engine.dispatcher.wait_deliveries()
        bots = await backend.list_runs(RunFilter(job_id=bot.id))
        ran = [r for r in bots if r.status is RunStatus.SUCCEEDED]
        held = [r for r in bots if r.status is RunStatus.SKIPPED]
        # one run costs $0.20; a second would make $0.40, past $0.30
        assert len(ran) == 1 and len(held) == 2
        assert held[0].reason == (
            f"{REASON_BUDGET}: $0.2000 spent today (UTC) by api:ci-bot's agent jobs, a run costs about $0.2000, "
            "its daily budget ([policy] daily_budget_usd) is $0.3"
        )
        # the host user's own agent job is held to no owner budget
        assert all(r.status is RunStatus.SUCCEEDED for r in await backend.list_runs(RunFilter(job_id=mine.id)))
        assert len(await backend.list_runs(RunFilter(job_id=mine.id))) == 3
    finally:
        await engine.close(grace_s=1.0)
