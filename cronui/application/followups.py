"""Follow-ups: a one-shot agent or HTTP job "in 2h" or "at 2026-11-23T09:00", removed once its run has ended
(`delete_after_run`; its runs stay). What an agent asks for when it wants to look at something again later
(MCP's `schedule_followup`).

The job is read with the job file's rules (`jobs.read_entry`), so a follow-up is refused in the same words as
any job; `when` is turned into an `at` time first, counted from now."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronui.application.context import Cronui
from cronui.application.errors import Invalid, NameTaken
from cronui.application.jobs import API_SOURCE, add_job, read_entry
from cronui.model import Job
from cronui.schedule import ScheduleError, ScheduleKind, parse
from cronui.targets import AgentTarget

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


def once(app: Cronui, when: str, zone: str) -> str:
    """`when` ("in 2h", "at 2026-11-23T09:00") as a one-shot schedule counted from now, or Invalid."""
    try:
        sched = parse(when, zone, now_ms=app.now_ms())
    except ScheduleError as e:
        raise _problem("when", str(e).splitlines()[0]) from None
    if sched.kind is not ScheduleKind.ONCE:
        raise _problem("when", f"expected 'in 2h' or 'at 2026-11-23T09:00' (once), got {when!r}")
    return sched.expr


def followup_entry(app: Cronui, f: Followup) -> dict[str, Any]:
    """The job-file table of a follow-up (its `when` as an `at` time), or Invalid naming what is wrong."""
    given = [k for k in KINDS if getattr(f, k) is not None]
    if len(given) != 1:
        said = "both agent and http" if given else "neither agent nor http"
        raise _problem("agent", f"give exactly one of agent or http (a follow-up's target), got {said}")
    zone = f.timezone or app.settings.timezone
    kind = given[0]
    entry: dict[str, Any] = {
        "name": f.name if f.name is not None else followup_name(app.now_ms()),
        "schedule": once(app, f.when, zone),
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


async def agent_followup(app: Cronui, job: Job, message: str, when: str, name: str | None = None) -> Job:
    """What an agent run asks for with its `schedule_followup` tool: its own job once more at `when`, asking
    `message`, removed once that run has ended. The follow-up keeps the job's model, key, tools and where
    its results go; it is the caller's (the job's owner's) own job, held to the policy as any."""
    if not isinstance(job.target, AgentTarget):
        raise _problem("job", f"{job.name} is not an agent job")
    if not message.strip():
        raise _problem("message", "what the follow-up asks the model is empty")
    made = Job(
        name=name if name is not None else followup_name(app.now_ms()),
        schedule=once(app, when, job.timezone),
        timezone=job.timezone,
        kind=job.kind,
        target=dataclasses.replace(job.target, message=message),
        delivery=dataclasses.replace(job.delivery),
        description=f"a follow-up of {job.name}",
        tags=sorted({*job.tags, "followup"}),
        timeout_s=job.timeout_s,
        pool=job.pool,
        node_label=job.node_label,
    )
    made.delete_after_run = True
    if await app.store.get_job_by_name(made.name) is not None:
        raise NameTaken(made.name)
    return await add_job(app, made)
