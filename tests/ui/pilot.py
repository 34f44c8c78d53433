"""Driving the app in Pilot tests: bounded waits for a condition (never fixed sleeps) and the main screen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot

from cronui.ui.app import CronuiApp
from cronui.ui.screens.main import MainScreen


async def until(pilot: Pilot[object], cond: Callable[[], object], what: str = "", timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.01)


def main(app: CronuiApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen
