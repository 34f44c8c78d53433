"""The run detail opens any run at once: 100,000 milestones, or one 256 KB line of output. What is on
screen is the start of the content, laid out off the event loop, and the app answers keys meanwhile.
(How long it takes is measured by tests/benchmarks/bench_ui.py --detail, not asserted here.)"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.model import Milestone, Run, RunStatus
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.screens.main import MainScreen
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.widgets.output import OutputView
from cronui.ui.widgets.timeline import TimelineView
from tests.helpers import make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import until

SIZE = (120, 36)
MILESTONES = 100_000
LINE = " ".join(f"word{i}" for i in range(40_000))[: 256 * 1024 - 4] + " END"


async def finished_run(engine: Engine, name: str, command: str = "ok") -> Run:
    await engine.control.add_job(make_job(name, command=command))
    run = await engine.control.trigger(name)
    assert run.id is not None
    for _ in range(100):
        await engine.step()
        await engine.dispatcher.wait_idle()
        got = await engine.store.get_run(run.id)
        if got is not None and got.status.is_final:
            return got
    raise AssertionError("the run did not finish")


def shown(widget: TimelineView | OutputView) -> list[str]:
    """The lines the widget draws in its visible region, as text."""
    return [widget.render_line(y).text.rstrip() for y in range(widget.scrollable_content_region.height)]


async def open_detail(pilot: Pilot[object], app: CronuiApp, run_id: int) -> RunDetailScreen:
    app.open_run(run_id)
    await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None, "the detail")
    screen = app.screen
    assert isinstance(screen, RunDetailScreen)
    return screen


async def test_a_run_with_100k_milestones_opens_at_its_start_and_keys_work(
    app: CronuiApp, engine: Engine, store: SQLiteStore
) -> None:
    run = await finished_run(engine, "chatty")
    assert run.id is not None and run.queued_at is not None
    flood = [Milestone(f"step-{i}", run.queued_at + i, {"i": i}) for i in range(MILESTONES)]
    await store.update_delivery(run.id, "", None, flood)  # the run row now holds 100,000 milestones
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = await open_detail(pilot, app, run.id)
        timeline = detail.query_one(TimelineView)
        assert timeline.preparing and shown(timeline)[0].endswith("queued")  # a first screenful at once
        await pilot.resize_terminal(100, 30)  # resized while the rest is laid out: laid out again, not lost
        await until(pilot, lambda: timeline.line_count >= MILESTONES + 3, "the timeline laid out", timeout=60)
        top = shown(timeline)
        assert top[0].endswith("queued") and top[1].endswith("started")
        assert "step-0 i=0" in top[2] and "step-1 i=1" in top[3]
        timeline.focus()
        await pilot.press("end")  # a key is handled: the end of the timeline is on screen
        await until(pilot, lambda: shown(timeline)[-1].endswith("succeeded"), "the end of the timeline")
        assert "step-99999 i=99999" in shown(timeline)[-2]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back to the jobs")


async def test_a_run_with_one_256kb_line_opens_at_its_start_and_keeps_it_all(
    app: CronuiApp, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    settings.output_cap = 1024 * 1024  # the whole line is kept
    (tmp_path / "line").write_text(LINE)  # more than a command may hold (64 KiB): the job prints a file
    run = await finished_run(engine, "wide", command=f"print-file:{tmp_path / 'line'}")
    assert run.id is not None and run.output == LINE
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = await open_detail(pilot, app, run.id)
        view = detail.query_one(OutputView)
        folded = lambda: not view.preparing and view.virtual_size.height > 1000  # noqa: E731
        await until(pilot, folded, "the line folded", timeout=60)
        top = shown(view)
        assert top[0].startswith("word0 word1 word2") and all(top)  # folded at the pane's width: every row used
        await pilot.press("end")  # a key is handled: the end of the line is reachable
        await until(pilot, lambda: shown(view)[-1].endswith(" END"), "the end of the line")
        await pilot.press("w")  # unwrapped: one line, drawn only as far as it is shown
        await until(pilot, lambda: view.virtual_size.height == 1, "unwrapped")
        await pilot.press("home")
        first = shown(view)[0]
        assert first.startswith("word0 word1") and len(first) == view.scrollable_content_region.width
        await pilot.press("c")  # the full text is still there: copied whole
        assert app.clipboard == LINE
        assert detail.run is not None and detail.run.status is RunStatus.SUCCEEDED
