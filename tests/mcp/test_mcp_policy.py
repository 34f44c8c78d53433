"""The `[policy]` over MCP (the SDK's client, in-process, on each backend, a fake clock): each rule refused as a
tool error whose line names the rule and its number, nothing written; and a stored token's own overrides,
carried by the caller its secret makes, lifting a limit."""

from __future__ import annotations

import dataclasses

from mcp import Client

from cronui.application import tokens
from cronui.application.caller import Caller, Scope
from cronui.application.context import Cronui
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.mcp.server import build_server
from cronui.model.records import DAY_MS, RunFilter
from cronui.store.base import Store
from tests.mcp.conftest import Said, call, refused
from tests.policy_cases import POLICY, TOO_OFTEN, agent_job, http_job, shell_job, spend


def ground(backend: Store, settings: Settings, clock: FakeClock) -> Cronui:
    settings.policy = dataclasses.replace(POLICY)
    return Cronui(settings, backend, Control(backend, settings, clock), clock)


def client(app: Cronui, caller: Caller) -> Client:
    return Client(build_server(app, lambda ctx: caller))


async def names(backend: Store) -> list[str]:
    return sorted(j.name for j in await backend.list_jobs())


async def test_each_rule_is_a_tool_error_naming_it_and_its_number(
    backend: Store, settings: Settings, clock: FakeClock
) -> None:
    app, said = ground(backend, settings, clock), Said()
    async with client(app, Caller("mcp", "ci-bot", Scope.WRITE, limited=True)) as c:
        text = await refused(c, said, "create_job", job=shell_job("sh"))
        assert text.splitlines()[0] == "policy: kinds: shell jobs are not allowed for mcp:ci-bot (allowed: agent, http)"
        for schedule, line in TOO_OFTEN:
            text = await refused(c, said, "create_job", job=http_job("often", schedule))
            assert text.splitlines()[0] == f"policy: min_interval: {line}"
        assert await names(backend) == []  # nothing refused was written

        # a one-shot is fine however soon; then two jobs are the most one owner may have
        await call(c, said, "schedule_followup", when="in 10s", http={"url": "http://127.0.0.1:9/"}, name="soon")
        made = await call(c, said, "create_job", job=http_job("daily"))
        assert made["owner"] == "mcp:ci-bot"
        text = await refused(c, said, "create_job", job=http_job("third"))
        assert text.splitlines()[0] == "policy: max_jobs_per_owner: mcp:ci-bot has 2 jobs (at most 2)"
        # a change may not make a job fire too often, nor turn it into a shell job
        text = await refused(c, said, "update_job", name="daily", changes={"schedule": "every 10s"})
        assert text.splitlines()[0] == 'policy: min_interval: "every 10s" fires every 10s (at least 1m)'
        text = await refused(c, said, "update_job", name="daily", changes={"http": None, "shell": "true"})
        assert text.startswith("policy: kinds: shell jobs are not allowed for mcp:ci-bot")
        assert (await call(c, said, "get_job", name="daily"))["schedule"] == "@daily"

        # removed jobs still count among the day's creations (3 at most)
        await call(c, said, "delete_job", name="daily")
        await call(c, said, "create_job", job=http_job("again"))
        await call(c, said, "delete_job", name="again")
        text = await refused(c, said, "create_job", job=http_job("fourth"))
        assert text.splitlines()[0] == (
            "policy: max_creations_per_day: mcp:ci-bot created 3 jobs in the last 24 h (at most 3)"
        )
        clock.advance(DAY_MS / 1000 + 1)  # a day later the count starts over
        await call(c, said, "create_job", job=http_job("fourth"))

        # once the owner's agent runs cost the daily budget: no new agent job, no agent run now
        settings.policy.max_jobs_per_owner = settings.policy.max_creations_per_day = 10
        agent = await call(c, said, "create_job", job=agent_job("digest"))
        assert agent["owner"] == "mcp:ci-bot"
        await spend(backend, "mcp:ci-bot", 0.35, clock.now_ms())
        text = await refused(c, said, "create_job", job=agent_job("digest2"))
        line = "policy: daily_budget_usd: mcp:ci-bot's agent jobs cost $0.3500 today (UTC) (at most $0.3)"
        assert text.splitlines()[0] == line
        assert (await refused(c, said, "run_now", name="digest")).splitlines()[0] == line
        # and why_not_run tells it: the scheduler skips the owner's agent runs too
        [why] = [r for r in (await call(c, said, "why_not_run", name="digest"))["reasons"] if r["reason"] == "budget"]
        assert why["line"] == (
            "budget spent: $0.3500 today (UTC) of mcp:ci-bot's daily budget ([policy] daily_budget_usd), $0.3"
        )
        assert [r.job_name for r in await backend.list_runs(RunFilter())] == ["spender-mcp-ci-bot"]


async def test_a_tokens_own_policy_lifts_a_limit_and_the_host_user_is_not_held(
    backend: Store, settings: Settings, clock: FakeClock
) -> None:
    app, said = ground(backend, settings, clock), Said()
    made = await tokens.add_token(app, "ops", "write", policy=["kinds=agent,http,shell", "min_interval=10s"])
    caller = await tokens.authenticate(app, made.secret, origin="mcp")
    assert (
        caller is not None
        and caller.limited
        and caller.policy
        == {
            "kinds": ("agent", "http", "shell"),
            "min_interval": 10.0,
        }
    )
    async with client(app, caller) as c:
        job = await call(c, said, "create_job", job=shell_job("sh", "every 10s"))
        assert (job["owner"], job["kind"]) == ("mcp:ops", "shell")
        text = await refused(c, said, "create_job", job=http_job("fast", "every 5s"))
        assert text.splitlines()[0] == 'policy: min_interval: "every 5s" fires every 5s (at least 10s)'
    async with client(app, Caller("mcp", "me@host", Scope.ADMIN, limited=False)) as c:  # stdio --unlimited
        await call(c, said, "create_job", job=shell_job("fast", "* * * * * *"))
    assert await names(backend) == ["fast", "sh"]
