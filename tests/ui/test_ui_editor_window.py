"""The editor's several schedules, window (Starts / Ends) and DST marks at 80x24, and the window in the job list:
typed as a person types, saved to the store, shown back (the fake clock stands at 2026-03-02 09:00 UTC)."""

from __future__ import annotations

import json

from textual.widgets import Input, Static

from cronui.model import Job, TargetKind
from cronui.store.sqlite import SQLiteStore
from cronui.targets import ShellTarget
from cronui.ui.app import CronuiApp
from cronui.ui.screens.job_info import job_info_text
from cronui.ui.screens.main import MainScreen
from cronui.ui.widgets.job_table import JobTable
from tests.helpers import ms
from tests.ui.make_screenshots import settle
from tests.ui.pilot import open_editor, select, until
from tests.ui.test_ui_editor import fully_visible


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_the_window_fields_are_reached_by_tab_after_the_zone_at_80x24(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        editor.query_one("#timezone", Input).focus()
        await pilot.pause()
        order = []
        for _ in range(2):
            await pilot.press("tab")
            await pilot.pause()
            assert app.focused is not None
            order.append((app.focused.id, fully_visible(app, app.focused)))
        assert order == [("starts", True), ("ends", True)]


async def test_several_schedules_a_start_and_dst_marks_in_the_editor_then_saved(
    app: CronuiApp, store: SQLiteStore
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        for field, value in {
            "name": "twice",
            "schedule": "30 2 * * * ; 0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "starts": "2026-03-28",
            "command": "echo hi",
        }.items():
            editor.query_one(f"#{field}", Input).value = value
        await pilot.pause()
        check = text_of(editor, "#schedule-check")
        assert "At 02:30" in check and "Monday through Friday" in check
        fires = text_of(editor, "#next-fires").splitlines()
        assert len(fires) == 5
        assert "Sat 28 Mar 02:30" in fires[0] and "(" not in fires[0]
        assert "Sun 29 Mar 03:00" in fires[1] and fires[1].endswith("(02:30 does not exist on 29 Mar: moved)")
        assert ["(" in line for line in fires[2:]] == [False, False, False]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
    job = await store.get_job_by_name("twice")
    assert job is not None
    assert json.loads(job.schedule) == ["30 2 * * *", "0 9 * * 1-5"]
    assert job.starts_at == ms("2026-03-27T23:00:00Z") and job.ends_at is None
    assert job.next_run_at == ms("2026-03-28T01:30:00Z")


async def test_a_window_that_does_not_read_is_marked_at_its_field_and_nothing_is_saved(
    app: CronuiApp, store: SQLiteStore
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        for field, value in {"name": "never", "ends": "next week", "command": "true"}.items():
            editor.query_one(f"#{field}", Input).value = value
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(editor.problems), "the problem")
        assert "Ends: expected a date and time such as 2026-04-01T09:00, got 'next week'" in text_of(
            editor, "#error-ends"
        )
    assert await store.get_job_by_name("never") is None


async def test_the_job_list_and_detail_say_when_the_window_ends(app: CronuiApp, engine) -> None:
    now = ms("2026-03-02T08:59:30Z")
    ending = Job("ending", "0 * * * *", "UTC", TargetKind.SHELL, ShellTarget(command="true"))
    ending.ends_at = now + 3 * 86_400_000 + 60_000
    ended = Job("ended", "0 * * * *", "UTC", TargetKind.SHELL, ShellTarget(command="true"))
    ended.ends_at = now - 2 * 3_600_000
    for job in (ending, ended):
        await engine.control.add_job(job)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: "ended" in app.catalog.by_name, "the jobs")
        table = app.screen.query_one(JobTable)
        cells = [str(c) for c in table.render_cells(app.catalog.by_name["ending"], 0)]
        assert "Every hour · ends in 3 days" in cells
        cells = [str(c) for c in table.render_cells(app.catalog.by_name["ended"], 0)]
        assert "Every hour · ended 2 hours ago" in cells and "ended" in cells  # schedules nothing
        assert app.catalog.by_name["ended"].next_run_at is None
        await select(pilot, app, "ending")
        info = job_info_text(app.catalog.by_name["ending"], None, table, now)
        assert "ends in 3 days" in str(info)
