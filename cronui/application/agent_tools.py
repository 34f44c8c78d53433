"""The tools an agent job offers its model (`tools = ["cronui"]`): `schedule_followup`, `list_runs` and
`get_run`, carried out as the job's owner would ask them — through the same use cases as every face, held
to the `[policy]` (an agent's call is always limited, whoever owns its job; a job a token's caller made,
with that token's own overrides) — and answered as JSON, or as
the refusal's one line, which the model reads and may correct.

`equip(engine)` hands them to an engine; each face that builds one calls it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from cronui.application import followups, runs, tokens
from cronui.application.caller import Caller, Scope
from cronui.application.context import Cronui
from cronui.application.errors import REFUSALS, Invalid, first_line
from cronui.application.shapes import json_text, run_json
from cronui.engine.engine import Engine
from cronui.model import Job, Run
from cronui.owner_budget import held_owner

RUNS_LISTED = 20  # runs one list_runs call returns at most
OUTPUT_TAIL = 2_000  # characters of a run's output get_run returns

_SPECS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "schedule_followup",
            "description": "Schedule a one-shot follow-up: this same job runs once more at the given time with "
            "the given message (then the follow-up job is removed). Use `in` (like 2h, 30m) or `at` (ISO time).",
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {"type": "string", "description": "what the follow-up run asks the model"},
                    "in": {"type": "string", "description": "how long from now, like 2h or 30m"},
                    "at": {"type": "string", "description": "when, as an ISO 8601 time"},
                    "name": {"type": "string", "description": "a name for the follow-up job (optional)"},
                },
                "required": ["message"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "list_runs",
            "description": "The latest runs of a job (newest first): id, status, when, error, cost.",
            "parameters": {
                "type": "object",
                "properties": {
                    "job": {"type": "string", "description": "the job's name (default: this job)"},
                    "status": {"type": "string", "description": "only runs in this status (e.g. failed)"},
                    "limit": {"type": "integer", "description": f"at most this many (1-{RUNS_LISTED})"},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_run",
            "description": "One run: its status, times, error, cost and the tail of its output.",
            "parameters": {
                "type": "object",
                "properties": {"id": {"type": "integer", "description": "the run's id"}},
                "required": ["id"],
            },
        },
    },
]


def agent_caller(job: Job) -> Caller:
    """Who an agent's tool calls act as: the job's owner, held to the policy, able to schedule (write)."""
    owner = getattr(job, "owner", None) or f"agent:{job.name}"
    origin, _, who = owner.partition(":")
    return Caller(origin or "agent", who or job.name, Scope.WRITE, limited=True)


class AgentTools:
    """The engine's Toolbox for the `cronui` toolset."""

    def __init__(self, app: Cronui) -> None:
        self.app = app

    def specs(self, toolsets: list[str]) -> list[dict[str, Any]]:
        return list(_SPECS) if "cronui" in toolsets else []

    async def call(self, job: Job, run: Run, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        caller = agent_caller(job)
        token = held_owner(caller.owner)
        if token is not None:  # a job a token's caller made: its agent is held to that token's own policy too
            caller = dataclasses.replace(caller, policy=await tokens.token_policy(self.app, token))
        app = self.app.as_caller(caller)
        try:
            if name == "list_runs":
                return True, await _list_runs(app, job, arguments)
            if name == "get_run":
                return True, await _get_run(app, arguments)
            if name == "schedule_followup":
                return True, await _followup(app, job, arguments)
        except REFUSALS as e:
            return False, first_line(e)
        return False, f"{name!r} is not a tool of this job (its tools: schedule_followup, list_runs, get_run)"


async def _list_runs(app: Cronui, job: Job, args: dict[str, Any]) -> str:
    limit = args.get("limit", 10)
    query = runs.RunQuery(
        job=str(args.get("job") or job.name),
        statuses=[str(args["status"])] if args.get("status") else (),
        limit=str(limit),
    )
    found = await runs.list_runs(app, query, most=RUNS_LISTED)
    keep = ("id", "job", "status", "trigger", "scheduled_for", "started_at", "finished_at", "error", "cost_usd")
    return json_text([{k: v for k, v in run_json(r).items() if k in keep} for r in found], indent=None)


async def _get_run(app: Cronui, args: dict[str, Any]) -> str:
    run = await runs.get_run(app, runs.parse_run_id(str(args.get("id", "")), "id"))
    data = run_json(run)
    output = data.get("output") or ""
    data["output"] = output[-OUTPUT_TAIL:]
    return json_text(data, indent=None)


async def _followup(app: Cronui, job: Job, args: dict[str, Any]) -> str:
    given = [k for k in ("in", "at") if args.get(k)]
    if len(given) != 1:
        raise Invalid("when: give exactly one of `in` (like 2h) or `at` (an ISO time)")
    when = f"{given[0]} {args[given[0]]}"
    name = str(args["name"]) if args.get("name") else None
    made = await followups.agent_followup(app, job, str(args.get("message") or ""), when, name)
    return json_text({"name": made.name, "schedule": made.schedule, "next_run_at": _iso(made.next_run_at)}, indent=None)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def equip(engine: Engine, app: Cronui | None = None) -> None:
    """Hand the engine the tools agent jobs may offer their models."""
    engine.dispatcher.toolbox = AgentTools(app or Cronui(engine.settings, engine.store, engine.control, engine.clock))
