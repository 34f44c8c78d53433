"""The API's audit log: who changed which job, when, and what, newest first (`cronui audit --json`); secrets
masked as everywhere. Read scope."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cronui.api.common import PREFIX, ApiState, App, Checks, whole
from cronui.api.docs import AUDIT_SCHEMA, answers, refused
from cronui.application import audit


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()

    @r.get(
        f"{PREFIX}/audit",
        dependencies=checks.api,
        responses={**refused(400, 422), **answers(200, {"type": "array", "items": AUDIT_SCHEMA})},
        summary="changes to jobs, newest first: who, when, what (`audit --json`)",
    )
    async def list_audit(
        app: App,
        job: Annotated[str | None, Query(description="only this job's (by the name it had)")] = None,
        limit: Annotated[
            str | None,
            Query(
                description=f"at most this many (default {audit.DEFAULT_LIMIT})",
                json_schema_extra=whole(1, audit.MAX_LIMIT),
            ),
        ] = None,
    ) -> list[dict[str, Any]]:
        return [audit.audit_json(e) for e in await audit.audit_log(app, job, limit)]

    return r
