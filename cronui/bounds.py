"""The bounds of every number and duration cronui takes from a person: one place, used at every door.

The CLI's options, job files, the config file and its CRONUI_* variables, and the job rules that the TUI
editor and the engine's control go through (`cronui.jobs.validate`) all check their numbers here. A
value that passes is a finite number of the right kind within bounds a user would expect; a value that
does not raises `OutOfBounds`, whose text is the problem alone ("expected 0 to 100, got 101"), for the
caller to prefix with the field it came from. Without this, a duration of 1e306 seconds or a NaN timeout
reaches the engine's arithmetic and breaks every scheduler pass, not just the job that holds it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

DAY_S = 86_400.0
MAX_DURATION_S = 366 * DAY_S  # the longest timeout, delay or grace a job (or the config) may set


class OutOfBounds(ValueError):
    """A number that is not one, not finite, or out of its bounds; `str()` is the problem alone."""


def show(value: object, limit: int = 40) -> str:
    """A value as a person gave it, for a message: its repr (control characters escaped), shortened."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a number of more than 30 digits"  # and repr() refuses past 4300 digits
    return cut(repr(value), limit)


def cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: object) -> float:
    """`value` as a float, when it is an int or a float (never a bool); huge ints become inf."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return math.inf if value > 0 else -math.inf


def _fmt(n: float) -> str:
    return str(int(n)) if abs(n) < 1e15 and n == int(n) else f"{n:g}"


def span(seconds: float) -> str:
    """Seconds as short duration text for messages: '366d', '90s', '1.5s' (or '1e+306s' when huge)."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds >= 1e9:
        return f"{seconds:.3g}s"
    s = int(seconds)
    if s != seconds or s == 0:
        return f"{seconds:g}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


@dataclass(frozen=True)
class Whole:
    """A whole number from `lo` to `hi`."""

    lo: int
    hi: int

    def check(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OutOfBounds(f"expected a whole number, got {show(value)}")
        if not self.lo <= value <= self.hi:
            raise OutOfBounds(f"expected {self.lo} to {self.hi}, got {show(value)}")
        return value

    def parse(self, text: str) -> int:
        """A whole number typed as text (a CLI option, an environment variable)."""
        raw = text.strip()
        if not _WHOLE_RE.fullmatch(raw):
            raise OutOfBounds(f"expected a whole number, got {show(text)}")
        if len(raw.lstrip("+-").lstrip("0")) > 30:  # beyond every bound; int() would refuse past 4300 digits
            raise OutOfBounds(f"expected {self.lo} to {self.hi}, got {show(text)}")
        return self.check(int(raw))


_WHOLE_RE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Number:
    """A finite number from `lo` to `hi` (or above `lo`, when `above` is set)."""

    lo: float
    hi: float
    above: bool = False

    def check(self, value: object) -> float:
        try:
            n = _number(value)
        except TypeError:
            raise OutOfBounds(f"expected a number, got {show(value)}") from None
        if not math.isfinite(n):
            raise OutOfBounds(f"expected a finite number, got {n}")
        if n < self.lo or n > self.hi or (self.above and n == self.lo):
            low = f"above {_fmt(self.lo)}, up to" if self.above else f"from {_fmt(self.lo)} to"
            raise OutOfBounds(f"expected a number {low} {_fmt(self.hi)}, got {cut(_fmt(n))}")
        return n

    def parse(self, text: str) -> float:
        """A number typed as text; 'nan' and 'inf', which float() reads, are refused as not finite."""
        try:
            value = float(text)
        except ValueError:
            raise OutOfBounds(f"expected a number, got {show(text)}") from None
        return self.check(value)


@dataclass(frozen=True)
class Duration:
    """A finite duration in seconds from 0 (or above 0, when `positive`) to `hi`."""

    hi: float = MAX_DURATION_S
    positive: bool = False

    def check(self, seconds: object, given: object = None) -> float:
        """`seconds` within bounds; `given` is what the person wrote ('400d'), to quote in a message."""
        try:
            n = _number(seconds)
        except TypeError:
            raise OutOfBounds(f"expected a duration like 30s, 10m or 2h, got {show(seconds)}") from None
        huge = isinstance(given, int) and abs(given) > 10**30
        shown = show(given) if isinstance(given, str) or huge else span(n)
        if math.isnan(n):
            raise OutOfBounds(f"expected a finite duration, got {shown}")
        if n < 0:
            raise OutOfBounds("must not be negative")
        if self.positive and n == 0:
            raise OutOfBounds("must be more than 0 seconds")
        if n > self.hi:
            raise OutOfBounds(f"expected at most {span(self.hi)}, got {shown}")
        return n


class Bound(Protocol):
    """What `Whole`, `Number` and `Duration` share: a check that returns the value or raises OutOfBounds."""

    def check(self, value: object, /) -> float: ...


# ---------------------------------------------------------------- the bounds, by what they limit

DURATION = Duration()  # delays and graces: 0 is allowed
POSITIVE_DURATION = Duration(positive=True)  # timeouts: 0 would end every run at once
LOOKBACK = Duration(hi=100 * 366 * DAY_S)  # how far back to look (`runs list --since`)
RUNS_PER_PAGE = 1_000  # runs one API request (limit=) returns at most, in the server's process; older: before=ID
RUNS_LISTED = 100_000  # runs one `cronui runs list --limit N` prints at most (its own process); older: --before ID

RETRIES = Whole(0, 100)
QUEUE_LIMIT = Whole(1, 10_000)
APPROVAL_MAX_WAITING = Whole(1, 10_000)  # a job's runs waiting for approval at once
POOL_SIZE = Whole(1, 10_000)  # a pool's limit, and the global max_concurrent
HTTP_STATUS = Whole(100, 599)
MAX_TOKENS = Whole(1, 10_000_000)
KEEP_TURNS = Whole(1, 10_000)
ALERT_AFTER = Whole(1, 10_000)
TEMPERATURE = Number(0.0, 2.0)

AUTO_DISABLE_AFTER = Whole(1, 1_000_000)
OUTPUT_CAP = Whole(1, 1 << 30)  # bytes kept of a run's output
RETENTION_DAYS = Number(0.0, 36_600.0, above=True)  # up to a hundred years
RETENTION_RUNS = Whole(1, 100_000_000)
EVENT_HOURS = Number(0.0, 366 * 24.0, above=True)
LEASE_TTL = Number(1.0, DAY_S)  # seconds
LEASE_RENEW = Number(0.1, DAY_S)  # seconds; also shorter than the ttl
PRICE = Number(0.0, 1_000_000.0)  # USD per million tokens
MAX_COST = Number(0.0, 1_000_000.0, above=True)  # USD one agent run may cost (--max-cost)
DAILY_BUDGET = Number(0.0, 1_000_000.0, above=True)  # USD agent runs may cost per UTC day (--daily-budget)
API_BODY = Whole(1024, 1 << 30)  # bytes of one HTTP API request's body (`[api] max_body`)
EVENT_STREAMS = Whole(1, 10_000)  # live event streams one `cronui serve` keeps open at once
METRICS_JOBS = Whole(0, 100_000)  # jobs with their own label in /metrics (`[metrics] max_jobs`); the rest are one
