"""A model's reply as it arrives, within bounds like a run's output: its text keeps head and tail, its
tool calls keep the first MAX_TOOL_CALLS calls and the first MAX_TOOL_ARGUMENT_CHARS characters of each
call's arguments, and what was not kept is counted (the run says so). Adding is linear in what is added:
a call's arguments arrive in many small deltas and are joined once, at the end."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_TOOL_CALLS = 128  # tool calls of one reply kept; the rest are counted
MAX_TOOL_ARGUMENT_CHARS = 64 * 1024  # characters of one call's arguments kept
MAX_TOOL_NAME_CHARS = 256


@dataclass
class Reply:
    text: str = ""  # head and tail when it was longer than the run's output cap
    chars: int = 0  # characters of text the reply had, kept or not
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_calls_cut: dict[str, int] | None = None  # what was not kept of the tool calls (None: all was)
    usage: dict[str, int | None] | None = None  # None: the server did not say (unknown, never zero)
    gateway_cost: float | None = None  # usage.cost (LiteLLM, OpenRouter): what the gateway charged, in USD
    first_token_ms: int | None = None


class CappedText:
    """Text within `cap` characters: the first and the last half are kept, the middle counted. A reply's
    sentinel is its first token or starts its last line, so both survive the cut."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap, 64) // 2
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self.total = 0

    def add(self, text: str) -> None:
        self.total += len(text)
        room = self.half - self._head_len
        if room > 0:
            part = text[:room]
            self._head.append(part)
            self._head_len += len(part)
            text = text[room:]
        if not text:
            return
        self._tail.append(text)
        self._tail_len += len(text)
        if self._tail_len > 2 * self.half:  # compacted now and then: linear overall
            kept = "".join(self._tail)[-self.half :]
            self._tail = deque([kept])
            self._tail_len = len(kept)

    def text(self) -> str:
        head = "".join(self._head)
        tail = "".join(self._tail)[-self.half :]
        omitted = self.total - len(head) - len(tail)
        if omitted <= 0:
            return head + tail
        return f"{head}\n… [{omitted:,} characters omitted] …\n{tail}"


class _Call:
    __slots__ = ("args", "args_kept", "args_total", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.args: list[str] = []
        self.args_kept = 0
        self.args_total = 0


class ToolCalls:
    """The tool calls of one reply, folded from deltas (a call's index says which call a delta extends;
    a delta without one starts a new call)."""

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}
        self._highest = -1
        self.dropped = 0  # calls beyond MAX_TOOL_CALLS: counted, not kept
        self.chars = 0  # characters of names and arguments streamed, kept or not (the cost estimate's)

    def add(self, deltas: list[dict[str, Any]]) -> None:
        for d in deltas:
            index = d["index"] if d["index"] is not None else self._highest + 1
            name, args = d["name"] or "", d["arguments"] or ""
            self.chars += len(name) + len(args)
            call = self._calls.get(index)
            if call is None:
                if index <= self._highest and len(self._calls) >= MAX_TOOL_CALLS:
                    continue  # more of a call that was not kept
                self._highest = max(self._highest, index)
                if len(self._calls) >= MAX_TOOL_CALLS:
                    self.dropped += 1
                    continue
                call = self._calls[index] = _Call()
            if d["id"]:
                call.id = d["id"][:MAX_TOOL_NAME_CHARS]
            if name and len(call.name) < MAX_TOOL_NAME_CHARS:
                call.name = (call.name + name)[:MAX_TOOL_NAME_CHARS]
            if args:
                call.args_total += len(args)
                room = MAX_TOOL_ARGUMENT_CHARS - call.args_kept
                if room > 0:
                    part = args[:room]
                    call.args.append(part)
                    call.args_kept += len(part)

    def finish(self, reply: Reply) -> None:
        """Put the calls on the reply, each cut one saying how long its arguments were."""
        out = []
        cut = 0
        for _, call in sorted(self._calls.items()):
            arguments = "".join(call.args)
            entry: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": arguments}
            if call.args_total > call.args_kept:
                cut += 1
                omitted = call.args_total - call.args_kept
                entry["arguments"] = f"{arguments}… [{omitted:,} more characters not kept]"
                entry["arguments_chars"] = call.args_total
            out.append(entry)
        reply.tool_calls = out
        if cut or self.dropped:
            reply.tool_calls_cut = {
                "calls": len(out) + self.dropped,
                "kept": len(out),
                "dropped": self.dropped,
                "arguments_cut": cut,
                "max_arguments_chars": MAX_TOOL_ARGUMENT_CHARS,
            }
