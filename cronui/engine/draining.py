"""Shutting down with runs in flight: they get the grace to finish, and meanwhile their leases are renewed
as the loop would. Without that, a grace longer than what is left of the lease would let another
scheduler take the runs over and retry them, or the node's watchdog stop them, while they still run here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronui.engine.engine import Engine

log = logging.getLogger(__name__)


async def drain(engine: Engine, grace_s: float, hurry: asyncio.Event | None = None) -> None:
    """Let running runs finish within grace_s or until `hurry` is set (then they are interrupted), renewing
    their leases meanwhile."""
    done = asyncio.Event()
    keeping = asyncio.ensure_future(_keep_leases(engine, done)) if engine.holding else None
    try:
        await engine.dispatcher.drain(grace_s, hurry)
    finally:
        done.set()
        if keeping is not None:
            await keeping  # a renewal in hand ends first: never cancelled in the middle of its write


async def _keep_leases(engine: Engine, done: asyncio.Event) -> None:
    while engine.holding and engine.dispatcher.active:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(engine.settings.lease.renew):
                await done.wait()
        if done.is_set():
            return
        try:
            await engine.renew(contain=False)
        except Exception as e:  # the leases run out, and the watchdog stops the runs before they do
            log.warning("could not renew the leases of the runs finishing (%s: %s)", type(e).__name__, e)
