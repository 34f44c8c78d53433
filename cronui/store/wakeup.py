"""Wake-ups through the store: the process that holds the scheduler lease listens, any process notifies it,
so a write made elsewhere (a job added, "run now") is acted on at once rather than at the next wake-up.

`Store.listen(on_wake)` starts listening and returns the address to advertise in the lease row;
`Store.notify()` wakes whoever holds the lease and says whether it reached someone. SQLite has no
notifications of its own, so its listener is a TCP socket on 127.0.0.1 (tcp://127.0.0.1:PORT, an
ephemeral port) and notifying reads the lease row and connects to the address there (a poke). A store
that pushes notifications itself (PostgreSQL's LISTEN/NOTIFY) needs no address and advertises ''.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from cronui.model import Lease

POKE_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 1.0


async def poke(address: str, timeout: float = POKE_TIMEOUT_S) -> bool:
    """Wake the process listening at `address` (tcp://127.0.0.1:PORT); False when nobody answers."""
    if not address.startswith("tcp://"):
        return False
    host, _, port = address[len("tcp://") :].rpartition(":")
    try:
        async with asyncio.timeout(timeout):  # not asyncio.wait_for: it can swallow a cancel (gh-86296)
            _, writer = await asyncio.open_connection(host, int(port))
    except (OSError, TimeoutError, ValueError):
        return False
    with contextlib.suppress(OSError):  # connected is woken: the listener acts on the connection alone
        writer.write(b"w")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    return True


class LoopbackListener:
    """A socket on 127.0.0.1 that calls its callbacks whenever it is poked; open while anyone listens."""

    def __init__(self) -> None:
        self.address = ""
        self._server: asyncio.Server | None = None
        self._callbacks: list[Callable[[], None]] = []

    async def add(self, on_wake: Callable[[], None]) -> str:
        if self._server is None:
            self._server = await asyncio.start_server(self._on_poke, "127.0.0.1", 0)
            port = self._server.sockets[0].getsockname()[1]
            self.address = f"tcp://127.0.0.1:{port}"
        self._callbacks.append(on_wake)
        return self.address

    async def remove(self, on_wake: Callable[[], None]) -> None:
        if on_wake in self._callbacks:
            self._callbacks.remove(on_wake)
        if self._callbacks or self._server is None:
            return
        server, self._server = self._server, None
        self.address = ""
        server.close()
        await server.wait_closed()

    async def _on_poke(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, TimeoutError):  # a poker that goes away early still woke us
            async with asyncio.timeout(READ_TIMEOUT_S):
                await reader.read(16)
        for on_wake in list(self._callbacks):
            on_wake()
        writer.close()


class _HasLease(Protocol):
    async def get_lease(self) -> Lease | None: ...


class SQLiteWakeups:
    """`listen`, `unlisten` and `notify` for the SQLite store: a loopback listener, found through the lease."""

    _listener: LoopbackListener | None = None

    async def listen(self, on_wake: Callable[[], None]) -> str:
        """Call `on_wake` whenever another process notifies; returns the address to put in the lease."""
        if self._listener is None:
            self._listener = LoopbackListener()
        return await self._listener.add(on_wake)

    async def unlisten(self, on_wake: Callable[[], None]) -> None:
        """Stop calling `on_wake`; the socket closes when nobody listens any more."""
        if self._listener is not None:
            await self._listener.remove(on_wake)

    async def notify(self: _HasLease) -> bool:
        """Wake the scheduler lease's holder; False when there is none or it does not answer."""
        lease = await self.get_lease()
        return lease is not None and await poke(lease.address)
