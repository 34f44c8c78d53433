"""The batched write path: the ends of many runs go to the store together (a group commit).

Durability, in the terms of DESIGN's one queue of pending runs:

- Committed before a process is spawned: the run's slot (`materialize`, with the job's next fire) and
  its claim (`running` on this node, with a lease). A crash after that leaves a `running` row that the
  next lease holder finds and records as `interrupted` (its retry policy applies): never a slot lost,
  never a slot run twice at once.
- Committed before anyone is told: a run's final state, the job's bookkeeping and what follows (the
  retry, chained runs) are one transaction here, and the run's `finished` event is published — to this
  process's viewers and to the log — only after that transaction commits. A viewer never sees an end that
  a crash could take back.
- What a crash may lose: the ends waiting in the current batch (their runs become `interrupted` as
  above), and live events not yet flushed to the log (`EventBus`, at most its flush interval: output and
  milestones the run row keeps anyway once it ends).

Group commit: the first end to arrive is written at once; ends that arrive while a commit is in flight
wait for it and then go together, up to `max_batch` per transaction. Under load that is one commit for
many runs; when idle, no added delay. A batch the store refuses is retried one end at a time, so one bad
end fails only its own run.

Database faults (engine/faults.py): a batch refused for a reason that may pass (the write lock held
elsewhere, a full disk) is kept and retried with backoff for up to `retry_for` seconds (the engine sets its
lease ttl); then, or at once after `abort` (the engine gave up on the database), its ends fail and their
runs stay `running` for the next lease holder to record as interrupted. `close` gives the queue `timeout`
seconds, so a shutdown never waits on a database that refuses writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cronui.engine.faults import Backoff
from cronui.model.records import Recorded, RunEnd
from cronui.store.base import Store, StoreError
from cronui.store.faults import StoreFault

log = logging.getLogger(__name__)

RETRY_FOR_S = 30.0  # how long a batch refused by a passing fault is retried
CLOSE_TIMEOUT_S = 5.0  # how long close() lets the queue be written


class EndsNotWritten(StoreError):
    """Run ends given up on: the database refused them for too long, or the engine gave up on it."""


class GroupCommit:
    def __init__(self, store: Store, max_batch: int = 256, retry_for: float = RETRY_FOR_S) -> None:
        self.store = store
        self.max_batch = max_batch
        self.retry_for = retry_for
        self._queue: list[tuple[RunEnd, asyncio.Future[Recorded | None]]] = []
        self._wake = asyncio.Event()
        self._nudge = asyncio.Event()  # interrupts a backoff wait (close, abort)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._deadline: float | None = None  # while closing: no retry after this (loop time)
        self._aborted: BaseException | None = None
        self.commits = 0  # transactions written (for benchmarks and tests)

    async def record(self, end: RunEnd) -> Recorded | None:
        """Write one run's end with the next batch; returns once it is committed (None: fenced off)."""
        if self._aborted is not None:
            raise EndsNotWritten(f"run end not written: {self._aborted}")
        fut: asyncio.Future[Recorded | None] = asyncio.get_running_loop().create_future()
        self._queue.append((end, fut))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="cronui-group-commit")
        return await fut

    def abort(self, reason: BaseException) -> None:
        """Give up on the database: what is queued, being retried or recorded from now on fails at once."""
        self._aborted = reason
        self._nudge.set()
        self._fail_queued(reason)

    async def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is queued (for at most `timeout` seconds), then stop."""
        loop = asyncio.get_running_loop()
        self._closing = True
        self._deadline = loop.time() + timeout
        self._nudge.set()
        self._wake.set()
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="cronui-group-commit")
        task, self._task = self._task, None
        try:
            if task is not None:
                # a store call in flight may outlast the deadline (a busy wait): it is cancelled then
                done, _ = await asyncio.wait({task}, timeout=timeout + 1.0)
                if not done:
                    task.cancel()
                    await asyncio.wait({task})
                elif not task.cancelled() and task.exception() is not None:
                    log.error("the run-end writer failed", exc_info=task.exception())
            self._fail_queued(self._aborted or EndsNotWritten("the scheduler stopped before they were written"))
        finally:
            self._closing = False
            self._deadline = None
            self._aborted = None
            self._nudge.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._flush()
            if self._closing:
                return

    def _fail_queued(self, reason: BaseException) -> None:
        queued, self._queue = self._queue, []
        if queued:
            log.warning("%d run ends not written (%s); their runs are recorded interrupted later", len(queued), reason)
        for _, fut in queued:
            _settle(fut, exc=EndsNotWritten(f"run end not written: {reason}"))

    def _give_up_on(self, started: float) -> bool:
        now = asyncio.get_running_loop().time()
        if self._aborted is not None or now - started >= self.retry_for:
            return True
        return self._deadline is not None and now >= self._deadline

    async def _flush(self) -> None:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            await self._write(batch)
        finally:  # cancelled, or a bug: no waiter is left waiting forever
            for _, fut in batch:
                _settle(fut, exc=EndsNotWritten("run end not written: the writer stopped"))

    async def _write(self, batch: list[tuple[RunEnd, asyncio.Future[Recorded | None]]]) -> None:
        ends = [end for end, _ in batch]
        loop = asyncio.get_running_loop()
        backoff = Backoff(first=0.1, cap=2.0)
        # retried for retry_for seconds from the first refusal, not from the first try: a process stopped
        # (SIGSTOP) in the middle of that try has not been refused for the time it stood still
        started: float | None = None
        while True:
            if self._aborted is not None:
                for _, fut in batch:
                    _settle(fut, exc=EndsNotWritten(f"run end not written: {self._aborted}"))
                return
            try:
                results = await self.store.finish_runs(ends)
                self.commits += 1
                break
            except StoreFault as e:
                started = loop.time() if started is None else started
                if self._give_up_on(started):
                    log.warning("%d run ends not written: %s", len(batch), e)
                    for _, fut in batch:
                        _settle(fut, exc=e)
                    return
                wait = backoff.next()
                log.warning("could not write %d run ends (%s); retrying in %.2fs", len(batch), e, wait)
                self._nudge.clear()
                with contextlib.suppress(TimeoutError):  # the wait is over; close() or abort() may end it early
                    async with asyncio.timeout(wait):  # not asyncio.wait_for: it can swallow a cancel (gh-86296)
                        await self._nudge.wait()
            except Exception as e:
                if len(batch) == 1:
                    _settle(batch[0][1], exc=e)
                    return
                log.warning("a batch of %d run ends failed (%s); writing them one at a time", len(batch), e)
                for end, fut in batch:
                    try:
                        [result] = await self.store.finish_runs([end])
                        self.commits += 1
                    except Exception as one:
                        _settle(fut, exc=one)
                    else:
                        _settle(fut, result)
                return
        for (_, fut), result in zip(batch, results, strict=True):
            _settle(fut, result)


def _settle(
    fut: asyncio.Future[Recorded | None], result: Recorded | None = None, exc: BaseException | None = None
) -> None:
    if fut.done():  # its waiter was cancelled, or it is settled already
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
