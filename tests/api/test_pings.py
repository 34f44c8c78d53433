"""`GET|POST /ping/NAME[/start|/fail|/EXIT_CODE]`: a check job's runs reported with the job's own trigger token."""

from __future__ import annotations

import pytest

from cronui.config import Settings
from tests.api.conftest import Api, assert_documented
from tests.api.test_hooks import bearer, token


async def test_start_and_end_pings_make_one_run_with_the_body_as_its_message(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    job = await api.add("backup", command="restic backup", check=True, grace="10m")
    assert (job["check"], job["grace_s"]) == (True, 600.0)
    secret = await token(capsys, settings, "backup")
    r = await api.anon.post("/ping/backup/start", headers=bearer(secret))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["trigger"]) == ("running", "ping")
    await assert_documented(api, "POST", "/ping/{name}/{kind}", r)
    end = await api.anon.post("/ping/backup/3", headers=bearer(secret), content="snapshot failed: disk full")
    assert end.status_code == 200, end.text
    run = end.json()
    assert run["id"] == r.json()["id"]
    assert (run["status"], run["exit_code"], run["output"]) == ("failed", 3, "snapshot failed: disk full")
    listed = (await api.client.get("/api/v1/runs", params={"job": "backup"})).json()
    assert [x["trigger"] for x in listed] == ["ping"]


async def test_a_get_with_the_token_in_the_query_is_a_success(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.add("watchdog", check=True)
    secret = await token(capsys, settings, "watchdog")
    r = await api.anon.get("/ping/watchdog", params={"token": secret})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    r = await api.anon.get("/ping/watchdog/fail", params={"token": secret})
    assert r.json()["status"] == "failed"


async def test_refusals_change_nothing(api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    await api.add("backup", check=True)
    await api.add("plain")
    secret = await token(capsys, settings, "backup")
    plain = await token(capsys, settings, "plain")
    for path, headers in (
        ("/ping/backup", {}),
        ("/ping/backup", bearer("wrong")),
        ("/ping/nosuch", bearer(secret)),
        ("/ping/backup", bearer(plain)),  # another job's token
    ):
        r = await api.anon.post(path, headers=headers)
        assert r.status_code == 401, (path, r.text)
    r = await api.anon.post("/ping/backup/256", headers=bearer(secret))
    assert r.status_code == 400 and "exit code" in r.json()["error"]
    r = await api.anon.post("/ping/plain", headers=bearer(plain))
    assert r.status_code == 400 and "not a check" in r.json()["error"]
    r = await api.anon.post("/ping/backup", headers=bearer(secret), content="x" * (api.state[0].hook_max_bytes + 1))
    assert r.status_code == 413
    listed = (await api.client.get("/api/v1/runs")).json()
    assert listed == []
