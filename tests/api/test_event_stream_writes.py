"""`GET /api/v1/events` sends a page of large events in writes of bounded size, the event loop running
between them: one client's page never holds the server (other clients, the scheduler) for its whole length."""

from __future__ import annotations

import asyncio
import json
import time

from cronui.api.events import SSE_CHUNK_BYTES, ServerSentEvent
from cronui.model import EventKind, RunEvent
from tests.api.conftest import Api


async def test_a_page_of_large_events_is_sent_in_bounded_writes_the_loop_running_between(api: Api, monkeypatch) -> None:
    """A page of 120 events of 16 KiB each (about 2 MB) goes out in writes of about SSE_CHUNK_BYTES,
    whole and in order, and the event loop runs between those writes (other clients, the scheduler)."""
    ticks = [0]
    ticks_at_encode: list[int] = []
    encode = ServerSentEvent.encode

    def noting_encode(self: ServerSentEvent) -> bytes:
        ticks_at_encode.append(ticks[0])
        return encode(self)

    monkeypatch.setattr(ServerSentEvent, "encode", noting_encode)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0)
            ticks[0] += 1

    after = await api.store.last_event_id()
    piece = "y" * 16 * 1024
    now = int(time.time() * 1000)  # recent: the server's own pruning of old events leaves them alone
    sent = [RunEvent(EventKind.MILESTONE, now + n, None, None, "", "step", {"n": n, "note": piece}) for n in range(120)]
    await api.store.append_events(sent)  # already logged when the stream opens: one page
    ticking = asyncio.create_task(ticker())
    received = b""
    try:
        async with api.client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": str(after)}) as response:
            assert response.status_code == 200
            async with asyncio.timeout(30):
                async for chunk in response.aiter_raw():
                    received += chunk
                    if received.count(piece.encode()) == len(sent) and received.endswith(b"\r\n\r\n"):
                        break
    finally:
        ticking.cancel()
    data = [json.loads(line[6:]) for line in received.split(b"\r\n") if line.startswith(b"data: ")]
    assert [d["n"] for d in data if d.get("name") == "step"] == list(range(120))
    page = ticks_at_encode[-len(sent) :]
    writes = len(sent) * len(piece) // SSE_CHUNK_BYTES
    assert len(set(page)) >= writes  # the loop ran between writes, not once for the page
