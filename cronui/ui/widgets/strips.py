"""Panes drawn line by line (a ScrollView's `render_line`): which line is drawn how, and a line as a strip."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.scroll_view import ScrollView
from textual.strip import Strip


def line_strip(text: Text, width: int, style: Style, console: Console, scroll_x: int = 0) -> Strip:
    """`text` as one screen line under `style` (the text's own styles win), from cell `scroll_x` on, cut or
    padded with `style` to `width` cells. The text is styled in place."""
    text.stylize_before(style)
    strip = Strip(list(text.render(console)), cell_len(text.plain))
    return strip.crop_extend(scroll_x, scroll_x + width, style)


class LinePane(ScrollView):
    """A pane of lines: with none, its first line says why (`empty_line`) and the rest are blank; past the last
    line, blank lines; every other line is `draw_line`'s."""

    @property
    def line_count(self) -> int:
        raise NotImplementedError

    def empty_line(self, width: int, base: Style) -> Strip:
        raise NotImplementedError

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        count = self.line_count
        if not count:
            return self.empty_line(width, base) if y == 0 else Strip.blank(width, base)
        index = int(self.scroll_y) + y
        if index >= count:
            return Strip.blank(width, base)
        return self.draw_line(index, width, base)
