"""Why a job did not run, or will not run next (MCP's `why_not_run`): every reason that holds, each a line
with its evidence (the run, the time, the number), read from the job, the store's skip reasons
(`cronui.model.REASON_*`), the pause flag, the scheduler's lease, the nodes, the budgets and approvals.

Runs turned away are read since the job last started a run (what happened before that no longer holds it
back), among its latest WINDOW runs: the answer is bounded whatever the job's history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cronui.application.context import Cronui
from cronui.application.jobs import budget_report, get_job
from cronui.application.reports import live_holder
from cronui.engine.control import PAUSED_KEY
from cronui.model import (
    REASON_APPROVALS_FULL,
    REASON_BUDGET,
    REASON_GATE,
    REASON_MISSED,
    REASON_OVERLAP,
    REASON_PAUSED,
    REASON_QUEUE_FULL,
    REASON_REJECTED,
    Job,
    OverlapPolicy,
    Run,
    RunStatus,
)
from cronui.model.records import RunFilter
from cronui.placement import unplaced_warnings
from cronui.timefmt import iso_utc

WINDOW = 50  # the latest runs of the job read for skips
SKIPS = (  # a skipped run's reason (its first words) -> the reason named, in the order they are told
    (REASON_BUDGET, "budget"),
    (REASON_GATE, "gate"),
    (REASON_OVERLAP, "overlap"),
    (REASON_QUEUE_FULL, "overlap"),
    (REASON_APPROVALS_FULL, "approval"),
    (REASON_REJECTED, "approval"),
    (REASON_MISSED, "missed"),
    (REASON_PAUSED, "paused"),
)


def _reason(code: str, line: str, **evidence: Any) -> dict[str, Any]:
    return {"reason": code, "line": line, "evidence": evidence}


def _job_reasons(job: Job) -> list[dict[str, Any]]:
    out = []
    if job.is_check:
        out.append(_reason("check", f"{job.name} is a check: cronui never runs it, pings from outside report its runs"))
    if not job.enabled:
        if job.auto_disabled:
            out.append(_reason("disabled", f"disabled by cronui: {job.auto_disabled}", auto_disabled=job.auto_disabled))
        else:
            out.append(_reason("disabled", "disabled: it has no next run until it is enabled (resume_job)"))
    elif job.next_run_at is None and not job.is_check:
        out.append(_reason("no_next_fire", f"its schedule {job.schedule!r} never fires again", schedule=job.schedule))
    return out


def _skip_reasons(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One reason per kind of skip among `runs` (newest first): the latest such run, and how many slots."""
    seen: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.status is not RunStatus.SKIPPED or not run.reason:
            continue
        code = next((c for prefix, c in SKIPS if run.reason.startswith(prefix)), None)
        if code is None:
            continue
        found = seen.get(code)
        if found is None:
            seen[code] = {"run": run, "slots": run.missed_count, "runs": 1}
        else:
            found["slots"] += run.missed_count
            found["runs"] += 1
    out = []
    for code, found in seen.items():
        run = found["run"]
        slot = iso_utc(run.scheduled_for)
        if code == "missed":
            line = f"missed while no scheduler ran: {found['slots']} slot(s), the latest {slot} (run #{run.id})"
        elif code == "paused":
            line = (
                f"skipped while the scheduler was paused: {found['slots']} slot(s), the latest {slot} (run #{run.id})"
            )
        else:
            line = f"run #{run.id} for {slot} was skipped: {run.reason}"
        out.append(_reason(code, line, run=run.id, slot=slot, skipped_reason=run.reason, slots=found["slots"]))
    return out


def _active_reasons(job: Job, active: Sequence[Run], now: int) -> list[dict[str, Any]]:
    out = []
    for run in active:
        if run.status is RunStatus.AWAITING_APPROVAL:
            deadline = iso_utc(run.approval_deadline)
            out.append(
                _reason(
                    "approval",
                    f"run #{run.id} waits for approval (approve_run / reject_run) until {deadline}, then "
                    f"{run.approval_default or 'reject'}",
                    run=run.id,
                    deadline=deadline,
                    default=run.approval_default,
                )
            )
    running = [r for r in active if r.status is RunStatus.RUNNING]
    if running and job.overlap is not OverlapPolicy.ALLOW:
        run = running[-1]
        then = "its next slot is skipped" if job.overlap is OverlapPolicy.SKIP else "its next run waits in the queue"
        out.append(
            _reason(
                "overlap",
                f"run #{run.id} is still running (since {iso_utc(run.started_at)}); with overlap {job.overlap}, {then}",
                run=run.id,
                started_at=iso_utc(run.started_at),
                overlap=str(job.overlap),
            )
        )
    for run in active:
        if run.status is RunStatus.PENDING and run.not_before > now:
            out.append(
                _reason(
                    "waiting",
                    f"run #{run.id} ({run.trigger}) waits to start until {iso_utc(run.not_before)}",
                    run=run.id,
                    not_before=iso_utc(run.not_before),
                )
            )
    return out


async def _budget_reasons(app: Cronui, job: Job, now: int) -> list[dict[str, Any]]:
    out = []
    for which, budget in (await budget_report(app, job, now)).items():
        if budget["spent_usd"] >= budget["daily_usd"]:
            whose = {
                "job": "the job's daily budget",
                "owner": f"{job.owner}'s daily budget ([policy] daily_budget_usd)",
            }.get(which, "[budget] daily_usd (all agent jobs)")
            out.append(
                _reason(
                    "budget",
                    f"budget spent: ${budget['spent_usd']:.4f} today (UTC) of {whose}, ${budget['daily_usd']:g}",
                    **budget,
                    scope=which,
                )
            )
    return out


async def _scheduler_reasons(app: Cronui) -> list[dict[str, Any]]:
    out = []
    if await app.control.paused():
        since = await app.store.get_state(PAUSED_KEY)
        at = iso_utc(int(since)) if since and since.isdigit() else None
        out.append(
            _reason("paused", f"the scheduler is paused (since {at}): no job runs until it is resumed", since=at)
        )
    if not await live_holder(app.store):
        lease = await app.store.get_lease()
        if lease is None:
            out.append(_reason("no_scheduler", "no scheduler is running: start `cronui --no-ui` or `cronui serve`"))
        else:
            out.append(
                _reason(
                    "no_scheduler",
                    f"no scheduler is alive: the last one ({lease.host}:{lease.pid}) let its lease expire at "
                    f"{iso_utc(lease.expires_at)}",
                    host=lease.host,
                    pid=lease.pid,
                    expired_at=iso_utc(lease.expires_at),
                )
            )
    return out


async def why_not_run(app: Cronui, name: str) -> dict[str, Any]:
    """`{job, enabled, next_run_at, last_status, reasons: [{reason, line, evidence}]}`: every reason that holds
    (`reason` one of check, disabled, no_next_fire, paused, no_scheduler, node_label, budget, approval,
    overlap, waiting, gate, missed); none when nothing holds the job back."""
    job = await get_job(app, name)
    assert job.id is not None
    now = app.now_ms()
    reasons = _job_reasons(job)
    reasons += await _scheduler_reasons(app)
    for line in await unplaced_warnings(app.store, [job], now):
        reasons.append(_reason("node_label", line, node_label=job.node_label))
    reasons += await _budget_reasons(app, job, now)
    active = await app.store.list_runs(
        RunFilter(
            job_id=job.id,
            statuses=[RunStatus.AWAITING_APPROVAL, RunStatus.RUNNING, RunStatus.PENDING],
            limit=WINDOW,
        )
    )
    reasons += _active_reasons(job, active, now)
    latest = await app.store.list_runs(RunFilter(job_id=job.id, limit=WINDOW))  # newest first
    since_ran = []
    for run in latest:
        if run.started_at is not None and run.status is not RunStatus.SKIPPED:
            break
        since_ran.append(run)
    told = {r["reason"] for r in reasons}
    reasons += [r for r in _skip_reasons(since_ran) if r["reason"] not in told]
    return {
        "job": job.name,
        "enabled": job.enabled,
        "next_run_at": iso_utc(job.next_run_at),
        "last_status": str(job.last_status) if job.last_status else None,
        "reasons": reasons,
    }
