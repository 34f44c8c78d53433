"""The `[policy]` over the HTTP API with a token from `cronui tokens add`, on each backend and a fake clock:
each rule answered 403 with the line naming it and its number, nothing changed; a token's own `--policy`
lifting a limit; and the CLI, the host's own user, not held to it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from cronui.api.app import ApiState
from cronui.api.common import PREFIX
from cronui.config import Settings
from cronui.engine.clock import FakeClock, SystemClock
from cronui.model.records import DAY_MS
from tests.api.conftest import Api, running_api
from tests.api.test_tokens import add_token, bearer, db_settings  # noqa: F401  (both backends)
from tests.helpers import cli
from tests.policy_cases import POLICY, TOO_OFTEN, agent_job, http_job, shell_job, spend


async def refused(api: Api, secret: str, method: str, path: str, body: Any = None) -> str:
    r = await api.anon.request(method, f"{PREFIX}{path}", headers=bearer(secret), json=body)
    assert r.status_code == 403, (method, path, r.text)
    return str(r.json()["error"])


async def made(api: Api, secret: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.anon.post(f"{PREFIX}/jobs", headers=bearer(secret), json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_each_rule_is_a_403_naming_it_and_its_number(
    db_settings: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_settings.policy = dataclasses.replace(POLICY)
    clock = FakeClock(SystemClock().now_ms())

    def fake_clock(state: ApiState) -> None:
        state.clock = clock

    async with running_api(db_settings, configure=fake_clock) as api:
        bot = await add_token(capsys, db_settings, "ci-bot", "--scope", "write")
        line = await refused(api, bot, "POST", "/jobs", shell_job("sh"))
        assert line == "policy: kinds: shell jobs are not allowed for api:ci-bot (allowed: agent, http)"
        for schedule, said in TOO_OFTEN:
            assert (
                await refused(api, bot, "POST", "/jobs", http_job("often", schedule)) == f"policy: min_interval: {said}"
            )

        await made(api, bot, http_job("one"))
        await made(api, bot, http_job("two"))
        line = await refused(api, bot, "POST", "/jobs", http_job("three"))
        assert line == "policy: max_jobs_per_owner: api:ci-bot has 2 jobs (at most 2)"
        line = await refused(api, bot, "PATCH", "/jobs/one", {"schedule": "* * * * * *"})
        assert line == 'policy: min_interval: "* * * * * *" fires every 1s (at least 1m)'
        r = await api.anon.delete(f"{PREFIX}/jobs/two", headers=bearer(bot))
        assert r.status_code == 200, r.text
        await made(api, bot, http_job("three"))
        assert (await api.anon.delete(f"{PREFIX}/jobs/three", headers=bearer(bot))).status_code == 200
        line = await refused(api, bot, "POST", "/jobs", http_job("four"))
        assert line == "policy: max_creations_per_day: api:ci-bot created 3 jobs in the last 24 h (at most 3)"
        clock.advance(2 * DAY_MS / 1000)  # the server writes a job's creation on its own clock: well past a day
        await made(api, bot, http_job("four"))

        # the daily budget of the owner's agent jobs
        db_settings.policy.max_jobs_per_owner = 10
        await made(api, bot, agent_job("digest"))
        await spend(api.store, "api:ci-bot", 0.3, clock.now_ms())
        budget = "policy: daily_budget_usd: api:ci-bot's agent jobs cost $0.3000 today (UTC) (at most $0.3)"
        assert await refused(api, bot, "POST", "/jobs", agent_job("digest2")) == budget
        assert await refused(api, bot, "POST", "/jobs/digest/run") == budget
        await made(api, bot, http_job("five"))  # the budget holds agent jobs only

        jobs = {j["name"]: j for j in (await api.client.get(f"{PREFIX}/jobs")).json()}
        assert sorted(jobs) == ["digest", "five", "four", "one", "spender-api-ci-bot"]
        assert jobs["one"]["schedule"] == "@daily"

        # the settings' own API token is the operator's: not held to the policy
        r = await api.client.post(f"{PREFIX}/jobs", json=shell_job("by-env", "* * * * * *"))
        assert r.status_code == 201, r.text


async def test_a_tokens_own_policy_lifts_a_limit_and_the_cli_is_not_held(
    db_settings: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_settings.policy = dataclasses.replace(POLICY)
    async with running_api(db_settings) as api:
        plain = await add_token(capsys, db_settings, "plain", "--scope", "write")
        ops = await add_token(
            capsys,
            db_settings,
            "ops",
            "--scope",
            "write",
            "--policy",
            "kinds=http,shell",
            "--policy",
            "max_jobs_per_owner=3",
        )
        for name in ("a", "b", "c"):
            job = await made(api, ops, shell_job(name))
            assert (job["owner"], job["kind"]) == ("api:ops", "shell")
        line = await refused(api, ops, "POST", "/jobs", http_job("d"))
        assert line == "policy: max_jobs_per_owner: api:ops has 3 jobs (at most 3)"
        line = await refused(api, ops, "POST", "/jobs", agent_job("d"))
        assert line == "policy: kinds: agent jobs are not allowed for api:ops (allowed: http, shell)"
        # the token without overrides stays held to the [policy] as it is
        assert (await refused(api, plain, "POST", "/jobs", shell_job("p"))).startswith("policy: kinds: shell jobs")

    # the CLI, the host's own user, is held to none of it
    code, out, err = await asyncio.to_thread(
        cli, capsys, "--db", db_settings.db, "jobs", "add", "fast", "--schedule", "* * * * * *", "--shell", "true"
    )
    assert code == 0, err
    code, out, err = await asyncio.to_thread(cli, capsys, "--db", db_settings.db, "tokens", "list")
    assert code == 0 and "kinds=http,shell max_jobs_per_owner=3" in out
