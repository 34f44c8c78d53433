"""Waiting for child processes without a thread per child.

Python 3.11's default child watcher starts one thread per child process to wait for it; at hundreds of
shell runs a second that is a thread start and a context switch per run. On Linux 5.3+ a pidfd becomes
readable when its process exits, so the event loop can wait for every child itself. Python 3.12 does
this by default; on 3.11 `install()` puts the same kind of watcher in place, bound to whichever loop
starts the child (tests run many loops in one process).
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVarTuple

Ts = TypeVarTuple("Ts")


class PidfdWatcher(asyncio.AbstractChildWatcher):
    """Waits on each child's pidfd in the loop that started the child."""

    def add_child_handler(self, pid: int, callback: Callable[[int, int, *Ts], object], *args: *Ts) -> None:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop._add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)  # type: ignore[attr-defined]

    def _reap(
        self, loop: asyncio.AbstractEventLoop, pid: int, pidfd: int, callback: Callable[..., object], args: Any
    ) -> None:
        loop._remove_reader(pidfd)  # type: ignore[attr-defined]
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by someone else: the exit status is lost
            returncode = 255
        else:
            returncode = os.waitstatus_to_exitcode(status)
        os.close(pidfd)
        callback(pid, returncode, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return True

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> PidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def pidfd_works() -> bool:
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):  # not Linux, an old kernel, or a sandbox that forbids it
        return False
    os.close(fd)
    return True


_installed: bool | None = None


def install() -> bool:
    """Use pidfds to wait for children on Python 3.11 where the kernel allows; True if they are used.
    Cheap to call before every spawn: the check is made once per process."""
    global _installed
    if _installed is None:
        if sys.version_info >= (3, 12):
            _installed = True  # the default already is a pidfd watcher where it can be
        elif not pidfd_works():
            _installed = False
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                asyncio.set_child_watcher(PidfdWatcher())
            _installed = True
    return _installed
