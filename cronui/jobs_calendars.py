"""A job's calendars checked at save time (`--skip-calendar`, `--only-calendar`; job-file keys
`skip_calendar`, `only_calendar`): each must name a `[calendars.NAME]` table of the config. Called where a
job is validated (engine.control for the CLI, the API, MCP and the TUI; jobfile.entry for job files)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cronui.bounds import show
from cronui.jobs import JobError
from cronui.model import Job

CALENDAR_FIELDS = (("skip_calendar", "skip-calendar"), ("only_calendar", "only-calendar"))


def calendar_problems(job: Job, calendars: Mapping[str, Any]) -> Iterator[JobError]:
    """One problem per wrong calendar name (not a name, or no such calendar in the config)."""
    for attr, option in CALENDAR_FIELDS:
        names = getattr(job, attr)
        if not isinstance(names, list):
            yield JobError(option, f"expected a list of calendar names, got {show(names)}")
            continue
        for name in names:
            if not isinstance(name, str) or not name.strip():
                yield JobError(option, f"expected a calendar name, got {show(name)}")
            elif name not in calendars:
                known = ", ".join(sorted(calendars)) or "none configured"
                yield JobError(
                    option, f"unknown calendar {name!r} (configured calendars: {known}; add it as [calendars.{name}])"
                )


def check_calendars(job: Job, calendars: Mapping[str, Any]) -> None:
    """Raise the first of `calendar_problems`."""
    for error in calendar_problems(job, calendars):
        raise error
