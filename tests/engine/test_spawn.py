"""The shell executor's spawn path (spawn.py: Popen, the loop's own pipe readers and a pidfd), with real
processes, driven at the executor so a cancel can land at each moment of a run: before its shell starts,
just after, while its output is read, after it exited while another process holds its pipes. Whenever a
run ends, its process group is gone, its shell collected, and no descriptor of ours is left open."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from cronui.engine.executors import containment, shell, spawn
from cronui.engine.executors.base import Outcome, RunContext
from cronui.model import Run, RunStatus, Trigger
from tests.engine.test_shell import alive
from tests.helpers import make_job

pytestmark = pytest.mark.skipif(not spawn.available(), reason="this kernel or sandbox has no pidfd_open")


class Runner:
    """One shell run at the executor: its milestones and live output as they come."""

    def __init__(self, command: str, *, output_cap: int = 64 * 1024, kill_grace_s: float = 1.0) -> None:
        self.milestones: list[tuple[str, dict[str, Any]]] = []
        self.output: list[tuple[str, str]] = []
        self.started = asyncio.Event()
        self.printed = asyncio.Event()
        job = make_job("spawned", "@yearly", command)
        run = Run(job_id=1, trigger=Trigger.MANUAL, scheduled_for=0)
        self.ctx = RunContext(
            job=job,
            run=run,
            output_cap=output_cap,
            on_milestone=self._milestone,
            on_output=self._output,
            kill_grace_s=kill_grace_s,
        )

    def _milestone(self, name: str, data: dict[str, Any]) -> None:
        self.milestones.append((name, data))
        if name == "process-started":
            self.started.set()

    def _output(self, stream: str, text: str) -> None:
        self.output.append((stream, text))
        self.printed.set()

    @property
    def pid(self) -> int:
        return next(d["pid"] for n, d in self.milestones if n == "process-started")

    def task(self) -> asyncio.Task[Outcome]:
        return asyncio.create_task(shell.run(self.ctx))


@pytest.fixture(autouse=True)
async def warmed() -> None:
    """One run first: what the path opens once per process (a /dev/null for stdin) is open before counting."""
    await Runner("true").task()


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def assert_collected(pid: int) -> None:
    """The shell is gone and was collected by us (no zombie left behind)."""
    assert not alive(pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def cancelled(task: asyncio.Task[Outcome]) -> float:
    """Cancel and wait for the task to end; how long it took (s). It must end by raising CancelledError."""
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - t0


@contextlib.contextmanager
def killed_after(pidfile: Path):
    """A process the run left outside its group (stopped by the test where this process adopts no orphans)."""
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


async def test_a_run_needs_none_of_asyncios_subprocess_machinery(monkeypatch):
    async def refused(*args: object, **kw: object) -> None:
        raise AssertionError("asyncio.create_subprocess_exec was used")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", refused)
    before = open_fds()
    r = Runner("echo out; echo '::milestone half pct=50::'; echo err >&2; exit 3")
    outcome = await r.task()
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 3
    assert r.ctx.stdout.text() == "out\n::milestone half pct=50::\n" and r.ctx.stderr.text() == "err\n"
    assert [n for n, _ in r.milestones] == ["process-started", "half", "process-exited"]
    assert_collected(r.pid)
    assert open_fds() == before
    assert containment.ACTIVE == {} and shell.LEADERS == set()


async def test_the_asyncio_path_is_kept_where_there_are_no_pidfds(monkeypatch):
    monkeypatch.setattr(spawn, "_available", False)
    r = Runner("echo out; echo err >&2; exit 3")
    outcome = await r.task()
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 3
    assert r.ctx.stdout.text() == "out\n" and r.ctx.stderr.text() == "err\n"


async def test_cancelled_before_its_shell_starts_leaves_nothing():
    before = open_fds()
    r = Runner("sleep 30")
    task = r.task()
    await cancelled(task)  # before the task's first step: no process is ever started
    assert r.milestones == []
    assert open_fds() == before
    assert containment.ACTIVE == {} and shell.LEADERS == set()


async def test_cancelled_as_its_shell_starts_stops_the_group(tmp_path):
    before = open_fds()
    pidfile = tmp_path / "bg.pid"
    r = Runner(f"sleep 30 & echo $! > {pidfile}; wait")
    task = r.task()
    await asyncio.sleep(0)  # the task runs up to its first wait: the shell has just been started
    assert r.started.is_set()
    took = await cancelled(task)
    assert took < 3
    assert_collected(r.pid)
    if pidfile.exists() and pidfile.read_text().strip():  # the shell may have been stopped before it wrote it
        assert not alive(int(pidfile.read_text()))
    assert open_fds() == before
    assert containment.ACTIVE == {} and shell.LEADERS == set()


async def test_cancelled_while_its_output_is_read(tmp_path):
    before = open_fds()
    r = Runner("echo working; sleep 30")
    task = r.task()
    await asyncio.wait_for(r.printed.wait(), 10)
    took = await cancelled(task)
    assert took < 3
    assert r.output == [("stdout", "working\n")]
    assert_collected(r.pid)
    assert open_fds() == before


async def test_a_shell_that_ignores_term_is_killed_after_the_grace():
    r = Runner("trap '' TERM; echo ready; while :; do sleep 0.05; done", kill_grace_s=0.3)
    task = r.task()
    await asyncio.wait_for(r.printed.wait(), 10)
    took = await cancelled(task)
    assert took < 3
    assert_collected(r.pid)


async def test_cancelled_after_it_exited_while_another_session_holds_its_pipes(tmp_path):
    before = open_fds()
    pidfile = tmp_path / "escapee.pid"
    r = Runner(f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' & until [ -s {pidfile} ]; do sleep 0.02; done")
    with killed_after(pidfile):
        task = r.task()
        while not any(n == "process-started" for n, _ in r.milestones) or alive(r.pid):
            await asyncio.sleep(0.02)  # the shell exited; the escapee still holds stdout and stderr
        took = await cancelled(task)
        assert took < 1.5  # no waiting out the pipes
        assert_collected(r.pid)
        assert open_fds() == before


async def test_a_shell_that_closes_its_output_but_keeps_running_is_waited_for():
    t0 = time.monotonic()
    r = Runner("echo early; exec >&- 2>&-; sleep 0.5; exit 4")
    outcome = await r.task()
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 4
    assert time.monotonic() - t0 >= 0.5
    assert r.ctx.stdout.text() == "early\n"
    assert [n for n, _ in r.milestones][-1] == "process-exited"


async def test_a_run_ends_when_its_shell_exits_though_another_session_holds_its_pipes(tmp_path):
    before = open_fds()
    pidfile = tmp_path / "escapee.pid"
    escape = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' &"
    r = Runner(f"{escape} until [ -s {pidfile} ]; do sleep 0.02; done; echo hi")
    with killed_after(pidfile):
        t0 = time.monotonic()
        outcome = await r.task()
        took = time.monotonic() - t0
        assert outcome.status is RunStatus.SUCCEEDED
        assert took < 5  # the pipes are given 2 s, then reading stops
        assert r.ctx.stdout.text() == "hi\n"
        assert_collected(r.pid)
        assert open_fds() == before


async def test_an_output_flood_past_the_cap_keeps_head_and_tail_and_leaves_the_loop_to_others():
    ticks = 0
    flooding = True

    async def ticker() -> None:
        nonlocal ticks
        while flooding:
            ticks += 1
            await asyncio.sleep(0)

    r = Runner("echo FIRST; yes 0123456789 | head -c 5000000; echo; echo LAST", output_cap=1000)
    other = asyncio.create_task(ticker())
    try:
        outcome = await r.task()
    finally:
        flooding = False
        await other
    assert outcome.status is RunStatus.SUCCEEDED
    text = r.ctx.stdout.text()
    assert text.startswith("FIRST") and text.rstrip().endswith("LAST") and "bytes omitted" in text
    assert r.ctx.stdout.total == len("FIRST\n") + 5_000_000 + len("\nLAST\n")
    reads = r.ctx.stdout.total // spawn.READ_SIZE
    assert ticks >= reads  # another task ran between every two reads of the flood
    assert_collected(r.pid)


async def test_a_milestone_split_across_reads_is_reported_once():
    # the milestone line arrives after 70,000 bytes: across the first read's end
    r = Runner("head -c 69990 /dev/zero | tr '\\0' 'x'; echo; echo '::milestone late n=1::'")
    outcome = await r.task()
    assert outcome.status is RunStatus.SUCCEEDED
    assert [(n, d) for n, d in r.milestones if n == "late"] == [("late", {"n": "1"})]


def shell_fds(r: Runner) -> dict[int, str]:
    """The descriptors the shell held, as it listed them: fd -> what it is open on."""
    found = {}
    for line in r.ctx.stdout.text().splitlines():
        name, arrow, target = line.partition(" -> ")
        if arrow:
            found[int(name.split()[-1])] = target
    return found


LIST_FDS = "ls -l /proc/$$/fd"  # while the shell waits for `ls`: its own descriptors, none of a pipeline


@pytest.mark.parametrize("in_dir", [False, True], ids=["posix_spawn", "Popen with a working directory"])
async def test_a_shell_holds_its_three_streams_and_its_mark_and_nothing_of_ours(tmp_path, monkeypatch, in_dir):
    leak = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leak, True)  # as if inherited by this process, or opened by a library without the flag
    monkeypatch.setattr(spawn, "_prepared", False)
    try:
        r = Runner(LIST_FDS)
        if in_dir:
            r.ctx.job.target.cwd = str(tmp_path)
        r.ctx.run.node = "host:1:abc"
        outcome = await r.task()
    finally:
        os.close(leak)
    assert outcome.status is RunStatus.SUCCEEDED, r.ctx.stderr.text()
    fds = shell_fds(r)
    assert fds[0] == "/dev/null" and fds[1].startswith("pipe:") and fds[2].startswith("pipe:")
    others = {fd: target for fd, target in fds.items() if fd > 2}
    assert list(others.values()) == [f"{containment.FD_PREFIX}{containment.mark('host:1:abc', None)} (deleted)"]


async def test_a_spawn_that_fails_leaves_nothing_open(monkeypatch):
    def refused(*args: object, **kw: object) -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # as fork does with no processes left

    before = open_fds()
    monkeypatch.setattr(os, "posix_spawn", refused)
    r = Runner("true")
    with pytest.raises(BlockingIOError):
        await r.task()
    assert r.milestones == []
    assert open_fds() == before
    assert containment.ACTIVE == {} and shell.LEADERS == set()
