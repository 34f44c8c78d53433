"""Each job's health in one query over every job (from its open alert episodes and its own state), and the
latest finished runs' outcomes of one job (what `--alert-rate` weighs), bounded by SQL's LIMIT.

Health, worst first: `paused` (disabled), `failing` (its latest runs failed, or a failure episode is open, or
its last run failed for its infrastructure: an `infra` failure counts toward no alert or auto-disable, yet the
job did not do its work),
`late`, `overrun`, `no_success`, `degraded` (an open episode of that kind), `never_ran` (nothing finished
yet), else `ok`.
"""

from __future__ import annotations

from cronui.store.sql_reads import SqlReads

FINISHED = "('succeeded', 'failed', 'timed_out', 'interrupted')"  # what a success rate counts


def _open(kind: str) -> str:
    return f"MAX(CASE WHEN e.kind = '{kind}' THEN 1 ELSE 0 END) AS {kind}"


HEALTH = (
    "SELECT j.id, CASE WHEN j.enabled = 0 THEN 'paused' "
    "WHEN j.consecutive_failures > 0 OR COALESCE(o.failure, 0) = 1 "
    "OR j.last_status IN ('failed', 'timed_out') THEN 'failing' "
    "WHEN COALESCE(o.late, 0) = 1 THEN 'late' WHEN COALESCE(o.overrun, 0) = 1 THEN 'overrun' "
    "WHEN COALESCE(o.no_success, 0) = 1 THEN 'no_success' WHEN COALESCE(o.degraded, 0) = 1 THEN 'degraded' "
    "WHEN j.last_status IS NULL THEN 'never_ran' ELSE 'ok' END "
    "FROM jobs j LEFT JOIN (SELECT e.job_id, "
    + ", ".join(_open(k) for k in ("failure", "late", "overrun", "no_success", "degraded"))
    + " FROM alert_episodes e WHERE e.closed_at IS NULL AND e.job_id IS NOT NULL GROUP BY e.job_id) o "
    "ON o.job_id = j.id WHERE j.deleted_at IS NULL"
)
_OUTCOMES = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN x.status = 'succeeded' THEN 1 ELSE 0 END), 0) FROM ("
    f"SELECT r.status FROM runs r WHERE r.job_id = ? AND r.status IN {FINISHED} AND r.finished_at IS NOT NULL "
    "ORDER BY r.finished_at DESC LIMIT ?) x"
)


class SqlHealth(SqlReads):
    """Health and outcomes, the same SQL on each engine."""

    async def job_health(self) -> dict[int, str]:
        """Every live job's health by its id, in one query."""
        return {int(r[0]): str(r[1]) for r in await self.select_rows(HEALTH, ())}

    async def latest_outcomes(self, job_id: int, n: int) -> tuple[int, int]:
        """(finished, succeeded) among the job's latest `n` finished runs."""
        rows = await self.select_rows(_OUTCOMES, (job_id, n))
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
