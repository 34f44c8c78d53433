"""What a run's end tells the alerts: a successful run shorter than `--alert-short` opens a `short` episode
(a later successful run that is not short closes it: `recovered`), and a success rate below `--alert-rate`
over the job's last N finished runs opens `degraded` (closed when the rate is back). Decided once per
final attempt, from one bounded query (the last N outcomes come from SQL's LIMIT), in a task of its own.
"""

from __future__ import annotations

import logging

from cronui.alert_options import DEFAULT_RATE_RUNS
from cronui.engine.alerts import close_alert, raise_alert
from cronui.model import Job, Run, RunStatus
from cronui.model.alerts import AlertDefaults, AlertKind, job_subject
from cronui.store.base import Store
from cronui.store.faults import StoreFault
from cronui.timefmt import human_span

log = logging.getLogger(__name__)

COUNTED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)


def short_span(job: Job, defaults: AlertDefaults) -> float | None:
    return job.alert_short_s if job.alert_short_s is not None else defaults.short_s


def rate_rule(job: Job, defaults: AlertDefaults) -> tuple[float, int] | None:
    """(percent, runs) of the job's `--alert-rate`, else the `[alerts]` default, else None."""
    if job.alert_rate_pct is not None:
        return job.alert_rate_pct, job.alert_rate_n or DEFAULT_RATE_RUNS
    if defaults.rate_pct is not None:
        return defaults.rate_pct, defaults.rate_n or DEFAULT_RATE_RUNS
    return None


def watched(job: Job, defaults: AlertDefaults) -> bool:
    """Whether a run's end has anything to tell the alerts (`short` or `degraded` is set for the job)."""
    return short_span(job, defaults) is not None or rate_rule(job, defaults) is not None


async def after_run(store: Store, job: Job, run: Run, defaults: AlertDefaults, now: int) -> None:
    """Open or close the job's `short` and `degraded` episodes after its final attempt ended; a failure here
    is logged and never reaches the run."""
    try:
        await _short(store, job, run, defaults, now)
        await _degraded(store, job, run, defaults, now)
    except StoreFault as e:
        log.warning("could not weigh run #%s of %s for alerts (a database fault): %s", run.id, job.name, e)
    except Exception:
        log.exception("could not weigh run #%s of %s for alerts", run.id, job.name)


async def _short(store: Store, job: Job, run: Run, defaults: AlertDefaults, now: int) -> None:
    span = short_span(job, defaults)
    if span is None or run.status is not RunStatus.SUCCEEDED or run.duration_ms is None or job.id is None:
        return
    subject = job_subject(job.id)
    if run.duration_ms < span * 1000:
        text = f"⚡ {job.name}: run #{run.id} succeeded in {human_span(run.duration_ms)} (expected at least "
        text += f"{human_span(span * 1000)})"
        data = {"run_id": run.id, "duration_ms": run.duration_ms}
        await raise_alert(store, subject, AlertKind.SHORT, str(run.id), text, data, job.id, now=now)
        return
    await close_alert(store, subject, AlertKind.SHORT, now=now)


async def _degraded(store: Store, job: Job, run: Run, defaults: AlertDefaults, now: int) -> None:
    rule = rate_rule(job, defaults)
    if rule is None or run.status not in COUNTED or job.id is None:
        return
    pct, n = rule
    finished, succeeded = await store.latest_outcomes(job.id, n)
    if finished < n:  # too few runs yet to weigh
        return
    rate = 100.0 * succeeded / finished
    subject = job_subject(job.id)
    if rate >= pct:
        await close_alert(store, subject, AlertKind.DEGRADED, now=now)
        return
    if any(e.kind is AlertKind.DEGRADED for e in await store.open_alert_episodes([job.id])):
        return  # one episode until the rate is back
    text = f"📉 {job.name}: {succeeded} of the last {finished} runs succeeded ({rate:.0f}%, expected {pct:g}%)"
    data = {"run_id": run.id, "succeeded": succeeded, "finished": finished, "pct": pct}
    await raise_alert(store, subject, AlertKind.DEGRADED, str(run.id), text, data, job.id, now=now)
