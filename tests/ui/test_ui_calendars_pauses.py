"""The TUI shows calendars and timed pauses: the editor's next fires strike out those the job's calendars
skip (at 80x24), and the job list says how long a job's timed pause has left."""

from __future__ import annotations

import datetime as dt

from textual.widgets import Static

from cronui.application.context import Cronui
from cronui.application.pauses import pause_job
from cronui.engine.engine import Engine
from cronui.schedule.calendars import parse_calendar
from cronui.ui.app import CronuiApp
from cronui.ui.widgets.job_table import JobTable
from tests.helpers import ms
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, open_editor, until


async def test_the_editor_strikes_out_fires_its_calendars_skip(app: CronuiApp, engine: Engine, settings) -> None:
    # the fake clock is Mon 2026-03-02 08:59:30 UTC; nightly-backup runs 02:30 UTC
    settings.calendars["maint"] = parse_calendar({"dates": [dt.date(2026, 3, 4), "2026-03-06"]})
    job = await engine.control.job("nightly-backup")
    job.skip_calendar = ["maint"]
    await engine.control.update_job(job)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")
        text = editor.query_one("#next-fires", Static).render()
        lines = str(text).splitlines()
        assert [("skipped: calendar" in line) for line in lines] == [False, True, False, True, False]
        struck = [text.plain[s.start : s.end] for s in text.spans if "strike" in str(s.style)]
        assert struck == ["Wed 04 Mar 02:30 UTC", "Fri 06 Mar 02:30 UTC"]


async def test_the_job_list_shows_a_timed_pauses_time_left(app: CronuiApp, engine: Engine, settings, clock) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pause_job(Cronui(settings, engine.store, engine.control, clock), "sync-crm", "72m")
        table = main(app).query_one(JobTable)

        def cell() -> str:
            job = next(j for j in table.rows if j.name == "sync-crm")
            return " ".join(str(c) for c in table.render_cells(job, 0) if c is not None)

        await until(pilot, lambda: "paused · 1h12m left" in cell(), "the pause in the job list")
        clock.set(ms("2026-03-02T10:30:00Z"))
        assert "paused ·" not in cell()
