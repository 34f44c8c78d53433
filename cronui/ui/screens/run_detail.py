"""One run, in full: timing and lateness, milestones as a timeline, output (or the agent's reply) that
follows while the run goes on, error, exit code / signal / HTTP status, tokens, cost, tool calls and
delivery. `x` cancels it, `R` runs the job again, `c` copies the output, `/` searches it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen

from cronui.model import EventKind, Milestone, Run, RunEvent, RunStatus, TargetKind
from cronui.timefmt import human_span
from cronui.ui.screens.keys import KeysFollowState
from cronui.ui.times import clock_span, full_time, lateness, offset, zone_for
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.live import milestone_text
from cronui.ui.widgets.output import OutputView
from cronui.ui.widgets.prompt import Prompt, PromptBar, PromptKeys
from cronui.ui.widgets.run_table import cost_text, trigger_text
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.table import MARK

if TYPE_CHECKING:
    from cronui.ui.app import CronuiApp

NARROW = 100


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


class RunDetailScreen(PromptKeys, KeysFollowState, Screen[None]):
    KEY_ACTIONS = ("cancel_run", "follow", "next_match")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "x",
            "cancel_run",
            "Cancel run",
            id="cancel-run",
            tooltip="Cancel the selected run (or the job's run in flight)",
        ),
        Binding("R", "run_again", "Run again", id="run-again", tooltip="Run the selected run's job again"),
        Binding("c", "copy", "Copy output", id="copy", tooltip="Copy the output to the clipboard"),
        Binding("l", "follow", "Follow", id="follow", tooltip="Open a running run and follow its output"),
        Binding(
            "slash",
            "search",
            "Search",
            id="filter",
            key_display="/",
            tooltip="Filter with status:, kind:, tag:, name: and words",
        ),
        Binding("w", "wrap", "Wrap", id="wrap", show=False, tooltip="Wrap long lines, or show them whole"),
        Binding("n", "next_match(1)", "Next match", id="search-next", show=False, tooltip="Next match"),
        Binding("N", "next_match(-1)", "Previous match", id="search-prev", show=False, tooltip="Previous match"),
        Binding(
            "escape", "back", "Back", id="back", tooltip="Back: close the prompt, clear the filter, or leave this view"
        ),
    ]

    def __init__(self, run_id: int, *, follow: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: Run | None = None
        self.milestones: list[Milestone] = []
        self._want_follow = follow
        self._reloading = False
        self._reload_again = False

    @property
    def capp(self) -> CronuiApp:
        return cast("CronuiApp", self.app)

    @property
    def where(self) -> str:
        name = self.run.job_name if self.run else ""
        return f"{name} › run #{self.run_id}" if name else f"run #{self.run_id}"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        yield StyledStatic("", id="detail-head")
        with Horizontal(id="detail-body"):
            with Vertical(id="milestones-pane", classes="pane"):
                with VerticalScroll():
                    yield StyledStatic("", id="milestones")
            with Vertical(id="output-pane", classes="pane"):
                yield OutputView(id="output")
        yield StyledStatic("", id="detail-facts")
        yield KeysFooter()
        yield PromptBar()  # after the footer: it covers the footer's line while it is open

    def on_mount(self) -> None:
        self.query_one("#milestones-pane").border_title = "Milestones"
        self.query_one("#output-pane").border_title = "Output"
        if not self.capp.cursor_blink:
            self.query_one(Prompt).cursor_blink = False
        self.query_one(OutputView).focus()
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    # ------------------------------------------------------------ loading

    def reload(self) -> None:
        """Read the run again (at most one read at a time; a wish made meanwhile runs after it)."""
        if self._reloading:
            self._reload_again = True
            return
        self._reloading = True
        self.run_worker(self._load, group="run-detail", exit_on_error=False)

    async def _load(self) -> None:
        store = self.capp.store
        try:
            while True:
                self._reload_again = False
                run = await store.get_run(self.run_id)
                if run is None:
                    self.notify(f"run #{self.run_id} no longer exists", severity="warning")
                    self.app.pop_screen()
                    return
                milestones = list(run.milestones)
                stdout, stderr = run.output, run.stderr
                if not run.status.is_final:
                    # while it runs, milestones and output live in the event log
                    milestones, stdout, stderr = [], "", ""
                    for ev in await store.run_events(self.run_id):
                        if ev.kind is EventKind.MILESTONE:
                            milestones.append(Milestone(ev.name or "", ev.at, dict(ev.data)))
                        elif ev.kind is EventKind.OUTPUT:
                            if ev.name == "stderr":
                                stderr += str(ev.data.get("text", ""))
                            else:
                                stdout += str(ev.data.get("text", ""))
                first = self.run is None
                self.run = run
                self.milestones = milestones
                view = self.query_one(OutputView)
                if first or run.status.is_final:
                    view.follow = self._want_follow and not run.status.is_final
                    view.set_output(stdout, stderr)
                self._show()
                if not self._reload_again:
                    return
        finally:
            self._reloading = False

    # ------------------------------------------------------------ told by the app

    def engine_events(self, events: list[RunEvent]) -> None:
        mine = [e for e in events if e.run_id == self.run_id]
        if not mine or self.run is None:
            return
        view = self.query_one(OutputView)
        again = False
        for ev in mine:
            if ev.kind is EventKind.MILESTONE:
                self.milestones.append(Milestone(ev.name or "", ev.at, dict(ev.data)))
            elif ev.kind is EventKind.OUTPUT:
                view.append(ev.name or "stdout", str(ev.data.get("text", "")))
            else:
                again = True
        if again:
            self.reload()
        self._show()

    def tick(self) -> None:
        if self.run is not None and not self.run.status.is_final:
            self._show_head()

    def zone_changed(self) -> None:
        self._show()

    def theme_changed(self) -> None:
        self._show()

    def on_screen_resume(self) -> None:
        self.capp.refresh_header()

    # ------------------------------------------------------------ drawing

    def _zone(self) -> str:
        run = self.run
        job = self.capp.catalog.jobs.get(run.job_id) if run else None
        return zone_for(self.capp.zone_mode, job.timezone if job else None, self.capp.settings.timezone)

    def _show(self) -> None:
        self._show_head()
        self._show_milestones()
        self._show_facts()
        self.capp.refresh_header()
        self.refresh_keys()

    def _show_head(self) -> None:
        run = self.run
        if run is None:
            return
        head = self.query_one("#detail-head", StyledStatic)
        now = self.capp.clock.now_ms()
        style = head.status_style(run.status)
        job = self.capp.catalog.jobs.get(run.job_id)
        zone = self._zone()
        line1 = Text(no_wrap=True, overflow="ellipsis")
        line1.append(run.job_name or f"job {run.job_id}", "bold")
        line1.append(f" › run #{run.id}   ", head.component_style("status--dim"))
        line1.append(f"{MARK[run.status]} {run.status}", style + Style(bold=True))
        if run.status is RunStatus.RUNNING and run.started_at is not None:
            line1.append(f" {clock_span(now - run.started_at)}", style)
        elif run.duration_ms is not None:
            line1.append(f" in {human_span(run.duration_ms)}", style)
        parts = [f"trigger {trigger_text(run, None) if run.attempt > 1 else run.trigger}"]
        attempts = (job.max_retries + 1) if job else None
        parts.append(f"attempt {run.attempt}/{attempts}" if attempts else f"attempt {run.attempt}")
        parts.append(f"scheduled {full_time(run.scheduled_for, zone)}")
        if run.started_at is not None:
            late = lateness(run.scheduled_for, run.started_at)
            parts.append(f"started {full_time(run.started_at, zone)}" + (f" ({late})" if late else ""))
        if run.finished_at is not None:
            parts.append(f"finished {full_time(run.finished_at, zone)}")
        if run.node:
            parts.append(f"node {run.node}")
        line2 = Text(" · ".join(parts), head.component_style("status--dim"))
        head.update(Text("\n").join([line1, line2]))

    def _show_milestones(self) -> None:
        run = self.run
        if run is None:
            return
        widget = self.query_one("#milestones", StyledStatic)
        dim = widget.component_style("status--dim")
        base = run.queued_at or run.started_at or run.scheduled_for
        rows: list[tuple[int | None, str, str]] = [(run.queued_at, "queued", "")]
        if run.started_at is not None:
            rows.append((run.started_at, "started", ""))
        rows += [(m.at, m.name, milestone_text("", m.data)) for m in self.milestones]
        if run.finished_at is not None:
            rows.append((run.finished_at, str(run.status), run.reason or ""))
        elif run.status is RunStatus.RUNNING:
            rows.append((None, "…", ""))
        text = Text()
        for i, (at, name, extra) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(f"{offset(at - base) if at is not None else '':>9} ", dim)
            status_name = name in RunStatus._value2member_map_ and i == len(rows) - 1 and run.finished_at
            text.append(name, widget.status_style(name) if status_name else "")
            if extra:
                text.append(f" {extra}", dim)
        widget.update(text)
        if run.status is RunStatus.RUNNING:
            scroller = widget.parent
            if isinstance(scroller, VerticalScroll):
                scroller.scroll_end(animate=False)

    def _show_facts(self) -> None:
        run = self.run
        if run is None:
            return
        facts = self.query_one("#detail-facts", StyledStatic)
        dim = facts.component_style("status--dim")
        job = self.capp.catalog.jobs.get(run.job_id)
        view = self.query_one(OutputView)
        pane = self.query_one("#output-pane")
        noun = "Reply" if job is not None and job.kind is TargetKind.AGENT else "Output"
        if view.follow:
            pane.border_title = f"{noun} (following — l to stop)"
        elif not run.status.is_final:
            pane.border_title = f"{noun} (l to follow)"
        else:
            pane.border_title = noun
        if run.output_bytes > len(run.output.encode()) or run.stderr_bytes > len(run.stderr.encode()):
            pane.border_subtitle = (
                f"{_bytes(run.output_bytes)} stdout · {_bytes(run.stderr_bytes)} stderr, head and tail kept"
            )
        elif view.search:
            pane.border_subtitle = f"/{view.search}: {len(view.matches)} match{'es' if len(view.matches) != 1 else ''}"
        else:
            pane.border_subtitle = ""
        lines: list[Text] = []

        def row(label: str, value: Text | str) -> None:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{label:<9}", "bold")
            line.append_text(value if isinstance(value, Text) else Text(value))
            lines.append(line)

        outcome: list[str] = []
        if run.exit_code is not None:
            outcome.append(f"exit code {run.exit_code}")
        if run.signal is not None:
            outcome.append(f"signal {run.signal}")
        if run.http_status is not None:
            outcome.append(f"HTTP {run.http_status}")
        if outcome:
            row("result", " · ".join(outcome))
        if run.error:
            row("error", Text(run.error.splitlines()[0], facts.status_style(RunStatus.FAILED)))
        elif run.reason:
            row("reason", Text(run.reason, dim))
        if run.request:
            req = run.request
            desc = (
                " ".join(str(req[k]) for k in ("method", "url") if req.get(k))
                or json.dumps(req, ensure_ascii=False)[:200]
            )
            if req.get("model"):
                desc += f"  model {req['model']}"
            row("request", desc)
        if run.total_tokens is not None or run.cost_usd is not None:
            usage = Text()
            if run.total_tokens is not None:
                usage.append(
                    f"in {run.prompt_tokens or 0:,} · out {run.completion_tokens or 0:,} · total {run.total_tokens:,}"
                )
            usage.append(f"     cost {cost_text(run.cost_usd) if run.cost_usd is not None else 'unknown'}")
            row("tokens", usage)
        if run.tool_calls:
            calls = [
                f"{c.get('name', '?')} {json.dumps(c.get('arguments', ''), ensure_ascii=False)[:60]}"
                for c in run.tool_calls
            ]
            row("tools", f"{len(calls)}: " + " · ".join(calls))
        if run.delivery_status:
            st = run.delivery_status
            style = facts.status_style(
                RunStatus.SUCCEEDED if st == "delivered" else RunStatus.FAILED if st == "failed" else RunStatus.SKIPPED
            )
            row("delivery", Text(st + (f" — {run.delivery_reason}" if run.delivery_reason else ""), style))
        if run.summary:
            row("summary", run.summary)
        facts.update(Text("\n").join(lines))
        facts.display = bool(lines)

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        run = self.run
        if action == "cancel_run":
            return run is not None and not run.status.is_final
        if action == "follow":
            return run is not None and not run.status.is_final
        if action in ("next_match",):
            return bool(self.query_one(OutputView).matches)
        return True

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.query_one(OutputView).focus()
            return
        self.app.pop_screen()

    def action_cancel_run(self) -> None:
        if self.run is not None and not self.run.status.is_final:
            self.capp.cancel_run(self.run_id)

    def action_run_again(self) -> None:
        if self.run is None:
            return
        job = self.capp.catalog.jobs.get(self.run.job_id)
        if job is None:
            self.notify("its job was removed", severity="warning")
            return
        self.capp.run_now(job)

    def action_copy(self) -> None:
        view = self.query_one(OutputView)
        text = view.text or (self.run.error or "" if self.run else "")
        self.app.copy_to_clipboard(text)
        n = len(text.splitlines())
        self.notify(f"copied {n} line{'s' if n != 1 else ''} of output", timeout=2)

    def action_follow(self) -> None:
        view = self.query_one(OutputView)
        view.follow = not view.follow
        if view.follow:
            view.scroll_end(animate=False)
        self._show_facts()

    def action_wrap(self) -> None:
        self.query_one(OutputView).toggle_wrap()

    def action_search(self) -> None:
        self.query_one(Prompt).open("search", self.query_one(OutputView).search)

    def open_command(self) -> None:
        self.query_one(Prompt).open("command", "", themes=sorted(self.app.available_themes))

    def action_next_match(self, delta: int) -> None:
        self.query_one(OutputView).next_match(delta)

    def on_prompt_edited(self, message: Prompt.Edited) -> None:
        if message.mode == "search":
            self.query_one(OutputView).set_search(message.value)
            self._show_facts()

    def on_prompt_done(self, message: Prompt.Done) -> None:
        prompt = message.prompt
        view = self.query_one(OutputView)
        if message.mode == "search":
            if message.submitted:
                view.next_match(1)
                return
            prompt.close()
            view.focus()
            self.refresh_keys()
            return
        self.capp.end_command(self, prompt, message.submitted, message.value, view)
