"""The API's overviews: the scheduler's status, finished runs per job and overall, and runs per time bucket."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cronui.api.common import AS_DURATION, PREFIX, ApiState, App, Checks
from cronui.api.docs import STATS_REPORT_SCHEMA, TIMELINE_SCHEMA, answers, refused
from cronui.application import stats


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api

    @r.get(
        f"{PREFIX}/status",
        dependencies=api,
        responses=refused(),
        summary="who schedules, what runs, what is next (`status --json`)",
    )
    async def get_status(app: App) -> dict[str, Any]:
        return await stats.status(app)  # the database named without its password

    @r.get(
        f"{PREFIX}/stats",
        dependencies=api,
        responses={**refused(400, 422), **answers(200, STATS_REPORT_SCHEMA)},
        summary="finished runs per job and overall",
    )
    async def get_stats(
        app: App,
        since: Annotated[
            str | None,
            Query(description="within this long, e.g. 7d (default: all time)", json_schema_extra=AS_DURATION),
        ] = None,
    ) -> dict[str, Any]:
        return await stats.stats_report(app, since)

    @r.get(
        f"{PREFIX}/timeline",
        dependencies=api,
        responses={**refused(400, 404, 422), **answers(200, TIMELINE_SCHEMA)},
        summary="runs per time bucket and status",
    )
    async def get_timeline(
        app: App,
        job: str | None = None,
        since: Annotated[str, Query(description="how far back, e.g. 24h", json_schema_extra=AS_DURATION)] = "24h",
        bucket: Annotated[str, Query(description="the bucket's length, e.g. 1h", json_schema_extra=AS_DURATION)] = "1h",
    ) -> dict[str, Any]:
        return await stats.timeline(app, job, since, bucket)

    return r
