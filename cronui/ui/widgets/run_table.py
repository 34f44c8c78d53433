"""Run lists (one job's history, or every job's runs): paged, newest first, drawn line by line."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from rich.text import Text

from cronui.model import Run, RunStatus, Trigger
from cronui.timefmt import human_span
from cronui.ui.catalog import Catalog
from cronui.ui.times import ZoneMode, short_time, zone_for
from cronui.ui.widgets.status import MARK, RETRY_MARK
from cronui.ui.widgets.table import Column, VirtualTable


def trigger_text(run: Run, max_attempts: int | None) -> str:
    if run.trigger is Trigger.RETRY or run.attempt > 1:
        return f"retry {run.attempt}/{max_attempts}" if max_attempts else f"retry {run.attempt}"
    return str(run.trigger)


def cost_text(cost: float | None) -> str:
    if cost is None:
        return "—"
    return f"${cost:.3f}" if cost < 10 else f"${cost:,.2f}"


def note_text(run: Run) -> str:
    if run.status is RunStatus.SKIPPED and run.reason:
        reason = run.reason
        if run.missed_count > 1:
            reason += f" ×{run.missed_count}"
        return reason
    if run.error:
        return run.error.splitlines()[0] if run.error.strip() else run.error
    if run.reason:
        return run.reason
    if run.delivery_status and run.delivery_status != "delivered":
        return f"delivery {run.delivery_status}" + (f": {run.delivery_reason}" if run.delivery_reason else "")
    if run.summary:
        return run.summary
    return ""


class RunTable(VirtualTable[Run]):
    empty_text = "no runs yet"

    def __init__(self, catalog: Catalog, now_ms: Callable[[], int], *, show_job: bool, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.catalog = catalog
        self.now_ms = now_ms
        self.zone_mode = ZoneMode.JOB
        self.local_zone = "UTC"
        self.show_job = show_job
        cols = [Column("id", "RUN", 7, priority=70, align="right")]
        if show_job:
            cols.append(Column("job", "JOB", 18, priority=96))
        cols += [
            Column("status", "STATUS", 13, priority=95),
            Column("trigger", "TRIGGER", 9, priority=50),
            Column("started", "STARTED", 12, priority=80),
            Column("duration", "DURATION", 8, priority=75, align="right"),
            Column("cost", "COST", 7, priority=40, align="right"),
            Column("note", "NOTE", 6, priority=20, flex=True),
        ]
        self.columns = cols

    def row_key(self, row: Run) -> Hashable:
        return row.id

    def header_cells(self) -> list[Text | str | None]:
        cells = super().header_cells()
        if self.zone_mode is not ZoneMode.JOB:  # say which zone the times are in when it is not the job's
            index = [c.key for c in self.columns].index("started")
            cells[index] = "UTC TIME" if self.zone_mode is ZoneMode.UTC else "LOCAL TIME"
        return cells

    def set_rows(self, rows: list[Run], *, keep_cursor: bool = True) -> None:
        if self.show_job:
            self.fit_column("job", (r.job_name for r in rows), 8, 32)
        super().set_rows(rows, keep_cursor=keep_cursor)

    def render_cells(self, run: Run, index: int) -> list[Text | str | None]:
        job = self.catalog.jobs.get(run.job_id)
        zone = zone_for(self.zone_mode, job.timezone if job else None, self.local_zone)
        style = self.status_style(run.status)
        if run.status is RunStatus.PENDING and run.trigger is Trigger.RETRY:
            status = Text(f"{RETRY_MARK} retrying", style)  # waiting for its backoff, not for a free slot
        else:
            status = Text(f"{MARK[run.status]} {run.status}", style)
        started = short_time(run.started_at or run.scheduled_for, zone, self.now_ms())
        if run.status is RunStatus.RUNNING and run.started_at is not None:
            duration = Text(human_span(self.now_ms() - run.started_at), style)
        else:
            duration = Text(human_span(run.duration_ms) if run.duration_ms is not None else "—")
        cells: list[Text | str | None] = [Text(f"#{run.id}", self.component_style("status--dim"))]
        if self.show_job:
            cells.append(run.job_name or (job.name if job else f"job {run.job_id}"))
        cells += [
            status,
            trigger_text(run, job.max_retries + 1 if job and job.max_retries else None),
            started,
            duration,
            cost_text(run.cost_usd),
            Text(note_text(run), self.component_style("status--dim")),
        ]
        return cells
