"""Run lists: the cursor follows the newest run (unless moved away), runs sort by column (keys and a click
on a title, remembered for the next session), and a list of many jobs' runs shows one zone, named."""

from __future__ import annotations

from textual.pilot import Pilot

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.model import Run, RunStatus, Trigger
from cronui.store.sqlite import SQLiteStore
from cronui.ui import prefs
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.runs import RunsScreen
from cronui.ui.widgets.job_table import JobTable
from cronui.ui.widgets.run_table import RunTable
from tests.helpers import make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, select, until

SIZE = (120, 36)


async def add_runs(store: SQLiteStore, job_name: str, durations_ms: list[int], now: int) -> list[int]:
    """Finished runs of this job, oldest first, one a minute, with these durations; their ids."""
    job = await store.get_job_by_name(job_name)
    assert job is not None and job.id is not None
    ids = []
    for i, duration in enumerate(durations_ms):
        at = now - 3_600_000 + i * 60_000
        run = Run(
            job_id=job.id,
            trigger=Trigger.SCHEDULE,
            scheduled_for=at,
            status=RunStatus.SUCCEEDED,
            queued_at=at,
            started_at=at,
            finished_at=at + duration,
            duration_ms=duration,
        )
        ids.append((await store.insert_run(run)).id)
    return ids


def cursor_id(table: RunTable) -> int | None:
    return table.current.id if table.current else None


async def open_runs_view(pilot: Pilot[object], app: CronuiApp) -> RunTable:
    app.open_runs(failed=False)
    await until(pilot, lambda: isinstance(app.screen, RunsScreen) and bool(app.screen.query(RunTable)), "the view")
    table = app.screen.query_one(RunTable)
    await until(pilot, lambda: bool(table.rows), "the runs")
    return table


async def test_run_now_moves_the_runs_cursor_to_the_new_run(app: CronuiApp, store: SQLiteStore, engine: Engine) -> None:
    await add_runs(store, "nightly-backup", [1000, 2000, 3000], engine.clock.now_ms())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = main(app).query_one(RunTable)
        await until(pilot, lambda: len(runs.rows) == 3, "the job's runs")
        await pilot.press("2", "down", "down")  # the user looks at the oldest run
        oldest = cursor_id(runs)
        assert oldest == min(r.id or 0 for r in runs.rows)
        await pilot.press("1", "r")  # run the job now: the pane goes to the new run
        await until(pilot, lambda: len(runs.rows) == 4, "the new run")
        assert cursor_id(runs) == max(r.id or 0 for r in runs.rows) != oldest


async def test_a_new_run_takes_the_cursor_only_when_it_was_on_the_newest(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    ids = await add_runs(store, "nightly-backup", [1000, 2000, 3000], engine.clock.now_ms())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = main(app).query_one(RunTable)
        await until(pilot, lambda: len(runs.rows) == 3, "the job's runs")
        assert cursor_id(runs) == ids[-1]
        first = await engine.control.trigger("nightly-backup")  # arrives while the cursor is on the newest
        await until(pilot, lambda: cursor_id(runs) == first.id, "the cursor on the arriving run")
        await pilot.press("2", "down")  # moved away: it stays on its run
        held = cursor_id(runs)
        assert held == ids[-1]
        second = await engine.control.trigger("nightly-backup")
        await until(pilot, lambda: second.id in {r.id for r in runs.rows}, "the second run listed")
        await settle(pilot)
        assert cursor_id(runs) == held
        await pilot.press("home")  # back on the newest: following again
        third = await engine.control.trigger("nightly-backup")
        await until(pilot, lambda: cursor_id(runs) == third.id, "the cursor on the third run")


async def test_run_again_in_the_runs_view_goes_to_the_new_run(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    ids = await add_runs(store, "nightly-backup", [1000, 2000], engine.clock.now_ms())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = await open_runs_view(pilot, app)
        await pilot.press("end")
        assert cursor_id(table) == ids[0]
        await pilot.press("R")
        await until(pilot, lambda: len(table.rows) == 3, "the new run")
        await until(pilot, lambda: cursor_id(table) == max(ids) + 1, "the cursor on the new run")


async def test_run_again_in_run_detail_shows_the_new_run_and_escape_goes_back_to_the_list(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    ids = await add_runs(store, "nightly-backup", [1000, 2000], engine.clock.now_ms())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = await open_runs_view(pilot, app)
        await pilot.press("end", "enter")  # the oldest run
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run's detail")
        old = app.screen
        assert isinstance(old, RunDetailScreen) and old.run_id == ids[0]
        await pilot.press("R")
        new_id = max(ids) + 1
        await until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id == new_id, "the new run"
        )
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        await until(pilot, lambda: detail.run is not None and detail.run.job_name == "nightly-backup", "it read")
        await pilot.press("escape")  # the new run took the old one's place: back to the list
        await until(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs list")
        await until(pilot, lambda: new_id in {r.id for r in table.rows}, "the new run listed")


async def test_runs_sort_by_key_and_by_a_click_on_a_title_and_it_is_remembered(
    settings: Settings, app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    durations = [5000, 1000, 9000, 3000]
    ids = await add_runs(store, "nightly-backup", durations, engine.clock.now_ms())
    by_duration = [i for _, i in sorted(zip(durations, ids, strict=True), reverse=True)]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = await open_runs_view(pilot, app)
        assert [r.id for r in table.rows] == ids[::-1]  # newest first
        await pilot.press("s")  # next column: the job's name (all the same here: by id)
        assert table.sort_key == "job"
        await pilot.press("s", "s", "s", "s")  # status, trigger, started, duration
        assert table.sort_key == "duration"
        assert [r.id for r in table.rows] == by_duration  # longest first
        header = table.render_line(0).text
        assert "DURATION ▼" in header
        await pilot.press("S")
        assert [r.id for r in table.rows] == by_duration[::-1]
        # a click on the RUN title sorts by it (newest first), a second click turns it round
        x = header.index("RUN")
        await pilot.click(RunTable, offset=(x + 1, 0))
        assert table.sort_key is None and [r.id for r in table.rows] == ids[::-1]
        await pilot.click(RunTable, offset=(x + 1, 0))
        assert [r.id for r in table.rows] == ids and "RUN ▲" in table.render_line(0).text
        x = table.render_line(0).text.index("DURATION")
        await pilot.click(RunTable, offset=(x + 1, 0))
        assert [r.id for r in table.rows] == by_duration
    assert prefs.run_sort() == ("duration", True)
    again = make_app(settings, store, engine=engine, cursor_blink=False)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = main(again).query_one(RunTable)  # the main screen's runs pane too
        await until(pilot, lambda: len(runs.rows) == 4, "the job's runs")
        assert [r.id for r in runs.rows] == by_duration
        await pilot.press("2", "S")  # `s`/`S` sort the focused list: here the runs
        assert [r.id for r in runs.rows] == by_duration[::-1]
        jobs = main(again).query_one(JobTable)
        assert jobs.sort_key == "name" and not jobs.sort_reverse  # the job list kept its order


async def test_many_jobs_runs_are_shown_in_one_zone_named_in_the_header(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    await engine.control.add_job(make_job("tokyo-report", timezone="Asia/Tokyo"))
    now = engine.clock.now_ms()
    await add_runs(store, "tokyo-report", [1000], now)
    await add_runs(store, "nightly-backup", [1000], now)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "tokyo-report")
        pane = main(app).query_one(RunTable)  # one job's runs: in its own zone
        await until(pilot, lambda: len(pane.rows) == 1, "the job's run")
        column = [c.key for c in pane.columns].index("started")
        assert str(pane.render_cells(pane.rows[0], 0)[column]) == "Mon 16:59:30"
        table = await open_runs_view(pilot, app)
        assert "LOCAL TIME" in table.render_line(0).text
        column = [c.key for c in table.columns].index("started")
        started = {r.job_name: str(table.render_cells(r, 0)[column]) for r in table.rows}
        # both started at the same instant: in one zone (the local one, UTC here) they read the same
        assert started == {"tokyo-report": "Mon 07:59:30", "nightly-backup": "Mon 07:59:30"}
        assert "times in UTC" in str(app.screen.query_one("#all-runs-pane").border_title)
        assert app.screen.where == "Runs · UTC"


async def test_sorted_runs_page_in_the_older_runs_once_each(app: CronuiApp, store: SQLiteStore, engine: Engine) -> None:
    durations = [(i * 7919) % 250 * 100 for i in range(250)]  # 250 runs, durations in no order
    ids = await add_runs(store, "nightly-backup", durations, engine.clock.now_ms())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = await open_runs_view(pilot, app)
        assert len(table.rows) == 200 and table.more  # a page
        table.set_sort("duration", True)
        await pilot.press("end")
        await until(pilot, lambda: not table.more and len(table.rows) == 250, "the rest")
        assert sorted(r.id for r in table.rows) == ids  # each run once
        shown = [r.duration_ms for r in table.rows]
        assert shown == sorted(shown, reverse=True)


async def test_a_jobs_runs_without_cost_give_the_note_its_room(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    """A shell job's COST is all dashes: at 120 columns the runs pane showed 'missed…' and 'HTTP 4…' beside it."""
    job = await store.get_job_by_name("nightly-backup")
    assert job is not None and job.id is not None
    at = engine.clock.now_ms() - 60_000
    failed = Run(job.id, Trigger.SCHEDULE, at, status=RunStatus.FAILED, queued_at=at, started_at=at)
    failed.finished_at, failed.duration_ms, failed.error = at + 900, 900, "exited with code 1"
    await store.insert_run(failed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "nightly-backup")
        runs = main(app).query_one(RunTable)
        await until(pilot, lambda: bool(runs.rows), "the run")
        await until(pilot, lambda: "exited with cod…" in runs.render_line(1).text, "a note that can be read")
        header = runs.render_line(0).text
        assert "NOTE" in header and "COST" not in header
