"""The run detail of unattended agent runs, run for real against a loopback chat server: which model
answered and each one that failed before it with its error, where the cost came from (or that it is
unknown), a gate's skip said plainly, and the fallback and gate milestones readable in the timeline."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from rich.console import Console

from cronui.config import Price, Settings
from cronui.engine.engine import Engine
from cronui.model import Job, Run, RunStatus, TargetKind
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.timeline import TimelineView
from tests.engine.servers import ChatServer
from tests.ui.make_screenshots import settle
from tests.ui.test_ui_editor_checks import real_executors  # noqa: F401  (a fixture)
from tests.ui.test_ui_run_request import open_detail


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = ChatServer()
    await server.start()
    yield server
    await server.stop()


def rendered(widget: StyledStatic) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.render())
    return console.export_text()


def timeline_text(view: TimelineView) -> str:
    return "\n".join(row.plain for row in view.rows)


async def run_once(engine: Engine, store: SQLiteStore, pilot, name: str, **target: object) -> Run:
    spec = {"model": "fail500", "message": "Summarise {job}", **target}
    await engine.control.add_job(Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec))
    first = await engine.control.trigger(name)
    assert first.id is not None
    done: list[Run] = []

    async def final() -> bool:
        run = await store.get_run(first.id)  # type: ignore[arg-type]
        if run is not None and run.status.is_final:
            done.append(run)
        return bool(done)

    for _ in range(200):
        if await final():
            return done[0]
        await pilot.pause(0.05)
    raise AssertionError(f"{name}'s run never ended")


@pytest.mark.usefixtures("real_executors")
async def test_a_run_that_fell_back_shows_who_answered_what_failed_and_an_unknown_cost(
    app: CronuiApp, engine: Engine, store: SQLiteStore, chat: ChatServer
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        run = await run_once(engine, store, pilot, "digest", base_url=f"{chat.url}/v1", fallbacks=["echo"])
        assert run.status is RunStatus.SUCCEEDED and run.answered_by == "echo"
        detail = await open_detail(pilot, app, run.id or 0)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "answered by echo (a fallback)" in facts
        assert "failed   fail500: HTTP 500" in facts and "overloaded" in facts
        assert "cost     unknown" in facts
        timeline = timeline_text(detail.query_one("#milestones", TimelineView))
        assert "model-failed fail500 failed, asking echo · " in timeline


@pytest.mark.usefixtures("real_executors")
async def test_a_run_its_gate_skipped_says_so_plainly(
    app: CronuiApp, engine: Engine, store: SQLiteStore, chat: ChatServer
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        run = await run_once(engine, store, pilot, "quiet-digest", base_url=f"{chat.url}/v1", gate="exit 1")
        assert (run.status, run.reason) == (RunStatus.SKIPPED, "gate")
        detail = await open_detail(pilot, app, run.id or 0)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "gate: the check found nothing to do (exit 1), no model was asked" in facts
        timeline = timeline_text(detail.query_one("#milestones", TimelineView))
        assert "gate-closed nothing to do: the run is skipped, no model asked" in timeline
    assert chat.requests == []


@pytest.mark.usefixtures("real_executors")
async def test_a_priced_run_says_where_its_cost_came_from(
    app: CronuiApp, engine: Engine, store: SQLiteStore, chat: ChatServer, settings: Settings
) -> None:
    settings.prices["echo"] = Price(input=1.0, output=2.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        run = await run_once(engine, store, pilot, "priced", base_url=f"{chat.url}/v1", model="echo")
        assert (run.cost_source, run.cost_usd) == ("prices", pytest.approx((12 * 1.0 + 5 * 2.0) / 1e6))
        detail = await open_detail(pilot, app, run.id or 0)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "cost     <$0.001 (from [prices])" in facts and "answered by echo" in facts
        assert "failed" not in facts.replace("finish", "")
