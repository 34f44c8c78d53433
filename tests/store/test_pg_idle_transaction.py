"""PostgreSQL: a node stopped (SIGSTOP, a frozen VM) inside a transaction keeps its row locks until the
server ends its session; every other node waiting on those rows waits that long, and no longer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cronui.model import Lease
from cronui.store import pg_connection
from cronui.store.faults import StoreFault
from tests.store.backends import fresh_store, same_database


async def test_a_transaction_left_open_by_a_stopped_node_is_ended_and_the_others_carry_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_connection, "IDLE_IN_TRANSACTION_S", 1.0)
    async with fresh_store("postgres", tmp_path / "x") as frozen:
        now = int(time.time() * 1000)
        lease = Lease("frozen", "h", 1, "", now, now - 1)  # expired: another node may take it
        await frozen.acquire_lease(lease, now, lambda _: True)
        other = same_database(frozen)
        await other.open()
        try:
            stuck = asyncio.Event()

            async def stopped_inside_a_write() -> None:
                async with frozen.transaction() as db:
                    await db.execute("UPDATE scheduler_lease SET expires_at = expires_at WHERE id = 1")
                    stuck.set()
                    await asyncio.sleep(3)  # the client does nothing more: its row lock stays

            frozen_task = asyncio.create_task(stopped_inside_a_write())
            await stuck.wait()
            started = time.monotonic()
            me = Lease("other", "h", 2, "", now, now + 60_000)
            got = await asyncio.wait_for(other.acquire_lease(me, now, lambda _: True), timeout=15)
            waited = time.monotonic() - started
            assert got.holder == "other"
            assert waited >= 0.5  # it did wait on the stopped node's lock, until the server ended that session
            with pytest.raises(StoreFault, match="connection"):
                await frozen_task  # the stopped node, continued, meets a fault and retries; it took nothing
        finally:
            await other.close()
