"""The `[policy]` applied: what a limited caller (an API or MCP token, MCP over stdio without `--unlimited`,
an agent's tool call) may create or change, checked by the job use cases before anything is written
(`jobs.add_job`, `save_job`, `apply_jobfile`, `add_jobs` — and so `edit_entry` and the follow-ups — and
`run_now`), so every face is held to it alike. The host's own user (CLI, TUI) is not.

The policy is the settings' `[policy]` with the caller's token's own overrides over it. Each refusal is a
`Forbidden` (the API's 403, MCP's tool error) whose line names the rule and its number:
`policy: max_jobs_per_owner: api:ci-bot has 25 jobs (at most 25)`.

- kinds: every job created or changed must be of an allowed kind (a change to a shell job is a change to
  code run on the host, whoever created it);
- max_jobs_per_owner, max_creations_per_day: counted for the caller's owner, creations only;
- min_interval: a schedule created, or changed, may not fire more often: the gaps between its next fires
  (a sample of SAMPLE_FIRES) are measured, so a cron whose two nearest fires are closer is caught; a one-shot
  passes;
- daily_budget_usd: no new agent job, and no run now of an agent job, once the owner's agent runs cost that
  today (UTC); the scheduler skips the owner's agent runs too (`cronui.store.claims`).

The counts are read before the write, not inside its transaction: two requests of one owner at the same
instant may pass one job beyond a limit."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

from cronui.application.context import Cronui
from cronui.application.errors import Forbidden
from cronui.bounds import span
from cronui.model import Job, TargetKind
from cronui.model.records import DAY_MS, day_start
from cronui.policy import Policy, shown
from cronui.schedule import ScheduleError, ScheduleKind, parse

SAMPLE_FIRES = 32  # upcoming fires whose gaps are measured against min_interval


def policy_for(app: Cronui) -> Policy | None:
    """The policy this caller is held to (the `[policy]` with its token's overrides), None when it is not."""
    if not app.caller.limited:
        return None
    return app.settings.policy.merged(app.caller.policy)


def refusal(key: str, line: str) -> Forbidden:
    return Forbidden(f"policy: {key}: {line}", rule=f"policy.{key}")


def check_kind(policy: Policy, job: Job, owner: str) -> None:
    if str(job.kind) not in policy.kinds:
        allowed = shown("kinds", policy.kinds)
        raise refusal("kinds", f"{job.kind} jobs are not allowed for {owner} (allowed: {allowed})")


def nearest_fires(job: Job, now: int) -> tuple[int, bool] | None:
    """The shortest gap (ms) between the job's next fires, and whether every gap sampled is that one; None
    for a one-shot, a schedule that fires once more at most, or one that does not parse (validation says
    why)."""
    try:
        sched = parse(job.schedule, job.timezone, now_ms=now)
    except ScheduleError:
        return None
    if sched.kind is ScheduleKind.ONCE:
        return None
    fires = sched.next_n(now, SAMPLE_FIRES)
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    if not gaps:
        return None
    return min(gaps), len(set(gaps)) == 1


def check_interval(policy: Policy, job: Job, now: int) -> None:
    found = nearest_fires(job, now)
    if found is None:
        return
    gap, even = found
    if gap < policy.min_interval * 1000:
        how = f"fires every {span(gap / 1000)}" if even else f"fires {span(gap / 1000)} apart at its nearest"
        least = shown("min_interval", policy.min_interval)
        raise refusal("min_interval", f"{json.dumps(job.schedule)} {how} (at least {least})")


async def _check_budget(app: Cronui, policy: Policy, owner: str) -> None:
    budget = policy.daily_budget_usd
    if budget is None:
        return
    spent = await app.store.owner_spent_since(owner, day_start(app.now_ms()))
    if spent >= budget:
        raise refusal(
            "daily_budget_usd",
            f"{owner}'s agent jobs cost ${spent:.4f} today (UTC) (at most {shown('daily_budget_usd', budget)})",
        )


async def check_creations(app: Cronui, new: Sequence[Job]) -> None:
    """Refuse (Forbidden) creating `new` when the policy does not allow every one of them, or their count."""
    policy = policy_for(app)
    if policy is None or not new:
        return
    owner, now, n = app.caller.owner, app.now_ms(), len(new)
    for job in new:
        check_kind(policy, job, owner)
        check_interval(policy, job, now)
    live = await app.store.owner_jobs(owner)
    if live + n > policy.max_jobs_per_owner:
        more = "" if n == 1 else f" and would add {n}"
        raise refusal("max_jobs_per_owner", f"{owner} has {live} jobs{more} (at most {policy.max_jobs_per_owner})")
    made = await app.store.owner_created_since(owner, now - DAY_MS)
    if made + n > policy.max_creations_per_day:
        more = "" if n == 1 else f" and would create {n}"
        raise refusal(
            "max_creations_per_day",
            f"{owner} created {made} jobs in the last 24 h{more} (at most {policy.max_creations_per_day})",
        )
    if any(job.kind is TargetKind.AGENT for job in new):
        await _check_budget(app, policy, owner)


async def check_changes(app: Cronui, changes: Sequence[tuple[Job | None, Job]]) -> None:
    """Refuse (Forbidden) changing jobs (each as (before, after)) into what the policy does not allow: a kind
    not allowed, or a schedule, changed, that fires too often."""
    policy = policy_for(app)
    if policy is None:
        return
    now = app.now_ms()
    for old, job in changes:
        check_kind(policy, job, app.caller.owner)
        if old is None or (old.schedule, old.timezone) != (job.schedule, job.timezone):
            check_interval(policy, job, now)


async def check_run_now(app: Cronui, job: Job) -> None:
    """Refuse (Forbidden) running an agent job now when its owner's agent runs spent the daily budget."""
    policy = policy_for(app)
    if policy is None or job.kind is not TargetKind.AGENT or job.owner is None:
        return
    await _check_budget(app, policy, job.owner)
