"""`Schedule` and `parse`: a validated schedule in a zone, and its next fire instants.

Every instant crossing this boundary is a UTC epoch in integer milliseconds. What one (expression,
zone) needs to answer `next_after` is a `Plan`, built once and shared by every equal Schedule.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from cronui.schedule.counting import count_cron
from cronui.schedule.cron import CronEngine, cron_engine, next_cron
from cronui.schedule.errors import ScheduleError
from cronui.schedule.intervals import At, at_instant
from cronui.schedule.readings import describe
from cronui.schedule.syntax import ScheduleKind, Syntax, read
from cronui.schedule.zones import MAX_S, MIN_S, ZoneTable, get_zone, utc, zone_table


class _Plan:
    """What next_after needs for one (expr, zone): built once, shared, croniter only on first use."""

    __slots__ = ("_engine", "instant", "last", "syntax", "table")

    def __init__(self, syntax: Syntax, table: ZoneTable | None = None, instant: int | None = None) -> None:
        self.syntax = syntax
        self.table = table
        self.instant = instant  # one-shots, UTC seconds
        self._engine: CronEngine | None = None
        # the last (asked, answer) in ms: next_after(t) is the same answer for every t in [asked, answer)
        self.last: tuple[int, int] | None = None

    @property
    def engine(self) -> CronEngine:
        if self._engine is None:
            assert self.syntax.cron is not None
            self._engine = cron_engine(self.syntax.cron)
        return self._engine


def _plan(expr: str, tz: str) -> _Plan:
    if not isinstance(expr, str) or not isinstance(tz, str):
        raise ScheduleError("a schedule's expression and time zone must be text")
    return _plan_text(expr, tz)


@functools.lru_cache(maxsize=32768)
def _plan_text(expr: str, tz: str) -> _Plan:
    syntax = read(expr)
    get_zone(tz)
    if syntax.relative is not None:
        raise ScheduleError(f"{syntax.expr!r} is relative to now: read it with parse() to fix its time")
    if syntax.cron is not None:
        return _Plan(syntax, zone_table(tz))
    if syntax.at is not None:
        return _Plan(syntax, instant=at_instant(syntax.at, tz))
    return _Plan(syntax)


@dataclass(frozen=True)
class Schedule:
    """A validated schedule in a zone. Build it with `parse`; constructing one directly validates too."""

    expr: str
    timezone: str
    kind: ScheduleKind

    def __post_init__(self) -> None:
        plan = _plan(self.expr, self.timezone)
        if plan.syntax.expr != self.expr:
            object.__setattr__(self, "expr", plan.syntax.expr)
        if plan.syntax.kind != self.kind:
            raise ScheduleError(f"{self.expr!r} is a {plan.syntax.kind} schedule, not {self.kind}")

    def next_after(self, after_ms: int) -> int | None:
        """The first fire instant strictly after `after_ms` (UTC epoch ms), or None if it never fires again."""
        after_ms = int(after_ms)
        plan = _plan(self.expr, self.timezone)
        offset_ms = plan.syntax.offset * 1000
        if not offset_ms:
            return _next_after(plan, after_ms)
        found = _next_after(plan, after_ms - offset_ms)  # the unmoved schedule's fire, then moved
        return None if found is None else found + offset_ms

    def next_n(self, after_ms: int, n: int) -> list[int]:
        """The next `n` fire instants strictly after `after_ms` (fewer if the schedule ends)."""
        out: list[int] = []
        current = after_ms
        while len(out) < n:
            found = self.next_after(current)
            if found is None:
                break
            out.append(found)
            current = found
        return out

    def count_between(self, after_ms: int, upto_ms: int) -> int:
        """How many fire instants t the schedule has with after_ms < t <= upto_ms, counted without walking
        them (see `cronui.schedule.counting`): an outage of months costs what a day does."""
        after_ms, upto_ms = int(after_ms), int(upto_ms)
        if upto_ms <= after_ms:
            return 0
        plan = _plan(self.expr, self.timezone)
        offset_ms = plan.syntax.offset * 1000
        after_ms, upto_ms = after_ms - offset_ms, upto_ms - offset_ms  # the unmoved schedule's fires
        syntax = plan.syntax
        if syntax.interval is not None:
            period = syntax.interval.seconds * 1000
            return upto_ms // period - after_ms // period
        if plan.instant is not None:
            return 1 if after_ms < plan.instant * 1000 <= upto_ms else 0
        assert syntax.cron is not None and plan.table is not None
        # fires are whole seconds in (MIN_S, MAX_S), as _next_after finds them
        after_s, upto_s = max(after_ms // 1000, MIN_S), min(upto_ms // 1000, MAX_S - 1)
        return count_cron(syntax.cron, plan.table, after_s, upto_s) if upto_s > after_s else 0

    def describe(self) -> str:
        """Plain English for the expression (the zone is shown separately by callers)."""
        return describe(self.expr)


def _next_after(plan: _Plan, after_ms: int) -> int | None:
    """The first fire of the plan's schedule (without its offset) strictly after `after_ms`."""
    syntax = plan.syntax
    if syntax.interval is not None:
        period = syntax.interval.seconds * 1000
        return (after_ms // period + 1) * period
    if plan.instant is not None:
        return plan.instant * 1000 if plan.instant * 1000 > after_ms else None
    last = plan.last
    if last is not None and last[0] <= after_ms < last[1]:
        return last[1]
    s = after_ms // 1000
    if s >= MAX_S:
        return None
    assert syntax.cron is not None and plan.table is not None
    found = next_cron(syntax.cron, plan.engine, plan.table, max(s, MIN_S))
    if found is None or found >= MAX_S:
        return None
    result = found * 1000
    plan.last = (after_ms, result)
    return result


def parse(expr: str, timezone: str, now_ms: int | None = None) -> Schedule:
    """Validate `expr` in `timezone` and return its Schedule; `now_ms` fixes what "in 20m" counts from."""
    syntax = read(expr)
    get_zone(timezone)
    if syntax.relative is not None:
        if now_ms is None:
            now_ms = time.time_ns() // 1_000_000
        if not isinstance(now_ms, int):
            raise ScheduleError("now_ms must be an integer number of milliseconds")
        instant = (now_ms // 1000) + syntax.relative
        if not MIN_S <= instant <= MAX_S:
            raise ScheduleError(f"{syntax.expr!r} lands outside the supported years")
        zone = get_zone(timezone)
        wall = utc(instant).astimezone(zone)
        at = At(wall.replace(tzinfo=None), None)
        if at_instant(at, timezone) != instant:  # the second pass of a repeated hour
            off = wall.utcoffset()
            assert off is not None
            at = At(at.wall, int(off.total_seconds()))
        return Schedule(at.expr, timezone, ScheduleKind.ONCE)
    return Schedule(syntax.expr, timezone, syntax.kind)
