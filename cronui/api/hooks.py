"""`POST /hooks/NAME`: a run started by an outside service with the job's own trigger token, its body (UTF-8
text, up to `hook_max_bytes`) handed to the run as its payload; at most `hook_limit` runs per job."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, which name the local
# bearer scheme.

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cronui.api.common import CHALLENGE, ApiError, ApiState, Checks
from cronui.api.docs import RUN_SCHEMA, answers, refused
from cronui.application import jobs
from cronui.application.access import hook_token_matches
from cronui.application.caller import Caller, Scope
from cronui.application.shapes import run_json
from cronui.model.records import CapReached


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    store = state.store
    app = state.application()

    hook_bearer = HTTPBearer(auto_error=False, description="the job's trigger token (`cronui jobs token NAME`)")

    @r.post(
        "/hooks/{name}",
        status_code=202,
        dependencies=[checks.known_query],
        responses={**refused(400, 413, 429), **answers(202, RUN_SCHEMA)},
        summary="start a run of a job with its own trigger token",
    )
    async def hook(
        name: str, request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(hook_bearer)]
    ) -> dict[str, Any]:
        job = await store.get_job_by_name(name)
        if job is None or creds is None or not await hook_token_matches(store, job, creds.credentials):
            # an unknown job is told the same way as a wrong token: the hook reveals no job names
            raise ApiError(
                401, "missing or wrong trigger token (`cronui jobs token NAME` prints one)", headers=CHALLENGE
            )
        payload = await read_capped(request, state.hook_max_bytes)
        request_note = {"method": "POST", "url": f"/hooks/{job.name}", "payload": payload}
        try:
            # counted from the runs table as the run is inserted: every server on the database shares it
            # a run of trigger `hook`, asked for by `hook:NAME` (the job's own token)
            caller = Caller("hook", job.name, Scope.RUN)
            run = await jobs.run_now(app.as_caller(caller), job.name, request=request_note, cap=state.hook_limit)
        except CapReached as e:
            wait_s = max(1, math.ceil(e.wait_ms / 1000))
            raise ApiError(
                429,
                f"job {job.name!r}: at most {e.cap.count} hook runs in {e.cap.window_ms / 1000:g}s; "
                f"try again in {wait_s}s",
                headers={"Retry-After": str(wait_s)},
            ) from None
        return run_json(run)

    return r


async def read_capped(request: Request, cap: int) -> str:
    """The request's body as text, refused (413) beyond `cap` bytes and (400) when it is not UTF-8 text."""
    too_big = ApiError(413, f"the request body is larger than {cap:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise too_big
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text") from None
    if "\x00" in text:
        raise ApiError(400, "the request body holds a NUL character (it is passed to the run as text)")
    return text
