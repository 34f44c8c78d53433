"""Keys that cannot act say why; screenshots land in a folder that exists and the toast names the file;
filter typos get a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from cronui.engine.engine import Engine
from cronui.model import RunStatus
from cronui.ui.app import CronuiApp
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.runs import RunsScreen
from cronui.ui.widgets.job_table import JobTable
from cronui.ui.widgets.run_table import RunTable
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, until


def toasts(app: CronuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_x_on_a_finished_run_and_e_in_the_runs_pane_say_why(app: CronuiApp, engine: Engine) -> None:
    run = await engine.control.trigger("nightly-backup")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.catalog.by_name["nightly-backup"].last_status is RunStatus.SUCCEEDED, "run")
        runs = main(app).query_one(RunTable)
        await until(pilot, lambda: bool(runs.rows), "the run listed")
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.focused, RunTable), "the runs pane")
        await pilot.press("e")
        await until(pilot, lambda: "that key acts on the job list: 1 goes there" in toasts(app), "why not e")
        await pilot.press("x")
        said = f"run #{run.id} already finished (succeeded): nothing to cancel"
        await until(pilot, lambda: said in toasts(app), "why not x")
        await pilot.press("1", "x")  # on the job list: the job has nothing in flight
        await until(pilot, lambda: "nightly-backup has no run in flight" in toasts(app), "why not x on a job")
        assert isinstance(app.focused, JobTable)
        app.open_runs(failed=False)
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and bool(app.screen.query(RunTable)), "view")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: bool(table.rows), "the runs")
        app._notifications.clear()
        await pilot.press("l")
        await until(pilot, lambda: any("nothing more to follow" in t for t in toasts(app)), "why not l")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None, "detail")
        await pilot.press("x", "n")
        await until(pilot, lambda: "nothing searched yet: / searches" in toasts(app), "why not n")
        assert isinstance(app.screen, RunDetailScreen)  # nothing else happened


async def test_screenshot_goes_to_a_folder_made_for_it_and_the_toast_names_the_file(
    app: CronuiApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/Pictures (nor ~/Downloads) yet
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.deliver_screenshot()
        folder = tmp_path / "Pictures" / "cronui"
        await until(pilot, lambda: folder.is_dir() and any(folder.iterdir()), "the file")
        [saved] = list(folder.iterdir())
        assert saved.suffix == ".svg" and "cronui" in saved.read_text()
        await until(pilot, lambda: f"saved to {saved}" in toasts(app), "the toast")
        blocked = tmp_path / "a-file"
        blocked.write_text("")
        assert app.deliver_screenshot(path=str(blocked / "shots")) is None
        said = f"cannot save it in {blocked / 'shots'}: "
        await until(pilot, lambda: any(t.startswith(said) for t in toasts(app)), "why not")


async def test_a_filter_typo_is_hinted(app: CronuiApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        prompt = main(app).query_one("#prompt", Input)
        prompt.value = "stauts:failed"
        await pilot.pause()
        subtitle = str(main(app).query_one("#jobs-pane").border_subtitle)
        assert "unknown key 'stauts'" in subtitle and "did you mean status:?" in subtitle
        prompt.value = "status:faild"
        await pilot.pause()
        assert "did you mean failed?" in str(main(app).query_one("#jobs-pane").border_subtitle)
