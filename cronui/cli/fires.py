"""`jobs show`'s lines about when the job fires next: its timed pause, its calendars, and its next fires in
its own zone, a fire its calendars or its pause will skip struck out (`~~Thu 24 Dec 09:00 CET~~ (skipped:
calendar)`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cronui.cli.common import say
from cronui.model import Job
from cronui.schedule import get_zone
from cronui.timefmt import human_span


def fire_text(at: dt.datetime) -> str:
    return f"{at.strftime('%a %Y-%m-%d %H:%M')} {at.tzname() or ''}".rstrip()


def fire_lines(job: Job, fires: list[dict[str, Any]]) -> list[str]:
    zone = get_zone(job.timezone)
    lines = []
    for fire in fires:
        text = fire_text(dt.datetime.fromisoformat(fire["at"].replace("Z", "+00:00")).astimezone(zone))
        lines.append(f"~~{text}~~ (skipped: {fire['skipped']})" if fire["skipped"] else text)
    return lines


def say_next_fires(job: Job, fires: list[dict[str, Any]], now: int) -> None:
    if job.paused_until is not None and job.paused_until > now:
        until = fire_text(dt.datetime.fromtimestamp(job.paused_until / 1000, get_zone(job.timezone)))
        say(f"  paused     until {until} ({human_span(job.paused_until - now)} left; `cronui jobs resume` ends it)")
    if job.skip_calendar:
        say(f"  calendars  skips {', '.join(job.skip_calendar)}")
    if job.only_calendar:
        say(f"  calendars  only on {', '.join(job.only_calendar)}")
    for i, line in enumerate(fire_lines(job, fires)):
        say(f"  {'next fires' if i == 0 else '':<10} {line}")
