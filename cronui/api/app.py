"""The HTTP API as a FastAPI application: the resources' routers, one error shape, and the guard in front.

Objects are the CLI's `--json` ones (cronui.present, cronui.reports); writes go through the engine's
`Control`, with the CLI's rules and messages. Errors are one JSON shape everywhere:
`{"error": "the line the CLI would print", "problems": [{"field": ..., "problem": ...}]}` with 400 (bad
input), 401 (no token, or a wrong or expired one), 403 (a Host or Origin not allowed, a
token without the scope a route needs), 404, 408, 409 (a duplicate name, a run already ended), 413,
422 (a request of the wrong shape), 429 or 503 (event streams full); nothing is changed by a request that
fails.

- `guard`   what every request must pass before anything reads it: Host, Origin, the token, the body's size
- `docs`    what the OpenAPI document says (at /api/v1/openapi.json, with the token like all of /api/v1)
- `jobs`, `runs`, `stats`, `events`, `hooks`, `pings`, `alerts`  the endpoints, by resource
- `metrics`  `GET /metrics` for Prometheus (the API's token unless `[metrics] public = true`)
"""

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from cronui.api import alerts, events, hooks, jobs, metrics, pings, runs, stats
from cronui.api.common import PREFIX, ApiError, ApiState, Json, dependencies, error
from cronui.api.guard import AllowedHosts, Guard
from cronui.application.errors import BAD_INPUT, CONFLICTS, FORBIDDEN, MISSING, first_line, problems

__all__ = ["ApiState", "create_app"]


def create_app(state: ApiState) -> FastAPI:
    mounted = [mount(state.application()) for mount in state.mounts]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for _path, _asgi, started in mounted:
                await stack.enter_async_context(started())
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="cronui",
        version="1",
        description="Jobs, runs, stats and the live event stream of a cronui scheduler.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        default_response_class=Json,
    )

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, e: ApiError) -> Response:
        return error(e.status, str(e), e.problems, headers=e.headers)

    for missing in MISSING:

        @app.exception_handler(missing)
        async def on_missing(request: Request, e: Exception) -> Response:
            return error(404, first_line(e))

    for conflict in CONFLICTS:

        @app.exception_handler(conflict)
        async def on_conflict(request: Request, e: Exception) -> Response:
            return error(409, first_line(e), problems(e))

    for forbidden in FORBIDDEN:

        @app.exception_handler(forbidden)
        async def on_forbidden(request: Request, e: Exception) -> Response:
            return error(403, first_line(e), problems(e))

    for bad_input in BAD_INPUT:

        @app.exception_handler(bad_input)
        async def on_bad_input(request: Request, e: Exception) -> Response:
            return error(400, first_line(e), problems(e))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, e: RequestValidationError) -> Response:
        problems = [_shape_problem(err) for err in e.errors()]
        first = problems[0] if problems else {"field": "request", "problem": "invalid request"}
        return error(422, f"{first['field']}: {first['problem']}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, e: StarletteHTTPException) -> Response:
        headers = getattr(e, "headers", None)
        if e.status_code == 405:  # the router names one route's methods; the path has a route per method
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(routers, request))}
        if e.status_code in (408, 413):  # a body cut short: the rest is not waited for
            headers = {**(headers or {}), "Connection": "close"}
        return error(e.status_code, str(e.detail), headers=headers)

    app.state.api = state  # what each request's use cases run over (cronui.api.common.request_application)
    checks = dependencies(state)
    routers = [
        resource.router(state, checks) for resource in (stats, jobs, runs, events, hooks, pings, alerts, metrics)
    ]
    for router in routers:
        app.include_router(router)
    for path, asgi, _ in mounted:  # every method of the path goes to the mounted app, as it answers them
        app.router.routes.append(Route(path, asgi))

    listen_host = state.listen[0] if state.listen else "127.0.0.1"
    api = state.settings.api
    app.add_middleware(
        Guard,
        hosts=AllowedHosts(listen_host, [*api.allowed_hosts, *state.allowed_hosts]),
        authenticate=state.caller_for,
        max_body=api.max_body,
        hook_max_body=state.hook_max_bytes,
        max_streams=api.max_streams,
        metrics_public=state.settings.metrics.public,
        tokened=[path for path, _, _ in mounted],
    )
    return app


def _allowed(routers: list[APIRouter], request: Request) -> list[str]:
    """Every method the request's path answers to (for a 405's Allow header); the routers have no prefix."""
    methods: set[str] = set()
    for route in (route for router in routers for route in router.routes):
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _shape_problem(err: Mapping[str, Any]) -> dict[str, str]:
    """One refusal of the request's shape in the API's words: a body that is not JSON is said so, with the
    parser's reason and where, rather than as the validator's location (`0`) and `JSON decode error`."""
    if err.get("type") == "json_invalid":
        loc = err.get("loc", ())
        reason = str((err.get("ctx") or {}).get("error", "")).strip()
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return {"field": "body", "problem": f"not valid JSON{at}" + (f": {reason}" if reason else "")}
    return {"field": _where(err.get("loc", ())), "problem": str(err.get("msg", ""))}


def _where(loc: Sequence[Any]) -> str:
    """Where a request's shape is wrong: `limit`, `Last-Event-ID`, or `body` (the JSON body as a whole)."""
    inside = [str(p) for p in loc[1:]]
    return ".".join(inside) if inside else str(loc[0]) if loc else "request"
