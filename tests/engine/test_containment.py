"""A run's processes stop with its run, with real processes: an escapee of a run that timed out, and the
node's watchdog (a process of its own) stopping runs whose lease deadline passed or whose scheduler went."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid

import pytest

from cronui.engine.clock import SystemClock
from cronui.engine.engine import Engine
from cronui.engine.executors import containment, strays
from cronui.engine.executors.watchdog import Watchdog, now_boot
from cronui.model import RunStatus
from tests.engine.test_shell import alive, run_once

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="needs Linux /proc")


@pytest.fixture
async def real(store, settings):
    eng = Engine(store, settings, SystemClock())
    await eng.open()
    assert await eng.try_acquire()
    yield eng
    await eng.close(grace_s=2)


async def test_a_timed_out_runs_escapee_is_stopped_with_it(real: Engine, tmp_path):
    pidfile = tmp_path / "escapee.pid"
    cmd = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' & sleep 60"
    run = await run_once(real, "slow", cmd, timeout_s=1.0)
    assert run.status is RunStatus.TIMED_OUT
    assert not alive(int(pidfile.read_text()))


async def test_an_escapee_that_drops_its_environment_is_stopped_by_its_descriptor(real: Engine, tmp_path):
    pidfile = tmp_path / "escapee.pid"
    cmd = (
        f"env -i setsid /bin/sh -c 'echo $$ > {pidfile}; exec /bin/sleep 60' & "
        f"until [ -s {pidfile} ]; do sleep 0.05; done"
    )
    run = await run_once(real, "bare-env", cmd)
    assert run.status is RunStatus.SUCCEEDED
    assert not alive(int(pidfile.read_text()))


def marked(execution: str | None) -> subprocess.Popen[bytes]:
    """A process leading its own group, carrying `execution`'s mark in its environment (or none)."""
    env = {"PATH": "/usr/bin:/bin"} | ({containment.MARK: execution} if execution else {})
    return subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)


def node() -> str:
    return f"test-host:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def ended(p: subprocess.Popen[bytes]) -> int:
    try:
        return p.wait(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_the_watchdog_stops_a_run_whose_lease_deadline_passed():
    name = node()
    dog = Watchdog(name, lease_s=3, renew_s=1, kill_grace_s=0.5)
    run = marked(f"{name}/1")
    try:
        dog.hold(f"{name}/1", leased=True)
        dog.renewed(now_boot() - 10)  # a renewal long ago: the scheduler has not renewed since
        assert ended(run) == -signal.SIGTERM
        assert dog.stopped(f"{name}/1")
    finally:
        dog.close()


def test_a_renewed_deadline_keeps_runs_and_the_watchdog_stops_them_when_the_scheduler_goes():
    name = node()
    dog = Watchdog(name, lease_s=30, renew_s=10, kill_grace_s=0.5)
    leased, test_run = marked(f"{name}/1"), marked(f"{name}/None")
    dog.hold(f"{name}/1", leased=True)
    dog.hold(f"{name}/None", leased=False)
    dog.renewed(now_boot())
    time.sleep(0.5)
    assert leased.poll() is None and test_run.poll() is None
    assert not dog.stopped(f"{name}/1")
    dog.close()  # the pipe ends, as when the scheduler is killed: everything with its marks is stopped
    assert ended(leased) == -signal.SIGTERM
    assert ended(test_run) == -signal.SIGTERM


def test_a_process_without_the_nodes_marks_is_never_signalled():
    """Only processes carrying the node's marks (and their groups, made inside a run's session) are
    stopped: a stranger is left alone, even one whose pid was a run's."""
    name = node()
    dog = Watchdog(name, lease_s=3, renew_s=1, kill_grace_s=0.5)
    run, stranger = marked(f"{name}/1"), marked(None)
    try:
        dog.hold(f"{name}/1", leased=True)
        dog.hold(f"{name}/2", leased=True)
        dog.renewed(now_boot() - 10)
        assert ended(run) == -signal.SIGTERM
        time.sleep(0.5)
        assert stranger.poll() is None
    finally:
        dog.close()
        stranger.kill()
        stranger.wait()


def test_a_killed_watchdog_is_replaced_with_what_it_held():
    name = node()
    dog = Watchdog(name, lease_s=3, renew_s=1, kill_grace_s=0.5)
    first, second = marked(f"{name}/1"), marked(f"{name}/2")
    try:
        dog.hold(f"{name}/1", leased=True)
        assert dog._proc is not None
        old = dog._proc
        os.kill(old.pid, signal.SIGKILL)
        old.wait()
        dog.hold(f"{name}/2", leased=True)  # meets the closed pipe: a new watchdog, both held
        assert dog._proc is not None and dog._proc.pid != old.pid
        dog.renewed(now_boot() - 10)
        assert ended(first) == -signal.SIGTERM
        assert ended(second) == -signal.SIGTERM
    finally:
        dog.close()


def test_the_scheduler_and_its_session_are_never_stopped_even_holding_a_runs_mark():
    """While it starts a run's shell the scheduler holds the run's marking descriptor, and the new process
    is in the scheduler's session until it starts its own: a watchdog firing then stops neither (nor the
    scheduler's process group: here, the test runner's)."""
    name = node()
    dog = Watchdog(name, lease_s=3, renew_s=1, kill_grace_s=0.5)
    held = containment.mark_fd(f"{name}/1")
    env = {"PATH": "/usr/bin:/bin", containment.MARK: f"{name}/1"}
    starting = subprocess.Popen(["sleep", "60"], env=env)  # not yet in a session of its own
    run = marked(f"{name}/1")
    try:
        dog.hold(f"{name}/1", leased=True)
        dog.renewed(now_boot() - 10)
        assert ended(run) == -signal.SIGTERM
        time.sleep(0.5)
        assert starting.poll() is None
        assert dog._proc is not None and dog._proc.poll() is None, "the watchdog stopped itself"
    finally:
        dog.close()
        if held is not None:
            os.close(held)
        starting.kill()
        starting.wait()


async def test_the_stray_sweep_reads_adopted_children_off_the_event_loop(monkeypatch):
    """Adopted children (here: real `setsid` processes of ours, in flight for no run) are read from /proc in
    a worker thread: the event loop keeps running during a long sweep (each child's read is slowed to stand
    in for a large environment), and the strays are stopped all the same."""
    children = [subprocess.Popen(["sleep", "60"], start_new_session=True) for _ in range(8)]
    slow_reads = []
    marks_of = containment.marks_of

    def slow_marks_of(pid: int) -> set[str]:
        slow_reads.append(pid)
        ticks_at_reads.append(ticks[0])
        time.sleep(0.05)
        return marks_of(pid)

    monkeypatch.setattr(containment, "marks_of", slow_marks_of)
    ticks = [0]
    ticks_at_reads: list[int] = []

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.005)
            ticks[0] += 1

    ticking = asyncio.create_task(ticker())
    try:
        stopped = await strays.sweep([], grace_s=2)
        left = [p.pid for p in children if alive(p.pid)]
    finally:
        ticking.cancel()
        for p in children:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait()
    assert {p.pid for p in children} <= set(slow_reads)
    assert stopped >= len(children)
    assert left == []  # stopped (and reaped) by the sweep
    assert ticks_at_reads[-1] > ticks_at_reads[0]  # the loop ran while the children were read


async def test_a_sweep_with_no_adopted_children_needs_no_thread(monkeypatch):
    """The common case (every child is a run's shell in flight, or none): no hop to a worker thread."""
    leader = subprocess.Popen(["sleep", "60"], start_new_session=True)
    hops = []

    async def to_thread(*args: object) -> object:
        hops.append(args)
        raise AssertionError("no thread wanted")

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    try:
        assert await strays.sweep([leader.pid], grace_s=2) == 0
        assert leader.poll() is None  # a watched run leader is left alone
    finally:
        leader.kill()
        leader.wait()
    assert hops == []
