"""Placement with real processes on the real PostgreSQL server: two daemons, one started with `--label gpu`
and one with its labels from CRONUI_NODE_LABELS; a job pinned to `gpu` runs only on the first, an unpinned
job on both, and `cronui nodes` shows each node's labels."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.e2e.processes import Processes, cronui, wait_for
from tests.e2e.test_cluster import cluster, rows

__all__ = ["cluster"]  # the fixture, shared with the cluster tests


def test_a_pinned_job_runs_only_on_the_node_with_its_label(cluster: dict[str, str], procs: Processes, tmp_path: Path):
    log = tmp_path / "executions"
    line = f'echo "$CRONUI_JOB $$ $PPID" >> {log}'
    cronui(cluster, "jobs", "add", "pinned", "--schedule", "every 1s", "--overlap", "allow", "--misfire", "skip",
           "--node-label", "gpu", "--shell", line)  # fmt: skip
    cronui(cluster, "jobs", "add", "free", "--schedule", "every 1s", "--overlap", "allow", "--misfire", "skip",
           "--shell", line)  # fmt: skip
    assert "no live node has label 'gpu'" in cronui(cluster, "status", check=False).stdout
    gpu = procs.spawn("--no-ui", "--label", "gpu", env=cluster, name="gpu")
    plain = procs.spawn("daemon", env={**cluster, "CRONUI_NODE_LABELS": "eu"}, name="plain")
    # The first node to claim in a second takes what it may of that second's runs: wait until the unpinned
    # job has run on each node (the gpu node must win a claim of it at least once).
    free_nodes = (
        "SELECT DISTINCT r.node FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'free' AND r.node IS NOT NULL"
    )
    wait_for(lambda: len(rows(cluster, free_nodes)) == 2, timeout=60, what="the unpinned job run on both nodes")
    wait_for(lambda: len(log.read_text().splitlines()) >= 12, timeout=30, what="a dozen executions")
    listed = {n["pid"]: n for n in json.loads(cronui(cluster, "nodes", "--json").stdout)}
    assert listed[gpu.pid]["labels"] == ["gpu"] and listed[plain.pid]["labels"] == ["eu"]
    assert "no live node has label" not in cronui(cluster, "status").stdout
    for p in (gpu, plain):
        p.send_signal(signal.SIGTERM)
    for p in (gpu, plain):
        assert p.wait(timeout=30) == 0
    ran = rows(
        cluster,
        "SELECT j.name, r.node, COUNT(*) FROM runs r JOIN jobs j ON j.id = r.job_id "
        "WHERE r.node IS NOT NULL GROUP BY j.name, r.node",
    )
    pinned_on = {node.split(":")[1] for name, node, _ in ran if name == "pinned"}
    free_on = {node.split(":")[1] for name, node, _ in ran if name == "free"}
    assert pinned_on == {str(gpu.pid)}, ran
    assert free_on == {str(gpu.pid), str(plain.pid)}, ran  # the unpinned job is anyone's
    executions = [ln.split() for ln in log.read_text().splitlines()]
    # the shells' parents say where each execution happened (a run's process is its node's child)
    assert {ppid for name, _, ppid in executions if name == "pinned"} <= {str(gpu.pid)}
    assert any(name == "pinned" for name, _, _ in executions)
