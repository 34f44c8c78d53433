"""Turning due schedule slots into runs: on time, caught up, or recorded as missed.

Pure functions of (job, schedule, now): the engine stores what they return in one transaction, together
with the job's next fire, so a slot becomes a run exactly once however often this is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cronui.model import REASON_MISSED, REASON_PAUSED, MisfirePolicy, Run, RunStatus, Trigger
from cronui.schedule import Schedule

MISSED_ROWS_CAP = 1000  # one skipped row per missed slot up to this many per job and outage, then a summary
RUN_ALL_CAP = 100  # catch-up runs at most, with misfire run_all


class Plannable(Protocol):
    """What planning needs of a job (a Job, or the store's DueJob)."""

    @property
    def id(self) -> int | None: ...
    @property
    def next_run_at(self) -> int | None: ...
    @property
    def misfire(self) -> MisfirePolicy: ...
    @property
    def misfire_grace_s(self) -> float: ...


@dataclass
class SlotPlan:
    runs: list[Run] = field(default_factory=list)
    next_run_at: int | None = None
    due: int = 0  # slots that fell due
    missed: int = 0


def _skipped(job: Plannable, slot: int, now: int, reason: str, count: int = 1) -> Run:
    assert job.id is not None
    text = reason if count == 1 else f"{reason} ({count:,} slots)"
    return Run(
        job_id=job.id,
        trigger=Trigger.SCHEDULE,
        scheduled_for=slot,
        status=RunStatus.SKIPPED,
        reason=text,
        missed_count=count,
        queued_at=now,
        finished_at=now,
    )


def _pending(job: Plannable, slot: int, now: int, trigger: Trigger) -> Run:
    assert job.id is not None
    return Run(job_id=job.id, trigger=trigger, scheduled_for=slot, queued_at=now, not_before=slot)


def _kth_newest(schedule: Schedule, after: int, now: int, k: int) -> int:
    """The k-th newest fire in (after, now] (there are at least k >= 1): searched by counting, first in
    doubling steps back from now, then by halving, so its cost grows with the log of the outage."""
    lo, hi = after + 1, now + 1  # fires in [lo, now] are at least k; in [hi, now] fewer
    step = 1000
    while now - step > lo:
        if schedule.count_between(now - step - 1, now) >= k:
            lo = now - step
            break
        hi = now - step
        step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if schedule.count_between(mid - 1, now) >= k:
            lo = mid
        else:
            hi = mid
    return lo


def plan_slots(
    job: Plannable,
    schedule: Schedule,
    now: int,
    *,
    paused: bool = False,
    check: bool = False,
    hold: Callable[[int], str | None] | None = None,
) -> SlotPlan:
    """The runs for every slot of `job` from its next_run_at up to `now`, and its next fire after now.
    With `check` (a job cronui watches but never runs, called with `now` less its grace) every slot is one
    that no ping answered: each is recorded missed, none runs.

    The slots that fell due are counted, not walked (an every-second job down for two months has five
    million); only the newest ones rows are written for (catch-up runs, one `missed` row each) are
    visited. Its cost is bounded whatever the outage, so planning never holds up the other jobs.
    `hold` says of a slot why it must not run (a calendar's day, the job's timed pause), or None: a held
    slot is recorded skipped with that reason, and the others are planned as if it were not there."""
    plan = SlotPlan()
    first = job.next_run_at
    if first is None or first > now:
        plan.next_run_at = first
        return plan

    count = 1 + schedule.count_between(first, now)  # `first` and every later fire up to now
    keep = MISSED_ROWS_CAP + RUN_ALL_CAP + 1  # the newest slots we may write rows for
    oldest_dropped: int | None = None
    start: int | None = first
    if count > keep:
        oldest_dropped = first
        start = _kth_newest(schedule, first, now, keep)
    slots: list[int] = []
    slot = start
    while slot is not None and slot <= now:
        slots.append(slot)
        slot = schedule.next_after(slot)
    plan.next_run_at = slot
    plan.due = count
    dropped = count - len(slots)
    held: list[Run] = []
    if hold is not None:
        kept = []
        for due in slots:
            why = hold(due)
            if why is None:
                kept.append(due)
            else:
                held.append(_skipped(job, due, now, why))
        slots = kept

    grace_ms = int(job.misfire_grace_s * 1000)
    to_run: list[tuple[int, Trigger]] = []
    if paused or check:
        rest = slots
        reason = REASON_PAUSED if paused else REASON_MISSED
    elif not slots:  # every slot held
        reason, rest = REASON_MISSED, []
    else:
        reason = REASON_MISSED
        latest = slots[-1]
        on_time = now - latest <= grace_ms
        if on_time:
            to_run.append((latest, Trigger.SCHEDULE))
            older = slots[:-1]
        else:
            older = slots
        if job.misfire is MisfirePolicy.RUN_ALL:
            catch = older[-RUN_ALL_CAP:]
            to_run[:0] = [(s, Trigger.CATCHUP) for s in catch]
            rest = older[: len(older) - len(catch)]
        elif job.misfire is MisfirePolicy.RUN_ONCE and not on_time:
            to_run.append((older[-1], Trigger.CATCHUP))
            rest = older[:-1]
        else:
            rest = older

    # Slots that will not run: one row each for the newest MISSED_ROWS_CAP, one summary row for the rest.
    individual = rest[-MISSED_ROWS_CAP:]
    summarized = len(rest) - len(individual) + dropped
    if summarized:
        anchor = oldest_dropped if oldest_dropped is not None else rest[0]
        plan.runs.append(_skipped(job, anchor, now, reason, summarized))
    plan.runs.extend(_skipped(job, s, now, reason) for s in individual)
    plan.runs.extend(held)
    plan.runs.extend(_pending(job, s, now, t) for s, t in to_run)
    plan.missed = len(rest) + dropped
    return plan
