"""Follow-ups: a one-shot agent or HTTP job "in 2h" or "at 2026-11-23T09:00", removed once its run has ended
(`delete_after_run`; its runs stay). What an agent asks for when it wants to look at something again later
(MCP's `schedule_followup`).

The job is read with the job file's rules (`jobs.read_entry`), so a follow-up is refused in the same words as
any job; `when` is turned into an `at` time first, counted from now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronui.application.context import Cronui
from cronui.application.errors import Invalid, NameTaken
from cronui.application.jobs import API_SOURCE, add_job, read_entry
from cronui.model import Job
from cronui.schedule import ScheduleError, ScheduleKind, parse

KINDS = ("agent", "http")  # a follow-up's target: never a shell command


@dataclass
class Followup:
    """What a caller asks for: when, and the agent or HTTP table of a job file (exactly one)."""

    when: str
    agent: Mapping[str, Any] | None = None
    http: Mapping[str, Any] | None = None
    name: str | None = None
    description: str = ""
    timezone: str | None = None
    tags: Sequence[str] = field(default_factory=list)


def _problem(key: str, problem: str) -> Invalid:
    return Invalid(f"{key}: {problem}", [{"field": key, "problem": problem}])


def followup_name(now: int) -> str:
    """A follow-up's name when the caller gives none: `followup-20261123-090000-123`."""
    return "followup-" + datetime.fromtimestamp(now / 1000, UTC).strftime("%Y%m%d-%H%M%S-") + f"{now % 1000:03d}"


def followup_entry(app: Cronui, f: Followup) -> dict[str, Any]:
    """The job-file table of a follow-up (its `when` as an `at` time), or Invalid naming what is wrong."""
    given = [k for k in KINDS if getattr(f, k) is not None]
    if len(given) != 1:
        said = "both agent and http" if given else "neither agent nor http"
        raise _problem("agent", f"give exactly one of agent or http (a follow-up's target), got {said}")
    zone = f.timezone or app.settings.timezone
    try:
        sched = parse(f.when, zone, now_ms=app.now_ms())
    except ScheduleError as e:
        raise _problem("when", str(e).splitlines()[0]) from None
    if sched.kind is not ScheduleKind.ONCE:
        raise _problem("when", f"expected 'in 2h' or 'at 2026-11-23T09:00' (once), got {f.when!r}")
    kind = given[0]
    entry: dict[str, Any] = {
        "name": f.name if f.name is not None else followup_name(app.now_ms()),
        "schedule": sched.expr,
        "timezone": zone,
        kind: dict(getattr(f, kind)),
    }
    if f.description:
        entry["description"] = f.description
    if f.tags:
        entry["tags"] = list(f.tags)
    return entry


async def schedule_followup(app: Cronui, f: Followup, source: str = API_SOURCE) -> Job:
    """Add the follow-up: a one-shot job that is removed once its run has ended (NameTaken, Invalid)."""
    entry = followup_entry(app, f)
    if await app.store.get_job_by_name(entry["name"]) is not None:
        raise NameTaken(entry["name"])
    job = read_entry(app, entry, source)
    job.delete_after_run = True
    return await add_job(app, job)
