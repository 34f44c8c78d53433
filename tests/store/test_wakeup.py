"""Wake-ups through the store: the scheduler lease's holder listens, any other process notifies it, and
the holder acts on a write made elsewhere at once. Two store objects on one database stand for two
processes; the notification itself travels for real (SQLite: loopback sockets; PostgreSQL: LISTEN/NOTIFY
through the server), so the waits here are real (and short: each ends as soon as what it waits for has
happened). Runs on every backend."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.engine.engine import Engine
from cronui.model import Lease, RunStatus, TargetKind
from cronui.store.base import Store
from cronui.store.postgres import PostgresStore
from tests.helpers import FakeExecutor, make_job
from tests.store.backends import same_database

WAIT_S = 5.0


@pytest.fixture
async def other(backend: Store) -> AsyncIterator[Store]:
    """A second connection to the same database: another process, in effect."""
    s = same_database(backend)
    await s.open()
    yield s
    await s.close()


async def hold_lease(store: Store, clock: FakeClock, address: str, holder: str = "holder") -> None:
    now = clock.now_ms()
    lease = Lease(holder, socket.gethostname(), os.getpid(), address, now, now + 30_000)
    assert (await store.acquire_lease(lease, now, lambda _: True)).holder == holder


async def eventually(condition: Callable[[], bool]) -> bool:
    """Whether `condition` holds within WAIT_S (checked every 10 ms)."""
    for _ in range(int(WAIT_S / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def final_status(store: Store, run_id: int | None) -> RunStatus | None:
    """The run's status once it has ended (within WAIT_S; else what it is then)."""
    assert run_id is not None
    for _ in range(int(WAIT_S / 0.01)):
        run = await store.get_run(run_id)
        if run is not None and run.status.is_final:
            return run.status
        await asyncio.sleep(0.01)
    run = await store.get_run(run_id)
    return None if run is None else run.status


async def test_notify_wakes_the_holder_listening_in_another_process(
    backend: Store, other: Store, clock: FakeClock
) -> None:
    woken = asyncio.Event()
    address = await backend.listen(woken.set)
    if isinstance(backend, PostgresStore):
        assert address == ""  # NOTIFY reaches every listener: nothing to advertise
    else:
        assert address.startswith("tcp://127.0.0.1:")
    await hold_lease(backend, clock, address)
    try:
        assert await other.notify()
        assert await eventually(woken.is_set)
    finally:
        await backend.unlisten(woken.set)


async def test_notify_without_a_holder_reaches_nobody(backend: Store, other: Store) -> None:
    assert await backend.get_lease() is None
    assert not await other.notify()


async def test_a_holder_that_stopped_listening_is_not_reached(backend: Store, other: Store, clock: FakeClock) -> None:
    woken = asyncio.Event()
    address = await backend.listen(woken.set)
    await hold_lease(backend, clock, address)
    await backend.unlisten(woken.set)
    if isinstance(backend, PostgresStore):
        # a NOTIFY cannot tell who heard it: it reports the holder; a listener elsewhere hears it, the
        # holder that left does not
        witness = asyncio.Event()
        await other.listen(witness.set)
        try:
            assert await other.notify()
            assert await eventually(witness.is_set)
        finally:
            await other.unlisten(witness.set)
    else:
        assert not await other.notify()
    assert not woken.is_set()


async def test_every_listener_of_a_store_is_woken_until_it_leaves(
    backend: Store, other: Store, clock: FakeClock
) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    address = await backend.listen(first.set)
    assert await backend.listen(second.set) == address  # one socket per backend, advertised once
    await hold_lease(backend, clock, address)
    try:
        assert await other.notify()
        assert await eventually(lambda: first.is_set() and second.is_set())
        first.clear()
        second.clear()
        await backend.unlisten(first.set)
        assert await other.notify()
        assert await eventually(second.is_set)
        assert not first.is_set()  # both are called by the same poke: the one that left was not
    finally:
        await backend.unlisten(second.set)


async def test_a_lost_listening_connection_is_made_again_and_its_listeners_catch_up(
    backend: Store, other: Store
) -> None:
    """The server cuts off the connection a node listens on (a restart, pg_terminate_backend): the node
    connects again by itself, wakes its listeners once to catch up from the tables (what was notified
    meanwhile is lost), and notifications reach it again."""
    if not isinstance(backend, PostgresStore):
        pytest.skip("SQLite's listener is a loopback socket of this process: no server can cut it off")
    woken = asyncio.Event()
    await backend.listen(woken.set)
    try:
        cut = await other.fetch_all(  # type: ignore[attr-defined]
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
            f'LISTEN "{backend.channel}"',
        )
        assert [r[0] for r in cut] == [True]
        assert await eventually(lambda: backend.relistens == 1 and woken.is_set())  # the catch-up wake
        woken.clear()
        await other.notify()
        assert await eventually(woken.is_set)
    finally:
        await backend.unlisten(woken.set)


async def test_a_job_run_from_another_process_starts_at_once(
    backend: Store, other: Store, settings: Settings, clock: FakeClock, fake: FakeExecutor
) -> None:
    """What `cronui jobs add` and `cronui jobs run` do against a daemon: write, then notify through the
    backend. The daemon has nothing scheduled and would otherwise wake only at its next lease renewal,
    an hour away here."""
    settings.lease.renew = 3600.0
    settings.lease.ttl = 7200.0
    daemon = Engine(backend, settings, clock, executors={TargetKind.SHELL: fake})
    await daemon.open()
    stop = asyncio.Event()
    loop = asyncio.create_task(daemon.run(stop))
    try:
        assert await eventually(lambda: daemon.holding)
        if not other.multi_node:  # one holder, advertised in the lease row; a cluster's nodes all listen
            assert (await other.get_lease()).address == daemon.address
        cli = Control(other, settings, clock)  # as the CLI builds it: no in-process wake-up
        await cli.add_job(make_job("report", "@yearly"))
        run = await cli.trigger("report")
        assert await eventually(lambda: run.id in fake.calls)  # started by the daemon
        assert await final_status(backend, run.id) is RunStatus.SUCCEEDED
    finally:
        stop.set()
        await loop
        await daemon.close()
