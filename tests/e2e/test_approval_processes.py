"""Approvals across real processes: a `cronui --no-ui` daemon holds a job's runs waiting; `cronui runs
approve` from another process releases one, and the job's shell command really runs."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.e2e.processes import Processes, cronui, lease_pid, query, wait_for


def test_a_waiting_run_approved_from_another_process_runs(env, procs: Processes, tmp_path: Path):
    marker = tmp_path / "deployed"
    cronui(
        env,
        "jobs",
        "add",
        "deploy",
        "--schedule",
        "every 1s",
        "--shell",
        f"echo shipped > {marker}",
        "--approval",
        "--approval-max-waiting",
        "1",
    )
    d = procs.spawn("--no-ui", env=env, name="daemon")
    wait_for(lambda: lease_pid(env) == d.pid, what="lease")
    wait_for(
        lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'awaiting_approval'")[0][0] == 1,
        what="a run waiting for approval",
    )
    # later slots, while one waits, are recorded skipped: the cap is one
    wait_for(
        lambda: (
            query(env, "SELECT COUNT(*) FROM runs WHERE status = 'skipped' AND reason LIKE 'approvals full%'")[0][0]
            >= 1
        ),
        what="a slot skipped by the cap",
    )
    assert not marker.exists()  # nothing ran unapproved
    [waiting] = json.loads(cronui(env, "runs", "list", "--status", "awaiting_approval", "--json").stdout)
    res = cronui(env, "runs", "approve", str(waiting["id"]))
    assert res.stdout.startswith(f"approved run #{waiting['id']} of deploy: it runs")
    wait_for(lambda: marker.exists(), what="the job's command ran")
    assert marker.read_text() == "shipped\n"
    wait_for(
        lambda: query(env, "SELECT status FROM runs WHERE id = ?", (waiting["id"],))[0][0] == "succeeded",
        what="the approved run succeeded",
    )
    run = json.loads(cronui(env, "runs", "show", str(waiting["id"]), "--json").stdout)
    assert run["node"].split(":")[1] == str(d.pid)  # run by the daemon, not by the approving process
    assert [m["name"] for m in run["milestones"]][:2] == ["approval-requested", "approved"]
    again = cronui(env, "runs", "approve", str(waiting["id"]), check=False)
    assert again.returncode == 2 and "is not waiting for approval (it is succeeded)" in again.stderr
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0
