"""A job's schedules as people read them (`jobs show`, the API's job): every schedule with its reading, the
window (`starts`/`ends` and what it means now), and the next fires, each with what a clock change does to it."""

from __future__ import annotations

from typing import Any

from cronui.model import Job
from cronui.schedule import ScheduleError, get_zone
from cronui.schedule.dst import next_fires
from cronui.schedule.multi import job_schedule, readings
from cronui.schedule.window import format_time, window_state
from cronui.timefmt import iso_in_zone, iso_utc

NEXT_FIRES = 5


def window_json(job: Job) -> dict[str, Any]:
    """`starts` and `ends` as wall times in the job's zone (None: no bound)."""
    try:
        return {
            "starts": None if job.starts_at is None else format_time(job.starts_at, job.timezone),
            "ends": None if job.ends_at is None else format_time(job.ends_at, job.timezone),
        }
    except ScheduleError:  # a zone this system no longer knows: the instants in UTC
        return {"starts": iso_utc(job.starts_at), "ends": iso_utc(job.ends_at)}


def schedule_report(job: Job, now: int, count: int = NEXT_FIRES) -> dict[str, Any]:
    """`schedules` (each with its `reading`), `window` ("ends in 3 days"; None without one) and `next_runs`
    (`at` UTC, `local` in the job's zone, `note` on a clock change) from now on. A job disabled or past its
    end has no next runs; a schedule that no longer reads is reported in `schedule_problem`."""
    out: dict[str, Any] = {"window": window_state(job.starts_at, job.ends_at, now), "next_runs": []}
    try:
        out["schedules"] = [{"expr": e, "reading": r} for e, r in readings(job.schedule)]
        zone = get_zone(job.timezone)
        if job.enabled:
            out["next_runs"] = [
                {"at": iso_utc(t), "local": iso_in_zone(t, zone), "note": note}
                for t, note in next_fires(job_schedule(job, now), now, count)
            ]
    except ScheduleError as e:
        out.setdefault("schedules", [{"expr": job.schedule, "reading": None}])
        out["schedule_problem"] = str(e)
    return out
