"""What kind of schedule a text is: cron (or an alias), an interval or a one-shot, read and validated.

Reading needs no zone; every text either reads into a `Syntax` or raises one `ScheduleError`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import re
from dataclasses import dataclass

from cronui.schedule.errors import ScheduleError, need_text, show
from cronui.schedule.fields import ALIASES, WHITESPACE_RE, CronSpec, parse_cron
from cronui.schedule.intervals import AT_RE, EVERY_RE, IN_RE, At, Interval, parse_at, parse_every, parse_in


class ScheduleKind(enum.StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"


@dataclass(frozen=True)
class Syntax:
    kind: ScheduleKind
    expr: str  # normalized
    cron: CronSpec | None = None
    interval: Interval | None = None
    at: At | None = None
    relative: int | None = None  # "in 20m", in seconds; resolved by parse()
    offset: int = 0  # a repeating schedule's fires moved this many seconds later ("0 * * * * +137s")


# A fixed offset after a repeating schedule: `0 * * * * +137s` fires at 00:02:17, 01:02:17, ...
# (`--stagger` writes it, the offset chosen from the job's name). Whitespace before the `+` tells it
# from a one-shot's UTC offset (`at 2026-10-25T02:10:00+01:00`).
OFFSET_RE = re.compile(r"[ \t]+\+([0-9]{1,6})[ \t]*([smh])\Z", re.ASCII | re.IGNORECASE)
OFFSET_UNITS = {"s": 1, "m": 60, "h": 3600}
MAX_OFFSET_S = 86400  # an offset, and a stagger window, is less than a day


def read(text: str) -> Syntax:
    """Classify and validate `text` (any value) without a zone; raises only ScheduleError."""
    return _read_text(need_text(text, "a schedule must be text"))


@functools.lru_cache(maxsize=16384)
def _read_text(text: str) -> Syntax:
    stripped = text.strip(" \t\r\n\f\v")
    if not stripped:
        raise ScheduleError(
            "empty schedule: expected cron fields, an alias such as @daily, 'every 15m', "
            "'at 2026-12-24T09:00' or 'in 20m'"
        )
    if m := OFFSET_RE.search(stripped):
        return _with_offset(_read_text(stripped[: m.start()]), int(m.group(1)) * OFFSET_UNITS[m.group(2).lower()])
    lowered = stripped.lower()
    if lowered.startswith("@"):
        if lowered == "@reboot":
            raise ScheduleError("@reboot is not supported: cronui schedules by time only")
        if lowered not in ALIASES:
            raise ScheduleError(f"unknown alias {show(stripped)} (expected one of {', '.join(ALIASES)})")
        return Syntax(ScheduleKind.CRON, lowered, cron=parse_cron(ALIASES[lowered]))
    word = WHITESPACE_RE.split(lowered, maxsplit=1)[0]
    if word == "every":
        m = EVERY_RE.fullmatch(stripped)
        if m is None:
            raise ScheduleError(
                f"expected 'every' with a whole number and a unit s, m, h or d (e.g. every 15m), got {show(stripped)}"
            )
        interval = parse_every(m)
        return Syntax(ScheduleKind.INTERVAL, interval.expr, interval=interval)
    if word == "at":
        m = AT_RE.fullmatch(stripped)
        if m is None:
            raise ScheduleError(f"expected 'at YYYY-MM-DDTHH:MM' (seconds optional), got {show(stripped)}")
        at = parse_at(m)
        return Syntax(ScheduleKind.ONCE, at.expr, at=at)
    if word == "in":
        m = IN_RE.fullmatch(stripped)
        if m is None:
            raise ScheduleError(
                f"expected 'in' with a whole number and a unit s, m, h or d (e.g. in 20m), got {show(stripped)}"
            )
        expr, seconds = parse_in(m)
        return Syntax(ScheduleKind.ONCE, expr, relative=seconds)
    spec = parse_cron(stripped)
    return Syntax(ScheduleKind.CRON, " ".join(spec.fields), cron=spec)


def _with_offset(syntax: Syntax, seconds: int) -> Syntax:
    if syntax.kind is ScheduleKind.ONCE:
        raise ScheduleError(f"{syntax.expr!r} runs once: an offset (+{seconds}s) is for repeating schedules")
    if syntax.offset:
        raise ScheduleError(f"{syntax.expr!r} has an offset already; give one")
    if not 0 < seconds < MAX_OFFSET_S:
        raise ScheduleError(f"an offset is more than 0 and less than a day, got +{seconds}s")
    return dataclasses.replace(syntax, expr=f"{syntax.expr} +{seconds}s", offset=seconds)


def without_offset(syntax: Syntax) -> Syntax:
    """The schedule its offset moves (itself when it has none)."""
    if not syntax.offset:
        return syntax
    return dataclasses.replace(syntax, expr=syntax.expr.rsplit(" ", 1)[0], offset=0)


def stagger(expr: str, name: str, window_s: float) -> str:
    """`expr` moved by a fixed offset inside `window_s`, the same for a name every time (so jobs sharing
    a schedule spread over the window instead of firing in one second); a window of 0 removes it.
    Replaces an offset the expression has; one-shots have none. An expression that does not read is
    returned as it is (its own check names the problem)."""
    try:
        base = without_offset(read(expr))
    except ScheduleError:
        return expr
    if not window_s:
        return base.expr
    if not 1 <= window_s < MAX_OFFSET_S:
        raise ScheduleError(f"a stagger window is at least 1s and less than a day, got {window_s:g}s")
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    seconds = int.from_bytes(digest[:8], "big") % int(window_s)
    return base.expr if seconds == 0 else _with_offset(base, seconds).expr
