"""Infrastructure failures apart from job failures, against real servers on loopback: an endpoint that cannot
be reached fails the run with `failure_kind` `infra`, which neither alerts after N failures nor auto-disables
the job; the endpoint is found down once (a job-less `infra` event, whatever number of jobs call it) and back
up once."""

from __future__ import annotations

import asyncio
import socket

from cronui.application.shapes import run_json
from cronui.model import EventKind, FailureKind, Job, RunStatus
from cronui.targets import Delivery
from tests.engine.servers import ChatServer, Request, Server, send
from tests.engine.test_agent_http import agent_job, http_job
from tests.helpers import run_to_end


def closed_port() -> int:
    """A loopback port nothing listens on (connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BadGateway(Server):
    """A proxy whose backend is gone: every request gets a 502."""

    async def respond(self, req: Request, writer) -> None:
        await send(writer, 502, b"<html>bad gateway</html>", ctype="text/html")


def infra_events(sub) -> list[dict]:
    out = []
    while not sub.queue.empty():
        ev = sub.queue.get_nowait()
        if ev.kind is EventKind.INFRA:
            assert ev.job_id is None and ev.run_id is None
            out.append(ev.data)
    return out


async def test_a_refused_target_is_an_infra_failure_that_neither_alerts_nor_disables(eng, sink, settings):
    settings.auto_disable_after = 1
    dead = f"http://127.0.0.1:{closed_port()}"
    job = http_job("pinger", f"{dead}/health")
    job.delivery = Delivery(mode="never", alert_to=f"{sink.url}/ok", format="json", alert_after=1)
    await eng.control.add_job(job)
    for _ in range(3):
        [run] = await run_to_end(eng, "pinger")
        assert run.status is RunStatus.FAILED and run.failure_kind is FailureKind.INFRA
    assert run_json(run)["failure_kind"] == "infra"
    fresh = await eng.control.job("pinger")
    assert fresh.enabled and fresh.auto_disabled is None and fresh.consecutive_failures == 0
    assert sink.requests == []  # no "failed N times in a row": the target is down, not the job
    # yet the job did not do its work: its health says so until a run gets through
    assert (await eng.store.job_health())[fresh.id] == "failing"


async def test_a_job_failure_is_still_a_job_failure(eng, sink, settings):
    settings.auto_disable_after = 1
    job = http_job("strict", f"{sink.url}/status/500")
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "strict")
    assert run.failure_kind is FailureKind.JOB and run_json(run)["failure_kind"] == "job"
    assert (await eng.control.job("strict")).auto_disabled  # counted as before
    await eng.control.add_job(http_job("fine", f"{sink.url}/ok"))
    [ok] = await run_to_end(eng, "fine")
    assert ok.failure_kind is None and run_json(ok)["failure_kind"] is None
    assert (await eng.store.job_health())[ok.job_id] == "ok"


async def test_one_outage_is_one_event_for_every_job_calling_the_endpoint(eng, sink):
    """Two jobs behind one gateway answering 503: the endpoint goes down once; a run that reaches it brings
    it back once, with how long it was out; the next outage is episode 2."""
    sub = eng.bus.subscribe()
    for name in ("a", "b"):
        await eng.control.add_job(http_job(name, f"{sink.url}/status/503"))
        [run] = await run_to_end(eng, name)
        assert run.failure_kind is FailureKind.INFRA and run.error.startswith("HTTP 503")
    [down] = infra_events(sub)
    assert down["endpoint"] == sink.url and down["state"] == "down" and down["episode"] == 1
    assert down["error"] == "HTTP 503 Service Unavailable"
    await eng.control.add_job(http_job("c", f"{sink.url}/ok"))
    await run_to_end(eng, "c")
    [up] = infra_events(sub)
    assert (up["endpoint"], up["state"], up["episode"]) == (sink.url, "up", 1) and up["down_ms"] >= 0
    await run_to_end(eng, "a")
    [again] = infra_events(sub)
    assert (again["state"], again["episode"]) == ("down", 2)
    [state] = await eng.store.endpoints()
    assert state.endpoint == sink.url and state.down and state.episode == 2


async def infra_episodes(eng) -> list:
    """The open `infra` alert episodes, once the tasks that record them have run."""
    for _ in range(50):
        await asyncio.sleep(0.01)
        episodes = [e for e in await eng.store.open_alert_episodes() if e.kind == "infra"]
        if episodes:
            return episodes
    return []


async def test_one_outage_is_one_infra_alert_for_every_job_and_its_recovery_closes_it(eng, sink):
    """Three jobs behind one gateway that answers 503 open one `infra` alert episode for the endpoint (not
    one per job); the first run that reaches it again closes it, which is what sends `recovered`."""
    for name in ("a", "b", "c"):
        await eng.control.add_job(http_job(name, f"{sink.url}/status/503"))
        await run_to_end(eng, name)
    [episode] = await infra_episodes(eng)
    assert episode.subject == f"endpoint:{sink.url}" and episode.episode == "1" and episode.job_id is None
    assert "HTTP 503" in episode.text
    await eng.control.add_job(http_job("ok", f"{sink.url}/ok"))
    await run_to_end(eng, "ok")
    for _ in range(50):
        if not [e for e in await eng.store.open_alert_episodes() if e.kind == "infra"]:
            break
        await asyncio.sleep(0.01)
    assert [e for e in await eng.store.open_alert_episodes() if e.kind == "infra"] == []


def fallback_job(name: str, llm: ChatServer, dead: str, *fallbacks: str) -> Job:
    job = agent_job(name, llm)
    job.target.base_url = f"{dead}/v1"
    job.target.fallbacks = list(fallbacks)
    return job


async def test_an_agent_job_fails_for_its_infrastructure_only_when_every_fallback_is_unreachable(eng, llm):
    dead = f"http://127.0.0.1:{closed_port()}"
    sub = eng.bus.subscribe()
    await eng.control.add_job(fallback_job("rescued", llm, dead, f"echo@{llm.url}/v1"))
    [run] = await run_to_end(eng, "rescued")
    assert run.status is RunStatus.SUCCEEDED and run.failure_kind is None
    [down] = infra_events(sub)  # the gateway that refused is down even though a fallback answered
    assert down["endpoint"] == dead and down["state"] == "down"

    proxy = BadGateway()
    await proxy.start()
    try:
        await eng.control.add_job(fallback_job("stranded", llm, dead, f"echo@{proxy.url}/v1"))
        [run] = await run_to_end(eng, "stranded")
    finally:
        await proxy.stop()
    assert run.status is RunStatus.FAILED and run.failure_kind is FailureKind.INFRA
    assert run_json(run)["failure_kind"] == "infra"
    assert [e["endpoint"] for e in infra_events(sub)] == [proxy.url]  # the refused one was down already

    await eng.control.add_job(fallback_job("refused", llm, dead, f"fail500@{llm.url}/v1"))
    [run] = await run_to_end(eng, "refused")
    assert run.status is RunStatus.FAILED and run.failure_kind is FailureKind.JOB  # the fallback answered: 500


async def test_a_tls_handshake_that_fails_is_an_infra_failure(eng):
    """https:// to a server that answers in plain HTTP at once: the handshake fails before any answer."""

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await eng.control.add_job(http_job("tls", f"https://127.0.0.1:{port}/ok"))
        [run] = await run_to_end(eng, "tls")
    finally:
        server.close()
        await server.wait_closed()
    assert run.status is RunStatus.FAILED and run.failure_kind is FailureKind.INFRA
    assert "SSL" in (run.error or "")
