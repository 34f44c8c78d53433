"""The shape of what a model server sends: every field is checked before it is used. A malformed payload
is a permanent failure that names the field and what it held, never a TypeError that the dispatcher
would retry as transient."""

from __future__ import annotations

import json
from typing import Any

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
MAX_TOKENS_COUNTED = 10**12  # a count beyond this is not a count (and would overflow the cost)
MAX_COST_USD = 1e9  # a gateway's cost beyond this (or NaN) is not a cost


class StreamError(Exception):
    """The server's stream could not be understood (the message names the problem)."""


def json_kind(value: Any) -> str:
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


def expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise StreamError(f"{where} is {json_kind(value)}, not {what}")
    return value


def opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    return None if value is None else expect(value, str, f"{where}.{key}", "a string")


def opt_obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    return {} if value is None else expect(value, dict, f"{where}.{key}", "an object")


def tool_call_deltas(value: Any, where: str) -> list[dict[str, Any]]:
    calls = expect(value, list, where, "an array")
    out = []
    for i, call in enumerate(calls):
        at = f"{where}[{i}]"
        expect(call, dict, at, "an object")
        index = call.get("index")
        if index is not None:
            expect(index, int, f"{at}.index", "an integer")
            if index < 0:
                raise StreamError(f"{at}.index is {index}, not a non-negative integer")
        fn = opt_obj(call, "function", at)
        out.append(
            {
                "index": index,
                "id": opt_str(call, "id", at),
                "name": opt_str(fn, "name", f"{at}.function"),
                "arguments": opt_str(fn, "arguments", f"{at}.function"),
            }
        )
    return out


def message_tool_calls(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The tool calls of a whole (non-streamed) message, as deltas of one call each."""
    calls = message.get("tool_calls")
    if calls is None:
        return []
    out = []
    for i, call in enumerate(expect(calls, list, f"{where}.tool_calls", "an array")):
        at = f"{where}.tool_calls[{i}]"
        expect(call, dict, at, "an object")
        fn = opt_obj(call, "function", at)
        name = opt_str(fn, "name", f"{at}.function") or ""
        out.append({"index": i, "id": opt_str(call, "id", at), "name": name, "arguments": opt_str(fn, "arguments", at)})
    return out


def usage(value: Any, where: str) -> dict[str, int | None] | None:
    """Token counts; a missing or null usage (or count) is unknown, never an error and never zero."""
    if value is None:
        return None
    expect(value, dict, where, "an object")
    counts: dict[str, int | None] = {}
    for key in USAGE_FIELDS:
        n = value.get(key)
        if n is not None:
            if isinstance(n, float) and n.is_integer():
                n = int(n)
            expect(n, int, f"{where}.{key}", "an integer")
            if not 0 <= n <= MAX_TOKENS_COUNTED:
                shown = n if abs(n) < 10**15 else f"a number of {len(str(abs(n)))} digits"
                raise StreamError(f"{where}.{key} is {shown}, not a count of tokens")
        counts[key] = n
    prompt, completion = counts["prompt_tokens"], counts["completion_tokens"]
    if counts["total_tokens"] is None and prompt is not None and completion is not None:
        counts["total_tokens"] = prompt + completion
    return counts


def gateway_cost(value: Any, where: str) -> float | None:
    """`usage.cost`, the USD a gateway (LiteLLM, OpenRouter) says the request cost; absent or null: unknown."""
    if not isinstance(value, dict) or value.get("cost") is None:
        return None
    cost = expect(value["cost"], (int, float), f"{where}.cost", "a number")
    if not 0 <= cost < MAX_COST_USD:
        raise StreamError(f"{where}.cost is {cost}, not a cost in USD")
    return float(cost)


def server_error(chunk: dict[str, Any]) -> str | None:
    err = chunk.get("error")
    if not err:
        return None
    message = err.get("message") if isinstance(err, dict) else None
    return str(message) if message else json.dumps(err, ensure_ascii=False)[:200]
