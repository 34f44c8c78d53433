"""In-process pub/sub of RunEvents, persisted to the store's run_events log in batches.

Subscribers in this process get each event at once and in order; other processes read the log through
an `EventCursor` (cronui/store/events.py), which also picks up an id that commits after a higher one
(as a sequence-backed store can). A run's `finished` event is published only once its end is committed
(engine/writes.py), so nobody is told of an end a crash could take back. A commit per event is too slow
for chatty runs, so persistence is batched: events are written together every `flush_interval` seconds
(or when a batch fills up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from cronui.model import RunEvent
from cronui.store.base import Store

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[RunEvent] = asyncio.Queue()

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[RunEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[RunEvent]:
        while True:
            yield await self.queue.get()


class EventBus:
    def __init__(self, store: Store, flush_interval: float = 0.05, max_batch: int = 500) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._subs: set[Subscription] = set()
        self._pending: list[RunEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subs.add(sub)
        return sub

    def publish(self, event: RunEvent) -> None:
        for sub in list(self._subs):
            sub.queue.put_nowait(event)
        self._pending.append(event)
        self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                await self.store.append_events(batch)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cronui-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._pending) < self.max_batch:
                await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:  # a full disk must not stop the engine; the next flush tries again
                log.exception("could not write %d events to the log", len(self._pending))
                await asyncio.sleep(1.0)
                self._wake.set()
