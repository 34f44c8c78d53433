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
from cronui.engine.executors.http import (
    masked_request,
    milestone_request,
    redirect_guard,
    status_failure,
    transport_error,
)
from cronui.model import RunStatus
from cronui.targets import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_KEEP_TURNS, AgentTarget

PLACEHOLDER = re.compile(r"\{(job|scheduled_for|last_output)\}")
FAILED_SENTINEL = "TASK_FAILED"
QUIET_SENTINELS = ("HEARTBEAT_OK", "NO_REPLY")
CONVERSATION_KEY = "conversation"


class StreamError(Exception):
    """The server's stream could not be understood (the message names the problem)."""


class CutStream(Exception):
    """The stream ended before the reply did (no finish_reason, no [DONE]): worth another try."""


class StalledStream(Exception):
    """No content arrived for the idle timeout (keep-alives and empty chunks do not count)."""

    def __init__(self, idle_s: float, idle_events: int) -> None:
        extra = f"; {idle_events} keep-alive{'s' if idle_events != 1 else ''} or empty chunks meanwhile"
        super().__init__(f"no token for {idle_s:g}s (idle timeout{extra if idle_events else ''})")


USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
MAX_TOKENS_COUNTED = 10**12  # a count beyond this is not a count (and would overflow the cost)
REASONING_FIELDS = ("reasoning_content", "reasoning")  # what some servers stream while the model thinks


@dataclass
class Reply:
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int | None] | None = None  # None: the server did not say (unknown, never zero)
    first_token_ms: int | None = None


# ---------------------------------------------------------------- the shape of what the server sends
# Every field is checked before it is used: a malformed payload is a permanent failure that names the
# field and what it held, never a TypeError that the dispatcher would retry as transient.


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise StreamError(f"{where} is {_json_kind(value)}, not {what}")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _expect(value, str, f"{where}.{key}", "a string")


def _opt_obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    return {} if value is None else _expect(value, dict, f"{where}.{key}", "an object")


def _tool_call_deltas(value: Any, where: str) -> list[dict[str, Any]]:
    calls = _expect(value, list, where, "an array")
    out = []
    for i, call in enumerate(calls):
        at = f"{where}[{i}]"
        _expect(call, dict, at, "an object")
        index = call.get("index")
        if index is not None:
            _expect(index, int, f"{at}.index", "an integer")
            if index < 0:
                raise StreamError(f"{at}.index is {index}, not a non-negative integer")
        fn = _opt_obj(call, "function", at)
        out.append(
            {
                "index": index,
                "id": _opt_str(call, "id", at),
                "name": _opt_str(fn, "name", f"{at}.function"),
                "arguments": _opt_str(fn, "arguments", f"{at}.function"),
            }
        )
    return out


def _usage(value: Any, where: str) -> dict[str, int | None] | None:
    """Token counts; a missing or null usage (or count) is unknown, never an error and never zero."""
    if value is None:
        return None
    _expect(value, dict, where, "an object")
    usage: dict[str, int | None] = {}
    for key in USAGE_FIELDS:
        n = value.get(key)
        if n is not None:
            if isinstance(n, float) and n.is_integer():
                n = int(n)
            _expect(n, int, f"{where}.{key}", "an integer")
            if not 0 <= n <= MAX_TOKENS_COUNTED:
                shown = n if abs(n) < 10**15 else f"a number of {len(str(abs(n)))} digits"
                raise StreamError(f"{where}.{key} is {shown}, not a count of tokens")
        usage[key] = n
    if usage["total_tokens"] is None and usage["prompt_tokens"] is not None and usage["completion_tokens"] is not None:
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _server_error(chunk: dict[str, Any]) -> str | None:
    err = chunk.get("error")
    if not err:
        return None
    message = err.get("message") if isinstance(err, dict) else None
    return str(message) if message else json.dumps(err, ensure_ascii=False)[:200]


def render_message(template: str, values: dict[str, str]) -> str:
    """Substitute only the named placeholders; any other braces (JSON in a prompt) pass through."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _merge_tool_calls(acc: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    for d in deltas:
        index = d["index"] if d["index"] is not None else len(acc)
        slot = acc.setdefault(index, {"id": None, "name": "", "arguments": ""})
        if d["id"]:
            slot["id"] = d["id"]
        if d["name"]:
            slot["name"] += d["name"]
        if d["arguments"]:
            slot["arguments"] += d["arguments"]


def _tool_calls_from_message(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    if calls is None:
        return []
    out = []
    for i, call in enumerate(_expect(calls, list, f"{where}.tool_calls", "an array")):
        at = f"{where}.tool_calls[{i}]"
        _expect(call, dict, at, "an object")
        fn = _opt_obj(call, "function", at)
        name = _opt_str(fn, "name", f"{at}.function") or ""
        out.append({"id": _opt_str(call, "id", at), "name": name, "arguments": _opt_str(fn, "arguments", at) or ""})
    return out


def _first_token(reply: Reply, ctx: RunContext, started: float) -> None:
    if reply.first_token_ms is None:
        reply.first_token_ms = int((time.monotonic() - started) * 1000)
        ctx.milestone("first-token", after_ms=reply.first_token_ms)


def _take_chunk(chunk: Any, reply: Reply, tools: dict[int, dict[str, Any]], ctx: RunContext, started: float) -> bool:
    """Fold one parsed `data:` payload into the reply; True when it carried content (text or tool calls)."""
    _expect(chunk, dict, "the chunk", "an object")
    if error := _server_error(chunk):
        raise StreamError(f"the server reported an error mid-stream: {error}")
    if "usage" in chunk:
        usage = _usage(chunk["usage"], "usage")
        if usage is not None:
            reply.usage = usage
    if "choices" not in chunk:
        if "usage" in chunk:
            return False  # a usage-only chunk
        raise StreamError("the chunk has no choices")
    progress = False
    for i, choice in enumerate(_expect(chunk["choices"], list, "choices", "an array")):
        where = f"choices[{i}]"
        _expect(choice, dict, where, "an object")
        delta = _opt_obj(choice, "delta", where)
        text = _opt_str(delta, "content", f"{where}.delta")
        thinking = any(isinstance(delta.get(k), str) and delta[k] for k in REASONING_FIELDS)
        calls = delta.get("tool_calls")
        deltas = _tool_call_deltas(calls, f"{where}.delta.tool_calls") if calls is not None else []
        finish = _opt_str(choice, "finish_reason", where)
        if text:
            _first_token(reply, ctx, started)
            reply.text += text
            ctx.output("stdout", text.encode())
        if deltas:
            _first_token(reply, ctx, started)
            _merge_tool_calls(tools, deltas)
        if finish:
            reply.finish_reason = finish
        progress = progress or bool(text or deltas or thinking)
    return progress


async def _read_stream(resp: httpx.Response, ctx: RunContext, started: float, idle_s: float) -> Reply:
    """Read the SSE stream to `[DONE]`. The idle timeout runs from the last content (text, tool calls or
    reasoning): keep-alive comments, empty chunks and usage-only chunks do not reset it."""
    reply = Reply()
    tools: dict[int, dict[str, Any]] = {}
    lines = resp.aiter_lines()
    loop = asyncio.get_running_loop()
    last_progress = loop.time()
    idle_events = 0  # keep-alives and chunks without content since the last content
    line_no = 0
    done = False
    while True:
        left = last_progress + idle_s - loop.time()
        if left <= 0:
            raise StalledStream(idle_s, idle_events)
        try:
            line = await asyncio.wait_for(anext(lines), left)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise StalledStream(idle_s, idle_events) from None
        line_no += 1
        if line.startswith(":"):
            idle_events += 1
            continue
        if not line.startswith("data:"):
            continue  # the blank line between events; event:, id:, retry: fields carry nothing we need
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError(f"malformed stream: line {line_no} is not JSON: {data[:80]!r}") from None
        try:
            if _take_chunk(chunk, reply, tools, ctx, started):
                last_progress = loop.time()
                idle_events = 0
            else:
                idle_events += 1
        except StreamError as e:
            raise StreamError(f"malformed stream: line {line_no}: {e}") from None
    if not done and reply.finish_reason is None:
        raise CutStream("the stream ended before the reply was complete (no finish_reason and no [DONE])")
    reply.tool_calls = [
        {"id": c["id"], "name": c["name"], "arguments": c["arguments"]} for _, c in sorted(tools.items())
    ]
    return reply


def _plain_reply(payload: Any, ctx: RunContext, started: float) -> Reply:
    """One whole (non-streamed) completion, checked field by field like a streamed one."""
    try:
        _expect(payload, dict, "the reply", "an object")
        if error := _server_error(payload):
            raise StreamError(f"the server reported an error: {error}")
        choices = _expect(payload.get("choices"), list, "choices", "an array")
        if not choices:
            raise StreamError("choices is empty")
        choice = _expect(choices[0], dict, "choices[0]", "an object")
        message = _opt_obj(choice, "message", "choices[0]")
        reply = Reply(
            text=_opt_str(message, "content", "choices[0].message") or "",
            finish_reason=_opt_str(choice, "finish_reason", "choices[0]"),
            tool_calls=_tool_calls_from_message(message, "choices[0].message"),
            usage=_usage(payload.get("usage"), "usage"),
        )
    except StreamError as e:
        raise StreamError(f"malformed reply: {e}") from None
    _first_token(reply, ctx, started)
    if reply.text:
        ctx.output("stdout", reply.text.encode())
    return reply


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()
        raise StreamError(f"malformed reply: not JSON: {text[:80]!r}") from None


def _refuses_streaming(status: int, body: str) -> bool:
    return status in (400, 422) and "stream" in body.lower()


def cost_usd(ctx: RunContext, model: str, usage: dict[str, int | None] | None) -> float | None:
    """From the config's price table; unknown model, or unknown token counts -> unknown, never zero."""
    price = ctx.prices.get(model)
    if price is None or not usage:
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if prompt is None or completion is None:
        return None
    return (prompt * price.input + completion * price.output) / 1e6


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
    ctx.milestone(
        "setup-completed",
        messages=len(messages),
        conversation="persistent" if persistent else "isolated",
        model=model,
        request=milestone_request({"url": url, **body}, ctx),  # what is sent: messages as rendered, settings
    )

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
                    reply = _plain_reply(_json_body(await resp.aread()), ctx, started)
        if reply is None:
            ctx.milestone("execution-started", stream=False)
            resp = await client.post(url, headers=headers, json=body, timeout=timeout, extensions=guard.extensions())
            if resp.status_code >= 400:
                return _http_failure(resp, resp.text, fields, key_env)
            reply = _plain_reply(_json_body(resp.content), ctx, started)
    except StalledStream as e:
        return Outcome(RunStatus.TIMED_OUT, error=str(e), fields=fields)
    except CutStream as e:
        return Outcome(RunStatus.FAILED, error=str(e), fields=fields)
    except httpx.HTTPError as e:
        if isinstance(e, httpx.ReadTimeout):
            return Outcome(RunStatus.TIMED_OUT, error=f"no token for {idle_s:g}s (idle timeout)", fields=fields)
        return Outcome(RunStatus.FAILED, error=ctx.mask(transport_error(e)), fields=fields)
    except StreamError as e:
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
