"""`GET /metrics`: Prometheus' text format (or OpenMetrics, when the scraper asks for it), with the API's
token unless `[metrics] public = true` (the guard checks it before anything is read, as for /api/v1).

A scrape reads the store once (cronui.application.metrics); scrapes that arrive while a reading is under
way wait for that one, and a reading younger than `metrics_reuse_s` is shown again rather than read anew,
so that several Prometheus servers (or an impatient one) cost the database one reading. The families are
built and the text written in a thread: at a thousand jobs they are tens of thousands of lines.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cronui.api.common import ApiState, Checks
from cronui.application import metrics

METRICS_PATH = "/metrics"


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    app = state.application()
    reading: dict[str, object] = {}  # the latest: "at" (the loop's time), "families"
    lock = asyncio.Lock()

    async def current() -> list[metrics.Family]:
        loop = asyncio.get_running_loop()
        async with lock:  # one reading at a time; those who waited take the one just made
            at = reading.get("at")
            if not isinstance(at, float) or loop.time() - at > state.metrics_reuse_s:
                found = await metrics.read(app)
                reading["families"] = await asyncio.to_thread(metrics.families, found, app.now_ms())
                reading["at"] = loop.time()
            families = reading["families"]
        assert isinstance(families, list)
        return families

    public = state.settings.metrics.public
    checked = [checks.known_query] if public else checks.api

    @r.get(METRICS_PATH, dependencies=checked, include_in_schema=False)
    async def get_metrics(request: Request) -> Response:
        families = await current()
        media = metrics.media_type(request.headers.get("accept", ""))
        body = await asyncio.to_thread(metrics.exposition, families, media)
        return Response(body, media_type=media)

    return r
