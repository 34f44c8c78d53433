"""The job editor at the sizes people use: every field of every kind can be reached with the keyboard and
is on screen when it has the focus."""

from __future__ import annotations

from itertools import pairwise

import pytest
from textual.widget import Widget
from textual.widgets import Input, Label, RadioButton, RadioSet

from cronui.model import Job
from cronui.targets import AgentTarget, TargetKind
from cronui.ui.app import CronuiApp
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.job_editor import JobEditor
from cronui.ui.screens.main import MainScreen
from tests.ui.make_screenshots import settle
from tests.ui.pilot import on_top, open_editor, select, until

KIND_FIELDS = {
    TargetKind.SHELL: ["command", "cwd", "env"],
    TargetKind.HTTP: ["method", "url", "headers", "body", "expect_status"],
    TargetKind.AGENT: [
        "base_url",
        "model",
        "api_key_env",
        "message",
        "system",
        "conversation",
        "fallbacks",
        "gate",
        "max_cost",
    ],
}
COMMON_FIELDS = [
    "name",
    "schedule",
    "timezone",
    "overlap",
    "retries",
    "timeout",
    "stagger",
    "node_label",
    "on_success",
    "when",
    "deliver",
    "notify_retries",
    "tags",
    "params",
]


def fully_visible(app: CronuiApp, widget: Widget) -> bool:
    """The whole widget is drawn: not cut off by the dialog or scrolled out of its body."""
    geometry = app.screen.find_widget(widget)
    return geometry.region.height > 0 and geometry.clip.contains_region(geometry.region)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
@pytest.mark.parametrize("kind", list(TargetKind), ids=str)
async def test_every_field_of_every_kind_is_reachable_and_shown(app: CronuiApp, kind: TargetKind, size) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click(f"#kind-{kind}")
        await pilot.pause()
        seen: dict[str, bool] = {}
        for _ in range(80):  # tab through the whole form, once around
            await pilot.press("tab")
            await pilot.pause()
            focused = app.focused
            assert focused is not None
            field = focused.id or ""
            if field in seen:
                break
            seen[field] = fully_visible(app, focused)
        wanted = KIND_FIELDS[kind] + COMMON_FIELDS
        assert [f for f in wanted if f not in seen] == [], f"never focused at {size}"
        assert [f for f in wanted if not seen[f]] == [], f"focused but not on screen at {size}"
        hidden = [f for group in KIND_FIELDS.values() for f in group if f not in KIND_FIELDS[kind] and f in seen]
        assert hidden == [], "the focus went into another kind's fields, which are not shown"
        assert isinstance(editor, JobEditor)


async def test_escape_closes_an_unchanged_form_and_asks_before_throwing_edits_away(app: CronuiApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await open_editor(pilot, app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "an unchanged form to close at once")

        editor = await open_editor(pilot, app)
        jobs = app.catalog.by_name
        original = editor.query_one("#schedule", Input).value
        editor.query_one("#schedule", Input).value = "45 3 * * *"
        await pilot.pause()
        await pilot.press("escape")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the discard question")
        await pilot.press("escape")  # keep editing
        await until(pilot, lambda: app.screen is editor, "the editor again")
        assert editor.query_one("#schedule", Input).value == "45 3 * * *"
        await pilot.press("escape")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the discard question")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        assert [j.schedule for j in jobs.values() if j.schedule == "45 3 * * *"] == []
        assert original != "45 3 * * *"


async def test_the_kind_highlight_starts_on_the_jobs_own_kind(app: CronuiApp, engine) -> None:
    await engine.control.add_job(
        Job("digest", "@daily", "UTC", TargetKind.AGENT, AgentTarget(base_url="http://m/v1", model="m", message="hi"))
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: "digest" in app.catalog.by_name, "the new job")
        await select(pilot, app, "digest")
        kinds = (await open_editor(pilot, app)).query_one("#kind", RadioSet)
        await pilot.pause()
        highlighted = [b.id for b in kinds.query(RadioButton) if b.has_class("-selected")]
        assert (kinds.pressed_button and kinds.pressed_button.id, highlighted) == ("kind-agent", ["kind-agent"])


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
@pytest.mark.parametrize("kind", list(TargetKind), ids=str)
async def test_no_label_touches_its_field_and_no_hint_is_cut(app: CronuiApp, kind: TargetKind, size) -> None:
    """'Max costUSD' read as one word: every label ends before its field with a blank between, and every
    field's hint (placeholder) and every choice shown fits the field."""
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click(f"#kind-{kind}")
        await pilot.pause()
        touching, cut = [], []
        for row in editor.query(".row"):
            if not row.display or not row.parent or not row.parent.display:
                continue
            children = [w for w in row.children if w.display]
            for label, field in pairwise(children):
                if isinstance(label, Label):
                    text = str(label.render()).rstrip()
                    if label.region.x + len(text) >= field.region.x:
                        touching.append(f"{text.strip()}|{field.id}")
            for inp in row.query(Input):
                if inp.placeholder and len(inp.placeholder) > inp.content_region.width:
                    cut.append(f"{inp.id}: {inp.placeholder!r} in {inp.content_region.width}")
        assert touching == [] and cut == [], f"at {size}"
