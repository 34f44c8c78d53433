"""Every job's runs, newest first (`:runs`), or the failures of the last 24 hours (`:failed`).

Runs are read a page at a time as the view scrolls; a million of them cost what is on screen. A status
term in the filter narrows the store query; the other terms are checked here, page by page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical

from cronui.model import Run, RunStatus
from cronui.model.records import RunFilter
from cronui.ui.context import ScreenContext
from cronui.ui.filters import FAILURES, Filter, FilterError, parse_filter
from cronui.ui.messages import (
    CancelRun,
    EngineEvents,
    HeaderStale,
    OpenRun,
    RunNow,
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
    ApprovalActions,
)
from cronui.ui.screens.why import SaysWhyNot, run_why_not
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.widgets.run_table import RunTable
from cronui.ui.widgets.table import VirtualTable
from cronui.ui.workers import OneAtATime, spawn

PAGE = 200
MAX_SCAN = 20_000  # runs read per page request when the filter is checked here; more on scrolling
DAY_MS = 86_400_000


class RunsScreen(ApprovalActions, SaysWhyNot, CronuiScreen):
    KEY_ACTIONS = ("open", "run_again", "cancel_run", "follow", "approve_run", "reject_run")

    BINDINGS: ClassVar[list[BindingType]] = [
        FILTER,
        OPEN,
        CANCEL_RUN,
        APPROVE_RUN,
        REJECT_RUN,
        RUN_AGAIN,
        FOLLOW,
        Binding("s", "sort", "Sort", id="sort", show=False, tooltip="Sort by the next column (or click its title)"),
        Binding("S", "sort_reverse", "Reverse sort", id="sort-reverse", show=False, tooltip="Reverse the sort order"),
        Binding("1", "focus_table", "Runs pane", id="focus-jobs", show=False, tooltip="Focus the job list"),
        BACK,
    ]

    def __init__(self, ctx: ScreenContext, *, failed: bool) -> None:
        super().__init__(ctx)
        self.failed = failed
        self.filter = Filter()
        self._loads = OneAtATime(self, self._load_first, "runs-view")

    @property
    def where(self) -> str:
        what = "Failed runs (24 h)" if self.failed else "Runs"
        tables = self.query(RunTable)
        zone = tables.first().one_zone if tables else None
        return f"{what} · {zone}" if zone else what

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Vertical(id="all-runs-pane", classes="pane"):
            yield RunTable(self.ctx.catalog, self.ctx.now_ms, show_job=True, id="all-runs")
        yield KeysFooter()
        yield PromptBar()  # after the footer: it covers the footer's line while it is open

    def on_mount(self) -> None:
        table = self.query_one(RunTable)
        table.local_zone = self.ctx.local_zone
        table.zone_mode = self.ctx.zone_mode
        table.empty_text = "loading…"
        table.recall_sort()
        self._title()
        table.focus()
        self.reload()

    def _title(self, count: int | None = None) -> None:
        pane = self.query_one("#all-runs-pane")
        title = "Failed runs · last 24 h" if self.failed else "Runs · all jobs"
        table = self.query_one(RunTable)
        shown = len(table.rows)
        if shown:
            title += f" · {shown:,}{'+' if table.more else ''}"
        title += f" · times in {table.one_zone}"  # many jobs, one zone: named, never mixed
        if table.sort_key is not None:
            title += f" · {table.sort_words}" + (" (of those loaded)" if table.more else "")
        pane.border_title = title
        pane.border_subtitle = f"/{self.filter.text}" if self.filter else ""

    # ------------------------------------------------------------ loading

    def _store_filter(self, before_id: int | None) -> RunFilter:
        statuses: list[RunStatus] = list(FAILURES) if self.failed else []
        wanted = self.filter.run_statuses()
        if wanted and statuses:
            # both narrow: what is in both (nothing in both still has to match nothing, checked below)
            statuses = [s for s in wanted if s in statuses] or statuses
        elif wanted:
            statuses = wanted
        since = self.ctx.now_ms() - DAY_MS if self.failed else None
        return RunFilter(statuses=statuses, since=since, limit=PAGE, before_id=before_id)

    def reload(self) -> None:
        self._loads.want()

    async def _load_first(self) -> None:
        runs, more = await self._fetch(None)
        if self._loads.wanted:  # asked again meanwhile: the next pass reads afresh
            return
        table = self.query_one(RunTable)
        table.more = more
        table.empty_text = "no failures in the last 24 hours" if self.failed else "no runs"
        if self.filter:
            table.empty_text = "no run matches the filter"
        table.set_rows(runs)
        self._title()

    async def _fetch(self, before_id: int | None) -> tuple[list[Run], bool]:
        """A page of runs that pass the filter; reads further pages while too few pass, up to MAX_SCAN."""
        client = self.ctx.client
        catalog = self.ctx.catalog
        out: list[Run] = []
        scanned = 0
        while len(out) < PAGE and scanned < MAX_SCAN:
            page = await client.runs(self._store_filter(before_id))
            scanned += len(page)
            if self.filter:
                out += [r for r in page if self.filter.matches_run(r, catalog.jobs.get(r.job_id))]
            else:
                out += page
            if len(page) < PAGE:
                return out, False
            before_id = page[-1].id
            if not self.filter:
                break
        return out, True

    def on_virtual_table_need_more(self, message: VirtualTable.NeedMore) -> None:
        table = self.query_one(RunTable)
        if not table.rows or self._loads.busy:
            return
        before = table.oldest_id  # the runs are read newest first, whatever order they are shown in

        async def more() -> None:
            runs, more = await self._fetch(before)
            table.more = more
            table.append_rows(runs)
            self._title()

        spawn(self, more, "runs-view-more")

    # ------------------------------------------------------------ told by the app

    def on_engine_events(self, message: EngineEvents) -> None:
        if any(e.run_id is not None for e in message.events):
            self.reload()

    def on_tick(self, message: Tick) -> None:
        table = self.query_one(RunTable)
        if any(r.status is RunStatus.RUNNING for r in table.rows[:100]):
            table.refresh()

    def on_zone_changed(self, message: ZoneChanged) -> None:
        table = self.query_one(RunTable)
        table.zone_mode = message.mode
        table.local_zone = self.ctx.local_zone
        table.invalidate_layout()
        self._title()
        self.post_message(HeaderStale())

    # ------------------------------------------------------------ keys

    @property
    def run(self) -> Run | None:
        return self.query_one(RunTable).current

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        run = self.run
        if action in ("open", "run_again"):
            return run is not None
        if action in ("cancel_run", "follow"):
            return run is not None and not run.status.is_final
        if action in ("approve_run", "reject_run"):
            return run is not None and run.status is RunStatus.AWAITING_APPROVAL
        return True

    def why_not(self, action: str) -> str | None:
        return run_why_not(action, self.run)

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        self.refresh_keys()

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        self.action_open()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(RunTable).invalidate_layout()

    def action_open(self) -> None:
        if self.run is not None and self.run.id is not None:
            self.post_message(OpenRun(self.run.id))

    def action_follow(self) -> None:
        if self.run is not None and self.run.id is not None:
            self.post_message(OpenRun(self.run.id, follow=True))

    def action_cancel_run(self) -> None:
        run = self.run
        if run is not None and run.id is not None and not run.status.is_final:
            self.post_message(CancelRun(run.id))

    def action_run_again(self) -> None:
        run = self.run
        job = self.ctx.catalog.jobs.get(run.job_id) if run else None
        if job is None:
            self.notify("its job was removed", severity="warning")
            return
        self.query_one(RunTable).follow_newest()  # the new run, once it is queued
        self.post_message(RunNow(job))

    def action_sort(self) -> None:
        self._sorted(RunTable.next_sort)

    def action_sort_reverse(self) -> None:
        self._sorted(RunTable.reverse_sort)

    def on_virtual_table_header_clicked(self, message: VirtualTable.HeaderClicked) -> None:
        self._sorted(lambda table: table.sort_by_header(message.key))

    def _sorted(self, change: Callable[[RunTable], None]) -> None:
        table = self.query_one(RunTable)
        change(table)
        table.remember_sort()
        self._title()

    def action_focus_table(self) -> None:
        self.query_one(RunTable).focus()

    def action_filter(self) -> None:
        self.query_one(Prompt).open("filter", self.filter.text)

    def action_back(self) -> None:
        if self.filter:
            self.filter = Filter()
            self.reload()
            self._title()
            return
        self.app.pop_screen()

    def on_prompt_edited(self, message: Prompt.Edited) -> None:
        if message.mode != "filter":
            message.prompt.show_error(False)
            return
        try:
            flt = parse_filter(message.value, for_runs=True)
        except FilterError as e:
            message.prompt.show_error(True)
            self.query_one("#all-runs-pane").border_subtitle = str(e)
            return
        message.prompt.show_error(False)
        self.filter = flt
        self._title()
        self.reload()

    def on_prompt_done(self, message: Prompt.Done) -> None:
        prompt = message.prompt
        if message.mode == "filter":
            if not message.submitted:
                self.filter = Filter()
                self.reload()
            elif prompt.has_class("-error"):
                return
            prompt.close()
            self._title()
            self.query_one(RunTable).focus()
            return
        self.end_command(prompt, message.submitted, message.value, self.query_one(RunTable))
