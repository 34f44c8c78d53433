"""The one place engine events enter the UI.

When this process schedules, events come from the engine's in-process bus the moment they happen; when
another process schedules (a daemon), they come from the store's event log, read through an event cursor
(each event once, even one that commits after a later one was read). Either way they are buffered here
and handed to the app in batches: at most one `EventsArrived` message is ever waiting in the app's
queue, and the handler takes everything buffered since. A burst of thousands of milestones or output
chunks therefore costs the UI one message, and a slow UI makes the batches bigger rather than the queue
longer (the producer backs off by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from textual.message import Message
from textual.message_pump import MessagePump

from cronui.engine.engine import Engine
from cronui.engine.events import Subscription
from cronui.model import EventKind, RunEvent
from cronui.store.base import Store
from cronui.store.events import EventCursor

log = logging.getLogger(__name__)

POLL_S = 0.25  # attached: how often the event log is read
BUS_WAIT_S = 0.5  # owning: how long to wait for an event before checking who schedules
LOG_PAGE = 1000


class EngineBridge:
    class EventsArrived(Message):
        """Events are buffered in the bridge; take them with `EngineBridge.take()`."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EngineBridge.EventsArrived)

    class SchedulerChanged(Message):
        """This process started or stopped scheduling: reload what the event stream may have missed."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EngineBridge.SchedulerChanged)

    def __init__(self, target: MessagePump, store: Store, engine: Engine) -> None:
        self._target = target
        self.store = store
        self.engine = engine
        self.cursor = EventCursor(store)
        self.owning: bool | None = None
        self._pending: list[RunEvent] = []
        self._posted = False
        self._delivered_tail: RunEvent | None = None

    # ------------------------------------------------------------ the consumer side

    def take(self) -> list[RunEvent]:
        """Everything buffered since the last call, oldest first; re-arms the next EventsArrived."""
        events, self._pending = self._pending, []
        self._posted = False
        return events

    # ------------------------------------------------------------ the producer side

    def _deliver(self, events: list[RunEvent]) -> None:
        if not events:
            return
        for ev in events:
            last = self._pending[-1] if self._pending else None
            if (
                last is not None
                and ev.kind is EventKind.OUTPUT
                and last.kind is EventKind.OUTPUT
                and last.run_id == ev.run_id
                and last.name == ev.name
            ):
                # adjacent output of one stream: one event, so a chatty run stays one line of work
                merged = RunEvent(
                    EventKind.OUTPUT,
                    ev.at,
                    ev.run_id,
                    ev.job_id,
                    ev.job_name,
                    ev.name,
                    {"text": str(last.data.get("text", "")) + str(ev.data.get("text", ""))},
                    ev.id,
                )
                self._pending[-1] = merged
            else:
                self._pending.append(ev)
        self._delivered_tail = events[-1]
        if not self._posted:
            self._posted = True
            self._target.post_message(self.EventsArrived())

    async def _read_log(self) -> int:
        """Deliver what the log holds that the cursor has not handed out; returns how many events were read."""
        events = await self.cursor.read(LOG_PAGE)
        self._deliver(events)
        return len(events)

    async def _switch(self, sub: Subscription, owning: bool) -> None:
        self.owning = owning
        with contextlib.suppress(Exception):
            await self.engine.bus.flush()  # what this process published is in the log from here on
        if owning:
            while await self._read_log() == LOG_PAGE:  # catch up with what the previous owner wrote
                pass
        else:
            tail = self._delivered_tail
            if tail is not None and tail.id is not None:
                self.cursor.skip_to(tail.id)
            _drain(sub)
        self._target.post_message(self.SchedulerChanged())

    async def prime(self) -> None:
        """Start from the end of the log as it is now (call it before reading the state from the store,
        so that nothing written in between is missed)."""
        await self.cursor.prime()
        self._primed = True

    _primed = False

    async def run(self) -> None:
        """Forward events until cancelled (the app's worker owns this coroutine)."""
        sub = self.engine.bus.subscribe()
        try:
            if not self._primed:
                await self.prime()
            while True:
                if self.engine.holding != self.owning:
                    await self._switch(sub, self.engine.holding)
                if self.owning:
                    batch = await _next_batch(sub, BUS_WAIT_S)
                    # events published before the switch were read from the log already
                    self._deliver([e for e in batch if e.id is None or not self.cursor.seen(e.id)])
                else:
                    _drain(sub)  # our own writes reach the log too; read them there, once
                    try:
                        full = await self._read_log() == LOG_PAGE
                    except Exception:
                        log.exception("reading the event log failed; retrying")
                        full = False
                    if not full:
                        await asyncio.sleep(POLL_S)
        finally:
            sub.close()


def _drain(sub: Subscription) -> list[RunEvent]:
    out: list[RunEvent] = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


async def _next_batch(sub: Subscription, timeout: float) -> list[RunEvent]:
    """Wait for one event (up to `timeout`), then take whatever else is already queued."""
    try:
        async with asyncio.timeout(timeout):  # never asyncio.wait_for: it can swallow a cancel (gh-86296)
            first = await sub.queue.get()
    except TimeoutError:
        return []
    return [first, *_drain(sub)]
