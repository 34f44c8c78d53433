"""Cron expressions as text: the fields, their validation, the Debian day rule and the aliases.

A field is read into a `Parsed` (plain values plus the ``L``, ``5L`` and ``1#2`` items), five or six
fields into a `CronSpec`; an expression that can never fire is refused here, with the reason.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cronui.schedule.errors import ScheduleError, show


@dataclass(frozen=True)
class Field:
    name: str
    lo: int
    hi: int
    names: dict[str, int] | None = None

    @property
    def size(self) -> int:
        """How many values the whole field has."""
        return self.hi - self.lo + 1


_MONTH_NAMES = {n: i for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DOW_NAMES = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
SECOND = Field("second", 0, 59)
MINUTE = Field("minute", 0, 59)
HOUR = Field("hour", 0, 23)
DOM = Field("day-of-month", 1, 31)
MONTH = Field("month", 1, 12, _MONTH_NAMES)
DOW = Field("day-of-week", 0, 7, _DOW_NAMES)
WEEKDAYS = 7
"""Day-of-week values once 7 is read as 0 (Sunday)."""

DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
WHITESPACE_RE = re.compile(r"[ \t\r\n\f\v]+", re.ASCII)
_MONTH_TITLES = [
    "",
    *"January February March April May June July August September October November December".split(),
]

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def join_words(words: list[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c' (or another word than 'and' before the last)."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def field_value(f: Field, tok: str) -> int:
    """One number or name of field `f`, checked against its range."""
    if DIGITS_RE.fullmatch(tok):
        if len(tok) > 6:
            raise ScheduleError(f"{f.name} field: {show(tok)} is out of range {f.lo}-{f.hi}")
        v = int(tok)
    elif f.names is not None and tok.lower() in f.names:
        v = f.names[tok.lower()]
    else:
        if tok == "?":
            raise ScheduleError(f"{f.name} field: '?' is not supported; use *")
        if f is DOM and "w" in tok.lower():
            raise ScheduleError(f"{f.name} field: {show(tok)}: W (nearest weekday) is not supported")
        raise ScheduleError(f"{f.name} field: {show(tok)} is not a number or name")
    if not f.lo <= v <= f.hi:
        raise ScheduleError(f"{f.name} field: {tok} is out of range {f.lo}-{f.hi}")
    return v


def _step(f: Field, tok: str) -> int:
    if not DIGITS_RE.fullmatch(tok):
        raise ScheduleError(f"{f.name} field: step {show(tok)} is not a number")
    if len(tok) > 6 or int(tok) > f.size:
        raise ScheduleError(f"{f.name} field: step {tok} is larger than the field's range {f.lo}-{f.hi}")
    step = int(tok)
    if step == 0:
        raise ScheduleError(f"{f.name} field: step 0 is not allowed")
    return step


@dataclass(frozen=True)
class Parsed:
    """One field: plain values, plus the day-of-month ``L`` and the day-of-week ``5L``/``1#2`` items."""

    values: frozenset[int]
    last_day: bool = False  # L in day-of-month
    last_weekdays: frozenset[int] = frozenset()  # 5L: last Friday (0-6)
    nth_weekdays: frozenset[tuple[int, int]] = frozenset()  # 1#2: (weekday 0-6, n)

    @property
    def special(self) -> bool:
        """Whether the field has items beyond plain values (L, 5L, 1#2)."""
        return self.last_day or bool(self.last_weekdays) or bool(self.nth_weekdays)


def parse_field(f: Field, text: str) -> Parsed:
    values: set[int] = set()
    last_day = False
    last_wd: set[int] = set()
    nth_wd: set[tuple[int, int]] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{f.name} field: empty item in the list {show(text)}")
        upper = item.upper()
        if f is DOM and upper == "L":
            last_day = True
            continue
        if f is DOW and upper.endswith("L") and "/" not in item and "-" not in item:
            if upper == "L":
                raise ScheduleError(f"{f.name} field: 'L' needs a day before it, e.g. 5L for the last Friday")
            last_wd.add(field_value(f, item[:-1]) % WEEKDAYS)
            continue
        if "#" in item:
            if f is not DOW:
                raise ScheduleError(f"{f.name} field: {show(item)}: '#' is only allowed in day-of-week")
            day, _, nth = item.partition("#")
            if "-" in day or "/" in day or day == "*":
                raise ScheduleError(f"{f.name} field: {show(item)}: '#' needs a single day, e.g. 1#2")
            wd = field_value(f, day) % WEEKDAYS
            if not DIGITS_RE.fullmatch(nth) or len(nth) > 2 or not 1 <= int(nth) <= 5:
                raise ScheduleError(f"{f.name} field: {show(item)}: the week number after '#' must be 1-5")
            nth_wd.add((wd, int(nth)))
            continue
        if "L" in upper and f is DOM:
            raise ScheduleError(f"{f.name} field: {show(item)}: L must stand alone (the last day of the month)")
        base, slash, step_text = item.partition("/")
        step = _step(f, step_text) if slash else 1
        if base == "*":
            lo, hi = f.lo, f.hi
        elif "-" in base:
            a, _, b = base.partition("-")
            if not a or not b:
                raise ScheduleError(f"{f.name} field: range {show(base)} needs a number on each side")
            lo, hi = field_value(f, a), field_value(f, b)
            if hi < lo:
                hint = " (Sunday is 0 or 7: write 6-7 or sat,sun)" if f is DOW and hi == 0 else ""
                raise ScheduleError(f"{f.name} field: range {show(base)} goes backwards{hint}")
        else:
            lo = field_value(f, base)
            hi = f.hi if slash else lo  # "5/15" means from 5 to the end, every 15
        values.update(range(lo, hi + 1, step))
    if f is DOW:
        values = {v % WEEKDAYS for v in values}
    return Parsed(frozenset(values), last_day, frozenset(last_wd), frozenset(nth_wd))


@dataclass(frozen=True)
class CronSpec:
    fields: tuple[str, ...]  # as written, 5 or 6
    seconds: frozenset[int] | None
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: Parsed
    months: frozenset[int]
    dow: Parsed
    day_or: bool
    wildcard: bool

    @property
    def dom_text(self) -> str:
        return self.fields[-3]

    @property
    def dow_text(self) -> str:
        return self.fields[-1]


def day_matches(dom: Parsed | None, dow: Parsed | None, day_or: bool, day: int, length: int, wd: int) -> bool:
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
        for first in range(WEEKDAYS):
            yield length, first


def can_fire(months: Iterable[int], dom: Parsed | None, dow: Parsed | None, day_or: bool) -> bool:
    """Whether some day of some of `months`, in some year, matches."""
    for month in months:
        for length, first in _month_shapes(month):
            for day in range(1, length + 1):
                if day_matches(dom, dow, day_or, day, length, (first + day - 1) % WEEKDAYS):
                    return True
    return False


def _never_fires_message(spec: CronSpec) -> str:
    months = sorted(spec.months)
    month_names = join_words([_MONTH_TITLES[m] for m in months])
    where = "" if len(months) == MONTH.size else f" in {month_names}"
    if spec.dow_text == "*" or (not spec.day_or and not spec.dow.special and len(spec.dow.values) == WEEKDAYS):
        days = join_words([str(d) for d in sorted(spec.dom.values)], "or")
        verb = "has" if len(months) == 1 else "have"
        return f"can never fire: {month_names} {verb} no day {days}"
    return (
        f"can never fire: no day{where} matches both day-of-month {spec.dom_text!r} and day-of-week {spec.dow_text!r}"
    )


def parse_cron(text: str) -> CronSpec:
    """Five cron fields (or six, seconds first) read and checked; Debian's day rule decided here."""
    fields = tuple(WHITESPACE_RE.split(text.strip()))
    if len(fields) not in (5, 6):
        raise ScheduleError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
    six = len(fields) == 6
    seconds = parse_field(SECOND, fields[0]).values if six else None
    minute, hour, dom_text, month, dow_text = fields[-5:]
    spec = CronSpec(
        fields=fields,
        seconds=seconds,
        minutes=parse_field(MINUTE, minute).values,
        hours=parse_field(HOUR, hour).values,
        dom=parse_field(DOM, dom_text),
        months=parse_field(MONTH, month).values,
        dow=parse_field(DOW, dow_text),
        # Debian: a day field whose text starts with '*' is unrestricted (an AND); '1-31' is restricted
        day_or=not (dom_text.startswith("*") or dow_text.startswith("*")),
        wildcard=minute.startswith("*") or hour.startswith("*"),
    )
    if not can_fire(spec.months, spec.dom, spec.dow, spec.day_or):
        raise ScheduleError(_never_fires_message(spec))
    return spec
