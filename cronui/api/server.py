"""`cronui serve`: the engine (it schedules, or stands by while another process does) and the HTTP API,
in one process under plain asyncio. SIGTERM / SIGINT stop both: no new requests, runs in flight get the
grace period, the lease is released."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Generator
from typing import TextIO

import uvicorn

from cronui.api.app import ApiState, create_app
from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.store import make_store

log = logging.getLogger("cronui")

SHUTDOWN_S = 5  # open requests (an event stream) get this long once the server is told to stop


class ListenFailed(OSError):
    """The address cannot be listened on (in use, not this machine's)."""


class _Server(uvicorn.Server):
    """uvicorn's server, told to stop by SIGTERM / SIGINT through the loop, without re-raising the signal
    afterwards: the engine still has its runs and its lease to close."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.ask_exit)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def ask_exit(self) -> None:
        self.force_exit = self.should_exit  # a second signal: stop waiting for open requests
        self.should_exit = True


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one), ready for the server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, UnicodeError) as e:
        sock.close()
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ListenFailed(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


async def serve(
    settings: Settings,
    sock: socket.socket,
    token: str | None,
    *,
    grace_s: float = 30.0,
    out: TextIO = sys.stdout,
    configure: Callable[[ApiState], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve the API on `sock` and schedule until a signal (or `stop` is set); the exit code."""
    store = make_store(settings.db)
    await store.open()
    engine = Engine(store, settings)
    await engine.open()
    state = ApiState(settings, store, engine.control, token, clock=engine.clock)
    if configure is not None:
        configure(state)
    config = uvicorn.Config(
        create_app(state),
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_S,
        server_header=False,
        log_level="info",
    )
    server = _Server(config)
    stopping = asyncio.Event()
    engine_task = asyncio.create_task(engine.run(stopping, standby=True))
    engine_task.add_done_callback(lambda _: server.ask_exit())  # the engine gave up (its database is gone)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    out.write(f"cronui: serving http://{shown}:{port}/api/v1 (OpenAPI at /api/v1/openapi.json)\n")
    out.flush()
    code = 0
    asked = asyncio.create_task((stop or asyncio.Event()).wait())
    asked.add_done_callback(lambda _: server.ask_exit())
    try:
        await server.serve(sockets=[sock])
    finally:
        asked.cancel()
        stopping.set()
        try:
            await engine_task
        except Exception as e:  # the daemon's exit codes say the same (a fault, a database gone)
            log.error("the scheduler stopped: %s", e)
            code = 1
        await engine.close(grace_s)
        await store.close()
    return code
