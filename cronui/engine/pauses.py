"""Timed pauses: the whole scheduler's (`cronui pause --for 30m`) and one job's (`cronui jobs pause NAME
--for 2h`), each ended by itself when its time comes.

The scheduler's pause is two state keys: `paused` (since when; set for any pause) and `paused_until` (set
for a timed one). The engine reads them once per pass (`scheduler_pause`): a timed pause whose end has
passed is cleared there and a `resumed` event recorded, and its end is a wake-up of the engine, so the
runs it held start on time. A job's pause is its `paused_until` column, read by the planner (holds.py):
its slots before that instant are recorded skipped (paused), the next one runs as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from cronui.engine.events import EventBus
from cronui.model import EventKind, RunEvent
from cronui.store.base import Store

PAUSED_KEY = "paused"  # the scheduler is paused (its value: since when, epoch ms)
PAUSED_UNTIL_KEY = "paused_until"  # ... until this instant (epoch ms); absent: until `cronui resume`


@dataclass(frozen=True)
class PauseState:
    paused: bool
    since: int | None = None
    until: int | None = None  # when a timed pause ends by itself


async def read_pause(store: Store, now: int) -> PauseState:
    """The scheduler's pause as of `now` (a timed pause past its end reads as not paused)."""
    since = await store.get_state(PAUSED_KEY)
    if since is None:
        return PauseState(False)
    until_text = await store.get_state(PAUSED_UNTIL_KEY)
    until = None if until_text is None else int(until_text)
    if until is not None and until <= now:
        return PauseState(False, int(since), until)
    return PauseState(True, int(since), until)


async def scheduler_pause(store: Store, bus: EventBus, now: int) -> PauseState:
    """The engine's read of the pause, once per pass: a timed pause whose end has come is ended here."""
    state = await read_pause(store, now)
    if not state.paused and state.until is not None:
        await store.set_state(PAUSED_KEY, None)
        await store.set_state(PAUSED_UNTIL_KEY, None)
        bus.publish(RunEvent(EventKind.RESUMED, now, data={"by": "time", "paused_until": state.until}))
    return state


def sooner(wake: int | None, pause: PauseState) -> int | None:
    """The engine's next wake-up, brought forward to the end of a timed pause."""
    if not pause.paused or pause.until is None:
        return wake
    return pause.until if wake is None else min(wake, pause.until)
