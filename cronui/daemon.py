"""The headless scheduler: the engine under plain asyncio.run(), one log line per event on stdout.

SIGTERM / SIGINT: stop starting runs, let running ones finish within the grace period, then cancel them
(recorded `interrupted`), release the lease, exit 0. A `stopping` line names the runs waited for and the
grace; a second SIGINT or SIGTERM (ctrl+c again) cancels them at once (recorded `interrupted`). Never
imports Textual.

Database faults (the write lock held elsewhere, a full disk, an I/O error) are retried with backoff and
reported: a `scheduler` line with state `db-fault` on stdout and warnings on stderr, then `db-recovered`
when a try succeeds, and the daemon carries on. A fault that outlasts the scheduler lease ends the daemon
with exit code 75 (EX_TEMPFAIL), its runs stopped first (another process may take over); a database file
deleted or replaced underneath ends it with exit code 1. Closing never takes longer than the grace plus
SHUTDOWN_LIMIT_S: a database that still refuses then is not waited for (SQLite's journal keeps the file
consistent) and the process exits non-zero, so a supervisor's Restart=on-failure applies. A scheduler
pass stuck in a database call when SIGTERM comes (a network partition to PostgreSQL) is given
PASS_LIMIT_S to end, then left behind: closing goes ahead (runs recorded interrupted if the database
answers within the limit above; if it never does, the process exits 75 without recording them, and they
stay `running` in the database until the next scheduler's orphan recovery).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TextIO

from cronui.application.shapes import event_json
from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.engine.faults import FaultPersisted
from cronui.log_writer import LogWriter, cut_output
from cronui.model import EventKind, RunEvent
from cronui.present import event_text
from cronui.redaction import RedactingFilter, redacted
from cronui.store import make_store
from cronui.store.base import Store
from cronui.store.faults import StoreFault, StoreGone
from cronui.timefmt import human_span

log = logging.getLogger("cronui")

EXIT_DB_GONE = 1  # the database file was deleted or replaced under the daemon
EXIT_DB_FAULT = 75  # EX_TEMPFAIL: the database refused writes for longer than the lease; a restart may do
SHUTDOWN_LIMIT_S = 20.0  # closing (after the grace) never takes longer than this
PASS_LIMIT_S = 5.0  # after SIGTERM, how long the scheduler's current pass may take to end on its own
STOPPING_NOTE = "they are interrupted when the grace ends; ctrl+c again (or another SIGTERM) interrupts them now"


def _line(log_format: str, ev: RunEvent) -> str:
    ev = cut_output(ev)
    return event_text(ev) if log_format == "text" else json.dumps(event_json(ev), ensure_ascii=False)


def _emit(out: LogWriter, log_format: str, ev: RunEvent) -> None:
    out.write(_line(log_format, ev))


def _hard_exit(code: int) -> None:
    """Leave without waiting for the database connection's thread (it may be stuck in a busy wait)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _running(engine: Engine) -> str:
    """The runs in flight here, for a person: `#12 backup (running 1m 5s), #13 digest (running 3s)`."""
    now = engine.clock.now_ms()
    return ", ".join(
        f"#{run_id} {a.job.name} (running {human_span(now - (a.run.started_at or now))})"
        for run_id, a in sorted(engine.dispatcher.active.items())
    )


_suspending: set[asyncio.Task[None]] = set()


def _suspend_between_writes(store: Store) -> None:
    """Ctrl-Z (SIGTSTP): stop this process, but not inside a write. A process stopped holding SQLite's write
    lock would keep every other process from writing, and a standby from taking over."""

    async def suspend() -> None:
        async with store.between_writes():
            os.kill(os.getpid(), signal.SIGSTOP)  # returns on SIGCONT (`fg`)

    task = asyncio.ensure_future(suspend())
    _suspending.add(task)
    task.add_done_callback(_suspending.discard)


async def _run_until_stopped(engine: Engine, stop: asyncio.Event) -> None:
    """`engine.run(stop)`, which checks `stop` between passes; a pass stuck in a database call (a network
    partition to PostgreSQL) is given PASS_LIMIT_S after the stop, then cancelled, so SIGTERM always
    leads to closing (itself bounded by the grace plus SHUTDOWN_LIMIT_S)."""
    running = asyncio.ensure_future(engine.run(stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            await asyncio.wait({running}, timeout=PASS_LIMIT_S)
    finally:
        stopped.cancel()
        if not running.done():
            running.cancel()  # not awaited: a call stuck in the database may not end even when cancelled
            running.add_done_callback(_ended_late)
            log.warning("the scheduler's pass did not end within %gs of the stop; closing without it", PASS_LIMIT_S)
    if running.done() and not running.cancelled():
        running.result()  # FaultPersisted, StoreGone: the caller's exit code


def _ended_late(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("the scheduler's pass ended after the stop with: %s", task.exception())


async def run_daemon(
    settings: Settings,
    log_format: str = "json",
    grace_s: float = 30.0,
    out: TextIO = sys.stdout,
    hard_exit: Callable[[int], None] = _hard_exit,
) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # no log line shows a password written in a URL
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    # signals are taken first: a stop asked for while the store opens or strays are swept at start still
    # ends the daemon cleanly, after what it started is closed
    stop = asyncio.Event()
    hurry = asyncio.Event()  # a second signal: the runs waited for are stopped now
    loop = asyncio.get_running_loop()
    opened: list[Engine] = []  # the engine, once there is one

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            stop.set()
        elif not hurry.is_set():
            hurry.set()
            running = _running(opened[0]) if opened else []
            if running:
                say("stopping-now", signal=sig.name, interrupting=running)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    store = make_store(settings.db)
    try:
        await store.open()
    except StoreFault as e:
        log.error("cannot open the database: %s", e)
        return EXIT_DB_FAULT
    engine = Engine(store, settings)
    opened.append(engine)
    await engine.open()
    sub = engine.bus.subscribe()
    writer = LogWriter(
        out,
        lambda n: _line(
            log_format, RunEvent(EventKind.SCHEDULER, engine.clock.now_ms(), data={"state": "log-dropped", "lines": n})
        ),
    )
    loop.add_signal_handler(signal.SIGTSTP, lambda: _suspend_between_writes(store))

    async def printer() -> None:
        async for ev in sub:
            _emit(writer, log_format, ev)

    printer_task = asyncio.create_task(printer())

    def say(state: str, **data: object) -> None:
        """A line about the daemon itself (not a run)."""
        _emit(writer, log_format, RunEvent(EventKind.SCHEDULER, engine.clock.now_ms(), data={"state": state, **data}))

    say("starting", node=engine.node, db=redacted(settings.db), timezone=settings.timezone)
    started = loop.time()
    code = 0
    try:
        try:
            acquired = await engine.try_acquire()
        except StoreFault as e:  # the loop retries it, with backoff, and reports the fault
            log.warning("could not take the scheduler lease at start: %s", e)
            acquired = False
        if not acquired and engine.holder is not None:
            h = engine.holder
            say("standby", holder=f"{h.host}:{h.pid}", note="another process schedules; waiting to take over")
        await _run_until_stopped(engine, stop)
    except FaultPersisted as e:
        code = EXIT_DB_FAULT
        log.error("%s", e)
        say("db-fault-exit", node=engine.node, error=e.fault.error, lasted_s=round(e.lasted_s, 3), exit_code=code)
    except StoreGone as e:
        code = EXIT_DB_GONE
        log.error("%s; stopping (exit code %d)", e, code)
        say("db-gone", node=engine.node, error=str(e), exit_code=code)
    finally:
        # runs of a scheduler that lost its database are stopped at once: another process may take over
        grace = grace_s if code == 0 else 0.0
        running = _running(engine)
        if running and grace > 0 and not hurry.is_set():
            shown = int(grace) if float(grace).is_integer() else grace
            say("stopping", waiting_for=running, grace_s=shown, note=STOPPING_NOTE)

        async def close() -> None:
            await engine.close(grace, hurry)
            await asyncio.sleep(0)
            printer_task.cancel()
            while not sub.queue.empty():
                _emit(writer, log_format, sub.queue.get_nowait())
            sub.close()
            await store.close()

        closing = asyncio.ensure_future(close())
        done, _ = await asyncio.wait({closing}, timeout=grace + SHUTDOWN_LIMIT_S)
        if done:
            closing.result()
            ended = {"exit_code": code} if code else {}
            say("stopped", node=engine.node, uptime_s=round(loop.time() - started, 3), wakeups=engine.wakeups, **ended)
        else:
            code = code or EXIT_DB_FAULT
            limit = grace + SHUTDOWN_LIMIT_S
            log.error("could not close within %gs (the database does not answer); exiting without it", limit)
            say("stopped", node=engine.node, uptime_s=round(loop.time() - started, 3), exit_code=code)
            await asyncio.to_thread(writer.close)
            hard_exit(code)
    await asyncio.to_thread(writer.close)
    return code
