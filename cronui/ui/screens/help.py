"""`?`: the keys that apply where you were (as remapped), the filter grammar and the commands."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from cronui.ui.commands import COMMANDS
from cronui.ui.screens.bindings import INTERRUPT
from cronui.ui.widgets.footer import KeysFooter

FILTER_HELP = """\
status:failed kind:agent tag:ops backup   every term must match
status:failed,timed_out                   a comma means any of
-tag:ops  !status:succeeded               - or ! negates a term
health:late,overrun  -health:ok           a job's health (jobs)
keys: status (a run status, or enabled / disabled / auto / paused), kind, tag, name, zone, health (jobs:
ok, late, overrun, failing, degraded, no_success, paused, never_ran), trigger (runs)
bare words match the job's name"""

COMMAND_HELP = "\n".join(f":{command:<13} {does}" for command, does in COMMANDS)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        INTERRUPT,
        Binding("escape,question_mark,q", "close", "Close", id="help-close"),
    ]

    def __init__(self, below: Screen[object] | None = None) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(self._keys(), id="help-keys")
            yield Static(Text("Filter (/)", style="bold"))
            yield Static(FILTER_HELP, classes="help-block")
            yield Static(Text("Commands (:)", style="bold"))
            yield Static(COMMAND_HELP, classes="help-block")
            yield Static(
                Text('Keys can be remapped in the config: [keys] binding-id = "key"', style="italic"),
                classes="help-block",
            )
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#help-dialog").border_title = "Help"

    def _keys(self) -> Table:
        below = self.below
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=True)
        table.add_column("key", no_wrap=True)
        table.add_column("does")
        table.add_column("binding id", style="dim", no_wrap=True)
        seen: set[str] = set()
        if below is not None:
            for _key, binding, enabled, _tooltip in below.active_bindings.values():
                if binding.action in seen or binding.id is None or binding.id.startswith("help"):
                    continue
                seen.add(binding.action)
                shown = binding.key_display or self.app.get_key_display(binding)
                does = binding.tooltip or binding.description
                table.add_row(shown, does + ("" if enabled else " (not here)"), binding.id)
        return table

    def action_close(self) -> None:
        self.dismiss(None)
