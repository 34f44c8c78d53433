"""How model objects become rows and back, for every SQL backend: the tables' columns, each column's codec
(a model value <-> its SQL value: JSON text, 0/1 flags, enum values), and the decoders for jobs, job heads,
runs, events and the scheduler lease. Times are UTC epoch ms in integer columns on both backends.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from cronui.model import (
    EventKind,
    FailureKind,
    Job,
    Lease,
    Milestone,
    MisfirePolicy,
    OverlapPolicy,
    Run,
    RunEvent,
    RunStatus,
    TargetKind,
    Trigger,
)
from cronui.model.params import decls_to_dict
from cronui.model.records import JobHead, Node
from cronui.targets import AgentTarget, to_dict

JOB_COLUMNS = (
    "id name description schedule timezone kind target enabled auto_disabled overlap queue_limit misfire "
    "misfire_grace_s pool max_retries retry_delay_s timeout_s delivery on_success on_failure tags source "
    "created_at updated_at deleted_at next_run_at last_status consecutive_failures node_label"
).split()
JOB_COLUMNS.append("chain_options")  # the options of chain edges (`--when`): see model.ChainEdge
JOB_COLUMNS += "approval approval_timeout_s approval_default approval_max_waiting".split()
# what the job is expected to do, watched by the alerts' evaluation (store/alerts.py)
JOB_COLUMNS += "alert_late_s alert_overrun_s alert_short_s alert_no_success_s alert_rate_pct alert_rate_n".split()
JOB_COLUMNS.append("alert_on")  # the kinds its alerts are sent for (NULL: `[alerts] on`)
JOB_COLUMNS += ["is_check", "grace_s"]  # checks: watched, never run (see Job.is_check)
JOB_COLUMNS.append("delete_after_run")  # removed once a run of it ends for good (a follow-up)
JOB_COLUMNS.append("owner")  # who created it: written once, never by an update (sql_writes.save_jobs)
JOB_COLUMNS += ["retry_on_exit", "no_retry_on_exit", "retry_on_status"]  # retry rules (cronui.retry_rules)
JOB_COLUMNS += ["skip_calendar", "only_calendar"]  # calendar names (JSON lists): see Job.skip_calendar
JOB_COLUMNS.append("paused_until")  # a timed pause: written by pause/resume only, never by an update
JOB_COLUMNS += ["starts_at", "ends_at"]  # the window its schedule fires in (NULL: no bound)
JOB_COLUMNS.append("params")  # the run-time parameters it declares, JSON (model.params)

RUN_COLUMNS = (
    "id job_id trigger scheduled_for attempt retry_of triggered_by status reason missed_count queued_at "
    "not_before started_at finished_at duration_ms node lease_expires_at cancel_requested exit_code signal "
    "http_status output stderr output_bytes stderr_bytes error summary request prompt_tokens "
    "completion_tokens total_tokens cost_usd tool_calls milestones delivery_status delivery_reason fence"
).split()
RUN_COLUMNS += "approval_deadline approval_default approval_notice".split()
RUN_COLUMNS.append("failure_kind")  # infra | job on a failed run (model.FailureKind)
RUN_COLUMNS.append("requested_by")  # who asked for it (run now): the caller's owner string
RUN_COLUMNS.append("params")  # the values of its job's params it ran with, JSON (NULL: none recorded)

EVENT_COLUMNS = "id run_id job_id at kind name data".split()

LEASE_COLUMNS = "holder host pid address acquired_at expires_at".split()

# A run row with its job's name, as every run query returns it.
RUN_SELECT = "SELECT r.*, j.name AS job_name FROM runs r JOIN jobs j ON j.id = r.job_id"

# How a column's model value becomes its SQL value and back, for columns where the two differ.
Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _same(value: Any) -> Any:
    return value


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def _member(cls: type[enum.Enum]) -> Callable[[Any], Any]:
    """`cls(value)` by a look-up in a table of its values (a stored value it does not know still raises
    as `cls(value)` does): decoding a list of jobs converts four columns of every row."""
    members = {m.value: m for m in cls}
    return lambda v: members.get(v) or cls(v)


_run_status = _member(RunStatus)


def _json_list(text: str) -> Any:
    """A stored JSON list; the empty one (most jobs' chains and tags) without parsing it."""
    return [] if text == "[]" else json.loads(text)


def milestones_to_json(milestones: Sequence[Milestone]) -> str:
    return _dump([{"name": m.name, "at": m.at, "data": m.data} for m in milestones])


def milestones_from_json(text: str | None) -> list[Milestone]:
    return [Milestone(**m) for m in json.loads(text or "[]")]


JOB_CODECS: dict[str, Codec] = {
    "kind": (_same, _member(TargetKind)),
    "target": (lambda target: _dump(to_dict(target, keep_none=True)), json.loads),
    "enabled": (int, bool),
    "overlap": (_same, _member(OverlapPolicy)),
    "misfire": (_same, _member(MisfirePolicy)),
    "delivery": (lambda delivery: _dump(to_dict(delivery)), json.loads),
    "on_success": (_dump, _json_list),
    "on_failure": (_dump, _json_list),
    "tags": (_dump, _json_list),
    "last_status": (_or_none(str), lambda v: _run_status(v) if v else None),
    "chain_options": (
        lambda options: _dump({c: {n: e.to_dict() for n, e in edges.items()} for c, edges in options.items()}),
        lambda v: {} if v in (None, "{}") else json.loads(v),
    ),
    "approval": (int, bool),
    "alert_on": (_or_none(_dump), lambda v: None if v is None else json.loads(v)),
    "is_check": (int, bool),
    "delete_after_run": (int, bool),
    "retry_on_exit": (_or_none(_dump), lambda v: None if v is None else json.loads(v)),
    "no_retry_on_exit": (_or_none(_dump), lambda v: None if v is None else json.loads(v)),
    "retry_on_status": (_or_none(_dump), lambda v: None if v is None else json.loads(v)),
    "skip_calendar": (_dump, _json_list),
    "only_calendar": (_dump, _json_list),
    "params": (lambda decls: _dump(decls_to_dict(decls)), lambda v: {} if v in (None, "{}") else json.loads(v)),
}

RUN_CODECS: dict[str, Codec] = {
    "trigger": (str, Trigger),
    "status": (str, RunStatus),
    "cancel_requested": (int, bool),
    "request": (_or_none(_dump), lambda v: json.loads(v) if v else None),
    "tool_calls": (_or_none(_dump), lambda v: json.loads(v) if v else []),
    "milestones": (milestones_to_json, milestones_from_json),
    "failure_kind": (_or_none(str), _or_none(FailureKind)),
    "params": (_or_none(_dump), lambda v: json.loads(v) if v else None),
}


def to_row(obj: Any, columns: Sequence[str], codecs: Mapping[str, Codec]) -> dict[str, Any]:
    """A model object's columns as SQL values."""
    return {c: codecs[c][0](getattr(obj, c)) if c in codecs else getattr(obj, c) for c in columns}


def from_row(row: Mapping[str, Any], columns: Sequence[str], codecs: Mapping[str, Codec]) -> dict[str, Any]:
    """A row's columns as model values (keyword arguments for the model's constructor)."""
    return {c: codecs[c][1](row[c]) if c in codecs else row[c] for c in columns}


def job_to_row(job: Job) -> dict[str, Any]:
    row = to_row(job, JOB_COLUMNS, JOB_CODECS)
    # written with the job, read only by the claim: the shared conversation it talks in, kept in a column
    # so that the claim never parses a target to keep a session's runs taking turns
    row["session"] = job.target.session if isinstance(job.target, AgentTarget) else None
    return row


def job_from_row(row: Mapping[str, Any]) -> Job:
    return jobs_from_rows([row])[0]


_JOB_DECODERS = [(c, JOB_CODECS[c][1]) for c in JOB_COLUMNS if c in JOB_CODECS]


def jobs_from_rows(rows: Sequence[Any]) -> list[Job]:
    """Rows of the jobs table (sqlite3.Row, asyncpg Record) as Jobs. A row's columns are taken by their
    positions, found once from the first row's names, and only the columns with a codec are converted:
    looking 29 names up in each row and passing the others through a function was much of the time a
    list of 10,000 jobs took."""
    if not rows:
        return []
    names = list(rows[0].keys())
    columns = itemgetter(*(names.index(c) for c in JOB_COLUMNS))
    jobs = []
    for row in rows:
        values = dict(zip(JOB_COLUMNS, columns(row), strict=True))
        for c, decode in _JOB_DECODERS:
            values[c] = decode(values[c])
        jobs.append(Job(**values))
    return jobs


JOB_HEAD_SELECT = (
    "SELECT id, name, schedule, timezone, kind, enabled, auto_disabled, next_run_at, last_status, owner FROM jobs "
    "WHERE deleted_at IS NULL ORDER BY name"
)
_target_kind = _member(TargetKind)


def job_head_from_row(row: Sequence[Any]) -> JobHead:
    """A row of JOB_HEAD_SELECT as a JobHead."""
    return JobHead(
        row[0],
        row[1],
        row[2],
        row[3],
        _target_kind(row[4]),
        bool(row[5]),
        row[6],
        row[7],
        _run_status(row[8]) if row[8] else None,
        row[9],
    )


def run_to_row(run: Run) -> dict[str, Any]:
    return to_row(run, RUN_COLUMNS, RUN_CODECS)


def run_from_row(row: Mapping[str, Any]) -> Run:
    run = Run(**from_row(row, RUN_COLUMNS, RUN_CODECS))
    if "job_name" in row.keys():
        run.job_name = row["job_name"] or ""
    return run


def lease_from_row(row: Any) -> Lease:
    return Lease(**from_row(row, LEASE_COLUMNS, {}))


def event_from_row(row: Mapping[str, Any]) -> RunEvent:
    return RunEvent(
        id=row["id"],
        run_id=row["run_id"],
        job_id=row["job_id"],
        at=row["at"],
        kind=EventKind(row["kind"]),
        name=row["name"],
        data=json.loads(row["data"]) if row["data"] else {},
        job_name=(row["job_name"] or "") if "job_name" in row.keys() else "",
    )


_EVENT_DATA = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def event_to_row(ev: RunEvent) -> tuple[Any, ...]:
    return (ev.run_id, ev.job_id, ev.at, str(ev.kind), ev.name, _EVENT_DATA(ev.data) if ev.data else None)


NODE_COLUMNS = "node, host, pid, started_at, seen_at, expires_at, running, labels"


def node_from_row(row: Sequence[Any]) -> Node:
    """A nodes row (NODE_COLUMNS, labels as a JSON list) as a Node."""
    node, host, pid, started_at, seen_at, expires_at, running, labels = row
    return Node(node, host, pid, started_at, seen_at, expires_at, running, json.loads(labels or "[]"))
