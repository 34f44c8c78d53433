"""The jobs' tools: read them (list_jobs, get_job, explain_schedule, why_not_run), write them (create_job,
update_job, delete_job, schedule_followup) and switch them (pause_job, resume_job). Each is a thin call into
`cronui.application`; a job is shown as the API shows it (`job_json`, its literal credentials masked)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from cronui.application import jobs, pauses, watch
from cronui.application.caller import Scope
from cronui.application.errors import Invalid
from cronui.application.explain import DEFAULT_FIRES, ScheduleQuestion
from cronui.application.explain import explain_schedule as explain_schedule_use
from cronui.application.followups import Followup
from cronui.application.followups import schedule_followup as schedule_followup_use
from cronui.application.shapes import job_json
from cronui.application.why import why_not_run as why_use
from cronui.mcp.server import ACTS, READ_ONLY, REMOVES, Ground, tool
from cronui.model import TargetKind
from cronui.model.alerts import HEALTHS

LIST_LIMIT = 100  # jobs list_jobs answers with when not told
MAX_LIST = 1000  # at most, in one answer


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise Invalid(
            f"{name}: expected one of {', '.join(allowed)}, got {value!r}", [{"field": name, "problem": "unknown"}]
        )


def register(mcp: MCPServer, ground: Ground) -> None:
    @tool(mcp, READ_ONLY)
    async def list_jobs(
        ctx: Context,
        tag: str | None = None,
        kind: str | None = None,
        health: str | None = None,
        owner: str | None = None,
        limit: int = LIST_LIMIT,
    ) -> dict[str, Any]:
        """Jobs, by name: each with its schedule, zone, kind, enabled, next run, last status and health.
        Filters: tag, kind (shell, http, agent), health (ok, paused, failing, late, overrun, no_success,
        degraded, never_ran), owner (who created it, e.g. mcp:NAME). At most `limit` (1-1000) jobs."""
        app = ground.app(ctx, Scope.READ)
        _one_of("kind", kind, tuple(str(k) for k in TargetKind))
        _one_of("health", health, HEALTHS)
        if not 1 <= limit <= MAX_LIST:
            raise Invalid(f"limit: expected a whole number from 1 to {MAX_LIST}, got {limit}")
        healths = await watch.healths(app)
        found: list[Any]
        if tag is not None or owner is not None:  # what a list's heads do not hold: the jobs in full
            found = [
                j
                for j in await jobs.list_jobs(app)
                if (tag is None or tag in j.tags) and (owner is None or getattr(j, "owner", None) == owner)
            ]
        else:
            found = list(await jobs.job_heads(app))
        found = [
            j
            for j in found
            if (kind is None or str(j.kind) == kind) and (health is None or healths.get(j.id, watch.OK) == health)
        ]
        found.sort(key=lambda j: j.name)
        shown = [job_json(j, health=healths.get(j.id, watch.OK)) for j in found[:limit]]
        return {"jobs": shown, "count": len(found), "truncated": len(found) > limit}

    @tool(mcp, READ_ONLY)
    async def get_job(ctx: Context, name: str) -> dict[str, Any]:
        """One job in full, with its stats (all time, 7 and 30 days), its health and the alerts in force."""
        return await jobs.show_job(ground.app(ctx, Scope.READ), name)

    @tool(mcp, READ_ONLY)
    async def explain_schedule(
        ctx: Context,
        name: str | None = None,
        schedule: str | None = None,
        timezone: str | None = None,
        count: int = DEFAULT_FIRES,
        start: str | None = None,
    ) -> dict[str, Any]:
        """A schedule in plain English, its next `count` fires in its zone, and the daylight-saving changes
        on the way with what each does to the job. Give a job's `name`, or a `schedule` (cron, `every 15m`,
        `at 2026-12-24T09:00`, `in 2h`) with an optional `timezone`; `start`: from when (ISO-8601), now
        without it."""
        app = ground.app(ctx, Scope.READ)
        return await explain_schedule_use(app, ScheduleQuestion(name, schedule, timezone, count, start))

    @tool(mcp, READ_ONLY)
    async def why_not_run(ctx: Context, name: str) -> dict[str, Any]:
        """Every reason the job did not run or will not run next, each a line with its evidence: disabled,
        the scheduler paused, no scheduler alive, a node label no live node carries, a budget spent, a run
        waiting for approval, a run still running (overlap), a gate that skipped, slots missed while down."""
        return await why_use(ground.app(ctx, Scope.READ), name)

    @tool(mcp, ACTS)
    async def create_job(ctx: Context, job: dict[str, Any]) -> dict[str, Any]:
        """Add a job, given as one job-file table (the API's job body): name, schedule, timezone, and one of
        shell, http (a table: url, method, headers, body, ...), agent (a table: model, message, ...); also
        description, tags, retries, timeout, overlap, approval, deliver_to... Every problem is named."""
        return job_json(await jobs.add_entry(ground.app(ctx, Scope.WRITE), job), full=True)

    @tool(mcp, ACTS)
    async def update_job(ctx: Context, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a job: the job-file keys given replace its own (a table given replaces its keys one by
        one; null removes a key; a value sent back as it was shown masked keeps the one stored)."""
        return job_json(await jobs.edit_entry(ground.app(ctx, Scope.WRITE), name, changes), full=True)

    @tool(mcp, REMOVES)
    async def delete_job(ctx: Context, name: str) -> dict[str, Any]:
        """Remove a job (its runs are kept; the name is free again)."""
        return job_json(await jobs.remove_job(ground.app(ctx, Scope.WRITE), name))

    @tool(mcp, ACTS)
    async def schedule_followup(
        ctx: Context,
        when: str,
        agent: dict[str, Any] | None = None,
        http: dict[str, Any] | None = None,
        name: str | None = None,
        description: str = "",
        timezone: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """A one-shot job `when` ("in 2h", "at 2026-11-23T09:00" in `timezone`), removed once its run has
        ended (its runs are kept): an agent job (`agent`: model, message, ...) or an HTTP call (`http`: url,
        method, body, ...), exactly one. Named followup-DATE-TIME unless given a `name`."""
        app = ground.app(ctx, Scope.WRITE)
        f = Followup(when, agent, http, name, description, timezone, tags or [])
        return job_json(await schedule_followup_use(app, f), full=True)

    @tool(mcp, ACTS)
    async def pause_job(
        ctx: Context,
        name: str,
        for_: Annotated[str | None, Field(alias="for")] = None,
        until: str | None = None,
    ) -> dict[str, Any]:
        """Pause a job. With `for` ("2h", "30m") or `until` (ISO 8601, in the job's zone without an offset):
        its slots until then are skipped (recorded `skipped: paused`) and it resumes by itself. With neither:
        disable it, so it has no next run until resume_job."""
        app = ground.app(ctx, Scope.RUN)
        if for_ is None and until is None:
            return job_json(await jobs.set_enabled(app, name, False), full=True)
        return job_json(await pauses.pause_job(app, name, for_, until, words=("for", "until")), full=True)

    @tool(mcp, ACTS)
    async def resume_job(ctx: Context, name: str) -> dict[str, Any]:
        """Resume a job: end its timed pause, and enable it again if it was disabled (its next run is worked
        out from now)."""
        app = ground.app(ctx, Scope.RUN)
        job = await pauses.resume_job(app, name)
        if job.enabled and not job.auto_disabled:
            return job_json(job, full=True)
        return job_json(await jobs.set_enabled(app, name, True), full=True)
