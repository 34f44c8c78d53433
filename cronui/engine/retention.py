"""The lease holder's retention pruning, in a task of its own.

Pruning is never awaited inside the engine's loop: a lease renewal or a scheduling pass never waits for
it (a renewal that waits too long lets the lease lapse and the watchdog stop every running run). Each
pass is given a time budget and deletes in batches (store/pruning.py); a pass that runs out of budget
leaves the rest for the next one, which starts one lease renewal later instead of an hour later.
Stopping the engine cancels a pass under way: the batch in flight is rolled back, the ones before it stay.
"""

from __future__ import annotations

import asyncio
import logging

from cronui.config import Settings
from cronui.engine.clock import Clock
from cronui.store.base import Store
from cronui.store.faults import StoreFault

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0  # between passes that finished
PRUNE_BUDGET_S = 2.0  # how long one pass may keep deleting before it leaves the rest for the next


class Pruner:
    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.passes = 0  # passes begun
        self._task: asyncio.Task[None] | None = None
        self._next: float | None = None  # loop time of the next pass (None: at once)

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def maybe_start(self) -> None:
        """Start a pass in the background when one is due and none is under way."""
        loop = asyncio.get_running_loop()
        if self.busy or (self._next is not None and loop.time() < self._next):
            return
        self._next = loop.time() + PRUNE_EVERY_S
        self.passes += 1
        self._task = asyncio.create_task(self._pass(), name="cronui-retention")

    async def _pass(self) -> None:
        r = self.settings.retention
        try:
            res = await self.store.prune(
                self.clock.now_ms(),
                r.days,
                r.runs_per_job,
                r.event_hours,
                budget_s=PRUNE_BUDGET_S,
                audit_days=r.audit_days,
            )
        except StoreFault as e:  # a passing fault: the next pass prunes what this one did not
            log.warning("retention pruning met a database fault; it runs again later: %s", e)
            return
        except Exception:
            log.exception("retention pruning failed")
            return
        if res.runs or res.events or res.alerts or res.audit:
            log.info(
                "retention: pruned %d runs, %d events, %d alert rows and %d audit rows",
                res.runs,
                res.events,
                res.alerts,
                res.audit,
            )
        if not res.done:  # the budget ran out: carry on after the next lease renewal
            self._next = asyncio.get_running_loop().time() + self.settings.lease.renew

    async def stop(self) -> None:
        """Cancel a pass under way and wait until it has stopped."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task})  # the caller's own cancellation still comes through
