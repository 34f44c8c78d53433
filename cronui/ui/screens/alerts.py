"""The alerts sent (`:alerts`, `!`): the latest notices, newest first — when, which kind (`✔ KIND`: its
recovery), about which job (or endpoint), to which channel (masked as everywhere), how it went, in how
many attempts, and what the service answered, cut to the width. A page of them (never the whole history),
read again every few seconds.

The table is built off the sends alone (`alerts_table`), so it is tested without a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from cronui.application.watch import ALERTS_PAGE
from cronui.model import RunStatus
from cronui.model.alerts import FAILED, PENDING, SENT, AlertKind, AlertSend
from cronui.ui.messages import Tick
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import BACK
from cronui.ui.times import short_time
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.widgets.status import DIM, WARNING, StatusStyles
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.workers import spawn

RELOAD_S = 3  # the view reads the sends again this often (a send is retried tens of seconds apart)


def outcome_text(send: AlertSend, styles: StatusStyles) -> Text:
    """sent, failed (for good), retrying (failed, tried again later) or pending, in the theme's colours."""
    if send.outcome == SENT:
        return Text("sent", styles.status_style(RunStatus.SUCCEEDED))
    if send.outcome == FAILED:
        return Text("failed", styles.status_style(RunStatus.FAILED))
    if send.outcome == PENDING and send.attempts:
        return Text("retrying", styles.component_style(WARNING))
    return Text(send.outcome, styles.status_style(RunStatus.RUNNING))


def kind_text(send: AlertSend, styles: StatusStyles) -> Text:
    """The notice: the episode's kind (`late`), or `✔ late` in the success colour when it recovered."""
    if send.notice == AlertKind.RECOVERED:
        return Text(f"✔ {send.kind}", styles.status_style(RunStatus.SUCCEEDED))
    return Text(send.notice, styles.component_style(WARNING))


def about(send: AlertSend, styles: StatusStyles) -> Text | str:
    """Its job's name, or (an endpoint's infra alert) what it is about, dim."""
    if send.job_name:
        return send.job_name
    return Text(send.subject.removeprefix("endpoint:"), styles.component_style(DIM))


def answer_line(answer: str | None) -> str:
    """The service's answer on one line (its lines joined): the cell cuts it to the width."""
    return " ".join((answer or "").split()) or "—"


def alerts_table(sends: Sequence[AlertSend], now: int, zone: str, styles: StatusStyles) -> Table:
    """One row per send, as given (newest first)."""
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("Time", no_wrap=True, min_width=12)
    table.add_column("Kind", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("Job", no_wrap=True, overflow="ellipsis", ratio=2, min_width=10)
    table.add_column("Channel", no_wrap=True, overflow="ellipsis", ratio=2, min_width=8)
    table.add_column("Outcome", no_wrap=True)
    table.add_column("Tries", justify="right", no_wrap=True)
    table.add_column("Answer", no_wrap=True, overflow="ellipsis", ratio=3, min_width=6)
    dim = styles.component_style(DIM)
    for s in sends:
        table.add_row(
            short_time(s.sent_at or s.created_at, zone, now),
            kind_text(s, styles),
            about(s, styles),
            s.channel,
            outcome_text(s, styles),
            str(s.attempts),
            Text(answer_line(s.answer), dim),
        )
    return table


def summary(sends: Sequence[AlertSend], limit: int) -> str:
    failed = sum(1 for s in sends if s.outcome == FAILED)
    pending = sum(1 for s in sends if s.outcome == PENDING)
    text = f"Alerts · the latest {len(sends):,}" if len(sends) >= limit else f"Alerts · {len(sends):,} sent"
    if failed:
        text += f" · {failed:,} failed"
    if pending:
        text += f" · {pending:,} pending"
    return text


class AlertsScreen(CronuiScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="alerts-reload", tooltip="Read the alerts again"),
        BACK,
    ]

    limit = ALERTS_PAGE  # a page, newest first

    @property
    def where(self) -> str:
        return "Alerts"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="alerts-pane", classes="pane"):
            yield StyledStatic("loading…", id="alerts")
        yield KeysFooter()
        yield PromptBar()

    _ticks = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#alerts-pane").focus()
        self.action_reload()

    def on_tick(self, message: Tick) -> None:
        self._ticks += 1
        if self._ticks % RELOAD_S == 0:
            self.action_reload()

    def on_prompt_done(self, message: Prompt.Done) -> None:
        self.end_command(message.prompt, message.submitted, message.value, self.query_one("#alerts-pane"))

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.query_one("#alerts-pane").focus()
            return
        self.app.pop_screen()

    def action_reload(self) -> None:
        spawn(self, self._load, "alerts", exclusive=True)

    async def _load(self) -> None:
        sends = await self.ctx.client.recent_alerts(self.limit)
        self.query_one("#alerts-pane").border_title = summary(sends, self.limit)
        widget = self.query_one("#alerts", StyledStatic)
        if not sends:
            widget.update("no alert sent yet — jobs say what to expect with the editor's Alert if fields")
            return
        widget.update(alerts_table(sends, self.ctx.now_ms(), self.ctx.local_zone, widget))
