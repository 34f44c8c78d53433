"""The run detail says which shared conversation an agent run talked in, and which chain its condition
held back and why (run for real against a loopback chat server)."""

from __future__ import annotations

import pytest

from cronui.engine.engine import Engine
from cronui.model import Job, RunStatus, TargetKind
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.timeline import TimelineView
from tests.engine.servers import ChatServer
from tests.ui.make_screenshots import settle
from tests.ui.test_ui_editor_checks import real_executors  # noqa: F401  (a fixture)
from tests.ui.test_ui_run_detail_unattended import rendered, timeline_text
from tests.ui.test_ui_run_request import open_detail


@pytest.mark.usefixtures("real_executors")
async def test_the_detail_names_the_session_and_the_chain_its_condition_held_back(
    app: CronuiApp, engine: Engine, store: SQLiteStore, llm: ChatServer
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await engine.control.add_job(
            Job(name="publish", schedule="@yearly", timezone="UTC", kind=TargetKind.SHELL, target={"command": "true"})
        )
        job = Job(
            name="writer",
            schedule="@yearly",
            timezone="UTC",
            kind=TargetKind.AGENT,
            target={"base_url": f"{llm.url}/v1", "model": "echo", "message": "x", "conversation": "session:desk"},
            on_success=["publish"],
            chain_options={"on_success": {"publish": {"when": "contains:READY"}}},
        )
        await engine.control.add_job(job)
        first = await engine.control.trigger("writer")
        run = None
        for _ in range(200):
            run = await store.get_run(first.id or 0)
            if run is not None and run.status.is_final:
                break
            await pilot.pause(0.05)
        assert run is not None and run.status is RunStatus.SUCCEEDED
        detail = await open_detail(pilot, app, run.id or 0)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "session  desk · 1 messages sent" in facts
        assert "chain    publish not started: the output does not contain 'READY'" in facts
        timeline = timeline_text(detail.query_one("#milestones", TimelineView))
        assert "chain-not-fired publish not started: the chain's condition did not match · " in timeline
