"""The API's calendars and timed pauses: job-file keys `skip_calendar` / `only_calendar` in a job's JSON (an
unknown one refused 400, nothing made), next fires with `skipped`, and POST /jobs/NAME/pause with
{"for": ...} or {"until": ...} (400 for a bad body, 404 for no job) and /resume."""

from __future__ import annotations

import datetime as dt

from cronui.config import Settings
from cronui.schedule.calendars import parse_calendar
from tests.api.conftest import running_api


async def test_calendar_keys_and_next_fires_through_the_api(settings: Settings) -> None:
    today = dt.datetime.now(dt.UTC).date()
    settings.calendars["freeze"] = parse_calendar({"ranges": [[str(today), str(today + dt.timedelta(days=9))]]})
    async with running_api(settings) as api:
        job = await api.add("a", schedule="0 12 * * *", timezone="UTC", skip_calendar=["freeze"])
        assert job["skip_calendar"] == ["freeze"] and job["only_calendar"] == []
        shown = (await api.client.get("/api/v1/jobs/a")).json()
        assert [f["skipped"] for f in shown["next_fires"]] == ["calendar"] * 5
        r = await api.client.post(
            "/api/v1/jobs", json={"name": "b", "schedule": "@daily", "shell": "true", "only_calendar": ["nope"]}
        )
        assert r.status_code == 400 and "unknown calendar 'nope'" in r.json()["error"]
        r = await api.client.patch("/api/v1/jobs/a", json={"skip_calendar": ["nope"]})
        assert r.status_code == 400 and "unknown calendar 'nope'" in r.json()["error"]
        names = [j["name"] for j in (await api.client.get("/api/v1/jobs")).json()]
        assert names == ["a"]
        assert (await api.client.get("/api/v1/jobs/a")).json()["skip_calendar"] == ["freeze"]


async def test_pause_a_job_for_a_while_and_resume_it(settings: Settings) -> None:
    async with running_api(settings) as api:
        await api.add("a", schedule="0 * * * *")
        r = await api.client.post("/api/v1/jobs/a/pause", json={"for": "2h"})
        assert r.status_code == 200, r.text
        until = dt.datetime.fromisoformat(r.json()["paused_until"].replace("Z", "+00:00"))
        assert dt.timedelta(minutes=119) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=2)
        fires = (await api.client.get("/api/v1/jobs/a")).json()["next_fires"]
        assert fires[0]["skipped"] == "paused" and fires[-1]["skipped"] is None
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        r = await api.client.post("/api/v1/jobs/a/pause", json={"until": later})
        assert r.status_code == 200 and r.json()["paused_until"] == later
        for body in ({}, {"for": "2h", "until": later}, {"for": "soon"}, {"until": "2001-01-01T00:00"}):
            r = await api.client.post("/api/v1/jobs/a/pause", json=body)
            assert r.status_code == 400, (body, r.text)
        r = await api.client.post("/api/v1/jobs/a/pause", json={"for": "2h", "x": 1})
        assert r.status_code == 422 and r.json()["error"].startswith("x:"), r.text  # a body of the wrong shape
        assert (await api.client.get("/api/v1/jobs/a")).json()["paused_until"] == later  # nothing changed
        assert (await api.client.post("/api/v1/jobs/nope/pause", json={"for": "1h"})).status_code == 404
        r = await api.client.post("/api/v1/jobs/a/resume")
        assert r.status_code == 200 and r.json()["paused_until"] is None
