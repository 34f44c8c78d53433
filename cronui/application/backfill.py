"""Backfill: queue one run per slot of a past window of a job's schedule (`cronui jobs backfill`, `POST
/api/v1/jobs/{name}/backfill`, the TUI's preview), each with the slot as its scheduled time and trigger
`backfill`.

The window's slots are counted before any is listed, so a window too large for `most` is refused at once
whatever its size. A slot that ran or waits to (a schedule, catch-up or backfill run not skipped) is never
queued again; slots at or after the job's next fire are the scheduler's. The runs start through the claim
like any other, so the job's overlap, pool and budgets hold (backfill runs go one after another, as
catch-up runs do, unless the job's overlap is `allow`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cronui.application import policy
from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.application.jobs import get_job
from cronui.application.values import parse_instant
from cronui.model import Run
from cronui.schedule import parse
from cronui.timefmt import iso_utc

MAX_DEFAULT = 1000  # slots a backfill queues at most unless told more
MAX_LIMIT = 100_000  # the most `--max` may say
BODY_KEYS = ("from", "to", "dry_run", "max")  # the API's body

BACKFILL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "job": {"type": "string"},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "slots": {"type": "integer", "description": "the window's slots"},
        "first": {"type": ["string", "null"], "format": "date-time"},
        "last": {"type": ["string", "null"], "format": "date-time"},
        "dry_run": {"type": "boolean"},
        "queued": {"type": "integer"},
        "skipped": {"type": "integer", "description": "slots that ran, wait to, or are not yet due"},
        "run_ids": {"type": "array", "items": {"type": "integer"}},
    },
}


@dataclass
class Backfill:
    """What a backfill found in its window and, unless it was a dry run, what it queued."""

    job: str
    start: int
    end: int
    slots: list[int] = field(default_factory=list)
    dry_run: bool = True
    queued: list[Run] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """The window's slots not queued: they ran, wait to, or are the scheduler's still."""
        return 0 if self.dry_run else len(self.slots) - len(self.queued)


def backfill_body(body: dict[str, Any]) -> tuple[str, str, bool, int]:
    """The API's body read: (from, to, dry_run, max); Invalid names the first key that is wrong."""
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise Invalid(f"{unknown[0]}: not a backfill key (expected {', '.join(BODY_KEYS)})")
    start, end = body.get("from"), body.get("to")
    for key, value in (("from", start), ("to", end)):
        if not isinstance(value, str):
            raise Invalid(f"{key}: expected an ISO-8601 time (e.g. 2026-11-23T09:00)")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Invalid("dry_run: expected true or false")
    most = body.get("max", MAX_DEFAULT)
    if isinstance(most, bool) or not isinstance(most, int):
        raise Invalid(f"max: expected a whole number from 1 to {MAX_LIMIT}")
    assert isinstance(start, str) and isinstance(end, str)
    return start, end, dry_run, most


def window(app: Cronui, start: str, end: str, zone: str) -> tuple[int, int]:
    """The window's bounds as epoch ms (a time without an offset read in the job's zone); refused when it
    is empty or reaches past now."""
    lo = parse_instant(start, zone, "--from")
    hi = parse_instant(end, zone, "--to")
    if hi < lo:
        raise Invalid(f"--to: {end!r} is before --from {start!r}")
    if hi > app.now_ms():
        raise Invalid(f"--to: {end!r} is in the future; a backfill runs past slots only")
    return lo, hi


async def backfill(app: Cronui, name: str, start: str, end: str, *, dry_run: bool, most: int = MAX_DEFAULT) -> Backfill:
    """Backfill `name`'s slots in [start, end] (ISO-8601 times); `most` slots at most, else Invalid and
    nothing queued. A dry run only counts them."""
    if not 1 <= most <= MAX_LIMIT:
        raise Invalid(f"max: expected a whole number from 1 to {MAX_LIMIT}, got {most}")
    job = await get_job(app, name)
    if job.is_check:
        raise Invalid(f"{job.name} is a check: cronui never runs it, so it has nothing to backfill")
    lo, hi = window(app, start, end, job.timezone)
    schedule = parse(job.schedule, job.timezone, now_ms=job.created_at or lo)
    count = schedule.count_between(lo - 1, hi)
    if count > most:
        raise Invalid(f"{job.name}: the window holds {count:,} slots, more than --max {most:,}; nothing was queued")
    slots: list[int] = []
    slot = schedule.next_after(lo - 1)
    while slot is not None and slot <= hi and len(slots) < count:
        slots.append(slot)
        slot = schedule.next_after(slot)
    report = Backfill(job.name, lo, hi, slots, dry_run)
    if dry_run or not slots:
        return report
    if policy.policy_for(app) is not None:
        await policy.check_run_now(app, job)
    report.queued = await app.control.backfill(job.name, slots, app.caller.owner)
    return report


def backfill_json(report: Backfill) -> dict[str, object]:
    """A backfill's answer, the same for the CLI's --json and the API: the window, its slots (count, first,
    last), and unless a dry run the runs queued and the slots skipped (ran, waiting, or the scheduler's)."""
    return {
        "job": report.job,
        "from": iso_utc(report.start),
        "to": iso_utc(report.end),
        "slots": len(report.slots),
        "first": iso_utc(report.slots[0]) if report.slots else None,
        "last": iso_utc(report.slots[-1]) if report.slots else None,
        "dry_run": report.dry_run,
        "queued": len(report.queued),
        "skipped": report.skipped,
        "run_ids": [run.id for run in report.queued],
    }


def backfill_line(report: Backfill) -> str:
    """A backfill in one line: what it would queue (dry run) or what it queued."""
    if not report.slots:
        return f"{report.job}: no slot between {iso_utc(report.start)} and {iso_utc(report.end)}"
    span = f"{iso_utc(report.slots[0])} .. {iso_utc(report.slots[-1])}"
    if report.dry_run:
        return f"{report.job}: {len(report.slots):,} slots, {span} (dry run: nothing queued)"
    line = f"{report.job}: queued {len(report.queued):,} of {len(report.slots):,} slots, {span}"
    return line + (f"; {report.skipped:,} skipped (ran, waiting, or not yet due)" if report.skipped else "")
