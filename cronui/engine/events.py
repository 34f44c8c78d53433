"""In-process pub/sub of RunEvents, persisted to the store's run_events log in batches.

Subscribers in this process get each event at once and in order; other processes read the log through
an `EventCursor` (cronui/store/events.py), which also picks up an id that commits after a higher one
(as a sequence-backed store can). A run's `finished` event is published only once its end is committed
(engine/writes.py), so nobody is told of an end a crash could take back. A commit per event is too slow
for chatty runs, so persistence is batched: events are written together every `flush_interval` seconds
(or when a batch fills up).

Database faults: a batch the store refuses stays queued and is retried with backoff; while the fault lasts
at most `max_pending` events wait (the oldest are dropped beyond that, counted in `dropped` — a finished
run keeps its output and milestones on its row anyway). `stop` gives the last flush `timeout` seconds, so
a shutdown never waits on a database that refuses writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from cronui.engine.faults import Backoff
from cronui.model import RunEvent
from cronui.store.base import Store, StoreError
from cronui.store.faults import StoreFault

log = logging.getLogger(__name__)

MAX_PENDING = 100_000  # events waiting for the store while it refuses writes
STOP_TIMEOUT_S = 5.0  # how long stop() tries to write what waits


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
    def __init__(
        self, store: Store, flush_interval: float = 0.05, max_batch: int = 500, max_pending: int = MAX_PENDING
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.dropped = 0  # events never written: the store refused them for too long
        self._subs: set[Subscription] = set()
        self._pending: list[RunEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._abandoned = False  # the engine gave up on the database: stop() tries once, then drops

    def abandon(self) -> None:
        """The database is given up on (a fault past the lease, the file gone): `stop` makes one try only."""
        self._abandoned = True

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subs.add(sub)
        return sub

    def publish(self, event: RunEvent) -> None:
        for sub in list(self._subs):
            sub.queue.put_nowait(event)
        self._pending.append(event)
        if len(self._pending) > self.max_pending:
            self._drop(len(self._pending) - self.max_pending, "the database refuses writes and too many wait")
        self._wake.set()

    def _drop(self, count: int, why: str) -> None:
        del self._pending[:count]
        if self.dropped == 0 or count > 1:
            log.warning("dropped %d live events (%s); finished runs keep their output on their rows", count, why)
        self.dropped += count

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    await self.store.append_events(batch)
                except BaseException:  # not written: it goes first next time
                    self._pending[:0] = batch
                    raise

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cronui-events")

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the writer and write what waits, trying for at most `timeout` seconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0.0 if self._abandoned else timeout)
        backoff = Backoff(first=0.1, cap=1.0)
        while self._pending:
            left = deadline - loop.time()
            try:
                async with asyncio.timeout(max(0.0, left) if not self._abandoned else None):
                    await self.flush()
            except TimeoutError:
                self._drop(len(self._pending), f"not written within {timeout:g}s of stopping")
            except StoreFault as e:
                wait = backoff.next()
                if loop.time() + wait >= deadline:
                    self._drop(len(self._pending), f"not written within {timeout:g}s of stopping: {e}")
                else:
                    await asyncio.sleep(wait)
            except StoreError as e:  # the file is gone: nothing more can be written to it
                self._drop(len(self._pending), str(e))
            except Exception:
                log.exception("could not write %d events to the log", len(self._pending))
                self._drop(len(self._pending), "the store failed")

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._pending) < self.max_batch:
                await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except StoreError as e:  # a full disk must not stop the engine; the next flush tries again
                wait = backoff.next()
                log.warning("could not write %d events to the log (%s); retrying in %.2fs", len(self._pending), e, wait)
                await asyncio.sleep(wait)
                self._wake.set()
            except Exception:
                log.exception("could not write %d events to the log", len(self._pending))
                await asyncio.sleep(backoff.next())
                self._wake.set()
            else:
                backoff.reset()
