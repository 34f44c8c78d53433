"""Why a due slot of a job must not run though its schedule says so: a day its calendars skip, or its timed
pause (`cronui jobs pause NAME --for 2h`). The planner (planning.py) asks once per job and pass; a held
slot is recorded skipped with the reason, `calendar` or `paused`, and the job's next slot is planned as
usual, so a pause ends by itself: the first slot at or after its end runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cronui.model import REASON_CALENDAR, REASON_PAUSED
from cronui.model.records import DueJob
from cronui.schedule.calendars import Calendar, calendar_hold


def slot_hold(job: DueJob, calendars: Mapping[str, Calendar]) -> Callable[[int], str | None] | None:
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
