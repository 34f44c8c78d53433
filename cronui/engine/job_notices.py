"""Notices of a moment rather than of a condition that clears: a job's daily budget spent (kind `budget`, one
per job and UTC day), a retry planned (`--notify-retries`) and a run waiting for approval (kind `approval`,
one per run). Each is an alert episode recorded closed, with no recovery to tell, so its opening is routed and
sent through the outbox like every alert's: once however many nodes record it, retried with backoff, listed
by `cronui alerts`, routed by `--alert-on` / `[alerts] on`.

A retry notice rides as kind `failure`: the kinds `--alert-on` and `[alerts] on` name are a fixed list, and a
failed attempt is news of a failure, so it goes where failures go (`on = ["failure"]` keeps it, leaving
`failure` out drops it with the failure alerts); its episode is `retry:RUN` and its text says a retry is
planned. Recorded closed, it never stands for the job's open `failure` episode (`--alert-after`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cronui.model import Job, Run
from cronui.model.alerts import NOTICE_FIELDS, RETRY_EPISODE, AlertEpisode, AlertKind, job_subject
from cronui.model.records import DAY_MS, day_start
from cronui.store.base import Store
from cronui.timefmt import human_span


def retry_text(run: Run, job: Job, delay_ms: int) -> str:
    """'digest #41 failed, retry 1/3 in 30s: HTTP 503 ...' (the retry about to be made, of how many)."""
    error = f": {run.error}" if run.error else ""
    when = human_span(delay_ms, decimals=0)
    return f"{job.name} #{run.id} {run.status}, retry {run.attempt}/{job.max_retries} in {when}{error}"


def retry_episode(run: Run, job: Job, delay_ms: int, now: int) -> AlertEpisode:
    assert job.id is not None
    data = {"run_id": run.id, "retry": run.attempt, "of": job.max_retries, "in_ms": delay_ms}
    text, episode = retry_text(run, job, delay_ms), f"{RETRY_EPISODE}{run.id}"
    return AlertEpisode(
        job_subject(job.id), AlertKind.FAILURE, episode, text, now, job.id, data, closed_at=now, run_id=run.id
    )


async def retry_planned(store: Store, run: Run, job: Job, delay_ms: int, now: int) -> bool:
    """`--notify-retries`: record the notice that this attempt failed and when the next one runs. True when
    this call recorded it (its send is then routed)."""
    return bool(await store.open_alerts([retry_episode(run, job, delay_ms, now)]))


def budget_text(name: str, run_id: int | None, reason: str | None) -> str:
    return f"💸 {name}: run #{run_id} not started, {reason}"


def budget_episode(job_id: int, day: int, text: str, at: int, run_id: int | None = None) -> AlertEpisode:
    """A job's budget notice of one UTC day (`day`: its start): the episode is the day, and it closes, with
    nothing to tell, when the day ends and the budget is whole again."""
    data = {"day": day, "run_id": run_id}
    return AlertEpisode(
        job_subject(job_id),
        AlertKind.BUDGET,
        str(day),
        text,
        at,
        job_id,
        data,
        closed_at=day + DAY_MS,
        run_id=run_id,
        since=day,
    )


async def budget_spent(store: Store, runs: Sequence[Run], now: int, seen: dict[int, int]) -> int:
    """Runs a spent daily budget turned away: one `budget` episode per job and UTC day, naming the first run
    turned away (of several nodes that turn runs away, one records it). One write for the jobs not in `seen`
    (job id -> the day this process last recorded, or found recorded, their episode; kept by the caller, so
    the runs turned away later that day cost no write); returns how many episodes this call recorded."""
    today = day_start(now)
    first: dict[int, Run] = {}
    for run in runs:
        if seen.get(run.job_id) != today:
            first.setdefault(run.job_id, run)
    if not first:
        return 0
    episodes = [
        budget_episode(job_id, today, budget_text(run.job_name or f"job {job_id}", run.id, run.reason), now, run.id)
        for job_id, run in first.items()
    ]
    opened = await store.open_alerts(episodes)
    for stale in [j for j, day in seen.items() if day != today]:  # one entry per job, of today only
        del seen[stale]
    seen.update(dict.fromkeys(first, today))
    return len(opened)


def approval_episode(job: Job, run: Run, text: str, fields: dict[str, Any], now: int) -> AlertEpisode:
    """The "needs approval" notice of a waiting run: its episode is the run, and `fields` is what a JSON
    webhook gets besides the alert (the run, its deadline, the two commands)."""
    assert job.id is not None
    data = {"run_id": run.id, NOTICE_FIELDS: fields}
    return AlertEpisode(
        job_subject(job.id), AlertKind.APPROVAL, str(run.id), text, now, job.id, data, closed_at=now, run_id=run.id
    )
