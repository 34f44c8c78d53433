"""A job's window, `--starts AT` / `--ends AT`: the times as people write them, and what the window says now.

A time is ISO 8601 read in the job's zone: ``2026-04-01``, ``2026-04-01T09:00``, ``2026-04-01 09:00:30``,
or with an offset (``2026-10-25T02:30+01:00``, ``...Z``) when the wall time is not enough. A wall time that
repeats when clocks go back means its first pass; one a spring-forward skips means the end of the gap, as
for one-shots. Written back (export, `jobs show`), a time is its wall time in the zone, with the offset only
where the wall time alone would read as another instant.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime

from cronui.schedule.errors import ScheduleError, show
from cronui.schedule.intervals import format_offset
from cronui.schedule.zones import MAX_S, MIN_S, get_zone, resolve_wall, utc, zone_table

_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:(?:[Tt]|[ \t]+)([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?"
    r"[ \t]*(Z|z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)


def parse_time(text: object, timezone: str, what: str = "time") -> int:
    """An ISO time (see the module) in `timezone` as UTC epoch ms; ScheduleError names what is wrong."""
    if not isinstance(text, str):
        raise ScheduleError(f"{what}: expected a date and time such as 2026-04-01T09:00, not {type(text).__name__}")
    m = _TIME_RE.fullmatch(text.strip())
    if m is None:
        raise ScheduleError(f"{what}: expected a date and time such as 2026-04-01T09:00, got {show(text)}")
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    hour, minute, second = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ScheduleError(f"{what}: {text.strip()!r} is not a valid date and time") from None
    zone = get_zone(timezone)
    if m[7] is None:
        instant = resolve_wall(zone, zone_table(timezone), wall)
    else:
        off = m[7].replace(":", "")
        seconds = 0 if off in ("Z", "z") else (-1 if off[0] == "-" else 1) * (int(off[1:3]) * 3600 + int(off[3:5]) * 60)
        instant = calendar.timegm(wall.timetuple()) - seconds
    if not MIN_S <= instant <= MAX_S:
        raise ScheduleError(f"{what}: {text.strip()!r} is outside the supported years")
    return instant * 1000


def format_time(ms: int, timezone: str) -> str:
    """UTC epoch ms as the wall time in `timezone` (`2026-04-01T09:00`), with its offset only when the wall
    time alone reads as another instant; `parse_time` reads it back to the same ms (whole seconds)."""
    zone = get_zone(timezone)
    local = utc(ms // 1000).astimezone(zone)
    wall = local.replace(tzinfo=None)
    text = wall.isoformat(timespec="minutes" if wall.second == 0 else "seconds")
    if resolve_wall(zone, zone_table(timezone), wall) != ms // 1000:
        off = local.utcoffset()
        assert off is not None
        text += format_offset(int(off.total_seconds()))
    return text


def _amount(ms: int) -> str:
    s = abs(ms) // 1000
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size:
            n = s // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "less than a minute"


def window_state(starts_ms: int | None, ends_ms: int | None, now_ms: int) -> str | None:
    """What the window means now, for a job list or detail: "starts in 2 days", "ends in 3 days", "ended
    5 hours ago"; None for a job without a window."""
    if starts_ms is not None and now_ms < starts_ms:
        return f"starts in {_amount(starts_ms - now_ms)}"
    if ends_ms is not None:
        if now_ms > ends_ms:
            return f"ended {_amount(now_ms - ends_ms)} ago"
        return f"ends in {_amount(ends_ms - now_ms)}"
    if starts_ms is not None:
        return f"started {_amount(now_ms - starts_ms)} ago"
    return None
