"""The main screen: the job list, the selected job's runs and stats, and the live pane.

At 120 columns the runs and the live pane sit side by side under the job list; below 100 columns they
stack, and the job list drops its least important columns whole, so job names are never cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from cronui.model import Job, Run, RunEvent, RunStatus
from cronui.present import job_target_text
from cronui.store.base import JobStats, RunFilter
from cronui.timefmt import human_span
from cronui.ui.filters import Filter, FilterError, parse_filter
from cronui.ui.screens.keys import KeysFollowState
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.job_table import SORTS, JobTable
from cronui.ui.widgets.live import LivePane
from cronui.ui.widgets.prompt import Prompt, PromptBar, PromptKeys
from cronui.ui.widgets.run_table import RunTable, cost_text
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.table import VirtualTable

if TYPE_CHECKING:
    from cronui.ui.app import CronuiApp

RUNS_PAGE = 100
NARROW = 100  # below this many columns the lower panes stack
WEEK_MS = 7 * 86_400_000


def stats_text(stats: JobStats) -> str:
    """How the job has been doing: runs, success rate, median and p95 duration."""
    if not stats.runs:
        return ""
    parts = [f"{stats.runs:,} run{'s' if stats.runs != 1 else ''}"]
    if stats.success_rate is not None:
        parts.append(f"success {stats.success_rate:.0%}")
    if stats.median_ms is not None:
        parts.append(f"median {human_span(stats.median_ms)}")
    if stats.p95_ms is not None:
        parts.append(f"p95 {human_span(stats.p95_ms)}")
    return " · ".join(parts)


def usage_text(stats: JobStats, week: JobStats | None) -> str:
    """What the job has used (agent jobs): tokens and cost, all time and the last 7 days."""
    parts: list[str] = []
    if stats.total_tokens:
        parts.append(f"{stats.total_tokens:,} tokens")
    if stats.cost_usd is not None:
        cost = f"cost {cost_text(stats.cost_usd)}"
        if week is not None and week.cost_usd is not None:
            cost += f" · 7d {cost_text(week.cost_usd)}"
        parts.append(cost)
    return " · ".join(parts)


class MainScreen(PromptKeys, KeysFollowState, Screen[None]):
    KEY_ACTIONS = ("edit_job", "toggle_job", "run_now", "delete_job", "run_again", "cancel_run", "follow", "open")

    where = "Jobs"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "filter",
            "Filter",
            id="filter",
            key_display="/",
            tooltip="Filter with status:, kind:, tag:, name: and words",
        ),
        Binding("n", "new_job", "New", id="new-job", tooltip="Create a job in the editor"),
        Binding("e", "edit_job", "Edit", id="edit-job", tooltip="Edit the selected job"),
        Binding("space", "toggle_job", "On/off", id="toggle-job", tooltip="Enable or disable the selected job"),
        Binding("r", "run_now", "Run", id="run-now", tooltip="Run the selected job now"),
        Binding("R", "run_again", "Run again", id="run-again", show=False, tooltip="Run the selected run's job again"),
        Binding("enter", "open", "Open", id="open", tooltip="Open: jobs → their runs → a run's detail"),
        Binding(
            "x", "cancel_run", "Cancel", id="cancel-run", tooltip="Cancel the selected run (or the job's run in flight)"
        ),
        Binding("l", "follow", "Follow", id="follow", tooltip="Open a running run and follow its output"),
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
            tooltip="Sort by the next column: name, next, last, kind, zone, schedule",
        ),
        Binding("S", "sort_reverse", "Reverse sort", id="sort-reverse", show=False, tooltip="Reverse the sort order"),
        Binding("1", "focus_pane(1)", "Jobs pane", id="focus-jobs", show=False, tooltip="Focus the job list"),
        Binding(
            "2", "focus_pane(2)", "Runs pane", id="focus-runs", show=False, tooltip="Focus the selected job's runs"
        ),
        Binding("3", "focus_pane(3)", "Live pane", id="focus-live", show=False, tooltip="Focus the runs in flight"),
        Binding(
            "escape",
            "back",
            "Back",
            id="back",
            show=False,
            tooltip="Back: close the prompt, clear the filter, or leave this view",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = Filter()
        self._runs_job: int | None = None  # whose runs the runs pane shows
        self._runs_wanted: int | None = None
        self._runs_loading = False
        self._runs_dirty = False

    @property
    def capp(self) -> CronuiApp:
        return cast("CronuiApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.capp
        yield StatusHeader()
        with Vertical(id="jobs-pane", classes="pane"):
            yield JobTable(app.catalog, app.clock.now_ms, id="jobs")
        with Horizontal(id="lower"):
            with Vertical(id="runs-pane", classes="pane"):
                yield RunTable(app.catalog, app.clock.now_ms, show_job=False, id="runs")
                yield StyledStatic("", id="job-info")
            with Vertical(id="live-pane", classes="pane"):
                yield LivePane(app.inflight, app.clock.now_ms, id="live")
        yield KeysFooter()
        yield PromptBar()  # after the footer: it covers the footer's line while it is open

    def on_mount(self) -> None:
        self.query_one("#jobs-pane").border_title = "1 Jobs"
        self.query_one("#runs-pane").border_title = "2 Runs"
        self.query_one("#live-pane").border_title = "3 Live"
        self.query_one(RunTable).local_zone = self.capp.settings.timezone
        self.query_one(LivePane).zone = self.capp.settings.timezone
        self.query_one(JobTable).focus()
        if not self.capp.cursor_blink:
            self.query_one(Prompt).cursor_blink = False
        self.jobs_changed()

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
        n = len(self.capp.inflight.runs)
        live.border_title = f"3 Live {n}" if n else "3 Live"
        usage = self._usage_text()
        if self.has_class("-narrow"):
            live.border_subtitle = "2 ▸ runs"
            hint = f"3 ▸ live {n}" if n else "3 ▸ live"
            runs.border_subtitle = f"{usage} · {hint}" if usage else hint
        else:
            live.border_subtitle = ""
            runs.border_subtitle = usage

    def _usage_text(self) -> str:
        job = self.job
        if job is None or self._stats is None or self._shown_job != job.id:
            return ""
        return usage_text(*self._stats)

    def _stats_text(self) -> str:
        job = self.job
        if job is None or self._stats is None or self._shown_job != job.id:
            return ""
        return stats_text(self._stats[0])

    def on_screen_resume(self) -> None:
        self.capp.refresh_header()
        self.jobs_changed()
        self._reload_runs()

    # ------------------------------------------------------------ told by the app

    def jobs_changed(self) -> None:
        app = self.capp
        table = self.query_one(JobTable)
        paused = app.catalog.paused
        jobs = (
            [j for j in app.catalog.jobs.values() if self.filter.matches_job(j, paused)]
            if self.filter
            else list(app.catalog.jobs.values())
        )
        key = SORTS[table.sort_key or "name"]
        jobs.sort(key=key, reverse=table.sort_reverse)  # type: ignore[arg-type]
        table.running_jobs = {r.job_id for r in app.inflight.runs.values() if r.status is RunStatus.RUNNING}
        table.set_rows(jobs)
        total = len(app.catalog)
        pane = self.query_one("#jobs-pane")
        if self.filter:
            pane.border_title = f"1 Jobs {len(jobs):,}/{total:,}"
            pane.border_subtitle = f"/{self.filter.text}"
        else:
            pane.border_title = f"1 Jobs {total:,}" if app.catalog.loaded else "1 Jobs"
            pane.border_subtitle = ""
        if not jobs:
            table.empty_text = (
                "no job matches the filter"
                if self.filter
                else ("loading…" if not app.catalog.loaded else "no jobs yet — press n to add one")
            )
        self._job_info()

    def live_changed(self) -> None:
        app = self.capp
        self.query_one(LivePane).rebuild()
        table = self.query_one(JobTable)
        running = {r.job_id for r in app.inflight.runs.values() if r.status is RunStatus.RUNNING}
        if running != table.running_jobs:
            table.running_jobs = running
            table.refresh()
        self._lower_titles()

    def engine_events(self, events: list[RunEvent]) -> None:
        job_id = self._runs_job
        if job_id is not None and any(e.job_id == job_id and e.run_id is not None for e in events):
            self._reload_runs()

    def tick(self) -> None:
        self.query_one(JobTable).refresh()
        if self.capp.inflight.runs:
            self.query_one(LivePane).rebuild()
        runs = self.query_one(RunTable)
        if any(r.status is RunStatus.RUNNING for r in runs.rows[:50]):
            runs.refresh()

    def theme_changed(self) -> None:
        self.query_one(LivePane).rebuild()
        self._job_info()

    def zone_changed(self) -> None:
        runs = self.query_one(RunTable)
        runs.zone_mode = self.capp.zone_mode
        runs.refresh()

    def select_job(self, job_id: int) -> None:
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
            new = job.id if job else None
            if new != self._runs_job:
                self._runs_job = new
                self._reload_runs()
            self._job_info()
        self.refresh_keys()

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        self.action_open()

    def on_job_table_need_strips(self, message: JobTable.NeedStrips) -> None:
        ids = message.job_ids

        async def load() -> None:
            strips = await self.capp.store.recent_statuses(ids, 20)
            self.capp.catalog.set_strips(strips)
            self.query_one(JobTable).refresh()

        self.run_worker(load, group="strips", exit_on_error=False)

    def on_virtual_table_need_more(self, message: VirtualTable.NeedMore) -> None:
        table = message.table
        if isinstance(table, RunTable) and table.rows and self._runs_job is not None:
            job_id = self._runs_job
            before = table.rows[-1].id

            async def more() -> None:
                runs = await self.capp.store.list_runs(RunFilter(job_id=job_id, limit=RUNS_PAGE, before_id=before))
                if self._runs_job == job_id:
                    table.more = len(runs) == RUNS_PAGE
                    table.append_rows(runs)

            self.run_worker(more, group="runs-more", exit_on_error=False)

    def _reload_runs(self) -> None:
        """Load the selected job's runs; at most one load at a time, the latest wish wins."""
        self._runs_wanted = self._runs_job
        self._runs_dirty = True
        if not self._runs_loading:
            self._runs_loading = True
            self.run_worker(self._runs_loop, group="runs", exit_on_error=False)

    async def _runs_loop(self) -> None:
        store = self.capp.store
        try:
            while self._runs_dirty:
                self._runs_dirty = False
                job_id = self._runs_wanted
                table = self.query_one(RunTable)
                if job_id is None:
                    table.set_rows([])
                    self._stats = None
                    self._job_info()
                    continue
                runs = await store.list_runs(RunFilter(job_id=job_id, limit=RUNS_PAGE))
                stats = await store.job_stats(job_id)
                week = await store.job_stats(job_id, since=self.capp.clock.now_ms() - WEEK_MS)
                if self._runs_dirty and self._runs_wanted != job_id:
                    continue
                same = table.rows and table.rows and self._shown_job == job_id
                table.more = len(runs) == RUNS_PAGE
                table.set_rows(runs, keep_cursor=bool(same))
                self._shown_job = job_id
                self._stats = (stats, week)
                self._job_info()
        finally:
            self._runs_loading = False

    _stats: tuple[JobStats, JobStats] | None = None
    _shown_job: int | None = None

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
        dim = info.component_style("status--dim")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{job.kind} ", "bold")
        text.append(job_target_text(job), dim)
        text.append("\n")
        if job.auto_disabled:
            text.append(f"auto-disabled: {job.auto_disabled} — space enables it", info.status_style("failed"))
        elif not job.enabled:
            text.append("disabled — space enables it", info.component_style("status--warning"))
        else:
            text.append(self._stats_text(), dim)
        info.update(text, layout=False)  # fixed height: no layout pass for every cursor move
        self._lower_titles()

    # ------------------------------------------------------------ keys

    def _focused_run(self) -> tuple[int, RunStatus, str] | None:
        """The run the keys act on: the live pane's selection, or the runs pane's cursor."""
        focused = self.focused
        live = self.query_one(LivePane)
        if focused is live:
            cur = live.current_live()
            return None if cur is None else (cur.run_id, cur.status, cur.job_name)
        if isinstance(focused, RunTable):
            run: Run | None = focused.current
            return None if run is None or run.id is None else (run.id, run.status, run.job_name)
        return None

    def _job_in_flight(self) -> int | None:
        job = self.job
        if job is None:
            return None
        for r in self.capp.inflight.runs.values():
            if r.job_id == job.id:
                return r.run_id
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        job = self.job
        focused = self.focused
        if action in ("edit_job", "toggle_job", "run_now", "delete_job"):
            return job is not None and isinstance(focused, JobTable)
        if action == "run_again":
            return self._focused_run() is not None
        if action == "cancel_run":
            if isinstance(focused, JobTable):
                return self._job_in_flight() is not None
            run = self._focused_run()
            return run is not None and not run[1].is_final
        if action == "follow":
            if isinstance(focused, JobTable):
                return self._job_in_flight() is not None
            return self._focused_run() is not None
        if action == "open":
            if isinstance(focused, JobTable):
                return job is not None
            return self._focused_run() is not None
        return True

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.refresh_keys()

    def action_filter(self) -> None:
        self.query_one(Prompt).open("filter", self.filter.text)

    def open_command(self) -> None:
        self.query_one(Prompt).open("command", "", themes=sorted(self.app.available_themes))

    def on_prompt_edited(self, message: Prompt.Edited) -> None:
        if message.mode == "filter":
            try:
                flt = parse_filter(message.value)
            except FilterError as e:
                message.prompt.show_error(True)
                self.query_one("#jobs-pane").border_subtitle = str(e)
                return
            message.prompt.show_error(False)
            self._set_filter(flt)
        elif message.mode == "command":
            message.prompt.show_error(False)

    def on_prompt_done(self, message: Prompt.Done) -> None:
        prompt = message.prompt
        if message.mode == "filter":
            if not message.submitted:
                self._set_filter(Filter())
            elif prompt.has_class("-error"):
                return
            prompt.close()
            self.query_one(JobTable).focus()
            return
        self.capp.end_command(self, prompt, message.submitted, message.value, self.query_one(JobTable))

    def _set_filter(self, flt: Filter) -> None:
        self.filter = flt
        self.jobs_changed()

    def action_back(self) -> None:
        if self.filter:
            self._set_filter(Filter())
        elif not isinstance(self.focused, JobTable):
            self.query_one(JobTable).focus()

    def action_new_job(self) -> None:
        self.capp.open_editor(None)

    def action_edit_job(self) -> None:
        if self.job is not None:
            self.capp.open_editor(self.job)

    def action_toggle_job(self) -> None:
        job = self.job
        if job is not None:
            self.capp.set_enabled(job, not job.enabled or bool(job.auto_disabled))

    def action_run_now(self) -> None:
        if self.job is not None:
            self.capp.run_now(self.job)

    def action_run_again(self) -> None:
        run = self._focused_run()
        if run is not None:
            job = self.capp.catalog.by_name.get(run[2])
            if job is not None:
                self.capp.run_now(job)

    def action_cancel_run(self) -> None:
        if isinstance(self.focused, JobTable):
            rid = self._job_in_flight()
            if rid is not None:
                self.capp.cancel_run(rid)
            return
        run = self._focused_run()
        if run is not None and not run[1].is_final:
            self.capp.cancel_run(run[0])

    def action_follow(self) -> None:
        rid = self._job_in_flight() if isinstance(self.focused, JobTable) else None
        run = self._focused_run()
        target = rid if rid is not None else (run[0] if run else None)
        if target is not None:
            self.capp.open_run(target, follow=True)

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, JobTable):
            if self.job is not None:
                self.query_one(RunTable).focus()
            return
        run = self._focused_run()
        if run is not None:
            self.capp.open_run(run[0])

    def on_live_pane_selected(self, message: LivePane.Selected) -> None:
        self.capp.open_run(message.run_id)

    def action_delete_job(self) -> None:
        from cronui.ui.screens.confirm import ConfirmScreen

        job = self.job
        if job is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.capp.remove_job(job)

        self.app.push_screen(
            ConfirmScreen(
                f"Delete {job.name}?",
                "It stops firing and its name is freed; its runs stay in the history.",
                yes="Delete",
                danger=True,
            ),
            answered,
        )

    def action_sort(self) -> None:
        table = self.query_one(JobTable)
        keys = list(SORTS)
        table.sort_key = keys[(keys.index(table.sort_key or "name") + 1) % len(keys)]
        table.invalidate_layout()
        self.notify(f"sorted by {table.sort_key}", timeout=2)
        self.jobs_changed()

    def action_sort_reverse(self) -> None:
        table = self.query_one(JobTable)
        table.sort_reverse = not table.sort_reverse
        table.invalidate_layout()
        self.jobs_changed()

    def action_focus_pane(self, n: int) -> None:
        target = {1: "#jobs", 2: "#runs", 3: "#live"}.get(n)
        if n in (2, 3):
            self._show_lower("live" if n == 3 else "runs")
        if target:
            widget = self.query_one(target)
            self.call_after_refresh(widget.focus)
