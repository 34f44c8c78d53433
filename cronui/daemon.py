"""The headless scheduler: the engine under plain asyncio.run(), one log line per event on stdout.

SIGTERM / SIGINT: stop starting runs, let running ones finish within the grace period, then cancel them
(recorded `interrupted`), release the lease, exit 0. Never imports Textual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import TextIO

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.model import EventKind, RunEvent
from cronui.present import event_json, event_text
from cronui.store import make_store

log = logging.getLogger("cronui")


def _emit(out: TextIO, log_format: str, ev: RunEvent) -> None:
    line = event_text(ev) if log_format == "text" else json.dumps(event_json(ev), ensure_ascii=False)
    out.write(line + "\n")
    out.flush()


async def run_daemon(
    settings: Settings, log_format: str = "json", grace_s: float = 30.0, out: TextIO = sys.stdout
) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    store = make_store(settings.db)
    await store.open()
    engine = Engine(store, settings)
    await engine.open()
    sub = engine.bus.subscribe()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def printer() -> None:
        async for ev in sub:
            _emit(out, log_format, ev)

    printer_task = asyncio.create_task(printer())

    def say(state: str, **data: object) -> None:
        """A line about the daemon itself (not a run)."""
        _emit(out, log_format, RunEvent(EventKind.SCHEDULER, engine.clock.now_ms(), data={"state": state, **data}))

    say("starting", node=engine.node, db=settings.db, timezone=settings.timezone)
    if not await engine.try_acquire() and engine.holder is not None:
        h = engine.holder
        say("standby", holder=f"{h.host}:{h.pid}", note="another process schedules; waiting to take over")
    started = loop.time()
    try:
        await engine.run(stop)
    finally:
        await engine.close(grace_s)
        await asyncio.sleep(0)
        printer_task.cancel()
        while not sub.queue.empty():
            _emit(out, log_format, sub.queue.get_nowait())
        sub.close()
        await store.close()
        say("stopped", node=engine.node, uptime_s=round(loop.time() - started, 3), wakeups=engine.wakeups)
    return 0
