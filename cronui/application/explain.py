"""A schedule explained for someone deciding whether it is the one they meant (MCP's `explain_schedule`): its
plain-English reading, its next fires in its zone, and the daylight-saving changes on the way, each with
what it does to a job at a fixed time.

A job's schedule is read in the job's zone; an expression not saved yet in the zone given (the settings'
by default). The instants come from `cronui.schedule`, whose readings follow Debian cron: a fixed-time job
runs once on the day clocks go back and at the end of the gap when they spring forward over it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.application.values import parse_instant
from cronui.schedule import ScheduleKind, get_zone, parse
from cronui.schedule.zones import zone_table
from cronui.timefmt import iso_in_zone, iso_utc

MAX_FIRES = 100  # next fires one question may ask for
DEFAULT_FIRES = 5
DST_HORIZON_MS = 366 * 86_400_000  # a schedule firing rarely: its clock changes within a year at most


@dataclass
class ScheduleQuestion:
    """What a caller asks to have explained: a job's schedule (`job`), or an expression in a zone."""

    job: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    count: int = DEFAULT_FIRES
    start: str | None = None  # an ISO-8601 time (read in the zone without an offset); now without one


def _offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _span(seconds: int) -> str:
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{hours}h" + (f"{minutes:02d}m" if minutes else "") if hours else f"{minutes}m"


def dst_change(at_s: int, before: int, after: int, zone_name: str) -> dict[str, Any]:
    """One change of the zone's UTC offset at `at_s` (UTC seconds), in words: the wall times it skips or
    repeats and what that does to a job."""
    zone = get_zone(zone_name)
    shift = after - before
    wall_from = _wall_at(at_s, before)
    wall_to = _wall_at(at_s, after)
    if shift > 0:
        line = (
            f"clocks go forward {_span(shift)} at {wall_from} (to {wall_to}): wall times from {wall_from} to before "
            f"{wall_to} do not exist that day; a job at a fixed time within them runs at {wall_to}"
        )
    else:
        line = (
            f"clocks go back {_span(shift)} at {wall_from} (to {wall_to}): wall times from {wall_to} to before "
            f"{wall_from} happen twice; a job at a fixed time runs once, in the first pass, and one with * in its "
            "minute or hour follows the real clock (it runs in both passes)"
        )
    return {
        "at": iso_in_zone(at_s * 1000, zone),
        "utc": iso_utc(at_s * 1000),
        "offset_before": _offset(before),
        "offset_after": _offset(after),
        "change": "forward" if shift > 0 else "back",
        "line": line,
    }


def _wall_at(at_s: int, offset: int) -> str:
    """The wall clock (HH:MM) at UTC second `at_s` read with `offset`."""
    minutes = ((at_s + offset) // 60) % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def dst_changes(zone_name: str, after_ms: int, upto_ms: int) -> list[dict[str, Any]]:
    """The zone's offset changes in (after_ms, upto_ms], at most a year ahead."""
    table = zone_table(zone_name)
    limit_s = min(upto_ms, after_ms + DST_HORIZON_MS) // 1000
    out: list[dict[str, Any]] = []
    s = after_ms // 1000
    while len(out) < 8:  # two a year in a zone that keeps daylight saving
        found = table.next_transition(s, limit_s)
        if found is None:
            break
        at, before, after = found
        out.append(dst_change(at, before, after, zone_name))
        s = at
    return out


async def explain_schedule(app: Cronui, q: ScheduleQuestion) -> dict[str, Any]:
    """`{job, schedule, timezone, kind, description, next: [{at, utc, offset}], dst_changes: [...]}`: the
    reading, the next `count` fires from `start` (now without it) and the offset changes up to the last of
    them (or a year on, for a schedule that never fires again). ScheduleError names a bad expression or zone,
    NotFound a job that is not there."""
    if q.job is not None:
        if q.schedule is not None:
            raise Invalid("schedule: give a job or a schedule, not both", [{"field": "schedule", "problem": "both"}])
        job = await app.control.job(q.job)
        expr, zone_name = job.schedule, q.timezone or job.timezone
    elif q.schedule is not None:
        expr, zone_name = q.schedule, q.timezone or app.settings.timezone
    else:
        raise Invalid("job: give a job's name or a schedule", [{"field": "job", "problem": "missing"}])
    if not 1 <= q.count <= MAX_FIRES:
        raise Invalid(f"count: expected a whole number from 1 to {MAX_FIRES}, got {q.count}")
    zone = get_zone(zone_name)
    now = app.now_ms()
    start = now if q.start is None else parse_instant(q.start, zone_name, "start")
    sched = parse(expr, zone_name, now_ms=now)
    fires = sched.next_n(start, q.count)
    table = zone_table(zone_name)
    upto = fires[-1] if fires else start + DST_HORIZON_MS
    if len(fires) < q.count and sched.kind is not ScheduleKind.ONCE:
        upto = start + DST_HORIZON_MS
    return {
        "job": q.job,
        "schedule": sched.expr,
        "timezone": zone_name,
        "kind": str(sched.kind),
        "description": sched.describe(),
        "next": [
            {"at": iso_in_zone(ms, zone), "utc": iso_utc(ms), "offset": _offset(table.offset_at(ms // 1000))}
            for ms in fires
        ],
        "dst_changes": dst_changes(zone_name, start, upto),
    }
