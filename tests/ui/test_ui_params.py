"""Run-time parameters in the TUI, at 80x24: the editor's Params field declares them (a bad one marked at its
field), and `r` on a job that declares them opens a small form filled with the defaults: Enter runs it with
the values typed, a bad value is said in the form and queues nothing, Escape runs nothing."""

from __future__ import annotations

from textual.widgets import Input, Static

from cronui.engine.engine import Engine
from cronui.model.params import ParamDecl
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.screens.main import MainScreen
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.run_params import RunParamsScreen
from tests.helpers import make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import on_top, open_editor, select, until
from tests.ui.test_ui_editor import fully_visible

SIZE = (80, 24)
PARAMS = {"env": {"default": "staging", "choices": ["staging", "prod"]}, "count": {"type": "int", "default": 3}}


async def test_the_editor_declares_params_and_marks_a_bad_one(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")  # nightly-backup
        field = editor.query_one("#params", Input)
        field.value = "count:int=many"
        field.focus()
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: editor.problems, "the problem")
        assert field.has_class("-invalid")
        assert "Params: count default: expected a whole number, got 'many'" in str(
            editor.query_one("#error-params", Static).render()
        )
        await pilot.pause()
        assert fully_visible(app, editor.query_one("#error-params"))
        field.value = "env=staging [staging|prod]; count:int=3"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
    job = await store.get_job_by_name("nightly-backup")
    assert job is not None and job.params == {
        "count": ParamDecl(type="int", default=3),
        "env": ParamDecl(default="staging", choices=["staging", "prod"]),
    }


async def test_r_asks_for_the_params_and_runs_with_the_values_typed(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    await engine.control.add_job(make_job("deploy", "@yearly", "ok", params=PARAMS))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "deploy")
        await pilot.press("r")
        await until(pilot, lambda: on_top(app, RunParamsScreen), "the run form")
        form = app.screen
        assert isinstance(form, RunParamsScreen)
        count, env = form.query_one("#param-count", Input), form.query_one("#param-env", Input)
        assert (count.value, env.value) == ("3", "staging")  # the defaults, filled in
        assert app.focused is count and fully_visible(app, count) and fully_visible(app, env)
        assert env.placeholder == "staging | prod"

        # a bad value is said in the form; nothing is queued
        count.value = "lots"
        await pilot.press("enter", "enter")  # to the next field, then run
        await pilot.pause()
        assert app.screen is form
        assert (
            str(form.query_one("#run-params-problem", Static).render()) == "count: expected a whole number, got 'lots'"
        )
        assert await store.list_runs(RunFilter(limit=10)) == []

        count.value = "5"
        env.value = "prod"
        env.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the form to close")
        await until(pilot, lambda: app.catalog.by_name["deploy"].last_status is not None, "the run to end")
    (run,) = await store.list_runs(RunFilter(limit=10))
    assert run.params == {"count": 5, "env": "prod"}


async def test_escape_leaves_the_run_form_without_running(app: CronuiApp, store: SQLiteStore, engine: Engine) -> None:
    await engine.control.add_job(make_job("deploy", "@yearly", "ok", params=PARAMS))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "deploy")
        await pilot.press("r")
        await until(pilot, lambda: on_top(app, RunParamsScreen), "the run form")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the form to close")
        await pilot.pause()
    assert await store.list_runs(RunFilter(limit=10)) == []


async def test_the_run_detail_shows_the_params_a_run_ran_with(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    await engine.control.add_job(make_job("deploy", "@yearly", "ok", params=PARAMS))
    run = await engine.control.trigger("deploy", params={"env": "prod"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(app.ctx, run.id))
        await until(pilot, lambda: on_top(app, RunDetailScreen), "the run detail")
        await pilot.pause()
        text = "\n".join(str(w.render()) for w in app.screen.query(Static))
        assert "params count=3 · env=prod" in text
