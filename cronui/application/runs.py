"""Runs, whichever face asks: list them with filters and paging, read one and its output so far, cancel,
approve and reject, and follow the live event log.

A face passes what it read as text (a run id as `#12` or `12`, a status name, a duration) with the name it
knows the value by (`RUN_ID`, `--since`, `since`), so a refusal names the option or parameter the caller
typed; the rules and the words are the same everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from cronui import bounds
from cronui.application.context import Cronui
from cronui.application.errors import Ended, Invalid
from cronui.application.values import parse_duration, parse_int
from cronui.engine.approvals import APPROVAL_MILESTONES
from cronui.engine.control import NotFound
from cronui.model import EventKind, Job, Milestone, Run, RunEvent, RunStatus
from cronui.model.records import RunFilter
from cronui.store.events import EventCursor

MAX_ID = 2**62  # the largest run or event id a caller may name
DEFAULT_LIMIT = 50  # runs listed when the caller does not say how many
ACTIVE = (RunStatus.RUNNING, RunStatus.PENDING, RunStatus.AWAITING_APPROVAL)  # what the live pane shows


# ---------------------------------------------------------------- one run


def parse_run_id(text: str, name: str = "run id") -> int:
    """A run id as printed (`#12`) or bare (`12`)."""
    return parse_int(text.lstrip("#"), name, 1, MAX_ID)


async def get_run(app: Cronui, run_id: int) -> Run:
    run = await app.store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run #{run_id}")
    return run


async def find_run(app: Cronui, text: str, name: str = "run id") -> Run:
    """The run a caller named as text (NotFound when there is none)."""
    return await get_run(app, parse_run_id(text, name))


@dataclass
class RunView:
    """A run with what it has said so far: once it ended, its record; while it runs, milestones and output
    come from the live event log (its approval is on the run itself)."""

    run: Run
    milestones: list[Milestone] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


async def run_view(app: Cronui, run_id: int) -> RunView:
    """The run and its output so far (NotFound when it no longer exists)."""
    run = await get_run(app, run_id)
    if run.status.is_final:
        return RunView(run, list(run.milestones), run.output, run.stderr)
    view = RunView(run, [m for m in run.milestones if m.name in APPROVAL_MILESTONES])
    for ev in await app.store.run_events(run_id):
        if ev.kind is EventKind.MILESTONE:
            view.milestones.append(Milestone(ev.name or "", ev.at, dict(ev.data)))
        elif ev.kind is EventKind.OUTPUT:
            if ev.name == "stderr":
                view.stderr += str(ev.data.get("text", ""))
            else:
                view.stdout += str(ev.data.get("text", ""))
    return view


async def follow_output(app: Cronui, run: Run, poll_s: float = 0.1) -> AsyncIterator[tuple[str, str]]:
    """A running run's output as it comes, `(stream, text)` with stream `stdout` or `stderr`: what the log
    held when following began, then what is written after, until the run ends. A run whose output never
    passed through the log (it ended unseen) gives its recorded output once."""
    assert run.id is not None
    cursor = EventCursor(app.store)
    await cursor.prime()
    shown = 0
    # first the log as it stood when following began, then each read of what came after it
    events = [ev for ev in await app.store.run_events(run.id) if ev.id is not None and ev.id <= cursor.last_id]
    polled = False
    while True:
        for ev in events:
            shown += 1
            if ev.kind is EventKind.OUTPUT:
                yield _chunk(ev)
            if ev.kind is EventKind.FINISHED:
                return
        if polled:
            current = await app.store.get_run(run.id)
            if current is None or current.status.is_final:
                if current is not None and shown == 0:
                    yield "stdout", current.output
                return
            await asyncio.sleep(poll_s)
        events = [ev for ev in await cursor.read() if ev.run_id == run.id]
        polled = True


def _chunk(ev: RunEvent) -> tuple[str, str]:
    return ("stderr" if ev.name == "stderr" else "stdout"), str(ev.data.get("text", ""))


# ---------------------------------------------------------------- lists


@dataclass
class RunQuery:
    """Which runs a caller asks for, as typed: every value is optional text (or status names)."""

    job: str | None = None
    statuses: Sequence[str] = ()
    since: str | None = None
    before: str | None = None
    limit: str | None = None

    @property
    def narrowed(self) -> bool:
        """Whether it asks for some runs only (a job, statuses or a window), not simply the latest."""
        return bool(self.job or self.statuses or self.since)


def start_of(app: Cronui, text: str, name: str = "since") -> int:
    """The instant `text` (a duration: 30m, 24h, 7d) ago, as epoch ms."""
    seconds = parse_duration(text, name, bounds.LOOKBACK)
    return app.now_ms() - int(seconds * 1000)


def parse_statuses(names: Sequence[str], name: str = "status") -> list[RunStatus]:
    known = [str(s) for s in RunStatus]
    bad = next((s for s in names if s not in known), None)
    if bad is not None:  # the status given, not the list of them (`['bogus']`)
        raise Invalid(f"{name}: expected one of {' '.join(known)}, got {bad!r}")
    return [RunStatus(s) for s in names]


async def list_runs(app: Cronui, query: RunQuery, *, most: int = bounds.RUNS_PER_PAGE, prefix: str = "") -> list[Run]:
    """Runs, newest first: at most `limit` (default 50, at most `most`), of one job, in the given statuses,
    queued within `since`, older than run `before` (paging back). A value's name in a refusal is `prefix`
    and its own (`--limit` on the command line, `limit` in a query)."""
    limit = DEFAULT_LIMIT if query.limit is None else parse_int(query.limit, f"{prefix}limit", 1, most)
    flt = RunFilter(limit=limit)
    if query.statuses:
        flt.statuses = parse_statuses(query.statuses, f"{prefix}status")
    if query.since is not None:
        flt.since = start_of(app, query.since, f"{prefix}since")
    if query.before is not None:
        flt.before_id = parse_run_id(query.before, f"{prefix}before")
    if query.job is not None:
        flt.job_id = (await app.control.job(query.job)).id
    return await app.store.list_runs(flt)


async def page_of_runs(app: Cronui, flt: RunFilter) -> list[Run]:
    """Runs as a filter already built (by a screen) selects them, newest first."""
    return await app.store.list_runs(flt)


async def awaiting_approval(app: Cronui, limit: int = 1000) -> list[Run]:
    """Runs waiting for approval, oldest first."""
    runs = await app.store.list_runs(RunFilter(statuses=[RunStatus.AWAITING_APPROVAL], limit=limit))
    return sorted(runs, key=lambda r: r.id or 0)


@dataclass
class InFlight:
    """What a live view starts from: the jobs, the pause flag, runs pending, running or waiting for approval,
    and the logged events of the newest of them."""

    paused: bool
    jobs: list[Job]
    active: list[Run]
    events: dict[int, list[RunEvent]]


async def in_flight(app: Cronui, limit: int, with_events: int) -> InFlight:
    """Up to `limit` runs in flight, the first `with_events` of them with their logged events."""
    jobs = await app.store.list_jobs()
    paused = await app.control.paused()
    active = await app.store.list_runs(RunFilter(statuses=list(ACTIVE), limit=limit))
    events: dict[int, list[RunEvent]] = {}
    for run in active[:with_events]:
        assert run.id is not None
        events[run.id] = await app.store.run_events(run.id)
    return InFlight(paused, jobs, active, events)


# ---------------------------------------------------------------- decisions


async def cancel(app: Cronui, run_id: int) -> Run:
    """Cancel a pending, waiting or running run: one not started yet ends cancelled at once, a running one
    is asked to stop (it is returned still running). A run that had already ended is refused (`Ended`)."""
    found = await get_run(app, run_id)
    if found.status.is_final:
        raise Ended(found)
    return await app.control.cancel(run_id)


async def approve(app: Cronui, run_id: int, by: str) -> Run:
    """Approve a run waiting for approval, recorded as decided `by`: it runs (`NotWaiting` when it does not
    wait)."""
    return await app.control.approve(run_id, by)


async def reject(app: Cronui, run_id: int, by: str, reason: str | None = None) -> Run:
    """Reject a run waiting for approval, recorded as decided `by` with `reason`: it is skipped."""
    return await app.control.reject(run_id, by, reason)


# ---------------------------------------------------------------- the live event log


class EventFeed:
    """The live event log from a point on, of one job or all: each `next` hands out what was written since
    the last, in order, each event once (cronui.store.events)."""

    def __init__(self, cursor: EventCursor, job_id: int | None) -> None:
        self.cursor = cursor
        self.job_id = job_id

    async def next(self, idle_s: float) -> list[RunEvent]:
        """The events written since the last call (the job's only, with one); when the log had nothing new,
        none after waiting `idle_s`."""
        batch = await self.cursor.read()
        if not batch:
            await asyncio.sleep(idle_s)
        return [ev for ev in batch if self.job_id is None or ev.job_id == self.job_id]


async def follow_events(app: Cronui, job: str | None = None, after: int | None = None) -> EventFeed:
    """A feed of the events of `job` (or all), after event id `after` (resuming), or from now."""
    job_id = None if job is None else (await app.control.job(job)).id
    cursor = EventCursor(app.store, after or 0)
    if after is None:
        await cursor.prime()
    return EventFeed(cursor, job_id)
