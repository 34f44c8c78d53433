"""The API's alerts: the episodes recorded, newest first, with each send and its outcome (`cronui alerts
--json`); channels masked."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cronui.api.common import PREFIX, ApiState, App, Checks, whole
from cronui.api.docs import ALERT_SCHEMA, answers, refused
from cronui.application import alerts


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()

    @r.get(
        f"{PREFIX}/alerts",
        dependencies=checks.api,
        responses={**refused(400, 404, 422), **answers(200, {"type": "array", "items": ALERT_SCHEMA})},
        summary="alerts recorded, newest first, with each send's outcome (`alerts --json`)",
    )
    async def list_alerts(
        app: App,
        job: str | None = None,
        limit: Annotated[
            str | None,
            Query(
                description=f"at most this many (default {alerts.DEFAULT_LIMIT})",
                json_schema_extra=whole(1, alerts.MAX_LIMIT),
            ),
        ] = None,
    ) -> list[dict[str, Any]]:
        return await alerts.list_alerts(app, job, limit)

    return r
