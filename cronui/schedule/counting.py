"""How many times a cron schedule fires in a span of time, counted without visiting each fire.

A scheduler that was down for two months must know how many slots it missed: walking an every-second
schedule slot by slot is five million steps. Counting instead costs one step per month and per UTC-offset
transition of the span: a matching day has every combination of the hour, minute and second fields, so
the fires of a stretch of wall time are (matching days) x (times of day), with partial days at its ends.

The daylight-saving rules are those of `cronui.schedule.cron` (Debian cron), stretch by stretch between
offset transitions:

* a wildcard job fires at every instant whose wall time matches: a repeated hour twice, a skipped one never;
* a fixed-time job fires once in a repeated hour (its second pass is left out), and the matching wall times
  a spring-forward skips fire once, together, at the transition instant.
"""

from __future__ import annotations

import calendar
import functools
from bisect import bisect_left
from collections.abc import Sequence
from datetime import date, timedelta

from cronui.schedule.fields import WEEKDAYS, CronSpec, day_matches
from cronui.schedule.zones import ZoneTable

DAY_S = 86400
_EPOCH_DAY = date(1970, 1, 1)


class _Times:
    """The times of day a spec fires at, as counts below a second of the day."""

    __slots__ = ("hours", "minutes", "per_day", "seconds")

    def __init__(self, spec: CronSpec) -> None:
        self.hours = sorted(spec.hours)
        self.minutes = sorted(spec.minutes)
        self.seconds = sorted(spec.seconds) if spec.seconds is not None else [0]
        self.per_day = len(self.hours) * len(self.minutes) * len(self.seconds)

    def below(self, x: int) -> int:
        """How many firing times of day t (seconds since midnight) have t < x, for 0 <= x <= DAY_S."""
        h, rest = divmod(x, 3600)
        m, s = divmod(rest, 60)
        n_m, n_s = len(self.minutes), len(self.seconds)
        count = bisect_left(self.hours, h) * n_m * n_s
        if h < 24 and _has(self.hours, h):
            count += bisect_left(self.minutes, m) * n_s
            if _has(self.minutes, m):
                count += bisect_left(self.seconds, s)
        return count

    def has(self, x: int) -> bool:
        h, rest = divmod(x, 3600)
        m, s = divmod(rest, 60)
        return _has(self.hours, h) and _has(self.minutes, m) and _has(self.seconds, s)


def _has(values: Sequence[int], v: int) -> bool:
    i = bisect_left(values, v)
    return i < len(values) and values[i] == v


@functools.lru_cache(maxsize=4096)
def _times(spec: CronSpec) -> _Times:
    return _Times(spec)


@functools.lru_cache(maxsize=65536)
def _month_days(spec: CronSpec, month: int, length: int, first_wd: int) -> tuple[int, ...]:
    """The matching days of a month of this shape (its length, the cron weekday of its 1st), in order."""
    if month not in spec.months:
        return ()
    return tuple(
        day
        for day in range(1, length + 1)
        if day_matches(spec.dom, spec.dow, spec.day_or, day, length, (first_wd + day - 1) % WEEKDAYS)
    )


def _cron_weekday(d: date) -> int:
    return (d.weekday() + 1) % WEEKDAYS  # Python: Monday 0; cron: Sunday 0


def _days_of(spec: CronSpec, d: date) -> tuple[int, ...]:
    length = calendar.monthrange(d.year, d.month)[1]
    return _month_days(spec, d.month, length, _cron_weekday(d.replace(day=1)))


def _day_matches(spec: CronSpec, day: int) -> bool:
    d = _EPOCH_DAY + timedelta(days=day)
    return _has(_days_of(spec, d), d.day)


def _matching_days(spec: CronSpec, lo: int, hi: int) -> int:
    """How many days (counted from 1970-01-01) in [lo, hi) match the spec's day rule: month by month."""
    count = 0
    day = lo
    while day < hi:
        d = _EPOCH_DAY + timedelta(days=day)
        length = calendar.monthrange(d.year, d.month)[1]
        month_end = day + (length - d.day) + 1  # the first day of the next month
        last = min(hi, month_end) - day + d.day  # days d.day .. last-1 of this month lie in the span
        days = _days_of(spec, d)
        count += bisect_left(days, last) - bisect_left(days, d.day)
        day = month_end
    return count


def count_walls(spec: CronSpec, lo: int, hi: int) -> int:
    """How many naive wall times (seconds on a wall clock read as UTC) in [lo, hi) match the spec."""
    if hi <= lo:
        return 0
    times = _times(spec)
    d0, r0 = divmod(lo, DAY_S)
    d1, r1 = divmod(hi, DAY_S)
    if d0 == d1:
        return times.below(r1) - times.below(r0) if _day_matches(spec, d0) else 0
    count = times.per_day - times.below(r0) if _day_matches(spec, d0) else 0
    if r1 and _day_matches(spec, d1):
        count += times.below(r1)
    return count + times.per_day * _matching_days(spec, d0 + 1, d1)


def wall_matches(spec: CronSpec, wall: int) -> bool:
    day, second = divmod(wall, DAY_S)
    return _times(spec).has(second) and _day_matches(spec, day)


def count_cron(spec: CronSpec, table: ZoneTable, after: int, upto: int) -> int:
    """How many fire instants (UTC seconds) of the spec in the table's zone lie in (after, upto]."""
    fixed = not spec.wildcard
    s, end = after + 1, upto + 1  # [s, end)
    if end <= s:
        return 0
    off = table.offset_at(s)
    count = 0
    prev = table.prev_transition(s)
    if prev is not None and fixed:
        t, before, after_off = prev
        if t == s and after_off > before:  # s is a spring-forward instant: the skipped times fire at it
            count += _gap_fire(spec, t, before, after_off)
    while s < end:
        change = table.next_transition(s, end - 1)
        stop = change[0] if change is not None else end
        first_wall = s + off
        if fixed and prev is not None:
            t, before, after_off = prev
            if after_off < before:  # after a fall-back: the repeated wall times of its second pass do not fire
                first_wall = max(first_wall, t + before)
        count += count_walls(spec, first_wall, stop + off)
        if change is None:
            break
        t, before, after_off = change
        if fixed and after_off > before:
            count += _gap_fire(spec, t, before, after_off)
        prev, s, off = change, t, after_off
    return count


def _gap_fire(spec: CronSpec, t: int, before: int, after: int) -> int:
    """1 if the wall times a spring-forward at `t` skips hold a fire of a fixed-time job that the first wall
    time after the gap (the same instant, counted with the stretch it begins) does not already make."""
    if wall_matches(spec, t + after):
        return 0
    return 1 if count_walls(spec, t + before, t + after) else 0
