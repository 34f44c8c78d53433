"""`GET /api/v1/events` sends a batch of events in one write: a client gets the same bytes it got when each
event was its own write, every event whole, in order, with its id."""

from __future__ import annotations

import asyncio
import time

from cronui.application.shapes import event_json, json_text
from cronui.model import EventKind, RunEvent
from tests.api.conftest import Api

T0 = int(time.time() * 1000)  # recent: the server prunes events older than its retention


async def test_a_batch_of_events_arrives_as_the_same_bytes(api: Api) -> None:
    after = await api.store.last_event_id()
    sent = [
        RunEvent(EventKind.MILESTONE, T0 + n, None, None, "", "step", {"n": n, "note": "caf\u00e9 \x85"})
        for n in range(250)
    ]
    received = b""
    async with api.client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": str(after)}) as response:
        assert response.status_code == 200
        await api.store.append_events(sent)  # one append: the stream reads them in batches
        async with asyncio.timeout(10):
            async for chunk in response.aiter_raw():
                received += chunk
                if received.count(b'"name": "step"') == len(sent) and received.endswith(b"\r\n\r\n"):
                    break

    logged = await api.store.events_since(after, limit=10_000)
    expected = b"".join(
        f"id: {ev.id}\r\ndata: {json_text(event_json(ev), indent=None)}\r\n\r\n".encode() for ev in logged
    )
    # pings (comment lines) may come between events; everything else is the events, byte for byte
    events_only = b"".join(block + b"\r\n\r\n" for block in received.split(b"\r\n\r\n") if block and block[:1] != b":")
    assert expected.startswith(events_only)  # events the scheduler logs after the last step may not have come yet
    assert events_only.count(b'"name": "step"') == len(sent)
    assert [ev.data["n"] for ev in logged if ev.name == "step"] == list(range(250))
    assert b"\\u0085" in events_only and "café".encode() in events_only
