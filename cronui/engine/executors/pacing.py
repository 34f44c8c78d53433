"""Reading a response that never makes the reader wait: a fast server can keep bytes buffered, so awaiting
the next chunk or line returns at once and the task never hands the event loop back. No timeout, no
cancel and no other job's slot can be served meanwhile. A reading loop calls `Pacer.tick()` once per
chunk or line: it suspends every few milliseconds, and it makes a cancellation that was asked for but
swallowed on its way (on Python 3.11 `asyncio.wait_for` can swallow one: CPython gh-86296) end the read
all the same, as does the run's own deadline."""

from __future__ import annotations

import asyncio
import time

YIELD_EVERY_S = 0.005  # a reading loop hands the event loop back at least this often
# ...and pauses this long when it does: with a bare `sleep(0)`, everything else on the loop moves one step per
# slice (an every-second job's start, a pass of the scheduler, a signal's handling took 0.2-1 s behind a
# fast stream); a pause lets it run while the reader waits. A real model's stream, which waits for its
# tokens anyway, is not slowed by it.
PAUSE_S = 0.001


class DeadlinePassed(Exception):
    """The run's own deadline (its job's timeout) passed while it was reading."""


class Pacer:
    """Suspends a reading loop at least every `every_s` seconds, and ends it when its task was asked to
    stop or its deadline (`time.monotonic()` seconds; None: none) has passed."""

    def __init__(self, deadline: float | None = None, every_s: float = YIELD_EVERY_S) -> None:
        self.deadline = deadline
        self.every_s = every_s
        self.yields = 0
        self._next = time.monotonic() + every_s

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def tick(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        await asyncio.sleep(PAUSE_S)  # a cancel asked for meanwhile is delivered here
        self.yields += 1
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # asked to stop, but the CancelledError was swallowed on its way (a cancellation always wins)
            raise asyncio.CancelledError("cancelled while reading")
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            raise DeadlinePassed
        self._next = now + self.every_s
