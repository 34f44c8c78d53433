"""Real servers on loopback for tests: an OpenAI-compatible chat endpoint and a webhook sink.

Minimal HTTP/1.1 over asyncio streams (one request per connection, `Connection: close`), so the
executors are tested against real sockets and real SSE framing, not mocks of httpx.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            req = Request(method, path, headers, body)
            self.requests.append(req)
            await self.respond(req, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


async def send(
    writer: asyncio.StreamWriter, status: int, body: bytes = b"", ctype: str = "application/json", extra: str = ""
) -> None:
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Status")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{extra}\r\n".encode()
        + body
    )
    await writer.drain()


def sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


class ChatServer(Server):
    """Behaves according to the requested model name:

    echo        streams "Hello" + the last user message in chunks, then a usage chunk
    memory      streams how many messages it got and the previous assistant reply
    json-only   ignores `stream` and answers with one JSON body
    no-stream   refuses streaming with a 400, answers plain requests
    tools       streams a tool call and no text
    quiet       replies "All quiet.\\nHEARTBEAT_OK"
    gave-up     replies "I could not do it.\\nTASK_FAILED"
    slow        sends one token, then stalls for 5 s
    broken      sends a line that is not JSON
    fail500     always answers 500
    flaky       answers 429 (Retry-After: 1) on the first request, then like echo
    (any)       requests without `Authorization: Bearer sk-test` get 401 when the model is `auth`
    """

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        if not req.path.endswith("/chat/completions"):
            await send(writer, 404, b'{"error": "not found"}')
            return
        body = req.json()
        model = body["model"]
        stream = bool(body.get("stream"))
        last_user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        if model == "fail500":
            await send(writer, 500, b'{"error": {"message": "overloaded"}}')
            return
        if model == "auth" and req.headers.get("authorization") != "Bearer sk-test":
            await send(writer, 401, b'{"error": {"message": "invalid api key"}}')
            return
        if model == "flaky" and sum(1 for r in self.requests if r.json()["model"] == "flaky") == 1:
            await send(writer, 429, b'{"error": "slow down"}', extra="Retry-After: 1\r\n")
            return
        if model == "no-stream" and stream:
            await send(writer, 400, b'{"error": {"message": "stream is not supported"}}')
            return
        if model == "memory":
            prev = [m["content"] for m in body["messages"] if m["role"] == "assistant"]
            text = f"messages={len(body['messages'])} previous={prev[-1] if prev else 'none'}"
        elif model == "quiet":
            text = "All quiet.\nHEARTBEAT_OK"
        elif model == "gave-up":
            text = "I could not do it.\nTASK_FAILED"
        else:
            text = f"Hello! You said: {last_user}"
        if model == "tools":
            chunks = [
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_1",
                                        "function": {"name": "web_search", "arguments": '{"q": "'},
                                    }
                                ]
                            },
                        }
                    ]
                },
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'cron"}'}}]},
                            "finish_reason": "tool_calls",
                        }
                    ]
                },
            ]
            text = ""
        else:
            words = [text[i : i + 8] for i in range(0, len(text), 8)]
            chunks = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in words]
            chunks[-1]["choices"][0]["finish_reason"] = "stop"
        if not stream or model == "json-only":
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if model == "tools":
                message["tool_calls"] = [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "web_search", "arguments": '{"q": "cron"}'},
                    }
                ]
            payload = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}
            await send(writer, 200, json.dumps(payload).encode())
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        if model == "broken":
            writer.write(sse(chunks[0]) + b"data: {this is not json\n\n")
            await writer.drain()
            return
        for i, chunk in enumerate(chunks):
            writer.write(sse(chunk))
            await writer.drain()
            if model == "slow" and i == 0:
                await asyncio.sleep(5)
            await asyncio.sleep(0.01)
        if body.get("stream_options", {}).get("include_usage"):
            writer.write(sse({"choices": [], "usage": usage}))
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()


class Sink(Server):
    """A webhook target: records every POST; the path picks the answer (/ok 200, /fail 500, /gone 404)."""

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        status = {"/fail": 500, "/gone": 404, "/limited": 429}.get(req.path.split("?")[0], 200)
        if req.path.startswith("/status/"):
            status = int(req.path.rsplit("/", 1)[1])
        extra = "Retry-After: 0\r\n" if status == 429 else ""
        await send(writer, status, b'{"ok": true}' if status == 200 else b"nope", extra=extra)
