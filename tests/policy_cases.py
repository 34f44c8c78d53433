"""What the `[policy]` tests of every face share: a small policy, so each limit is reached in a few calls, the
jobs they ask for, and an owner's agent runs that cost money today."""

from __future__ import annotations

from typing import Any

from cronui.model import Job, TargetKind
from cronui.policy import Policy
from cronui.store.base import Store

POLICY = Policy(max_jobs_per_owner=2, max_creations_per_day=3, min_interval=60.0, daily_budget_usd=0.3)
HTTP = {"url": "http://127.0.0.1:9/"}  # nothing listens: a run of it fails at once
AGENT = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "message": "digest"}

# schedules firing more often than a minute, and the line each is refused with
TOO_OFTEN = [
    ("* * * * * *", '"* * * * * *" fires every 1s (at least 1m)'),
    ("every 10s", '"every 10s" fires every 10s (at least 1m)'),
    ("0,10 0 9 * * *", '"0,10 0 9 * * *" fires 10s apart at its nearest (at least 1m)'),
]


def http_job(name: str, schedule: str = "@daily") -> dict[str, Any]:
    return {"name": name, "schedule": schedule, "http": dict(HTTP)}


def agent_job(name: str, schedule: str = "@daily") -> dict[str, Any]:
    return {"name": name, "schedule": schedule, "agent": dict(AGENT)}


def shell_job(name: str, schedule: str = "@daily") -> dict[str, Any]:
    return {"name": name, "schedule": schedule, "shell": "true"}


async def spend(store: Store, owner: str, usd: float, at: int) -> Job:
    """An agent job of `owner` whose run, finished at `at`, cost `usd`."""
    job = Job(
        name=f"spender-{owner.replace(':', '-')}",
        schedule="@yearly",
        timezone="UTC",
        kind=TargetKind.AGENT,
        target=dict(AGENT),
    )
    job.owner = owner
    job.created_at = job.updated_at = at
    job = await store.create_job(job)
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, cost_usd)"
            " VALUES (?, 'manual', ?, 'succeeded', ?, ?, ?, ?)",
            (job.id, at, at, at, at, usd),
        )
    return job
