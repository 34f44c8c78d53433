"""Timed pauses, one use case for every face: a job's (`cronui jobs pause NAME --for 2h | --until AT`,
`POST /api/v1/jobs/NAME/pause`, MCP's pause_job) and the whole scheduler's (`cronui pause --for 30m`).
Each ends by itself at its time (engine.pauses, engine.holds); `resume` ends it before."""

from __future__ import annotations

from typing import Any

from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.application.values import parse_instant
from cronui.bounds import Duration
from cronui.engine.pauses import PauseState
from cronui.jobs import JobError, parse_duration
from cronui.model import Job

MAX_PAUSE_S = 366 * 86400.0  # a pause longer than a year is a disable (`jobs disable`), said plainly
PAUSE_SPAN = Duration(MAX_PAUSE_S, positive=True)


def pause_end(app: Cronui, span: Any, until: Any, zone: str, *, words: tuple[str, str] = ("--for", "--until")) -> int:
    """When a pause asked for `--for SPAN` (10m, 2h, 1d; seconds as a number) or `--until AT` (ISO 8601, in
    `zone` when it has no offset) ends, in epoch ms; Invalid when neither or both are given, or the end is
    not in the future."""
    now = app.now_ms()
    if (span is None) == (until is None):
        raise Invalid(f"say how long: {words[0]} 2h or {words[1]} 2026-11-23T09:00 (one of them)")
    if span is not None:
        if isinstance(span, bool) or not isinstance(span, str | int | float):
            raise Invalid(f"{words[0]}: expected a duration like 30m or 2h, got {span!r}")
        try:
            seconds = parse_duration(span, words[0].lstrip("-"), PAUSE_SPAN)
        except JobError as e:
            raise Invalid(str(e)) from None
        return now + int(seconds * 1000)
    if not isinstance(until, str):
        raise Invalid(f"{words[1]}: expected an ISO-8601 time like 2026-11-23T09:00, got {until!r}")
    end = parse_instant(until, zone, words[1])
    if end <= now:
        raise Invalid(f"{words[1]}: {until} has passed (a pause ends in the future)")
    if end - now > MAX_PAUSE_S * 1000:
        raise Invalid(f"{words[1]}: {until} is more than a year away (disable the job instead)")
    return end


async def pause_job(app: Cronui, name: str, span: Any = None, until: Any = None, **kw: Any) -> Job:
    """Hold a job's slots until its pause ends (they are recorded skipped: paused); then it runs again."""
    job = await app.control.job(name)
    return await app.control.pause_job(job.name, pause_end(app, span, until, job.timezone, **kw))


async def resume_job(app: Cronui, name: str) -> Job:
    """End a job's timed pause now (a job that was not paused is left as it is)."""
    job = await app.control.job(name)
    if job.paused_until is None:
        return job
    return await app.control.pause_job(job.name, None)


async def pause_scheduler(app: Cronui, span: Any = None, until: Any = None) -> int | None:
    """Pause the whole scheduler: until `cronui resume` when neither is given, else until its end (returned)."""
    end = None if span is None and until is None else pause_end(app, span, until, app.settings.timezone)
    await app.control.pause(end)
    return end


async def scheduler_pause(app: Cronui) -> PauseState:
    return await app.control.pause_state()
