"""A test run of the job in the editor (ctrl+t): the job as the form has it runs once, here, and this
dialog shows it as it goes — milestones and output while it runs, then its status, result (exit code,
HTTP status), error, tokens, duration and the end of its output (an agent's reply).

The job is not saved and the run is not stored: the job's history is untouched, and the engine records
only a `test_run` event (see `Dispatcher.test_run`). Closing the dialog stops a run still going.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import Worker

from cronui.controls import neutralise
from cronui.cost import run_context_window
from cronui.model import Job, Milestone, Run, RunStatus, TargetKind
from cronui.timefmt import human_span
from cronui.ui.client import EngineClient
from cronui.ui.screens.bindings import INTERRUPT
from cronui.ui.screens.run_text import facts_text
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.status import MARK
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.timeline import milestone_extra
from cronui.ui.workers import spawn

OUTPUT_LINES = 12  # the end of the output shown
OUTPUT_KEPT = 64 * 1024  # characters of live output kept for it
MILESTONES_SHOWN = 8
BOLD = Style(bold=True)


class TestRunScreen(ModalScreen[None]):
    __test__ = False  # not a pytest test class, whatever its name

    BINDINGS: ClassVar[list[BindingType]] = [
        INTERRUPT,
        Binding(
            "escape", "close", "Close", id="test-close", tooltip="Back to the editor (stops a test run still going)"
        ),
    ]

    DEFAULT_CSS = """
    TestRunScreen #test-dialog { width: 100; max-width: 95%; height: auto; max-height: 90%; }
    TestRunScreen #test-status { height: auto; padding: 1 0 0 0; }
    TestRunScreen #test-note { height: auto; color: $text-muted; }
    TestRunScreen #test-facts { height: auto; margin: 1 0 0 0; }
    TestRunScreen #test-milestones { height: auto; margin: 1 0 0 0; }
    TestRunScreen #test-output-title { height: 1; margin: 1 0 0 0; text-style: bold; }
    TestRunScreen #test-output { height: auto; background: $panel; padding: 0 1; }
    TestRunScreen .buttons { height: 1; margin: 1 0 0 0; }
    """

    def __init__(self, job: Job, client: EngineClient, *, now_ms: Callable[[], int]) -> None:
        super().__init__()
        self.job = job
        self.client = client
        self.now_ms = now_ms
        self.run: Run | None = None  # the finished test run (never stored)
        self.context: int | None = None  # its model's context window, when the price table knows it
        self.milestones: list[Milestone] = []
        self.streams: dict[str, str] = {"stdout": "", "stderr": ""}
        self.started_at = now_ms()
        self._worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="test-dialog", classes="dialog"):
            yield StyledStatic("", id="test-status")
            yield Static("Not saved: a test run leaves no run in the job's history.", id="test-note")
            yield StyledStatic("", id="test-facts")
            yield Static("", id="test-milestones")
            yield Static("", id="test-output-title")
            yield Static("", id="test-output")
            with Horizontal(classes="buttons"):
                yield Button("Back to the editor (esc)", id="test-back", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#test-dialog").border_title = f"Test run · {self.job.name or 'new job'} ({self.job.kind})"
        self.query_one("#test-facts").display = False  # until the run has ended
        self._show_running()
        self._worker = spawn(self, self._run, "test-run")

    async def _run(self) -> None:
        self.run = await self.client.test_run(self.job, self._on_milestone, self._on_output)
        self.context = await asyncio.to_thread(run_context_window, self.run) if self.run.total_tokens else None
        self._show_result(self.run)

    # ------------------------------------------------------------ while it runs

    def _on_milestone(self, milestone: Milestone) -> None:
        self.milestones.append(milestone)
        self._show_milestones()

    def _on_output(self, stream: str, text: str) -> None:
        self.streams[stream] = (self.streams.get(stream, "") + text)[-OUTPUT_KEPT:]
        self._show_output(self.streams["stdout"], self.streams["stderr"])

    def _show_running(self) -> None:
        status = self.query_one("#test-status", StyledStatic)
        text = Text()
        text.append(f"{MARK[RunStatus.RUNNING]} running", status.status_style(RunStatus.RUNNING) + BOLD)
        text.append("  (esc stops it)", "dim")
        status.update(text)

    def _show_milestones(self) -> None:
        if not self.milestones:
            return
        text = Text("Milestones\n", "bold")
        shown = self.milestones[-MILESTONES_SHOWN:]
        if len(self.milestones) > len(shown):
            text.append(f"… {len(self.milestones) - len(shown)} earlier\n", "dim")
        for i, m in enumerate(shown):
            text.append(f"+{human_span(max(0, m.at - self.started_at))}".ljust(10), "dim")
            text.append(neutralise(m.name), "bold")
            extra = milestone_extra(m)  # as run detail shows it: one line, the request left to the facts
            if extra:
                text.append("  " + neutralise(extra))
            if i < len(shown) - 1:
                text.append("\n")
        self.query_one("#test-milestones", Static).update(text)

    def _show_output(self, stdout: str, stderr: str) -> None:
        noun = "Reply" if self.job.kind is TargetKind.AGENT else "Output"
        lines = stdout.rstrip("\n").splitlines()
        errors = stderr.rstrip("\n").splitlines()
        title = self.query_one("#test-output-title", Static)
        body = self.query_one("#test-output", Static)
        if not lines and not errors:
            title.update("")
            body.update("")
            body.display = False
            return
        shown = lines[-OUTPUT_LINES:]
        cut = len(lines) - len(shown)
        title.update(f"{noun} (the last {len(shown)} of {len(lines)} lines)" if cut else noun)
        text = Text(neutralise("\n".join(shown)))
        if errors:
            text.append(("\n" if shown else "") + "stderr:\n", "bold")
            text.append(neutralise("\n".join(errors[-OUTPUT_LINES:])), "italic")
        body.update(text)
        body.display = True

    # ------------------------------------------------------------ its end

    def _show_result(self, run: Run) -> None:
        status = self.query_one("#test-status", StyledStatic)
        text = Text()
        style = status.status_style(run.status)
        text.append(f"{MARK[run.status]} {run.status}", style + BOLD)
        if run.duration_ms is not None:
            text.append(f" in {human_span(run.duration_ms)}", style)
        status.update(text)
        facts = self.query_one("#test-facts", StyledStatic)
        text = facts_text(run, facts, context=self.context)
        facts.update(text)
        facts.display = bool(text.plain)
        if run.started_at is not None:  # offsets from the run's own start, as its duration is counted
            self.started_at = run.started_at
        self._show_milestones()
        self._show_output(run.output, run.stderr)

    def action_close(self) -> None:
        if self._worker is not None and self._worker.is_running:
            self._worker.cancel()
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()
