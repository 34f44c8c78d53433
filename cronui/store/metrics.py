"""What `GET /metrics` reads, as the database computes it: one aggregate query per family, each answering
a bounded number of rows (jobs past `max_jobs` are summed as one, pools and alert kinds are few), never run
rows. Both backends share the SQL ('?' placeholders, syntax both read).

The runs' query is the heavy one: it reads every run the store keeps (about a second at a million runs on
SQLite). A backend runs it through `apart_rows`, which SQLite answers on a read-only connection of its own,
so that the scheduler's statements on the store's connection never wait behind a scrape; PostgreSQL
answers it on another connection of its pool.

Figures are of the kept history: retention pruning lowers them (the metrics are gauges, see
cronui.application.metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cronui.model import Lease
from cronui.model.records import Node
from cronui.store.health import HEALTH
from cronui.store.sql_reads import SqlReads

OTHER = -1  # the job id the runs of jobs without their own label (past `max_jobs`, or removed) are summed under
# the histograms' upper bounds, in seconds
DURATION_BOUNDS_S = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600)
LATENESS_BOUNDS_S = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)

# the jobs with their own label: the oldest live ones (by id), so a job keeps its label while it lives
_OWN = "SELECT id, name FROM jobs WHERE deleted_at IS NULL ORDER BY id LIMIT ?"


def _buckets(column: str, bounds_s: Sequence[float]) -> str:
    """The counts at or under each bound (cumulative, as a histogram's buckets are)."""
    return ", ".join(f"SUM(CASE WHEN {column} <= {round(b * 1000)} THEN 1 ELSE 0 END)" for b in bounds_s)


# One row per (job, status, trigger, failure kind): how many runs, their tokens and cost, and both
# histograms (the duration of runs that have one; the lateness of runs that started: started_at minus
# scheduled_for, 0 when it started early).
RUNS = (
    "SELECT r.job, r.status, r.trigger, r.failure_kind, COUNT(*), CAST(COALESCE(SUM(r.total_tokens), 0) AS BIGINT), "
    f"SUM(r.cost_usd), COUNT(r.duration_ms), CAST(COALESCE(SUM(r.duration_ms), 0) AS BIGINT), "
    f"{_buckets('r.duration_ms', DURATION_BOUNDS_S)}, COUNT(r.late_ms), "
    f"CAST(COALESCE(SUM(r.late_ms), 0) AS BIGINT), {_buckets('r.late_ms', LATENESS_BOUNDS_S)} "
    f"FROM (SELECT CASE WHEN o.id IS NULL THEN {OTHER} ELSE x.job_id END AS job, x.status, x.trigger, "
    "COALESCE(x.failure_kind, '') AS failure_kind, x.total_tokens, x.cost_usd, x.duration_ms, "
    "CASE WHEN x.started_at IS NULL THEN NULL WHEN x.started_at > x.scheduled_for "
    "THEN x.started_at - x.scheduled_for ELSE 0 END AS late_ms "
    f"FROM runs x LEFT JOIN ({_OWN}) o ON o.id = x.job_id) r "
    "GROUP BY r.job, r.status, r.trigger, r.failure_kind"
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
        self.buckets = [a + int(b or 0) for a, b in zip(self.buckets, buckets, strict=True)]
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


def _group(row: Sequence[Any]) -> RunGroup:
    nd, nl = len(DURATION_BOUNDS_S), len(LATENESS_BOUNDS_S)
    job, status, trigger, kind, runs, tokens, cost, d_count, d_sum = row[:9]
    d_buckets = row[9 : 9 + nd]
    l_count, l_sum = row[9 + nd : 11 + nd]
    l_buckets = row[11 + nd : 11 + nd + nl]
    duration = Histogram([0] * nd)
    duration.add(d_buckets, int(d_count), int(d_sum))
    lateness = Histogram([0] * nl)
    lateness.add(l_buckets, int(l_count), int(l_sum))
    return RunGroup(
        int(job),
        str(status),
        str(trigger),
        str(kind),
        int(runs),
        int(tokens),
        None if cost is None else float(cost),
        duration,
        lateness,
    )


class SqlMetrics(SqlReads):
    """The metrics' reads, the same SQL on each engine."""

    async def apart_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """A long read that must not hold up the scheduler's statements (SQLite: on a connection of its own)."""
        return await self.select_rows(sql, params)

    async def metrics_reading(self, max_jobs: int) -> MetricsReading:
        """What `GET /metrics` shows: per-job figures for the oldest `max_jobs` live jobs, the rest summed."""
        jobs = {int(r[0]): str(r[1]) for r in await self.select_rows(_OWN, (max_jobs,))}
        runs = [_group(r) for r in await self.apart_rows(RUNS, (max_jobs,))]
        active = [(str(r[0]), str(r[1]), int(r[2])) for r in await self.select_rows(ACTIVE)]
        sends = [(str(r[0]), str(r[1]), int(r[2])) for r in await self.select_rows(SENDS)]
        health = {int(r[0]): str(r[1]) for r in await self.select_rows(HEALTH)}
        return MetricsReading(jobs, runs, active, sends, health, await self.nodes(), await self.get_lease())
