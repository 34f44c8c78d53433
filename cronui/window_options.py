"""`--schedule` given more than once, and `--starts AT` / `--ends AT`: a job's several schedules and the window
they fire in (times ISO 8601 in the job's zone; '' removes a bound)."""

from __future__ import annotations

import argparse
from typing import Any

from cronui.jobs import JobError
from cronui.model import Job
from cronui.schedule import ScheduleError
from cronui.schedule.multi import join_specs
from cronui.schedule.window import parse_time


def add_window_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("window (times in the job's zone, e.g. 2026-04-01T09:00)")
    g.add_argument("--starts", metavar="AT", help="no run before AT ('' removes the start)")
    g.add_argument("--ends", metavar="AT", help="no run after AT; a job past its end schedules nothing ('' removes)")


def schedule_text(given: list[str] | str | None) -> str | None:
    """The stored schedule text of `--schedule` given once or more (None when not given)."""
    if given is None or isinstance(given, str):
        return given
    return join_specs(given)


def apply_window_options(job: Job, a: argparse.Namespace) -> None:
    for option, attr in (("starts", "starts_at"), ("ends", "ends_at")):
        value = getattr(a, option, None)
        if value is None:
            continue
        try:
            setattr(job, attr, parse_time(value, job.timezone, f"--{option}") if value.strip() else None)
        except ScheduleError as e:
            raise JobError(option, str(e).removeprefix(f"--{option}: "), hint=f"--{option}") from None


def schedule_lines(job: Job, data: dict[str, Any]) -> list[str]:
    """`jobs show`'s lines about when the job runs: each schedule with its reading, the window, the next fires
    in the job's zone (a clock change's effect beside a fire), from `application.schedule_view`."""
    lines = []
    for i, s in enumerate(data.get("schedules") or [{"expr": job.schedule, "reading": None}]):
        label = "schedule" if i == 0 else ""
        reading = f"  — {s['reading']}" if s["reading"] else ""
        lines.append(f"  {label:<10} {s['expr']}{reading}" + (f" ({job.timezone})" if i == 0 else ""))
    if data.get("schedule_problem"):
        lines.append(f"  {'':<10} cannot be read: {data['schedule_problem']}")
    bounds = [f"{word} {data[key]}" for word, key in (("from", "starts"), ("until", "ends")) if data.get(key)]
    if bounds:
        lines.append(f"  window     {' '.join(bounds)} · {data['window']}")
    fires = data.get("next_runs") or []
    if not fires:
        lines.append(f"  next run   {'— (past its end)' if job.ends_at is not None and job.enabled else '—'}")
    for i, fire in enumerate(fires):
        label = "next runs" if i == 0 else ""
        note = f"  ({fire['note']})" if fire["note"] else ""
        lines.append(f"  {label:<10} {fire['local'].replace('T', ' ')}{note}")
    return lines
