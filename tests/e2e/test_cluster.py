"""Cluster mode with real processes on the real PostgreSQL server: three daemons on one database, jobs on a
one-second schedule. Every execution appends "<job> <slot>" to a file of its own making, so slots are
counted by the jobs themselves, not only by rows."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.processes import Processes, cronui, wait_for
from tests.store.backends import drop_schema, postgres_url


@pytest.fixture
def cluster(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    url = asyncio.run(postgres_url())  # skips (or fails in CI) without a server
    env = {**env, "CRONUI_DB": url}
    yield env
    asyncio.run(drop_schema(url))


@pytest.fixture
def nodes(cluster: dict[str, str], procs: Processes) -> Callable[[], subprocess.Popen[str]]:
    return lambda: procs.spawn("daemon", env=cluster, name="node")


def rows(env: dict[str, str], sql: str) -> list[tuple]:
    async def go() -> list[tuple]:
        from cronui.store.postgres import split_url

        dsn, schema = split_url(env["CRONUI_DB"])
        con = await asyncpg.connect(dsn)
        try:
            await con.execute(f'SET search_path TO "{schema}"')
            return [tuple(r) for r in await con.fetch(sql)]
        finally:
            await con.close()

    return asyncio.run(go())


def test_three_nodes_run_every_slot_exactly_once(cluster, nodes, tmp_path):
    log = tmp_path / "executions"
    jobs = 12
    for i in range(jobs):
        cronui(
            cluster, "jobs", "add", f"j{i:02d}", "--schedule", "every 1s", "--misfire", "skip",
            "--shell", f'echo "$CRONUI_JOB $CRONUI_SCHEDULED_FOR" >> {log}',
        )  # fmt: skip
    started = [nodes() for _ in range(3)]
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= jobs * 3, timeout=30, what="executions")
    time.sleep(6)
    for p in started:
        p.send_signal(signal.SIGTERM)
    for p in started:
        assert p.wait(timeout=30) == 0
    executions = Counter(tuple(line.split()) for line in log.read_text().splitlines())
    assert executions and max(executions.values()) == 1, [e for e, n in executions.items() if n > 1][:5]
    ran_on = {r[0].split(":")[1] for r in rows(cluster, "SELECT DISTINCT node FROM runs WHERE node IS NOT NULL")}
    assert len(ran_on) >= 2, "the work was not shared"
    slots = rows(cluster, "SELECT job_id, scheduled_for, missed_count, status FROM runs WHERE trigger = 'schedule'")
    by_job: dict[int, list[tuple]] = {}
    for r in slots:
        by_job.setdefault(r[0], []).append(r)
    for job_rows in by_job.values():
        times = sorted(r[1] for r in job_rows)
        assert len(times) == len(set(times)), "a slot has two rows"
        assert sum(r[2] for r in job_rows) == (times[-1] - times[0]) // 1000 + 1, "a hole in the slots"
    succeeded = sum(1 for r in slots if r[3] == "succeeded")
    assert succeeded == sum(executions.values())


def guarded_jobs(env: dict[str, str], tmp_path: Path, prefix: str, count: int, seconds: int) -> Path:
    """`count` every-second jobs that each sleep while holding a lock of their own, or write to the
    returned `overlaps` file when another execution of the same job holds it."""
    locks = tmp_path / "locks"
    locks.mkdir()
    overlaps = tmp_path / "overlaps"
    for i in range(count):
        body = f"flock -n {locks}/$CRONUI_JOB sleep {seconds} || echo overlap >> {overlaps}"
        cronui(env, "jobs", "add", f"{prefix}{i}", "--schedule", "every 1s", "--shell", body, "--retries", "2",
               "--retry-delay", "0s", "--misfire", "skip")  # fmt: skip
    return overlaps


def running_on(env: dict[str, str], p: subprocess.Popen[str]) -> list[int]:
    """The runs running on the node that is process `p`."""
    return [r[0] for r in rows(env, f"SELECT id FROM runs WHERE status = 'running' AND node LIKE '%:{p.pid}:%'")]


def test_a_node_killed_mid_run_has_its_runs_recovered_by_the_others(cluster, nodes, tmp_path):
    overlaps = guarded_jobs(cluster, tmp_path, "w", 4, 2)
    started = [nodes(), nodes(), nodes()]
    wait_for(lambda: any(running_on(cluster, p) for p in started), timeout=30, what="a running run")
    a = next(p for p in started if running_on(cluster, p))  # the node that has work in flight
    b, c = (p for p in started if p is not a)
    a.kill()
    a.wait()
    killed_at = time.monotonic()
    wait_for(lambda: not running_on(cluster, a), timeout=20, what="the killed node's runs recovered")
    recovered_after = time.monotonic() - killed_at
    interrupted = rows(cluster, f"SELECT COUNT(*) FROM runs WHERE status = 'interrupted' AND node LIKE '%:{a.pid}:%'")
    assert interrupted[0][0] >= 1
    time.sleep(3)
    for p in (b, c):
        p.send_signal(signal.SIGTERM)
    for p in (b, c):
        assert p.wait(timeout=30) == 0
    assert not overlaps.exists(), overlaps.read_text()
    print(f"recovered {recovered_after:.1f} s after kill -9 (lease 3 s, renewed every 1 s)")


def test_nodes_lists_every_node_with_its_heartbeat(cluster, nodes):
    import json

    started = [nodes() for _ in range(2)]
    wait_for(lambda: len(json.loads(cronui(cluster, "nodes", "--json").stdout)) == 2, timeout=20, what="two nodes")
    listed = json.loads(cronui(cluster, "nodes", "--json").stdout)
    assert sorted(n["pid"] for n in listed) == sorted(p.pid for p in started)
    assert all(n["alive"] for n in listed)
    assert "alive" in cronui(cluster, "nodes").stdout
    for p in started:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
    assert json.loads(cronui(cluster, "nodes", "--json").stdout) == []  # a node that stops says goodbye


def test_a_node_frozen_past_its_lease_overlaps_nothing_and_overwrites_no_recovery(cluster, nodes, tmp_path):
    overlaps = guarded_jobs(cluster, tmp_path, "f", 3, 3)
    started = [nodes(), nodes(), nodes()]
    wait_for(lambda: any(running_on(cluster, p) for p in started), timeout=30, what="a running run")
    frozen = next(p for p in started if running_on(cluster, p))  # the node that has work in flight
    b, c = (p for p in started if p is not frozen)
    taken = running_on(cluster, frozen)
    frozen.send_signal(signal.SIGSTOP)
    wait_for(lambda: not running_on(cluster, frozen), timeout=20, what="its runs recovered by the others")
    frozen.send_signal(signal.SIGCONT)  # it comes back: its runs are someone else's business now
    time.sleep(3)
    statuses = dict(rows(cluster, f"SELECT id, status FROM runs WHERE id IN ({', '.join(map(str, taken))})"))
    assert set(statuses.values()) == {"interrupted"}, statuses  # the recovery stands
    for p in (frozen, b, c):
        p.send_signal(signal.SIGTERM)
    for p in (frozen, b, c):
        assert p.wait(timeout=30) == 0
    assert not overlaps.exists(), overlaps.read_text()


def test_status_counts_the_live_nodes(cluster, nodes):
    import json

    assert cronui(cluster, "status", check=False).returncode == 1  # nothing schedules yet
    started = [nodes() for _ in range(2)]
    wait_for(lambda: cronui(cluster, "status", check=False).returncode == 0, timeout=20, what="a scheduler")
    wait_for(lambda: json.loads(cronui(cluster, "status", "--json").stdout)["nodes"] == 2, timeout=20, what="two nodes")
    assert "2 nodes on" in cronui(cluster, "status").stdout
    for p in started:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
