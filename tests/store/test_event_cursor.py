"""The event cursor: every event of the live log is handed out once, even one that commits after a later
id was read (a sequence-backed store does that; here events are inserted with explicit ids, out of
order, straight into SQLite to stand in for it)."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cronui.engine.clock import FakeClock
from cronui.model import EventKind, RunEvent
from cronui.store.events import EventCursor
from cronui.store.sqlite import SQLiteStore
from tests.helpers import ms

T0 = ms("2026-03-02T09:00:00Z")


async def commit(store: SQLiteStore, *ids: int) -> None:
    """One transaction that commits events with these ids (as a writer that drew them earlier would)."""
    async with store.transaction() as db:
        for i in ids:
            await db.execute(
                "INSERT INTO run_events (id, run_id, job_id, at, kind, name) VALUES (?, NULL, NULL, ?, ?, ?)",
                (i, T0 + i, str(EventKind.MILESTONE), f"m{i}"),
            )


def ids(events: list[RunEvent]) -> list[int | None]:
    return [e.id for e in events]


def cursor_on(store: SQLiteStore, clock: FakeClock, after_id: int = 0, **kw: int) -> EventCursor:
    return EventCursor(store, after_id, now=lambda: clock.now_ms() / 1000, **kw)


async def test_a_late_commit_is_delivered_once(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=4)
    await commit(store, 5)
    await commit(store, 7)  # 6 was drawn first but its transaction is still open
    assert ids(await cursor.read()) == [5, 7]
    assert cursor.gaps == [6]
    assert ids(await cursor.read()) == []
    await commit(store, 6)
    assert ids(await cursor.read()) == [6]
    assert cursor.gaps == []
    await commit(store, 8)
    assert ids(await cursor.read()) == [8]
    assert ids(await cursor.read()) == []


async def test_events_come_with_their_fields(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock)
    await cursor.prime()
    ev = RunEvent(EventKind.PAUSED, T0, data={"by": "cli"})
    await store.append_events([ev])
    (got,) = await cursor.read()
    assert (got.id, got.kind, got.at, got.data) == (ev.id, EventKind.PAUSED, T0, {"by": "cli"})


async def test_a_primed_cursor_starts_after_what_the_log_holds(store: SQLiteStore, clock: FakeClock) -> None:
    await commit(store, 1, 2, 3)
    cursor = cursor_on(store, clock)
    await cursor.prime()
    assert ids(await cursor.read()) == []
    await commit(store, 4)
    assert ids(await cursor.read()) == [4]


async def test_a_gap_is_awaited_up_to_the_horizon_then_given_up(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=4)
    await commit(store, 5, 8)
    assert ids(await cursor.read()) == [5, 8]
    clock.advance(29.9)
    await commit(store, 6)
    assert ids(await cursor.read()) == [6]  # late, but within the horizon
    assert cursor.gaps == [7]
    clock.advance(0.1)  # 7 has been missing for 30 s: its transaction rolled back
    assert ids(await cursor.read()) == []
    assert cursor.gaps == []
    await commit(store, 7)
    await commit(store, 9)
    assert ids(await cursor.read()) == [9]  # given up for good: the cursor does not ask for 7 any more


async def test_the_horizon_counts_from_when_each_gap_was_noticed(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=0)
    await commit(store, 2)
    await cursor.read()  # 1 missing from now
    clock.advance(20)
    await commit(store, 4)
    await cursor.read()  # 3 missing from now
    clock.advance(15)
    assert cursor.gaps == [1, 3]  # expiry happens when reading
    await commit(store, 1, 3)
    assert ids(await cursor.read()) == [3]


async def test_gaps_are_capped_and_the_oldest_dropped_first(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=0, max_gaps=3)
    await commit(store, 1, 3)
    await cursor.read()
    clock.advance(1)
    await commit(store, 6)
    await cursor.read()
    assert cursor.gaps == [2, 4, 5]
    clock.advance(1)
    await commit(store, 8)
    await cursor.read()
    assert cursor.gaps == [4, 5, 7]  # 2 was noticed first
    await commit(store, 2, 4, 5, 7)
    assert ids(await cursor.read()) == [4, 5, 7]


async def test_a_jump_wider_than_the_cap_keeps_the_newest_gaps(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=0, max_gaps=4)
    await commit(store, 100_000)
    assert ids(await cursor.read()) == [100_000]
    assert cursor.gaps == [99_996, 99_997, 99_998, 99_999]
    await commit(store, 5, 99_998)
    assert ids(await cursor.read()) == [99_998]


async def test_reads_page_through_the_log_in_id_order(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=0)
    await commit(store, 1, 2, 3, 5, 7, 8, 9, 10)
    assert ids(await cursor.read(limit=3)) == [1, 2, 3]
    assert ids(await cursor.read(limit=3)) == [5, 7, 8]
    assert cursor.gaps == [4, 6]
    await commit(store, 4, 6)
    assert ids(await cursor.read(limit=3)) == [4, 6, 9]  # the awaited ones first, then onwards
    assert ids(await cursor.read(limit=3)) == [10]
    assert ids(await cursor.read(limit=3)) == []


async def test_filled_gaps_alone_can_fill_a_page(store: SQLiteStore, clock: FakeClock) -> None:
    cursor = cursor_on(store, clock, after_id=0)
    await commit(store, 10)
    await cursor.read()
    await commit(store, 2, 4, 6, 11)
    assert ids(await cursor.read(limit=2)) == [2, 4]
    assert ids(await cursor.read(limit=2)) == [6, 11]
    assert cursor.gaps == [1, 3, 5, 7, 8, 9]


async def test_events_got_another_way_are_not_handed_out_again(store: SQLiteStore, clock: FakeClock) -> None:
    """The UI takes its own process's events from the in-process bus, then goes back to the log."""
    cursor = cursor_on(store, clock, after_id=0)
    await commit(store, 1, 3)
    await cursor.read()
    assert [cursor.seen(i) for i in (1, 2, 3, 4)] == [True, False, True, False]
    await commit(store, 4, 5)
    cursor.skip_to(5)  # 4 and 5 came from the bus
    await commit(store, 2, 6)
    assert ids(await cursor.read()) == [2, 6]


@hsettings(max_examples=60, deadline=None)
@given(
    order=st.permutations(list(range(1, 21))),
    cuts=st.lists(st.integers(1, 19), max_size=8, unique=True),
    limit=st.integers(1, 25),
)
def test_any_commit_order_delivers_every_event_exactly_once(order: list[int], cuts: list[int], limit: int) -> None:
    """Ids 1..20 commit in any order, in batches, with a read after each batch: every id is handed out,
    none twice, each read in ascending order."""

    async def scenario() -> None:
        store = SQLiteStore(":memory:")
        await store.open()
        try:
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
        finally:
            await store.close()

    asyncio.run(scenario())
