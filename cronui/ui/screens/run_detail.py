"""One run, in full: timing and lateness, milestones as a timeline, output (or the agent's reply) that
follows while the run goes on, error, exit code / signal / HTTP status, tokens, cost, tool calls and
delivery. `v` turns the right pane to the request as sent, the tool calls with their arguments and the
whole error. `x` cancels it, `R` runs the job again and shows the new run in its place, `c` copies what the
pane shows, `/` searches it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical

from cronui.cost import context_window, run_model
from cronui.model import EventKind, Milestone, Run, RunStatus, TargetKind
from cronui.ui.context import ScreenContext
from cronui.ui.messages import (
    CancelRun,
    EngineEvents,
    HeaderStale,
    RunNow,
    ThemeChanged,
    Tick,
    ZoneChanged,
)
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import (
    APPROVE_RUN,
    BACK,
    CANCEL_RUN,
    FILTER,
    FOLLOW,
    REJECT_RUN,
    RUN_AGAIN,
    ApprovalActions,
)
from cronui.ui.screens.run_text import details_text, facts_text, head_text, output_titles
from cronui.ui.screens.why import SaysWhyNot, run_why_not
from cronui.ui.times import zone_for
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.output import OutputView
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.timeline import TimelineView
from cronui.ui.workers import OneAtATime

NARROW = 100


def prepare_styles(app: App[object]) -> None:
    """Read the CSS of the widgets only this screen shows, once the app is up: Textual parses its whole
    stylesheet again the first time a widget of a new kind is mounted, and that was part of the time the
    first run opened took. Added as mounting adds it, so mounting them later finds it there already."""
    sheet = app.stylesheet
    for widget in (TimelineView(), OutputView()):
        for read_from, css, tie_breaker, scope in widget._get_default_css():
            sheet.add_source(css, read_from=read_from, is_default_css=True, tie_breaker=tie_breaker, scope=scope)
    assert sheet.rules_map is not None  # parsed now


class RunDetailScreen(ApprovalActions, SaysWhyNot, CronuiScreen):
    KEY_ACTIONS = ("cancel_run", "follow", "next_match", "approve_run", "reject_run")

    BINDINGS: ClassVar[list[BindingType]] = [
        CANCEL_RUN,
        APPROVE_RUN,
        REJECT_RUN,
        RUN_AGAIN,
        Binding(
            "v",
            "details",
            "Request",
            id="details",
            tooltip="Show the request as sent, the tool calls and the whole error (again: the output)",
        ),
        Binding("c", "copy", "Copy", id="copy", tooltip="Copy what the right pane shows to the clipboard"),
        FOLLOW,
        replace(FILTER, action="search", description="Search"),
        Binding("w", "wrap", "Wrap", id="wrap", show=False, tooltip="Wrap long lines, or show them whole"),
        Binding("n", "next_match(1)", "Next match", id="search-next", show=False, tooltip="Next match"),
        Binding("N", "next_match(-1)", "Previous match", id="search-prev", show=False, tooltip="Previous match"),
        BACK,
    ]

    def __init__(self, ctx: ScreenContext, run_id: int, *, follow: bool = False) -> None:
        super().__init__(ctx)
        self.run_id = run_id
        self.run: Run | None = None
        self.milestones: list[Milestone] = []
        self._want_follow = follow
        self._loads = OneAtATime(self, self._load, "run-detail")
        self.showing_details = False  # the right pane shows the request, tool calls and error (`v`)
        self.context: int | None = None  # the answering model's context window, when the price table knows it
        self._context_of: tuple[str, str | None] | None = None  # the model (and URL) it was looked up for

    @property
    def where(self) -> str:
        name = self.run.job_name if self.run else ""
        return f"{name} › run #{self.run_id}" if name else f"run #{self.run_id}"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        yield StyledStatic("", id="detail-head")
        with Horizontal(id="detail-body"):
            with Vertical(id="milestones-pane", classes="pane"):
                yield TimelineView(id="milestones")
            with Vertical(id="output-pane", classes="pane"):
                yield OutputView(id="output")
                yield OutputView(id="details")
        yield StyledStatic("", id="detail-facts")
        yield KeysFooter()
        yield PromptBar()  # after the footer: it covers the footer's line while it is open

    def on_mount(self) -> None:
        self.query_one("#milestones-pane").border_title = "Milestones"
        self.query_one("#output-pane").border_title = "Output"
        self.query_one("#details").display = False
        self.query_one("#output", OutputView).focus()
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        self.call_after_refresh(self._show_head)  # its lines are wrapped to the width

    # ------------------------------------------------------------ loading

    def reload(self) -> None:
        """Read the run again (at most one read at a time; a wish made meanwhile runs after it)."""
        self._loads.want()

    async def _load(self) -> None:
        got = await self.ctx.client.run_view(self.run_id)
        if got is None:
            self.notify(f"run #{self.run_id} no longer exists", severity="warning")
            self._loads.drop()
            self.app.pop_screen()
            return
        run = got.run
        first = self.run is None
        self.run = run
        self.milestones = got.milestones
        await self._look_up_context(run)
        view = self.query_one("#output", OutputView)
        if first or run.status.is_final:
            view.follow = self._want_follow and not run.status.is_final
            view.set_output(got.stdout, got.stderr)
        timeline = self.query_one(TimelineView)
        timeline.follow = run.status is RunStatus.RUNNING
        timeline.show(run, self.milestones)
        self._show_details()
        self._show()

    async def _look_up_context(self, run: Run) -> None:
        """The context window of the model that answered (once per model: the table loads in a thread)."""
        asked = run_model(run) if run.total_tokens is not None else None
        if asked != self._context_of:
            self._context_of = asked
            self.context = await asyncio.to_thread(context_window, *asked) if asked is not None else None

    # ------------------------------------------------------------ told by the app

    def on_engine_events(self, message: EngineEvents) -> None:
        mine = [e for e in message.events if e.run_id == self.run_id]
        if not mine or self.run is None:
            return
        view = self.query_one("#output", OutputView)
        again = False
        new: list[Milestone] = []
        for ev in mine:
            if ev.kind is EventKind.MILESTONE:
                new.append(Milestone(ev.name or "", ev.at, dict(ev.data)))
            elif ev.kind is EventKind.OUTPUT:
                view.append(ev.name or "stdout", str(ev.data.get("text", "")))
            else:
                again = True
        if new:
            self.milestones += new
            self.query_one(TimelineView).add(self.run, new)
            if any("request" in m.data for m in new):
                self._show_details()
        if again:
            self.reload()
        self._show()

    def on_tick(self, message: Tick) -> None:
        if self.run is not None and not self.run.status.is_final:
            self._show_head()

    def on_zone_changed(self, message: ZoneChanged) -> None:
        self._show()

    def on_theme_changed(self, message: ThemeChanged) -> None:
        self._show()

    # ------------------------------------------------------------ drawing

    def _zone(self) -> str:
        run = self.run
        job = self.ctx.catalog.jobs.get(run.job_id) if run else None
        return zone_for(self.ctx.zone_mode, job.timezone if job else None, self.ctx.local_zone)

    def _show(self) -> None:
        self._show_head()
        self.query_one(TimelineView).refresh()  # colours follow the theme
        self._show_facts()
        self.post_message(HeaderStale())
        self.refresh_keys()

    def _show_head(self) -> None:
        run = self.run
        if run is not None:
            head = self.query_one("#detail-head", StyledStatic)
            job = self.ctx.catalog.jobs.get(run.job_id)
            width = head.content_region.width or self.size.width - 2
            head.update(head_text(run, job, self.ctx.now_ms(), self._zone(), head, width))

    @property
    def view(self) -> OutputView:
        """The view the right pane shows: the output, or the details (`v`)."""
        return self.query_one("#details" if self.showing_details else "#output", OutputView)

    def _show_details(self) -> None:
        if self.run is not None:
            self.query_one("#details", OutputView).set_output(details_text(self.run, self.milestones, self.context), "")

    def _show_facts(self) -> None:
        run = self.run
        if run is None:
            return
        view = self.view
        pane = self.query_one("#output-pane")
        job = self.ctx.catalog.jobs.get(run.job_id)
        if self.showing_details:
            what = "Command" if job is not None and job.kind is TargetKind.SHELL else "Request · tool calls"
            pane.border_title = f"{what} · error (v: back)"
            pane.border_subtitle = f"/{view.search}: {len(view.matches)}" if view.search else ""
        else:
            pane.border_title, pane.border_subtitle = output_titles(
                run, job, following=view.follow, search=view.search, matches=len(view.matches)
            )
        facts = self.query_one("#detail-facts", StyledStatic)
        text = facts_text(run, facts, self.milestones, self.context)
        facts.update(text)
        facts.display = bool(text)

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        run = self.run
        if action == "cancel_run":
            return run is not None and not run.status.is_final
        if action == "follow":
            return run is not None and not run.status.is_final
        if action in ("approve_run", "reject_run"):
            return run is not None and run.status is RunStatus.AWAITING_APPROVAL
        if action in ("next_match",):
            return bool(self.view.matches)
        return True

    def why_not(self, action: str) -> str | None:
        if action == "next_match":
            search = self.view.search
            return f"no match for {search!r}" if search else "nothing searched yet: / searches"
        return run_why_not(action, self.run)

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.view.focus()
            return
        if self.showing_details:
            self.action_details()
            return
        self.app.pop_screen()

    def action_cancel_run(self) -> None:
        if self.run is not None and not self.run.status.is_final:
            self.post_message(CancelRun(self.run_id))

    def action_run_again(self) -> None:
        if self.run is None:
            return
        job = self.ctx.catalog.jobs.get(self.run.job_id)
        if job is None:
            self.notify("its job was removed", severity="warning")
            return
        self.post_message(RunNow(job, open_it=True))

    def action_details(self) -> None:
        """`v`: the request, tool calls and whole error in the right pane; again: the output."""
        self.showing_details = not self.showing_details
        self.set_class(self.showing_details, "-details")
        output, details = self.query_one("#output", OutputView), self.query_one("#details", OutputView)
        output.display, details.display = not self.showing_details, self.showing_details
        self.view.focus()
        self._show_facts()
        self.refresh_keys()

    def action_copy(self) -> None:
        view = self.view
        text = view.text or (self.run.error or "" if self.run else "")
        self.app.copy_to_clipboard(text)
        n = len(text.splitlines())
        what = "of the details" if self.showing_details else "of output"
        self.notify(f"copied {n} line{'s' if n != 1 else ''} {what}", timeout=2)

    def action_follow(self) -> None:
        if self.showing_details:
            self.action_details()  # following is the output's
        view = self.query_one("#output", OutputView)
        view.follow = not view.follow
        if view.follow:
            view.scroll_end(animate=False)
        self._show_facts()

    def action_wrap(self) -> None:
        self.view.toggle_wrap()

    def action_search(self) -> None:
        self.query_one(Prompt).open("search", self.view.search)

    def action_next_match(self, delta: int) -> None:
        self.view.next_match(delta)

    def on_prompt_edited(self, message: Prompt.Edited) -> None:
        if message.mode == "search":
            self.view.set_search(message.value)
            self._show_facts()

    def on_prompt_done(self, message: Prompt.Done) -> None:
        prompt = message.prompt
        view = self.view
        if message.mode == "search":
            if message.submitted:
                view.next_match(1)
                return
            prompt.close()
            view.focus()
            self.refresh_keys()
            return
        self.end_command(prompt, message.submitted, message.value, view)
