"""`--alert-after N` / `--alert-cooldown` as one rule every writer of a job's final runs applies: what a run
that ended means for the job's `failure` episode, given the failures in a row after it and the episodes open.

Runs cronui runs itself are weighed after their end is recorded (engine/failure_alerts.py); a check's pings,
written by whichever process reports them, are weighed inside the store's ping transaction (store/
sql_pings.py). Both decide with `failure_step`, so the rule and its texts are one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cronui.model import FailureKind, Job, Run, RunStatus
from cronui.model.alerts import AlertEpisode, AlertKind, job_subject
from cronui.targets import DEFAULT_ALERT_AFTER, DEFAULT_ALERT_COOLDOWN_S

FAILURES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
RECOVERED_TEXT = "recovered_text"  # an episode's data: what its recovery says, when it says its own


@dataclass
class AlertDecision:
    text: str
    state: dict[str, Any] | None  # the job's new alert state (None: clear it)


def decide_alert(
    job: Job, run: Run, failures: int, auto_disabled: str | None, state: dict[str, Any] | None, now: int
) -> AlertDecision | None:
    """One alert after N consecutive failures, then quiet for the cooldown; one "recovered" message
    when the job next succeeds; an auto-disabled job always says so."""
    d = job.delivery
    if not d.alert_target:
        return None
    after = int(d.alert_after or DEFAULT_ALERT_AFTER)
    cooldown_ms = int(float(d.alert_cooldown_s or DEFAULT_ALERT_COOLDOWN_S) * 1000)
    state = state or {}
    if run.status is RunStatus.SUCCEEDED:
        if state.get("alerting"):
            return AlertDecision(f"✅ {job.name} recovered: run #{run.id} succeeded", None)
        return None
    if run.status not in FAILURES or run.failure_kind is FailureKind.INFRA:  # infra: one alert per endpoint
        return None
    if auto_disabled:
        return AlertDecision(
            f"⛔ {job.name} was auto-disabled: {auto_disabled}", {"alerting": True, "last_alert_at": now}
        )
    if failures < after:
        return None
    last = state.get("last_alert_at")
    if state.get("alerting") and last is not None and now - int(last) < cooldown_ms:
        return None
    text = f"🚨 {job.name} failed {failures} times in a row; last: {run.error or run.status} (run #{run.id})"
    return AlertDecision(text, {"alerting": True, "last_alert_at": now})


@dataclass
class Closing:
    """An open `failure` episode to close: with its recovery told (`data` carries what it says), or
    `quiet`ly (a repeat or an auto-disable makes way for an episode of its own)."""

    episode_id: int
    data: dict[str, Any] | None = None
    quiet: bool = False


@dataclass
class FailureStep:
    """What a final run writes of the job's `failure` episodes: those it closes, the one it opens."""

    close: list[Closing] = field(default_factory=list)
    open: AlertEpisode | None = None


def failure_step(
    job: Job, run: Run, failures: int, auto_disabled: str | None, episodes: Sequence[AlertEpisode], now: int
) -> FailureStep | None:
    """The rule (`decide_alert`) applied to the job's open episodes (`episodes`: those of any kind; its
    `failure` ones count): None when nothing changes. A repeat after the cooldown is an episode of its own
    (the run that made it, its key), the one before closed quietly; a success closes them, told."""
    assert job.id is not None
    open_now = [e for e in episodes if e.kind is AlertKind.FAILURE and e.id is not None]
    state = {"alerting": True, "last_alert_at": open_now[-1].opened_at} if open_now else None
    decision = decide_alert(job, run, failures, auto_disabled, state, now)
    if decision is None:
        return None
    step = FailureStep()
    for e in open_now:
        assert e.id is not None
        if decision.state is None:  # recovered
            step.close.append(Closing(e.id, {**e.data, RECOVERED_TEXT: decision.text}))
        else:
            step.close.append(Closing(e.id, quiet=True))
    if decision.state is not None:
        data = {"run_id": run.id, "failures": failures, "auto_disabled": auto_disabled}
        step.open = AlertEpisode(job_subject(job.id), AlertKind.FAILURE, str(run.id), decision.text, now, job.id, data)
    return step
