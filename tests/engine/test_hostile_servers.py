"""A hostile server cannot make the engine read without end: redirects are closed unread, a webhook's
answer is read up to a cap, and every delivery attempt has a deadline for the whole exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from cronui.engine import delivery
from cronui.engine.engine import Engine
from cronui.engine.executors import redirects
from cronui.model import Job, RunStatus, TargetKind
from tests.engine.servers import Request, Server, send
from tests.engine.test_agent_streams import run_to_end

FLOOD_BYTES = 48 * 1024 * 1024  # read whole (before the fix) this is slow and large; then the server stalls
CHUNK = b"x" * 65536


class Hostile(Server):
    """/flood-redirect: 302 to /ok with an endless-looking chunked body; /flood: 200 with one;
    /dribble: one byte of the status line every 0.2 s; /ok: a small 200."""

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        path = req.path.split("?")[0]
        if path == "/ok":
            await send(writer, 200, b'{"ok": true}')
        elif path in ("/flood-redirect", "/flood"):
            head = "HTTP/1.1 302 Found\r\nLocation: /ok\r\n" if path == "/flood-redirect" else "HTTP/1.1 200 OK\r\n"
            writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            sent = 0
            while sent < FLOOD_BYTES:
                writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                await writer.drain()
                sent += len(CHUNK)
            await asyncio.sleep(3600)  # never ends the body
        elif path == "/dribble":
            for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    s = Hostile()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    c = redirects.client(timeout=httpx.Timeout(30.0, connect=10.0))
    yield c
    await c.aclose()


async def test_an_http_job_follows_a_redirect_without_reading_its_endless_body(eng: Engine, hostile: Hostile):
    target = {"url": f"{hostile.url}/flood-redirect"}
    job = Job(name="redirected", schedule="@yearly", timezone="UTC", kind=TargetKind.HTTP, target=target)
    job.timeout_s = 20
    async with asyncio.timeout(60):
        [run] = await run_to_end(eng, job)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert [r.path for r in hostile.requests] == ["/flood-redirect", "/ok"]


async def test_a_webhook_answering_without_end_is_delivered_after_a_capped_read(client, hostile: Hostile):
    async with asyncio.timeout(30):  # before the fix: reads the whole flood, then waits on the stall
        result = await delivery.post(client, f"{hostile.url}/flood", {"text": "hi"}, {}, attempts=1)
    assert result.status == delivery.DELIVERED


async def test_a_delivery_follows_a_redirect_without_reading_its_endless_body(client, hostile: Hostile):
    async with asyncio.timeout(30):
        result = await delivery.post(client, f"{hostile.url}/flood-redirect", {"text": "hi"}, {}, attempts=1)
    assert result.status == delivery.DELIVERED
    assert [r.path for r in hostile.requests] == ["/flood-redirect", "/ok"]


async def test_a_delivery_attempt_to_a_dribbling_target_ends_at_its_deadline(client, hostile: Hostile):
    async with asyncio.timeout(30):  # before the fix: each byte resets the read timeout, so never
        result = await delivery.post(
            client, f"{hostile.url}/dribble", {"text": "hi"}, {}, attempts=2, backoff_s=0, deadline_s=1.0
        )
    assert result == delivery.Result(delivery.FAILED, "the target did not answer within 1s (after 2 attempts)")


async def test_a_redirect_loop_stops_after_the_hop_limit(client, hostile: Hostile):
    with pytest.raises(httpx.TooManyRedirects):
        async with redirects.stream(client, "GET", f"{hostile.url}/flood-redirect", max_hops=0):
            pass
