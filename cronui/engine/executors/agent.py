"""Agent jobs over the OpenAI-compatible Chat Completions protocol (OpenAI, OpenRouter, Ollama, vLLM,
LiteLLM, llama.cpp's server, LM Studio, the OpenClaw gateway).

Streams by default (SSE with `stream_options.include_usage`) so viewers can follow the reply as it is
written, and falls back to one plain request when the server refuses to stream. Milestones, in order:
setup-completed, execution-started, first-token, execution-completed, usage-calculated.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from cronui.engine.executors import redirects
from cronui.engine.executors.base import Outcome, RunContext, permanent_failure
from cronui.engine.executors.http import masked_request, redirect_guard, status_failure, transport_error
from cronui.model import RunStatus
from cronui.targets import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_KEEP_TURNS, AgentTarget

PLACEHOLDER = re.compile(r"\{(job|scheduled_for|last_output)\}")
FAILED_SENTINEL = "TASK_FAILED"
QUIET_SENTINELS = ("HEARTBEAT_OK", "NO_REPLY")
CONVERSATION_KEY = "conversation"


class StreamError(Exception):
    """The server's stream could not be understood (the message names the problem)."""


@dataclass
class Reply:
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] | None = None
    first_token_ms: int | None = None


def render_message(template: str, values: dict[str, str]) -> str:
    """Substitute only the named placeholders; any other braces (JSON in a prompt) pass through."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _merge_tool_calls(acc: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    for d in deltas:
        slot = acc.setdefault(int(d.get("index", len(acc))), {"id": None, "name": "", "arguments": ""})
        if d.get("id"):
            slot["id"] = d["id"]
        fn = d.get("function") or {}
        if fn.get("name"):
            slot["name"] += fn["name"]
        if fn.get("arguments"):
            slot["arguments"] += fn["arguments"]


def _tool_calls_from_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        out.append({"id": call.get("id"), "name": fn.get("name", ""), "arguments": fn.get("arguments", "")})
    return out


async def _read_stream(resp: httpx.Response, ctx: RunContext, started: float, idle_s: float) -> Reply:
    reply = Reply()
    tools: dict[int, dict[str, Any]] = {}
    lines = resp.aiter_lines()
    line_no = 0
    while True:
        try:
            line = await asyncio.wait_for(anext(lines), idle_s)
        except StopAsyncIteration:
            break
        line_no += 1
        if not line or line.startswith(":"):
            continue
        if not line.startswith("data:"):
            continue  # event:, id:, retry: fields carry nothing we need
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError(f"malformed stream: line {line_no} is not JSON: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise StreamError(f"malformed stream: line {line_no} is not a JSON object")
        if chunk.get("error"):
            raise StreamError(f"the server reported an error mid-stream: {json.dumps(chunk['error'])[:200]}")
        if chunk.get("usage"):
            reply.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if reply.first_token_ms is None:
                    reply.first_token_ms = int((time.monotonic() - started) * 1000)
                    ctx.milestone("first-token", after_ms=reply.first_token_ms)
                reply.text += text
                ctx.output("stdout", text.encode())
            if delta.get("tool_calls"):
                if reply.first_token_ms is None:
                    reply.first_token_ms = int((time.monotonic() - started) * 1000)
                    ctx.milestone("first-token", after_ms=reply.first_token_ms)
                _merge_tool_calls(tools, delta["tool_calls"])
            if choice.get("finish_reason"):
                reply.finish_reason = choice["finish_reason"]
    reply.tool_calls = [tools[i] for i in sorted(tools)]
    return reply


def _plain_reply(payload: Any, ctx: RunContext, started: float) -> Reply:
    if not isinstance(payload, dict) or not payload.get("choices"):
        raise StreamError("the server's reply has no choices")
    choice = payload["choices"][0]
    message = choice.get("message") or {}
    reply = Reply(
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason"),
        tool_calls=_tool_calls_from_message(message),
        usage=payload.get("usage"),
        first_token_ms=int((time.monotonic() - started) * 1000),
    )
    ctx.milestone("first-token", after_ms=reply.first_token_ms)
    if reply.text:
        ctx.output("stdout", reply.text.encode())
    return reply


def _refuses_streaming(status: int, body: str) -> bool:
    return status in (400, 422) and "stream" in body.lower()


def cost_usd(ctx: RunContext, model: str, usage: dict[str, int] | None) -> float | None:
    """From the config's price table; unknown model (or no usage) -> unknown, never zero."""
    price = ctx.prices.get(model)
    if price is None or not usage:
        return None
    return (usage.get("prompt_tokens", 0) * price.input + usage.get("completion_tokens", 0) * price.output) / 1e6


async def run(ctx: RunContext) -> Outcome:
    spec = ctx.job.target
    if not isinstance(spec, AgentTarget):
        return permanent_failure(f"not an agent job ({spec.kind})")
    model = spec.model
    base = spec.base_url.rstrip("/")
    url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"

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
    slot = datetime.fromtimestamp(ctx.run.scheduled_for / 1000, UTC).isoformat(timespec="seconds")
    values = {"job": ctx.job.name, "scheduled_for": slot.replace("+00:00", "Z"), "last_output": ctx.last_output}
    user_message = render_message(spec.message, values)
    persistent = spec.conversation == "persistent"
    history: list[dict[str, Any]] = list(ctx.memory.get(CONVERSATION_KEY) or []) if persistent else []
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
    request = masked_request("POST", url, headers, None, ctx)
    request["body"] = body
    fields: dict[str, Any] = {"request": request}
    ctx.milestone("setup-completed", messages=len(messages), conversation="persistent" if persistent else "isolated")

    client = ctx.http or redirects.client(follow_redirects=True)
    guard = redirect_guard(spec.headers)  # the key and ${env:} headers never follow to another origin
    idle_s = float(spec.idle_timeout_s or DEFAULT_IDLE_TIMEOUT_S)
    timeout = httpx.Timeout(ctx.job.timeout_s, connect=min(10.0, ctx.job.timeout_s), read=idle_s)
    stream = spec.stream is not False  # None: stream, falling back to one plain request
    started = time.monotonic()
    try:
        reply: Reply | None = None
        if stream:
            streaming = {**body, "stream": True, "stream_options": {"include_usage": True}}
            ctx.milestone("execution-started", stream=True)
            async with client.stream(
                "POST", url, headers=headers, json=streaming, timeout=timeout, extensions=guard.extensions()
            ) as resp:
                if resp.status_code >= 400:
                    text = (await resp.aread()).decode("utf-8", "replace")
                    if not _refuses_streaming(resp.status_code, text):
                        return _http_failure(resp, text, fields, key_env)
                elif "text/event-stream" in resp.headers.get("content-type", ""):
                    reply = await _read_stream(resp, ctx, started, idle_s)
                else:  # answered the whole thing at once
                    reply = _plain_reply(json.loads(await resp.aread()), ctx, started)
        if reply is None:
            ctx.milestone("execution-started", stream=False)
            resp = await client.post(url, headers=headers, json=body, timeout=timeout, extensions=guard.extensions())
            if resp.status_code >= 400:
                return _http_failure(resp, resp.text, fields, key_env)
            reply = _plain_reply(resp.json(), ctx, started)
    except TimeoutError:
        return Outcome(RunStatus.TIMED_OUT, error=f"no token for {idle_s:g}s (idle timeout)", fields=fields)
    except httpx.HTTPError as e:
        if isinstance(e, httpx.ReadTimeout):
            return Outcome(RunStatus.TIMED_OUT, error=f"no token for {idle_s:g}s (idle timeout)", fields=fields)
        return Outcome(RunStatus.FAILED, error=ctx.mask(transport_error(e)), fields=fields)
    except (StreamError, ValueError) as e:
        return permanent_failure(ctx.mask(str(e)), fields=fields)
    finally:
        if ctx.http is None:
            await client.aclose()

    ctx.milestone("execution-completed", finish_reason=reply.finish_reason, chars=len(reply.text))
    usage = reply.usage or {}
    cost = cost_usd(ctx, model, reply.usage)
    fields.update(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=cost,
        tool_calls=reply.tool_calls,
        summary=f"finish: {reply.finish_reason or 'unknown'}"
        + (f" · first token {reply.first_token_ms} ms" if reply.first_token_ms is not None else ""),
    )
    ctx.milestone(
        "usage-calculated",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=cost,
    )
    memory: dict[str, Any] = {}
    if persistent:
        keep = int(spec.keep_turns or DEFAULT_KEEP_TURNS)
        turns = [*history, {"role": "user", "content": user_message}, {"role": "assistant", "content": reply.text}]
        memory[CONVERSATION_KEY] = turns[-2 * keep :]

    if not reply.text.strip() and reply.tool_calls:
        names = ", ".join(f"{c['name']}({c['arguments'][:60]})" for c in reply.tool_calls)
        return permanent_failure(f"the reply ended in tool calls and no text: {names}", fields=fields, memory=memory)
    sentinel = last_line(reply.text)
    if sentinel == FAILED_SENTINEL:
        return permanent_failure("the agent reported TASK_FAILED", fields=fields, memory=memory)
    if sentinel in QUIET_SENTINELS:
        return Outcome(
            RunStatus.SUCCEEDED,
            fields=fields,
            memory=memory,
            deliver_text=reply.text,
            suppress_delivery=f"the agent replied {sentinel}",
        )
    return Outcome(RunStatus.SUCCEEDED, fields=fields, memory=memory, deliver_text=reply.text)


def _http_failure(resp: httpx.Response, text: str, fields: dict[str, Any], key_env: str | None) -> Outcome:
    status = resp.status_code
    detail = text.strip().replace("\n", " ")[:200]
    if status in (401, 403):
        hint = f"check the API key in ${key_env}" if key_env else "the server wants an API key (--api-key-env)"
        return permanent_failure(
            f"HTTP {status} from the model server: {hint} (permanent: not retried)", http_status=status, fields=fields
        )
    return status_failure(resp, fields, detail)
