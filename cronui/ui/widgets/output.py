"""A run's output (stdout and stderr, or an agent's reply): scrollable, searchable, and following new
output while the run goes on. Line API, so a 256 KB log costs only the lines on screen."""

from __future__ import annotations

import json
import re
from typing import ClassVar

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cronui.ui.widgets.status import StatusStyles, status_css

STDERR_RULE = "── stderr ──"


def pretty(text: str) -> str:
    """JSON output reads better indented; anything else is shown as it came."""
    stripped = text.strip()
    if stripped[:1] in "{[" and len(stripped) < 2_000_000:
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


def fold_line(line: str, width: int) -> list[str]:
    """Fold a long line at word boundaries where it can, mid-word where a word is wider than the pane."""
    out: list[str] = []
    while cell_len(line) > width:
        head = chop_cells(line, width)[0]
        cut = head.rfind(" ")
        if cut > width // 3:  # a space late enough: break after it
            head = head[: cut + 1]
        out.append(head.rstrip(" ") or head)
        line = line[len(head) :]
    out.append(line)
    return out


class OutputView(StatusStyles, ScrollView, can_focus=True):
    DEFAULT_CSS = """
    OutputView {
        height: 1fr;
        scrollbar-size-horizontal: 1;
        background: $surface;
        & > .output--match { background: $warning 40%; }
        & > .output--current { background: $warning; color: $background; }
        & > .output--rule { color: $text-muted; }
        & > .output--empty { color: $text-muted; text-style: italic; }
    }
    """ + status_css("OutputView")
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "output--match",
        "output--current",
        "output--rule",
        "output--empty",
        *StatusStyles.COMPONENT_CLASSES,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "scroll_home", "Top", show=False),
        Binding("end,G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.stdout = ""
        self.stderr = ""
        self.empty_text = "no output"
        self.follow = False
        self.wrap = True  # long lines (an agent's reply) fold at the pane's width; `w` shows them unfolded
        self._wrapped_at = 0
        self._lines: list[tuple[str, bool]] = []  # (text, is stderr), one per screen line
        self._width = 0
        self.search = ""
        self.matches: list[int] = []
        self.current_match = -1

    @property
    def text(self) -> str:
        return self.stdout + (f"\n{STDERR_RULE}\n{self.stderr}" if self.stderr else "")

    def set_output(self, stdout: str, stderr: str) -> None:
        self.stdout, self.stderr = stdout, stderr
        self._relayout()

    def append(self, stream: str, text: str) -> None:
        if stream == "stderr":
            self.stderr += text
        else:
            self.stdout += text
        self._relayout()

    def _relayout(self) -> None:
        lines: list[tuple[str, bool]] = [(line, False) for line in pretty(self.stdout).splitlines()]
        if self.stderr:
            lines.append((STDERR_RULE, True))
            lines.extend((line, True) for line in self.stderr.splitlines())
        width = self.scrollable_content_region.width
        self._wrapped_at = width if self.wrap else 0
        out: list[tuple[str, bool]] = []
        for line, err in lines:
            line = line.expandtabs(4)
            if self.wrap and width > 1 and cell_len(line) > width:
                out.extend((part, err) for part in fold_line(line, width))
            else:
                out.append((line, err))
        self._lines = out
        self._width = max((cell_len(line) for line, _ in self._lines), default=0)
        self.virtual_size = Size(self._width if self.wrap else self._width + 1, len(self._lines))
        if self.search:
            self._find()
        if self.follow:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap and self.scrollable_content_region.width != self._wrapped_at:
            self._relayout()
        if self.follow:
            self.scroll_end(animate=False)

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._relayout()

    # ------------------------------------------------------------ search

    def set_search(self, term: str) -> int:
        self.search = term
        self._find()
        self.current_match = -1
        if self.matches:
            self.next_match(1)
        self.refresh()
        return len(self.matches)

    def _find(self) -> None:
        if not self.search:
            self.matches = []
            return
        needle = self.search.casefold()
        self.matches = [i for i, (line, _) in enumerate(self._lines) if needle in line.casefold()]

    def next_match(self, delta: int) -> None:
        if not self.matches:
            return
        self.current_match = (self.current_match + delta) % len(self.matches)
        line = self.matches[self.current_match]
        self.follow = False
        self.scroll_to(y=max(0, line - self.scrollable_content_region.height // 2), animate=False)
        self.refresh()

    # ------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_y) + y
        if not self._lines:
            if y == 0:
                return self._strip(Text(self.empty_text), width, base + self.get_component_rich_style("output--empty"))
            return Strip.blank(width, base)
        if index >= len(self._lines):
            return Strip.blank(width, base)
        line, err = self._lines[index]
        text = Text(line, no_wrap=True)
        if line == STDERR_RULE and err:
            text.stylize(self.component_style("status--dim"))
        elif err:
            text.stylize(self.component_style("status--failed"))
        if self.search:
            self._highlight(text, index)
        return self._strip(text, width, base, int(self.scroll_x))

    def _highlight(self, text: Text, index: int) -> None:
        current = self.matches[self.current_match] if 0 <= self.current_match < len(self.matches) else -1
        style = self.get_component_rich_style("output--current" if index == current else "output--match")
        for m in re.finditer(re.escape(self.search), text.plain, flags=re.IGNORECASE):
            text.stylize(style, m.start(), m.end())

    def _strip(self, text: Text, width: int, style: Style, scroll_x: int = 0) -> Strip:
        text.stylize_before(style)
        strip = Strip(list(text.render(self.app.console)), cell_len(text.plain))
        return strip.crop_extend(scroll_x, scroll_x + width, style)
