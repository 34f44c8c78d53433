"""Backfill over the API: a preview, the runs queued once, and bad bodies refused with 400, nothing queued."""

from __future__ import annotations

from tests.api.conftest import Api

WINDOW = {"from": "2025-01-01T00:00:00Z", "to": "2025-01-01T05:00:00Z"}


async def test_backfill_previews_then_queues_each_slot_once(api: Api) -> None:
    await api.add("hourly", schedule="0 * * * *")
    r = await api.client.post("/api/v1/jobs/hourly/backfill", json={**WINDOW, "dry_run": True})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["slots"], body["first"], body["last"], body["queued"]) == (
        6,
        "2025-01-01T00:00:00.000Z",
        "2025-01-01T05:00:00.000Z",
        0,
    )
    r = await api.client.post("/api/v1/jobs/hourly/backfill", json=WINDOW)
    assert r.status_code == 202 and r.json()["queued"] == 6
    ids = r.json()["run_ids"]
    runs = [(await api.client.get(f"/api/v1/runs/{i}")).json() for i in ids]
    assert {x["trigger"] for x in runs} == {"backfill"}
    again = (await api.client.post("/api/v1/jobs/hourly/backfill", json=WINDOW)).json()
    assert (again["queued"], again["skipped"]) == (0, 6)


async def test_bad_backfills_are_400_or_404_and_queue_nothing(api: Api) -> None:
    await api.add("hourly", schedule="0 * * * *")
    cases = [
        ({**WINDOW, "max": 5}, "hourly: the window holds 6 slots, more than --max 5; nothing was queued"),
        ({**WINDOW, "max": "lots"}, "max: expected a whole number from 1 to 100000"),
        (
            {"from": "yesterday", "to": WINDOW["to"]},
            "--from: 'yesterday' is not an ISO-8601 time (e.g. 2026-11-23T09:00)",
        ),
        ({"to": WINDOW["to"]}, "from: expected an ISO-8601 time (e.g. 2026-11-23T09:00)"),
        ({**WINDOW, "when": 1}, "when: not a backfill key (expected from, to, dry_run, max)"),
    ]
    for body, error in cases:
        r = await api.client.post("/api/v1/jobs/hourly/backfill", json=body)
        assert (r.status_code, r.json()) == (400, {"error": error})
    assert (await api.client.post("/api/v1/jobs/nope/backfill", json=WINDOW)).status_code == 404
    assert (await api.client.get("/api/v1/runs")).json() == []
