"""`r` on a job that declares params (and `R` on one of its runs): a small form with one field per param,
filled with the defaults (or the run's values), checked as `jobs run --param` checks them before anything is
queued. Enter in the last field (or ctrl+s) runs it; Escape leaves without running."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from cronui.jobs import JobError
from cronui.jobs_params import run_params
from cronui.model import Job, params
from cronui.ui.screens.bindings import INTERRUPT
from cronui.ui.widgets.footer import KeysFooter


def hint(decl: params.ParamDecl) -> str:
    """What a field takes: its type, its choices, whether it is required."""
    parts = [] if decl.type == "str" else [decl.type]
    if decl.choices is not None:
        parts.append(" | ".join(params.text(c) for c in decl.choices))
    if decl.required:
        parts.append("required")
    return ", ".join(parts)


class RunParamsScreen(ModalScreen[dict[str, Any] | None]):
    """Dismissed with every param's value (checked), or None when left with Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        INTERRUPT,
        Binding("escape", "leave", "Cancel", id="run-params-cancel"),
        Binding("ctrl+s", "run", "Run", id="run-params-run", priority=True),
    ]

    def __init__(self, job: Job, values: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.job = job
        self.values = params.defaults(job.params) if values is None else values

    def compose(self) -> ComposeResult:
        with Vertical(id="run-params-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Run {self.job.name}"
            with VerticalScroll(id="run-params-fields"):
                for name, decl in self.job.params.items():
                    with Horizontal(classes="run-param"):
                        yield Label(name, classes="run-param-name")
                        value = self.values.get(name)
                        yield Input(
                            "" if value is None else params.text(value),
                            placeholder=hint(decl),
                            id=f"param-{name}",
                            classes="run-param-input",
                        )
            yield Static("", id="run-params-problem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="run-params-no")
                yield Button("Run (ctrl+s)", id="run-params-yes", variant="primary")
        yield KeysFooter()

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()

    def given(self) -> dict[str, str]:
        """The fields as typed; an empty one is left out (its default applies)."""
        fields = {name: self.query_one(f"#param-{name}", Input).value for name in self.job.params}
        return {name: value for name, value in fields.items() if value.strip()}

    def action_run(self) -> None:
        try:
            values = run_params(self.job, self.given())
        except JobError as e:
            self.query_one("#run-params-problem", Static).update(e.problem)
            return
        self.dismiss(values or {})

    def action_leave(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        at = inputs.index(event.input) if event.input in inputs else len(inputs) - 1
        if at + 1 < len(inputs):
            inputs[at + 1].focus()
        else:
            self.action_run()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "run-params-yes":
            self.action_run()
        else:
            self.action_leave()
