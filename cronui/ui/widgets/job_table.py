"""The job list: one line per job, only the lines on screen rendered (see `VirtualTable`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import ClassVar

from rich.text import Text
from textual.message import Message
from textual.strip import Strip

from cronui.model import Job, RunStatus
from cronui.schedule import ScheduleError, describe
from cronui.schedule.multi import display
from cronui.timefmt import human_span
from cronui.ui.catalog import Catalog
from cronui.ui.times import countdown
from cronui.ui.widgets.status import MARK, health_cell, strip_cells
from cronui.ui.widgets.table import SPAN, Column, VirtualTable
from cronui.ui.window_texts import window_words

STATUS_WORD = {
    RunStatus.SUCCEEDED: "ok",
    RunStatus.FAILED: "failed",
    RunStatus.TIMED_OUT: "timeout",
    RunStatus.SKIPPED: "skipped",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.INTERRUPTED: "interrupt",
    RunStatus.RUNNING: "running",
    RunStatus.PENDING: "queued",
    RunStatus.AWAITING_APPROVAL: "approval",
}

SORTS: dict[str, Callable[[Job, Catalog], object]] = {
    "name": lambda j, c: j.name.casefold(),
    "next": lambda j, c: (j.next_run_at is None or not j.enabled, j.next_run_at or 0, j.name),
    "health": lambda j, c: (c.health_rank(j.id), j.name),  # worst first
    "last": lambda j, c: (str(j.last_status or "~"), j.name),
    "kind": lambda j, c: (str(j.kind), j.name),
    "zone": lambda j, c: (j.timezone, j.name),
    "schedule": lambda j, c: (j.schedule, j.name),
}
"""The job list's orders, by the column they sort (`s` steps through them in this order)."""


def reads_as(expr: str) -> str:
    try:
        return describe(expr)
    except ScheduleError:
        return "(cannot read this schedule)"


class JobTable(VirtualTable[Job]):
    empty_text = "no jobs yet — press n to add one"

    class NeedStrips(Message):
        """Rows on screen whose recent outcomes are not loaded yet."""

        def __init__(self, job_ids: list[int]) -> None:
            super().__init__()
            self.job_ids = job_ids

    BASE_COLUMNS: ClassVar[list[Column]] = [
        Column("mark", "", 1, priority=100),
        Column("name", "NAME", 18, priority=99),
        # the longest health ("∅ no success", 12 cells) and a cell to spare: never flush against SCHEDULE
        Column("health", "HEALTH", 13, priority=85),
        Column("schedule", "SCHEDULE", 14, priority=60),
        Column("reads", "READS AS", 14, priority=30, flex=True),
        Column("zone", "ZONE", 13, priority=40),
        Column("kind", "KIND", 5, priority=55),
        Column("last", "LAST", 11, priority=80),
        Column("next", "NEXT", 10, priority=90),
        Column("strip", "LAST 20", 20, priority=45),
    ]

    def __init__(self, catalog: Catalog, now_ms: Callable[[], int], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.catalog = catalog
        self.now_ms = now_ms
        self.running_jobs: set[int] = set()
        self.columns = list(self.BASE_COLUMNS)
        self.sort_key = "name"

    def row_key(self, row: Job) -> Hashable:
        return row.id

    def set_rows(self, rows: list[Job], *, keep_cursor: bool = True) -> None:
        self.fit_column("name", (j.name for j in rows), 10, 40)
        super().set_rows(rows, keep_cursor=keep_cursor)

    def render_line(self, y: int) -> Strip:
        if y == 1:  # once per paint: ask for the outcome strips of the rows on screen
            ids = [r.id for i in self.visible_rows() if (r := self.rows[i]).id is not None]
            missing = self.catalog.missing_strips(ids)
            if missing:
                self.post_message(self.NeedStrips(missing))
        return super().render_line(y)

    def render_cells(self, job: Job, index: int) -> list[Text | str | None]:
        paused = self.catalog.paused
        dim = self.component_style("status--dim")
        warn = self.component_style("status--warning")
        failed = self.status_style(RunStatus.FAILED)
        if job.auto_disabled:
            mark = Text(MARK[RunStatus.FAILED], failed)
        elif not job.enabled:
            mark = Text("○", dim)
        elif paused:
            mark = Text("‖", warn)
        else:
            mark = Text(" ")
        name = Text(job.name, dim if not job.enabled else "")
        running = job.id in self.running_jobs
        last: Text
        if running:
            last = Text(f"{MARK[RunStatus.RUNNING]} running", self.status_style(RunStatus.RUNNING))
        elif job.last_status is not None:
            st = job.last_status
            last = Text(f"{MARK[st]} {STATUS_WORD[st]}", self.status_style(st))
        else:
            last = Text("—", dim)
        strip_status = self.catalog.strip(job.id) if job.id is not None else None
        strip: Text | str | None = strip_cells(strip_status, self) if strip_status else Text("", dim)
        nxt: Text | str | None
        if job.auto_disabled:
            if any(c.key == "strip" for c, _ in self._layout):
                nxt, strip = Text(f"auto-disabled: {job.auto_disabled}", failed), SPAN
            else:
                nxt = Text("auto-off", failed)
        elif not job.enabled:
            nxt = Text("disabled", dim)
        elif paused:
            nxt = Text("paused", warn)
        elif job.paused_until is not None and job.paused_until > self.now_ms():  # a timed pause: its time left
            nxt = Text(f"paused · {human_span(job.paused_until - self.now_ms())} left", warn)
        elif job.next_run_at is None:
            nxt = Text("ended" if job.ends_at is not None else "done", dim)
        else:
            nxt = countdown(job.next_run_at, self.now_ms())
        return [
            mark,
            name,
            health_cell(self.catalog.health_of(job.id), self),
            Text(display(job.schedule), dim if not job.enabled else ""),
            Text(" · ".join(filter(None, [reads_as(job.schedule), window_words(job, self.now_ms())])), dim),
            job.timezone,
            str(job.kind),
            last,
            nxt,
            strip,
        ]
