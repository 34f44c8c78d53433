"""The approvals view (`A`, `:approvals`): runs waiting for approval listed with their job, slot, wait,
deadline and default; `a` approves, `d` asks for a reason and rejects; the same keys in the runs pane
and run detail; a key that cannot act says why; the editor's Approval row sets every approval option."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.model import RunStatus
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.screens.approvals import ApprovalsScreen, ReasonScreen, approval_rows
from cronui.ui.screens.run_detail import RunDetailScreen
from tests.helpers import make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, open_editor, select, until

SIZE = (120, 36)


@pytest.fixture
async def app(settings: Settings, store: SQLiteStore, engine: Engine) -> AsyncIterator[CronuiApp]:
    await engine.control.add_job(make_job("deploy", "0 9 * * *", approval=True, approval_default="approve"))
    await engine.control.add_job(make_job("plain", "0 9 * * *"))
    yield make_app(settings, store, engine=engine, cursor_blink=False)


def table_rows(screen: ApprovalsScreen) -> list[list[str]]:
    table = screen.query_one("#approvals", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_view_lists_waiting_runs_and_approves_and_rejects_them(app: CronuiApp, store: SQLiteStore):
    engine = app.engine
    first = await engine.control.trigger("deploy")
    second = await engine.control.trigger("deploy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen), "the approvals view")
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        await until(pilot, lambda: len(screen.runs) == 2, "two waiting runs")
        rows = table_rows(screen)
        assert [r[0] for r in rows] == [f"#{first.id}", f"#{second.id}"]
        assert [r[1] for r in rows] == ["deploy", "deploy"] and [r[5] for r in rows] == ["run", "run"]
        assert rows[0][4].startswith("in ")  # the time left to its deadline
        assert screen.query_one("#approvals-pane").border_title == "Approvals · 2 runs waiting"
        await pilot.press("a")
        await until(pilot, lambda: len(screen.runs) == 1, "the approved run leaves the view")
        assert (await store.get_run(first.id)).status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUCCEEDED)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ReasonScreen), "the reason question")
        await pilot.press(*"not now")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen) and not screen.runs, "an empty view")
        rejected = await store.get_run(second.id)
        assert rejected.status is RunStatus.SKIPPED and rejected.reason.endswith(": not now")
        assert "No run waits for approval" in str(screen.query_one("#approvals-empty").render())
        await pilot.press("a")  # nothing left: the key says why
        await until(pilot, lambda: any("no run waits for approval" in str(n.message) for n in app._notifications))


async def test_escape_keeps_a_run_waiting(app: CronuiApp, store: SQLiteStore):
    run = await app.engine.control.trigger("deploy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.run_command("approvals")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen) and app.screen.runs, "the view")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ReasonScreen), "the reason question")
        assert isinstance(app.screen.focused, Input)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen), "back in the view")
        assert (await store.get_run(run.id)).status is RunStatus.AWAITING_APPROVAL


async def test_the_keys_work_in_the_runs_pane_and_run_detail(app: CronuiApp, store: SQLiteStore):
    first = await app.engine.control.trigger("deploy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "deploy")
        await pilot.press("2")  # the job's runs
        await until(pilot, lambda: main(app).query_one("#runs-pane").has_focus_within, "the runs pane")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run's detail")
        detail = app.screen
        await until(pilot, lambda: detail.run is not None, "the run loaded")
        await pilot.press("a")
        await until(pilot, lambda: any("approved run" in str(n.message) for n in app._notifications), "approved")
        await until(pilot, lambda: detail.run is not None and detail.run.status is not RunStatus.AWAITING_APPROVAL)
        await pilot.press("a")  # no longer waiting: the key says why
        await until(
            pilot,
            lambda: any(f"run #{first.id} is not waiting for approval" in str(n.message) for n in app._notifications),
            "why not",
        )


def test_rows_say_when_the_deadline_has_passed():
    from cronui.model import Run, Trigger

    run = Run(
        job_id=1,
        trigger=Trigger.SCHEDULE,
        scheduled_for=0,
        id=7,
        job_name="j",
        queued_at=0,
        status=RunStatus.AWAITING_APPROVAL,
        approval_deadline=60_000,
        approval_default="reject",
    )
    [row] = approval_rows([run], 90_000, {"j": "UTC"})
    assert row[0] == "#7" and row[3] == "1m30s" and row[4] == "now" and row[5] == "reject"


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
async def test_the_editor_sets_every_approval_option_and_marks_a_bad_cap(
    app: CronuiApp, store: SQLiteStore, size: tuple[int, int]
) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await select(pilot, app, "plain")
        editor = await open_editor(pilot, app, "e")
        editor.query_one("#approval", Checkbox).value = True
        editor.query_one("#approval_timeout", Input).value = "30m"
        editor.query_one("#approval_default", Select).value = "approve"
        editor.query_one("#approval_max_waiting", Input).value = "0"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: editor.problems, "the problem")
        assert list(editor.problems) == ["approval_max_waiting"]
        assert editor.query_one("#approval_max_waiting").has_class("-invalid")
        message = str(editor.query_one("#error-approval", Static).render())
        assert "Up to: expected 1 to 10000, got 0" in message
        assert not (await store.get_job_by_name("plain")).approval, "nothing saved"

        editor.query_one("#approval_max_waiting", Input).value = "5"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is main(app), "the editor closed")
    job = await store.get_job_by_name("plain")
    assert (job.approval, job.approval_timeout_s, job.approval_default, job.approval_max_waiting) == (
        True,
        1800,
        "approve",
        5,
    )
