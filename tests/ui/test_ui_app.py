"""Pilot tests: the app driven by keys over a real store and engine, on the fake clock and the fake
executor (see conftest). Waits are bounded polls of a condition, never fixed sleeps."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.model import Job, RunStatus
from cronui.model.records import RunFilter
from cronui.schedule import PRESETS
from cronui.store.sqlite import SQLiteStore
from cronui.targets import DEFAULT_DELIVERY_FORMAT, Delivery, HttpTarget, ShellTarget, TargetKind
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.messages import JobsChanged
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.help import HelpScreen
from cronui.ui.screens.job_editor import JobEditor
from cronui.ui.screens.main import MainScreen
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.runs import RunsScreen
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.job_table import JobTable
from cronui.ui.widgets.live import LivePane
from cronui.ui.widgets.output import OutputView
from cronui.ui.widgets.run_table import RunTable
from cronui.ui.widgets.timeline import TimelineView
from tests.helpers import FakeExecutor, make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, on_top, open_editor, select, until

SIZE = (120, 36)


async def type_text(pilot: Pilot[object], text: str) -> None:
    """Put text in the focused input at once (typing key by key is what Textual tests; this is faster)."""
    focused = pilot.app.focused
    assert isinstance(focused, Input), focused
    focused.value = text
    focused.cursor_position = len(text)
    await pilot.pause()


async def command(pilot: Pilot[object], text: str) -> None:
    await pilot.press("colon")
    await type_text(pilot, text)
    await pilot.press("enter")


def names(app: CronuiApp) -> list[str]:
    return [j.name for j in main(app).query_one(JobTable).rows]


# ---------------------------------------------------------------- the main screen


async def test_main_screen_shows_jobs_and_who_schedules(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert names(app) == ["nightly-backup", "research-digest", "sync-crm"]
        header = main(app).query_one(StatusHeader).state
        assert header.scheduler_kind == "owning" and header.scheduler == "scheduling (this process)"
        assert header.jobs == 3 and header.next_text == "in 00:30"  # sync-crm, every 15m, at 09:00
        assert main(app).query_one("#runs-pane").border_title == "2 nightly-backup · runs"


async def test_toggle_enables_and_disables(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space")
        await until(pilot, lambda: not app.catalog.by_name["nightly-backup"].enabled, "disabled")
        job = await store.get_job_by_name("nightly-backup")
        assert job is not None and not job.enabled and job.next_run_at is None
        await pilot.press("space")
        await until(pilot, lambda: app.catalog.by_name["nightly-backup"].enabled, "enabled again")


async def test_delete_asks_first(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the question")
        await pilot.press("escape")
        await settle(pilot)
        assert await store.get_job_by_name("nightly-backup") is not None
        await pilot.press("ctrl+d")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: "nightly-backup" not in names(app), "the job to go")
        assert await store.get_job_by_name("nightly-backup") is None
        assert names(app) == ["research-digest", "sync-crm"]


async def test_filter_narrows_the_list_and_reports_bad_terms(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "tag:ops")
        assert names(app) == ["nightly-backup"]
        assert main(app).query_one("#jobs-pane").border_subtitle == "/tag:ops"
        await pilot.press("enter")
        assert names(app) == ["nightly-backup"]
        assert isinstance(app.focused, JobTable)
        await pilot.press("slash")
        await type_text(pilot, "zone:berlin digest")
        assert names(app) == ["research-digest"]
        prompt = main(app).query_one("#prompt", Input)
        prompt.value = "zone:berlin colour:red"
        await pilot.pause()
        assert "unknown key 'colour'" in str(main(app).query_one("#jobs-pane").border_subtitle)
        assert names(app) == ["research-digest"]  # the last good filter stays
        await pilot.press("enter")  # refused while it is wrong
        assert prompt.has_focus
        await pilot.press("escape")  # clears it
        assert names(app) == ["nightly-backup", "research-digest", "sync-crm"]


async def test_filter_of_names_and_a_changed_job_while_filtered(app: CronuiApp) -> None:
    """Words alone match names as any filter does (any case, each word, `name:` any of its values), in the
    list's order; a job that changes while the list is filtered is shown changed, and sorted anew."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "c")
        assert names(app) == ["nightly-backup", "research-digest", "sync-crm"]
        await type_text(pilot, "cr")
        assert names(app) == ["sync-crm"]
        prompt = main(app).query_one("#prompt", Input)
        for text, shown in [
            ("SYNC-C", ["sync-crm"]),
            ("E I", ["research-digest"]),
            ("name:digest,CRM", ["research-digest", "sync-crm"]),
            ("-backup", ["research-digest", "sync-crm"]),
            ("name:digest,crm y", ["sync-crm"]),
        ]:
            prompt.value = text
            await pilot.pause()
            assert names(app) == shown, text
        prompt.value = "s"
        await pilot.pause()
        assert names(app) == ["research-digest", "sync-crm"]
        job = app.catalog.by_name["research-digest"]
        app.catalog.upsert(replace(job, name="zz-research"))
        app.tell(JobsChanged())
        await until(pilot, lambda: names(app) == ["sync-crm", "zz-research"], "the renamed job sorted last")


async def test_sort_cycles_columns(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")  # next fire first
        assert names(app)[0] == "sync-crm"
        await pilot.press("S")
        assert names(app)[-1] == "sync-crm"


# ---------------------------------------------------------------- the job editor


async def test_create_a_job_from_a_preset(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await type_text(pilot, "health-check")
        presets = editor.query_one("#presets", OptionList)
        presets.focus()
        index = next(i for i, p in enumerate(PRESETS) if p.expr == "*/5 * * * *")
        presets.highlighted = index
        await pilot.press("enter")
        await pilot.pause()
        assert editor.query_one("#schedule", Input).value == "*/5 * * * *"
        check = str(editor.query_one("#schedule-check", Static).render())
        assert "✔ Every 5 minutes" in check
        fires = str(editor.query_one("#next-fires", Static).render())
        assert "Mon 02 Mar 09:00 UTC" in fires and fires.count("UTC") == 5
        editor.query_one("#command", Input).value = "curl -fsS http://127.0.0.1/health"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        job = await store.get_job_by_name("health-check")
        assert job is not None
        assert isinstance(job.target, ShellTarget)
        assert (job.schedule, job.source, job.target.command) == (
            "*/5 * * * *",
            "tui",
            "curl -fsS http://127.0.0.1/health",
        )
        await settle(pilot)
        assert main(app).job is not None and main(app).job.name == "health-check"


async def test_a_bad_schedule_is_shown_in_place_and_blocks_save(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")
        schedule = editor.query_one("#schedule", Input)
        assert app.focused is schedule
        await pilot.press("ctrl+u", *"0 61")  # typed, as a person would
        await type_text(pilot, "0 61 * * *")
        check = str(editor.query_one("#schedule-check", Static).render())
        assert check == "✖ hour field: 61 is out of range 0-23"
        await pilot.press("ctrl+s")  # refused: the problem stays marked at its field
        await until(pilot, lambda: "schedule" in editor.problems, "the refusal")
        assert editor.query_one("#schedule", Input).has_class("-invalid")
        assert isinstance(app.screen, JobEditor)
        editor.query_one("#timezone", Input).value = "Europe/Berln"
        await pilot.pause()
        zone_check = str(editor.query_one("#zone-check", Static).render())
        assert "unknown time zone: 'Europe/Berln' (did you mean 'Europe/Berlin'?)" in zone_check
        await pilot.press("escape")  # cancel changes nothing, once the edits are given up
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the discard question")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        job = await store.get_job_by_name("nightly-backup")
        assert job is not None and job.schedule == "30 2 * * *"


async def test_edit_saves_through_the_same_validation_as_the_cli(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")
        editor.query_one("#name", Input).value = "research-digest"  # taken
        await pilot.pause()  # the editor takes in the edit (which clears old errors) before the save
        await pilot.press("ctrl+s")
        error = editor.query_one("#editor-error", Static)
        await until(pilot, lambda: "already exists" in str(error.render()), "the refusal")
        assert isinstance(app.screen, JobEditor)
        editor.query_one("#name", Input).value = "nightly-backup"
        editor.query_one("#schedule", Input).value = "45 3 * * *"
        editor.query_one("#retries", Input).value = "3"
        editor.query_one("#on_success", Input).value = "sync-crm"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        job = await store.get_job_by_name("nightly-backup")
        assert job is not None and (job.schedule, job.max_retries, job.on_success) == ("45 3 * * *", 3, ["sync-crm"])
        await until(pilot, lambda: app.catalog.by_name["nightly-backup"].schedule == "45 3 * * *", "the list")


async def test_edit_an_http_job_with_any_method_and_save_it_unchanged(
    settings: Settings, store: SQLiteStore, engine: Engine
) -> None:
    target = HttpTarget(url="https://api.example.com/items", method="OPTIONS", expect_status=204)
    await engine.control.add_job(Job("preflight", "*/5 * * * *", "UTC", TargetKind.HTTP, target))
    before = await store.get_job_by_name("preflight")
    app = make_app(settings, store, engine=engine, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")
        assert editor.query_one("#method", Select).value == "OPTIONS"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        after = await store.get_job_by_name("preflight")
        assert after is not None and before is not None
        assert after.target == target
        assert (after.schedule, after.delivery) == (before.schedule, before.delivery)


async def test_editing_a_job_without_delivery_keeps_the_runtime_default_format(
    app: CronuiApp, store: SQLiteStore
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")  # nightly-backup: no delivery
        await until(pilot, lambda: on_top(app, JobEditor), "the editor")
        editor = app.screen
        assert editor.query_one("#deliver_format", Select).value == DEFAULT_DELIVERY_FORMAT
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        job = await store.get_job_by_name("nightly-backup")
        assert job is not None and job.delivery == Delivery()
        assert job.delivery.format == DEFAULT_DELIVERY_FORMAT != "slack"
        # switching delivery on without choosing a format: the runtime default, not "slack"
        editor = await open_editor(pilot, app, "e")
        editor.query_one("#deliver", Select).value = "always"
        editor.query_one("#deliver_to", Input).value = "https://hooks.example.com/T0"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        job = await store.get_job_by_name("nightly-backup")
        assert job is not None
        assert (job.delivery.mode, job.delivery.to) == ("always", "https://hooks.example.com/T0")
        assert job.delivery.format == DEFAULT_DELIVERY_FORMAT != "slack"


async def test_missing_env_references_are_flagged_before_saving(
    app: CronuiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRONUI_TEST_HOOK", raising=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        editor.query_one("#command", Input).value = "curl -d @- ${env:CRONUI_TEST_HOOK}"
        await pilot.pause()
        warning = str(editor.query_one("#env-warnings", Static).render())
        assert "${env:CRONUI_TEST_HOOK}" in warning and "not set" in warning


# ---------------------------------------------------------------- runs, live milestones, detail


async def test_run_now_shows_milestones_live_and_the_outcome(
    app: CronuiApp, store: SQLiteStore, engine: Engine, fake: FakeExecutor
) -> None:
    await engine.control.add_job(make_job("gated", command="gate"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "gated")
        await pilot.press("r")
        live = main(app).query_one(LivePane)
        await until(pilot, lambda: any(r.milestones for r in app.inflight.runs.values()), "a milestone")
        run = next(iter(app.inflight.runs.values()))
        assert run.job_name == "gated" and run.status is RunStatus.RUNNING
        assert [m.name for m in run.milestones] == ["fake-started"]
        lines = [text.plain for text, _ in live._lines]
        assert any("gated" in line and "manual" in line for line in lines)
        assert any("fake-started" in line for line in lines)
        assert main(app).query_one(StatusHeader).state.running == 1
        runs = main(app).query_one(RunTable)
        await until(pilot, lambda: runs.rows and runs.rows[0].status is RunStatus.RUNNING, "the runs pane")
        fake.gate.set()
        await until(pilot, lambda: not app.inflight.runs, "the run to finish")
        assert app.inflight.recent[0].status is RunStatus.SUCCEEDED
        await until(pilot, lambda: app.catalog.by_name["gated"].last_status is RunStatus.SUCCEEDED, "last status")
        await until(pilot, lambda: runs.rows and runs.rows[0].status is RunStatus.SUCCEEDED, "the runs pane")
        assert app.catalog.strips.get(app.catalog.by_name["gated"].id or 0, [])[-1:] == [RunStatus.SUCCEEDED]


async def test_drill_into_a_run(app: CronuiApp, store: SQLiteStore, engine: Engine) -> None:
    job = await engine.control.add_job(make_job("printer", command="print:hello from the run\nsecond line"))
    run = await engine.control.trigger(job.name)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.catalog.by_name["printer"].last_status is RunStatus.SUCCEEDED, "the run")
        await select(pilot, app, "printer")
        await pilot.press("enter")  # into the runs pane
        assert isinstance(app.focused, RunTable)
        await pilot.press("enter")  # into the run
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None, "detail")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run is not None and detail.run.id == run.id
        head = str(detail.query_one("#detail-head", Static).render())
        assert "printer › run #" in head and "succeeded" in head and "trigger manual" in head
        milestones = "\n".join(detail.query_one(TimelineView).plain_lines)
        assert "queued" in milestones and "fake-started" in milestones and "succeeded" in milestones
        view = detail.query_one(OutputView)
        assert view.stdout == "hello from the run\nsecond line"
        await pilot.press("slash")
        await type_text(pilot, "second")
        assert view.matches == [1]
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back")


async def test_cancel_a_running_run_from_its_detail(app: CronuiApp, engine: Engine, store: SQLiteStore) -> None:
    job = await engine.control.add_job(make_job("stuck", command="gate"))
    run = await engine.control.trigger(job.name)
    assert run.id is not None
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: run.id in app.inflight.runs and app.inflight.runs[run.id].started_at, "started")
        app.open_run(run.id, follow=True)
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None, "detail")
        detail = app.screen
        assert detail.query_one(OutputView).follow
        assert "following" in str(detail.query_one("#output-pane").border_title)
        await pilot.press("x")
        await until(pilot, lambda: detail.run is not None and detail.run.status is RunStatus.CANCELLED, "cancelled")
        assert detail.check_action("cancel_run", ()) is False


async def test_runs_view_and_failures_of_the_last_day(app: CronuiApp, engine: Engine, store: SQLiteStore) -> None:
    ok = await engine.control.trigger("nightly-backup")
    bad = await engine.control.trigger("sync-crm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.catalog.by_name["sync-crm"].last_status is RunStatus.FAILED, "the runs")
        await command(pilot, "runs")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs view")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: len(table.rows) == 2, "two runs")
        assert [r.id for r in table.rows] == [bad.id, ok.id]
        await pilot.press("slash")
        await type_text(pilot, "status:failed")
        await pilot.press("enter")
        await until(pilot, lambda: [r.id for r in table.rows] == [bad.id], "the filter")
        await command(pilot, "failed")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.failed, "the failed view")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: [r.id for r in table.rows] == [bad.id], "the failure")
        assert app.screen.query_one("#all-runs-pane").border_title.startswith("Failed runs · last 24 h")
        await command(pilot, "jobs")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back to jobs")


async def test_zone_toggle_changes_run_times(app: CronuiApp, engine: Engine) -> None:
    await engine.control.trigger("research-digest")  # a Europe/Berlin job
    app.settings.timezone = "Asia/Tokyo"  # this machine's zone, for "local"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "research-digest")
        table = main(app).query_one(RunTable)
        await until(pilot, lambda: table.rows, "its run")

        def started() -> str:
            return str(table.render_cells(table.rows[0], 0)[3])

        assert started() == "Mon 09:59:30"  # Berlin
        await pilot.press("t")
        assert started() == "Mon 17:59:30"  # Tokyo
        await pilot.press("t")
        assert started() == "Mon 08:59:30"  # UTC


# ---------------------------------------------------------------- keys, commands, themes, quitting


async def test_footer_offers_only_what_applies(settings: Settings, store: SQLiteStore, engine: Engine) -> None:
    app = make_app(settings, store, engine=engine, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.check_action("edit_job", ()) is False  # no job to edit
        assert screen.check_action("new_job", ()) is True
        assert screen.check_action("cancel_run", ()) is False


async def test_keys_are_remapped_by_binding_id(settings: Settings, store: SQLiteStore, engine: Engine) -> None:
    settings.keys = {"new-job": "a", "help": "f1"}
    app = make_app(settings, store, engine=engine, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("a")
        await until(pilot, lambda: on_top(app, JobEditor), "the editor on the new key")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help on the new key")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(screen._keys())
        keys = console.export_text()
        assert any(line.split()[:1] == ["a"] and "new-job" in line for line in keys.splitlines()), keys


async def test_command_mode_theme_pause_and_resume(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "cronui-dark"
        await command(pilot, "theme cronui-light")
        assert app.theme == "cronui-light"
        await command(pilot, "theme nope")
        assert app.theme == "cronui-light"
        await pilot.press("escape")
        await command(pilot, "pause")
        await until(pilot, lambda: app.catalog.paused, "paused")
        assert main(app).query_one(StatusHeader).state.paused
        assert await store.get_state("paused") is not None
        await command(pilot, "resume")
        await until(pilot, lambda: not app.catalog.paused, "resumed")


async def test_a_bad_user_theme_is_one_toast(
    settings: Settings, store: SQLiteStore, engine: Engine, tmp_path: Path
) -> None:
    from cronui import locations

    folder = locations.user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text("name = [\n")
    (folder / "nameless.toml").write_text('primary = "#123456"\n')
    (folder / "mine.toml").write_text('name = "mine"\nprimary = "#336699"\n')
    settings.theme = "mine"
    app = make_app(settings, store, engine=engine, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "mine"
        toasts = list(app._notifications)
        assert len(toasts) == 1
        assert toasts[0].title == "2 theme files skipped"
        assert "broken.toml" in toasts[0].message and "nameless.toml" in toasts[0].message


async def test_quitting_while_runs_are_in_flight_asks_first(app: CronuiApp, engine: Engine, fake: FakeExecutor) -> None:
    await engine.control.add_job(make_job("long", command="gate"))
    await engine.control.trigger("long")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: engine.dispatcher.active, "a run in flight")
        await pilot.press("q")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the question")
        body = str(app.screen.query_one("#confirm-body", Static).render())
        assert "stops scheduling" in body
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
        fake.gate.set()


async def test_quitting_with_nothing_in_flight_just_quits(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 0


async def test_narrow_terminal_keeps_job_names_whole(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.has_class("-narrow")
        table = screen.query_one(JobTable)
        layout = table.fit_columns(table.scrollable_content_region.width)
        kept = [c.key for c, _ in layout]
        assert "name" in kept and "next" in kept and "last" in kept
        name_width = dict((c.key, w) for c, w in layout)["name"]
        assert name_width >= max(len(n) for n in names(app))


async def test_store_listing_is_paged_in_the_runs_pane(app: CronuiApp, engine: Engine, store: SQLiteStore) -> None:
    from cronui.model import Run, Trigger

    job = app_job = await store.get_job_by_name("nightly-backup")
    assert job is not None and job.id is not None
    now = engine.clock.now_ms()
    for i in range(250):
        at = now - 86_400_000 + i * 60_000
        run = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=at, status=RunStatus.SUCCEEDED, queued_at=at)
        await store.insert_run(run)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = main(app).query_one(RunTable)
        assert len(table.rows) == 100 and table.more
        await pilot.press("2", "end")
        await until(pilot, lambda: len(table.rows) == 200, "the next page")
        await pilot.press("end")
        await until(pilot, lambda: len(table.rows) == 250 and not table.more, "the last page")
    total = await store.list_runs(RunFilter(job_id=app_job.id, limit=1000))
    assert len(total) == 250


# ---------------------------------------------------------------- attach mode


async def test_attaches_to_a_daemon_in_another_process(settings: Settings, store: SQLiteStore) -> None:
    """A daemon holds the lease: the TUI says it is attached, and its "run now" is executed by the daemon."""
    import os
    import signal
    import subprocess
    import sys

    from cronui.engine.clock import SystemClock
    from cronui.engine.control import Control

    control = Control(store, settings, SystemClock())
    await control.add_job(make_job("remote", "@yearly", "echo '::milestone remote-step n=1::'; sleep 0.3"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONUI_")}
    env.update(CRONUI_DB=settings.db, CRONUI_TIMEZONE="UTC", CRONUI_LEASE_RENEW="1", CRONUI_LEASE_TTL="3")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "cronui", "daemon"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            lease = await store.get_lease()
            if lease is not None and lease.pid == daemon.pid:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the daemon did not take the lease")
        app = make_app(settings, store, SystemClock(), cursor_blink=False)
        async with app.run_test(size=SIZE) as pilot:
            header = main(app).query_one(StatusHeader)
            await until(pilot, lambda: header.state.scheduler_kind == "attached", "attached")
            assert header.state.scheduler == f"attached to daemon {lease.host}:{daemon.pid}"
            assert not app.engine.holding
            await settle(pilot, owning=False)
            job = app.catalog.by_name["remote"]
            assert job.id is not None
            main(app).select_job(job.id)
            await settle(pilot, owning=False)
            await pilot.press("r")
            # the daemon's milestones reach the live pane through the event log
            await until(
                pilot,
                lambda: (
                    any(m.name == "remote-step" for r in app.inflight.runs.values() for m in r.milestones)
                    or any(r.job_name == "remote" for r in app.inflight.recent)
                ),
                "the daemon's milestones",
            )
            await until(pilot, lambda: app.catalog.by_name["remote"].last_status is RunStatus.SUCCEEDED, "done")
        [run] = await store.list_runs(RunFilter())
        assert run.status is RunStatus.SUCCEEDED and run.node is not None
        assert run.node.split(":")[1] == str(daemon.pid)
        assert [m.name for m in run.milestones] == ["process-started", "remote-step", "process-exited"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)


async def test_keys_typed_faster_than_focus_moves_land_in_the_prompt(app: CronuiApp) -> None:
    """`:failed⏎` arriving in one burst (a paste, a fast typist): the letters must not reach the job
    list's bindings (`l` follow, `e` edit, `d`...) before the prompt has taken the focus."""
    from textual import events

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key, char in [("colon", ":"), *((c, c) for c in "failed"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.failed, "the failed view")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back")
        for key, char in [("slash", "/"), *((c, c) for c in "tag:ops"), ("enter", "\r")]:
            app.post_message(events.Key(key if key != ":" else "colon", char))
        await until(pilot, lambda: names(app) == ["nightly-backup"], "the filter")


async def test_quitting_the_scheduling_app_interrupts_its_runs_and_releases_the_lease(
    settings: Settings, store: SQLiteStore, clock, fake: FakeExecutor
) -> None:
    from cronui.engine.control import Control
    from cronui.model import TargetKind

    control = Control(store, settings, clock)
    await control.add_job(make_job("long", command="gate"))
    run = await control.trigger("long")
    app = make_app(settings, store, clock, executors={TargetKind.SHELL: fake}, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.engine.dispatcher.active, "the run to start")
        await pilot.press("q")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert run.id is not None
    final = await store.get_run(run.id)
    assert final is not None and final.status is RunStatus.INTERRUPTED
    assert await store.get_lease() is None


async def test_the_header_never_shows_a_database_password(app: CronuiApp) -> None:
    app.settings.db = "postgresql://cronui:Hdr-Secr3t@db.internal/cronui?sslpassword=Ssl-Secr3t&schema=a"
    async with app.run_test(size=(200, 36)) as pilot:
        await settle(pilot)
        app.refresh_header()
        await pilot.pause()
        header = main(app).query_one(StatusHeader)
        shown = header.render().plain
        assert "postgresql://cronui:***@db.internal/cronui?sslpassword=***&schema=a" in shown, shown
        assert "Secr3t" not in shown and "Secr3t" not in header.state.db
