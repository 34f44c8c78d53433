"""Calendars: named sets of days a job skips (`--skip-calendar`) or keeps to (`--only-calendar`).

A calendar is declared once in the config, `[calendars.NAME]`, with any of: `dates` (a list of days),
`ranges` (a list of `[first, last]` pairs, both days included) and `holidays` (a country code, with an
optional `subdiv`) whose public holidays the `holidays` library knows. A slot is judged by its date in the
job's own zone: a slot on a skipped day, or (when the job keeps to calendars) on none of its days, is not
run but recorded skipped with the reason `calendar`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cronui.schedule.zones import get_zone

CALENDAR_KEYS = ("dates", "ranges", "holidays", "subdiv")


@dataclass(frozen=True)
class Calendar:
    """One `[calendars.NAME]` table, checked."""

    dates: frozenset[dt.date] = frozenset()
    ranges: tuple[tuple[dt.date, dt.date], ...] = ()
    country: str | None = None
    subdiv: str | None = None
    _public: list[Any] = field(default_factory=list, compare=False, repr=False)  # the holidays object, once made

    def holds(self, day: dt.date) -> bool:
        """Whether `day` is one of this calendar's days."""
        if day in self.dates or any(first <= day <= last for first, last in self.ranges):
            return True
        return self.country is not None and day in self._holidays()

    def _holidays(self) -> Any:
        if not self._public:
            self._public.append(public_holidays(self.country or "", self.subdiv))
        return self._public[0]


def public_holidays(country: str, subdiv: str | None) -> Any:
    """The `holidays` library's calendar of a country (and subdivision); ValueError when it knows neither.
    Imported when first asked for (it takes a fifth of a second to import)."""
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError as e:
        raise ValueError(str(e)) from None


def _day(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError(f"{where}: expected a date like 2026-12-24, got a date and time ({value})")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a date like 2026-12-24, got {value!r}")


def parse_calendar(data: Any) -> Calendar:
    """A `[calendars.NAME]` table as a Calendar; ValueError naming the first problem."""
    if not isinstance(data, Mapping):
        raise ValueError('expected a table with dates = ["2026-12-24"], ranges = [[FIRST, LAST]] or holidays = "DE"')
    unknown = [k for k in data if k not in CALENDAR_KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(CALENDAR_KEYS)})")
    if not any(k in data for k in ("dates", "ranges", "holidays")):
        raise ValueError("a calendar needs dates, ranges or holidays")
    dates = data.get("dates", [])
    if not isinstance(dates, list):
        raise ValueError('dates: expected a list of dates like ["2026-12-24", "2026-12-31"]')
    ranges = data.get("ranges", [])
    if not isinstance(ranges, list):
        raise ValueError('ranges: expected a list of [first, last] pairs like [["2026-12-24", "2027-01-02"]]')
    spans = []
    for pair in ranges:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"ranges: expected a [first, last] pair of dates, got {pair!r}")
        first, last = _day(pair[0], "ranges"), _day(pair[1], "ranges")
        if last < first:
            raise ValueError(f"ranges: {last} is before {first}")
        spans.append((first, last))
    country, subdiv = data.get("holidays"), data.get("subdiv")
    if country is not None and (not isinstance(country, str) or not country.strip()):
        raise ValueError(f'holidays: expected a country code like "DE", got {country!r}')
    if subdiv is not None and (country is None or not isinstance(subdiv, str) or not subdiv.strip()):
        raise ValueError('subdiv: expected a region code like "BY", next to holidays = "COUNTRY"')
    calendar = Calendar(frozenset(_day(d, "dates") for d in dates), tuple(spans), country, subdiv)
    if country is not None:
        try:
            calendar._holidays()
        except ValueError as e:
            raise ValueError(f"holidays: {e}") from None
    return calendar


def unknown_calendars(names: Iterable[str], calendars: Mapping[str, Calendar]) -> list[str]:
    return [n for n in names if n not in calendars]


def calendar_hold(
    skip: Sequence[str], only: Sequence[str], zone: str, calendars: Mapping[str, Calendar]
) -> Callable[[int], bool] | None:
    """A test of a slot (epoch ms): True when the job's calendars keep it from running; None when the job
    names no calendar. A name the config no longer declares counts as a calendar with no days (the job
    was saved before it was removed: refused at its next save)."""
    if not skip and not only:
        return None
    tz = get_zone(zone)
    skipping = [calendars[n] for n in skip if n in calendars]
    keeping = [calendars[n] for n in only if n in calendars]
    seen: dict[dt.date, bool] = {}

    def held(slot: int) -> bool:
        day = dt.datetime.fromtimestamp(slot / 1000, tz).date()
        verdict = seen.get(day)
        if verdict is None:
            verdict = any(c.holds(day) for c in skipping) or (bool(only) and not any(c.holds(day) for c in keeping))
            seen[day] = verdict
        return verdict

    return held
