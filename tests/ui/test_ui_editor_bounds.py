"""The job editor refuses the values every other door refuses, and says why in its error line: the same
bounds and rules as the CLI and job files (cronui.bounds, cronui.jobs.validate), nothing saved."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.screens.job_editor import JobEditor
from tests.ui.make_screenshots import settle
from tests.ui.pilot import open_editor, until

SIZE = (120, 36)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timeout": "9" * 400}, "Timeout: expected at most 366d, got '9999"),
        ({"misfire_grace": "400d"}, "Grace: expected at most 366d, got '400d'"),
        ({"retries": "101"}, "Retries: expected 0 to 100, got 101"),
        ({"tags": "ok b\x1bad"}, "Tags: 'b\\x1bad' must be a non-empty word"),
    ],
    ids=["timeout-400-digits", "grace-400d", "retries", "tag-escape"],
)
async def test_the_editor_shows_why_a_value_is_refused(
    app: CronuiApp, store: SQLiteStore, fields: dict[str, str], message: str
) -> None:
    before = await store.get_job_by_name("nightly-backup")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")  # nightly-backup, the first job
        for field, value in fields.items():
            editor.query_one(f"#{field}", Input).value = value
        await pilot.pause()
        await pilot.press("ctrl+s")
        error = editor.query_one("#editor-error", Static)
        await until(pilot, lambda: message in str(error.render()), f"the refusal {message!r}")
        assert isinstance(app.screen, JobEditor)
    assert await store.get_job_by_name("nightly-backup") == before


async def test_the_editor_refuses_a_url_with_no_host(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        editor.query_one("#name", Input).value = "ping"
        await pilot.click("#kind-http")
        await pilot.pause()
        editor.query_one("#url", Input).value = "http://"
        await pilot.pause()
        await pilot.press("ctrl+s")
        error = editor.query_one("#editor-error", Static)
        await until(pilot, lambda: "URL: 'http://' has no host" in str(error.render()), "the refusal")
        assert isinstance(app.screen, JobEditor)
    assert await store.get_job_by_name("ping") is None
