"""The domain model shared by the store, the engine, the CLI and the UI.

Times are UTC epoch milliseconds (int) everywhere inside cronui; they become ISO strings or local
times only at the edges (CLI output, UI cells). The values the store and the faces pass each other
(run filters, claims, run ends, stats, nodes) are in `records.py`. The model imports no other layer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from cronui.model.params import ParamDecl, decls_from_dict
from cronui.targets import Delivery, Target, TargetKind, delivery_from_dict, target_from_dict

__all__ = ["Delivery", "Target", "TargetKind"]  # the job's parts, from their own module


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    AWAITING_APPROVAL = "awaiting_approval"  # created, held until someone approves or rejects it (or its timeout)

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL)

    @property
    def counts_as_failure(self) -> bool:
        """A final attempt that adds to the job's consecutive failures (a success resets them; a skip,
        a cancel or an interruption leaves them as they are)."""
        return self in (RunStatus.FAILED, RunStatus.TIMED_OUT)


class FailureKind(enum.StrEnum):
    """Why a failed run failed: `infra` when the agent gateway or HTTP target it calls could not be reached
    at all (refused, no such host, TLS, 502/503/504, after every fallback); `job` for every other failure.
    An infra failure says nothing about the job, so it counts toward neither `--alert-after` nor auto-disable."""

    INFRA = "infra"
    JOB = "job"


class Trigger(enum.StrEnum):
    """How a run came to exist. Run now says who asked: `manual` from the CLI or the TUI, `api` through the
    HTTP API, `mcp` through MCP, `hook` through `POST /hooks/NAME` (hook runs stored before this value
    existed read `manual` with a request)."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    API = "api"
    MCP = "mcp"
    HOOK = "hook"
    RETRY = "retry"
    CHAIN = "chain"
    CATCHUP = "catchup"
    PING = "ping"  # a check job's run, reported from outside (`cronui ping`, `cronui exec`, `/ping/NAME`)
    BACKFILL = "backfill"  # a past slot run on request


class OverlapPolicy(enum.StrEnum):
    SKIP = "skip"
    QUEUE = "queue"
    ALLOW = "allow"


class MisfirePolicy(enum.StrEnum):
    SKIP = "skip"
    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"


class EventKind(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    MILESTONE = "milestone"
    OUTPUT = "output"
    RETRY_SCHEDULED = "retry_scheduled"
    FINISHED = "finished"
    JOB_CREATED = "job_created"
    JOB_UPDATED = "job_updated"
    JOB_REMOVED = "job_removed"
    JOB_AUTO_DISABLED = "job_auto_disabled"
    PAUSED = "paused"
    RESUMED = "resumed"
    SCHEDULER = "scheduler"  # lease acquired / lost / released: who schedules
    TEST_RUN = "test_run"  # a job run once from the editor, as a test: no run row, only this record
    INFRA = "infra"  # an endpoint (agent gateway, HTTP target) found down, or answering again: no job, no run


# Reasons recorded on skipped runs (the `reason` column); scripts may match on the first word.
REASON_MISSED = "missed"
REASON_PAUSED = "paused"
REASON_OVERLAP = "overlap"
REASON_QUEUE_FULL = "queue full"
REASON_BUDGET = "budget"  # an agent run not started: its job's or all agent jobs' daily budget is spent
REASON_DISABLED = "disabled"
REASON_GATE = "gate"  # an agent job's gate said there is nothing to do (exit 1)
REASON_REJECTED = "rejected"  # a run waiting for approval was rejected (by someone, or by its timeout)
REASON_APPROVALS_FULL = "approvals full"  # a run not asked for: too many of the job's runs wait for approval
REASON_CALENDAR = "calendar"  # a slot on a day its calendars skip (`--skip-calendar`, `--only-calendar`)

# Approvals: what a waiting run becomes when nobody decides before its deadline.
APPROVE = "approve"
REJECT = "reject"
APPROVAL_DEFAULTS = (APPROVE, REJECT)
DEFAULT_APPROVAL_TIMEOUT_S = 3600.0
DEFAULT_APPROVAL_MAX_WAITING = 3

# Checks: a slot of a check job with no ping this long after its time is recorded missed.
DEFAULT_GRACE_S = 300.0


CHAINS = ("on_success", "on_failure")  # a job's chains, as Job fields and job-file keys


@dataclass
class ChainEdge:
    """What one edge of a chain (one job it names) carries beyond the name: a job file writes it as
    `on_success = [{job = "publish", when = "contains:READY"}]`, next to plain names. The defaults are a
    plain edge; an edge's further options (an approval to wait for) are fields here, read by the job
    file's reader (`jobfile.entry.EntryReader.chain`) and acted on where the chain fires
    (`engine.finishing.chained`)."""

    when: str | None = None  # `contains:TEXT` or `regex:PATTERN`: fire only when the run's output matches
    approval: bool = False  # the run this edge starts waits for approval, whatever its job says
    # keys a newer version wrote: kept, so saving the job again loses nothing
    unknown: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @property
    def is_plain(self) -> bool:
        return self.when is None and not self.approval and not self.unknown

    def to_dict(self) -> dict[str, Any]:
        """The stored and exported form, without what is not set."""
        out: dict[str, Any] = {} if self.when is None else {"when": self.when}
        if self.approval:
            out["approval"] = True
        return {**out, **self.unknown}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainEdge:
        known = {k: v for k, v in data.items() if k in ("when", "approval")}
        return cls(**known, unknown={k: v for k, v in data.items() if k not in known})


@dataclass
class Job:
    name: str
    schedule: str
    timezone: str
    kind: TargetKind
    target: Target  # a dict (stored JSON, a test's shorthand) becomes the kind's type
    id: int | None = None
    description: str = ""
    enabled: bool = True
    auto_disabled: str | None = None  # the reason, when the engine switched the job off
    overlap: OverlapPolicy = OverlapPolicy.SKIP
    queue_limit: int = 3
    misfire: MisfirePolicy = MisfirePolicy.RUN_ONCE
    misfire_grace_s: float = 300.0
    pool: str | None = None
    max_retries: int = 0
    retry_delay_s: float = 30.0
    timeout_s: float = 600.0
    delivery: Delivery = field(default_factory=Delivery)
    on_success: list[str] = field(default_factory=list)
    on_failure: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    source: str = "cli"
    created_at: int = 0
    updated_at: int = 0
    deleted_at: int | None = None
    next_run_at: int | None = None
    last_status: RunStatus | None = None
    consecutive_failures: int = 0
    node_label: str | None = None  # runs only on nodes carrying this label (None: on any node)
    # the options of chain edges that have any: chain ("on_success") -> the job it names -> its options
    chain_options: dict[str, dict[str, ChainEdge]] = field(default_factory=dict)
    # approvals: every new run (not a retry) waits as `awaiting_approval` until approved or rejected
    approval: bool = False
    approval_timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S  # then `approval_default` applies
    approval_default: str = REJECT  # approve | reject
    approval_max_waiting: int = DEFAULT_APPROVAL_MAX_WAITING  # a new run beyond this many waiting is skipped
    # what the job is expected to do (None: the `[alerts]` default, if any): see model.alerts.AlertKind
    alert_late_s: float | None = None  # a slot not started this long after its time: `late`
    alert_overrun_s: float | None = None  # a run still running this long after it started: `overrun`
    alert_short_s: float | None = None  # a successful run shorter than this: `short`
    alert_no_success_s: float | None = None  # no successful run for this long: `no_success`
    alert_rate_pct: float | None = None  # a success rate below this (percent) ...: `degraded`
    alert_rate_n: int | None = None  # ... over this many of the latest finished runs (None: 20)
    alert_on: list[str] | None = None  # the kinds its alerts are sent for (None: `[alerts] on`; empty: all)
    # a check (`check = true`): cronui watches it but never runs it; pings from outside report its runs, and
    # a slot with no ping `grace_s` after its time (None: DEFAULT_GRACE_S) is recorded missed
    is_check: bool = False
    grace_s: float | None = None
    # removed (soft, its runs kept) once a run of it ends for good: a follow-up scheduled "in 2h" (MCP's
    # `schedule_followup`) leaves no job behind
    delete_after_run: bool = False
    # who created it (`cli:USER@HOST`, `tui:USER@HOST`, `api:TOKEN`, `mcp:TOKEN`; None: created before owners
    # were recorded); set once, never changed by an edit, and no job-file key
    owner: str | None = None
    # retry rules (cronui.retry_rules): which failed ends are retried; None: the executor's word on each
    retry_on_exit: list[int] | None = None  # shell: retry only on these exit codes
    no_retry_on_exit: list[int] | None = None  # shell: never retry on these exit codes
    retry_on_status: list[int] | None = None  # http: retry only on these statuses
    # calendars (`[calendars.NAME]` in the config): a slot on a day of a skip calendar, or, when the job keeps
    # to calendars, on a day of none of them, is recorded skipped (REASON_CALENDAR); days in the job's zone
    skip_calendar: list[str] = field(default_factory=list)
    only_calendar: list[str] = field(default_factory=list)
    # a timed pause (`jobs pause NAME --for 2h`): its slots before this instant are recorded skipped (paused);
    # state, not a setting: no job-file key, written by pause and resume only, never by an edit
    paused_until: int | None = None
    # the window its schedule fires in (UTC ms, both inclusive; None: no bound): no slot before `starts_at`
    # or after `ends_at`; a job past its end schedules nothing (cronui.schedule.multi)
    starts_at: int | None = None
    ends_at: int | None = None
    # run-time parameters it declares (`[job.params]`, `--param-decl`): name -> its type, default, choices
    params: dict[str, ParamDecl] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = decls_from_dict(self.params)
        self.kind = TargetKind(self.kind)
        if isinstance(self.target, dict):
            self.target = target_from_dict(self.kind, self.target)
        if isinstance(self.delivery, dict):
            self.delivery = delivery_from_dict(self.delivery)
        self.chain_options = {
            chain: {name: e if isinstance(e, ChainEdge) else ChainEdge.from_dict(e) for name, e in edges.items()}
            for chain, edges in (self.chain_options or {}).items()
        }

    @property
    def check_grace_s(self) -> float | None:
        """How late a check's ping may come before its slot is missed (its `late` alert too, when the job sets
        no --alert-late); None for a job cronui runs."""
        if not self.is_check:
            return None
        return DEFAULT_GRACE_S if self.grace_s is None else self.grace_s

    # A chain edge's options (see ChainEdge), kept only for edges the chain still names.

    def edge(self, chain: str, name: str) -> ChainEdge:
        """The options of the edge from this job's `chain` to `name` (a plain edge when it has none)."""
        return self.chain_options.get(chain, {}).get(name) or ChainEdge()

    def set_edge(self, chain: str, name: str, edge: ChainEdge) -> None:
        edges = self.chain_options.setdefault(chain, {})
        if edge.is_plain:
            edges.pop(name, None)
        else:
            edges[name] = edge
        if not edges:
            self.chain_options.pop(chain, None)

    def prune_edges(self) -> None:
        """Forget the options of edges its chains no longer name (a chain changed by the CLI or the form)."""
        for chain in list(self.chain_options):
            names = set(getattr(self, chain, []) if chain in CHAINS else [])
            kept = {n: e for n, e in self.chain_options[chain].items() if n in names and not e.is_plain}
            if kept:
                self.chain_options[chain] = kept
            else:
                del self.chain_options[chain]

    def chain_options_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The stored / JSON form of `chain_options`."""
        return {c: {n: e.to_dict() for n, e in edges.items()} for c, edges in self.chain_options.items() if edges}


@dataclass
class Milestone:
    name: str
    at: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    job_id: int
    trigger: Trigger
    scheduled_for: int
    id: int | None = None
    job_name: str = ""
    attempt: int = 1
    retry_of: int | None = None  # the first attempt of this slot
    triggered_by: int | None = None  # the run whose outcome chained to this one
    status: RunStatus = RunStatus.PENDING
    reason: str | None = None  # why skipped / cancelled / interrupted
    missed_count: int = 1  # > 1 on a summary row standing for many missed slots
    queued_at: int = 0
    not_before: int = 0  # retries wait for their backoff
    started_at: int | None = None
    finished_at: int | None = None
    duration_ms: int | None = None
    node: str | None = None
    lease_expires_at: int | None = None
    fence: int = 0  # bumped by every claim and takeover: only the current holder's writes are taken
    cancel_requested: bool = False
    exit_code: int | None = None
    signal: int | None = None
    http_status: int | None = None
    output: str = ""
    stderr: str = ""
    output_bytes: int = 0
    stderr_bytes: int = 0
    error: str | None = None
    summary: str | None = None
    request: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    delivery_status: str | None = None
    delivery_reason: str | None = None
    failure_kind: FailureKind | None = None  # set on failed and timed-out runs (see FailureKind); else None
    # approvals: while `awaiting_approval`, the deadline and what it becomes then (approve | reject); on a new
    # run, `needs_approval` asks for approval whatever its job says (a run the store creates for a job with
    # `approval` waits anyway; retries never do)
    approval_deadline: int | None = None
    approval_default: str | None = None
    approval_notice: str | None = None  # the "needs approval" notice: None until sent (or found not needed)
    needs_approval: bool = field(default=False, compare=False)
    # who asked for it (run now: `cli:USER@HOST`, `api:TOKEN`, `mcp:TOKEN`, `hook:JOB`); None for the runs
    # the scheduler makes (a retry carries its first attempt's)
    requested_by: str | None = None
    # the values of its job's params it ran with (given when asked for, else the defaults, recorded when it
    # starts); None: none recorded yet, or a job without params
    params: dict[str, Any] | None = None

    # What an agent run's milestones record, read back as the run's own fields.

    def milestone_data(self, name: str) -> dict[str, Any]:
        """The data of the run's last milestone of that name ({} when it has none)."""
        return next((m.data for m in reversed(self.milestones) if m.name == name), {})

    @property
    def cost_source(self) -> str | None:
        """Where cost_usd came from: `prices` (the config's), `gateway` (its usage.cost), `table`
        (genai-prices) or `unknown`; None for a run that counted no usage."""
        return self.milestone_data("usage-calculated").get("cost_source")

    @property
    def answered_by(self) -> str | None:
        """The model whose reply the run recorded (a fallback's, when the job's own failed)."""
        return self.milestone_data("usage-calculated").get("model")

    @property
    def models_failed(self) -> list[dict[str, Any]]:
        """The models that failed this attempt, in order, with their errors ({model, error}): the job's
        own and the fallbacks asked after it, as the `model-failed` milestones say."""
        return [
            {"model": m.data.get("model"), "error": m.data.get("error")}
            for m in self.milestones
            if m.name == "model-failed"
        ]


@dataclass
class RunEvent:
    kind: EventKind
    at: int
    run_id: int | None = None
    job_id: int | None = None
    job_name: str = ""
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # the store's global, increasing id once persisted


@dataclass
class Lease:
    holder: str
    host: str
    pid: int
    address: str
    acquired_at: int
    expires_at: int
