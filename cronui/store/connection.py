"""One SQLite file behind one aiosqlite connection: opening it (mode 0600, WAL, busy timeout, foreign
keys, migrations), the lock that keeps a transaction from interleaving with another statement, and the
whole-file operations (integrity check, backup).

The queries live in the classes built on this one (`SQLiteStore`).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from cronui.store.base import StoreError
from cronui.store.schema import aside_path, migration_for


class SQLiteConnection:
    """The database file and its single connection."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self._db: aiosqlite.Connection | None = None
        # One connection, many coroutines: a transaction must not interleave with another statement.
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open database: {e}") from None
        db.row_factory = sqlite3.Row
        self._db = db
        try:
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await self.migrate()
        except sqlite3.DatabaseError as e:
            await self.close()
            raise StoreError(f"{self.path}: not a cronui database ({e})") from None

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def migrate(self) -> None:
        """Bring the file to the current schema; a file that has data is copied aside first."""
        version = (await self.fetch_one("PRAGMA user_version"))[0]
        plan = migration_for(version, str(self.path))
        if plan is None:
            return
        if plan.from_version > 0 and str(self.path) != ":memory:":
            # Keep the old file aside before touching it; a failed migration loses nothing.
            await self.backup(str(aside_path(self.path, plan.from_version)))
        async with self.transaction() as db:
            for stmt in plan.statements:
                await db.execute(stmt)
            await db.execute(f"PRAGMA user_version = {plan.to_version}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on any exception), holding the connection's lock."""
        db = self.db
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._lock, self.db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock, self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

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
        finally:
            await dest.close()
