"""Reading the live event log without skipping an event that commits late, on any store.

The rule: a cursor remembers the highest event id it has handed out and, below it, every id it has not
seen yet (a gap), each with the moment it was first noticed. Each read asks the store for the events
with an id above the highest, or with one of the gap ids; what comes back is handed out in id order,
each event exactly once: an id above the highest moves the highest up (the ids it jumped over become
gaps), a gap id closes its gap. In a store whose ids come from a sequence (PostgreSQL), id 7 may commit
after id 8 was read; id 7 is then a gap, and the read after its commit delivers it. A gap that stays
open longer than the horizon (30 s by default, on the cursor's own clock) is given up: its transaction
rolled back, or its event was pruned, and an event that still commits after that is not delivered.
At most `max_gaps` gaps are remembered (the oldest are dropped first), so a reader's memory and each
query stay bounded. A cursor primed at the store's `last_event_id()` starts after everything visible
at that moment. Filtering (one job, one run) happens on the events handed out, never in the query: the
ids of the whole log are what tells a gap from an event that belongs to someone else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cronui.model import RunEvent
from cronui.store.base import Store

HORIZON_S = 30.0
MAX_GAPS = 10_000
PAGE = 1000


class EventCursor:
    """Where one reader is in the event log: the highest id seen and the gaps below it."""

    def __init__(
        self,
        store: Store,
        after_id: int = 0,
        *,
        horizon_s: float = HORIZON_S,
        max_gaps: int = MAX_GAPS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.last_id = after_id
        self.horizon_s = horizon_s
        self.max_gaps = max_gaps
        self._now = now  # seconds on a clock that does not jump back
        # gap id -> when it was first noticed; insertion order is noticing order (oldest first)
        self._gaps: dict[int, float] = {}

    @property
    def gaps(self) -> list[int]:
        """The ids below the highest seen that are still awaited, ascending."""
        return sorted(self._gaps)

    async def prime(self) -> None:
        """Start after everything the log holds now."""
        self.last_id = await self.store.last_event_id()
        self._gaps.clear()

    def seen(self, event_id: int) -> bool:
        """Whether this id was handed out already, or given up."""
        return event_id <= self.last_id and event_id not in self._gaps

    def skip_to(self, event_id: int) -> None:
        """Move on to `event_id`: the ids from the highest seen up to it count as seen (the reader got
        them some other way); the gaps below the highest seen stay awaited."""
        self.last_id = max(self.last_id, event_id)

    async def read(self, limit: int = PAGE) -> list[RunEvent]:
        """The next events, in id order, none handed out before; a full page (`limit`) means more wait."""
        self._expire()
        rows = await self.store.events_since(self.last_id, self.gaps, limit)
        return self.accept(rows)

    def accept(self, events: Iterable[RunEvent]) -> list[RunEvent]:
        """Take events the store returned (in id order): those not seen yet, with the gaps they open or close."""
        out: list[RunEvent] = []
        for ev in events:
            if ev.id is None:
                continue
            if ev.id in self._gaps:
                del self._gaps[ev.id]
            elif ev.id > self.last_id:
                self._open_gaps(self.last_id + 1, ev.id)
                self.last_id = ev.id
            else:
                continue  # seen, or given up
            out.append(ev)
        return out

    def _open_gaps(self, first: int, stop: int) -> None:
        """Ids first..stop-1 were skipped over: await them, within the cap."""
        if stop <= first:
            return
        noticed = self._now()
        if stop - first >= self.max_gaps:
            self._gaps.clear()
            first = stop - self.max_gaps
        for gap in range(first, stop):
            self._gaps[gap] = noticed
        excess = len(self._gaps) - self.max_gaps
        if excess > 0:
            for gap in list(self._gaps)[:excess]:
                del self._gaps[gap]

    def _expire(self) -> None:
        cutoff = self._now() - self.horizon_s
        expired = []
        for gap, noticed in self._gaps.items():
            if noticed > cutoff:
                break
            expired.append(gap)
        for gap in expired:
            del self._gaps[gap]
