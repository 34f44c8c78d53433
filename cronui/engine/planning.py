"""Turning due jobs' slots into runs on the engine's loop: each job planned (`scheduler.plan_slots`), the
plans stored in one transaction, and their runs announced.

Planning is cheap per job whatever the outage (slots are counted, not walked), but a pass over many jobs
catching up still writes rows by the thousand: jobs on time go first, and planning hands back what is
left after PLAN_CHUNK_S, so what is due starts before the rest of a catch-up is planned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from cronui.engine.approvals import waiting_event
from cronui.engine.clock import Clock
from cronui.engine.events import EventBus
from cronui.engine.holds import slot_hold
from cronui.engine.scheduler import plan_slots
from cronui.model import EventKind, Job, RunEvent, RunStatus
from cronui.model.records import DueJob, SlotWrite
from cronui.schedule import Schedule, ScheduleError
from cronui.schedule.calendars import Calendar
from cronui.schedule.multi import job_schedule
from cronui.store.base import Store

log = logging.getLogger(__name__)

PLAN_CHUNK_S = 0.02  # planning done before it is stored and what is due starts; the rest follows
BEHIND_MS = 60_000  # a job whose slot is older than this is catching up: planned after the jobs on time


def on_time_first(due: list[DueJob], now: int) -> list[DueJob]:
    """Jobs on time first (in the store's order, by slot), then those catching up after an outage."""
    return sorted(due, key=lambda job: now - job.next_run_at > BEHIND_MS)


class Planner:
    """Plans and stores due slots; keeps each job's parsed schedule while its text stays the same."""

    def __init__(
        self, store: Store, bus: EventBus, clock: Clock, calendars: Mapping[str, Calendar] | None = None
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.calendars = calendars if calendars is not None else {}
        self.schedules: dict[int, tuple[tuple[str, str, int | None, int | None], Schedule]] = {}

    def schedule(self, job: Job | DueJob) -> Schedule:
        assert job.id is not None
        cached = self.schedules.get(job.id)
        key = (job.schedule, job.timezone, job.starts_at, job.ends_at)
        if cached is None or cached[0] != key:
            cached = (key, job_schedule(job))
            self.schedules[job.id] = cached
        return cached[1]

    async def materialize(self, due: list[DueJob], now: int, paused: bool) -> list[DueJob]:
        """Plan due jobs' slots and store them in one transaction, each job's guarded by the next fire it
        was planned from. Jobs on time are planned first; once planning has taken PLAN_CHUNK_S the rest is
        returned, to be planned after what is due has started (a catch-up after a long outage is counted,
        not walked, but still writes up to a thousand rows per job)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        writes: list[SlotWrite] = []
        names: dict[int, str] = {}
        for i, job in enumerate(due):
            if i and loop.time() - began > PLAN_CHUNK_S:
                left = due[i:]
                break
            assert job.id is not None
            names[job.id] = job.name
            try:
                hold = slot_hold(job, self.calendars)
                if job.check_grace_s is None:
                    plan = plan_slots(job, self.schedule(job), now, paused=paused, hold=hold)
                else:  # a check: its slots whose grace passed with no ping are missed
                    upto = now - int(job.check_grace_s * 1000)
                    plan = plan_slots(job, self.schedule(job), upto, paused=paused, check=True, hold=hold)
            except ScheduleError as e:  # e.g. a zone the system no longer knows: never a crash loop
                log.error("job %s: %s; it will not fire until edited", job.name, e)
                writes.append(SlotWrite(job.id, job.next_run_at, [], None))
                continue
            except Exception as e:  # one job's bad value (an overflowing duration...) is that job's alone
                log.error(
                    "job %s cannot be planned (%s: %s); it will not fire until edited", job.name, type(e).__name__, e
                )
                writes.append(SlotWrite(job.id, job.next_run_at, [], None))
                continue
            writes.append(SlotWrite(job.id, job.next_run_at, plan.runs, plan.next_run_at))
        else:
            left = []
        queued_at = self.clock.now_ms()
        for write in writes:
            for run in write.runs:
                run.queued_at = queued_at
                if run.finished_at is not None:
                    run.finished_at = queued_at
        for run in await self.store.materialize(writes):
            name = names[run.job_id]
            data = {"trigger": str(run.trigger), "scheduled_for": run.scheduled_for}
            if run.status is RunStatus.PENDING:
                self.bus.publish(RunEvent(EventKind.QUEUED, queued_at, run.id, run.job_id, name, data=data))
            elif run.status is RunStatus.AWAITING_APPROVAL:
                run.job_name = name
                self.bus.publish(waiting_event(run, queued_at))
            else:
                data.update(status=str(run.status), reason=run.reason, count=run.missed_count)
                self.bus.publish(RunEvent(EventKind.FINISHED, queued_at, run.id, run.job_id, name, data=data))
        return left
