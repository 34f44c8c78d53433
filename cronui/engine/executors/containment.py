"""Keeping a run's processes inside its run: marked, found, and stopped — even those that leave its group.

Every process a shell run starts carries two marks naming its execution `<node>/<run id>` (the node is
`host:pid:random`, new for every scheduler process), each of which a process may lose on its own:

- `CRONUI_EXECUTION=<node>/<run id>` in its environment (lost by `env -i`);
- an inherited file descriptor open on a memfd named `cronui-exec:<node>/<run id>` (lost by closing every
  descriptor). It costs one memfd_create per run and no file on disk; the scheduler closes its own copy as
  soon as the shell has started.

What uses them (Linux; elsewhere the process group is all there is):

- `strays.py`: the scheduling process is a child subreaper, so a process that leaves its run's group and
  loses its parent becomes our child; one whose run is over here is stopped when a run ends and at each
  lease renewal.
- A new holder on this host (takeover) stops every process carrying the marks of a node that is over
  (`scan`, a read of /proc made only then), whatever the status of the run that started it.
- `watchdog_main.py` (a process of each node's own) stops a node's runs and every process carrying its
  marks when the node stops renewing its lease, or dies.

The hot path never scans /proc: a run's own group is checked with one signal-0 (shell.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Collection, Iterable

log = logging.getLogger(__name__)

MARK = "CRONUI_EXECUTION"
_MARK_BYTES = MARK.encode() + b"="
FD_PREFIX = "/memfd:cronui-exec:"  # how the marking descriptor reads in /proc/PID/fd
_PR_SET_CHILD_SUBREAPER = 36

# Executions in flight in this process (whatever engine runs them): their mark -> how many (test runs share
# theirs).
ACTIVE: dict[str, int] = {}


def started(execution: str) -> None:
    ACTIVE[execution] = ACTIVE.get(execution, 0) + 1


def ended(execution: str) -> None:
    left = ACTIVE.pop(execution, 1) - 1
    if left > 0:
        ACTIVE[execution] = left


def mark(node: str | None, run_id: int | None) -> str:
    return f"{node or ''}/{run_id}"


def mark_node(execution: str) -> str:
    """The node part of a mark (`host:pid:random/run id` -> `host:pid:random`)."""
    return execution.rpartition("/")[0]


def node_host(node: str | None) -> str:
    """The host part of a node name (`host:pid:random`)."""
    return (node or "").split(":", 1)[0]


def node_pid(node: str) -> int | None:
    """The pid part of a node name, None if it has none."""
    parts = node.split(":")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def become_subreaper() -> bool:
    """Adopt the orphans of our descendants (Linux 3.4+); False where the system has no such thing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def mark_fd(execution: str) -> int | None:
    """A descriptor for the run's shell to inherit, naming the execution; None where there are no memfds."""
    try:
        return os.memfd_create(f"cronui-exec:{execution}"[:249], os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return None


def mark_of(pid: int) -> str | None:
    """The execution mark in a process's environment, if we may read it and it has one."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return None
    at = environ.find(_MARK_BYTES)
    if at < 0 or (at > 0 and environ[at - 1] != 0):
        return None
    start = at + len(_MARK_BYTES)
    end = environ.find(b"\0", start)
    return environ[start : end if end >= 0 else len(environ)].decode("utf-8", "replace")


def fd_marks_of(pid: int) -> set[str]:
    """The executions named by the marking descriptors a process holds."""
    found = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(FD_PREFIX):
                    found.add(target[len(FD_PREFIX) :].removesuffix(" (deleted)"))
    return found


def marks_of(pid: int) -> set[str]:
    """Every execution a process is marked with (environment and descriptors)."""
    env = mark_of(pid)
    fds = fd_marks_of(pid)
    return fds | {env} if env is not None else fds


def scan() -> dict[int, set[str]]:
    """Every live process on this host that carries a mark, with its marks (reads all of /proc: takeovers
    and the watchdog only)."""
    found: dict[int, set[str]] = {}
    if not os.path.isdir("/proc"):
        return found
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            marks = marks_of(int(entry))
            if marks:
                found[int(entry)] = marks
    return found


def find(marks: Collection[str]) -> list[int]:
    """Every live process on this host carrying one of `marks`."""
    if not marks:
        return []
    return [pid for pid, has in scan().items() if has & set(marks)]


def own_children(main_thread_only: bool = False) -> list[int]:
    """Our direct children (every thread's), from /proc/self/task/*/children. Orphans adopted by a
    subreaper go to its main thread, so `main_thread_only` (one read) sees every one of those."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        tids = [str(os.getpid())] if main_thread_only else os.listdir("/proc/self/task")
        for tid in tids:
            with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    return pids


def with_descendants(pids: Iterable[int]) -> list[int]:
    """`pids` and every process below them (their children, recursively), parents before children: a process
    that left a run's group may have started others that carry no mark, and they are stopped with it rather
    than orphaned. Parents are signalled first, so a shell stopped with its command does not go on to run
    what follows it (`cmd || fallback`) when `cmd` dies first."""
    seen: dict[int, None] = {}  # in order, without repeats
    todo = collections.deque(pids)
    while todo and len(seen) < 100_000:
        pid = todo.popleft()
        if pid in seen:
            continue
        seen[pid] = None
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(p) for p in f.read().split())
    return list(seen)


def stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session, ... (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _state(pid: int) -> bytes | None:
    """The process's state letter (b"R", b"S", b"Z", ...), None when it is gone."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal exists too; a zombie does as well)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie waiting to be reaped has)."""
    return pid_alive(pid) and _state(pid) not in (b"Z", b"X")


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        for send in (os.killpg, os.kill):  # its whole group where it leads one, and itself
            with contextlib.suppress(ProcessLookupError, PermissionError):
                send(pid, sig)


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those of `pids` that are our exited children (no zombies left)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


async def stop(pids: Collection[int], grace_s: float) -> int:
    """SIGTERM `pids`, the groups they lead and the processes below them, wait up to grace_s, then SIGKILL
    what is left; returns how many were still alive to be stopped."""
    live = [p for p in with_descendants(pids) if alive(p)]
    if not live:
        return 0
    signal_all(live, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    for sig, wait_s in ((signal.SIGKILL, grace_s), (None, 2.0)):
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            reap(live)
            if not any(alive(p) for p in live):
                return len(live)
            await asyncio.sleep(0.05)
        if sig is not None:
            live = [p for p in with_descendants(live) if alive(p)]  # and what they started meanwhile
            signal_all(live, sig)
    reap(live)
    still = [p for p in live if alive(p)]
    if still:
        log.warning("processes %s survived SIGKILL (uninterruptible?); they are left as they are", still)
    return len(live)
