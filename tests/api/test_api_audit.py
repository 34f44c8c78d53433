"""Who did what, through the HTTP API: a job created by an API caller is owned by it (`"owner"`, `?owner=`), an
edit keeps the owner, run now records trigger `api` and `requested_by`, a hook run reads `hook`, and `GET
/api/v1/audit` lists the changes (newest first, `?job=`, `?limit=`), secrets masked, as documented.

The caller is a stored token named `ci-bot` (`cronui tokens add ci-bot --scope admin`), sent as the bearer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cronui.application.tokens import PREFIX, digest
from cronui.config import Settings
from cronui.main import main
from cronui.secrets import MASK
from cronui.store.tokens import StoredToken
from tests.api.conftest import Api, assert_documented, running_api

SECRET = "xoxb-1234567890-abcdefghijklmnop"
BOT_SECRET = PREFIX + "ci-bot-secret-for-these-tests"


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with running_api(settings) as running:
        # its own policy allows the shell jobs these tests make (the [policy] allows none)
        token = StoredToken("ci-bot", "admin", int(time.time() * 1000), policy='{"kinds": ["http", "shell"]}')
        assert await running.store.add_token(token, digest(BOT_SECRET))
        running.client.headers["Authorization"] = f"Bearer {BOT_SECRET}"
        yield running


async def test_an_api_caller_owns_what_it_creates_and_its_runs_say_api(api: Api) -> None:
    created = await api.add("report", command="echo hi", env={"SLACK_TOKEN": SECRET})
    assert created["owner"] == "api:ci-bot"
    r = await api.client.patch("/api/v1/jobs/report", json={"schedule": "every 2h"})
    assert r.status_code == 200 and r.json()["owner"] == "api:ci-bot"
    listed = (await api.client.get("/api/v1/jobs", params={"owner": "api:ci-bot"})).json()
    assert [j["name"] for j in listed] == ["report"] and listed[0]["owner"] == "api:ci-bot"
    assert (await api.client.get("/api/v1/jobs", params={"owner": "cli:nobody@nowhere"})).json() == []

    r = await api.client.post("/api/v1/jobs/report/run")
    assert r.status_code == 202
    assert (r.json()["trigger"], r.json()["requested_by"]) == ("api", "api:ci-bot")
    run = await api.final(r.json()["id"])
    assert (run["status"], run["trigger"], run["requested_by"]) == ("succeeded", "api", "api:ci-bot")


async def test_the_audit_route_lists_changes_newest_first_masked_and_documented(api: Api) -> None:
    await api.add("report", command="echo hi", env={"SLACK_TOKEN": SECRET})
    await api.add("other")
    assert (
        await api.client.patch("/api/v1/jobs/report", json={"env": {"SLACK_TOKEN": "xoxb-999-new"}})
    ).status_code == 200
    assert (await api.client.post("/api/v1/jobs/report/disable")).status_code == 200
    assert (await api.client.delete("/api/v1/jobs/other")).status_code == 200

    r = await api.client.get("/api/v1/audit")
    assert r.status_code == 200, r.text
    await assert_documented(api, "GET", "/api/v1/audit", r)
    rows = r.json()
    assert [(x["action"], x["job"]) for x in rows] == [
        ("removed", "other"),
        ("disabled", "report"),
        ("changed", "report"),
        ("created", "other"),
        ("created", "report"),
    ]
    assert {x["who"] for x in rows} == {"api:ci-bot"}
    assert rows[2]["changes"] == {"env.SLACK_TOKEN": [MASK, MASK]}
    assert rows[4]["changes"]["env.SLACK_TOKEN"] == [None, MASK]
    assert SECRET not in r.text and "xoxb-999-new" not in r.text

    r = await api.client.get("/api/v1/audit", params={"job": "report", "limit": "2"})
    assert [x["action"] for x in r.json()] == ["disabled", "changed"]
    r = await api.client.get("/api/v1/audit", params={"limit": "0"})
    assert r.status_code == 400 and r.json()["error"] == "limit: expected a positive integer up to 1000, got 0"
    assert (await api.anon.get("/api/v1/audit")).status_code == 401
    assert (await api.client.get("/api/v1/audit", params={"jbo": "x"})).status_code == 400


async def test_a_hook_run_reads_hook_and_names_its_job(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.add("deploy")
    code = await asyncio.to_thread(main, ["--db", settings.db, "jobs", "token", "deploy"])
    out, err = capsys.readouterr()
    assert code == 0, err
    secret = out.strip().splitlines()[-1]
    r = await api.anon.post("/hooks/deploy", headers={"Authorization": f"Bearer {secret}"}, content="x")
    assert r.status_code == 202, r.text
    run = await api.final(r.json()["id"])
    assert (run["trigger"], run["requested_by"]) == ("hook", "hook:deploy")
