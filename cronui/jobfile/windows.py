"""The job-file keys of several schedules and a window: `schedule = ["0 9 * * 1-5", "0 11 * * 0,6"]` (one
schedule stays a string) and `starts` / `ends` (ISO times in the job's zone, see cronui.schedule.window)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cronui.model import Job
from cronui.schedule import ScheduleError
from cronui.schedule.multi import join_specs, split_specs
from cronui.schedule.window import format_time, parse_time

if TYPE_CHECKING:
    from cronui.jobfile.entry import EntryReader

WINDOW_KEYS = ("starts", "ends")


def read_schedule(r: EntryReader, e: Mapping[str, Any]) -> str | None:
    """`schedule`: a string, or a list of strings (several schedules, stored as one text)."""
    value = e.get("schedule")
    if not isinstance(value, list):
        return r.text(e, "schedule", "schedule", required=True)
    if not value or not all(isinstance(v, str) and v.strip() for v in value):
        r.fail("schedule", 'expected a schedule or a list of them like ["0 9 * * 1-5", "0 11 * * 0,6"]')
        return None
    return join_specs(value)


def read_window(r: EntryReader, e: Mapping[str, Any], job: Job) -> None:
    """`starts` / `ends` read in the job's zone (a bad zone is reported at `timezone`)."""
    for key, attr in (("starts", "starts_at"), ("ends", "ends_at")):
        text = r.text(e, key, key)
        if text is None:
            continue
        try:
            setattr(job, attr, parse_time(text, job.timezone, key))
        except ScheduleError as err:
            if not any(k == "timezone" for k, _ in r.problems):
                r.fail(key, str(err).removeprefix(f"{key}: "))


def schedule_view(job: Job) -> dict[str, Any]:
    """`schedule` as a file writes it: a string for one, a list for several; and the window, if any."""
    try:
        specs = split_specs(job.schedule)
    except ScheduleError:
        specs = [job.schedule]
    out: dict[str, Any] = {"schedule": specs[0] if len(specs) == 1 else specs}
    for key, ms in (("starts", job.starts_at), ("ends", job.ends_at)):
        if ms is not None:
            try:
                out[key] = format_time(ms, job.timezone)
            except ScheduleError:
                out[key] = ms
    return out
