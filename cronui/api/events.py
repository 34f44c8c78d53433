"""The API's live event stream (Server-Sent Events): the objects `runs tail --json` prints, resumable with
Last-Event-ID. How many streams may be open at once is the guard's (cronui.api.guard); a client that stops
reading is dropped once a send has waited `event_send_timeout_s` (30 s), rather than buffered for."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from sse_starlette import EventSourceResponse, ServerSentEvent

from cronui.api.common import MAX_ID, PREFIX, ApiState, Checks, whole
from cronui.api.docs import refused
from cronui.application.shapes import event_json, json_text
from cronui.application.values import parse_int
from cronui.store.events import EventCursor

SSE_CHUNK_BYTES = 256 * 1024  # a stream's writes hold about this much (events whole)
SSE_PING_S = 15  # an idle event stream sends a comment this often (proxies keep it open; a gone client shows)


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api
    store, control = state.store, state.control

    async def stream_start(
        job: str | None = None,
        last_event_id: Annotated[
            str | None, Header(description="resume after this event", json_schema_extra=whole(0, MAX_ID))
        ] = None,
    ) -> tuple[int | None, int | None]:
        """Checked before the stream opens, so a bad request gets its status: (job id, event id to resume after)."""
        job_id = None if job is None else (await control.job(job)).id
        after = None if last_event_id is None else parse_int(last_event_id, "Last-Event-ID", 0, MAX_ID)
        return job_id, after

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
    async def events(start: Annotated[tuple[int | None, int | None], Depends(stream_start)]) -> EventSourceResponse:
        job_id, after = start
        cursor = EventCursor(store, after or 0)
        if after is None:
            await cursor.prime()

        async def stream() -> AsyncIterator[bytes]:
            while True:
                batch = await cursor.read()
                # a batch's events go out in few writes: the same bytes as one write each, without the
                # server's per-send work (most of a busy stream's time) for every event; each write holds
                # about SSE_CHUNK_BYTES, and the event loop runs between them
                parts: list[bytes] = []
                size = 0
                for ev in batch:
                    if job_id is not None and ev.job_id != job_id:
                        continue
                    part = ServerSentEvent(json_text(event_json(ev), indent=None), id=str(ev.id)).encode()
                    parts.append(part)
                    size += len(part)
                    if size >= SSE_CHUNK_BYTES:
                        yield b"".join(parts)
                        parts, size = [], 0
                        await asyncio.sleep(0)
                if parts:
                    yield b"".join(parts)
                if not batch:
                    await asyncio.sleep(state.event_poll_s)

        return EventSourceResponse(stream(), ping=SSE_PING_S, send_timeout=state.event_send_timeout_s)

    return r
