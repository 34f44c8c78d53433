"""The one-line prompt at the bottom of a screen, k9s style: `/` to filter, `:` for a command."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from cronui.ui.commands import COMMANDS, HINT

Mode = Literal["filter", "command", "search"]

COMPLETED = [*(c.split()[0] + (" " if " " in c else "") for c, _ in COMMANDS), "quit"]


class PromptBar(Horizontal):
    """Holds the prompt and its mark; hidden until the prompt is opened."""

    DEFAULT_CSS = """
    PromptBar {
        dock: bottom;
        display: none;
        height: 1;
        background: $panel;
        &.-visible { display: block; }
        #prompt-mark { width: 2; padding-left: 1; color: $accent; text-style: bold; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("/", id="prompt-mark")
        yield Prompt(id="prompt")


class PromptMessage(Message):
    """What the prompt says about its text: in which mode, and the text."""

    def __init__(self, prompt: Prompt, mode: Mode, value: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.mode = mode
        self.value = value

    @property
    def control(self) -> Prompt:
        return self.prompt


class Prompt(Input):
    DEFAULT_CSS = """
    Prompt {
        border: none;
        height: 1;
        width: 1fr;
        padding: 0 1 0 0;
        background: $panel;
        &:focus { border: none; background: $panel; }
        &.-error { color: $error; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close", show=False)]

    class Edited(PromptMessage):
        """The text changed."""

    class Done(PromptMessage):
        """Enter (submitted=True) or escape (False)."""

        def __init__(self, prompt: Prompt, mode: Mode, value: str, submitted: bool) -> None:
            super().__init__(prompt, mode, value)
            self.submitted = submitted

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.mode: Mode = "filter"

    def open(self, mode: Mode, value: str = "", *, themes: list[str] | None = None) -> None:
        self.mode = mode
        marks = {"filter": "/", "command": ":", "search": "/"}
        self.placeholder = {
            "filter": "status:failed kind:agent tag:ops name…   (enter keeps it, esc clears)",
            "command": HINT,
            "search": "text to find in the output (enter: next match, esc: close)",
        }[mode]
        words = [*COMPLETED, *(f"theme {t}" for t in themes or [])]
        self.suggester = SuggestFromList(words, case_sensitive=False) if mode == "command" else None
        bar = self.parent
        if isinstance(bar, PromptBar):
            bar.query_one("#prompt-mark", Static).update(marks[mode])
            bar.add_class("-visible")
        with self.prevent(Input.Changed):
            self.value = value
        self.cursor_position = len(value)
        self.remove_class("-error")
        # synchronously: keys typed right after `:` or `/` are already queued, and must land here
        self.screen.set_focus(self)

    def close(self) -> None:
        if self.parent is not None:
            self.parent.remove_class("-visible")

    @property
    def is_open(self) -> bool:
        return self.parent is not None and self.parent.has_class("-visible")

    def show_error(self, error: bool) -> None:
        self.set_class(error, "-error")

    def refuse(self, error: str) -> None:
        """A command that could not run: its text goes (what is typed next is a new command, not appended
        to the old one) and the reason stays in its place until then."""
        with self.prevent(Input.Changed):
            self.value = ""
        self.placeholder = error
        self.show_error(True)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(self, self.mode, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Done(self, self.mode, event.value, True))

    def action_dismiss(self) -> None:
        self.post_message(self.Done(self, self.mode, self.value, False))


class PromptKeys:
    """For screens with a prompt: keys typed right after `:` or `/`, faster than focus moves, were already
    on their way to the widget focused before. They belong to the prompt, not to that widget's bindings
    (`:q` must not reach the job list as `q`)."""

    PROMPT_ACTIONS = ("command", "filter", "search")

    async def on_key(self, event: events.Key) -> None:
        prompts = self.query(Prompt)  # type: ignore[attr-defined]
        prompt = prompts.first() if prompts else None
        if prompt is None or prompt.has_focus:
            return
        if not prompt.is_open:
            # Bindings run only after the keys queued behind this one have gone by: open the prompt
            # now, so that they find it open.
            active = self.active_bindings.get(event.key)  # type: ignore[attr-defined]
            if active is not None and active.binding.action in self.PROMPT_ACTIONS and active.enabled:
                event.stop()
                event.prevent_default()
                if active.binding.action == "command":
                    self.open_command()  # type: ignore[attr-defined]
                else:
                    await self.run_action(active.binding.action)  # type: ignore[attr-defined]
            return
        if event.key == "enter":
            await prompt.action_submit()
        elif event.key == "escape":
            prompt.action_dismiss()
        elif event.key == "backspace":
            prompt.action_delete_left()
        elif event.is_printable and event.character:
            prompt.insert_text_at_cursor(event.character)
        else:
            return
        event.stop()
        event.prevent_default()
