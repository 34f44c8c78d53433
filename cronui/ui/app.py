"""The Textual app: one factory (`make_app`) for the CLI, the tests and the screenshot script.

The engine runs inside the app's event loop as a worker (`Engine.run` in standby): when nobody holds the
scheduler lease this process schedules, when a daemon holds it this process is attached and takes over if
the daemon dies. The app owns the UI's view of the world (the job catalog and the runs in flight, kept in
step by `sync.py` from the events `bridge.py` delivers) and hands it to the screens with the engine client
(`client.py`), the one road to the engine. It tells the screens what changed with messages and does what
they ask for by message (`messages.py`). Every store call happens in a worker, so nothing in the UI waits
on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from cronui.application.agent_tools import equip
from cronui.config import Settings
from cronui.engine.clock import Clock
from cronui.engine.dispatcher import Executor
from cronui.engine.engine import Engine
from cronui.model import TargetKind
from cronui.redaction import redacted
from cronui.schedule import zone_known
from cronui.store import Store, StoreError, make_store
from cronui.ui import prefs, themes
from cronui.ui.app_requests import AppRequests
from cronui.ui.bridge import EngineBridge
from cronui.ui.catalog import Catalog
from cronui.ui.client import EngineClient
from cronui.ui.commands import VERBS, CronuiCommands
from cronui.ui.context import ScreenContext
from cronui.ui.inflight import InFlight
from cronui.ui.messages import (
    EngineEvents,
    HeaderStale,
    JobsChanged,
    LiveChanged,
    Notice,
    ThemeChanged,
    Tick,
)
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.main import MainScreen
from cronui.ui.screens.nodes import NodeWatch
from cronui.ui.screens.run_detail import prepare_styles
from cronui.ui.status import header_state
from cronui.ui.sync import ViewSync
from cronui.ui.times import ZoneMode
from cronui.ui.widgets.header import HeaderState, StatusHeader
from cronui.ui.workers import spawn

log = logging.getLogger(__name__)
NODES_EVERY_S = 2  # cluster mode: the nodes table is read this often (heartbeats come every lease.renew seconds)
HEALTH_EVERY_S = 5  # every job's health is read this often (one query): alerts open and close without events

DEFAULT_THEME: str = Settings.theme  # the theme when the config names none

T = TypeVar("T")


class CronuiApp(AppRequests):
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
            tooltip=f"Command mode: {VERBS}",
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
        Binding("o", "overview", "Overview", id="overview", show=False, tooltip="Every job at a glance (:overview)"),
        Binding(
            "exclamation_mark",
            "alerts",
            "Alerts",
            id="alerts",
            show=False,
            key_display="!",
            tooltip="The alerts sent, newest first (:alerts)",
        ),
        Binding("N", "nodes", "Nodes", id="nodes", show=False, tooltip="The processes that schedule (:nodes)"),
        Binding(
            "A", "approvals", "Approvals", id="approvals", show=False, tooltip="Runs waiting for approval (:approvals)"
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks first when runs in flight would be interrupted)"),
    ]

    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {CronuiCommands}

    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: Engine,
        *,
        manage: bool = False,
        cursor_blink: bool = True,
        execute: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine  # the caller's handle on it (tests); the UI itself goes through the client
        self.client = EngineClient(store, engine, manage=manage, execute=execute)
        self.clock: Clock = engine.clock
        self.cursor_blink = cursor_blink
        self.catalog = Catalog()
        self.inflight = InFlight(self.catalog.name_of)
        self.sync = ViewSync(self.client, self.catalog, self.inflight)
        self.bridge = self.client.bridge(self)
        self.ctx = ScreenContext(self.client, self.catalog, self.inflight, settings, cursor_blink, self.run_command)
        self.ready = asyncio.Event()
        self.theme_problems: list[str] = []
        self.prefs: dict[str, Any] = {}  # what the UI remembered from last time (read at mount)
        self._stop = asyncio.Event()
        self._engine_stopped = False
        self._reloading = False
        self._engine_worker: Worker[None] | None = None
        self.node_watch = NodeWatch()  # who schedules: the header's node count, toasts when it changes
        self._ticks = 0

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
        remembered = self.prefs.get("theme")
        if wanted == DEFAULT_THEME and isinstance(remembered, str) and remembered in self.available_themes:
            wanted = remembered  # the config leaves it open: the last theme chosen here
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.theme = themes.FALLBACK.name
            self.notify(f"unknown theme {wanted!r}; using {themes.FALLBACK.name}", severity="warning")

    def _recall_zone(self) -> None:
        """How times were shown last time, and the zone of "local" times if one was chosen (`:zone NAME`)."""
        zone = self.prefs.get("local_zone")
        if isinstance(zone, str) and zone_known(zone):
            self.ctx.view_zone = zone
        mode = self.prefs.get("zone_mode")
        if isinstance(mode, str) and mode in ZoneMode._value2member_map_:
            self.set_reactive(CronuiApp.zone_mode, ZoneMode(mode))
            self.ctx.zone_mode = ZoneMode(mode)

    def _theme_chosen(self, theme: object) -> None:
        self.tell(ThemeChanged())
        prefs.save(theme=self.theme)

    async def on_mount(self) -> None:
        self.prefs = prefs.load()
        self._install_themes()
        self._recall_zone()
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        await self.push_screen(MainScreen(self.ctx))
        self.refresh_header()
        self.theme_changed_signal.subscribe(self, self._theme_chosen)
        spawn(self, self._startup, "startup", name="startup")
        self.set_interval(1.0, self._tick, name="tick")

    async def _startup(self) -> None:
        try:
            await self.client.open()
        except StoreError as e:
            self.exit(2, message=f"cronui: {e}")
            return
        await self.bridge.prime()
        await self.load_all()
        self._engine_worker = spawn(self, self._run_engine, "engine", name="engine")
        spawn(self, self.bridge.run, "bridge", name="bridge")
        self.ready.set()
        self.call_after_refresh(prepare_styles, self)  # the first run opened need not parse them

    async def _run_engine(self) -> None:
        await self.client.run_engine(self._stop)

    async def load_all(self) -> None:
        """Read jobs, the pause flag and the runs in flight from the store (at start, and after the
        scheduler changed hands, when the event stream may have had a gap)."""
        await self.sync.load_all()
        self.tell(JobsChanged())
        self.tell(LiveChanged())
        self.refresh_header()

    async def shutdown_engine(self) -> None:
        """Stop scheduling here: runs in flight are interrupted and recorded, the lease is released."""
        if self._engine_stopped:
            return
        self._engine_stopped = True
        self._stop.set()
        if self._engine_worker is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):  # never asyncio.wait_for: it can swallow a cancel (gh-86296)
                    await self._engine_worker.wait()
        await self.client.close()

    async def on_unmount(self) -> None:
        await self.shutdown_engine()

    async def action_quit(self) -> None:
        active = self.client.running_count
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
        folded = self.sync.fold(events)
        if folded.reload:
            self.reload_jobs(folded.reload)
        elif folded.jobs:
            self.tell(JobsChanged())
        if folded.live:
            self.tell(LiveChanged())
        self.tell(EngineEvents(events))
        self.refresh_header()

    def on_engine_bridge_scheduler_changed(self, message: EngineBridge.SchedulerChanged) -> None:
        if self._engine_stopped:
            return
        self.refresh_header()
        spawn(self, self.load_all, "reload-all", exclusive=True)

    def reload_jobs(self, job_ids: Iterable[int]) -> None:
        """Read these jobs again (one worker at a time; ids asked for meanwhile join the next pass)."""
        self.sync.want(job_ids)
        if not self._reloading:
            self._reloading = True
            spawn(self, self._reload_loop, "reload-jobs")

    async def _reload_loop(self) -> None:
        try:
            while self.sync.wanted:
                await self.sync.reload()
                self.tell(JobsChanged())
                self.refresh_header()
        finally:
            self._reloading = False

    def tell(self, notice: Notice) -> None:
        """Attributes down: tell every screen on the stack (each handles what it has a use for)."""
        if not self.is_running or self._engine_stopped:
            return
        for screen in self.screen_stack:
            if screen.is_mounted:
                screen.post_message(notice)

    def _tick(self) -> None:
        self._ticks += 1
        if self.ready.is_set() and not self._engine_stopped:
            self._watch_scheduler()
            if self._ticks % HEALTH_EVERY_S == 0:
                spawn(self, self._read_health, "health", exclusive=True)
        self.refresh_header()
        self.tell(Tick())

    async def _read_health(self) -> None:
        if await self.sync.read_health():
            self.tell(JobsChanged())

    def _watch_scheduler(self) -> None:
        """Say when scheduling changes hands: in cluster mode from the nodes table (read every
        NODES_EVERY_S), with SQLite from the scheduler lease as the engine last saw it."""
        if not self.client.multi_node:
            if not self.client.lease_seen:
                return  # starting: who schedules is not known yet, so nothing has changed hands
            lease = self.client.holder
            holder = "" if self.client.holding else None if lease is None else f"{lease.host}:{lease.pid}"
            said = self.node_watch.holder_seen(holder)
            if said:
                self.notify(said, title="scheduler", timeout=5)
        elif self._ticks % NODES_EVERY_S == 1:
            spawn(self, self._read_nodes, "nodes", exclusive=True)

    async def _read_nodes(self) -> None:
        nodes = await self.client.nodes()
        for said in self.node_watch.nodes_seen(nodes, self.client.now_ms(), socket.gethostname(), self.client.node):
            self.notify(said, title="cluster", timeout=5)
        self.refresh_header()

    # ------------------------------------------------------------ the header

    def header_state(self, where: str) -> HeaderState:
        return header_state(
            self.client,
            self.catalog,
            self.inflight,
            redacted(self.settings.db),
            ready=self.ready.is_set(),
            where=where,
            nodes=self.node_watch.count if self.node_watch.seen else None,
        )

    def refresh_header(self) -> None:
        """The header of every screen on the stack: one under a dialog (the editor) stays in sight, and its
        clock and "next in" must keep going."""
        if not self.is_running or not self.screen_stack:
            return
        for screen in self.screen_stack:
            if not screen.is_mounted:
                continue
            where = screen.where if isinstance(screen, CronuiScreen) else ""
            for header in screen.query(StatusHeader):
                header.show(self.header_state(where))

    def on_header_stale(self, message: HeaderStale) -> None:
        self.refresh_header()

    # ------------------------------------------------------------ errors from workers, in one place

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            log.error("worker %s failed: %r", event.worker.name, err)
            self.notify(f"{type(err).__name__}: {err}", title=f"{event.worker.name or 'task'} failed", severity="error")


def make_app(
    settings: Settings,
    store: Store,
    clock: Clock | None = None,
    engine: Engine | None = None,
    *,
    executors: dict[TargetKind, Executor] | None = None,
    manage: bool = False,
    cursor_blink: bool = True,
    execute: bool = False,
) -> CronuiApp:
    """The configured app. `manage=True`: the app opens and closes the store itself (in its own event
    loop); otherwise the caller has opened it. An engine that is not open yet is opened and closed by
    the app."""
    if engine is None:
        engine = Engine(store, settings, clock, executors=executors)
        equip(engine)  # the tools agent jobs may offer their models
    return CronuiApp(settings, store, engine, manage=manage, cursor_blink=cursor_blink, execute=execute)


def run_tui(settings: Settings, *, execute: bool = False) -> int:
    """`cronui`: open the database, schedule or attach, and show it all until the user quits."""

    async def check() -> None:  # a bad path or a newer schema is a one-line error before the screen opens
        probe = make_store(settings.db)
        await probe.open()
        await probe.close()

    asyncio.run(check())
    app = make_app(settings, make_store(settings.db), manage=True, execute=execute)
    result = app.run()
    return int(result or 0)
