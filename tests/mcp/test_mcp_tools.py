"""Every tool and both resources, driven with the SDK's client over stdio (`cronui mcp`, a process) and over
streamable HTTP (`cronui serve` at /mcp): answers, refusals in the CLI's words, and no secret in anything a
client is told."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cronui.api.common import UNAUTHORIZED
from cronui.config import Settings
from tests.mcp.conftest import TOOLS, Said, call, over_http, over_stdio, refused, stdio_params

SECRET = "sk-live-0123456789abcdefghijklmnopqrstuv"  # an env value, by its name and its shape a credential
HEADER_SECRET = "Bearer zq8PL2vxT0mWc4RkY7nHs1GdJ5aF9eUb"


@contextlib.asynccontextmanager
async def connected(transport: str, settings: Settings, tmp_path: Path) -> AsyncIterator[Client]:
    if transport == "stdio":
        # stdio without --unlimited is held to the [policy]: this one names shell jobs among the kinds allowed
        async with over_stdio(tmp_path / "mcp.db", env={"CRONUI_POLICY_KINDS": "agent,http,shell"}) as client:
            yield client
    else:
        async with over_http(settings) as (client, _):
            yield client


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_every_tool_answers_and_refuses_in_the_clis_words(
    transport: str, settings: Settings, tmp_path: Path
) -> None:
    said = Said()
    async with connected(transport, settings, tmp_path) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS

        # create_job: a bad schedule names the field, in the words the CLI prints; nothing is created
        text = await refused(
            client, said, "create_job", job={"name": "digest", "schedule": "61 * * * *", "shell": "true"}
        )
        assert text.splitlines()[0] == "schedule: minute field: 61 is out of range 0-59"
        assert (await call(client, said, "list_jobs"))["count"] == 0

        job = {
            "name": "digest",
            "schedule": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "shell": "echo hi",
            "env": {"OPENAI_API_KEY": SECRET},
            "tags": ["reports"],
        }
        made = await call(client, said, "create_job", job=job)
        assert made["name"] == "digest" and made["target"]["env"]["OPENAI_API_KEY"] != SECRET
        assert "name: a job named 'digest' already exists" in await refused(client, said, "create_job", job=job)
        await call(
            client,
            said,
            "create_job",
            job={
                "name": "deploy",
                "schedule": "every 1h",
                "http": {"url": "http://127.0.0.1:9/deploy", "headers": {"Authorization": HEADER_SECRET}},
                "approval": True,
            },
        )

        # list_jobs with each filter; get_job; explain_schedule; why_not_run
        listed = await call(client, said, "list_jobs", tag="reports")
        assert [j["name"] for j in listed["jobs"]] == ["digest"]
        assert [j["name"] for j in (await call(client, said, "list_jobs", kind="http"))["jobs"]] == ["deploy"]
        assert (await call(client, said, "list_jobs", health="failing"))["jobs"] == []
        assert (await call(client, said, "list_jobs", owner="mcp:nobody"))["jobs"] == []
        assert (await call(client, said, "list_jobs", limit=1))["truncated"] is True
        assert "kind: expected one of" in await refused(client, said, "list_jobs", kind="cron")
        shown = await call(client, said, "get_job", name="digest")
        assert shown["stats"]["all"]["runs"] == 0 and shown["tags"] == ["reports"]
        assert await refused(client, said, "get_job", name="nope") == "no job named 'nope'"
        explained = await call(client, said, "explain_schedule", name="digest", count=3)
        assert explained["description"] == "At 09:00, Monday through Friday"
        assert len(explained["next"]) == 3 and all(f["at"].endswith(("+01:00", "+02:00")) for f in explained["next"])
        assert (await call(client, said, "why_not_run", name="digest"))["job"] == "digest"

        # update_job, pause_job (disabled, said by why_not_run), resume_job
        assert (await call(client, said, "update_job", name="digest", changes={"description": "d"}))[
            "description"
        ] == "d"
        assert "schedule:" in await refused(client, said, "update_job", name="digest", changes={"schedule": "nope"})
        assert (await call(client, said, "pause_job", name="digest"))["enabled"] is False
        why = await call(client, said, "why_not_run", name="digest")
        assert "disabled" in [r["reason"] for r in why["reasons"]]
        assert (await call(client, said, "resume_job", name="digest"))["enabled"] is True
        paused = await call(client, said, "pause_job", name="digest", **{"for": "2h"})  # a timed pause
        assert paused["enabled"] is True and paused["paused_until"] is not None
        assert "for:" in await refused(client, said, "pause_job", name="digest", **{"for": "soon"})
        assert (await call(client, said, "resume_job", name="digest"))["paused_until"] is None

        # run_now with a payload; list_runs; get_run
        run = await call(client, said, "run_now", name="digest", payload={"ticket": 7})
        assert run["job"] == "digest" and run["trigger"] == "mcp"  # asked through MCP
        runs = await call(client, said, "list_runs", job="digest")
        assert [r["id"] for r in runs["runs"]] == [run["id"]] and "output" not in runs["runs"][0]
        got = await call(client, said, "get_run", run_id=run["id"], tail=100)
        assert got["id"] == run["id"] and "milestones" in got and "cost_usd" in got
        assert await refused(client, said, "get_run", run_id=99999) == "no run #99999"
        assert "status: expected one of" in await refused(client, said, "list_runs", status=["bogus"])

        # approve_run / reject_run: a job with approval waits, why_not_run says so
        waiting = await call(client, said, "run_now", name="deploy")
        assert waiting["status"] == "awaiting_approval"
        why = await call(client, said, "why_not_run", name="deploy")
        assert any(r["reason"] == "approval" and r["evidence"]["run"] == waiting["id"] for r in why["reasons"])
        approved = await call(client, said, "approve_run", run_id=waiting["id"])
        assert approved["approval"]["decision"] == "approved" and approved["approval"]["decided_by"].startswith("mcp:")
        again = await call(client, said, "run_now", name="deploy")
        rejected = await call(client, said, "reject_run", run_id=again["id"], reason="not today")
        assert rejected["status"] == "skipped" and rejected["reason"].endswith(": not today")
        assert "is not waiting for approval" in await refused(client, said, "approve_run", run_id=again["id"])

        # schedule_followup: a one-shot HTTP job, removed after its run
        follow = await call(
            client, said, "schedule_followup", when="in 2h", http={"url": "http://127.0.0.1:9/check"}, name="check"
        )
        assert follow["delete_after_run"] is True and follow["schedule"].startswith("at ")
        text = await refused(client, said, "schedule_followup", when="every 5m", http={"url": "http://127.0.0.1:9/"})
        assert text.startswith("when: expected 'in 2h' or 'at ")
        assert "agent" in await refused(client, said, "schedule_followup", when="in 1h")

        # the resources: a job as a job file, a run as JSON
        job_file = (await client.read_resource("cronui://jobs/digest")).contents[0]
        said.note(job_file)
        assert 'name = "digest"' in job_file.text and "OPENAI_API_KEY" in job_file.text  # type: ignore[union-attr]
        deploy_file = (await client.read_resource("cronui://jobs/deploy")).contents[0]
        said.note(deploy_file)
        run_doc = (await client.read_resource(f"cronui://runs/{run['id']}")).contents[0]
        said.note(run_doc)
        assert json.loads(run_doc.text)["id"] == run["id"]  # type: ignore[union-attr]

        # delete_job: gone, its runs kept
        assert (await call(client, said, "delete_job", name="digest"))["name"] == "digest"
        assert await refused(client, said, "delete_job", name="digest") == "no job named 'digest'"
        assert (await call(client, said, "get_run", run_id=run["id"]))["job"] == "digest"

    told = "\n".join(said.texts)
    assert SECRET not in told and HEADER_SECRET.split()[1] not in told


async def test_mcp_over_http_needs_the_api_token(settings: Settings) -> None:
    async with over_http(settings) as (_, api):
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        r = await api.anon.post("/mcp", json=body, headers={"Accept": "application/json, text/event-stream"})
        assert r.status_code == 401 and r.json()["error"] == UNAUTHORIZED
        wrong = {"Authorization": "Bearer wrong", "Accept": "application/json, text/event-stream"}
        assert (await api.anon.post("/mcp", json=body, headers=wrong)).status_code == 401
        rebinding = {"Host": "evil.example", "Accept": "application/json, text/event-stream"}
        assert (await api.client.post("/mcp", json=body, headers=rebinding)).status_code == 403


def test_cronui_mcp_refuses_a_token_it_cannot_match(tmp_path: Path) -> None:
    params = stdio_params(tmp_path / "t.db", "--token", "made-up")
    done = subprocess.run(
        [params.command, *params.args], env=params.env, cwd=params.cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and done.stderr.startswith("cronui: --token: no stored token matches")
    assert "Traceback" not in done.stderr
