"""The scheduler's side of its node's watchdog (the process is watchdog_main.py).

A node frozen (SIGSTOP, a long pause) or cut off from its database cannot stop its own runs, and another
node recovers and retries them once their lease expires. The watchdog is not frozen with it: it holds each
run's process group and the node's lease deadline, and stops the runs when the deadline passes with no
renewal, before the lease can expire on the database, or at once when the scheduler dies.

One process per node, started with the node's first run (a CLI or an idle daemon never starts one);
what a run costs is one pipe write at its start and one at its end, and a renewal one more.

The deadline, on CLOCK_BOOTTIME: the moment the renewal began (the database's lease counts from a later
moment: its own clock at the write), plus the lease, minus the grace the watchdog gives a run between
SIGTERM and SIGKILL and a margin for the signals to land. The grace is the job's kill grace, cut to a
quarter of what the lease leaves beyond the renewal interval, and the margin an eighth of it (at most 1 s),
so a renewal that comes a little late never stops a healthy run: with the defaults (30 s lease, 10 s
renewal, 5 s grace) the watchdog stops runs 24 s after a renewal began, 14 s after the next one was due.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import cronui
from cronui.engine.executors import strays

log = logging.getLogger(__name__)

_PROC = os.path.isdir("/proc")
NODES: dict[str, Watchdog] = {}  # node -> its watchdog (the executor looks its run's node up here)
_ROOT = str(Path(cronui.__file__).resolve().parent.parent)
_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from cronui.engine.executors.watchdog_main import main; main(sys.argv[2:])"
)


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)  # Linux; elsewhere the monotonic clock


def now_boot() -> float:
    """Seconds on CLOCK_BOOTTIME (shared by every process of the host; counts time spent suspended)."""
    return time.monotonic() if _BOOTTIME is None else time.clock_gettime(_BOOTTIME)


class Watchdog:
    def __init__(self, node: str, lease_s: float, renew_s: float, kill_grace_s: float) -> None:
        spare = max(0.0, lease_s - renew_s)
        self.node = node
        self.grace_s = min(kill_grace_s, spare / 4)
        self.keep_s = lease_s - self.grace_s - min(1.0, spare / 8)  # from a renewal's start to the deadline
        self.holds: dict[str, tuple[bool, int]] = {}  # execution -> (leased, how many: test runs share one)
        self.deadline: float | None = None
        self.lapsed: set[str] = set()  # executions held when a deadline passed: the watchdog stopped them
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None
        NODES[node] = self

    # ------------------------------------------------------------ what the scheduler tells it

    def hold(self, execution: str, leased: bool) -> None:
        """A run's shell is about to start (leased: it is one of the node's claimed runs, stopped with the
        lease; a test run is stopped only when the scheduler goes)."""
        count = self.holds.get(execution, (leased, 0))[1]
        self.holds[execution] = (leased, count + 1)
        if self._pipe is None:
            if _PROC:  # the watchdog finds a run's processes by their marks in /proc: Linux only
                self._spawn()
        else:
            self._send(f"H {int(leased)} {execution}\n")

    def release(self, execution: str) -> None:
        """The run is over."""
        held = self.holds.pop(execution, None)
        if held is None:
            return
        if held[1] > 1:
            self.holds[execution] = (held[0], held[1] - 1)
        if self._pipe is not None:
            self._send(f"R {execution}\n")

    def renewed(self, began: float) -> None:
        """The node's lease (and its runs' leases) were renewed by a write that began at `began` (now_boot())."""
        if self.deadline is not None and now_boot() > self.deadline:
            self.lapsed.update(ex for ex, (leased, _) in self.holds.items() if leased)
        self.deadline = began + self.keep_s
        if self._pipe is not None:
            self._send(f"D {self.deadline!r}\n")

    def stopped(self, execution: str) -> bool:
        """Whether the watchdog has stopped (or is stopping) this execution for a lapsed deadline."""
        if execution in self.lapsed:
            return True
        leased = self.holds.get(execution, (False, 0))[0]
        return leased and self.deadline is not None and now_boot() > self.deadline

    def close(self) -> None:
        """The scheduler is done: the watchdog stops whatever is left with this node's marks, and exits."""
        NODES.pop(self.node, None)
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._proc is not None:
            strays.HELPERS.discard(self._proc.pid)  # a sweep reaps it once it has exited
            self._proc = None

    # ------------------------------------------------------------ the process

    def _spawn(self) -> None:
        read, write = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _CODE, _ROOT, self.node, repr(self.grace_s)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a SIGSTOP or SIGINT of the scheduler's group does not reach it
            )
        except OSError as e:
            os.close(write)
            log.warning("could not start the watchdog (%s): a frozen scheduler's runs are stopped only by "
                        "the scheduler that takes over on this host", e)  # fmt: skip
            return
        finally:
            os.close(read)
        strays.HELPERS.add(self._proc.pid)
        self._pipe = write
        state = "".join(f"H {int(leased)} {ex}\n" for ex, (leased, n) in self.holds.items() for _ in range(n))
        if self.deadline is not None:
            state += f"D {self.deadline!r}\n"
        self._send(state, again=False)

    def _send(self, text: str, *, again: bool = True) -> None:
        assert self._pipe is not None
        data = text.encode()
        try:
            while data:  # one write unless the state is longer than the pipe's atomic size
                data = data[os.write(self._pipe, data) :]
        except BrokenPipeError:  # it was killed: start another with the whole state
            log.warning("the watchdog of %s exited; starting another", self.node)
            os.close(self._pipe)
            self._pipe = None
            if self._proc is not None:
                strays.HELPERS.discard(self._proc.pid)
            if again:
                self._spawn()
