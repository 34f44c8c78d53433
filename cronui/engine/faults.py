"""Riding out database faults: how long to wait before the next try, and for how long to keep trying.

A `StoreFault` (the write lock held elsewhere past the busy timeout, a full disk, an I/O error) is retried
with exponential backoff: `Backoff` gives the waits (first, doubling, capped). `FaultState` is one fault
from its first failure to its end: when it began (wall clock, to report; monotonic, to measure), how many
tries failed, the last error, and the moment past which retrying stops — for the scheduler loop, when the
lease it holds runs out (another process may take over), so the process ends non-zero and a supervisor
restarts it instead of it waiting forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LAST_FAULT_KEY = "last_db_fault"  # state: the last database fault a scheduler rode out (read by `status`)


@dataclass
class Backoff:
    """Waits of first, first*factor, ... up to cap seconds."""

    first: float = 0.25
    cap: float = 5.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        """The wait before the next try."""
        wait = self.first if self._next <= 0 else self._next
        wait = min(wait, self.cap)
        self._next = min(wait * self.factor, self.cap)
        return wait

    def reset(self) -> None:
        self._next = 0.0


@dataclass
class FaultState:
    """One database fault, from its first failed try until a try succeeds."""

    error: str
    kind: str
    since_ms: int  # wall clock, for people
    since: float  # monotonic, for measuring
    give_up_at: float  # monotonic: past this, retrying stops
    failures: int = 1

    def failed_again(self, error: str, kind: str) -> None:
        self.error = error
        self.kind = kind
        self.failures += 1

    def lasted(self, now: float) -> float:
        return max(0.0, now - self.since)

    def exhausted(self, now: float) -> bool:
        return now >= self.give_up_at

    def describe(self) -> dict[str, object]:
        return {"error": self.error, "kind": self.kind, "since": self.since_ms, "failures": self.failures}


class FaultPersisted(Exception):
    """A database fault lasted past the point where retrying stops (the scheduler's lease ran out)."""

    def __init__(self, fault: FaultState, lasted_s: float) -> None:
        super().__init__(
            f"the database has refused writes for {lasted_s:.1f}s ({fault.error}); "
            "the scheduler lease has run out, so this process stops (exit code 75) for a supervisor to restart it"
        )
        self.fault = fault
        self.lasted_s = lasted_s
