"""Run lists (one job's history, or every job's runs): paged, newest first, drawn line by line."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

from rich.text import Text

from cronui.model import Run, RunStatus, Trigger
from cronui.present import error_summary
from cronui.timefmt import human_span
from cronui.ui import prefs
from cronui.ui.catalog import Catalog
from cronui.ui.times import ZoneMode, short_time, zone_for
from cronui.ui.widgets.status import MARK, RETRY_MARK
from cronui.ui.widgets.table import Column, VirtualTable


def trigger_text(run: Run, max_attempts: int | None) -> str:
    if run.trigger is Trigger.RETRY or run.attempt > 1:
        return f"retry {run.attempt}/{max_attempts}" if max_attempts else f"retry {run.attempt}"
    return str(run.trigger)


def cost_text(cost: float | None) -> str:
    """A cost in dollars, the same everywhere: tenths of a cent below $10, cents above; a cost too small
    to show says so rather than reading as nothing ("<$0.001"); unknown is a dash, never $0."""
    if cost is None:
        return "—"
    if 0 < cost < 0.0005:
        return "<$0.001"
    return f"${cost:.3f}" if cost < 10 else f"${cost:,.2f}"


def note_text(run: Run) -> str:
    if run.status is RunStatus.SKIPPED and run.reason:
        reason = run.reason
        if run.missed_count > 1:
            reason += f" ×{run.missed_count}"
        return reason
    if run.error:
        return error_summary(run.error) or run.error
    if run.reason:
        return run.reason
    if run.delivery_status and run.delivery_status != "delivered":
        return f"delivery {run.delivery_status}" + (f": {run.delivery_reason}" if run.delivery_reason else "")
    if run.summary:
        return run.summary
    return ""


RUN_SORTS: dict[str, Callable[[Run], Any]] = {
    "id": lambda r: r.id or 0,
    "job": lambda r: (r.job_name.casefold(), r.id or 0),
    "status": lambda r: (str(r.status), r.id or 0),
    "trigger": lambda r: (str(r.trigger), r.id or 0),
    "started": lambda r: (r.started_at or r.scheduled_for, r.id or 0),
    "duration": lambda r: (r.duration_ms if r.duration_ms is not None else -1, r.id or 0),
    "cost": lambda r: (r.cost_usd if r.cost_usd is not None else -1.0, r.id or 0),
}
"""How runs sort by each column (ties broken by run id). The store hands them out newest first."""
COST_PRIORITY = 40  # COST stays before NOTE while any run shown has a cost
FIRST_DESCENDING = {"id", "started", "duration", "cost"}  # a first click shows the newest, longest, dearest


def newest_index(rows: list[Run]) -> int:
    """Where the newest run (the highest id) is among `rows` (0 when there are none)."""
    return max(range(len(rows)), key=lambda i: rows[i].id or 0, default=0)


class RunTable(VirtualTable[Run]):
    """Runs in the order chosen by column (newest first unless told otherwise). The cursor follows the
    newest run as runs arrive while it is on the newest one; once moved elsewhere it stays on its run."""

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
            Column("cost", "COST", 7, priority=COST_PRIORITY, align="right"),
            Column("note", "NOTE", 6, priority=20, flex=True),
        ]
        self.columns = cols
        self._widened: tuple[str, int] | None = None  # the sorted column, and its width before
        self._newest_id: int | None = None  # of the rows shown (older pages never bring a newer one)
        self.following = True  # the cursor is on the newest run and goes with it when a newer one comes

    @property
    def sort_keys(self) -> list[str]:
        """The columns runs can be sorted by, in the order `s` steps through them."""
        return [c.key for c in self.columns if c.key in RUN_SORTS]

    def set_sort(self, key: str | None, descending: bool = False) -> None:
        """Sort by this column (None: newest first, as the store hands runs out)."""
        if (key == "id" and descending) or key not in RUN_SORTS:
            key, descending = None, False
        self.sort_key, self.sort_reverse = key, descending
        # the sorted column's title keeps room for its marker (▲ ▼); a column no longer sorted gets its width back
        widths = {c.key: c.width for c in self.columns}
        if self._widened is not None:
            widths[self._widened[0]] = self._widened[1]
            self._widened = None
        if key is not None:
            self._widened = (key, widths[key])
        self.columns = [
            replace(c, width=max(widths[c.key], len(c.title) + 2) if c.key == key else widths[c.key])
            for c in self.columns
        ]
        self.invalidate_layout()
        self.following = False
        self.set_rows(list(self.rows))
        if self.rows:
            self.cursor = 0  # the top of the new order (following the newest again when it is there)

    def next_sort(self) -> None:
        """`s`: sort by the next column (newest first after the last), in its natural direction."""
        keys: list[str | None] = [None, *(k for k in self.sort_keys if k != "id")]
        key = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else None
        self.set_sort(key, key in FIRST_DESCENDING)

    def reverse_sort(self) -> None:
        """`S`: the same column the other way round."""
        self.set_sort(self.sort_key or "id", False if self.sort_key is None else not self.sort_reverse)

    def sort_by_header(self, key: str) -> None:
        """A click on a column title: sort by it, or turn the order round when it sorts already."""
        if key == (self.sort_key or "id"):
            self.reverse_sort()
        elif key in RUN_SORTS:
            self.set_sort(key, key in FIRST_DESCENDING)

    @property
    def oldest_id(self) -> int | None:
        """Where the next page of older runs starts (whatever the order they are shown in)."""
        return min((r.id for r in self.rows if r.id is not None), default=None)

    def recall_sort(self) -> None:
        """The order chosen last time (in any run list)."""
        key, descending = prefs.run_sort()
        self.set_sort(key, descending)

    def remember_sort(self) -> None:
        prefs.save_run_sort(self.sort_key, self.sort_reverse)

    @property
    def sort_words(self) -> str:
        """The order in words, for a title: "newest first", "by duration, descending"."""
        if self.sort_key is None:
            return "newest first"
        title = next((c.title for c in self.columns if c.key == self.sort_key), self.sort_key).lower()
        return f"by {title}, {'descending' if self.sort_reverse else 'ascending'}"

    def _sorted(self, rows: list[Run]) -> list[Run]:
        if self.sort_key is None:
            return sorted(rows, key=RUN_SORTS["id"], reverse=True)
        return sorted(rows, key=RUN_SORTS[self.sort_key], reverse=self.sort_reverse)

    def follow_newest(self) -> None:
        """Put the cursor on the newest run now, and keep it there as newer ones arrive."""
        self.following = True
        if self.rows:
            self.cursor = newest_index(self.rows)

    def watch_cursor(self, old: int, new: int) -> None:
        # moved by the user (keys, mouse, select_key): following only while on the newest run
        run = self.rows[new] if 0 <= new < len(self.rows) else None
        self.following = run is not None and run.id == self._newest_id
        super().watch_cursor(old, new)

    def row_key(self, row: Run) -> Hashable:
        return row.id

    @property
    def one_zone(self) -> str | None:
        """The zone every time in the list is shown in; None when each run's job's own zone is used (one
        job's runs: one zone anyway). A list of many jobs' runs never mixes zones: local unless UTC."""
        if self.zone_mode is ZoneMode.UTC:
            return "UTC"
        if self.zone_mode is ZoneMode.LOCAL or self.show_job:
            return self.local_zone
        return None

    def header_cells(self) -> list[Text | str | None]:
        cells = super().header_cells()
        if self.one_zone is not None:  # say which zone the times are in when it is not the job's
            index = [c.key for c in self.columns].index("started")
            title = "UTC TIME" if self.zone_mode is ZoneMode.UTC else "LOCAL TIME"
            if self.sort_key == "started":
                title += " ▼" if self.sort_reverse else " ▲"
            cells[index] = title
        return cells

    def set_rows(self, rows: list[Run], *, keep_cursor: bool = True) -> None:
        """Show `rows` in the chosen order. The cursor goes to the newest run when it was there (or
        `keep_cursor` is off); otherwise it stays on the run it was on."""
        if self.show_job:
            self.fit_column("job", (r.job_name for r in rows), 8, 32)
        self._rank_cost(rows)
        rows = self._sorted(rows)
        self._newest_id = max((r.id or 0 for r in rows), default=None)
        follow = self.following or not keep_cursor
        super().set_rows(rows, keep_cursor=keep_cursor and not follow)
        if follow and rows:
            index = newest_index(rows)
            self.set_reactive(RunTable.cursor, index)
            self._scroll_to_cursor()
            self.post_message(self.Highlighted(self, index))  # type: ignore[arg-type]
            self._maybe_need_more()
        self.following = follow

    def _rank_cost(self, rows: list[Run]) -> None:
        """Runs that cost nothing known (shell, HTTP) make COST a column of dashes: NOTE (why a run failed)
        then comes before it, at a width that can be read, and COST goes first when the table is narrow."""
        priced = any(r.cost_usd is not None for r in rows)
        shape = {"cost": (7, COST_PRIORITY), "note": (6, 20)} if priced else {"cost": (7, 0), "note": (14, 45)}
        if any(c.key in shape and (c.width, c.priority) != shape[c.key] for c in self.columns):
            self.columns = [
                replace(c, width=shape[c.key][0], priority=shape[c.key][1]) if c.key in shape else c
                for c in self.columns
            ]
            self.invalidate_layout()

    def append_rows(self, rows: list[Run]) -> None:
        """More (older) runs from the store: in the chosen order with the rest, the cursor on its run."""
        self._rank_cost([*self.rows, *rows])
        if self.sort_key is None:
            super().append_rows(rows)
            return
        current = self.current
        self.rows = self._sorted([*self.rows, *rows])
        self._asked_more = False
        if current is not None:
            self.set_reactive(RunTable.cursor, next(i for i, r in enumerate(self.rows) if r is current))
        self._update_virtual_size()
        self._scroll_to_cursor()
        self.refresh()

    def render_cells(self, run: Run, index: int) -> list[Text | str | None]:
        job = self.catalog.jobs.get(run.job_id)
        zone = self.one_zone or zone_for(self.zone_mode, job.timezone if job else None, self.local_zone)
        style = self.status_style(run.status)
        if run.status is RunStatus.PENDING and run.trigger is Trigger.RETRY:
            status = Text(f"{RETRY_MARK} retrying", style)  # waiting for its backoff, not for a free slot
        elif run.status is RunStatus.AWAITING_APPROVAL:
            status = Text(f"{MARK[run.status]} approval", style)  # the whole word does not fit the column
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
