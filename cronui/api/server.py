"""`cronui serve`: the engine (it schedules, or stands by while another process does) and the HTTP API,
in one process under plain asyncio. SIGTERM / SIGINT stop both: no new requests, runs in flight get the
grace period, the lease is released."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

import hypercorn.asyncio
from hypercorn.config import Config

from cronui.api.app import ApiState, create_app
from cronui.application.agent_tools import equip
from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.store import make_store

log = logging.getLogger("cronui")

SHUTDOWN_S = 5.0  # open requests (an event stream) get this long once the server is told to stop


class ListenFailed(OSError):
    """The address cannot be listened on (in use, not this machine's)."""


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
    sock.listen(128)  # connections wait in the backlog until the server accepts them
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
    allowed_hosts: Sequence[str] = (),
) -> int:
    """Serve the API on `sock` and schedule until a signal (or `stop` is set); the exit code. `allowed_hosts`:
    names a request's Host may give besides the listen address's own and `[api] allowed_hosts`."""
    store = make_store(settings.db)
    await store.open()
    engine = Engine(store, settings)
    equip(engine)  # the tools agent jobs may offer their models
    await engine.open()
    host, port = sock.getsockname()[:2]
    state = ApiState(settings, store, engine.control, token, clock=engine.clock)
    state.listen, state.allowed_hosts = (host, port), list(allowed_hosts)
    if configure is not None:
        configure(state)
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # the server closes it
    config.accesslog = "-"  # the request line, status and size: headers (tokens) are never logged
    config.errorlog = "-"
    config.graceful_timeout = SHUTDOWN_S
    config.include_server_header = False
    # what one connection may hold, whatever it sends: Hypercorn's limits, said here so they are a choice.
    # A request's head: 16 KiB; a connection idle (or whose head does not arrive) is closed after 5 s; at
    # most 10 body chunks wait for the application (the socket is not read past them); each body is capped
    # by the guard (cronui.api.guard). No read timeout: an event stream's client sends nothing for hours.
    config.h11_max_incomplete_size = 16 * 1024
    config.keep_alive_timeout = 5
    config.max_app_queue_size = 10
    config.h2_max_concurrent_streams = 32
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    for sig in (signal.SIGTERM, signal.SIGINT) if signals else ():
        loop.add_signal_handler(sig, shutdown.set)
    stopping = asyncio.Event()
    engine_task = asyncio.create_task(engine.run(stopping, standby=True))
    engine_task.add_done_callback(lambda _: shutdown.set())  # the engine gave up (its database is gone)
    asked = asyncio.create_task((stop or asyncio.Event()).wait())
    asked.add_done_callback(lambda _: shutdown.set())
    shown = f"[{host}]" if ":" in host else host
    out.write(f"cronui: serving http://{shown}:{port}/api/v1 (OpenAPI at /api/v1/openapi.json)\n")
    out.flush()
    code = 0
    try:
        await hypercorn.asyncio.serve(create_app(state), config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT) if signals else ():
            loop.remove_signal_handler(sig)
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
