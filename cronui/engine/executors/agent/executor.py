"""Running an agent job: the request built from the job (key, headers, gate, conversation, message), its
models asked in turn (the job's, then its fallbacks), and the outcome with tokens, cost and memory."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from cronui.engine.executors import redirects
from cronui.engine.executors.agent.ask import Asking, ask, chain_failed, endpoints, worth_another
from cronui.engine.executors.agent.cost import cost_usd, load_price_table
from cronui.engine.executors.agent.gate import run_gate
from cronui.engine.executors.agent.history import carried, recorded_body
from cronui.engine.executors.agent.reply import Reply
from cronui.engine.executors.agent.sentinels import render_message, transient_reply, verdict
from cronui.engine.executors.agent.tools import converse
from cronui.engine.executors.base import (
    CappedBuffer,
    Outcome,
    RunContext,
    hook_payload,
    milestone_request,
    permanent_failure,
)
from cronui.engine.executors.http import masked_request, redirect_guard
from cronui.engine.executors.pacing import Pacer
from cronui.model import RunStatus, params
from cronui.targets import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_KEEP_TURNS, AgentTarget

CONVERSATION_KEY = "conversation"
SESSION_UNREAD = "session-unread"  # set in a run's memory when its session's history could not be read
ERROR_CALLS_SHOWN = 5  # tool calls named by the error of a reply that ended in them


async def run(ctx: RunContext) -> Outcome:
    seen: dict[str, str | None] = {}
    outcome = await _run(ctx, seen)
    if seen:  # what the models' endpoints did, however the run ended (engine/infra.py)
        outcome.endpoints = seen
    return outcome


async def _run(ctx: RunContext, seen: dict[str, str | None]) -> Outcome:
    spec = ctx.job.target
    if not isinstance(spec, AgentTarget):
        return permanent_failure(f"not an agent job ({spec.kind})")
    # The run's own deadline, a second after the job's timeout (which the dispatcher enforces): reading a
    # reply stops at it even if a cancellation never reaches this task.
    pacer = Pacer(deadline=time.monotonic() + ctx.job.timeout_s + 1.0)
    ends = endpoints(spec)
    model, url = ends[0].model, ends[0].url

    # setup: key, conversation, request
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
    key_env = spec.api_key_env
    if key_env:
        key = ctx.env.get(key_env)
        if not key:
            return permanent_failure(f"environment variable {key_env} is not set (the API key for this job)")
        ctx.secrets_used.append(key)
        headers["Authorization"] = f"Bearer {key}"
    try:
        for k, v in spec.headers.items():
            headers[k] = ctx.resolve(v)
    except LookupError as e:
        return permanent_failure(str(e))
    gate_output = ""
    if spec.gate:
        gate = await run_gate(ctx, spec.gate)
        if isinstance(gate, Outcome):
            return gate
        gate_output = gate
    slot = datetime.fromtimestamp(ctx.run.scheduled_for / 1000, UTC).isoformat(timespec="seconds")
    values = {
        "job": ctx.job.name,
        "scheduled_for": slot.replace("+00:00", "Z"),
        "last_output": ctx.last_output,
        "gate_output": gate_output,
        "payload": hook_payload(ctx.run) or "",  # the body of the hook request that started it
        **{f"param.{k}": params.text(v) for k, v in (ctx.run.params or {}).items()},  # {param.K}
    }
    user_message = render_message(spec.message, values)
    persistent = spec.conversation == "persistent" or spec.session is not None  # its own history, or a session's
    # the newest turns within HISTORY_CAP: a conversation saved before the cap is cut at once
    history: list[dict[str, Any]] = carried(list(ctx.memory.get(CONVERSATION_KEY) or [])) if persistent else []
    messages: list[dict[str, Any]] = []
    if spec.system:
        messages.append({"role": "system", "content": render_message(spec.system, values)})
    messages += history
    messages.append({"role": "user", "content": user_message})
    body: dict[str, Any] = {"model": model, "messages": messages}
    if spec.max_tokens is not None:
        body["max_tokens"] = int(spec.max_tokens)
    if spec.temperature is not None:
        body["temperature"] = float(spec.temperature)
    body.update(spec.extra)
    if spec.tools:
        if ctx.toolbox is None:
            return permanent_failure(f"tools {', '.join(spec.tools)}: this program offers the model no tools")
        body["tools"] = ctx.toolbox.specs(list(spec.tools))
    request = masked_request("POST", url, headers, None, ctx)
    request["body"] = recorded_body(body, ctx)  # the run row keeps the newest messages, each cut
    fields: dict[str, Any] = {"request": request}
    ctx.milestone(
        "setup-completed",
        messages=len(messages),
        conversation=spec.conversation if persistent else "isolated",
        model=model,
        request=milestone_request({"url": url, **body}, ctx),  # what is sent: messages as rendered, settings
    )

    idle_s = float(spec.idle_timeout_s or DEFAULT_IDLE_TIMEOUT_S)
    asking = Asking(
        client=ctx.http or redirects.client(),
        headers=headers,
        guard=redirect_guard(spec.headers),  # the key and ${env:} headers never follow to another origin
        timeout=httpx.Timeout(ctx.job.timeout_s, connect=min(10.0, ctx.job.timeout_s), read=idle_s),
        idle_s=idle_s,
        stream=spec.stream is not False,  # None: stream, falling back to one plain request
        key_env=key_env,
        fields=fields,
        pacer=pacer,
        timeout_s=ctx.job.timeout_s,
        max_cost=spec.max_cost_usd,
        endpoints=seen,
    )
    failed: list[str] = []
    try:
        for i, at in enumerate(ends):
            answer = await ask(ctx, asking, at, body if i == 0 else {**body, "model": at.model})
            if isinstance(answer, Reply) and not answer.tool_calls and transient_reply(answer.text):
                shown = " ".join(answer.text.split())
                error = f"the model server answered with an error as its reply: {shown}"
                answer = Outcome(RunStatus.FAILED, error=error, fields=fields)
            if isinstance(answer, Reply):
                reply, answered = answer, at
                break
            if len(ends) == 1:
                return answer
            more = i + 1 < len(ends) and worth_another(answer) and not pacer.past_deadline()
            nxt = ends[i + 1] if more else None
            ctx.milestone("model-failed", model=at.model, error=answer.error, next=nxt.model if nxt else None)
            failed.append(at.model)
            if nxt is None:
                return chain_failed(answer, at, failed, len(ends))
            # the run's output is the reply of the model that answers, not what a failed one began
            ctx.stdout = CappedBuffer(ctx.output_cap, ctx.secrets_used)
        if reply.tool_calls and spec.tools and ctx.toolbox is not None:

            async def again(messages: list[dict[str, Any]]) -> Reply | Outcome:
                ctx.stdout = CappedBuffer(ctx.output_cap, ctx.secrets_used)  # the output is the last reply
                return await ask(ctx, asking, answered, {**body, "model": answered.model, "messages": messages})

            final = await converse(ctx, ctx.toolbox, messages, reply, again)
            if isinstance(final, Outcome):
                return final
            reply = final
    finally:
        if ctx.http is None:
            await asking.client.aclose()

    ctx.milestone("execution-completed", finish_reason=reply.finish_reason, chars=reply.chars)
    if reply.tool_calls_cut:  # the run keeps the first calls, each call's arguments up to a cap
        ctx.milestone("tool-calls-capped", **reply.tool_calls_cut)
    usage = reply.usage or {}
    if answered.model not in ctx.prices and reply.gateway_cost is None:
        await load_price_table()
    cost, cost_source = cost_usd(ctx, answered.model, answered.base, reply)
    fields.update(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=cost,
        tool_calls=reply.tool_calls,
        summary=f"finish: {reply.finish_reason or 'unknown'}"
        + (f" · first token {reply.first_token_ms} ms" if reply.first_token_ms is not None else "")
        + (f" · answered by {answered.model} after {', '.join(failed)} failed" if failed else "")
        + (_cut_summary(reply.tool_calls_cut) if reply.tool_calls_cut else ""),
    )
    ctx.milestone(
        "usage-calculated",
        model=answered.model,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=cost,
        cost_source=cost_source,
    )
    memory: dict[str, Any] = {}
    if persistent:
        keep = int(spec.keep_turns or DEFAULT_KEEP_TURNS)
        turns = [*history, {"role": "user", "content": user_message}, {"role": "assistant", "content": reply.text}]
        memory[CONVERSATION_KEY] = carried(turns[-2 * keep :])

    if not reply.text.strip() and reply.tool_calls:
        calls = reply.tool_calls
        names = ", ".join(f"{c['name']}({c['arguments'][:60]})" for c in calls[:ERROR_CALLS_SHOWN])
        count = reply.tool_calls_cut["calls"] if reply.tool_calls_cut else len(calls)
        if count > ERROR_CALLS_SHOWN:
            names += f" and {count - ERROR_CALLS_SHOWN:,} more"
        return permanent_failure(f"the reply ended in tool calls and no text: {names}", fields=fields, memory=memory)
    return verdict(reply, fields, memory)


def _cut_summary(cut: dict[str, int]) -> str:
    parts = []
    if cut["dropped"]:
        parts.append(f"{cut['calls']:,} tool calls, the first {cut['kept']:,} kept")
    if cut["arguments_cut"]:
        parts.append(f"{cut['arguments_cut']:,} with arguments cut at {cut['max_arguments_chars']:,} characters")
    return " · " + ", ".join(parts)
