"""What every resource's endpoints share: the server's state, the one error shape, the token, scope and query
checks every `/api/v1` endpoint depends on, the per-request use cases' ground (`App`: the `Cronui` of the
request's caller), and parameters read as the CLI reads them.

Which scope each route needs is said here once (`ROUTE_SCOPES`): a GET reads (read); any other method must
be listed, and one that is not needs admin, so a route added without a thought is closed, not open."""

# No `from __future__ import annotations` here: FastAPI reads the dependencies' annotations, which name
# objects local to `dependencies` (the bearer scheme), and string annotations could not be resolved.

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.dependencies.models import Dependant
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cronui.application import tokens
from cronui.application.access import is_loopback
from cronui.application.caller import Caller, Scope, require
from cronui.application.context import Cronui
from cronui.application.runs import MAX_ID as MAX_RUN_ID
from cronui.application.shapes import json_text
from cronui.application.values import DURATION_RE
from cronui.config import Settings
from cronui.engine.clock import Clock, SystemClock
from cronui.engine.control import Control
from cronui.model import RunStatus
from cronui.model.records import RunCap
from cronui.store import Store

PREFIX = "/api/v1"
EVENT_POLL_S = 0.2  # how often an event stream reads the log when it had nothing new
EVENT_SEND_TIMEOUT_S = 30.0  # one send of an event stream may wait this long for a client that does not read
HOOK_MAX_BYTES = 64 * 1024  # a hook request's body: larger ones are refused (413)
HOOK_RATE = RunCap(10, 60_000)  # hook runs per job: at most 10 in any 60 seconds, cluster-wide (429 beyond)
MAX_ID = MAX_RUN_ID  # the largest run or event id a request may name
CHALLENGE = {"WWW-Authenticate": "Bearer"}
METRICS_REUSE_S = 5.0  # a reading of the store for /metrics younger than this is shown again


# Another face served beside the API (MCP at /mcp), built by the program's entry for the use cases' ground:
# its path, its ASGI app and its lifespan (entered while the API serves). The guard covers it, token included.
Mounted = tuple[str, Any, Callable[[], AbstractAsyncContextManager[Any]]]
Mount = Callable[[Cronui], Mounted]


@dataclass
class ApiState:
    """What the endpoints work with: the store, the engine's Control, the settings and the API token."""

    settings: Settings
    store: Store
    control: Control
    token: str | None  # None: no API token (a loopback address only)
    clock: Clock = field(default_factory=SystemClock)
    hook_max_bytes: int = HOOK_MAX_BYTES
    hook_limit: RunCap = HOOK_RATE
    event_poll_s: float = EVENT_POLL_S
    event_send_timeout_s: float = EVENT_SEND_TIMEOUT_S
    metrics_reuse_s: float = METRICS_REUSE_S
    # the names a request's Host may give besides the listen address's own (`[api] allowed_hosts`, --allow-host)
    allowed_hosts: list[str] = field(default_factory=list)
    listen: tuple[str, int] | None = None  # the address served on (None: known from each request's socket)
    mounts: list[Mount] = field(default_factory=list)  # other faces served beside the API (see Mount)

    def application(self) -> Cronui:
        """The use cases' common ground over this state (its caller the CLI's default): what a request's
        own ground (`App`) is made from, with the request's caller."""
        return Cronui(self.settings, self.store, self.control, self.clock)

    @property
    def open_allowed(self) -> bool:
        """Whether requests may come without a token when none is set or stored: on a loopback address only."""
        return is_loopback(self.listen[0] if self.listen else "127.0.0.1")

    async def caller_for(self, secret: str | None) -> Caller | None:
        """Who a request with bearer `secret` is (None: none was sent); None: refused, 401."""
        return await tokens.request_caller(
            self.application(), secret, admin_token=self.token, open_allowed=self.open_allowed
        )


# What each route that does not only read needs (method, path as routed); a GET needs read, and any other
# route not listed needs admin (`scope_needed`).
ROUTE_SCOPES: dict[tuple[str, str], Scope] = {
    ("POST", f"{PREFIX}/jobs"): Scope.WRITE,
    ("PATCH", f"{PREFIX}/jobs/{{name}}"): Scope.WRITE,
    ("DELETE", f"{PREFIX}/jobs/{{name}}"): Scope.WRITE,
    ("POST", f"{PREFIX}/jobs/{{name}}/run"): Scope.RUN,
    ("POST", f"{PREFIX}/jobs/{{name}}/backfill"): Scope.RUN,
    ("POST", f"{PREFIX}/jobs/{{name}}/enable"): Scope.RUN,
    ("POST", f"{PREFIX}/jobs/{{name}}/disable"): Scope.RUN,
    ("POST", f"{PREFIX}/runs/{{run_id}}/cancel"): Scope.RUN,
    ("POST", f"{PREFIX}/runs/{{run_id}}/approve"): Scope.RUN,
    ("POST", f"{PREFIX}/runs/{{run_id}}/reject"): Scope.RUN,
    ("POST", f"{PREFIX}/jobs/{{name}}/pause"): Scope.RUN,  # a timed pause: {"for": "2h"} or {"until": ...}
    ("POST", f"{PREFIX}/jobs/{{name}}/resume"): Scope.RUN,
}
READING = frozenset({"GET", "HEAD"})


def scope_needed(method: str, path: str) -> Scope:
    """The scope a route needs: listed in ROUTE_SCOPES, else read for a GET, else admin."""
    listed = ROUTE_SCOPES.get((method, path))
    if listed is not None:
        return listed
    return Scope.READ if method in READING else Scope.ADMIN


def request_caller(request: Request) -> Caller:
    """The caller the guard (cronui.api.guard) found for this request; a request it let through without
    one is refused (401)."""
    caller = request.scope.get("state", {}).get("caller")
    if not isinstance(caller, Caller):
        raise ApiError(401, UNAUTHORIZED, headers=CHALLENGE)
    return caller


class ApiError(Exception):
    """A request the API refuses: its status, the one line, and the problems named field by field."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or []
        self.headers = headers


class Json(JSONResponse):
    """JSON as the CLI prints it: non-finite numbers as null, C1 controls escaped."""

    def render(self, content: Any) -> bytes:
        return json_text(content, indent=None).encode()


def error(status: int, message: str, problems: list[dict[str, str]] | None = None, **kw: Any) -> Json:
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    return Json(body, status_code=status, **kw)


UNAUTHORIZED = "missing, wrong or expired API token (Authorization: Bearer TOKEN)"


@dataclass
class Checks:
    """The dependencies endpoints declare: `api` for every /api/v1 endpoint (the token and its scope, then
    the query's names: nothing is told without the token), `known_query` alone for hooks (they take their
    own token)."""

    api: list[DependsParam]
    known_query: DependsParam


def dependencies(state: ApiState) -> Checks:
    bearer = HTTPBearer(
        auto_error=False,
        description="a token from `cronui tokens add` (its scope: read, run, write or admin), or the admin API "
        "token: `[api] token` or CRONUI_API_TOKEN",
    )
    known: dict[int, set[str]] = {}  # per route: the query parameters it reads

    async def only_known_query(request: Request) -> None:
        """An unknown query parameter is refused, as the CLI refuses an unknown option: a misspelt
        `?sinec=1h` would otherwise be ignored, and the answer silently not the one asked for."""
        route = request.scope.get("route")
        if not isinstance(route, APIRoute):
            return
        names = known.get(id(route))
        if names is None:
            names = known[id(route)] = _query_names(route.dependant)
        unknown = sorted(set(request.query_params) - names)
        if unknown:
            expected = ", ".join(sorted(names)) or "none"
            raise ApiError(
                400,
                f"unknown query parameter {unknown[0]!r} (expected: {expected})",
                [{"field": name, "problem": "unknown query parameter"} for name in unknown],
            )

    async def authorized(
        request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> None:
        """The token was checked before the request was read (cronui.api.guard; here the document learns
        of the scheme); its scope is checked here, against the route's (`scope_needed`): 403 naming it."""
        caller = request_caller(request)
        route = request.scope.get("route")
        if isinstance(route, APIRoute):
            require(caller, scope_needed(request.method, route.path_format))

    return Checks([Depends(authorized), Depends(only_known_query)], Depends(only_known_query))


def request_application(request: Request) -> Cronui:
    """The use cases' ground of this request: the server's (`create_app` keeps its ApiState on the app as
    `state.api`), with the request's caller (owner, audit, scope, policy)."""
    state: ApiState = request.app.state.api
    return state.application().as_caller(request_caller(request))


# an endpoint's parameter: `app: App` is the use cases' ground with the request's caller
App = Annotated[Cronui, Depends(request_application)]


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters an endpoint reads, its dependencies' too."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


# ---------------------------------------------------------------- parameters, read as the CLI reads them


def shown_as(schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A parameter's OpenAPI schema replaced by `schema`: the parameter is read as text, as the CLI reads it
    (with the CLI's message when it is wrong, a 400), and the document says what that text may be."""

    def replace(generated: dict[str, Any]) -> None:
        kept: dict[str, Any] = {k: generated[k] for k in ("title", "description") if k in generated}
        generated.clear()
        generated.update({**kept, **schema})

    return replace


def whole(lo: int, hi: int) -> Callable[[dict[str, Any]], None]:
    """A whole number from lo to hi."""
    return shown_as({"type": "integer", "minimum": lo, "maximum": hi})


# a run's id in a path: read as the CLI reads one (`#42` too), shown as a number
RunId = Annotated[str, Path(json_schema_extra=whole(1, MAX_ID))]
# a duration (`since`, `bucket`): a number of seconds, or with a unit (30s, 10m, 2h, 7d)
AS_STATUSES = shown_as({"type": "array", "items": {"type": "string", "enum": [str(s) for s in RunStatus]}})
AS_DURATION = shown_as({"type": "string", "pattern": DURATION_RE.pattern})
