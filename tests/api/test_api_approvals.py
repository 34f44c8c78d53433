"""Approvals over the API of a real `cronui serve` on loopback: waiting runs listed by status, approve and
reject (with a reason), 409 for a run that is not waiting (nothing changed), and the approved run run."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_a_waiting_run_is_listed_approved_and_runs(api: Api) -> None:
    await api.add("deploy", "echo shipped", approval=True, approval_timeout="30m")
    r = await api.client.post("/api/v1/jobs/deploy/run")
    assert r.status_code == 202
    run = r.json()
    assert run["status"] == "awaiting_approval" and run["approval"]["default"] == "reject"
    listed = (await api.client.get("/api/v1/runs", params={"status": "awaiting_approval"})).json()
    assert [x["id"] for x in listed] == [run["id"]]
    assert (await api.client.get("/api/v1/status")).json()["awaiting_approval"] == 1
    r = await api.client.post(f"/api/v1/runs/{run['id']}/approve")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["approval"]["decided_by"] == "api@127.0.0.1"
    done = await api.final(run["id"])
    assert done["status"] == "succeeded" and done["output"] == "shipped\n"
    r = await api.client.post(f"/api/v1/runs/{run['id']}/approve")
    assert r.status_code == 409
    assert r.json() == {"error": f"run #{run['id']} is not waiting for approval (it is succeeded)"}


async def test_reject_with_a_reason_and_errors_change_nothing(api: Api) -> None:
    await api.add("risky", approval=True)
    run = (await api.client.post("/api/v1/jobs/risky/run")).json()
    r = await api.client.post(f"/api/v1/runs/{run['id']}/reject", json={"reason": 42})
    assert r.status_code == 400 and r.json()["error"] == "reason: expected a string"
    assert (await api.client.get(f"/api/v1/runs/{run['id']}")).json()["status"] == "awaiting_approval"
    r = await api.client.post(f"/api/v1/runs/{run['id']}/reject", json={"reason": "not today"})
    assert r.status_code == 200
    assert r.json()["status"] == "skipped" and r.json()["reason"] == "rejected by api@127.0.0.1: not today"
    r = await api.client.post(f"/api/v1/runs/{run['id']}/reject")
    assert r.status_code == 409
    assert (await api.client.post("/api/v1/runs/999/approve")).status_code == 404
    after = (await api.client.get(f"/api/v1/runs/{run['id']}")).json()
    assert after["reason"] == "rejected by api@127.0.0.1: not today"


async def test_job_file_keys_through_the_api(api: Api) -> None:
    job = await api.add("gated", approval=True, approval_default="approve", approval_max_waiting=1)
    assert (job["approval"], job["approval_default"], job["approval_max_waiting"]) == (True, "approve", 1)
    r = await api.client.patch("/api/v1/jobs/gated", json={"approval": False})
    assert r.status_code == 200 and r.json()["approval"] is False
    r = await api.client.patch("/api/v1/jobs/gated", json={"approval_timeout": "0s"})
    assert r.status_code == 400 and r.json()["problems"][0]["field"] == "approval_timeout"
