"""The API takes several schedules and a window as a job file does, and shows them back with the next runs."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_a_job_with_several_schedules_and_a_window_over_the_api(api: Api) -> None:
    entry = {
        "name": "twice",
        "schedule": ["30 2 * * *", "0 9 * * 1-5"],
        "timezone": "Europe/Berlin",
        "starts": "2030-03-29",
        "ends": "2030-12-31T18:00",
        "shell": "true",
    }
    r = await api.client.post("/api/v1/jobs", json=entry)
    assert r.status_code in (200, 201), r.text
    job = (await api.client.get("/api/v1/jobs/twice")).json()
    assert job["schedule"] == ["30 2 * * *", "0 9 * * 1-5"]
    assert (job["starts"], job["ends"]) == ("2030-03-29T00:00", "2030-12-31T18:00")
    assert [s["reading"] for s in job["schedules"]] == ["At 02:30", "At 09:00, Monday through Friday"]
    assert job["next_runs"][3] == {
        "at": "2030-03-31T01:00:00.000Z",
        "local": "2030-03-31T03:00:00+02:00",
        "note": "02:30 does not exist on 31 Mar: moved",
    }
    r = await api.client.post("/api/v1/jobs", json={**entry, "name": "bad", "ends": "2020-13-01"})
    assert r.status_code == 400 and "ends" in r.text
    assert (await api.client.get("/api/v1/jobs/bad")).status_code == 404
