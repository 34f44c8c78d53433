"""A job's history (`h` on the job list): its changes from the audit log, newest first, each with when, who
(`tui:USER@HOST` for the TUI's own edits), the action and what changed; the key says why when no job is
selected; escape goes back."""

from __future__ import annotations

import io

from rich.console import Console

from cronui.application.caller import host_user
from cronui.ui.app import CronuiApp
from cronui.ui.screens.help import HelpScreen
from cronui.ui.screens.history import HistoryScreen, history_table
from cronui.ui.screens.main import MainScreen
from cronui.ui.widgets.styled import StyledStatic
from tests.ui.make_screenshots import settle
from tests.ui.pilot import on_top, select, until

SIZE = (140, 36)


def shown(screen: HistoryScreen) -> str:
    widget = screen.query_one("#history", StyledStatic)
    assert screen.entries is not None
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(history_table(screen.entries, 0, "UTC", widget))
    return out.getvalue()


async def test_h_opens_the_selected_jobs_history_with_the_tuis_change(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "nightly-backup")
        await pilot.press("space")  # disable it, as the TUI's user
        await until(pilot, lambda: not app.catalog.by_name["nightly-backup"].enabled, "the job disabled")
        # the key is live while a job is selected, and `?` lists it
        [history] = [b for b in app.screen.active_bindings.values() if b.binding.id == "job-history"]
        assert history.binding.key == "h" and history.enabled
        await pilot.press("question_mark")
        await until(pilot, lambda: on_top(app, HelpScreen), "the help")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        out = io.StringIO()
        Console(file=out, width=140, color_system=None).print(help_screen._keys())
        assert "job-history" in out.getvalue() and "who changed it, when, and what" in out.getvalue()
        await pilot.press("escape")
        await until(pilot, lambda: on_top(app, MainScreen), "back from the help")
        await pilot.press("h")
        await until(pilot, lambda: on_top(app, HistoryScreen), "the history view")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(pilot, lambda: screen.entries is not None, "the history read")
        assert screen.entries is not None
        [entry] = screen.entries
        assert (entry.action, entry.who, entry.job_name) == ("disabled", f"tui:{host_user()}", "nightly-backup")
        text = shown(screen)
        assert "disabled" in text and f"tui:{host_user()}" in text and "enabled: true -> false" in text
        assert screen.query_one("#history-pane").border_title == "History · nightly-backup · 1 change"
        await pilot.press("escape")
        await until(pilot, lambda: on_top(app, MainScreen), "back on the job list")


async def test_a_job_with_no_recorded_change_says_so(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "sync-crm")
        await pilot.press("h")
        await until(pilot, lambda: on_top(app, HistoryScreen), "the history view")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(pilot, lambda: screen.entries == [], "the history read")
        assert "no change to sync-crm recorded" in str(screen.query_one("#history", StyledStatic).render())
