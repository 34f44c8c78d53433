"""PostgreSQL: a statement that hangs (a lock held elsewhere, a server gone silent) fails after the
statement timeout as a passing store fault, instead of waiting for TCP's own timeout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from cronui.model import Lease
from cronui.store import pg_connection
from cronui.store.base import StoreError
from cronui.store.faults import StoreFault
from cronui.store.pg_connection import split_url
from tests.store.backends import fresh_store, postgres_url


async def test_a_renewal_stuck_behind_a_table_lock_is_a_passing_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pg_connection.STATEMENT_TIMEOUT_ENV, "1")
    async with fresh_store("postgres", tmp_path / "x") as store:
        now = int(time.time() * 1000)
        await store.acquire_lease(Lease("me", "h", 1, "", now, now + 30_000), now, lambda _: True)
        dsn, schema = split_url(store.url)  # type: ignore[attr-defined]
        locker = await asyncpg.connect(dsn, server_settings={"search_path": f'"{schema}"'})
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute("LOCK TABLE scheduler_lease IN ACCESS EXCLUSIVE MODE")
            async with asyncio.timeout(30):  # without a statement timeout: waits as long as the lock is held
                with pytest.raises(StoreFault) as caught:
                    await store.renew_lease("me", now, now + 30_000)
            assert caught.value.kind == "connection" and "no answer from the server within 1s" in str(caught.value)
            await tx.rollback()
        finally:
            await locker.close()
        assert await store.renew_lease("me", now, now + 30_000)  # the lock gone: the next try goes through


async def test_a_bad_statement_timeout_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    url = await postgres_url()
    monkeypatch.setenv(pg_connection.STATEMENT_TIMEOUT_ENV, "soon")
    from cronui.store.postgres import PostgresStore

    store = PostgresStore(url)
    with pytest.raises(StoreError, match=r"^CRONUI_PG_STATEMENT_TIMEOUT: expected seconds .* got 'soon'$"):
        await store.open()
