"""Event streams are a limited resource: past `[api] max_streams` a new one is refused (503, Retry-After), and a
client that stops reading is dropped once a send has waited `event_send_timeout_s`, which frees its slot
(rather than the server buffering events for it)."""

from __future__ import annotations

import asyncio
import socket

import httpx

from cronui.config import Settings
from cronui.model import EventKind, RunEvent
from tests.api.conftest import TOKEN, running_api

T0 = 1_780_000_000_000


async def open_status(url: str) -> int:
    async with (
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client,
        client.stream("GET", "/api/v1/events") as r,
    ):
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) > 0
            await r.aread()
            assert "event streams are open" in r.json()["error"]
        return r.status_code


async def test_a_client_that_never_reads_is_dropped_and_frees_its_stream(settings: Settings) -> None:
    settings.api.max_streams = 1

    def configure(state: object) -> None:
        state.event_send_timeout_s = 1.0  # type: ignore[attr-defined]

    async with running_api(settings, configure=configure) as api:
        port = int(api.url.rsplit(":", 1)[1])
        reader = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port))
        try:
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            head = f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            reader.sendall(head.encode())
            await asyncio.sleep(0.3)  # the stream opens (nothing to wait on: the client reads nothing)
            assert await open_status(api.url) == 503, "the one stream allowed is taken"
            # far more than the socket buffers hold: the stream's sends block on a client that reads nothing
            note = "x" * 4000
            deadline = asyncio.get_running_loop().time() + 30
            while await open_status(api.url) != 200:
                assert asyncio.get_running_loop().time() < deadline, "the client that never reads was not dropped"
                batch = [
                    RunEvent(EventKind.MILESTONE, T0 + n, None, None, "", "flood", {"n": note}) for n in range(500)
                ]
                await api.store.append_events(batch)
                await asyncio.sleep(0.2)
        finally:
            reader.close()
