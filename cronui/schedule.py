"""Schedules: parsing, validation, plain-English readings and next fire instants.

Three kinds of schedule are accepted (see ``SYNTAX_HELP``): cron expressions, fixed intervals and
one-shots. Every instant crossing this module's boundary is a UTC epoch in integer milliseconds.

Cron expressions follow Debian cron, evaluated in the job's IANA zone:

* day-of-month and day-of-week are OR-ed when both are restricted; a field starting with ``*``
  (``*/2`` too) counts as unrestricted, which makes it an AND;
* a "wildcard" job (minute or hour field starting with ``*``) follows real time: it fires in both
  passes of a repeated hour and its slots inside a spring-forward gap do not exist;
* any other job is "fixed-time": it fires once in a repeated hour (the first pass), and a slot whose
  wall time is skipped fires once, at the transition instant.

croniter finds the matching wall times (always on naive datetimes, with the day rule decided here);
the zone handling around it walks the stretches between UTC-offset transitions in UTC seconds, never
by comparing aware datetimes (Python compares those by wall clock and ignores ``fold``).

One-shots are stored as ``at <local wall time>``; a wall time that repeats means its first pass, and
the rare second pass (``in 20m`` landing there) is written with its offset: ``at 2026-10-25T02:10:00+01:00``.
"""

from __future__ import annotations

import calendar
import enum
import functools
import re
import threading
import time
import zoneinfo
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cron_descriptor import DescriptionTypeEnum, ExpressionDescriptor, Options
from croniter import croniter
from croniter.croniter import CroniterError

__all__ = [
    "PRESETS",
    "SYNTAX_HELP",
    "Preset",
    "Schedule",
    "ScheduleError",
    "ScheduleKind",
    "all_zones",
    "describe",
    "get_zone",
    "parse",
]


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; ``str(e)`` is one line naming the problem."""


class ScheduleKind(enum.StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"


# ---------------------------------------------------------------- time zones

_FIXED_OFFSET_RE = re.compile(r"(?:utc|gmt|z)?\s*[+-]\s*\d{1,2}(?::?\d{2}){0,2}", re.ASCII | re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.lru_cache(maxsize=1)
def all_zones() -> list[str]:
    """Every IANA zone name known to this system, sorted (for completion in the UI)."""
    return sorted(_zone_names())


@functools.lru_cache(maxsize=1)
def _zone_names_folded() -> dict[str, str]:
    return {name.casefold(): name for name in _zone_names()}


def get_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; fixed UTC offsets are refused because they know nothing of DST."""
    if not isinstance(name, str):
        raise ScheduleError(f"time zone must be a name such as Europe/Berlin, not {type(name).__name__}")
    return _get_zone(name)


@functools.lru_cache(maxsize=1024)
def _get_zone(name: str) -> ZoneInfo:
    if _FIXED_OFFSET_RE.fullmatch(name.strip()):
        raise ScheduleError(
            f"{_show(name)} is a fixed UTC offset, and a fixed offset is not a time zone: "
            "use an IANA name such as Europe/Berlin"
        )
    if name not in _zone_names():
        hint = _zone_names_folded().get(name.strip().casefold())
        suffix = f" (did you mean {hint!r}?)" if hint else ""
        raise ScheduleError(f"unknown time zone: {_show(name)}{suffix}")
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone: {_show(name)}") from None


# Offsets are sampled daily and each change is bisected to the second; two changes less than a day
# apart that cancel out would be missed (tzdata has none in the years a scheduler cares about).
_SCAN_STEP = 86400
_MIN_YEAR, _MAX_YEAR = 2, 9998


def _year_start(year: int) -> int:
    return calendar.timegm((year, 1, 1, 0, 0, 0))


_MIN_S = _year_start(_MIN_YEAR)
_MAX_S = _year_start(_MAX_YEAR + 1) - 1


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(s: int) -> datetime:
    """UTC seconds as an aware datetime, by arithmetic (fromtimestamp refuses negatives on some systems)."""
    return _EPOCH + timedelta(seconds=s)


def _year_of(s: int) -> int:
    return _utc(s).year


class _ZoneTable:
    """The UTC-offset transitions of one zone, computed per UTC year on first use and kept."""

    __slots__ = ("_lock", "_years", "zone")

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._years: dict[int, tuple[int, list[int], list[int]]] = {}
        self._lock = threading.Lock()

    def _offset(self, s: int) -> int:
        off = _utc(s).astimezone(self.zone).utcoffset()
        assert off is not None
        return off.days * 86400 + off.seconds

    def year(self, year: int) -> tuple[int, list[int], list[int]]:
        """(offset just before the year, transition instants in the year, offset from each on)."""
        data = self._years.get(year)
        if data is None:
            with self._lock:
                data = self._years.get(year)
                if data is None:
                    data = self._years[year] = self._scan(year)
        return data

    def _scan(self, year: int) -> tuple[int, list[int], list[int]]:
        if year < _MIN_YEAR or year > _MAX_YEAR:
            return self._offset(_MIN_S if year < _MIN_YEAR else _MAX_S), [], []
        start = _year_start(year)
        end = _year_start(year + 1) - 1
        base = self._offset(start - 1)
        times: list[int] = []
        offsets: list[int] = []
        prev_t, prev_o = start - 1, base
        points = [*range(start, end, _SCAN_STEP), end]
        for p in points:
            o = self._offset(p)
            while o != prev_o:  # a change in (prev_t, p]: bisect to its first second
                lo, hi = prev_t, p  # offset(lo) == prev_o != offset(hi)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self._offset(mid) == prev_o:
                        lo = mid
                    else:
                        hi = mid
                prev_t, prev_o = hi, self._offset(hi)
                times.append(hi)
                offsets.append(prev_o)
            prev_t = p
        return base, times, offsets

    def offset_at(self, s: int) -> int:
        base, times, offsets = self.year(_year_of(s))
        i = bisect_right(times, s)
        return offsets[i - 1] if i else base

    def next_transition(self, s: int, limit: int) -> tuple[int, int, int] | None:
        """The first transition T with s < T <= limit, as (T, offset before, offset after)."""
        year = _year_of(s)
        while True:
            base, times, offsets = self.year(year)
            i = bisect_right(times, s)
            if i < len(times):
                t = times[i]
                if t > limit:
                    return None
                return t, (offsets[i - 1] if i else base), offsets[i]
            year += 1
            if year > _MAX_YEAR or _year_start(year) > limit:
                return None

    def prev_transition(self, s: int) -> tuple[int, int, int] | None:
        """The last transition T <= s in this UTC year or the one before."""
        year = _year_of(s)
        for y in (year, year - 1):
            base, times, offsets = self.year(y)
            i = bisect_right(times, s)
            if i:
                return times[i - 1], (offsets[i - 2] if i > 1 else base), offsets[i - 1]
        return None


_ZONE_TABLES: dict[str, _ZoneTable] = {}


def _zone_table(name: str) -> _ZoneTable:
    table = _ZONE_TABLES.get(name)
    if table is None:
        table = _ZONE_TABLES.setdefault(name, _ZoneTable(get_zone(name)))
    return table


def _resolve_wall(zone: ZoneInfo, table: _ZoneTable, wall: datetime) -> int:
    """The instant (UTC seconds) of a naive wall time: first pass if repeated, the transition if skipped."""
    early = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    late = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    if early <= late:
        return early  # unique, or the first of two passes
    # In a gap fold=0 reads the time with the offset from before the gap, so `early` lies after it.
    found = table.next_transition(late, early)
    return found[0] if found else early


# ---------------------------------------------------------------- cron fields


@dataclass(frozen=True)
class _Field:
    name: str
    lo: int
    hi: int
    names: dict[str, int] | None = None


_MONTH_NAMES = {n: i for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DOW_NAMES = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 0, 7, _DOW_NAMES)

_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
_WHITESPACE_RE = re.compile(r"[ \t\r\n\f\v]+", re.ASCII)
_MONTH_TITLES = [
    "",
    *"January February March April May June July August September October November December".split(),
]
_DAY_TITLES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_ORDINALS = ["", "first", "second", "third", "fourth", "fifth"]


def _show(text: str, limit: int = 40) -> str:
    """`text` quoted for an error message: one line, and not too long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _value(f: _Field, tok: str) -> int:
    if _DIGITS_RE.fullmatch(tok):
        if len(tok) > 6:
            raise ScheduleError(f"{f.name} field: {_show(tok)} is out of range {f.lo}-{f.hi}")
        v = int(tok)
    elif f.names is not None and tok.lower() in f.names:
        v = f.names[tok.lower()]
    else:
        if tok == "?":
            raise ScheduleError(f"{f.name} field: '?' is not supported; use *")
        if f is _DOM and "w" in tok.lower():
            raise ScheduleError(f"{f.name} field: {_show(tok)}: W (nearest weekday) is not supported")
        raise ScheduleError(f"{f.name} field: {_show(tok)} is not a number or name")
    if not f.lo <= v <= f.hi:
        raise ScheduleError(f"{f.name} field: {tok} is out of range {f.lo}-{f.hi}")
    return v


def _step(f: _Field, tok: str) -> int:
    if not _DIGITS_RE.fullmatch(tok):
        raise ScheduleError(f"{f.name} field: step {_show(tok)} is not a number")
    span = f.hi - f.lo + 1
    if len(tok) > 6 or int(tok) > span:
        raise ScheduleError(f"{f.name} field: step {tok} is larger than the field's range {f.lo}-{f.hi}")
    step = int(tok)
    if step == 0:
        raise ScheduleError(f"{f.name} field: step 0 is not allowed")
    return step


@dataclass(frozen=True)
class _Parsed:
    """One field: plain values, plus the day-of-month ``L`` and the day-of-week ``5L``/``1#2`` items."""

    values: frozenset[int]
    last_day: bool = False  # L in day-of-month
    last_weekdays: frozenset[int] = frozenset()  # 5L: last Friday (0-6)
    nth_weekdays: frozenset[tuple[int, int]] = frozenset()  # 1#2: (weekday 0-6, n)


def _parse_field(f: _Field, text: str) -> _Parsed:
    values: set[int] = set()
    last_day = False
    last_wd: set[int] = set()
    nth_wd: set[tuple[int, int]] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{f.name} field: empty item in the list {_show(text)}")
        upper = item.upper()
        if f is _DOM and upper == "L":
            last_day = True
            continue
        if f is _DOW and upper.endswith("L") and "/" not in item and "-" not in item:
            if upper == "L":
                raise ScheduleError(f"{f.name} field: 'L' needs a day before it, e.g. 5L for the last Friday")
            last_wd.add(_value(f, item[:-1]) % 7)
            continue
        if "#" in item:
            if f is not _DOW:
                raise ScheduleError(f"{f.name} field: {_show(item)}: '#' is only allowed in day-of-week")
            day, _, nth = item.partition("#")
            if "-" in day or "/" in day or day == "*":
                raise ScheduleError(f"{f.name} field: {_show(item)}: '#' needs a single day, e.g. 1#2")
            wd = _value(f, day) % 7
            if not _DIGITS_RE.fullmatch(nth) or len(nth) > 2 or not 1 <= int(nth) <= 5:
                raise ScheduleError(f"{f.name} field: {_show(item)}: the week number after '#' must be 1-5")
            nth_wd.add((wd, int(nth)))
            continue
        if "L" in upper and f is _DOM:
            raise ScheduleError(f"{f.name} field: {_show(item)}: L must stand alone (the last day of the month)")
        base, slash, step_text = item.partition("/")
        step = _step(f, step_text) if slash else 1
        if base == "*":
            lo, hi = f.lo, f.hi
        elif "-" in base:
            a, _, b = base.partition("-")
            if not a or not b:
                raise ScheduleError(f"{f.name} field: range {_show(base)} needs a number on each side")
            lo, hi = _value(f, a), _value(f, b)
            if hi < lo:
                hint = " (Sunday is 0 or 7: write 6-7 or sat,sun)" if f is _DOW and hi == 0 else ""
                raise ScheduleError(f"{f.name} field: range {_show(base)} goes backwards{hint}")
        else:
            lo = _value(f, base)
            hi = f.hi if slash else lo  # "5/15" means from 5 to the end, every 15
        values.update(range(lo, hi + 1, step))
    if f is _DOW:
        values = {v % 7 for v in values}
    return _Parsed(frozenset(values), last_day, frozenset(last_wd), frozenset(nth_wd))


@dataclass(frozen=True)
class _CronSpec:
    fields: tuple[str, ...]  # as written, 5 or 6
    seconds: frozenset[int] | None
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: _Parsed
    months: frozenset[int]
    dow: _Parsed
    day_or: bool
    wildcard: bool

    @property
    def dom_text(self) -> str:
        return self.fields[-3]

    @property
    def dow_text(self) -> str:
        return self.fields[-1]


def _day_matches(dom: _Parsed | None, dow: _Parsed | None, day_or: bool, day: int, length: int, wd: int) -> bool:
    """Whether a day matches; `wd` is the cron weekday (0 = Sunday). A None side is left out."""
    dom_ok = dom is not None and (day in dom.values or (dom.last_day and day == length))
    dow_ok = dow is not None and (
        wd in dow.values or (wd in dow.last_weekdays and day + 7 > length) or (wd, (day + 6) // 7) in dow.nth_weekdays
    )
    if dom is None:
        return dow_ok
    if dow is None:
        return dom_ok
    return (dom_ok or dow_ok) if day_or else (dom_ok and dow_ok)


def _month_shapes(month: int) -> Iterable[tuple[int, int]]:
    """(length, weekday of the 1st as cron weekday) for every shape `month` takes in the Gregorian cycle."""
    lengths = (28, 29) if month == 2 else (calendar.monthrange(2001, month)[1],)
    for length in lengths:
        for first in range(7):
            yield length, first


def _can_fire(months: Iterable[int], dom: _Parsed | None, dow: _Parsed | None, day_or: bool) -> bool:
    for month in months:
        for length, first in _month_shapes(month):
            for day in range(1, length + 1):
                if _day_matches(dom, dow, day_or, day, length, (first + day - 1) % 7):
                    return True
    return False


def _join_words(words: list[str], last: str = "and") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def _never_fires_message(spec: _CronSpec) -> str:
    months = sorted(spec.months)
    month_names = _join_words([_MONTH_TITLES[m] for m in months])
    where = "" if len(months) == 12 else f" in {month_names}"
    if spec.dow_text == "*" or (
        not spec.day_or and not spec.dow.last_weekdays and not spec.dow.nth_weekdays and len(spec.dow.values) == 7
    ):
        days = _join_words([str(d) for d in sorted(spec.dom.values)], "or")
        verb = "has" if len(months) == 1 else "have"
        return f"can never fire: {month_names} {verb} no day {days}"
    return (
        f"can never fire: no day{where} matches both day-of-month {spec.dom_text!r} and day-of-week {spec.dow_text!r}"
    )


_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ALIAS_READINGS = {
    "@yearly": "Every year on January 1 at 00:00",
    "@annually": "Every year on January 1 at 00:00",
    "@monthly": "Every month on the 1st at 00:00",
    "@weekly": "Every week on Sunday at 00:00",
    "@daily": "Every day at 00:00",
    "@midnight": "Every day at 00:00",
    "@hourly": "Every hour, on the hour",
}


def _parse_cron(text: str) -> _CronSpec:
    fields = tuple(_WHITESPACE_RE.split(text.strip()))
    if len(fields) not in (5, 6):
        raise ScheduleError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
    six = len(fields) == 6
    seconds = _parse_field(_SECOND, fields[0]).values if six else None
    minute, hour, dom_text, month, dow_text = fields[-5:]
    spec = _CronSpec(
        fields=fields,
        seconds=seconds,
        minutes=_parse_field(_MINUTE, minute).values,
        hours=_parse_field(_HOUR, hour).values,
        dom=_parse_field(_DOM, dom_text),
        months=_parse_field(_MONTH, month).values,
        dow=_parse_field(_DOW, dow_text),
        day_or=not (dom_text.startswith("*") or dow_text.startswith("*")),
        wildcard=minute.startswith("*") or hour.startswith("*"),
    )
    if not _can_fire(spec.months, spec.dom, spec.dow, spec.day_or):
        raise ScheduleError(_never_fires_message(spec))
    return spec


# ---------------------------------------------------------------- cron evaluation (croniter)


def _list(values: frozenset[int], f: _Field | None = None) -> str:
    """Values as croniter text: '*' or a plain list of numbers.

    Never ranges: croniter reads an equal range such as '5-5' as the whole field, and explicit
    numbers keep its other readings of our syntax out of the way (and it builds lists faster).
    """
    if f is not None and len(values) == f.hi - f.lo + 1:
        return "*"
    return ",".join(map(str, sorted(values)))


class _CronEngine:
    """croniter instances for one expression, searching naive wall time in whole seconds.

    The day rule is decided here, not by croniter: an OR of day-of-month and day-of-week becomes two
    croniter "branches" (each an AND with the other side unrestricted), and plain weekdays are kept
    apart from ``5L``/``1#2`` items (croniter does not mix them in one field). The next match is the
    earliest over the branches. Branches that can never match are dropped, so croniter never has to
    search decades in vain.
    """

    __slots__ = ("_branches", "_lock", "_memo")

    def __init__(self, spec: _CronSpec) -> None:
        dom = spec.dom
        dom_all = len(dom.values) == 31
        dom_items = ([_list(dom.values)] if dom.values else []) + (["l"] if dom.last_day else [])
        dom_text = "*" if dom_all else ",".join(dom_items)
        plain = _Parsed(spec.dow.values)
        special = _Parsed(frozenset(), last_weekdays=spec.dow.last_weekdays, nth_weekdays=spec.dow.nth_weekdays)
        dow_sides: list[tuple[_Parsed, str]] = []
        if spec.dow.values:
            dow_sides.append((plain, "*" if len(spec.dow.values) == 7 else _list(spec.dow.values)))
        if special.last_weekdays or special.nth_weekdays:
            items = [f"l{wd}" for wd in sorted(special.last_weekdays)]
            items += [f"{wd}#{n}" for wd, n in sorted(special.nth_weekdays)]
            dow_sides.append((special, ",".join(items)))
        everything = _Parsed(frozenset(range(0, 7)))
        any_day = _Parsed(frozenset(range(1, 32)))
        # (dom side, dow side) pairs, each meaning "both match" (AND)
        pairs: list[tuple[_Parsed, str, _Parsed, str]] = []
        if spec.day_or:
            pairs.append((dom, dom_text, everything, "*"))
            pairs += [(any_day, "*", side, text) for side, text in dow_sides]
        else:
            pairs += [(dom, dom_text, side, text) for side, text in dow_sides]
        head = [_list(spec.seconds, _SECOND)] if spec.seconds is not None else []
        rest = [_list(spec.minutes, _MINUTE), _list(spec.hours, _HOUR)]
        month = _list(spec.months, _MONTH)
        start = datetime(2000, 1, 1)
        branches: list[croniter] = []
        seen: set[str] = set()
        for dom_side, dom_t, dow_side, dow_t in pairs:
            if not _can_fire(spec.months, dom_side, dow_side, False):
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
def _engine(expr: str) -> _CronEngine:
    """The croniter side of a normalized cron expression (or alias), built on first use and kept."""
    spec = _read(expr).cron
    assert spec is not None
    return _CronEngine(spec)


def _next_cron(spec: _CronSpec, engine: _CronEngine, table: _ZoneTable, s: int) -> int | None:
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


# ---------------------------------------------------------------- intervals and one-shots

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_EVERY_RE = re.compile(r"every[ \t]+([0-9]+)[ \t]*([smhd])", re.ASCII | re.IGNORECASE)
_IN_RE = re.compile(r"in[ \t]+([0-9]+)[ \t]*([smhd])", re.ASCII | re.IGNORECASE)
_AT_RE = re.compile(
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


def _plural(n: int, unit: str) -> str:
    word = _UNIT_WORDS[unit]
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class _Interval:
    seconds: int
    number: int
    unit: str

    @property
    def expr(self) -> str:
        return f"every {self.number}{self.unit}"


def _parse_every(m: re.Match[str]) -> _Interval:
    seconds = _amount(m[1], m[2], _MAX_EVERY_S, "every:")
    return _Interval(seconds, int(m[1]), m[2].lower())


@dataclass(frozen=True)
class _At:
    wall: datetime  # naive, whole seconds
    offset: int | None  # seconds east of UTC, only written to tell the second pass of a repeated hour apart

    @property
    def expr(self) -> str:
        return f"at {self.wall.isoformat(timespec='seconds')}{_format_offset(self.offset)}"


def _format_offset(offset: int | None) -> str:
    if offset is None:
        return ""
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _parse_at(m: re.Match[str]) -> _At:
    year, month, day, hour, minute = (int(m[i]) for i in range(1, 6))
    second = int(m[6]) if m[6] else 0
    if not 1970 <= year <= _MAX_YEAR:
        raise ScheduleError(f"at: the year must be between 1970 and {_MAX_YEAR}, got {year}")
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
    return _At(wall, offset)


def _at_instant(at: _At, tz: str) -> int:
    zone = get_zone(tz)
    table = _zone_table(tz)
    if at.offset is None:
        return _resolve_wall(zone, table, at.wall)
    instant = calendar.timegm(at.wall.timetuple()) - at.offset
    if table.offset_at(instant) != at.offset:
        raise ScheduleError(
            f"at: {at.wall.isoformat(timespec='seconds')}{_format_offset(at.offset)} is not a local time in {tz}"
        )
    return instant


# ---------------------------------------------------------------- the Schedule


@dataclass(frozen=True)
class _Syntax:
    kind: ScheduleKind
    expr: str
    cron: _CronSpec | None = None
    interval: _Interval | None = None
    at: _At | None = None
    relative: int | None = None  # "in 20m", in seconds; resolved by parse()


def _read(text: str) -> _Syntax:
    """Classify and validate `text` (any string) without a zone; raises only ScheduleError."""
    if not isinstance(text, str):
        raise ScheduleError(f"a schedule must be text, not {type(text).__name__}")
    return _read_text(text)


@functools.lru_cache(maxsize=16384)
def _read_text(text: str) -> _Syntax:
    stripped = text.strip(" \t\r\n\f\v")
    if not stripped:
        raise ScheduleError(
            "empty schedule: expected cron fields, an alias such as @daily, 'every 15m', "
            "'at 2026-12-24T09:00' or 'in 20m'"
        )
    lowered = stripped.lower()
    if lowered.startswith("@"):
        if lowered == "@reboot":
            raise ScheduleError("@reboot is not supported: cronui schedules by time only")
        if lowered not in _ALIASES:
            raise ScheduleError(f"unknown alias {_show(stripped)} (expected one of {', '.join(_ALIASES)})")
        return _Syntax(ScheduleKind.CRON, lowered, cron=_parse_cron(_ALIASES[lowered]))
    word = _WHITESPACE_RE.split(lowered, maxsplit=1)[0]
    if word == "every":
        m = _EVERY_RE.fullmatch(stripped)
        if m is None:
            raise ScheduleError(
                f"expected 'every' with a whole number and a unit s, m, h or d (e.g. every 15m), got {_show(stripped)}"
            )
        interval = _parse_every(m)
        return _Syntax(ScheduleKind.INTERVAL, interval.expr, interval=interval)
    if word == "at":
        m = _AT_RE.fullmatch(stripped)
        if m is None:
            raise ScheduleError(f"expected 'at YYYY-MM-DDTHH:MM' (seconds optional), got {_show(stripped)}")
        at = _parse_at(m)
        return _Syntax(ScheduleKind.ONCE, at.expr, at=at)
    if word == "in":
        m = _IN_RE.fullmatch(stripped)
        if m is None:
            raise ScheduleError(
                f"expected 'in' with a whole number and a unit s, m, h or d (e.g. in 20m), got {_show(stripped)}"
            )
        seconds = _amount(m[1], m[2], _MAX_IN_S, "in:")
        return _Syntax(ScheduleKind.ONCE, f"in {int(m[1])}{m[2].lower()}", relative=seconds)
    spec = _parse_cron(stripped)
    return _Syntax(ScheduleKind.CRON, " ".join(spec.fields), cron=spec)


class _Plan:
    """What next_after needs for one (expr, zone): built once, shared, croniter only on first use."""

    __slots__ = ("_engine", "instant", "last", "syntax", "table")

    def __init__(self, syntax: _Syntax, table: _ZoneTable | None = None, instant: int | None = None) -> None:
        self.syntax = syntax
        self.table = table
        self.instant = instant  # one-shots, UTC seconds
        self._engine: _CronEngine | None = None
        # the last (asked, answer) in ms: next_after(t) is the same answer for every t in [asked, answer)
        self.last: tuple[int, int] | None = None

    @property
    def engine(self) -> _CronEngine:
        if self._engine is None:
            expr = self.syntax.expr
            self._engine = _engine(_ALIASES.get(expr, expr))
        return self._engine


def _plan(expr: str, tz: str) -> _Plan:
    if not isinstance(expr, str) or not isinstance(tz, str):
        raise ScheduleError("a schedule's expression and time zone must be text")
    return _plan_text(expr, tz)


@functools.lru_cache(maxsize=32768)
def _plan_text(expr: str, tz: str) -> _Plan:
    syntax = _read(expr)
    get_zone(tz)
    if syntax.relative is not None:
        raise ScheduleError(f"{syntax.expr!r} is relative to now: read it with parse() to fix its time")
    if syntax.cron is not None:
        return _Plan(syntax, _zone_table(tz))
    if syntax.at is not None:
        return _Plan(syntax, instant=_at_instant(syntax.at, tz))
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
        if s >= _MAX_S:
            return None
        assert syntax.cron is not None and plan.table is not None
        found = _next_cron(syntax.cron, plan.engine, plan.table, max(s, _MIN_S))
        if found is None or found >= _MAX_S:
            return None
        result = found * 1000
        plan.last = (after_ms, result)
        return result

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

    def describe(self) -> str:
        """Plain English for the expression (the zone is shown separately by callers)."""
        return describe(self.expr)


def parse(expr: str, timezone: str, now_ms: int | None = None) -> Schedule:
    """Validate `expr` in `timezone` and return its Schedule; `now_ms` fixes what "in 20m" counts from."""
    syntax = _read(expr)
    get_zone(timezone)
    if syntax.relative is not None:
        if now_ms is None:
            now_ms = time.time_ns() // 1_000_000
        if not isinstance(now_ms, int):
            raise ScheduleError("now_ms must be an integer number of milliseconds")
        instant = (now_ms // 1000) + syntax.relative
        if not _MIN_S <= instant <= _MAX_S:
            raise ScheduleError(f"{syntax.expr!r} lands outside the supported years")
        zone = get_zone(timezone)
        wall = _utc(instant).astimezone(zone)
        at = _At(wall.replace(tzinfo=None), None)
        if _at_instant(at, timezone) != instant:  # the second pass of a repeated hour
            off = wall.utcoffset()
            assert off is not None
            at = _At(at.wall, int(off.total_seconds()))
        return Schedule(at.expr, timezone, ScheduleKind.ONCE)
    return Schedule(syntax.expr, timezone, syntax.kind)


# ---------------------------------------------------------------- plain English


def _weekday_phrase(dow: _Parsed, days_joiner: str = "and") -> str:
    """e.g. 'Monday through Friday', 'Monday and Wednesday', 'the second Monday of the month'."""
    parts: list[str] = []
    days = sorted(dow.values, key=lambda d: (d - 1) % 7)  # Monday first
    if days:
        starts = [d for d in days if (d - 1) % 7 not in dow.values]
        if len(days) >= 3 and len(starts) == 1:  # one run of days, maybe across the weekend: 5-7, 0-3
            last = (starts[0] + len(days) - 1) % 7
            parts.append(f"{_DAY_TITLES[starts[0]]} through {_DAY_TITLES[last]}")
        else:
            parts.append(_join_words([_DAY_TITLES[d] for d in days], days_joiner))
    for wd in sorted(dow.last_weekdays):
        parts.append(f"the last {_DAY_TITLES[wd]} of the month")
    for wd, n in sorted(dow.nth_weekdays, key=lambda x: (x[1], x[0])):
        parts.append(f"the {_ORDINALS[n]} {_DAY_TITLES[wd]} of the month")
    return _join_words(parts, "or")


def _is_name_or_number(f: _Field, tok: str) -> bool:
    return bool(_DIGITS_RE.fullmatch(tok)) or (f.names is not None and tok.lower() in f.names)


def _for_descriptor(f: _Field, text: str, values: frozenset[int]) -> str:
    """A field as cron-descriptor reads it well: as written when simple, else its values spelled out.

    cron-descriptor mangles lists that mix ranges and steps, and reads '5-5' or '47-59/60' (one
    value each) as ranges or cycles.
    """
    items = text.split(",")
    if all(_is_name_or_number(f, tok) for tok in items):
        return text.upper()
    if len(items) == 1 and len(values) >= 2:
        base, slash, _ = text.partition("/")
        a, dash, b = base.partition("-")
        if base == "*" or (dash and _value(f, a) < _value(f, b)) or (slash and not dash):
            return text.upper()
    ordered = sorted(values)
    if len(ordered) >= 3 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))


def _describe_cron(spec: _CronSpec) -> str:
    fields = list(spec.fields)
    if spec.seconds is not None:
        fields[0] = _for_descriptor(_SECOND, fields[0], spec.seconds)
    fields[-5] = _for_descriptor(_MINUTE, fields[-5], spec.minutes)
    fields[-4] = _for_descriptor(_HOUR, fields[-4], spec.hours)
    fields[-2] = _for_descriptor(_MONTH, fields[-2], spec.months)
    dom, dow = spec.dom, spec.dow
    dow_all = len(dow.values) == 7 and not dow.last_weekdays and not dow.nth_weekdays
    dom_all = len(dom.values) == 31
    if spec.day_or and (dom_all or dow_all):  # "any day of the month, or Monday" is every day
        dom_all = dow_all = True
    if dom.last_day and dom.values:
        numbers = _join_words([str(d) for d in sorted(dom.values)])
        dom_phrase: str | None = f", on day {numbers} and on the last day of the month"
    else:
        dom_phrase = None
    if dom_all:
        fields[-3] = "*"
    elif dom.last_day and not dom.values:
        fields[-3] = "L"
    elif dom_phrase is None:
        fields[-3] = _for_descriptor(_DOM, spec.dom_text, dom.values)
    fields[-1] = "*"
    options = Options()
    options.use_24hour_time_format = True
    try:
        ed = ExpressionDescriptor(" ".join(fields), options)
        time_part = ed.get_description(DescriptionTypeEnum.TIMEOFDAY)
        dom_part = dom_phrase if dom_phrase is not None else ed.get_description(DescriptionTypeEnum.DAYOFMONTH)
        month_part = ed.get_description(DescriptionTypeEnum.MONTH)
    except Exception:  # cron-descriptor cannot read it; fall back to the fields themselves
        return f"Cron: {' '.join(spec.fields)}"
    if dow_all:
        dow_part = ""
    else:
        phrase = _weekday_phrase(dow)
        if dom_all:
            single_range = " through " in phrase and not dow.last_weekdays and not dow.nth_weekdays
            lead = "" if single_range else ("on " if phrase.startswith("the ") else "only on ")
            dow_part = f", {lead}{phrase}"
        elif spec.day_or:
            dow_part = f", or on {phrase}"
        else:  # Debian: a day-of-month starting with '*' is ANDed with the day-of-week
            dow_part = f", if it is {_weekday_phrase(dow, 'or')}"
    text = f"{time_part}{dom_part}{dow_part}{month_part}"
    text = str(ed.transform_verbosity(text, use_verbose_format=False))
    return text[:1].upper() + text[1:]


def _describe_syntax(syntax: _Syntax) -> str:
    if syntax.expr in _ALIAS_READINGS:
        return _ALIAS_READINGS[syntax.expr]
    if syntax.cron is not None:
        return _describe_cron(syntax.cron)
    if syntax.interval is not None:
        iv = syntax.interval
        if iv.seconds % 86400 == 0:
            days = iv.seconds // 86400
            return ("Every day" if days == 1 else f"Every {days} days") + " at 00:00 UTC"
        return "Every " + (_UNIT_WORDS[iv.unit] if iv.number == 1 else _plural(iv.number, iv.unit))
    if syntax.at is not None:
        at = syntax.at
        stamp = at.wall.strftime("%Y-%m-%d %H:%M" if at.wall.second == 0 else "%Y-%m-%d %H:%M:%S")
        if at.offset is not None:
            stamp += f" (UTC{_format_offset(at.offset)})"
        return f"At {stamp} (once)"
    assert syntax.relative is not None
    number, unit = syntax.expr[3:-1], syntax.expr[-1]
    return f"Once, {_plural(int(number), unit)} from now"


def describe(expr: str) -> str:
    """Plain English for a schedule expression; raises ScheduleError if it is not valid."""
    return _describe(_read(expr).expr)


@functools.lru_cache(maxsize=4096)
def _describe(expr: str) -> str:
    return _describe_syntax(_read(expr))


# ---------------------------------------------------------------- presets and help


@dataclass(frozen=True)
class Preset:
    name: str
    expr: str


PRESETS: tuple[Preset, ...] = (
    Preset("Every 30 seconds", "every 30s"),
    Preset("Every minute", "* * * * *"),
    Preset("Every 5 minutes", "*/5 * * * *"),
    Preset("Every 15 minutes", "*/15 * * * *"),
    Preset("Every 30 minutes", "*/30 * * * *"),
    Preset("Hourly", "0 * * * *"),
    Preset("Every 6 hours", "0 */6 * * *"),
    Preset("Daily at 09:00", "0 9 * * *"),
    Preset("Daily at midnight", "0 0 * * *"),
    Preset("Weekdays at 09:00", "0 9 * * 1-5"),
    Preset("Weekly on Monday", "0 9 * * 1"),
    Preset("Monthly on the 1st", "0 9 1 * *"),
)


SYNTAX_HELP = """\
Schedules (read in the job's time zone, an IANA name such as Europe/Berlin):

  cron, 5 fields      minute hour day-of-month month day-of-week
                        0 9 * * 1-5        09:00 Monday to Friday
                        */15 * * * *       every 15 minutes
                        30 2 1,15 * *      02:30 on the 1st and the 15th
  cron, 6 fields      seconds first:  */30 * * * * *   every 30 seconds
  in a field          * any   5 one   1-5 range   */5 or 1-30/5 or 5/15 steps   1,15 lists
                      jan-dec and sun-sat names; day-of-week 0-7 (0 and 7 are Sunday)
                      L last day of the month; 5L last Friday; 1#2 second Monday
  day rule            if both day fields are restricted a day matches either (OR);
                      a field starting with * (like */2) makes it AND
  aliases             @yearly @annually @monthly @weekly @daily @midnight @hourly
  intervals           every 30s | every 15m | every 2h | every 1d
                      (counted from 1970-01-01 00:00 UTC: every 15m is :00 :15 :30 :45)
  once                at 2026-12-24T09:00   at 2026-12-24 09:00:30
                      in 45s | in 20m | in 2h | in 1d   (stored as an 'at' time)
                      a time that repeats when clocks go back means its first pass;
                      add the offset for the second: at 2026-10-25T02:30+01:00

Daylight saving: a job at a fixed time runs once on the day clocks go back, and at the end
of the gap when they spring forward over it; jobs with * in the minute or hour follow the
real clock (an hourly job runs twice in a repeated hour).
"""
