"""The store contract's backends: a store of each kind, fresh for each test, and a second one on the same database.

PostgreSQL: the server named by CRONUI_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test).
Without it the PostgreSQL cases skip, saying so; with CI=true they fail instead, as they do when the
server cannot be reached. Each test gets a schema of its own (a random name, dropped afterwards), so
tests never see each other's rows, nor those of anything else using that database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from cronui.store.base import Store
from cronui.store.postgres import PostgresStore, split_url
from cronui.store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "postgres"]
URL_VAR = "CRONUI_TEST_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


async def postgres_url() -> str:
    """A URL on the test server with a fresh schema of its own (created by the store on open)."""
    base = os.environ.get(URL_VAR, "")
    if not base:
        _unavailable(f"set {URL_VAR} to a server's URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    try:
        con = await asyncpg.connect(base, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        _unavailable(f"cannot connect to {base} ({type(e).__name__}: {e})")
    await con.close()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}schema=cronui_test_{uuid.uuid4().hex[:12]}"


async def drop_schema(url: str) -> None:
    dsn, schema = split_url(url)
    assert schema is not None and schema.startswith("cronui_test_")
    con = await asyncpg.connect(dsn)
    try:
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await con.close()


@asynccontextmanager
async def fresh_store(kind: str, path: Path | str) -> AsyncIterator[Store]:
    """An open, empty store of `kind`: a SQLite file at `path`, or a PostgreSQL schema of its own."""
    if kind == "sqlite":
        s: Store = SQLiteStore(path)
        await s.open()
        try:
            yield s
        finally:
            await s.close()
        return
    url = await postgres_url()
    try:
        s = PostgresStore(url)
        await s.open()
        try:
            yield s
        finally:
            await s.close()
    finally:
        await drop_schema(url)


def same_database(store: Store) -> Store:
    """Another store object on the same database: another process, in effect (not opened yet)."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    return PostgresStore(store.url)


async def store_clock(store: Store, now: int) -> int:
    """The clock a store counts leases on: the server's on PostgreSQL; on SQLite (one host) the caller's `now`."""
    if isinstance(store, PostgresStore):
        return int(await store.pool.fetchval("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint"))
    return now
