"""The scheduling process's part of approvals: the default applied to waiting runs past their deadline,
and the "needs approval" notice posted where the job delivers (once, whichever node sends it)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from cronui.engine import delivery
from cronui.engine.approvals import decision_event
from cronui.engine.events import EventBus
from cronui.model import APPROVE, Job, Run
from cronui.model.records import timeout_decision
from cronui.store.base import Store
from cronui.targets import DEFAULT_DELIVERY_FORMAT
from cronui.timefmt import iso_utc

log = logging.getLogger(__name__)

NOTICE_DELIVERED = "delivered"
NOTICE_NO_TARGET = "no delivery target"


def notice_text(job: Job, run: Run) -> str:
    """The "needs approval" notice: the job, the run, the deadline and what it becomes then, and the two
    commands that decide it."""
    then = "it runs" if run.approval_default == APPROVE else "it is rejected"
    return (
        f"✋ {job.name} #{run.id} needs approval: until {iso_utc(run.approval_deadline)}, then {then}\n"
        f"approve: cronui runs approve {run.id}\n"
        f"reject: cronui runs reject {run.id} --reason TEXT"
    )


def notice_payload(fmt: str, job: Job, run: Run) -> dict[str, Any]:
    text = notice_text(job, run)
    if fmt == "json":
        return {
            "job": job.name,
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
    return {"content": text} if fmt == "discord" else {"text": text}


def notice_targets(job: Job) -> list[str]:
    """Where the notice goes: the job's delivery target and its alert target (once each)."""
    d = job.delivery
    return list(dict.fromkeys(t for t in (d.to, d.alert_target) if t))


class Approvals:
    """The scheduling process's part: defaults applied at the deadline, notices sent once."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        http: Callable[[], httpx.AsyncClient],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        backoff_s: Callable[[], float],
    ) -> None:
        self.store = store
        self.bus = bus
        self.http = http  # () -> httpx.AsyncClient, the dispatcher's shared client
        self.spawn = spawn  # runs a posting in the background (the finisher's, so shutdown waits for it)
        self.backoff_s = backoff_s  # () -> the first pause between delivery attempts

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

    async def send_notices(self) -> None:
        """Post the "needs approval" notice of each waiting run not noticed yet (taken first, so one
        process sends it)."""
        for run in await self.store.take_approval_notices():
            job = await self.store.get_job(run.job_id)
            if job is None or not notice_targets(job):
                assert run.id is not None
                await self.store.note_approval_notice(run.id, NOTICE_NO_TARGET)
                continue
            self.spawn(self._post(job, run))

    async def _post(self, job: Job, run: Run) -> None:
        assert run.id is not None
        fmt = job.delivery.format or DEFAULT_DELIVERY_FORMAT
        body = notice_payload(fmt, job, run)
        notes = []
        for target in notice_targets(job):
            sent = await delivery.post(self.http(), target, body, os.environ, backoff_s=self.backoff_s())
            if sent.status != delivery.DELIVERED:
                log.warning("approval notice for %s #%s not delivered: %s", job.name, run.id, sent.reason)
                notes.append(f"{delivery.FAILED}: {sent.reason}")
        await self.store.note_approval_notice(run.id, "; ".join(notes) or NOTICE_DELIVERED)
