"""Runs waiting for approval (`:approvals`, `A`): each with its job, slot, how long it has waited, its
deadline and what it becomes then; `a` approves the selected run, `d` rejects it (asking for an optional
reason), enter opens it. The rows are built off the runs alone (`approval_rows`), so they are tested
without a screen; `ReasonScreen` is the rejection's question, shared with the runs pane and run detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from cronui.model import APPROVE, Run, RunStatus
from cronui.timefmt import human_span
from cronui.ui.context import ScreenContext
from cronui.ui.messages import ApproveRun, EngineEvents, OpenRun, RejectRun, Tick
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import APPROVE_RUN, BACK, INTERRUPT, OPEN, REJECT_RUN
from cronui.ui.screens.why import SaysWhyNot
from cronui.ui.times import countdown, short_time, zone_for
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.workers import spawn

RELOAD_S = 5  # read the waiting runs again this often (events reload it sooner)
COLUMNS = ("Run", "Job", "Slot", "Waiting", "Deadline", "Then")


def approval_rows(runs: Sequence[Run], now: int, zone_of: dict[str, str]) -> list[tuple[str, ...]]:
    """One row per waiting run: its id, job, slot, how long it has waited, the time left to its deadline,
    and what it becomes then. `zone_of`: the zone each job's times are shown in."""
    rows: list[tuple[str, ...]] = []
    for run in runs:
        zone = zone_of.get(run.job_name, "UTC")
        left = "now" if (run.approval_deadline or 0) <= now else countdown(run.approval_deadline, now)
        rows.append(
            (
                f"#{run.id}",
                run.job_name,
                short_time(run.scheduled_for, zone, now),
                human_span(max(0, now - run.queued_at), decimals=0),
                left,
                "run" if run.approval_default == APPROVE else "reject",
            )
        )
    return rows


class ReasonScreen(ModalScreen[str | None]):
    """Reject run #N? An optional reason; enter rejects, escape keeps the run waiting (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "keep", "Keep waiting", id="reason-keep"), INTERRUPT]

    def __init__(self, run_id: int, job_name: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.job_name = job_name

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(f"Reject run #{self.run_id} of {self.job_name}?", id="confirm-title")
            yield Input(placeholder="why (optional; recorded with the rejection)", id="reason", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Keep waiting (esc)", id="keep")
                yield Button("Reject (enter)", id="reject", variant="error")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one("#reason", Input).value.strip() if event.button.id == "reject" else None)

    def action_keep(self) -> None:
        self.dismiss(None)


class ApprovalsScreen(SaysWhyNot, CronuiScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        APPROVE_RUN,
        REJECT_RUN,
        OPEN,
        Binding("r", "reload", "Reload", id="approvals-reload", show=False, tooltip="Read the waiting runs again"),
        BACK,
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.runs: list[Run] = []

    @property
    def where(self) -> str:
        return "Approvals"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Vertical(id="approvals-pane", classes="pane"):
            table: DataTable[str | Text] = DataTable(id="approvals", cursor_type="row", zebra_stripes=False)
            yield table
            yield Static("", id="approvals-empty")
        yield KeysFooter()
        yield PromptBar()

    _ticks = 0

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#approvals", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self.action_reload()

    @property
    def selected(self) -> Run | None:
        table = self.query_one("#approvals", DataTable)
        if not self.runs or table.cursor_row < 0 or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve_run", "reject_run", "open"):
            return self.selected is not None
        return True

    def why_not(self, action: str) -> str | None:
        if action in ("approve_run", "reject_run", "open") and self.selected is None:
            return "no run waits for approval"
        return None

    def on_tick(self, message: Tick) -> None:
        self._ticks += 1
        if self._ticks % RELOAD_S == 0:
            self.action_reload()

    def on_engine_events(self, message: EngineEvents) -> None:
        if any(ev.run_id is not None and "status" in ev.data for ev in message.events):
            self.action_reload()

    def action_reload(self) -> None:
        spawn(self, self._load, "approvals", exclusive=True)

    async def _load(self) -> None:
        runs = await self.ctx.client.awaiting_approval()
        self.show(runs)

    def show(self, runs: list[Run]) -> None:
        keep = self.selected.id if self.selected is not None else None
        self.runs = [r for r in runs if r.status is RunStatus.AWAITING_APPROVAL]
        now = self.ctx.now_ms()
        zone_of = {
            name: zone_for(self.ctx.zone_mode, job.timezone, self.ctx.local_zone)
            for name, job in self.ctx.catalog.by_name.items()
        }
        table = self.query_one("#approvals", DataTable)
        table.clear()
        for row in approval_rows(self.runs, now, zone_of):
            table.add_row(*row)
        pane = self.query_one("#approvals-pane")
        n = len(self.runs)
        pane.border_title = f"Approvals · {n} run{'s' if n != 1 else ''} waiting"
        empty = self.query_one("#approvals-empty", Static)
        empty.update("" if n else "No run waits for approval. Jobs with approval on wait here before they run.")
        ids = [r.id for r in self.runs]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        self.refresh_bindings()

    def action_approve_run(self) -> None:
        run = self.selected
        if run is not None and run.id is not None:
            self.post_message(ApproveRun(run.id, run.job_name))

    def action_reject_run(self) -> None:
        run = self.selected
        if run is not None and run.id is not None:
            self.post_message(RejectRun(run.id, run.job_name))

    def action_open(self) -> None:
        run = self.selected
        if run is not None and run.id is not None:
            self.post_message(OpenRun(run.id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_prompt_done(self, message: Prompt.Done) -> None:
        self.end_command(message.prompt, message.submitted, message.value, self.query_one("#approvals"))

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.query_one("#approvals").focus()
            return
        self.app.pop_screen()
