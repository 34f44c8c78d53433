"""Plain values the store, the engine and the faces pass each other: what a run list asks for, what a
claim decided, how a run ended, a node's heartbeat, a job's stats. No behaviour of a store lives here, so
every layer may import them without importing the store.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cronui.model import APPROVE, Job, MisfirePolicy, Run, RunStatus, TargetKind


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
    alerts: int = 0  # alert sends and closed episodes past the retention days
    audit: int = 0  # audit rows past `[retention] audit_days`


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
    owner: str | None = None


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
    check_grace_s: float | None = None  # a check job's grace (its slots are only missed, never run)
    skip_calendar: Sequence[str] = ()  # its calendars (Job.skip_calendar, Job.only_calendar)
    only_calendar: Sequence[str] = ()
    paused_until: int | None = None  # a timed pause: slots before it are recorded skipped (paused)
    starts_at: int | None = None  # the window its schedule fires in (see Job.starts_at)
    ends_at: int | None = None


@dataclass
class SlotWrite:
    """One job's due slots and its next fire, written only while the job's next fire is still
    `expected` (compare-and-set: a second planner of the same slots, or an edit in between, wins)."""

    job_id: int
    expected: int | None
    runs: Sequence[Run]
    next_run_at: int | None


@dataclass
class PingWrite:
    """A ping of a check job, as the store records it in one transaction (`Store.record_ping`).

    `run` is what the ping reports: a start (status running, leased until the job's timeout, after which
    recovery records it interrupted) or an end (a final status). An end closes the job's latest open start
    when `closes` and one is there (its start time and id kept); otherwise `run` is a new row. When the ping
    answers a slot (`run.scheduled_for`), the job's next fire moves from `expected` to `next_run_at`
    (compare-and-set: None back when it moved meanwhile, to be planned again) and the slots it passed over
    unpinged are written as `missed` rows. An end that is the check's final word on a run is weighed for its
    `--alert-after` in the same transaction (model.failures); `alerted` is set to the notices that made."""

    run: Run
    closes: bool = False
    settles: bool = False
    expected: int | None = None
    next_run_at: int | None = None
    missed: Sequence[Run] = ()
    alerted: int = 0  # set by the store: failure episodes this ping opened, or closed with a recovery to tell


@dataclass
class ClaimLimits:
    """What a node may start in one claim."""

    capacity: int  # how many more runs this node may run at once
    pools: Mapping[str, int] = field(default_factory=dict)  # pool name -> size (a pool not named: 1)
    only_roots: Collection[int] | None = None  # execute only these runs and their retries
    max_running: int | None = None  # runs at once across every node of the database (None: no cap)
    daily_budget_usd: float | None = None  # what all agent runs together may cost per UTC day (None: no cap)
    labels: Collection[str] = ()  # this node's labels: a job pinned to another label is not its to start
    # what one owner's agent runs may cost per UTC day (`[policy] daily_budget_usd`; a token's own override
    # wins for its owners; None: no budget but those)
    owner_daily_usd: float | None = None


DAY_MS = 86_400_000


def day_start(now: int) -> int:
    """The start (epoch ms) of the UTC day `now` falls in: budgets count what runs cost on it."""
    return now - now % DAY_MS


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
    # what this attempt learnt of the endpoints it called (origin -> why it could not be reached, or None when
    # it answered): the store keeps each endpoint's state and says when one goes down or comes back
    endpoints: Mapping[str, str | None] = field(default_factory=dict)
    # the job is removed with this end (its `delete_after_run`): on the final attempt only, its runs kept
    remove_job: bool = False


@dataclass
class EndpointChange:
    """An endpoint (an agent gateway's or HTTP target's origin) found down, or answering again, decided once
    in the store for every node: `episode` counts its outages (the first is 1), so an alert on it is unique
    on (endpoint, "infra", episode)."""

    endpoint: str
    down: bool  # True: it went down (`error` says how); False: it answers again
    episode: int
    at: int
    error: str | None = None
    down_since: int | None = None  # when it went down (on a change back up: how long it was out)


@dataclass
class EndpointState:
    """An endpoint as the store keeps it: down since when and why (None: it answers), its outages counted."""

    endpoint: str
    down_since: int | None
    error: str | None
    episode: int
    changed_at: int

    @property
    def down(self) -> bool:
        return self.down_since is not None


@dataclass
class Recorded:
    """What recording one RunEnd did."""

    inserted: list[Run] = field(default_factory=list)  # the retry or chained runs that now exist
    consecutive_failures: int = 0  # the job's count after this end
    auto_disabled: str | None = None  # the reason, when this end switched the job off
    missing_chains: list[str] = field(default_factory=list)  # chained names with no live job
    endpoints: list[EndpointChange] = field(default_factory=list)  # endpoints this end found down or back up
    removed_job: bool = False  # this end removed its job (`delete_after_run`)


@dataclass
class ApprovalDecision:
    """Someone's (or a timeout's) answer to a run waiting for approval."""

    run_id: int
    approve: bool
    at: int
    by: str  # who decided: `user@host`, an API caller, or `timeout`
    note: str | None = None  # the reason given with a rejection
    timed_out: bool = False


def timeout_decision(run: Run, now: int) -> ApprovalDecision:
    """What a waiting run's passed deadline decides: its `approval_default`."""
    assert run.id is not None
    return ApprovalDecision(run.id, run.approval_default == APPROVE, now, "timeout", timed_out=True)
