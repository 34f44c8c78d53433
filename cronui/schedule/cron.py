"""Next cron fire instants: croniter finds matching wall times, the zone layer turns them into instants.

Debian cron semantics, evaluated in the job's IANA zone:

* a "wildcard" job (minute or hour field starting with ``*``) follows real time: it fires in both
  passes of a repeated hour and its slots inside a spring-forward gap do not exist;
* any other job is "fixed-time": it fires once in a repeated hour (the first pass), and a slot whose
  wall time is skipped fires once, at the transition instant.

croniter only ever searches naive wall time, with the day rule decided here; the zone handling walks
the stretches between UTC-offset transitions in UTC seconds, never by comparing aware datetimes
(Python compares those by wall clock and ignores ``fold``).
"""

from __future__ import annotations

import functools
import threading
from datetime import datetime

from croniter import croniter
from croniter.croniter import CroniterError

from cronui.schedule.fields import DOM, DOW, HOUR, MINUTE, MONTH, SECOND, WEEKDAYS, CronSpec, Field, Parsed, can_fire
from cronui.schedule.zones import ZoneTable

_EVERY_WEEKDAY = Parsed(frozenset(range(WEEKDAYS)))
_EVERY_DAY = Parsed(frozenset(range(DOM.lo, DOM.hi + 1)))


def croniter_list(values: frozenset[int], f: Field) -> str:
    """Plain values of field `f` as croniter text: '*' for the whole field, else every number listed.

    Never ranges: croniter reads an equal range such as '5-5' as the whole field, and explicit
    numbers keep its other readings of our syntax out of the way (and it builds lists faster).
    """
    if len(values) == (WEEKDAYS if f is DOW else f.size):  # day-of-week 7 was read as 0
        return "*"
    return ",".join(map(str, sorted(values)))


def day_sides(parsed: Parsed, f: Field) -> list[tuple[Parsed, str]]:
    """A day field as croniter "sides": the field matches a day when any side does.

    croniter reads any list with as many distinct items as the field has values as '*'. For plain
    numbers that is right (the list is the whole field), but with items of another kind in the count
    it is not: 'L,2-31' would fire on the 1st. So plain values are one side and the ``L``, ``5L`` and
    ``1#2`` items another, and no croniter field ever mixes the two kinds. (A side of ``5L``/``1#2``
    items naming all seven weekdays also counts as '*' in croniter's list, but croniter matches those
    items from a table of their own, so they stay exact.)
    """
    if parsed.values and croniter_list(parsed.values, f) == "*":
        return [(parsed, "*")]  # every day already: the special items add nothing
    sides: list[tuple[Parsed, str]] = []
    if parsed.values:
        sides.append((Parsed(parsed.values), croniter_list(parsed.values, f)))
    if parsed.last_day:
        sides.append((Parsed(frozenset(), last_day=True), "l"))
    if parsed.last_weekdays or parsed.nth_weekdays:
        items = [f"l{wd}" for wd in sorted(parsed.last_weekdays)]
        items += [f"{wd}#{n}" for wd, n in sorted(parsed.nth_weekdays)]
        special = Parsed(frozenset(), last_weekdays=parsed.last_weekdays, nth_weekdays=parsed.nth_weekdays)
        sides.append((special, ",".join(items)))
    return sides


class CronEngine:
    """croniter instances for one expression, searching naive wall time in whole seconds.

    The day rule is decided here, not by croniter: each day field is split into sides (see
    `day_sides`), an OR of day-of-month and day-of-week pairs every side with the other field
    unrestricted, an AND pairs every side of one with every side of the other, and each pair becomes
    one croniter "branch". The next match is the earliest over the branches. Branches that can never
    match are dropped, so croniter never has to search decades in vain.
    """

    __slots__ = ("_branches", "_lock", "_memo")

    def __init__(self, spec: CronSpec) -> None:
        dom_sides = day_sides(spec.dom, DOM)
        dow_sides = day_sides(spec.dow, DOW)
        # (dom side, dow side) pairs, each meaning "both match" (AND)
        pairs: list[tuple[Parsed, str, Parsed, str]]
        if spec.day_or:
            pairs = [(side, text, _EVERY_WEEKDAY, "*") for side, text in dom_sides]
            pairs += [(_EVERY_DAY, "*", side, text) for side, text in dow_sides]
        else:
            pairs = [(a, a_text, b, b_text) for a, a_text in dom_sides for b, b_text in dow_sides]
        head = [croniter_list(spec.seconds, SECOND)] if spec.seconds is not None else []
        rest = [croniter_list(spec.minutes, MINUTE), croniter_list(spec.hours, HOUR)]
        month = croniter_list(spec.months, MONTH)
        start = datetime(2000, 1, 1)
        branches: list[croniter] = []
        seen: set[str] = set()
        for dom_side, dom_t, dow_side, dow_t in pairs:
            if not can_fire(spec.months, dom_side, dow_side, False):
                continue
            expr = " ".join([*head, *rest, dom_t, month, dow_t])
            if expr in seen:
                continue
            seen.add(expr)
            branches.append(
                croniter(
                    expr,
                    start,
                    ret_type=float,
                    day_or=False,
                    second_at_beginning=spec.seconds is not None,
                    max_years_between_matches=100,
                )
            )
        self._branches = tuple(branches)
        self._lock = threading.Lock()
        # per branch, the last (asked, answer): the answer holds for every question in [asked, answer)
        self._memo: list[tuple[int, int | None] | None] = [None] * len(branches)

    def next_wall(self, wall: int) -> int | None:
        """The first matching naive wall time strictly after `wall` (both seconds on a naive clock)."""
        best: int | None = None
        with self._lock:
            for i, c in enumerate(self._branches):
                memo = self._memo[i]
                if memo is not None and memo[0] <= wall and (memo[1] is None or wall < memo[1]):
                    found = memo[1]
                else:
                    c.set_current(float(wall))
                    try:
                        found = int(c.get_next())
                    except (CroniterError, OverflowError, ValueError):
                        found = None
                    self._memo[i] = (wall, found)
                if found is not None and (best is None or found < best):
                    best = found
        return best


@functools.lru_cache(maxsize=16384)
def cron_engine(spec: CronSpec) -> CronEngine:
    """The croniter side of a cron expression, built on first use and kept (aliases share theirs)."""
    return CronEngine(spec)


def next_cron(spec: CronSpec, engine: CronEngine, table: ZoneTable, s: int) -> int | None:
    """The first fire (UTC seconds) strictly after `s`, stretch by stretch between offset changes."""
    fixed = not spec.wildcard
    off = table.offset_at(s)
    seg = s  # the stretch with offset `off` runs from `seg` to the next transition
    wall = s + off  # search wall times after this one ...
    inclusive = False  # ... or from this one
    if fixed:
        prev = table.prev_transition(s)
        if prev is not None:
            t, before, after = prev
            if after < before and s < t + (before - after):
                # In the second pass of a repeated hour: its wall times belong to the first pass.
                wall, inclusive = t + before, True
    for _ in range(10_000):
        found = engine.next_wall(wall - 1 if inclusive else wall)
        if found is None:
            return None
        instant = found - off
        change = table.next_transition(seg, instant)
        if change is None:
            return instant
        t, _before, after = change
        if after > off:  # spring forward: wall times [t + off, t + after) do not exist
            if fixed and found < t + after:
                return t
            wall = t + after
        else:  # fall back: wall times [t + after, t + off) repeat
            wall = t + off if fixed else t + after
        inclusive, seg, off = True, t, after
    return None
