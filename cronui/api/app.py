"""The HTTP API as a FastAPI application: every endpoint, its errors, the live event stream and hooks.

Objects are the CLI's `--json` ones (cronui.present, cronui.reports); writes go through the engine's
`Control`, with the CLI's rules and messages. Errors are one JSON shape everywhere:
`{"error": "the line the CLI would print", "problems": [{"field": ..., "problem": ...}]}` with 400 (bad
input), 401, 404, 409 (a duplicate name, a run already ended), 413, 422 (a request of the wrong shape)
or 429; nothing is changed by a request that fails.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations, which name
# objects local to create_app (the bearer schemes), and string annotations could not be resolved.

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cronui import bounds
from cronui.api.access import hook_token_matches, same_token
from cronui.cli.common import UsageError, json_text, parse_int
from cronui.config import ConfigError, Settings
from cronui.engine.clock import Clock, SystemClock
from cronui.engine.control import Control, NotFound, NotWaiting
from cronui.jobfile.entry import EntryReader
from cronui.jobfile.export import export_entry
from cronui.jobfile.view import show_value
from cronui.jobs import _DURATION_RE, JobError, parse_duration  # the pattern: what the document says a duration is
from cronui.model import EventKind, Job, Run, RunStatus, TargetKind
from cronui.present import event_json, job_json, run_json
from cronui.reports import job_report, stats_json, status_report
from cronui.schedule import ScheduleError
from cronui.secrets import MASK
from cronui.store import Store
from cronui.store.base import CapReached, DuplicateJobName, RunCap, RunFilter, StoreError, stats_from_rows
from cronui.store.events import EventCursor
from cronui.store.postgres import redacted
from cronui.timefmt import iso_utc

PREFIX = "/api/v1"
SOURCE = "api"  # a job added through the API says so (`source`), as the CLI's say "cli"
EVENT_POLL_S = 0.2  # how often an event stream reads the log when it had nothing new
SSE_PING_S = 15  # an idle event stream sends a comment this often (proxies keep it open; a gone client shows)
HOOK_MAX_BYTES = 64 * 1024  # a hook request's body: larger ones are refused (413)
HOOK_RATE = RunCap(10, 60_000)  # hook runs per job: at most 10 in any 60 seconds, cluster-wide (429 beyond)
OVERALL_DURATIONS = 10_000  # stats: the overall median and p95 come from the latest this many finished runs
MAX_BUCKETS = 10_000  # timeline: how many buckets one request may ask for
MAX_LIMIT = 100_000  # runs: how many one request may ask for
MAX_ID = 2**62  # the largest run or event id a request may name
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
_SENSITIVE_KEYS = ("env", "headers")  # target tables whose values may be literal credentials


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


def _error(status: int, message: str, problems: list[dict[str, str]] | None = None, **kw: Any) -> Json:
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    return Json(body, status_code=status, **kw)


def _problem(e: Exception) -> list[dict[str, str]]:
    if isinstance(e, JobError) and e.field is not None:
        return [{"field": e.field, "problem": e.problem}]
    return []


# ---------------------------------------------------------------- refusals, as the OpenAPI document says them


class Problem(BaseModel):
    field: str
    problem: str


class Refusal(BaseModel):
    """Every refused request's body: the line the CLI would print, and the problems field by field."""

    error: str
    problems: list[Problem] = []


_REFUSALS: dict[int, dict[str, Any]] = {
    400: {"description": "bad input: the CLI's message"},
    401: {
        "description": "a missing or wrong token",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    },
    404: {"description": "no such job or run"},
    409: {"description": "a duplicate name, or a run already ended"},
    413: {"description": "the request body is too large"},
    422: {"description": "a request of the wrong shape"},
    429: {
        "description": "the job's hook runs reached their limit",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds until one is allowed"}},
    },
}


def refused(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals an endpoint may answer with, for its OpenAPI operation, each with the one error shape; every
    endpoint may answer 400 (an unknown query parameter), 401 (it takes a token) and 422 (a request of the
    wrong shape: listed here, FastAPI would list its own shape, not the one the API answers with)."""
    return {code: {**_REFUSALS[code], "model": Refusal} for code in sorted({400, 401, 422, *codes})}


def _maybe(kind: str | dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [kind if isinstance(kind, dict) else {"type": kind}, {"type": "null"}]}


_TIME = {"type": "string", "format": "date-time"}
# A run as every endpoint shows it (`runs show --json`): the document says each field, so the property-based
# run checks every run a response carries against it.
RUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "job": _maybe("string"),
        "status": {"type": "string", "enum": [str(s) for s in RunStatus]},
        "trigger": {"type": "string"},
        "attempt": {"type": "integer", "minimum": 1},
        "scheduled_for": _maybe(_TIME),
        "queued_at": _maybe(_TIME),
        "started_at": _maybe(_TIME),
        "finished_at": _maybe(_TIME),
        "duration_ms": _maybe("integer"),
        "exit_code": _maybe("integer"),
        "signal": _maybe("integer"),
        "error": _maybe("string"),
        "reason": _maybe("string"),
        "missed_count": {"type": "integer"},
        "output": {"type": "string"},
        "stderr": {"type": "string"},
        "output_bytes": {"type": "integer"},
        "stderr_bytes": {"type": "integer"},
        "milestones": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "at": _maybe(_TIME)}},
        },
        "node": _maybe("string"),
        "retry_of": _maybe("integer"),
        "triggered_by": _maybe("integer"),
        "http_status": _maybe("integer"),
        "tokens": _maybe(
            {
                "type": "object",
                "properties": {k: _maybe("integer") for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
            }
        ),
        "cost_usd": _maybe("number"),
        "cost_source": _maybe("string"),
        "model": _maybe("string"),
        "models_failed": {"type": "array", "items": {"type": "object"}},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "delivery_status": _maybe("string"),
        "approval": {"type": ["object", "null"]},
    },
}
RUN_SCHEMA["required"] = list(RUN_SCHEMA["properties"])


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with every one of `properties` (more may come: a client ignores those it does not know)."""
    return {"type": "object", "required": list(properties), "properties": properties}


_NAMES = {"type": "array", "items": {"type": "string"}}
# A job as a list shows it (`jobs list --json`), in full (`jobs show --json`), and with its stats.
_JOB_HEAD = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "schedule": {"type": "string"},
    "timezone": {"type": "string"},
    "kind": {"type": "string", "enum": [str(k) for k in TargetKind]},
    "enabled": {"type": "boolean"},
    "next_run_at": _maybe(_TIME),
    "last_status": _maybe({"type": "string", "enum": [str(s) for s in RunStatus]}),
}
JOB_HEAD_SCHEMA = _object(_JOB_HEAD)
JOB_SCHEMA = _object(
    {
        **_JOB_HEAD,
        "description": {"type": "string"},
        "auto_disabled": _maybe("string"),
        "target": {"type": "object"},
        "overlap": {"type": "string"},
        "queue_limit": {"type": "integer"},
        "misfire": {"type": "string"},
        "misfire_grace_s": {"type": "number"},
        "pool": _maybe("string"),
        "node_label": _maybe("string"),
        "retries": {"type": "integer", "minimum": 0},
        "retry_delay_s": {"type": "number"},
        "timeout_s": {"type": "number"},
        "on_success": _NAMES,
        "on_failure": _NAMES,
        "tags": _NAMES,
        "source": {"type": "string"},
        "consecutive_failures": {"type": "integer"},
        "created_at": _maybe(_TIME),
        "updated_at": _maybe(_TIME),
    }
)
STATS_SCHEMA = _object(
    {
        "runs": {"type": "integer"},
        "success_rate": _maybe("number"),
        "median_ms": _maybe("number"),
        "p95_ms": _maybe("number"),
        "total_tokens": {"type": "integer"},
        "cost_usd": _maybe("number"),
    }
)
JOB_REPORT_SCHEMA = {
    **JOB_SCHEMA,
    "required": [*JOB_SCHEMA["required"], "stats"],
    "properties": {
        **JOB_SCHEMA["properties"],
        "stats": _object({window: STATS_SCHEMA for window in ("all", "last_7d", "last_30d")}),
    },
}
STATS_REPORT_SCHEMA = _object(
    {
        "since": _maybe(_TIME),
        "overall": STATS_SCHEMA,
        "jobs": {"type": "object", "additionalProperties": STATS_SCHEMA},
    }
)
TIMELINE_SCHEMA = _object(
    {
        "job": _maybe("string"),
        "since": _TIME,
        "bucket_s": {"type": "number"},
        "buckets": {
            "type": "array",
            "items": _object(
                {
                    "at": _TIME,
                    "runs": {
                        "type": "object",
                        "propertyNames": {"enum": [str(s) for s in RunStatus]},
                        "additionalProperties": {"type": "integer", "minimum": 1},
                    },
                }
            ),
        },
    }
)
LOGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "job", "status", "stdout", "stderr"],
    "properties": {
        "id": {"type": "integer"},
        "job": _maybe("string"),
        "status": {"type": "string", "enum": [str(s) for s in RunStatus]},
        "stdout": {"type": "string"},
        "stderr": {"type": "string"},
    },
}


def answers(status: int, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """An endpoint's success response, described field by field."""
    return {status: {"content": {"application/json": {"schema": schema}}}}


# ---------------------------------------------------------------- masking


def masked_job(data: dict[str, Any]) -> dict[str, Any]:
    """A job's JSON with literal credentials masked, as the job-file diff masks them: env and header
    values whose names look secret (`Authorization`, `API_TOKEN`). `${env:NAME}` references stay."""
    data = _masked_delivery(data)
    target = data.get("target")
    if not isinstance(target, dict):
        return data
    kind = data.get("kind")
    out = dict(target)
    for table in _SENSITIVE_KEYS:
        values = target.get(table)
        if isinstance(values, dict):
            prefix = "env" if table == "env" else f"{kind}.headers"
            out[table] = {k: _masked_value(f"{prefix}.{k}", v) for k, v in values.items()}
    return {**data, "target": out}


def _masked_delivery(data: dict[str, Any]) -> dict[str, Any]:
    """Webhook URLs are themselves the secret: their path is masked (`${env:NAME}` references stay)."""
    delivery = data.get("delivery")
    if not isinstance(delivery, dict):
        return data
    out = dict(delivery)
    for name, key in (("to", "deliver_to"), ("alert_to", "alert_to")):
        value = delivery.get(name)
        if isinstance(value, str):
            out[name] = json.loads(show_value(key, value))
    return {**data, "delivery": out}


def _masked_value(key: str, value: Any) -> Any:
    return MASK if isinstance(value, str) and show_value(key, value) == MASK else value


# ---------------------------------------------------------------- the application


def create_app(state: ApiState) -> FastAPI:
    app = FastAPI(
        title="cronui",
        version="1",
        description="Jobs, runs, stats and the live event stream of a cronui scheduler.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        default_response_class=Json,
    )
    bearer = HTTPBearer(auto_error=False, description="the API token: `[api] token` or CRONUI_API_TOKEN")
    known_query: dict[int, set[str]] = {}  # per route: the query parameters it reads

    async def only_known_query(request: Request) -> None:
        """An unknown query parameter is refused, as the CLI refuses an unknown option: a misspelt
        `?sinec=1h` would otherwise be ignored, and the answer silently not the one asked for."""
        route = request.scope.get("route")
        if not isinstance(route, APIRoute):
            return
        known = known_query.get(id(route))
        if known is None:
            known = known_query[id(route)] = _query_names(route.dependant)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            expected = ", ".join(sorted(known)) or "none"
            raise ApiError(
                400,
                f"unknown query parameter {unknown[0]!r} (expected: {expected})",
                [{"field": name, "problem": "unknown query parameter"} for name in unknown],
            )

    async def authorized(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if state.token is None:
            return
        if creds is None or not same_token(creds.credentials, state.token):
            raise ApiError(401, "missing or wrong API token (Authorization: Bearer TOKEN)", headers=_CHALLENGE)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, e: ApiError) -> Response:
        return _error(e.status, str(e), e.problems, headers=e.headers)

    @app.exception_handler(NotFound)
    async def on_not_found(request: Request, e: NotFound) -> Response:
        return _error(404, str(e))

    @app.exception_handler(NotWaiting)
    async def on_not_waiting(request: Request, e: NotWaiting) -> Response:
        return _error(409, str(e))

    @app.exception_handler(DuplicateJobName)
    async def on_duplicate(request: Request, e: DuplicateJobName) -> Response:
        return _error(409, str(e))

    for bad_input in (UsageError, ConfigError, ScheduleError, JobError, StoreError):

        @app.exception_handler(bad_input)
        async def on_bad_input(request: Request, e: Exception) -> Response:
            return _error(400, str(e).splitlines()[0] if str(e) else type(e).__name__, _problem(e))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, e: RequestValidationError) -> Response:
        problems = [_shape_problem(err) for err in e.errors()]
        first = problems[0] if problems else {"field": "request", "problem": "invalid request"}
        return _error(422, f"{first['field']}: {first['problem']}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, e: StarletteHTTPException) -> Response:
        headers = getattr(e, "headers", None)
        if e.status_code == 405:  # the router names one route's methods; the path has a route per method
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(app, request))}
        return _error(e.status_code, str(e.detail), headers=headers)

    api = [Depends(authorized), Depends(only_known_query)]  # in this order: nothing is told without the token
    store, control = state.store, state.control

    # ------------------------------------------------------------ status and jobs

    @app.get(
        f"{PREFIX}/status",
        dependencies=api,
        responses=refused(),
        summary="who schedules, what runs, what is next (`status --json`)",
    )
    async def get_status() -> dict[str, Any]:
        data = await status_report(state.settings, store, control)
        data["db"] = redacted(data["db"]) if "://" in data["db"] else data["db"]  # no database password
        return data

    @app.get(
        f"{PREFIX}/jobs",
        dependencies=api,
        responses={**refused(), **answers(200, {"type": "array", "items": JOB_HEAD_SCHEMA})},
        response_model=list[dict[str, Any]],
        summary="every job (`jobs list --json`)",
    )
    async def list_jobs() -> Response:
        # the list's columns only, rendered straight to JSON: no target or delivery decoded, and the
        # 10,000 objects not walked again to validate them against the schema they were built for
        return Json([job_json(j) for j in await store.list_job_heads()])

    @app.post(
        f"{PREFIX}/jobs",
        dependencies=api,
        responses={**refused(400, 409, 422), **answers(201, JOB_SCHEMA)},
        status_code=201,
        summary="add a job, given as in a job file",
    )
    async def add_job(
        entry: Annotated[dict[str, Any], Body(description="one [[job]] table of a job file")],
    ) -> dict[str, Any]:
        name = entry.get("name")
        if isinstance(name, str) and await store.get_job_by_name(name) is not None:
            raise ApiError(409, f"name: a job named {name!r} already exists", [{"field": "name", "problem": "exists"}])
        job = _read_entry(entry, state)
        return masked_job(job_json(await control.add_job(job), full=True))

    @app.get(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_REPORT_SCHEMA)},
        summary="one job with its stats (`jobs show --json`)",
    )
    async def get_job(name: str) -> dict[str, Any]:
        job = await control.job(name)
        return masked_job(await job_report(store, job, state.clock.now_ms()))

    @app.patch(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(400, 404, 409, 422), **answers(200, JOB_SCHEMA)},
        summary="change a job: the job-file keys given replace its own",
    )
    async def edit_job(
        name: str, changes: Annotated[dict[str, Any], Body(description="job-file keys and their new values")]
    ) -> dict[str, Any]:
        old = await control.job(name)
        new_name = changes.get("name", old.name)
        if new_name != old.name and isinstance(new_name, str) and await store.get_job_by_name(new_name) is not None:
            raise ApiError(
                409, f"name: a job named {new_name!r} already exists", [{"field": "name", "problem": "exists"}]
            )
        entry = _merged(export_entry(old)[0], changes)
        job = _read_entry(entry, state, source=old.source)
        job.id, job.created_at = old.id, old.created_at
        job.auto_disabled, job.consecutive_failures = old.auto_disabled, old.consecutive_failures
        job.last_status = old.last_status
        return masked_job(job_json(await control.update_job(job), full=True))

    @app.delete(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, JOB_HEAD_SCHEMA)},
        summary="remove a job (its runs are kept)",
    )
    async def remove_job(name: str) -> dict[str, Any]:
        return job_json(await control.remove_job(name))

    @app.post(
        f"{PREFIX}/jobs/{{name}}/run",
        dependencies=api,
        responses={**refused(404), **answers(202, RUN_SCHEMA)},
        status_code=202,
        summary="run a job now",
    )
    async def run_job(name: str) -> dict[str, Any]:
        return run_json(await control.trigger(name))

    @app.post(
        f"{PREFIX}/jobs/{{name}}/enable",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="enable a job",
    )
    async def enable_job(name: str) -> dict[str, Any]:
        return masked_job(job_json(await control.set_enabled(name, True), full=True))

    @app.post(
        f"{PREFIX}/jobs/{{name}}/disable",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="disable a job",
    )
    async def disable_job(name: str) -> dict[str, Any]:
        return masked_job(job_json(await control.set_enabled(name, False), full=True))

    # ------------------------------------------------------------ runs

    @app.get(
        f"{PREFIX}/runs",
        dependencies=api,
        responses={**refused(400, 404, 422), **answers(200, {"type": "array", "items": RUN_SCHEMA})},
        summary="runs, newest first (`runs list --json`)",
    )
    async def list_runs(
        job: str | None = None,
        status: Annotated[list[str] | None, Query(description="repeatable", json_schema_extra=AS_STATUSES)] = None,
        since: Annotated[
            str | None, Query(description="queued within this long, e.g. 24h", json_schema_extra=AS_DURATION)
        ] = None,
        limit: Annotated[
            str | None, Query(description="at most this many (default 50)", json_schema_extra=_whole(1, MAX_LIMIT))
        ] = None,
        before: Annotated[
            str | None, Query(description="only runs with a smaller id (paging)", json_schema_extra=_whole(1, MAX_ID))
        ] = None,
    ) -> list[dict[str, Any]]:
        flt = RunFilter(limit=50 if limit is None else parse_int(limit, "limit", 1, MAX_LIMIT))
        if status:
            known = [str(s) for s in RunStatus]
            bad = next((s for s in status if s not in known), None)
            if bad is not None:  # the status given, not the list of them (`['bogus']`)
                raise UsageError(f"status: expected one of {' '.join(known)}, got {bad!r}")
            flt.statuses = [RunStatus(s) for s in status]
        if since is not None:
            flt.since = _since(since, state)
        if before is not None:
            flt.before_id = _run_id(before, "before")
        if job is not None:
            flt.job_id = (await control.job(job)).id
        return [run_json(r) for r in await store.list_runs(flt)]

    @app.get(
        f"{PREFIX}/runs/{{run_id}}",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, RUN_SCHEMA)},
        summary="one run (`runs show --json`)",
    )
    async def get_run(run_id: RunId) -> dict[str, Any]:
        return run_json(await _get_run(store, run_id))

    @app.post(
        f"{PREFIX}/runs/{{run_id}}/cancel",
        dependencies=api,
        responses={**refused(400, 404, 409), **answers(200, RUN_SCHEMA)},
        summary="cancel a pending or running run",
    )
    async def cancel_run(run_id: RunId) -> dict[str, Any]:
        found = await _get_run(store, run_id)
        assert found.id is not None
        if found.status.is_final:
            raise ApiError(409, f"run #{found.id} already ended: {found.status}")
        return run_json(await control.cancel(found.id))

    @app.post(
        f"{PREFIX}/runs/{{run_id}}/approve",
        dependencies=api,
        responses={**refused(400, 404, 409), **answers(200, RUN_SCHEMA)},
        summary="approve a run waiting for approval: it runs (409 when it is not waiting)",
    )
    async def approve_run(request: Request, run_id: RunId) -> dict[str, Any]:
        found = await _get_run(store, run_id)
        assert found.id is not None
        return run_json(await control.approve(found.id, _decider(request)))

    @app.post(
        f"{PREFIX}/runs/{{run_id}}/reject",
        dependencies=api,
        responses={**refused(400, 404, 409), **answers(200, RUN_SCHEMA)},
        summary="reject a run waiting for approval: it is skipped (409 when it is not waiting)",
    )
    async def reject_run(
        request: Request,
        run_id: RunId,
        body: Annotated[dict[str, Any] | None, Body(description='{"reason": "why"} (optional)')] = None,
    ) -> dict[str, Any]:
        reason = (body or {}).get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ApiError(400, "reason: expected a string", [{"field": "reason", "problem": "expected a string"}])
        found = await _get_run(store, run_id)
        assert found.id is not None
        return run_json(await control.reject(found.id, _decider(request), reason))

    @app.get(
        f"{PREFIX}/runs/{{run_id}}/logs",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, LOGS_SCHEMA)},
        summary="a run's output so far",
    )
    async def run_logs(run_id: RunId) -> dict[str, Any]:
        run = await _get_run(store, run_id)
        assert run.id is not None
        stdout, stderr = run.output, run.stderr
        if not run.status.is_final:  # while it runs, its output lives in the event log
            stdout = stderr = ""
            for ev in await store.run_events(run.id):
                if ev.kind is EventKind.OUTPUT:
                    text = str(ev.data.get("text", ""))
                    if ev.name == "stderr":
                        stderr += text
                    else:
                        stdout += text
        return {"id": run.id, "job": run.job_name, "status": str(run.status), "stdout": stdout, "stderr": stderr}

    # ------------------------------------------------------------ stats and timeline

    @app.get(
        f"{PREFIX}/stats",
        dependencies=api,
        responses={**refused(400, 422), **answers(200, STATS_REPORT_SCHEMA)},
        summary="finished runs per job and overall",
    )
    async def get_stats(
        since: Annotated[
            str | None,
            Query(description="within this long, e.g. 7d (default: all time)", json_schema_extra=AS_DURATION),
        ] = None,
    ) -> dict[str, Any]:
        start = None if since is None else _since(since, state)
        per_job: dict[str, Any] = {}
        runs = succeeded = failed = tokens = 0
        cost: float | None = None
        for job in await store.list_jobs():
            assert job.id is not None
            st = await store.job_stats(job.id, start)
            per_job[job.name] = stats_json(st)
            runs, succeeded, failed, tokens = (
                runs + st.runs,
                succeeded + st.succeeded,
                failed + st.failed,
                tokens + st.total_tokens,
            )
            if st.cost_usd is not None:
                cost = (cost or 0.0) + st.cost_usd
        latest = await store.list_runs(RunFilter(statuses=FINISHED, since=start, limit=OVERALL_DURATIONS))
        durations = stats_from_rows(
            [
                {"status": str(r.status), "duration_ms": r.duration_ms, "total_tokens": 0, "cost_usd": None}
                for r in latest
            ]
        )
        overall = {
            "runs": runs,
            "success_rate": None if succeeded + failed == 0 else succeeded / (succeeded + failed),
            "median_ms": durations.median_ms,
            "p95_ms": durations.p95_ms,
            "total_tokens": tokens,
            "cost_usd": cost,
        }
        return {"since": iso_utc(start), "overall": overall, "jobs": per_job}

    @app.get(
        f"{PREFIX}/timeline",
        dependencies=api,
        responses={**refused(400, 404, 422), **answers(200, TIMELINE_SCHEMA)},
        summary="runs per time bucket and status",
    )
    async def get_timeline(
        job: str | None = None,
        since: Annotated[str, Query(description="how far back, e.g. 24h", json_schema_extra=AS_DURATION)] = "24h",
        bucket: Annotated[str, Query(description="the bucket's length, e.g. 1h", json_schema_extra=AS_DURATION)] = "1h",
    ) -> dict[str, Any]:
        start = _since(since, state)
        bucket_s = parse_duration(bucket, "bucket", bounds.POSITIVE_DURATION)
        bucket_ms = max(1000, int(bucket_s * 1000))
        if (state.clock.now_ms() - start) / bucket_ms > MAX_BUCKETS:
            raise UsageError(f"bucket: {bucket} is too short for since={since} (at most {MAX_BUCKETS:,} buckets)")
        job_id = None if job is None else (await control.job(job)).id
        buckets: dict[int, dict[str, int]] = {}
        for at, status, count in await store.timeline(job_id, start, bucket_ms):
            buckets.setdefault(at, {})[str(status)] = count
        return {
            "job": job,
            "since": iso_utc(start),
            "bucket_s": bucket_ms / 1000,
            "buckets": [{"at": iso_utc(at), "runs": counts} for at, counts in sorted(buckets.items())],
        }

    # ------------------------------------------------------------ the live event stream

    async def stream_start(
        job: str | None = None,
        last_event_id: Annotated[
            str | None, Header(description="resume after this event", json_schema_extra=_whole(0, MAX_ID))
        ] = None,
    ) -> tuple[int | None, int | None]:
        """Checked before the stream opens, so a bad request gets its status: (job id, event id to resume after)."""
        job_id = None if job is None else (await control.job(job)).id
        after = None if last_event_id is None else parse_int(last_event_id, "Last-Event-ID", 0, MAX_ID)
        return job_id, after

    @app.get(
        f"{PREFIX}/events",
        dependencies=api,
        responses={
            **refused(400, 404, 422),
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "the stream"},
        },
        response_class=EventSourceResponse,
        summary="Server-Sent Events: the live event stream (`runs tail --json`), resumable with Last-Event-ID",
    )
    async def events(start: Annotated[tuple[int | None, int | None], Depends(stream_start)]) -> EventSourceResponse:
        job_id, after = start
        cursor = EventCursor(store, after or 0)
        if after is None:
            await cursor.prime()

        async def stream() -> AsyncIterator[bytes]:
            while True:
                batch = await cursor.read()
                # a batch's events go out as one write: the same bytes as one write each, without the
                # server's per-send work (most of a busy stream's time) for every event
                chunk = b"".join(
                    ServerSentEvent(json_text(event_json(ev), indent=None), id=str(ev.id)).encode()
                    for ev in batch
                    if job_id is None or ev.job_id == job_id
                )
                if chunk:
                    yield chunk
                if not batch:
                    await asyncio.sleep(state.event_poll_s)

        return EventSourceResponse(stream(), ping=SSE_PING_S)

    # ------------------------------------------------------------ hooks

    hook_bearer = HTTPBearer(auto_error=False, description="the job's trigger token (`cronui jobs token NAME`)")

    @app.post(
        "/hooks/{name}",
        status_code=202,
        dependencies=[Depends(only_known_query)],
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
                401, "missing or wrong trigger token (`cronui jobs token NAME` prints one)", headers=_CHALLENGE
            )
        payload = await _read_capped(request, state.hook_max_bytes)
        request_note = {"method": "POST", "url": f"/hooks/{job.name}", "payload": payload}
        try:
            # counted from the runs table as the run is inserted: every server on the database shares it
            run = await control.trigger(job.name, request=request_note, cap=state.hook_limit)
        except CapReached as e:
            wait_s = max(1, math.ceil(e.wait_ms / 1000))
            raise ApiError(
                429,
                f"job {job.name!r}: at most {e.cap.count} hook runs in {e.cap.window_ms / 1000:g}s; "
                f"try again in {wait_s}s",
                headers={"Retry-After": str(wait_s)},
            ) from None
        return run_json(run)

    return app


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


# ---------------------------------------------------------------- helpers


def _allowed(app: FastAPI, request: Request) -> list[str]:
    """Every method the request's path answers to (for a 405's Allow header)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters an endpoint reads, its dependencies' too."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


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


def _read_entry(entry: Mapping[str, Any], state: ApiState, source: str = SOURCE) -> Job:
    """A job-file table read into a Job with the job file's rules; every problem named (400)."""
    reader = EntryReader(entry, state.settings, state.clock.now_ms(), None)
    job = reader.read(source)
    if job is None:
        problems = [{"field": key, "problem": problem} for key, problem in reader.problems]
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApiError(400, f"{first['field']}: {first['problem']}{more}", problems)
    return job


def _merged(entry: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A job's table with `changes` over it: a table given (http, agent, env, headers) replaces its keys one
    by one; a null value removes a key, and a masked value (as a response showed it) keeps the one stored."""
    out = dict(entry)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            table = dict(out[key])
            for sub, subval in value.items():
                if subval is None:
                    table.pop(sub, None)
                elif isinstance(subval, dict) and isinstance(table.get(sub), dict):  # http.headers, agent.headers
                    inner = {**table[sub], **{k: _unmasked(v, table[sub].get(k)) for k, v in subval.items()}}
                    table[sub] = {k: v for k, v in inner.items() if v is not None}
                else:
                    table[sub] = _unmasked(subval, table.get(sub))
            out[key] = table
        elif key in ("deliver_to", "alert_to") and isinstance(out.get(key), str):
            out[key] = out[key] if value == json.loads(show_value(key, out[key])) else value
        else:
            out[key] = value
    return out


def _unmasked(value: Any, stored: Any) -> Any:
    """A value sent back as a response masked it: the stored one."""
    return stored if value == MASK and stored is not None else value


def _decider(request: Request) -> str:
    """Who approved or rejected through the API, as recorded with the decision: the caller's address."""
    return f"api@{request.client.host}" if request.client else "api"


def _since(text: str, state: ApiState) -> int:
    seconds = parse_duration(text, "since", bounds.LOOKBACK)
    return state.clock.now_ms() - int(seconds * 1000)


def _run_id(text: str, name: str = "run id") -> int:
    return parse_int(text.lstrip("#"), name, 1, MAX_ID)


def _shown_as(schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A parameter's OpenAPI schema replaced by `schema`: the parameter is read as text, as the CLI reads it
    (with the CLI's message when it is wrong, a 400), and the document says what that text may be."""

    def replace(generated: dict[str, Any]) -> None:
        kept: dict[str, Any] = {k: generated[k] for k in ("title", "description") if k in generated}
        generated.clear()
        generated.update({**kept, **schema})

    return replace


def _whole(lo: int, hi: int) -> Callable[[dict[str, Any]], None]:
    """A whole number from lo to hi."""
    return _shown_as({"type": "integer", "minimum": lo, "maximum": hi})


# a run's id in a path: read as the CLI reads one (`#42` too), shown as a number
RunId = Annotated[str, Path(json_schema_extra=_whole(1, MAX_ID))]
# a duration (`since`, `bucket`): a number of seconds, or with a unit (30s, 10m, 2h, 7d)
AS_STATUSES = _shown_as({"type": "array", "items": {"type": "string", "enum": [str(s) for s in RunStatus]}})
AS_DURATION = _shown_as({"type": "string", "pattern": _DURATION_RE.pattern})


async def _get_run(store: Store, text: str) -> Run:
    run_id = _run_id(text)
    run = await store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run #{run_id}")
    return run


async def _read_capped(request: Request, cap: int) -> str:
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
