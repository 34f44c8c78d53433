"""The Textual app: one factory (`make_app`) for the CLI, the tests and the screenshot script.

The engine runs inside the app's event loop as a worker (`Engine.run` in standby): when nobody holds the
scheduler lease this process schedules, when a daemon holds it this process is attached and takes over if
the daemon dies. The app owns the UI's view of the world (the job catalog and the runs in flight); it
fills them from the store and from engine events (see `bridge.py`), and screens read them. Every store
call happens in a worker, so nothing in the UI waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from cronui.config import Settings
from cronui.engine.clock import Clock
from cronui.engine.control import NotFound, poke
from cronui.engine.dispatcher import Executor
from cronui.engine.engine import Engine
from cronui.jobs import JobError
from cronui.model import EventKind, Job, RunEvent, RunStatus, TargetKind
from cronui.store import Store, StoreError, make_store
from cronui.store.base import RunFilter
from cronui.ui import themes
from cronui.ui.bridge import EngineBridge
from cronui.ui.catalog import Catalog
from cronui.ui.commands import CronuiCommands
from cronui.ui.inflight import InFlight
from cronui.ui.times import ZoneMode, countdown
from cronui.ui.widgets.header import HeaderState, StatusHeader

log = logging.getLogger(__name__)

LIVE_LOAD_LIMIT = 200  # runs in flight loaded at start; the live pane shows at most this many anyway
LIVE_EVENTS_LOADED = 50  # of which this many get their logged milestones read back


class CronuiApp(App[int]):
    CSS_PATH = "cronui.tcss"
    TITLE = "cronui"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark", "help", "Help", id="help", key_display="?", tooltip="Keys, filter grammar and commands"
        ),
        Binding(
            "colon",
            "command",
            "Cmd",
            id="command",
            key_display=":",
            tooltip="Command mode: jobs runs failed pause resume new theme zone q",
        ),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            id="palette",
            show=False,
            priority=True,
            tooltip="Command palette (themes too)",
        ),
        Binding(
            "t", "zone", "Zone", id="zone", show=False, tooltip="Show times in the job's zone, the local zone, or UTC"
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks first when runs in flight would be interrupted)"),
    ]

    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {CronuiCommands}

    zone_mode: reactive[ZoneMode] = reactive(ZoneMode.JOB, init=False)

    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: Engine,
        *,
        manage: bool = False,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.engine = engine
        self.control = engine.control
        self.clock: Clock = engine.clock
        self.manage = manage  # the app opens and closes the store (the CLI, snapshot tests)
        self.cursor_blink = cursor_blink
        self.catalog = Catalog()
        self.inflight = InFlight(self.catalog.name_of)
        self.bridge = EngineBridge(self, store, engine)
        self.ready = asyncio.Event()
        self.theme_problems: list[str] = []
        self._stop = asyncio.Event()
        self._opened_engine = False
        self._engine_stopped = False
        self._reload_ids: set[int] = set()
        self._reloading = False
        self._engine_worker: Worker[None] | None = None

    # ------------------------------------------------------------ start and stop

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(themes.STATUS_VARIABLES)

    def _install_themes(self) -> None:
        self.register_theme(themes.FALLBACK)
        loaded = themes.load_themes()
        for theme in loaded.themes:
            self.register_theme(theme)
        self.theme_problems = loaded.problems
        if loaded.problems:
            n = len(loaded.problems)
            self.notify(
                "\n".join(loaded.problems),
                title=f"{n} theme file{'s' if n != 1 else ''} skipped",
                severity="warning",
                timeout=10,
            )
        wanted = self.settings.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.theme = themes.FALLBACK.name
            self.notify(f"unknown theme {wanted!r}; using {themes.FALLBACK.name}", severity="warning")

    async def on_mount(self) -> None:
        from cronui.ui.screens.main import MainScreen

        self._install_themes()
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        await self.push_screen(MainScreen())
        self.refresh_header()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._broadcast("theme_changed"))
        self.run_worker(self._startup, name="startup", group="startup", exit_on_error=False)
        self.set_interval(1.0, self._tick, name="tick")

    async def _startup(self) -> None:
        if self.manage:
            try:
                await self.store.open()
            except StoreError as e:
                self.exit(2, message=f"cronui: {e}")
                return
        if not self.engine.address:
            await self.engine.open()
            self._opened_engine = True
        await self.bridge.prime()
        await self.load_all()
        self._engine_worker = self.run_worker(self._run_engine, name="engine", group="engine", exit_on_error=False)
        self.run_worker(self.bridge.run, name="bridge", group="bridge", exit_on_error=False)
        self.ready.set()

    async def _run_engine(self) -> None:
        """Schedule (or stand by) until the app stops. When the worker is cancelled (the app is going
        away) the loop is asked to stop and given a moment to finish its pass, rather than being torn
        down in the middle of one."""
        task = asyncio.ensure_future(self.engine.run(self._stop, standby=True))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self._stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            raise

    async def load_all(self) -> None:
        """Read jobs, the pause flag and the runs in flight from the store (at start, and after the
        scheduler changed hands, when the event stream may have had a gap)."""
        jobs = await self.store.list_jobs()
        paused = await self.control.paused()
        active = await self.store.list_runs(
            RunFilter(statuses=[RunStatus.RUNNING, RunStatus.PENDING], limit=LIVE_LOAD_LIMIT)
        )
        events: dict[int, list[RunEvent]] = {}
        for run in active[:LIVE_EVENTS_LOADED]:
            assert run.id is not None
            events[run.id] = await self.store.run_events(run.id)
        self.catalog.replace_all(jobs)
        self.catalog.paused = paused
        self.inflight.load(reversed(active), events)
        self._broadcast("jobs_changed")
        self._broadcast("live_changed")
        self.refresh_header()

    async def shutdown_engine(self) -> None:
        """Stop scheduling here: runs in flight are interrupted and recorded, the lease is released."""
        if self._engine_stopped:
            return
        self._engine_stopped = True
        self._stop.set()
        if self._engine_worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._engine_worker.wait(), 5)
        if self._opened_engine:
            with contextlib.suppress(Exception):
                await self.engine.close(grace_s=0)
        if self.manage:
            with contextlib.suppress(Exception):
                await self.store.close()

    async def on_unmount(self) -> None:
        await self.shutdown_engine()

    async def action_quit(self) -> None:
        from cronui.ui.screens.confirm import ConfirmScreen

        active = len(self.engine.dispatcher.active) if self.engine.holding else 0
        if not active:
            await self._quit()
            return
        word = "run" if active == 1 else "runs"

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._quit()

        await self.push_screen(
            ConfirmScreen(
                f"Quit while {active} {word} in flight?",
                f"This process schedules: quitting stops scheduling here and interrupts the {word} in flight "
                "(recorded as interrupted; retries apply when a scheduler runs again).",
                yes="Quit",
            ),
            answered,
        )

    async def _quit(self) -> None:
        await self.shutdown_engine()
        self.exit(0)

    # ------------------------------------------------------------ engine events

    def on_engine_bridge_events_arrived(self, message: EngineBridge.EventsArrived) -> None:
        events = self.bridge.take()
        if not events:
            return
        live = self.inflight.apply(events)
        reload: set[int] = set()
        removed = False
        for ev in events:
            kind = ev.kind
            if ev.job_id is not None and kind in (
                EventKind.JOB_CREATED,
                EventKind.JOB_UPDATED,
                EventKind.JOB_AUTO_DISABLED,
            ):
                reload.add(ev.job_id)
            elif kind is EventKind.JOB_REMOVED and ev.job_id is not None:
                self.catalog.remove(ev.job_id)
                removed = True
            elif kind is EventKind.QUEUED and ev.job_id is not None:
                if ev.data.get("trigger") in ("schedule", "catchup"):
                    reload.add(ev.job_id)  # the slot was taken: the job's next fire moved on
            elif kind is EventKind.FINISHED and ev.job_id is not None:
                status = ev.data.get("status")
                if status in RunStatus._value2member_map_:
                    self.catalog.add_outcome(ev.job_id, RunStatus(status))
                reload.add(ev.job_id)
            elif kind in (EventKind.PAUSED, EventKind.RESUMED):
                self.catalog.paused = kind is EventKind.PAUSED
                self._broadcast("jobs_changed")
        if reload:
            self.reload_jobs(reload)
        elif removed:
            self._broadcast("jobs_changed")
        if live:
            self._broadcast("live_changed")
        self._broadcast("engine_events", events)
        self.refresh_header()

    def on_engine_bridge_scheduler_changed(self, message: EngineBridge.SchedulerChanged) -> None:
        if self._engine_stopped:
            return
        self.refresh_header()
        self.run_worker(self.load_all, group="reload-all", exclusive=True, exit_on_error=False)

    def reload_jobs(self, job_ids: Iterable[int]) -> None:
        """Read these jobs again (one worker at a time; ids asked for meanwhile join the next pass)."""
        self._reload_ids.update(job_ids)
        if not self._reloading:
            self._reloading = True
            self.run_worker(self._reload_loop, group="reload-jobs", exit_on_error=False)

    async def _reload_loop(self) -> None:
        try:
            while self._reload_ids:
                ids, self._reload_ids = self._reload_ids, set()
                if len(ids) > 500:
                    self.catalog.replace_all(await self.store.list_jobs())
                else:
                    for job_id in ids:
                        job = await self.store.get_job(job_id)
                        if job is None or job.deleted_at is not None:
                            self.catalog.remove(job_id)
                        else:
                            self.catalog.upsert(job)
                self._broadcast("jobs_changed")
                self.refresh_header()
        finally:
            self._reloading = False

    def _broadcast(self, method: str, *args: Any) -> None:
        """Attributes down: tell every screen on the stack that has a use for it."""
        if not self.is_running or self._engine_stopped:
            return
        for screen in self.screen_stack:
            handler = getattr(screen, method, None)
            if handler is not None and screen.is_mounted:
                try:
                    handler(*args)
                except NoMatches:  # the screen is being torn down: nothing left to tell
                    pass

    def _tick(self) -> None:
        self.refresh_header()
        self._broadcast("tick")

    # ------------------------------------------------------------ the header

    def header_state(self, where: str) -> HeaderState:
        eng = self.engine
        now = self.clock.now_ms()
        lease = eng.holder
        if eng.holding:
            kind, text = "owning", "scheduling (this process)"
        elif lease is not None and lease.holder != eng.node and lease.expires_at > now:
            kind, text = "attached", f"attached to daemon {lease.host}:{lease.pid}"
        elif not self.ready.is_set():
            kind, text = "none", "starting…"
        else:
            kind, text = "none", "nothing schedules (waiting for the lease)"
        nxt = self.catalog.next_fire()
        next_text = ""
        if nxt is not None and not self.catalog.paused:
            next_text = countdown(nxt[0], now)
        return HeaderState(
            db=_home(self.settings.db),
            scheduler=text,
            scheduler_kind=kind,
            paused=self.catalog.paused,
            jobs=len(self.catalog),
            running=self.inflight.running,
            next_text=next_text,
            where=where,
        )

    def refresh_header(self) -> None:
        if not self.is_running or not self.screen_stack:
            return
        screen = self.screen
        for header in screen.query(StatusHeader):
            header.show(self.header_state(getattr(screen, "where", "")))

    # ------------------------------------------------------------ actions any screen may ask for

    def act(self, what: str, work: Callable[[], Awaitable[object]], done: Callable[[Any], None] | None = None) -> None:
        """Run a write in a worker; a refusal (bad input, a missing job) becomes one toast, never a crash."""

        async def go() -> None:
            try:
                result = await work()
            except (JobError, NotFound, StoreError) as e:
                self.notify(str(e), title=f"cannot {what}", severity="error")
                return
            await self.poke_holder()
            if done is not None:
                done(result)

        self.run_worker(go, group="actions", exit_on_error=False)

    async def poke_holder(self) -> None:
        """Attached: wake the process that schedules so it acts on our write now, not at its next poll."""
        if self.engine.holding:
            return
        with contextlib.suppress(Exception):
            lease = await self.store.get_lease()
            if lease is not None and lease.holder != self.engine.node:
                await poke(lease.address)

    def run_now(self, job: Job) -> None:
        self.act(
            "run it",
            lambda: self.control.trigger(job.name),
            lambda run: self.notify(f"queued run #{run.id} of {job.name}", timeout=3),
        )

    def set_enabled(self, job: Job, enabled: bool) -> None:
        self.act(
            "enable it" if enabled else "disable it",
            lambda: self.control.set_enabled(job.name, enabled),
            lambda j: self.notify(f"{j.name} {'enabled' if j.enabled else 'disabled'}", timeout=3),
        )

    def remove_job(self, job: Job) -> None:
        self.act(
            "remove it",
            lambda: self.control.remove_job(job.name),
            lambda j: self.notify(f"removed {j.name} (its runs are kept)", timeout=3),
        )

    def cancel_run(self, run_id: int) -> None:
        self.act(
            "cancel it",
            lambda: self.control.cancel(run_id),
            lambda run: self.notify(f"cancel requested for run #{run_id}", timeout=3),
        )

    def pause(self, paused: bool) -> None:
        self.act(
            "pause" if paused else "resume",
            (self.control.pause if paused else self.control.resume),
            lambda _: self.notify("paused: nothing new starts" if paused else "resumed", timeout=3),
        )

    def open_run(self, run_id: int, *, follow: bool = False) -> None:
        from cronui.ui.screens.run_detail import RunDetailScreen

        self.push_screen(RunDetailScreen(run_id, follow=follow))

    def open_editor(self, job: Job | None) -> None:
        from cronui.ui.screens.job_editor import JobEditor

        def saved(result: Job | None) -> None:
            if result is not None:
                assert result.id is not None
                self.catalog.upsert(result)
                self._broadcast("jobs_changed")
                self._broadcast("select_job", result.id)
                self.refresh_header()
                self.run_worker(self.poke_holder, group="actions")

        editor = JobEditor(
            job,
            control=self.control,
            settings=self.settings,
            now_ms=self.clock.now_ms,
            kinds=self.engine.dispatcher.executors,
            cursor_blink=self.cursor_blink,
        )
        self.push_screen(editor, saved)

    def open_runs(self, failed: bool) -> None:
        from cronui.ui.screens.runs import RunsScreen

        while len(self.screen_stack) > 2:  # one runs view at a time, on top of the main screen
            self.pop_screen()
        self.push_screen(RunsScreen(failed=failed))

    def show_jobs(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    # ------------------------------------------------------------ keys that work everywhere

    def action_zone(self) -> None:
        self.zone_mode = self.zone_mode.next()

    def watch_zone_mode(self, mode: ZoneMode) -> None:
        self.notify(f"times shown in {mode.label(self.settings.timezone)}", timeout=2)
        self._broadcast("zone_changed")

    def action_help(self) -> None:
        from cronui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_command(self) -> None:
        opener = getattr(self.screen, "open_command", None)
        if opener is not None:
            opener()

    def end_command(self, screen: Screen[Any], prompt: Any, submitted: bool, value: str, focus: Widget) -> None:
        """Command mode's end, the same on every screen: run it (an error stays in place), close, refocus."""
        if submitted:
            error = self.run_command(value)
            if error:
                prompt.show_error(True)
                screen.notify(error, severity="warning", timeout=4)
                return
        prompt.close()
        if screen.is_current:
            focus.focus()

    def run_command(self, text: str) -> str | None:
        """Command mode (`:`); returns an error to show in place, or None when done."""
        words = text.strip().lstrip(":").split()
        if not words:
            return None
        verb, args = words[0].lower(), words[1:]
        if verb in ("q", "quit", "q!"):
            self.run_worker(self.action_quit, group="actions")
        elif verb in ("jobs", "job", "j"):
            self.show_jobs()
        elif verb in ("runs", "r"):
            self.open_runs(failed=False)
        elif verb in ("failed", "failures", "f"):
            self.open_runs(failed=True)
        elif verb == "pause":
            self.pause(True)
        elif verb == "resume":
            self.pause(False)
        elif verb in ("new", "add"):
            self.open_editor(None)
        elif verb in ("zone", "tz"):
            self.action_zone()
        elif verb in ("help", "h", "?"):
            self.action_help()
        elif verb == "theme":
            if not args:
                return f"themes: {', '.join(sorted(self.available_themes))}"
            name = " ".join(args)
            if name not in self.available_themes:
                return f"unknown theme {name!r} (try :theme {sorted(self.available_themes)[0]})"
            self.theme = name
        else:
            return f"unknown command {verb!r} (jobs runs failed pause resume new theme zone help q)"
        return None

    # ------------------------------------------------------------ errors from workers, in one place

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            log.error("worker %s failed: %r", event.worker.name, err)
            self.notify(f"{type(err).__name__}: {err}", title=f"{event.worker.name or 'task'} failed", severity="error")


def _home(path: str) -> str:
    import os

    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if home and home != "/" and path.startswith(home + os.sep) else path


def make_app(
    settings: Settings,
    store: Store,
    clock: Clock | None = None,
    engine: Engine | None = None,
    *,
    executors: dict[TargetKind, Executor] | None = None,
    manage: bool = False,
    cursor_blink: bool = True,
) -> CronuiApp:
    """The configured app. `manage=True`: the app opens and closes the store itself (in its own event
    loop); otherwise the caller has opened it. An engine that is not open yet is opened and closed by
    the app."""
    if engine is None:
        engine = Engine(store, settings, clock, executors=executors)
    return CronuiApp(settings, store, engine, manage=manage, cursor_blink=cursor_blink)


def run_tui(settings: Settings) -> int:
    """`cronui`: open the database, schedule or attach, and show it all until the user quits."""

    async def check() -> None:  # a bad path or a newer schema is a one-line error before the screen opens
        probe = make_store(settings.db)
        await probe.open()
        await probe.close()

    asyncio.run(check())
    app = make_app(settings, make_store(settings.db), manage=True)
    result = app.run()
    return int(result or 0)
