"""`GET|POST /ping/NAME` (a success), `/ping/NAME/start`, `/ping/NAME/fail`, `/ping/NAME/EXIT_CODE`: a check
job's runs reported from outside, authorised by the job's own trigger token (`cronui jobs token NAME`), given
as `Authorization: Bearer TOKEN` or, for a pinger that only has a URL, `?token=TOKEN`. The body (UTF-8 text,
up to `hook_max_bytes`) is the message recorded with the run."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cronui.api.common import CHALLENGE, ApiError, ApiState, Checks
from cronui.api.docs import RUN_SCHEMA, answers, refused
from cronui.api.hooks import read_capped
from cronui.application import pings
from cronui.application.access import hook_token_matches
from cronui.application.context import Cronui
from cronui.application.shapes import run_json

PINGS_PREFIX = "/ping/"


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    store = state.store
    app = Cronui(state.settings, state.store, state.control, state.clock)
    bearer = HTTPBearer(auto_error=False, description="the job's trigger token (`cronui jobs token NAME`)")

    async def record(name: str, kind: str, request: Request, creds: Any, token: str | None) -> dict[str, Any]:
        given = creds.credentials if creds is not None else token
        job = await store.get_job_by_name(name)
        if job is None or not given or not await hook_token_matches(store, job, given):
            # an unknown job is told the same way as a wrong token: pings reveal no job names
            raise ApiError(
                401, "missing or wrong trigger token (`cronui jobs token NAME` prints one)", headers=CHALLENGE
            )
        report = pings.parse_kind(kind)
        report.message = await read_capped(request, state.hook_max_bytes)
        return run_json(await pings.ping(app, job.name, report))

    token_query = Query(description="the job's trigger token, for a pinger that only has a URL")
    deps = [checks.known_query]
    responses = {**refused(400, 401, 413), **answers(200, RUN_SCHEMA)}

    async def ping_success(
        name: str,
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        token: Annotated[str | None, token_query] = None,
    ) -> dict[str, Any]:
        return await record(name, "", request, creds, token)

    async def ping_kind(
        name: str,
        kind: str,
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        token: Annotated[str | None, token_query] = None,
    ) -> dict[str, Any]:
        return await record(name, kind, request, creds, token)

    # GET for pingers that only fetch a URL, POST for those that send a message; one operation each
    for method in ("GET", "POST"):
        r.add_api_route(
            "/ping/{name}",
            ping_success,
            methods=[method],
            operation_id=f"ping_{method.lower()}",
            summary="report a successful run of a check",
            dependencies=deps,
            responses=responses,
        )
        r.add_api_route(
            "/ping/{name}/{kind}",
            ping_kind,
            methods=[method],
            operation_id=f"ping_kind_{method.lower()}",
            summary="report a check's run: `start`, `fail` or an exit code 0-255",
            dependencies=deps,
            responses=responses,
        )

    return r
