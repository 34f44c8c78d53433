"""Database faults against real daemons: a write lock held by another process, a full disk, the file deleted
or replaced, first starts racing on a missing file. Each daemon either carries on once the fault clears or
exits non-zero (75 for a fault that outlasts its lease, 1 for a file gone) — it never hangs.

The lease is short (ttl 3 s, renew 1 s; a few tests use a 6 s ttl to ride a fault out) and the busy timeout
0.3 s, so every fault plays out in seconds."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, cronui, query, wait_for

EXIT_DB_GONE = 1
EXIT_DB_FAULT = 75


@pytest.fixture
def fenv(env: dict[str, str]) -> dict[str, str]:
    return {**env, "CRONUI_SQLITE_BUSY_TIMEOUT": "0.3"}


@pytest.fixture
def daemons(procs: Processes) -> Callable[..., subprocess.Popen[str]]:
    return lambda env: procs.spawn("daemon", env=env, name="daemon")


def succeeded(db: str) -> int:
    return query(db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0]


def states(p: subprocess.Popen[str]) -> list[dict]:
    """The daemon's `scheduler` lines (JSON on stdout), in order."""
    lines = [json.loads(ln) for ln in Path(p.log_path).read_text().splitlines() if ln.startswith("{")]  # type: ignore[attr-defined]
    return [ln for ln in lines if ln.get("event") == "scheduler"]


def state_names(p: subprocess.Popen[str]) -> list[str]:
    return [s.get("state", "") for s in states(p)]


class WriteLock:
    """Another process's connection holding the database's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, db: str) -> None:
        self.con = sqlite3.connect(db, isolation_level=None, timeout=10, check_same_thread=False)
        self.con.execute("BEGIN EXCLUSIVE")
        self.taken = time.monotonic()

    def release(self) -> float:
        self.con.execute("COMMIT")
        self.con.close()
        return time.monotonic() - self.taken


def a_ticking_daemon(fenv: dict[str, str], daemons, **extra: str) -> subprocess.Popen[str]:
    env = {**fenv, **extra}
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "echo tick")
    d = daemons(env)
    wait_for(lambda: succeeded(env["CRONUI_DB"]) >= 2, what="two runs")
    return d


def test_a_write_lock_shorter_than_the_lease_is_ridden_out(fenv, daemons):
    env = {**fenv, "CRONUI_LEASE_TTL": "6"}
    db = env["CRONUI_DB"]
    d = a_ticking_daemon(env, daemons)
    lock = WriteLock(db)
    wait_for(lambda: "db-fault" in state_names(d), what="the daemon to report the fault")
    status = cronui(env, "status", "--json")
    time.sleep(max(0.0, 3.0 - (time.monotonic() - lock.taken)))  # a 3 s lock: ten busy timeouts
    held = lock.release()
    before = succeeded(db)
    wait_for(lambda: succeeded(db) >= before + 2, what="runs after the lock")
    assert d.poll() is None
    assert held >= 3.0
    names = state_names(d)
    assert names.index("db-fault") < names.index("db-recovered")
    recovered = next(s for s in states(d) if s["state"] == "db-recovered")
    assert "database is locked" in recovered["error"]
    assert json.loads(status.stdout)["scheduler"]["pid"] == d.pid
    shown = cronui(env, "status").stdout
    assert "db fault   last: " in shown and "database is locked" in shown
    print(f"\nwrite lock survived: {held:.1f}s (busy timeout 0.3s, lease ttl 6s)")


def test_status_shows_a_holder_that_stopped_renewing(fenv, daemons):
    env = {**fenv, "CRONUI_LEASE_TTL": "6"}
    d = a_ticking_daemon(env, daemons)
    lock = WriteLock(env["CRONUI_DB"])
    try:
        time.sleep(3.0)  # more than two renewals missed
        shown = cronui(env, "status")
    finally:
        lock.release()
    assert shown.returncode == 0  # the lease is still its: it may yet carry on
    assert f":{d.pid} since" in shown.stdout and "NOT RENEWING its lease since" in shown.stdout


def test_a_write_lock_that_outlasts_the_lease_ends_the_daemon_with_75(fenv, daemons):
    db = fenv["CRONUI_DB"]
    cronui(fenv, "jobs", "add", "slow", "--schedule", "every 1s", "--shell", "sleep 30", "--overlap", "allow")
    d = daemons(fenv)
    wait_for(lambda: query(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0] >= 1, what="a run")
    lock = WriteLock(db)
    try:
        code = d.wait(timeout=30)  # never hangs
        took = time.monotonic() - lock.taken
    finally:
        lock.release()
    assert code == EXIT_DB_FAULT
    assert "db-fault-exit" in state_names(d)
    text = Path(d.log_path).read_text()  # type: ignore[attr-defined]
    assert "the scheduler lease has run out" in text
    # a restart after the lock is gone takes over and records the abandoned run interrupted
    again = daemons(fenv)
    wait_for(lambda: query(db, "SELECT COUNT(*) FROM runs WHERE status = 'interrupted'")[0][0] >= 1, what="recovery")
    assert again.poll() is None
    print(f"\nwrite lock held past the lease (ttl 3s): daemon exited 75 after {took:.1f}s")


def test_sigterm_during_a_fault_ends_the_daemon_in_bounded_time(fenv, daemons):
    env = {**fenv, "CRONUI_LEASE_TTL": "30", "CRONUI_LEASE_RENEW": "1"}
    d = a_ticking_daemon(env, daemons)
    lock = WriteLock(env["CRONUI_DB"])
    try:
        wait_for(lambda: "db-fault" in state_names(d), what="the fault")
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        code = d.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        lock.release()
    assert code in (0, EXIT_DB_FAULT)
    assert "stopped" in state_names(d)
    print(f"\nSIGTERM while the database is locked: exited {code} after {took:.1f}s")


def tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return res.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB file system of its own (a tmpfs; needs root)."""
    mnt = tmp_path / "small"
    if not tmpfs(mnt, "2M"):
        pytest.skip("a full disk needs a small tmpfs: root and mount(8)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the file system has no room left (ENOSPC)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_ridden_out_and_the_daemon_carries_on(fenv, daemons, small_disk):
    db = str(small_disk / "c.db")
    env = {**fenv, "CRONUI_DB": db, "CRONUI_LEASE_TTL": "6"}
    cronui(env, "jobs", "add", "noisy", "--schedule", "every 1s", "--shell", "head -c 3000 /dev/zero | base64")
    d = daemons(env)
    wait_for(lambda: succeeded(db) >= 2, what="two runs")
    filler = fill(small_disk)
    wait_for(lambda: "db-fault" in state_names(d), what="the daemon to report the full disk")
    time.sleep(1.5)
    filler.unlink()
    freed = time.monotonic()
    wait_for(lambda: "db-recovered" in state_names(d), what="recovery")
    recovered = time.monotonic() - freed
    before = succeeded(db)
    wait_for(lambda: succeeded(db) >= before + 2, what="runs after the disk has room again")
    assert d.poll() is None
    fault = next(s for s in states(d) if s["state"] == "db-fault")
    assert fault["kind"] == "full"
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=30) == 0
    print(f"\nfull disk: recovered {recovered:.2f}s after space returned")


def test_a_full_disk_that_outlasts_the_lease_ends_the_daemon_and_exit_is_prompt(fenv, daemons, small_disk):
    db = str(small_disk / "c.db")
    env = {**fenv, "CRONUI_DB": db}
    cronui(env, "jobs", "add", "noisy", "--schedule", "every 1s", "--shell", "head -c 3000 /dev/zero | base64")
    d = daemons(env)
    wait_for(lambda: succeeded(db) >= 2, what="two runs")
    filler = fill(small_disk)
    t0 = time.monotonic()
    assert d.wait(timeout=30) == EXIT_DB_FAULT
    took = time.monotonic() - t0
    filler.unlink()
    print(f"\nfull disk past the lease (ttl 3s): exited 75 after {took:.1f}s")


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_stops_the_daemon(fenv, daemons, tmp_path, how):
    db = fenv["CRONUI_DB"]
    d = a_ticking_daemon(fenv, daemons)
    if how == "deleted":
        os.unlink(db)
    else:
        other = tmp_path / "other.db"
        sqlite3.connect(other).close()
        os.replace(other, db)
    assert d.wait(timeout=30) == EXIT_DB_GONE
    text = Path(d.log_path).read_text()  # type: ignore[attr-defined]
    assert f"the database file was {how}" in text
    assert "db-gone" in state_names(d)


def test_daemons_racing_on_a_missing_file_all_start(fenv, daemons, tmp_path):
    rounds, failures = 5, 0
    for i in range(rounds):
        db = str(tmp_path / f"race{i}" / "c.db")
        env = {**fenv, "CRONUI_DB": db}
        started = [daemons(env) for _ in range(3)]
        wait_for(lambda db=db: bool(query(db, "SELECT holder FROM scheduler_lease")), what="a holder")
        time.sleep(1.0)
        failures += sum(1 for p in started if p.poll() is not None)
        holders = query(db, "SELECT pid FROM scheduler_lease")
        assert len(holders) == 1 and holders[0][0] in {p.pid for p in started}
        for p in started:
            p.kill()
            p.wait()
    assert failures == 0
    print(f"\nfirst start: {rounds} rounds of 3 daemons on a missing file, {failures} failed")


def test_a_lock_at_start_is_reported_and_the_daemon_takes_over_once_it_clears(fenv, daemons):
    env = {**fenv, "CRONUI_LEASE_TTL": "6"}
    db = env["CRONUI_DB"]
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "echo tick")
    lock = WriteLock(db)
    d = daemons(env)
    try:
        wait_for(lambda: "db-fault" in state_names(d), what="the fault at start")
    finally:
        lock.release()
    wait_for(lambda: succeeded(db) >= 1, what="a run once the lock is gone")
    assert d.poll() is None


# ---------------------------------------------------------------- a database this process may only read

READ_COMMANDS = [("jobs", "list"), ("runs", "list"), ("jobs", "show", "tick"), ("export",), ("status",)]
WRITE_COMMANDS = [
    ("jobs", "add", "other", "--schedule", "@daily", "--shell", "true"),
    ("jobs", "run", "tick"),
    ("jobs", "edit", "tick", "--retries", "1"),
    ("jobs", "rm", "tick"),
    ("pause",),
]


def read_only_outcomes(env: dict[str, str], daemons) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every read and write command (and a daemon) on the read-only database in `env`."""
    out = {" ".join(argv): cronui(env, *argv, check=False) for argv in READ_COMMANDS + WRITE_COMMANDS}
    d = daemons(env)
    d.wait(timeout=30)
    out["daemon"] = subprocess.CompletedProcess(["daemon"], d.returncode, "", Path(d.log_path).read_text())  # type: ignore[attr-defined]
    return out


def assert_reads_work_and_writes_say_read_only(out: dict[str, subprocess.CompletedProcess[str]]) -> None:
    for argv in READ_COMMANDS:
        res = out[" ".join(argv)]
        assert res.returncode == (1 if argv == ("status",) else 0), (argv, res.stderr)  # status: nothing schedules
        assert res.stderr in ("", "no runs yet\n"), (argv, res.stderr)
        assert "tick" in res.stdout or argv == ("runs", "list"), (argv, res.stdout)
    for argv in [*WRITE_COMMANDS, ("daemon",)]:
        res = out[" ".join(argv)]
        last = res.stderr.strip().splitlines()[-1]
        assert res.returncode == 2, (argv, res.returncode, res.stderr)
        assert "the database is read-only here" in last and "this one writes" in last, (argv, res.stderr)
        assert "Traceback" not in res.stderr and "cannot create database" not in res.stderr, (argv, res.stderr)
        if argv != ("daemon",):
            assert len(res.stderr.splitlines()) == 1, (argv, res.stderr)


def sqlite_rows(db: str) -> list[list[tuple]]:
    return [query(db, f"SELECT * FROM {t} ORDER BY 1") for t in ("jobs", "runs", "state")]


@pytest.mark.parametrize("how", ["read-only file system", "immutable file"])
def test_a_read_only_sqlite_database_serves_reads_and_refuses_writes_in_one_line(fenv, daemons, tmp_path, how):
    """As root no permission bit stops a write, so the file is made read-only the ways root meets too: the
    file system remounted read-only (a tmpfs of its own), or the file marked immutable (chattr +i)."""
    if how == "read-only file system":
        folder = tmp_path / "ro"
        if not tmpfs(folder, "8M"):
            pytest.skip("a read-only file system needs a tmpfs: root and mount(8)")
    else:
        folder = tmp_path / "imm"
        folder.mkdir()
        if shutil.which("chattr") is None:
            pytest.skip("chattr(1) is not installed")
    env = {**fenv, "CRONUI_DB": str(folder / "c.db")}
    cronui(env, "jobs", "add", "tick", "--schedule", "@daily", "--shell", "true")
    cronui(env, "jobs", "run", "tick", "--wait")
    before = sqlite_rows(env["CRONUI_DB"])
    if how == "read-only file system":
        lock = ["mount", "-o", "remount,ro", str(folder)]
        unlock = ["mount", "-o", "remount,rw", str(folder)]
    else:
        lock, unlock = ["chattr", "+i", env["CRONUI_DB"]], ["chattr", "-i", env["CRONUI_DB"]]
    res = subprocess.run(lock, capture_output=True, text=True)
    if res.returncode != 0:
        if how == "read-only file system":
            subprocess.run(["umount", "-l", str(folder)], check=False)
        pytest.skip(f"{' '.join(lock)}: {res.stderr.strip()}")
    try:
        out = read_only_outcomes(env, daemons)
    finally:
        subprocess.run(unlock, check=True)
        if how == "read-only file system":
            subprocess.run(["umount", "-l", str(folder)], check=False)
    if how == "immutable file":
        assert sqlite_rows(env["CRONUI_DB"]) == before  # nothing changed
    assert_reads_work_and_writes_say_read_only(out)
    print(f"\n{how}: {len(READ_COMMANDS)} reads ran, {len(WRITE_COMMANDS)} writes and a daemon refused in one line")


@pytest.fixture
def pg_schema(fenv: dict[str, str]) -> Iterator[dict[str, str]]:
    """The e2e environment on a fresh PostgreSQL schema of the test server."""
    import asyncio

    from tests.store.backends import drop_schema, postgres_url

    url = asyncio.run(postgres_url())  # skips (or fails in CI) without a server
    yield {**fenv, "CRONUI_DB": url}
    asyncio.run(drop_schema(url))


def pg(url: str, *statements: str) -> list[list[tuple]]:
    """Run statements as the test server's own user (in the URL's schema); the rows of each."""
    import asyncio

    import asyncpg

    from cronui.store.postgres import split_url

    async def go() -> list[list[tuple]]:
        dsn, schema = split_url(url)
        con = await asyncpg.connect(dsn)
        try:
            if schema:
                await con.execute(f'SET search_path TO "{schema}"')
            return [[tuple(r) for r in await con.fetch(s)] for s in statements]
        finally:
            await con.close()

    return asyncio.run(go())


@pytest.mark.parametrize("how", ["SELECT rights only", "default_transaction_read_only"])
def test_a_read_only_postgresql_user_reads_and_is_refused_writes_in_one_line(pg_schema, daemons, how):
    env = pg_schema
    cronui(env, "jobs", "add", "tick", "--schedule", "@daily", "--shell", "true")
    url = env["CRONUI_DB"]
    schema = url.rsplit("schema=", 1)[1]
    role = f"ro_{schema[-12:]}"
    db = url.split("?")[0].rsplit("/", 1)[1]
    grants = (
        [f'GRANT USAGE ON SCHEMA "{schema}" TO {role}', f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {role}']
        if how == "SELECT rights only"
        else [f"ALTER ROLE {role} SUPERUSER", f"ALTER ROLE {role} SET default_transaction_read_only = on"]
    )
    pg(url, f"CREATE ROLE {role} LOGIN", f'GRANT CONNECT ON DATABASE "{db}" TO {role}', *grants)
    try:
        before = pg(url, "SELECT * FROM jobs ORDER BY id", "SELECT * FROM runs ORDER BY id")
        ro_env = {**env, "CRONUI_DB": url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)}
        assert ro_env["CRONUI_DB"] != url
        out = read_only_outcomes(ro_env, daemons)
        assert pg(url, "SELECT * FROM jobs ORDER BY id", "SELECT * FROM runs ORDER BY id") == before
    finally:
        pg(url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
    assert_reads_work_and_writes_say_read_only(out)


# ---------------------------------------------------------------- PostgreSQL: connections the server ends

# what asyncpg says when a connection is used as if it were still there: never a line of the daemon's log.
# The same words inside "the server ended the connection (...)" are a fault said plainly, and retried.
ASYNCPG_COMPLAINT = re.compile(
    r"another operation|Transaction\.__aexit__|released back to the pool|cannot perform operation|Traceback"
)
SAID_PLAINLY = re.compile(r"the server ended the connection \(cannot switch to state \d+; another operation \(2\)")


def complaint(line: str) -> bool:
    return bool(ASYNCPG_COMPLAINT.search(SAID_PLAINLY.sub("", line)))


def terminate_backends(url: str, pid: int) -> int:
    """pg_terminate_backend on every connection of cronui process `pid`; how many it ended."""
    (found,) = pg(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE application_name = 'cronui:{pid}' AND pid != pg_backend_pid()",
    )
    return sum(1 for r in found if r[0])


def pg_succeeded(url: str) -> int:
    return pg(url, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0][0]


def ticking_node(env: dict[str, str], daemons, jobs: int = 8) -> subprocess.Popen[str]:
    for i in range(jobs):
        cronui(env, "jobs", "add", f"t{i}", "--schedule", "every 1s", "--misfire", "skip", "--shell", "echo tick")
    d = daemons(env)
    wait_for(lambda: pg_succeeded(env["CRONUI_DB"]) >= jobs * 2, what="runs on the node")
    return d


def test_a_node_whose_connections_are_terminated_30_times_only_retries(pg_schema, daemons):
    """pg_terminate_backend on all of a node's connections, 30 times at random moments while eight jobs run
    every second: each loss is a fault retried on a fresh connection, said as what it is — never asyncpg's
    complaint about a connection used as if it were there ("another operation is in progress", a ROLLBACK
    on a closed connection) — and no run fails, the node never stops."""
    env = pg_schema
    url = env["CRONUI_DB"]
    d = ticking_node(env, daemons)
    rounds, cut = 30, 0
    rng = random.Random(30)
    for _ in range(rounds):
        cut += terminate_backends(url, d.pid)
        time.sleep(rng.uniform(0.2, 1.0))
        assert d.poll() is None, Path(d.log_path).read_text()[-3000:]  # type: ignore[attr-defined]
    before = pg_succeeded(url)
    wait_for(lambda: pg_succeeded(url) >= before + 16, what="runs after the last termination")
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=30) == 0
    text = Path(d.log_path).read_text()  # type: ignore[attr-defined]
    complaints = [ln for ln in text.splitlines() if complaint(ln)]
    retried = sum(1 for ln in text.splitlines() if "retrying" in ln)
    (failed,) = pg(
        url,
        "SELECT status, error, COUNT(*) FROM runs WHERE status NOT IN ('succeeded', 'skipped', 'pending', 'running') "
        "GROUP BY status, error",
    )
    print(f"\n{rounds} terminations ({cut} connections ended): {retried} clean retries, {len(complaints)} errors")
    assert complaints == []
    assert failed == []
    assert state_names(d).count("db-fault") == state_names(d).count("db-recovered")


def test_a_node_stopped_past_its_lease_while_the_server_ends_its_connections_carries_on(pg_schema, daemons):
    """SIGSTOP longer than the lease, the node's connections ended meanwhile (as the server does to a
    stopped node's open transaction), then SIGCONT, three times: the node meets closed connections, which is
    a passing fault, not a lease that the database let run out — it carries on instead of exiting 75."""
    env = pg_schema
    url = env["CRONUI_DB"]
    d = ticking_node(env, daemons)
    for _ in range(3):
        d.send_signal(signal.SIGSTOP)
        try:
            time.sleep(1.0)
            terminate_backends(url, d.pid)
            time.sleep(3.0)  # past the 3 s lease
        finally:
            d.send_signal(signal.SIGCONT)
        before = pg_succeeded(url)
        wait_for(lambda b=before: pg_succeeded(url) >= b + 8 or d.poll() is not None, what="runs after SIGCONT")
        assert d.poll() is None, f"exit {d.returncode}: " + Path(d.log_path).read_text()[-2000:]  # type: ignore[attr-defined]
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=30) == 0
    assert "db-fault-exit" not in state_names(d)
