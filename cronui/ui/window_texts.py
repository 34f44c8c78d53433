"""The job editor's window fields (`starts`, `ends`: times in the job's zone) and the window in words for the
job list and the job's detail ("ends in 3 days")."""

from __future__ import annotations

from collections.abc import Mapping

from cronui.jobs import JobError
from cronui.model import Job
from cronui.schedule import ScheduleError
from cronui.schedule.window import format_time, parse_time, window_state

WINDOW_FIELDS = ["starts", "ends"]


def window_texts(job: Job) -> dict[str, str]:
    """The editor's texts of a job's window ('' for no bound)."""
    out = {}
    for key, ms in (("starts", job.starts_at), ("ends", job.ends_at)):
        try:
            out[key] = "" if ms is None else format_time(ms, job.timezone)
        except ScheduleError:
            out[key] = ""
    return out


def read_window(job: Job, v: Mapping[str, str]) -> list[JobError]:
    """The window typed in the editor (in the job's zone, read after it); a problem per field it cannot read."""
    errors = []
    for key, attr in (("starts", "starts_at"), ("ends", "ends_at")):
        text = v.get(key, "").strip()
        try:
            setattr(job, attr, parse_time(text, job.timezone, key) if text else None)
        except ScheduleError as e:
            errors.append(JobError(key, str(e).removeprefix(f"{key}: ")))
    return errors


def window_words(job: Job, now_ms: int) -> str | None:
    """ "starts in 2 days", "ends in 3 days", "ended 5 hours ago"; None for a job without a window."""
    return window_state(job.starts_at, job.ends_at, now_ms)
