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
from collections.abc import Awaitable, Callable, Container, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, OptionList, RadioButton, RadioSet, Select, Static

from cronui.config import Settings
from cronui.engine.control import NotFound
from cronui.engine.holds import fires_held
from cronui.jobs import JobError
from cronui.model import Job, TargetKind
from cronui.schedule import PRESETS, Schedule, ScheduleError, all_zones, get_zone, parse
from cronui.schedule.dst import next_fires as fires_with_notes
from cronui.schedule.multi import from_field
from cronui.schedule.readings import preset_index
from cronui.store import StoreError
from cronui.ui.client import EngineClient
from cronui.ui.jobform import form_from_job, form_job, missing_env
from cronui.ui.screens.bindings import INTERRUPT
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.editor_fields import FieldMaker, row
from cronui.ui.screens.editor_kinds import CHECK_COMMAND_PLACEHOLDER, COMMAND_PLACEHOLDER, check_fields, kind_fields
from cronui.ui.screens.editor_policies import about_fields, chain_and_delivery_fields, param_fields, policy_fields
from cronui.ui.screens.editor_problems import ShowsProblems
from cronui.ui.screens.editor_window import window_fields, windowed
from cronui.ui.screens.keys import KeysFollowState
from cronui.ui.screens.test_run import TestRunScreen
from cronui.ui.times import fire_time
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.workers import spawn

CUSTOM = "Custom…"
PRESET_FIRES = 6  # a schedule is a preset when their next this many fires are the same
NARROW = 80  # below this many columns a field's label goes above it instead of squeezing it


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


class JobEditor(KeysFollowState, ShowsProblems, ModalScreen[Job | None]):
    KEY_ACTIONS = ("save", "test_run")

    BINDINGS: ClassVar[list[BindingType]] = [
        INTERRUPT,
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
    JobEditor .short { width: auto; padding: 0 1 0 2; color: $text-muted; }
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
    JobEditor #notify_retries, JobEditor #check { width: auto; }
    JobEditor #check { border: none; padding: 0; height: 1; background: transparent; }
    JobEditor #approval { border: none; padding: 0; height: 1; background: transparent; width: auto; }
    JobEditor .status-input { width: 16; }
    JobEditor.-narrow .row { layout: vertical; height: auto; }
    JobEditor.-narrow .label, JobEditor.-narrow .short { width: 100%; padding: 0; }
    JobEditor.-narrow Input { width: 100%; }
    JobEditor.-narrow .field-error, JobEditor.-narrow .check { margin: 0; }
    JobEditor.-narrow #when { layout: vertical; }
    JobEditor.-narrow #presets-box { width: 100%; }
    JobEditor.-narrow #presets { max-height: 6; }
    JobEditor.-narrow #schedule-box { padding-left: 0; }
    JobEditor.-narrow #deliver_format { margin-left: 0; }
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
        fields = FieldMaker(v)
        kind = TargetKind(v["kind"])
        with Vertical(id="editor", classes="dialog"):
            with VerticalScroll(id="editor-body"):
                with Horizontal(classes="row"):
                    yield Label("Name", classes="label")
                    yield fields.input("name", placeholder="e.g. backup")
                    yield Label("Kind", classes="short")
                    with KindSet(id="kind"):
                        for k in TargetKind:
                            yield RadioButton(str(k), value=k is kind, id=f"kind-{k}")
                yield fields.error_line("name")
                with Horizontal(id="when"):
                    with Vertical(id="presets-box"):
                        yield Label("Presets", classes="section")
                        yield OptionList(*(p.name for p in PRESETS), CUSTOM, id="presets")
                    with Vertical(id="schedule-box"):
                        yield Label("When", classes="section")
                        yield row("Schedule", fields.input("schedule"))
                        yield Static("", id="schedule-check", classes="check")
                        yield row(
                            "Zone",
                            Input(
                                v["timezone"],
                                id="timezone",
                                compact=True,
                                suggester=SuggestFromList(all_zones(), case_sensitive=False),
                            ),
                        )
                        yield Static("", id="zone-check", classes="check")
                        yield from window_fields(fields)
                        yield Static("", id="next-fires")
                yield Label("What", classes="section")
                yield Static("", id="kind-note")
                yield from check_fields(fields)
                yield from kind_fields(fields)
                yield from policy_fields(fields)
                yield from chain_and_delivery_fields(fields)
                yield from about_fields(fields)
                yield from param_fields(fields)
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
        self._show_kind(TargetKind(self.values["kind"]))
        self._show_check_fields(bool(self.values["check"]))
        self._check_schedule()
        self._check_env()
        self._start = self.form_values()  # every widget holds its value from the start
        self.query_one("#name" if self.job is None else "#schedule", Input).focus()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(self.app.size.width < NARROW, "-narrow")

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
        values["check"] = self.query_one("#check", Checkbox).value
        return values

    # ------------------------------------------------------------ checking as you type

    @on(Input.Changed, "#schedule, #timezone, #starts, #ends")
    def _schedule_changed(self) -> None:
        self._check_schedule()

    @on(Input.Changed)
    def _any_changed(self, event: Input.Changed) -> None:
        self.query_one("#editor-error", Static).update("")
        self.forget_problem(event.input.id)
        if event.input.id not in ("schedule", "timezone"):
            self._check_env()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        self.forget_problem(event.select.id)

    @on(Checkbox.Changed, "#approval")
    def _approval_changed(self) -> None:
        self.forget_problem("approval")

    @on(Checkbox.Changed, "#check")
    def _check_changed(self, event: Checkbox.Changed) -> None:
        """A check runs nothing: it is a shell job whose command only names what runs elsewhere."""
        self.forget_problem("check")
        if event.value:
            self.query_one("#kind-shell", RadioButton).value = True
        self._show_check_fields(event.value)

    def _show_check_fields(self, check: bool) -> None:
        """A check's grace can be typed; where a command would run (cwd, env) is not asked."""
        self.query_one("#command", Input).placeholder = CHECK_COMMAND_PLACEHOLDER if check else COMMAND_PLACEHOLDER
        self.query_one("#grace", Input).disabled = not check
        for field in ("cwd", "env"):
            self.query_one(f"#{field}").parent.display = not check  # type: ignore[union-attr]

    @on(Checkbox.Changed, "#notify_retries")
    def _notices_changed(self) -> None:
        self.forget_problem("notify_retries")

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
            self.show_check(zone_check, "", "empty")
        except ScheduleError as e:
            self.show_check(zone_check, f"✖ {e}", "bad", invalid="timezone")
            ok = False
        try:
            sched = parse(from_field(expr), zone if ok else "UTC", now_ms=self.now_ms())
            self.show_check(sched_check, f"✔ {sched.describe()}", "ok")
        except ScheduleError as e:
            self.show_check(sched_check, f"✖ {e}", "bad", invalid="schedule")
            ok = False
            sched = None
        # the presets list follows the schedule, however it is written (`@daily`, `every 1m`, `mon-fri`)
        found = preset_index(expr) if sched is None else self._preset_of(sched)
        self.query_one("#presets", OptionList).highlighted = len(PRESETS) if found is None else found
        if ok and sched is not None:
            now = self.now_ms()
            text = Text()
            sched = windowed(self, sched, zone)
            fires = fires_with_notes(sched, now, 5)  # each with what a clock change does to it
            held = fires_held(self.job, zone, self.settings.calendars)  # a fire its calendars skip: struck out
            for i, (ms, note) in enumerate(fires):
                text.append("Next" if i == 0 else "", "bold")
                text.append(" " * (11 - (4 if i == 0 else 0)))
                why = held(ms) if held else None
                text.append(fire_time(ms, zone), "strike dim" if why else "")
                if why:
                    text.append(f"  skipped: {why}")
                if note:
                    text.append(f" ({note})", "italic")
                text.append("\n" if i < len(fires) - 1 else "")
            if not fires:
                text.append("Next       never fires again", "bold")
            next_fires.update(text)
        else:
            next_fires.update("")

    def _preset_of(self, sched: Schedule) -> int | None:
        """The preset that fires when `sched` does (its next fires compared, in the same zone)."""
        found = preset_index(sched.expr)
        if found is not None:
            return found
        now = self.now_ms()
        fires = sched.next_n(now, PRESET_FIRES)
        for i, preset in enumerate(PRESETS):
            if parse(preset.expr, sched.timezone, now_ms=now).next_n(now, PRESET_FIRES) == fires:
                return i
        return None

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
        self.forget_problem("kind")

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
                self.show_problems(errors)
                if not errors:
                    await then(job)
            except (StoreError, ValueError) as e:  # the store cannot be read: said in place, nothing done
                self.show_problems([e])
            finally:
                self._saving = False
                self.refresh_keys()

        spawn(self, check, "editor-check")

    async def _save(self, job: Job) -> None:
        try:
            saved = await (self.client.add_job(job) if self.job is None else self.client.update_job(job))
        except (JobError, NotFound, StoreError) as e:  # e.g. another process took the name meanwhile
            self.show_problems([e])
            return
        self.dismiss(saved)

    async def _test_run(self, job: Job) -> None:
        self.app.push_screen(TestRunScreen(job, self.client, now_ms=self.now_ms))
