"""The main screen: the job list, the selected job's runs and stats, and the live pane.

At 120 columns the runs and the live pane sit side by side under the job list; below 100 columns they
stack, and the job list drops its least important columns whole, so job names are never cut.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical

from cronui.model import Job, RunStatus
from cronui.model.records import JobStats
from cronui.ui.context import ScreenContext
from cronui.ui.filters import Filter
from cronui.ui.messages import (
    EngineEvents,
    JobsChanged,
    LiveChanged,
    SelectJob,
    ThemeChanged,
    Tick,
    ZoneChanged,
)
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import (
    APPROVE_RUN,
    BACK,
    CANCEL_RUN,
    FILTER,
    FOLLOW,
    OPEN,
    REJECT_RUN,
    RUN_AGAIN,
    hidden,
)
from cronui.ui.screens.job_info import job_info_text, usage_text
from cronui.ui.screens.job_runs import JobRuns
from cronui.ui.screens.main_keys import MainKeys
from cronui.ui.screens.why import SaysWhyNot
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.job_table import SORTS, JobTable
from cronui.ui.widgets.live import LivePane
from cronui.ui.widgets.prompt import PromptBar
from cronui.ui.widgets.run_table import RunTable
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.table import VirtualTable
from cronui.ui.workers import spawn

NARROW = 100  # below this many columns the lower panes stack
STRIP_RUNS = 20  # outcomes per job in the sparkline


class MainScreen(MainKeys, SaysWhyNot, CronuiScreen):
    KEY_ACTIONS = (
        "edit_job",
        "clone_job",
        "toggle_job",
        "run_now",
        "delete_job",
        "run_again",
        "cancel_run",
        "follow",
        "open",
        "approve_run",
        "reject_run",
        "history",
    )

    @property
    def where(self) -> str:
        return "Jobs"

    BINDINGS: ClassVar[list[BindingType]] = [
        FILTER,
        Binding("n", "new_job", "New", id="new-job", tooltip="Create a job in the editor"),
        Binding("e", "edit_job", "Edit", id="edit-job", tooltip="Edit the selected job"),
        Binding("c", "clone_job", "Clone", id="clone-job", show=False, tooltip="A new job, a copy of the selected one"),
        Binding("space", "toggle_job", "On/off", id="toggle-job", tooltip="Enable or disable the selected job"),
        Binding("r", "run_now", "Run", id="run-now", tooltip="Run the selected job now"),
        Binding(
            "h",
            "history",
            "History",
            id="job-history",
            show=False,
            tooltip="The selected job's history: who changed it, when, and what",
        ),
        hidden(RUN_AGAIN),
        OPEN,
        replace(CANCEL_RUN, description="Cancel"),
        FOLLOW,
        hidden(APPROVE_RUN),
        hidden(REJECT_RUN),
        Binding(
            "ctrl+d",
            "delete_job",
            "Delete",
            id="delete-job",
            tooltip="Delete the selected job (asks first; history is kept)",
        ),
        Binding(
            "s",
            "sort",
            "Sort",
            id="sort",
            show=False,
            tooltip="Sort the focused list by its next column (or click a column's title)",
        ),
        Binding("S", "sort_reverse", "Reverse sort", id="sort-reverse", show=False, tooltip="Reverse the sort order"),
        Binding("1", "focus_pane(1)", "Jobs pane", id="focus-jobs", show=False, tooltip="Focus the job list"),
        Binding(
            "2", "focus_pane(2)", "Runs pane", id="focus-runs", show=False, tooltip="Focus the selected job's runs"
        ),
        Binding("3", "focus_pane(3)", "Live pane", id="focus-live", show=False, tooltip="Focus the runs in flight"),
        hidden(BACK),
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.filter = Filter()
        self._order: tuple[tuple[int, str, bool], list[Job]] | None = None  # see _ordered
        self._names: list[str] | None = None  # the ordered jobs' names, casefolded (see _matching)
        self.job_runs = JobRuns(self, ctx.client, lambda: self.query_one(RunTable), self._job_info)

    def compose(self) -> ComposeResult:
        ctx = self.ctx
        yield StatusHeader()
        with Vertical(id="jobs-pane", classes="pane"):
            yield JobTable(ctx.catalog, ctx.now_ms, id="jobs")
        with Horizontal(id="lower"):
            with Vertical(id="runs-pane", classes="pane"):
                yield RunTable(ctx.catalog, ctx.now_ms, show_job=False, id="runs")
                yield StyledStatic("", id="job-info")
            with Vertical(id="live-pane", classes="pane"):
                yield LivePane(ctx.inflight, ctx.now_ms, id="live")
        yield KeysFooter()
        yield PromptBar()  # after the footer: it covers the footer's line while it is open

    def on_mount(self) -> None:
        self.query_one("#jobs-pane").border_title = "1 Jobs"
        self.query_one("#runs-pane").border_title = "2 Runs"
        self.query_one("#live-pane").border_title = "3 Live"
        self.query_one(RunTable).local_zone = self.ctx.local_zone
        self.query_one(RunTable).recall_sort()
        self.query_one(LivePane).zone = self.ctx.local_zone
        self.query_one(JobTable).focus()
        self.show_jobs()

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        self.set_class(narrow, "-narrow")
        self._lower_titles()

    def _show_lower(self, which: str) -> None:
        """Narrow terminals show the runs pane or the live pane under the jobs, not both."""
        self.set_class(which == "live", "-show-live")
        self._lower_titles()

    def _lower_titles(self) -> None:
        live = self.query_one("#live-pane")
        runs = self.query_one("#runs-pane")
        n = len(self.ctx.inflight.runs)
        live.border_title = f"3 Live {n}" if n else "3 Live"
        usage = self._usage_text()
        if self.has_class("-narrow"):
            live.border_subtitle = "2 ▸ runs"
            hint = f"3 ▸ live {n}" if n else "3 ▸ live"
            runs.border_subtitle = f"{usage} · {hint}" if usage else hint
        else:
            live.border_subtitle = ""
            runs.border_subtitle = usage

    def _shown_stats(self) -> tuple[JobStats, JobStats] | None:
        """The stats of the selected job, when those loaded are its."""
        job = self.job
        return self.job_runs.stats(job.id if job else None)

    def _usage_text(self) -> str:
        stats = self._shown_stats()
        return usage_text(*stats) if stats is not None else ""

    def on_screen_resume(self) -> None:
        self.show_jobs()
        self.job_runs.reload()

    # ------------------------------------------------------------ told by the app

    def on_jobs_changed(self, message: JobsChanged) -> None:
        self.show_jobs()

    def show_jobs(self) -> None:
        """Fill the job list from the catalog, filtered and sorted."""
        catalog = self.ctx.catalog
        table = self.query_one(JobTable)
        jobs = self._matching(self._ordered(table))
        table.running_jobs = self._running_jobs()
        table.set_rows(jobs)
        total = len(catalog)
        pane = self.query_one("#jobs-pane")
        if self.filter:
            pane.border_title = f"1 Jobs {len(jobs):,}/{total:,}"
            pane.border_subtitle = f"/{self.filter.text}"
        else:
            pane.border_title = f"1 Jobs {total:,}" if catalog.loaded else "1 Jobs"
            pane.border_subtitle = ""
        if not jobs:
            table.empty_text = (
                "no job matches the filter"
                if self.filter
                else ("loading…" if not catalog.loaded else "no jobs yet — press n to add one")
            )
        self._job_info()

    def _ordered(self, table: JobTable) -> list[Job]:
        """Every job in the list's order; sorted again only once the jobs, their health or the order changed
        (typing a filter filters this list, which keeps its order)."""
        catalog = self.ctx.catalog
        key = (catalog.version, table.sort_key or "name", table.sort_reverse)
        if self._order is None or self._order[0] != key:
            sort = SORTS[key[1]]
            jobs = sorted(catalog.jobs.values(), key=lambda j: sort(j, catalog), reverse=key[2])  # type: ignore[arg-type,return-value]
            self._order, self._names = (key, jobs), None
        return self._order[1]

    def _matching(self, jobs: list[Job]) -> list[Job]:
        """The jobs the filter lets through, in their order (a filter of names only compares the names, kept
        casefolded beside the order)."""
        flt = self.filter
        if not flt:
            return list(jobs)
        words = flt.name_words()
        if words is not None:
            if self._names is None:
                self._names = [j.name.casefold() for j in jobs]
            names = self._names
            return [j for j, name in zip(jobs, names, strict=True) if all(any(v in name for v in w) for w in words)]
        catalog = self.ctx.catalog
        paused = catalog.paused
        return [j for j in jobs if flt.matches_job(j, paused, catalog.health_of(j.id))]

    def _running_jobs(self) -> set[int]:
        return {r.job_id for r in self.ctx.inflight.runs.values() if r.status is RunStatus.RUNNING}

    def on_live_changed(self, message: LiveChanged) -> None:
        self.query_one(LivePane).rebuild()
        table = self.query_one(JobTable)
        running = self._running_jobs()
        if running != table.running_jobs:
            table.running_jobs = running
            table.refresh()
        self._lower_titles()

    def on_engine_events(self, message: EngineEvents) -> None:
        job_id = self.job_runs.job_id
        if job_id is not None and any(e.job_id == job_id and e.run_id is not None for e in message.events):
            self.job_runs.reload()

    def on_tick(self, message: Tick) -> None:
        self.query_one(JobTable).refresh()
        if self.ctx.inflight.runs:
            self.query_one(LivePane).rebuild()
        runs = self.query_one(RunTable)
        if any(r.status is RunStatus.RUNNING for r in runs.rows[:50]):
            runs.refresh()

    def on_theme_changed(self, message: ThemeChanged) -> None:
        self.query_one(LivePane).rebuild()
        self._job_info()

    def on_zone_changed(self, message: ZoneChanged) -> None:
        runs = self.query_one(RunTable)
        runs.zone_mode = message.mode
        runs.local_zone = self.ctx.local_zone
        runs.refresh()
        self.query_one(LivePane).zone = self.ctx.local_zone

    def on_select_job(self, message: SelectJob) -> None:
        self.select_job(message.job_id)

    def select_job(self, job_id: int) -> None:
        """Put the cursor on this job (clearing a filter that hides it)."""
        if self.filter and job_id not in {j.id for j in self.query_one(JobTable).rows}:
            self._set_filter(Filter())
        self.query_one(JobTable).select_key(job_id)

    # ------------------------------------------------------------ the selected job and its runs

    @property
    def job(self) -> Job | None:
        return self.query_one(JobTable).current

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        if isinstance(message.table, JobTable):
            job = self.job
            self.job_runs.select(job.id if job else None)
            self._job_info()
        self.refresh_keys()

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        self.action_open()

    def on_job_table_need_strips(self, message: JobTable.NeedStrips) -> None:
        ids = message.job_ids

        async def load() -> None:
            strips = await self.ctx.client.recent_statuses(ids, STRIP_RUNS)
            self.ctx.catalog.set_strips(strips)
            self.query_one(JobTable).refresh()

        spawn(self, load, "strips")

    def on_virtual_table_need_more(self, message: VirtualTable.NeedMore) -> None:
        if isinstance(message.table, RunTable):
            self.job_runs.more(message.table)

    def _job_info(self) -> None:
        """Under the selected job's runs: what it runs, then why it is off or how it has been doing."""
        job = self.job
        pane = self.query_one("#runs-pane")
        info = self.query_one("#job-info", StyledStatic)
        if job is None:
            pane.border_title = "2 Runs"
            info.update("", layout=False)
            return
        pane.border_title = f"2 {job.name} · runs"
        stats = self._shown_stats()
        text = job_info_text(job, stats[0] if stats else None, info, self.ctx.now_ms())
        info.update(text, layout=False)  # fixed height: no layout pass for every cursor move
        self._lower_titles()
