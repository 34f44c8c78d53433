"""Snapshots of watching on the demo data (see test_ui_snapshots): the job list by health, worst first, with
its marks, and the alerts view, both at 80x24."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from cronui.ui.app import CronuiApp
from cronui.ui.widgets.job_table import JobTable
from tests.ui.make_screenshots import at_alerts, demo_app, prepare_demo_db, settle

SnapCompare = Callable[..., bool]


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    asyncio.run(prepare_demo_db(path))
    return path


async def by_health(pilot: Pilot[object]) -> None:
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, CronuiApp)
    table = app.screen.query_one(JobTable)
    table.sort_key = "health"  # as `s` sets it, without the toast that says so
    table.invalidate_layout()
    app.screen.show_jobs()  # type: ignore[attr-defined]
    await settle(pilot)


def test_job_list_by_health_narrow(snap_compare: SnapCompare, demo_db: Path) -> None:
    """Paused, failing, no success, degraded, then the healthy: each with its mark, in the theme's colours."""
    assert snap_compare(demo_app(demo_db), terminal_size=(80, 24), run_before=by_health)


def test_alerts_view_narrow(snap_compare: SnapCompare, demo_db: Path) -> None:
    """What was sent, newest first; channels masked, answers cut to the width."""
    assert snap_compare(demo_app(demo_db), terminal_size=(80, 24), run_before=at_alerts)
