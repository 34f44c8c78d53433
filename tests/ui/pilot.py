"""Driving the app in Pilot tests: bounded waits for a condition (never fixed sleeps) and the main screen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen

from cronui.ui.app import CronuiApp
from cronui.ui.screens.job_editor import JobEditor
from cronui.ui.screens.main import MainScreen
from tests.ui.make_screenshots import settle


async def until(pilot: Pilot[object], cond: Callable[[], object], what: str = "", timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.01)


def on_top(app: CronuiApp, screen_type: type[Screen[Any]]) -> bool:
    """A screen of that type is on top and has mounted, so it takes keys as a person's would reach it (a
    pushed screen is on top of the stack before its mount has run)."""
    return isinstance(app.screen, screen_type) and app.screen.is_mounted


def main(app: CronuiApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


async def select(pilot: Pilot[object], app: CronuiApp, name: str) -> None:
    """Select the job called `name` in the job list."""
    job = app.catalog.by_name[name]
    assert job.id is not None
    main(app).select_job(job.id)
    await settle(pilot)


async def open_editor(pilot: Pilot[object], app: CronuiApp, key: str = "e") -> JobEditor:
    """Press `key` (e: edit the selected job, n: a new one) and wait for the editor to have mounted: it is
    on top of the stack before that, and what its mount reads (the form as it started, which Escape
    compares with) must not take in a change a test makes meanwhile."""
    await pilot.press(key)
    await until(pilot, lambda: on_top(app, JobEditor), "the editor")
    assert isinstance(app.screen, JobEditor)
    return app.screen
