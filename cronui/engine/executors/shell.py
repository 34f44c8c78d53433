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
from typing import Any

from cronui.engine.executors import children, containment, strays, watchdog
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


async def _wait_exit(proc: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]) -> None:
    """Until the shell itself has exited.

    Usually its pipes close as it exits, and then Process.wait() returns at once. A background child
    can hold the pipes open for as long as it likes, so the exit status is also polled (4 times a
    second) rather than waiting for the pipes alone."""
    both = asyncio.gather(*pumps, return_exceptions=True)
    while proc.returncode is None:
        done, _ = await asyncio.wait({both}, timeout=0.25)
        if done:
            await proc.wait()
            return


async def stop_group(pgid: int, proc: asyncio.subprocess.Process, grace_s: float) -> None:
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


async def _pump(stream: asyncio.StreamReader, name: str, ctx: RunContext) -> None:
    partial = b""  # the line in progress, while it may still be a milestone line
    overlong = False  # the line in progress is too long to be one
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        ctx.output(name, chunk)
        if name == "stdout":
            data = partial + chunk
            end = data.rfind(b"\n")
            if end < 0:
                partial = b"" if overlong else data
            else:
                lines, partial = data[:end], data[end + 1 :]
                if overlong:  # the first line ends the overlong one
                    lines = lines.partition(b"\n")[2]
                    overlong = False
                _report_milestones(lines, ctx)
            if len(partial) > _MAX_LINE:
                partial, overlong = b"", True
        # read() returns at once while the pipe has data: a flooding job must still leave the loop to others
        await asyncio.sleep(0)
    if partial:
        _report_milestones(partial, ctx)


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
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=() if marker is None else (marker,),
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
        return await _supervise(proc, ctx, execution, dog)
    finally:
        LEADERS.discard(proc.pid)
        containment.ended(execution)
        if dog is not None:
            dog.release(execution)
        # what left the group (setsid, a double fork) and was adopted: stopped now its run is over
        await asyncio.shield(strays.sweep(LEADERS, ctx.kill_grace_s, every_thread=False))


async def _supervise(
    proc: asyncio.subprocess.Process, ctx: RunContext, execution: str, dog: watchdog.Watchdog | None
) -> Outcome:
    """Until the shell has exited and its group is empty; the run's outcome."""
    pgid = proc.pid  # start_new_session: the shell leads its own group
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        asyncio.create_task(_pump(proc.stdout, "stdout", ctx)),
        asyncio.create_task(_pump(proc.stderr, "stderr", ctx)),
    ]
    try:
        await _wait_exit(proc, pumps)
    except asyncio.CancelledError:
        # timeout or cancel: stop the whole group before giving up the slot
        await asyncio.shield(stop_group(pgid, proc, ctx.kill_grace_s))
        for t in pumps:
            t.cancel()
        raise
    if _group_alive(pgid):
        await stop_group(pgid, proc, ctx.kill_grace_s)
    _, pending = await asyncio.wait(pumps, timeout=2.0)
    for t in pending:
        t.cancel()

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
