"""The live pane: runs in flight, each with its milestones as they arrive, its elapsed time ticking and the
line it is writing now (a streamed reply so far), then the last few that finished. Drawn with the Line API
from lines rebuilt when something changes.

The cursor follows what runs now: it goes to the newest run in flight as runs arrive, unless the user moved
it (then it stays where they put it, while that run is shown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from cronui.model import RunStatus
from cronui.present import milestone_data_text
from cronui.timefmt import human_span
from cronui.ui.inflight import InFlight, LiveRun
from cronui.ui.times import clock_span, offset, short_time
from cronui.ui.widgets.status import MARK, StatusStyles, status_css
from cronui.ui.widgets.strips import LinePane, line_strip

SHOWN_MILESTONES = 5
SHOWN_RUNS = 200


def milestone_text(name: str, data: dict[str, object]) -> str:
    return f"{name} {milestone_data_text(data)}".strip()


class LivePane(StatusStyles, LinePane, can_focus=True):
    DEFAULT_CSS = """
    LivePane {
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
        & > .live--cursor { background: $primary 15%; }
        & > .live--empty { color: $text-muted; text-style: italic; }
        & > .live--job { text-style: bold; }
    }
    LivePane:focus > .live--cursor {
        background: $primary 35%;
    }
    """ + status_css("LivePane")
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "live--cursor",
        "live--empty",
        "live--job",
        *StatusStyles.COMPONENT_CLASSES,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
    ]

    class Selected(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, inflight: InFlight, now_ms: Callable[[], int], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.inflight = inflight
        self.now_ms = now_ms
        self.zone = "UTC"
        self._lines: list[tuple[Text, int | None]] = []
        self._order: list[int] = []  # run ids, in the order shown
        self._selected: int | None = None
        self._pinned = False  # the user moved the cursor: it stays on their run instead of following arrivals

    @property
    def current_run_id(self) -> int | None:
        return self._selected

    def current_live(self) -> LiveRun | None:
        if self._selected is None:
            return None
        live = self.inflight.runs.get(self._selected)
        if live is None:
            live = next((r for r in self.inflight.recent if r.run_id == self._selected), None)
        return live

    def rebuild(self) -> None:
        """Lay the lines out again (after events, and every second for the elapsed times)."""
        now = self.now_ms()
        lines: list[tuple[Text, int | None]] = []
        order: list[int] = []
        dim = self.component_style("status--dim")
        shown = self.inflight.ordered()[:SHOWN_RUNS]
        for live in shown:
            order.append(live.run_id)
            lines.extend(self._run_lines(live, now, dim))
        hidden = len(self.inflight.runs) - len(shown)
        if hidden > 0:
            lines.append((Text(f"  … and {hidden:,} more in flight", dim), None))
        if self.inflight.recent:
            if lines:
                lines.append((Text(""), None))
            for live in self.inflight.recent:
                order.append(live.run_id)
                lines.append((self._finished_line(live), live.run_id))
        self._lines = lines
        self._order = order
        if self._selected not in order:
            self._pinned = False
        if not self._pinned:
            self._selected = self.newest_in_flight() or (order[0] if order else None)
        self.virtual_size = Size(self.scrollable_content_region.width or 1, max(1, len(lines)))
        self.refresh()

    def newest_in_flight(self) -> int | None:
        """The run that started last among those running (else the next to start): what runs now."""
        runs = self.inflight.runs.values()
        running = [r for r in runs if r.status is RunStatus.RUNNING]
        if running:
            return max(running, key=lambda r: (r.started_at or 0, r.run_id)).run_id
        waiting = self.inflight.ordered()
        return waiting[0].run_id if waiting else None

    def live_now(self) -> int | None:
        """The run to follow: the selected one while it is in flight, else what runs now."""
        if self._selected is not None and self._selected in self.inflight.runs:
            return self._selected
        return self.newest_in_flight()

    def select(self, run_id: int) -> None:
        """Put the cursor on `run_id` and let it follow arrivals again."""
        self._selected, self._pinned = run_id, False
        self.refresh()

    def _run_lines(self, live: LiveRun, now: int, dim: Style) -> list[tuple[Text, int | None]]:
        out: list[tuple[Text, int | None]] = []
        head = Text(no_wrap=True)
        running = live.status is RunStatus.RUNNING
        waiting = live.status is RunStatus.AWAITING_APPROVAL
        style = self.status_style(RunStatus.RUNNING)
        mark = MARK[live.status] if running or waiting else MARK[RunStatus.PENDING]
        head.append(f"{mark} ", self.status_style(live.status) if waiting else style)
        head.append(live.job_name or f"job {live.job_id}", self.component_style("live--job"))
        head.append(f" #{live.run_id}", dim)
        trig = live.trigger if live.attempt <= 1 else f"retry {live.attempt}"
        head.append(f"  {trig}", dim)
        if running and live.started_at is not None:
            head.append(f"  {clock_span(now - live.started_at)}", style)
        elif waiting:
            head.append("  awaits approval (A)", self.status_style(live.status))
        elif live.not_before > now:
            head.append(f"  waits until {short_time(live.not_before, self.zone, now)}", dim)
        else:
            head.append("  queued", dim)
        out.append((head, live.run_id))
        start = live.started_at or live.queued_at
        ms = live.milestones
        if len(ms) > SHOWN_MILESTONES:
            out.append((Text(f"    … {len(ms) - SHOWN_MILESTONES} earlier", dim), live.run_id))
        for m in ms[-SHOWN_MILESTONES:]:
            line = Text(no_wrap=True)
            line.append(f"    {offset(m.at - start):>8} ", dim)
            line.append(milestone_text(m.name, m.data))
            out.append((line, live.run_id))
        if live.last_line:
            # the end of the line is what streamed last: when it does not fit, its start gives way
            room = max(8, self.scrollable_content_region.width - 7)
            said = live.last_line if cell_len(live.last_line) <= room else "…" + live.last_line[-(room - 1) :]
            out.append((Text(f"    ▌ {said}", dim, no_wrap=True), live.run_id))
        return out

    def _finished_line(self, live: LiveRun) -> Text:
        dim = self.component_style("status--dim")
        line = Text(no_wrap=True)
        line.append(f"{MARK[live.status]} ", self.status_style(live.status))
        line.append(live.job_name or f"job {live.job_id}", dim)
        line.append(f" #{live.run_id} {live.status}", self.status_style(live.status))
        if live.duration_ms is not None:
            line.append(f" in {human_span(live.duration_ms)}", dim)
        if live.error:
            line.append(f" — {live.error}", dim)
        return line

    # ------------------------------------------------------------ selection

    def action_move(self, delta: int) -> None:
        if not self._order:
            return
        i = self._order.index(self._selected) if self._selected in self._order else 0
        self._selected = self._order[max(0, min(len(self._order) - 1, i + delta))]
        self._pinned = True
        for y, (_, rid) in enumerate(self._lines):
            if rid == self._selected:
                self.scroll_to_region_line(y)
                break
        self.refresh()

    def scroll_to_region_line(self, y: int) -> None:
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height
        if y < top:
            self.scroll_to(y=y, animate=False)
        elif y >= top + height:
            self.scroll_to(y=y - height + 1, animate=False)

    async def _on_click(self, event: events.Click) -> None:
        y = int(self.scroll_y) + event.y
        rid = self._lines[y][1] if 0 <= y < len(self._lines) else None
        if rid is not None:  # a run's line, not the gap before the finished ones
            if rid == self._selected and event.chain >= 2:
                self.post_message(self.Selected(rid))
            self._selected = rid
            self._pinned = True
            self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self.rebuild()  # the line a run is writing is cut to the width

    # ------------------------------------------------------------ drawing

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def empty_line(self, width: int, base: Style) -> Strip:
        text = Text(" nothing running", no_wrap=True)
        return self._strip(text, width, base + self.get_component_rich_style("live--empty"))

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        text, rid = self._lines[index]
        style = base
        if rid is not None and rid == self._selected and self._is_head(index):
            style = base + self.get_component_rich_style("live--cursor")
        return self._strip(Text(" ") + text, width, style)

    def _is_head(self, index: int) -> bool:
        return index == 0 or self._lines[index - 1][1] != self._lines[index][1]

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text = text.copy()
        text.truncate(width, overflow="ellipsis")
        return line_strip(text, width, style, self.app.console)
