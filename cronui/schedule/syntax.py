"""What kind of schedule a text is: cron (or an alias), an interval or a one-shot, read and validated.

Reading needs no zone; every text either reads into a `Syntax` or raises one `ScheduleError`.
"""

from __future__ import annotations

import enum
import functools
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
