"""One line of a pane drawn line by line (a ScrollView's `render_line`), the same way in every such pane."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.strip import Strip


def line_strip(text: Text, width: int, style: Style, console: Console, scroll_x: int = 0) -> Strip:
    """`text` as one screen line under `style` (the text's own styles win), from cell `scroll_x` on, cut or
    padded with `style` to `width` cells. The text is styled in place."""
    text.stylize_before(style)
    strip = Strip(list(text.render(console)), cell_len(text.plain))
    return strip.crop_extend(scroll_x, scroll_x + width, style)
