"""Why a due slot of a job must not run though its schedule says so: a day its calendars skip, or its timed
pause (`cronui jobs pause NAME --for 2h`). The planner (planning.py) asks once per job and pass; a held
slot is recorded skipped with the reason, `calendar` or `paused`, and the job's next slot is planned as
usual, so a pause ends by itself: the first slot at or after its end runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from cronui.model import REASON_CALENDAR, REASON_PAUSED
from cronui.schedule import parse
from cronui.schedule.calendars import Calendar, calendar_hold

NEXT_FIRES = 5  # the fires `jobs show` and the editor list


class Held(Protocol):
    """What holding a job's slots needs of it (a Job, or the store's DueJob)."""

    @property
    def timezone(self) -> str: ...
    @property
    def skip_calendar(self) -> Sequence[str]: ...
    @property
    def only_calendar(self) -> Sequence[str]: ...
    @property
    def paused_until(self) -> int | None: ...


def slot_hold(job: Held, calendars: Mapping[str, Calendar]) -> Callable[[int], str | None] | None:
    """The test of a slot (epoch ms) giving why it is held, or None when it runs; None when nothing holds
    any slot of the job."""
    on_calendar = calendar_hold(job.skip_calendar, job.only_calendar, job.timezone, calendars)
    until = job.paused_until
    if on_calendar is None and until is None:
        return None

    def hold(slot: int) -> str | None:
        if until is not None and slot < until:
            return REASON_PAUSED
        if on_calendar is not None and on_calendar(slot):
            return REASON_CALENDAR
        return None

    return hold


def next_fires(
    job: Held, schedule: str, calendars: Mapping[str, Calendar], now: int, n: int = NEXT_FIRES
) -> list[tuple[int, str | None]]:
    """The job's next `n` fires after `now`, each with why it will be skipped (None: it runs)."""
    hold = slot_hold(job, calendars)
    fires = parse(schedule, job.timezone, now_ms=now).next_n(now, n)
    return [(at, None if hold is None else hold(at)) for at in fires]


def fires_held(job: Held | None, zone: str, calendars: Mapping[str, Calendar]) -> Callable[[int], str | None] | None:
    """For the editor's preview: why a fire of the job edited (None: a new job) will be skipped, judged in
    `zone` (the zone the form holds)."""
    if job is None:
        return None
    return slot_hold(_InZone(job, zone), calendars)


class _InZone:
    """A job's holds seen in another zone (the editor's, before it is saved)."""

    def __init__(self, job: Held, zone: str) -> None:
        self.timezone = zone
        self.skip_calendar = job.skip_calendar
        self.only_calendar = job.only_calendar
        self.paused_until = job.paused_until
