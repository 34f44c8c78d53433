"""The API's live event stream (Server-Sent Events): the objects `runs tail --json` prints, resumable with
Last-Event-ID. How many streams may be open at once is the guard's (cronui.api.guard); a client that stops
reading is dropped once a send has waited `event_send_timeout_s` (30 s), rather than buffered for."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from sse_starlette import EventSourceResponse, ServerSentEvent

from cronui.api.common import MAX_ID, PREFIX, ApiState, App, Checks, whole
from cronui.api.docs import refused
from cronui.application import runs
from cronui.application.shapes import event_json, json_text
from cronui.application.values import parse_int

SSE_CHUNK_BYTES = 256 * 1024  # a stream's writes hold about this much (events whole)
SSE_PING_S = 15  # an idle event stream sends a comment this often (proxies keep it open; a gone client shows)


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api

    async def stream_start(
        app: App,
        job: str | None = None,
        last_event_id: Annotated[
            str | None, Header(description="resume after this event", json_schema_extra=whole(0, MAX_ID))
        ] = None,
    ) -> runs.EventFeed:
        """Checked before the stream opens, so a bad request gets its status: the feed of the job's events (or
        all), after the event to resume after, or from now."""
        after = None if last_event_id is None else parse_int(last_event_id, "Last-Event-ID", 0, MAX_ID)
        return await runs.follow_events(app, job, after)

    @r.get(
        f"{PREFIX}/events",
        dependencies=api,
        responses={
            **refused(400, 404, 422, 503),
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "the stream"},
        },
        response_class=EventSourceResponse,
        summary="Server-Sent Events: the live event stream (`runs tail --json`), resumable with Last-Event-ID",
    )
    async def events(feed: Annotated[runs.EventFeed, Depends(stream_start)]) -> EventSourceResponse:
        async def stream() -> AsyncIterator[bytes]:
            while True:
                batch = await feed.next(state.event_poll_s)
                # a batch's events go out in few writes: the same bytes as one write each, without the
                # server's per-send work (most of a busy stream's time) for every event; each write holds
                # about SSE_CHUNK_BYTES, and the event loop runs between them
                parts: list[bytes] = []
                size = 0
                for ev in batch:
                    part = ServerSentEvent(json_text(event_json(ev), indent=None), id=str(ev.id)).encode()
                    parts.append(part)
                    size += len(part)
                    if size >= SSE_CHUNK_BYTES:
                        yield b"".join(parts)
                        parts, size = [], 0
                        await asyncio.sleep(0)
                if parts:
                    yield b"".join(parts)

        return EventSourceResponse(stream(), ping=SSE_PING_S, send_timeout=state.event_send_timeout_s)

    return r
