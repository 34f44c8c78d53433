"""Run-time parameters over the API: a job declares them as a job file does (`params`), `POST .../run` takes
`{"params": {...}}`, a bad body is a 400 with nothing queued, and the run shows the values it ran with."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, assert_documented

PARAMS = {"env": {"default": "staging", "choices": ["staging", "prod"]}, "count": {"type": "int", "default": 1}}


async def test_a_run_asked_with_params_gets_them_and_shows_them(api: Api) -> None:
    job = await api.add("deploy", command='echo "$CRONUI_PARAM_env x$CRONUI_PARAM_count"', params=PARAMS)
    assert job["params"] == {
        "count": {"type": "int", "default": 1},
        "env": {"default": "staging", "choices": ["staging", "prod"]},
    }
    r = await api.client.post("/api/v1/jobs/deploy/run", json={"params": {"env": "prod", "count": 5}})
    assert r.status_code == 202, r.text
    assert r.json()["params"] == {"env": "prod", "count": 5}
    await assert_documented(api, "POST", "/api/v1/jobs/{name}/run", r)
    run = await api.final(r.json()["id"])
    assert (run["status"], run["output"], run["params"]) == ("succeeded", "prod x5\n", {"env": "prod", "count": 5})
    # no body: the defaults
    r = await api.client.post("/api/v1/jobs/deploy/run")
    assert r.status_code == 202 and r.json()["params"] == {"env": "staging", "count": 1}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"params": {"env": "dev"}}, "param: env: 'dev' is not one of 'staging', 'prod'"),
        ({"params": {"count": "x"}}, "param: count: expected a whole number, got 'x'"),
        ({"params": {"zone": "eu"}}, "param: unknown name 'zone' (declared: count, env)"),
        ({"params": ["env=prod"]}, "params: expected an object of NAME: VALUE"),
        ({"parms": {"env": "prod"}}, "parms: unknown field (a run takes only params)"),
    ],
)
async def test_a_bad_run_body_is_a_400_and_nothing_is_queued(api: Api, body: dict, error: str) -> None:
    await api.add("deploy", params=PARAMS)
    r = await api.client.post("/api/v1/jobs/deploy/run", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error
    assert (await api.client.get("/api/v1/runs")).json() == []


async def test_a_scheduled_job_with_a_required_param_is_refused_with_a_400(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/jobs", json={"name": "greet", "schedule": "@daily", "shell": "true", "params": {"who": {}}}
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("params: who has no default, but the job runs on its schedule")
    assert (await api.client.get("/api/v1/jobs/greet")).status_code == 404
