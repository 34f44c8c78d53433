"""A run's processes never outlive its execution, with real processes: escapees of every kind (`setsid`,
`env -i`, a double fork, a process that clears its environment and closes every descriptor) stopped when
their run ends; what a killed scheduler left stopped by the next holder, whatever its runs' status; and a
frozen scheduler's runs stopped by its watchdog before their lease expires, on one host (SQLite) and
across hosts (PostgreSQL, two nodes that take each other for different hosts)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, cronui, lease_pid, query, stop_at, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

SLEEP = "/bin/sleep"


@pytest.fixture
def start(env: dict[str, str], procs: Processes) -> Callable[..., subprocess.Popen[str]]:
    return lambda *argv, e=None: procs.spawn(*(argv or ("daemon",)), env=e or env)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def pid_in(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text.isdigit() else None


def watchdog_of(daemon: int) -> int | None:
    """The pid of a daemon's watchdog process (its child running watchdog_main), if it has one."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == daemon and b"watchdog_main" in cmdline:
            return int(entry)
    return None


def escapees(folder: Path) -> tuple[str, dict[str, Path]]:
    """A shell body that leaves one escapee of each kind behind (each writes its pid to a file), and
    those files by kind. The last one clears its environment and closes every descriptor (the marks
    with them) before it says it is there."""
    files = {k: folder / f"{k}.pid" for k in ("setsid", "env-i", "double-fork", "bare")}
    bare = (
        "import os, sys, time; os.closerange(0, 65536); "
        f"open('{files['bare']}', 'w').write(str(os.getpid())); time.sleep(120)"
    )
    body = "\n".join(
        [
            f"setsid sh -c 'echo $$ > {files['setsid']}; exec {SLEEP} 120' &",
            f"env -i setsid /bin/sh -c 'echo $$ > {files['env-i']}; exec {SLEEP} 120' &",
            f"(setsid sh -c 'echo $$ > {files['double-fork']}; exec {SLEEP} 120' &)",
            f'env -i setsid {sys.executable} -c "{bare}" &',
            *(f"until [ -s {f} ]; do {SLEEP} 0.05; done" for f in files.values()),
        ]
    )
    return body, files


def test_escapees_of_every_kind_are_stopped_when_their_run_ends(env, start, tmp_path):
    """Each kind of escapee outlives its shell; all are stopped once their run is over, the unmarked one
    (no environment, no descriptors) only once every run in flight when it was adopted has ended."""
    body, files = escapees(tmp_path)
    long_pid = tmp_path / "long.pid"
    cronui(env, "jobs", "add", "escape", "--schedule", "@yearly", "--shell", body)
    cronui(env, "jobs", "add", "long", "--schedule", "@yearly", "--shell", f"echo $$ > {long_pid}; {SLEEP} 120")
    daemon = start()
    wait_for(lambda: lease_pid(env) == daemon.pid, what="the daemon")
    cronui(env, "jobs", "run", "long")
    wait_for(lambda: pid_in(long_pid) is not None, timeout=15, what="the long run")
    cronui(env, "jobs", "run", "escape")
    wait_for(lambda: all(pid_in(f) for f in files.values()), timeout=20, what="every escapee")
    pids = {k: pid_in(f) for k, f in files.items()}
    wait_for(
        lambda: (
            query(env, "SELECT status FROM runs WHERE job_id = (SELECT id FROM jobs WHERE name = 'escape')")
            == [("succeeded",)]
        ),
        timeout=20,
        what="the escaping run's end",
    )
    for kind in ("setsid", "env-i", "double-fork"):
        wait_for(lambda p=pids[kind]: not alive(p), timeout=15, what=f"the {kind} escapee stopped")
    bare = pids["bare"]
    assert bare is not None and alive(bare), "the unmarked escapee was stopped while the long run could own it"
    cronui(env, "runs", "cancel", str(query(env, "SELECT id FROM runs WHERE status = 'running'")[0][0]))
    wait_for(lambda: not alive(bare), timeout=20, what="the unmarked escapee stopped after the long run")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


def test_kill_9_of_scheduler_and_watchdog_never_lets_a_grandchild_overlap_the_next_run(env, start, procs, tmp_path):
    """Holder and watchdog killed -9 at random moments of a job that leaves a `setsid` grandchild holding
    the job's lock; the next holder stops it before the next run. Counted from the jobs' own log."""
    lock, log = tmp_path / "job.lock", tmp_path / "executions"
    body = (
        f'if flock -n {lock} true; then echo "run $CRONUI_RUN_ID" >> {log}; '
        f'else echo "overlap $CRONUI_RUN_ID" >> {log}; fi; '
        f"setsid flock {lock} {SLEEP} 60 & {SLEEP} 0.4"
    )
    cronui(env, "jobs", "add", "work", "--schedule", "every 1s", "--shell", body, "--misfire", "skip")
    holder, standby = start(), start()
    cycles = int(os.environ.get("FAULT_CYCLES", "6"))
    rng = random.Random(cycles)
    for cycle in range(cycles):
        pair = (holder.pid, standby.pid)
        wait_for(lambda p=pair: lease_pid(env) in p, timeout=20, what="a holder")
        victim = holder if lease_pid(env) == holder.pid else standby
        done = _executions(log)
        wait_for(lambda d=done: _executions(log) > d, timeout=20, what="an execution under this holder")
        # mid-run (the grandchild up) every other time, else anywhere: just after a success, between runs
        time.sleep(rng.uniform(0.1, 0.3) if cycle % 2 == 0 else rng.uniform(0.0, 1.0))
        dog = watchdog_of(victim.pid)
        if dog is not None:
            os.kill(dog, signal.SIGKILL)  # no watchdog: only the next holder can stop what is left
        victim.kill()
        victim.wait()
        replacement = start()
        holder, standby = (standby, replacement) if victim is holder else (holder, replacement)
        wait_for(lambda gone=victim.pid: lease_pid(env) not in (None, gone), timeout=20, what="a takeover")
        wait_for(lambda d=done: _executions(log) > d + 1, timeout=20, what="the job running again")
    for p in (holder, standby):
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    stopped_by_takeover = sum(
        Path(p.log_path).read_text().count("left by scheduler(s) that are over")  # type: ignore[attr-defined]
        for p in procs.started
    )
    lines = log.read_text().splitlines()
    overlaps = [line for line in lines if line.startswith("overlap")]
    print(f"\n{len(lines)} executions, {cycles} kill -9 (holder and its watchdog), {len(overlaps)} overlaps, "
          f"{stopped_by_takeover} takeover(s) that stopped a killed holder's processes")  # fmt: skip
    assert overlaps == []
    assert stopped_by_takeover >= 1


def _executions(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _marked(argv: list[str], mark: str, *, env_mark: bool, fd_mark: bool) -> subprocess.Popen[bytes]:
    """A process carrying an execution's marks as a run's process would: in its environment and/or as an
    inherited memfd (the second survives `env -i`)."""
    environ = {"PATH": "/usr/bin:/bin"}
    if env_mark:
        environ["CRONUI_EXECUTION"] = mark
    fd = os.memfd_create(f"cronui-exec:{mark}") if fd_mark else None
    try:
        return subprocess.Popen(argv, env=environ, pass_fds=() if fd is None else (fd,), start_new_session=True)
    finally:
        if fd is not None:
            os.close(fd)


def test_a_new_holder_stops_what_a_gone_scheduler_left_whatever_its_runs_status(env, start, tmp_path):
    """Processes marked by a scheduler of this host that is gone (its run long recorded, or no row at
    all) are stopped when a scheduler takes the lease; one marked by a live scheduler (of another
    database) is left alone."""
    host = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is a scheduler's that is no longer there
    dead_node, live_node = f"{host}:{gone.pid}:0a0a0a", f"{host}:{os.getpid()}:0b0b0b"
    left = [
        _marked([SLEEP, "120"], f"{dead_node}/7", env_mark=True, fd_mark=True),
        _marked(["env", "-i", SLEEP, "120"], f"{dead_node}/8", env_mark=False, fd_mark=True),
        _marked([SLEEP, "120"], f"{dead_node}/9", env_mark=True, fd_mark=False),
    ]
    other = _marked([SLEEP, "120"], f"{live_node}/1", env_mark=True, fd_mark=True)
    try:
        daemon = start()
        for p in left:
            assert p.wait(timeout=20) == -signal.SIGTERM
        assert other.poll() is None
        # another scheduler of this host (a test run beside this one) may have stopped them first: the
        # daemon is stopped once it holds the lease, not while Python is still loading it
        log = Path(daemon.log_path)  # type: ignore[attr-defined]
        wait_for(lambda: '"state": "acquired"' in log.read_text(), what="the daemon holding the lease")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        assert other.poll() is None
    finally:
        for p in (*left, other):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_frozen_holder_has_its_run_stopped_by_its_watchdog_before_the_lease_expires(env, start, tmp_path):
    """One host (SQLite): the holder is frozen mid-run (SIGSTOP, between writes); its watchdog stops the run
    before the scheduler lease expires, so the standby takes over with nothing of it left running."""
    env = {**env, "CRONUI_LEASE_TTL": "6", "CRONUI_LEASE_RENEW": "1"}
    pidfile, lock, overlaps = tmp_path / "run.pid", tmp_path / "job.lock", tmp_path / "overlaps"
    body = f"flock -n {lock} sh -c 'echo $$ > {pidfile}; exec {SLEEP} 60' || echo overlap >> {overlaps}"
    cronui(env, "jobs", "add", "long", "--schedule", "every 1s", "--shell", body, "--retries", "2",
           "--retry-delay", "0s", "--misfire", "skip")  # fmt: skip
    frozen = start("daemon", "--grace", "1s", e=env)  # at the end, the retry's sleep is not waited for
    wait_for(lambda: lease_pid(env) == frozen.pid, what="the first holder")
    standby = start("daemon", "--grace", "1s", e=env)
    wait_for(lambda: pid_in(pidfile) is not None, timeout=20, what="the run's process")
    run_pid = pid_in(pidfile)
    assert run_pid is not None
    stop_at(frozen, env["CRONUI_DB"], inside_write=False)
    frozen_at = time.time()
    [(expires_at,)] = query(env, "SELECT expires_at FROM scheduler_lease")
    wait_for(lambda: not alive(run_pid), timeout=30, what="the frozen holder's run stopped")
    dead_at = time.time()
    wait_for(lambda: lease_pid(env) == standby.pid, timeout=30, what="the standby's takeover")
    [(acquired_at,)] = query(env, "SELECT acquired_at FROM scheduler_lease")
    wait_for(lambda: pid_in(pidfile) not in (None, run_pid), timeout=30, what="the job running again")
    frozen.send_signal(signal.SIGCONT)
    for p in (standby, frozen):
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    print(f"\nfrozen holder (lease 6 s, renewed every 1 s): run stopped {dead_at - frozen_at:.2f} s after the "
          f"freeze, {expires_at / 1000 - dead_at:.2f} s before its lease expired; standby took over "
          f"{acquired_at / 1000 - dead_at:.2f} s after that")  # fmt: skip
    assert dead_at * 1000 < expires_at, "the frozen holder's run outlived its lease"
    assert not overlaps.exists(), overlaps.read_text()
    log = Path(frozen.log_path).read_text()  # type: ignore[attr-defined]
    assert "lease not renewed by its deadline" in log, log[-3000:]


def test_a_run_finishing_at_shutdown_keeps_its_lease_past_the_lease_ttl(env, start, tmp_path):
    """SIGTERM gives running runs the grace to finish; their leases are renewed meanwhile, so a run longer
    than the lease is neither taken over by the standby nor stopped by the watchdog."""
    done = tmp_path / "done"
    cronui(env, "jobs", "add", "slow", "--schedule", "@yearly", "--shell", f"{SLEEP} 6; echo ok > {done}")
    daemon = start()
    wait_for(lambda: lease_pid(env) == daemon.pid, what="the daemon")
    standby = start()
    cronui(env, "jobs", "run", "slow")
    wait_for(lambda: query(env, "SELECT status FROM runs") == [("running",)], timeout=15, what="the run")
    daemon.send_signal(signal.SIGTERM)  # lease 3 s: it would run out twice over before the run ends
    assert daemon.wait(timeout=30) == 0
    assert query(env, "SELECT status, node LIKE ? FROM runs", (f"%:{daemon.pid}:%",)) == [("succeeded", 1)]
    assert done.read_text() == "ok\n"
    standby.send_signal(signal.SIGTERM)
    assert standby.wait(timeout=20) == 0


# ---------------------------------------------------------------- two hosts (PostgreSQL)

# A node that takes itself for another host: the other node cannot look for its processes, as across
# two machines; only the frozen node's own watchdog can stop them.
AS_HOST = (
    "import socket, sys; host = sys.argv.pop(1); socket.gethostname = lambda: host; "
    "from cronui.main import main; sys.exit(main())"
)


def test_a_node_frozen_past_its_lease_has_its_run_stopped_before_another_host_retries_it(env, procs, tmp_path):
    from tests.e2e.test_cluster import rows
    from tests.store.backends import drop_schema, postgres_url

    url = asyncio.run(postgres_url())  # skips (or fails in CI) without a server
    env = {**env, "CRONUI_DB": url, "CRONUI_LEASE_TTL": "6", "CRONUI_LEASE_RENEW": "1"}
    pidfile, lock, overlaps = tmp_path / "run.pid", tmp_path / "job.lock", tmp_path / "overlaps"
    body = f"flock -n {lock} sh -c 'echo $$ > {pidfile}; exec {SLEEP} 60' || echo overlap >> {overlaps}"

    def node(host: str) -> subprocess.Popen[str]:
        out = open(tmp_path / f"{host}.log", "w")
        p = subprocess.Popen([sys.executable, "-c", AS_HOST, host, "daemon", "--grace", "1s"], env=env, stdout=out,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
        p.log_path = out.name  # type: ignore[attr-defined]
        procs.started.append(p)
        return p

    try:
        cronui(env, "jobs", "add", "long", "--schedule", "every 1s", "--shell", body, "--retries", "2",
               "--retry-delay", "0s", "--misfire", "skip")  # fmt: skip
        b = node("host-b")
        wait_for(lambda: pid_in(pidfile) is not None, timeout=30, what="the run on host b")
        run_pid = pid_in(pidfile)
        assert run_pid is not None
        a = node("host-a")
        wait_for(lambda: rows(env, "SELECT COUNT(*) FROM nodes")[0][0] == 2, timeout=30, what="both nodes")
        [(run_id,)] = rows(env, "SELECT id FROM runs WHERE status = 'running'")
        b.send_signal(signal.SIGSTOP)
        frozen_at = time.time()
        time.sleep(0.2)  # a renewal it had in flight is over or never will be
        [(expires_at,)] = rows(env, f"SELECT lease_expires_at FROM runs WHERE id = {run_id}")
        wait_for(lambda: not alive(run_pid), timeout=30, what="host b's run stopped")
        dead_at = time.time()
        wait_for(lambda: pid_in(pidfile) not in (None, run_pid), timeout=30, what="the retry on host a")
        [(status,)] = rows(env, f"SELECT status FROM runs WHERE id = {run_id}")
        retry_started = rows(env, f"SELECT MIN(started_at) FROM runs WHERE id > {run_id}")[0][0]
        b.send_signal(signal.SIGCONT)
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        for p in (a, b):
            assert p.wait(timeout=30) == 0
    finally:
        asyncio.run(drop_schema(url))
    print(f"\nnode frozen (lease 6 s, renewed every 1 s): run stopped {dead_at - frozen_at:.2f} s after the freeze, "
          f"{expires_at / 1000 - dead_at:.2f} s before its lease expired; the other host's retry started "
          f"{retry_started / 1000 - dead_at:.2f} s after it")  # fmt: skip
    assert status == "interrupted"
    assert dead_at * 1000 < expires_at, "the frozen node's run outlived its lease"
    assert dead_at * 1000 < retry_started
    assert not overlaps.exists(), overlaps.read_text()
    assert "lease not renewed by its deadline" in Path(b.log_path).read_text()  # type: ignore[attr-defined]
