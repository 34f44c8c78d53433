"""Agent jobs over the OpenAI-compatible Chat Completions protocol (OpenAI, OpenRouter, Ollama, vLLM,
LiteLLM, llama.cpp's server, LM Studio, the OpenClaw gateway).

Streams by default (SSE with `stream_options.include_usage`) so viewers can follow the reply as it is
written, and falls back to one plain request when the server refuses to stream. Milestones, in order:
setup-completed, execution-started, first-token, execution-completed, usage-calculated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from cronui.engine.executors import redirects, shell
from cronui.engine.executors.base import (
    CappedBuffer,
    Outcome,
    RunContext,
    hook_payload,
    milestone_request,
    permanent_failure,
)
from cronui.engine.executors.http import (
    masked_request,
    redirect_guard,
    status_failure,
    transport_error,
)
from cronui.model import REASON_GATE, RunStatus, TargetKind
from cronui.targets import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_KEEP_TURNS, AgentTarget, ShellTarget, split_fallback

PLACEHOLDER = re.compile(r"\{(job|scheduled_for|last_output|gate_output|payload)\}")
FAILED_SENTINEL = "TASK_FAILED"
QUIET_SENTINELS = ("HEARTBEAT_OK", "NO_REPLY", "NO_FLUSH", "IDEMPOTENT_SKIP")
# A sentinel is the reply's first token (then its end, whitespace or a colon) or starts its last line.
SENTINEL = re.compile(rf"\A({'|'.join((FAILED_SENTINEL, *QUIET_SENTINELS))})(?:\Z|[\s:])[ \t:]*([^\n]*)")
# A whole reply that is a gateway's transient error rendered as content ("Rate limit exceeded, retry in
# 20s", "Error: 529 Overloaded"): one short line, the phrase, then nothing or a clause after punctuation.
# Anything longer, or any sentence that merely mentions the words, is a reply.
TRANSIENT_REPLY = re.compile(
    r"""\A\W*(?:(?:api|upstream|provider|gateway|server)?\s*error\W*)?(?:\d{3}\W*)?
    (?:rate[\s_-]?limit(?:ed|[\s_]exceeded|[\s_]reached|[\s_]error)?
      |too\ many\ requests
      |(?:the\ )?(?:server|model|service|engine|upstream|provider|api)?\s*(?:is\ )?(?:currently\ )?overloaded(?:_error)?
      |(?:service|model|server)\ (?:is\ )?(?:temporarily\ )?unavailable
      |bad\ gateway|gateway\ time-?out|upstream\ (?:connect\ )?(?:error|timeout)|request\ timed\ out)
    (?:\W*\Z|\s*[.:;,!(\[-][^\n]{0,120}\Z)""",
    re.IGNORECASE | re.VERBOSE,
)
TRANSIENT_REPLY_MAX = 160  # characters: a longer reply is never taken for a gateway's error text
CONVERSATION_KEY = "conversation"
SESSION_UNREAD = "session-unread"  # set in a run's memory when its session's history could not be read
# Where a run's cost came from (the usage-calculated milestone's cost_source)
COST_FROM_PRICES, COST_FROM_GATEWAY, COST_FROM_TABLE, COST_UNKNOWN = "prices", "gateway", "table", "unknown"


class StreamError(Exception):
    """The server's stream could not be understood (the message names the problem)."""


class CutStream(Exception):
    """The stream ended before the reply did (no finish_reason, no [DONE]): worth another try."""


class CostLimit(Exception):
    """The reply's estimated cost passed the job's --max-cost: the stream is stopped."""


class StalledStream(Exception):
    """No content arrived for the idle timeout (keep-alives and empty chunks do not count)."""

    def __init__(self, idle_s: float, idle_events: int) -> None:
        extra = f"; {idle_events} keep-alive{'s' if idle_events != 1 else ''} or empty chunks meanwhile"
        super().__init__(f"no token for {idle_s:g}s (idle timeout{extra if idle_events else ''})")


USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
MAX_TOKENS_COUNTED = 10**12  # a count beyond this is not a count (and would overflow the cost)
MAX_COST_USD = 1e9  # a gateway's cost beyond this (or NaN) is not a cost
REASONING_FIELDS = ("reasoning_content", "reasoning")  # what some servers stream while the model thinks


@dataclass
class Reply:
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int | None] | None = None  # None: the server did not say (unknown, never zero)
    gateway_cost: float | None = None  # usage.cost (LiteLLM, OpenRouter): what the gateway charged, in USD
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


def _gateway_cost(value: Any, where: str) -> float | None:
    """`usage.cost`, the USD a gateway (LiteLLM, OpenRouter) says the request cost; absent or null: unknown."""
    if not isinstance(value, dict) or value.get("cost") is None:
        return None
    cost = _expect(value["cost"], (int, float), f"{where}.cost", "a number")
    if not 0 <= cost < MAX_COST_USD:
        raise StreamError(f"{where}.cost is {cost}, not a cost in USD")
    return float(cost)


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


def find_sentinel(text: str) -> tuple[str, str] | None:
    """(sentinel, the text after it on its line) when the reply starts with one or its last line does."""
    for candidate in (text.strip(), last_line(text)):
        if m := SENTINEL.match(candidate):
            return m.group(1), m.group(2).strip()
    return None


def transient_reply(text: str) -> bool:
    """Whether the whole reply is a gateway's transient error (rate limit, overloaded, unavailable)."""
    text = text.strip()
    return 0 < len(text) <= TRANSIENT_REPLY_MAX and TRANSIENT_REPLY.match(text) is not None


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
        if (cost := _gateway_cost(chunk["usage"], "usage")) is not None:
            reply.gateway_cost = cost
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


async def _read_stream(
    resp: httpx.Response,
    ctx: RunContext,
    started: float,
    idle_s: float,
    limit: Callable[[Reply, dict[int, dict[str, Any]]], None] | None = None,
) -> Reply:
    """Read the SSE stream to `[DONE]`. The idle timeout runs from the last content (text, tool calls or
    reasoning): keep-alive comments, empty chunks and usage-only chunks do not reset it. `limit` sees the
    reply after each chunk and raises CostLimit to stop it."""
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
        if limit is not None:
            limit(reply, tools)
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
            gateway_cost=_gateway_cost(payload.get("usage"), "usage"),
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


def cost_usd(ctx: RunContext, model: str, base_url: str, reply: Reply) -> tuple[float | None, str]:
    """The reply's cost in USD and where it came from, first that knows: the config's `[prices]` (it
    overrides the rest), the gateway's own `usage.cost`, the genai-prices table; else unknown (None, never
    zero: unknown token counts, or a model none of them knows)."""
    usage = reply.usage or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    price = ctx.prices.get(model)
    if price is not None:
        if prompt is None or completion is None:
            return None, COST_UNKNOWN
        return (prompt * price.input + completion * price.output) / 1e6, COST_FROM_PRICES
    if reply.gateway_cost is not None:
        return reply.gateway_cost, COST_FROM_GATEWAY
    if prompt is None or completion is None:
        return None, COST_UNKNOWN
    cost = table_cost(model, base_url, prompt, completion)
    return (cost, COST_FROM_TABLE) if cost is not None else (None, COST_UNKNOWN)


async def load_price_table() -> None:
    """Import genai-prices (its table takes a moment to load) off the event loop, once per process."""
    if "genai_prices" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "genai_prices")


def table_cost(model: str, base_url: str, prompt: int, completion: int) -> float | None:
    """From genai-prices' table (the provider recognised by its API URL, else by the model's name);
    None for a model it does not know."""
    from genai_prices import Usage, calc_price  # loaded on first use (load_price_table), not with the CLI

    usage = Usage(input_tokens=prompt, output_tokens=completion)
    try:
        return float(calc_price(usage, model, provider_api_url=base_url).total_price)
    except LookupError:
        pass
    try:
        return float(calc_price(usage, model).total_price)
    except LookupError:
        return None


GATE_OPEN, GATE_CLOSED = 0, 1  # the gate's exit codes: ask the model / nothing to do; any other fails the run


async def run_gate(ctx: RunContext, command: str) -> str | Outcome:
    """Run the job's gate, a shell check, as a shell job runs (own process group, stopped with the run):
    its stdout when it exits 0, else the run's outcome (skipped on 1, failed on anything else). Its
    stderr becomes the run's; its milestones are the run's, named gate-*."""
    check = dataclasses.replace(ctx.job, kind=TargetKind.SHELL, target=ShellTarget(command=command))

    def on_milestone(name: str, data: dict[str, Any]) -> None:
        if name == "process-started":  # the command is the job's gate; the run's request is the model's
            ctx.milestone("gate-started", **{k: v for k, v in data.items() if k != "request"})
        elif name != "process-exited":  # the gate's verdict below says it
            ctx.milestone(f"gate-{name}", **data)

    def on_output(stream: str, text: str) -> None:
        if stream == "stderr":
            ctx.output("stderr", text.encode())

    sub = RunContext(
        job=check,
        run=ctx.run,
        output_cap=ctx.output_cap,
        on_milestone=on_milestone,
        on_output=on_output,
        env=ctx.env,
        kill_grace_s=ctx.kill_grace_s,
        secrets_used=ctx.secrets_used,
    )
    outcome = await shell.run(sub)
    sub.end_output()
    if outcome.status is RunStatus.SUCCEEDED:
        ctx.milestone("gate-open", exit_code=GATE_OPEN, output_bytes=sub.stdout.total)
        return sub.stdout.text().rstrip("\n")
    if outcome.exit_code == GATE_CLOSED:
        ctx.milestone("gate-closed", exit_code=GATE_CLOSED)
        return Outcome(
            RunStatus.SKIPPED,
            exit_code=GATE_CLOSED,
            fields={"reason": REASON_GATE},
            suppress_delivery="the gate found nothing to do",
        )
    ctx.milestone("gate-failed", exit_code=outcome.exit_code, signal=outcome.signal)
    return dataclasses.replace(outcome, error=f"the gate failed: {outcome.error}")


CHARS_PER_TOKEN = 4  # a rough count of tokens from text, for a cost estimate while the reply streams


def token_prices(ctx: RunContext, model: str, base_url: str) -> tuple[float, float] | None:
    """USD per input and per output token for a model: the config's `[prices]`, else genai-prices' table;
    None when neither knows it."""
    price = ctx.prices.get(model)
    if price is not None:
        return price.input / 1e6, price.output / 1e6
    per_input = table_cost(model, base_url, 1_000_000, 0)
    per_output = table_cost(model, base_url, 0, 1_000_000)
    if per_input is None or per_output is None:
        return None
    return per_input / 1e6, per_output / 1e6


def cost_limit(
    ctx: RunContext, at: Endpoint, body: dict[str, Any], max_cost: float
) -> Callable[[Reply, dict[int, dict[str, Any]]], None] | None:
    """A check that stops a streaming reply once its estimated cost passes `max_cost`: the prompt and
    what has streamed so far, counted from their length (usage arrives only at the end), at the model's
    price. None when no price is known for the model (the milestone says the limit cannot be checked)."""
    prices = token_prices(ctx, at.model, at.base)
    if prices is None:
        ctx.milestone("max-cost-unchecked", model=at.model, reason="no price known for the model")
        return None
    per_in, per_out = prices
    prompt_tokens = len(json.dumps(body["messages"], ensure_ascii=False)) / CHARS_PER_TOKEN

    def check(reply: Reply, tools: dict[int, dict[str, Any]]) -> None:
        chars = len(reply.text) + sum(len(t["name"]) + len(t["arguments"]) for t in tools.values())
        estimate = prompt_tokens * per_in + chars / CHARS_PER_TOKEN * per_out
        if estimate > max_cost:
            ctx.milestone("max-cost-reached", estimate_usd=round(estimate, 6), max_cost_usd=max_cost)
            raise CostLimit(
                f"stopped: the reply's estimated cost ${estimate:.4f} passed --max-cost ${max_cost:g}"
                f" (about {int(chars / CHARS_PER_TOKEN)} tokens streamed)"
            )

    return check


@dataclass
class Endpoint:
    """A model and where to ask it: the job's own, or one of its fallbacks."""

    model: str
    base: str  # the base URL without its trailing slash (price tables know a provider by it)

    @property
    def url(self) -> str:
        return self.base if self.base.endswith("/chat/completions") else f"{self.base}/chat/completions"


def endpoints(spec: AgentTarget) -> list[Endpoint]:
    """The job's model, then its fallbacks in order (a fallback without a URL uses the job's)."""
    out = [Endpoint(spec.model, spec.base_url.rstrip("/"))]
    for text in spec.fallbacks:
        model, base = split_fallback(text)
        out.append(Endpoint(model, (base or spec.base_url).rstrip("/")))
    return out


@dataclass
class Asking:
    """What every request of one run shares, whichever endpoint it goes to."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    guard: redirects.RedirectGuard
    timeout: httpx.Timeout
    idle_s: float
    stream: bool
    key_env: str | None
    fields: dict[str, Any]
    max_cost: float | None = None


async def run(ctx: RunContext) -> Outcome:
    spec = ctx.job.target
    if not isinstance(spec, AgentTarget):
        return permanent_failure(f"not an agent job ({spec.kind})")
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
    }
    user_message = render_message(spec.message, values)
    persistent = spec.conversation == "persistent" or spec.session is not None  # its own history, or a session's
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
        conversation=spec.conversation if persistent else "isolated",
        model=model,
        request=milestone_request({"url": url, **body}, ctx),  # what is sent: messages as rendered, settings
    )

    idle_s = float(spec.idle_timeout_s or DEFAULT_IDLE_TIMEOUT_S)
    asking = Asking(
        client=ctx.http or redirects.client(follow_redirects=True),
        headers=headers,
        guard=redirect_guard(spec.headers),  # the key and ${env:} headers never follow to another origin
        timeout=httpx.Timeout(ctx.job.timeout_s, connect=min(10.0, ctx.job.timeout_s), read=idle_s),
        idle_s=idle_s,
        stream=spec.stream is not False,  # None: stream, falling back to one plain request
        key_env=key_env,
        fields=fields,
        max_cost=spec.max_cost_usd,
    )
    failed: list[str] = []
    try:
        for i, at in enumerate(ends):
            answer = await _ask(ctx, asking, at, body if i == 0 else {**body, "model": at.model})
            if isinstance(answer, Reply) and not answer.tool_calls and transient_reply(answer.text):
                shown = " ".join(answer.text.split())
                error = f"the model server answered with an error as its reply: {shown}"
                answer = Outcome(RunStatus.FAILED, error=error, fields=fields)
            if isinstance(answer, Reply):
                reply, answered = answer, at
                break
            if len(ends) == 1:
                return answer
            nxt = ends[i + 1] if i + 1 < len(ends) and _worth_another(answer) else None
            ctx.milestone("model-failed", model=at.model, error=answer.error, next=nxt.model if nxt else None)
            failed.append(at.model)
            if nxt is None:
                return _chain_failed(answer, at, failed, len(ends))
            # the run's output is the reply of the model that answers, not what a failed one began
            ctx.stdout = CappedBuffer(ctx.output_cap, ctx.secrets_used)
    finally:
        if ctx.http is None:
            await asking.client.aclose()

    ctx.milestone("execution-completed", finish_reason=reply.finish_reason, chars=len(reply.text))
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
        + (f" · answered by {answered.model} after {', '.join(failed)} failed" if failed else ""),
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
        memory[CONVERSATION_KEY] = turns[-2 * keep :]

    if not reply.text.strip() and reply.tool_calls:
        names = ", ".join(f"{c['name']}({c['arguments'][:60]})" for c in reply.tool_calls)
        return permanent_failure(f"the reply ended in tool calls and no text: {names}", fields=fields, memory=memory)
    return _verdict(reply, fields, memory)


async def _ask(ctx: RunContext, a: Asking, at: Endpoint, body: dict[str, Any]) -> Reply | Outcome:
    """One model's complete reply, or the outcome of its failure."""
    fields, url = a.fields, at.url
    started = time.monotonic()
    try:
        reply: Reply | None = None
        if a.stream:
            streaming = {**body, "stream": True, "stream_options": {"include_usage": True}}
            ctx.milestone("execution-started", stream=True, model=at.model)
            async with a.client.stream(
                "POST", url, headers=a.headers, json=streaming, timeout=a.timeout, extensions=a.guard.extensions()
            ) as resp:
                if resp.status_code >= 400:
                    text = (await resp.aread()).decode("utf-8", "replace")
                    if not _refuses_streaming(resp.status_code, text):
                        return _http_failure(resp, text, fields, a.key_env)
                elif "text/event-stream" in resp.headers.get("content-type", ""):
                    limit = None
                    if a.max_cost is not None:
                        await load_price_table()
                        limit = cost_limit(ctx, at, body, a.max_cost)
                    reply = await _read_stream(resp, ctx, started, a.idle_s, limit)
                else:  # answered the whole thing at once
                    reply = _plain_reply(_json_body(await resp.aread()), ctx, started)
        if reply is None:
            ctx.milestone("execution-started", stream=False, model=at.model)
            resp = await a.client.post(
                url, headers=a.headers, json=body, timeout=a.timeout, extensions=a.guard.extensions()
            )
            if resp.status_code >= 400:
                return _http_failure(resp, resp.text, fields, a.key_env)
            reply = _plain_reply(_json_body(resp.content), ctx, started)
    except StalledStream as e:
        return Outcome(RunStatus.TIMED_OUT, error=str(e), fields=fields)
    except CutStream as e:
        return Outcome(RunStatus.FAILED, error=str(e), fields=fields)
    except httpx.HTTPError as e:
        if isinstance(e, httpx.ReadTimeout):
            return Outcome(RunStatus.TIMED_OUT, error=f"no token for {a.idle_s:g}s (idle timeout)", fields=fields)
        return Outcome(RunStatus.FAILED, error=ctx.mask(transport_error(e)), fields=fields)
    except StreamError as e:
        return permanent_failure(ctx.mask(str(e)), fields=fields)
    except CostLimit as e:
        return permanent_failure(str(e), fields=fields)
    return reply


def _worth_another(outcome: Outcome) -> bool:
    """A failure another model may not share: a server error, a rate limit, a timeout, a cut stream."""
    return outcome.transient and outcome.status in (RunStatus.FAILED, RunStatus.TIMED_OUT)


def _chain_failed(last: Outcome, at: Endpoint, failed: list[str], count: int) -> Outcome:
    """The last model's failure, saying what failed before it."""
    if len(failed) == count:
        error = f"all {count} models failed; the last, {at.model}: {last.error}"
    elif len(failed) > 1:
        error = f"{at.model}: {last.error} (after {', '.join(failed[:-1])} failed)"
    else:
        error = f"{at.model}: {last.error}"
    return dataclasses.replace(last, error=error)


def _verdict(reply: Reply, fields: dict[str, Any], memory: dict[str, Any]) -> Outcome:
    """What a complete reply means: a sentinel's word, or a success."""
    found = find_sentinel(reply.text)
    if found and found[0] == FAILED_SENTINEL:
        error = found[1] or "the agent reported TASK_FAILED"
        return permanent_failure(error, fields=fields, memory=memory)
    if found:
        return Outcome(
            RunStatus.SUCCEEDED,
            fields=fields,
            memory=memory,
            deliver_text=reply.text,
            suppress_delivery=f"the agent replied {found[0]}",
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
