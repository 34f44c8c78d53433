"""Keeping a run's processes inside its run: marked, found, and stopped — even those that leave its group.

Every process a shell run starts carries `CRONUI_EXECUTION=<node>/<run id>` in its environment (children
inherit it), which names one execution uniquely: the node is `host:pid:random`, new for every scheduler
process. Three things use the mark (Linux; elsewhere they do nothing and the process group is all there is):

- The scheduling process is a child subreaper (PR_SET_CHILD_SUBREAPER): a process that leaves its run's
  group (`setsid`, a double fork) and loses its parent becomes our child instead of init's. At each lease
  renewal `sweep` looks at our own children only (never all of /proc): one whose mark names a run that is no
  longer running here is stopped, and exited ones are reaped.
- A new holder, before it records a dead holder's run on this host as interrupted (and before any retry of
  it starts), finds every process still carrying that run's mark (`find`: a scan of /proc, only at such a
  takeover) and stops them (`stop`): SIGTERM, the kill grace, SIGKILL.
- The hot path never scans /proc: a run's own group is checked with one signal-0 (shell.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Collection, Iterable

log = logging.getLogger(__name__)

MARK = "CRONUI_EXECUTION"
_MARK_BYTES = MARK.encode() + b"="
_PR_SET_CHILD_SUBREAPER = 36


def mark(node: str | None, run_id: int | None) -> str:
    return f"{node or ''}/{run_id}"


def node_host(node: str | None) -> str:
    """The host part of a node name (`host:pid:random`)."""
    return (node or "").split(":", 1)[0]


def become_subreaper() -> bool:
    """Adopt the orphans of our descendants (Linux 3.4+); False where the system has no such thing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def mark_of(pid: int) -> str | None:
    """The execution mark in a process's environment, if we may read it and it has one."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(_MARK_BYTES):
            return entry[len(_MARK_BYTES) :].decode("utf-8", "replace")
    return None


def find(marks: Collection[str]) -> list[int]:
    """Every live process on this host carrying one of `marks` (reads /proc: takeovers only)."""
    if not marks or not os.path.isdir("/proc"):
        return []
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and mark_of(int(entry)) in marks:
            found.append(int(entry))
    return found


def own_children() -> list[int]:
    """Our direct children (every thread's), from /proc/self/task/*/children."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    return pids


def _state(pid: int) -> bytes | None:
    """The process's state letter (b"R", b"S", b"Z", ...), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    end = stat.rfind(b")")
    return stat[end + 2 : end + 3]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal exists too; a zombie does as well)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie waiting to be reaped has)."""
    return pid_alive(pid) and _state(pid) not in (b"Z", b"X")


def _signal(pids: Iterable[int], sig: int) -> None:
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
    """SIGTERM `pids` (and the groups they lead), wait up to grace_s, then SIGKILL what is left; returns how
    many were still alive to be stopped."""
    live = [p for p in pids if _alive(p)]
    if not live:
        return 0
    _signal(live, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    for sig, wait_s in ((signal.SIGKILL, grace_s), (None, 2.0)):
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            reap(live)
            if not any(_alive(p) for p in live):
                return len(live)
            await asyncio.sleep(0.05)
        if sig is not None:
            _signal([p for p in live if _alive(p)], sig)
    reap(live)
    still = [p for p in live if _alive(p)]
    if still:
        log.warning("processes %s survived SIGKILL (uninterruptible?); they are left as they are", still)
    return len(live)


async def sweep(active: Collection[str], watched: Collection[int], grace_s: float) -> int:
    """Stop and reap our children that belong to no running run here: processes that left a finished run's
    group and were adopted by us. `watched` are the children the event loop waits for (run leaders)."""
    strays = []
    for pid in own_children():
        if pid in watched:
            continue
        if _state(pid) == b"Z":
            reap([pid])  # an adopted process that has exited: collect it
            continue
        owner = mark_of(pid)
        if owner is not None and owner not in active:
            strays.append(pid)
    if strays:
        log.warning("stopping %d process(es) left behind by finished runs: %s", len(strays), strays)
    return await stop(strays, grace_s)
