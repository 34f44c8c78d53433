"""A hostile model server on loopback that sends as fast as it can, for the faults tests.

The model name picks what it sends (after a 200 and `Content-Type: text/event-stream`):

    endless      content deltas without end
    tool-flood   one tool call whose arguments grow to 64 MiB in small deltas, then 100,000 more calls,
                 then finish_reason and [DONE]
    long-line    one `data:` line that never ends
    long-reply   `long_reply_bytes` of text in small deltas, then a last line `HEARTBEAT_OK`, then [DONE]

Any request to `/endless` gets a body without end (for HTTP jobs).

Run as `python -m tests.engine.endless` it serves on a free port of 127.0.0.1, prints the port on its first
line and serves until it is killed (the end-to-end tests run it as its own process, so its sending never
competes with the daemon for one event loop).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.engine.servers import Request, Server, send

SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
BLOCK_BYTES = 64 * 1024  # what one write sends
FLOOD_ARGUMENT_BYTES = 64 * 1024 * 1024
FLOOD_DELTA_BYTES = 4096
FLOOD_CALLS = 100_000


def event(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def tool_delta(index: int, **function: str) -> bytes:
    call: dict[str, Any] = {"index": index, "function": function}
    if "name" in function:
        call["id"] = f"call_{index}"
    return event({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})


def repeated(one: bytes) -> bytes:
    return one * max(1, BLOCK_BYTES // len(one))


FLOOD_PIECE = tool_delta(0, arguments="a" * FLOOD_DELTA_BYTES)
WORD = "0123456789abcdef"
REPLY_BLOCK = repeated(event({"choices": [{"index": 0, "delta": {"content": WORD}}]}))
LAST_LINE = "\nHEARTBEAT_OK"
CONTENT_BLOCK = repeated(event({"choices": [{"index": 0, "delta": {"content": "endless text "}}]}))


class EndlessServer(Server):
    """Counts what it sent (`sent_bytes`) and the requests that reached it (`requests`). The flood's sizes
    can be made smaller for a test that shares its event loop with the server."""

    def __init__(self, argument_bytes: int = FLOOD_ARGUMENT_BYTES, calls: int = FLOOD_CALLS) -> None:
        super().__init__()
        self.argument_bytes = argument_bytes
        self.calls = calls
        self.long_reply_bytes = 2 * 1024 * 1024
        self.sent_bytes = 0

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        if req.path == "/endless":  # any other client (an HTTP job): a body without end
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
            while True:
                await self._write(writer, CONTENT_BLOCK)
        model = req.json()["model"]
        if model not in ("endless", "tool-flood", "long-line", "long-reply"):
            await send(writer, 404, b'{"error": {"message": "no such model"}}')
            return
        writer.write(SSE_HEAD)
        if model == "endless":
            while True:
                await self._write(writer, CONTENT_BLOCK)
        elif model == "long-line":
            await self._write(writer, b'data: {"choices": [{"index": 0, "delta": {"content": "')
            while True:
                await self._write(writer, b"x" * BLOCK_BYTES)
        elif model == "long-reply":
            for _ in range(self.long_reply_bytes // (len(WORD) * REPLY_BLOCK.count(b"\n\n"))):
                await self._write(writer, REPLY_BLOCK)
            last = {"choices": [{"index": 0, "delta": {"content": LAST_LINE}, "finish_reason": "stop"}]}
            await self._write(writer, event(last) + b"data: [DONE]\n\n")
        else:
            await self._tool_flood(writer)

    @property
    def long_reply_chars(self) -> int:
        """How long the long reply is (whole blocks of deltas are sent, then its last line)."""
        per_block = REPLY_BLOCK.count(b"\n\n")
        return self.long_reply_bytes // (len(WORD) * per_block) * per_block * len(WORD) + len(LAST_LINE)

    @property
    def flood_argument_chars(self) -> int:
        """How long the first call's arguments of the tool flood are (whole blocks of deltas are sent)."""
        per_block = repeated(FLOOD_PIECE).count(b"\n\n")
        return self.argument_bytes // FLOOD_DELTA_BYTES // per_block * per_block * FLOOD_DELTA_BYTES

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.sent_bytes += len(data)
        await writer.drain()
        await asyncio.sleep(0)  # in a test's own loop, the reader gets its turn

    async def _tool_flood(self, writer: asyncio.StreamWriter) -> None:
        await self._write(writer, tool_delta(0, name="write_file", arguments=""))
        block = repeated(FLOOD_PIECE)
        for _ in range(self.flood_argument_chars // FLOOD_DELTA_BYTES // block.count(b"\n\n")):
            await self._write(writer, block)
        calls = bytearray()
        for i in range(1, self.calls + 1):
            calls += tool_delta(i, name="f", arguments="{}")
            if len(calls) >= BLOCK_BYTES:
                await self._write(writer, bytes(calls))
                calls.clear()
        calls += event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        await self._write(writer, bytes(calls) + b"data: [DONE]\n\n")


async def main() -> None:
    server = EndlessServer()
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
