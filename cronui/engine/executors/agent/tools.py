"""Tools an agent job offers its model (`tools = ["cronui"]`): the model's tool calls are carried out by a
`Toolbox` the program hands the engine (the application layer's, under the job's owner and the policy), each
result goes back to the model, and the conversation goes on until the model replies without calling a tool,
or MAX_TOOL_TURNS replies have called tools. Every call is a milestone with its arguments and its result.

The engine knows only the protocol: what a tool does lives above it (cronui/application/agent_tools.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cronui.engine.executors.agent.reply import Reply
from cronui.engine.executors.base import Outcome, RunContext, permanent_failure
from cronui.model import Job, Run

log = logging.getLogger(__name__)

MAX_TOOL_TURNS = 8  # replies that may call tools in one run; the next one must answer
MAX_CALLS_PER_TURN = 16  # calls of one reply carried out; the rest are answered as refused
RESULT_SHOWN_CHARS = 2_000  # of a call's result, in its milestone (the model gets all of it, within RESULT_CAP)
RESULT_CAP = 32_000  # characters of one result sent back to the model


class Toolbox(Protocol):
    """What carries out an agent's tool calls: their definitions for the request, and each call."""

    def specs(self, toolsets: list[str]) -> list[dict[str, Any]]:
        """The `tools` of a chat completions request (OpenAI's function tools) for these toolsets."""
        ...

    async def call(self, job: Job, run: Run, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        """Carry out one call as the job's owner: (done, the result as text — JSON, or the refusal's line)."""
        ...


Ask = Callable[[list[dict[str, Any]]], Awaitable[Reply | Outcome]]


def _arguments(text: str) -> dict[str, Any] | str:
    """A call's arguments as an object, or why they are not one (told to the model, which may correct them)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return "arguments: not JSON"
    return value if isinstance(value, dict) else "arguments: not a JSON object"


def _sum(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def merged(first: Reply, later: Reply) -> Reply:
    """The last reply, with the tokens and the gateway's cost of every turn so far (unknown stays unknown)."""
    usage = None
    if first.usage is not None and later.usage is not None:
        keys = ("prompt_tokens", "completion_tokens", "total_tokens")
        usage = {k: _sum(first.usage.get(k), later.usage.get(k)) for k in keys}
    later.usage = usage
    if first.gateway_cost is not None and later.gateway_cost is not None:
        later.gateway_cost = first.gateway_cost + later.gateway_cost
    else:
        later.gateway_cost = None
    return later


async def converse(
    ctx: RunContext, toolbox: Toolbox, messages: list[dict[str, Any]], reply: Reply, ask: Ask
) -> Reply | Outcome:
    """Carry out the reply's tool calls and ask again until a reply calls none; the final reply carries the
    tokens of every turn. A failed request ends the run as that failure."""
    turns = 0
    while reply.tool_calls:
        if turns >= MAX_TOOL_TURNS:
            return permanent_failure(f"the model still called tools after {MAX_TOOL_TURNS} turns")
        turns += 1
        calls = reply.tool_calls
        ids = [c.get("id") or f"call_{turns}_{i}" for i, c in enumerate(calls)]
        messages.append(
            {
                "role": "assistant",
                "content": reply.text or None,
                "tool_calls": [
                    {"id": ids[i], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for i, c in enumerate(calls)
                ],
            }
        )
        for i, c in enumerate(calls):
            result = await _one(ctx, toolbox, c, turns, i)
            messages.append({"role": "tool", "tool_call_id": ids[i], "content": result[:RESULT_CAP]})
        answer = await ask(messages)
        if isinstance(answer, Outcome):
            return answer
        reply = merged(reply, answer)
    return reply


async def _one(ctx: RunContext, toolbox: Toolbox, call: dict[str, Any], turn: int, index: int) -> str:
    """One call carried out (or refused), its milestone sent; the text the model gets back."""
    name = call["name"]
    args = _arguments(call["arguments"])
    if index >= MAX_CALLS_PER_TURN:
        ok, result = False, f"not carried out: at most {MAX_CALLS_PER_TURN} tool calls per reply"
    elif isinstance(args, str):
        ok, result = False, args
    else:
        try:
            ok, result = await toolbox.call(ctx.job, ctx.run, name, args)
        except Exception as e:  # a tool's own defect fails the call, never the run or the scheduler
            log.exception("tool %s of run #%s failed", name, ctx.run.id)
            ok, result = False, f"the tool failed: {type(e).__name__}"
    result = ctx.mask(result)
    shown = result if len(result) <= RESULT_SHOWN_CHARS else result[:RESULT_SHOWN_CHARS] + "…"
    ctx.milestone("tool-called", tool=name, turn=turn, arguments=call["arguments"], ok=ok, result=shown)
    return result if ok else f"error: {result}"
