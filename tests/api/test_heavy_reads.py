"""Reads over a long history stay bounded: a page of runs is capped, and the overall stats read only the
latest finished runs' durations."""

from __future__ import annotations

import time

import pytest

from cronui.application import stats
from tests.api.conftest import Api, assert_documented

NOW = int(time.time() * 1000)  # runs of today: the server's retention leaves them be


async def test_a_page_of_runs_is_at_most_1000_and_before_pages_back(api: Api) -> None:
    r = await api.client.get("/api/v1/runs", params={"limit": "1001"})
    assert r.status_code == 400, r.text
    assert "limit" in r.json()["error"] and "1000" in r.json()["error"].replace(",", "")
    # two jobs of 600 runs each: under the retention's 1,000 runs per job, which the server's pruning keeps
    jobs = [await api.add("many"), await api.add("more")]
    async with api.store.transaction() as db:
        for i in range(1_200):
            await db.execute(
                "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at) VALUES (?, 'manual', ?, ?, ?)",
                (jobs[i % 2]["id"], NOW + i, "succeeded", NOW + i),
            )
    page = (await api.client.get("/api/v1/runs", params={"limit": "1000"})).json()
    assert len(page) == 1_000
    rest = (await api.client.get("/api/v1/runs", params={"limit": "1000", "before": str(page[-1]["id"])})).json()
    assert len(rest) == 200 and {r["id"] for r in rest}.isdisjoint(r["id"] for r in page)


async def test_overall_median_and_p95_come_from_the_latest_finished_runs(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "OVERALL_DURATIONS", 3)
    job = await api.add("timed")
    async with api.store.transaction() as db:
        for i, (status, duration) in enumerate(
            [
                ("succeeded", 9000),
                ("succeeded", 8000),
                ("failed", 300),
                ("skipped", 1),
                ("succeeded", 100),
                ("succeeded", 200),
            ]
        ):
            await db.execute(
                "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, duration_ms, output)"
                " VALUES (?, 'manual', ?, ?, ?, ?, ?)",
                (job["id"], NOW + i, status, NOW + i, duration, "x" * 1000),
            )
    r = await api.client.get("/api/v1/stats")
    await assert_documented(api, "GET", "/api/v1/stats", r)
    overall = r.json()["overall"]
    assert overall["runs"] == 5  # counted over all of them
    assert (overall["median_ms"], overall["p95_ms"]) == (200, 300)  # the latest 3 finished: 300, 100, 200
