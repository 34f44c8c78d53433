"""The event cursor: every event of the live log is handed out once, even one that commits after a later
id was read (a sequence-backed store does that; here events are inserted with explicit ids, out of
order, straight into the store's table to stand in for it). Runs on every backend."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cronui.engine.clock import FakeClock
from cronui.model import EventKind, RunEvent
from cronui.store.base import Store
from cronui.store.events import EventCursor
from cronui.store.postgres import PostgresStore
from tests.helpers import ms
from tests.store.backends import BACKENDS, drop_schema, fresh_store, postgres_url

T0 = ms("2026-03-02T09:00:00Z")


async def commit(store: Store, *ids: int) -> None:
    """One transaction that commits events with these ids (as a writer that drew them earlier would)."""
    async with store.transaction() as db:
        for i in ids:
            await db.execute(
                "INSERT INTO run_events (id, run_id, job_id, at, kind, name) VALUES (?, NULL, NULL, ?, ?, ?)",
                (i, T0 + i, str(EventKind.MILESTONE), f"m{i}"),
            )


def ids(events: list[RunEvent]) -> list[int | None]:
    return [e.id for e in events]


def cursor_on(store: Store, clock: FakeClock, after_id: int = 0, **kw: int) -> EventCursor:
    return EventCursor(store, after_id, now=lambda: clock.now_ms() / 1000, **kw)


async def test_a_late_commit_is_delivered_once(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=4)
    await commit(backend, 5)
    await commit(backend, 7)  # 6 was drawn first but its transaction is still open
    assert ids(await cursor.read()) == [5, 7]
    assert cursor.gaps == [6]
    assert ids(await cursor.read()) == []
    await commit(backend, 6)
    assert ids(await cursor.read()) == [6]
    assert cursor.gaps == []
    await commit(backend, 8)
    assert ids(await cursor.read()) == [8]
    assert ids(await cursor.read()) == []


async def test_events_come_with_their_fields(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock)
    await cursor.prime()
    ev = RunEvent(EventKind.PAUSED, T0, data={"by": "cli"})
    await backend.append_events([ev])
    (got,) = await cursor.read()
    assert (got.id, got.kind, got.at, got.data) == (ev.id, EventKind.PAUSED, T0, {"by": "cli"})


async def test_a_primed_cursor_starts_after_what_the_log_holds(backend: Store, clock: FakeClock) -> None:
    await commit(backend, 1, 2, 3)
    cursor = cursor_on(backend, clock)
    await cursor.prime()
    assert ids(await cursor.read()) == []
    await commit(backend, 4)
    assert ids(await cursor.read()) == [4]


async def test_a_gap_is_awaited_up_to_the_horizon_then_given_up(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=4)
    await commit(backend, 5, 8)
    assert ids(await cursor.read()) == [5, 8]
    clock.advance(29.9)
    await commit(backend, 6)
    assert ids(await cursor.read()) == [6]  # late, but within the horizon
    assert cursor.gaps == [7]
    clock.advance(0.1)  # 7 has been missing for 30 s: its transaction rolled back
    assert ids(await cursor.read()) == []
    assert cursor.gaps == []
    await commit(backend, 7)
    await commit(backend, 9)
    assert ids(await cursor.read()) == [9]  # given up for good: the cursor does not ask for 7 any more


async def test_the_horizon_counts_from_when_each_gap_was_noticed(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=0)
    await commit(backend, 2)
    await cursor.read()  # 1 missing from now
    clock.advance(20)
    await commit(backend, 4)
    await cursor.read()  # 3 missing from now
    clock.advance(15)
    assert cursor.gaps == [1, 3]  # expiry happens when reading
    await commit(backend, 1, 3)
    assert ids(await cursor.read()) == [3]


async def test_gaps_are_capped_and_the_oldest_dropped_first(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=0, max_gaps=3)
    await commit(backend, 1, 3)
    await cursor.read()
    clock.advance(1)
    await commit(backend, 6)
    await cursor.read()
    assert cursor.gaps == [2, 4, 5]
    clock.advance(1)
    await commit(backend, 8)
    await cursor.read()
    assert cursor.gaps == [4, 5, 7]  # 2 was noticed first
    await commit(backend, 2, 4, 5, 7)
    assert ids(await cursor.read()) == [4, 5, 7]


async def test_a_jump_wider_than_the_cap_keeps_the_newest_gaps(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=0, max_gaps=4)
    await commit(backend, 100_000)
    assert ids(await cursor.read()) == [100_000]
    assert cursor.gaps == [99_996, 99_997, 99_998, 99_999]
    await commit(backend, 5, 99_998)
    assert ids(await cursor.read()) == [99_998]


async def test_reads_page_through_the_log_in_id_order(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=0)
    await commit(backend, 1, 2, 3, 5, 7, 8, 9, 10)
    assert ids(await cursor.read(limit=3)) == [1, 2, 3]
    assert ids(await cursor.read(limit=3)) == [5, 7, 8]
    assert cursor.gaps == [4, 6]
    await commit(backend, 4, 6)
    assert ids(await cursor.read(limit=3)) == [4, 6, 9]  # the awaited ones first, then onwards
    assert ids(await cursor.read(limit=3)) == [10]
    assert ids(await cursor.read(limit=3)) == []


async def test_filled_gaps_alone_can_fill_a_page(backend: Store, clock: FakeClock) -> None:
    cursor = cursor_on(backend, clock, after_id=0)
    await commit(backend, 10)
    await cursor.read()
    await commit(backend, 2, 4, 6, 11)
    assert ids(await cursor.read(limit=2)) == [2, 4]
    assert ids(await cursor.read(limit=2)) == [6, 11]
    assert cursor.gaps == [1, 3, 5, 7, 8, 9]


async def test_events_got_another_way_are_not_handed_out_again(backend: Store, clock: FakeClock) -> None:
    """The UI takes its own process's events from the in-process bus, then goes back to the log."""
    cursor = cursor_on(backend, clock, after_id=0)
    await commit(backend, 1, 3)
    await cursor.read()
    assert [cursor.seen(i) for i in (1, 2, 3, 4)] == [True, False, True, False]
    await commit(backend, 4, 5)
    cursor.skip_to(5)  # 4 and 5 came from the bus
    await commit(backend, 2, 6)
    assert ids(await cursor.read()) == [2, 6]


@pytest.fixture(scope="module")
def reused_store() -> Iterator[Callable[[str], AbstractAsyncContextManager[Store]]]:
    """An open store with an empty event log, for one example of a property: SQLite in memory; on
    PostgreSQL one schema for the whole module (made once, emptied for each example, dropped after)."""
    urls: list[str] = []

    @asynccontextmanager
    async def open_empty(kind: str) -> AsyncIterator[Store]:
        if kind == "sqlite":
            async with fresh_store(kind, ":memory:") as s:
                yield s
            return
        if not urls:
            urls.append(await postgres_url())
        pg = PostgresStore(urls[0])
        await pg.open()
        try:
            async with pg.transaction() as db:
                await db.execute("DELETE FROM run_events")
            yield pg
        finally:
            await pg.close()

    yield open_empty
    for url in urls:
        asyncio.run(drop_schema(url))


@pytest.mark.parametrize("kind", BACKENDS)
@hsettings(max_examples=60, deadline=None)
@given(
    order=st.permutations(list(range(1, 21))),
    cuts=st.lists(st.integers(1, 19), max_size=8, unique=True),
    limit=st.integers(1, 25),
)
def test_any_commit_order_delivers_every_event_exactly_once(
    reused_store: Callable[[str], AbstractAsyncContextManager[Store]],
    kind: str,
    order: list[int],
    cuts: list[int],
    limit: int,
) -> None:
    """Ids 1..20 commit in any order, in batches, with a read after each batch: every id is handed out,
    none twice, each read in ascending order."""

    async def scenario() -> None:
        async with reused_store(kind) as store:
            clock = FakeClock(T0)
            cursor = cursor_on(store, clock)
            seen: list[int | None] = []
            bounds = [0, *sorted(cuts), len(order)]
            for lo, hi in itertools.pairwise(bounds):
                await commit(store, *order[lo:hi])
                page = await cursor.read(limit)
                assert ids(page) == sorted(ids(page))
                seen += ids(page)
            while page := await cursor.read(limit):
                seen += ids(page)
            assert sorted(seen) == list(range(1, 21))

    asyncio.run(scenario())
