"""The main screen's keys: what each acts on (the focused pane's selection), why one cannot act, and what it
does. `l` follows what runs now: in the live pane the selected run while it is in flight, else the newest
run in flight (a finished run is opened with enter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import events

from cronui.model import Job, Run, RunStatus
from cronui.ui.filters import Filter, FilterError, parse_filter
from cronui.ui.messages import ApproveRun, CancelRun, EditJob, OpenRun, RejectRun, RemoveJob, RunNow, SetEnabled
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.history import HistoryScreen
from cronui.ui.screens.why import run_why_not
from cronui.ui.widgets.job_table import SORTS, JobTable
from cronui.ui.widgets.live import LivePane
from cronui.ui.widgets.prompt import Prompt
from cronui.ui.widgets.run_table import RunTable
from cronui.ui.widgets.table import VirtualTable

if TYPE_CHECKING:
    from cronui.ui.screens.base import CronuiScreen

    _Screen = CronuiScreen
else:
    _Screen = object


class MainKeys(_Screen):
    filter: Filter

    @property
    def job(self) -> Job | None:
        raise NotImplementedError

    def show_jobs(self) -> None:
        raise NotImplementedError

    def _show_lower(self, which: str) -> None:
        raise NotImplementedError

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
        for r in self.ctx.inflight.runs.values():
            if r.job_id == job.id:
                return r.run_id
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        job = self.job
        focused = self.focused
        if action in ("edit_job", "clone_job", "toggle_job", "run_now", "delete_job", "history"):
            return job is not None and isinstance(focused, JobTable)
        if action == "run_again":
            return self._focused_run() is not None
        if action == "cancel_run":
            if isinstance(focused, JobTable):
                return self._job_in_flight() is not None
            run = self._focused_run()
            return run is not None and not run[1].is_final
        if action in ("approve_run", "reject_run"):
            run = self._focused_run()
            return run is not None and run[1] is RunStatus.AWAITING_APPROVAL
        if action == "follow":
            return self._follow_target() is not None
        if action == "open":
            if isinstance(focused, JobTable):
                return job is not None
            return self._focused_run() is not None
        return True

    def why_not(self, action: str) -> str | None:
        focused = self.focused
        if action in ("edit_job", "clone_job", "toggle_job", "run_now", "delete_job", "history"):
            if self.job is None:
                return "no job selected" + ("" if self.ctx.catalog.jobs else ": n makes one")
            if not isinstance(focused, JobTable):
                return "that key acts on the job list: 1 goes there"
            return None
        if action == "follow" and isinstance(focused, LivePane):
            run = self._focused_run()
            opens = f" (enter opens #{run[0]})" if run is not None else ""
            return f"nothing running now{opens}"
        if isinstance(focused, JobTable) and action in ("cancel_run", "follow"):
            return f"{self.job.name if self.job else 'this job'} has no run in flight"
        if isinstance(focused, JobTable) and action == "run_again":
            return "R runs a run's job again: 2 goes to the runs (r runs this job now)"
        if action in ("approve_run", "reject_run"):
            run = self._focused_run()
            if run is None:
                return "a and d act on a run waiting for approval: 2 goes to the job's runs (A lists them all)"
            if run[1] is not RunStatus.AWAITING_APPROVAL:
                return f"run #{run[0]} is not waiting for approval ({run[1]})"
            return None
        if isinstance(focused, LivePane) and self._focused_run() is None:
            return "nothing running"
        if isinstance(focused, RunTable):
            return run_why_not(action, focused.current)
        return None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.refresh_keys()

    def action_filter(self) -> None:
        self.query_one(Prompt).open("filter", self.filter.text)

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
        self.end_command(prompt, message.submitted, message.value, self.query_one(JobTable))

    def _set_filter(self, flt: Filter) -> None:
        self.filter = flt
        self.show_jobs()

    def action_back(self) -> None:
        if self.filter:
            self._set_filter(Filter())
        elif not isinstance(self.focused, JobTable):
            self.query_one(JobTable).focus()

    def action_new_job(self) -> None:
        self.post_message(EditJob(None))

    def action_edit_job(self) -> None:
        if self.job is not None:
            self.post_message(EditJob(self.job))

    def action_clone_job(self) -> None:
        if self.job is not None:
            self.post_message(EditJob(self.job, clone=True))

    def action_toggle_job(self) -> None:
        job = self.job
        if job is not None:
            self.post_message(SetEnabled(job, not job.enabled or bool(job.auto_disabled)))

    def action_history(self) -> None:
        if self.job is not None:
            self.app.push_screen(HistoryScreen(self.ctx, self.job.name))

    def action_run_now(self) -> None:
        if self.job is not None:
            self.query_one(RunTable).follow_newest()  # the runs pane shows the new run once it is queued
            self.post_message(RunNow(self.job))

    def action_run_again(self) -> None:
        run = self._focused_run()
        if run is not None:
            job = self.ctx.catalog.by_name.get(run[2])
            if job is None:
                self.notify(f"{run[2]} was removed: its runs cannot be run again", severity="warning")
                return
            if self.job is not None and self.job.id == job.id:
                self.query_one(RunTable).follow_newest()
            self.post_message(RunNow(job))

    def action_cancel_run(self) -> None:
        if isinstance(self.focused, JobTable):
            rid = self._job_in_flight()
            if rid is not None:
                self.post_message(CancelRun(rid))
            return
        run = self._focused_run()
        if run is not None and not run[1].is_final:
            self.post_message(CancelRun(run[0]))

    def action_approve_run(self) -> None:
        run = self._focused_run()
        if run is not None and run[1] is RunStatus.AWAITING_APPROVAL:
            self.post_message(ApproveRun(run[0], run[2]))

    def action_reject_run(self) -> None:
        run = self._focused_run()
        if run is not None and run[1] is RunStatus.AWAITING_APPROVAL:
            self.post_message(RejectRun(run[0], run[2]))

    def _follow_target(self) -> int | None:
        """What `l` follows: a run in flight, never one that has ended. In the live pane the selected run
        while it runs, else what runs now; in the runs pane the selected run, else the job's run in flight."""
        focused = self.focused
        if isinstance(focused, LivePane):
            return focused.live_now()
        if isinstance(focused, RunTable):
            run: Run | None = focused.current
            if run is not None and run.id is not None and not run.status.is_final:
                return run.id
        return self._job_in_flight() if isinstance(focused, JobTable | RunTable) else None

    def action_follow(self) -> None:
        target = self._follow_target()
        if target is None:
            return
        if isinstance(self.focused, LivePane):
            self.focused.select(target)  # the cursor lands where `l` went
        self.post_message(OpenRun(target, follow=True))

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, JobTable):
            if self.job is not None:
                self.query_one(RunTable).focus()
            return
        run = self._focused_run()
        if run is not None:
            self.post_message(OpenRun(run[0]))

    def on_live_pane_selected(self, message: LivePane.Selected) -> None:
        self.post_message(OpenRun(message.run_id))

    def action_delete_job(self) -> None:
        job = self.job
        if job is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(RemoveJob(job))

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
        if isinstance(self.focused, RunTable):
            self._runs_sorted(RunTable.next_sort)
            return
        table = self.query_one(JobTable)
        keys = list(SORTS)
        table.sort_key = keys[(keys.index(table.sort_key or "name") + 1) % len(keys)]
        table.invalidate_layout()
        self.notify(f"sorted by {table.sort_key}", timeout=2)
        self.show_jobs()

    def action_sort_reverse(self) -> None:
        if isinstance(self.focused, RunTable):
            self._runs_sorted(RunTable.reverse_sort)
            return
        table = self.query_one(JobTable)
        table.sort_reverse = not table.sort_reverse
        table.invalidate_layout()
        self.show_jobs()

    def on_virtual_table_header_clicked(self, message: VirtualTable.HeaderClicked) -> None:
        table = message.table
        if isinstance(table, RunTable):
            self._runs_sorted(lambda t: t.sort_by_header(message.key))
        elif isinstance(table, JobTable) and message.key in SORTS:
            if table.sort_key == message.key or (table.sort_key is None and message.key == "name"):
                table.sort_reverse = not table.sort_reverse
            else:
                table.sort_key, table.sort_reverse = message.key, False
            table.invalidate_layout()
            self.show_jobs()

    def _runs_sorted(self, change: Callable[[RunTable], None]) -> None:
        table = self.query_one(RunTable)
        change(table)
        table.remember_sort()  # the column title shows the order (▲ ▼)

    def action_focus_pane(self, n: int) -> None:
        target = {1: "#jobs", 2: "#runs", 3: "#live"}.get(n)
        if n in (2, 3):
            self._show_lower("live" if n == 3 else "runs")
        if target:
            widget = self.query_one(target)
            self.call_after_refresh(widget.focus)
