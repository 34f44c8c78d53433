"""How instants and spans read on screen: the zone a time is shown in, countdowns and elapsed times.

Every instant is UTC epoch ms until it is drawn. The `t` key cycles the zone mode for the whole app:
each job's own zone (the default: a schedule is read in its zone), the configured local zone, or UTC.
"""

from __future__ import annotations

import enum
from datetime import datetime

from cronui.schedule import ScheduleError, get_zone
from cronui.timefmt import human_span


class ZoneMode(enum.StrEnum):
    JOB = "job"
    LOCAL = "local"
    UTC = "utc"

    def next(self) -> ZoneMode:
        order = list(ZoneMode)
        return order[(order.index(self) + 1) % len(order)]

    def label(self, local_zone: str) -> str:
        if self is ZoneMode.JOB:
            return "job zone"
        if self is ZoneMode.LOCAL:
            return f"local ({local_zone})"
        return "UTC"


def zone_for(mode: ZoneMode, job_zone: str | None, local_zone: str) -> str:
    if mode is ZoneMode.UTC:
        return "UTC"
    if mode is ZoneMode.LOCAL or not job_zone:
        return local_zone
    return job_zone


def _dt(ms: int, zone: str) -> datetime:
    try:
        tz = get_zone(zone)
    except ScheduleError:
        tz = get_zone("UTC")
    return datetime.fromtimestamp(ms / 1000, tz)


def short_time(ms: int | None, zone: str, now_ms: int) -> str:
    """A run's time in a list, in 12 cells: 'Mon 09:00:00' within six days, '20 Feb 09:00' within
    the year, else '2025-02-20'."""
    if ms is None:
        return "—"
    dt = _dt(ms, zone)
    if abs(now_ms - ms) < 6 * 86_400_000:
        return dt.strftime("%a %H:%M:%S")
    if abs(now_ms - ms) < 330 * 86_400_000:
        return dt.strftime("%d %b %H:%M")
    return dt.strftime("%Y-%m-%d")


def fire_time(ms: int, zone: str) -> str:
    """A fire time in the editor's preview: 'Mon 02 Mar 09:00 CET'."""
    dt = _dt(ms, zone)
    text = dt.strftime("%a %d %b %H:%M")
    if dt.second:
        text += dt.strftime(":%S")
    return f"{text} {dt.tzname() or ''}".rstrip()


def full_time(ms: int | None, zone: str) -> str:
    """A precise instant for the run detail: '2026-03-02 09:00:00.004 CET'."""
    if ms is None:
        return "—"
    dt = _dt(ms, zone)
    return f"{dt.strftime('%Y-%m-%d %H:%M:%S')}.{ms % 1000:03d} {dt.tzname() or ''}".rstrip()


def same_day_time(ms: int, ref_ms: int, zone: str) -> str:
    """`full_time`, or its time of day alone when it falls on `ref_ms`'s day: '09:00:51.210'."""
    dt = _dt(ms, zone)
    if dt.date() != _dt(ref_ms, zone).date():
        return full_time(ms, zone)
    return f"{dt.strftime('%H:%M:%S')}.{ms % 1000:03d}"


def clock_span(ms: int) -> str:
    """Elapsed or remaining time as a ticking clock: '00:41', '12:03', '1:02:03', '3d04h'."""
    s = max(0, ms) // 1000
    if s < 3600:
        return f"{s // 60:02d}:{s % 60:02d}"
    if s < 86_400:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"


def countdown(target_ms: int | None, now_ms: int) -> str:
    """Until the next fire: 'in 00:41' under an hour, 'in 14h02m' under two days, else 'in 3d04h'."""
    if target_ms is None:
        return "—"
    delta = target_ms - now_ms
    if delta <= 0:
        return "due"
    s = (delta + 999) // 1000
    if s < 3600:
        return f"in {s // 60:02d}:{s % 60:02d}"
    if s < 48 * 3600:
        return f"in {s // 3600}h{s % 3600 // 60:02d}m"
    return f"in {s // 86_400}d{s % 86_400 // 3600:02d}h"


def offset(ms: int) -> str:
    """A milestone's offset from the start of its run: '+0.004s', '+12.3s', '+3m05s'."""
    return f"+{human_span(max(0, ms), decimals=3)}"


def lateness(scheduled_ms: int, started_ms: int | None) -> str:
    if started_ms is None:
        return ""
    late = started_ms - scheduled_ms
    if late == 0:
        return "on time"  # not "late 0 ms"
    if late < 0:
        return f"early {-late} ms"
    if late < 1000:
        return f"late {late} ms"
    return f"late {late / 1000:.1f} s" if late < 60_000 else f"late {clock_span(late)}"
