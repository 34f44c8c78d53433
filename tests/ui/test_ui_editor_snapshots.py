"""Snapshots of the job editor's checks on the demo data: a save refused with every problem at its field.
Update them with `pytest --snapshot-update` after a change you have looked at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from cronui.ui.screens.job_editor import JobEditor
from tests.ui.make_screenshots import demo_app, prepare_demo_db, settle
from tests.ui.pilot import until
from tests.ui.test_ui_snapshots import SnapCompare


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    asyncio.run(prepare_demo_db(path))
    return path


async def refused(pilot: Pilot[object]) -> None:
    """A new job with four problems, saved."""
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    editor = pilot.app.screen
    assert isinstance(editor, JobEditor)
    for field, value in {"name": "bad name", "command": "", "retries": "101", "timeout": "0"}.items():
        editor.query_one(f"#{field}", Input).value = value
    await settle(pilot)
    await pilot.press("ctrl+s")
    await until(pilot, lambda: editor.problems, "the problems")
    await settle(pilot)


def test_job_editor_problems_narrow(snap_compare: SnapCompare, demo_db: Path) -> None:
    """80x24: each problem under its field, the first bad field focused, the count at the bottom."""
    assert snap_compare(demo_app(demo_db), terminal_size=(80, 24), run_before=refused)
