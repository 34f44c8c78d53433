"""The SQLite connection under database faults: what it raises, and that it is usable again afterwards."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from cronui.store.base import StoreError
from cronui.store.faults import StoreFault, StoreGone
from cronui.store.schema import SCHEMA_VERSION
from cronui.store.sqlite import SQLiteStore


@pytest.fixture
async def quick(tmp_path: Path):
    """A store whose statements wait 0.1 s for another process's write lock."""
    s = SQLiteStore(tmp_path / "q.db", busy_timeout=0.1)
    await s.open()
    yield s
    await s.close()


async def test_a_write_lock_held_elsewhere_is_a_fault_and_the_store_works_once_it_is_gone(quick):
    other = sqlite3.connect(quick.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreFault) as caught:
        await quick.set_state("k", "v")
    assert caught.value.kind == "locked"
    assert "database is locked" in str(caught.value)
    assert await quick.get_lease() is None  # reads go on while another process writes (WAL)
    other.execute("COMMIT")
    other.close()
    await quick.set_state("k", "v")
    assert await quick.get_state("k") == "v"


async def test_a_full_database_is_a_fault_and_leaves_no_transaction_open(quick):
    pages = (await quick.fetch_one("PRAGMA page_count"))[0]
    await quick.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # what a full disk looks like to SQLite
    with pytest.raises(StoreFault) as caught:
        await quick.set_state("big", "x" * 200_000)
    assert caught.value.kind == "full"
    assert not quick.db.in_transaction
    await quick.db.execute("PRAGMA max_page_count = 1073741823")  # room again
    await quick.set_state("big", "x" * 200_000)
    assert len(await quick.get_state("big") or "") == 200_000


async def test_a_deleted_database_file_is_noticed_before_the_next_write(quick):
    os.unlink(quick.path)
    with pytest.raises(StoreGone, match="was deleted while this process had it open"):
        await quick.set_state("k", "v")


async def test_a_replaced_database_file_is_noticed_before_the_next_write(quick, tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, quick.path)
    with pytest.raises(StoreGone, match="was replaced by another file"):
        await quick.set_state("k", "v")


async def test_racing_first_opens_of_a_missing_file_all_succeed_and_migrate_once(tmp_path):
    for i in range(10):
        path = tmp_path / f"race{i}" / "c.db"
        stores = [SQLiteStore(path) for _ in range(4)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            assert (await stores[0].fetch_one("PRAGMA user_version"))[0] == SCHEMA_VERSION
            assert (await stores[1].fetch_one("PRAGMA journal_mode"))[0] == "wal"
        finally:
            for s in stores:
                await s.close()


async def test_a_bad_busy_timeout_in_the_environment_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CRONUI_SQLITE_BUSY_TIMEOUT", "soon")
    with pytest.raises(StoreError, match="CRONUI_SQLITE_BUSY_TIMEOUT: expected seconds from 0 to 3600, got 'soon'"):
        await SQLiteStore(tmp_path / "c.db").open()


async def test_the_busy_timeout_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CRONUI_SQLITE_BUSY_TIMEOUT", "0.25")
    s = SQLiteStore(tmp_path / "c.db")
    await s.open()
    try:
        assert (await s.fetch_one("PRAGMA busy_timeout"))[0] == 250
    finally:
        await s.close()
