"""Reading a model server's answer: the SSE stream line by line, or one whole JSON body, within bounds.

A line of the stream is read as bytes up to MAX_LINE_BYTES: a longer one fails the run (permanently: a
line is one chunk of the reply, and a server that sends a megabyte in one chunk is broken, or hostile;
skipping it would silently drop part of the reply). A whole body is read up to MAX_BODY_BYTES. The reply
kept in memory is capped like the run's output (head and tail, see reply.py). Reading hands the event loop
back every few milliseconds however fast the server sends (pacing.py), so the job's timeout, a cancel and
a stop always end it, and other jobs' slots are served meanwhile.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from cronui.engine.executors.agent import shapes
from cronui.engine.executors.agent.reply import CappedText, Reply, ToolCalls
from cronui.engine.executors.agent.shapes import StreamError, expect, opt_obj, opt_str
from cronui.engine.executors.base import RunContext
from cronui.engine.executors.pacing import Pacer

MAX_LINE_BYTES = 1024 * 1024  # one line of the stream; a longer one fails the run
MAX_BODY_BYTES = 8 * 1024 * 1024  # a whole (non-streamed) reply; a larger one fails the run
MAX_ERROR_BODY_BYTES = 64 * 1024  # read of an error answer (its first 200 characters are shown)
REASONING_FIELDS = ("reasoning_content", "reasoning")  # what some servers stream while the model thinks
LINE_END = re.compile(rb"\r\n|\r|\n")  # SSE: a line ends with CRLF, LF or CR, and nothing else


class CutStream(Exception):
    """The stream ended before the reply did (no finish_reason, no [DONE]): worth another try."""


class StalledStream(Exception):
    """No content arrived for the idle timeout (keep-alives and empty chunks do not count)."""

    def __init__(self, idle_s: float, idle_events: int) -> None:
        extra = f"; {idle_events} keep-alive{'s' if idle_events != 1 else ''} or empty chunks meanwhile"
        super().__init__(f"no token for {idle_s:g}s (idle timeout{extra if idle_events else ''})")


def _size(n: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"


class Lines:
    """The lines of a byte stream, each at most `cap` bytes (a longer one raises StreamError). What is
    fed is scanned once: a line arriving in many small pieces costs no more than one arriving whole."""

    def __init__(self, cap: int = MAX_LINE_BYTES) -> None:
        self.cap = cap
        self.count = 0  # lines handed out so far
        self._buf = bytearray()

    def _too_long(self) -> StreamError:
        return StreamError(f"malformed stream: line {self.count + 1} is longer than {_size(self.cap)}")

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        scan = max(0, len(buf) - 1)  # a CR held back may be the first half of a CRLF
        buf += data
        out: list[bytes] = []
        pos = 0
        for m in LINE_END.finditer(buf, scan):
            if m.end() == len(buf) and m.group() == b"\r":
                break  # wait for the next byte: CR alone, or CRLF
            if m.start() - pos > self.cap:
                raise self._too_long()
            out.append(bytes(buf[pos : m.start()]))
            self.count += 1
            pos = m.end()
        del buf[:pos]
        if len(buf) - buf.endswith(b"\r") > self.cap:  # a line not ended yet, already too long
            raise self._too_long()
        return out

    def end(self) -> list[bytes]:
        """The last line, when the stream ended without a line end."""
        rest = bytes(self._buf)
        self._buf.clear()
        if not rest:
            return []
        self.count += 1
        return [rest.removesuffix(b"\r")]  # a CR held back ended this line


def first_token(reply: Reply, ctx: RunContext, started: float) -> None:
    if reply.first_token_ms is None:
        reply.first_token_ms = int((time.monotonic() - started) * 1000)
        ctx.milestone("first-token", after_ms=reply.first_token_ms)


class _Reading:
    """One stream being folded into a reply."""

    def __init__(self, ctx: RunContext, started: float, limit: Callable[[int], None] | None) -> None:
        self.ctx, self.started, self.limit = ctx, started, limit
        self.reply = Reply()
        self.text = CappedText(ctx.output_cap)
        self.tools = ToolCalls()

    def take(self, chunk: Any) -> bool:
        """Fold one parsed `data:` payload into the reply; True when it carried content (text or tool calls)."""
        reply, ctx = self.reply, self.ctx
        expect(chunk, dict, "the chunk", "an object")
        if error := shapes.server_error(chunk):
            raise StreamError(f"the server reported an error mid-stream: {error}")
        if "usage" in chunk:
            usage = shapes.usage(chunk["usage"], "usage")
            if usage is not None:
                reply.usage = usage
            if (cost := shapes.gateway_cost(chunk["usage"], "usage")) is not None:
                reply.gateway_cost = cost
        if "choices" not in chunk:
            if "usage" in chunk:
                return False  # a usage-only chunk
            raise StreamError("the chunk has no choices")
        progress = False
        for i, choice in enumerate(expect(chunk["choices"], list, "choices", "an array")):
            where = f"choices[{i}]"
            expect(choice, dict, where, "an object")
            delta = opt_obj(choice, "delta", where)
            text = opt_str(delta, "content", f"{where}.delta")
            thinking = any(isinstance(delta.get(k), str) and delta[k] for k in REASONING_FIELDS)
            calls = delta.get("tool_calls")
            deltas = shapes.tool_call_deltas(calls, f"{where}.delta.tool_calls") if calls is not None else []
            finish = opt_str(choice, "finish_reason", where)
            if text:
                first_token(reply, ctx, self.started)
                self.text.add(text)
                ctx.output("stdout", text.encode())
            if deltas:
                first_token(reply, ctx, self.started)
                self.tools.add(deltas)
            if finish:
                reply.finish_reason = finish
            progress = progress or bool(text or deltas or thinking)
        if progress and self.limit is not None:
            self.limit(self.text.total + self.tools.chars)
        return progress

    def finish(self) -> Reply:
        self.reply.text = self.text.text()
        self.reply.chars = self.text.total
        self.tools.finish(self.reply)
        return self.reply


async def read_stream(
    resp: httpx.Response,
    ctx: RunContext,
    started: float,
    idle_s: float,
    pacer: Pacer,
    limit: Callable[[int], None] | None = None,
) -> Reply:
    """Read the SSE stream to `[DONE]`. The idle timeout runs from the last content (text, tool calls or
    reasoning): keep-alive comments, empty chunks and usage-only chunks do not reset it (a server that
    sends nothing at all meets the client's read timeout, which is the idle timeout too). `limit` sees the
    characters streamed after each chunk with content and raises CostLimit to stop it."""
    reading = _Reading(ctx, started, limit)
    lines = Lines()
    last_progress = time.monotonic()
    idle_events = 0  # keep-alives and chunks without content since the last content
    line_no = 0

    def take(line: bytes) -> bool:
        """One line; True at `[DONE]`."""
        nonlocal last_progress, idle_events, line_no
        line_no += 1
        if time.monotonic() - last_progress >= idle_s:
            raise StalledStream(idle_s, idle_events)
        if line.startswith(b":"):
            idle_events += 1
            return False
        if not line.startswith(b"data:"):
            return False  # the blank line between events; event:, id:, retry: fields carry nothing we need
        data = line[5:].decode("utf-8", "replace").strip()
        if data == "[DONE]":
            return True
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError(f"malformed stream: line {line_no} is not JSON: {data[:80]!r}") from None
        except RecursionError:
            raise StreamError(f"malformed stream: line {line_no} is nested too deeply") from None
        try:
            if reading.take(chunk):
                last_progress = time.monotonic()
                idle_events = 0
            else:
                idle_events += 1
        except StreamError as e:
            raise StreamError(f"malformed stream: line {line_no}: {e}") from None
        return False

    done = False
    async for data in resp.aiter_bytes():
        for line in lines.feed(data):
            if take(line):
                done = True
                break
            await pacer.tick()
        if done:
            break
        if time.monotonic() - last_progress >= idle_s:  # bytes, but no line: a trickle is no progress
            raise StalledStream(idle_s, idle_events)
        await pacer.tick()
    else:
        done = any(take(line) for line in lines.end())
    reply = reading.finish()
    if not done and reply.finish_reason is None:
        raise CutStream("the stream ended before the reply was complete (no finish_reason and no [DONE])")
    return reply


async def read_body(resp: httpx.Response, pacer: Pacer, cap: int = MAX_BODY_BYTES, *, cut: bool = False) -> bytes:
    """The response's body, at most `cap` bytes: past it, the body is cut there (`cut`) or the reply fails."""
    body = bytearray()
    async for data in resp.aiter_bytes():
        body += data
        if len(body) > cap:
            if cut:
                del body[cap:]
                break
            raise StreamError(f"the reply is larger than {_size(cap)} (a whole reply is read up to that)")
        await pacer.tick()
    return bytes(body)


def plain_reply(payload: Any, ctx: RunContext, started: float) -> Reply:
    """One whole (non-streamed) completion, checked field by field like a streamed one."""
    reading = _Reading(ctx, started, None)
    reply = reading.reply
    try:
        expect(payload, dict, "the reply", "an object")
        if error := shapes.server_error(payload):
            raise StreamError(f"the server reported an error: {error}")
        choices = expect(payload.get("choices"), list, "choices", "an array")
        if not choices:
            raise StreamError("choices is empty")
        choice = expect(choices[0], dict, "choices[0]", "an object")
        message = opt_obj(choice, "message", "choices[0]")
        text = opt_str(message, "content", "choices[0].message") or ""
        reply.finish_reason = opt_str(choice, "finish_reason", "choices[0]")
        reading.tools.add(shapes.message_tool_calls(message, "choices[0].message"))
        reply.usage = shapes.usage(payload.get("usage"), "usage")
        reply.gateway_cost = shapes.gateway_cost(payload.get("usage"), "usage")
    except StreamError as e:
        raise StreamError(f"malformed reply: {e}") from None
    first_token(reply, ctx, started)
    reading.text.add(text)
    if text:
        ctx.output("stdout", text.encode())
    return reading.finish()


def json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()
        raise StreamError(f"malformed reply: not JSON: {text[:80]!r}") from None
    except RecursionError:
        raise StreamError("malformed reply: nested too deeply") from None
