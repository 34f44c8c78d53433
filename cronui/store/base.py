"""The Store interface and the row <-> model mapping shared by every backend.

Backends keep times as UTC epoch ms in integer columns and structured fields as JSON text. Every
operation the engine needs to stay exactly-once is a single call here (materialize a slot and advance
the job together; claim a pending run; finish a run and update its job), so a backend can make each one
a transaction, and a multi-node backend can claim with `FOR UPDATE SKIP LOCKED` behind the same call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cronui.model import (
    EventKind,
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
from cronui.targets import to_dict


class StoreError(Exception):
    """A problem the user can act on (the message names it)."""


class DuplicateJobName(StoreError):
    pass


class SchemaTooNew(StoreError):
    pass


@dataclass
class RunFilter:
    job_id: int | None = None
    statuses: Sequence[RunStatus] = ()
    since: int | None = None  # queued_at >= since
    limit: int = 50
    before_id: int | None = None  # paging: runs with id < before_id


@dataclass
class PruneResult:
    runs: int
    events: int


@dataclass
class JobStats:
    runs: int
    succeeded: int
    failed: int
    median_ms: int | None
    p95_ms: int | None
    total_tokens: int
    cost_usd: float | None

    @property
    def success_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return None if done == 0 else self.succeeded / done


class Store(Protocol):
    url: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # jobs
    async def create_job(self, job: Job) -> Job: ...
    async def update_job(self, job: Job) -> Job: ...
    async def remove_job(self, job_id: int, now: int) -> None: ...
    async def save_jobs(
        self, creates: Sequence[Job], updates: Sequence[Job], removes: Sequence[int], now: int
    ) -> None: ...
    async def get_job(self, job_id: int) -> Job | None: ...
    async def get_job_by_name(self, name: str) -> Job | None: ...
    async def list_jobs(self) -> list[Job]: ...
    async def chain_edges(self) -> dict[str, list[str]]: ...
    async def existing_names(self, names: Sequence[str]) -> set[str]: ...

    # scheduling
    async def due_jobs(self, now: int) -> list[Job]: ...
    async def next_wakeup(self, now: int) -> int | None: ...
    async def materialize(self, plans: Sequence[tuple[int, Sequence[Run], int | None]]) -> list[Run]: ...
    async def insert_run(self, run: Run) -> Run | None: ...
    async def pending_runs(self, now: int, limit: int = 500) -> list[Run]: ...
    async def claim_runs(self, run_ids: Sequence[int], node: str, now: int, lease_ms: int) -> list[Run]: ...
    async def skip_pending(self, run_id: int, status: RunStatus, reason: str, now: int) -> bool: ...
    async def finish_run(
        self, run: Run, job_changes: Mapping[str, Any], new_runs: Sequence[Run] = ()
    ) -> list[Run] | None: ...
    async def renew_run_leases(self, node: str, run_ids: Sequence[int], expires_at: int) -> None: ...
    async def orphaned_runs(self, now: int, live_node: str | None) -> list[Run]: ...
    async def request_cancel(self, run_id: int, now: int) -> Run | None: ...
    async def cancel_requested(self, run_ids: Sequence[int]) -> list[int]: ...
    async def get_run(self, run_id: int) -> Run | None: ...
    async def attempts(self, root_id: int) -> list[Run]: ...
    async def list_runs(self, flt: RunFilter) -> list[Run]: ...
    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]: ...
    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats: ...

    async def update_delivery(
        self, run_id: int, status: str, reason: str | None, milestones: Sequence[Milestone]
    ) -> None: ...
    async def timeline(self, job_id: int | None, since: int, bucket_ms: int) -> list[tuple[int, RunStatus, int]]: ...
    async def get_memory(self, job_id: int, key: str) -> Any: ...
    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None: ...

    # events: the live log is read through `cronui.store.events.EventCursor` (it never skips a late commit)
    async def append_events(self, events: Sequence[RunEvent]) -> None: ...
    async def events_since(self, after_id: int, extra_ids: Sequence[int] = (), limit: int = 1000) -> list[RunEvent]: ...
    async def run_events(self, run_id: int, after_id: int = 0) -> list[RunEvent]: ...
    async def last_event_id(self) -> int: ...

    # the scheduler lease
    async def acquire_lease(self, me: Lease, now: int, holder_alive: Callable[[Lease], bool]) -> Lease: ...
    async def renew_lease(self, holder: str, now: int, expires_at: int) -> bool: ...
    async def release_lease(self, holder: str) -> None: ...
    async def get_lease(self) -> Lease | None: ...
    # wake-ups (`wakeup.py`): the holder listens and advertises the returned address in its lease ('' when
    # the store needs none); any process notifies the holder after a write it should act on at once
    async def listen(self, on_wake: Callable[[], None]) -> str: ...
    async def unlisten(self, on_wake: Callable[[], None]) -> None: ...
    async def notify(self) -> bool: ...

    # scheduler-wide state (pause)
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str | None) -> None: ...

    # maintenance
    async def prune(self, now: int, keep_days: float, runs_per_job: int, event_hours: float) -> PruneResult: ...
    async def check(self) -> list[str]: ...
    async def backup(self, path: str) -> None: ...


# ---------------------------------------------------------------- row mapping

JOB_COLUMNS = (
    "id name description schedule timezone kind target enabled auto_disabled overlap queue_limit misfire "
    "misfire_grace_s pool max_retries retry_delay_s timeout_s delivery on_success on_failure tags source "
    "created_at updated_at deleted_at next_run_at last_status consecutive_failures"
).split()

RUN_COLUMNS = (
    "id job_id trigger scheduled_for attempt retry_of triggered_by status reason missed_count queued_at "
    "not_before started_at finished_at duration_ms node lease_expires_at cancel_requested exit_code signal "
    "http_status output stderr output_bytes stderr_bytes error summary request prompt_tokens "
    "completion_tokens total_tokens cost_usd tool_calls milestones delivery_status delivery_reason"
).split()

EVENT_COLUMNS = "id run_id job_id at kind name data".split()

LEASE_COLUMNS = "holder host pid address acquired_at expires_at".split()

# How a column's model value becomes its SQL value and back, for columns where the two differ.
Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _same(value: Any) -> Any:
    return value


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def milestones_to_json(milestones: Sequence[Milestone]) -> str:
    return _dump([{"name": m.name, "at": m.at, "data": m.data} for m in milestones])


def milestones_from_json(text: str | None) -> list[Milestone]:
    return [Milestone(**m) for m in json.loads(text or "[]")]


_JSON: Codec = (_dump, json.loads)

JOB_CODECS: dict[str, Codec] = {
    "kind": (_same, TargetKind),
    "target": (lambda target: _dump(to_dict(target, keep_none=True)), json.loads),
    "enabled": (int, bool),
    "overlap": (_same, OverlapPolicy),
    "misfire": (_same, MisfirePolicy),
    "delivery": (lambda delivery: _dump(to_dict(delivery)), json.loads),
    "on_success": _JSON,
    "on_failure": _JSON,
    "tags": _JSON,
    "last_status": (_or_none(str), lambda v: RunStatus(v) if v else None),
}

RUN_CODECS: dict[str, Codec] = {
    "trigger": (str, Trigger),
    "status": (str, RunStatus),
    "cancel_requested": (int, bool),
    "request": (_or_none(_dump), lambda v: json.loads(v) if v else None),
    "tool_calls": (_or_none(_dump), lambda v: json.loads(v) if v else []),
    "milestones": (milestones_to_json, milestones_from_json),
}


def to_row(obj: Any, columns: Sequence[str], codecs: Mapping[str, Codec]) -> dict[str, Any]:
    """A model object's columns as SQL values."""
    return {c: codecs[c][0](getattr(obj, c)) if c in codecs else getattr(obj, c) for c in columns}


def from_row(row: Mapping[str, Any], columns: Sequence[str], codecs: Mapping[str, Codec]) -> dict[str, Any]:
    """A row's columns as model values (keyword arguments for the model's constructor)."""
    return {c: codecs[c][1](row[c]) if c in codecs else row[c] for c in columns}


def job_to_row(job: Job) -> dict[str, Any]:
    return to_row(job, JOB_COLUMNS, JOB_CODECS)


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(**from_row(row, JOB_COLUMNS, JOB_CODECS))


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


def event_to_row(ev: RunEvent) -> tuple[Any, ...]:
    return (ev.run_id, ev.job_id, ev.at, str(ev.kind), ev.name, _dump(ev.data) if ev.data else None)
