"""The processes that schedule this database (`:nodes`, `N`): each node's host, pid, labels, last heartbeat,
runs in flight and whether it lives — the TUI's `cronui nodes`. In cluster mode every node is listed; with
SQLite, the one that holds the scheduler lease.

`NodeWatch` follows who schedules for the header (the live node count) and says when scheduling changes
hands (a node joins or leaves; with SQLite, the lease moves), which the app shows as a toast. The table
is built off the nodes alone (`nodes_table`), so both are tested without a screen.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from cronui.model import RunStatus
from cronui.model.records import Node
from cronui.placement import node_alive
from cronui.timefmt import human_span
from cronui.ui.messages import Tick
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import BACK
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.widgets.status import StatusStyles
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.workers import spawn

RELOAD_S = 2  # the view reads the nodes again this often (heartbeats come every lease.renew seconds)


def node_name(node: Node) -> str:
    return f"{node.host}:{node.pid}"


def nodes_table(nodes: Sequence[Node], now: int, here: str, me: str, styles: StatusStyles) -> Table:
    """One row per node: the live ones first, then by host and pid."""
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("Host", no_wrap=True, ratio=2, overflow="ellipsis", min_width=10)
    table.add_column("PID", justify="right", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Running", justify="right", no_wrap=True)
    table.add_column("Heartbeat", justify="right", no_wrap=True)
    table.add_column("Labels", ratio=2, overflow="fold", min_width=6)
    table.add_column("Up", justify="right", no_wrap=True)
    rows = sorted(nodes, key=lambda n: (not node_alive(n, now, here), n.host, n.pid))
    for n in rows:
        alive = node_alive(n, now, here)
        state = Text("alive" if alive else "gone", styles.status_style(RunStatus.SUCCEEDED if alive else None))
        if n.node == me:
            state.append(" (here)", styles.component_style("status--dim"))
        table.add_row(
            n.host,
            str(n.pid),
            state,
            Text(str(n.running), styles.status_style(RunStatus.RUNNING) if n.running else ""),
            _ago(now - n.seen_at),
            " ".join(n.labels) or Text("—", styles.component_style("status--dim")),
            _ago(now - n.started_at).removesuffix(" ago"),
        )
    return table


def _ago(ms: int) -> str:
    """How long ago, in whole seconds under a minute (heartbeats come seconds apart; an uptime of '0.00s'
    read as broken)."""
    return f"{max(0, ms) // 1000}s ago" if ms < 60_000 else f"{human_span(ms)} ago"


def summary(nodes: Sequence[Node], now: int, here: str) -> str:
    alive = sum(1 for n in nodes if node_alive(n, now, here))
    gone = len(nodes) - alive
    text = f"Nodes · {alive} alive"
    if gone:
        text += f" · {gone} gone"
    return text + f" · {sum(n.running for n in nodes if node_alive(n, now, here))} running"


class NodeWatch:
    """Who schedules, as last seen: the live nodes (cluster mode) or the lease holder (SQLite), and what
    changed since the last look, said as toasts."""

    def __init__(self) -> None:
        self.alive: dict[str, Node] = {}
        self.seen = False  # the nodes were read at least once
        self._holder: str | None = None
        self._holder_seen = False

    @property
    def count(self) -> int:
        return len(self.alive)

    def nodes_seen(self, nodes: Sequence[Node], now: int, here: str, me: str) -> list[str]:
        """Cluster mode: take in the nodes table; returns a line per node that joined or left."""
        alive = {n.node: n for n in nodes if node_alive(n, now, here)}
        before, self.alive = self.alive, alive
        if not self.seen:
            self.seen = True
            return []
        count = f"{len(alive)} node{'s' if len(alive) != 1 else ''}"
        said = [
            f"node {node_name(n)} joined ({count})" + (" · this one" if n.node == me else "")
            for key, n in alive.items()
            if key not in before
        ]
        said += [
            f"node {node_name(n)} left ({count}); its runs are recovered by the others"
            for key, n in before.items()
            if key not in alive
        ]
        if before and not alive:
            said.append("no node schedules this database now")
        return said

    def holder_seen(self, holder: str | None) -> str | None:
        """SQLite: take in who holds the scheduler lease ('' for this process, None for nobody); returns a
        line when it changed hands."""
        before, self._holder = self._holder, holder
        if not self._holder_seen:
            self._holder_seen = True
            return None
        if holder == before:
            return None
        if holder is None:
            return "nothing schedules now"
        return "this process schedules now" if holder == "" else f"scheduling moved to {holder}"


class NodesScreen(CronuiScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="nodes-reload", tooltip="Read the nodes again"),
        BACK,
    ]

    @property
    def where(self) -> str:
        return "Nodes"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="nodes-pane", classes="pane"):
            yield StyledStatic("loading…", id="nodes")
        yield KeysFooter()
        yield PromptBar()

    _ticks = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#nodes-pane").focus()
        self.action_reload()

    def on_tick(self, message: Tick) -> None:
        self._ticks += 1
        if self._ticks % RELOAD_S == 0:
            self.action_reload()

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.query_one("#nodes-pane").focus()
            return
        self.app.pop_screen()

    def action_reload(self) -> None:
        spawn(self, self._load, "nodes", exclusive=True)

    async def _load(self) -> None:
        nodes = await self.ctx.client.nodes()
        now, here = self.ctx.now_ms(), socket.gethostname()
        self.query_one("#nodes-pane").border_title = summary(nodes, now, here)
        widget = self.query_one("#nodes", StyledStatic)
        if not nodes:
            widget.update("no node has a heartbeat on this database")
            return
        widget.update(nodes_table(nodes, now, here, self.ctx.client.node, widget))
