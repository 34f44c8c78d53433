"""`POST /hooks/NAME`: a run started with the job's own trigger token, its body reaching the run."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cronui.api.access import RateLimit
from cronui.api.app import ApiState
from cronui.cli import main
from cronui.config import Settings
from tests.api.conftest import Api, running_api
from tests.api.test_endpoints import Lines
from tests.engine.servers import ChatServer


async def token(capsys: pytest.CaptureFixture[str], settings: Settings, name: str, *flags: str) -> str:
    code = await asyncio.to_thread(main, ["--db", settings.db, "jobs", "token", name, *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.strip().splitlines()[-1]  # the server's request log may share the captured stdout


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_a_hook_with_the_jobs_token_runs_it_with_the_body_as_payload(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.add("deploy", command='printf "%s" "$CRONUI_PAYLOAD"')
    secret = await token(capsys, settings, "deploy")
    assert len(secret) >= 40
    r = await api.anon.post("/hooks/deploy", headers=bearer(secret), content='{"ref": "main"}\nline two')
    assert r.status_code == 202, r.text
    run = await api.final(r.json()["id"])
    assert (run["status"], run["output"], run["trigger"]) == ("succeeded", '{"ref": "main"}\nline two', "manual")
    # a run started otherwise has no payload
    run = await api.final((await api.client.post("/api/v1/jobs/deploy/run")).json()["id"])
    assert run["output"] == ""
    # only the hash is stored: the token is nowhere in the database
    assert secret not in open(settings.db, "rb").read().decode("latin-1")


async def test_wrong_missing_and_rotated_tokens(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.add("a", command="true")
    await api.add("b", command="true")
    first = await token(capsys, settings, "a")
    other = await token(capsys, settings, "b")
    code = await asyncio.to_thread(main, ["--db", settings.db, "jobs", "token", "a"])
    assert code == 2 and "--rotate" in capsys.readouterr().err, "a token is shown once"
    for headers, path in (
        ({}, "/hooks/a"),
        (bearer("wrong"), "/hooks/a"),
        (bearer(other), "/hooks/a"),  # another job's token
        (bearer(first), "/hooks/nope"),  # no such job: told the same way
        ({"Authorization": f"Basic {first}"}, "/hooks/a"),
    ):
        r = await api.anon.post(path, headers=headers, content="x")
        assert r.status_code == 401, (headers, path, r.text)
        assert "trigger token" in r.json()["error"]
    assert (await api.client.get("/api/v1/runs")).json() == [], "no refused hook started a run"
    assert (await api.anon.post("/hooks/a", headers=bearer(first))).status_code == 202

    rotated = await token(capsys, settings, "a", "--rotate")
    assert rotated != first
    assert (await api.anon.post("/hooks/a", headers=bearer(first))).status_code == 401
    assert (await api.anon.post("/hooks/a", headers=bearer(rotated))).status_code == 202
    # the API token is not a hook token, nor the other way round
    assert (await api.client.post("/hooks/a")).status_code == 401
    assert (await api.anon.get("/api/v1/jobs", headers=bearer(rotated))).status_code == 401
    code = await asyncio.to_thread(main, ["--db", settings.db, "jobs", "token", "nope"])
    assert code == 2 and "no job named 'nope'" in capsys.readouterr().err


def small_limits(state: ApiState) -> None:
    state.hook_max_bytes = 1000
    state.hook_limit = RateLimit(3, 60.0)


async def test_body_cap_rate_limit_and_text_only(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    access = Lines()
    async with running_api(settings, configure=small_limits) as api:
        logging.getLogger("hypercorn.access").addHandler(access)
        try:
            await api.add("a", command="true")
            await api.add("b", command="true")
            secret, other = await token(capsys, settings, "a"), await token(capsys, settings, "b")
            r = await api.anon.post("/hooks/a", headers=bearer(secret), content=b"x" * 1001)
            assert r.status_code == 413 and "1,000 bytes" in r.json()["error"]
            r = await api.anon.post("/hooks/a", headers=bearer(secret), content=b"\xff\xfe")
            assert r.status_code == 400 and "UTF-8" in r.json()["error"]
            r = await api.anon.post("/hooks/a", headers=bearer(secret), content=b"a\x00b")
            assert r.status_code == 400 and "NUL" in r.json()["error"]
            assert (await api.client.get("/api/v1/runs")).json() == []

            for _ in range(3):
                r = await api.anon.post("/hooks/a", headers=bearer(secret), content=b"x" * 1000)
                assert r.status_code == 202
            r = await api.anon.post("/hooks/a", headers=bearer(secret))
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert "at most 3 hook runs in 60s" in r.json()["error"]
            assert (await api.anon.post("/hooks/b", headers=bearer(other))).status_code == 202, "per job"
            assert len((await api.client.get("/api/v1/runs")).json()) == 4
        finally:
            logging.getLogger("hypercorn.access").removeHandler(access)
    assert any("/hooks/a" in line for line in access.lines)
    assert not any(secret in line or other in line for line in access.lines)


def test_rate_limit_window_slides() -> None:
    now = [0.0]
    limit = RateLimit(2, 10.0, now=lambda: now[0])
    assert limit.allow("a") is None and limit.allow("a") is None
    assert limit.allow("a") == 10.0
    now[0] = 4.0
    assert limit.allow("a") == 6.0 and limit.allow("b") is None
    now[0] = 10.0
    assert limit.allow("a") is None, "the first two left the window; a refused one never counted"
    assert limit.allow("a") is None
    assert limit.allow("a") == 10.0


async def test_an_agent_job_gets_the_payload_in_its_message(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = ChatServer()
    await llm.start()
    try:
        entry = {
            "name": "triage",
            "schedule": "every 1h",
            "agent": {"base_url": llm.url, "model": "echo", "message": "Triage this alert: {payload} (job {job})"},
        }
        assert (await api.client.post("/api/v1/jobs", json=entry)).status_code == 201
        secret = await token(capsys, settings, "triage")
        r = await api.anon.post("/hooks/triage", headers=bearer(secret), content="disk full on db-1")
        run = await api.final(r.json()["id"])
        assert run["status"] == "succeeded", run
        sent = llm.requests[-1].json()["messages"][-1]["content"]
        assert sent == "Triage this alert: disk full on db-1 (job triage)"
        await api.final((await api.client.post("/api/v1/jobs/triage/run")).json()["id"])
        assert llm.requests[-1].json()["messages"][-1]["content"] == "Triage this alert:  (job triage)"
    finally:
        await llm.stop()
