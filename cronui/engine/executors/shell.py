"""Shell jobs: `/bin/sh -c COMMAND` in its own process group, output captured and capped.

On timeout or cancel the whole group gets SIGTERM, then SIGKILL after a grace period; when the shell
itself exits, whatever it left running in its group is stopped the same way, so a job's processes never
outlive its run (and a retry never overlaps a previous attempt's leftovers).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Callable
from typing import Any, Protocol

from cronui.engine.executors import children, containment, spawn, strays, watchdog
from cronui.engine.executors.base import Outcome, RunContext, hook_payload, milestone_request, permanent_failure
from cronui.model import RunStatus, params
from cronui.secrets import MissingSecret
from cronui.targets import ShellTarget
from cronui.timefmt import iso_utc

MILESTONE = re.compile(r"^::milestone\s+([A-Za-z0-9_.:-]+)((?:\s+[A-Za-z0-9_.-]+=\S*)*)\s*::\s*$")
_MAX_LINE = 4096
LAPSED = (
    "stopped by the node's watchdog: the scheduler did not renew its lease in time (frozen, or cut off from "
    "the database), and another may retry the run once the lease expires"
)


def parse_milestone(line: str) -> tuple[str, dict[str, Any]] | None:
    """`::milestone NAME key=value ...::` -> (NAME, {key: value}); None for any other line."""
    m = MILESTONE.match(line)
    if not m:
        return None
    data: dict[str, Any] = {}
    for pair in m.group(2).split():
        key, _, value = pair.partition("=")
        data[key] = value
    return m.group(1), data


# The shells of runs in flight in this process (the event loop waits for them; a sweep leaves them alone).
LEADERS: set[int] = set()

# The sweep that the runs ended so far in this pass of the loop wait for, not begun yet (one per loop).
_next_sweep: asyncio.Future[None] | None = None
_sweeps: set[asyncio.Task[None]] = set()


def _sweep_after(grace_s: float) -> asyncio.Future[None]:
    """A sweep of adopted strays that begins after this moment. Runs that end together share one: each sweep
    reads our whole list of children, which names every run in flight."""
    global _next_sweep
    loop = asyncio.get_running_loop()
    fut = _next_sweep
    if fut is None or fut.get_loop() is not loop or fut.done():
        fut = _next_sweep = loop.create_future()
        task = loop.create_task(_sweep(fut, grace_s))
        _sweeps.add(task)
        task.add_done_callback(_sweeps.discard)
    return fut


async def _sweep(fut: asyncio.Future[None], grace_s: float) -> None:
    global _next_sweep
    if _next_sweep is fut:
        _next_sweep = None  # a run ending from now on waits for the next sweep
    try:
        await strays.sweep(LEADERS, grace_s, every_thread=False)
    except asyncio.CancelledError:
        fut.cancel()
        raise
    except Exception as e:
        fut.set_exception(e)
    else:
        fut.set_result(None)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the group.

    One signal-0 to the group answers the usual case (the shell has exited and been reaped, nothing is
    left: ESRCH). Only when something answers is /proc read, because a zombie answers too and a group of
    zombies waiting for init to reap them is as good as empty."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc_dir = "/proc"
    if not os.path.isdir(proc_dir):
        return True
    for entry in os.listdir(proc_dir):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc_dir}/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may contain spaces, so split after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


class _Child(Protocol):
    """A run's shell as the supervision sees it: spawn.Child (the loop's own readers and a pidfd) or, where
    there are no pidfds, asyncio's process with a task per pipe (_AsyncioChild)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait_exit(self) -> None: ...

    async def wait_drained(self, timeout: float) -> None: ...

    def close(self) -> None: ...


async def stop_group(pgid: int, proc: _Child, grace_s: float) -> None:
    """SIGTERM the group, wait up to grace_s for it to go, then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            if proc.returncode is not None and not _group_alive(pgid):
                return


def _report_milestones(lines: bytes, ctx: RunContext) -> None:
    """The milestones in complete output lines: parsed until the run's cap is reached, then only counted
    (lines starting `::milestone`, counted in one pass over the bytes)."""
    if b"::milestone" not in lines:
        return
    if ctx.milestones_full:
        ctx.milestones_dropped += (b"\n" + lines).count(b"\n::milestone")
        return
    for raw in lines.split(b"\n"):
        if not raw.startswith(b"::milestone") or len(raw) > _MAX_LINE:
            continue
        found = parse_milestone(raw.decode("utf-8", "replace").rstrip("\r"))
        if found:
            ctx.reported_milestone(*found)


class _Lines:
    """The milestone lines of a run's stdout, fed in the pieces it arrives in."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.partial = b""  # the line in progress, while it may still be a milestone line
        self.overlong = False  # the line in progress is too long to be one

    def feed(self, chunk: bytes) -> None:
        data = self.partial + chunk if self.partial else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self.partial = b"" if self.overlong else data
        else:
            lines, self.partial = data[:end], data[end + 1 :]
            if self.overlong:  # the first line ends the overlong one
                lines = lines.partition(b"\n")[2]
                self.overlong = False
            _report_milestones(lines, self.ctx)
        if len(self.partial) > _MAX_LINE:
            self.partial, self.overlong = b"", True

    def end(self) -> None:
        if self.partial:
            _report_milestones(self.partial, self.ctx)
            self.partial = b""


def _reader(ctx: RunContext, lines: _Lines) -> Callable[[str, bytes], None]:
    def on_data(name: str, chunk: bytes) -> None:
        ctx.output(name, chunk)
        if name == "stdout":
            lines.feed(chunk)

    return on_data


async def _pump(stream: asyncio.StreamReader, name: str, on_data: Callable[[str, bytes], None]) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        on_data(name, chunk)
        # read() returns at once while the pipe has data: a flooding job must still leave the loop to others
        await asyncio.sleep(0)


class _AsyncioChild:
    """asyncio's process and a task per pipe: the path where there are no pidfds."""

    def __init__(self, proc: asyncio.subprocess.Process, on_data: Callable[[str, bytes], None]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.pid = proc.pid
        self.pumps = [
            asyncio.create_task(_pump(proc.stdout, "stdout", on_data)),
            asyncio.create_task(_pump(proc.stderr, "stderr", on_data)),
        ]

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    async def wait_exit(self) -> None:
        """Until the shell itself has exited. Usually its pipes close as it exits, and then Process.wait()
        returns at once. A background child can hold the pipes open for as long as it likes, so the exit
        status is also polled (4 times a second) rather than waiting for the pipes alone."""
        both = asyncio.gather(*self.pumps, return_exceptions=True)
        while self.proc.returncode is None:
            done, _ = await asyncio.wait({both}, timeout=0.25)
            if done:
                await self.proc.wait()
                return

    async def wait_drained(self, timeout: float) -> None:
        await asyncio.wait(self.pumps, timeout=timeout)
        self.close()

    def close(self) -> None:
        for t in self.pumps:
            t.cancel()


async def run(ctx: RunContext) -> Outcome:
    spec = ctx.job.target
    if not isinstance(spec, ShellTarget):
        return permanent_failure(f"not a shell job ({spec.kind})")
    command = spec.command
    cwd = spec.cwd or None
    # The child's environment as bytes: the process's own is copied without decoding every entry.
    env = dict(os.environb) if ctx.env is os.environ else {os.fsencode(k): os.fsencode(v) for k, v in ctx.env.items()}
    try:
        for key, value in spec.env.items():
            env[os.fsencode(key)] = os.fsencode(ctx.resolve(value))
    except MissingSecret as e:
        return permanent_failure(str(e))
    if cwd and not os.path.isdir(cwd):
        return permanent_failure(f"working directory {cwd} does not exist")
    env[b"CRONUI_RUN_ID"] = b"test" if ctx.run.id is None else str(ctx.run.id).encode()  # a test run: no row
    env[b"CRONUI_JOB"] = os.fsencode(ctx.job.name)
    env[b"CRONUI_SCHEDULED_FOR"] = (iso_utc(ctx.run.scheduled_for) or "").encode()
    env[b"CRONUI_ATTEMPT"] = str(ctx.run.attempt).encode()
    for key, value in params.environment(ctx.run.params or {}).items():  # CRONUI_PARAM_K
        env[os.fsencode(key)] = os.fsencode(value)
    payload = hook_payload(ctx.run)
    if payload is not None:
        env[b"CRONUI_PAYLOAD"] = os.fsencode(payload)
    execution = containment.mark(ctx.run.node, ctx.run.id)
    env[containment.MARK.encode()] = os.fsencode(execution)
    marker = containment.mark_fd(execution)  # the second mark, which `env -i` does not strip

    children.install()
    containment.started(execution)  # from here on a sweep leaves this execution's processes alone
    dog = watchdog.NODES.get(ctx.run.node or "")
    if dog is not None:  # told before the shell starts: a scheduler frozen from its first moment is covered
        dog.hold(execution, leased=ctx.run.id is not None)
    lines = _Lines(ctx)
    on_data = _reader(ctx, lines)
    argv = ["/bin/sh", "-c", command]
    pass_fds = () if marker is None else (marker,)
    proc: _Child
    try:
        if spawn.available():
            proc = spawn.Child.start(argv, cwd=cwd, env=env, pass_fds=pass_fds, on_data=on_data)
        else:
            proc = _AsyncioChild(
                await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    pass_fds=pass_fds,
                ),
                on_data,
            )
    except BaseException:
        containment.ended(execution)
        if dog is not None:
            dog.release(execution)
        raise
    finally:
        if marker is not None:
            os.close(marker)  # the shell holds it now; ours would only keep it open longer than the run
    LEADERS.add(proc.pid)
    # what was run, for the run's request view: the command as written (values of `${env:}` never in it),
    # where, and the names of the variables the job sets
    ran = {"command": command, "cwd": cwd or os.getcwd(), "env": sorted(spec.env)}
    ctx.milestone("process-started", pid=proc.pid, request=milestone_request(ran, ctx))
    try:
        return await _supervise(proc, ctx, execution, dog, lines)
    finally:
        LEADERS.discard(proc.pid)
        containment.ended(execution)
        if dog is not None:
            dog.release(execution)
        # what left the group (setsid, a double fork) and was adopted: stopped now its run is over
        await asyncio.shield(_sweep_after(ctx.kill_grace_s))


async def _supervise(
    proc: _Child, ctx: RunContext, execution: str, dog: watchdog.Watchdog | None, lines: _Lines
) -> Outcome:
    """Until the shell has exited and its group is empty; the run's outcome. However it is left (a timeout or
    a cancel at any point), the whole group is stopped first and its pipes are read no further."""
    pgid = proc.pid  # start_new_session: the shell leads its own group
    try:
        try:
            await proc.wait_exit()
        except asyncio.CancelledError:
            # timeout or cancel: stop the whole group before giving up the slot
            await asyncio.shield(stop_group(pgid, proc, ctx.kill_grace_s))
            raise
        if _group_alive(pgid):  # what the shell left running in its group
            await asyncio.shield(stop_group(pgid, proc, ctx.kill_grace_s))
        await proc.wait_drained(2.0)  # a process outside the group may hold the pipes: not for long
        lines.end()
    finally:
        proc.close()

    rc = proc.returncode
    assert rc is not None
    if rc < 0:
        sig = -rc
        ctx.milestone("process-exited", signal=sig)
        if dog is not None and dog.stopped(execution):
            return Outcome(RunStatus.INTERRUPTED, error=LAPSED, exit_code=None, signal=sig)
        return Outcome(
            RunStatus.FAILED, error=f"killed by signal {signal.Signals(sig).name}", exit_code=None, signal=sig
        )
    ctx.milestone("process-exited", exit_code=rc)
    if rc == 0:
        return Outcome(RunStatus.SUCCEEDED, exit_code=0)
    return Outcome(RunStatus.FAILED, error=f"exited with code {rc}", exit_code=rc)
