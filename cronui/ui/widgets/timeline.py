"""A run's milestones as a timeline (offset from queued, name, data): a virtual list drawn with the Line
API, so 100,000 milestones cost only the lines on screen. Rows longer than the pane fold under the name.
Laying out a long timeline runs in a thread, never on the event loop the scheduler shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.strip import Strip

from cronui.model import Milestone, Run, RunStatus
from cronui.ui.times import offset
from cronui.ui.widgets.output import SCROLL_KEYS, fold_line
from cronui.ui.widgets.status import DIM, StatusStyles, status_css
from cronui.ui.widgets.strips import LinePane, line_strip
from cronui.ui.workers import spawn

SYNC_ROWS = 2_000  # a timeline this long is laid out at once; a longer one in a thread
PREVIEW_ROWS = 200  # of a longer one, shown at once while the rest is laid out
ROW_CAP = 2_000  # characters of one milestone shown (its data in full: `cronui runs show --json`)
INDENT = 10  # where a milestone's name starts, and its folded lines


@dataclass(frozen=True)
class Row:
    plain: str  # "   +0.021s name data"
    name_end: int  # the name ends here (it starts at INDENT)
    status: str  # the name's colour: a run status, or "" for a milestone


def data_text(data: dict[str, object]) -> str:
    """A milestone's data as `key=value` words (nested values, such as the request, left out: `v` shows
    it), cut at ROW_CAP characters."""
    # on one line: a value's own line breaks would start a line at column 0, under nothing
    text = " ".join(
        f"{k}={' '.join(str(v)[:ROW_CAP].split())}" for k, v in data.items() if not isinstance(v, dict | list)
    )
    return text if len(text) <= ROW_CAP else text[:ROW_CAP] + "…"


def _fallback_note(data: dict[str, object]) -> str:
    nxt = data.get("next")
    return f"{data.get('model', '?')} failed, " + (f"asking {nxt}" if nxt else "no fallback left")


# what the unattended agent milestones mean, said before their data; and the colour of their name
NOTES: dict[str, Callable[[dict[str, object]], str]] = {
    "gate-open": lambda d: "the check passed: asking the model",
    "gate-closed": lambda d: "nothing to do: the run is skipped, no model asked",
    "gate-failed": lambda d: "the check failed: the run fails",
    "model-failed": _fallback_note,
    "max-cost-reached": lambda d: "the reply's estimated cost passed --max-cost: stopped",
    "max-cost-unchecked": lambda d: "--max-cost cannot be checked while streaming",
    "chain-not-fired": lambda d: f"{d.get('job', '?')} not started: the chain's condition did not match",
}
NOTE_STATUS = {
    "gate-closed": str(RunStatus.SKIPPED),
    "gate-failed": str(RunStatus.FAILED),
    "model-failed": str(RunStatus.FAILED),
    "max-cost-reached": str(RunStatus.FAILED),
    "chain-not-fired": str(RunStatus.SKIPPED),
}


def milestone_extra(m: Milestone) -> str:
    """The words after a milestone's name: what it means (for those that need saying), then its data."""
    note = NOTES.get(m.name)
    data = data_text(m.data)
    if note is None:
        return data
    return f"{note(m.data)} · {data}" if data else note(m.data)


def _row(at: int | None, base: int, name: str, extra: str, status: str) -> Row:
    stamp = f"{offset(at - base) if at is not None else '':>9} "
    name = name[:ROW_CAP]
    plain = stamp + name + (f" {extra[:ROW_CAP]}" if extra else "")
    return Row(plain, len(stamp) + len(name), status)


def head_rows(run: Run) -> list[Row]:
    base = run.queued_at or run.started_at or run.scheduled_for
    rows = [_row(run.queued_at, base, "queued", "", "")]
    if run.started_at is not None:
        rows.append(_row(run.started_at, base, "started", "", ""))
    return rows


def milestone_rows(run: Run, milestones: list[Milestone]) -> list[Row]:
    base = run.queued_at or run.started_at or run.scheduled_for
    return [_row(m.at, base, m.name, milestone_extra(m), NOTE_STATUS.get(m.name, "")) for m in milestones]


def end_rows(run: Run) -> list[Row]:
    base = run.queued_at or run.started_at or run.scheduled_for
    if run.finished_at is not None:
        return [_row(run.finished_at, base, str(run.status), (run.reason or "")[:ROW_CAP], str(run.status))]
    if run.status is RunStatus.RUNNING:
        return [_row(None, base, "…", "", "")]
    return []


def fold_rows(rows: list[Row], first: int, width: int) -> list[tuple[int, int, int]]:
    """Screen lines (row index, start, end) for rows[first:], folded at `width` under the name."""
    lines: list[tuple[int, int, int]] = []
    for i in range(first, len(rows)):
        plain = rows[i].plain
        if width <= INDENT + 4 or cell_len(plain) <= width:
            lines.append((i, 0, len(plain)))
            continue
        head = fold_line(plain, width)[0]
        lines.append((i, 0, len(head)))
        pos = len(head)
        for part in fold_line(plain[pos:].lstrip(" "), width - INDENT):
            start = plain.index(part, pos) if part else pos
            lines.append((i, start, start + len(part)))
            pos = start + len(part)
    return lines


class TimelineView(StatusStyles, LinePane, can_focus=True):
    DEFAULT_CSS = """
    TimelineView {
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
        & > .timeline--empty { color: $text-muted; text-style: italic; }
    }
    """ + status_css("TimelineView")
    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--empty", *StatusStyles.COMPONENT_CLASSES}
    BINDINGS: ClassVar[list[BindingType]] = [*SCROLL_KEYS]

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.rows: list[Row] = []
        self._ends = 0  # how many rows at the end say how the run ended (or "…" while it runs)
        self._lines: list[tuple[int, int, int]] = []
        self._width = 0
        self._generation = 0
        self.preparing = False
        self._late: list[Milestone] = []  # milestones that came while a layout was being prepared
        self._source: tuple[Run, list[Milestone]] | None = None  # what `show` was given
        self.follow = False  # keep the newest milestone in view (while the run goes on)

    # ------------------------------------------------------------ content

    def show(self, run: Run, milestones: list[Milestone]) -> None:
        """The whole timeline; of a long one a first screenful at once, and the rest from a thread."""
        self._source = (run, milestones)
        self._generation += 1
        generation = self._generation
        if len(milestones) <= SYNC_ROWS:
            rows = [*head_rows(run), *milestone_rows(run, milestones), *end_rows(run)]
            self._apply(rows, len(end_rows(run)), fold_rows(rows, 0, self._fold_width()))
            return
        width = self._fold_width()
        milestones = list(milestones)
        # at once, a first screenful: the start of the timeline (or its newest end, while following)
        if self.follow:
            rows = [*head_rows(run), *milestone_rows(run, milestones[-PREVIEW_ROWS:]), *end_rows(run)]
        else:
            rows = [*head_rows(run), *milestone_rows(run, milestones[:PREVIEW_ROWS])]
        self._apply(rows, len(end_rows(run)) if self.follow else 0, fold_rows(rows, 0, width))
        self.preparing = True

        def prepare() -> tuple[list[Row], int, list[tuple[int, int, int]]]:
            ends = end_rows(run)
            rows = [*head_rows(run), *milestone_rows(run, milestones), *ends]
            return rows, len(ends), fold_rows(rows, 0, width)

        async def work() -> None:
            rows, ends, lines = await asyncio.to_thread(prepare)
            if generation == self._generation:
                self._apply(rows, ends, lines)
                late, self._late = self._late, []
                if late:
                    self.add(run, late)

        self._late = []
        spawn(self, work, "timeline-layout")

    @property
    def line_count(self) -> int:
        """How many screen lines the timeline takes (at the pane's width)."""
        return len(self._lines)

    def add(self, run: Run, milestones: list[Milestone]) -> None:
        """Milestones that arrived while the run goes on (and were appended to the list `show` was given,
        which is what a resize lays out again): laid out alone, the rest stays as it was."""
        if self.preparing:  # a full layout is on its way: these follow it
            self._late += milestones
            return
        keep = len(self.rows) - self._ends
        while self._lines and self._lines[-1][0] >= keep:
            self._lines.pop()
        ends = end_rows(run)
        self.rows[keep:] = [*milestone_rows(run, milestones), *ends]
        self._ends = len(ends)
        self._lines += fold_rows(self.rows, keep, self._fold_width())
        self._sized()

    def _apply(self, rows: list[Row], ends: int, lines: list[tuple[int, int, int]]) -> None:
        self.preparing = False
        self.rows, self._ends, self._lines = rows, ends, lines
        self._sized()

    def _sized(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._lines))
        if self.follow:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def _fold_width(self) -> int:
        self._width = self.scrollable_content_region.width
        return self._width

    def on_resize(self, event: events.Resize) -> None:
        if self.scrollable_content_region.width != self._width and self._source is not None:
            self.show(*self._source)  # folded again at the new width (a long timeline in a thread)

    @property
    def plain_lines(self) -> list[str]:
        """The timeline's lines as shown (without colours)."""
        return [self._line_text(i).plain for i in range(len(self._lines))]

    # ------------------------------------------------------------ drawing

    def _line_text(self, index: int) -> Text:
        row_index, start, end = self._lines[index]
        row = self.rows[row_index]
        dim = self.component_style(DIM)
        text = Text(no_wrap=True, overflow="ellipsis")
        if start:
            text.append(" " * INDENT)
        stamp_end, name_end = INDENT, row.name_end
        for a, b, style in ((0, stamp_end, dim), (stamp_end, name_end, None), (name_end, len(row.plain), dim)):
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                if style is None:
                    style = self.status_style(row.status) if row.status else Style()
                text.append(row.plain[lo:hi], style)
        return text

    def empty_line(self, width: int, base: Style) -> Strip:
        if not self.preparing:
            return Strip.blank(width, base)
        text = Text("preparing the timeline…")  # padded with the pane's own style, not the text's
        text.stylize_before(self.get_component_rich_style("timeline--empty"))
        return line_strip(text, width, base, self.app.console)

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        text = self._line_text(index)
        text.truncate(width, overflow="ellipsis")
        return line_strip(text, width, base, self.app.console)
