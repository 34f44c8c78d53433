"""One SQLite file behind one aiosqlite connection: opening it (mode 0600, WAL, busy timeout, foreign
keys, migrations), the lock that keeps a transaction from interleaving with another statement, and the
whole-file operations (integrity check, backup).

Faults. An error that may pass (another process holds the write lock past the busy timeout, a full disk,
an I/O error) is raised as `StoreFault`; callers retry it. A transaction that fails at any point, its
`COMMIT` included, is rolled back, so the connection is never left inside a transaction that blocks every
later write. Every write transaction first checks that the path still names the file this connection
opened: a file deleted or replaced under a running process raises `StoreGone` instead of writing into a
file nobody reads.

First start. Several processes may open a missing file at once: each creates it (O_CREAT, no truncation)
and the schema is created or migrated under the write lock, with the version read again once the lock is
held, so exactly one of them migrates and the others find the file current.

The busy timeout (how long one statement waits for another process's write lock) is 10 s;
CRONUI_SQLITE_BUSY_TIMEOUT (seconds) changes it, e.g. for fault-injection tests.

The queries live in the classes built on this one (`SQLiteStore`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite

from cronui.store import lockholder
from cronui.store.base import StoreError, seconds_from_env
from cronui.store.faults import ReadOnlyDatabase, StoreFault, StoreGone
from cronui.store.schema import aside_path, migration_for

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0
BUSY_TIMEOUT_ENV = "CRONUI_SQLITE_BUSY_TIMEOUT"

# SQLite's primary result codes for faults that may pass, and what each is called here.
_FAULT_KINDS = {5: "locked", 6: "locked", 10: "io", 13: "full", 14: "open", 15: "locked"}
_FAULT_TEXTS = {
    "database is locked": "locked",
    "database table is locked": "locked",
    "disk i/o error": "io",
    "database or disk is full": "full",
    "unable to open database file": "open",
}
_HINTS = {
    "locked": "another process holds its write lock",
    "full": "no space left for it",
    "io": "the file system failed a read or write",
    "open": "the file cannot be opened",
}
SQLITE_READONLY = 8  # a write to a database this connection may only read
SQLITE_READONLY_DBMOVED = 1032  # the file was renamed or deleted under the connection


def busy_timeout_from_env() -> float:
    return seconds_from_env(BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_S, zero=True)


def fault_kind(exc: BaseException) -> str | None:
    """What kind of passing fault `exc` is (locked, full, io, open), or None when it is not one."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _FAULT_KINDS:
        return _FAULT_KINDS[code & 0xFF]
    return _FAULT_TEXTS.get(str(exc).strip().lower())


class SQLiteTx:
    """A transaction's statements on the connection (`Tx`, for the shared SQL store)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def row(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.db.execute(sql, params) as cur:
            return cur.rowcount

    async def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        if seq:
            await self.db.executemany(sql, seq)


class SQLiteConnection:
    """The database file and its single connection."""

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float | None = None) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file the connection opened
        # One connection, many coroutines: a transaction must not interleave with another statement.
        self._lock = asyncio.Lock()
        self._cleanup: asyncio.Future[None] | None = None  # ends a transaction whose BEGIN was cancelled
        self.read_only: str | None = None  # why this process cannot write the file, when it cannot

    @property
    def _in_memory(self) -> bool:
        return str(self.path) == ":memory:"

    async def open(self) -> None:
        if self.busy_timeout is None:
            self.busy_timeout = busy_timeout_from_env()
        before: tuple[int, int] | None = None
        if not self._in_memory:
            self.read_only = _read_only_reason(self.path)
            if self.read_only is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    # O_CREAT without O_EXCL or O_TRUNC: racing first starts all get the same (empty) file
                    os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError as e:
                    raise StoreError(f"{self.path}: cannot create database: {e.strerror or e}") from None
            try:
                before = self._stat()
            except OSError as e:
                raise StoreError(f"{self.path}: cannot open database: {e.strerror or e}") from None
        try:
            if self.read_only is not None:  # read it as it is: nothing (not even WAL's files) is written
                db = await aiosqlite.connect(_read_only_uri(self.path), uri=True, isolation_level=None)
            else:
                db = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open database: {e}") from None
        db.row_factory = sqlite3.Row
        self._db = db
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._setup()
            await self.migrate()
        except BaseException as e:
            await self.close()
            if isinstance(e, StoreError):
                raise
            if isinstance(e, sqlite3.Error) and fault_kind(e) is not None:
                raise self._as_error(e) from None
            if isinstance(e, sqlite3.DatabaseError):
                raise StoreError(f"{self.path}: not a cronui database ({e})") from None
            raise
        if before is not None:
            after = self._stat()
            if after != before:  # replaced between creating it and connecting: open again
                await self.close()
                raise StoreFault(f"{self.path}: the file was replaced while it was being opened", "open")
            self._identity = after

    async def _setup(self) -> None:
        """The connection's pragmas. Switching a new file to WAL needs a moment alone with it: a racing
        first start may be refused at once (SQLITE_BUSY without waiting), so it waits and tries again."""
        db = self.db
        assert self.busy_timeout is not None
        deadline = asyncio.get_running_loop().time() + max(self.busy_timeout, 1.0)
        delay = 0.01
        while self.read_only is None:
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as e:
                if fault_kind(e) != "locked" or asyncio.get_running_loop().time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def migrate(self) -> None:
        """Bring the file to the current schema; a file that has data is copied aside first. The version is
        read again under the write lock: of several processes opening one file, one migrates."""
        version = (await self.fetch_one("PRAGMA user_version"))[0]
        if migration_for(version, str(self.path)) is None:
            return
        if self.read_only is not None:
            raise ReadOnlyDatabase(str(self.path), f"{self.read_only}, and its tables need creating or upgrading")
        async with self.transaction() as db:
            async with db.execute("PRAGMA user_version") as cur:
                row = await cur.fetchone()
            version = row[0] if row is not None else 0
            plan = migration_for(version, str(self.path))
            if plan is None:
                return  # another process migrated it while we waited for the lock
            if plan.from_version > 0 and not self._in_memory:
                # Keep the old file aside before touching it; a failed migration loses nothing.
                await asyncio.to_thread(_copy_file, self.path, aside_path(self.path, plan.from_version))
            for stmt in plan.statements:
                await db.execute(stmt)
            await db.execute(f"PRAGMA user_version = {plan.to_version}")

    # ------------------------------------------------------------ statements and faults

    def _stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino)

    def check_file(self) -> None:
        """Raise StoreGone when the path no longer names the file this connection opened."""
        if self._identity is None:
            return
        try:
            now = self._stat()
        except FileNotFoundError:
            raise StoreGone(
                f"{self.path}: the database file was deleted while this process had it open; "
                "nothing more can be recorded in it"
            ) from None
        except OSError as e:
            raise StoreFault(f"{self.path}: cannot check the database file: {e.strerror or e}", "io") from None
        if now != self._identity:
            raise StoreGone(
                f"{self.path}: the database file was replaced by another file while this process had it open"
            )

    def _as_error(self, e: sqlite3.Error) -> StoreError:
        """A fault that may pass as StoreFault; a file moved away as StoreGone."""
        if getattr(e, "sqlite_errorcode", None) == SQLITE_READONLY_DBMOVED:
            return StoreGone(f"{self.path}: the database file was moved or deleted while this process had it open")
        kind = fault_kind(e) or "io"
        return StoreFault(f"{self.path}: {e} ({_HINTS[kind]})", kind)

    def _convert(self, e: BaseException) -> BaseException:
        code = getattr(e, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == SQLITE_READONLY and code != SQLITE_READONLY_DBMOVED:
            return ReadOnlyDatabase(str(self.path), self.read_only or str(e))
        if isinstance(e, sqlite3.Error) and (
            fault_kind(e) is not None or getattr(e, "sqlite_errorcode", None) == SQLITE_READONLY_DBMOVED
        ):
            return self._as_error(e)
        return e

    async def _rollback(self, db: aiosqlite.Connection) -> None:
        """End a failed transaction. SQLite may have rolled it back already (a full disk, an I/O error)."""
        if not db.in_transaction:
            return
        try:
            await db.execute("ROLLBACK")
        except sqlite3.Error as e:  # still open: the next transaction rolls it back before it begins
            log.warning("%s: could not roll back a failed transaction (%s); retrying before the next one", self.path, e)

    def write_lock_holder(self) -> int | None:
        """The pid of the process holding this database's write lock, where the OS tells (Linux)."""
        return None if self._in_memory else lockholder.write_lock_holder(self.path)

    @asynccontextmanager
    async def between_writes(self) -> AsyncIterator[None]:
        """Hold off this process's transactions: inside, none is open and none begins (to stop the process
        without keeping the database's write lock)."""
        async with self._lock:
            yield

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on any exception), holding the connection's lock.
        Faults that may pass come out as StoreFault; a deleted or replaced file as StoreGone."""
        db = self.db
        async with self._lock:
            self.check_file()
            try:
                if db.in_transaction:  # left open by a BEGIN whose waiter was cancelled, or a failed ROLLBACK
                    await db.execute("ROLLBACK")
                try:
                    await db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError:
                    if not db.in_transaction:
                        raise
                    await db.execute("ROLLBACK")  # one that was still on its way: end it, begin ours
                    await db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self._convert(e) from e
            except BaseException:  # cancelled while BEGIN waited: it may still succeed behind our back
                self._cleanup = asyncio.ensure_future(self._rollback_later(db))
                raise
            try:
                yield db
            except BaseException as e:
                await self._rollback(db)
                converted = self._convert(e)
                if converted is e:
                    raise
                raise converted from e
            try:
                await db.execute("COMMIT")
            except sqlite3.Error as e:
                # a COMMIT refused (busy, full disk) leaves the transaction open: end it
                await self._rollback(db)
                raise self._convert(e) from e

    async def _rollback_later(self, db: aiosqlite.Connection) -> None:
        async with self._lock:
            if self._db is db and db.in_transaction:
                await self._rollback(db)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            async with self._lock, self.db.execute(sql, params) as cur:
                return await cur.fetchone()
        except sqlite3.Error as e:
            raise self._convert(e) from e

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            async with self._lock, self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise self._convert(e) from e

    async def select_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.fetch_all(sql, params)

    async def select_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.fetch_one(sql, params)

    async def apart_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """A long read on a read-only connection of its own (WAL: it neither waits for writers nor holds them
        up), so the statements of this process's scheduler never queue behind it. An in-memory database has
        no other connection: it is read on this one."""
        if self._in_memory:
            return await self.fetch_all(sql, params)
        try:
            db = await aiosqlite.connect(_read_only_uri(self.path), uri=True, isolation_level=None)
            try:
                await db.execute(f"PRAGMA busy_timeout = {int((self.busy_timeout or BUSY_TIMEOUT_S) * 1000)}")
                async with db.execute(sql, params) as cur:
                    return list(await cur.fetchall())
            finally:
                await db.close()
        except sqlite3.Error as e:
            raise self._convert(e) from e

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SQLiteTx]:
        """A write transaction (`transaction()`), its statements as the shared SQL store makes them."""
        async with self.transaction() as db:
            yield SQLiteTx(db)

    async def check(self) -> list[str]:
        problems = [r[0] for r in await self.fetch_all("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [
            f"foreign key: {r[0]} row {r[1]} -> {r[2]}" for r in await self.fetch_all("PRAGMA foreign_key_check")
        ]
        return problems

    async def backup(self, path: str) -> None:
        target = Path(path)
        if target.exists():
            raise StoreError(f"{target}: already exists; refusing to overwrite")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        dest = await aiosqlite.connect(target)
        try:
            await self.db.backup(dest)
        except sqlite3.Error as e:
            raise self._convert(e) from e
        finally:
            await dest.close()


def _read_only_reason(path: Path) -> str | None:
    """Why this process may read the existing file at `path` but not write it (a read-only file system, no
    write permission, an immutable file), or None: it may write it, or it does not exist yet."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and os.access(path, os.R_OK):
            return e.strerror or str(e)
        return None  # not a permission matter: creating or opening it says what is wrong
    os.close(fd)
    return None


def _read_only_uri(path: Path) -> str:
    """A read-only SQLite URI for `path`. On a read-only file system nothing can change the file, so it is
    read as immutable: SQLite then needs no WAL index (-shm), which it could not create there."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            uri += "&immutable=1"
    except OSError:
        pass
    return uri


def _copy_file(source: Path, target: Path) -> None:
    """A consistent copy of `source` through a connection of its own (readers do not wait for a writer)."""
    if target.exists():
        raise StoreError(f"{target}: already exists; refusing to overwrite")
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    src = sqlite3.connect(source)
    try:
        dest = sqlite3.connect(target)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()
