"""A job's next fires as `jobs show` and the API show them: each with why it will be skipped, when its
calendars or its timed pause hold it (`{"at": ISO, "skipped": "calendar"}`; `skipped` null: it runs)."""

from __future__ import annotations

from typing import Any

from cronui.application.context import Cronui
from cronui.engine.holds import next_fires
from cronui.model import Job
from cronui.schedule import ScheduleError
from cronui.timefmt import iso_utc


def fires_report(app: Cronui, job: Job, now: int) -> list[dict[str, Any]]:
    """The next fires of `job` ([] for a schedule that no longer parses: `jobs show` warns of it)."""
    try:
        fires = next_fires(job, job.schedule, app.settings.calendars, now)
    except ScheduleError:
        return []
    return [{"at": iso_utc(at), "skipped": why} for at, why in fires]
