"""Counts and duration figures computed by the database, shared by both backends: a job's stats, runs
per status, the durations of the latest finished runs. Nothing here loads run rows (output, request,
milestones) or a whole history into the process: the API and `cronui status` call these on every request.

The SQL uses '?' placeholders (PostgreSQL's connection rewrites them) and only syntax both share. The
median and p95 are nearest-rank (records.percentile), picked by the database by ordered offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from cronui.model import RunStatus
from cronui.model.records import JobStats

FINISHED = "('succeeded', 'failed', 'timed_out', 'interrupted')"  # what stats count (not skips or cancels)


class Rows(Protocol):
    async def select_rows(self, sql: str, params: Sequence[Any]) -> list[Any]: ...


def rank(n: int, q: float) -> int:
    """The nearest-rank index of the q-quantile among n sorted values (as records.percentile picks it)."""
    return min(n - 1, max(0, round(q * (n - 1))))


async def job_stats(db: Rows, job_id: int, since: int | None) -> JobStats:
    where = f"job_id = ? AND status IN {FINISHED} AND (CAST(? AS BIGINT) IS NULL OR queued_at >= ?)"
    params = (job_id, since, since)
    (row,) = await db.select_rows(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT), "
        "CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT), SUM(cost_usd), COUNT(duration_ms) "
        f"FROM runs WHERE {where}",
        params,
    )
    runs, succeeded, tokens, cost, timed = (int(row[0]), int(row[1]), int(row[2]), row[3], int(row[4]))

    async def quantile(q: float) -> int | None:
        if not timed:
            return None
        found = await db.select_rows(
            f"SELECT duration_ms FROM runs WHERE {where} AND duration_ms IS NOT NULL "
            "ORDER BY duration_ms LIMIT 1 OFFSET ?",
            (*params, rank(timed, q)),
        )
        return int(found[0][0]) if found else None  # None: the runs were pruned between the two reads

    return JobStats(
        runs=runs,
        succeeded=succeeded,
        failed=runs - succeeded,
        median_ms=await quantile(0.5),
        p95_ms=await quantile(0.95),
        total_tokens=tokens,
        cost_usd=None if cost is None else float(cost),
    )


async def latest_durations(db: Rows, since: int | None, latest: int) -> list[int]:
    """The durations of the latest `latest` finished runs (queued since `since`), smallest first."""
    rows = await db.select_rows(
        "SELECT duration_ms FROM (SELECT duration_ms FROM runs WHERE "
        f"status IN {FINISHED} AND (CAST(? AS BIGINT) IS NULL OR queued_at >= ?) ORDER BY id DESC LIMIT ?) "
        "AS latest WHERE duration_ms IS NOT NULL ORDER BY duration_ms",
        (since, since, latest),
    )
    return [int(r[0]) for r in rows]


async def run_counts(db: Rows, statuses: Sequence[RunStatus]) -> dict[RunStatus, int]:
    """How many runs are in each of `statuses` (each one given, 0 when none)."""
    counts = dict.fromkeys(statuses, 0)
    if statuses:
        rows = await db.select_rows(
            f"SELECT status, COUNT(*) FROM runs WHERE status IN ({', '.join('?' for _ in statuses)}) GROUP BY status",
            [str(s) for s in statuses],
        )
        counts.update({RunStatus(r[0]): int(r[1]) for r in rows})
    return counts
