"""What a daylight-saving change does to a fire, in words for a next-fires list.

The rules are those `cronui.schedule.cron` fires by (Debian cron): a fixed-time job whose wall time a
spring-forward skips fires once at the end of the gap ("moved"), and fires once in a repeated hour (its
first pass); a job with ``*`` in the minute or hour follows real time, so its slots in a gap do not exist
("skipped", said on the first fire after them) and a repeated hour fires twice. Intervals count in UTC and
one-shots name their instant: neither has a note.
"""

from __future__ import annotations

from datetime import datetime

from cronui.schedule.counting import count_walls, wall_matches
from cronui.schedule.plan import Schedule, _plan
from cronui.schedule.zones import utc

_NEAR_S = 2 * 86400  # a clock change this close before or after a fire may concern it


def _clock(wall: int) -> str:
    t = utc(wall)
    return t.strftime("%H:%M" if t.second == 0 else "%H:%M:%S")


def _day(wall: int) -> str:
    t: datetime = utc(wall)
    return f"{t.day} {t.strftime('%b')}"


def _part_note(part: Schedule, fire_ms: int) -> str | None:
    plan = _plan(part.expr, part.timezone)
    spec, table = plan.syntax.cron, plan.table
    if spec is None or table is None or fire_ms % 1000:
        return None
    offset = plan.syntax.offset
    f = fire_ms // 1000 - offset  # the fire of the schedule before its offset moves it
    fixed = not spec.wildcard
    prev = table.prev_transition(f)
    if prev is not None and f - prev[0] < _NEAR_S:
        t, before, after = prev
        if after > before:  # spring forward at t: wall times [t + before, t + after) do not exist
            found = plan.engine.next_wall(t + before - 1)
            if found is not None and found < t + after:
                n = count_walls(spec, t + before, t + after)
                what = _clock(found) if n == 1 else f"{n} fires from {_clock(found)}"
                verb = "does" if n == 1 else "do"
                if fixed and f == t:
                    how = "moved" if not wall_matches(spec, t + after) else "run with this one"
                    return f"{what} {verb} not exist on {_day(found)}: {how}"
                if not fixed and part.next_after((t + offset) * 1000 - 1) == fire_ms:
                    return f"{what} {verb} not exist on {_day(found)}: skipped"
        elif f < t + (before - after) and not fixed:  # the second pass of a repeated hour
            wall = f + after
            return f"{_clock(wall)} again: clocks go back on {_day(wall)}"
    nxt = table.next_transition(f, f + _NEAR_S)
    if nxt is not None:
        t, before, after = nxt
        if after < before and f >= t - (before - after):  # the first pass of a repeated hour
            wall = f + before
            how = "runs once" if fixed else "runs in both passes"
            return f"{_clock(wall)} repeats on {_day(wall)}: {how}"
    return None


def fire_note(schedule: Schedule, fire_ms: int) -> str | None:
    """What a clock change does to this fire of `schedule` (None: nothing), e.g. "02:30 does not exist on
    29 Mar: moved" for the 03:00 fire of a 02:30 job. Of several schedules, the first one firing then
    that has a note gives it."""
    parts = getattr(schedule, "parts", None) or (schedule,)
    for part in parts:
        if part.next_after(fire_ms - 1) != fire_ms:
            continue
        note = _part_note(part, fire_ms)
        if note:
            return note
    return None


def next_fires(schedule: Schedule, after_ms: int, n: int) -> list[tuple[int, str | None]]:
    """The next `n` fires after `after_ms`, each with its clock-change note (or None)."""
    return [(t, fire_note(schedule, t)) for t in schedule.next_n(after_ms, n)]
