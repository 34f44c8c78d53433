"""Several schedules for one job, and the window (start, end) it may fire in: one slot per instant.

A job's schedule text is either one schedule, as it always was, or several stored as a JSON list of their
texts: ``["0 9 * * 1-5", "0 11 * * 0,6"]``. A list begins with ``[``, which no single schedule does, so a
reader tells the two apart by the first character, never by guessing; and a reader that knows only single
schedules fails on a list with a clear error (``[`` is no cron value, and the list has more or fewer than
five or six fields) instead of reading part of it. Specs joined by newlines would not do: whitespace,
newlines included, separates cron fields, so one spec written over two lines and two specs could not be
told apart.

The fires of several schedules are their union, each instant once however many specs meet at it; a start
and an end (UTC ms, both inclusive) leave out every fire outside them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cronui.schedule.errors import ScheduleError, show
from cronui.schedule.plan import Schedule
from cronui.schedule.plan import parse as parse_one
from cronui.schedule.readings import describe as describe_one
from cronui.schedule.syntax import ScheduleKind
from cronui.schedule.syntax import stagger as stagger_one

MAX_SPECS = 20  # a job's schedules at most
UNION_WALK_CAP = 2000  # several schedules' fires are walked (to drop shared instants) up to this many


def is_list(text: object) -> bool:
    """Whether a stored schedule text holds several schedules (a JSON list)."""
    return isinstance(text, str) and text.lstrip().startswith("[")


def split_specs(text: str) -> list[str]:
    """The schedules a stored text holds: itself, or the items of its JSON list."""
    if not is_list(text):
        return [text]
    try:
        items = json.loads(text)
    except ValueError:
        raise ScheduleError(f"a list of schedules must be a JSON list of texts, got {show(text)}") from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ScheduleError(f"a list of schedules must be a JSON list of texts, got {show(text)}")
    if not items:
        raise ScheduleError("an empty list of schedules: give at least one")
    return items


def join_specs(specs: Sequence[str]) -> str:
    """The stored text of schedules: one stays its own text, several become a JSON list."""
    specs = list(specs)
    if len(specs) == 1:
        return specs[0]
    return json.dumps(specs)


def display(text: str) -> str:
    """A stored schedule text for people: several schedules joined by ' ; ' (as the editor takes them)."""
    try:
        return " ; ".join(split_specs(text))
    except ScheduleError:
        return text


def schedule_value(text: str) -> str | list[str]:
    """A stored schedule text as JSON and job files show it: one schedule a string, several a list."""
    try:
        specs = split_specs(text)
    except ScheduleError:
        return text
    return specs[0] if len(specs) == 1 else specs


def describe(text: str) -> str:
    """Plain English for a stored schedule text, every schedule's reading joined by '; '."""
    return "; ".join(describe_one(spec) for spec in split_specs(text))


def readings(text: str) -> list[tuple[str, str]]:
    """Each schedule of a stored text with its plain-English reading."""
    return [(spec, describe_one(spec)) for spec in split_specs(text)]


@dataclass(frozen=True)
class JobSchedule(Schedule):
    """Several schedules in one zone as one, and/or a window: what a job with either fires at.

    `expr` is the stored text (a JSON list for several); `parts` the schedules themselves."""

    parts: tuple[Schedule, ...] = ()
    starts_ms: int | None = None
    ends_ms: int | None = None

    def __post_init__(self) -> None:
        if not self.parts:
            raise ScheduleError("a job schedule needs at least one schedule")

    def _unbounded_next(self, after_ms: int) -> int | None:
        found = [t for t in (p.next_after(after_ms) for p in self.parts) if t is not None]
        return min(found) if found else None

    def next_after(self, after_ms: int) -> int | None:
        after_ms = int(after_ms)
        if self.starts_ms is not None:
            after_ms = max(after_ms, self.starts_ms - 1)
        found = self._unbounded_next(after_ms)
        if found is None or (self.ends_ms is not None and found > self.ends_ms):
            return None
        return found

    def count_between(self, after_ms: int, upto_ms: int) -> int:
        """Fires in (after_ms, upto_ms] within the window. Several schedules' fires are walked to count an
        instant they share once, while there are at most UNION_WALK_CAP of them; beyond that each schedule's
        count is added (an instant two share counts twice: the number of a long outage's missed slots only)."""
        after_ms, upto_ms = int(after_ms), int(upto_ms)
        if self.starts_ms is not None:
            after_ms = max(after_ms, self.starts_ms - 1)
        if self.ends_ms is not None:
            upto_ms = min(upto_ms, self.ends_ms)
        if upto_ms <= after_ms:
            return 0
        counts = [p.count_between(after_ms, upto_ms) for p in self.parts]
        total = sum(counts)
        if len(self.parts) == 1 or total > UNION_WALK_CAP or sum(1 for c in counts if c) < 2:
            return total
        count, t = 0, after_ms
        while (found := self._unbounded_next(t)) is not None and found <= upto_ms:
            count, t = count + 1, found
        return count

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.parts)


def parse(
    expr: str,
    timezone: str,
    now_ms: int | None = None,
    *,
    starts_ms: int | None = None,
    ends_ms: int | None = None,
) -> Schedule:
    """Validate a stored schedule text (one schedule, or a JSON list of several) in `timezone`; `starts_ms`
    and `ends_ms` bound its fires. One schedule without a window is a plain `Schedule`."""
    if not is_list(expr) and starts_ms is None and ends_ms is None:
        return parse_one(expr, timezone, now_ms)
    specs = split_specs(expr)
    if len(specs) > MAX_SPECS:
        raise ScheduleError(f"at most {MAX_SPECS} schedules per job, got {len(specs)}")
    if len(specs) > 1 and now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    parts: list[Schedule] = []
    for spec in specs:
        part = parse_one(spec, timezone, now_ms)
        if len(specs) > 1 and part.kind is ScheduleKind.ONCE:
            raise ScheduleError(f"{spec!r} runs once: several schedules are for repeating ones (give it alone)")
        if all(part.expr != p.expr for p in parts):
            parts.append(part)
    if starts_ms is not None and ends_ms is not None and ends_ms < starts_ms:
        raise ScheduleError("the window's end comes before its start (--ends before --starts)")
    kinds = {p.kind for p in parts}
    kind = ScheduleKind.CRON if ScheduleKind.CRON in kinds else next(iter(kinds))
    text = join_specs([p.expr for p in parts])
    return JobSchedule(text, timezone, kind, tuple(parts), starts_ms, ends_ms)


def normalize(specs: Sequence[str], timezone: str, now_ms: int | None = None) -> str:
    """The stored text of schedules given one by one (each validated, each normalized, repeats dropped)."""
    if not specs:
        raise ScheduleError("no schedule given")
    if len(specs) == 1:
        return parse(specs[0], timezone, now_ms).expr
    return parse(join_specs(list(specs)), timezone, now_ms).expr


class Scheduled(Protocol):
    """What a job's fires need of it (a Job, or the store's DueJob)."""

    @property
    def schedule(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def starts_at(self) -> int | None: ...
    @property
    def ends_at(self) -> int | None: ...


def job_schedule(job: Scheduled, now_ms: int | None = None) -> Schedule:
    """A job's schedule: every one of its schedules, inside its window."""
    return parse(job.schedule, job.timezone, now_ms, starts_ms=job.starts_at, ends_ms=job.ends_at)


def stagger(text: str, name: str, window_s: float) -> str:
    """Every schedule of a stored text moved by the job's fixed offset in `window_s` (see syntax.stagger)."""
    try:
        specs = split_specs(text)
    except ScheduleError:
        return text
    return join_specs([stagger_one(spec, name, window_s) for spec in specs])


def from_field(text: str) -> str:
    """The stored text of schedules typed in one field, separated by ';' (as `display` writes them)."""
    specs = [s.strip() for s in text.split(";") if s.strip()]
    return join_specs(specs) if specs else ""
