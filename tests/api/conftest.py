"""A real `cronui serve` for each test: the engine and the HTTP server on a free loopback port, in this process,
reached over HTTP with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import pytest

from cronui.api.app import ApiState
from cronui.api.server import listen_socket, serve
from cronui.config import Settings
from cronui.store import Store, make_store

TOKEN = "test-api-token-0123456789"
FINAL = {"succeeded", "failed", "timed_out", "cancelled", "interrupted", "skipped"}


@dataclass
class Api:
    """A running server: `client` sends the API token, `anon` sends none."""

    url: str
    client: httpx.AsyncClient
    anon: httpx.AsyncClient
    store: Store
    settings: Settings
    state: list[ApiState] = field(default_factory=list)
    out: io.StringIO = field(default_factory=io.StringIO)

    async def add(
        self, name: str, command: str = "echo hi", schedule: str = "every 1h", **extra: Any
    ) -> dict[str, Any]:
        r = await self.client.post("/api/v1/jobs", json={"name": name, "schedule": schedule, "shell": command, **extra})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def final(self, run_id: int, timeout_s: float = 10.0) -> dict[str, Any]:
        """The run, once it has ended."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            r = await self.client.get(f"/api/v1/runs/{run_id}")
            assert r.status_code == 200, r.text
            if r.json()["status"] in FINAL:
                return dict(r.json())
            assert asyncio.get_running_loop().time() < deadline, f"run #{run_id} still {r.json()['status']}"
            await asyncio.sleep(0.05)


async def assert_documented(api: Api, method: str, path: str, response: httpx.Response) -> None:
    """The response is one the OpenAPI document describes for `method path` (the path as the document
    names it, e.g. /api/v1/runs/{run_id}), field by field."""
    doc = (await api.client.get("/api/v1/openapi.json")).json()
    described = doc["paths"][path][method.lower()]["responses"][str(response.status_code)]
    validator = jsonschema_rs.Draft202012Validator(described["content"]["application/json"]["schema"])
    validator.validate(response.json())


@contextlib.asynccontextmanager
async def running_api(
    settings: Settings, token: str | None = TOKEN, configure: Callable[[ApiState], None] | None = None
) -> AsyncIterator[Api]:
    sock = listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    states: list[ApiState] = []

    def setup(state: ApiState) -> None:
        state.event_poll_s = 0.05
        if configure is not None:
            configure(state)
        states.append(state)

    stop = asyncio.Event()
    out = io.StringIO()
    server = asyncio.create_task(serve(settings, sock, token, grace_s=1, out=out, configure=setup, stop=stop))
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    store = make_store(settings.db)
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client,
        httpx.AsyncClient(base_url=url, timeout=10) as anon,
    ):
        for _ in range(200):  # until it answers
            try:
                await anon.get("/api/v1/openapi.json")
                break
            except httpx.TransportError:
                assert not server.done(), server.exception()
                await asyncio.sleep(0.05)
        await store.open()
        try:
            yield Api(url, client, anon, store, settings, states, out)
        finally:
            await store.close()
            stop.set()
            assert await asyncio.wait_for(server, 15) == 0


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with running_api(settings) as running:
        yield running


async def sse_events(
    response: httpx.Response, count: int, until: Callable[[dict[str, Any]], bool] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Read Server-Sent Events from a streaming response: (id, object) pairs, up to `count` of them or
    until one satisfies `until`."""
    out: list[tuple[int, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line:
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value.strip()
            continue
        if "data" in fields:  # a blank line ends an event (a ping is a comment: no data)
            assert "id" in fields, f"an event without an id: {fields}"
            data = json.loads(fields["data"])
            out.append((int(fields["id"]), data))
            if len(out) >= count or (until is not None and until(data)):
                return out
        fields = {}
    return out
