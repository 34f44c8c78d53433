"""Snapshot tests, one per pane and state, on the fixed demo data with a frozen clock (no cursor blink,
no host names, no timings in the pictures). Update them with `pytest --snapshot-update` after a change
you have looked at."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from cronui.ui.app import CronuiApp
from tests.ui.make_screenshots import at_editor, at_main, at_run_detail, demo_app, prepare_demo_db, settle

SnapCompare = Callable[..., bool]


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    asyncio.run(prepare_demo_db(path))
    return path


def test_main_screen(snap_compare: SnapCompare, demo_db: Path) -> None:
    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=at_main)


def test_main_screen_narrow(snap_compare: SnapCompare, demo_db: Path) -> None:
    """80x24: the lower panes stack, the job list drops whole columns, the names stay whole."""
    assert snap_compare(demo_app(demo_db), terminal_size=(80, 24), run_before=at_main)


def test_main_screen_light_theme_filtered(snap_compare: SnapCompare, demo_db: Path) -> None:
    async def before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, CronuiApp)
        app.theme = "cronui-light"
        await pilot.press("slash")
        prompt = app.screen.query_one("#prompt", Input)
        prompt.value = "tag:ops"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=before)


def test_job_editor(snap_compare: SnapCompare, demo_db: Path) -> None:
    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=at_editor)


def test_job_editor_bad_schedule_narrow(snap_compare: SnapCompare, demo_db: Path) -> None:
    async def before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        pilot.app.screen.query_one("#schedule", Input).value = "0 61 * * *"
        await settle(pilot)

    assert snap_compare(demo_app(demo_db), terminal_size=(80, 24), run_before=before)


def test_run_detail_finished_agent_run(snap_compare: SnapCompare, demo_db: Path) -> None:
    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=at_run_detail)


def test_run_detail_following_a_running_run(snap_compare: SnapCompare, demo_db: Path) -> None:
    async def before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("3", "down", "l")  # the live pane's second run, followed
        await settle(pilot)

    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=before)


def test_failed_runs_view(snap_compare: SnapCompare, demo_db: Path) -> None:
    async def before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, CronuiApp)
        app.run_command("failed")
        await settle(pilot)

    assert snap_compare(demo_app(demo_db), terminal_size=(120, 36), run_before=before)
