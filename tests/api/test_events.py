"""`GET /api/v1/events`: the live event stream as Server-Sent Events, resumed after a disconnect from
Last-Event-ID without losing or repeating an event."""

from __future__ import annotations

import asyncio

from cronui.config import Settings
from tests.api.conftest import Api, running_api, sse_events
from tests.store.backends import drop_schema, postgres_url


def finished(name: str):
    return lambda data: data["event"] == "finished" and data.get("job") == name


async def test_events_follow_a_run_and_resume_after_a_disconnect(api: Api) -> None:
    await api.add("one", command="echo first")
    await api.add("two", command="echo second")
    async with api.client.stream("GET", "/api/v1/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await api.client.post("/api/v1/jobs/one/run")
        seen = await asyncio.wait_for(sse_events(response, 100, until=finished("one")), 10)
    kinds = [data["event"] for _, data in seen if data.get("job") == "one" and "run" in data]
    assert kinds[0] == "queued" and kinds[-1] == "finished" and "started" in kinds
    output = [data["text"] for _, data in seen if data["event"] == "output"]
    assert "".join(output) == "first\n"
    ids = [event_id for event_id, _ in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(data["id"] == event_id for event_id, data in seen), "the SSE id is the event's own"
    last = ids[-1]

    # disconnected: these events happen while nobody listens
    run_id = (await api.client.post("/api/v1/jobs/two/run")).json()["id"]
    await api.final(run_id)

    async with api.client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": str(last)}) as response:
        missed = await asyncio.wait_for(sse_events(response, 100, until=finished("two")), 10)
    assert missed[0][0] > last, "nothing seen before is sent again"
    assert {data.get("job") for _, data in missed if data["event"] in ("queued", "finished")} == {"two"}
    assert next(d["event"] for _, d in missed if d.get("run") == run_id) == "queued", "from its first event"
    assert "".join(d["text"] for _, d in missed if d["event"] == "output") == "second\n"


async def test_events_of_one_job_and_bad_requests(api: Api) -> None:
    await api.add("a", command="true")
    await api.add("b", command="true")
    async with api.client.stream("GET", "/api/v1/events", params={"job": "b"}) as response:
        await api.client.post("/api/v1/jobs/a/run")
        await api.client.post("/api/v1/jobs/b/run")
        seen = await asyncio.wait_for(sse_events(response, 100, until=finished("b")), 10)
    assert {data.get("job") for _, data in seen} == {"b"}
    r = await api.client.get("/api/v1/events", params={"job": "nope"})
    assert r.status_code == 404 and r.json()["error"] == "no job named 'nope'"
    r = await api.client.get("/api/v1/events", headers={"Last-Event-ID": "soon"})
    assert r.status_code == 400 and r.json()["error"].startswith("Last-Event-ID: ")


async def test_events_on_postgresql(tmp_path, settings: Settings) -> None:
    url = await postgres_url()
    pg = Settings(db=url, timezone="UTC", timezone_source="test")
    try:
        async with running_api(pg) as api:
            await api.add("pg", command="echo from-pg")
            async with api.client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": "0"}) as response:
                await api.client.post("/api/v1/jobs/pg/run")
                seen = await asyncio.wait_for(sse_events(response, 100, until=finished("pg")), 20)
            assert "job_created" in [d["event"] for _, d in seen], "from the start of the log"
            assert "".join(d["text"] for _, d in seen if d["event"] == "output") == "from-pg\n"
    finally:
        await drop_schema(url)
