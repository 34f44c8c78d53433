"""A table drawn with the Line API: only the rows on screen are ever rendered.

A DataTable measures and stores every cell, which is fine for a hundred rows and takes seconds for ten
thousand. Here the rows are plain objects in a list; `render_line` turns the one row a screen line shows
into a strip when the compositor asks for it. Columns have a priority: when the table is narrow the least
important ones are dropped whole, so the ones that stay (the job's name first) are never cut.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Generic, Literal, TypeVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cronui.ui.widgets.status import MARK, StatusStyles, status_css
from cronui.ui.widgets.strips import line_strip

R = TypeVar("R")

SPAN = None
"""A cell value meaning "the cell before this one spans into this column"."""


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    priority: int = 50  # higher stays longer when the table is narrow
    flex: bool = False  # takes the width the others leave (at least `width`)
    align: Literal["left", "right"] = "left"


class RowMessage(Message):
    """A message from a table about one of its rows."""

    def __init__(self, table: VirtualTable[object], index: int) -> None:
        super().__init__()
        self.table = table
        self.index = index

    @property
    def control(self) -> VirtualTable[object]:
        return self.table


class VirtualTable(StatusStyles, ScrollView, Generic[R], can_focus=True):
    """Rows are objects; a subclass says what the columns are and how one row reads."""

    DEFAULT_CSS = """
    VirtualTable {
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
        & > .vtable--header { text-style: bold; color: $text-muted; }
        & > .vtable--cursor { background: $primary 15%; }
        & > .vtable--empty { color: $text-muted; text-style: italic; }
    }
    VirtualTable:focus > .vtable--cursor {
        background: $primary 35%;
        text-style: bold;
    }
    """ + status_css("VirtualTable")

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "vtable--empty",
        *StatusStyles.COMPONENT_CLASSES,
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, init=False, always_update=True, repaint=False)

    class Highlighted(RowMessage):
        """The cursor moved to another row."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, VirtualTable.Highlighted) and message.table is self.table

    class Selected(RowMessage):
        """Enter on a row."""

    class HeaderClicked(Message):
        """A click on a column's title (the screen decides what sorting by it means)."""

        def __init__(self, table: VirtualTable[object], key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable[object]:
            return self.table

    class NeedMore(Message):
        """The view came near the last loaded row and `more` says there are others."""

        def __init__(self, table: VirtualTable[object]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable[object]:
            return self.table

    columns: Sequence[Column] = ()
    empty_text = "nothing here"

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: list[R] = []
        self.more = False  # more rows exist beyond the loaded ones (paged tables)
        self._asked_more = False
        self._layout_key: tuple[int, int] | None = None
        self._layout: list[tuple[Column, int]] = []
        self._layout_version = 0
        self.sort_key: str | None = None
        self.sort_reverse = False

    # ------------------------------------------------------------ what subclasses provide

    def row_key(self, row: R) -> Hashable:
        return id(row)

    def render_cells(self, row: R, index: int) -> list[Text | str | None]:
        raise NotImplementedError

    # ------------------------------------------------------------ rows

    @property
    def current(self) -> R | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_rows(self, rows: list[R], *, keep_cursor: bool = True) -> None:
        """Show `rows`; the cursor stays on the same row (by key) when it is still there."""
        old = self.current
        key = self.row_key(old) if (keep_cursor and old is not None) else None
        self.rows = rows
        self._asked_more = False
        index = 0
        if key is not None:
            for i, row in enumerate(rows):
                if self.row_key(row) == key:
                    index = i
                    break
            else:
                index = min(self.cursor, max(0, len(rows) - 1))
        self._update_virtual_size()
        self.set_reactive(VirtualTable.cursor, index)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, index))  # type: ignore[arg-type]
        self._maybe_need_more()  # a view already near the end (a reload dropped an earlier wish) asks again

    def append_rows(self, rows: list[R]) -> None:
        self.rows.extend(rows)
        self._asked_more = False
        self._update_virtual_size()
        self.refresh()

    def select_key(self, key: Hashable) -> bool:
        for i, row in enumerate(self.rows):
            if self.row_key(row) == key:
                self.cursor = i
                return True
        return False

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width or 1, len(self.rows) + 1)

    # ------------------------------------------------------------ cursor and scrolling

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        self._scroll_to_cursor()
        if int(self.scroll_y) == top:  # only the two rows whose highlight changed are drawn again
            self.refresh_line(old + 1)
            self.refresh_line(new + 1)
        else:
            self.refresh()
        self.post_message(self.Highlighted(self, new))  # type: ignore[arg-type]
        self._maybe_need_more()

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_y)
        page = self._page
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False, immediate=True)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._maybe_need_more()

    def _maybe_need_more(self) -> None:
        near = max(int(self.scroll_y), self.cursor)  # the view, or the cursor, close to the last row
        if self.more and not self._asked_more and near + 2 * self._page >= len(self.rows):
            self._asked_more = True
            self.post_message(self.NeedMore(self))  # type: ignore[arg-type]

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * self._page

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self.rows) - 1

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self, self.cursor))  # type: ignore[arg-type]

    def column_at(self, x: int) -> str | None:
        """The key of the column drawn at `x` (None between columns or past the last)."""
        left = 0
        for col, width in self.fit_columns(self.scrollable_content_region.width):
            if left <= x < left + width:
                return col.key
            left += width + 1
        return None

    async def _on_click(self, event: events.Click) -> None:
        if event.y == 0:
            key = self.column_at(event.x)
            if key is not None:
                self.post_message(self.HeaderClicked(self, key))  # type: ignore[arg-type]
            return
        index = int(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.rows):
            if index == self.cursor and event.chain >= 2:
                self.action_select()
            self.cursor = index

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_to_cursor()

    # ------------------------------------------------------------ drawing

    def visible_rows(self) -> range:
        top = int(self.scroll_y)
        return range(top, min(len(self.rows), top + self._page))

    def fit_columns(self, width: int) -> list[tuple[Column, int]]:
        """The columns that fit in `width`, by priority, each with its width (flex ones share the rest)."""
        key = (width, self._layout_version)
        if self._layout_key == key:
            return self._layout
        by_priority = sorted(self.columns, key=lambda c: -c.priority)
        chosen: list[Column] = []
        used = 0
        for col in by_priority:
            need = col.width + (1 if chosen else 0)
            if used + need <= width or not chosen:
                chosen.append(col)
                used += need
        kept = [c for c in self.columns if c in chosen]
        spare = max(0, width - used)
        flex = [c for c in kept if c.flex]
        layout: list[tuple[Column, int]] = []
        for col in kept:
            w = col.width
            if col in flex:
                share = spare // len(flex)
                w += share + (spare - share * len(flex) if col is flex[-1] else 0)
            layout.append((col, w))
        if not flex and layout and spare:
            col, w = layout[-1]
            layout[-1] = (col, w + spare)
        self._layout_key, self._layout = key, layout
        return layout

    def invalidate_layout(self) -> None:
        self._layout_version += 1
        self.refresh()

    def fit_column(self, key: str, texts: Iterable[str], least: int, most: int) -> None:
        """Make column `key` as wide as the longest of `texts`, kept within `least`..`most` (10 when none)."""
        width = max(least, min(max((len(t) for t in texts), default=10), most))
        if any(c.key == key and c.width != width for c in self.columns):
            self.columns = [replace(c, width=width) if c.key == key else c for c in self.columns]
            self._layout_version += 1

    def _line_text(self, cells: Sequence[Text | str | None], layout: list[tuple[Column, int]]) -> Text:
        line = Text(no_wrap=True, end="")
        i = 0
        while i < len(layout):
            col, width = layout[i]
            cell = cells[i] if i < len(cells) else ""
            j = i + 1
            while j < len(layout) and j < len(cells) and cells[j] is SPAN:
                width += 1 + layout[j][1]
                j += 1
            text = cell if isinstance(cell, Text) else Text(str(cell or ""), no_wrap=True)
            text = text.copy()
            text.truncate(width, overflow="ellipsis")
            pad = width - text.cell_len
            if pad > 0:
                if col.align == "right":
                    text = Text(" " * pad) + text
                else:
                    text.append(" " * pad)
            if i:
                line.append(" ")
            line.append_text(text)
            i = j
        return line

    def header_cells(self) -> list[Text | str | None]:
        out: list[Text | str | None] = []
        for col in self.columns:
            title = col.title
            if self.sort_key == col.key and title:
                title += " ▼" if self.sort_reverse else " ▲"
            out.append(title)
        return out

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        layout = self.fit_columns(width)
        if y == 0:
            titles = self.header_cells()
            cells = [_fit_title(titles[self.columns.index(c)], w) for c, w in layout]
            text = self._line_text(cells, layout)
            return self._strip(text, width, base + self.get_component_rich_style("vtable--header"))
        index = int(self.scroll_y) + y - 1
        if not self.rows:
            if y == 1:
                return self._strip(
                    Text(" " + self.empty_text), width, base + self.get_component_rich_style("vtable--empty")
                )
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        all_cells = self.render_cells(row, index)
        positions = {c.key: n for n, c in enumerate(self.columns)}
        cells = [all_cells[positions[c.key]] if positions[c.key] < len(all_cells) else "" for c, _ in layout]
        text = self._line_text(cells, layout)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("vtable--cursor")
        return self._strip(text, width, style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        return line_strip(text, width, style, self.app.console)


def _fit_title(title: Text | str | None, width: int) -> Text | str | None:
    """A column title cut to `width` so that its sort marker stays in view."""
    if isinstance(title, str) and len(title) > width and title[-2:] in (" ▲", " ▼"):
        return title[: max(0, width - 2)] + title[-2:]
    return title


# MARK lives in `status`; it stays importable from here, where the screens have always found it
__all__ = ["MARK", "SPAN", "Column", "RowMessage", "VirtualTable"]
