"""A job's history (`h` on the job list): its changes from the audit log, newest first — when, who (`cli:`,
`tui:`, `api:`, `mcp:`), the action, and what changed (`key: old -> new`, secrets masked), cut to the width.
A page of them (never the whole log), read again on `r`.

The table is built off the rows alone (`history_table`), so it is tested without a screen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from cronui.application.audit import change_text
from cronui.model.audit import CREATED, DISABLED, REMOVED, AuditEntry
from cronui.ui.context import ScreenContext
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import BACK
from cronui.ui.times import short_time
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.widgets.status import DIM, WARNING, StatusStyles
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.workers import spawn

HISTORY_PAGE = 100  # the latest changes shown


def action_text(entry: AuditEntry, styles: StatusStyles) -> Text | str:
    if entry.action in (REMOVED, DISABLED):
        return Text(entry.action, styles.component_style(WARNING))
    return entry.action


def history_table(entries: Sequence[AuditEntry], now: int, zone: str, styles: StatusStyles) -> Table:
    """One row per change, as given (newest first)."""
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("When", no_wrap=True, min_width=12)
    table.add_column("Who", no_wrap=True, overflow="ellipsis", ratio=2, min_width=10)
    table.add_column("Action", no_wrap=True, min_width=8)
    table.add_column("What changed", no_wrap=True, overflow="ellipsis", ratio=5, min_width=10)
    dim = styles.component_style(DIM)
    for e in entries:
        what = change_text(e, width=400) or ("—" if e.action != CREATED else "")
        table.add_row(short_time(e.at, zone, now), e.who, action_text(e, styles), Text(what, dim))
    return table


class HistoryScreen(CronuiScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="history-reload", tooltip="Read the job's history again"),
        BACK,
    ]

    limit = HISTORY_PAGE

    def __init__(self, ctx: ScreenContext, job_name: str) -> None:
        super().__init__(ctx)
        self.job_name = job_name
        self.entries: list[AuditEntry] | None = None  # None until read

    @property
    def where(self) -> str:
        return f"History of {self.job_name}"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="history-pane", classes="pane"):
            yield StyledStatic("loading…", id="history")
        yield KeysFooter()
        yield PromptBar()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#history-pane").focus()
        self.action_reload()

    def on_prompt_done(self, message: Prompt.Done) -> None:
        self.end_command(message.prompt, message.submitted, message.value, self.query_one("#history-pane"))

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.query_one("#history-pane").focus()
            return
        self.app.pop_screen()

    def action_reload(self) -> None:
        spawn(self, self._load, "history", exclusive=True)

    async def _load(self) -> None:
        entries = self.entries = await self.ctx.client.job_history(self.job_name, self.limit)
        pane = self.query_one("#history-pane")
        pane.border_title = f"History · {self.job_name} · {len(entries):,} change{'s' if len(entries) != 1 else ''}"
        widget = self.query_one("#history", StyledStatic)
        if not entries:
            widget.update(f"no change to {self.job_name} recorded (the log keeps [retention] audit_days)")
            return
        widget.update(history_table(entries, self.ctx.now_ms(), self.ctx.local_zone, widget))
