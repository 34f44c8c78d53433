"""IANA time zones: lookup by name, and each zone's UTC-offset transitions as a table in UTC seconds.

Fixed UTC offsets are refused: they know nothing of daylight saving. The transition table is what the
cron layer walks to turn wall times into instants (see `cronui.schedule.cron`).
"""

from __future__ import annotations

import calendar
import difflib
import functools
import re
import threading
import zoneinfo
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronui.schedule.errors import ScheduleError, need_text, show

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


@functools.lru_cache(maxsize=1)
def _zone_cities() -> dict[str, list[str]]:
    """Each zone's last part as people say it ("berlin", "new york", "port of spain") -> the zones named so."""
    cities: dict[str, list[str]] = {}
    for name in sorted(_zone_names()):
        if "/" in name and not name.startswith(("Etc/", "SystemV/")):
            cities.setdefault(_city_key(name.rsplit("/", 1)[1]), []).append(name)
    return cities


def _city_key(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()


def suggest_zone(name: str) -> str | None:
    """The zone a person most likely meant by `name`: the same name in other case (`europe/berlin`), a city
    (`Berlin`, `new york`), or a close spelling (`Europe/Berln`, `Amerca/Chicago`); None when nothing is close."""
    text = name.strip()
    if not text or len(text) > 100:
        return None
    folded = _zone_names_folded()
    hit = folded.get(text.casefold())
    if hit:
        return hit
    cities = _zone_cities()
    city = _city_key(text.rsplit("/", 1)[-1])
    if "/" not in text and city in cities:
        return _preferred(cities[city])
    close = difflib.get_close_matches(text.casefold(), folded, n=1, cutoff=0.8)
    if close:
        return folded[close[0]]
    close = difflib.get_close_matches(city, cities, n=1, cutoff=0.8)
    return _preferred(cities[close[0]]) if close else None


_REGIONS = tuple(f"{r}/" for r in "Africa America Antarctica Asia Atlantic Australia Europe Indian Pacific".split())


def _preferred(names: list[str]) -> str:
    """Of zones sharing a city name, the one in a region (`Europe/Berlin`) over a legacy alias."""
    return next((n for n in names if n.startswith(_REGIONS)), names[0])


def get_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; fixed UTC offsets are refused because they know nothing of DST."""
    if isinstance(name, str) and not name.strip():
        raise ScheduleError("no time zone given: say one, an IANA name such as Europe/Berlin")
    return _get_zone(need_text(name, "time zone must be a name such as Europe/Berlin"))


def zone_known(name: str) -> bool:
    """Whether `name` is a time zone `get_zone` accepts (an IANA zone this system knows)."""
    try:
        get_zone(name)
    except ScheduleError:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _get_zone(name: str) -> ZoneInfo:
    if _FIXED_OFFSET_RE.fullmatch(name.strip()):
        raise ScheduleError(
            f"{show(name)} is a fixed UTC offset, and a fixed offset is not a time zone: "
            "use an IANA name such as Europe/Berlin"
        )
    if name not in _zone_names():
        hint = suggest_zone(name)
        suffix = f" (did you mean {hint!r}?)" if hint else ""
        raise ScheduleError(f"unknown time zone: {show(name)}{suffix}")
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone: {show(name)}") from None


# Offsets are sampled daily and each change is bisected to the second; two changes less than a day
# apart that cancel out would be missed (tzdata has none in the years a scheduler cares about).
_SCAN_STEP = 86400
MIN_YEAR, MAX_YEAR = 2, 9998


def _year_start(year: int) -> int:
    return calendar.timegm((year, 1, 1, 0, 0, 0))


MIN_S = _year_start(MIN_YEAR)
"""The first UTC second of the supported years."""
MAX_S = _year_start(MAX_YEAR + 1) - 1
"""The last UTC second of the supported years."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(s: int) -> datetime:
    """UTC seconds as an aware datetime, by arithmetic (fromtimestamp refuses negatives on some systems)."""
    return _EPOCH + timedelta(seconds=s)


def _year_of(s: int) -> int:
    return utc(s).year


class ZoneTable:
    """The UTC-offset transitions of one zone, computed per UTC year on first use and kept."""

    __slots__ = ("_lock", "_years", "zone")

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._years: dict[int, tuple[int, list[int], list[int]]] = {}
        self._lock = threading.Lock()

    def _offset(self, s: int) -> int:
        off = utc(s).astimezone(self.zone).utcoffset()
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
        if year < MIN_YEAR or year > MAX_YEAR:
            return self._offset(MIN_S if year < MIN_YEAR else MAX_S), [], []
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
            if year > MAX_YEAR or _year_start(year) > limit:
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


_ZONE_TABLES: dict[str, ZoneTable] = {}


def zone_table(name: str) -> ZoneTable:
    """The transition table of the zone called `name`, shared by every schedule in that zone."""
    table = _ZONE_TABLES.get(name)
    if table is None:
        table = _ZONE_TABLES.setdefault(name, ZoneTable(get_zone(name)))
    return table


def resolve_wall(zone: ZoneInfo, table: ZoneTable, wall: datetime) -> int:
    """The instant (UTC seconds) of a naive wall time: first pass if repeated, the transition if skipped."""
    early = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    late = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    if early <= late:
        return early  # unique, or the first of two passes
    # In a gap fold=0 reads the time with the offset from before the gap, so `early` lies after it.
    found = table.next_transition(late, early)
    return found[0] if found else early
