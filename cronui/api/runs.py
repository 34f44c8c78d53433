"""The API's runs: list, show, cancel, approve, reject and their output so far, as the CLI shows them."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from cronui import bounds
from cronui.api.common import AS_DURATION, AS_STATUSES, MAX_ID, PREFIX, ApiError, ApiState, App, Checks, RunId, whole
from cronui.api.docs import LOGS_SCHEMA, RUN_SCHEMA, answers, refused
from cronui.application import runs
from cronui.application.shapes import logs_json, run_json

MAX_LIMIT = bounds.RUNS_PER_PAGE  # how many runs one request may ask for (`before=ID` pages back for more)


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api

    @r.get(
        f"{PREFIX}/runs",
        dependencies=api,
        responses={**refused(400, 404, 422), **answers(200, {"type": "array", "items": RUN_SCHEMA})},
        summary="runs, newest first (`runs list --json`)",
    )
    async def list_runs(
        app: App,
        job: str | None = None,
        status: Annotated[list[str] | None, Query(description="repeatable", json_schema_extra=AS_STATUSES)] = None,
        since: Annotated[
            str | None, Query(description="queued within this long, e.g. 24h", json_schema_extra=AS_DURATION)
        ] = None,
        limit: Annotated[
            str | None, Query(description="at most this many (default 50)", json_schema_extra=whole(1, MAX_LIMIT))
        ] = None,
        before: Annotated[
            str | None, Query(description="only runs with a smaller id (paging)", json_schema_extra=whole(1, MAX_ID))
        ] = None,
    ) -> list[dict[str, Any]]:
        query = runs.RunQuery(job, status or (), since, before, limit)
        return [run_json(r) for r in await runs.list_runs(app, query, most=MAX_LIMIT)]

    @r.get(
        f"{PREFIX}/runs/{{run_id}}",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, RUN_SCHEMA)},
        summary="one run (`runs show --json`)",
    )
    async def get_run(app: App, run_id: RunId) -> dict[str, Any]:
        return run_json(await runs.find_run(app, run_id))

    @r.post(
        f"{PREFIX}/runs/{{run_id}}/cancel",
        dependencies=api,
        responses={**refused(400, 404, 409), **answers(200, RUN_SCHEMA)},
        summary="cancel a pending or running run",
    )
    async def cancel_run(app: App, run_id: RunId) -> dict[str, Any]:
        return run_json(await runs.cancel(app, runs.parse_run_id(run_id)))

    @r.post(
        f"{PREFIX}/runs/{{run_id}}/approve",
        dependencies=api,
        responses={**refused(400, 404, 409), **answers(200, RUN_SCHEMA)},
        summary="approve a run waiting for approval: it runs (409 when it is not waiting)",
    )
    async def approve_run(app: App, request: Request, run_id: RunId) -> dict[str, Any]:
        return run_json(await runs.approve(app, runs.parse_run_id(run_id), decider(request)))

    @r.post(
        f"{PREFIX}/runs/{{run_id}}/reject",
        dependencies=api,
        responses={**refused(400, 404, 409), **answers(200, RUN_SCHEMA)},
        summary="reject a run waiting for approval: it is skipped (409 when it is not waiting)",
    )
    async def reject_run(
        app: App,
        request: Request,
        run_id: RunId,
        body: Annotated[dict[str, Any] | None, Body(description='{"reason": "why"} (optional)')] = None,
    ) -> dict[str, Any]:
        reason = (body or {}).get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ApiError(400, "reason: expected a string", [{"field": "reason", "problem": "expected a string"}])
        return run_json(await runs.reject(app, runs.parse_run_id(run_id), decider(request), reason))

    @r.get(
        f"{PREFIX}/runs/{{run_id}}/logs",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, LOGS_SCHEMA)},
        summary="a run's output so far",
    )
    async def run_logs(app: App, run_id: RunId) -> dict[str, Any]:
        return logs_json(await runs.run_view(app, runs.parse_run_id(run_id)))

    return r


def decider(request: Request) -> str:
    """Who approved or rejected through the API, as recorded with the decision: the caller's address."""
    return f"api@{request.client.host}" if request.client else "api"
