"""The watchdog process: one per scheduling node, in a session of its own, so that what freezes or kills the
scheduler (SIGSTOP, kill -9, a stop of its process group) does not reach it.

It reads lines from its standard input, a pipe from the scheduler (see watchdog.py):
`H <pgid> <leased 0|1> <execution>` a run's process group is held, `R <pgid>` it is released (the run is
over), `D <deadline>` the node's lease is good until then (CLOCK_BOOTTIME seconds, so time a host spends
suspended counts). When the deadline passes with no newer one, every leased group it holds and every
process carrying one of this node's marks is stopped (SIGTERM, the grace, SIGKILL): the scheduler stopped
renewing its lease, and another node may recover and retry those runs once the lease expires. When the
pipe ends (the scheduler exited or was killed) it stops the same at once, whatever the deadline: nobody is
left to record those runs or read their output, and their retry may start elsewhere.

A group is signalled only while one of its members carries the execution's mark, so a process group id
reused by someone else is never touched. Imports only the standard library and containment.py.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from cronui.engine.executors import containment


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _say(node: str, text: str) -> None:
    sys.stderr.write(f"cronui watchdog of {node}: {text}\n")
    sys.stderr.flush()


class Watch:
    def __init__(self, node: str, grace_s: float) -> None:
        self.node = node
        self.grace_s = grace_s
        self.holds: dict[int, tuple[bool, str]] = {}  # pgid -> (leased, execution)
        self.deadline: float | None = None

    def take(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "H":
            pgid, leased, execution = rest.split(" ", 2)
            self.holds[int(pgid)] = (leased == "1", execution)
        elif kind == "R":
            self.holds.pop(int(rest), None)
        elif kind == "D":
            self.deadline = float(rest)

    def timeout(self) -> float | None:
        if self.deadline is None or not any(leased for leased, _ in self.holds.values()):
            return None
        return max(0.0, self.deadline - now())

    def lapse(self) -> None:
        """The deadline has passed: stop the leased runs and everything else carrying this node's marks
        (except the processes of runs held without a lease, such as test runs)."""
        if self.deadline is None or now() < self.deadline:
            return
        lapsed = {pgid: ex for pgid, (leased, ex) in self.holds.items() if leased}
        if not lapsed:
            return
        keep = {ex for leased, ex in self.holds.values() if not leased}
        count = self.stop(lapsed, keep)
        for pgid in lapsed:
            del self.holds[pgid]
        runs = ", ".join(sorted(ex.rpartition("/")[2] for ex in lapsed.values()))
        _say(self.node, f"lease not renewed by its deadline: stopped {count} process(es) of run(s) {runs}")

    def stop(self, groups: dict[int, str], keep: set[str]) -> int:
        """SIGTERM the groups (those a member of which carries the execution's mark) and every process with
        this node's marks (but `keep`), SIGKILL what is left after the grace; how many processes there were."""
        found = self._marked(keep)
        live_groups = {
            pgid
            for pgid, execution in groups.items()
            for pid, marks in found.items()
            if execution in marks and (containment.stat_fields(pid) or [b"", b"", b""])[2] == str(pgid).encode()
        }
        targets = set(containment.with_descendants(found))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pgid in live_groups:
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
            targets = {p for p in targets if containment.alive(p)} | set(self._marked(keep))
            targets = set(containment.with_descendants(targets))
        return len(found)

    def _marked(self, keep: set[str]) -> dict[int, set[str]]:
        prefix = self.node + "/"
        return {
            pid: marks
            for pid, marks in containment.scan().items()
            if any(m.startswith(prefix) for m in marks) and not marks & keep
        }


def main(argv: list[str]) -> None:
    node, grace_s = argv[0], float(argv[1])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)  # only its scheduler's pipe ends it (or SIGTERM/SIGKILL)
    watch = Watch(node, grace_s)
    pending = b""
    while True:
        ready, _, _ = select.select([0], [], [], watch.timeout())
        if ready:
            data = os.read(0, 65536)
            if not data:
                count = watch.stop({pgid: ex for pgid, (_, ex) in watch.holds.items()}, set())
                if count:
                    _say(node, f"the scheduler is gone: stopped {count} process(es) its runs left")
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                watch.take(line.decode("utf-8", "replace"))
        watch.lapse()


if __name__ == "__main__":
    main(sys.argv[1:])
