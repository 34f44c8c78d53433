"""The job editor (n new, e edit, c clone): a modal that dismisses with the saved job, or None when cancelled.

The schedule is checked as it is typed: its plain-English reading and the next five fire times in the
chosen zone, or the problem in place (`✖ hour field: 61 is out of range 0-23`).
Saving checks the whole form through the engine client — the same validation as `cronui jobs add` — and
shows every problem at once, each under its field (the field marked, the first one focused); nothing
changes until a save succeeds. A test run (ctrl+t) runs the form's job once as it stands, unsaved, and
shows how it went (`TestRunScreen`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    OptionList,
    RadioButton,
    RadioSet,
    Select,
    Static,
)

from cronui.config import Settings
from cronui.engine.control import NotFound
from cronui.jobs import JobError
from cronui.model import APPROVAL_DEFAULTS, Job, MisfirePolicy, OverlapPolicy, TargetKind
from cronui.schedule import PRESETS, ScheduleError, all_zones, get_zone, parse
from cronui.store import StoreError
from cronui.targets import DELIVERY_FORMATS, DELIVERY_MODES, HTTP_METHODS
from cronui.ui.client import EngineClient
from cronui.ui.jobform import form_from_job, form_job, missing_env
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.keys import KeysFollowState
from cronui.ui.screens.test_run import TestRunScreen
from cronui.ui.times import fire_time
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.workers import spawn

CUSTOM = "Custom…"


class KindSet(RadioSet):
    """The job kinds. Textual's RadioSet puts its keyboard highlight on the first button when mounted,
    whichever is pressed; an agent job's editor then showed "shell" highlighted next to the agent dot.
    Here the highlight starts on the pressed button."""

    def on_mount(self) -> None:
        # RadioSet's own mount handler runs after this one and moves the highlight: set it afterwards
        self.call_after_refresh(self._highlight_pressed)

    def _highlight_pressed(self) -> None:
        if self.pressed_button is not None:
            self._selected = self.pressed_index


def _row(label: str, *widgets: Any, classes: str = "") -> Horizontal:
    return Horizontal(Label(label, classes="label"), *widgets, classes=f"row {classes}".strip())


# Where each problem is shown: JobError.field (the CLI's option names, or the editor's own labels) -> the
# id of the widget that holds it. "chain" (a cycle) goes to whichever chain field is filled in.
FIELD_WIDGETS = {
    "name": "name",
    "kind": "kind",
    "schedule": "schedule",
    "timezone": "timezone",
    "tz": "timezone",
    "shell": "command",
    "command": "command",
    "cwd": "cwd",
    "env": "env",
    "http": "url",
    "url": "url",
    "method": "method",
    "header": "headers",
    "headers": "headers",
    "body": "body",
    "expect status": "expect_status",
    "agent": "base_url",
    "base url": "base_url",
    "model": "model",
    "api key env": "api_key_env",
    "message": "message",
    "system": "system",
    "overlap": "overlap",
    "queue limit": "queue_limit",
    "pool": "pool",
    "retries": "retries",
    "retry delay": "retry_delay",
    "timeout": "timeout",
    "misfire": "misfire",
    "misfire grace": "misfire_grace",
    "on success": "on_success",
    "on failure": "on_failure",
    "when": "when",
    "conversation": "conversation",
    "deliver": "deliver",
    "deliver to": "deliver_to",
    "deliver format": "deliver_format",
    "alert to": "alert_to",
    "tag": "tags",
    "tags": "tags",
    "fallback": "fallbacks",
    "fallbacks": "fallbacks",
    "gate": "gate",
    "max cost": "max_cost",
    "stagger": "stagger",
    "node label": "node_label",
    "notify retries": "notify_retries",
    "approval": "approval",
    "approval timeout": "approval_timeout",
    "approval-timeout": "approval_timeout",
    "approval-default": "approval_default",
    "approval-max-waiting": "approval_max_waiting",
    "approval max waiting": "approval_max_waiting",
}
# the line under the fields that share a row (schedule and zone have their own check lines)
ERROR_LINES = {
    "kind": "name",
    "model": "base_url",
    "method": "url",
    "queue_limit": "overlap",
    "pool": "overlap",
    "retry_delay": "retries",
    "timeout": "retries",
    "misfire_grace": "misfire",
    "deliver_to": "deliver",
    "deliver_format": "deliver",
    "max_cost": "gate",
    "node_label": "stagger",
    "when": "on_success",
    "approval_timeout": "approval",
    "approval_default": "approval",
    "approval_max_waiting": "approval",
}
CHECK_LINES = {"schedule": "schedule-check", "timezone": "zone-check"}


def unique_copy_name(name: str, taken: Container[str]) -> str:
    """`name-copy`, or `name-copy-2`, ... : the first that no job has (within the 80 characters a name may have)."""
    n = 1
    while True:
        suffix = "-copy" if n == 1 else f"-copy-{n}"
        candidate = name[: 80 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def cloned(job: Job, name: str) -> Job:
    """A new, unsaved job with everything of `job` but its identity, history and state."""
    return dataclasses.replace(
        copy.deepcopy(job),
        id=None,
        name=name,
        source="tui",
        created_at=0,
        updated_at=0,
        deleted_at=None,
        next_run_at=None,
        last_status=None,
        consecutive_failures=0,
        auto_disabled=None,
    )


class JobEditor(KeysFollowState, ModalScreen[Job | None]):
    KEY_ACTIONS = ("save", "test_run")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s", "save", "Save", id="save", priority=True, tooltip="Save the job (the same checks as the CLI)"
        ),
        Binding(
            "ctrl+t",
            "test_run",
            "Test run",
            id="test-run",
            priority=True,
            tooltip="Run the job as it stands once, without saving it, and show how it went",
        ),
        Binding("escape", "cancel", "Cancel", id="cancel", tooltip="Close without saving"),
    ]

    DEFAULT_CSS = """
    JobEditor #editor { width: 112; max-width: 100%; height: 95%; max-height: 46; }
    JobEditor #editor-body { height: 1fr; padding-right: 1; }
    JobEditor .row { height: 1; margin: 0; }
    JobEditor .label { width: 11; color: $text-muted; }
    JobEditor .short { width: auto; padding-right: 1; color: $text-muted; }
    JobEditor Input { width: 1fr; background: $panel; }
    JobEditor Input:focus { background: $primary 25%; }
    JobEditor Input.-invalid { background: $error 25%; }
    JobEditor Select.-invalid > SelectCurrent { background: $error 25%; }
    JobEditor #kind.-invalid { background: $error 25%; }
    JobEditor .field-error { height: auto; margin: 0 0 0 11; color: $error; text-style: bold; display: none; }
    JobEditor .narrow-input { width: 10; }
    JobEditor .tiny-input { width: 8; }
    JobEditor #approval_default { width: 11; }
    JobEditor Select { width: 16; }
    JobEditor .row Select { margin-right: 1; }
    JobEditor #base_url { width: 3fr; }
    JobEditor #model { width: 2fr; }
    JobEditor #deliver_format { width: 13; margin-left: 1; }
    JobEditor .section { text-style: bold; color: $primary; margin: 1 0 0 0; height: 1; }
    JobEditor #kind { height: 1; border: none; padding: 0; layout: horizontal; width: auto; background: transparent; }
    JobEditor #kind:focus-within { background: $primary 15%; }
    JobEditor #kind RadioButton { width: auto; margin-right: 2; padding: 0; border: none; height: 1; }
    JobEditor #when { height: auto; }
    JobEditor #presets-box { width: 24; height: auto; }
    JobEditor #presets { height: auto; max-height: 14; border: none; padding: 0; background: $surface; }
    JobEditor #presets:focus { background: $primary 10%; }
    JobEditor #schedule-box { width: 1fr; height: auto; padding-left: 1; }
    JobEditor .check { height: auto; margin: 0 0 0 11; }
    JobEditor .check.-ok { color: $run-succeeded; }
    JobEditor .check.-bad { color: $error; text-style: bold; }
    JobEditor .check.-empty { display: none; }
    JobEditor #next-fires { height: auto; margin: 1 0 0 0; }
    JobEditor #kind-note, JobEditor #env-warnings { height: auto; color: $warning; }
    JobEditor #env-warnings { padding: 0 1; }
    JobEditor #editor-error { height: auto; color: $error; text-style: bold; padding: 0 1; }
    JobEditor .kind-fields { height: auto; }
    JobEditor .buttons { height: 1; margin-top: 1; }
    JobEditor #enabled, JobEditor #notify_retries { border: none; padding: 0; height: 1; background: transparent; }
    JobEditor #notify_retries { width: auto; }
    JobEditor #approval { border: none; padding: 0; height: 1; background: transparent; width: auto; }
    """

    def __init__(
        self,
        job: Job | None,
        *,
        clone_of: Job | None = None,
        taken: Container[str] = (),
        client: EngineClient,
        settings: Settings,
        now_ms: Callable[[], int],
        kinds: Iterable[TargetKind] = (TargetKind.SHELL,),
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.job = job
        self.clone_of = clone_of
        # a clone is a new job that starts as a copy of `clone_of`, under a name no job in `taken` has
        self.template = cloned(clone_of, unique_copy_name(clone_of.name, taken)) if clone_of else None
        self.client = client
        self.settings = settings
        self.now_ms = now_ms
        self.kinds = set(kinds)
        self.cursor_blink = cursor_blink
        self.values = form_from_job(job or self.template, settings)
        self._saving = False
        self.problems: dict[str, str] = {}  # widget id -> the problem shown under it, from the last check
        self.testing = False
        self._start: dict[str, Any] | None = None  # the form as opened, to tell whether cancel loses work

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        v = self.values
        kind = TargetKind(v["kind"])
        with Vertical(id="editor", classes="dialog"):
            with VerticalScroll(id="editor-body"):
                with Horizontal(classes="row"):
                    yield Label("Name", classes="label")
                    yield self._in("name", placeholder="e.g. backup")
                    yield Label("  Kind", classes="short")
                    with KindSet(id="kind"):
                        for k in TargetKind:
                            yield RadioButton(str(k), value=k is kind, id=f"kind-{k}")
                yield self._error_line("name")
                with Horizontal(id="when"):
                    with Vertical(id="presets-box"):
                        yield Label("Presets", classes="section")
                        yield OptionList(*(p.name for p in PRESETS), CUSTOM, id="presets")
                    with Vertical(id="schedule-box"):
                        yield Label("When", classes="section")
                        yield _row("Schedule", self._in("schedule"))
                        yield Static("", id="schedule-check", classes="check")
                        yield _row(
                            "Zone",
                            Input(
                                v["timezone"],
                                id="timezone",
                                compact=True,
                                suggester=SuggestFromList(all_zones(), case_sensitive=False),
                            ),
                        )
                        yield Static("", id="zone-check", classes="check")
                        yield Static("", id="next-fires")
                yield Label("What", classes="section")
                yield Static("", id="kind-note")
                with Vertical(id="shell-fields", classes="kind-fields"):
                    yield _row("Command", self._in("command", placeholder="e.g. restic backup ~/work"))
                    yield self._error_line("command")
                    yield _row("Cwd", self._in("cwd", placeholder="working directory (optional)"))
                    yield self._error_line("cwd")
                    yield _row("Env", self._in("env", placeholder="e.g. KEY=value TOKEN=${env:TOKEN}"))
                    yield self._error_line("env")
                with Vertical(id="http-fields", classes="kind-fields"):
                    yield _row(
                        "Request",
                        self._sel("method", [(m, m) for m in HTTP_METHODS]),
                        self._in("url", placeholder="e.g. https://example.com/health"),
                    )
                    yield self._error_line("url")
                    yield _row(
                        "Headers",
                        self._in("headers", placeholder="e.g. Authorization: Bearer ${env:TOKEN}; Accept: text/csv"),
                    )
                    yield self._error_line("headers")
                    yield _row("Body", self._in("body", placeholder="text, JSON or @file (optional)"))
                    yield self._error_line("body")
                    yield _row("Expect", self._in("expect_status", placeholder="status (default: any 2xx)"))
                    yield self._error_line("expect_status")
                with Vertical(id="agent-fields", classes="kind-fields"):
                    yield _row(
                        "Endpoint",
                        self._in("base_url", placeholder="e.g. http://127.0.0.1:11434/v1"),
                        Label("  Model", classes="short"),
                        self._in("model", placeholder="e.g. llama3.1:8b"),
                    )
                    yield self._error_line("base_url")
                    yield _row(
                        "API key",
                        self._in("api_key_env", placeholder="name of the variable holding it, e.g. OPENAI_API_KEY"),
                    )
                    yield self._error_line("api_key_env")
                    yield _row(
                        "Message",
                        self._in("message", placeholder="e.g. Summarise what changed in {job} since {scheduled_for}"),
                    )
                    yield self._error_line("message")
                    yield _row("System", self._in("system", placeholder="system prompt (optional)"))
                    yield self._error_line("system")
                    yield _row(
                        "Chat",
                        self._in("conversation", placeholder="isolated, persistent or session:NAME (shared)"),
                    )
                    yield self._error_line("conversation")
                    yield _row(
                        "Fallbacks",
                        self._in("fallbacks", placeholder="MODEL or MODEL@BASE_URL, asked in order when one fails"),
                    )
                    yield self._error_line("fallbacks")
                    yield _row(
                        "Gate",
                        self._in("gate", placeholder="optional shell check: exit 0 asks, 1 skips"),
                        Label("  Max cost", classes="short"),
                        self._in("max_cost", placeholder="USD", classes="narrow-input"),
                    )
                    yield self._error_line("gate")
                yield Label("Policies", classes="section")
                yield _row(
                    "Overlap",
                    self._sel("overlap", [(str(o), str(o)) for o in OverlapPolicy]),
                    Label("  Queue", classes="short"),
                    self._in("queue_limit", classes="narrow-input"),
                    Label("  Pool", classes="short"),
                    self._in("pool", placeholder="none", classes="narrow-input"),
                )
                yield self._error_line("overlap")
                yield _row(
                    "Retries",
                    self._in("retries", classes="narrow-input"),
                    Label("  Delay", classes="short"),
                    self._in("retry_delay", classes="narrow-input"),
                    Label("  Timeout", classes="short"),
                    self._in("timeout", classes="narrow-input"),
                )
                yield self._error_line("retries")
                yield _row(
                    "Misfire",
                    self._sel("misfire", [(str(m), str(m)) for m in MisfirePolicy]),
                    Label("  Grace", classes="short"),
                    self._in("misfire_grace", classes="narrow-input"),
                )
                yield self._error_line("misfire")
                yield _row(
                    "Stagger",
                    self._in("stagger", placeholder="window", classes="narrow-input"),
                    Label("  Node", classes="short"),
                    self._in("node_label", placeholder="label a node must carry (default: any node)"),
                )
                yield self._error_line("stagger")
                yield _row(
                    "Approval",
                    Checkbox("runs wait", v["approval"], id="approval"),
                    Label("  Wait", classes="short"),
                    self._in("approval_timeout", classes="tiny-input"),
                    Label("  Then", classes="short"),
                    self._sel("approval_default", [(d, d) for d in APPROVAL_DEFAULTS]),
                    Label("  Up to", classes="short"),
                    self._in("approval_max_waiting", classes="tiny-input"),
                )
                yield self._error_line("approval")
                yield Label("Chains and delivery", classes="section")
                yield _row(
                    "On success",
                    self._in("on_success", placeholder="jobs to run after a success"),
                    Label("  When", classes="short"),
                    self._in("when", placeholder="contains:X or regex:X"),
                )
                yield self._error_line("on_success")
                yield _row("On failure", self._in("on_failure", placeholder="jobs to run after a failure"))
                yield self._error_line("on_failure")
                yield _row(
                    "Deliver",
                    self._sel("deliver", [(m, m) for m in DELIVERY_MODES]),
                    Label("  to", classes="short"),
                    self._in("deliver_to", placeholder="e.g. ${env:SLACK_HOOK}"),
                    self._sel("deliver_format", [(f, f) for f in DELIVERY_FORMATS]),
                )
                yield self._error_line("deliver")
                yield _row(
                    "Alert to",
                    self._in("alert_to", placeholder="where failure alerts go (default: the delivery target)"),
                )
                yield self._error_line("alert_to")
                yield _row(
                    "Notices",
                    Checkbox("announce a failure that will be retried", v["notify_retries"], id="notify_retries"),
                )
                yield self._error_line("notify_retries")
                yield Label("About", classes="section")
                yield _row("Tags", self._in("tags", placeholder="e.g. ops nightly"))
                yield self._error_line("tags")
                yield _row("Notes", self._in("description", placeholder="what this job is for"))
                yield _row("State", Checkbox("enabled", v["enabled"], id="enabled"))
            yield Static("", id="env-warnings")
            yield Static("", id="editor-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button("Test run (ctrl+t)", id="test", compact=True)
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        dialog = self.query_one("#editor")
        if self.job is not None:
            dialog.border_title = f"Edit job · {self.job.name}"
        else:
            dialog.border_title = f"New job · a copy of {self.clone_of.name}" if self.clone_of else "New job"
        if not self.cursor_blink:
            for inp in self.query(Input):
                inp.cursor_blink = False
        expr = self.values["schedule"]
        presets = self.query_one("#presets", OptionList)
        match = next((i for i, p in enumerate(PRESETS) if p.expr == expr), len(PRESETS))
        presets.highlighted = match
        self._show_kind(TargetKind(self.values["kind"]))
        self._check_schedule()
        self._check_env()
        self._start = self.form_values()  # every widget holds its value from the start
        self.query_one("#name" if self.job is None else "#schedule", Input).focus()

    def _in(self, field: str, placeholder: str = "", **kw: Any) -> Input:
        return Input(str(self.values[field]), placeholder=placeholder, id=field, compact=True, **kw)

    def _sel(self, field: str, options: list[tuple[str, str]]) -> Select[str]:
        return Select(options, value=str(self.values[field]), id=field, allow_blank=False, compact=True)

    def _error_line(self, field: str) -> Static:
        """The line under a row where its fields' problems are shown (hidden while there are none)."""
        return Static("", id=f"error-{field}", classes="field-error")

    # ------------------------------------------------------------ reading the form

    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.values)
        for inp in self.query(Input):
            if inp.id:
                values[inp.id] = inp.value
        for sel in self.query(Select):
            if sel.id and sel.value is not Select.BLANK:
                values[sel.id] = sel.value
        pressed = self.query_one("#kind", RadioSet).pressed_button
        if pressed is not None and pressed.id:
            values["kind"] = TargetKind(pressed.id.removeprefix("kind-"))
        values["enabled"] = self.query_one("#enabled", Checkbox).value
        values["notify_retries"] = self.query_one("#notify_retries", Checkbox).value
        values["approval"] = self.query_one("#approval", Checkbox).value
        return values

    # ------------------------------------------------------------ checking as you type

    @on(Input.Changed, "#schedule, #timezone")
    def _schedule_changed(self) -> None:
        self._check_schedule()

    @on(Input.Changed)
    def _any_changed(self, event: Input.Changed) -> None:
        self.query_one("#editor-error", Static).update("")
        self._forget_problem(event.input.id)
        if event.input.id not in ("schedule", "timezone"):
            self._check_env()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        self._forget_problem(event.select.id)

    @on(Checkbox.Changed, "#approval")
    def _approval_changed(self) -> None:
        self._forget_problem("approval")

    @on(Checkbox.Changed, "#notify_retries")
    def _notices_changed(self) -> None:
        self._forget_problem("notify_retries")

    def _show_check(self, check: Static, text: str, state: str, invalid: str | None = None) -> None:
        """A check line under a field: its text and state (ok, bad, empty); a bad one marks the field."""
        check.update(text)
        check.set_classes(f"check -{state}")
        if invalid is not None:
            self.query_one(f"#{invalid}", Input).add_class("-invalid")

    def _check_schedule(self) -> None:
        expr = self.query_one("#schedule", Input).value.strip()
        zone = self.query_one("#timezone", Input).value.strip()
        sched_check = self.query_one("#schedule-check", Static)
        zone_check = self.query_one("#zone-check", Static)
        next_fires = self.query_one("#next-fires", Static)
        ok = True
        for inp in self.query("#schedule, #timezone").results(Input):
            inp.remove_class("-invalid")
        try:
            get_zone(zone)
            self._show_check(zone_check, "", "empty")
        except ScheduleError as e:
            self._show_check(zone_check, f"✖ {e}", "bad", invalid="timezone")
            ok = False
        try:
            sched = parse(expr, zone if ok else "UTC", now_ms=self.now_ms())
            self._show_check(sched_check, f"✔ {sched.describe()}", "ok")
        except ScheduleError as e:
            self._show_check(sched_check, f"✖ {e}", "bad", invalid="schedule")
            ok = False
            sched = None
        if ok and sched is not None:
            now = self.now_ms()
            text = Text()
            fires = sched.next_n(now, 5)
            for i, ms in enumerate(fires):
                text.append("Next" if i == 0 else "", "bold")
                text.append(
                    " " * (11 - (4 if i == 0 else 0)) + fire_time(ms, zone) + ("\n" if i < len(fires) - 1 else "")
                )
            if not fires:
                text.append("Next       never fires again", "bold")
            next_fires.update(text)
        else:
            next_fires.update("")

    def _check_env(self) -> None:
        values = self.form_values()
        missing = missing_env(values)
        widget = self.query_one("#env-warnings", Static)
        if missing:
            names = ", ".join(f"${{env:{n}}}" for n in missing)
            widget.update(f"⚠ not set in this environment: {names} (it must be set where the scheduler runs)")
        else:
            widget.update("")
        widget.display = bool(missing)

    def _show_kind(self, kind: TargetKind) -> None:
        for k in TargetKind:
            self.query_one(f"#{k}-fields").display = k is kind
        note = self.query_one("#kind-note", Static)
        if kind not in self.kinds:
            note.update(f"⚠ this cronui cannot execute {kind} jobs yet: the job can be saved, its runs will fail")
        else:
            note.update("")
        note.display = kind not in self.kinds
        self._check_env()

    # ------------------------------------------------------------ events

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.pressed.id:
            self._show_kind(TargetKind(event.pressed.id.removeprefix("kind-")))
        self._forget_problem("kind")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        schedule = self.query_one("#schedule", Input)
        if event.option_index < len(PRESETS):
            schedule.value = PRESETS[event.option_index].expr
        else:
            schedule.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "test":
            self.action_test_run()
        else:
            self.action_cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "test_run"):
            return not self._saving
        return True

    def action_cancel(self) -> None:
        """Close; if anything was changed, only after the user says to throw the changes away."""
        if self._start is None or self.form_values() == self._start:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        what = f"your changes to {self.job.name}" if self.job else "this new job"
        self.app.push_screen(
            ConfirmScreen(f"Discard {what}?", "Nothing is saved.", yes="Discard", no="Keep editing", danger=True),
            answered,
        )

    # ------------------------------------------------------------ checking, saving, test runs

    def action_save(self) -> None:
        self._checked(self._save)

    def action_test_run(self) -> None:
        self._checked(self._test_run)

    def _checked(self, then: Callable[[Job], Awaitable[None]]) -> None:
        """Check the whole form (in a worker: the checks read the store); when it holds no problem, go on
        with its job. Each problem is shown at its field; nothing else happens."""
        if self._saving:
            return
        self._saving = True
        self.refresh_keys()

        async def check() -> None:
            try:
                job, errors = form_job(self.form_values(), self.job or self.template)
                errors.extend(await self.client.problems(job))
                self._show_problems(errors)
                if not errors:
                    await then(job)
            except (StoreError, ValueError) as e:  # the store cannot be read: said in place, nothing done
                self._show_problems([e])
            finally:
                self._saving = False
                self.refresh_keys()

        spawn(self, check, "editor-check")

    async def _save(self, job: Job) -> None:
        try:
            saved = await (self.client.add_job(job) if self.job is None else self.client.update_job(job))
        except (JobError, NotFound, StoreError) as e:  # e.g. another process took the name meanwhile
            self._show_problems([e])
            return
        self.dismiss(saved)

    async def _test_run(self, job: Job) -> None:
        self.app.push_screen(TestRunScreen(job, self.client, now_ms=self.now_ms))

    def _widget_for(self, error: Exception) -> str | None:
        """The id of the widget that holds what `error` is about, when the form shows it."""
        field = getattr(error, "field", None)
        if field is None:
            return None
        key = field.replace("-", " ").replace("_", " ")
        if key == "schedule" and self.query_one("#timezone", Input).has_class("-invalid"):
            return "timezone"  # the rules check the zone with the schedule; the form has a field for each
        if key == "chain":  # a cycle: the chain field that takes part in it
            return "on_success" if self.query_one("#on_success", Input).value.strip() else "on_failure"
        widget = FIELD_WIDGETS.get(key)
        if widget is None or not self.query(f"#{widget}"):
            return None
        return widget

    def _show_problems(self, errors: Sequence[Exception]) -> None:
        """Mark each field with a problem and say what it is under it (the first problem of each field);
        problems with no field on the form are listed at the bottom; focus goes to the first bad field."""
        for old in list(self.problems):
            self.problems.pop(old)
            self._render_problem_line(old)
        loose: list[str] = []
        for error in errors:
            at = self._widget_for(error)
            if at is None:
                if str(error) not in loose:
                    loose.append(str(error))
            elif at not in self.problems:
                self.problems[at] = str(error)
        for widget in self.problems:
            self._render_problem_line(widget)
        bottom = self.query_one("#editor-error", Static)
        if not errors:
            bottom.update("")
            return
        n = len(self.problems) + len(loose)
        if n == 1:
            bottom.update(f"✖ {next(iter(self.problems.values()), loose[0] if loose else '')}")
        else:
            marked = f", {len(self.problems)} of them marked at their fields" if loose else ", each marked at its field"
            bottom.update("\n".join([f"✖ {n} problems{marked if self.problems else ''}", *(f"✖ {t}" for t in loose)]))
        self._focus_first_problem()

    def _render_problem_line(self, widget: str) -> None:
        """The line under `widget` shows the problems of its row's fields; the field is marked while it has one."""
        if widget in CHECK_LINES:  # the schedule's and zone's own checks, redone as they are typed
            if widget in self.problems:
                check = self.query_one(f"#{CHECK_LINES[widget]}", Static)
                self._show_check(check, f"✖ {self.problems[widget]}", "bad", invalid=widget)
            return
        self.query_one(f"#{widget}").set_class(widget in self.problems, "-invalid")
        line_id = ERROR_LINES.get(widget, widget)
        row = [w for w in self.problems if ERROR_LINES.get(w, w) == line_id]
        line = self.query_one(f"#error-{line_id}", Static)
        line.update("\n".join(f"✖ {self.problems[w]}" for w in row))
        line.display = bool(row)

    def _forget_problem(self, widget: str | None) -> None:
        """A field with a problem was changed: its mark and message go (the next check says if it is fixed)."""
        if widget is not None and widget in self.problems:
            del self.problems[widget]
            self._render_problem_line(widget)

    def _focus_first_problem(self) -> None:
        """Focus the first marked field in the form's order and bring it, with its message, into view."""
        for widget in self.query("#editor-body Input, #editor-body Select, #editor-body Checkbox, #editor-body #kind"):
            if widget.has_class("-invalid"):
                widget.focus(scroll_visible=False)
                body = self.query_one("#editor-body", VerticalScroll)
                self.call_after_refresh(body.scroll_to_center, widget, animate=False)
                return
