"""`--alert-after N` / `--alert-cooldown` as alert episodes of kind `failure`, sent through the outbox like
every other kind: one episode after N failures in a row (its key: the run that made it N), quiet for the
cooldown, then a new episode per repeat while the job keeps failing (the one before closed quietly: it
recovered from nothing); an auto-disabled job always says so; the job's next success closes the episode,
which sends its "recovered". The rule is cronui.model.failures' (a check's pings apply it in the store's ping
transaction), what it says as before the outbox.

Before episodes, a job kept its alert state in its memory (`alert`: alerting since an alert at a moment;
`budget-alert`: the day its budget alert went out). A scheduler that starts adopts what it finds there
(`adopt_memory`): an open `failure` episode, told already, opened when that alert went out (so the cooldown
goes on and the job's next success sends its "recovered"), and today's budget notice, told already; then
the memory entries are forgotten, so this happens once.
"""

from __future__ import annotations

from typing import Any

from cronui.engine import job_notices
from cronui.model import Job, Run
from cronui.model.alerts import AlertEpisode, AlertKind, job_subject
from cronui.model.failures import failure_step
from cronui.model.records import day_start
from cronui.store.base import Store
from cronui.timefmt import iso_utc

ALERT_KEY = "alert"  # job memory before episodes: {"alerting": true, "last_alert_at": ms} while alerting
BUDGET_KEY = "budget-alert"  # job memory before episodes: the UTC day (its start) the budget alert went out
ADOPT_BATCH = 500


async def record(store: Store, job: Job, run: Run, failures: int, auto_disabled: str | None, now: int) -> bool:
    """Open or close the job's `failure` episode after its final attempt ended; True when one was opened or
    closed (its notice is then routed and sent)."""
    assert job.id is not None
    step = failure_step(job, run, failures, auto_disabled, await store.open_alert_episodes([job.id]), now)
    if step is None:
        return False
    changed = False
    for c in step.close:
        closed = await store.close_alert_episode(c.episode_id, now, c.data, quiet=c.quiet)
        changed |= closed and not c.quiet
    if step.open is not None:
        changed = bool(await store.open_alerts([step.open]))
    return changed


def _adopted(job_id: int, key: str, value: Any, name: str, now: int) -> AlertEpisode | None:
    """The episode a job's remembered alert state stands for, or None (nothing standing)."""
    if key == BUDGET_KEY:
        if not isinstance(value, int) or value != day_start(now):
            return None  # a budget alert of a day gone by: nothing stands
        text = f"💸 {name}: the daily budget is spent (told at {iso_utc(value)} or later)"
        return job_notices.budget_episode(job_id, value, text, now)
    if not isinstance(value, dict) or not value.get("alerting"):
        return None
    last = value.get("last_alert_at")
    at = int(last) if isinstance(last, int | float) and not isinstance(last, bool) else now
    text = f"🚨 {name} was failing when last alerted ({iso_utc(at)})"
    data = {"adopted": True, "last_alert_at": at}
    return AlertEpisode(job_subject(job_id), AlertKind.FAILURE, f"memory:{at}", text, at, job_id, data, since=at)


async def adopt_memory(store: Store, now: int) -> int:
    """Adopt the alert state jobs kept in their memory before episodes (see the module's docstring), in
    batches, and forget it; returns how many episodes this call recorded (another node adopting the same
    state at once records none of them twice)."""
    adopted = 0
    while True:
        found = await store.memory_alerts([ALERT_KEY, BUDGET_KEY], ADOPT_BATCH)
        standing = [_adopted(job_id, key, value, name, now) for job_id, key, value, name, live in found if live]
        episodes = [e for e in standing if e is not None]
        if episodes:
            adopted += len(await store.open_alerts(episodes, told=True))
        for job_id, key, *_ in found:  # forgotten once adopted: a fault before this adopts it again, once
            await store.set_memory(job_id, key, None, now)
        if len(found) < ADOPT_BATCH:
            return adopted
