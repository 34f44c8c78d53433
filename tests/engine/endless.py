"""A hostile model server on loopback that sends as fast as it can, for the faults tests.

The model name picks what it sends (after a 200 and `Content-Type: text/event-stream`):

    endless      content deltas without end
    tool-flood   one tool call whose arguments grow to 64 MiB in small deltas, then 100,000 more calls,
                 then finish_reason and [DONE]
    long-line    one `data:` line that never ends

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


CONTENT_BLOCK = repeated(event({"choices": [{"index": 0, "delta": {"content": "endless text "}}]}))


class EndlessServer(Server):
    """Counts what it sent (`sent_bytes`) and the requests that reached it (`requests`)."""

    sent_bytes = 0

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        model = req.json()["model"]
        if model not in ("endless", "tool-flood", "long-line"):
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
        else:
            await self._tool_flood(writer)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.sent_bytes += len(data)
        await writer.drain()
        await asyncio.sleep(0)  # in a test's own loop, the reader gets its turn

    async def _tool_flood(self, writer: asyncio.StreamWriter) -> None:
        await self._write(writer, tool_delta(0, name="write_file", arguments=""))
        piece = tool_delta(0, arguments="a" * FLOOD_DELTA_BYTES)
        block = repeated(piece)
        per_block = block.count(b"\n\n")
        for _ in range(FLOOD_ARGUMENT_BYTES // FLOOD_DELTA_BYTES // per_block):
            await self._write(writer, block)
        calls = bytearray()
        for i in range(1, FLOOD_CALLS + 1):
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
