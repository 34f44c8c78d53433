"""What every resource's endpoints share: the server's state, the one error shape, the token and query
checks every `/api/v1` endpoint depends on, and parameters read as the CLI reads them."""

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

from cronui.application.access import same_token
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
        """The use cases' common ground over this state: every router hands it to `cronui.application`."""
        return Cronui(self.settings, self.store, self.control, self.clock)


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


@dataclass
class Checks:
    """The dependencies endpoints declare: `api` for every /api/v1 endpoint (the token, then the query's
    names: nothing is told without the token), `known_query` alone for hooks (they take their own token)."""

    api: list[DependsParam]
    known_query: DependsParam


def dependencies(state: ApiState) -> Checks:
    bearer = HTTPBearer(auto_error=False, description="the API token: `[api] token` or CRONUI_API_TOKEN")
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

    async def authorized(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        # checked before the request is read too (cronui.api.guard); here, the document learns of the scheme
        if state.token is None:
            return
        if creds is None or not same_token(creds.credentials, state.token):
            raise ApiError(401, "missing or wrong API token (Authorization: Bearer TOKEN)", headers=CHALLENGE)

    return Checks([Depends(authorized), Depends(only_known_query)], Depends(only_known_query))


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
