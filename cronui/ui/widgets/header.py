"""The top line: which database, who schedules (this process, a daemon elsewhere, nobody), how many jobs,
how many running, what fires next, and where you are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from cronui.ui.widgets.status import StatusStyles, status_css


@dataclass
class HeaderState:
    db: str = ""
    scheduler: str = "starting…"
    scheduler_kind: str = "none"  # owning | attached | none
    paused: bool = False
    jobs: int = 0
    running: int = 0
    next_text: str = ""
    where: str = "Jobs"
    nodes: int | None = None  # cluster mode: the live nodes


class StatusHeader(StatusStyles, Widget):
    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $foreground;
        & > .header--title { text-style: bold; color: $primary; }
        & > .header--owning { color: $run-succeeded; text-style: bold; }
        & > .header--attached { color: $run-running; text-style: bold; }
        & > .header--none { color: $warning; text-style: bold; }
        & > .header--paused { color: $warning; text-style: bold reverse; }
        & > .header--where { color: $accent; text-style: bold; }
    }
    """ + status_css("StatusHeader")
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--title",
        "header--owning",
        "header--attached",
        "header--none",
        "header--paused",
        "header--where",
        *StatusStyles.COMPONENT_CLASSES,
    }

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.state = HeaderState()

    def show(self, state: HeaderState) -> None:
        if state != self.state:
            self.state = state
            self.refresh()

    def _who(self, text: str) -> Text:
        """Who schedules, marked and coloured by kind, and whether scheduling is paused."""
        s = self.state
        marks = {"owning": "●", "attached": "◌", "none": "○"}
        who = Text(f"{marks.get(s.scheduler_kind, '○')} {text}", self.component_style(f"header--{s.scheduler_kind}"))
        if s.paused:
            who.append("  ")
            who.append(" ‖ paused ", self.component_style("header--paused"))
        return who

    def render(self) -> Text:
        s = self.state
        width = self.size.width or 120
        dim = self.component_style("status--dim")
        sched = self._who(s.scheduler)
        # without the aside: "scheduling (this process)" → "scheduling", "attached to daemon h:1" → "attached"
        short = self._who("attached" if s.scheduler.startswith("attached to ") else s.scheduler.split(" (")[0])
        jobs = f"{s.jobs:,} job{'s' if s.jobs != 1 else ''}"
        counts = f"{jobs} · {s.running} running"
        nxt = f"{counts} · next {s.next_text}" if s.next_text else counts
        where = Text(s.where, self.component_style("header--where"))
        title = Text(" cronui", self.component_style("header--title"))
        db = Text(f"  {s.db}", dim)
        # The widest that fits: the database goes first, then the scheduler's aside ("(this process)"), then
        # what fires next; words are never clipped into something else ("2 run").
        for parts in (
            [title, db, Text("   "), sched, Text("   "), Text(nxt)],
            [title, Text("   "), sched, Text("   "), Text(nxt)],
            [title, Text("  "), short, Text("  "), Text(nxt)],
            [title, Text("  "), short, Text("  "), Text(counts)],
        ):
            if sum(p.cell_len for p in parts) + where.cell_len + 2 <= width:
                break
        line = Text(no_wrap=True, overflow="ellipsis")
        for p in parts:
            line.append_text(p)
        gap = max(1, width - line.cell_len - where.cell_len - 1)
        line.append(" " * gap)
        line.append_text(where)
        line.append(" ")
        return line
