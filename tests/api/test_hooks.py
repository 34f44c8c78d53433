"""`POST /hooks/NAME`: a run started with the job's own trigger token, its body reaching the run."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest

from cronui.api.app import ApiState
from cronui.config import Settings
from cronui.main import main
from cronui.model.records import RunCap
from tests.api.conftest import TOKEN, Api, assert_documented, running_api
from tests.api.test_endpoints import Lines
from tests.engine.servers import ChatServer
from tests.store.backends import BACKENDS, drop_schema, postgres_url


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
    assert (run["status"], run["output"], run["trigger"]) == ("succeeded", '{"ref": "main"}\nline two', "hook")
    assert run["requested_by"] == "hook:deploy"
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
    state.hook_limit = RunCap(3, 60_000)


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


async def test_a_retried_hook_run_gets_the_same_payload(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # fails on its first attempt, succeeds on its second; each prints its attempt and payload
    command = 'printf "%s:%s" "$CRONUI_ATTEMPT" "$CRONUI_PAYLOAD"; [ "$CRONUI_ATTEMPT" -ge 2 ]'
    await api.add("flaky", command=command, retries=1, retry_delay=0)
    secret = await token(capsys, settings, "flaky")
    r = await api.anon.post("/hooks/flaky", headers=bearer(secret), content='{"ref": "v2"}\nsecond line')
    assert r.status_code == 202, r.text
    first = await api.final(r.json()["id"])
    assert (first["status"], first["output"]) == ("failed", '1:{"ref": "v2"}\nsecond line')
    [retry] = [run for run in (await api.client.get("/api/v1/runs?job=flaky")).json() if run["id"] != first["id"]]
    retry = await api.final(retry["id"])
    assert (retry["status"], retry["attempt"], retry["retry_of"]) == ("succeeded", 2, first["id"])
    assert retry["output"] == '2:{"ref": "v2"}\nsecond line'
    await assert_documented(api, "POST", "/hooks/{name}", r)
    for run_id in (first["id"], retry["id"]):
        await assert_documented(api, "GET", "/api/v1/runs/{run_id}", await api.client.get(f"/api/v1/runs/{run_id}"))


@pytest.fixture(params=BACKENDS)
async def shared_db(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Settings]:
    """Settings for a database two servers share: the SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield settings
        return
    url = await postgres_url()
    try:
        yield dataclasses.replace(settings, db=url)
    finally:
        await drop_schema(url)


async def test_two_servers_on_one_database_share_the_hook_limit(
    shared_db: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    access = Lines()
    async with (
        running_api(shared_db, configure=small_limits) as one,
        running_api(shared_db, configure=small_limits) as two,
    ):
        logging.getLogger("hypercorn.access").addHandler(access)
        try:
            await one.add("a", command="true")
            await one.add("b", command="true")
            secret, other = await token(capsys, shared_db, "a"), await token(capsys, shared_db, "b")
            calls = [(one if i % 2 else two).anon.post("/hooks/a", headers=bearer(secret)) for i in range(12)]
            answers = await asyncio.gather(*calls)
            assert sorted(r.status_code for r in answers) == [202] * 3 + [429] * 9, [r.text for r in answers]
            for r in answers:
                if r.status_code == 429:
                    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
                    assert "at most 3 hook runs in 60s" in r.json()["error"]
            # a server that allowed none of them refuses too: the count is the database's, not its own
            for server in (one, two):
                assert (await server.anon.post("/hooks/a", headers=bearer(secret))).status_code == 429
            assert (await two.anon.post("/hooks/b", headers=bearer(other))).status_code == 202, "per job"
            runs = (await one.client.get("/api/v1/runs")).json()
            assert sorted(run["job"] for run in runs) == ["a", "a", "a", "b"]
        finally:
            logging.getLogger("hypercorn.access").removeHandler(access)
    assert sum("/hooks/a" in line for line in access.lines) == 14, access.lines
    assert not any(secret in line or other in line or TOKEN in line for line in access.lines)


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
        await assert_documented(api, "GET", "/api/v1/runs/{run_id}", await api.client.get(f"/api/v1/runs/{run['id']}"))
        await api.final((await api.client.post("/api/v1/jobs/triage/run")).json()["id"])
        assert llm.requests[-1].json()["messages"][-1]["content"] == "Triage this alert:  (job triage)"
    finally:
        await llm.stop()
