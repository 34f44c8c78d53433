"""The editor's fields for unattended agent jobs and placement: fallbacks, gate and max cost (agent jobs),
stagger, node label and retry notices (every kind). A job with them set opens showing them and saves
them back; bad values are marked at their own fields, all at once."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input

from cronui.model import Job, TargetKind
from cronui.store.sqlite import SQLiteStore
from cronui.targets import AgentTarget, Delivery
from cronui.ui.app import CronuiApp
from tests.ui.make_screenshots import settle
from tests.ui.pilot import open_editor, select, until
from tests.ui.test_ui_editor_checks import fill, text_of

DIGEST = Job(
    "digest",
    "0 7 * * * +137s",
    "UTC",
    TargetKind.AGENT,
    AgentTarget(
        base_url="http://127.0.0.1:9/v1",
        model="big",
        message="Summarise {gate_output}",
        fallbacks=["small", "local@http://127.0.0.1:11434/v1"],
        gate="test -s /tmp/news",
        max_cost_usd=0.25,
    ),
    node_label="gpu",
    max_retries=2,
    delivery=Delivery(mode="always", to="http://127.0.0.1:9/hook", notify_retries=True),
)


async def test_an_agent_job_opens_with_its_unattended_settings_and_saving_keeps_them(
    app: CronuiApp, store: SQLiteStore, engine
) -> None:
    await engine.control.add_job(DIGEST)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: "digest" in app.catalog.by_name, "the job")
        await select(pilot, app, "digest")
        editor = await open_editor(pilot, app)
        shown = {f: editor.query_one(f"#{f}", Input).value for f in ("fallbacks", "gate", "max_cost", "node_label")}
        assert shown == {
            "fallbacks": "small local@http://127.0.0.1:11434/v1",
            "gate": "test -s /tmp/news",
            "max_cost": "0.25",
            "node_label": "gpu",
        }
        assert editor.query_one("#schedule", Input).value == "0 7 * * * +137s"
        assert editor.query_one("#notify_retries", Checkbox).value is True
        await fill(pilot, editor, fallbacks="small, tiny@http://127.0.0.1:8080/v1", max_cost="0.5")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is not editor, "the editor to close after saving")
    saved = await store.get_job_by_name("digest")
    assert saved is not None and isinstance(saved.target, AgentTarget)
    assert saved.target.fallbacks == ["small", "tiny@http://127.0.0.1:8080/v1"]
    assert (saved.target.gate, saved.target.max_cost_usd) == ("test -s /tmp/news", 0.5)
    assert (saved.node_label, saved.delivery.notify_retries, saved.schedule) == ("gpu", True, "0 7 * * * +137s")


async def test_a_stagger_window_moves_the_schedule_by_the_jobs_own_offset(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await fill(pilot, editor, name="spread", schedule="0 * * * *", command="true", stagger="10m")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is not editor, "the editor to close after saving")
    saved = await store.get_job_by_name("spread")
    assert saved is not None
    base, offset = saved.schedule.rsplit(" +", 1)
    assert base == "0 * * * *" and 0 < int(offset.removesuffix("s")) < 600


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
async def test_bad_unattended_settings_are_marked_at_their_fields(
    app: CronuiApp, store: SQLiteStore, size: tuple[int, int]
) -> None:
    before = [j.name for j in await store.list_jobs()]
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-agent")
        await pilot.pause()
        await fill(
            pilot,
            editor,
            name="digest2",
            base_url="http://127.0.0.1:9/v1",
            model="m",
            message="hi",
            fallbacks="small @http://127.0.0.1:1/v1",
            max_cost="-1",
            stagger="2d",
            node_label="bad label!",
        )
        editor.query_one("#notify_retries", Checkbox).value = True
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: editor.problems, "the problems")
        assert sorted(editor.problems) == ["fallbacks", "max_cost", "node_label", "notify_retries", "stagger"]
        assert "Max cost: " in text_of(editor, "#error-gate")
        assert "Stagger: " in text_of(editor, "#error-stagger") and "Node: " in text_of(editor, "#error-stagger")
        assert "retry notices need a target" in text_of(editor, "#error-notify_retries")
        assert "Fallbacks: " in text_of(editor, "#error-fallbacks")
        for field in editor.problems:
            assert editor.query_one(f"#{field}").has_class("-invalid"), field
    assert [j.name for j in await store.list_jobs()] == before
