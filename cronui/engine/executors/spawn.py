"""Starting a shell run's process at the machine's floor, and watching it from the event loop itself.

`asyncio.create_subprocess_exec` costs about 0.77 ms a spawn on a small machine against about 0.5 ms for
`os.posix_spawn` or `subprocess.Popen`: per process it builds a transport, a protocol and a pipe transport
per stream, futures to connect them, and on Python 3.11 hands the pid to a child watcher. Here the child is started with
`os.posix_spawn` (vfork + exec in the C library; a session of its own, /dev/null and two pipes of ours as its
standard streams, the run's marking descriptor kept open), the read ends of its pipes are watched by the loop
with `add_reader`, and its exit is seen through a pidfd (Linux 5.3+) the loop watches too, then collected with
one `waitpid`. No thread, no task and no transport per child.

Descriptors: posix_spawn closes only those marked close-on-exec, which every descriptor Python opens is (and
SQLite's and libpq's). `subprocess.Popen(close_fds=True)` closes the rest one by one in the child, a cost that
grows with the descriptors a busy scheduler holds (three per run in flight: 1 ms a spawn more at 1,000 runs);
instead, the descriptors this process inherited are marked close-on-exec once, before the first spawn. A job
with a working directory is started with `subprocess.Popen` (posix_spawn has no chdir before Python 3.13).

Where pidfds are missing (`available()` is False) shell.py keeps asyncio's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

from cronui.engine.executors import children

log = logging.getLogger(__name__)

READ_SIZE = 65536  # bytes read from a pipe per wake-up: a flooding child gets one read per loop iteration


def available() -> bool:
    """Whether this path can be used here (pidfds work; checked once per process)."""
    global _available
    if _available is None:
        _available = children.pidfd_works()
    return _available


_available: bool | None = None


_DEVNULL: int | None = None


def _devnull() -> int:
    """One descriptor on /dev/null for every child's stdin (Popen's DEVNULL opens and closes one per child)."""
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _DEVNULL


def _inherited_closed_on_exec() -> None:
    """Mark every descriptor above stderr close-on-exec (those this process inherited or a library opened
    without the flag), so none reaches a run's processes."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)


_prepared = False


class Child:
    """A started process: its pid, its exit code once collected, and its two output pipes read into `on_data`
    (name, bytes) from the event loop's own callbacks, one read per wake-up."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pid: int,
        popen: subprocess.Popen[bytes] | None,
        pipes: dict[int, str],
        pidfd: int,
        on_data: Callable[[str, bytes], None],
    ) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._loop = loop
        self._popen = popen
        self._pipes = pipes  # read end -> "stdout" | "stderr", while open
        self._pidfd: int | None = pidfd
        self._on_data = on_data
        self.exited: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()  # both pipes at their end, or given up
        for fd in pipes:
            loop.add_reader(fd, self._readable, fd)
        loop.add_reader(pidfd, self._reap)

    @classmethod
    def start(
        cls,
        argv: list[str],
        *,
        cwd: str | None,
        env: Mapping[bytes, bytes],
        pass_fds: Sequence[int],
        on_data: Callable[[str, bytes], None],
    ) -> Child:
        """Start `argv` in a session of its own, stdin from /dev/null, stdout and stderr on pipes. Raises what
        posix_spawn or Popen raise (a missing program, no processes left); nothing is left open then."""
        global _prepared
        loop = asyncio.get_running_loop()
        if not _prepared:
            _inherited_closed_on_exec()
            _prepared = True
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        popen: subprocess.Popen[bytes] | None = None
        try:
            if cwd is None:
                actions = [
                    (os.POSIX_SPAWN_DUP2, _devnull(), 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                    # onto itself: the C library clears its close-on-exec flag (glibc 2.29+, musl)
                    *((os.POSIX_SPAWN_DUP2, fd, fd) for fd in pass_fds),
                ]
                pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
            else:
                popen = subprocess.Popen(
                    argv,
                    stdin=_devnull(),
                    stdout=out_w,
                    stderr=err_w,
                    cwd=cwd,
                    env=env,
                    close_fds=True,
                    pass_fds=pass_fds,
                    start_new_session=True,
                )
                pid = popen.pid
        except BaseException:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise
        os.close(out_w)  # the child holds the write ends now: the read ends see their end when it is done
        os.close(err_w)
        os.set_blocking(out_r, False)
        os.set_blocking(err_r, False)
        try:
            pidfd = os.pidfd_open(pid)  # the child cannot be gone: nobody has collected it yet
        except OSError:
            os.close(out_r)
            os.close(err_r)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        return cls(loop, pid, popen, {out_r: "stdout", err_r: "stderr"}, pidfd, on_data)

    # ------------------------------------------------------------ the loop's callbacks

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # EIO and the like: the stream is over
            log.warning("pid %s: reading its %s failed (%s)", self.pid, self._pipes.get(fd), e)
            data = b""
        if not data:
            self._close_pipe(fd)
            return
        try:
            self._on_data(self._pipes[fd], data)
        except Exception:  # a fault of the reader's: this stream is read no further, the run goes on
            log.exception("pid %s: its %s could not be read further", self.pid, self._pipes.get(fd))
            self._close_pipe(fd)

    def _reap(self) -> None:
        pidfd = self._pidfd
        if pidfd is None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # collected by someone else: its exit status is lost
            pid, status = self.pid, -1
        if pid == 0:  # not exited after all (a pidfd reads ready only at exit; never seen)
            return
        self._loop.remove_reader(pidfd)
        os.close(pidfd)
        self._pidfd = None
        self.returncode = 255 if status == -1 else os.waitstatus_to_exitcode(status)
        if self._popen is not None:
            self._popen.returncode = self.returncode  # Popen would otherwise try to collect it itself
        if not self.exited.done():
            self.exited.set_result(None)

    def _close_pipe(self, fd: int) -> None:
        if self._pipes.pop(fd, None) is None:
            return
        self._loop.remove_reader(fd)
        os.close(fd)
        if not self._pipes and not self.drained.done():
            self.drained.set_result(None)

    # ------------------------------------------------------------ what the executor waits for

    async def wait_exit(self) -> None:
        """Until the process itself has exited and been collected (whatever holds its pipes open)."""
        if not self.exited.done():
            await asyncio.shield(self.exited)  # a cancel of the caller leaves the exit watched

    async def wait_drained(self, timeout: float) -> None:
        """Until both pipes have reached their end (everything written has been read), at most `timeout`
        seconds: a process outside the group (a `setsid` grandchild) may hold them open; then reading stops."""
        if not self.drained.done():
            await asyncio.wait({self.drained}, timeout=timeout)
        self.close()

    def close(self) -> None:
        """Stop reading (idempotent). The exit stays watched until it comes, so the process is collected
        even when its run was given up before it exited."""
        for fd in list(self._pipes):
            self._close_pipe(fd)
        if not self.drained.done():
            self.drained.set_result(None)

    @property
    def reading(self) -> bool:
        return bool(self._pipes)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._pidfd is not None and self._loop.is_closed():
                os.close(self._pidfd)
