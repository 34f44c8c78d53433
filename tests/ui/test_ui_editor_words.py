"""The job editor as a new user meets it: every problem at once, whichever field is wrong first; each named
as the form labels it; a zone typed as a city gets the IANA name; the presets follow the schedule; an HTTP
job's expected body has a field; an empty working directory says where the job runs; below 80 columns
labels go above their fields."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, OptionList

from cronui.schedule import PRESETS
from cronui.store.sqlite import SQLiteStore
from cronui.targets import HttpTarget
from cronui.ui.app import CronuiApp
from tests.ui.make_screenshots import settle
from tests.ui.pilot import open_editor, until
from tests.ui.test_ui_editor_checks import fill, text_of


async def test_a_bad_zone_hides_no_other_problem(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await fill(pilot, editor, name="later", timezone="Berlin", schedule="0 61 * * *", command="")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(editor.problems) >= 3, "every problem")
        assert {"timezone", "schedule", "command"} <= set(editor.problems)
        assert "did you mean 'Europe/Berlin'?" in text_of(editor, "#zone-check")
        assert "hour field: 61 is out of range 0-23" in text_of(editor, "#schedule-check")
        assert "Command: the command is empty" in text_of(editor, "#error-command")
        assert "(--tz)" not in text_of(editor, "#zone-check")
        assert app.focused is editor.query_one("#schedule") or app.focused is editor.query_one("#timezone")
    assert await store.get_job_by_name("later") is None


async def test_problems_name_the_fields_as_labelled(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-agent")
        await pilot.pause()
        await fill(pilot, editor, name="ask", base_url="", model="", message="hi")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "base_url" in editor.problems, "the endpoint's problem")
        shown = text_of(editor, "#error-base_url")
        assert shown.startswith("✖ Endpoint: "), shown
        assert "base url" not in shown and "--" not in shown


async def test_retry_notices_without_a_target_name_the_form_fields(app: CronuiApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await fill(pilot, editor, name="noisy", command="true")
        editor.query_one("#notify_retries").value = True  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "notify_retries" in editor.problems, "the notices' problem")
        shown = text_of(editor, "#error-notify_retries")
        assert "Deliver to or Alert to" in shown and "--" not in shown, shown


async def test_a_zone_typed_as_a_city_or_misspelt_gets_the_zone_it_means(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        for typed in ("Berlin", "Europe/Berln"):
            await fill(pilot, editor, timezone=typed)
            assert "did you mean 'Europe/Berlin'?" in text_of(editor, "#zone-check"), typed
        await fill(pilot, editor, timezone="new york")
        assert "did you mean 'America/New_York'?" in text_of(editor, "#zone-check")


@pytest.mark.parametrize(
    ("schedule", "preset"),
    [
        ("@daily", "Daily at midnight"),
        ("@hourly", "Hourly"),
        ("0  9 * * 1-5", "Weekdays at 09:00"),
        ("0 9 * * mon-fri", "Weekdays at 09:00"),
        ("every 1m", "Every minute"),
    ],
)
async def test_the_presets_follow_the_schedule(app: CronuiApp, schedule: str, preset: str) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        presets = editor.query_one("#presets", OptionList)
        await fill(pilot, editor, schedule=schedule)
        assert presets.highlighted is not None
        assert presets.get_option_at_index(presets.highlighted).prompt == preset
        await fill(pilot, editor, schedule="17 3 * * *")
        assert presets.highlighted == len(PRESETS), "a schedule no preset offers: Custom…"


async def test_an_http_job_checks_its_body_from_the_editor(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-http")
        await pilot.pause()
        await fill(pilot, editor, name="health", url="https://example.com/health", expect_body='"ok": true')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is not editor, "the saved job")
    job = await store.get_job_by_name("health")
    assert job is not None and isinstance(job.target, HttpTarget)
    assert job.target.expect_body == '"ok": true'


async def test_an_empty_working_directory_says_where_the_job_runs(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        cwd = editor.query_one("#cwd", Input)
        assert cwd.value == ""
        assert "where the scheduler (TUI or daemon) started" in str(cwd.placeholder)


@pytest.mark.parametrize("size", [(60, 20), (79, 24)], ids=["60x20", "79x24"])
async def test_below_80_columns_labels_go_above_their_fields(app: CronuiApp, size: tuple[int, int]) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        assert editor.has_class("-narrow")
        name = editor.query_one("#name", Input)
        label = next(w for w in name.parent.children if isinstance(w, Label))  # type: ignore[union-attr]
        assert label.region.y < name.region.y, "the label is on its own line above the field"
        assert name.content_region.width >= size[0] - 20, "the field gets the dialog's width"
        for inp in editor.query(Input):
            if inp.display and inp.parent is not None and inp.parent.display:
                assert inp.content_region.width >= 20 or not inp.region, inp.id
