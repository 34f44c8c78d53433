"""What the full-size screens share: the context they are made with, command mode (`:`), the prompt's
cursor, and telling the app when the header should be redrawn."""

from __future__ import annotations

from textual.screen import Screen
from textual.widget import Widget

from cronui.ui.context import ScreenContext
from cronui.ui.messages import HeaderStale
from cronui.ui.screens.keys import KeysFollowState
from cronui.ui.widgets.prompt import Prompt, PromptKeys


class CronuiScreen(PromptKeys, KeysFollowState, Screen[None]):
    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__()
        self.ctx = ctx

    @property
    def where(self) -> str:
        """What the header says about where you are."""
        return ""

    def on_mount(self) -> None:
        if not self.ctx.cursor_blink:
            self.query_one(Prompt).cursor_blink = False

    def on_screen_resume(self) -> None:
        self.post_message(HeaderStale())

    def open_command(self) -> None:
        self.query_one(Prompt).open("command", "", themes=sorted(self.app.available_themes))

    def end_command(self, prompt: Prompt, submitted: bool, value: str, focus: Widget) -> None:
        """Command mode's end, the same on every screen: run it (an error stays in place), close, refocus."""
        if submitted:
            error = self.ctx.run_command(value)
            if error:
                prompt.refuse(error)
                self.notify(error, severity="warning", timeout=4)
                return
        prompt.close()
        if self.is_current:
            focus.focus()
