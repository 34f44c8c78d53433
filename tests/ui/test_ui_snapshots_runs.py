"""Snapshots of the run lists and the run detail's `v` view, on the demo data (see test_ui_snapshots)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from cronui.ui.app import CronuiApp
from tests.ui.make_screenshots import at_run_detail, demo_app, prepare_demo_db, settle

SnapCompare = Callable[..., bool]


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    asyncio.run(prepare_demo_db(path))
    return path


async def at_agent_request(pilot: Pilot[object]) -> None:
    await at_run_detail(pilot)
    await pilot.press("v")
    await settle(pilot)


async def at_http_failure(pilot: Pilot[object]) -> None:
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, CronuiApp)
    app.run_command("failed")
    await settle(pilot)
    await pilot.press("slash")
    app.screen.query_one("#prompt", Input).value = "kind:http"
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def at_runs_by_duration(pilot: Pilot[object]) -> None:
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, CronuiApp)
    app.run_command("runs")
    await settle(pilot)
    await pilot.press("s", "s", "s", "s", "s")  # job, status, trigger, started, duration
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_agent_run_request_as_sent(snap_compare: SnapCompare, demo_db: Path, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(demo_db), terminal_size=size, run_before=at_agent_request)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_http_failure_detail(snap_compare: SnapCompare, demo_db: Path, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(demo_db), terminal_size=size, run_before=at_http_failure)


def test_runs_sorted_by_duration(snap_compare: SnapCompare, demo_db: Path) -> None:
    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=at_runs_by_duration)
