"""The MCP server: one MCPServer over one store's use cases (`Cronui`), its tools registered by `job_tools` and
`run_tools`, and its two resources.

Every tool asks `Ground.app(ctx, scope)` first: the caller of this call (over stdio the one the server was
started for, over HTTP the request's), refused (the API's 403 line) when its scope does not cover the tool.
A refusal of the application layer (bad input, a missing job or run, a conflict, a scope or a policy) comes
back as a tool error (`isError`) whose text is the line the CLI prints, then the problems field by field."""

from __future__ import annotations

import functools
import keyword
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from cronui.application import runs
from cronui.application.caller import Caller, Scope, require
from cronui.application.context import Cronui
from cronui.application.errors import REFUSALS, first_line, problems
from cronui.application.jobtext import job_file_text
from cronui.application.shapes import json_text, run_json

INSTRUCTIONS = """\
cronui schedules agent tasks, shell commands and HTTP calls. Read jobs (list_jobs, get_job), ask what a
schedule means (explain_schedule) or why a job did not run (why_not_run), read runs (list_runs, get_run),
and act: run_now, approve_run / reject_run, pause_job / resume_job, create_job / update_job / delete_job
(a job as a job-file table: name, schedule, timezone, and one of shell, http, agent), and
schedule_followup for a one-shot agent or HTTP job "in 2h" or "at 2026-11-23T09:00" that is removed after
it runs. Times are ISO-8601; durations read 30s, 10m, 2h, 7d."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
ACTS = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
REMOVES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)

Tool = Callable[..., Awaitable[Any]]


class Ground:
    """What every tool starts from: the use cases' ground, and who asks in a call."""

    def __init__(self, app: Cronui, caller_of: Callable[[Context], Caller]) -> None:
        self.base = app
        self.caller_of = caller_of

    def app(self, ctx: Context, scope: Scope) -> Cronui:
        """The use cases' ground for this call's caller; Forbidden when its scope is below `scope`."""
        caller = self.caller_of(ctx)
        require(caller, scope)
        return self.base.as_caller(caller)


def refusal_text(e: Exception) -> str:
    """A refusal as a tool error says it: the CLI's line, then each problem on a line of its own."""
    lines = [first_line(e)]
    lines += [f"{p.get('field')}: {p.get('problem')}" for p in problems(e) if p.get("field")]
    return "\n".join(dict.fromkeys(lines))  # a problem that is the line itself is not said twice


def tool(mcp: MCPServer, annotations: ToolAnnotations) -> Callable[[Tool], Tool]:
    """Register an async tool whose refusals come back as tool errors (`isError`), never as a crash."""

    def register(fn: Tool) -> Tool:
        @functools.wraps(fn)
        async def answered(*args: Any, **kwargs: Any) -> Any:
            try:  # an argument named as a Python keyword (`for`) is the parameter `for_`, its alias
                return await fn(*args, **{f"{k}_" if keyword.iskeyword(k) else k: v for k, v in kwargs.items()})
            except REFUSALS as e:  # the words themselves: a ToolError's would be prefixed by the SDK
                return CallToolResult(content=[TextContent(type="text", text=refusal_text(e))], is_error=True)

        mcp.add_tool(answered, annotations=annotations, structured_output=True)
        return fn

    return register


def build_server(app: Cronui, caller_of: Callable[[Context], Caller]) -> MCPServer:
    """The MCP server over `app`'s store, each call made as `caller_of(ctx)` says."""
    from cronui.mcp import job_tools, run_tools  # they register on the server this builds

    root = logging.getLogger()
    kept = root.handlers[:], root.level
    mcp: MCPServer = MCPServer("cronui", instructions=INSTRUCTIONS, log_level="WARNING")
    root.handlers[:], root.level = kept  # the SDK sets up the root logger when built: each face keeps its own
    ground = Ground(app, caller_of)
    job_tools.register(mcp, ground)
    run_tools.register(mcp, ground)

    @mcp.resource("cronui://jobs/{name}", mime_type="application/toml", description="a job as a job file")
    async def job_resource(name: str, ctx: Context) -> str:
        try:
            return await job_file_text(ground.app(ctx, Scope.READ), name)
        except REFUSALS as e:
            raise ResourceError(refusal_text(e)) from None

    @mcp.resource("cronui://runs/{run_id}", mime_type="application/json", description="a run as JSON")
    async def run_resource(run_id: str, ctx: Context) -> str:
        try:
            found = await runs.find_run(ground.app(ctx, Scope.READ), run_id)
        except REFUSALS as e:
            raise ResourceError(refusal_text(e)) from None
        return json_text(run_json(found))

    return mcp
