"""Pings: how a check job's runs are reported from outside (`cronui ping`, `cronui exec`, `/ping/NAME`).

A check is a job cronui watches but never runs. Each ping is a run with trigger `ping`: a start is a run
`running` until its end ping closes it (or, past the job's timeout with no end, recovery records it
`interrupted`); an end with no open start is a run of its own. A ping also answers the job's slot: the
oldest unanswered slot (`next_run_at`) and any after it up to the ping's time (a little before a slot
counts for it, for a clock a little fast) — the newest of them is the ping's, the older ones are recorded
missed and the job's next fire moves past them, all in one store transaction (`Store.record_ping`), which
also weighs an end for the check's `--alert-after` (failed pings in a row open its `failure` episode, a
success closes it). A slot no ping answers within the job's grace is recorded missed by the scheduler
(`planning.py`).

A ping's end also tells the watched expectations what a run's final attempt does (`weigh`): a short or a
degraded run (engine/watching.py), in the pinging process; the process holding the scheduler sends the
notices.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cronui.engine import watching
from cronui.engine.clock import Clock
from cronui.engine.scheduler import plan_slots
from cronui.model import EventKind, Job, Run, RunEvent, RunStatus, Trigger
from cronui.model.alerts import AlertDefaults
from cronui.model.records import DueJob, PingWrite
from cronui.schedule import Schedule, ScheduleError
from cronui.schedule.multi import job_schedule
from cronui.store.base import Store, StoreError

log = logging.getLogger(__name__)

MESSAGE_CAP = 10_000  # characters of a ping's message kept (its tail: the end of a command's output)
EARLY_MS = 60_000  # a ping this much before a slot answers it (at most a quarter of the slot's period)
ERROR_CHARS = 300  # of a failed ping's message's last line: its error
TRIES = 5  # compare-and-set attempts against a planner moving the same job's next fire


class PingKind(enum.StrEnum):
    START = "start"
    SUCCESS = "success"
    FAIL = "fail"


@dataclass
class Ping:
    """One report: a start, a success or a failure, with an exit code and a message (or a command's
    output tail) when the reporter has them; `duration_ms` when it measured the run itself (`cronui exec`)."""

    kind: PingKind
    exit_code: int | None = None
    message: str = ""
    duration_ms: int | None = None


def ping_from_exit(code: int) -> Ping:
    """The end ping of a command that exited with `code` (0 is a success)."""
    return Ping(PingKind.SUCCESS if code == 0 else PingKind.FAIL, exit_code=code)


def _early_ms(schedule: Schedule, slot: int) -> int:
    following = schedule.next_after(slot)
    return EARLY_MS if following is None else min(EARLY_MS, (following - slot) // 4)


def _run(job: Job, ping: Ping, now: int) -> Run:
    assert job.id is not None
    message = ping.message[-MESSAGE_CAP:].replace("\x00", "\ufffd")  # a database's text holds no NUL
    run = Run(job_id=job.id, trigger=Trigger.PING, scheduled_for=now, job_name=job.name, queued_at=now)
    run.not_before = now
    run.output, run.output_bytes = message, len(message.encode())
    if ping.kind is PingKind.START:
        run.status, run.started_at = RunStatus.RUNNING, now
        run.lease_expires_at = now + int(job.timeout_s * 1000)  # then recovery records it interrupted
        return run
    run.status = RunStatus.SUCCEEDED if ping.kind is PingKind.SUCCESS else RunStatus.FAILED
    run.exit_code = ping.exit_code
    run.finished_at = now
    if ping.duration_ms is not None:
        run.started_at, run.duration_ms = now - ping.duration_ms, ping.duration_ms
    if run.status is RunStatus.FAILED:
        lines = message.strip().splitlines()
        run.error = lines[-1][-ERROR_CHARS:] if lines else None  # what a failing command said last
        run.error = run.error or (f"exit code {ping.exit_code}" if ping.exit_code is not None else "reported failed")
    return run


def plan_ping(job: Job, schedule: Schedule | None, ping: Ping, now: int) -> PingWrite:
    """What recording `ping` at `now` writes (see PingWrite): the run, and the slots it answers or passes."""
    run = _run(job, ping, now)
    write = PingWrite(run, closes=ping.kind is not PingKind.START)
    first = job.next_run_at
    if schedule is None or first is None or not job.enabled or job.id is None:
        return write
    early = _early_ms(schedule, first)
    if now < first - early:
        return write  # its slot was answered already (a second ping) or recorded missed: history only
    due = DueJob(job.id, job.name, job.schedule, job.timezone, first, job.misfire, job.misfire_grace_s)
    due.starts_at, due.ends_at = job.starts_at, job.ends_at
    plan = plan_slots(due, schedule, now + early, check=True)
    *missed, answered = plan.runs  # the newest slot is the ping's; a row is written for each older one
    for row in missed:
        row.queued_at = row.finished_at = now
    run.scheduled_for = answered.scheduled_for
    write.settles, write.expected, write.next_run_at, write.missed = True, first, plan.next_run_at, missed
    return write


def _events(run: Run, missed: int) -> list[RunEvent]:
    data = {"trigger": str(Trigger.PING), "scheduled_for": run.scheduled_for}
    if run.status is RunStatus.RUNNING:
        at = run.started_at or run.queued_at
        return [RunEvent(EventKind.STARTED, at, run.id, run.job_id, run.job_name, data=data)]
    data.update(status=str(run.status), exit_code=run.exit_code, missed_before=missed)
    at = run.finished_at or run.queued_at
    return [RunEvent(EventKind.FINISHED, at, run.id, run.job_id, run.job_name, data=data)]


async def record_ping(
    store: Store,
    clock: Clock,
    job: Job,
    ping: Ping,
    emit: Callable[[RunEvent], Awaitable[None]],
    wake: Callable[[], Awaitable[None]] | None = None,
) -> Run:
    """Record `ping` for check `job` (read again and planned anew when a planner moved its next fire
    meanwhile); the run as stored. When its end opened or closed the check's `failure` episode (decided in
    the store's transaction), `wake` tells the process holding the scheduler, which sends the notice."""
    for _ in range(TRIES):
        try:
            schedule = job_schedule(job) if job.enabled and job.next_run_at is not None else None
        except ScheduleError:  # a zone this system no longer knows: the ping is kept, as history
            schedule = None
        write = plan_ping(job, schedule, ping, clock.now_ms())
        stored = await store.record_ping(write)
        if stored is not None:
            stored.job_name = job.name
            for event in _events(stored, len(write.missed) if write.settles else 0):
                await emit(event)
            if write.alerted and wake is not None:
                await wake()
            return stored
        assert job.id is not None
        fresh = await store.get_job(job.id)
        if fresh is None:
            break
        job = fresh
    raise StoreError(f"job {job.name!r}: its ping could not be recorded (its schedule kept moving); try again")


async def weigh(store: Store, job: Job, run: Run, defaults: AlertDefaults, now: int) -> bool:
    """What a check's ping that ended a run tells its watched expectations, as a run's final attempt would:
    its `short` and `degraded` episodes (its `failure` episode is weighed in the ping's own transaction).
    True when the job is watched (the scheduling process is then woken to send what opened or closed)."""
    if not run.status.is_final or job.id is None or not watching.watched(job, defaults):
        return False
    await watching.after_run(store, job, run, defaults, now)
    return True
