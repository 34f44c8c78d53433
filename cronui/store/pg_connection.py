"""A PostgreSQL store's connections (asyncpg): the pool, transactions, passing faults, the LISTEN connection.

`PgConnection` is what `PostgresStore` (postgres.py) is built on; it knows connections, not tables:

- **transactions**: `_tx` is one transaction on a pooled connection. A connection the server ended
  (`pg_terminate_backend`, a restart, the idle-in-transaction timeout of a node that was stopped) is closed
  rather than sent a ROLLBACK, so the error raised is what happened and the connection is never handed on;
  a BEGIN that fails on such a connection, before anything was done, is tried once more on another.
- **faults**: the server unreachable or restarting, or this process's connection ended, is a `StoreFault`
  (kind `connection`) for the caller to retry; every pooled connection is replaced before its next use.
- **wake-ups**: LISTEN on a dedicated connection, made again with backoff when it is lost; every listener
  is woken once it is back, to catch up from the tables.
- **URLs**: `split_url` reads `?schema=NAME` off the URL; messages show it without its password.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from cronui.redaction import redact_text, redacted
from cronui.store.base import StoreError, seconds_from_env
from cronui.store.faults import ReadOnlyDatabase, StoreFault

log = logging.getLogger(__name__)

# the listening connection: how long connecting may take, and the waits between reconnects
LISTEN_TIMEOUT_S = 10.0
# A node stopped (SIGSTOP, a frozen VM) inside a transaction would keep its row locks, and every node waiting
# on them, until it continues: the server ends such a session after this long (no transaction of ours idles
# for more than milliseconds between its statements). The node meets a lost connection, a fault it retries.
IDLE_IN_TRANSACTION_S = 10.0
RELISTEN_FIRST_S = 0.1
# How long one statement (and connecting) may take before it fails as a passing fault (kind `connection`),
# so a server gone silent (a network blackhole) is met in seconds, not TCP's quarter of an hour, well
# within a lease (30 s by default; the watchdog stops runs 24 s after the last renewal began).
# CRONUI_PG_STATEMENT_TIMEOUT (seconds) changes it. Migrations get MIGRATION_TIMEOUT_S.
STATEMENT_TIMEOUT_S = 10.0
STATEMENT_TIMEOUT_ENV = "CRONUI_PG_STATEMENT_TIMEOUT"
MIGRATION_TIMEOUT_S = 3600.0
# The server's TCP keepalives on our connections: a node gone from the network is noticed (its session
# ended, its locks freed) about 25 s later rather than after the kernel's two hours.
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}
RELISTEN_MAX_S = 5.0


# asyncpg's words for a statement begun on a connection whose server has just sent it an error outside any
# statement — the FATAL of pg_terminate_backend or a shutdown, read before the closed socket is: the
# connection is gone, not shared ("cannot switch to state 12; another operation (2) is in progress", where 2
# is the protocol's state of consuming an error). Two operations on one connection at once are a bug, said
# otherwise ("cannot perform operation: another operation is in progress"), and never retried as a fault.
_ENDED_BY_SERVER = "another operation (2) is in progress"


def fault_kind(exc: BaseException) -> str | None:
    """What kind of passing fault `exc` is — the server unreachable, restarting or cutting this connection
    off (connection), out of resources (full), a transaction that lost a race (locked) — or None."""
    if isinstance(exc, (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)):
        return "connection"
    if isinstance(exc, asyncpg.OperatorInterventionError):  # shutting down, or this backend terminated
        return "connection"
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return "connection"
    if isinstance(exc, asyncpg.InternalClientError) and _ENDED_BY_SERVER in str(exc):
        return "connection"
    if isinstance(exc, asyncpg.InsufficientResourcesError):
        return "full"
    if isinstance(exc, (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
        return "locked"
    return None


async def _roll_back(con: asyncpg.Connection, tx: Any, error: BaseException) -> None:
    """Roll `tx` back after `error`, or close `con` when it cannot be (see `PostgresStore._tx`)."""
    if fault_kind(error) == "connection":
        _drop(con)
        return
    try:
        await tx.rollback()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError):
        _drop(con)  # the error being raised says what happened; this one only that the connection is gone
    except asyncio.CancelledError:
        _drop(con)  # cancelled while rolling back: the connection is left mid-operation
        raise


def _drop(con: asyncpg.Connection) -> None:
    """Close a pooled connection at once (the pool opens a fresh one for the next caller); one that the
    lost connection already took back from us is left alone."""
    with contextlib.suppress(asyncpg.InterfaceError):  # already released: asyncpg cleaned it up itself
        con.terminate()


def qmarks(sql: str) -> str:
    """'?' placeholders as PostgreSQL's $1, $2, ... (for SQL written for SQLite; no '?' inside literals)."""
    n = 0

    def number(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(r"\?", number, sql)


def statement_timeout_from_env() -> float:
    return seconds_from_env(STATEMENT_TIMEOUT_ENV, STATEMENT_TIMEOUT_S, zero=False)


def split_url(url: str) -> tuple[str, str | None]:
    """The DSN asyncpg connects with, and the schema named by `?schema=` (None: the server's search_path)."""
    try:
        parts = urlsplit(url)
    except ValueError as e:  # an unbalanced [ in the host: said as bad input, not a traceback
        raise StoreError(f"{redacted(url)}: not a valid PostgreSQL URL ({e})") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode(rest))), schema or None


class QmarkConnection:
    """A transaction's connection that takes SQLite-style SQL ('?' placeholders, a params sequence), so
    code and tests written against `SQLiteStore.transaction()` can run against PostgreSQL unchanged."""

    def __init__(self, con: asyncpg.Connection) -> None:
        self.con = con

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> str:
        return str(await self.con.execute(qmarks(sql), *params))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.con.fetch(qmarks(sql), *params))


_numbered = functools.lru_cache(maxsize=1024)(qmarks)


class PgTx:
    """A transaction's statements on its connection (`Tx`, for the shared SQL store): '?' SQL numbered."""

    def __init__(self, con: asyncpg.Connection) -> None:
        self.con = con

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.con.fetch(_numbered(sql), *params))

    async def row(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.con.fetchrow(_numbered(sql), *params)

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return row_count(await self.con.execute(_numbered(sql), *params))

    async def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        if seq:
            await self.con.executemany(_numbered(sql), seq)


def row_count(status: str) -> int:
    """The row count of a command tag ('DELETE 7' -> 7)."""
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


class PgConnection:
    """The connections of one PostgreSQL store: a pool for statements and transactions, and one connection
    for LISTEN while anyone listens."""

    def __init__(self, url: str, *, min_connections: int = 1, max_connections: int = 8) -> None:
        self.url = url
        self._dsn, self.schema = split_url(url)
        self._min = min_connections
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None
        self._ns = 0  # the schema's hash: the second key of every advisory lock
        self.channel = ""
        self._listen_con: asyncpg.Connection | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._relisten: asyncio.Task[None] | None = None  # reconnecting the listening connection
        self.relistens = 0  # times the listening connection was lost and made again
        self.statement_timeout = STATEMENT_TIMEOUT_S  # seconds; read from the environment on open

    # ------------------------------------------------------------ the connection pool

    def _server_settings(self) -> dict[str, str]:
        # one name per process, so an operator (or a test) can tell a node's connections apart
        settings = {
            "application_name": f"cronui:{os.getpid()}",
            "idle_in_transaction_session_timeout": str(int(IDLE_IN_TRANSACTION_S * 1000)),
            **KEEPALIVES,
        }
        if self.schema:
            settings["search_path"] = ident(self.schema)
        return settings

    async def open(self) -> None:
        where = redacted(self.url)
        timeout = self.statement_timeout = statement_timeout_from_env()
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min,
                max_size=self._max,
                server_settings=self._server_settings(),
                command_timeout=timeout,  # every statement; a timed-out one is a passing fault (fault_kind)
                timeout=timeout,  # connecting
            )
            # the search_path may name a schema that does not exist yet (asked first: a user without write
            # rights, or in read-only transactions, may not even run CREATE SCHEMA IF NOT EXISTS)
            if self.schema and not await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", self.schema
            ):
                with contextlib.suppress(asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError):
                    await self._pool.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(self.schema)}")
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            await self.close()  # ValueError: a URL asyncpg cannot read (a bad host list, a bad option)
            raise StoreError(f"{where}: cannot connect to PostgreSQL: {redact_text(str(e))}") from None
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise

    async def migrate(self) -> None:
        """Bring the schema up to date (the store's tables: PostgresStore)."""

    async def close(self) -> None:
        self._callbacks.clear()
        await self._stop_relistening()
        if self._listen_con is not None:
            con, self._listen_con = self._listen_con, None
            await con.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    @asynccontextmanager
    async def _faults(self) -> AsyncIterator[None]:
        """A failure that may pass (the server restarting, this connection cut off) as StoreFault: the
        caller retries. After a lost connection every pooled one is replaced before its next use (a
        restarted server has dropped them all)."""
        try:
            yield
        except (asyncpg.ReadOnlySQLTransactionError, asyncpg.InsufficientPrivilegeError) as e:
            raise ReadOnlyDatabase(redacted(self.url), str(e)) from None
        except Exception as e:
            kind = fault_kind(e)
            if kind is None:
                raise
            if kind == "connection" and self._pool is not None:
                await self._pool.expire_connections()
            if isinstance(e, TimeoutError):  # its text is empty
                msg = f"no answer from the server within {self.statement_timeout:g}s"
                raise StoreFault(f"{redacted(self.url)}: {msg}", kind) from e
            if isinstance(e, asyncpg.InternalClientError):
                raise StoreFault(f"{redacted(self.url)}: the server ended the connection ({e})", kind) from e
            raise StoreFault(f"{redacted(self.url)}: {type(e).__name__}: {e}", kind) from e

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction on a pooled connection. On an error its ROLLBACK is sent only on a connection that
        can take it: one the server has ended (terminated, restarted) is closed instead — the server rolls
        back a transaction whose connection ends — so the error raised is the one that happened, never
        asyncpg's complaint about the ROLLBACK ("the underlying connection is closed", "another operation
        is in progress"), and the connection is never handed to the next caller."""
        async with self._faults():
            con, tx = await self._begin()
            try:
                try:
                    yield con
                except BaseException as e:
                    await _roll_back(con, tx, e)
                    raise
                await tx.commit()
            finally:
                await self._release(con)

    async def _release(self, con: asyncpg.Connection) -> None:
        """Hand `con` back to the pool. One that cannot be reset for the next caller — the server ended it
        just after our last statement — is closed by the pool instead; what was done on it stands (a claim
        committed must be started, not taken for a failure), so that is not an error of the caller's."""
        try:
            await self.pool.release(con)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as e:
            log.debug("a connection could not be reset after use and was closed (%s: %s)", type(e).__name__, e)

    async def _begin(self) -> tuple[asyncpg.Connection, Any]:
        """A pooled connection with a transaction begun. A connection the server ended while it idled in the
        pool fails at BEGIN, before anything was done: it is dropped and BEGIN is tried once more on
        another (a fresh one, when the server ended them all)."""
        for attempt in (1, 2):
            con = await self.pool.acquire()
            tx = con.transaction()
            try:
                await tx.start()
            except BaseException as e:
                _drop(con)
                await self._release(con)
                if attempt == 2 or fault_kind(e) != "connection":
                    raise
                await self.pool.expire_connections()
                continue
            return con, tx
        raise AssertionError("unreachable")

    async def _pooled(self, op: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        """One statement on a pooled connection, tried once more on another when the first was never sent
        (its connection had been ended by the server: see _ENDED_BY_SERVER)."""
        async with self._faults():
            for attempt in (1, 2):
                con = await self.pool.acquire()
                try:
                    return await op(con)
                except asyncpg.InternalClientError as e:
                    if attempt == 2 or _ENDED_BY_SERVER not in str(e):
                        raise
                    _drop(con)
                    await self.pool.expire_connections()  # the server may have ended the others too
                finally:
                    await self._release(con)
            raise AssertionError("unreachable")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[QmarkConnection]:
        """One transaction (COMMIT, or ROLLBACK on any exception), its connection taking '?' SQL."""
        async with self._tx() as con:
            yield QmarkConnection(con)

    async def fetch_one(self, sql: str, *params: Any) -> Any:
        return await self._pooled(lambda con: con.fetchrow(sql, *params))

    async def fetch_all(self, sql: str, *params: Any) -> list[Any]:
        return list(await self._pooled(lambda con: con.fetch(sql, *params)))

    async def _execute(self, sql: str, *params: Any) -> str:
        return str(await self._pooled(lambda con: con.execute(sql, *params)))

    @asynccontextmanager
    async def write(self) -> AsyncIterator[PgTx]:
        """One transaction, its statements as the shared SQL store makes them ('?' SQL)."""
        async with self._tx() as con:
            yield PgTx(con)

    async def select_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.fetch_all(_numbered(sql), *params)

    async def select_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.fetch_one(_numbered(sql), *params)

    async def write_one(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on a pooled connection (a transaction of its own); the rows it changed."""
        return row_count(await self._execute(_numbered(sql), *params))

    # ------------------------------------------------------------ wake-ups: LISTEN

    async def listen(self, on_wake: Callable[[], None]) -> str:
        """Call `on_wake` on every NOTIFY of this schema's channel (one dedicated connection per store,
        open while anyone listens). Returns '': nothing needs advertising. A listening connection that
        is lost (the server restarted, the backend terminated) is made again with backoff, and every
        listener is woken once it is back: what was notified meanwhile is found in the tables."""
        if self._listen_con is None and self._relisten is None:
            try:
                self._listen_con = await self._connect_listener()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                raise StoreError(f"{redacted(self.url)}: cannot listen for wake-ups: {e}") from None
        self._callbacks.append(on_wake)
        return ""

    async def _connect_listener(self) -> asyncpg.Connection:
        con = await asyncpg.connect(self._dsn, server_settings=self._server_settings(), timeout=LISTEN_TIMEOUT_S)
        try:
            await con.add_listener(self.channel, self._on_notify)
        except BaseException:
            await con.close()
            raise
        con.add_termination_listener(self._on_listen_lost)
        return con

    def _on_notify(self, con: Any, pid: int, channel: str, payload: object) -> None:
        self._wake_all()

    def _wake_all(self) -> None:
        for on_wake in list(self._callbacks):
            on_wake()

    def _on_listen_lost(self, con: Any) -> None:
        if con is not self._listen_con:
            return  # closed by us
        self._listen_con = None
        if self._callbacks and self._relisten is None:
            log.warning("%s: the connection listening for wake-ups was lost; reconnecting", redacted(self.url))
            self._relisten = asyncio.get_running_loop().create_task(self._listen_again(), name="cronui-relisten")

    async def _listen_again(self) -> None:
        """Reconnect the listening connection, waiting 0.1 s, 0.2 s, ... up to 5 s between tries."""
        delay = RELISTEN_FIRST_S
        try:
            while self._callbacks:
                try:
                    con = await self._connect_listener()
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                    log.debug("listening again failed (%s); next try in %.1fs", e, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RELISTEN_MAX_S)
                    continue
                if not self._callbacks:  # everyone left meanwhile
                    await con.close()
                    return
                self._listen_con = con
                self.relistens += 1
                log.warning("%s: listening for wake-ups again", redacted(self.url))
                self._wake_all()  # catch up: what was notified while nobody listened is in the tables
                return
        finally:
            self._relisten = None

    async def _stop_relistening(self) -> None:
        task, self._relisten = self._relisten, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def unlisten(self, on_wake: Callable[[], None]) -> None:
        """Stop calling `on_wake`; the connection closes when nobody listens any more."""
        if on_wake in self._callbacks:
            self._callbacks.remove(on_wake)
        if self._callbacks:
            return
        await self._stop_relistening()
        if self._listen_con is None:
            return
        con, self._listen_con = self._listen_con, None
        with contextlib.suppress(asyncpg.InterfaceError):  # already closed: nothing left to stop
            await con.remove_listener(self.channel, self._on_notify)
        await con.close()


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
