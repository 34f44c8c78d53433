"""What the OpenAPI document says: each refusal in the one error shape, and the objects endpoints answer with,
field by field (the property-based test checks every response against them)."""

from typing import Any

from pydantic import BaseModel

from cronui.model import FailureKind, RunStatus, TargetKind
from cronui.model.alerts import HEALTHS

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
    403: {"description": "a Host or Origin this server does not answer to (a DNS-rebinding or cross-site request)"},
    409: {"description": "a duplicate name, or a run already ended"},
    413: {"description": "the request body is too large"},
    422: {"description": "a request of the wrong shape"},
    429: {
        "description": "the job's hook runs reached their limit",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds until one is allowed"}},
    },
    503: {
        "description": "as many event streams are open as the server allows",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    },
}


def refused(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals an endpoint may answer with, for its OpenAPI operation, each with the one error shape; every
    endpoint may answer 400 (an unknown query parameter), 401 (it takes a token), 403 (a Host or Origin not
    allowed), 413 (a body over the cap) and 422 (a request of the wrong shape: listed here, FastAPI would list
    its own shape, not the one the API answers with)."""
    return {code: {**_REFUSALS[code], "model": Refusal} for code in sorted({400, 401, 403, 413, 422, *codes})}


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
        "failure_kind": _maybe({"type": "string", "enum": [str(k) for k in FailureKind]}),
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
        "requested_by": _maybe("string"),
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
RUN_SCHEMA["properties"]["params"] = {"type": ["object", "null"]}  # the values of its job's params it ran with
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
    "owner": {"type": "string"},
}
JOB_HEAD_SCHEMA = _object(_JOB_HEAD)
_HEALTH = {"type": "string", "enum": list(HEALTHS)}
JOB_LISTED_SCHEMA = _object({**_JOB_HEAD, "health": _HEALTH})  # `jobs list --json`: with each job's health
# the expectations and routing in force (the job's own, `[alerts]`'s or a check's grace) and where they come from
ALERTS_SCHEMA = _object(
    {
        **{f"{k}_s": _maybe("number") for k in ("late", "overrun", "short", "no_success")},
        "rate": _maybe("string"),
        "on": _NAMES,
        "to": _NAMES,
        "inherited": _NAMES,
        "from_grace": _NAMES,  # a check's late span is its grace unless it sets --alert-late
    }
)
JOB_SCHEMA = _object(
    {
        **_JOB_HEAD,
        "params": {"type": "object"},  # the run-time parameters it declares: {"env": {"default": "staging"}}
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
    "required": [*JOB_SCHEMA["required"], "stats", "health", "alerts"],
    "properties": {
        **JOB_SCHEMA["properties"],
        "stats": _object({window: STATS_SCHEMA for window in ("all", "last_7d", "last_30d")}),
        "health": _HEALTH,
        "alerts": ALERTS_SCHEMA,
    },
}
STATS_REPORT_SCHEMA = _object(
    {
        "since": _maybe(_TIME),
        "overall": {
            **STATS_SCHEMA,
            "description": "all jobs; median_ms and p95_ms over the latest 10,000 finished runs in the window",
        },
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

_SEND = _object(
    {
        "id": {"type": "integer"},
        "notice": {"type": "string"},
        "channel": {"type": "string", "description": "masked: references as written, literal secrets hidden"},
        "format": _maybe("string"),
        "outcome": {"type": "string", "enum": ["pending", "sent", "failed"]},
        "attempts": {"type": "integer", "minimum": 0},
        "answer": _maybe("string"),
        "queued_at": _maybe(_TIME),
        "sent_at": _maybe(_TIME),
        "next_at": _maybe(_TIME),
    }
)
ALERT_SCHEMA = _object(
    {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "subject": {"type": "string"},
        "job": _maybe("string"),
        "episode": {"type": "string"},
        "text": {"type": "string"},
        "opened_at": _maybe(_TIME),
        "closed_at": _maybe(_TIME),
        "recovers": {"type": "boolean", "description": "false: a notice of a moment, which never recovers"},
        "sends": {"type": "array", "items": _SEND},
    }
)

# one row of the audit log (`cronui audit --json`): who changed which job, when, and what ({key: [old, new]})
AUDIT_SCHEMA = _object(
    {
        "id": {"type": "integer"},
        "at": _maybe(_TIME),
        "who": {"type": "string"},
        "job": {"type": "string"},
        "job_id": _maybe("integer"),
        "action": {"type": "string"},
        "changes": {"type": "object"},
    }
)


def answers(status: int, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """An endpoint's success response, described field by field."""
    return {status: {"content": {"application/json": {"schema": schema}}}}
