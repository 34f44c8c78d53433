"""A run's output (stdout and stderr, or an agent's reply): scrollable, searchable, and following new
output while the run goes on. Line API, so a 256 KB log costs only the lines on screen; a large output is
laid out (pretty-printed, split, folded) in a thread, never on the event loop the scheduler shares."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, get_character_cell_size
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.strip import Strip

from cronui.ui.widgets.status import StatusStyles, status_css
from cronui.ui.widgets.strips import LinePane, line_strip
from cronui.ui.workers import spawn

STDERR_RULE = "── stderr ──"
SYNC_LAYOUT_CHARS = 64 * 1024  # output this long is laid out at once; a longer one in a thread
PREVIEW_CHARS = 16 * 1024  # of a longer one, laid out at once (its start, or its end when following)
LINE_CAP = 10_000  # characters of one line drawn when lines are not wrapped (wrapped, all of it is shown)

# The keys of a pane that scrolls what it shows (this one and the run's timeline): arrows and vi's letters.
SCROLL_KEYS: list[BindingType] = [
    Binding("up,k", "scroll_up", "Up", show=False),
    Binding("down,j", "scroll_down", "Down", show=False),
    Binding("pageup", "page_up", "Page up", show=False),
    Binding("pagedown", "page_down", "Page down", show=False),
    Binding("home,g", "scroll_home", "Top", show=False),
    Binding("end,G", "scroll_end", "Bottom", show=False),
]


def pretty(text: str) -> str:
    """JSON output reads better indented; anything else is shown as it came."""
    stripped = text.strip()
    if stripped[:1] in "{[" and len(stripped) < 2_000_000:
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


def _single_cells(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _cells_end(line: str, pos: int, width: int) -> int:
    """The furthest end such that line[pos:end] fits in `width` cells (at least one character)."""
    cells = 0
    end = pos
    for ch in line[pos : pos + width]:  # a character is at most 2 cells wide, at least 0
        size = get_character_cell_size(ch)
        if cells + size > width:
            return max(end, pos + 1)
        cells += size
        end += 1
    if end < len(line) and cells < width:  # zero-width characters: take more
        for ch in line[end:]:
            size = get_character_cell_size(ch)
            if cells + size > width:
                break
            cells += size
            end += 1
    return max(end, pos + 1)


def fold_line(line: str, width: int) -> list[str]:
    """Fold a long line at word boundaries where it can, mid-word where a word is wider than the pane.
    Linear in the line's length (a 256 KB line folds in milliseconds)."""
    if width < 1 or cell_len(line) <= width:
        return [line]
    single = _single_cells(line)
    out: list[str] = []
    pos, n = 0, len(line)
    while pos < n:
        end = min(n, pos + width) if single else _cells_end(line, pos, width)
        if end >= n:
            out.append(line[pos:])
            break
        cut = line.rfind(" ", pos, end)
        if cut > pos:
            after = line.find(" ", end)
            word = (n if after < 0 else after) - (cut + 1)  # the word the break would carry to the next line
            if cut - pos > width // 3 or word <= width:  # a space late enough, or one that keeps a word whole
                end = cut + 1
        piece = line[pos:end]
        out.append(piece.rstrip(" ") or piece)
        pos = end
    return out


def clip_line(line: str, cap: int = LINE_CAP) -> str:
    """A line as drawn unwrapped: at most `cap` characters, and how much more there is."""
    if len(line) <= cap:
        return line
    return f"{line[:cap]} … [{len(line) - cap:,} more characters: w wraps, c copies]"


@dataclass
class Layout:
    lines: list[tuple[str, bool]]  # (text, is stderr), one per screen line
    width: int  # the widest line, in cells


def layout(stdout: str, stderr: str, width: int, wrap: bool, *, indent_json: bool = True) -> Layout:
    """The output as screen lines: JSON indented, tabs expanded, long lines folded (or clipped)."""
    lines: list[tuple[str, bool]] = [(line, False) for line in (pretty(stdout) if indent_json else stdout).splitlines()]
    if stderr:
        lines.append((STDERR_RULE, True))
        lines.extend((line, True) for line in stderr.splitlines())
    out: list[tuple[str, bool]] = []
    for line, err in lines:
        line = line.expandtabs(4) if "\t" in line else line
        if wrap and width > 1:
            out.extend((part, err) for part in fold_line(line, width))
        else:
            out.append((clip_line(line), err))
    return Layout(out, max((cell_len(line) for line, _ in out), default=0))


class OutputView(StatusStyles, LinePane, can_focus=True):
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
    BINDINGS: ClassVar[list[BindingType]] = [*SCROLL_KEYS]

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
        self._preparing = False
        self._layout_again = False
        self._layout_generation = 0
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

    @property
    def preparing(self) -> bool:
        """A layout is being prepared in a thread (the screen shows the previous one meanwhile)."""
        return self._preparing

    def _relayout(self) -> None:
        width = self.scrollable_content_region.width
        self._wrapped_at = width if self.wrap else 0
        if len(self.stdout) + len(self.stderr) <= SYNC_LAYOUT_CHARS:
            self._layout_generation += 1
            self._preparing = False
            self._apply(layout(self.stdout, self.stderr, width, self.wrap))
            return
        if self._preparing:  # one layout at a time; the newest wish runs when it is done
            self._layout_again = True
            return
        self._layout_generation += 1
        generation = self._layout_generation
        stdout, stderr, wrap = self.stdout, self.stderr, self.wrap
        if not self._lines:  # nothing on screen yet: a first screenful at once, the rest in a thread
            text = self.text
            part = text[-PREVIEW_CHARS:] if self.follow else text[:PREVIEW_CHARS]
            self._apply(layout(part, "", width, wrap, indent_json=False))
        self._preparing = True

        async def work() -> None:
            try:
                done = await asyncio.to_thread(layout, stdout, stderr, width, wrap)
            finally:
                self._preparing = False
            if generation == self._layout_generation:
                self._apply(done)
            if self._layout_again:
                self._layout_again = False
                self._relayout()

        spawn(self, work, "output-layout")

    def _apply(self, done: Layout) -> None:
        self._lines = done.lines
        self._width = done.width
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

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def empty_line(self, width: int, base: Style) -> Strip:
        empty = "preparing the output…" if self._preparing else self.empty_text
        return self._strip(Text(empty), width, base + self.get_component_rich_style("output--empty"))

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        line, err = self._lines[index]
        scroll_x = int(self.scroll_x)
        if len(line) > width and _single_cells(line):  # draw only what is in view
            line = line[scroll_x : scroll_x + width]
            scroll_x = 0
        text = Text(line, no_wrap=True)
        if line == STDERR_RULE and err:
            text.stylize(self.component_style("status--dim"))
        elif err:
            text.stylize(self.component_style("status--failed"))
        if self.search:
            self._highlight(text, index)
        return self._strip(text, width, base, scroll_x)

    def _highlight(self, text: Text, index: int) -> None:
        current = self.matches[self.current_match] if 0 <= self.current_match < len(self.matches) else -1
        style = self.get_component_rich_style("output--current" if index == current else "output--match")
        for m in re.finditer(re.escape(self.search), text.plain, flags=re.IGNORECASE):
            text.stylize(style, m.start(), m.end())

    def _strip(self, text: Text, width: int, style: Style, scroll_x: int = 0) -> Strip:
        return line_strip(text, width, style, self.app.console, scroll_x)
