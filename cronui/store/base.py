"""The Store interface and the row <-> model mapping shared by every backend.

Backends keep times as UTC epoch ms in integer columns and structured fields as JSON text. Everything the
engine needs to stay exactly-once is decided by the store in one transaction, never against one process's
memory, so that several nodes sharing one database decide it alike:

- `materialize` writes a job's due slots and advances its next fire together, compare-and-set on the
  old next fire; a slot is unique on (job, scheduled_for).
- `claim` hands a node the runs it may start now (`ClaimLimits`): per-job overlap and queue limits,
  pools, the node's free capacity and `not_before`, oldest first and fair across jobs. A multi-node
  backend does the same with `FOR UPDATE SKIP LOCKED` on the candidate rows.
- `finish_runs` records typed run ends (`RunEnd`): the run's final state, the job's bookkeeping with its
  arithmetic in SQL (last status, consecutive failures, auto-disable) and what follows (a retry, chained
  runs), many ends in one transaction — no column dicts cross this boundary.
- Leases and fencing: a claimed run has a lease (its node, an expiry, a fence token). The expiry is
  counted on the store's clock — the database server's `now()` on PostgreSQL, never a node's; on SQLite
  (one host) the caller's `now`. Every claim and every takeover (`take_over`, once the lease expired)
  bumps the token, and every write about a running run — its end, a lease renewal, its delivery — is
  taken only from the node holding it with the current token: a node paused or cut off past its lease
  cannot overwrite the recovery another node made.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from cronui.model import (
    APPROVE,
    REASON_APPROVALS_FULL,
    REASON_BUDGET,
    REASON_REJECTED,
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
from cronui.targets import AgentTarget, to_dict


class StoreError(Exception):
    """A problem the user can act on (the message names it)."""


class DuplicateJobName(StoreError):
    pass


class SchemaTooNew(StoreError):
    pass


class CapReached(Exception):
    """A run not inserted: its RunCap is reached. `wait_ms`: until the oldest counted run leaves the window."""

    def __init__(self, cap: RunCap, wait_ms: int) -> None:
        super().__init__(f"at most {cap.count} runs in {cap.window_ms / 1000:g}s")
        self.cap = cap
        self.wait_ms = wait_ms


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
    done: bool = True  # False: a time budget ran out first; the next pass carries on (store/pruning.py)


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


def percentile(sorted_values: list[int], q: float) -> int | None:
    """The q-quantile (nearest rank) of sorted values; None when there are none."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class Node:
    """A process that schedules this database, as its last heartbeat said."""

    node: str
    host: str
    pid: int
    started_at: int
    seen_at: int
    expires_at: int
    running: int  # runs it had in flight
    labels: list[str] = field(default_factory=list)  # what it offers jobs pinned with a node label


@dataclass
class FleetBucket:
    """One job's finished runs in one time bucket (the fleet view's cell)."""

    job_id: int
    bucket: int  # the bucket's start, epoch ms
    runs: int
    succeeded: int
    failed: int  # failed or timed out
    tokens: int
    cost_usd: float | None  # None when no run in it had a known cost


@dataclass
class JobHead:
    """What a list of jobs shows of each (`jobs list --json`, `GET /api/v1/jobs`): no target, no delivery, so
    10,000 of them are read without decoding any JSON."""

    id: int
    name: str
    schedule: str
    timezone: str
    kind: TargetKind
    enabled: bool
    auto_disabled: str | None
    next_run_at: int | None
    last_status: RunStatus | None


@dataclass
class DueJob:
    """What planning a due job's slots needs of it (no target, no delivery: cheap to read by the thousand)."""

    id: int
    name: str
    schedule: str
    timezone: str
    next_run_at: int
    misfire: MisfirePolicy
    misfire_grace_s: float


@dataclass
class SlotWrite:
    """One job's due slots and its next fire, written only while the job's next fire is still
    `expected` (compare-and-set: a second planner of the same slots, or an edit in between, wins)."""

    job_id: int
    expected: int | None
    runs: Sequence[Run]
    next_run_at: int | None


@dataclass
class ClaimLimits:
    """What a node may start in one claim."""

    capacity: int  # how many more runs this node may run at once
    pools: Mapping[str, int] = field(default_factory=dict)  # pool name -> size (a pool not named: 1)
    only_roots: Collection[int] | None = None  # execute only these runs and their retries
    max_running: int | None = None  # runs at once across every node of the database (None: no cap)
    daily_budget_usd: float | None = None  # what all agent runs together may cost per UTC day (None: no cap)
    labels: Collection[str] = ()  # this node's labels: a job pinned to another label is not its to start


DAY_MS = 86_400_000


def day_start(now: int) -> int:
    """The start (epoch ms) of the UTC day `now` falls in: budgets count what runs cost on it."""
    return now - now % DAY_MS


async def budget_refusals(
    candidates: Sequence[tuple[int, Job]],
    daily_usd: float | None,
    spent: Callable[[int | None], Awaitable[float]],
    last_cost: Callable[[int], Awaitable[float]],
) -> dict[int, str]:
    """The runs among `candidates` (run id, its job) that may not start because a daily budget would be
    passed, with the reason to record: the job's own `daily_budget_usd`, then `daily_usd` for all agent
    jobs together. A run starts only if what runs finished today cost (`spent(job_id or None)`) plus what
    the job's last run cost (`last_cost(job_id)`, its estimate) stays within the budget; each run let
    start adds that estimate, so a backlog (a catch-up) stops at the budget rather than past it."""
    refused: dict[int, str] = {}
    per_job: dict[int, float] = {}
    estimate: dict[int, float] = {}
    total: float | None = None
    for run_id, job in candidates:
        t = job.target
        if not isinstance(t, AgentTarget) or job.id is None:
            continue
        if t.daily_budget_usd is None and daily_usd is None:
            continue
        if job.id not in estimate:
            estimate[job.id] = await last_cost(job.id)
        cost = estimate[job.id]
        if t.daily_budget_usd is not None:
            if job.id not in per_job:
                per_job[job.id] = await spent(job.id)
            if _passes(per_job[job.id], cost, t.daily_budget_usd):
                refused[run_id] = (
                    f"{REASON_BUDGET}: ${per_job[job.id]:.4f} spent today (UTC){_about(cost)}, "
                    f"the job's daily budget is ${t.daily_budget_usd:g}"
                )
                continue
        if daily_usd is not None:
            if total is None:
                total = await spent(None)
            if _passes(total, cost, daily_usd):
                refused[run_id] = (
                    f"{REASON_BUDGET}: ${total:.4f} spent today (UTC) by agent jobs{_about(cost)}, "
                    f"[budget] daily_usd is ${daily_usd:g}"
                )
                continue
            total += cost
        if job.id in per_job:
            per_job[job.id] += cost
    return refused


def _passes(spent: float, cost: float, budget: float) -> bool:
    return spent >= budget or spent + cost > budget + 1e-9


def _about(cost: float) -> str:
    return f", a run costs about ${cost:.4f}" if cost else ""


@dataclass
class Claim:
    """What one claim decided."""

    started: list[tuple[Run, Job]] = field(default_factory=list)  # now `running` on the node, oldest first
    skipped: list[Run] = field(default_factory=list)  # pending runs an overlap, queue limit or budget turned away


@dataclass(frozen=True)
class RunCap:
    """At most `count` hook runs of the run's job (manual runs that carry a request) queued in any
    `window_ms` before the run's `queued_at`. Counted from the runs table in the transaction that inserts
    the run, so servers racing on one database cannot both pass: the limit holds for the whole cluster."""

    count: int
    window_ms: int

    def wait_ms(self, newest: Sequence[int], now: int) -> int | None:
        """None when a run may be added at `now`, given the counted runs' queued_at, newest first (at most
        `count` of them); else how long until the oldest of those leaves the window."""
        if len(newest) < self.count:
            return None
        # a racing call that read the clock after this one may have inserted first: a run queued after `now`
        # is at most a window away
        return min(self.window_ms, max(1, newest[self.count - 1] + self.window_ms - now))


# The cap's count: the job's hook runs in the window, newest first (a retry carries the request too, but it
# is the same hook call's run again, so only manual runs count).
CAPPED_RUNS = (
    "SELECT queued_at FROM runs WHERE job_id = ? AND trigger = 'manual' AND request IS NOT NULL "
    "AND queued_at > ? ORDER BY queued_at DESC LIMIT ?"
)


@dataclass
class RunEnd:
    """A run's final state as the engine recorded it, and what follows from it.

    `run` carries its final fields (status, finished_at, output, ...). With `retry` set, this was not the
    last attempt: the retry is queued and the job's bookkeeping waits for the last one. Otherwise the job's
    last status and consecutive failures follow `run.status` (arithmetic in SQL), the job switches itself
    off at `failure_limit` consecutive failures (0: never), and the jobs named in `chain_to` get a run."""

    run: Run
    retry: Run | None = None
    chain_to: Sequence[str] = ()
    memory: Mapping[str, Any] = field(default_factory=dict)  # what the job carries to its next run
    failure_limit: int = 0
    # a shared conversation's new history (`session:NAME`), written with the run's end
    session: str | None = None
    session_history: Any = None
    # of `chain_to`, the jobs whose chained run waits for approval even when the job itself does not ask
    # for it (an edge that requires approval); a job with `approval` has its chained run wait anyway
    chain_approval: Collection[str] = ()


@dataclass
class Recorded:
    """What recording one RunEnd did."""

    inserted: list[Run] = field(default_factory=list)  # the retry or chained runs that now exist
    consecutive_failures: int = 0  # the job's count after this end
    auto_disabled: str | None = None  # the reason, when this end switched the job off
    missing_chains: list[str] = field(default_factory=list)  # chained names with no live job


class Store(Protocol):
    url: str
    # Several processes schedule at once (cluster mode: each claims runs, slots are compare-and-set), rather
    # than one lease holder at a time.
    multi_node: bool

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
    async def list_job_heads(self) -> list[JobHead]: ...
    async def chain_edges(self) -> dict[str, list[str]]: ...
    async def existing_names(self, names: Sequence[str]) -> set[str]: ...

    # scheduling
    async def due_jobs(self, now: int) -> list[DueJob]: ...
    async def next_wakeup(self, now: int) -> int | None: ...
    async def materialize(self, writes: Sequence[SlotWrite]) -> list[Run]: ...
    # with a cap, CapReached when it is reached (the run is not inserted)
    async def insert_run(self, run: Run, cap: RunCap | None = None) -> Run | None: ...
    async def claim(self, node: str, now: int, lease_ms: int, limits: ClaimLimits) -> Claim: ...
    async def finish_runs(self, ends: Sequence[RunEnd]) -> list[Recorded | None]: ...
    # run leases, on the store's clock (PostgreSQL's `now()`; SQLite, one host: the caller's `now`), each
    # held with a fence token: only the holder's writes with the current token are taken
    async def renew_run_leases(self, node: str, fences: Mapping[int, int], now: int, lease_ms: int) -> list[int]: ...
    async def orphaned_runs(self, now: int, live_node: str | None, host: str | None = None) -> list[Run]: ...
    async def take_over(self, run: Run, now: int, expired_only: bool = True) -> Run | None: ...
    async def request_cancel(self, run_id: int, now: int) -> Run | None: ...
    # approvals (`approvals.py` below): decide a run waiting for approval, exactly once however many
    # processes try (a conditional UPDATE ... WHERE status = 'awaiting_approval'); None: it was not waiting
    async def decide_approval(self, decision: ApprovalDecision) -> Run | None: ...
    async def due_approvals(self, now: int) -> list[Run]: ...  # waiting runs whose deadline has passed
    # waiting runs whose "needs approval" notice nobody sent yet, each marked taken (by one caller only)
    async def take_approval_notices(self, limit: int = 100) -> list[Run]: ...
    async def note_approval_notice(self, run_id: int, note: str) -> None: ...
    async def cancel_requested(self, run_ids: Sequence[int]) -> list[int]: ...
    async def get_run(self, run_id: int) -> Run | None: ...
    async def attempts(self, root_id: int) -> list[Run]: ...
    async def list_runs(self, flt: RunFilter) -> list[Run]: ...
    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]: ...
    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats: ...
    async def latest_durations(self, since: int | None, latest: int) -> list[int]: ...  # aggregates.py
    async def run_counts(self, statuses: Sequence[RunStatus]) -> dict[RunStatus, int]: ...

    async def update_delivery(
        self,
        run_id: int,
        status: str,
        reason: str | None,
        milestones: Sequence[Milestone],
        holder: tuple[str | None, int] | None = None,  # (node, fence): written only while they hold the run
    ) -> bool: ...
    async def timeline(self, job_id: int | None, since: int, bucket_ms: int) -> list[tuple[int, RunStatus, int]]: ...
    async def fleet(self, since: int, bucket_ms: int) -> list[FleetBucket]: ...
    async def get_memory(self, job_id: int, key: str) -> Any: ...
    async def get_session(self, name: str) -> list[dict[str, Any]]: ...  # a shared conversation's history
    # what runs finished since `since` (epoch ms) cost together, of one job or (None) of every job
    async def spent_since(self, since: int, job_id: int | None = None) -> float: ...
    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None: ...

    # events: the live log is read through `cronui.store.events.EventCursor` (it never skips a late commit)
    async def append_events(self, events: Sequence[RunEvent]) -> None: ...
    async def events_since(self, after_id: int, extra_ids: Sequence[int] = (), limit: int = 1000) -> list[RunEvent]: ...
    async def run_events(self, run_id: int, after_id: int = 0) -> list[RunEvent]: ...
    async def last_event_id(self) -> int: ...

    # nodes: each scheduling process's heartbeat; returns the database's clock (epoch ms)
    async def heartbeat(self, node: Node) -> int: ...
    async def nodes(self) -> list[Node]: ...
    async def forget_node(self, node: str) -> None: ...

    # the scheduler lease
    async def acquire_lease(self, me: Lease, now: int, holder_alive: Callable[[Lease], bool]) -> Lease: ...
    async def renew_lease(self, holder: str, now: int, expires_at: int) -> bool: ...
    async def release_lease(self, holder: str) -> None: ...
    async def get_lease(self) -> Lease | None: ...
    # a process stopped inside a write keeps it from everyone (SQLite's lock is the file's); the holder's pid
    # where the OS tells, and a way to stop this process between writes (PostgreSQL: None and a no-op; the
    # server ends a session idle in a transaction, see IDLE_IN_TRANSACTION_S in postgres.py)
    def write_lock_holder(self) -> int | None: ...
    def between_writes(self) -> AbstractAsyncContextManager[None]: ...
    # wake-ups (`wakeup.py`): the holder listens and advertises the returned address in its lease ('' when
    # the store needs none); any process notifies the holder after a write it should act on at once
    async def listen(self, on_wake: Callable[[], None]) -> str: ...
    async def unlisten(self, on_wake: Callable[[], None]) -> None: ...
    async def notify(self) -> bool: ...

    # scheduler-wide state (pause)
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str | None) -> None: ...

    # maintenance
    async def prune(
        self, now: int, keep_days: float, runs_per_job: int, event_hours: float, budget_s: float | None = None
    ) -> PruneResult: ...
    async def check(self) -> list[str]: ...
    async def backup(self, path: str) -> None: ...


# ---------------------------------------------------------------- row mapping

JOB_COLUMNS = (
    "id name description schedule timezone kind target enabled auto_disabled overlap queue_limit misfire "
    "misfire_grace_s pool max_retries retry_delay_s timeout_s delivery on_success on_failure tags source "
    "created_at updated_at deleted_at next_run_at last_status consecutive_failures node_label"
).split()
JOB_COLUMNS.append("chain_options")  # the options of chain edges (`--when`): see model.ChainEdge
JOB_COLUMNS += "approval approval_timeout_s approval_default approval_max_waiting".split()

RUN_COLUMNS = (
    "id job_id trigger scheduled_for attempt retry_of triggered_by status reason missed_count queued_at "
    "not_before started_at finished_at duration_ms node lease_expires_at cancel_requested exit_code signal "
    "http_status output stderr output_bytes stderr_bytes error summary request prompt_tokens "
    "completion_tokens total_tokens cost_usd tool_calls milestones delivery_status delivery_reason fence"
).split()
RUN_COLUMNS += "approval_deadline approval_default approval_notice".split()

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
    "SELECT id, name, schedule, timezone, kind, enabled, auto_disabled, next_run_at, last_status FROM jobs "
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


# ---------------------------------------------------------------- approvals

# The approval columns of the jobs new runs belong to, as the stores read them when runs come to exist: only
# jobs with `approval`, or whose run asks for it ({ids}, {asking}: the stores' ways of naming a list of ids).
APPROVAL_POLICY_SELECT = (
    "SELECT id, approval, approval_timeout_s, approval_default, approval_max_waiting FROM jobs "
    "WHERE id IN {ids} AND (approval = 1 OR id IN {asking})"
)
# How many of each job's runs wait for approval now.
APPROVALS_WAITING = (
    "SELECT job_id, COUNT(*) FROM runs WHERE status = 'awaiting_approval' AND job_id IN {ids} GROUP BY job_id"
)


@dataclass
class ApprovalPolicy:
    """What a job says about approvals (its `approval*` columns)."""

    approval: bool
    timeout_s: float
    default: str
    max_waiting: int


def approval_candidates(runs: Sequence[Run]) -> tuple[list[int], list[int]]:
    """The jobs whose approval policy decides whether some of `runs` (new, pending) wait for approval, and
    those of them with a run that asks for approval itself (`needs_approval`)."""
    pending = [r for r in runs if r.status is RunStatus.PENDING]
    return sorted({r.job_id for r in pending}), sorted({r.job_id for r in pending if r.needs_approval})


def ask_approvals(runs: Sequence[Run], policies: Mapping[int, ApprovalPolicy], waiting: dict[int, int]) -> None:
    """Turn new pending runs that need approval into `awaiting_approval` ones, with their deadline and what
    the timeout does: every run of a job with `approval` but its retries (a retry is of a run already
    approved), and any run created with `needs_approval`. A run arriving when `max_waiting` of its job's
    runs already wait (`waiting`: job id -> count, updated here) is recorded skipped instead. Called by a
    store inside the transaction that inserts the runs, after it serialized the count."""
    for run in runs:
        policy = policies.get(run.job_id)
        if run.status is not RunStatus.PENDING or policy is None:
            continue
        if not (run.needs_approval or (policy.approval and run.trigger is not Trigger.RETRY)):
            continue
        count = waiting.get(run.job_id, 0)
        if count >= policy.max_waiting:
            run.status = RunStatus.SKIPPED
            run.reason = (
                f"{REASON_APPROVALS_FULL}: {count} run{'s' if count != 1 else ''} of the job already wait"
                f" for approval (approval_max_waiting {policy.max_waiting})"
            )
            run.finished_at = run.queued_at
            continue
        waiting[run.job_id] = count + 1
        run.status = RunStatus.AWAITING_APPROVAL
        run.approval_deadline = run.queued_at + int(policy.timeout_s * 1000)
        run.approval_default = policy.default
        run.milestones = [
            *run.milestones,
            Milestone(
                "approval-requested",
                run.queued_at,
                {"deadline": run.approval_deadline, "default": policy.default},
            ),
        ]


def approval_policy_from_row(row: Sequence[Any]) -> tuple[int, ApprovalPolicy]:
    """A row of APPROVAL_POLICY_SELECT as (job id, its policy)."""
    return row[0], ApprovalPolicy(bool(row[1]), float(row[2]), str(row[3]), int(row[4]))


@dataclass
class ApprovalDecision:
    """Someone's (or a timeout's) answer to a run waiting for approval."""

    run_id: int
    approve: bool
    at: int
    by: str  # who decided: `user@host`, an API caller, or `timeout`
    note: str | None = None  # the reason given with a rejection
    timed_out: bool = False


# Whether some waiting run's notice is still to be sent.
UNNOTICED = "SELECT 1 FROM runs WHERE status = 'awaiting_approval' AND approval_notice IS NULL LIMIT 1"

# What deciding writes: only while the run still waits, so of two deciders exactly one wins.
APPROVAL_DECIDE = (
    "UPDATE runs SET status = ?, not_before = ?, reason = ?, finished_at = ?, milestones = ? "
    "WHERE id = ? AND status = 'awaiting_approval'"
)


def decided_values(run: Run, d: ApprovalDecision) -> tuple[Any, ...]:
    """APPROVAL_DECIDE's parameters for `run` (read in the deciding transaction): approved, it is pending,
    due now or at its slot if that is later; rejected, it is skipped with reason `rejected ...`. Who decided
    and when is an `approved` / `rejected` milestone."""
    data: dict[str, Any] = {"by": d.by}
    if d.timed_out:
        data["timed_out"] = True
    if d.note:
        data["reason"] = d.note
    milestones = [*run.milestones, Milestone("approved" if d.approve else "rejected", d.at, data)]
    if d.approve:
        return (
            str(RunStatus.PENDING),
            max(d.at, run.scheduled_for),
            None,
            None,
            milestones_to_json(milestones),
            d.run_id,
        )
    if d.timed_out:
        reason = f"{REASON_REJECTED}: nobody approved it by its deadline (the default is {run.approval_default})"
    else:
        reason = f"{REASON_REJECTED} by {d.by}" + (f": {d.note}" if d.note else "")
    return (str(RunStatus.SKIPPED), run.not_before, reason, d.at, milestones_to_json(milestones), d.run_id)


def timeout_decision(run: Run, now: int) -> ApprovalDecision:
    """What a waiting run's passed deadline decides: its `approval_default`."""
    assert run.id is not None
    return ApprovalDecision(run.id, run.approval_default == APPROVE, now, "timeout", timed_out=True)
