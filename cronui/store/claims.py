"""Claim planning both SQL backends share: which pending runs a claim turns away and which it starts (the
SQL, with the pieces each engine spells its own way left to its `Dialect`), the daily budgets a claim
honours, the cap on a job's hook runs counted as each is inserted, and which run ends may be written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cronui.model import REASON_BUDGET, REASON_OVERLAP, REASON_QUEUE_FULL, FailureKind, Job, RunStatus
from cronui.model.records import RunEnd
from cronui.targets import AgentTarget


@dataclass
class OwnerBudgets:
    """The owners' daily budgets of the `[policy]` (owner -> USD; `cronui.policy.owner_budgets`) and what
    an owner's jobs' runs cost today (`spent(owner)`)."""

    budgets: Mapping[str, float]
    spent: Callable[[str], Awaitable[float]]


async def budget_refusals(
    candidates: Sequence[tuple[int, Job]],
    daily_usd: float | None,
    spent: Callable[[int | None], Awaitable[float]],
    last_cost: Callable[[int], Awaitable[float]],
    owners: OwnerBudgets | None = None,
) -> dict[int, str]:
    """The runs among `candidates` (run id, its job) that may not start because a daily budget would be
    passed, with the reason to record: the job's own `daily_budget_usd`, then its owner's (`owners`, the
    `[policy]`), then `daily_usd` for all agent jobs together. A run starts only if what runs finished today
    cost (`spent(job_id or None)`, `owners.spent(owner)`) plus what the job's last run cost
    (`last_cost(job_id)`, its estimate) stays within the budget; each run let start adds that estimate, so
    a backlog (a catch-up) stops at the budget rather than past it."""
    refused: dict[int, str] = {}
    per_job: dict[int, float] = {}
    per_owner: dict[str, float] = {}
    estimate: dict[int, float] = {}
    total: float | None = None
    for run_id, job in candidates:
        t = job.target
        if not isinstance(t, AgentTarget) or job.id is None:
            continue
        owner_budget = owners.budgets.get(job.owner) if owners is not None and job.owner is not None else None
        if t.daily_budget_usd is None and daily_usd is None and owner_budget is None:
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
        if owner_budget is not None and owners is not None and job.owner is not None:
            if job.owner not in per_owner:
                per_owner[job.owner] = await owners.spent(job.owner)
            if _passes(per_owner[job.owner], cost, owner_budget):
                refused[run_id] = (
                    f"{REASON_BUDGET}: ${per_owner[job.owner]:.4f} spent today (UTC) by {job.owner}'s agent jobs"
                    f"{_about(cost)}, its daily budget ([policy] daily_budget_usd) is ${owner_budget:g}"
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
        if job.owner in per_owner:
            per_owner[job.owner] += cost
    return refused


def _passes(spent: float, cost: float, budget: float) -> bool:
    return spent >= budget or spent + cost > budget + 1e-9


def _about(cost: float) -> str:
    return f", a run costs about ${cost:.4f}" if cost else ""


# The cap's count: the job's hook runs in the window, newest first (a retry carries the request too, but it
# is the same hook call's run again, so only hook runs count: `hook`, and `manual` with a request as they
# were stored before hook runs had a trigger of their own; the same terms as the partial index runs_hooked).
CAPPED_RUNS = (
    "SELECT queued_at FROM runs WHERE job_id = ? AND trigger IN ('manual', 'hook') AND request IS NOT NULL "
    "AND queued_at > ? ORDER BY queued_at DESC LIMIT ?"
)


# The pending runs due now, each with what the claim needs to know of its job: how many of the job's runs
# are running (anywhere), whether it is catching up, and its place in the job's line (retries have a
# line of their own: they never wait behind new slots). {only}: the runs this node may execute.
CLAIM_DUE = """
WITH pend AS MATERIALIZED (
    SELECT id, job_id, trigger, not_before FROM runs WHERE status = 'pending' AND not_before <= ?{only}
), busy AS MATERIALIZED (
    SELECT job_id, COUNT(*) AS n, MIN(id) AS first_id, {any_catchup} AS catching_up
    FROM runs WHERE status = 'running' GROUP BY job_id
), due AS (
    SELECT r.id, r.job_id, r.trigger, r.not_before, j.overlap, j.queue_limit, j.pool, j.session AS sess,
           j.deleted_at IS NOT NULL AS removed, COALESCE(b.n, 0) AS busy, b.first_id AS busy_id,
           {catching_up} AS catching_up,
           ROW_NUMBER() OVER (lane ORDER BY r.not_before, r.id) AS k,
           FIRST_VALUE(r.id) OVER (lane ORDER BY r.not_before, r.id) AS head_id
    FROM pend r JOIN jobs j ON j.id = r.job_id LEFT JOIN busy b ON b.job_id = r.job_id
    WINDOW per_job AS (PARTITION BY r.job_id), lane AS (PARTITION BY r.job_id, r.trigger = 'retry')
)"""

# What the job's overlap policy turns away: with `skip`, every new run while one runs or waits ahead of
# it; with `queue`, the runs beyond `queue_limit` waiting. Catch-up runs go one after another and new
# slots wait behind them (backfill runs likewise); retries are never turned away. Runs of a removed job are cancelled.
CLAIM_SKIPS = """
SELECT id, overlap, queue_limit, busy, busy_id, head_id, removed FROM due
WHERE removed OR (trigger NOT IN ('retry', 'catchup', 'backfill') AND overlap != 'allow' AND NOT catching_up AND (
    (overlap = 'skip' AND (busy > 0 OR k > 1))
    OR (overlap = 'queue' AND k > queue_limit + CASE WHEN busy = 0 THEN 1 ELSE 0 END)))"""

# What may start: any run of an `allow` job; for any other job, one run and only while none of its runs is
# running — its oldest retry first (an attempt of an older slot), else its first waiting run. Fair: each
# job's first eligible run comes before any job's second. A pool admits as many as it has free. A job
# pinned to a node label starts only on a node carrying it ({not_labelled}: not among this node's labels);
# the overlap and queue limits above still apply to it on every node, so its line stays short while no
# such node lives. Jobs sharing a conversation (`session:NAME`, the jobs' `session` column) take turns:
# none of them starts while a run of one of them runs, and one claim starts at most one of them (the
# oldest); the others stay pending, in line.
CLAIM_START = """
, busy_sessions AS MATERIALIZED (
    SELECT DISTINCT j.session AS sess FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.status = 'running'
), eligible AS (
    SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.job_id ORDER BY d.trigger = 'retry' DESC, d.not_before, d.id)
           AS fair
    FROM due d
    WHERE NOT d.removed AND (d.overlap = 'allow' OR (d.busy = 0 AND (d.trigger = 'retry' OR d.k = 1)))
      AND d.job_id NOT IN (SELECT id FROM jobs WHERE node_label IS NOT NULL AND {not_labelled})
      AND (d.sess IS NULL OR d.sess NOT IN (SELECT sess FROM busy_sessions WHERE sess IS NOT NULL))
), pool_use AS (
    SELECT j.pool, SUM(b.n) AS n FROM busy b JOIN jobs j ON j.id = b.job_id
    WHERE j.pool IS NOT NULL GROUP BY j.pool
), pooled AS (
    SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.pool ORDER BY e.fair, e.not_before, e.id) AS in_pool
    FROM eligible e WHERE e.overlap = 'allow' OR e.fair = 1
), sizes AS MATERIALIZED (
    {pool_sizes}
), placed AS (
    SELECT p.id, p.sess, p.fair, p.not_before,
           ROW_NUMBER() OVER (PARTITION BY p.sess ORDER BY p.fair, p.not_before, p.id) AS in_session
    FROM pooled p LEFT JOIN pool_use u ON u.pool = p.pool LEFT JOIN sizes s ON s.pool = p.pool
    WHERE p.pool IS NULL OR p.in_pool <= COALESCE(s.size, 1) - COALESCE(u.n, 0)
)
SELECT id FROM placed WHERE sess IS NULL OR in_session = 1
ORDER BY fair, not_before, id LIMIT ?"""


def turned_away(row: Any) -> tuple[str, str]:
    """The status and reason of a run CLAIM_SKIPS picked."""
    if row["removed"]:
        return str(RunStatus.CANCELLED), "job removed"
    if row["overlap"] == "queue":
        return str(RunStatus.SKIPPED), f"{REASON_QUEUE_FULL} (limit {row['queue_limit']})"
    if row["busy"]:
        return str(RunStatus.SKIPPED), f"{REASON_OVERLAP}: run #{row['busy_id']} still running"
    return str(RunStatus.SKIPPED), f"{REASON_OVERLAP}: run #{row['head_id']} still waiting to start"


def fenced_live(ends: Sequence[RunEnd], holders: dict[int, tuple[str | None, int]]) -> list[int]:
    """The ends that may be written: their run is still open and held by the node and fence token the end
    carries (`holders`: run id -> node, fence of the open runs)."""
    return [i for i, end in enumerate(ends) if holders.get(end.run.id or 0) == (end.run.node, end.run.fence)]


def failure_effect(status: RunStatus, failure_kind: FailureKind | None = None) -> str:
    """What a last attempt does to the job's consecutive failures: an infra failure (its endpoint could
    not be reached) says nothing about the job, and leaves them as they are."""
    if status is RunStatus.SUCCEEDED:
        return "reset"
    return "add" if status.counts_as_failure and failure_kind is not FailureKind.INFRA else "keep"
