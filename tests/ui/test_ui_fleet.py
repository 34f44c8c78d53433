"""The fleet view (`:overview`, `o`): every job at a glance, the worst first, over three windows."""

from __future__ import annotations

import io
import itertools

from rich.console import Console

from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model import RunStatus
from cronui.model.records import FleetBucket, RunFilter
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.screens.fleet import WINDOWS, FleetScreen, JobLine, bucket_starts, job_lines, summary
from cronui.ui.widgets.run_table import cost_text
from cronui.ui.widgets.styled import StyledStatic
from tests.helpers import make_job, settle
from tests.ui.pilot import until


def table_lines(app: CronuiApp) -> list[str]:
    """The overview's table as plain lines, as a 118-column terminal would show it."""
    console = Console(width=118, record=True, file=io.StringIO())
    console.print(app.screen.query_one("#fleet", StyledStatic).content)
    return [ln for ln in console.export_text().splitlines() if ln.strip()]


async def test_overview_lists_the_worst_job_first_with_its_numbers(
    app: CronuiApp, store: SQLiteStore, engine: Engine, clock: FakeClock
) -> None:
    for _ in range(3):  # sync-crm fails every time, the others succeed
        for name in ("sync-crm", "nightly-backup"):
            await engine.control.trigger(name)
        await settle(engine)
        clock.advance(600)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.catalog.loaded, "the jobs")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen), "the overview")
        pane = app.screen.query_one("#fleet-pane")
        await until(pilot, lambda: "Overview" in str(pane.border_title), "numbers")
        ended = (RunStatus.SUCCEEDED, RunStatus.FAILED)  # skips are not runs that ran
        ran = [r for r in await store.list_runs(RunFilter(limit=1000)) if r.status in ended]
        failed = sum(1 for r in ran if r.status is RunStatus.FAILED)
        assert failed >= 3 and len(ran) - failed == 3  # sync-crm also fired on its own schedule
        assert str(pane.border_title).startswith(f"Overview · last 24 h · 3 jobs · {len(ran)} runs · {failed} failed")
        lines = table_lines(app)
        rows = [ln.split()[0] for ln in lines[1:]]
        assert rows[:2] == ["sync-crm", "nightly-backup"]  # the failing job first; no runs: last
        assert "0%" in lines[1] and "100%" in lines[2]
        await pilot.press("3")
        await until(pilot, lambda: "last 30 d" in str(pane.border_title), "the 30-day window")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FleetScreen), "back")


async def test_command_mode_opens_the_overview(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon", *"overview", "enter")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen), "the overview")


def test_job_lines_sum_buckets_and_sort_worst_first() -> None:
    jobs = {1: make_job("calm"), 2: make_job("flaky"), 3: make_job("idle")}
    for job_id, job in jobs.items():
        job.id = job_id
    t = 1_780_000_000_000
    buckets = [
        FleetBucket(1, t, 4, 4, 0, 10, 0.5),
        FleetBucket(2, t, 4, 2, 2, 0, None),
        FleetBucket(2, t + 3_600_000, 2, 1, 1, 0, 0.25),
        FleetBucket(9, t, 1, 0, 1, 0, None),  # a removed job's history is not listed
    ]
    lines = job_lines(buckets, jobs)
    assert [line.name for line in lines] == ["flaky", "calm", "idle"]
    flaky: JobLine = lines[0]
    assert (flaky.runs, flaky.failed, flaky.cost_usd, flaky.success_rate) == (6, 3, 0.25, 0.5)
    assert lines[2].success_rate is None
    # the title's total and a row's cost per day read alike: small sums are not rounded to a cent or to zero
    assert summary(lines, WINDOWS[0]).endswith("· 3 jobs · 10 runs · 3 failed · $0.750")
    tiny = job_lines([FleetBucket(1, t, 1, 1, 0, 10, 0.0002)], jobs)
    assert summary(tiny, WINDOWS[0]).endswith(" · <$0.001")


def test_a_cost_reads_the_same_everywhere() -> None:
    assert [cost_text(c) for c in (None, 0.0, 0.0002, 0.009, 0.25, 9.9994, 12.5, 1234.5)] == [
        "—",
        "$0.000",
        "<$0.001",
        "$0.009",
        "$0.250",
        "$9.999",
        "$12.50",
        "$1,234.50",
    ]


def test_bucket_starts_cover_the_window_up_to_now() -> None:
    now = 1_780_000_000_000 + 1234
    for window in WINDOWS:
        starts = bucket_starts(window, now)
        assert len(starts) == window.span_ms // window.bucket_ms
        assert starts[-1] <= now < starts[-1] + window.bucket_ms
        assert all(b - a == window.bucket_ms for a, b in itertools.pairwise(starts))


async def test_a_retry_waiting_for_its_backoff_reads_as_retrying(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    from cronui.ui.widgets.run_table import RunTable

    await engine.control.add_job(make_job("flaky", "@yearly", "fail", max_retries=1, retry_delay_s=3600))
    await engine.control.trigger("flaky")
    await settle(engine)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "flaky" in app.catalog.by_name, "the jobs")
        await pilot.press("colon", *"runs", "enter")
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: len(table.rows) >= 2, "the runs")
        cells = [str(table.render_cells(run, i)[2]) for i, run in enumerate(table.rows)]
        assert "↻ retrying" in cells and "✖ failed" in cells
