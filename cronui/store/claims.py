"""Claim planning both SQL backends share: the daily budgets a claim honours, and the cap on a job's hook
runs counted as each is inserted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from cronui.model import REASON_BUDGET, Job
from cronui.targets import AgentTarget


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


# The cap's count: the job's hook runs in the window, newest first (a retry carries the request too, but it
# is the same hook call's run again, so only manual runs count).
CAPPED_RUNS = (
    "SELECT queued_at FROM runs WHERE job_id = ? AND trigger = 'manual' AND request IS NOT NULL "
    "AND queued_at > ? ORDER BY queued_at DESC LIMIT ?"
)
