"""The runs' tools: read them (list_runs, get_run) and act on them (run_now, approve_run, reject_run). A run is
shown as the API shows it (`run_json`); a list leaves out each run's output and milestones (get_run has
them), and get_run gives the tail of its output, so an answer stays small enough for a model to read."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

from cronui import bounds
from cronui.application import jobs, runs
from cronui.application.caller import Scope
from cronui.application.errors import Invalid
from cronui.application.shapes import run_json
from cronui.mcp.server import ACTS, READ_ONLY, Ground, tool
from cronui.timefmt import iso_utc

LIST_LIMIT = 20  # runs list_runs answers with when not told
TAIL = 4000  # characters of a run's output and stderr get_run shows when not told
MAX_TAIL = 64 * 1024
MAX_PAYLOAD = 64 * 1024  # what run_now passes a run, as a hook's body is capped
LISTED_OUT = ("output", "stderr", "milestones")  # what list_runs leaves out of each run


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else text[-n:]


def register(mcp: MCPServer, ground: Ground) -> None:
    @tool(mcp, READ_ONLY)
    async def list_runs(
        ctx: Context,
        job: str | None = None,
        status: list[str] | None = None,
        since: str | None = None,
        limit: int = LIST_LIMIT,
        before: int | None = None,
    ) -> dict[str, Any]:
        """Runs, newest first: of one `job`, in the given `status`es (pending, running, succeeded, failed,
        timed_out, skipped, cancelled, interrupted, awaiting_approval), queued within `since` (30m, 24h,
        7d), older than run `before` (paging). Each run without its output (get_run has it)."""
        app = ground.app(ctx, Scope.READ)
        query = runs.RunQuery(job, status or (), since, None if before is None else str(before), str(limit))
        found = await runs.list_runs(app, query, most=bounds.RUNS_PER_PAGE)
        shown = [{k: v for k, v in run_json(r).items() if k not in LISTED_OUT} for r in found]
        return {"runs": shown, "count": len(shown)}

    @tool(mcp, READ_ONLY)
    async def get_run(ctx: Context, run_id: int, tail: int = TAIL) -> dict[str, Any]:
        """One run: status, times, milestones (so far, while it runs), the last `tail` characters of its
        output and stderr, error, tokens, cost, approval."""
        app = ground.app(ctx, Scope.READ)
        if not 0 <= tail <= MAX_TAIL:
            raise Invalid(f"tail: expected a whole number from 0 to {MAX_TAIL}, got {tail}")
        view = await runs.run_view(app, runs.parse_run_id(str(run_id), "run_id"))
        data = run_json(view.run)
        data["milestones"] = [{"name": m.name, "at": iso_utc(m.at), "data": m.data} for m in view.milestones]
        data["output"], data["stderr"] = _tail(view.stdout, tail), _tail(view.stderr, tail)
        data["output_cut"] = len(view.stdout) > tail or len(view.stderr) > tail
        return data

    @tool(mcp, ACTS)
    async def run_now(
        ctx: Context, name: str, payload: str | dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run a job now (a job with approval: a run waiting for it). `payload`: what the run is given, as a
        hook's body is (`{payload}` in an agent's message, CRONUI_PAYLOAD for a command): text or JSON.
        `params`: values for the job's declared params ({"env": "prod"}); the others take their defaults."""
        app = ground.app(ctx, Scope.RUN)
        request = None
        if payload is not None:
            text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            if len(text.encode()) > MAX_PAYLOAD:
                raise Invalid(f"payload: larger than {MAX_PAYLOAD:,} bytes", [{"field": "payload", "problem": "large"}])
            request = {"method": "MCP", "url": f"mcp:run_now/{name}", "payload": text}
        return run_json(await jobs.run_now(app, name, request=request, params=params))

    @tool(mcp, ACTS)
    async def approve_run(ctx: Context, run_id: int) -> dict[str, Any]:
        """Approve a run waiting for approval: it runs."""
        app = ground.app(ctx, Scope.RUN)
        return run_json(await runs.approve(app, runs.parse_run_id(str(run_id), "run_id"), app.caller.owner))

    @tool(mcp, ACTS)
    async def reject_run(ctx: Context, run_id: int, reason: str | None = None) -> dict[str, Any]:
        """Reject a run waiting for approval: it is skipped, with `reason` recorded."""
        app = ground.app(ctx, Scope.RUN)
        return run_json(await runs.reject(app, runs.parse_run_id(str(run_id), "run_id"), app.caller.owner, reason))
