"""Who did what to a job: the audit log's rows, described here and written by the engine in the transaction of
the change (`auditor`), and read back newest first (`audit_log`, `audit_json`).

A change is told in job-file terms (`jobfile.view`: `schedule`, `env.API_TOKEN`, `http.headers.Authorization`,
`deliver_to`), each changed key as `[old, new]`, the values shown as a job file's diff and `--json` show them
(`jobfile.view.json_value`): literal secrets masked, `${env:NAME}` references kept. Keys are compared before
masking, so a secret that changed is listed as changed even though both sides read `••••••••`. A creation lists
what the new job sets beyond the built-in defaults; a removal lists nothing.

The run events `job_created` / `job_updated` / `job_removed` are the live feed (kept `[retention]
event_hours`, six by default, for the panes and `runs tail`); this log is the record, kept `audit_days`."""

from __future__ import annotations

import json
from typing import Any

from cronui.application.caller import Scope, require
from cronui.application.context import Cronui
from cronui.application.values import parse_count
from cronui.jobfile.schema import EXPORT_DEFAULTS
from cronui.jobfile.view import json_value, view
from cronui.model import Job
from cronui.model.audit import CREATED, AuditEntry, Auditor
from cronui.timefmt import iso_utc

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_UNSET = object()


def changes(old: Job | None, new: Job | None) -> dict[str, list[Any]]:
    """{job-file key: [old, new]} of what differs between two versions of a job (None: it did not exist),
    masked; a creation's keys that hold a built-in default are left out."""
    if new is None:  # a removal: who and when say it all
        return {}
    before = view(old) if old is not None else {}
    after = view(new)
    out: dict[str, list[Any]] = {}
    for key in [*after, *(k for k in before if k not in after)]:
        a, b = before.get(key, _UNSET), after.get(key, _UNSET)
        if a == b and type(a) is type(b):
            continue
        if a is _UNSET and b == EXPORT_DEFAULTS.get(key, _UNSET):
            continue
        out[key] = [None if a is _UNSET else json_value(key, a), None if b is _UNSET else json_value(key, b)]
    return out


def auditor(app: Cronui) -> Auditor:
    """How this caller's changes are written to the audit log: by its owner string, at the change's time."""
    who = app.caller.owner

    def describe(action: str, old: Job | None, new: Job | None, at: int) -> AuditEntry:
        job = new if new is not None else old
        assert job is not None
        return AuditEntry(at, who, action, job.name, job.id, changes(old, new))

    return describe


def creator(app: Cronui, job: Job) -> Job:
    """`job` as this caller creates it: owned by the caller (an owner given by the job or a job file is
    not taken)."""
    job.owner = app.caller.owner
    return job


async def record(app: Cronui, action: str, job: Job, details: dict[str, list[Any]] | None = None) -> None:
    """An audit row about a job that is not a change of its own row (a hook token made anew)."""
    await app.store.record_audit([AuditEntry(app.now_ms(), app.caller.owner, action, job.name, job.id, details or {})])


def read_limit(limit: int | str | None) -> int:
    """`--limit` / `?limit=`: a whole number from 1 to MAX_LIMIT (DEFAULT_LIMIT when not given), in the words
    every count is refused with."""
    return DEFAULT_LIMIT if limit is None else parse_count(str(limit), "limit", MAX_LIMIT)


async def audit_log(app: Cronui, job: str | None = None, limit: int | str | None = None) -> list[AuditEntry]:
    """The latest audit rows, newest first: of the job named `job` (by the name it had at each change; a
    removed job's history stays readable), or of every job."""
    require(app.caller, Scope.READ)
    return await app.store.list_audit(job, read_limit(limit))


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    """One audit row as `cronui audit --json` and `GET /api/v1/audit` show it."""
    return {
        "id": entry.id,
        "at": iso_utc(entry.at),
        "who": entry.who,
        "job": entry.job_name,
        "job_id": entry.job_id,
        "action": entry.action,
        "changes": entry.changes,
    }


def change_text(entry: AuditEntry, width: int = 100) -> str:
    """What changed, in one line for a table (`schedule: "0 9 * * *" -> "0 10 * * *"; ...`)."""
    if entry.action == CREATED:
        parts = [f"{k}={_shown(v[1])}" for k, v in entry.changes.items()]
    else:
        parts = [f"{k}: {_shown(v[0])} -> {_shown(v[1])}" for k, v in entry.changes.items()]
    text = "; ".join(parts)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _shown(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, ensure_ascii=False)
