"""What screens ask the app for (by message: run a job now, open a run, edit a job, approve...) and the keys
that work on every screen (zone, help, command mode, ctrl+c). `CronuiApp` builds on this layer; the
state it uses (client, catalog, context) is made there."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from platformdirs import user_pictures_path
from textual.app import App
from textual.reactive import reactive
from textual.screen import ModalScreen

from cronui.config import Settings
from cronui.engine.clock import Clock
from cronui.engine.control import NotFound, NotWaiting
from cronui.jobs import JobError
from cronui.model import Job, Run
from cronui.schedule import ScheduleError, get_zone
from cronui.store import StoreError
from cronui.ui import prefs
from cronui.ui.catalog import Catalog
from cronui.ui.client import EngineClient
from cronui.ui.commands import run_command
from cronui.ui.context import ScreenContext
from cronui.ui.messages import (
    ApproveRun,
    CancelRun,
    EditJob,
    JobsChanged,
    Notice,
    OpenRun,
    RejectRun,
    RemoveJob,
    RunNow,
    SelectJob,
    SetEnabled,
    ZoneChanged,
)
from cronui.ui.screens.alerts import AlertsScreen
from cronui.ui.screens.approvals import ApprovalsScreen, ReasonScreen
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.fleet import FleetScreen
from cronui.ui.screens.help import HelpScreen
from cronui.ui.screens.job_editor import JobEditor
from cronui.ui.screens.nodes import NodesScreen
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.run_params import RunParamsScreen
from cronui.ui.screens.runs import RunsScreen
from cronui.ui.times import ZoneMode
from cronui.ui.workers import spawn

log = logging.getLogger(__name__)

T = TypeVar("T")


class AppRequests(App[int]):
    settings: Settings
    client: EngineClient
    catalog: Catalog
    clock: Clock
    ctx: ScreenContext
    cursor_blink: bool

    zone_mode: reactive[ZoneMode] = reactive(ZoneMode.JOB, init=False)

    def tell(self, notice: Notice) -> None:
        raise NotImplementedError

    def refresh_header(self) -> None:
        raise NotImplementedError

    async def action_quit(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ what screens ask for

    def act(self, what: str, work: Callable[[], Awaitable[T]], done: Callable[[T], object] | None = None) -> None:
        """Run a write in a worker; a refusal (bad input, a missing job) becomes one toast, never a crash.
        The write itself wakes the process that schedules."""

        async def go() -> None:
            try:
                result = await work()
            except (JobError, NotFound, NotWaiting, StoreError) as e:
                self.notify(str(e), title=f"cannot {what}", severity="error")
                return
            if done is not None:
                done(result)

        spawn(self, go, "actions")

    def on_run_now(self, message: RunNow) -> None:
        name, asking = message.job.name, self.screen if message.open_it else None
        if message.job.params and message.params is None:  # ask for its params first (a small form)
            self.ask_params(message)
            return

        def queued(run: Run) -> None:
            self.notify(f"queued run #{run.id} of {name}", timeout=3)
            if asking is not None and self.screen is asking and run.id is not None:
                self.switch_screen(RunDetailScreen(self.ctx, run.id, follow=True))  # Esc: where it came from

        self.act("run it", lambda: self.client.trigger(name, message.params), queued)

    def ask_params(self, message: RunNow) -> None:
        """The run form of a job with params: Enter runs it with the values given, Escape runs nothing."""

        def given(values: dict[str, Any] | None) -> None:
            if values is not None:
                self.on_run_now(RunNow(message.job, open_it=message.open_it, params=values))

        self.push_screen(RunParamsScreen(message.job), given)

    def on_set_enabled(self, message: SetEnabled) -> None:
        name, enabled = message.job.name, message.enabled
        self.act(
            "enable it" if enabled else "disable it",
            lambda: self.client.set_enabled(name, enabled),
            lambda j: self.notify(f"{j.name} {'enabled' if j.enabled else 'disabled'}", timeout=3),
        )

    def on_remove_job(self, message: RemoveJob) -> None:
        name = message.job.name
        self.act(
            "remove it",
            lambda: self.client.remove_job(name),
            lambda j: self.notify(f"removed {j.name} (its runs are kept)", timeout=3),
        )

    def on_cancel_run(self, message: CancelRun) -> None:
        run_id = message.run_id
        self.act(
            "cancel it",
            lambda: self.client.cancel(run_id),
            lambda run: self.notify(f"cancel requested for run #{run_id}", timeout=3),
        )

    def on_approve_run(self, message: ApproveRun) -> None:
        run_id = message.run_id
        self.act(
            "approve it",
            lambda: self.client.approve(run_id),
            lambda run: self.notify(f"approved run #{run_id} of {run.job_name}: it runs", timeout=3),
        )

    def on_reject_run(self, message: RejectRun) -> None:
        run_id = message.run_id

        def answered(reason: str | None) -> None:
            if reason is None:
                return  # kept waiting
            self.act(
                "reject it",
                lambda: self.client.reject(run_id, reason),
                lambda run: self.notify(f"rejected run #{run_id} of {run.job_name}", timeout=3),
            )

        self.push_screen(ReasonScreen(run_id, message.job_name), answered)

    def pause(self, paused: bool) -> None:
        self.act(
            "pause" if paused else "resume",
            self.client.pause if paused else self.client.resume,
            lambda _: self.notify("paused: nothing new starts" if paused else "resumed", timeout=3),
        )

    def on_open_run(self, message: OpenRun) -> None:
        self.open_run(message.run_id, follow=message.follow)

    def open_run(self, run_id: int, *, follow: bool = False) -> None:
        self.push_screen(RunDetailScreen(self.ctx, run_id, follow=follow))

    def on_edit_job(self, message: EditJob) -> None:
        self.open_editor(message.job, clone=message.clone)

    def open_editor(self, job: Job | None, *, clone: bool = False) -> None:
        """The editor on `job` (None: a new job); `clone`: on a new job made from `job`, unsaved until saved."""

        def saved(result: Job | None) -> None:
            if result is not None:
                assert result.id is not None
                self.catalog.upsert(result)
                self.tell(JobsChanged())
                self.tell(SelectJob(result.id))
                self.refresh_header()

        editor = JobEditor(
            None if clone else job,
            clone_of=job if clone else None,
            taken=self.catalog.by_name,
            client=self.client,
            settings=self.settings,
            now_ms=self.clock.now_ms,
            kinds=self.client.kinds,
            cursor_blink=self.cursor_blink,
        )
        self.push_screen(editor, saved)

    def open_runs(self, failed: bool) -> None:
        self.show_jobs()  # one runs view at a time, on top of the main screen
        self.push_screen(RunsScreen(self.ctx, failed=failed))

    def open_overview(self) -> None:
        self.show_jobs()  # like the runs view: one at a time, on top of the main screen
        self.push_screen(FleetScreen(self.ctx))

    def open_approvals(self) -> None:
        self.show_jobs()  # like the runs view: one at a time, on top of the main screen
        self.push_screen(ApprovalsScreen(self.ctx))

    def open_alerts(self) -> None:
        self.show_jobs()  # like the runs view: one at a time, on top of the main screen
        self.push_screen(AlertsScreen(self.ctx))

    def open_nodes(self) -> None:
        self.show_jobs()  # like the runs view: one at a time, on top of the main screen
        self.push_screen(NodesScreen(self.ctx))

    def show_jobs(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    # ------------------------------------------------------------ keys that work everywhere

    def action_zone(self) -> None:
        self.zone_mode = self.zone_mode.next()

    def watch_zone_mode(self, mode: ZoneMode) -> None:
        self.ctx.zone_mode = mode
        self.notify(f"times shown in {mode.label(self.ctx.local_zone)}", timeout=2)
        self.tell(ZoneChanged(mode))
        prefs.save(zone_mode=str(mode))

    def set_zone(self, name: str) -> str | None:
        """`:zone NAME`: show times in NAME (any IANA zone) from now on; an error for an unknown zone."""
        try:
            get_zone(name)
        except ScheduleError as e:  # the rules' words: `Berlin` gets "did you mean 'Europe/Berlin'?"
            return str(e)
        self.ctx.view_zone = name
        prefs.save(local_zone=name)
        if self.zone_mode is ZoneMode.LOCAL:
            self.watch_zone_mode(ZoneMode.LOCAL)  # the mode stays; the zone changed
        else:
            self.zone_mode = ZoneMode.LOCAL
        return None

    def action_overview(self) -> None:
        self.open_overview()

    def action_approvals(self) -> None:
        self.open_approvals()

    def action_alerts(self) -> None:
        self.open_alerts()

    def action_nodes(self) -> None:
        self.open_nodes()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_command(self) -> None:
        if isinstance(self.screen, CronuiScreen):
            self.screen.open_command()

    def run_command(self, text: str) -> str | None:
        """Command mode (`:`); returns an error to show in place, or None when done."""
        return run_command(self, text)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots (the command palette's "Save screenshot") go to a folder that exists — made when
        missing, the user's pictures folder by default — and the toast says where, or why not."""
        folder = Path(path).expanduser() if path else user_pictures_path() / "cronui"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as e:
            self.notify(f"cannot save it in {folder}: {e.strerror or e}", title="Screenshot", severity="error")
            return None
        self.notify(f"saved to {saved}", title="Screenshot", timeout=6)
        return saved

    def action_help_quit(self) -> None:
        """Textual's ctrl+c ("press ctrl+q to quit"), said in this app's terms."""
        self.action_interrupt()

    def action_interrupt(self) -> None:
        """ctrl+c, where a terminal user reaches for it to stop what is in front of them: in a dialog (the
        editor, a test run, a question) it does what escape does there (the editor still asks before
        throwing changes away; a test run is stopped); on a full screen it says which key quits. With text
        selected in a field, the field copies it instead (Textual's binding, which comes first)."""
        screen = self.screen
        if isinstance(screen, ModalScreen):
            for bindings in screen._bindings.key_to_bindings.get("escape", []):
                self.call_later(screen.run_action, bindings.action)
                return
        keys = [self.get_key_display(b.binding) for b in self.active_bindings.values() if b.binding.id == "quit"] or [
            "q"
        ]
        self.notify(f"Press {keys[0]} to quit cronui (it asks first while runs are in flight)", title="Quit?")

    def quit_soon(self) -> None:
        spawn(self, self.action_quit, "actions")
