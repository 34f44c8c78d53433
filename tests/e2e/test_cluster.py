"""Cluster mode with real processes on the real PostgreSQL server: three daemons on one database, jobs on a
one-second schedule. Every execution appends "<job> <slot>" to a file of its own making, so slots are
counted by the jobs themselves, not only by rows."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.processes import PrivatePostgres, Processes, cronui, wait_for
from tests.store.backends import URL_VAR, drop_schema, postgres_url


@pytest.fixture
def cluster(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    url = asyncio.run(postgres_url())  # skips (or fails in CI) without a server
    env = {**env, "CRONUI_DB": url}
    yield env
    asyncio.run(drop_schema(url))


@pytest.fixture
def nodes(cluster: dict[str, str], procs: Processes) -> Callable[..., subprocess.Popen[str]]:
    """Start a node (a daemon) on the cluster's database, or with the environment given."""
    return lambda env=None: procs.spawn("daemon", env=env or cluster, name="node")


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


def logging_jobs(env: dict[str, str], log: Path, count: int, work: str = "") -> None:
    """`count` every-second jobs, each execution appending "<job> <slot>" to `log` (then doing `work`)."""
    for i in range(count):
        cronui(
            env, "jobs", "add", f"j{i:02d}", "--schedule", "every 1s", "--misfire", "skip",
            "--shell", f'echo "$CRONUI_JOB $CRONUI_SCHEDULED_FOR" >> {log}{work}',
        )  # fmt: skip


def executions_of(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def assert_every_slot_once(env: dict[str, str], log: Path) -> Counter[tuple[str, ...]]:
    """Every slot executed at most once (counted by the jobs' own log), every slot between a job's first
    and last accounted for by a row (run, or a missed slot the misfire policy recorded), and every run
    that succeeded seen in the log."""
    executions = Counter(tuple(line.split()) for line in log.read_text().splitlines())
    assert executions and max(executions.values()) == 1, [e for e, n in executions.items() if n > 1][:5]
    slots = rows(env, "SELECT job_id, scheduled_for, missed_count, status FROM runs WHERE trigger = 'schedule'")
    by_job: dict[int, list[tuple]] = {}
    for r in slots:
        by_job.setdefault(r[0], []).append(r)
    for job_rows in by_job.values():
        times = sorted(r[1] for r in job_rows)
        assert len(times) == len(set(times)), "a slot has two rows"
        assert sum(r[2] for r in job_rows) == (times[-1] - times[0]) // 1000 + 1, "a hole in the slots"
    succeeded = sum(1 for r in slots if r[3] == "succeeded")
    assert succeeded == sum(executions.values())
    assert rows(env, "SELECT COUNT(*) FROM runs WHERE status IN ('running', 'pending') AND trigger = 'schedule'")[0][
        0
    ] <= len(by_job), "runs left behind"
    return executions


def stop(started: list[subprocess.Popen[str]]) -> None:
    for p in started:
        p.send_signal(signal.SIGTERM)
    for p in started:
        assert p.wait(timeout=30) == 0, f"node {p.pid} exited {p.returncode}"


def test_three_nodes_run_every_slot_exactly_once(cluster, nodes, tmp_path):
    log = tmp_path / "executions"
    jobs = 12
    logging_jobs(cluster, log, jobs)
    started = [nodes() for _ in range(3)]
    wait_for(lambda: executions_of(log) >= jobs * 3, timeout=30, what="executions")
    time.sleep(6)
    stop(started)
    ran_on = {r[0].split(":")[1] for r in rows(cluster, "SELECT DISTINCT node FROM runs WHERE node IS NOT NULL")}
    assert len(ran_on) >= 2, "the work was not shared"
    assert_every_slot_once(cluster, log)


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


def terminate_backends(env: dict[str, str], pid: int) -> int:
    """pg_terminate_backend on every connection of cronui process `pid` (its pool and its LISTEN)."""
    return len(
        [
            r
            for r in rows(
                env,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = 'cronui:{pid}' AND pid != pg_backend_pid()",
            )
            if r[0]
        ]
    )


def ran_since(env: dict[str, str], since_ms: int) -> Counter[int]:
    """How many runs each node (by pid) started since `since_ms` and finished well."""
    found = rows(env, f"SELECT node FROM runs WHERE status = 'succeeded' AND started_at >= {since_ms}")
    return Counter(int(r[0].split(":")[1]) for r in found)


def test_a_node_whose_connections_are_terminated_mid_run_reconnects_and_carries_on(cluster, nodes, tmp_path):
    """The server ends every connection of one node (pg_terminate_backend, three times while its runs are in
    flight): the node reconnects and keeps claiming and finishing runs; no slot runs twice.

    Each node runs at most three runs at once, so the eight runs due each second need every node: the node
    that claims first would otherwise take a second's runs alone, and a live node could go ten seconds
    and more without one (seen: 16.8 s), which says nothing about whether it reconnected."""
    log = tmp_path / "executions"
    logging_jobs(cluster, log, 8, "; sleep 0.4")
    config = tmp_path / "config.toml"
    config.write_text("max_concurrent = 3\n")
    cluster = {**cluster, "CRONUI_CONFIG": str(config)}
    started = [nodes(cluster) for _ in range(3)]
    wait_for(lambda: any(running_on(cluster, p) for p in started), timeout=30, what="a running run")
    victim = next(p for p in started if running_on(cluster, p))
    cut = 0
    for _ in range(3):
        wait_for(lambda: bool(running_on(cluster, victim)), timeout=10, what="a run in flight on the node")
        cut += terminate_backends(cluster, victim.pid)
        time.sleep(1)
    assert cut >= 3
    after = int(time.time() * 1000)
    wait_for(lambda: ran_since(cluster, after)[victim.pid] >= 3, timeout=20, what="the node running jobs again")
    assert all(p.poll() is None for p in started), "a node stopped"
    time.sleep(2)
    stop(started)
    assert_every_slot_once(cluster, log)
    assert "listening for wake-ups again" in Path(victim.log_path).read_text()  # type: ignore[attr-defined]


@pytest.fixture
def private_server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, to restart (never the shared one)."""
    why = PrivatePostgres.missing()
    if why:
        if os.environ.get("CI") == "true" and os.environ.get(URL_VAR):
            pytest.fail(f"the PostgreSQL restart test must run in CI: {why}")
        pytest.skip(f"no private PostgreSQL server to restart: {why}")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_nodes_carry_on_when_postgresql_restarts_under_them(env, procs, private_server, tmp_path):
    """PostgreSQL stops for two seconds and starts again under three nodes with jobs every second: every
    node reconnects and carries on, no slot runs twice, and the slots missed meanwhile are recorded."""
    cluster = {**env, "CRONUI_DB": f"{private_server.url}?schema=cronui", "CRONUI_LEASE_TTL": "10",
               "CRONUI_LEASE_RENEW": "1"}  # fmt: skip
    log = tmp_path / "executions"
    logging_jobs(cluster, log, 8)
    started = [procs.spawn("daemon", env=cluster, name="node") for _ in range(3)]
    wait_for(lambda: executions_of(log) >= 8 * 3, timeout=30, what="executions")
    private_server.stop("fast")
    time.sleep(2)
    private_server.start()
    back = int(time.time() * 1000)
    wait_for(lambda: executions_of(log) >= 8 * 3 + 8 * 4, timeout=30, what="executions after the restart")
    wait_for(
        lambda: len(rows(cluster, f"SELECT node FROM nodes WHERE seen_at > {back + 2000}")) == 3,
        timeout=20,
        what="every node's heartbeat after the restart",
    )
    assert all(p.poll() is None for p in started), "a node stopped"
    time.sleep(2)
    stop(started)
    assert_every_slot_once(cluster, log)
    assert sum(ran_since(cluster, back).values()) >= 8 * 3
