"""Intervals and one-shots: ``every 15m``, ``at 2026-12-24T09:00`` and ``in 20m``.

Intervals count from 1970-01-01 00:00 UTC. One-shots are stored as ``at <local wall time>``; a wall
time that repeats means its first pass, and the rare second pass (``in 20m`` landing there) is
written with its offset: ``at 2026-10-25T02:10:00+01:00``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime

from cronui.schedule.errors import ScheduleError
from cronui.schedule.zones import MAX_YEAR, get_zone, resolve_wall, zone_table

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
EVERY_RE = re.compile(r"every[ \t]+([0-9]+)[ \t]*([smhd])", re.ASCII | re.IGNORECASE)
IN_RE = re.compile(r"in[ \t]+([0-9]+)[ \t]*([smhd])", re.ASCII | re.IGNORECASE)
AT_RE = re.compile(
    r"at[ \t]+([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt]|[ \t]+)([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"([+-][0-9]{2}:[0-9]{2})?",
    re.ASCII | re.IGNORECASE,
)
_MAX_EVERY_S = 366 * 86400
_MAX_IN_S = 10 * 366 * 86400


def _amount(number: str, unit: str, limit: int, what: str) -> int:
    unit = unit.lower()
    if len(number) > 12 or int(number) * _UNITS[unit] > limit:
        raise ScheduleError(f"{what} {number}{unit} is too long (at most {limit // 86400} days)")
    seconds = int(number) * _UNITS[unit]
    if seconds == 0:
        raise ScheduleError(f"{what} must be more than 0, got {number}{unit}")
    return seconds


def unit_word(unit: str) -> str:
    """'second', 'minute', 'hour' or 'day' for the unit letter."""
    return _UNIT_WORDS[unit]


def plural(n: int, unit: str) -> str:
    """'1 minute', '20 minutes'."""
    return f"{n} {unit_word(unit)}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Interval:
    seconds: int
    number: int
    unit: str

    @property
    def expr(self) -> str:
        return f"every {self.number}{self.unit}"


def parse_every(m: re.Match[str]) -> Interval:
    """An ``every`` interval from a match of EVERY_RE."""
    seconds = _amount(m[1], m[2], _MAX_EVERY_S, "every:")
    return Interval(seconds, int(m[1]), m[2].lower())


def parse_in(m: re.Match[str]) -> tuple[str, int]:
    """An ``in`` delay from a match of IN_RE: its normalized text and its length in seconds."""
    seconds = _amount(m[1], m[2], _MAX_IN_S, "in:")
    return f"in {int(m[1])}{m[2].lower()}", seconds


@dataclass(frozen=True)
class At:
    wall: datetime  # naive, whole seconds
    offset: int | None  # seconds east of UTC, only written to tell the second pass of a repeated hour apart

    @property
    def expr(self) -> str:
        return f"at {self.wall.isoformat(timespec='seconds')}{format_offset(self.offset)}"


def format_offset(offset: int | None) -> str:
    """'+01:00' for 3600 seconds east of UTC; '' for None."""
    if offset is None:
        return ""
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def parse_at(m: re.Match[str]) -> At:
    """A one-shot from a match of AT_RE, checked as a date and time (not yet in a zone)."""
    year, month, day, hour, minute = (int(m[i]) for i in range(1, 6))
    second = int(m[6]) if m[6] else 0
    if not 1970 <= year <= MAX_YEAR:
        raise ScheduleError(f"at: the year must be between 1970 and {MAX_YEAR}, got {year}")
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ScheduleError(f"at: {m[0][2:].strip()} is not a valid date and time") from None
    offset = None
    if m[7]:
        sign = -1 if m[7][0] == "-" else 1
        oh, om = int(m[7][1:3]), int(m[7][4:6])
        if oh > 23 or om > 59:
            raise ScheduleError(f"at: {m[7]} is not a valid UTC offset")
        offset = sign * (oh * 3600 + om * 60)
    return At(wall, offset)


def at_instant(at: At, tz: str) -> int:
    """The instant (UTC seconds) of a one-shot in zone `tz`."""
    zone = get_zone(tz)
    table = zone_table(tz)
    if at.offset is None:
        return resolve_wall(zone, table, at.wall)
    instant = calendar.timegm(at.wall.timetuple()) - at.offset
    if table.offset_at(instant) != at.offset:
        raise ScheduleError(
            f"at: {at.wall.isoformat(timespec='seconds')}{format_offset(at.offset)} is not a local time in {tz}"
        )
    return instant
