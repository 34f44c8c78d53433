"""Every endpoint of `cronui serve` over loopback: what a script sees, the CLI's objects and messages, and
that a refused request changes nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from cronui.config import Settings
from cronui.main import main
from cronui.secrets import MASK
from tests.api.conftest import TOKEN, Api, assert_documented, running_api

ENDPOINTS = [
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/a"),
    ("PATCH", "/api/v1/jobs/a"),
    ("DELETE", "/api/v1/jobs/a"),
    ("POST", "/api/v1/jobs/a/run"),
    ("POST", "/api/v1/jobs/a/enable"),
    ("POST", "/api/v1/jobs/a/disable"),
    ("POST", "/api/v1/jobs/a/pause"),
    ("POST", "/api/v1/jobs/a/resume"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/1"),
    ("POST", "/api/v1/runs/1/cancel"),
    ("POST", "/api/v1/runs/1/approve"),
    ("POST", "/api/v1/runs/1/reject"),
    ("GET", "/api/v1/runs/1/logs"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/timeline"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/alerts"),
]


async def cli_json(capsys: pytest.CaptureFixture[str], settings: Settings, *argv: str) -> Any:
    """What `cronui --db DB ARGV` prints, run beside the server (the CLI starts its own event loop)."""
    import json

    code = await asyncio.to_thread(main, ["--db", settings.db, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


# ---------------------------------------------------------------- auth


async def test_every_endpoint_refuses_a_request_without_the_token_and_changes_nothing(api: Api) -> None:
    await api.add("a")
    for method, path in ENDPOINTS:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            r = await api.anon.request(method, path, headers=headers, json={"name": "b", "schedule": "x"})
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert "API token" in r.json()["error"]
    r = await api.client.get("/api/v1/jobs/a")
    assert r.json()["enabled"] is True and r.json()["stats"]["all"]["runs"] == 0
    assert [j["name"] for j in (await api.client.get("/api/v1/jobs")).json()] == ["a"]


async def test_the_openapi_document_lists_every_endpoint_and_the_bearer_scheme(api: Api) -> None:
    assert (await api.anon.get("/api/v1/openapi.json")).status_code == 401  # like every /api/v1 request
    r = await api.client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    for method, path in ENDPOINTS:
        templated = path.replace("/jobs/a", "/jobs/{name}").replace("/runs/1", "/runs/{run_id}")
        assert method.lower() in doc["paths"][templated], (method, templated)
    assert "post" in doc["paths"]["/hooks/{name}"]
    assert any(s.get("scheme") == "bearer" for s in doc["components"]["securitySchemes"].values())


async def test_the_openapi_document_says_every_refusal_and_its_shape(api: Api) -> None:
    doc = (await api.client.get("/api/v1/openapi.json")).json()
    assert "HTTPValidationError" not in doc["components"]["schemas"], "FastAPI's own 422 shape is never answered"
    refusal = doc["components"]["schemas"]["Refusal"]
    assert refusal["required"] == ["error"] and set(refusal["properties"]) == {"error", "problems"}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert {"400", "401", "403", "413", "422"} <= set(op["responses"]), (method, path)
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    shape = response["content"]["application/json"]["schema"]
                    assert shape == {"$ref": "#/components/schemas/Refusal"}, (method, path, code)
    hook = doc["paths"]["/hooks/{name}"]["post"]["responses"]
    assert {"413", "429"} <= set(hook) and "Retry-After" in hook["429"]["headers"]
    runs = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/runs"]["get"]["parameters"]}
    assert (runs["limit"]["type"], runs["limit"]["minimum"], runs["limit"]["maximum"]) == ("integer", 1, 1_000)
    assert "succeeded" in runs["status"]["items"]["enum"]


async def test_an_unknown_query_parameter_or_method_is_refused_saying_what_is_known(api: Api) -> None:
    await api.add("a")
    r = await api.client.get("/api/v1/runs", params={"sinec": "1h"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "unknown query parameter 'sinec' (expected: before, job, limit, since, status)"
    assert r.json()["problems"] == [{"field": "sinec", "problem": "unknown query parameter"}]
    r = await api.client.post("/api/v1/jobs/a/run", params={"now": "1"})
    assert r.status_code == 400 and "(expected: none)" in r.json()["error"]
    assert (await api.client.get("/api/v1/runs")).json() == [], "the refused request started no run"
    r = await api.anon.get("/api/v1/runs", params={"sinec": "1h"})
    assert r.status_code == 401, "the token is checked first"
    # a method a path does not answer to: 405, and Allow names every one it does
    r = await api.client.put("/api/v1/jobs/a", json={})
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, PATCH", r.headers
    r = await api.client.delete("/api/v1/jobs")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_request_logs_never_show_the_token(settings: Settings) -> None:
    access = Lines()
    async with running_api(settings) as api:
        logging.getLogger("hypercorn.access").addHandler(access)  # the server's request log
        try:
            await api.add("a")
            await api.client.get("/api/v1/jobs", params={"limit": "1"})
            await api.anon.get("/api/v1/jobs", headers={"Authorization": "Bearer some-wrong-token"})
            await api.client.post("/api/v1/jobs/a/run")
            await asyncio.sleep(0.2)  # a request is logged once its response is sent
        finally:
            logging.getLogger("hypercorn.access").removeHandler(access)
    lines = access.lines
    assert len(lines) == 4, lines
    assert any("/api/v1/jobs" in line for line in lines), lines
    assert not any(TOKEN in line or "some-wrong-token" in line for line in lines), lines


# ---------------------------------------------------------------- status and jobs: the CLI's objects


async def test_status_jobs_and_job_are_the_clis_json(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.add("a", tags=["x"])
    await api.add("b", command="true", schedule="*/5 * * * *")
    status = (await api.client.get("/api/v1/status")).json()
    assert status["db"] == settings.db
    assert status["jobs"] == 2 and status["enabled"] == 2 and status["paused"] is False
    assert status["scheduler"]["pid"] > 0, "the server schedules the database itself"
    cli_status = await cli_json(capsys, settings, "status", "--json")
    assert {k: v for k, v in status.items() if k != "scheduler"} == {
        k: v for k, v in cli_status.items() if k != "scheduler"
    }
    assert (await api.client.get("/api/v1/jobs")).json() == await cli_json(capsys, settings, "jobs", "list", "--json")
    assert (await api.client.get("/api/v1/jobs/b")).json() == await cli_json(
        capsys, settings, "jobs", "show", "b", "--json"
    )


async def test_adding_a_job_as_in_a_job_file(api: Api) -> None:
    entry = {
        "name": "backup",
        "schedule": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "shell": "restic backup ~",
        "retries": 2,
        "timeout": "10m",
        "tags": ["nightly"],
    }
    r = await api.client.post("/api/v1/jobs", json=entry)
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["name"], job["schedule"], job["timezone"], job["source"]) == (
        "backup",
        "30 2 * * *",
        "Europe/Berlin",
        "api",
    )
    assert (job["retries"], job["timeout_s"], job["tags"]) == (2, 600.0, ["nightly"])
    assert job["target"]["command"] == "restic backup ~"
    assert job["next_run_at"].endswith("T01:30:00.000Z") or job["next_run_at"].endswith("T00:30:00.000Z")


async def test_a_duplicate_name_is_409_and_keeps_the_first(api: Api) -> None:
    await api.add("a", command="echo first")
    r = await api.client.post("/api/v1/jobs", json={"name": "a", "schedule": "every 5m", "shell": "echo second"})
    assert r.status_code == 409
    assert r.json()["error"] == "name: a job named 'a' already exists"
    assert (await api.client.get("/api/v1/jobs/a")).json()["target"]["command"] == "echo first"


async def test_a_bad_job_is_400_naming_each_problem_and_nothing_is_added(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/jobs",
        json={"name": "x", "schedule": "every 5m", "shell": "true", "retries": -1, "timeout": "soon", "colour": 1},
    )
    assert r.status_code == 400, r.text
    body = r.json()
    fields = [p["field"] for p in body["problems"]]
    assert set(fields) == {"colour", "retries", "timeout"}, body
    problems = {p["field"]: p["problem"] for p in body["problems"]}
    assert problems["colour"].startswith("unknown key")
    assert "2 more" in body["error"]
    r = await api.client.post("/api/v1/jobs", json={"name": "x", "schedule": "every 5 parsecs", "shell": "true"})
    assert r.status_code == 400
    assert r.json()["problems"][0]["field"] == "schedule"
    assert (await api.client.get("/api/v1/jobs")).json() == []
    r = await api.client.post("/api/v1/jobs", content=b"not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["problems"]
    r = await api.client.post("/api/v1/jobs", json=["a", "list"])
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "body"


async def test_a_body_that_is_not_json_is_said_so_in_words(api: Api) -> None:
    r = await api.client.post("/api/v1/jobs", content=b"name=x", headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["problems"][0]["field"] == "body"
    assert body["error"].startswith("body: not valid JSON at character 0: "), body
    assert "JSON decode error" not in r.text and '"0"' not in r.text


async def test_an_unknown_status_names_the_one_given(api: Api) -> None:
    r = await api.client.get("/api/v1/runs", params={"status": ["failed", "bogus"]})
    assert r.status_code == 400, r.text
    assert r.json()["error"].endswith("got 'bogus'") and "[" not in r.json()["error"]


async def test_the_same_message_as_the_cli(api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = await asyncio.to_thread(
        main, ["--db", settings.db, "jobs", "add", "x", "--schedule", "61 * * * *", "--shell", "true"]
    )
    cli_err = capsys.readouterr().err
    assert code == 2
    r = await api.client.post("/api/v1/jobs", json={"name": "x", "schedule": "61 * * * *", "shell": "true"})
    problem = r.json()["problems"][0]
    assert problem["field"] == "schedule" and problem["problem"] in cli_err
    # not a number: the same rule on both faces (their maxima differ: a page of the API, a CLI list)
    r = await api.client.get("/api/v1/runs", params={"limit": "ten"})
    assert r.status_code == 400 and r.json()["error"].startswith("limit: ")
    code = await asyncio.to_thread(main, ["--db", settings.db, "runs", "list", "--limit", "ten"])
    assert code == 2 and r.json()["error"].removeprefix("limit: ") in capsys.readouterr().err


async def test_editing_a_job(api: Api) -> None:
    await api.add("a", command="echo a", retries=1, env={"X": "1"})
    await api.add("b")
    r = await api.client.patch("/api/v1/jobs/a", json={"schedule": "every 10m", "env": {"Y": "2"}, "retries": None})
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["schedule"], job["retries"], job["target"]["env"]) == ("every 10m", 0, {"X": "1", "Y": "2"})
    assert job["target"]["command"] == "echo a" and job["id"] == 1

    for change, status, field in (
        ({"schedule": "nope"}, 400, "schedule"),
        ({"retries": "many"}, 400, "retries"),
        ({"name": "b"}, 409, "name"),
        ({"on_success": ["a"]}, 400, "on_success"),
    ):
        r = await api.client.patch("/api/v1/jobs/a", json=change)
        assert r.status_code == status, (change, r.text)
        assert r.json()["problems"][0]["field"] == field, r.json()
    after = (await api.client.get("/api/v1/jobs/a")).json()
    assert (after["schedule"], after["retries"], after["name"]) == ("every 10m", 0, "a")

    r = await api.client.patch("/api/v1/jobs/a", json={"name": "renamed"})
    assert r.status_code == 200 and r.json()["id"] == 1
    assert (await api.client.get("/api/v1/jobs/a")).status_code == 404
    r = await api.client.patch("/api/v1/jobs/nope", json={"retries": 1})
    assert r.status_code == 404 and r.json()["error"] == "no job named 'nope'"


async def test_enable_disable_and_remove(api: Api) -> None:
    await api.add("a")
    await api.add("b", on_success=["a"])
    r = await api.client.post("/api/v1/jobs/a/disable")
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["next_run_at"] is None
    r = await api.client.post("/api/v1/jobs/a/enable")
    assert r.json()["enabled"] is True and r.json()["next_run_at"] is not None
    r = await api.client.delete("/api/v1/jobs/a")
    assert r.status_code == 400 and "chained from b" in r.json()["error"]
    assert (await api.client.get("/api/v1/jobs/a")).status_code == 200
    assert (await api.client.delete("/api/v1/jobs/b")).status_code == 200
    assert (await api.client.delete("/api/v1/jobs/a")).json()["name"] == "a"
    assert (await api.client.get("/api/v1/jobs/a")).status_code == 404
    assert (await api.client.delete("/api/v1/jobs/a")).status_code == 404
    assert (await api.client.post("/api/v1/jobs/a/enable")).status_code == 404


# ---------------------------------------------------------------- runs


async def test_running_a_job_and_reading_its_run_and_logs(api: Api) -> None:
    await api.add("hello", command="echo out; echo err >&2")
    r = await api.client.post("/api/v1/jobs/hello/run")
    assert r.status_code == 202
    run_id = r.json()["id"]
    assert r.json()["status"] == "pending" and r.json()["trigger"] == "api"  # asked through the API
    run = await api.final(run_id)
    assert run["status"] == "succeeded" and run["output"] == "out\n"
    logs = (await api.client.get(f"/api/v1/runs/{run_id}/logs")).json()
    assert (logs["stdout"], logs["stderr"], logs["status"]) == ("out\n", "err\n", "succeeded")
    assert (await api.client.post("/api/v1/jobs/nope/run")).status_code == 404
    for path in (f"/api/v1/runs/{run_id + 100}", f"/api/v1/runs/{run_id + 100}/logs"):
        r = await api.client.get(path)
        assert r.status_code == 404 and r.json()["error"] == f"no run #{run_id + 100}"
    r = await api.client.get("/api/v1/runs/abc")
    assert r.status_code == 400 and r.json()["error"].startswith("run id: ")


async def test_runs_filters(api: Api) -> None:
    await api.add("ok", command="true")
    await api.add("bad", command="false")
    ids = []
    for name in ("ok", "bad", "ok"):
        ids.append((await api.client.post(f"/api/v1/jobs/{name}/run")).json()["id"])
        await api.final(ids[-1])
    get = api.client.get
    assert [r["id"] for r in (await get("/api/v1/runs")).json()] == ids[::-1]
    assert [r["id"] for r in (await get("/api/v1/runs", params={"job": "ok"})).json()] == [ids[2], ids[0]]
    assert [r["id"] for r in (await get("/api/v1/runs", params={"status": "failed"})).json()] == [ids[1]]
    both = (await get("/api/v1/runs", params=[("status", "failed"), ("status", "succeeded")])).json()
    assert len(both) == 3
    assert [r["id"] for r in (await get("/api/v1/runs", params={"limit": 1})).json()] == [ids[2]]
    assert [r["id"] for r in (await get("/api/v1/runs", params={"before": ids[2]})).json()] == ids[1::-1]
    assert len((await get("/api/v1/runs", params={"since": "1h"})).json()) == 3
    for params, status, start in (
        ({"status": "done"}, 400, "status: expected one of"),
        ({"since": "soon"}, 400, "since: expected a duration"),
        ({"job": "nope"}, 404, "no job named"),
        ({"before": "0"}, 400, "before: "),
    ):
        r = await get("/api/v1/runs", params=params)
        assert r.status_code == status and r.json()["error"].startswith(start), (params, r.text)


async def test_cancelling_a_running_run(api: Api) -> None:
    await api.add("slow", command="echo started; sleep 30")
    run_id = (await api.client.post("/api/v1/jobs/slow/run")).json()["id"]
    for _ in range(200):  # until it runs and has said so
        logs = (await api.client.get(f"/api/v1/runs/{run_id}/logs")).json()
        if logs["status"] == "running" and logs["stdout"] == "started\n":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the run never started: {logs}")
    r = await api.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert r.status_code == 200, r.text
    run = await api.final(run_id)
    assert run["status"] == "cancelled"
    r = await api.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert r.status_code == 409 and r.json()["error"] == f"run #{run_id} already ended: cancelled"
    assert (await api.client.post(f"/api/v1/runs/{run_id + 1}/cancel")).status_code == 404


# ---------------------------------------------------------------- stats and timeline


async def test_stats_and_timeline(api: Api) -> None:
    await api.add("ok", command="true")
    await api.add("bad", command="false")
    await api.add("idle")
    for name in ("ok", "ok", "ok", "bad"):
        await api.final((await api.client.post(f"/api/v1/jobs/{name}/run")).json()["id"])
    r = await api.client.get("/api/v1/stats")
    await assert_documented(api, "GET", "/api/v1/stats", r)
    stats = r.json()
    assert stats["overall"]["runs"] == 4 and stats["overall"]["success_rate"] == 0.75
    assert stats["overall"]["median_ms"] is not None
    assert stats["jobs"]["ok"]["runs"] == 3 and stats["jobs"]["ok"]["success_rate"] == 1.0
    assert stats["jobs"]["bad"]["success_rate"] == 0.0
    assert stats["jobs"]["idle"] == {
        "runs": 0,
        "success_rate": None,
        "median_ms": None,
        "p95_ms": None,
        "total_tokens": 0,
        "cost_usd": None,
    }
    assert (await api.client.get("/api/v1/stats", params={"since": "7d"})).json()["overall"]["runs"] == 4
    assert (await api.client.get("/api/v1/stats", params={"since": "x"})).status_code == 400

    r = await api.client.get("/api/v1/timeline", params={"since": "1h", "bucket": "1h"})
    await assert_documented(api, "GET", "/api/v1/timeline", r)
    tl = r.json()
    assert sum(sum(b["runs"].values()) for b in tl["buckets"]) == 4
    assert tl["bucket_s"] == 3600
    only = (await api.client.get("/api/v1/timeline", params={"job": "bad"})).json()
    assert [b["runs"] for b in only["buckets"]] == [{"failed": 1}]
    r = await api.client.get("/api/v1/timeline", params={"since": "30d", "bucket": "1s"})
    assert r.status_code == 400 and "buckets" in r.json()["error"]
    assert (await api.client.get("/api/v1/timeline", params={"job": "nope"})).status_code == 404


# ---------------------------------------------------------------- secrets


async def test_literal_secrets_are_masked_in_every_job_response(api: Api) -> None:
    entry = {
        "name": "s",
        "schedule": "every 1h",
        "shell": "true",
        "env": {"API_TOKEN": "literal-secret-1", "PLAIN": "shown", "REF_TOKEN": "${env:SOME_TOKEN}"},
    }
    responses = [await api.client.post("/api/v1/jobs", json=entry)]
    responses.append(await api.client.get("/api/v1/jobs/s"))
    responses.append(await api.client.patch("/api/v1/jobs/s", json={"description": "d"}))
    responses.append(await api.client.post("/api/v1/jobs/s/disable"))
    await api.client.post(
        "/api/v1/jobs",
        json={
            "name": "h",
            "schedule": "every 1h",
            "http": {"url": "https://example.com", "headers": {"Authorization": "Bearer literal-secret-2"}},
        },
    )
    responses.append(await api.client.get("/api/v1/jobs/h"))
    for r in responses:
        assert r.status_code in (200, 201), r.text
        assert "literal-secret" not in r.text
    env = responses[1].json()["target"]["env"]
    assert env == {"API_TOKEN": MASK, "PLAIN": "shown", "REF_TOKEN": "${env:SOME_TOKEN}"}
    assert responses[-1].json()["target"]["headers"] == {"Authorization": MASK}
    # the masked value is shown, not stored: an edit keeps the secret, even one that sends the mask back
    r = await api.client.patch("/api/v1/jobs/s", json={"env": {**env, "PLAIN": "changed"}})
    assert r.status_code == 200 and r.json()["target"]["env"]["PLAIN"] == "changed"
    r = await api.client.patch("/api/v1/jobs/h", json={"http": {"headers": {"Authorization": MASK, "X-A": "1"}}})
    assert r.json()["target"]["headers"] == {"Authorization": MASK, "X-A": "1"}
    stored = await api.store.get_job_by_name("s")
    assert stored is not None and stored.target.env["API_TOKEN"] == "literal-secret-1"  # type: ignore[union-attr]
    stored = await api.store.get_job_by_name("h")
    assert stored is not None and stored.target.headers["Authorization"] == "Bearer literal-secret-2"  # type: ignore[union-attr]


async def test_a_resolved_secret_never_reaches_a_run_response(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TEST_SECRET", "resolved-secret-value")
    await api.add("leak", command='echo "$S"', env={"S": "${env:API_TEST_SECRET}"})
    run_id = (await api.client.post("/api/v1/jobs/leak/run")).json()["id"]
    run = await api.final(run_id)
    assert run["output"] == f"{MASK}\n"
    for path in (f"/api/v1/runs/{run_id}", f"/api/v1/runs/{run_id}/logs", "/api/v1/runs"):
        assert "resolved-secret-value" not in (await api.client.get(path)).text


async def test_with_no_token_set_a_loopback_server_asks_for_none(settings: Settings) -> None:
    async with running_api(settings, token=None) as api:
        assert (await api.anon.get("/api/v1/jobs")).status_code == 200
        assert (
            await api.anon.post("/api/v1/jobs", json={"name": "a", "schedule": "every 1h", "shell": "true"})
        ).status_code == 201
        assert (await api.anon.post("/hooks/a")).status_code == 401, "a hook still needs the job's own token"


async def test_an_agent_jobs_headers_and_webhook_urls_are_masked_everywhere_a_job_shows(api: Api) -> None:
    entry = {
        "name": "agent",
        "schedule": "every 1h",
        "agent": {
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "message": "hi",
            "headers": {"X-Api-Key": "literal-secret-3", "X-Trace": "shown"},
        },
        "deliver_to": "https://hooks.slack.com/services/T0/B0/literal-secret-4",
        "alert_to": "https://discord.com/api/webhooks/1/literal-secret-5",
    }
    r = await api.client.post("/api/v1/jobs", json=entry)
    assert r.status_code == 201, r.text
    assert r.json()["target"]["headers"] == {"X-Api-Key": MASK, "X-Trace": "shown"}
    responses = [r]
    for method, path in (
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/agent"),
        ("PATCH", "/api/v1/jobs/agent"),
        ("POST", "/api/v1/jobs/agent/disable"),
        ("POST", "/api/v1/jobs/agent/enable"),
        ("GET", "/api/v1/status"),
        ("DELETE", "/api/v1/jobs/agent"),
    ):
        body = {"description": "d"} if method == "PATCH" else None
        responses.append(await api.client.request(method, path, json=body))
    for r in responses:
        assert r.status_code < 300, r.text
        assert "literal-secret" not in r.text, (r.request.method, r.request.url, r.text)
    # and each is the job the OpenAPI document describes, field by field
    for r, path in zip(responses, ["/api/v1/jobs", "/api/v1/jobs", *["/api/v1/jobs/{name}"] * 2], strict=False):
        await assert_documented(api, r.request.method, path, r)
    for r, verb in zip(responses[4:6], ("disable", "enable"), strict=True):
        await assert_documented(api, "POST", f"/api/v1/jobs/{{name}}/{verb}", r)
    await assert_documented(api, "DELETE", "/api/v1/jobs/{name}", responses[-1])
