"""MCP's run_now with `params`: the values reach the run, and a bad one is a tool error in the CLI's words with
nothing queued."""

from __future__ import annotations

from cronui.config import Settings
from tests.mcp.conftest import Said, call, over_http, refused


async def test_run_now_takes_params_and_refuses_bad_ones(settings: Settings) -> None:
    said = Said()
    async with over_http(settings) as (client, api):
        job = {
            "name": "deploy",
            "schedule": "@daily",
            "shell": "echo $CRONUI_PARAM_env",
            "params": {"env": {"default": "staging", "choices": ["staging", "prod"]}},
        }
        await call(client, said, "create_job", job=job)
        text = await refused(client, said, "run_now", name="deploy", params={"env": "dev"})
        assert text.splitlines()[0] == "param: env: 'dev' is not one of 'staging', 'prod'"
        run = await call(client, said, "run_now", name="deploy", params={"env": "prod"})
        assert run["params"] == {"env": "prod"} and run["trigger"] == "mcp"
        done = await api.final(run["id"])
        assert done["output"] == "prod\n"
        r = await api.client.get("/api/v1/runs")
        assert [x["id"] for x in r.json()] == [run["id"]]  # the refused one queued nothing
