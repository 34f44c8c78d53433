"""The footer of every screen: Textual's, made compact on narrow terminals so the keys still fit."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

NARROW = 100


class KeysFooter(Footer):
    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow  # ctrl+p still works; `?` lists it
