"""The footer of every screen: Textual's, made compact on narrow terminals so the keys still fit, and when
they still do not, the keys that fit whole: a key that is off now goes first, then the screen's last ones;
help, command mode, back and quit stay (`?` lists every key)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

NARROW = 100
KEPT = {"help", "command", "back", "quit"}  # always shown: the ways to find the rest, and out


def key_width(key: FooterKey, compact: bool) -> int:
    """The cells a key takes as Footer draws it: its key, its description and the padding around them."""
    return cell_len(key.key_display) + cell_len(key.description) + (2 if compact else 3)


def fitted(widgets: Iterable[Widget], width: int, compact: bool) -> list[Widget]:
    """The footer's widgets with keys dropped until the rest fit `width`: disabled keys first, then the
    last ones; KEPT keys never. A footer with anything but plain keys (binding groups) is left as it is."""
    shown = list(widgets)
    if not all(isinstance(w, FooterKey) for w in shown):
        return shown

    def used() -> int:
        return sum(key_width(w, compact) for w in shown if isinstance(w, FooterKey))

    while used() > width:
        droppable = [
            w
            for w in shown
            if isinstance(w, FooterKey)
            and w.action.removeprefix("app.") not in KEPT
            and "-command-palette" not in w.classes
        ]
        if not droppable:
            break
        off = [w for w in droppable if w.disabled]
        shown.remove((off or droppable)[-1])
    return shown


class KeysFooter(Footer):
    """Composed again only when what it shows changed: Textual's footer mounts its keys anew whenever the
    screen's bindings are said to have changed (a cursor move, a focus change, every screen opened), and
    mounting a dozen styled keys was most of the time a screen took to open."""

    _composed: object = None  # what the keys now mounted were composed from (`_shows`)

    def _shows(self) -> object:
        """Everything the composed keys depend on: the width, the style and each binding shown."""
        if not self._bindings_ready:
            return None
        app = self.app
        keys = tuple(
            (b.key, app.get_key_display(b), b.description, b.action, b.group, enabled, tooltip)
            for _, b, enabled, tooltip in self.screen.active_bindings.values()
            if b.show or b.key == app.COMMAND_PALETTE_BINDING
        )
        return (self.size.width, self.compact, self.show_command_palette, keys)

    async def recompose(self) -> None:
        if self._composed is not None and self.is_attached and self._shows() == self._composed:
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        self._composed = self._shows()
        widgets = list(super().compose())
        width = self.size.width
        yield from fitted(widgets, width, self.compact) if width else widgets

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow  # ctrl+p still works; `?` lists it
        self.call_after_refresh(self.recompose)  # the keys that fit the new width
