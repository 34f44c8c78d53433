"""The scheduling process's part of approvals: the default applied to waiting runs past their deadline,
and the "needs approval" notice of each run that starts waiting — an alert episode of kind `approval` (one
per run, recorded closed: a notice of a moment), routed and sent through the alerts' outbox like a budget
notice (engine/job_notices.py): to the job's alert channels (`--alert-to`, else its delivery target, else
`[alerts] to`), when `--alert-on` / `[alerts] on` lets `approval` through; once however many nodes see the
run (the store hands each waiting run's notice to one of them, and the episode is unique on the run), retried
with backoff, listed by `cronui alerts`. A JSON webhook gets the run, its deadline and the two commands
beside the alert; every other channel the text, which names them too."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cronui.engine import job_notices
from cronui.engine.approvals import decision_event
from cronui.engine.events import EventBus
from cronui.model import APPROVE, Job, Run
from cronui.model.records import timeout_decision
from cronui.store.base import Store
from cronui.timefmt import iso_utc

log = logging.getLogger(__name__)

NOTICE_RECORDED = "recorded"  # the run's approval notice: an `approval` alert (`cronui alerts` says where it went)
NOTICE_NO_JOB = "no job"


async def _nothing() -> None:
    pass


def notice_text(job: Job, run: Run) -> str:
    """The "needs approval" notice: the job, the run, the deadline and what it becomes then, and the two
    commands that decide it."""
    then = "it runs" if run.approval_default == APPROVE else "it is rejected"
    return (
        f"✋ {job.name} #{run.id} needs approval: until {iso_utc(run.approval_deadline)}, then {then}\n"
        f"approve: cronui runs approve {run.id}\n"
        f"reject: cronui runs reject {run.id} --reason TEXT"
    )


def notice_fields(run: Run, text: str) -> dict[str, Any]:
    """What a JSON webhook gets beside the alert: the run, its slot, its deadline and default, the two
    commands that decide it, and the text (as `text`, where the notice had it before the outbox)."""
    return {
        "run_id": run.id,
        "needs_approval": True,
        "trigger": str(run.trigger),
        "scheduled_for": iso_utc(run.scheduled_for),
        "deadline": iso_utc(run.approval_deadline),
        "default": run.approval_default,
        "approve": f"cronui runs approve {run.id}",
        "reject": f"cronui runs reject {run.id} --reason TEXT",
        "text": text,
    }


class Approvals:
    """The scheduling process's part: defaults applied at the deadline, notices recorded once."""

    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        # routes and starts the alerts' sends due now (the engine's Watcher.send_now); none: the next pass does
        self.send_alerts: Callable[[], Awaitable[None]] = _nothing

    async def expire(self, now: int) -> int:
        """Apply the default of every waiting run whose deadline has passed; returns how many this
        process decided (another node may have decided some first)."""
        decided = 0
        for run in await self.store.due_approvals(now):
            done = await self.store.decide_approval(timeout_decision(run, now))
            if done is not None:
                decided += 1
                self.bus.publish(decision_event(done, now))
        return decided

    async def send_notices(self, now: int) -> int:
        """Record the "needs approval" notice of each waiting run not noticed yet (taken first, so one
        process records it) as an `approval` alert, and send what that opened; returns how many this call
        recorded."""
        runs = await self.store.take_approval_notices()
        if not runs:
            return 0
        jobs: dict[int, Job | None] = {}
        episodes = []
        for run in runs:
            if run.job_id not in jobs:
                jobs[run.job_id] = await self.store.get_job(run.job_id)
            job = jobs[run.job_id]
            if job is not None:
                text = notice_text(job, run)
                episodes.append(job_notices.approval_episode(job, run, text, notice_fields(run, text), now))
        opened = await self.store.open_alerts(episodes) if episodes else []
        for run in runs:
            assert run.id is not None
            await self.store.note_approval_notice(run.id, NOTICE_RECORDED if jobs[run.job_id] else NOTICE_NO_JOB)
        if opened:
            try:
                await self.send_alerts()
            except Exception:  # recorded: the next pass of the alerts routes and sends it
                log.exception("could not start sending the approval notices")
        return len(opened)
