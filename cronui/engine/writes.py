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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cronui.store.base import Recorded, RunEnd, Store

log = logging.getLogger(__name__)


class GroupCommit:
    def __init__(self, store: Store, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: list[tuple[RunEnd, asyncio.Future[Recorded | None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written (for benchmarks and tests)

    async def record(self, end: RunEnd) -> Recorded | None:
        """Write one run's end with the next batch; returns once it is committed (None: fenced off)."""
        fut: asyncio.Future[Recorded | None] = asyncio.get_running_loop().create_future()
        self._queue.append((end, fut))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="cronui-group-commit")
        return await fut

    async def close(self) -> None:
        """Write what is queued, then stop."""
        while self._queue:
            await self._flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._flush()

    async def _flush(self) -> None:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            results = await self.store.finish_runs([end for end, _ in batch])
            self.commits += 1
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
    if fut.done():  # its waiter was cancelled
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
