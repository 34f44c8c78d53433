"""What `GET /metrics` reads, as the database computes it: one query per family, each answering a bounded
number of rows (jobs past `max_jobs` are summed as one, pools and alert kinds are few), never run rows.
Both backends share the SQL ('?' placeholders, syntax both read).

The runs' figures are a rollup (`run_tallies`, tallies_ddl.py): per (job, status, trigger, failure kind) how many runs
ended, their tokens and cost, and both histograms' bucket counts. Every run that reaches a final status
appends one row to `run_ends` in the transaction that ends it: a trigger on the update of its status, whichever
path ends it (a finish, a skip, a cancel, a ping's end, an approval's timeout, a takeover's interruption), or
the store as it inserts a run ended already (a missed slot, a ping with no start: `ended_rows`). An append never
makes two writers wait for each other. `fold_run_ends` moves those rows into the rollup in batches (each scrape does,
and each retention pass, so the queue stays short when nobody scrapes). Pruning runs leaves the rollup be:
its figures are Prometheus counters of runs ended, never lowered (cronui.application.metrics).

A scrape so reads about (jobs x statuses x triggers) small rows, not every run: at 10,000 jobs and a million
runs it answers in tens of milliseconds where the query over the runs took seconds
(tests/benchmarks/bench_metrics.py).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import add, sub
from typing import Any

from cronui.model import Lease, Run
from cronui.model.records import Node, PruneResult
from cronui.store.health import HEALTH
from cronui.store.sql_writes import SqlWrites
from cronui.store.tallies_ddl import TALLY_ALL, TALLY_DURATION_MS, TALLY_KEY, TALLY_LATENESS_MS, TALLY_SUMS

OTHER = -1  # the job id the runs of jobs without their own label (past `max_jobs`, or removed) are summed under
# the histograms' upper bounds, in seconds (the rollup's columns: tallies_ddl.TALLY_*_MS)
DURATION_BOUNDS_S = tuple(ms / 1000 for ms in TALLY_DURATION_MS)
LATENESS_BOUNDS_S = tuple(ms / 1000 for ms in TALLY_LATENESS_MS)
FOLD_BATCH = 5_000  # run ends folded into the rollup per transaction

# the jobs with their own label: the oldest live ones (by id), so a job keeps its label while it lives
_OWN = "SELECT id, name FROM jobs WHERE deleted_at IS NULL ORDER BY id LIMIT ?"

# The rollup's rows of the labelled jobs (a seek each on its key), and those summing every job: what the
# labelled ones leave of these is the rest's, job="(other)" (one subtraction in integers, never a scan).
_SUMS = ", ".join(f"t.{c}" for c in TALLY_SUMS)
TALLIES_OWN = (
    f"SELECT t.job_id, t.status, t.trigger, t.failure_kind, {_SUMS} FROM ({_OWN}) o "
    "JOIN run_tallies t ON t.job_id = o.id"
)
TALLIES_ALL = f"SELECT t.job_id, t.status, t.trigger, t.failure_kind, {_SUMS} FROM run_tallies t WHERE t.job_id = ?"
# the oldest run ends, taken off the queue (a row another node is folding is passed over on PostgreSQL)
_TAKE = (
    "DELETE FROM run_ends WHERE id IN (SELECT id FROM run_ends ORDER BY id LIMIT ?{skip_locked}) "
    "RETURNING job_id, status, trigger, failure_kind, duration_ms, late_ms, tokens, cost_usd"
)
# added to the rollup, one row per key, in key order (two folds lock the rows they share in the same order)
_ADD = (
    f"INSERT INTO run_tallies ({', '.join(TALLY_KEY + TALLY_SUMS)}) "
    f"VALUES ({', '.join('?' for _ in TALLY_KEY + TALLY_SUMS)}) "
    f"ON CONFLICT ({', '.join(TALLY_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = run_tallies.{c} + excluded.{c}" for c in TALLY_SUMS)
)
# runs waiting (pending, awaiting approval) and running, per pool ('' : no pool). The status index finds them:
# CROSS JOIN keeps SQLite from walking every job's runs instead (PostgreSQL reads it as the join it is)
ACTIVE = (
    "SELECT COALESCE(j.pool, ''), r.status, COUNT(*) FROM runs r CROSS JOIN jobs j WHERE j.id = r.job_id "
    "AND r.status IN ('pending', 'running', 'awaiting_approval') GROUP BY COALESCE(j.pool, ''), r.status"
)
# alert sends by notice (an episode's kind, or recovered) and outcome (sent, failed, pending)
SENDS = "SELECT notice, outcome, COUNT(*) FROM alert_sends GROUP BY notice, outcome"


@dataclass
class Histogram:
    """Cumulative counts at or under each bound, how many in all and their sum (ms)."""

    buckets: list[int]
    count: int = 0
    sum_ms: int = 0

    def add(self, buckets: Sequence[Any], count: int, sum_ms: int) -> None:
        self.buckets = list(map(add, self.buckets, buckets))
        self.count += count
        self.sum_ms += sum_ms


@dataclass
class RunGroup:
    """The runs of one (job, status, trigger, failure kind)."""

    job_id: int  # OTHER: summed over the jobs without their own label
    status: str
    trigger: str
    failure_kind: str  # '' when the run has none
    runs: int
    tokens: int
    cost_usd: float | None
    duration: Histogram
    lateness: Histogram


@dataclass
class MetricsReading:
    """Everything one scrape shows, as the store read it."""

    jobs: dict[int, str]  # the jobs with their own label: id -> name
    runs: list[RunGroup]
    active: list[tuple[str, str, int]]  # (pool, status, runs)
    sends: list[tuple[str, str, int]]  # (notice, outcome, sends)
    health: dict[int, str]  # every live job's health
    nodes: list[Node] = field(default_factory=list)
    lease: Lease | None = None


def ended_rows(runs: Sequence[Run], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """RUN_ENDS_INSERT's rows for the runs among `runs` inserted with a final status, of the `columns` that
    were written (the others are NULL in the row)."""
    written = set(columns)

    def value(run: Run, column: str) -> Any:
        return getattr(run, column) if column in written else None

    out = []
    for run in runs:
        if not run.status.is_final:
            continue
        started = value(run, "started_at")
        late = None if started is None else max(0, started - run.scheduled_for)
        kind = value(run, "failure_kind")
        key = (run.job_id, str(run.status), str(run.trigger), "" if kind is None else str(kind))
        out.append((*key, value(run, "duration_ms"), late, value(run, "total_tokens"), value(run, "cost_usd")))
    return out


def _group(job_id: int, key: Sequence[Any], sums: Sequence[int]) -> RunGroup:
    """A RunGroup of a rollup key (status, trigger, failure kind) and its sums in TALLY_SUMS order."""
    nd, nl = len(DURATION_BOUNDS_S), len(LATENESS_BOUNDS_S)
    runs, tokens, cost_nusd, costed, d_count, d_sum = sums[:6]
    l_count, l_sum = sums[6 + nd : 8 + nd]
    duration = Histogram(list(sums[6 : 6 + nd]), d_count, d_sum)
    lateness = Histogram(list(sums[8 + nd : 8 + nd + nl]), l_count, l_sum)
    status, trigger, kind = (str(k) for k in key)
    return RunGroup(
        job_id, status, trigger, kind, runs, tokens, cost_nusd / 1e9 if costed else None, duration, lateness
    )


def _groups(own: Sequence[Sequence[Any]], every: Sequence[Sequence[Any]]) -> list[RunGroup]:
    """The labelled jobs' groups, and OTHER's: the sums over every job less the labelled jobs' (keys left
    with no run are left out). Thousands of rows at a thousand labelled jobs: run in a thread."""
    out: list[RunGroup] = []
    labelled: dict[tuple[Any, ...], list[Sequence[int]]] = {}
    for r in own:
        sums = tuple(r[4:])
        out.append(_group(r[0], r[1:4], sums))
        labelled.setdefault(tuple(r[1:4]), []).append(sums)
    for r in every:
        key = tuple(r[1:4])
        sums = tuple(r[4:])
        if key in labelled:
            sums = tuple(map(sub, sums, map(sum, zip(*labelled[key], strict=True))))
        if sums[0] > 0:
            out.append(_group(OTHER, key, sums))
    return out


def _tally(ends: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Run ends (as _TAKE returns them) summed per key, for each job and for TALLY_ALL: _ADD's rows, in key
    order."""
    nd, nl = len(TALLY_DURATION_MS), len(TALLY_LATENESS_MS)
    sums: dict[tuple[Any, ...], list[int]] = {}
    for job_id, status, trigger, kind, duration, late, tokens, cost in ends:
        for job in (TALLY_ALL, int(job_id)):
            key = (job, str(status), str(trigger), str(kind))
            t = sums.get(key)
            if t is None:  # runs, tokens, cost, costed, d_count, d_sum, nd+1 cells, l_count, l_sum, nl+1 cells
                t = sums[key] = [0] * (6 + nd + 1 + 2 + nl + 1)
            t[0] += 1
            t[1] += int(tokens or 0)
            if cost is not None:
                t[2] += round(float(cost) * 1e9)
                t[3] += 1
            if duration is not None:
                t[4] += 1
                t[5] += int(duration)
                t[6 + bisect_left(TALLY_DURATION_MS, duration)] += 1  # the first bound at or above it
            if late is not None:
                t[7 + nd] += 1
                t[8 + nd] += int(late)
                t[9 + nd + bisect_left(TALLY_LATENESS_MS, late)] += 1
    rows = []
    for key, t in sorted(sums.items()):
        d_cells, l_cells = t[6 : 6 + nd], t[9 + nd : 9 + nd + nl]  # cumulative: at or under each bound
        rows.append([*key, *t[:6], *accumulate(d_cells), *t[7 + nd : 9 + nd], *accumulate(l_cells)])
    return rows


class SqlMetrics(SqlWrites):
    """The metrics' reads, and the fold that keeps their rollup, the same SQL on each engine."""

    async def fold_run_ends(self, batch: int = FOLD_BATCH) -> int:
        """Move the queued run ends into the rollup, `batch` at a time, each batch a transaction of its own
        (taken off the queue and added in one: a crash loses or repeats none); how many were folded. What
        ends while it folds waits for the next fold."""
        take = _TAKE.format(skip_locked=self.dialect.skip_locked)
        folded = 0
        while True:
            async with self.write() as tx:
                ends = await tx.rows(take, (batch,))
                if ends:
                    await tx.many(_ADD, _tally(ends))
            folded += len(ends)
            if len(ends) < batch:
                return folded

    async def prune(
        self,
        now: int,
        keep_days: float,
        runs_per_job: int,
        event_hours: float,
        budget_s: float | None = None,
        audit_days: float | None = None,
    ) -> PruneResult:
        """Retention, after folding the run ends queued since the last scrape (the queue stays short
        when nothing scrapes `/metrics`)."""
        await self.fold_run_ends()
        return await super().prune(now, keep_days, runs_per_job, event_hours, budget_s, audit_days)

    async def metrics_reading(self, max_jobs: int) -> MetricsReading:
        """What `GET /metrics` shows: per-job figures for the oldest `max_jobs` live jobs, the rest summed."""
        await self.fold_run_ends()
        jobs = {int(r[0]): str(r[1]) for r in await self.select_rows(_OWN, (max_jobs,))}
        runs = await asyncio.to_thread(
            _groups, await self.select_rows(TALLIES_OWN, (max_jobs,)), await self.select_rows(TALLIES_ALL, (TALLY_ALL,))
        )
        active = [(str(r[0]), str(r[1]), int(r[2])) for r in await self.select_rows(ACTIVE)]
        sends = [(str(r[0]), str(r[1]), int(r[2])) for r in await self.select_rows(SENDS)]
        health = {int(r[0]): str(r[1]) for r in await self.select_rows(HEALTH)}
        return MetricsReading(jobs, runs, active, sends, health, await self.nodes(), await self.get_lease())
