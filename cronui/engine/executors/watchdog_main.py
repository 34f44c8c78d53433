"""The watchdog process: one per scheduling node, in a session of its own, so that what freezes or kills the
scheduler (SIGSTOP, kill -9, a stop of its process group) does not reach it.

It reads lines from its standard input, a pipe from the scheduler (see watchdog.py):
`H <leased 0|1> <execution>` a run is about to start (sent before its shell is, so no moment of a run goes
unwatched), `R <execution>` it is over, `D <deadline>` the node's lease is good until then (CLOCK_BOOTTIME
seconds, so time a host spends suspended counts). When the deadline passes with no newer one while a
leased run is held, every process carrying one of this node's marks is stopped, with the process groups
they are in and the processes below them (SIGTERM, the grace, SIGKILL): the scheduler stopped renewing its
lease, and another node may recover and retry those runs once the lease expires. When the pipe ends (the
scheduler exited or was killed) it stops the same at once, whatever the deadline: nobody is left to record
those runs or read their output, and their retry may start elsewhere.

Only marked processes and the groups they are in are signalled, and never one in the scheduler's own
session: the scheduler holds a run's marking descriptor for a moment while it starts the run's shell (a
SIGSTOP can land then), and the shell is in that session until it starts its own. Every other group of a
marked process was made inside a run's session, so a stranger is never touched. Imports only the standard
library and containment.py.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from cronui.engine.executors import containment

BATCH_S = 0.01  # the longest the pipe is left unread while the scheduler is writing to it


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)  # as watchdog.now_boot (only started on Linux)


def _say(node: str, text: str) -> None:
    sys.stderr.write(f"cronui watchdog of {node}: {text}\n")
    sys.stderr.flush()


class Watch:
    def __init__(self, node: str, grace_s: float, scheduler: int) -> None:
        self.node = node
        self.grace_s = grace_s
        self.scheduler = scheduler
        self.scheduler_session = _session(scheduler)
        self.holds: dict[str, tuple[bool, int]] = {}  # execution -> (leased, how many: test runs share one)
        self.leased = 0  # how many of the holds are leased
        self.deadline: float | None = None

    def take(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "H":
            flag, execution = rest.split(" ", 1)
            self._set(execution, (flag == "1", self.holds.get(execution, (False, 0))[1] + 1))
        elif kind == "R":
            leased, count = self.holds.get(rest, (False, 1))
            self._set(rest, (leased, count - 1) if count > 1 else None)
        elif kind == "D":
            self.deadline = float(rest)

    def _set(self, execution: str, hold: tuple[bool, int] | None) -> None:
        """Change a hold, keeping count of the leased ones (timeout() is asked at every wake-up: not a walk)."""
        old = self.holds.pop(execution, None)
        self.leased -= bool(old and old[0])
        if hold is not None:
            self.holds[execution] = hold
            self.leased += hold[0]

    def timeout(self) -> float | None:
        if self.deadline is None or not self.leased:
            return None
        return max(0.0, self.deadline - now())

    def lapse(self) -> None:
        """The deadline has passed: stop the leased runs and everything else carrying this node's marks
        (except the processes of runs held without a lease, such as test runs)."""
        if self.deadline is None or now() < self.deadline:
            return
        lapsed = sorted(ex for ex, (leased, _) in self.holds.items() if leased)
        if not lapsed:
            return
        count = self.stop(keep={ex for ex, (leased, _) in self.holds.items() if not leased})
        for execution in lapsed:
            self._set(execution, None)
        runs = ", ".join(ex.rpartition("/")[2] for ex in lapsed)
        _say(self.node, f"lease not renewed by its deadline: stopped {count} process(es) of run(s) {runs}")

    def stop(self, keep: set[str]) -> int:
        """SIGTERM every process with this node's marks (but `keep`), its group and the processes below it,
        and SIGKILL what is left after the grace; how many processes there were."""
        targets = self._targets(keep)
        count = len(targets)
        if targets:
            named = ", ".join(f"{p} ({_command(p)})" for p in targets[:10])
            _say(self.node, f"stopping {named}" + (f" and {count - 10} more" if count > 10 else ""))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pgid in dict.fromkeys(g for g in map(_group, targets) if g):
                try:
                    os.killpg(pgid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            containment.signal_all(targets, sig)
            if sig == signal.SIGKILL:
                break
            until = now() + self.grace_s
            while now() < until and any(containment.alive(p) for p in targets):
                time.sleep(0.05)
            again = self._targets(keep)  # and what they started meanwhile
            targets = [p for p in targets if containment.alive(p) and p not in again] + again
        return count

    def _targets(self, keep: set[str]) -> list[int]:
        """This node's marked processes (not `keep`'s) and those below them, parents first."""
        prefix = self.node + "/"
        marked = [
            pid
            for pid, marks in containment.scan().items()
            if any(m.startswith(prefix) for m in marks)
            and not marks & keep
            and pid != self.scheduler
            and _session(pid) not in (None, self.scheduler_session)
        ]
        return [p for p in containment.with_descendants(marked) if p != os.getpid()]


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read(200).replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def _group(pid: int) -> int | None:
    fields = containment.stat_fields(pid)
    return int(fields[2]) if fields and len(fields) > 2 else None


def main(argv: list[str]) -> None:
    node, grace_s = argv[0], float(argv[1])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)  # only its scheduler's pipe ends it (or SIGTERM/SIGKILL)
    watch = Watch(node, grace_s, os.getppid())
    pending = b""
    while True:
        ready, _, _ = select.select([0], [], [], watch.timeout())
        if ready:
            data = os.read(0, 65536)
            if not data:
                count = watch.stop(keep=set())
                if count:
                    _say(node, f"the scheduler is gone: stopped {count} process(es) its runs left")
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                watch.take(line.decode("utf-8", "replace"))
        watch.lapse()
        if ready and len(data) < 65536:
            # a pause before the next read: what the scheduler writes meanwhile waits in the pipe and is read
            # in one go (before the next look at the deadline), and a write finds no reader to wake: at
            # hundreds of runs a second, a wake-up of this process per run start and end cost the scheduler
            # more than the run's spawn
            time.sleep(min(BATCH_S, watch.timeout() or BATCH_S))


if __name__ == "__main__":
    main(sys.argv[1:])
