"""Database faults against real daemons: a write lock held by another process, a full disk, the file deleted
or replaced, first starts racing on a missing file. Each daemon either carries on once the fault clears or
exits non-zero (75 for a fault that outlasts its lease, 1 for a file gone) — it never hangs.

The lease is short (ttl 3 s, renew 1 s; a few tests use a 6 s ttl to ride a fault out) and the busy timeout
0.3 s, so every fault plays out in seconds."""

from __future__ import annotations

import errno
import json
import os
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
