"""The nodes view (`:nodes`, `N`) and the header's node count in cluster mode, a toast when a node joins or
leaves, and — with SQLite — a toast when the scheduler lease changes hands."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model.records import Node
from cronui.store.base import Store
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.screens.nodes import NodesScreen, NodeWatch
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.styled import StyledStatic
from tests.store.backends import fresh_store
from tests.ui.pilot import until


def now_ms() -> int:
    return int(time.time() * 1000)


def node(name: str, host: str, pid: int, labels: list[str], *, running: int = 0, ttl: int = 60_000) -> Node:
    t = now_ms()
    return Node(f"{host}:{pid}:{name}", host, pid, t - 90_000, t, t + ttl, running, labels)


@pytest.fixture
async def cluster_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with fresh_store("postgres", tmp_path / "unused.db") as store:
        yield store


@pytest.fixture
async def viewer(settings: Settings, cluster_store: Store) -> AsyncIterator[CronuiApp]:
    """A TUI pointed at a cluster's database (it views, it does not execute)."""
    settings.db = cluster_store.url
    engine = Engine(cluster_store, settings)
    yield make_app(settings, cluster_store, engine=engine, cursor_blink=False)


def header_text(app: CronuiApp) -> str:
    return str(app.screen.query_one(StatusHeader).render())


def table_lines(app: CronuiApp, width: int = 118) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(app.screen.query_one("#nodes", StyledStatic).content)
    return [ln for ln in console.export_text().splitlines() if ln.strip()]


async def test_the_header_counts_the_nodes_and_toasts_when_one_joins_or_leaves(
    viewer: CronuiApp, cluster_store: Store
) -> None:
    await cluster_store.heartbeat(node("a", "host-a", 101, ["gpu"]))
    await cluster_store.heartbeat(node("b", "host-b", 102, []))
    async with viewer.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "2 nodes" in header_text(viewer), "the node count in the header", timeout=15)
        await cluster_store.heartbeat(node("c", "host-c", 103, ["eu"]))
        await until(pilot, lambda: "3 nodes" in header_text(viewer), "a third node", timeout=15)
        toasts = [n.message for n in viewer._notifications]
        assert "node host-c:103 joined (3 nodes)" in toasts
        await cluster_store.forget_node("host-a:101:a")  # it stopped
        await until(pilot, lambda: "2 nodes" in header_text(viewer), "one node fewer", timeout=15)
        toasts = [n.message for n in viewer._notifications]
        assert "node host-a:101 left (2 nodes); its runs are recovered by the others" in toasts


async def test_the_nodes_view_lists_each_node_with_its_labels_heartbeat_and_runs(
    viewer: CronuiApp, cluster_store: Store
) -> None:
    await cluster_store.heartbeat(node("a", "render-box", 4242, ["gpu", "eu"], running=2))
    await cluster_store.heartbeat(node("b", "web-1", 77, [], ttl=-1))  # its heartbeat ran out: gone
    async with viewer.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: viewer.catalog.loaded, "the jobs")
        await pilot.press("N")
        await until(pilot, lambda: isinstance(viewer.screen, NodesScreen), "the nodes view")
        pane = viewer.screen.query_one("#nodes-pane")
        await until(pilot, lambda: str(pane.border_title).startswith("Nodes"), "the nodes read")
        assert str(pane.border_title) == "Nodes · 1 alive · 1 gone · 2 running"
        lines = table_lines(viewer)
        assert lines[0].split() == ["Host", "PID", "State", "Running", "Heartbeat", "Labels", "Up"]
        first, second = lines[1].split(), lines[2].split()
        assert first[:4] == ["render-box", "4242", "alive", "2"] and "eu gpu" in lines[1]
        assert first[-1].startswith("1m")  # up since its start, 90 s ago
        assert second[:3] == ["web-1", "77", "gone"] and "—" in lines[2]
        assert "Nodes" in header_text(viewer)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(viewer.screen, NodesScreen), "back")
        await pilot.press("colon", *"nodes", "enter")
        await until(pilot, lambda: isinstance(viewer.screen, NodesScreen), "the nodes view from command mode")


async def test_with_sqlite_the_nodes_view_shows_the_holder_and_no_count(app: CronuiApp, engine: Engine) -> None:
    await engine.renew()  # the holder's heartbeat, as every renewal writes it
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.catalog.loaded, "the jobs")
        assert "node" not in header_text(app)  # one scheduler: no count to give
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, NodesScreen), "the nodes view")
        pane = app.screen.query_one("#nodes-pane")
        await until(pilot, lambda: str(pane.border_title).startswith("Nodes"), "the nodes read")
        lines = table_lines(app, 78)
        assert str(engine.pid) in lines[1] and "here" in lines[1]


async def test_with_sqlite_a_scheduler_is_listed_from_the_moment_it_takes_the_lease(
    settings: Settings, store: SQLiteStore, clock: FakeClock
) -> None:
    """Not only after its first renewal (lease.renew seconds later): the nodes view read in between
    listed nobody."""
    fresh = Engine(store, settings, clock)  # it has not taken the lease yet: the app's loop does
    app = make_app(settings, store, engine=fresh, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.bridge.owning, "the lease")
        assert [n.pid for n in await store.nodes()] == [fresh.pid]
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, NodesScreen), "the nodes view")
        pane = app.screen.query_one("#nodes-pane")
        await until(pilot, lambda: str(pane.border_title).startswith("Nodes"), "the nodes read")
        assert str(fresh.pid) in table_lines(app, 78)[1]


def test_node_watch_says_when_scheduling_changes_hands() -> None:
    watch = NodeWatch()
    assert watch.holder_seen("host-a:1") is None  # the first look is how things are, not a change
    assert watch.holder_seen("host-a:1") is None
    assert watch.holder_seen("host-b:2") == "scheduling moved to host-b:2"
    assert watch.holder_seen(None) == "nothing schedules now"
    assert watch.holder_seen("") == "this process schedules now"

    t = now_ms()
    a, b = node("a", "host-a", 1, []), node("b", "host-b", 2, [])
    assert watch.nodes_seen([a], t, "here", "me") == [] and watch.count == 1
    assert watch.nodes_seen([a, b], t, "here", "me") == ["node host-b:2 joined (2 nodes)"]
    gone = node("a", "host-a", 1, [], ttl=-1)
    assert watch.nodes_seen([gone, b], t, "here", "me") == [
        "node host-a:1 left (1 node); its runs are recovered by the others"
    ]
    assert watch.nodes_seen([], t, "here", "me") == [
        "node host-b:2 left (0 nodes); its runs are recovered by the others",
        "no node schedules this database now",
    ]
